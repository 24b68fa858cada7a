//! A coordinate round's candidates: the STRADS priority scheduler over the active coordinates,
//! its refresh from each gap evaluation, and a cyclic sweep over the working set.

use strads_core::{CoordinateScheduler, SchedulerParams};

use super::SolveSettings;
use crate::sparse_regression::kernels::coordinate_step;

/// The scheduler over positions in the active set, and the working set it sweeps.
pub(super) struct Candidates {
    pub(super) scheduler: CoordinateScheduler,
    /// Times the active set shrank (each rebuild varies the scheduler's seed).
    pub(super) rebuilds: u64,
    /// Active coordinates that were nonzero or predicted to move at the last gap evaluation.
    pub(super) working_set: usize,
    /// Positions (in the active set) of the working set at the last gap evaluation, and the next
    /// one a round's sweep share starts from.
    pub(super) sweep: Vec<u32>,
    pub(super) sweep_cursor: usize,
    // Per-round buffers, kept to avoid allocating in the hot loop.
    proposed: Vec<u32>,
    /// Predicted steps of the active coordinates at the last gap evaluation.
    predicted: Vec<f64>,
    /// Marks for listing candidates without duplicates (all false between rounds).
    marked: Vec<bool>,
}

impl Candidates {
    /// A scheduler over all `d` coordinates.
    pub(super) fn new(d: usize, params: &SchedulerParams) -> Self {
        Candidates {
            scheduler: CoordinateScheduler::new(d, params.clone()),
            rebuilds: 0,
            working_set: 0,
            sweep: Vec::new(),
            sweep_cursor: 0,
            proposed: Vec::new(),
            predicted: Vec::new(),
            marked: vec![false; d],
        }
    }

    /// A fresh scheduler over the `active` positions left after screening.
    pub(super) fn rebuild(&mut self, active: usize, params: &SchedulerParams) {
        self.rebuilds += 1;
        let mut params = params.clone();
        params.seed = params.seed.wrapping_add(self.rebuilds);
        self.scheduler = CoordinateScheduler::new(active, params);
    }

    /// The candidates of a coordinate round (coordinates, not positions), without duplicates:
    /// the scheduler's draws, then a share of them from the sweep.
    pub(super) fn propose(&mut self, active: &[u32], sweep_share: f64) -> Vec<u32> {
        self.scheduler.propose(&mut self.proposed);
        // The sweep share: a coordinate's priority is its last step, so one whose correlated
        // neighbours moved after its own update is underweighted until the next gap evaluation;
        // visiting the working set cyclically as well bounds how long any of it goes unvisited
        // (measured: a third fewer updates to converge at lambda = 0.1 lambda_max on the
        // benchmark problem).
        let share = (self.proposed.len() as f64 * sweep_share).round();
        let share = (share as usize).min(self.sweep.len());
        let marked = &mut self.marked;
        let mut candidates: Vec<u32> = self
            .proposed
            .iter()
            .map(|&position| active[position as usize])
            .collect();
        for &j in &candidates {
            marked[j as usize] = true;
        }
        for _ in 0..share {
            let j = active[self.sweep[self.sweep_cursor] as usize];
            self.sweep_cursor = (self.sweep_cursor + 1) % self.sweep.len();
            if !std::mem::replace(&mut marked[j as usize], true) {
                candidates.push(j);
            }
        }
        for &j in &candidates {
            marked[j as usize] = false;
        }
        candidates
    }

    /// Reports the step taken at `position` (in the active set).
    pub(super) fn report_change(&mut self, position: u32, delta: f64) {
        self.scheduler.report_change(position, delta);
    }

    /// Reports that the candidate at `position` was left out of its round.
    pub(super) fn defer(&mut self, position: u32) {
        self.scheduler.defer(position);
    }

    /// After a gap evaluation, which computed every coordinate's gradient `-x_j . theta`: give
    /// each active coordinate the priority of the step it would take now (the STRADS weight
    /// `delta^2 + eta` with a predicted instead of a past delta), so the scheduler goes straight
    /// to the coordinates that violate their optimality conditions, with no uniform pass.
    pub(super) fn refresh(
        &mut self,
        settings: &SolveSettings,
        active: &[u32],
        beta: &[f64],
        xt_theta: &[f64],
        column_norms2: &[f64],
    ) {
        let lambda = settings.lambda;
        let mut steps = std::mem::take(&mut self.predicted);
        steps.clear();
        self.sweep.clear();
        // One pass (this runs after every gap evaluation, over every active coordinate): the
        // predicted steps, the largest of them, and the working set for the sweep.
        let mut largest = 0.0f64;
        for (position, &j) in active.iter().enumerate() {
            let j = j as usize;
            // The curvature bound L ||x_j||^2 is exact for the squared loss.
            let h = settings.smoothness * column_norms2[j];
            let step = coordinate_step(beta[j], -xt_theta[j], h, lambda) - beta[j];
            largest = largest.max(step * step);
            if step != 0.0 || beta[j] != 0.0 {
                self.sweep.push(position as u32);
            }
            steps.push(step);
        }
        // The floor is relative to the largest predicted step, so it follows the progress of the
        // solve and does not depend on the scale of the data.
        self.scheduler.set_eta(settings.scheduler.eta * largest);
        self.scheduler.report_all(&steps);
        self.scheduler.end_first_pass();
        self.sweep_cursor = 0;
        self.working_set = self.sweep.len();
        // Rounds grow with the working set (fewer, larger rounds amortise the per-round cost when
        // tens of thousands of coordinates move), up to 256 candidates or the configured size.
        let base = settings.scheduler.schedule_size;
        self.scheduler
            .set_schedule_size((self.working_set / 256).clamp(base, base.max(256)));
        self.predicted = steps;
    }
}
