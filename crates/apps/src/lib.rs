//! Strads applications: each is a set of math kernels (plain functions over slices) plus a
//! scheduled model-parallel program that runs them on the engine.
//!
//! - [`sparse_regression`]: Lasso and sparse logistic regression by scheduled coordinate descent
//!   (STRADS's dynamic priority schedule with a dependency filter), stopped on the duality gap.
//! - [`mf`]: matrix factorisation of ratings by CCD++, ALS or rotated stratified SGD.
//! - [`lda`]: LDA topic modelling by collapsed Gibbs sampling with STRADS vocabulary rotation.
//!
//! Each app plugs into the one runner of every Strads app ([`strads_runner`], re-exported here
//! as [`runner`] and [`checkpoint`]): the cluster's start, loading and solving timed, the stop
//! rule, checkpoints, trace observer and worker 0's answer with every process's figures.
//!
//! Apps know the engine (to run), the runner and the core (to schedule); none of these knows an
//! app.

#![deny(missing_docs)]

pub mod error;
mod huge;
pub mod lda;
pub mod mf;
mod padded;
pub mod sparse_regression;

pub use error::{AppError, Parameter};
pub use strads_runner as runner;
pub use strads_runner::{checkpoint, Hooks};
