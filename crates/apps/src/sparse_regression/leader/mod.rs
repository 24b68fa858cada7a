//! The leader's side of scheduled coordinate descent: the coordinator of the coefficients, the
//! STRADS scheduler over the coordinates not screened out, the dependency filter, the duality gap
//! and the stopping rule.
//!
//! The leader is worker 0. Its `schedule` picks each round's candidates (or a gap evaluation);
//! its `pull` commits a round from the summed partials: coordinate steps for the candidates that
//! pass the dependency filter, or the gap with screening and a refresh of every priority. The
//! pieces, each with its own state: [`candidates`] (the scheduler and the working-set sweep),
//! [`steps`] (which candidates step, through the dependency filter of [`filter`], and their
//! parallel or sequential steps), [`staleness`] (what the rounds a push did not see changed),
//! [`gap`] (the gap evaluations' rounds and stopping rule) and [`screening`] (the active set).
//! This module holds the coefficients, the phase and the trace, and ties the pieces together.

mod candidates;
mod filter;
mod gap;
mod screening;
mod settings;
mod snapshot;
mod staleness;
mod steps;
#[cfg(test)]
mod tests;

use std::ops::Range;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use strads_engine::rounds::Schedule;

use super::messages::{Partial, Task, Update};
use super::{Observer, StopReason, TraceRecord};
use candidates::Candidates;
use gap::{Evaluation, GapEvaluator};
use screening::ActiveSet;
pub use settings::SolveSettings;
pub use snapshot::LeaderSnapshot;
use staleness::StalenessWindow;
use steps::RoundSteps;

/// Where the leader is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Phase {
    /// Coordinate rounds.
    Descent,
    /// A gap evaluation is under way (the solve starts with one): its rounds are the gap
    /// evaluator's.
    Gap,
    /// The gap evaluation is complete and the solve goes on: pause the round driver first
    /// (with [`SolveSettings::pause_after_evaluations`]), then coordinate rounds.
    Boundary,
    /// Finished; no more rounds.
    Done,
}

/// The leader's state: the coefficients, the phase and progress, and the pieces.
pub struct LeaderState {
    settings: SolveSettings,
    /// The coefficients.
    pub beta: Vec<f64>,
    /// `||x_j||^2` and `||x_j||` (the square roots taken once: the gap evaluations and screening
    /// pass over every active column).
    column_norms2: Vec<f64>,
    column_norms: Vec<f64>,
    active: ActiveSet,
    candidates: Candidates,
    steps: RoundSteps,
    window: StalenessWindow,
    gap: GapEvaluator,
    phase: Phase,
    started: Instant,
    /// Coordinate updates (kept candidates) so far, and at the last gap evaluation.
    updates: u64,
    updates_at_last_gap: u64,
    /// The trace, one record per gap evaluation.
    pub trace: Vec<TraceRecord>,
    /// Why the solve stopped (set when it does).
    pub stop: Option<StopReason>,
    observer: Option<Observer>,
}

impl LeaderState {
    /// A solve starting from `b = 0`.
    pub fn new(
        settings: SolveSettings,
        column_norms2: Vec<f64>,
        observer: Option<Observer>,
    ) -> Self {
        let d = column_norms2.len();
        LeaderState {
            beta: vec![0.0; d],
            column_norms: column_norms2.iter().map(|n| n.sqrt()).collect(),
            active: ActiveSet::new(&column_norms2),
            candidates: Candidates::new(d, &settings.scheduler),
            steps: RoundSteps::default(),
            window: StalenessWindow::new(d, settings.staleness > 0),
            gap: GapEvaluator::new(),
            column_norms2,
            settings,
            phase: Phase::Gap,
            started: Instant::now(),
            updates: 0,
            updates_at_last_gap: 0,
            trace: Vec::new(),
            stop: None,
            observer,
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
        let working_set = self.candidates.working_set as f64;
        let interval = self.settings.gap_every * working_set.max(d / 20.0);
        (self.updates - self.updates_at_last_gap) as f64 >= interval
            || self.passes() >= self.settings.max_passes
            || self.seconds() >= self.settings.max_seconds
            || self.active.is_empty()
    }

    /// The STRADS schedule step: what round `round` does; if it runs pipelined, its push will
    /// not see the updates of the rounds `unseen` (the round driver's word).
    pub fn schedule(&mut self, round: u64, unseen: Range<u64>) -> Schedule<Task> {
        match self.phase {
            Phase::Done => Schedule::Finished,
            Phase::Gap => self.gap.schedule(),
            Phase::Boundary => {
                self.phase = Phase::Descent;
                Schedule::Pause
            }
            Phase::Descent if self.gap_due() => {
                self.phase = Phase::Gap;
                Schedule::Barrier(self.gap.begin())
            }
            Phase::Descent => {
                let active = self.active.coordinates();
                let candidates = self.candidates.propose(active, self.settings.sweep_share);
                let with_pairs = self.settings.rho < 1.0 || self.settings.inner_passes > 0;
                let unseen = if with_pairs {
                    self.window.coordinates(&unseen)
                } else {
                    Vec::new()
                };
                self.window.scheduled(round, &candidates);
                Schedule::Run(Task::Coordinates {
                    candidates,
                    unseen,
                    with_pairs,
                })
            }
        }
    }

    /// The STRADS pull step: commits round `round` from the summed partials; its push did not
    /// see the updates of the rounds `unseen` (the round driver's word).
    pub fn pull(&mut self, round: u64, unseen: Range<u64>, task: Task, sum: Partial) -> Update {
        self.window.forget_before(unseen.start);
        if let Task::Coordinates { .. } = task {
            return Update::Deltas(self.commit_coordinates(round, &unseen, &task, &sum));
        }
        let lambda = self.settings.lambda;
        let deltas = match (task, sum) {
            (Task::GapChange, Partial::GapChange { change2 }) => {
                let active = self.active.coordinates();
                let norms = &self.column_norms;
                self.gap
                    .measured_change(change2, lambda, active, &self.beta, norms);
                Vec::new()
            }
            (Task::GapPrimal { columns, snapshot }, Partial::GapPrimal { xt_theta, loss }) => {
                self.gap
                    .primal(columns, snapshot, xt_theta, loss, lambda, &self.beta);
                Vec::new()
            }
            (Task::GapDual { .. }, Partial::GapDual { dual }) => {
                let evaluation = self.gap.dual(dual);
                self.evaluated(round, evaluation)
            }
            _ => unreachable!("a partial answers its round's task"),
        };
        Update::Deltas(deltas)
    }

    /// Coordinate rounds: filter and step (see [`RoundSteps::take`]), report to the scheduler;
    /// returns the changes.
    fn commit_coordinates(
        &mut self,
        round: u64,
        unseen_rounds: &Range<u64>,
        task: &Task,
        sum: &Partial,
    ) -> Vec<(u32, f64)> {
        let Task::Coordinates { candidates, .. } = &task else {
            unreachable!("a coordinate round's task")
        };
        let (window, norms2) = (&mut self.window, &self.column_norms2);
        let settings = &self.settings;
        self.steps.take(
            settings,
            task,
            sum,
            unseen_rounds,
            window,
            &self.beta,
            norms2,
        );
        let (kept, dropped) = (self.steps.kept(), self.steps.dropped());
        let mut deltas = Vec::with_capacity(kept.len());
        for (&position, &delta) in kept.iter().zip(self.steps.steps()) {
            let j = candidates[position as usize];
            self.candidates
                .report_change(self.active.position(j), delta);
            if delta != 0.0 {
                self.beta[j as usize] += delta;
                deltas.push((j, delta));
            }
        }
        for &position in dropped {
            let j = candidates[position as usize];
            self.candidates.defer(self.active.position(j));
        }
        self.updates += kept.len() as u64;
        self.window.committed(round, &deltas);
        deltas
    }

    /// A gap evaluation (ending with round `round`) is complete: trace it, decide whether to
    /// stop, and if not screen and refresh the priorities. Returns screening's changes.
    fn evaluated(&mut self, round: u64, evaluation: Evaluation) -> Vec<(u32, f64)> {
        self.updates_at_last_gap = self.updates;
        let record = TraceRecord {
            iteration: self.passes(),
            seconds: self.seconds(),
            objective: evaluation.objective,
            duality_gap: evaluation.gap,
            nnz: self.beta.iter().filter(|b| **b != 0.0).count(),
            rounds: round + 1,
            active: self.active.len(),
        };
        if let Some(observer) = &self.observer {
            observer(&record);
        }
        self.trace.push(record);
        let first_objective = self.trace[0].objective;
        let settings = &self.settings;
        self.stop =
            evaluation.stop_reason(settings, first_objective, self.passes(), self.seconds());
        if self.stop.is_some() {
            self.phase = Phase::Done;
            return Vec::new();
        }
        self.phase = Phase::Descent;
        let mut deltas = Vec::new();
        if settings.screening {
            let before = self.active.len();
            let gap = &self.gap;
            deltas = self.active.screen(
                settings,
                &evaluation,
                gap,
                &self.column_norms,
                &mut self.beta,
            );
            if self.active.len() < before {
                self.candidates
                    .rebuild(self.active.len(), &settings.scheduler);
            }
        }
        // Coefficients zeroed by screening are changes like any other: with rounds in flight,
        // the next rounds must know they did not see them.
        self.window.screened(round, &deltas);
        let active = self.active.coordinates();
        self.candidates.refresh(
            settings,
            active,
            &self.beta,
            &self.gap.xt_theta,
            &self.column_norms2,
        );
        if settings.pause_after_evaluations {
            self.phase = Phase::Boundary;
        }
        deltas
    }
}
