//! Strads applications: each is a set of math kernels (plain functions over slices) plus a
//! scheduled model-parallel program that runs them on the engine.
//!
//! - [`sparse_regression`]: Lasso and sparse logistic regression by scheduled coordinate descent
//!   (STRADS's dynamic priority schedule with a dependency filter), stopped on the duality gap.
//! - [`mf`]: matrix factorisation of ratings by CCD++, ALS or rotated stratified SGD.
//! - [`lda`]: LDA topic modelling by collapsed Gibbs sampling with STRADS vocabulary rotation.
//!
//! - [`runner`]: the one run every app plugs into ([`runner::App`], [`runner::run_app`]): the
//!   cluster's start, loading and solving timed, the stop rule, trace observer and worker 0's
//!   answer with every process's figures.
//! - [`checkpoint`]: checkpoint and resume, and stopping on request, shared by the apps.
//!
//! Apps know the engine (to run) and the core (to schedule); the engine and the core know no app.

#![deny(missing_docs)]

pub mod checkpoint;
pub mod error;
mod huge;
pub mod lda;
pub mod mf;
mod padded;
pub mod runner;
pub mod sparse_regression;

pub use error::{AppError, Parameter};
