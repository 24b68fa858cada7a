//! What a panic on one of the engine's threads means, for the binary's panic hook.
//!
//! Timely's network threads (`timely:recv-N`, `timely:send-N`, N = the peer process) panic when a
//! connection breaks, the heartbeat's threads (`strads:heartbeat-N`) when peer N died or stayed
//! silent past the peer timeout, and worker threads panic on bugs; either way the remaining
//! threads of the process would wait forever for messages that cannot come. The binary's hook
//! (`strads`'s `failure::install_exit_on_failure`) names the failed peer from [`role_of`] and
//! exits the process with status 1, which in turn breaks the connections of every other process,
//! so the whole cluster stops within moments. The thread names are the engine's (and timely's),
//! so telling them apart is the engine's job; exiting the process is the binary's.

use crate::heartbeat::THREAD_PREFIX;

/// What a thread of a process in a cluster does, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadRole<'a> {
    /// One of timely's network threads for the connection to process `peer` (its index, as
    /// written in the thread's name): its panic means that connection broke.
    Connection {
        /// The peer process's index.
        peer: &'a str,
    },
    /// A heartbeat thread watching a peer: its panic message names both processes and what
    /// happened.
    Heartbeat,
    /// Any other thread (a worker, the main thread).
    Other,
}

/// The role of the thread named `name`.
pub fn role_of(name: &str) -> ThreadRole<'_> {
    if let Some(peer) = name
        .strip_prefix("timely:recv-")
        .or_else(|| name.strip_prefix("timely:send-"))
    {
        return ThreadRole::Connection { peer };
    }
    if name.starts_with(THREAD_PREFIX) {
        return ThreadRole::Heartbeat;
    }
    ThreadRole::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_told_apart_by_name() {
        assert_eq!(
            role_of("timely:recv-3"),
            ThreadRole::Connection { peer: "3" }
        );
        assert_eq!(
            role_of("timely:send-1"),
            ThreadRole::Connection { peer: "1" }
        );
        assert_eq!(role_of(&format!("{THREAD_PREFIX}2")), ThreadRole::Heartbeat);
        assert_eq!(role_of("worker-0"), ThreadRole::Other);
    }
}
