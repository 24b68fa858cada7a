//! Scheduled coordinate descent as a round program: the STRADS schedule / push / pull.
//!
//! A coordinate round: the leader proposes candidates (priority, cyclic or random) among the
//! coordinates not yet screened out; every worker returns, for each candidate, `g_j` and `h_j`
//! over its rows, plus the partial dot products of candidate pairs that share a row; the leader
//! sums them, keeps the candidates that pass the dependency filter (no two kept with
//! |corr| >= rho), takes a coordinate step for each and broadcasts the changes; every worker
//! applies them to its predictions.
//!
//! Every so often barrier rounds compute the duality gap: the first measures how far theta
//! (= -f'(p)) moved since the last full evaluation, which lets the leader skip the columns that
//! provably stay below lambda; the second sums `X^T theta` on the others and the loss; the third
//! the dual objective at the scaled, feasible dual point. The
//! gap then also screens coordinates out for good (the gap-safe rule: `b_j = 0` at the optimum
//! when `|x_j . theta| + ||x_j|| sqrt(2 L gap) < lambda`), which shrinks the scheduler's set.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use strads_engine::rounds::{RoundLeader, RoundWorker, RoundsState, Schedule};

use super::column_shard::ColumnShard;
use super::kernels::{
    add_sparse, apply_delta, gradient_dual_point, round_statistics, OverlapScratch, RowState,
};
use super::leader::{LeaderSnapshot, LeaderState};
use super::loss::Loss;
use super::messages::{Partial, Task, Update};

/// One worker's side of the program: its rows, their state and its scratch. The leader's side
/// is [`LeaderState`] (on worker 0 only), whose round methods are below.
pub struct CoordinateDescent<L: Loss> {
    shard: ColumnShard,
    rows: RowState,
    /// `f'(p)` at the last full gap evaluation (theta_s = -this).
    snapshot_first: Vec<f64>,
    overlap: OverlapScratch,
    _loss: std::marker::PhantomData<L>,
}

impl<L: Loss> CoordinateDescent<L> {
    /// A worker's program over its shard, starting at `b = 0`.
    pub fn new(shard: ColumnShard, labels: Vec<f64>) -> Self {
        let overlap = OverlapScratch::new(shard.n_rows);
        CoordinateDescent {
            shard,
            rows: RowState::at_zero::<L>(labels),
            snapshot_first: Vec::new(),
            overlap,
            _loss: Default::default(),
        }
    }
}

/// A worker's checkpoint in the rows layout, taken at a pause of the round driver: the driver's
/// state (with the updates the staleness rule holds back), the rows' predictions and loss
/// derivatives, the dual point of the last full gap evaluation, and on the leader its state.
/// The rows of X and the labels come from the data again.
#[derive(Serialize, Deserialize)]
pub struct RowsSnapshot {
    /// Where this worker's rounds stand.
    pub rounds: RoundsState<Update>,
    rows: RowState,
    snapshot_first: Vec<f64>,
    leader: Option<LeaderSnapshot>,
}

impl<L: Loss> CoordinateDescent<L> {
    /// This worker's checkpoint at a pause, with the driver's `rounds` and, on worker 0, the
    /// leader side.
    pub fn snapshot(
        &self,
        leader: Option<&LeaderState>,
        rounds: RoundsState<Update>,
    ) -> RowsSnapshot {
        RowsSnapshot {
            rounds,
            rows: self.rows.clone(),
            snapshot_first: self.snapshot_first.clone(),
            leader: leader.map(LeaderState::snapshot),
        }
    }

    /// Continues from `snapshot` (this worker's, of the same rows); returns the driver's state.
    pub fn restore(
        &mut self,
        leader: Option<&mut LeaderState>,
        snapshot: RowsSnapshot,
    ) -> Result<RoundsState<Update>, String> {
        if snapshot.rows.predictions.len() != self.rows.predictions.len() {
            return Err(format!(
                "the checkpoint holds {} rows for this worker, it has {}",
                snapshot.rows.predictions.len(),
                self.rows.predictions.len()
            ));
        }
        match (leader, snapshot.leader) {
            (Some(leader), Some(saved)) => leader.restore(saved)?,
            (None, None) => {}
            _ => return Err("the checkpoint is of another worker".into()),
        }
        self.rows = snapshot.rows;
        self.snapshot_first = snapshot.snapshot_first;
        Ok(snapshot.rounds)
    }
}

fn add_into(sum: &mut [f64], other: &[f64]) {
    for (s, o) in sum.iter_mut().zip(other) {
        *s += o;
    }
}

impl<L: Loss> RoundWorker for CoordinateDescent<L> {
    type Task = Task;
    type Partial = Partial;
    type Update = Update;

    fn push(&mut self, _round: u64, task: &Task) -> Partial {
        match task {
            Task::Coordinates {
                candidates,
                unseen,
                with_pairs,
            } => {
                let (mut gradient, mut curvature, mut pair_dots) =
                    (Vec::new(), Vec::new(), Vec::new());
                round_statistics::<L>(
                    &self.shard,
                    &self.rows,
                    unseen,
                    candidates,
                    *with_pairs,
                    &mut self.overlap,
                    &mut gradient,
                    &mut curvature,
                    &mut pair_dots,
                );
                Partial::Coordinates {
                    gradient,
                    curvature,
                    pair_dots,
                }
            }
            Task::GapChange => Partial::GapChange {
                change2: self
                    .rows
                    .first
                    .iter()
                    .zip(&self.snapshot_first)
                    .map(|(&now, &then)| (now - then) * (now - then))
                    .sum(),
            },
            Task::GapPrimal { columns, snapshot } => {
                if *snapshot {
                    self.snapshot_first.clone_from(&self.rows.first);
                }
                let mut xt_theta = Vec::new();
                gradient_dual_point(&self.shard, &self.rows, columns.as_deref(), &mut xt_theta);
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

    fn apply(&mut self, _round: u64, update: &Update) {
        let Update::Deltas(deltas) = update;
        for &(j, delta) in deltas {
            apply_delta::<L>(&self.shard, j as usize, delta, &mut self.rows);
        }
    }
}

/// The leader's side of the rounds: its own `schedule` and `pull` (`leader/`), and the sum of
/// the workers' partials.
impl<L: Loss> RoundLeader<CoordinateDescent<L>> for LeaderState {
    fn schedule(&mut self, round: u64, _in_flight: u64, unseen: Range<u64>) -> Schedule<Task> {
        LeaderState::schedule(self, round, unseen)
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
                add_sparse(pair_dots, &p);
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
            (Partial::GapChange { change2 }, Partial::GapChange { change2: c }) => *change2 += c,
            (Partial::GapDual { dual }, Partial::GapDual { dual: d }) => *dual += d,
            _ => unreachable!("partials of one round are of one kind"),
        }
    }

    fn pull(&mut self, round: u64, unseen: Range<u64>, task: Task, sum: Partial) -> Update {
        LeaderState::pull(self, round, unseen, task, sum)
    }
}
