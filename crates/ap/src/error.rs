//! The one error type of the AP runtime.

use strads_engine::EngineError;
use strads_io::DataError;

/// What can go wrong in a STRADS-AP program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApError {
    /// Starting or running the cluster failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// An input file is malformed (names the file and line).
    #[error(transparent)]
    Data(#[from] DataError),
    /// A `Serializable` loop has no conflict-free schedule, or its keys are invalid.
    #[error("loop `{name}`: {message}")]
    Schedule {
        /// The loop.
        name: String,
        /// Which container and key made it impossible.
        message: String,
    },
    /// Debug mode saw an access outside the keys recorded for the iteration.
    #[error("loop `{name}`, iteration {iteration}: {message}")]
    Access {
        /// The loop.
        name: String,
        /// The iteration (index of its element in the loop's data vector).
        iteration: u64,
        /// The container, the key and the recorded keys.
        message: String,
    },
    /// A loop body panicked on some worker; the message is its panic text.
    #[error("loop `{name}`: the body failed on worker {worker}: {message}")]
    Body {
        /// The loop.
        name: String,
        /// The worker whose body failed.
        worker: usize,
        /// The panic message.
        message: String,
    },
    /// The program used the API in a way it does not support.
    #[error("{0}")]
    Usage(String),
    /// A value could not be encoded or decoded (a bug, or peers built from different sources).
    #[error("codec: {0}")]
    Codec(String),
}

/// Encodes a value for the wire.
pub(crate) fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ApError> {
    bincode::serialize(value).map_err(|e| ApError::Codec(e.to_string()))
}

/// Decodes a value from the wire.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApError> {
    bincode::deserialize(bytes).map_err(|e| ApError::Codec(e.to_string()))
}
