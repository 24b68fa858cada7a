//! Coordinate descent in the column layout: replicated rows, an all-gather per round.
//!
//! Every worker owns a block of columns over all rows ([`super::column_blocks`]) and a replica of
//! the per-row state (predictions and loss derivatives). A sweep round schedules each worker's
//! block restricted to its working set (the coordinates that are nonzero or violate their
//! optimality condition at the last gap evaluation): the worker sweeps it, plain sequential
//! coordinate descent against its own copy of the row state, so every step sees every earlier
//! step of its block at no cost beyond the step itself. The workers then all-gather their changes
//! of the predictions; each sums them in worker order (the blocks' steps, taken in parallel, are
//! a block-Jacobi step) and commits either that sum or, if the sum would raise the objective
//! because the blocks interfere, its average over the workers, which by convexity never does.
//! The changes cross in single precision; what the rounding left out is carried into the block's
//! next change (`BlockState::unsent`) and committed exactly before every gap evaluation.
//!
//! Every few sweeps a gap round computes `X^T theta` on each block, at a dual point extrapolated
//! from the last sweeps (celer's dual extrapolation, [`extrapolate`]), rebuilds the working sets
//! and all-gathers `||X^T theta||_inf`, from which every worker evaluates the duality gap on its
//! replica of the rows.
//!
//! **Invariant:** every worker holds the same committed rows and makes the same decisions (which
//! round comes next, summed or averaged, when to stop): each decision is a function of
//! all-gathered values combined in worker order, and of the replicated rows. The one input that
//! differs between workers, the clock, enters through worker 0's reading only. So there is no
//! leader, and no worker waits for another's serial step.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strads_engine::replicated::{run_replicated, AllGather, ReplicatedRounds};
use strads_engine::{DenseVector, DenseVector32, Worker};

use super::column_blocks::ColumnBlock;
use super::column_shard::ColumnShard;
use super::kernels::{
    apply_delta, coordinate_statistics, coordinate_step, soft_threshold, RowState,
};
use super::loss::Loss;
use super::{StopReason, TraceRecord};
use crate::error::AppError;
use crate::runner::Run;

/// How a solve in the column layout runs.
#[derive(Clone, Debug, Default)]
pub struct ColumnSettings {
    /// The l1 penalty.
    pub lambda: f64,
    /// Stop when the duality gap is at most `tol * F(b)`.
    pub tol: f64,
    /// Stop after this many passes over the coordinates.
    pub max_passes: f64,
    /// Stop after this many seconds of solving.
    pub max_seconds: f64,
    /// Passes over the working set per round; 0 picks enough passes that a round's sweeping
    /// outweighs its exchange of the rows' change.
    pub local_passes: u32,
    /// At most this many evaluations' work of sweeping between two gap evaluations.
    pub gap_every: f64,
    /// Columns of X.
    pub cols: usize,
    /// Rows of X.
    pub rows: usize,
    /// Nonzeros of X.
    pub nonzeros: usize,
}

/// How a solve ended (the same on every worker).
#[derive(Clone, Debug)]
pub struct ColumnOutcome {
    /// Why it stopped.
    pub stop: StopReason,
    /// One record per gap evaluation.
    pub trace: Vec<TraceRecord>,
    /// Passes over the coordinates (coordinate steps / d).
    pub passes: f64,
    /// Rounds (sweeps and evaluations).
    pub rounds: u64,
    /// Sweep rounds committed averaged because the summed change raised the objective.
    pub averaged_rounds: u64,
    /// Working-set size at the last gap evaluation.
    pub working_set: usize,
    /// The coefficients.
    pub coefficients: Vec<f64>,
}

/// Sweep work between two gap evaluations, at least, in evaluations' work: the subproblem
/// criterion of [`Progress::gap_due`] follows the objective, which near the optimum
/// converges long before the gap does (measured best of 1, 3 and 6 on the benchmark problem;
/// see also [`Progress::min_spacing`]).
const MIN_GAP_SPACING: f64 = 3.0;

/// A round's copies, differences and updates of the rows' state, in passes over the rows.
const ROW_PASSES_PER_ROUND: f64 = 4.0;

/// The largest share of a block's entries that the working set's packed copy may hold.
const PACKED_SHARE: f64 = 0.5;

/// Differences of successive iterates that dual extrapolation combines (celer uses 5).
pub const EXTRAPOLATION_DEPTH: usize = 5;

/// A worker's share of a sweep round.
#[derive(Debug, Serialize, Deserialize)]
struct SweepShare {
    /// `X_block (b_new - b)` over all rows, plus the block's unsent remainder, in single precision
    /// (see [`BlockState::unsent`]).
    delta: DenseVector32,
    /// `||b_new||_1` on the block.
    l1_full: f64,
    /// `||b + (b_new - b) / workers||_1` on the block.
    l1_averaged: f64,
    /// Coordinate steps taken.
    updates: u64,
    /// Seconds since the solve started on this worker (only worker 0's is used).
    seconds: f64,
}

/// A worker's share of a gap round.
#[derive(Debug, Serialize, Deserialize)]
struct GapShare {
    /// Largest `|x_j . theta|` on the block at the round's dual point.
    max_abs_gradient: f64,
    /// `||b||_1` on the block.
    l1: f64,
    /// Nonzero coefficients.
    nnz: u64,
    /// Coordinates in the block's new working set.
    working_set: u64,
    /// Nonzeros of X in the working set's columns.
    working_entries: u64,
    /// Seconds since the solve started on this worker (only worker 0's is used).
    seconds: f64,
}

/// The schedule's state: identical on every worker (see the module's invariant). A checkpoint
/// holds all of it but the settings, which come from the resumed run.
#[derive(Serialize, Deserialize)]
struct Progress {
    #[serde(skip)]
    settings: ColumnSettings,
    workers: usize,
    /// `F(b)` of the committed state.
    objective: f64,
    /// The best dual value seen: every evaluated dual point was feasible, so it bounds `F*`.
    best_dual: f64,
    /// Work per worker (entries read or written, rows copied) since the last gap evaluation.
    work_since_gap: f64,
    /// Work per worker of a gap evaluation.
    evaluation_work: f64,
    /// Passes over the working set per round until the next evaluation.
    passes_per_round: u32,
    /// Nonzeros of X in the working set, per worker on average.
    working_entries: f64,
    /// The objective's decrease in the last two sweep rounds since the last evaluation.
    decreases: [f64; 2],
    /// Sweep rounds since the last evaluation.
    sweeps_since_gap: u64,
    /// The current least spacing of evaluations (in evaluations' work): [`MIN_GAP_SPACING`],
    /// doubled (up to `gap_every`) after each evaluation that did not lower the gap by a tenth.
    min_spacing: f64,
    updates: u64,
    /// Worker 0's seconds since the solve started, as of the last round.
    seconds: f64,
    rounds: u64,
    averaged_rounds: u64,
    working_set: usize,
    stop: Option<StopReason>,
    trace: Vec<TraceRecord>,
}

impl Progress {
    /// Passes over the coordinates so far (coordinate updates / d).
    fn passes(&self) -> f64 {
        self.updates as f64 / self.settings.cols.max(1) as f64
    }

    /// Whether the next round should evaluate the gap: when the sweeps since the last one did
    /// `gap_every` times an evaluation's work (new violators may have appeared), or at a pass or
    /// time limit, or earlier, but not before `min_spacing` evaluations' work, when the working
    /// set's subproblem has converged so far that the gap may meet the tolerance. The subproblem's remaining decrease
    /// is estimated from the last two sweeps' decreases `d1, d2` as a geometric series,
    /// `d2 q / (1 - q)` with `q = d2 / d1`.
    fn gap_due(&self) -> bool {
        let spacing = self.work_since_gap / self.evaluation_work;
        // The limits are checked at evaluations, which report the state at the stop.
        let at_limit =
            self.passes() >= self.settings.max_passes || self.seconds >= self.settings.max_seconds;
        if self.trace.is_empty() || spacing >= self.settings.gap_every || at_limit {
            return true;
        }
        if self.sweeps_since_gap < 2 || spacing < self.min_spacing {
            return false;
        }
        let [older, last] = self.decreases;
        let rate = (last / older).clamp(0.0, 0.999);
        let remaining = last * rate / (1.0 - rate);
        remaining <= 0.25 * self.settings.tol * self.objective.abs()
    }
}

/// One worker's block and its replica of the rows.
struct BlockState<L: Loss> {
    block: ColumnBlock,
    lambda: f64,
    workers: usize,
    /// `(||x_j||^2, 1 / ||x_j||^2)` per column of the block.
    curvature: Vec<(f64, f64)>,
    /// The replicated per-row state of the committed coefficients.
    rows: RowState,
    /// The block's committed coefficients.
    beta: Vec<f64>,
    /// The block's working set (local column indices).
    working: Vec<u32>,
    /// The working set's columns copied together, in working-set order, when they are at most
    /// [`PACKED_SHARE`] of the block's entries: a sweep then streams them contiguously instead
    /// of picking them out of the whole block, and they stay in the shared cache (a standalone
    /// sweep: 1.3 against 2.3 ns an entry; the lasso benchmark's solve at 0.001, 10-13% less).
    /// The copy is at most half the block; with a big working set (the benchmark's lambda =
    /// 0.001 lambda_max) the block plus this copy is the run's peak memory, above the loading's
    /// (its rows and its block).
    packed: Option<ColumnShard>,
    /// A sweep's copy of the rows and of the coefficients (kept until the commit).
    trial_rows: RowState,
    /// Equal to `beta` outside a sweep: a sweep changes only the working set's entries and the
    /// commit writes those back into both, so a round costs the working set, not the block's
    /// width (with 10M columns of about one entry each, copying and summing the whole block
    /// every round took two thirds of the solve).
    trial_beta: Vec<f64>,
    /// `f'(p)` after each of the last sweep rounds, oldest first (at most
    /// [`EXTRAPOLATION_DEPTH`] + 1): dual extrapolation's input.
    history: VecDeque<Vec<f64>>,
    /// The extrapolated `f'` of the last gap round, if the history allowed one.
    extrapolated: Option<Vec<f64>>,
    /// The part of this block's changes of the predictions that the rounds have not committed:
    /// sweeps send their change in single precision (half the bytes of a round's exchange), and
    /// what the rounding left out is added to the next round's change (error feedback), so it
    /// stays as small as one rounding of the latest change instead of accumulating. Gap rounds
    /// commit it in double precision, so every gap is evaluated on the exact predictions.
    unsent: Vec<f64>,
    /// The last sweep's change minus what it sent: `scale` times this joins `unsent` once the
    /// round's scale is known.
    unsent_part: Vec<f64>,
    /// `x_j . f'(0)` per column when the reading found them ([`super::column_blocks::FirstPass`]):
    /// the first gap evaluation, at b = 0, then reads them instead of the block. Dropped there,
    /// and on resuming (the state is not at zero).
    gradients_at_zero: Option<Vec<f64>>,
    _loss: PhantomData<L>,
}

/// A worker's checkpoint: the schedule and the block's state (what [`BlockState::new`] does
/// not rebuild from the data), written by reference and read back owned (bincode's encoding of
/// a reference is the value's).
#[derive(Serialize)]
struct SnapshotRef<'a> {
    progress: &'a Progress,
    rows: &'a RowState,
    beta: &'a [f64],
    working: &'a [u32],
    history: &'a VecDeque<Vec<f64>>,
    extrapolated: &'a Option<Vec<f64>>,
    unsent: &'a [f64],
    unsent_part: &'a [f64],
}

/// The owned form of [`SnapshotRef`].
#[derive(Deserialize)]
struct Snapshot {
    progress: Progress,
    rows: RowState,
    beta: Vec<f64>,
    working: Vec<u32>,
    history: VecDeque<Vec<f64>>,
    extrapolated: Option<Vec<f64>>,
    unsent: Vec<f64>,
    unsent_part: Vec<f64>,
}

/// Runs the column-layout solve on this worker; every worker of the cluster must call it.
/// Checkpoints are taken after gap evaluations (the unit of `--checkpoint-every`), where the
/// unsent remainders are committed and every worker holds the same rows.
pub fn run_column_descent<L: Loss>(
    worker: &mut Worker<'_>,
    block: ColumnBlock,
    settings: ColumnSettings,
    run: &mut Run<TraceRecord>,
) -> Result<ColumnOutcome, AppError> {
    let workers = worker.peers();
    let mut state = BlockState::<L>::new(block, settings.lambda, workers);
    let mut progress = Progress {
        evaluation_work: settings.nonzeros as f64 / workers as f64 + settings.rows as f64,
        settings,
        workers,
        objective: f64::INFINITY,
        best_dual: f64::NEG_INFINITY,
        work_since_gap: 0.0,
        passes_per_round: 1,
        working_entries: 0.0,
        decreases: [f64::INFINITY; 2],
        sweeps_since_gap: 0,
        min_spacing: MIN_GAP_SPACING,
        updates: 0,
        seconds: 0.0,
        rounds: 0,
        averaged_rounds: 0,
        working_set: 0,
        stop: None,
        trace: Vec::new(),
    };
    if let Some((iteration, snapshot)) = run.resume::<Snapshot>(worker)? {
        let settings = std::mem::take(&mut progress.settings);
        progress = snapshot.progress;
        progress.settings = settings;
        state.rows = snapshot.rows;
        state.beta = snapshot.beta;
        state.trial_beta.clone_from(&state.beta);
        state.working = snapshot.working;
        state.repack();
        state.history = snapshot.history;
        state.extrapolated = snapshot.extrapolated;
        state.unsent = snapshot.unsent;
        state.unsent_part = snapshot.unsent_part;
        state.gradients_at_zero = None;
        // The clock goes on from the checkpoint's time (trace and --max-seconds).
        run.resumed_at(iteration, progress.seconds);
    }
    // A checkpoint directory that clearly cannot hold a checkpoint fails the run now (exit 2).
    run.check_space(worker, &state.snapshot(&progress))?;
    let mut descent = ColumnDescent {
        state,
        progress,
        run,
    };
    run_replicated(worker, &mut descent, 0)?;
    let ColumnDescent {
        state, progress, ..
    } = descent;
    // Every worker gathers the coefficients (worker 0 reports them).
    let nonzero: Vec<(u32, f64)> = state
        .beta
        .iter()
        .enumerate()
        .filter(|(_, b)| **b != 0.0)
        .map(|(k, &b)| ((state.block.first_column + k) as u32, b))
        .collect();
    let mut coefficients = vec![0.0; progress.settings.cols];
    for part in worker.all_gather(&nonzero)? {
        for (j, b) in part {
            coefficients[j as usize] = b;
        }
    }
    Ok(ColumnOutcome {
        stop: progress.stop.expect("the loop ends on a stop"),
        passes: progress.passes(),
        rounds: progress.rounds,
        averaged_rounds: progress.averaged_rounds,
        working_set: progress.working_set,
        trace: progress.trace,
        coefficients,
    })
}

/// A worker's share of a round: every worker runs the same kind of round (the schedule is
/// replicated), so the gathered shares are all of one kind.
#[derive(Debug, Serialize, Deserialize)]
enum RoundShare {
    Sweep(SweepShare),
    Gap(GapShare),
}

impl RoundShare {
    fn sweep(&self) -> &SweepShare {
        match self {
            RoundShare::Sweep(share) => share,
            RoundShare::Gap(_) => unreachable!("every worker sweeps in a sweep round"),
        }
    }

    fn gap(&self) -> &GapShare {
        match self {
            RoundShare::Gap(share) => share,
            RoundShare::Sweep(_) => unreachable!("every worker evaluates in a gap round"),
        }
    }
}

/// The solve as replicated rounds: a sweep round, or a gap round when [`Progress::gap_due`].
struct ColumnDescent<'r, L: Loss> {
    state: BlockState<L>,
    progress: Progress,
    run: &'r mut Run<TraceRecord>,
}

impl<L: Loss> ReplicatedRounds for ColumnDescent<'_, L> {
    type Share = AllGather<RoundShare>;
    type Error = AppError;

    fn step(&mut self, worker: &mut Worker<'_>, _round: u64) -> Result<Self::Share, AppError> {
        let (state, progress) = (&mut self.state, &mut self.progress);
        progress.rounds += 1;
        let share = if progress.gap_due() {
            // The gap is certified on the exact rows: first the remainders the sweeps' single
            // precision left unsent, in double precision.
            let unsent = worker.all_gather_shared(DenseVector(state.unsent.clone()))?;
            state.flush_unsent(&unsent);
            RoundShare::Gap(state.gap_share(self.run.seconds()))
        } else {
            RoundShare::Sweep(state.sweep(progress.passes_per_round, self.run.seconds()))
        };
        Ok(AllGather(share))
    }

    fn apply(
        &mut self,
        worker: &mut Worker<'_>,
        _round: u64,
        shares: Vec<Arc<RoundShare>>,
    ) -> Result<ControlFlow<()>, AppError> {
        let (state, progress) = (&mut self.state, &mut self.progress);
        if let RoundShare::Sweep(_) = *shares[0] {
            let (scale, delta) = progress.commit_sweep(state, &shares);
            drop(shares);
            state.apply(scale, &delta);
            return Ok(ControlFlow::Continue(()));
        }
        let record = progress.commit_gap::<L>(state, &shares);
        self.run.observe(worker, &record);
        if progress.stop.is_none() {
            let evaluations = progress.trace.len() as u64;
            let boundary = self.run.boundary(worker, evaluations, progress.seconds)?;
            if boundary.checkpoint {
                self.run
                    .save(worker, evaluations, &state.snapshot(progress))?;
            }
            if boundary.stop.is_some() {
                progress.stop = Some(StopReason::Interrupted);
            }
        }
        Ok(if progress.stop.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }
}

impl Progress {
    /// Sums the workers' changes (in worker order) and decides between the sum and the average.
    fn commit_sweep<L: Loss>(
        &mut self,
        state: &BlockState<L>,
        shares: &[Arc<RoundShare>],
    ) -> (f64, Vec<f64>) {
        let mut shares = shares.iter().map(|share| share.sweep());
        let first = shares.next().expect("one share per worker");
        self.seconds = first.seconds;
        let (mut l1_full, mut l1_averaged, mut updates) =
            (first.l1_full, first.l1_averaged, first.updates);
        let mut delta: Vec<f64> = first.delta.0.iter().map(|&x| f64::from(x)).collect();
        for share in shares {
            for (sum, &x) in delta.iter_mut().zip(&share.delta.0) {
                *sum += f64::from(x);
            }
            l1_full += share.l1_full;
            l1_averaged += share.l1_averaged;
            updates += share.updates;
        }
        let lambda = self.settings.lambda;
        let share = 1.0 / self.workers as f64;
        let [loss_full, loss_averaged] = state.losses_after([1.0, share], &delta);
        let full = loss_full + lambda * l1_full;
        let averaged = loss_averaged + lambda * l1_averaged;
        // One worker's sum is its average.
        let (scale, objective) = if self.workers == 1 || full <= averaged {
            (1.0, full)
        } else {
            self.averaged_rounds += 1;
            (share, averaged)
        };
        self.updates += updates;
        self.decreases = [self.decreases[1], self.objective - objective];
        self.objective = objective;
        self.sweeps_since_gap += 1;
        self.work_since_gap += 2.0 * self.working_entries * self.passes_per_round as f64
            + ROW_PASSES_PER_ROUND * self.settings.rows as f64;
        (scale, delta)
    }

    /// Evaluates the gap from the workers' shares and the replicated rows, decides whether to
    /// stop, and plans the sweeps until the next evaluation.
    fn commit_gap<L: Loss>(
        &mut self,
        state: &BlockState<L>,
        shares: &[Arc<RoundShare>],
    ) -> TraceRecord {
        let lambda = self.settings.lambda;
        let (mut max_abs_gradient, mut l1, mut nnz, mut working_set, mut working_entries) =
            (0.0f64, 0.0, 0, 0, 0);
        for share in shares.iter().map(|share| share.gap()) {
            max_abs_gradient = max_abs_gradient.max(share.max_abs_gradient);
            l1 += share.l1;
            nnz += share.nnz;
            working_set += share.working_set;
            working_entries += share.working_entries;
        }
        let seconds = shares[0].gap().seconds;
        self.seconds = seconds;
        let rows = &state.rows;
        let loss: f64 = rows
            .labels
            .iter()
            .zip(&rows.predictions)
            .map(|(&y, &p)| L::value(y, p))
            .sum();
        // The dual point theta = -f', scaled into ||X^T theta||_inf <= lambda. f' is
        // extrapolated from the last sweeps (celer's dual extrapolation) once there are
        // enough: near the optimum the sweeps are a linear iteration, whose limit the
        // extrapolation approaches much faster than the iterates do. Outside the loss's
        // dual domain (possible for the logistic) the value is NaN and not used.
        let first = state.dual_point();
        let dual = dual_value::<L>(&rows.labels, first, max_abs_gradient, lambda);
        let objective = loss + lambda * l1;
        self.objective = objective;
        if dual > self.best_dual {
            self.best_dual = dual;
        }
        let gap = (objective - self.best_dual).max(0.0);
        // Near the optimum the objective converges long before the gap, so the subproblem
        // criterion would call evaluations that cannot certify more: back off while they do not.
        let previous = self.trace.last().map_or(f64::INFINITY, |r| r.duality_gap);
        self.min_spacing = if gap <= 0.9 * previous {
            MIN_GAP_SPACING
        } else {
            (2.0 * self.min_spacing).min(self.settings.gap_every)
        };
        self.working_set = working_set as usize;
        let record = TraceRecord {
            iteration: self.passes(),
            seconds,
            objective,
            duality_gap: gap,
            nnz: nnz as usize,
            rounds: self.rounds,
            active: working_set as usize,
        };
        let start = self.trace.first().map_or(objective, |r| r.objective);
        self.trace.push(record.clone());
        let settings = &self.settings;
        // Divergence: a thousandfold rise, or an infinite or NaN objective (which would
        // otherwise pass the gap test below: infinity minus a finite dual is not above
        // tol x infinity).
        if !objective.is_finite() || objective > 1e3 * start {
            self.stop = Some(StopReason::Diverged);
        } else if gap <= settings.tol * objective.abs() {
            self.stop = Some(StopReason::Converged);
        } else if self.passes() >= settings.max_passes {
            self.stop = Some(StopReason::MaxIterations);
        } else if seconds >= settings.max_seconds {
            self.stop = Some(StopReason::MaxSeconds);
        }
        self.work_since_gap = 0.0;
        self.working_entries = working_entries as f64 / self.workers as f64;
        self.sweeps_since_gap = 0;
        self.decreases = [f64::INFINITY; 2];
        // A round also copies, differences and applies the rows' state (a few passes over the
        // rows): enough passes that sweeping outweighs that.
        self.passes_per_round = if settings.local_passes > 0 {
            settings.local_passes
        } else {
            let pass = 2.0 * self.working_entries.max(1.0);
            (ROW_PASSES_PER_ROUND * settings.rows as f64 / pass)
                .ceil()
                .clamp(1.0, 16.0) as u32
        };
        record
    }
}

impl<L: Loss> BlockState<L> {
    /// What a checkpoint holds of this worker, borrowed (with the run's `progress`).
    fn snapshot<'a>(&'a self, progress: &'a Progress) -> SnapshotRef<'a> {
        SnapshotRef {
            progress,
            rows: &self.rows,
            beta: &self.beta,
            working: &self.working,
            history: &self.history,
            extrapolated: &self.extrapolated,
            unsent: &self.unsent,
            unsent_part: &self.unsent_part,
        }
    }

    /// The block at `b = 0`, every column in the working set.
    fn new(mut block: ColumnBlock, lambda: f64, workers: usize) -> Self {
        let width = block.columns.n_cols();
        // The labels move into the rows' state (the block's copy is not read again).
        let labels = std::mem::take(&mut block.labels);
        let n_rows = labels.len();
        let mut rows = RowState::at_zero::<L>(labels);
        // With a constant curvature f'' is never read, and a sweep's copy of the rows is f'
        // alone (see `sweep`): 5 of the 8 row vectors of the two states held no information.
        let trial_rows = if L::CONSTANT_CURVATURE {
            rows.second = Vec::new();
            RowState {
                labels: Vec::new(),
                predictions: Vec::new(),
                first: rows.first.clone(),
                second: Vec::new(),
            }
        } else {
            rows.clone()
        };
        // The reading may have found the norms in its own pass (with this sum's bits).
        let (norms2, gradients_at_zero) = match block.first_pass.take() {
            Some(found) => (found.column_norms2, Some(found.gradients_at_zero)),
            None => {
                let norms2 = (0..width)
                    .map(|j| block.columns.column(j).1.iter().map(|x| x * x).sum())
                    .collect();
                (norms2, None)
            }
        };
        let curvature = norms2
            .into_iter()
            .map(|norm2: f64| (norm2, 1.0 / norm2))
            .collect();
        BlockState {
            lambda,
            workers,
            curvature,
            trial_rows,
            rows,
            beta: vec![0.0; width],
            working: (0..width as u32).collect(),
            packed: None,
            trial_beta: vec![0.0; width],
            block,
            history: VecDeque::new(),
            extrapolated: None,
            unsent: vec![0.0; n_rows],
            unsent_part: vec![0.0; n_rows],
            gradients_at_zero,
            _loss: PhantomData,
        }
    }

    /// Sweeps the working set `passes` times on a copy of the rows; returns the change. Never
    /// inlined: the sweep is the solve's hot loop, and its code should not depend on how the
    /// round loop around it is written (inlined, its bounds checks came out differently when
    /// the loop's bookkeeping changed: 1.7% more instructions for a logreg solve).
    #[inline(never)]
    fn sweep(&mut self, passes: u32, seconds: f64) -> SweepShare {
        // The labels never change; with a constant curvature the sweep reads and writes f' only.
        self.trial_rows.first.clone_from(&self.rows.first);
        if !L::CONSTANT_CURVATURE {
            self.trial_rows
                .predictions
                .clone_from(&self.rows.predictions);
            self.trial_rows.second.clone_from(&self.rows.second);
        }
        debug_assert!(self.working.iter().all(|&j| {
            let j = j as usize;
            self.trial_beta[j].to_bits() == self.beta[j].to_bits()
        }));
        let mut updates = 0;
        for _ in 0..passes {
            updates += sweep_columns::<L>(
                self.packed.as_ref().map_or(
                    WorkingColumns::InBlock(&self.block.columns),
                    WorkingColumns::Packed,
                ),
                &self.curvature,
                &self.working,
                self.lambda,
                &mut self.trial_beta,
                &mut self.trial_rows,
            );
        }
        // With a constant curvature the sweep kept only f' = p - y, which moves with p.
        let (new, old) = if L::CONSTANT_CURVATURE {
            (&self.trial_rows.first, &self.rows.first)
        } else {
            (&self.trial_rows.predictions, &self.rows.predictions)
        };
        let mut sent = Vec::with_capacity(new.len());
        for (i, (new, old)) in new.iter().zip(old).enumerate() {
            let change = new - old;
            let rounded = (change + self.unsent[i]) as f32;
            sent.push(rounded);
            self.unsent_part[i] = change - f64::from(rounded);
        }
        let delta = DenseVector32(sent);
        let share = 1.0 / self.workers as f64;
        // Every nonzero coefficient is in the working set (see `gap_share`), and the sweep
        // changes only those: the block's norms are the working set's, in column order as the
        // working set is, and the zeros left out add nothing (the same bits).
        let (mut l1_full, mut l1_averaged) = (0.0, 0.0);
        for &j in &self.working {
            let (new, old) = (self.trial_beta[j as usize], self.beta[j as usize]);
            l1_full += new.abs();
            l1_averaged += (old + share * (new - old)).abs();
        }
        SweepShare {
            delta,
            l1_full,
            l1_averaged,
            updates,
            seconds,
        }
    }

    /// `sum_i f(y_i, p_i + s delta_i)` for both scales `s`, in one pass over the rows.
    fn losses_after(&self, scales: [f64; 2], delta: &[f64]) -> [f64; 2] {
        let mut sums = [0.0; 2];
        let rows = self.rows.labels.iter().zip(&self.rows.predictions);
        for ((&y, &p), &d) in rows.zip(delta) {
            sums[0] += L::value(y, p + scales[0] * d);
            sums[1] += L::value(y, p + scales[1] * d);
        }
        sums
    }

    /// Commits `scale` times the summed change: the rows, and the block's coefficients.
    fn apply(&mut self, scale: f64, delta: &[f64]) {
        self.add_to_predictions(scale, delta);
        // This block changed the predictions by `scale` times its change; `scale` times what it
        // sent was committed.
        for (unsent, &part) in self.unsent.iter_mut().zip(&self.unsent_part) {
            *unsent += scale * part;
        }
        let rows = &self.rows;
        let mut snapshot = if self.history.len() > EXTRAPOLATION_DEPTH {
            self.history.pop_front().expect("nonempty")
        } else {
            Vec::new()
        };
        snapshot.clone_from(&rows.first);
        self.history.push_back(snapshot);
        // Only the working set's coefficients moved; both copies agree again afterwards.
        for &j in &self.working {
            let j = j as usize;
            if scale != 1.0 {
                let b = self.beta[j];
                self.trial_beta[j] = b + scale * (self.trial_beta[j] - b);
            }
            self.beta[j] = self.trial_beta[j];
        }
    }

    /// Packs the working set's columns together if they are few enough ([`Self::packed`]).
    /// A new packing reuses the last one's buffers: a copy freed and allocated again at every
    /// change of the working set left the allocator's free memory resident beside the new one.
    fn repack(&mut self) {
        let mut packed = self.packed.take().unwrap_or_default();
        let columns = &self.block.columns;
        let entries: usize = self
            .working
            .iter()
            .map(|&j| columns.column(j as usize).0.len())
            .sum();
        if entries as f64 <= PACKED_SHARE * columns.rows.len() as f64 {
            pack_columns_into(columns, &self.working, entries, &mut packed);
            self.packed = Some(packed);
        }
    }

    /// Commits every block's unsent remainder (gathered in worker order).
    fn flush_unsent(&mut self, unsent: &[Arc<DenseVector>]) {
        let mut sum = vec![0.0; self.rows.labels.len()];
        for part in unsent {
            for (s, &x) in sum.iter_mut().zip(&part.0) {
                *s += x;
            }
        }
        self.add_to_predictions(1.0, &sum);
        self.unsent.iter_mut().for_each(|u| *u = 0.0);
    }

    /// `p += scale * delta`, and the derivatives at the new predictions.
    fn add_to_predictions(&mut self, scale: f64, delta: &[f64]) {
        let rows = &mut self.rows;
        for (i, &d) in delta.iter().enumerate() {
            let p = rows.predictions[i] + scale * d;
            rows.predictions[i] = p;
            let (first, second) = L::derivatives(rows.labels[i], p);
            rows.first[i] = first;
            if !L::CONSTANT_CURVATURE {
                rows.second[i] = second;
            }
        }
    }

    /// The dual point's `f'`: extrapolated from the history when it allows, else the current.
    fn dual_point(&self) -> &[f64] {
        self.extrapolated.as_deref().unwrap_or(&self.rows.first)
    }

    /// `X^T theta` on the block at the dual point: its largest magnitude, and the new working
    /// set (nonzero coefficients, and zero ones that would move: `|g_j| > lambda`).
    fn gap_share(&mut self, seconds: f64) -> GapShare {
        self.extrapolated = extrapolate(&self.history);
        // Only the first evaluation, at b = 0 with no history, may have them.
        let at_zero = self.gradients_at_zero.take();
        debug_assert!(at_zero.is_none() || self.extrapolated.is_none());
        let first = self.extrapolated.as_ref().unwrap_or(&self.rows.first);
        let columns = &self.block.columns;
        let mut max_abs_gradient: f64 = 0.0;
        let mut working_entries = 0u64;
        let previous = std::mem::take(&mut self.working);
        self.working.reserve(previous.len());
        for j in 0..columns.n_cols() {
            let (index, values) = columns.column(j);
            let g = match &at_zero {
                Some(found) => found[j],
                None => gather_dot(index, values, first),
            };
            max_abs_gradient = max_abs_gradient.max(g.abs());
            if self.beta[j] != 0.0 || g.abs() > self.lambda {
                self.working.push(j as u32);
                working_entries += index.len() as u64;
            }
        }
        // Near the optimum the working set stops changing; its packed copy then stays.
        if self.working != previous {
            self.repack();
        }
        GapShare {
            max_abs_gradient,
            l1: self.beta.iter().map(|b| b.abs()).sum(),
            nnz: self.beta.iter().filter(|b| **b != 0.0).count() as u64,
            working_set: self.working.len() as u64,
            working_entries,
            seconds,
        }
    }
}
/// Where a sweep finds the working set's columns.
#[derive(Clone, Copy)]
pub enum WorkingColumns<'a> {
    /// In the block, at the working set's column indices.
    InBlock(&'a ColumnShard),
    /// Packed together, the working set's `n`-th column at `n` ([`pack_columns`]).
    Packed(&'a ColumnShard),
}

/// The columns `working` of `columns`, in that order, in one shard of `entries` entries.
pub fn pack_columns(columns: &ColumnShard, working: &[u32], entries: usize) -> ColumnShard {
    let mut packed = ColumnShard::default();
    pack_columns_into(columns, working, entries, &mut packed);
    packed
}

/// [`pack_columns`] into `packed`, whose buffers are reused.
fn pack_columns_into(
    columns: &ColumnShard,
    working: &[u32],
    entries: usize,
    packed: &mut ColumnShard,
) {
    packed.n_rows = columns.n_rows;
    packed.col_offsets.clear();
    // The packed copy is always this worker's own (its buffers reused).
    let (rows, packed_values) = (packed.rows.to_mut(), packed.values.to_mut());
    rows.clear();
    packed_values.clear();
    packed.col_offsets.reserve(working.len() + 1);
    rows.reserve(entries);
    packed_values.reserve(entries);
    packed.col_offsets.push(0);
    for &j in working {
        let (index, values) = columns.column(j as usize);
        rows.extend_from_slice(index);
        packed_values.extend_from_slice(values);
        packed.col_offsets.push(rows.len());
    }
}

/// One pass of sequential coordinate descent over `working` (local columns of the block, found
/// in `columns`), updating `beta` and `rows` in place; returns the number of steps. `curvature[j] = (||x_j||^2, 1 /
/// ||x_j||^2)` serves when the loss's curvature is constant, and then only `rows.first` is kept
/// up to date (`f'' = 1` makes `f'` move exactly with the prediction); the caller derives the
/// predictions.
pub fn sweep_columns<L: Loss>(
    columns: WorkingColumns<'_>,
    curvature: &[(f64, f64)],
    working: &[u32],
    lambda: f64,
    beta: &mut [f64],
    rows: &mut RowState,
) -> u64 {
    for (n, &j) in working.iter().enumerate() {
        let j = j as usize;
        let (block, column) = match columns {
            WorkingColumns::InBlock(block) => (block, j),
            WorkingColumns::Packed(packed) => (packed, n),
        };
        if L::CONSTANT_CURVATURE {
            let (index, values) = block.column(column);
            let g = gather_dot(index, values, &rows.first);
            // `coordinate_step` with the division by `h` as a multiplication: the division's
            // latency sat between the column's gather and its scatter.
            let (h, inverse_h) = curvature[j];
            let new = if h > 0.0 {
                soft_threshold(h * beta[j] - g, lambda) * inverse_h
            } else {
                beta[j]
            };
            if new != beta[j] {
                let delta = new - beta[j];
                for (&i, &x) in index.iter().zip(values) {
                    rows.first[i as usize] += x * delta;
                }
                beta[j] = new;
            }
        } else {
            let (g, h) = coordinate_statistics::<L>(block, column, rows);
            let new = coordinate_step(beta[j], g, h, lambda);
            if new != beta[j] {
                apply_delta::<L>(block, column, new - beta[j], rows);
                beta[j] = new;
            }
        }
    }
    working.len() as u64
}

/// The dual objective `sum_i -f*(-s theta_i)` at `theta = -first` scaled by
/// `s = min(1, lambda / ||X^T theta||_inf)` into the feasible set.
fn dual_value<L: Loss>(labels: &[f64], first: &[f64], max_abs_gradient: f64, lambda: f64) -> f64 {
    let scale = if max_abs_gradient > lambda {
        lambda / max_abs_gradient
    } else {
        1.0
    };
    labels
        .iter()
        .zip(first)
        .map(|(&y, &first)| L::dual_term(y, -first, scale))
        .sum()
}

/// Anderson extrapolation of a sequence `v_0..v_K`: `sum_k c_k v_k` with the weights `c`
/// (summing to 1) that minimise `||sum_k c_k (v_k - v_{k-1})||` over `k = 1..K`; the limit of a
/// linear iteration with at most K modes. `None` until `K + 1` iterates are known, or when the
/// differences are degenerate (the iterates stopped moving).
pub fn extrapolate(history: &VecDeque<Vec<f64>>) -> Option<Vec<f64>> {
    let k = EXTRAPOLATION_DEPTH;
    if history.len() < k + 1 {
        return None;
    }
    let n = history[0].len();
    // The differences of successive iterates are formed as the Gram matrix reads them, not
    // stored: k more row vectors per worker at every gap round, for a few subtractions.
    let difference = |a: usize, i: usize| history[a + 1][i] - history[a][i];
    let mut gram = vec![vec![0.0; k]; k];
    for (a, b) in (0..k).flat_map(|a| (a..k).map(move |b| (a, b))) {
        let dot: f64 = (0..n).map(|i| difference(a, i) * difference(b, i)).sum();
        gram[a][b] = dot;
        gram[b][a] = dot;
    }
    let weights = solve_for_ones(gram)?;
    let mut out = vec![0.0; n];
    for (a, &c) in weights.iter().enumerate() {
        for (o, v) in out.iter_mut().zip(&history[a + 1]) {
            *o += c * v;
        }
    }
    Some(out)
}

/// `z / sum(z)` for `(G + eps I) z = 1`, by Gaussian elimination with partial pivoting. The
/// ridge `eps` (1e-10 of G's largest diagonal entry) keeps the system solvable when the
/// differences are linearly dependent, which is exactly when the extrapolation is exact.
/// `None` when the iterates did not move or the weights are not finite.
fn solve_for_ones(mut gram: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let k = gram.len();
    let mut rhs = vec![1.0; k];
    let scale = (0..k).map(|a| gram[a][a]).fold(0.0f64, f64::max);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    for (a, row) in gram.iter_mut().enumerate() {
        row[a] += 1e-10 * scale;
    }
    for p in 0..k {
        let pivot = (p..k).max_by(|&a, &b| gram[a][p].abs().total_cmp(&gram[b][p].abs()))?;
        gram.swap(p, pivot);
        rhs.swap(p, pivot);
        let (upper, lower) = gram.split_at_mut(p + 1);
        let pivot_row = &upper[p];
        for (q, row) in lower.iter_mut().enumerate() {
            let factor = row[p] / pivot_row[p];
            for (entry, &above) in row[p..].iter_mut().zip(&pivot_row[p..]) {
                *entry -= factor * above;
            }
            rhs[p + 1 + q] -= factor * rhs[p];
        }
    }
    let mut z = vec![0.0; k];
    for p in (0..k).rev() {
        let tail: f64 = (p + 1..k).map(|c| gram[p][c] * z[c]).sum();
        z[p] = (rhs[p] - tail) / gram[p][p];
    }
    let total: f64 = z.iter().sum();
    let weights: Vec<f64> = z.iter().map(|v| v / total).collect();
    weights.iter().all(|w| w.is_finite()).then_some(weights)
}

/// `sum_k values[k] * dense[index[k]]`, in four interleaved sums so the loads overlap.
#[inline]
pub fn gather_dot(index: &[u32], values: &[f64], dense: &[f64]) -> f64 {
    gather_dot_by(index, values, dense)
}

/// [`gather_dot`] with indices of any integer type (a caller's CSC indices), the same sums in
/// the same order: the same bits.
pub fn gather_dot_by<I: Copy + Into<i64>>(index: &[I], values: &[f64], dense: &[f64]) -> f64 {
    let at = |i: I| -> usize {
        let i: i64 = i.into();
        i as usize
    };
    let mut sums = [0.0; 4];
    let mut chunks = index.chunks_exact(4).zip(values.chunks_exact(4));
    for (i, x) in &mut chunks {
        for k in 0..4 {
            sums[k] += x[k] * dense[at(i[k])];
        }
    }
    let tail = index.len() - index.len() % 4;
    let mut rest = 0.0;
    for (&i, &x) in index[tail..].iter().zip(&values[tail..]) {
        rest += x * dense[at(i)];
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a linear iteration `v <- A v + c` with fewer modes than differences, the extrapolation
    /// of six iterates is the fixed point, while the last iterate is still far from it.
    #[test]
    fn extrapolation_finds_the_limit_of_a_linear_iteration() {
        let a = [0.9, 0.5, -0.3, 0.2];
        let c = [1.0, -2.0, 0.5, 3.0];
        let limit: Vec<f64> = a.iter().zip(&c).map(|(a, c)| c / (1.0 - a)).collect();
        let mut v = vec![0.0; 4];
        let mut history = VecDeque::new();
        for _ in 0..=EXTRAPOLATION_DEPTH {
            v = (0..4).map(|i| a[i] * v[i] + c[i]).collect();
            history.push_back(v.clone());
        }
        let extrapolated = extrapolate(&history).expect("six iterates that move");
        for i in 0..4 {
            assert!(
                (extrapolated[i] - limit[i]).abs() <= 1e-6 * limit[i].abs(),
                "mode {i}: {} vs {}",
                extrapolated[i],
                limit[i]
            );
        }
        assert!(
            (v[0] - limit[0]).abs() > 1.0,
            "the iterates themselves are still far"
        );
        // Too few iterates, or iterates that stopped moving: no extrapolation.
        history.pop_front();
        assert!(extrapolate(&history).is_none());
        let still: VecDeque<Vec<f64>> = (0..=EXTRAPOLATION_DEPTH).map(|_| limit.clone()).collect();
        assert!(extrapolate(&still).is_none());
    }

    #[test]
    fn gather_dot_matches_the_plain_sum() {
        let dense: Vec<f64> = (0..50).map(|i| (i as f64).sin()).collect();
        for len in 0..12 {
            let index: Vec<u32> = (0..len).map(|k| (k * 7 % 50) as u32).collect();
            let values: Vec<f64> = (0..len).map(|k| 1.0 + k as f64 / 3.0).collect();
            let plain: f64 = index
                .iter()
                .zip(&values)
                .map(|(&i, x)| x * dense[i as usize])
                .sum();
            assert!((gather_dot(&index, &values, &dense) - plain).abs() <= 1e-12);
        }
    }
}
