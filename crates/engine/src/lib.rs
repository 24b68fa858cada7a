//! The Strads engine: everything that touches timely dataflow and the network, and nothing else.
//!
//! It starts a cluster of workers (threads in one process, or processes over TCP, on timely
//! dataflow's own networking), gives each worker a [`Worker`] handle with point-to-point messages and
//! collectives ([`Worker::all_gather`], [`Worker::broadcast`], and the static rotation's block
//! exchange [`Worker::rotate_bytes`]), and runs programs made of rounds
//! ([`rounds::RoundWorker`] on every worker, [`rounds::RoundLeader`] on worker 0) with bounded
//! staleness, of replicated rounds with no leader ([`replicated::ReplicatedRounds`]: one
//! all-gather or all-reduce a round, the same decision on every worker), and of rotated blocks
//! ([`rotation::RotationProgram`], STRADS's static rotation). It knows no machine learning.
//!
//! ```
//! use strads_engine::{ClusterConfig, run_cluster};
//! // Two worker threads in this process each contribute their index; both see the sum.
//! let sums = run_cluster(&ClusterConfig::threads(2), |worker| {
//!     let all: Vec<usize> = worker.all_gather(&worker.index()).unwrap();
//!     all.iter().sum::<usize>()
//! })
//! .unwrap();
//! assert_eq!(sums, vec![1, 1]);
//! ```

pub mod agreement;
pub mod cluster;
mod connect;
pub mod dense;
pub mod error;
mod exchange;
mod heartbeat;
pub mod loopback;
mod mailbox;
mod process_figures;
mod pull_by_keys;
pub mod replicated;
pub mod rotation;
pub mod rounds;
pub mod secret;
pub mod threads;

pub use cluster::{run_cluster, Cluster, ClusterConfig};
pub use dense::{DenseVector, DenseVector32};
pub use error::{EngineError, Misconfiguration};
pub use exchange::{record_rounds, RecordChunk, MAX_MESSAGE_BYTES};
pub use mailbox::{bytes_sent, RotatedBlock, Worker};
pub use process_figures::ProcessFigures;
pub use pull_by_keys::PullByKeys;
pub use secret::Secret;
