//! Coordinate descent in the column layout, as a round program.
//!
//! Every worker owns a block of columns over all rows ([`super::column_blocks`]) and a replica of
//! the per-row state (predictions and loss derivatives). The schedule of a round is each worker's
//! block restricted to its working set (the coordinates that are nonzero or violate their
//! optimality condition at the last gap evaluation): in `push` a worker sweeps it, plain
//! sequential coordinate descent against its own copy of the row state, so every step sees every
//! earlier step of its block at no cost beyond the step itself. The partial is the change of the
//! predictions; the leader sums them (the blocks' steps, taken in parallel, are a block-Jacobi
//! step) and commits either that sum or, if the sum would raise the objective because the blocks
//! interfere, its average over the workers, which by convexity never does. Every worker applies
//! the committed change, so the replicas stay identical.
//!
//! Every few sweeps a gap round computes `X^T theta` on each block, rebuilds the working sets and
//! gives the leader `||X^T theta||_inf`, from which (with its replica of the rows) it evaluates
//! the duality gap.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use strads_engine::rounds::{RoundProgram, Schedule};
use strads_engine::DenseVector;

use super::column_blocks::ColumnBlock;
use super::column_shard::ColumnShard;
use super::kernels::{apply_delta, coordinate_statistics, coordinate_step, RowState};
use super::loss::Loss;
use super::{Observer, StopReason, TraceRecord};

/// What every worker does in a round.
#[derive(Debug, Serialize, Deserialize)]
pub enum Task {
    /// Sweep the working set this many times.
    Sweep {
        /// Passes over the working set before the change is exchanged.
        passes: u32,
    },
    /// `X^T theta` on the block: its largest magnitude, and a new working set.
    Gap,
    /// Send the nonzero coefficients to the leader.
    Collect,
}

/// A worker's contribution to a round.
#[derive(Debug, Serialize, Deserialize)]
pub enum Partial {
    /// The change of every row's prediction, and the block's l1 norm after the full and after the
    /// averaged change.
    Sweep {
        /// `X_block (b_new - b)` over all rows.
        delta: DenseVector,
        /// `||b_new||_1` on the block.
        l1_full: f64,
        /// `||b + (b_new - b) / workers||_1` on the block.
        l1_averaged: f64,
        /// Coordinate steps taken.
        updates: u64,
    },
    /// `||X^T theta||_inf` and the block's state.
    Gap {
        /// Largest `|x_j . theta|` on the block at the round's dual point (reduced by max, not
        /// sum).
        max_abs_gradient: f64,
        /// `||b||_1` on the block.
        l1: f64,
        /// Nonzero coefficients.
        nnz: u64,
        /// Coordinates in the new working set.
        working_set: u64,
        /// Nonzeros of X in the working set's columns.
        working_entries: u64,
    },
    /// Nonzero coefficients, by global index.
    Collect {
        /// `(j, b_j)`.
        coefficients: Vec<(u32, f64)>,
    },
}

/// What every worker applies after a round.
#[derive(Debug, Serialize, Deserialize)]
pub enum Update {
    /// Predictions `+= scale * delta`; each block's coefficients `+= scale * (b_new - b)`.
    Sweep {
        /// 1 (the sum of the blocks' changes) or `1 / workers` (their average).
        scale: f64,
        /// The summed change of the predictions.
        delta: DenseVector,
    },
    /// Nothing changes.
    Nothing,
}

/// What the leader needs to know to run a solve.
#[derive(Clone, Debug)]
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
    /// Workers (column blocks).
    pub workers: usize,
    /// Rows of X.
    pub rows: usize,
    /// Sweep work between gap evaluations, relative to an evaluation's (a pass over all of X).
    pub gap_every: f64,
    /// Columns of X.
    pub cols: usize,
    /// Nonzeros of X.
    pub nonzeros: usize,
}

/// The leader's side: the gap, the stopping rule, the trace and the final coefficients.
pub struct ColumnLeader {
    settings: ColumnSettings,
    observer: Option<Observer>,
    started: Instant,
    /// `F(b)` of the committed state.
    objective: f64,
    /// The best dual value seen: every evaluated dual point was feasible, so it bounds `F*`.
    best_dual: f64,
    /// Work per worker (entries read or written, rows copied) since the last gap evaluation.
    work_since_gap: f64,
    /// Work per worker of a gap evaluation.
    evaluation_work: f64,
    /// Passes over the working set per round until the next evaluation.
    passes: u32,
    /// Nonzeros of X in the working set, per worker on average.
    working_entries: f64,
    /// The objective's decrease in the last two sweep rounds since the last evaluation.
    decreases: [f64; 2],
    /// Sweep rounds since the last evaluation.
    sweeps_since_gap: u64,
    updates: u64,
    /// Sweep rounds whose summed change raised the objective, committed averaged instead.
    pub averaged_rounds: u64,
    collected: bool,
    /// Why the solve stopped, once it has.
    pub stop: Option<StopReason>,
    /// One record per gap evaluation.
    pub trace: Vec<TraceRecord>,
    /// The coefficients, filled by the final collect round.
    pub beta: Vec<f64>,
    /// Working-set size at the last gap evaluation.
    pub working_set: usize,
}

impl ColumnLeader {
    /// The leader's state before the first round.
    pub fn new(settings: ColumnSettings, observer: Option<Observer>) -> Self {
        ColumnLeader {
            beta: vec![0.0; settings.cols],
            settings,
            observer,
            started: Instant::now(),
            objective: f64::INFINITY,
            best_dual: f64::NEG_INFINITY,
            work_since_gap: 0.0,
            evaluation_work: 0.0,
            passes: 1,
            working_entries: 0.0,
            decreases: [f64::INFINITY; 2],
            sweeps_since_gap: 0,
            updates: 0,
            averaged_rounds: 0,
            collected: false,
            stop: None,
            trace: Vec::new(),
            working_set: 0,
        }
    }

    /// Passes over the coordinates so far (coordinate updates / d).
    pub fn passes(&self) -> f64 {
        self.updates as f64 / self.settings.cols.max(1) as f64
    }

    /// Whether the next round should evaluate the gap: when the sweeps since the last one did
    /// `gap_every` times an evaluation's work (new violators may have appeared), or earlier, but
    /// not before [`MIN_GAP_SPACING`] evaluations' work, when the working set's subproblem has
    /// converged so far that the gap may meet the tolerance. The subproblem's remaining decrease
    /// is estimated from the last two sweeps' decreases `d1, d2` as a geometric series,
    /// `d2 q / (1 - q)` with `q = d2 / d1`.
    fn gap_due(&self) -> bool {
        if self.trace.is_empty()
            || self.work_since_gap >= self.settings.gap_every * self.evaluation_work
        {
            return true;
        }
        if self.sweeps_since_gap < 2 || self.work_since_gap < MIN_GAP_SPACING * self.evaluation_work
        {
            return false;
        }
        let [older, last] = self.decreases;
        let rate = (last / older).clamp(0.0, 0.999);
        let remaining = last * rate / (1.0 - rate);
        remaining <= 0.25 * self.settings.tol * self.objective.abs()
    }
}

/// One worker's instance of the program (the leader's also carries [`ColumnLeader`]).
pub struct ColumnDescent<L: Loss> {
    block: ColumnBlock,
    lambda: f64,
    workers: usize,
    /// The replicated per-row state of the committed coefficients.
    rows: RowState,
    /// The block's committed coefficients.
    beta: Vec<f64>,
    /// `||x_j||^2` per column of the block.
    norms2: Vec<f64>,
    /// The block's working set (local column indices).
    working: Vec<u32>,
    /// A sweep's copy of the rows and of the coefficients (kept for `apply`).
    trial_rows: RowState,
    trial_beta: Vec<f64>,
    /// `f'(p)` after each of the last sweep rounds, oldest first (at most
    /// [`EXTRAPOLATION_DEPTH`] + 1): dual extrapolation's input.
    history: VecDeque<Vec<f64>>,
    /// The extrapolated `f'` of the last gap round, if the history allowed one.
    extrapolated: Option<Vec<f64>>,
    /// Present on the leader only.
    pub leader: Option<ColumnLeader>,
    _loss: PhantomData<L>,
}

/// Sweep work between two gap evaluations, at least, in evaluations' work: the subproblem
/// criterion of [`ColumnLeader::gap_due`] follows the objective, which near the optimum
/// converges long before the gap does (measured best of 1, 3 and 6 on the benchmark problem).
const MIN_GAP_SPACING: f64 = 3.0;

/// A round's copies, differences and updates of the rows' state, in passes over the rows.
const ROW_PASSES_PER_ROUND: f64 = 4.0;

/// Differences of successive iterates that dual extrapolation combines (celer uses 5).
pub const EXTRAPOLATION_DEPTH: usize = 5;

impl<L: Loss> ColumnDescent<L> {
    /// A worker's program over its block, starting at `b = 0` with every column in the working
    /// set.
    pub fn new(
        block: ColumnBlock,
        lambda: f64,
        workers: usize,
        leader: Option<ColumnLeader>,
    ) -> Self {
        let width = block.columns.n_cols();
        let rows = RowState::at_zero::<L>(block.labels.clone());
        let norms2 = (0..width)
            .map(|j| block.columns.column(j).1.iter().map(|x| x * x).sum())
            .collect();
        ColumnDescent {
            norms2,
            lambda,
            workers,
            trial_rows: rows.clone(),
            rows,
            beta: vec![0.0; width],
            working: (0..width as u32).collect(),
            trial_beta: vec![0.0; width],
            block,
            history: VecDeque::new(),
            extrapolated: None,
            leader,
            _loss: PhantomData,
        }
    }

    /// `sum_i f(y_i, p_i + scale * delta_i)`.
    fn loss_after(&self, scale: f64, delta: &[f64]) -> f64 {
        self.rows
            .labels
            .iter()
            .zip(&self.rows.predictions)
            .zip(delta)
            .map(|((&y, &p), &d)| L::value(y, p + scale * d))
            .sum()
    }

    fn leader(&mut self) -> &mut ColumnLeader {
        self.leader.as_mut().expect("only the leader schedules")
    }
}

/// One pass of sequential coordinate descent over `working` (local columns of `block`), updating
/// `beta` and `rows` in place; returns the number of steps. `norms2[j] = ||x_j||^2` serves as
/// the curvature when the loss's is constant, and then only `rows.first` is kept up to date
/// (`f'' = 1` makes `f'` move exactly with the prediction); the caller derives the predictions.
pub fn sweep_columns<L: Loss>(
    block: &ColumnShard,
    norms2: &[f64],
    working: &[u32],
    lambda: f64,
    beta: &mut [f64],
    rows: &mut RowState,
) -> u64 {
    for &j in working {
        let j = j as usize;
        if L::CONSTANT_CURVATURE {
            let (index, values) = block.column(j);
            let g = gather_dot(index, values, &rows.first);
            let new = coordinate_step(beta[j], g, norms2[j], lambda);
            if new != beta[j] {
                let delta = new - beta[j];
                for (&i, &x) in index.iter().zip(values) {
                    rows.first[i as usize] += x * delta;
                }
                beta[j] = new;
            }
        } else {
            let (g, h) = coordinate_statistics::<L>(block, j, rows);
            let new = coordinate_step(beta[j], g, h, lambda);
            if new != beta[j] {
                apply_delta::<L>(block, j, new - beta[j], rows);
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
    let differences: Vec<Vec<f64>> = (0..k)
        .map(|a| (0..n).map(|i| history[a + 1][i] - history[a][i]).collect())
        .collect();
    let mut gram = vec![vec![0.0; k]; k];
    for a in 0..k {
        for b in a..k {
            let dot: f64 = differences[a]
                .iter()
                .zip(&differences[b])
                .map(|(x, y)| x * y)
                .sum();
            gram[a][b] = dot;
            gram[b][a] = dot;
        }
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
        for q in p + 1..k {
            let factor = gram[q][p] / gram[p][p];
            for c in p..k {
                gram[q][c] -= factor * gram[p][c];
            }
            rhs[q] -= factor * rhs[p];
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
    let mut sums = [0.0; 4];
    let mut chunks = index.chunks_exact(4).zip(values.chunks_exact(4));
    for (i, x) in &mut chunks {
        for k in 0..4 {
            sums[k] += x[k] * dense[i[k] as usize];
        }
    }
    let tail = index.len() - index.len() % 4;
    let mut rest = 0.0;
    for (&i, &x) in index[tail..].iter().zip(&values[tail..]) {
        rest += x * dense[i as usize];
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + rest
}

impl<L: Loss> RoundProgram for ColumnDescent<L> {
    type Task = Task;
    type Partial = Partial;
    type Update = Update;

    fn schedule(&mut self, _round: u64, in_flight: u64) -> Schedule<Task> {
        let leader = self.leader();
        if in_flight > 0 {
            return Schedule::Wait;
        }
        if leader.collected {
            return Schedule::Finished;
        }
        if leader.stop.is_some() {
            return Schedule::Barrier(Task::Collect);
        }
        if leader.gap_due() {
            return Schedule::Barrier(Task::Gap);
        }
        Schedule::Barrier(Task::Sweep {
            passes: leader.passes,
        })
    }

    fn push(&mut self, _round: u64, task: &Task) -> Partial {
        match *task {
            Task::Sweep { passes } => {
                // The labels never change; with a constant curvature the sweep reads and
                // writes f' only.
                self.trial_rows.first.clone_from(&self.rows.first);
                if !L::CONSTANT_CURVATURE {
                    self.trial_rows
                        .predictions
                        .clone_from(&self.rows.predictions);
                    self.trial_rows.second.clone_from(&self.rows.second);
                }
                self.trial_beta.clone_from(&self.beta);
                let mut updates = 0;
                for _ in 0..passes {
                    updates += sweep_columns::<L>(
                        &self.block.columns,
                        &self.norms2,
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
                let delta = DenseVector(new.iter().zip(old).map(|(new, old)| new - old).collect());
                let share = 1.0 / self.workers as f64;
                let (mut l1_full, mut l1_averaged) = (0.0, 0.0);
                for (&new, &old) in self.trial_beta.iter().zip(&self.beta) {
                    l1_full += new.abs();
                    l1_averaged += (old + share * (new - old)).abs();
                }
                Partial::Sweep {
                    delta,
                    l1_full,
                    l1_averaged,
                    updates,
                }
            }
            Task::Gap => {
                let columns = &self.block.columns;
                let mut max_abs_gradient: f64 = 0.0;
                let mut working_entries = 0u64;
                // The dual point: the extrapolated one once there is a history (see `pull`).
                self.extrapolated = extrapolate(&self.history);
                let first = self.extrapolated.as_ref().unwrap_or(&self.rows.first);
                self.working.clear();
                for j in 0..columns.n_cols() {
                    let (index, values) = columns.column(j);
                    let g = gather_dot(index, values, first);
                    max_abs_gradient = max_abs_gradient.max(g.abs());
                    // A zero coefficient moves in a step only if |g_j| > lambda.
                    if self.beta[j] != 0.0 || g.abs() > self.lambda {
                        self.working.push(j as u32);
                        working_entries += index.len() as u64;
                    }
                }
                Partial::Gap {
                    max_abs_gradient,
                    l1: self.beta.iter().map(|b| b.abs()).sum(),
                    nnz: self.beta.iter().filter(|b| **b != 0.0).count() as u64,
                    working_set: self.working.len() as u64,
                    working_entries,
                }
            }
            Task::Collect => Partial::Collect {
                coefficients: self
                    .beta
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b != 0.0)
                    .map(|(k, &b)| ((self.block.first_column + k) as u32, b))
                    .collect(),
            },
        }
    }

    fn reduce(&mut self, sum: &mut Partial, other: Partial) {
        match (sum, other) {
            (
                Partial::Sweep {
                    delta,
                    l1_full,
                    l1_averaged,
                    updates,
                },
                Partial::Sweep {
                    delta: d,
                    l1_full: f,
                    l1_averaged: a,
                    updates: u,
                },
            ) => {
                for (s, x) in delta.0.iter_mut().zip(&d.0) {
                    *s += x;
                }
                *l1_full += f;
                *l1_averaged += a;
                *updates += u;
            }
            (
                Partial::Gap {
                    max_abs_gradient,
                    l1,
                    nnz,
                    working_set,
                    working_entries,
                },
                Partial::Gap {
                    max_abs_gradient: m,
                    l1: l,
                    nnz: z,
                    working_set: w,
                    working_entries: e,
                },
            ) => {
                *max_abs_gradient = max_abs_gradient.max(m);
                *l1 += l;
                *nnz += z;
                *working_set += w;
                *working_entries += e;
            }
            (Partial::Collect { coefficients }, Partial::Collect { coefficients: c }) => {
                coefficients.extend(c);
            }
            _ => unreachable!("every worker answers the same task"),
        }
    }

    fn pull(&mut self, round: u64, _task: Task, sum: Partial) -> Update {
        match sum {
            Partial::Sweep {
                delta,
                l1_full,
                l1_averaged,
                updates,
            } => {
                let lambda = self.lambda;
                let workers = self.workers;
                let full = self.loss_after(1.0, &delta.0) + lambda * l1_full;
                let (scale, objective) = if workers == 1 {
                    (1.0, full)
                } else {
                    let share = 1.0 / workers as f64;
                    let averaged = self.loss_after(share, &delta.0) + lambda * l1_averaged;
                    if full <= averaged {
                        (1.0, full)
                    } else {
                        (share, averaged)
                    }
                };
                let leader = self.leader();
                leader.updates += updates;
                if scale < 1.0 {
                    leader.averaged_rounds += 1;
                }
                leader.decreases = [leader.decreases[1], leader.objective - objective];
                leader.objective = objective;
                leader.sweeps_since_gap += 1;
                leader.work_since_gap += 2.0 * leader.working_entries * leader.passes as f64
                    + ROW_PASSES_PER_ROUND * leader.settings.rows as f64;
                Update::Sweep { scale, delta }
            }
            Partial::Gap {
                max_abs_gradient,
                l1,
                nnz,
                working_set,
                working_entries,
            } => {
                let lambda = self.lambda;
                let loss: f64 = self
                    .rows
                    .labels
                    .iter()
                    .zip(&self.rows.predictions)
                    .map(|(&y, &p)| L::value(y, p))
                    .sum();
                // The dual point theta = -f', scaled into ||X^T theta||_inf <= lambda. f' is
                // extrapolated from the last sweeps (celer's dual extrapolation) once there are
                // enough: near the optimum the sweeps are a linear iteration, whose limit the
                // extrapolation approaches much faster than the iterates do. Outside the loss's
                // dual domain (possible for the logistic) the value is NaN and not used.
                let first = self.extrapolated.as_ref().unwrap_or(&self.rows.first);
                let dual = dual_value::<L>(&self.rows.labels, first, max_abs_gradient, lambda);
                let leader = self.leader();
                let objective = loss + lambda * l1;
                leader.objective = objective;
                if dual > leader.best_dual {
                    leader.best_dual = dual;
                }
                let gap = (objective - leader.best_dual).max(0.0);
                leader.working_set = working_set as usize;
                let record = TraceRecord {
                    iteration: leader.passes(),
                    seconds: leader.started.elapsed().as_secs_f64(),
                    objective,
                    duality_gap: gap,
                    nnz: nnz as usize,
                    rounds: round + 1,
                    active: working_set as usize,
                };
                if let Some(observer) = &leader.observer {
                    observer(&record);
                }
                let start = leader.trace.first().map_or(objective, |r| r.objective);
                leader.trace.push(record);
                let settings = &leader.settings;
                if !(objective <= 1e3 * start) {
                    leader.stop = Some(StopReason::Diverged);
                } else if gap <= settings.tol * objective.abs() {
                    leader.stop = Some(StopReason::Converged);
                } else if leader.passes() >= settings.max_passes {
                    leader.stop = Some(StopReason::MaxIterations);
                } else if leader.started.elapsed().as_secs_f64() >= settings.max_seconds {
                    leader.stop = Some(StopReason::MaxSeconds);
                }
                // Sweep work until the next evaluation is due anyway: `gap_every` times an
                // evaluation's (a pass over every entry), a step costing about two entries (read,
                // then write the rows).
                leader.work_since_gap = 0.0;
                leader.evaluation_work =
                    settings.nonzeros as f64 / settings.workers as f64 + settings.rows as f64;
                leader.working_entries = working_entries as f64 / settings.workers as f64;
                leader.sweeps_since_gap = 0;
                leader.decreases = [f64::INFINITY; 2];
                // A round also copies, differences and applies the rows' state (a few passes
                // over the rows): enough passes that sweeping outweighs that.
                leader.passes = if settings.local_passes > 0 {
                    settings.local_passes
                } else {
                    let pass = 2.0 * leader.working_entries.max(1.0);
                    (ROW_PASSES_PER_ROUND * settings.rows as f64 / pass)
                        .ceil()
                        .clamp(1.0, 16.0) as u32
                };
                Update::Nothing
            }
            Partial::Collect { coefficients } => {
                let leader = self.leader();
                for (j, b) in coefficients {
                    leader.beta[j as usize] = b;
                }
                leader.collected = true;
                Update::Nothing
            }
        }
    }

    fn apply(&mut self, _round: u64, update: &Update) {
        let Update::Sweep { scale, delta } = update else {
            return;
        };
        let scale = *scale;
        let rows = &mut self.rows;
        for i in 0..rows.predictions.len() {
            let p = rows.predictions[i] + scale * delta.0[i];
            rows.predictions[i] = p;
            let (first, second) = L::derivatives(rows.labels[i], p);
            rows.first[i] = first;
            rows.second[i] = second;
        }
        let mut snapshot = if self.history.len() > EXTRAPOLATION_DEPTH {
            self.history.pop_front().expect("nonempty")
        } else {
            Vec::new()
        };
        snapshot.clone_from(&rows.first);
        self.history.push_back(snapshot);
        if scale == 1.0 {
            std::mem::swap(&mut self.beta, &mut self.trial_beta);
        } else {
            for (b, &new) in self.beta.iter_mut().zip(&self.trial_beta) {
                *b += scale * (new - *b);
            }
        }
    }
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
