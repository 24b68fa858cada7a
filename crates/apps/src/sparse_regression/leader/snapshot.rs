//! What a checkpoint holds of the leader: everything a resumed solve cannot rebuild exactly from
//! the data and the flags (the coefficients, the scheduler with its random generator, the
//! screening state, the phase and the gap evaluator's stage, the staleness window, the trace),
//! and nothing it can (the column norms, the settings, the per-round buffers, which are empty
//! between rounds).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use strads_core::CoordinateScheduler;

use super::gap::Stage;
use super::{LeaderState, Phase};
use crate::sparse_regression::{StopReason, TraceRecord};

/// The leader's state at a pause of the round driver (after a gap evaluation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaderSnapshot {
    beta: Vec<f64>,
    active: Vec<u32>,
    active_position: Vec<u32>,
    scheduler: CoordinateScheduler,
    rebuilds: u64,
    last_change: Vec<u64>,
    recent: VecDeque<(u64, Vec<(u32, f64)>)>,
    phase: Phase,
    gap_stage: Stage,
    updates: u64,
    updates_at_last_gap: u64,
    primal: f64,
    xt_theta: Vec<f64>,
    snapshot_xt_theta: Vec<f64>,
    gap_columns: Option<Vec<u32>>,
    gap_full: bool,
    best_dual: f64,
    scale: f64,
    trace: Vec<TraceRecord>,
    stop: Option<StopReason>,
    working_set: usize,
    sweep: Vec<u32>,
    sweep_cursor: usize,
    /// Seconds of solving so far: a resumed clock goes on from here.
    seconds: f64,
}

impl LeaderState {
    /// A copy of the state a checkpoint holds (call it between rounds, at a pause).
    pub fn snapshot(&self) -> LeaderSnapshot {
        let (active, candidates, window, gap) =
            (&self.active, &self.candidates, &self.window, &self.gap);
        LeaderSnapshot {
            beta: self.beta.clone(),
            active: active.active.clone(),
            active_position: active.position.clone(),
            scheduler: candidates.scheduler.clone(),
            rebuilds: candidates.rebuilds,
            last_change: window.last_change.clone(),
            recent: window.recent.clone(),
            phase: self.phase,
            gap_stage: gap.stage,
            updates: self.updates,
            updates_at_last_gap: self.updates_at_last_gap,
            primal: gap.primal,
            xt_theta: gap.xt_theta.clone(),
            snapshot_xt_theta: gap.snapshot_xt_theta.clone(),
            gap_columns: gap.columns.clone(),
            gap_full: gap.full,
            best_dual: gap.best_dual,
            scale: gap.scale,
            trace: self.trace.clone(),
            stop: self.stop,
            working_set: candidates.working_set,
            sweep: candidates.sweep.clone(),
            sweep_cursor: candidates.sweep_cursor,
            seconds: self.seconds(),
        }
    }

    /// Continues from `snapshot` (of a leader over as many coordinates); the clock goes on
    /// from its time. Fails when the snapshot is of another number of coordinates.
    pub fn restore(&mut self, snapshot: LeaderSnapshot) -> Result<(), String> {
        let d = self.beta.len();
        if snapshot.beta.len() != d || snapshot.last_change.len() != d {
            return Err(format!(
                "the checkpoint holds {} coefficients, this problem has {d} columns",
                snapshot.beta.len()
            ));
        }
        self.beta = snapshot.beta;
        self.active.active = snapshot.active;
        self.active.position = snapshot.active_position;
        let candidates = &mut self.candidates;
        candidates.scheduler = snapshot.scheduler;
        candidates.rebuilds = snapshot.rebuilds;
        candidates.working_set = snapshot.working_set;
        candidates.sweep = snapshot.sweep;
        candidates.sweep_cursor = snapshot.sweep_cursor;
        self.window.last_change = snapshot.last_change;
        self.window.recent = snapshot.recent;
        self.phase = snapshot.phase;
        self.updates = snapshot.updates;
        self.updates_at_last_gap = snapshot.updates_at_last_gap;
        let gap = &mut self.gap;
        gap.stage = snapshot.gap_stage;
        gap.primal = snapshot.primal;
        gap.xt_theta = snapshot.xt_theta;
        gap.snapshot_xt_theta = snapshot.snapshot_xt_theta;
        gap.columns = snapshot.gap_columns;
        gap.full = snapshot.gap_full;
        gap.best_dual = snapshot.best_dual;
        gap.scale = snapshot.scale;
        self.trace = snapshot.trace;
        self.stop = snapshot.stop;
        self.started = std::time::Instant::now()
            .checked_sub(std::time::Duration::from_secs_f64(snapshot.seconds))
            .unwrap_or(self.started);
        Ok(())
    }

    /// Stops the solve at the pause it is in (a stop request agreed by every worker): the
    /// answer is the last gap evaluation's.
    pub fn interrupt(&mut self) {
        self.stop = Some(StopReason::Interrupted);
        self.phase = Phase::Done;
    }
}
