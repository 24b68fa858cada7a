//! Running a library solve from Python: on its own thread with the GIL released, stopped at its
//! next iteration boundary by Ctrl-C (the library's stop request), with its progress records
//! handed to Python as they come, and with a panic turned into an exception instead of crossing
//! the FFI boundary.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use strads_apps::runner::{Hooks, Observer, StopRequest};

use crate::convert::json_to_py;

/// SIGINT's number, what the library's stop request records for Ctrl-C.
const SIGINT: usize = 2;

/// How often the waiting thread takes the GIL back to check for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// Sends the solve's progress records (as JSON values) to the thread that holds Python.
#[derive(Clone)]
pub struct Progress(Sender<serde_json::Value>);

impl Progress {
    /// Hands one record to Python (dropped if the fit is already over).
    pub fn send(&self, record: serde_json::Value) {
        let _ = self.0.send(record);
    }

    /// A run's hooks for a fit from Python (every app's): stop when `stop` is set, every trace
    /// record handed to Python as it is made.
    pub fn hooks<R: serde::Serialize + 'static>(self, stop: StopRequest) -> Hooks<R> {
        let observer: Observer<R> = std::sync::Arc::new(move |record: &R| {
            self.send(serde_json::to_value(record).unwrap_or_default());
        });
        Hooks {
            stop: Some(stop),
            observer: Some(observer),
        }
    }
}

/// [`run_interruptible`] for a solve on `workers` worker threads: a solve on one worker, with
/// no progress to show, called from Python's main thread, runs on the calling thread (with the
/// GIL released) instead of a thread of its own, and the library's one worker runs on it too
/// (`strads_engine`'s single-thread cluster): a small problem's fit then starts no thread.
/// Ctrl-C sets `stop` from the signal handler itself (Python's own handler runs too, chained),
/// so the library still stops at its next iteration boundary, and the `KeyboardInterrupt` is
/// raised once it has.
pub fn run_interruptible_on<T: Send>(
    py: Python<'_>,
    workers: usize,
    stop: StopRequest,
    on_progress: &Bound<'_, PyAny>,
    solve: impl FnOnce(Progress) -> T + Send,
) -> PyResult<T> {
    if workers != 1 || !on_progress.is_none() || !on_main_thread(py)? {
        return run_interruptible(py, stop, on_progress, solve);
    }
    let Ok(handler) =
        signal_hook::flag::register_usize(signal_hook::consts::SIGINT, stop.clone(), SIGINT)
    else {
        return run_interruptible(py, stop, on_progress, solve);
    };
    // No one reads the records: there is no progress to show.
    let (record_sender, _records) = channel();
    let progress = Progress(record_sender);
    let outcome = py.allow_threads(|| catch_unwind(AssertUnwindSafe(|| solve(progress))));
    signal_hook::low_level::unregister(handler);
    // A Ctrl-C during the solve tripped Python's handler too: raised here.
    py.check_signals()?;
    outcome.map_err(internal_error)
}

/// Whether the calling thread is Python's main thread, the one that Ctrl-C interrupts.
fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    let threading = py.import("threading")?;
    Ok(threading
        .call_method0("current_thread")?
        .is(&threading.call_method0("main_thread")?))
}

/// A panic of the solve as a `RuntimeError`.
fn internal_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    PyRuntimeError::new_err(format!(
        "internal error in the strads library (please report it): {message}"
    ))
}

/// Runs `solve` on a new thread with the GIL released. Every progress record it sends is passed
/// to `on_progress` (with the GIL) as it arrives; Ctrl-C (or an exception from `on_progress`)
/// sets `stop` so that the library stops at its next iteration boundary, and is raised once it
/// has; a panic becomes a `RuntimeError`.
pub fn run_interruptible<T: Send>(
    py: Python<'_>,
    stop: StopRequest,
    on_progress: &Bound<'_, PyAny>,
    solve: impl FnOnce(Progress) -> T + Send,
) -> PyResult<T> {
    let (record_sender, records) = channel();
    let progress = Progress(record_sender);
    let (done_sender, mut done) = channel();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // The library returns errors as values; a panic is a bug, reported as one.
            let outcome = catch_unwind(AssertUnwindSafe(|| solve(progress)));
            let _ = done_sender.send(outcome);
        });
        // The first Python error met while waiting (Ctrl-C, or an exception raised by
        // `on_progress`): the solve is asked to stop and waited for, so that no thread outlives
        // the fit, and then the error is raised.
        let mut raised: Option<PyErr> = None;
        loop {
            // The receiver moves into the GIL-free closure and back (it is Send, not Sync).
            let (waited, receiver) = py.allow_threads(move || {
                let waited = done.recv_timeout(POLL);
                (waited, done)
            });
            done = receiver;
            if raised.is_none() {
                // Checked even when the solve has just ended: a Ctrl-C during the fit is
                // raised, however late the poll that sees it.
                if let Err(error) =
                    deliver(py, &records, on_progress).and_then(|()| py.check_signals())
                {
                    stop.store(SIGINT, Ordering::SeqCst);
                    raised = Some(error);
                }
            }
            match waited {
                Ok(Ok(value)) => {
                    return match raised {
                        Some(error) => Err(error),
                        None => Ok(value),
                    }
                }
                Ok(Err(panic)) => return Err(internal_error(panic)),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err("the solver thread vanished"))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    })
}

/// Passes the records received so far to `on_progress`.
fn deliver(
    py: Python<'_>,
    records: &Receiver<serde_json::Value>,
    on_progress: &Bound<'_, PyAny>,
) -> PyResult<()> {
    while let Ok(record) = records.try_recv() {
        if !on_progress.is_none() {
            on_progress.call1((json_to_py(py, &record)?,))?;
        }
    }
    Ok(())
}
