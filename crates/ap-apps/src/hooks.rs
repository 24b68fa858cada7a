//! What a caller that embeds a run (the Python bindings) hooks into it: a request to stop at the
//! next iteration boundary, and an observer that sees each trace record as it is made.
//!
//! A run without hooks (the CLI's) does nothing extra: no collective, no call.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use strads_ap::{Ap, ApError};

/// A request to stop at the next iteration boundary: the number of the signal that asked, 0
/// while none did (the convention of `strads-apps`' `checkpoint::StopRequest`, so that one flag
/// serves both crates' apps).
pub type StopFlag = Arc<AtomicUsize>;

/// Called on worker 0 with each trace record as it is made.
pub type Observer<R> = Arc<dyn Fn(&R) + Send + Sync>;

/// A run's hooks (by default none). Two values are equal when they share the same flag and
/// observer.
pub struct Hooks<R> {
    /// Set it to nonzero to stop the run at its next iteration boundary.
    pub stop: Option<StopFlag>,
    /// Sees every trace record, on worker 0.
    pub observer: Option<Observer<R>>,
}

impl<R> Hooks<R> {
    /// Whether some worker's stop flag is set, the same answer on every worker. With a flag it
    /// is a collective (every worker calls it at the same boundary); without, it is `false` at
    /// no cost.
    pub fn stop_requested(&self, ap: &mut Ap<'_, '_>) -> Result<bool, ApError> {
        match &self.stop {
            None => Ok(false),
            Some(flag) => {
                let mine = flag.load(Ordering::SeqCst) as f64;
                Ok(ap.sum(mine)? > 0.0)
            }
        }
    }

    /// Whether this worker's stop flag is set: not a collective, so workers may see it at
    /// different moments. A loop body uses it to skip the rest of its epoch's work (the loop
    /// still runs its steps, now nearly empty, to their end, so every worker reaches the
    /// boundary); the agreed answer comes from [`Hooks::stop_requested`] there.
    pub fn stop_set(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed) != 0)
    }

    /// Shows `record` to the observer when this is worker 0.
    pub fn observe(&self, is_leader: bool, record: &R) {
        if let (true, Some(observer)) = (is_leader, &self.observer) {
            observer(record);
        }
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

impl<R> PartialEq for Hooks<R> {
    fn eq(&self, other: &Self) -> bool {
        let same_stop = match (&self.stop, &other.stop) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let same_observer = match (&self.observer, &other.observer) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_stop && same_observer
    }
}
