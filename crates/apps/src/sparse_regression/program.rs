//! Scheduled coordinate descent as a round program: the STRADS schedule / push / pull.
//!
//! A coordinate round: the leader proposes candidates (priority, cyclic or random) and asks for
//! the correlations of candidate pairs it has not cached; every worker returns, for each
//! candidate, `g_j` and `h_j` over its rows plus the partial dot products of the requested pairs;
//! the leader sums them, keeps the candidates that pass the dependency filter (no two kept with
//! |corr| >= rho), takes a coordinate step for each and broadcasts the changes; every worker
//! applies them to its predictions.
//!
//! Every so often two barrier rounds compute the duality gap: the first sums `X^T theta` and the
//! loss (theta = -f'(p)), the second the dual objective at the scaled, feasible dual point.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use strads_core::{dependency_filter, CoordinateScheduler, PairCorrelationCache};
use strads_engine::rounds::{RoundProgram, Schedule};

use super::column_shard::ColumnShard;
use super::kernels::{
    apply_delta, coordinate_statistics, coordinate_step, gradient_dual_point, pair_dots, RowState,
};
use super::loss::Loss;
use super::{Observer, StopReason, TraceRecord};

/// What the leader asks of every worker in a round.
#[derive(Debug, Serialize, Deserialize)]
pub enum Task {
    /// Statistics of these candidates, and partial dot products of these pairs of positions.
    Coordinates {
        /// Candidate coordinates.
        candidates: Vec<u32>,
        /// Pairs `(a, b)` of positions in `candidates` whose correlation is needed.
        pairs: Vec<(u32, u32)>,
    },
    /// `X^T theta` and the loss, for the duality gap.
    GapPrimal,
    /// The dual objective at `scale * theta`.
    GapDual {
        /// The factor that makes the dual point feasible.
        scale: f64,
    },
}

/// A worker's contribution to a round (summed over workers).
#[derive(Debug, Serialize, Deserialize)]
pub enum Partial {
    /// Per candidate `g_j` and `h_j`; per requested pair the dot product.
    Coordinates {
        /// `sum_i x_ij f'(p_i)`.
        gradient: Vec<f64>,
        /// `sum_i x_ij^2 f''(p_i)`.
        curvature: Vec<f64>,
        /// `x_a . x_b` per requested pair.
        pair_dots: Vec<f64>,
    },
    /// `X^T theta` and `sum_i f(p_i)`.
    GapPrimal {
        /// `X^T theta`.
        xt_theta: Vec<f64>,
        /// The loss.
        loss: f64,
    },
    /// `sum_i -f*(-s theta_i)`.
    GapDual {
        /// The dual objective.
        dual: f64,
    },
}

/// What every worker applies after a round.
#[derive(Debug, Serialize, Deserialize)]
pub enum Update {
    /// `b_j += delta` for each pair.
    Deltas(Vec<(u32, f64)>),
    /// Nothing changes (gap rounds).
    Nothing,
}

/// Where the leader is between gap evaluations.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Nothing scheduled yet: the first rounds evaluate the gap at b = 0 (which also proves b = 0
    /// optimal when lambda >= lambda_max).
    Start,
    /// Coordinate rounds.
    Descent,
    /// The first gap round is scheduled.
    GapPrimal,
    /// The first gap round committed; the second is due with this scale.
    GapDualDue { scale: f64 },
    /// The second gap round is scheduled.
    GapDual,
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
    /// Passes between duality-gap evaluations.
    pub gap_every: f64,
    /// Dependency threshold; >= 1 disables the filter.
    pub rho: f64,
    /// Rounds in flight minus one.
    pub staleness: u64,
    /// Capacity of the pair-correlation cache (entries).
    pub cache_capacity: usize,
}

/// The leader's state: coefficients, scheduler, correlation cache, progress.
pub struct LeaderState {
    settings: SolveSettings,
    /// The coefficients.
    pub beta: Vec<f64>,
    column_norms2: Vec<f64>,
    scheduler: CoordinateScheduler,
    cache: PairCorrelationCache,
    /// Round of the last change of each coordinate (`u64::MAX` = never).
    last_change: Vec<u64>,
    phase: Phase,
    started: Instant,
    /// Coordinate updates (kept candidates) so far.
    updates: u64,
    updates_at_last_gap: u64,
    primal: f64,
    /// The trace, one record per gap evaluation.
    pub trace: Vec<TraceRecord>,
    /// Why the solve stopped (set when it does).
    pub stop: Option<StopReason>,
    observer: Option<Observer>,
    candidates: Vec<u32>,
    kept: Vec<u32>,
    dropped: Vec<u32>,
    eligible: Vec<u32>,
    positions: Vec<u32>,
}

impl LeaderState {
    /// A solve starting from `b = 0`.
    pub fn new(
        settings: SolveSettings,
        column_norms2: Vec<f64>,
        scheduler: CoordinateScheduler,
        observer: Option<Observer>,
    ) -> Self {
        let d = column_norms2.len();
        LeaderState {
            cache: PairCorrelationCache::new(settings.cache_capacity),
            settings,
            beta: vec![0.0; d],
            column_norms2,
            scheduler,
            last_change: vec![u64::MAX; d],
            phase: Phase::Start,
            started: Instant::now(),
            updates: 0,
            updates_at_last_gap: 0,
            primal: f64::NAN,
            trace: Vec::new(),
            stop: None,
            observer,
            candidates: Vec::new(),
            kept: Vec::new(),
            dropped: Vec::new(),
            eligible: Vec::new(),
            positions: Vec::new(),
        }
    }

    /// Passes over the coordinates so far.
    pub fn passes(&self) -> f64 {
        self.updates as f64 / self.beta.len().max(1) as f64
    }

    /// Seconds since the solve started.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Cache statistics `(entries, hits, misses)`.
    pub fn cache_stats(&self) -> (usize, u64, u64) {
        (self.cache.len(), self.cache.hits(), self.cache.misses())
    }

    fn gap_due(&self) -> bool {
        let d = self.beta.len().max(1) as f64;
        (self.updates - self.updates_at_last_gap) as f64 >= self.settings.gap_every * d
            || self.passes() >= self.settings.max_passes
            || self.seconds() >= self.settings.max_seconds
    }
}

/// One worker's instance of the program (the leader's also carries [`LeaderState`]).
pub struct CoordinateDescent<L: Loss> {
    shard: ColumnShard,
    rows: RowState,
    scratch: Vec<f64>,
    /// Present on the leader only.
    pub leader: Option<LeaderState>,
    _loss: std::marker::PhantomData<L>,
}

impl<L: Loss> CoordinateDescent<L> {
    /// A worker's program over its shard, starting at `b = 0`.
    pub fn new(shard: ColumnShard, labels: Vec<f64>, leader: Option<LeaderState>) -> Self {
        let scratch = vec![0.0; shard.n_rows];
        CoordinateDescent {
            shard,
            rows: RowState::at_zero::<L>(labels),
            scratch,
            leader,
            _loss: Default::default(),
        }
    }
}

fn add_into(sum: &mut [f64], other: &[f64]) {
    for (s, o) in sum.iter_mut().zip(other) {
        *s += o;
    }
}

impl<L: Loss> RoundProgram for CoordinateDescent<L> {
    type Task = Task;
    type Partial = Partial;
    type Update = Update;

    fn schedule(&mut self, _round: u64, _in_flight: u64) -> Schedule<Task> {
        let leader = self.leader.as_mut().expect("schedule runs on the leader");
        match leader.phase {
            Phase::Done => Schedule::Finished,
            Phase::Start => {
                leader.phase = Phase::GapPrimal;
                Schedule::Barrier(Task::GapPrimal)
            }
            Phase::GapPrimal | Phase::GapDual => Schedule::Wait,
            Phase::GapDualDue { scale } => {
                leader.phase = Phase::GapDual;
                Schedule::Barrier(Task::GapDual { scale })
            }
            Phase::Descent if leader.gap_due() => {
                leader.phase = Phase::GapPrimal;
                Schedule::Barrier(Task::GapPrimal)
            }
            Phase::Descent => {
                let mut candidates = std::mem::take(&mut leader.candidates);
                leader.scheduler.propose(&mut candidates);
                let mut pairs = Vec::new();
                if leader.settings.rho < 1.0 {
                    leader.cache.missing_pairs(&candidates, &mut pairs);
                }
                let task = Task::Coordinates {
                    candidates: candidates.clone(),
                    pairs,
                };
                leader.candidates = candidates;
                Schedule::Run(task)
            }
        }
    }

    fn push(&mut self, _round: u64, task: &Task) -> Partial {
        match task {
            Task::Coordinates { candidates, pairs } => {
                let (gradient, curvature) = candidates
                    .iter()
                    .map(|&j| coordinate_statistics::<L>(&self.shard, j as usize, &self.rows))
                    .unzip();
                let mut dots = Vec::with_capacity(pairs.len());
                pair_dots(&self.shard, candidates, pairs, &mut self.scratch, &mut dots);
                Partial::Coordinates {
                    gradient,
                    curvature,
                    pair_dots: dots,
                }
            }
            Task::GapPrimal => {
                let mut xt_theta = vec![0.0; self.shard.n_cols()];
                gradient_dual_point(&self.shard, &self.rows, &mut xt_theta);
                let loss = self
                    .rows
                    .labels
                    .iter()
                    .zip(&self.rows.predictions)
                    .map(|(&y, &p)| L::value(y, p))
                    .sum();
                Partial::GapPrimal { xt_theta, loss }
            }
            Task::GapDual { scale } => {
                let dual = self
                    .rows
                    .labels
                    .iter()
                    .zip(&self.rows.first)
                    .map(|(&y, &f1)| L::dual_term(y, -f1, *scale))
                    .sum();
                Partial::GapDual { dual }
            }
        }
    }

    fn reduce(&mut self, sum: &mut Partial, other: Partial) {
        match (sum, other) {
            (
                Partial::Coordinates {
                    gradient,
                    curvature,
                    pair_dots,
                },
                Partial::Coordinates {
                    gradient: g,
                    curvature: h,
                    pair_dots: p,
                },
            ) => {
                add_into(gradient, &g);
                add_into(curvature, &h);
                add_into(pair_dots, &p);
            }
            (
                Partial::GapPrimal { xt_theta, loss },
                Partial::GapPrimal {
                    xt_theta: x,
                    loss: l,
                },
            ) => {
                add_into(xt_theta, &x);
                *loss += l;
            }
            (Partial::GapDual { dual }, Partial::GapDual { dual: d }) => *dual += d,
            _ => unreachable!("partials of one round are of one kind"),
        }
    }

    fn pull(&mut self, round: u64, task: Task, sum: Partial) -> Update {
        let leader = self.leader.as_mut().expect("pull runs on the leader");
        match (task, sum) {
            (
                Task::Coordinates { candidates, pairs },
                Partial::Coordinates {
                    gradient,
                    curvature,
                    pair_dots,
                },
            ) => {
                // The cache forgets everything when full, so this round's pairs always fit.
                if leader.cache.len() + pairs.len() > leader.settings.cache_capacity {
                    leader.cache = PairCorrelationCache::new(leader.settings.cache_capacity);
                }
                for (&(a, b), dot) in pairs.iter().zip(&pair_dots) {
                    let (ja, jb) = (candidates[a as usize], candidates[b as usize]);
                    let norms = (leader.column_norms2[ja as usize]
                        * leader.column_norms2[jb as usize])
                        .sqrt();
                    let corr = if norms > 0.0 {
                        (dot / norms).abs()
                    } else {
                        0.0
                    };
                    leader.cache.insert(ja, jb, corr as f32);
                }
                // With rounds in flight, a candidate changed in one of the last `staleness`
                // rounds was measured before that change: skip it this time.
                let staleness = leader.settings.staleness;
                leader.eligible.clear();
                leader.dropped.clear();
                for &j in &candidates {
                    let last = leader.last_change[j as usize];
                    if last != u64::MAX && last + staleness >= round {
                        leader.dropped.push(j);
                    } else {
                        leader.eligible.push(j);
                    }
                }
                let mut kept = std::mem::take(&mut leader.kept);
                let mut dropped = std::mem::take(&mut leader.dropped);
                let eligible = std::mem::take(&mut leader.eligible);
                kept.clear();
                if leader.settings.rho < 1.0 {
                    let cache = &leader.cache;
                    let corr = |a: u32, b: u32| cache.get(a, b).map_or(0.0, f64::from);
                    dependency_filter(
                        &eligible,
                        leader.settings.rho,
                        corr,
                        &mut kept,
                        &mut dropped,
                    );
                } else {
                    kept.extend_from_slice(&eligible);
                }
                // Positions of the kept candidates in the task (the filter preserves order).
                leader.positions.clear();
                let mut next = 0;
                for (position, &j) in candidates.iter().enumerate() {
                    if kept.get(next) == Some(&j) {
                        leader.positions.push(position as u32);
                        next += 1;
                    }
                }
                let mut deltas = Vec::with_capacity(kept.len());
                for (&j, &position) in kept.iter().zip(&leader.positions) {
                    let (g, h) = (gradient[position as usize], curvature[position as usize]);
                    let old = leader.beta[j as usize];
                    let new = coordinate_step(old, g, h, leader.settings.lambda);
                    let delta = new - old;
                    leader.scheduler.report_change(j, delta);
                    if delta != 0.0 {
                        leader.beta[j as usize] = new;
                        leader.last_change[j as usize] = round;
                        deltas.push((j, delta));
                    }
                }
                for &j in &dropped {
                    leader.scheduler.defer(j);
                }
                leader.updates += kept.len() as u64;
                leader.kept = kept;
                leader.dropped = dropped;
                leader.eligible = eligible;
                Update::Deltas(deltas)
            }
            (Task::GapPrimal, Partial::GapPrimal { xt_theta, loss }) => {
                let lambda = leader.settings.lambda;
                let l1: f64 = leader.beta.iter().map(|b| b.abs()).sum();
                leader.primal = loss + lambda * l1;
                let max_abs = xt_theta.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                let scale = if max_abs > lambda {
                    lambda / max_abs
                } else {
                    1.0
                };
                leader.phase = Phase::GapDualDue { scale };
                Update::Nothing
            }
            (Task::GapDual { .. }, Partial::GapDual { dual }) => {
                let objective = leader.primal;
                // Rounding can make a tiny gap negative; NaN stays NaN (divergence is caught below).
                let gap = if objective - dual < 0.0 { 0.0 } else { objective - dual };
                leader.updates_at_last_gap = leader.updates;
                let record = TraceRecord {
                    iteration: leader.passes(),
                    seconds: leader.seconds(),
                    objective,
                    duality_gap: gap,
                    nnz: leader.beta.iter().filter(|b| **b != 0.0).count(),
                    rounds: round + 1,
                };
                if let Some(observer) = &leader.observer {
                    observer(&record);
                }
                leader.trace.push(record);
                leader.phase = Phase::Descent;
                if !(objective.is_finite() && dual.is_finite()) {
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
                }
                Update::Nothing
            }
            _ => unreachable!("a partial answers its round's task"),
        }
    }

    fn apply(&mut self, _round: u64, update: &Update) {
        if let Update::Deltas(deltas) = update {
            for &(j, delta) in deltas {
                apply_delta::<L>(&self.shard, j as usize, delta, &mut self.rows);
            }
        }
    }
}
