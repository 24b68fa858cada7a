//! Errors of the engine: bad cluster configuration, failed connections, failed workers.

use std::path::PathBuf;

/// What can go wrong while starting or running a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The cluster description is inconsistent (e.g. `--process` out of range).
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
    },
    /// A peer process was started differently: another build, subcommand, flag or input size.
    #[error("process {process} differs in {item}: {here} here, {there} there")]
    Disagreement {
        /// Index of the peer process.
        process: usize,
        /// The first item that differs (a flag name, e.g. `--lambda-ratio`).
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
