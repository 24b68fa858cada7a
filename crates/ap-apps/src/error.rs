//! What every app of this crate fails with.

use strads_ap::{ApError, RunError};
use strads_io::DataError;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApAppError {
    /// The AP runtime failed, or an input file is malformed (`ApError::Data`).
    #[error(transparent)]
    Ap(#[from] ApError),
    /// A file is unreadable, empty or malformed, or an output could not be written.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The data cannot be fitted as asked, or a parameter is out of range.
    #[error("{0}")]
    InvalidArgument(String),
    /// The runner failed in its own part (other than the cluster or a bad request).
    #[error(transparent)]
    Run(RunError),
}

impl From<RunError> for ApAppError {
    fn from(error: RunError) -> Self {
        match error {
            RunError::Engine(e) => ApAppError::Ap(ApError::Engine(e)),
            RunError::InvalidArgument(m) => ApAppError::InvalidArgument(m),
            other => ApAppError::Run(other),
        }
    }
}

impl ApAppError {
    /// Whether the input or the request is at fault (exit status 2) rather than the run (1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            ApAppError::Ap(ApError::Data(_) | ApError::Usage(_)) => true,
            ApAppError::Ap(ApError::Engine(e)) => e.exit_code() == 2,
            ApAppError::Ap(_) => false,
            ApAppError::Data(_) | ApAppError::InvalidArgument(_) => true,
            ApAppError::Run(e) => e.exit_code() == 2,
        }
    }
}
