//! What a checkpoint holds of the leader: everything a resumed solve cannot rebuild exactly from
//! the data and the flags (the coefficients, the scheduler with its random generator, the
//! screening state, the gap phase, the staleness window, the trace), and nothing it can (the
//! column norms, the settings, the per-round buffers, which are empty between rounds).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use strads_core::CoordinateScheduler;

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
        LeaderSnapshot {
            beta: self.beta.clone(),
            active: self.active.clone(),
            active_position: self.active_position.clone(),
            scheduler: self.scheduler.clone(),
            rebuilds: self.rebuilds,
            last_change: self.last_change.clone(),
            recent: self.recent.clone(),
            phase: self.phase,
            updates: self.updates,
            updates_at_last_gap: self.updates_at_last_gap,
            primal: self.primal,
            xt_theta: self.xt_theta.clone(),
            snapshot_xt_theta: self.snapshot_xt_theta.clone(),
            gap_columns: self.gap_columns.clone(),
            gap_full: self.gap_full,
            best_dual: self.best_dual,
            scale: self.scale,
            trace: self.trace.clone(),
            stop: self.stop,
            working_set: self.working_set,
            sweep: self.sweep.clone(),
            sweep_cursor: self.sweep_cursor,
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
        self.active = snapshot.active;
        self.active_position = snapshot.active_position;
        self.scheduler = snapshot.scheduler;
        self.rebuilds = snapshot.rebuilds;
        self.last_change = snapshot.last_change;
        self.recent = snapshot.recent;
        self.phase = snapshot.phase;
        self.updates = snapshot.updates;
        self.updates_at_last_gap = snapshot.updates_at_last_gap;
        self.primal = snapshot.primal;
        self.xt_theta = snapshot.xt_theta;
        self.snapshot_xt_theta = snapshot.snapshot_xt_theta;
        self.gap_columns = snapshot.gap_columns;
        self.gap_full = snapshot.gap_full;
        self.best_dual = snapshot.best_dual;
        self.scale = snapshot.scale;
        self.trace = snapshot.trace;
        self.stop = snapshot.stop;
        self.working_set = snapshot.working_set;
        self.sweep = snapshot.sweep;
        self.sweep_cursor = snapshot.sweep_cursor;
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
