//! Errors of the engine: bad cluster configuration, failed connections, failed workers.

use std::path::PathBuf;

/// What can go wrong while starting or running a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The cluster description is inconsistent (e.g. a process index out of range).
    #[error("invalid cluster configuration: {0}")]
    Config(String),
    /// A line of the hosts file is malformed.
    #[error("{}:{line}: {message}", path.display())]
    HostsLine {
        /// The hosts file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected.
        message: String,
    },
    /// The hosts file cannot be read or lists the wrong number of hosts.
    #[error("{}: {message}", path.display())]
    HostsFile {
        /// The hosts file.
        path: PathBuf,
        /// What was expected.
        message: String,
    },
    /// A peer process could not be reached, or did not connect in time.
    #[error("process {process} ({address}): {message}")]
    Connect {
        /// Index of the peer process.
        process: usize,
        /// Its `host:port`.
        address: String,
        /// What went wrong.
        message: String,
        /// The configuration mistake that most likely caused it, when formation can tell (for
        /// the caller to name the setting that fixes it).
        likely_cause: Option<Misconfiguration>,
    },
    /// A peer process was started differently: another build, subcommand, flag or input size.
    #[error("process {process} differs in {item}: {here} here, {there} there")]
    Disagreement {
        /// Index of the peer process.
        process: usize,
        /// The first item that differs: the caller's name for it (e.g. `--lambda-ratio`), or the
        /// engine's own ([`crate::agreement::PROCESSES_ITEM`], [`crate::agreement::THREADS_ITEM`]).
        item: String,
        /// Its value in this process.
        here: String,
        /// Its value in the peer.
        there: String,
    },
    /// A peer process failed before it could run (bad input or usage) and said so during
    /// formation; the message is its error.
    #[error("process {process} failed before the cluster could run: {message}")]
    PeerFailed {
        /// Index of the peer process.
        process: usize,
        /// Its error.
        message: String,
    },
    /// A worker thread failed (panicked); the message is its panic text.
    #[error("worker {worker} failed: {message}")]
    WorkerFailed {
        /// Index of the worker within this process.
        worker: usize,
        /// The failure.
        message: String,
    },
    /// Timely refused to start.
    #[error("failed to start timely: {0}")]
    Timely(String),
    /// A message could not be encoded or decoded (a bug, or peers built from different sources).
    #[error("message codec: {0}")]
    Codec(String),
}

/// A mistake in how the processes of a cluster were started that formation can recognise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misconfiguration {
    /// The processes were not given different indices, each matching its line of the hosts
    /// list (two claimed the same index, or one connected as only a higher index does).
    ProcessIndices,
    /// The processes do not all have the same cluster secret.
    Secrets,
}

impl EngineError {
    /// The process exit status for this error: 2 when the command line, the hosts file or the
    /// processes' agreement is at fault (usage), 1 for failures while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Config(_)
            | EngineError::HostsLine { .. }
            | EngineError::HostsFile { .. }
            | EngineError::Disagreement { .. }
            | EngineError::PeerFailed { .. } => 2,
            EngineError::Connect { .. }
            | EngineError::WorkerFailed { .. }
            | EngineError::Timely(_)
            | EngineError::Codec(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::{PROCESSES_ITEM, THREADS_ITEM};

    /// The engine says what is wrong in its own terms (the binary adds the flag that fixes
    /// it, from the typed fields): no message names a command-line flag.
    #[test]
    fn messages_name_no_command_line_flag() {
        let connect = |message: &str, likely_cause| EngineError::Connect {
            process: 1,
            address: "127.0.0.1:9000".into(),
            message: message.into(),
            likely_cause,
        };
        let disagreement = |item: &str| EngineError::Disagreement {
            process: 1,
            item: item.into(),
            here: "2".into(),
            there: "3".into(),
        };
        let errors = [
            EngineError::Config("process index 3 is out of range for 2 processes".into()),
            EngineError::HostsLine {
                path: "hosts".into(),
                line: 2,
                message: "expected `host:port`".into(),
            },
            EngineError::HostsFile {
                path: "hosts".into(),
                message: "expected 2 hosts".into(),
            },
            connect(
                "did not connect within 3 s",
                Some(Misconfiguration::Secrets),
            ),
            connect("two processes", Some(Misconfiguration::ProcessIndices)),
            disagreement(PROCESSES_ITEM),
            disagreement(THREADS_ITEM),
            EngineError::PeerFailed {
                process: 1,
                message: "data.libsvm: no such file".into(),
            },
            EngineError::WorkerFailed {
                worker: 0,
                message: "panicked".into(),
            },
            EngineError::Timely("no".into()),
            EngineError::Codec("short".into()),
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.contains("--"), "names a flag: {message}");
        }
    }
}
