//! What the runner itself fails with; each app's error type converts it (`From<RunError>`).

use strads_engine::EngineError;

/// Why a run failed in the runner's own part (the cluster, checkpoints, in-memory inputs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Starting or running the cluster failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The request cannot be run as asked: inputs in memory on several processes, no
    /// checkpoint to resume, a checkpoint directory too small from the start (exit status 2).
    #[error("{0}")]
    InvalidArgument(String),
    /// The machine could not do what the run needs: writing a checkpoint failed (exit status 1).
    #[error("{0}")]
    Resources(String),
}

impl RunError {
    /// The process exit status for this error: 2 for bad input or usage, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Engine(e) => e.exit_code(),
            RunError::InvalidArgument(_) => 2,
            RunError::Resources(_) => 1,
        }
    }
}
