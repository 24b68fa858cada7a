//! The random schedule: each round, `U'` distinct coordinates uniformly at random.
//!
//! A persistent arrangement of `0..n` is partially Fisher-Yates shuffled each round: the first `U'`
//! positions then hold a uniformly random ordered `U'`-subset, whatever the arrangement was before,
//! in O(U') time and without allocation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Uniform random schedule over `n` coordinates (seeded ChaCha8).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RandomSchedule {
    schedule_size: usize,
    rng: ChaCha8Rng,
    /// A permutation of `0..n`, reshuffled in its first `U'` positions every round.
    arrangement: Vec<u32>,
    /// Candidates proposed so far.
    proposals: u64,
}

impl RandomSchedule {
    /// A random schedule over `n_coordinates` proposing `schedule_size` candidates per round.
    pub fn new(n_coordinates: usize, schedule_size: usize, seed: u64) -> Self {
        Self {
            schedule_size,
            rng: ChaCha8Rng::seed_from_u64(seed),
            arrangement: (0..n_coordinates as u32).collect(),
            proposals: 0,
        }
    }

    /// Changes the number of candidates per round from the next round on (at least 1).
    pub fn set_schedule_size(&mut self, schedule_size: usize) {
        self.schedule_size = schedule_size.max(1);
    }

    /// Fills `out` with `min(U', n)` distinct coordinates drawn uniformly at random.
    pub fn propose(&mut self, out: &mut Vec<u32>) {
        out.clear();
        let n = self.arrangement.len();
        let target = self.schedule_size.min(n);
        for i in 0..target {
            let r = self.rng.gen_range(i as u32..n as u32) as usize;
            self.arrangement.swap(i, r);
        }
        out.extend_from_slice(&self.arrangement[..target]);
        self.proposals += target as u64;
    }

    /// Candidates proposed so far divided by `n` (expected number of sweeps).
    pub fn passes(&self) -> f64 {
        if self.arrangement.is_empty() {
            0.0
        } else {
            self.proposals as f64 / self.arrangement.len() as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chi_square::{chi_square_critical_001, chi_square_statistic};

    #[test]
    fn rounds_are_distinct_and_uniform() {
        let n = 30;
        let mut schedule = RandomSchedule::new(n, 8, 9);
        let mut out = Vec::new();
        let mut counts = vec![0u64; n];
        let rounds = 50_000;
        for _ in 0..rounds {
            schedule.propose(&mut out);
            assert_eq!(out.len(), 8);
            let mut sorted = out.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 8);
            for &j in &out {
                counts[j as usize] += 1;
            }
        }
        let expected = vec![rounds as f64 * 8.0 / n as f64; n];
        let statistic = chi_square_statistic(&counts, &expected);
        assert!(
            statistic < chi_square_critical_001(n - 1),
            "chi2 = {statistic}"
        );
        assert!((schedule.passes() - rounds as f64 * 8.0 / n as f64).abs() < 1e-9);
    }

    #[test]
    fn same_seed_same_sequence() {
        let run = |seed| {
            let mut schedule = RandomSchedule::new(100, 10, seed);
            let mut out = Vec::new();
            let mut trace = Vec::new();
            for _ in 0..20 {
                schedule.propose(&mut out);
                trace.extend_from_slice(&out);
            }
            trace
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
