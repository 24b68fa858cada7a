//! Errors of an app run, split by who is at fault: the input (exit status 2) or the run (1).

use strads_engine::EngineError;
use strads_io::DataError;

/// Why an app run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The input data is malformed or unreadable.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A parameter is out of range or inconsistent with the data.
    #[error("{0}")]
    InvalidArgument(String),
    /// Another worker failed to load its part of the input; the message is its error.
    #[error("{0}")]
    RemoteData(String),
    /// A consistency check of the model state failed (a bug, not bad input).
    #[error("inconsistent state: {0}")]
    Inconsistent(String),
    /// The machine could not provide what the run needs (e.g. memory).
    #[error("{0}")]
    Resources(String),
    /// The cluster failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl AppError {
    /// The process exit status for this error: 2 for bad input or usage, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Data(_) | AppError::InvalidArgument(_) | AppError::RemoteData(_) => 2,
            // 2 for a disagreement between processes or a bad cluster configuration.
            AppError::Engine(e) => e.exit_code(),
            AppError::Inconsistent(_) | AppError::Resources(_) => 1,
        }
    }
}
