//! The one run every Strads app plugs into, whether it is written on the engine's drivers
//! (`strads-apps`) or on STRADS-AP (`strads-ap-apps`, through `strads_ap::ApApp`).
//!
//! - [`run_app`] and [`App`]: checks, the cluster's start, loading and solving timed, worker 0's
//!   answer with every process's figures.
//! - [`Run`]: a worker's view while it solves: the solve clock, the stop rule agreed across
//!   workers at iteration boundaries, checkpoints, and the trace observer.
//! - [`Hooks`]: what a caller hooks into a run (a stop request, an observer), the same for
//!   every app: the CLI's signal handler and progress bar, Python's Ctrl-C and callbacks.
//! - [`checkpoint`]: checkpoint and resume, and the boundary's decision.
//!
//! The runner knows the engine (to run) and io (checkpoint files, free space, peak memory); it
//! knows no model, and the engine knows no runner.

#![deny(missing_docs)]

pub mod checkpoint;
mod error;
mod hooks;
mod run;

pub use checkpoint::{Boundary, Checkpointing};
pub use error::RunError;
pub use hooks::{Hooks, Observer, StopRequest};
pub use run::{in_memory_on_one_process, run_app, App, Footprint, Run, Timing};
