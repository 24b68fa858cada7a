//! Integration tests of STRADS-AP: every loop kind against an independent sequential reference
//! computed here by plain code.

mod combinations;
mod debug;
mod dmap;
mod processes;
mod read_lines;
mod serializable;
mod synchronous;

use std::sync::mpsc;
use std::time::Duration;

use strads_ap::{ApConfig, ClusterConfig};

/// `threads` worker threads, debug mode off whatever the environment says (the tests that want
/// debug mode ask for it).
pub fn threads(threads: usize) -> ApConfig {
    ApConfig {
        cluster: ClusterConfig::threads(threads),
        debug: false,
        print_strategies: false,
    }
}

/// Debug mode: one thread, every access of a `Serializable` loop checked.
pub fn debug_mode() -> ApConfig {
    ApConfig {
        cluster: ClusterConfig::threads(1),
        debug: true,
        print_strategies: false,
    }
}

/// Runs `f` on a thread and fails the test if it has not finished after `seconds`: a bug that
/// makes the workers wait for each other forever fails the test instead of hanging the suite.
pub fn within<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match receive.recv_timeout(Duration::from_secs(seconds)) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("did not finish within {seconds} s (a hang?)"),
    }
}

/// Worker `w`'s home range of a vector of `len` elements made by `Ap::dvector` on `workers`.
pub fn home(len: usize, w: usize, workers: usize) -> std::ops::Range<usize> {
    len * w / workers..len * (w + 1) / workers
}
