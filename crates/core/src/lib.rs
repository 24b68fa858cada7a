//! The scheduling half of STRADS, as plain data structures.
//!
//! STRADS runs model-parallel rounds: a scheduler picks which parameters to update, keeps only the
//! nearly independent ones, the workers compute partial results for them and the committed changes
//! steer the next pick. This crate holds the picking:
//!
//! - [`CoordinateScheduler`] proposes each round's candidate coordinates with one of three policies
//!   ([`SchedulerKind`]): the STRADS dynamic *priority* schedule (sampling proportional to
//!   `(delta beta_j)^2 + eta` from a sum tree), *cyclic* sweeps, or uniform *random* rounds.
//! - [`dependency_filter`] greedily keeps candidates whose pairwise `|corr|` stays below `rho`.
//! - [`balanced_blocks`] cuts the blocks of the static rotation used by LDA, MF SGD and
//!   STRADS-AP's rotation loops (whose driver is the engine's).
//! - [`chi_square`]: goodness-of-fit helpers for the sampling tests of schedulers and samplers.
//! - [`prefetch`]: cache prefetch hints for kernels that know their next random reads.
//!
//! It depends on no dataflow engine, no network and no model: coordinates are `u32` indices and
//! correlations come from a caller's closure. Everything random is seeded and deterministic, and
//! the per-round calls allocate nothing beyond the caller's buffers.
//!
//! # Example
//!
//! One round of a scheduled coordinate-descent loop over 6 coordinates where coordinates 0 and 1
//! are strongly correlated:
//!
//! ```
//! use strads_core::{dependency_filter, CoordinateScheduler, SchedulerKind, SchedulerParams};
//!
//! let params = SchedulerParams { kind: SchedulerKind::Cyclic, schedule_size: 3, eta: 1e-6, seed: 1 };
//! let mut scheduler = CoordinateScheduler::new(6, params);
//! let abs_corr = |a: u32, b: u32| if a.min(b) == 0 && a.max(b) == 1 { 0.9 } else { 0.01 };
//!
//! let (mut candidates, mut kept, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
//! scheduler.propose(&mut candidates);
//! assert_eq!(candidates, [0, 1, 2]);
//! dependency_filter(&candidates, 0.1, abs_corr, &mut kept, &mut dropped);
//! assert_eq!((kept.as_slice(), dropped.as_slice()), (&[0, 2][..], &[1][..]));
//! for &j in &dropped {
//!     scheduler.defer(j); // cyclic: retried first next round
//! }
//! for &j in &kept {
//!     scheduler.report_change(j, 0.5); // the program's committed change of coordinate j
//! }
//! scheduler.propose(&mut candidates);
//! assert_eq!(candidates, [1, 3, 4]);
//! ```
#![deny(missing_docs)]

mod cyclic;
mod dependency;
mod priority;
mod random;
mod rotation;
mod scheduler;
mod sum_tree;
mod unexplored;

pub mod chi_square;
pub mod prefetch;

pub use cyclic::CyclicSchedule;
pub use dependency::{dependency_filter, dependency_filter_pairs};
pub use priority::{PrioritySchedule, MAX_WEIGHT};
pub use random::RandomSchedule;
pub use rotation::balanced_blocks;
pub use scheduler::{CoordinateScheduler, ParseSchedulerKindError, SchedulerKind, SchedulerParams};
pub use sum_tree::SumTree;
