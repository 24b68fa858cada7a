//! The staleness window: with rounds in flight, what changed in the rounds a push did not see.
//!
//! The round driver decides which rounds a push does not see and says so (`unseen`, a range of
//! rounds, at `schedule` and again at `pull`); this window only remembers what those rounds may
//! change or did change, so that the leader can keep candidates away from stale statistics and
//! correct the sequential steps for the changes the push missed.

use std::collections::VecDeque;
use std::ops::Range;

/// What recent rounds change, kept while a round that did not see them is in flight.
pub(super) struct StalenessWindow {
    /// Rounds run in flight (staleness > 0): only then can a push miss a round.
    in_flight: bool,
    /// Round of the last change of each coordinate (`u64::MAX` = never).
    pub(super) last_change: Vec<u64>,
    /// For recent rounds, oldest first: the coordinates each may change (its candidates until it
    /// commits, then the ones it changed, or the ones screening zeroed after a gap evaluation).
    pub(super) recent: VecDeque<(u64, Vec<(u32, f64)>)>,
    /// Per coordinate, its total change over the rounds a push did not see (zero between uses).
    unseen_total: Vec<f64>,
    /// Marks for listing coordinates without duplicates (all false between uses).
    marked: Vec<bool>,
}

impl StalenessWindow {
    /// A window over `d` coordinates; `in_flight` when the driver keeps more than one round in
    /// flight.
    pub(super) fn new(d: usize, in_flight: bool) -> Self {
        StalenessWindow {
            in_flight,
            last_change: vec![u64::MAX; d],
            recent: VecDeque::new(),
            unseen_total: vec![0.0; d],
            marked: vec![false; d],
        }
    }

    /// Round `round` is scheduled with these candidates, which it may change.
    pub(super) fn scheduled(&mut self, round: u64, candidates: &[u32]) {
        if self.in_flight {
            // The candidates may change; their deltas replace this at the commit.
            self.recent
                .push_back((round, candidates.iter().map(|&j| (j, 0.0)).collect()));
        }
    }

    /// Round `round` committed these changes.
    pub(super) fn committed(&mut self, round: u64, deltas: &[(u32, f64)]) {
        for &(j, _) in deltas {
            self.last_change[j as usize] = round;
        }
        if let Some(entry) = self.recent.iter_mut().find(|(r, _)| *r == round) {
            entry.1.clear();
            entry.1.extend_from_slice(deltas);
        }
    }

    /// A barrier round `round` (a gap evaluation) committed these changes (screening's): with
    /// rounds in flight, the next rounds must know they did not see them.
    pub(super) fn screened(&mut self, round: u64, deltas: &[(u32, f64)]) {
        for &(j, _) in deltas {
            self.last_change[j as usize] = round;
        }
        if self.in_flight && !deltas.is_empty() {
            self.recent.push_back((round, deltas.to_vec()));
        }
    }

    /// Forgets the rounds before `first`: no push from now on misses them (the driver's unseen
    /// rounds only move forward).
    pub(super) fn forget_before(&mut self, first: u64) {
        while self.recent.front().is_some_and(|(r, _)| *r < first) {
            self.recent.pop_front();
        }
    }

    /// The coordinates that may change in the rounds `unseen`, without duplicates.
    pub(super) fn coordinates(&mut self, unseen: &Range<u64>) -> Vec<u32> {
        let mut coordinates = Vec::new();
        for (_, changes) in self.recent.iter().filter(|(r, _)| unseen.contains(r)) {
            for &(j, _) in changes {
                if !std::mem::replace(&mut self.marked[j as usize], true) {
                    coordinates.push(j);
                }
            }
        }
        for &j in &coordinates {
            self.marked[j as usize] = false;
        }
        coordinates
    }

    /// Whether coordinate `j` last changed in one of the rounds `unseen`.
    pub(super) fn changed_in(&self, j: u32, unseen: &Range<u64>) -> bool {
        unseen.contains(&self.last_change[j as usize])
    }

    /// For each coordinate of `coordinates`, its total change over the rounds `unseen`, which
    /// have all committed.
    pub(super) fn total_changes(&mut self, unseen: &Range<u64>, coordinates: &[u32]) -> Vec<f64> {
        if coordinates.is_empty() {
            return Vec::new();
        }
        for (_, deltas) in self.recent.iter().filter(|(r, _)| unseen.contains(r)) {
            for &(j, delta) in deltas {
                self.unseen_total[j as usize] += delta;
            }
        }
        let totals = coordinates
            .iter()
            .map(|&j| self.unseen_total[j as usize])
            .collect();
        for (_, deltas) in self.recent.iter().filter(|(r, _)| unseen.contains(r)) {
            for &(j, _) in deltas {
                self.unseen_total[j as usize] = 0.0;
            }
        }
        totals
    }
}
