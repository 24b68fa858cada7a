//! Lasso and sparse logistic regression by scheduled model-parallel coordinate descent.
//!
//! Objectives (no intercept, no hidden scaling):
//! - Lasso: `F(b) = 1/2 ||y - X b||^2 + lambda ||b||_1`, `lambda_max = ||X^T y||_inf`.
//! - Logistic: `F(b) = sum_i log(1 + exp(-y_i x_i . b)) + lambda ||b||_1` with `y_i` in {-1, +1},
//!   `lambda_max = ||X^T y||_inf / 2`.
//!
//! Rows of X are loaded sharded over the workers ([`load`]); then one of two layouts
//! ([`Layout`]) solves. In the column layout (the default) the rows are redistributed into column
//! blocks ([`column_blocks`]) and every worker sweeps its block against a replica of the per-row
//! state ([`column_descent`]). In the rows layout each worker keeps its rows by column
//! ([`column_shard`]) with their predictions, and the leader keeps the coefficients and the
//! STRADS scheduler ([`program`], [`leader`]). The run stops when the duality gap is at most
//! `tol * F(b)`, or at the pass or time limit (then it says it did not converge).

pub mod column_blocks;
pub mod column_descent;
pub mod column_shard;
pub mod kernels;
pub mod leader;
pub mod load;
pub mod loss;
pub mod messages;
pub mod program;

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use strads_core::{SchedulerKind, SchedulerParams};
use strads_engine::rounds::{continue_rounds, RoundOptions, RoundsEnd, RoundsState};
use strads_engine::{ClusterConfig, ProcessFigures, Worker};
use strads_io::LabelKind;

pub use column_blocks::{ColumnSource, ColumnsError, CscColumns};
pub use column_shard::Entries;
pub use load::{DataSource, InMemoryColumns, InMemoryRows};
pub use loss::LossKind;

use crate::checkpoint::Checkpointing;
use crate::error::AppError;
use crate::runner::{in_memory_on_one_process, run_app, App, Footprint, Hooks, Run, Timing};
use column_shard::ColumnShard;
use leader::{LeaderState, SolveSettings};
use loss::{LogisticLoss, Loss, SquaredLoss};
use program::CoordinateDescent;

/// How the l1 penalty is given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Penalty {
    /// `lambda` itself.
    Absolute(f64),
    /// `lambda = ratio * lambda_max`.
    Ratio(f64),
}

/// Everything a solve needs besides the cluster.
#[derive(Clone, Debug)]
pub struct RegressionParams {
    /// Lasso or logistic.
    pub loss: LossKind,
    /// The training data.
    pub data: DataSource,
    /// The l1 penalty.
    pub penalty: Penalty,
    /// Stop when the duality gap is at most `tol * F(b)`.
    pub tol: f64,
    /// Stop after this many passes over the coordinates.
    pub max_passes: f64,
    /// Stop after this many seconds of solving.
    pub max_seconds: f64,
    /// How often the duality gap is evaluated, in both layouts but with a meaning of each's
    /// own: rows layout, every `gap_every * max(working set, d / 20)` coordinate updates;
    /// column layout, at most `gap_every` evaluations' work of sweeping between two
    /// evaluations ([`column_descent`]). See [`RegressionParams::tuned_gap_every`].
    pub gap_every: f64,
    /// How X is split over the workers, with the options only that layout has.
    pub layout: Layout,
    /// Checkpoints, resuming and stop requests (the unit of an interval in iterations is a
    /// duality-gap evaluation).
    pub checkpointing: Checkpointing,
}

impl Default for RegressionParams {
    /// [`RegressionParams::tuned`] for the lasso on the column layout in one process (`data` is
    /// an empty libsvm path, to be set).
    fn default() -> Self {
        RegressionParams::tuned(LossKind::Squared, LayoutKind::Columns, 1)
    }
}

impl RegressionParams {
    /// The defaults for `loss` with `layout` on `processes` processes, each the best measured
    /// on the benchmark problem over its lambdas (README "Performance"); `data` is an empty
    /// libsvm path, to be set. The command line's defaults are these.
    pub fn tuned(loss: LossKind, layout: LayoutKind, processes: usize) -> Self {
        RegressionParams {
            loss,
            data: DataSource::Libsvm {
                path: std::path::PathBuf::new(),
                zero_based: false,
            },
            penalty: Penalty::Ratio(0.1),
            tol: 1e-6,
            max_passes: 10_000.0,
            max_seconds: f64::INFINITY,
            gap_every: RegressionParams::tuned_gap_every(loss, layout),
            layout: layout.tuned(loss, processes),
            checkpointing: Checkpointing::default(),
        }
    }

    /// The default [`RegressionParams::gap_every`]. Column layout: an evaluation costs a pass
    /// over X and the sweeps are cheap per step, so evaluations are due after 20 of them in
    /// sweep work (or earlier, when the working set's subproblem has converged; see
    /// `column_descent`). Rows layout: lasso's rounds sweep the working set, so its
    /// evaluations can be rarer than logreg's, whose refreshed priorities are worth more than
    /// the evaluation's pass.
    pub fn tuned_gap_every(loss: LossKind, layout: LayoutKind) -> f64 {
        match (layout, loss) {
            (LayoutKind::Columns, _) => 20.0,
            (LayoutKind::Rows, LossKind::Squared) => 2.0,
            (LayoutKind::Rows, LossKind::Logistic) => 0.25,
        }
    }
}

/// How X is split over the workers, without its options: the command line's `--layout` and
/// the Python binding's string (the doc comments of the variants are also the command line's
/// help).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum LayoutKind {
    /// STRADS's scheduled rounds: every worker holds a range of rows; each round the leader
    /// schedules coordinates and the workers sum their statistics over their rows.
    Rows,
    /// Every worker owns a block of columns over all rows and sweeps its working set against a
    /// replica of the residual; rounds all-gather the residual's change.
    Columns,
}

impl LayoutKind {
    /// The name used on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            LayoutKind::Rows => "rows",
            LayoutKind::Columns => "columns",
        }
    }

    /// This layout with its tuned options for `loss` on `processes` processes.
    pub fn tuned(self, loss: LossKind, processes: usize) -> Layout {
        match self {
            LayoutKind::Rows => Layout::Rows(RowsOptions::tuned(loss, processes)),
            LayoutKind::Columns => Layout::Columns(ColumnsOptions::default()),
        }
    }
}

impl std::str::FromStr for LayoutKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rows" => Ok(LayoutKind::Rows),
            "columns" => Ok(LayoutKind::Columns),
            other => Err(format!(
                "unknown layout '{other}' (expected rows or columns)"
            )),
        }
    }
}

/// How X is split over the workers, with the options only that layout has (so an option cannot
/// be set for a layout that would ignore it).
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// Every worker holds a range of rows; each round the leader schedules coordinates, the
    /// workers sum their statistics over rows (STRADS's layout, [`program`]).
    Rows(RowsOptions),
    /// Every worker owns a block of columns over all rows and sweeps it against a replica of the
    /// row state; rounds exchange the change of the predictions ([`column_descent`]).
    Columns(ColumnsOptions),
}

impl Layout {
    /// Which layout this is.
    pub fn kind(&self) -> LayoutKind {
        match self {
            Layout::Rows(_) => LayoutKind::Rows,
            Layout::Columns(_) => LayoutKind::Columns,
        }
    }
}

/// The options of the rows layout alone: the leader's scheduling of each round.
#[derive(Clone, Debug, PartialEq)]
pub struct RowsOptions {
    /// Which coordinates each round updates. For the priority scheduler, `eta` is relative: the
    /// floor is `eta` times the largest squared step predicted at the last gap evaluation.
    pub scheduler: SchedulerParams,
    /// Dependency filter: no two coordinates with |corr| >= rho in one round (>= 1 disables it).
    pub rho: f64,
    /// Rounds in flight minus one (0 = bulk synchronous).
    pub staleness: u64,
    /// Whether the gap-safe rule screens out coordinates that are zero at the optimum.
    pub screening: bool,
    /// Priority scheduler only: each round also takes this fraction of its size from a cyclic
    /// sweep over the working set (the coordinates nonzero or predicted to move at the last gap
    /// evaluation), so that none of it waits long for a visit. 0 disables it.
    pub sweep_share: f64,
    /// Squared loss only: the round's kept candidates are stepped one after another, each step
    /// seeing the earlier ones through the candidates' Gram entries, for up to this many passes
    /// over them (0 = every step from the round's gradients, as in STRADS). See
    /// [`leader::SolveSettings::inner_passes`].
    pub inner_passes: usize,
}

impl Default for RowsOptions {
    /// [`RowsOptions::tuned`] for the lasso in one process.
    fn default() -> Self {
        RowsOptions::tuned(LossKind::Squared, 1)
    }
}

impl RowsOptions {
    /// The defaults for `loss` on `processes` processes, each the best measured on the
    /// benchmark problem over its lambdas (README "Performance").
    pub fn tuned(loss: LossKind, processes: usize) -> Self {
        let inner_passes = 4;
        RowsOptions {
            scheduler: SchedulerParams {
                kind: SchedulerKind::Priority,
                // Lasso's inner passes make a big round as good as as many sequential steps;
                // a logreg round across processes pays two network latencies, which bigger
                // rounds amortise.
                schedule_size: match loss {
                    LossKind::Squared => 256,
                    LossKind::Logistic if processes > 1 => 256,
                    LossKind::Logistic => 64,
                },
                eta: 1e-9,
                seed: 1,
            },
            rho: RowsOptions::tuned_rho(loss, inner_passes),
            staleness: 0,
            screening: true,
            sweep_share: match loss {
                LossKind::Squared => 16.0,
                LossKind::Logistic => 0.25,
            },
            inner_passes,
        }
    }

    /// The default dependency filter: none (1) for the lasso with inner passes, whose
    /// sequential steps through the Gram entries (also correcting for changes of rounds in
    /// flight that the workers did not see) make a big unfiltered round as safe as sequential
    /// coordinate descent; 0.1 otherwise.
    pub fn tuned_rho(loss: LossKind, inner_passes: usize) -> f64 {
        match loss {
            LossKind::Squared if inner_passes > 0 => 1.0,
            LossKind::Squared | LossKind::Logistic => 0.1,
        }
    }
}

/// The options of the column layout alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnsOptions {
    /// Passes over a worker's working set per round (0, the default: as many as make a round's
    /// sweeping outweigh its exchange).
    pub local_passes: u32,
    /// A solve in one process whose X has at most this many entries runs on one worker thread,
    /// whatever the cluster's threads ([`solving_threads`]); 0 keeps every thread. Default
    /// [`SINGLE_WORKER_ENTRIES`].
    pub single_worker_entries: u64,
}

impl Default for ColumnsOptions {
    fn default() -> Self {
        ColumnsOptions {
            local_passes: 0,
            single_worker_entries: SINGLE_WORKER_ENTRIES,
        }
    }
}

/// The default [`ColumnsOptions::single_worker_entries`]. Below it a round's sweep is a few
/// microseconds to a few hundred, comparable to or less than waking the other threads for the
/// round's all-gather, and one block converges in fewer passes than the blocks' Jacobi steps:
/// on scikit-learn's diabetes data (4420 entries) at 0.001 lambda_max one thread takes 188
/// rounds, two threads 355 (README "Lasso").
pub const SINGLE_WORKER_ENTRIES: u64 = 100_000;

impl ColumnsOptions {
    /// The worker threads of one process with `threads` threads that solve an X of at most
    /// `entries` entries: one when the problem is small ([`Self::single_worker_entries`]).
    pub fn threads_for(&self, threads: usize, entries: u64) -> usize {
        if entries <= self.single_worker_entries {
            1
        } else {
            threads
        }
    }
}

/// The worker threads each process of `cluster` solves `params` on: the cluster's, except
/// that the column layout in one process solves a small X on one thread
/// ([`ColumnsOptions::single_worker_entries`]). The size is known before loading: a matrix in
/// memory counts its entries; a file's bytes bound them (a libsvm entry `j:v` and its
/// separator take at least 4 bytes, a MatrixMarket line `i j v` at least 6, a cache entry 12).
pub fn solving_threads(params: &RegressionParams, cluster: &ClusterConfig) -> usize {
    let Layout::Columns(options) = &params.layout else {
        return cluster.threads;
    };
    if cluster.processes() > 1 || cluster.threads <= 1 {
        return cluster.threads;
    }
    let file_bytes = |path: &std::path::Path| std::fs::metadata(path).ok().map(|m| m.len());
    let entries_at_most = match &params.data {
        DataSource::Libsvm { path, .. } => file_bytes(path).map(|bytes| bytes / 4),
        DataSource::MatrixMarket { matrix, .. } => file_bytes(matrix).map(|bytes| bytes / 6),
        DataSource::InMemory(rows) => Some(rows.rows.n_nonzeros() as u64),
        DataSource::InMemoryColumns(columns) => Some(columns.nonzeros() as u64),
    };
    // An unreadable file keeps every thread: loading reports it.
    entries_at_most.map_or(cluster.threads, |entries| {
        options.threads_for(cluster.threads, entries)
    })
}

/// One line of the trace: the state at a duality-gap evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Passes over the coordinates so far (coordinate updates / d).
    pub iteration: f64,
    /// Seconds since the solve started (loading excluded).
    pub seconds: f64,
    /// `F(b)`.
    pub objective: f64,
    /// `F(b) - D(theta)`.
    pub duality_gap: f64,
    /// Nonzero coefficients.
    pub nnz: usize,
    /// Rounds committed so far.
    pub rounds: u64,
    /// Coordinates not yet screened out by the gap-safe rule.
    pub active: usize,
}

/// Called on the leader after each gap evaluation (for progress displays).
pub type Observer = crate::runner::Observer<TraceRecord>;

/// Why a solve stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The duality gap reached the tolerance.
    Converged,
    /// The pass limit was reached first.
    MaxIterations,
    /// The time limit was reached first.
    MaxSeconds,
    /// The objective became infinite or NaN (or rose a thousandfold): parallel updates of
    /// dependent coordinates overshot (lower --rho or --schedule-size), or the data's values
    /// are too large for double precision (the objective at b = 0 is already infinite).
    Diverged,
    /// A process was asked to stop (a signal): the run stopped at an iteration boundary, after
    /// writing a last checkpoint when checkpointing.
    Interrupted,
}

/// The answer, returned by the process that holds the leader (process 0).
#[derive(Clone, Debug)]
pub struct Solution {
    /// The coefficients `b`.
    pub coefficients: Vec<f64>,
    /// `F(b)` at the last gap evaluation.
    pub objective: f64,
    /// The duality gap there.
    pub duality_gap: f64,
    /// Why it stopped.
    pub stop: StopReason,
    /// Passes over the coordinates.
    pub iterations: f64,
    /// Rounds committed.
    pub rounds: u64,
    /// The penalty used.
    pub lambda: f64,
    /// `||X^T theta(0)||_inf`, the smallest penalty with `b = 0` optimal.
    pub lambda_max: f64,
    /// Rows of X.
    pub rows: usize,
    /// Columns of X.
    pub cols: usize,
    /// Nonzeros of X.
    pub nonzeros: usize,
    /// Seconds from start to data loaded on every worker.
    pub load_seconds: f64,
    /// Seconds of solving.
    pub solve_seconds: f64,
    /// One record per gap evaluation.
    pub trace: Vec<TraceRecord>,
    /// Coordinates left after gap-safe screening (rows layout), or in the working set (column
    /// layout).
    pub active: usize,
    /// Column layout: sweep rounds committed averaged because the blocks' summed change would
    /// have raised the objective (0 in the rows layout).
    pub averaged_rounds: u64,
    /// Per process, process 0 first, gathered at the end of a successful run: the bytes of the
    /// input it read, the nonzeros of X its workers hold (over all processes, the nonzeros of
    /// X) and its peak memory.
    pub processes: Vec<ProcessFigures>,
}

impl Solution {
    /// Whether the gap reached the tolerance.
    pub fn converged(&self) -> bool {
        self.stop == StopReason::Converged
    }

    /// Nonzero coefficients.
    pub fn nnz(&self) -> usize {
        self.coefficients.iter().filter(|b| **b != 0.0).count()
    }
}

/// Solves on `cluster`; returns the solution in process 0 and `None` in the others.
pub fn solve(
    cluster: &ClusterConfig,
    params: &RegressionParams,
    hooks: Hooks<TraceRecord>,
) -> Result<Option<Solution>, AppError> {
    let threads = solving_threads(params, cluster);
    let solving_cluster;
    let cluster = if threads == cluster.threads {
        cluster
    } else {
        solving_cluster = ClusterConfig {
            threads,
            ..cluster.clone()
        };
        &solving_cluster
    };
    match (params.loss, params.layout.kind()) {
        (LossKind::Squared, LayoutKind::Rows) => {
            run_app::<ByRows<SquaredLoss>>(cluster, params, hooks)
        }
        (LossKind::Logistic, LayoutKind::Rows) => {
            run_app::<ByRows<LogisticLoss>>(cluster, params, hooks)
        }
        (LossKind::Squared, LayoutKind::Columns) => {
            run_app::<ByColumns<SquaredLoss>>(cluster, params, hooks)
        }
        (LossKind::Logistic, LayoutKind::Columns) => {
            run_app::<ByColumns<LogisticLoss>>(cluster, params, hooks)
        }
    }
}

/// The checks both layouts make before any work.
fn check_before_work(params: &RegressionParams, cluster: &ClusterConfig) -> Result<(), AppError> {
    validate(params)?;
    in_memory_on_one_process(
        matches!(
            params.data,
            DataSource::InMemory(_) | DataSource::InMemoryColumns(_)
        ),
        cluster,
        "a matrix held in memory can be solved in one process only",
    )?;
    Ok(())
}

/// Checks the parameters (before any work; `solve` checks them again).
pub fn validate(params: &RegressionParams) -> Result<(), AppError> {
    use crate::error::Parameter as P;
    let bad = |parameter, requirement: &str, value: &dyn std::fmt::Display| {
        Err(AppError::invalid(parameter, requirement, value))
    };
    match params.penalty {
        Penalty::Absolute(l) if !(l >= 0.0 && l.is_finite()) => {
            return bad(P::Lambda, "a finite number >= 0", &l)
        }
        Penalty::Ratio(r) if !(r > 0.0 && r.is_finite()) => return bad(P::LambdaRatio, "> 0", &r),
        _ => {}
    }
    if params.tol.is_nan() || params.tol <= 0.0 {
        return bad(P::Tol, "> 0", &params.tol);
    }
    if params.max_passes.is_nan() || params.max_passes < 0.0 {
        return bad(P::MaxPasses, "a number >= 0", &params.max_passes);
    }
    if params.max_seconds.is_nan() || params.max_seconds <= 0.0 {
        return bad(P::MaxSeconds, "> 0", &params.max_seconds);
    }
    if params.gap_every.is_nan() || params.gap_every <= 0.0 {
        return bad(P::GapEvery, "> 0", &params.gap_every);
    }
    match &params.layout {
        Layout::Rows(rows) => validate_rows(rows),
        // Any number of local passes is meaningful (0 chooses them).
        Layout::Columns(_) => Ok(()),
    }
}

/// Checks the rows layout's options.
fn validate_rows(options: &RowsOptions) -> Result<(), AppError> {
    use crate::error::Parameter as P;
    let bad = |parameter, requirement: &str, value: &dyn std::fmt::Display| {
        Err(AppError::invalid(parameter, requirement, value))
    };
    if options.scheduler.schedule_size == 0 {
        return bad(P::ScheduleSize, "at least 1", &0);
    }
    if !(options.scheduler.eta >= 0.0 && options.scheduler.eta.is_finite()) {
        return bad(P::Eta, "a finite number >= 0", &options.scheduler.eta);
    }
    if options.staleness > MAX_STALENESS {
        return bad(
            P::Staleness,
            &format!("at most {MAX_STALENESS}"),
            &options.staleness,
        );
    }
    if options.rho.is_nan() || options.rho <= 0.0 {
        return bad(P::Rho, "> 0 (1 or more disables the filter)", &options.rho);
    }
    if !(0.0..=16.0).contains(&options.sweep_share) {
        return bad(P::SweepShare, "between 0 and 16", &options.sweep_share);
    }
    Ok(())
}

/// The largest staleness (rounds in flight minus one) accepted before the memory estimate.
pub const MAX_STALENESS: u64 = 1 << 32;

/// Bytes one process needs to solve a problem of this shape on `threads` worker threads, by
/// the arrays the layouts allocate (an estimate that errs on the high side): per column, each
/// worker's counts and sums and the leader's coefficients, scheduler and bookkeeping; per row,
/// the column layout's replicas of the row state (labels, predictions, the residual and its
/// unsent part, the extrapolation's iterates) on every worker; per nonzero, the parsed rows,
/// their redistribution and the columns; for the rows layout's rounds in flight, their
/// candidates on every worker and the leader's window of recent rounds.
pub fn memory_needed(
    params: &RegressionParams,
    threads: usize,
    rows: usize,
    cols: usize,
    nonzeros: usize,
) -> u128 {
    let (threads, rows, cols, nonzeros) = (
        threads as u128,
        rows as u128,
        cols as u128,
        nonzeros as u128,
    );
    // A rows-layout checkpoint copies the leader's per-column state (about 70 bytes) and
    // encodes it (as many again) while it is written.
    let checkpoint_copy = match (&params.layout, &params.checkpointing.save) {
        (Layout::Rows(_), Some(_)) => 160,
        _ => 0,
    };
    let per_column = 48 * threads + 96 + checkpoint_copy;
    let per_row = match params.layout {
        Layout::Columns(_) => 120 * threads,
        Layout::Rows(_) => 40,
    };
    let in_flight = match &params.layout {
        Layout::Columns(_) => 0,
        Layout::Rows(rows) => {
            let round = (rows.scheduler.schedule_size as f64 * (1.0 + rows.sweep_share))
                .ceil()
                .min(1e30) as u128;
            (2 * u128::from(rows.staleness) + 2) * round.min(cols.max(1)) * 16 * (threads + 1)
        }
    };
    cols * per_column + rows * per_row + nonzeros * 40 + in_flight
}

/// Fails with [`AppError::InvalidArgument`] (exit status 2) when solving a problem of this shape
/// would need more memory than the machine has ([`strads_io::memory_limit`]).
fn check_memory(
    params: &RegressionParams,
    threads: usize,
    total_rows: usize,
    n_cols: usize,
    total_nonzeros: usize,
) -> Result<(), AppError> {
    let needed = memory_needed(params, threads, total_rows, n_cols, total_nonzeros);
    let what = format!(
        "X of {} rows and {} columns (the largest column index) with {} nonzeros, solved by \
         {} worker thread(s){},",
        total_rows,
        n_cols,
        total_nonzeros,
        threads,
        match &params.layout {
            Layout::Rows(rows) => format!(" with staleness {}", rows.staleness),
            Layout::Columns(_) => String::new(),
        }
    );
    strads_io::check_memory(&what, needed).map_err(AppError::InvalidArgument)
}

/// Maps logistic 0/1 labels to -1/+1 (0 means -1).
fn logistic_labels(labels: &mut [f64]) {
    for y in labels {
        if *y == 0.0 {
            *y = -1.0;
        }
    }
}

/// Loads this worker's rows, with logistic 0/1 labels mapped to -1/+1, and checks that the
/// problem fits in memory before anything is sized by its shape.
fn load_rows(
    worker: &mut Worker<'_>,
    params: &RegressionParams,
    threads: usize,
) -> Result<load::LoadedShard, AppError> {
    let label_kind = match params.loss {
        LossKind::Squared => LabelKind::Real,
        LossKind::Logistic => LabelKind::Binary,
    };
    let mut loaded = load::load_shard(worker, &params.data, label_kind)?;
    check_memory(
        params,
        threads,
        loaded.total_rows,
        loaded.n_cols,
        loaded.total_nonzeros,
    )?;
    if params.loss == LossKind::Logistic {
        // 0/1 labels are accepted and mean -1/+1.
        logistic_labels(&mut loaded.rows.labels);
    }
    Ok(loaded)
}

/// What both layouts know after loading, on every worker.
struct Problem {
    lambda: f64,
    lambda_max: f64,
    rows: usize,
    cols: usize,
    nonzeros: usize,
    bytes_read: u64,
}

impl Problem {
    /// The solution from a solve's end on worker 0.
    fn solution(
        &self,
        trace: Vec<TraceRecord>,
        coefficients: Vec<f64>,
        counts: (StopReason, f64, u64, usize, u64),
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> Solution {
        let (stop, iterations, rounds, active, averaged_rounds) = counts;
        let last = trace.last().cloned().expect("at least one gap evaluation");
        Solution {
            objective: last.objective,
            duality_gap: last.duality_gap,
            stop,
            iterations,
            rounds,
            active,
            averaged_rounds,
            processes,
            coefficients,
            lambda: self.lambda,
            lambda_max: self.lambda_max,
            rows: self.rows,
            cols: self.cols,
            nonzeros: self.nonzeros,
            load_seconds: timing.load_seconds,
            solve_seconds: timing.solve_seconds,
            trace,
        }
    }
}

/// The penalty `lambda` given `lambda_max`.
fn lambda_of(penalty: Penalty, lambda_max: f64) -> f64 {
    match penalty {
        Penalty::Absolute(l) => l,
        Penalty::Ratio(r) => r * lambda_max,
    }
}

/// The rows layout: STRADS's scheduled rounds ([`program`]) with the round driver, paused after
/// gap evaluations for checkpoints and stop requests.
struct ByRows<L>(PhantomData<L>);

/// A worker's rows stored by column, with the column norms the leader starts from.
struct RowsLoaded {
    shard: ColumnShard,
    labels: Vec<f64>,
    column_norms2: Vec<f64>,
    problem: Problem,
}

/// A worker's program and round driver after the solve.
struct RowsSolved<L: Loss> {
    /// The leader side, on worker 0 (which holds the answer).
    leader: Option<LeaderState>,
    _loss: std::marker::PhantomData<L>,
    rounds: RoundsState<messages::Update>,
    nonzeros_held: usize,
    problem: Problem,
}

impl<L: Loss + 'static> App for ByRows<L> {
    type Params = RegressionParams;
    type Record = TraceRecord;
    type Loaded = RowsLoaded;
    type Solved = RowsSolved<L>;
    type Output = Solution;
    type Error = AppError;

    fn check(params: &RegressionParams, cluster: &ClusterConfig) -> Result<(), AppError> {
        check_before_work(params, cluster)
    }

    fn checkpointing(params: &RegressionParams) -> Checkpointing {
        params.checkpointing.clone()
    }

    fn load(
        worker: &mut Worker<'_>,
        params: &RegressionParams,
        _run: &mut Run<TraceRecord>,
    ) -> Result<RowsLoaded, AppError> {
        let loaded = load_rows(worker, params, worker.workers_per_process())?;
        let labels = loaded.rows.labels.clone();
        let d = loaded.n_cols;
        let shard = ColumnShard::from_rows(&loaded.rows, d);
        drop(loaded.rows);

        // Column norms (for correlations) and X^T theta at b = 0 (for lambda_max), in one
        // reduction.
        let mut local = vec![0.0; 2 * d];
        for j in 0..d {
            let (rows, values) = shard.column(j);
            for (&i, &x) in rows.iter().zip(values) {
                local[j] += x * x;
                local[d + j] -= x * L::derivatives(labels[i as usize], 0.0).0;
            }
        }
        let global = worker.all_reduce_sum(&local)?;
        let column_norms2 = global[..d].to_vec();
        let lambda_max = global[d..].iter().fold(0.0f64, |m, x| m.max(x.abs()));
        Ok(RowsLoaded {
            shard,
            labels,
            column_norms2,
            problem: Problem {
                lambda: lambda_of(params.penalty, lambda_max),
                lambda_max,
                rows: loaded.total_rows,
                cols: d,
                nonzeros: loaded.total_nonzeros,
                bytes_read: loaded.bytes_read,
            },
        })
    }

    fn solve(
        worker: &mut Worker<'_>,
        params: &RegressionParams,
        loaded: RowsLoaded,
        run: &mut Run<TraceRecord>,
    ) -> Result<RowsSolved<L>, AppError> {
        let RowsLoaded {
            shard,
            labels,
            column_norms2,
            problem,
        } = loaded;
        let nonzeros_held = shard.rows.len();
        let Layout::Rows(options) = &params.layout else {
            unreachable!("solve runs ByRows for the rows layout only")
        };
        let mut leader = worker.is_leader().then(|| {
            let settings = SolveSettings {
                lambda: problem.lambda,
                tol: params.tol,
                max_passes: params.max_passes,
                max_seconds: params.max_seconds,
                gap_every: params.gap_every,
                rho: options.rho,
                staleness: options.staleness,
                screening: options.screening,
                sweep_share: match options.scheduler.kind {
                    SchedulerKind::Priority => options.sweep_share,
                    SchedulerKind::Cyclic | SchedulerKind::Random => 0.0,
                },
                smoothness: L::SMOOTHNESS,
                // The workers' pair dot products are the Gram entries only when the curvature
                // is constant (the squared loss); for the logistic loss they would need its
                // weights.
                inner_passes: if L::CONSTANT_CURVATURE {
                    options.inner_passes
                } else {
                    0
                },
                scheduler: options.scheduler.clone(),
                pause_after_evaluations: run.watching(),
            };
            LeaderState::new(settings, column_norms2, run.observer())
        });
        let mut program = CoordinateDescent::<L>::new(shard, labels);
        let round_options = RoundOptions {
            staleness: options.staleness,
        };
        // The driver pauses after every gap evaluation that does not stop the solve (when
        // checkpointing or watching for a stop request): no round is in flight there, and the
        // updates that staleness holds back are part of each worker's checkpoint, so a resumed
        // run pushes every round on exactly the state the uninterrupted one did.
        let mut rounds = RoundsState::start();
        let mut evaluations: u64 = 0;
        if let Some((iteration, snapshot)) = run.resume::<program::RowsSnapshot>(worker)? {
            // Every worker learns of any worker's failure (a lone failure would leave the
            // others waiting for its rounds).
            let restored = program.restore(leader.as_mut(), snapshot);
            let failures: Vec<Option<String>> =
                worker.all_gather(&restored.as_ref().err().cloned())?;
            if let Some((w, failure)) = failures
                .iter()
                .enumerate()
                .find_map(|(w, f)| Some((w, f.as_ref()?)))
            {
                return Err(AppError::InvalidArgument(format!(
                    "cannot resume the checkpoint: worker {w}: {failure}"
                )));
            }
            rounds = restored.expect("no worker failed");
            evaluations = iteration;
            let seconds = leader.as_ref().map_or(0.0, LeaderState::seconds);
            run.resumed_at(iteration, seconds);
        }
        // A checkpoint directory that clearly cannot hold a checkpoint fails the run now (exit
        // 2).
        run.check_space(
            worker,
            &program.snapshot(leader.as_ref(), RoundsState::start()),
        )?;
        while continue_rounds(
            worker,
            &mut program,
            leader.as_mut(),
            round_options,
            &mut rounds,
        )? == RoundsEnd::Paused
        {
            evaluations += 1;
            let seconds = leader.as_ref().map_or(0.0, LeaderState::seconds);
            let boundary = run.boundary(worker, evaluations, seconds)?;
            if boundary.checkpoint {
                let snapshot = program.snapshot(leader.as_ref(), rounds);
                run.save(worker, evaluations, &snapshot)?;
                rounds = snapshot.rounds;
            }
            if boundary.stop.is_some() {
                if let Some(leader) = leader.as_mut() {
                    leader.interrupt();
                }
                break;
            }
        }
        Ok(RowsSolved {
            leader,
            _loss: std::marker::PhantomData,
            rounds,
            nonzeros_held,
            problem,
        })
    }

    fn gather(
        _worker: &mut Worker<'_>,
        _params: &RegressionParams,
        solved: &mut RowsSolved<L>,
    ) -> Result<Footprint, AppError> {
        // The leader holds the answer already.
        Ok(Footprint {
            bytes_read: solved.problem.bytes_read,
            held: solved.nonzeros_held as u64,
        })
    }

    fn summarise(
        _params: &RegressionParams,
        solved: RowsSolved<L>,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> Solution {
        let leader = solved.leader.expect("worker 0 holds the leader");
        let counts = (
            leader.stop.expect("the leader stops for a reason"),
            leader.passes(),
            solved.rounds.rounds(),
            leader.active_coordinates(),
            0,
        );
        solved
            .problem
            .solution(leader.trace, leader.beta, counts, timing, processes)
    }
}

/// The column layout: redistribute the rows into column blocks, then sweep them
/// ([`column_descent`]).
struct ByColumns<L>(PhantomData<L>);

/// A worker's block of columns over all rows.
struct ColumnsLoaded {
    block: column_blocks::ColumnBlock,
    problem: Problem,
}

/// The outcome of the sweeps (every worker holds the coefficients).
struct ColumnsSolved {
    outcome: column_descent::ColumnOutcome,
    nonzeros_held: usize,
    problem: Problem,
}

impl<L: Loss + 'static> App for ByColumns<L> {
    type Params = RegressionParams;
    type Record = TraceRecord;
    type Loaded = ColumnsLoaded;
    type Solved = ColumnsSolved;
    type Output = Solution;
    type Error = AppError;

    fn check(params: &RegressionParams, cluster: &ClusterConfig) -> Result<(), AppError> {
        check_before_work(params, cluster)
    }

    fn checkpointing(params: &RegressionParams) -> Checkpointing {
        params.checkpointing.clone()
    }

    fn load(
        worker: &mut Worker<'_>,
        params: &RegressionParams,
        _run: &mut Run<TraceRecord>,
    ) -> Result<ColumnsLoaded, AppError> {
        let threads = worker.workers_per_process();
        let (block, d, total_rows, total_nonzeros, bytes_read) = match &params.data {
            // Rows in memory are shared by the workers: each builds its block from them directly,
            // the block `redistribute` would build, without copying row shards and exchanging them.
            DataSource::InMemory(in_memory) => {
                let rows = &in_memory.rows;
                in_memory.check_labels(match params.loss {
                    LossKind::Squared => LabelKind::Real,
                    LossKind::Logistic => LabelKind::Binary,
                })?;
                check_memory(
                    params,
                    threads,
                    rows.n_rows(),
                    in_memory.n_cols,
                    rows.n_nonzeros(),
                )?;
                let mut block = column_blocks::block_from_memory(
                    rows,
                    in_memory.n_cols,
                    worker.index(),
                    worker.peers(),
                );
                if params.loss == LossKind::Logistic {
                    logistic_labels(&mut block.labels);
                }
                // Nothing read from a file.
                (block, in_memory.n_cols, rows.n_rows(), rows.n_nonzeros(), 0)
            }
            // Columns in memory were read into every worker's block already, with lambda_max.
            DataSource::InMemoryColumns(in_memory) => {
                check_memory(
                    params,
                    threads,
                    in_memory.n_rows(),
                    in_memory.n_cols(),
                    in_memory.nonzeros(),
                )?;
                let block = in_memory.block(worker.index(), worker.peers(), params.loss)?;
                let (rows, cols, nonzeros) =
                    (in_memory.n_rows(), in_memory.n_cols(), in_memory.nonzeros());
                (block, cols, rows, nonzeros, 0)
            }
            _ => {
                let loaded = load_rows(worker, params, threads)?;
                let d = loaded.n_cols;
                let block = column_blocks::redistribute(worker, loaded.rows, d)?;
                (
                    block,
                    d,
                    loaded.total_rows,
                    loaded.total_nonzeros,
                    loaded.bytes_read,
                )
            }
        };

        // lambda_max = ||X^T theta(0)||_inf, each block's share, then the largest (columns in
        // memory found it as they were read: the same sums, the same largest).
        let lambda_max = match &params.data {
            DataSource::InMemoryColumns(in_memory) => in_memory.lambda_max(),
            _ => {
                let columns = &block.columns;
                let at_zero = kernels::RowState::at_zero::<L>(block.labels.clone());
                let block_max = (0..columns.n_cols())
                    .map(|j| {
                        kernels::coordinate_statistics::<L>(columns, j, &at_zero)
                            .0
                            .abs()
                    })
                    .fold(0.0f64, f64::max);
                worker
                    .all_gather(&block_max)?
                    .into_iter()
                    .fold(0.0f64, f64::max)
            }
        };
        Ok(ColumnsLoaded {
            block,
            problem: Problem {
                lambda: lambda_of(params.penalty, lambda_max),
                lambda_max,
                rows: total_rows,
                cols: d,
                nonzeros: total_nonzeros,
                bytes_read,
            },
        })
    }

    fn solve(
        worker: &mut Worker<'_>,
        params: &RegressionParams,
        loaded: ColumnsLoaded,
        run: &mut Run<TraceRecord>,
    ) -> Result<ColumnsSolved, AppError> {
        let ColumnsLoaded { block, problem } = loaded;
        let Layout::Columns(options) = &params.layout else {
            unreachable!("solve runs ByColumns for the column layout only")
        };
        let settings = column_descent::ColumnSettings {
            lambda: problem.lambda,
            tol: params.tol,
            max_passes: params.max_passes,
            max_seconds: params.max_seconds,
            local_passes: options.local_passes,
            gap_every: params.gap_every,
            cols: problem.cols,
            rows: problem.rows,
            nonzeros: problem.nonzeros,
        };
        let nonzeros_held = block.columns.rows.len();
        let outcome = column_descent::run_column_descent::<L>(worker, block, settings, run)?;
        Ok(ColumnsSolved {
            outcome,
            nonzeros_held,
            problem,
        })
    }

    fn gather(
        _worker: &mut Worker<'_>,
        _params: &RegressionParams,
        solved: &mut ColumnsSolved,
    ) -> Result<Footprint, AppError> {
        // The sweeps' end gathered the coefficients on every worker.
        Ok(Footprint {
            bytes_read: solved.problem.bytes_read,
            held: solved.nonzeros_held as u64,
        })
    }

    fn summarise(
        _params: &RegressionParams,
        solved: ColumnsSolved,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> Solution {
        let outcome = solved.outcome;
        let counts = (
            outcome.stop,
            outcome.passes,
            outcome.rounds,
            outcome.working_set,
            outcome.averaged_rounds,
        );
        solved.problem.solution(
            outcome.trace,
            outcome.coefficients,
            counts,
            timing,
            processes,
        )
    }
}
