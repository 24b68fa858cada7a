//! The cyclic schedule: coordinates `0, 1, ..., n-1` in chunks of `U'`, wrapping around.
//!
//! A candidate that the dependency filter dropped is handed back with [`CyclicSchedule::defer`] and
//! is proposed first in the next round, ahead of the cursor, so every pass still updates every
//! coordinate even though each round keeps only a nearly independent subset.

use std::collections::VecDeque;

/// Cyclic schedule over `n` coordinates with deferral of dropped candidates.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CyclicSchedule {
    n: usize,
    schedule_size: usize,
    /// Next coordinate of the sweep.
    cursor: usize,
    /// Completed sweeps (times the cursor wrapped).
    sweeps: u64,
    /// Dropped candidates, to be proposed first next round, in the order they were deferred.
    deferred: VecDeque<u32>,
    /// `is_deferred[j]`: `j` is in `deferred` (so it is queued at most once).
    is_deferred: Vec<bool>,
    /// `round_mark[j] == round`: `j` is already in the current round's output.
    round_mark: Vec<u32>,
    /// Round stamp for `round_mark`; 0 never marks a round.
    round: u32,
}

impl CyclicSchedule {
    /// A cyclic schedule over `n_coordinates` proposing `schedule_size` candidates per round.
    pub fn new(n_coordinates: usize, schedule_size: usize) -> Self {
        Self {
            n: n_coordinates,
            schedule_size,
            cursor: 0,
            sweeps: 0,
            deferred: VecDeque::with_capacity(schedule_size.min(n_coordinates)),
            is_deferred: vec![false; n_coordinates],
            round_mark: vec![0; n_coordinates],
            round: 0,
        }
    }

    /// Changes the number of candidates per round from the next round on (at least 1).
    pub fn set_schedule_size(&mut self, schedule_size: usize) {
        self.schedule_size = schedule_size.max(1);
    }

    /// Fills `out` with the deferred candidates first, then the next coordinates of the sweep,
    /// `min(U', n)` distinct ones in all.
    pub fn propose(&mut self, out: &mut Vec<u32>) {
        out.clear();
        let target = self.schedule_size.min(self.n);
        if target == 0 {
            return;
        }
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            // The stamp wrapped: forget all old marks once every 2^32 rounds.
            self.round_mark.fill(0);
            self.round = 1;
        }
        while out.len() < target {
            let Some(j) = self.deferred.pop_front() else {
                break;
            };
            self.is_deferred[j as usize] = false;
            self.round_mark[j as usize] = self.round;
            out.push(j);
        }
        while out.len() < target {
            let j = self.cursor;
            self.cursor += 1;
            if self.cursor == self.n {
                self.cursor = 0;
                self.sweeps += 1;
            }
            if self.round_mark[j] != self.round {
                self.round_mark[j] = self.round;
                out.push(j as u32);
            }
        }
    }

    /// Queues candidate `j` to be proposed first next round (once, however often it is deferred).
    ///
    /// # Panics
    /// If `j >= n`.
    pub fn defer(&mut self, j: u32) {
        assert!(
            (j as usize) < self.n,
            "coordinate {j} out of range 0..{}",
            self.n
        );
        if !self.is_deferred[j as usize] {
            self.is_deferred[j as usize] = true;
            self.deferred.push_back(j);
        }
    }

    /// Completed sweeps plus the fraction of the current one.
    pub fn passes(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sweeps as f64 + self.cursor as f64 / self.n as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_wrap_around() {
        let mut schedule = CyclicSchedule::new(5, 2);
        let mut out = Vec::new();
        let mut trace = Vec::new();
        for _ in 0..4 {
            schedule.propose(&mut out);
            trace.push(out.clone());
        }
        assert_eq!(trace, vec![vec![0, 1], vec![2, 3], vec![4, 0], vec![1, 2]]);
        assert!((schedule.passes() - 1.6).abs() < 1e-12);
    }

    #[test]
    fn deferred_candidates_come_first() {
        let mut schedule = CyclicSchedule::new(10, 4);
        let mut out = Vec::new();
        schedule.propose(&mut out);
        assert_eq!(out, [0, 1, 2, 3]);
        schedule.defer(2);
        schedule.defer(2);
        schedule.propose(&mut out);
        assert_eq!(out, [2, 4, 5, 6]);
        schedule.propose(&mut out);
        assert_eq!(out, [7, 8, 9, 0]);
    }

    #[test]
    fn schedule_size_at_least_n_stays_distinct() {
        let mut schedule = CyclicSchedule::new(4, 9);
        let mut out = Vec::new();
        schedule.propose(&mut out);
        assert_eq!(out, [0, 1, 2, 3]);
        schedule.defer(3);
        schedule.propose(&mut out);
        assert_eq!(out, [3, 0, 1, 2]);
    }

    #[test]
    fn every_pass_updates_every_coordinate_despite_deferrals() {
        // Drop every candidate whose index is divisible by 3 once; each must come back.
        let n = 50;
        let mut schedule = CyclicSchedule::new(n, 7);
        let mut out = Vec::new();
        let mut updated = vec![0u32; n];
        let mut dropped_once = vec![false; n];
        for _ in 0..40 {
            schedule.propose(&mut out);
            for &j in &out {
                if j % 3 == 0 && !dropped_once[j as usize] {
                    dropped_once[j as usize] = true;
                    schedule.defer(j);
                } else {
                    updated[j as usize] += 1;
                }
            }
        }
        assert!(updated.iter().all(|&u| u >= 4), "{updated:?}");
    }
}
