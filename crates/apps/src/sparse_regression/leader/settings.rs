//! The settings of the leader's solve loop, fixed for a solve.

use strads_core::SchedulerParams;

/// Settings of the leader's solve loop.
#[derive(Clone, Debug)]
pub struct SolveSettings {
    /// The l1 penalty.
    pub lambda: f64,
    /// Stop when `gap <= tol * objective`.
    pub tol: f64,
    /// Stop after this many passes over the coordinates.
    pub max_passes: f64,
    /// Stop after this many seconds of solving.
    pub max_seconds: f64,
    /// Gap evaluations every `gap_every * max(working set, d / 20)` coordinate updates.
    pub gap_every: f64,
    /// Dependency threshold; >= 1 disables the filter.
    pub rho: f64,
    /// Rounds in flight minus one.
    pub staleness: u64,
    /// Whether the gap-safe rule removes coordinates.
    pub screening: bool,
    /// Priority scheduler only: candidates added to each round from a cyclic sweep over the
    /// working set, as a fraction of the round's priority draws (0 = none).
    pub sweep_share: f64,
    /// The loss's smoothness constant `L` (see [`crate::sparse_regression::loss::Loss::SMOOTHNESS`]).
    pub smoothness: f64,
    /// Squared loss only (the pair dot products are then the Gram entries `x_a . x_b`): the
    /// kept candidates are stepped in order, each from its gradient corrected by the steps
    /// already taken this round, `g_j + sum_k delta_k x_j . x_k`, which is exactly what
    /// sequential coordinate descent would see; and the passes over them repeat (the round's
    /// subproblem is known exactly) until a pass changes the objective by less than a
    /// thousandth of the first one, or this many passes. 0 = parallel steps from the round's
    /// gradients, which need the dependency filter to be safe.
    pub inner_passes: usize,
    /// The scheduler's settings (its seed is varied when the active set is rebuilt).
    pub scheduler: SchedulerParams,
    /// Pause the round driver after every gap evaluation that does not stop the solve, where
    /// no round is in flight: the caller then checkpoints and agrees on stopping.
    pub pause_after_evaluations: bool,
}
