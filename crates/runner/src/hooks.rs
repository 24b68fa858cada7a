//! What a caller hooks into a run, the same for every app: a request to stop at the next
//! iteration boundary (the CLI's signal handler, Ctrl-C in Python) and an observer that sees
//! each trace record on worker 0 as it is made (progress bars, Python callbacks).
//!
//! A run without hooks does nothing extra: no collective, no call.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A request to stop at the next iteration boundary, shared with whoever makes it: the number
/// of the signal that asked, 0 while none did. When a peer's request stops the cluster, the run
/// stores that peer's number here too, so every process can tell that the run was interrupted
/// and by what.
pub type StopRequest = Arc<AtomicUsize>;

/// Called on worker 0 with each trace record as it is made.
pub type Observer<R> = Arc<dyn Fn(&R) + Send + Sync>;

/// A run's hooks (by default none).
pub struct Hooks<R> {
    /// Set it to nonzero to stop the run at its next iteration boundary (after a last
    /// checkpoint, when the run writes checkpoints).
    pub stop: Option<StopRequest>,
    /// Sees every trace record, on worker 0.
    pub observer: Option<Observer<R>>,
}

impl<R> Hooks<R> {
    /// Hooks with an observer only.
    pub fn observing(observer: Option<Observer<R>>) -> Self {
        Hooks {
            stop: None,
            observer,
        }
    }

    /// Whether this worker's stop request is set: not a collective, so workers may see it at
    /// different moments. A loop body uses it to skip the rest of its iteration's work (every
    /// worker still reaches the boundary); the agreed answer comes from the boundary
    /// (`Run::boundary`).
    pub fn stop_set(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|request| request.load(Ordering::Relaxed) != 0)
    }
}

impl<R> Default for Hooks<R> {
    fn default() -> Self {
        Hooks {
            stop: None,
            observer: None,
        }
    }
}

impl<R> Clone for Hooks<R> {
    fn clone(&self) -> Self {
        Hooks {
            stop: self.stop.clone(),
            observer: self.observer.clone(),
        }
    }
}

impl<R> fmt::Debug for Hooks<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("stop", &self.stop)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}
