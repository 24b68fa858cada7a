//! Turning a failed peer or worker into a prompt, named error instead of a hang.
//!
//! Timely's network threads (`timely:recv-N`, `timely:send-N`, N = the peer process) panic when a
//! connection breaks, the heartbeat's threads (`strads:heartbeat-N`) when peer N died or stayed
//! silent past the peer timeout, and worker threads panic on bugs; either way the remaining
//! threads of the process would wait forever for messages that cannot come. The hook installed
//! here prints one line naming the failed peer and exits the process with status 1, which in
//! turn breaks the connections of every other process, so the whole cluster stops within
//! moments. Only the first failure is reported: a second thread failing meanwhile waits for the
//! exit.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::heartbeat::THREAD_PREFIX;

/// Set by the first failure the hook reports.
static FAILED: AtomicBool = AtomicBool::new(false);

/// Exit status used when a peer or worker fails.
pub const FAILURE_EXIT_CODE: i32 = 1;

/// Installs the process-wide panic hook described above. Call once, from the binary only (a
/// library or test harness must not exit the process).
pub fn install_exit_on_failure(process: usize) {
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("main");
        if FAILED.swap(true, Ordering::SeqCst) {
            // Another thread is already reporting a failure and exiting.
            loop {
                std::thread::park();
            }
        }
        let message = panic_message(info.payload());
        let peer = name
            .strip_prefix("timely:recv-")
            .or_else(|| name.strip_prefix("timely:send-"));
        match peer {
            Some(peer) => eprintln!(
                "error: process {process} lost its connection to process {peer} (it exited or was killed): {message}"
            ),
            // The heartbeat's message names both processes and what happened.
            None if name.starts_with(THREAD_PREFIX) => eprintln!("error: {message}"),
            None => {
                let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                eprintln!("error: process {process}, thread {name} failed: {message}{location}");
            }
        }
        std::process::exit(FAILURE_EXIT_CODE);
    }));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
