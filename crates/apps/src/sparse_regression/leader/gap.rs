//! The duality-gap evaluator: the three barrier rounds of an evaluation and what they leave.
//!
//! An evaluation: a round measuring how far theta (= -f'(p)) moved since the last full
//! evaluation, which lets the leader skip the columns that provably stay below lambda
//! ([`GapEvaluator::select_columns`]); a round summing `X^T theta` on the others and the loss (the
//! primal objective); a round summing the dual objective at the scaled, feasible dual point.

use serde::{Deserialize, Serialize};
use strads_engine::rounds::Schedule;

use super::SolveSettings;
use crate::sparse_regression::messages::Task;
use crate::sparse_regression::StopReason;

/// Where an evaluation stands.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(super) enum Stage {
    /// No evaluation under way.
    Idle,
    /// The round measuring how far theta moved is scheduled.
    Change,
    /// That round committed; the primal round is due on the columns it selected.
    PrimalDue,
    /// The primal round is scheduled.
    Primal,
    /// The primal round committed; the dual round is due with this scale.
    DualDue { scale: f64 },
    /// The dual round is scheduled.
    Dual,
}

/// What an evaluation found.
pub(super) struct Evaluation {
    /// The primal objective `F(b)`.
    pub(super) objective: f64,
    /// The dual objective at this evaluation's dual point.
    pub(super) dual: f64,
    /// The gap against the best dual point so far (what certifies the objective).
    pub(super) gap: f64,
    /// The gap against this evaluation's dual point (what screening needs: its sphere's centre).
    pub(super) current_gap: f64,
}

impl Evaluation {
    /// Why the solve stops after this evaluation, if it does; `first_objective` is the first
    /// evaluation's (at b = 0).
    pub(super) fn stop_reason(
        &self,
        settings: &SolveSettings,
        first_objective: f64,
        passes: f64,
        seconds: f64,
    ) -> Option<StopReason> {
        let objective = self.objective;
        // Coordinate descent never goes far above F(0) unless parallel or stale updates of
        // dependent coordinates overshoot; a thousandfold rise (or NaN) is divergence.
        if !(objective.is_finite() && objective <= 1e3 * first_objective && self.dual.is_finite()) {
            Some(StopReason::Diverged)
        } else if self.gap <= settings.tol * objective.abs() {
            Some(StopReason::Converged)
        } else if passes >= settings.max_passes {
            Some(StopReason::MaxIterations)
        } else if seconds >= settings.max_seconds {
            Some(StopReason::MaxSeconds)
        } else {
            None
        }
    }
}

/// The gap evaluations' state, kept from one evaluation to the next.
pub(super) struct GapEvaluator {
    pub(super) stage: Stage,
    /// The primal objective of the evaluation under way (or the last one).
    pub(super) primal: f64,
    /// `X^T theta` of the last evaluation; for a column it skipped, the bound on its absolute
    /// value (with the sign of its last full value).
    pub(super) xt_theta: Vec<f64>,
    /// `X^T theta` at the last full evaluation (empty before the first): with the distance
    /// theta has moved since, it bounds every column's current value.
    pub(super) snapshot_xt_theta: Vec<f64>,
    /// The columns the next primal round computes (`None`: all), and whether it is full.
    pub(super) columns: Option<Vec<u32>>,
    pub(super) full: bool,
    /// The largest dual objective evaluated so far (a lower bound on F*).
    pub(super) best_dual: f64,
    /// The factor that made the last dual point feasible.
    pub(super) scale: f64,
}

impl GapEvaluator {
    /// Before the first evaluation, which is due at once and full (at b = 0; it also proves
    /// b = 0 optimal when lambda >= lambda_max).
    pub(super) fn new() -> Self {
        GapEvaluator {
            stage: Stage::PrimalDue,
            primal: f64::NAN,
            xt_theta: Vec::new(),
            snapshot_xt_theta: Vec::new(),
            columns: None,
            full: true,
            best_dual: f64::NEG_INFINITY,
            scale: 1.0,
        }
    }

    /// Starts an evaluation: its first round's task.
    pub(super) fn begin(&mut self) -> Task {
        self.stage = Stage::Change;
        Task::GapChange
    }

    /// The next round of the evaluation under way.
    pub(super) fn schedule(&mut self) -> Schedule<Task> {
        match self.stage {
            Stage::Idle => unreachable!("no gap evaluation is under way"),
            Stage::Change | Stage::Primal | Stage::Dual => Schedule::Wait,
            Stage::PrimalDue => {
                self.stage = Stage::Primal;
                Schedule::Barrier(Task::GapPrimal {
                    columns: self.columns.take(),
                    snapshot: self.full,
                })
            }
            Stage::DualDue { scale } => {
                self.stage = Stage::Dual;
                Schedule::Barrier(Task::GapDual { scale })
            }
        }
    }

    /// The first round committed: theta moved `sqrt(change2)` since the last full evaluation.
    pub(super) fn measured_change(
        &mut self,
        change2: f64,
        lambda: f64,
        active: &[u32],
        beta: &[f64],
        column_norms: &[f64],
    ) {
        self.select_columns(change2.sqrt(), lambda, active, beta, column_norms);
        self.stage = Stage::PrimalDue;
    }

    /// Chooses the columns of the coming primal round, given `change = ||theta - theta_s||`
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
    pub(super) fn select_columns(
        &mut self,
        change: f64,
        lambda: f64,
        active: &[u32],
        beta: &[f64],
        column_norms: &[f64],
    ) {
        // A relative margin for the rounding in the sums behind `ub_j`.
        let threshold = lambda * (1.0 - 1e-9);
        let mut listed = Vec::new();
        for &j in active {
            let j = j as usize;
            let snapshot = self.snapshot_xt_theta[j];
            let bound = snapshot.abs() + column_norms[j] * change;
            // A NaN bound (diverging solve) lists the column.
            if beta[j] != 0.0 || bound.is_nan() || bound >= threshold {
                listed.push(j as u32);
            } else {
                // Stands in for the value until the evaluation; a full one overwrites it.
                self.xt_theta[j] = bound.copysign(snapshot);
            }
        }
        self.full = 8 * listed.len() > active.len();
        self.columns = if self.full {
            (active.len() < beta.len()).then(|| active.to_vec())
        } else {
            Some(listed)
        };
    }

    /// The primal round committed: `xt_theta` on `columns` (all when `None`) and the loss.
    pub(super) fn primal(
        &mut self,
        columns: Option<Vec<u32>>,
        snapshot: bool,
        xt_theta: Vec<f64>,
        loss: f64,
        lambda: f64,
        beta: &[f64],
    ) {
        let l1: f64 = beta.iter().map(|b| b.abs()).sum();
        self.primal = loss + lambda * l1;
        // Once coordinates are screened out, the gap is that of the problem restricted to the
        // active ones: screening is safe, so that problem has the same optimal value and the same
        // objective at the current b (screened coefficients are 0), and its gap still bounds
        // F(b) - F*. Its dual point only needs to be feasible for the active columns, so
        // screened columns are never read again.
        let max_abs = xt_theta.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let xt_theta = match columns {
            None => xt_theta,
            Some(columns) => {
                let mut full = std::mem::take(&mut self.xt_theta);
                full.resize(beta.len(), 0.0);
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
            self.snapshot_xt_theta.clone_from(&xt_theta);
        }
        self.xt_theta = xt_theta;
        self.scale = scale;
        self.stage = Stage::DualDue { scale };
    }

    /// The dual round committed: the evaluation is complete.
    pub(super) fn dual(&mut self, dual: f64) -> Evaluation {
        let objective = self.primal;
        // Every dual point evaluated so far was feasible (for the coordinates then active, a
        // superset of today's), so each of their values bounds F* from below and the best one
        // certifies the objective: the current point's value jumps around as single coordinates
        // cross lambda, the best one only rises. Screening needs the gap of the sphere's own
        // centre, the current point.
        self.best_dual = self.best_dual.max(dual);
        // Rounding can make a tiny gap negative; NaN stays NaN (divergence is caught by the
        // caller).
        let gap_of = |dual: f64| {
            if objective - dual < 0.0 {
                0.0
            } else {
                objective - dual
            }
        };
        self.stage = Stage::Idle;
        Evaluation {
            objective,
            dual,
            gap: gap_of(self.best_dual),
            current_gap: gap_of(dual),
        }
    }
}
