//! Multinomial logistic (softmax) regression on STRADS-AP.
//!
//! Objective, over `n` examples `(x_i, y_i)` with `K` classes (no hidden scaling):
//!
//! ```text
//! F(W, b) = sum_i -log softmax(W^T x_i + b)_{y_i} + lambda/2 ||W||^2 (+ l1 ||W||_1)
//! ```
//!
//! with the intercepts `b` absent by default (scikit-learn's `fit_intercept=False`) and
//! unpenalised when present. scikit-learn's `LogisticRegression(C)` minimises the same `F` with
//! `lambda = 1 / C`.
//!
//! The program ([`program`]) reads the examples into a [`strads_ap::DVector`] in byte-range
//! shards, maps the labels to classes `0..K` in sorted order ([`ClassMap`]), then solves:
//!
//! - [`Solver::Lbfgs`] (exact): each objective and gradient evaluation is one `Bsp` loop over the
//!   examples summing into an [`strads_ap::Accumulator`] (the `K d` gradient and the loss, one
//!   mini-batch per pass, so one merge); the two-loop recursion and the line search ([`lbfgs`])
//!   are sequential code between loops. Stops when `||grad F|| <= tol * max(1, ||grad F(0)||)`.
//! - [`Solver::Sgd`]: epochs of a `Bsp` or `Ssp(s)` loop over the (per-worker shuffled) examples
//!   against the weights in an accumulator: every example takes a step on its own loss, the L2
//!   shrinkage is applied every mini-batch, and each mini-batch's changes of all workers are
//!   summed. The step size decays per epoch, `eta_e = eta_0 / (1 + decay e)`.
//!
//! The kernels ([`kernels`]) are plain functions over one example.

pub mod classes;
pub mod example;
pub mod generate;
pub mod in_memory;
pub mod kernels;
pub mod lbfgs;
pub mod model;
pub mod predict;
pub mod program;

use std::path::{Path, PathBuf};

use strads_ap::{run_ap_app, ApConfig, Consistency, Hooks};

pub use classes::ClassMap;
pub use example::Example;
pub use in_memory::InMemoryExamples;
pub use kernels::Shape;
pub use lbfgs::{LbfgsSettings, LbfgsStop, L1};
pub use predict::{predict, Predictions};
pub use program::{Fit, Metrics, StopReason, TraceRecord};

/// Why a run failed (the crate's [`crate::error::ApAppError`]).
pub type MlrError = crate::error::ApAppError;

/// Settings of mini-batch SGD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdSettings {
    /// Passes over the examples.
    pub epochs: usize,
    /// Examples per worker in one mini-batch (the unit of merging).
    pub batch: usize,
    /// The first epoch's step size `eta_0`; `None`: `1 / mean ||x_i||^2` (with the intercept's
    /// constant feature), the inverse of the largest curvature of an average example's loss
    /// times two.
    pub step: Option<f64>,
    /// `eta_e = eta_0 / (1 + decay e)`.
    pub decay: f64,
    /// `Bsp` or `Ssp(s)`.
    pub consistency: Consistency,
    /// Seed of the per-epoch shuffles.
    pub seed: u64,
}

impl Default for SgdSettings {
    fn default() -> Self {
        SgdSettings {
            epochs: 10,
            batch: 512,
            step: None,
            decay: 2.0,
            consistency: Consistency::Bsp,
            seed: 1,
        }
    }
}

/// Which solver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Solver {
    /// L-BFGS on the full gradient (exact).
    Lbfgs(LbfgsSettings),
    /// Mini-batch SGD.
    Sgd(SgdSettings),
}

/// Everything a run needs besides the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct MlrParams {
    /// Training data (libsvm, integer labels); with [`MlrParams::in_memory`], only the name
    /// that messages give the examples.
    pub data: PathBuf,
    /// Test data, scored at the end (and after every SGD epoch).
    pub test: Option<PathBuf>,
    /// Feature indices start at 0.
    pub zero_based: bool,
    /// The L2 penalty `lambda`.
    pub lambda: f64,
    /// The L1 penalty (0: none): L-BFGS becomes OWL-QN, SGD soft-thresholds every mini-batch.
    pub l1: f64,
    /// Fit an unpenalised intercept per class.
    pub intercept: bool,
    /// The solver and its settings.
    pub solver: Solver,
    /// Training examples in memory, read instead of `data` (one process only).
    pub in_memory: Option<InMemoryExamples>,
}

impl MlrParams {
    /// Defaults for `data`: `lambda = 1`, no intercept, L-BFGS with its defaults.
    pub fn new(data: &Path) -> Self {
        MlrParams {
            data: data.to_path_buf(),
            test: None,
            zero_based: false,
            lambda: 1.0,
            l1: 0.0,
            intercept: false,
            solver: Solver::Lbfgs(LbfgsSettings::default()),
            in_memory: None,
        }
    }

    /// Defaults as [`MlrParams::new`] for examples in memory.
    pub fn in_memory(examples: InMemoryExamples) -> Self {
        MlrParams {
            in_memory: Some(examples),
            ..MlrParams::new(Path::new("the examples in memory"))
        }
    }
}

/// Fits the model on the cluster with the caller's `hooks` (a stop request, checked at every
/// L-BFGS iteration or after every SGD epoch, and an observer of the trace); returns the fit
/// on the process that runs worker 0 (`None` on the others).
pub fn train(
    config: &ApConfig,
    params: &MlrParams,
    hooks: Hooks<TraceRecord>,
) -> Result<Option<Fit>, MlrError> {
    run_ap_app::<program::Mlr>(config, params, hooks)
}

fn check_params(params: &MlrParams) -> Result<(), MlrError> {
    let bad = |m: String| Err(MlrError::InvalidArgument(m));
    if !(params.lambda.is_finite() && params.lambda >= 0.0) {
        return bad(format!(
            "lambda must be finite and >= 0, got {}",
            params.lambda
        ));
    }
    match params.solver {
        Solver::Lbfgs(s) if s.tol.is_nan() || s.tol < 0.0 || s.memory == 0 => {
            bad("the tolerance must be >= 0 and the memory at least 1".into())
        }
        Solver::Sgd(s) if s.batch == 0 || s.epochs == 0 => {
            bad("the mini-batch and the number of epochs must be at least 1".into())
        }
        Solver::Sgd(s)
            if s.step.is_some_and(|t| !(t > 0.0 && t.is_finite()))
                || s.decay.is_nan()
                || s.decay < 0.0 =>
        {
            bad("the step size must be positive and finite, the decay >= 0".into())
        }
        _ => Ok(()),
    }
}
