//! The coordinate scheduler: one interface over the cyclic, random and priority policies.
//!
//! A round's task is a set of candidate coordinates (`u32` indices in `0..n`). The scheduler
//! proposes candidates, the program drops the dependent ones ([`crate::dependency_filter`]) and
//! hands them back with [`CoordinateScheduler::defer`], and after the commit reports how much each
//! updated coordinate changed with [`CoordinateScheduler::report_change`].

use std::fmt;
use std::str::FromStr;

use crate::cyclic::CyclicSchedule;
use crate::priority::PrioritySchedule;
use crate::random::RandomSchedule;

/// Which policy picks a round's candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerKind {
    /// STRADS dynamic schedule: sample with probability proportional to `(delta beta_j)^2 + eta`.
    Priority,
    /// `0, 1, ..., n-1` in chunks of `U'`, wrapping around.
    Cyclic,
    /// `U'` distinct coordinates uniformly at random every round.
    Random,
}

impl SchedulerKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [SchedulerKind; 3] = [Self::Priority, Self::Cyclic, Self::Random];

    /// The lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::Cyclic => "cyclic",
            Self::Random => "random",
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scheduler name that is not one of `priority`, `cyclic`, `random`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler {input:?}: expected one of priority, cyclic, random")]
pub struct ParseSchedulerKindError {
    /// The rejected text.
    pub input: String,
}

impl FromStr for SchedulerKind {
    type Err = ParseSchedulerKindError;

    /// Parses `priority`, `cyclic` or `random` (case-insensitive, surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        Self::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| ParseSchedulerKindError {
                input: s.to_owned(),
            })
    }
}

/// Parameters of a [`CoordinateScheduler`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SchedulerParams {
    /// The policy.
    pub kind: SchedulerKind,
    /// `U'`: candidates proposed per round (before the dependency filter).
    pub schedule_size: usize,
    /// Priority floor `eta` in `w_j = (delta beta_j)^2 + eta` (priority only; clamped to at least
    /// `f64::MIN_POSITIVE` so every coordinate keeps a positive chance).
    pub eta: f64,
    /// Seed of the policy's random generator (random and priority).
    pub seed: u64,
}

/// The policy behind a [`CoordinateScheduler`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
// One scheduler exists per solve, so the size of the largest policy does not matter.
#[allow(clippy::large_enum_variant)]
enum Policy {
    Priority(PrioritySchedule),
    Cyclic(CyclicSchedule),
    Random(RandomSchedule),
}

/// Proposes each round's candidate coordinates and learns from the reported changes.
///
/// Deterministic: the same `n`, parameters and sequence of calls give the same proposals.
/// It serialises whole (weights, cursors, the random generator's position), so a scheduler
/// read back from a checkpoint proposes what the original would have.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CoordinateScheduler {
    n_coordinates: usize,
    params: SchedulerParams,
    policy: Policy,
}

impl CoordinateScheduler {
    /// A scheduler over coordinates `0..n_coordinates`.
    ///
    /// # Panics
    /// If `n_coordinates > u32::MAX` (coordinates are `u32`).
    pub fn new(n_coordinates: usize, params: SchedulerParams) -> Self {
        assert!(
            n_coordinates <= u32::MAX as usize,
            "at most {} coordinates are supported, got {n_coordinates}",
            u32::MAX
        );
        let size = params.schedule_size;
        let policy = match params.kind {
            SchedulerKind::Priority => Policy::Priority(PrioritySchedule::new(
                n_coordinates,
                size,
                params.eta,
                params.seed,
            )),
            SchedulerKind::Cyclic => Policy::Cyclic(CyclicSchedule::new(n_coordinates, size)),
            SchedulerKind::Random => {
                Policy::Random(RandomSchedule::new(n_coordinates, size, params.seed))
            }
        };
        Self {
            n_coordinates,
            params,
            policy,
        }
    }

    /// Number of coordinates `n`.
    pub fn n_coordinates(&self) -> usize {
        self.n_coordinates
    }

    /// The parameters this scheduler was built with.
    pub fn params(&self) -> &SchedulerParams {
        &self.params
    }

    /// Fills `out` (cleared first) with the next round's distinct candidates: `min(U', n)` of them.
    /// Allocates nothing once `out` has capacity `U'`.
    pub fn propose(&mut self, out: &mut Vec<u32>) {
        match &mut self.policy {
            Policy::Priority(p) => p.propose(out),
            Policy::Cyclic(p) => p.propose(out),
            Policy::Random(p) => p.propose(out),
        }
    }

    /// After a commit: coordinate `j` changed by `delta`. Priority: its weight becomes
    /// `delta^2 + eta`; cyclic and random ignore it.
    ///
    /// # Panics
    /// If `j >= n` (priority only).
    pub fn report_change(&mut self, j: u32, delta: f64) {
        if let Policy::Priority(p) = &mut self.policy {
            p.report_change(j, delta);
        }
    }

    /// Priority: reports a change for every coordinate at once (see
    /// [`PrioritySchedule::report_all`]); cyclic and random ignore it.
    pub fn report_all(&mut self, deltas: &[f64]) {
        if let Policy::Priority(p) = &mut self.policy {
            p.report_all(deltas);
        }
    }

    /// Changes the number of candidates per round (U') from the next round on.
    pub fn set_schedule_size(&mut self, schedule_size: usize) {
        self.params.schedule_size = schedule_size.max(1);
        match &mut self.policy {
            Policy::Priority(p) => p.set_schedule_size(schedule_size),
            Policy::Cyclic(p) => p.set_schedule_size(schedule_size),
            Policy::Random(p) => p.set_schedule_size(schedule_size),
        }
    }

    /// Priority: changes the floor `eta` of weights reported from now on; others: no-op.
    pub fn set_eta(&mut self, eta: f64) {
        if let Policy::Priority(p) = &mut self.policy {
            p.set_eta(eta);
        }
    }

    /// Priority: ends the uniform first pass (see [`PrioritySchedule::end_first_pass`]); cyclic
    /// and random: no-op.
    pub fn end_first_pass(&mut self) {
        if let Policy::Priority(p) = &mut self.policy {
            p.end_first_pass();
        }
    }

    /// A proposed candidate was dropped by the dependency filter this round. Cyclic: it is
    /// proposed first next round, so a pass still visits every coordinate. Priority and random:
    /// no-op (a dropped priority candidate keeps its weight, an unexplored one stays unexplored).
    ///
    /// # Panics
    /// If `j >= n` (cyclic only).
    pub fn defer(&mut self, j: u32) {
        if let Policy::Cyclic(p) = &mut self.policy {
            p.defer(j);
        }
    }

    /// Complete passes over the coordinates proposed so far: sweeps of the cursor for cyclic,
    /// proposals / n for random and priority.
    pub fn passes(&self) -> f64 {
        match &self.policy {
            Policy::Priority(p) => p.passes(),
            Policy::Cyclic(p) => p.passes(),
            Policy::Random(p) => p.passes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kind: SchedulerKind, schedule_size: usize) -> SchedulerParams {
        SchedulerParams {
            kind,
            schedule_size,
            eta: 1e-6,
            seed: 3,
        }
    }

    #[test]
    fn schedule_size_changes_from_the_next_round() {
        for kind in SchedulerKind::ALL {
            let mut scheduler = CoordinateScheduler::new(100, params(kind, 4));
            let mut out = Vec::new();
            scheduler.propose(&mut out);
            assert_eq!(out.len(), 4, "{kind}");
            scheduler.set_schedule_size(9);
            scheduler.propose(&mut out);
            assert_eq!(out.len(), 9, "{kind}");
            assert_eq!(scheduler.params().schedule_size, 9);
        }
    }

    #[test]
    fn kind_round_trips_through_text() {
        for kind in SchedulerKind::ALL {
            assert_eq!(kind.to_string().parse::<SchedulerKind>(), Ok(kind));
        }
        assert_eq!(" Cyclic ".parse(), Ok(SchedulerKind::Cyclic));
        let err = "lasso".parse::<SchedulerKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown scheduler \"lasso\": expected one of priority, cyclic, random"
        );
    }

    #[test]
    fn every_kind_proposes_min_of_schedule_size_and_n_distinct() {
        for kind in SchedulerKind::ALL {
            for (n, size) in [(0, 5), (3, 5), (10, 4), (10, 10), (1, 1), (5, 0)] {
                let mut scheduler = CoordinateScheduler::new(n, params(kind, size));
                let mut out = vec![99];
                for round in 0..7 {
                    scheduler.propose(&mut out);
                    assert_eq!(out.len(), size.min(n), "{kind} n={n} U'={size}");
                    let mut sorted = out.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    assert_eq!(sorted.len(), out.len());
                    assert!(out.iter().all(|&j| (j as usize) < n));
                    for (i, &j) in out.iter().enumerate() {
                        if (i + round) % 3 == 0 {
                            scheduler.defer(j);
                        } else {
                            scheduler.report_change(j, (i as f64) * 0.1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_scheduler_read_back_proposes_what_the_original_would() {
        for kind in SchedulerKind::ALL {
            let mut original = CoordinateScheduler::new(50, params(kind, 7));
            let mut out = Vec::new();
            // Into the priority policy's weighted draws (past its first pass), with deferrals.
            for round in 0..12 {
                original.propose(&mut out);
                for (i, &j) in out.iter().enumerate() {
                    if (i + round) % 4 == 0 {
                        original.defer(j);
                    } else {
                        original.report_change(j, 0.1 * (i + 1) as f64);
                    }
                }
            }
            let bytes = bincode::serialize(&original).unwrap();
            let mut copy: CoordinateScheduler = bincode::deserialize(&bytes).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..20 {
                original.propose(&mut a);
                copy.propose(&mut b);
                assert_eq!(a, b, "{kind}");
                for &j in &a {
                    original.report_change(j, 0.01);
                    copy.report_change(j, 0.01);
                }
            }
        }
    }

    #[test]
    fn passes_count_proposals() {
        for kind in SchedulerKind::ALL {
            let mut scheduler = CoordinateScheduler::new(20, params(kind, 5));
            let mut out = Vec::new();
            for _ in 0..6 {
                scheduler.propose(&mut out);
            }
            assert!((scheduler.passes() - 1.5).abs() < 1e-12, "{kind}");
        }
    }
}
