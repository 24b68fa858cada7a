//! The leader's side of scheduled coordinate descent: the coefficients, the STRADS scheduler over
//! the coordinates not screened out, the dependency filter, the duality gap and the stopping rule.
//!
//! The leader is worker 0. Its `schedule` picks each round's candidates (or a gap evaluation);
//! its `pull` commits a round from the summed partials: coordinate steps for the candidates that
//! pass the dependency filter, or the gap with screening and a refresh of every priority.

mod snapshot;

use std::ops::Range;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use strads_core::{dependency_filter_pairs, CoordinateScheduler, SchedulerParams};
use strads_engine::rounds::Schedule;

use super::kernels::{coordinate_step, pair_of};
use super::messages::{Partial, Task, Update};
use super::{Observer, StopReason, TraceRecord};
pub use snapshot::LeaderSnapshot;

/// Where the leader is between gap evaluations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Phase {
    /// Nothing scheduled yet: the first rounds evaluate the gap at b = 0 (which also proves b = 0
    /// optimal when lambda >= lambda_max).
    Start,
    /// Coordinate rounds.
    Descent,
    /// The round measuring how far theta moved since the last full evaluation is scheduled.
    GapChange,
    /// That round committed; the primal gap round is due on the columns it selected.
    GapPrimalDue,
    /// The primal gap round is scheduled.
    GapPrimal,
    /// The first gap round committed; the second is due with this scale.
    GapDualDue { scale: f64 },
    /// The second gap round is scheduled.
    GapDual,
    /// The gap evaluation is complete and the solve goes on: pause the round driver first
    /// (with [`SolveSettings::pause_after_evaluations`]), then coordinate rounds.
    Boundary,
    /// Finished; no more rounds.
    Done,
}

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
    /// The loss's smoothness constant `L` (see [`super::loss::Loss::SMOOTHNESS`]).
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

/// The leader's state: coefficients, scheduler over the active coordinates, progress.
pub struct LeaderState {
    settings: SolveSettings,
    /// The coefficients.
    pub beta: Vec<f64>,
    column_norms2: Vec<f64>,
    /// `||x_j||`, for the bounds of the gap evaluations and of screening (passes over every
    /// active column, so the square roots are taken once).
    column_norms: Vec<f64>,
    smallest_column_norm: f64,
    /// Coordinates not screened out; the scheduler works on positions in this list.
    active: Vec<u32>,
    /// Position of each coordinate in `active` (`u32::MAX` once screened out).
    active_position: Vec<u32>,
    scheduler: CoordinateScheduler,
    rebuilds: u64,
    /// Round of the last change of each coordinate (`u64::MAX` = never).
    last_change: Vec<u64>,
    /// For recent rounds that a push in flight may not have seen (the round driver says which):
    /// the coordinates each may change (its candidates until it commits, then the ones it
    /// changed), oldest first.
    recent: std::collections::VecDeque<(u64, Vec<(u32, f64)>)>,
    /// Per coordinate, its total change over the rounds a push did not see (zero between uses).
    unseen_total: Vec<f64>,
    /// Marks for building `unseen` without duplicates.
    marked: Vec<bool>,
    phase: Phase,
    started: Instant,
    /// Coordinate updates (kept candidates) so far.
    updates: u64,
    updates_at_last_gap: u64,
    primal: f64,
    /// `X^T theta` of the last gap evaluation; for a column it skipped, the bound on its
    /// absolute value (with the sign of its last full value).
    xt_theta: Vec<f64>,
    /// `X^T theta` at the last full evaluation (empty before the first): with the distance
    /// theta has moved since, it bounds every column's current value.
    snapshot_xt_theta: Vec<f64>,
    /// The columns the next primal gap round computes (`None`: all), and whether it is full.
    gap_columns: Option<Vec<u32>>,
    gap_full: bool,
    /// The largest dual objective evaluated so far (a lower bound on F*).
    best_dual: f64,
    scale: f64,
    /// The trace, one record per gap evaluation.
    pub trace: Vec<TraceRecord>,
    /// Why the solve stopped (set when it does).
    pub stop: Option<StopReason>,
    observer: Option<Observer>,
    // Per-round buffers, kept to avoid allocating in the hot loop.
    proposed: Vec<u32>,
    /// Predicted steps of the active coordinates at the last gap evaluation.
    predicted: Vec<f64>,
    /// Active coordinates that were nonzero or predicted to move at the last gap evaluation.
    working_set: usize,
    /// Positions (in `active`) of the working set at the last gap evaluation, and the next one a
    /// round's sweep share starts from.
    sweep: Vec<u32>,
    sweep_cursor: usize,
    /// Positions (in the round's candidates) kept and dropped by the filter.
    kept: Vec<u32>,
    dropped: Vec<u32>,
    /// The Gram entries among the kept candidates, as adjacency lists (`neighbour_start` indexes
    /// `neighbours` by position in `kept`), and each kept candidate's corrected gradient and
    /// total step this round.
    neighbour_start: Vec<u32>,
    neighbours: Vec<(u32, f64)>,
    /// The round's pairs of kept candidates (indices in `kept`) with their Gram entry.
    kept_pairs: Vec<(u32, u32, f64)>,
    kept_index: Vec<u32>,
    corrected: Vec<f64>,
    round_step: Vec<f64>,
}

impl LeaderState {
    /// A solve starting from `b = 0`.
    pub fn new(
        settings: SolveSettings,
        column_norms2: Vec<f64>,
        observer: Option<Observer>,
    ) -> Self {
        let d = column_norms2.len();
        let active: Vec<u32> = (0..d as u32).collect();
        let scheduler = CoordinateScheduler::new(d, settings.scheduler.clone());
        LeaderState {
            settings,
            beta: vec![0.0; d],
            column_norms: column_norms2.iter().map(|n| n.sqrt()).collect(),
            smallest_column_norm: column_norms2
                .iter()
                .fold(f64::INFINITY, |m, &n| m.min(n))
                .sqrt(),
            column_norms2,
            active_position: active.clone(),
            active,
            scheduler,
            rebuilds: 0,
            last_change: vec![u64::MAX; d],
            recent: std::collections::VecDeque::new(),
            unseen_total: vec![0.0; d],
            marked: vec![false; d],
            phase: Phase::Start,
            started: Instant::now(),
            updates: 0,
            updates_at_last_gap: 0,
            primal: f64::NAN,
            xt_theta: Vec::new(),
            snapshot_xt_theta: Vec::new(),
            gap_columns: None,
            gap_full: true,
            best_dual: f64::NEG_INFINITY,
            scale: 1.0,
            trace: Vec::new(),
            stop: None,
            observer,
            proposed: Vec::new(),
            predicted: Vec::new(),
            working_set: 0,
            kept: Vec::new(),
            dropped: Vec::new(),
            sweep: Vec::new(),
            sweep_cursor: 0,
            neighbour_start: Vec::new(),
            neighbours: Vec::new(),
            kept_pairs: Vec::new(),
            kept_index: Vec::new(),
            corrected: Vec::new(),
            round_step: Vec::new(),
        }
    }

    /// Passes over the coordinates so far (coordinate updates / d).
    pub fn passes(&self) -> f64 {
        self.updates as f64 / self.beta.len().max(1) as f64
    }

    /// Seconds since the solve started.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Coordinates not screened out.
    pub fn active_coordinates(&self) -> usize {
        self.active.len()
    }

    /// Whether the next round should evaluate the gap. Every evaluation also refreshes the
    /// priorities from the full gradient, which is worth most when few coordinates are moving:
    /// so the interval is `gap_every` times the working set (coordinates that are nonzero or
    /// were predicted to move), but at least `gap_every * d / 20` updates, because an
    /// evaluation costs a pass over all of X.
    fn gap_due(&self) -> bool {
        let d = self.beta.len().max(1) as f64;
        let interval = self.settings.gap_every * (self.working_set as f64).max(d / 20.0);
        (self.updates - self.updates_at_last_gap) as f64 >= interval
            || self.passes() >= self.settings.max_passes
            || self.seconds() >= self.settings.max_seconds
            || self.active.is_empty()
    }

    /// The coordinates that may change in the rounds `rounds`, whose updates a push will not see.
    fn unseen_coordinates(&mut self, rounds: &Range<u64>) -> Vec<u32> {
        let mut unseen = Vec::new();
        for (_, coordinates) in self.recent.iter().filter(|(r, _)| rounds.contains(r)) {
            for &(j, _) in coordinates {
                if !std::mem::replace(&mut self.marked[j as usize], true) {
                    unseen.push(j);
                }
            }
        }
        for &j in &unseen {
            self.marked[j as usize] = false;
        }
        unseen
    }

    /// Coordinate rounds: filter, step, report to the scheduler.
    #[allow(clippy::too_many_arguments)]
    fn commit_coordinates(
        &mut self,
        round: u64,
        unseen_rounds: &Range<u64>,
        candidates: &[u32],
        unseen: &[u32],
        gradient: &[f64],
        curvature: &[f64],
        pair_dots: &[(u32, f64)],
        with_pairs: bool,
    ) -> Vec<(u32, f64)> {
        let n = candidates.len();
        let m = unseen.len();
        let total = m + n;
        // Whether a coordinate last changed in a round this push did not see.
        let unseen_change = |last: u64| unseen_rounds.contains(&last);
        // |corr| of a pair of positions in `unseen ++ candidates`.
        let norms2 = &self.column_norms2;
        let coordinate = |position: usize| {
            if position < m {
                unseen[position]
            } else {
                candidates[position - m]
            }
        };
        let abs_corr = |a: usize, b: usize, dot: f64| {
            let norms = (norms2[coordinate(a) as usize] * norms2[coordinate(b) as usize]).sqrt();
            if norms > 0.0 {
                (dot / norms).abs()
            } else {
                0.0
            }
        };
        // A candidate is excluded if it, or a coordinate correlated with it, changed in a round
        // this push did not see (its statistics are stale); the others go through the greedy
        // dependency filter on the listed conflicting pairs.
        let mut excluded: Vec<bool> = candidates
            .iter()
            .map(|&j| unseen_change(self.last_change[j as usize]))
            .collect();
        let mut conflicts = Vec::new();
        // With the filter off (rho >= 1) and sequential steps, which also correct for the changes
        // the push did not see, no pair can conflict that matters: skip the pass over the pairs.
        let filter_needed = self.settings.rho < 1.0 || self.settings.inner_passes == 0;
        if with_pairs && filter_needed {
            let rho = self.settings.rho;
            for &(key, dot) in pair_dots {
                let (a, b) = pair_of(key, total);
                if b < m || abs_corr(a, b, dot) < rho {
                    continue;
                }
                if a >= m {
                    conflicts.push(((a - m) as u32, (b - m) as u32));
                } else if unseen_change(self.last_change[unseen[a] as usize]) {
                    excluded[b - m] = true;
                }
            }
        }
        dependency_filter_pairs(n, &excluded, &conflicts, &mut self.kept, &mut self.dropped);
        // Steps for the kept candidates.
        if self.settings.inner_passes > 0 && with_pairs {
            let unseen_delta = self.unseen_deltas(unseen_rounds, unseen);
            self.sequential_steps(candidates, &unseen_delta, gradient, curvature, pair_dots);
        } else {
            self.round_step.clear();
            for &position in &self.kept {
                let position = position as usize;
                let j = candidates[position] as usize;
                let g = gradient[position];
                let step =
                    coordinate_step(self.beta[j], g, curvature[position], self.settings.lambda)
                        - self.beta[j];
                self.round_step.push(step);
            }
        }
        let mut deltas = Vec::with_capacity(self.kept.len());
        for (&position, &delta) in self.kept.iter().zip(&self.round_step) {
            let j = candidates[position as usize];
            self.scheduler
                .report_change(self.active_position[j as usize], delta);
            if delta != 0.0 {
                self.beta[j as usize] += delta;
                self.last_change[j as usize] = round;
                deltas.push((j, delta));
            }
        }
        for &position in &self.dropped {
            self.scheduler
                .defer(self.active_position[candidates[position as usize] as usize]);
        }
        self.updates += self.kept.len() as u64;
        if let Some(entry) = self.recent.iter_mut().find(|(r, _)| *r == round) {
            entry.1.clone_from(&deltas);
        }
        deltas
    }

    /// For each coordinate of `unseen` (the task of a round), its total change over the rounds
    /// `rounds`, which the push did not see; all of them have committed by the time the round
    /// does.
    fn unseen_deltas(&mut self, rounds: &Range<u64>, unseen: &[u32]) -> Vec<f64> {
        if unseen.is_empty() {
            return Vec::new();
        }
        let window = |r: u64| rounds.contains(&r);
        for (_, deltas) in self.recent.iter().filter(|(r, _)| window(*r)) {
            for &(j, delta) in deltas {
                self.unseen_total[j as usize] += delta;
            }
        }
        let totals = unseen
            .iter()
            .map(|&j| self.unseen_total[j as usize])
            .collect();
        for (_, deltas) in self.recent.iter().filter(|(r, _)| window(*r)) {
            for &(j, _) in deltas {
                self.unseen_total[j as usize] = 0.0;
            }
        }
        totals
    }

    /// Gauss-Seidel steps over the kept candidates (see [`SolveSettings::inner_passes`]):
    /// fills `round_step` (one total step per kept candidate) without touching `beta`.
    /// `pair_dots` are over positions in `unseen ++ candidates`, `m` of them unseen.
    fn sequential_steps(
        &mut self,
        candidates: &[u32],
        unseen_delta: &[f64],
        gradient: &[f64],
        curvature: &[f64],
        pair_dots: &[(u32, f64)],
    ) {
        let lambda = self.settings.lambda;
        let m = unseen_delta.len();
        let total = m + gradient.len();
        let kept_count = self.kept.len();
        // Position in the candidates -> index in `kept`.
        self.kept_index.clear();
        self.kept_index.resize(gradient.len(), u32::MAX);
        for (index, &position) in self.kept.iter().enumerate() {
            self.kept_index[position as usize] = index as u32;
        }
        // The gradients from the push miss the changes of the rounds it did not see: add them
        // through the Gram entries, `g_j + sum_k x_j . x_k delta_k`. The pairs of kept
        // candidates (decoded once: a key costs two integer divisions) make adjacency lists, by
        // counting then placing.
        self.corrected.clear();
        self.corrected.extend(
            self.kept
                .iter()
                .map(|&position| gradient[position as usize]),
        );
        self.kept_pairs.clear();
        for &(key, dot) in pair_dots {
            let (a, b) = pair_of(key, total);
            if a < m {
                if b >= m && unseen_delta[a] != 0.0 {
                    let kb = self.kept_index[b - m];
                    if kb != u32::MAX {
                        self.corrected[kb as usize] += dot * unseen_delta[a];
                    }
                }
                continue;
            }
            let (ka, kb) = (self.kept_index[a - m], self.kept_index[b - m]);
            if ka != u32::MAX && kb != u32::MAX {
                self.kept_pairs.push((ka, kb, dot));
            }
        }
        self.neighbour_start.clear();
        self.neighbour_start.resize(kept_count + 1, 0);
        for &(a, b, _) in &self.kept_pairs {
            self.neighbour_start[a as usize + 1] += 1;
            self.neighbour_start[b as usize + 1] += 1;
        }
        for index in 0..kept_count {
            self.neighbour_start[index + 1] += self.neighbour_start[index];
        }
        self.neighbours.clear();
        self.neighbours
            .resize(self.neighbour_start[kept_count] as usize, (0, 0.0));
        let mut fill: Vec<u32> = self.neighbour_start[..kept_count].to_vec();
        for &(a, b, dot) in &self.kept_pairs {
            let (a, b) = (a as usize, b as usize);
            self.neighbours[fill[a] as usize] = (b as u32, dot);
            fill[a] += 1;
            self.neighbours[fill[b] as usize] = (a as u32, dot);
            fill[b] += 1;
        }
        self.round_step.clear();
        self.round_step.resize(kept_count, 0.0);
        let mut first_pass_decrease = 0.0;
        for pass in 0..self.settings.inner_passes {
            // The objective decrease of a step is at least h delta^2 / 2; its sum over a pass
            // measures how much the pass still achieved.
            let mut decrease = 0.0;
            for index in 0..kept_count {
                let position = self.kept[index] as usize;
                let j = candidates[position] as usize;
                let h = curvature[position];
                let current = self.beta[j] + self.round_step[index];
                let delta = coordinate_step(current, self.corrected[index], h, lambda) - current;
                if delta == 0.0 {
                    continue;
                }
                self.round_step[index] += delta;
                self.corrected[index] += h * delta;
                let (start, end) = (
                    self.neighbour_start[index] as usize,
                    self.neighbour_start[index + 1] as usize,
                );
                for &(other, dot) in &self.neighbours[start..end] {
                    self.corrected[other as usize] += dot * delta;
                }
                decrease += h * delta * delta;
            }
            if pass == 0 {
                first_pass_decrease = decrease;
            }
            if decrease <= 1e-3 * first_pass_decrease {
                break;
            }
        }
    }

    /// Chooses the columns of the coming primal gap round, given `change = ||theta - theta_s||`
    /// where `theta_s` is the dual point of the last full evaluation.
    ///
    /// `|x_j . theta| <= |x_j . theta_s| + ||x_j|| change =: ub_j`. A zero coefficient with
    /// `ub_j < lambda` can be skipped without changing anything the evaluation decides: the dual
    /// scale `lambda / max(lambda, max_j |x_j . theta|)` ignores columns below lambda, so the
    /// gap is exactly the full evaluation's; the column's predicted step is 0 either way; and
    /// screening tests `ub_j` in place of the value, which is safe. Near the optimum theta moves
    /// little, so most of X is not read. When more than an eighth of the active columns would be
    /// read, the evaluation is full and becomes the new reference (theta's distance from it
    /// restarts at 0; measured on the benchmark problem, a half or a quarter kept too many
    /// partial evaluations reading too much).
    fn select_gap_columns(&mut self, change: f64) {
        let lambda = self.settings.lambda;
        // A relative margin for the rounding in the sums behind `ub_j`.
        let threshold = lambda * (1.0 - 1e-9);
        let mut listed = Vec::new();
        for &j in &self.active {
            let j = j as usize;
            let snapshot = self.snapshot_xt_theta[j];
            let bound = snapshot.abs() + self.column_norms[j] * change;
            // A NaN bound (diverging solve) lists the column.
            if self.beta[j] != 0.0 || bound.is_nan() || bound >= threshold {
                listed.push(j as u32);
            } else {
                // Stands in for the value until the evaluation; a full one overwrites it.
                self.xt_theta[j] = bound.copysign(snapshot);
            }
        }
        self.gap_full = 8 * listed.len() > self.active.len();
        self.gap_columns = if self.gap_full {
            (self.active.len() < self.beta.len()).then(|| self.active.clone())
        } else {
            Some(listed)
        };
    }

    /// After a gap evaluation, which computed every coordinate's gradient `-x_j . theta`: give
    /// each active coordinate the priority of the step it would take now (the STRADS weight
    /// `delta^2 + eta` with a predicted instead of a past delta), so the scheduler goes straight
    /// to the coordinates that violate their optimality conditions, with no uniform pass.
    fn refresh_priorities(&mut self) {
        let lambda = self.settings.lambda;
        let mut steps = std::mem::take(&mut self.predicted);
        steps.clear();
        self.sweep.clear();
        // One pass (this runs after every gap evaluation, over every active coordinate): the
        // predicted steps, the largest of them, and the working set for the sweep.
        let mut largest = 0.0f64;
        for (position, &j) in self.active.iter().enumerate() {
            let j = j as usize;
            // The curvature bound L ||x_j||^2 is exact for the squared loss.
            let h = self.settings.smoothness * self.column_norms2[j];
            let beta = self.beta[j];
            let step = coordinate_step(beta, -self.xt_theta[j], h, lambda) - beta;
            largest = largest.max(step * step);
            if step != 0.0 || beta != 0.0 {
                self.sweep.push(position as u32);
            }
            steps.push(step);
        }
        // The floor is relative to the largest predicted step, so it follows the progress of the
        // solve and does not depend on the scale of the data.
        self.scheduler
            .set_eta(self.settings.scheduler.eta * largest);
        self.scheduler.report_all(&steps);
        self.scheduler.end_first_pass();
        self.sweep_cursor = 0;
        self.working_set = self.sweep.len();
        // Rounds grow with the working set (fewer, larger rounds amortise the per-round cost when
        // tens of thousands of coordinates move), up to 256 candidates or the configured size.
        let base = self.settings.scheduler.schedule_size;
        self.scheduler
            .set_schedule_size((self.working_set / 256).clamp(base, base.max(256)));
        self.predicted = steps;
    }

    /// After a gap evaluation: drop the coordinates the gap-safe rule proves zero at the optimum,
    /// zeroing any that are not zero yet. Returns those changes.
    fn screen(&mut self, gap: f64) -> Vec<(u32, f64)> {
        let radius = (2.0 * self.settings.smoothness * gap).sqrt();
        let lambda = self.settings.lambda;
        let mut deltas = Vec::new();
        // No column can pass the test while the sphere alone reaches lambda: skip the pass.
        if radius * self.smallest_column_norm >= lambda {
            return deltas;
        }
        let before = self.active.len();
        let (beta, xt_theta, norms, scale) = (
            &mut self.beta,
            &self.xt_theta,
            &self.column_norms,
            self.scale,
        );
        self.active.retain(|&j| {
            let j = j as usize;
            let safe_zero = (scale * xt_theta[j]).abs() + radius * norms[j] < lambda;
            if safe_zero && beta[j] != 0.0 {
                deltas.push((j as u32, -beta[j]));
                beta[j] = 0.0;
            }
            !safe_zero
        });
        if self.active.len() < before {
            // Screening happens between barrier rounds, so no coordinate round is in flight.
            self.active_position.fill(u32::MAX);
            for (position, &j) in self.active.iter().enumerate() {
                self.active_position[j as usize] = position as u32;
            }
            self.rebuilds += 1;
            let mut params = self.settings.scheduler.clone();
            params.seed = params.seed.wrapping_add(self.rebuilds);
            self.scheduler = CoordinateScheduler::new(self.active.len(), params);
        }
        deltas
    }

    /// The STRADS schedule step: what round `round` does; if it runs pipelined, its push will
    /// not see the updates of the rounds `unseen` (the round driver's word).
    pub fn schedule(&mut self, round: u64, unseen_rounds: Range<u64>) -> Schedule<Task> {
        let leader = self;
        match leader.phase {
            Phase::Done => Schedule::Finished,
            Phase::Start => {
                leader.phase = Phase::GapPrimal;
                Schedule::Barrier(Task::GapPrimal {
                    columns: None,
                    snapshot: true,
                })
            }
            Phase::GapChange | Phase::GapPrimal | Phase::GapDual => Schedule::Wait,
            Phase::GapPrimalDue => {
                leader.phase = Phase::GapPrimal;
                Schedule::Barrier(Task::GapPrimal {
                    columns: leader.gap_columns.take(),
                    snapshot: leader.gap_full,
                })
            }
            Phase::GapDualDue { scale } => {
                leader.phase = Phase::GapDual;
                Schedule::Barrier(Task::GapDual { scale })
            }
            Phase::Boundary => {
                leader.phase = Phase::Descent;
                Schedule::Pause
            }
            Phase::Descent if leader.gap_due() => {
                leader.phase = Phase::GapChange;
                Schedule::Barrier(Task::GapChange)
            }
            Phase::Descent => {
                leader.scheduler.propose(&mut leader.proposed);
                // The sweep share: a coordinate's priority is its last step, so one whose
                // correlated neighbours moved after its own update is underweighted until the next
                // gap evaluation; visiting the working set cyclically as well bounds how long any
                // of it goes unvisited (measured: a third fewer updates to converge at
                // lambda = 0.1 lambda_max on the benchmark problem).
                let share = (leader.proposed.len() as f64 * leader.settings.sweep_share).round();
                let share = (share as usize).min(leader.sweep.len());
                let candidates = {
                    let (active, marked) = (&leader.active, &mut leader.marked);
                    let mut candidates: Vec<u32> = leader
                        .proposed
                        .iter()
                        .map(|&position| active[position as usize])
                        .collect();
                    for &j in &candidates {
                        marked[j as usize] = true;
                    }
                    for _ in 0..share {
                        let j = active[leader.sweep[leader.sweep_cursor] as usize];
                        leader.sweep_cursor = (leader.sweep_cursor + 1) % leader.sweep.len();
                        if !std::mem::replace(&mut marked[j as usize], true) {
                            candidates.push(j);
                        }
                    }
                    for &j in &candidates {
                        marked[j as usize] = false;
                    }
                    candidates
                };
                let with_pairs = leader.settings.rho < 1.0 || leader.settings.inner_passes > 0;
                let unseen = if with_pairs {
                    leader.unseen_coordinates(&unseen_rounds)
                } else {
                    Vec::new()
                };
                if leader.settings.staleness > 0 {
                    // The candidates may change; their deltas replace this at the commit.
                    leader
                        .recent
                        .push_back((round, candidates.iter().map(|&j| (j, 0.0)).collect()));
                }
                Schedule::Run(Task::Coordinates {
                    candidates,
                    unseen,
                    with_pairs,
                })
            }
        }
    }

    /// The STRADS pull step: commits round `round` from the summed partials; its push did not
    /// see the updates of the rounds `unseen_rounds` (the round driver's word).
    pub fn pull(
        &mut self,
        round: u64,
        unseen_rounds: Range<u64>,
        task: Task,
        sum: Partial,
    ) -> Update {
        let leader = self;
        // No push from now on misses a round before these (the driver's unseen rounds only move
        // forward).
        while leader
            .recent
            .front()
            .is_some_and(|(r, _)| *r < unseen_rounds.start)
        {
            leader.recent.pop_front();
        }
        match (task, sum) {
            (
                Task::Coordinates {
                    candidates,
                    unseen,
                    with_pairs,
                },
                Partial::Coordinates {
                    gradient,
                    curvature,
                    pair_dots,
                },
            ) => Update::Deltas(leader.commit_coordinates(
                round,
                &unseen_rounds,
                &candidates,
                &unseen,
                &gradient,
                &curvature,
                &pair_dots,
                with_pairs,
            )),
            (Task::GapChange, Partial::GapChange { change2 }) => {
                leader.select_gap_columns(change2.sqrt());
                leader.phase = Phase::GapPrimalDue;
                Update::Deltas(Vec::new())
            }
            (Task::GapPrimal { columns, snapshot }, Partial::GapPrimal { xt_theta, loss }) => {
                let lambda = leader.settings.lambda;
                let l1: f64 = leader.beta.iter().map(|b| b.abs()).sum();
                leader.primal = loss + lambda * l1;
                // Once coordinates are screened out, the gap is that of the problem restricted to
                // the active ones: screening is safe, so that problem has the same optimal value
                // and the same objective at the current b (screened coefficients are 0), and its
                // gap still bounds F(b) - F*. Its dual point only needs to be feasible for the
                // active columns, so screened columns are never read again.
                let max_abs = xt_theta.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                let xt_theta = match columns {
                    None => xt_theta,
                    Some(columns) => {
                        let mut full = std::mem::take(&mut leader.xt_theta);
                        full.resize(leader.beta.len(), 0.0);
                        for (&j, &value) in columns.iter().zip(&xt_theta) {
                            full[j as usize] = value;
                        }
                        full
                    }
                };
                let scale = if max_abs > lambda {
                    lambda / max_abs
                } else {
                    1.0
                };
                if snapshot {
                    leader.snapshot_xt_theta.clone_from(&xt_theta);
                }
                leader.xt_theta = xt_theta;
                leader.scale = scale;
                leader.phase = Phase::GapDualDue { scale };
                Update::Deltas(Vec::new())
            }
            (Task::GapDual { .. }, Partial::GapDual { dual }) => {
                let objective = leader.primal;
                // Every dual point evaluated so far was feasible (for the coordinates then
                // active, a superset of today's), so each of their values bounds F* from below
                // and the best one certifies the objective: the current point's value jumps
                // around as single coordinates cross lambda, the best one only rises. Screening
                // needs the gap of the sphere's own centre, the current point.
                leader.best_dual = leader.best_dual.max(dual);
                // Rounding can make a tiny gap negative; NaN stays NaN (divergence is caught below).
                let gap_of = |dual: f64| {
                    if objective - dual < 0.0 {
                        0.0
                    } else {
                        objective - dual
                    }
                };
                let (gap, current_gap) = (gap_of(leader.best_dual), gap_of(dual));
                leader.updates_at_last_gap = leader.updates;
                let record = TraceRecord {
                    iteration: leader.passes(),
                    seconds: leader.seconds(),
                    objective,
                    duality_gap: gap,
                    nnz: leader.beta.iter().filter(|b| **b != 0.0).count(),
                    rounds: round + 1,
                    active: leader.active.len(),
                };
                if let Some(observer) = &leader.observer {
                    observer(&record);
                }
                leader.trace.push(record);
                leader.phase = Phase::Descent;
                // Coordinate descent never goes far above F(0) unless parallel or stale updates of
                // dependent coordinates overshoot; a thousandfold rise (or NaN) is divergence.
                let start = leader
                    .trace
                    .first()
                    .map_or(objective, |first| first.objective);
                if !(objective.is_finite() && objective <= 1e3 * start && dual.is_finite()) {
                    leader.stop = Some(StopReason::Diverged);
                } else if gap <= leader.settings.tol * objective.abs() {
                    leader.stop = Some(StopReason::Converged);
                } else if leader.passes() >= leader.settings.max_passes {
                    leader.stop = Some(StopReason::MaxIterations);
                } else if leader.seconds() >= leader.settings.max_seconds {
                    leader.stop = Some(StopReason::MaxSeconds);
                }
                if leader.stop.is_some() {
                    leader.phase = Phase::Done;
                    return Update::Deltas(Vec::new());
                }
                let deltas = if leader.settings.screening {
                    leader.screen(current_gap)
                } else {
                    Vec::new()
                };
                // Coefficients zeroed by screening are changes like any other: with rounds in
                // flight, the next rounds must know they did not see them.
                for &(j, _) in &deltas {
                    leader.last_change[j as usize] = round;
                }
                if leader.settings.staleness > 0 && !deltas.is_empty() {
                    leader.recent.push_back((round, deltas.clone()));
                }
                leader.refresh_priorities();
                if leader.settings.pause_after_evaluations {
                    leader.phase = Phase::Boundary;
                }
                Update::Deltas(deltas)
            }
            _ => unreachable!("a partial answers its round's task"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse_regression::kernels::{pair_key, soft_threshold};
    use rand::{Rng, SeedableRng};
    use strads_core::SchedulerKind;

    /// A small dense problem with correlated columns: `x_j = z + noise_j` column by column.
    fn correlated_problem(n: usize, d: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let shared: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let columns: Vec<Vec<f64>> = (0..d)
            .map(|_| {
                shared
                    .iter()
                    .map(|s| s + 0.5 * rng.gen_range(-1.0..1.0))
                    .collect()
            })
            .collect();
        let y = (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect();
        (columns, y)
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn leader(d: usize, lambda: f64, inner_passes: usize, norms2: Vec<f64>) -> LeaderState {
        let settings = SolveSettings {
            lambda,
            tol: 1e-12,
            max_passes: 1e9,
            max_seconds: f64::INFINITY,
            gap_every: 1.0,
            rho: 1.0,
            staleness: 0,
            screening: false,
            sweep_share: 0.0,
            smoothness: 1.0,
            inner_passes,
            scheduler: SchedulerParams {
                kind: SchedulerKind::Cyclic,
                schedule_size: d,
                eta: 1e-9,
                seed: 1,
            },
            pause_after_evaluations: false,
        };
        LeaderState::new(settings, norms2, None)
    }

    /// One round over all coordinates at b = 0 with the workers' statistics computed here
    /// densely; returns the committed b.
    fn one_round(columns: &[Vec<f64>], y: &[f64], lambda: f64, inner_passes: usize) -> Vec<f64> {
        let d = columns.len();
        let norms2: Vec<f64> = columns.iter().map(|c| dot(c, c)).collect();
        let mut state = leader(d, lambda, inner_passes, norms2.clone());
        let candidates: Vec<u32> = (0..d as u32).collect();
        // Squared loss at b = 0: f'(p) = p - y = -y.
        let gradient: Vec<f64> = columns.iter().map(|c| -dot(c, y)).collect();
        let mut pair_dots = Vec::new();
        for a in 0..d {
            for b in a + 1..d {
                pair_dots.push((pair_key(a, b, d), dot(&columns[a], &columns[b])));
            }
        }
        state.commit_coordinates(
            0,
            &(0..0),
            &candidates,
            &[],
            &gradient,
            &norms2,
            &pair_dots,
            true,
        );
        state.beta
    }

    /// Cyclic coordinate descent on the residual, written independently of the leader.
    fn cyclic_descent(columns: &[Vec<f64>], y: &[f64], lambda: f64, passes: usize) -> Vec<f64> {
        let start = vec![0.0; columns.len()];
        cyclic_descent_from(columns, y, lambda, start, 0..columns.len(), passes)
    }

    /// Cyclic coordinate descent from `b` over the coordinates in `sweep` only.
    fn cyclic_descent_from(
        columns: &[Vec<f64>],
        y: &[f64],
        lambda: f64,
        mut b: Vec<f64>,
        sweep: std::ops::Range<usize>,
        passes: usize,
    ) -> Vec<f64> {
        let mut residual: Vec<f64> = (0..y.len())
            .map(|i| y[i] - columns.iter().zip(&b).map(|(c, bj)| c[i] * bj).sum::<f64>())
            .collect();
        for _ in 0..passes {
            for j in sweep.clone() {
                let column = &columns[j];
                let norm2 = dot(column, column);
                let new = soft_threshold(b[j] * norm2 + dot(column, &residual), lambda) / norm2;
                for (r, x) in residual.iter_mut().zip(column) {
                    *r -= (new - b[j]) * x;
                }
                b[j] = new;
            }
        }
        b
    }

    #[test]
    fn one_inner_pass_is_a_pass_of_sequential_coordinate_descent() {
        let (columns, y) = correlated_problem(30, 8);
        let lambda = 0.05 * columns.iter().map(|c| dot(c, &y).abs()).fold(0.0, f64::max);
        let round = one_round(&columns, &y, lambda, 1);
        let sequential = cyclic_descent(&columns, &y, lambda, 1);
        assert!(round.iter().any(|&b| b != 0.0));
        for (a, b) in round.iter().zip(&sequential) {
            assert!(
                (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                "{round:?} vs {sequential:?}"
            );
        }
    }

    #[test]
    fn many_inner_passes_solve_the_round_subproblem() {
        let (columns, y) = correlated_problem(30, 8);
        let lambda = 0.05 * columns.iter().map(|c| dot(c, &y).abs()).fold(0.0, f64::max);
        let round = one_round(&columns, &y, lambda, 10_000);
        // The passes stop once a pass gains a thousandth of the first; compare with the optimum
        // loosely, and against a single pass to see that the passes went on.
        let optimum = cyclic_descent(&columns, &y, lambda, 10_000);
        let one_pass = cyclic_descent(&columns, &y, lambda, 1);
        let distance = |b: &[f64]| {
            b.iter()
                .zip(&optimum)
                .map(|(x, o)| (x - o).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        assert!(
            distance(&round) < 0.1 * distance(&one_pass),
            "{round:?} vs {optimum:?}"
        );
    }

    /// With a round in flight, a push misses the changes of the round before; the sequential
    /// steps add them through the Gram entries, so the round takes exactly the steps sequential
    /// coordinate descent would take from the current coefficients.
    #[test]
    fn stale_gradients_are_corrected_for_the_unseen_changes() {
        let (columns, y) = correlated_problem(30, 6);
        let lambda = 0.05 * columns.iter().map(|c| dot(c, &y).abs()).fold(0.0, f64::max);
        let norms2: Vec<f64> = columns.iter().map(|c| dot(c, c)).collect();
        let mut state = leader(6, lambda, 1, norms2.clone());
        state.settings.staleness = 1;
        // Round 0 changed coordinates 0 and 1; round 1's push ran at b = 0 without seeing it.
        let unseen_changes = [(0u32, 0.3), (1u32, -0.2)];
        for &(j, delta) in &unseen_changes {
            state.beta[j as usize] = delta;
            state.last_change[j as usize] = 0;
        }
        state.recent.push_back((0, unseen_changes.to_vec()));
        let unseen = [0u32, 1];
        let candidates = [2u32, 3, 4, 5];
        let positions: Vec<u32> = unseen.iter().chain(&candidates).copied().collect();
        let stale_gradient: Vec<f64> = candidates
            .iter()
            .map(|&j| -dot(&columns[j as usize], &y))
            .collect();
        let curvature: Vec<f64> = candidates.iter().map(|&j| norms2[j as usize]).collect();
        let mut pair_dots = Vec::new();
        for a in 0..positions.len() {
            for b in a + 1..positions.len() {
                let (ja, jb) = (positions[a] as usize, positions[b] as usize);
                pair_dots.push((pair_key(a, b, 6), dot(&columns[ja], &columns[jb])));
            }
        }
        state.commit_coordinates(
            1,
            &(0..1),
            &candidates,
            &unseen,
            &stale_gradient,
            &curvature,
            &pair_dots,
            true,
        );
        // Sequential coordinate descent over 2..5 from b = (0.3, -0.2, 0, 0, 0, 0).
        let start = vec![0.3, -0.2, 0.0, 0.0, 0.0, 0.0];
        let b = cyclic_descent_from(&columns, &y, lambda, start, 2..6, 1);
        assert!(b[2..].iter().any(|&v| v != 0.0));
        for j in 2..6 {
            assert!(
                (state.beta[j] - b[j]).abs() <= 1e-12 * (1.0 + b[j].abs()),
                "{:?} vs {b:?}",
                state.beta
            );
        }
    }

    /// Columns left out of a partial gap evaluation are exactly those whose bound proves them
    /// below lambda, the bound holds for the true `x_j . theta`, and nonzero coefficients are
    /// always computed.
    #[test]
    fn partial_gap_evaluations_skip_only_columns_proven_below_lambda() {
        let (n, d) = (40, 200);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let columns: Vec<Vec<f64>> = (0..d)
            .map(|_| (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect();
        let norms2: Vec<f64> = columns.iter().map(|c| dot(c, c)).collect();
        let theta_s: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let theta: Vec<f64> = theta_s
            .iter()
            .map(|t| t + 0.02 * rng.gen_range(-1.0..1.0))
            .collect();
        let change = theta
            .iter()
            .zip(&theta_s)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        let snapshot: Vec<f64> = columns.iter().map(|c| dot(c, &theta_s)).collect();
        // lambda between the typical and the largest |x_j . theta_s|, so that some columns are
        // close enough to it to be listed and most are not.
        let largest = snapshot.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let lambda = 0.8 * largest;
        let mut state = leader(d, lambda, 0, norms2.clone());
        state.snapshot_xt_theta = snapshot.clone();
        state.xt_theta = snapshot.clone();
        state.beta[7] = 0.5;
        state.select_gap_columns(change);
        let listed = state
            .gap_columns
            .clone()
            .expect("a partial evaluation lists its columns");
        assert!(
            !state.gap_full && listed.len() < d / 8,
            "{} listed",
            listed.len()
        );
        assert!(
            listed.contains(&7),
            "a nonzero coefficient is always computed"
        );
        for j in 0..d {
            let bound = snapshot[j].abs() + norms2[j].sqrt() * change;
            let is_listed = listed.contains(&(j as u32));
            assert_eq!(
                is_listed,
                j == 7 || bound >= lambda * (1.0 - 1e-9),
                "column {j}"
            );
            if !is_listed {
                let truth = dot(&columns[j], &theta).abs();
                assert!(truth <= state.xt_theta[j].abs() && state.xt_theta[j].abs() < lambda);
            }
        }
    }
}
