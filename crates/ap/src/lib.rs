//! STRADS-AP on the Strads engine: distributed containers and parallel loops with a consistency
//! model, so that a sequential ML program becomes a distributed one by a few mechanical edits.
//!
//! A program is SPMD: [`run`] runs it on every worker (threads in one process, or processes over
//! TCP), and code between loops is ordinary sequential Rust that computes the same values on every
//! worker. Parameters live in [`DVector`] (range-partitioned), [`DMap`] (hash-partitioned) and
//! [`Accumulator`] (replicated, merged by deltas: the one documented relaxation). A loop runs one
//! iteration per element of a data vector:
//!
//! - [`Consistency::Serializable`] (AsyncFor): from each iteration's keys (named by a key function,
//!   or found by inspecting the body's accesses on the first execution), the runtime pins the
//!   largest container, rotates the others' blocks among the workers (STRADS's
//!   static schedule), and moves each iteration to where its keys are; the result equals some
//!   sequential order of the iterations.
//! - [`Consistency::Bsp`], [`Consistency::Ssp`] (SyncFor): mini-batches against replicas, every
//!   worker's changes merged ([`Delta`], a sum by default) at mini-batch boundaries, reads at most
//!   `s` mini-batches stale.
//! - [`Consistency::Async`]: changes applied as they arrive, bounded delay.
//!
//! `examples/mf_sgd_sequential.rs` and `examples/mf_sgd_ap.rs` are one program twice, SGD matrix
//! factorisation in plain Rust and on this API: the second differs from the first in 10 added
//! and 8 removed lines (the cluster flags, the SPMD entry, the containers, the loop header, one
//! sum), and runs on threads or processes with `strads mf --algo sgd`'s results. The pair
//! `examples/lda_sequential.rs` / `examples/lda_ap.rs` does the same for LDA by collapsed Gibbs
//! sampling in 10 added and 9 removed lines (an `Accumulator` for the topic totals, the input
//! read in shards, each worker sorting the tokens it holds into the sampler's visiting order).
//!
//! What the runtime decided for a loop is one value, [`Strategy`], printed with
//! `STRADS_AP_PRINT_STRATEGY=1`. `STRADS_AP_DEBUG=1` runs the program in one thread and checks
//! every access of a `Serializable` loop against the keys its key function named (or its
//! inspection recorded).
//!
//! ```
//! use strads_ap::{run, ApConfig, Consistency};
//!
//! // Sequential: for (u, v) in edges { degree[u] += 1; degree[v] += 1; }
//! let degrees = run(&ApConfig::threads(2), |ap| {
//!     let pairs = [(0usize, 1usize), (1, 2), (2, 0), (3, 1)];
//!     let mut edges = ap.dvector(pairs.len(), |i| pairs[i]);
//!     let mut degree = ap.dvector(4, |_| 0u32).with_name("degree");
//!     for _ in 0..2 {
//!         ap.parallel_for(&mut edges, (&mut degree,))
//!             .keys(|&(u, v)| ([u, v],))
//!             .run(Consistency::Bsp, |&mut (u, v), (degree,)| {
//!                 degree[u] += 1;
//!                 degree[v] += 1;
//!             })?;
//!     }
//!     ap.gather(&degree)
//! })
//! .unwrap();
//! assert_eq!(degrees[0], Some(vec![4, 6, 4, 2]));
//! ```

mod accumulator;
mod app;
mod args;
mod delta;
mod dmap;
mod dvector;
mod error;
mod keys;
mod parallel;
mod param;
mod prefetch;
mod program;
mod serializable;
mod strategy;
mod synchronous;
mod view;

pub use accumulator::{AccView, Accumulator};
pub use app::{run_ap_app, ApApp};
pub use args::{cluster_from_args, run_with_args, CLUSTER_FLAGS};
pub use delta::Delta;
pub use dmap::{DMap, MapKey, MapView};
pub use dvector::{DVector, VecView};
pub use error::ApError;
pub use keys::KeyList;
pub use parallel::{KeyFunction, LoopReport, NoKeys, ParallelFor};
pub use param::{Access, ContainerInfo, ContainerKind, Element, KeysOf, Param, ParamSet};
pub use prefetch::prefetch_slice;
pub use program::{run, Ap, ApConfig};
pub use strads_engine::{ClusterConfig, ProcessFigures};
pub use strads_runner::{
    in_memory_on_one_process, Hooks, Observer, Run, RunError, StopRequest, Timing,
};
pub use strategy::{
    Balance, Consistency, ContainerStrategy, IterationPlacement, Partitioning, Strategy,
    Synchronization,
};
pub use view::LoopView;
