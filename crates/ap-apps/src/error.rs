//! What every app of this crate fails with, and how an app's program runs on a cluster.

use strads_ap::{ApConfig, ApError};
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
}

impl ApAppError {
    /// Whether the input or the request is at fault (exit status 2) rather than the run (1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            ApAppError::Ap(ApError::Data(_) | ApError::Usage(_)) => true,
            ApAppError::Ap(ApError::Engine(e)) => e.exit_code() == 2,
            ApAppError::Ap(_) => false,
            ApAppError::Data(_) | ApAppError::InvalidArgument(_) => true,
        }
    }
}

/// Runs `program` on every worker of the cluster; returns worker 0's result on the process that
/// runs it (`None` on the others). An [`ApAppError::InvalidArgument`] crosses the runtime as an
/// `ApError::Usage` and comes back as itself.
pub(crate) fn run_on_cluster<T, F>(config: &ApConfig, program: F) -> Result<Option<T>, ApAppError>
where
    T: Send + 'static,
    F: Fn(&mut strads_ap::Ap<'_, '_>) -> Result<T, ApAppError> + Send + Sync + 'static,
{
    let leader_here = config.cluster.process == 0;
    let mut results = strads_ap::run(config, move |ap| {
        program(ap).map_err(|e| match e {
            ApAppError::Ap(e) => e,
            ApAppError::Data(e) => ApError::Data(e),
            other => ApError::Usage(other.to_string()),
        })
    })
    .map_err(|e| match e {
        ApError::Usage(message) => ApAppError::InvalidArgument(message),
        e => ApAppError::Ap(e),
    })?;
    Ok(if leader_here && !results.is_empty() {
        Some(results.swap_remove(0))
    } else {
        None
    })
}
