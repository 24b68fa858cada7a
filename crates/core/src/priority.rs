//! The STRADS dynamic (priority) schedule: coordinates that are still changing get the work.
//!
//! Coordinate `j` has weight `w_j = (delta beta_j)^2 + eta`, where `delta beta_j` is its last
//! reported change and `eta > 0` a floor that keeps converged coordinates in play. A round draws
//! `U'` distinct candidates by successive draws without replacement, each draw picking `j` with
//! probability `w_j / sum of the weights not drawn yet this round`.
//!
//! - **First pass.** Until every coordinate has been proposed once, candidates come from a seeded
//!   random permutation of `0..n` (STRADS starts with uniform passes because no change is known).
//! - **Unexplored coordinates.** A coordinate with no change report yet (never updated, or always
//!   dropped by the dependency filter) has weight `max_weight`: the largest weight ever assigned
//!   by a report, and at least `eta`. It never decreases, so an unexplored coordinate always weighs
//!   at least as much as any explored one and is never starved.
//! - **Weights live in a [`SumTree`]** for the explored coordinates (O(log n) draw and update) and in
//!   an indexed pool for the unexplored ones (they share one weight, so a draw is O(1) and raising
//!   their common weight costs nothing).
//! - `eta` is clamped to at least `f64::MIN_POSITIVE`, so every weight is positive and a round can
//!   always fill `U'` distinct candidates. Weights are capped at [`MAX_WEIGHT`] so that a sum over
//!   up to 2^32 coordinates cannot overflow. A non-finite reported change (NaN or infinite) gets
//!   weight `max_weight` and does not raise it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sum_tree::SumTree;
use crate::unexplored::UnexploredPool;

/// Largest weight a coordinate can get: `2^32` of them still sum to a finite `f64`.
pub const MAX_WEIGHT: f64 = 1e250;

/// Priority (dynamic) schedule over `n` coordinates; see the module docs for the exact rule.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PrioritySchedule {
    n: usize,
    schedule_size: usize,
    eta: f64,
    rng: ChaCha8Rng,
    /// Weights of explored (reported) coordinates; unexplored ones hold 0 here.
    tree: SumTree,
    /// Coordinates with no report yet; each weighs `max_weight`.
    unexplored: UnexploredPool,
    /// Largest weight assigned so far (at least `eta`): the weight of unexplored coordinates.
    max_weight: f64,
    /// First-pass order; emptied once the first pass is complete.
    first_pass: Vec<u32>,
    /// Next position in `first_pass`.
    first_pass_cursor: usize,
    /// Tree entries zeroed during the current round, with their weights, to restore afterwards.
    taken: Vec<(u32, f64)>,
    /// Coordinates drawn from the tree this round by rejection (their weights left in place).
    drawn: Vec<bool>,
    /// The indices set in `drawn`, to clear it at the end of the round.
    drawn_list: Vec<u32>,
    /// Candidates proposed so far.
    proposals: u64,
}

impl PrioritySchedule {
    /// A priority schedule over `n_coordinates` proposing `schedule_size` candidates per round.
    pub fn new(n_coordinates: usize, schedule_size: usize, eta: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut first_pass: Vec<u32> = (0..n_coordinates as u32).collect();
        // Fisher-Yates shuffle for the uniform first pass.
        for i in (1..first_pass.len()).rev() {
            let r = rng.gen_range(0..=i as u32) as usize;
            first_pass.swap(i, r);
        }
        let eta = if eta.is_nan() { 0.0 } else { eta }.max(f64::MIN_POSITIVE);
        Self {
            n: n_coordinates,
            schedule_size,
            eta,
            rng,
            tree: SumTree::new(n_coordinates),
            unexplored: UnexploredPool::full(n_coordinates),
            max_weight: eta,
            first_pass,
            first_pass_cursor: 0,
            taken: Vec::with_capacity(schedule_size.min(n_coordinates)),
            drawn: vec![false; n_coordinates],
            drawn_list: Vec::with_capacity(schedule_size.min(n_coordinates)),
            proposals: 0,
        }
    }

    /// Changes the number of candidates per round from the next round on (at least 1).
    pub fn set_schedule_size(&mut self, schedule_size: usize) {
        self.schedule_size = schedule_size.max(1);
    }

    /// Fills `out` with the next round's `min(U', n)` distinct candidates.
    pub fn propose(&mut self, out: &mut Vec<u32>) {
        out.clear();
        let target = self.schedule_size.min(self.n);
        while out.len() < target && self.first_pass_cursor < self.first_pass.len() {
            let j = self.first_pass[self.first_pass_cursor];
            self.first_pass_cursor += 1;
            self.take(j);
            out.push(j);
        }
        if self.first_pass_cursor == self.first_pass.len() && !self.first_pass.is_empty() {
            // The first pass is over; release its memory once.
            self.first_pass = Vec::new();
            self.first_pass_cursor = 0;
        }
        while out.len() < target {
            out.push(self.draw_and_take());
        }
        self.end_round();
        self.proposals += out.len() as u64;
    }

    /// Draws one coordinate with probability `w_j / sum_k w_k` from the current weights, without
    /// changing any state but the random generator (the first-pass order is not consulted).
    ///
    /// # Panics
    /// If there are no coordinates.
    pub fn sample_one(&mut self) -> u32 {
        assert!(self.n > 0, "cannot sample from zero coordinates");
        let j = self.draw_and_take();
        self.end_round();
        j
    }

    /// Records that coordinate `j` changed by `delta`: its weight becomes `delta^2 + eta`.
    ///
    /// # Panics
    /// If `j >= n`.
    pub fn report_change(&mut self, j: u32, delta: f64) {
        assert!(
            (j as usize) < self.n,
            "coordinate {j} out of range 0..{}",
            self.n
        );
        let weight = if delta.is_finite() {
            let weight = (delta * delta + self.eta).min(MAX_WEIGHT);
            self.max_weight = self.max_weight.max(weight);
            weight
        } else {
            self.max_weight
        };
        self.unexplored.remove(j);
        self.tree.set(j as usize, weight);
    }

    /// Reports a change for every coordinate at once (`deltas[j]` for coordinate `j`), in O(n):
    /// the same weights as `n` calls of [`Self::report_change`], without their O(log n) each.
    ///
    /// # Panics
    /// If `deltas.len() != n`.
    pub fn report_all(&mut self, deltas: &[f64]) {
        assert_eq!(
            deltas.len(),
            self.n,
            "report_all needs one change per coordinate"
        );
        let finite_max = deltas
            .iter()
            .filter(|d| d.is_finite())
            .fold(self.max_weight, |m, d| {
                m.max((d * d + self.eta).min(MAX_WEIGHT))
            });
        self.max_weight = finite_max;
        let weights: Vec<f64> = deltas
            .iter()
            .map(|d| {
                if d.is_finite() {
                    (d * d + self.eta).min(MAX_WEIGHT)
                } else {
                    self.max_weight
                }
            })
            .collect();
        self.unexplored.clear();
        self.tree.assign(&weights);
    }

    /// Current sampling weight of coordinate `j` (`max_weight` if it was never reported).
    ///
    /// # Panics
    /// If `j >= n`.
    pub fn weight(&self, j: u32) -> f64 {
        if self.unexplored.is_available(j) {
            self.max_weight
        } else {
            self.tree.get(j as usize)
        }
    }

    /// Changes the floor `eta` for the weights reported from now on (clamped like in [`Self::new`]).
    pub fn set_eta(&mut self, eta: f64) {
        self.eta = if eta.is_nan() { 0.0 } else { eta }.max(f64::MIN_POSITIVE);
        self.max_weight = self.max_weight.max(self.eta);
    }

    /// Ends the uniform first pass now: for a caller that has reported a (predicted) change for
    /// every coordinate, the uniform sweep would only repeat what the weights already say.
    pub fn end_first_pass(&mut self) {
        self.first_pass = Vec::new();
        self.first_pass_cursor = 0;
    }

    /// Whether every coordinate has been proposed at least once (the uniform first pass is over).
    pub fn first_pass_done(&self) -> bool {
        self.first_pass.is_empty()
    }

    /// Candidates proposed so far divided by `n`.
    pub fn passes(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.proposals as f64 / self.n as f64
        }
    }

    /// Removes `j` from the draw for the rest of the round.
    fn take(&mut self, j: u32) {
        if self.unexplored.is_available(j) {
            self.unexplored.take(j);
        } else {
            let weight = self.tree.get(j as usize);
            self.taken.push((j, weight));
            self.tree.set(j as usize, 0.0);
        }
    }

    /// One weighted draw among the coordinates not yet taken this round; takes the result.
    ///
    /// A draw from all weights that lands on a coordinate already drawn this round is simply
    /// repeated: conditioned on landing elsewhere, it picks `j` with probability `w_j` over the
    /// weights not drawn yet, exactly as successive draws without replacement, but without
    /// zeroing and restoring tree entries. Only when most of the weight is already drawn (many
    /// repeats) does it fall back to zeroing the drawn entries.
    fn draw_and_take(&mut self) -> u32 {
        const REPEATS: usize = 8;
        for _ in 0..REPEATS {
            let tree_total = self.tree.total();
            let pool_size = self.unexplored.available();
            let pool_total = pool_size as f64 * self.max_weight;
            let u = self.rng.gen::<f64>() * (tree_total + pool_total);
            let from_tree = pool_size == 0 || (tree_total > 0.0 && u < tree_total);
            if !from_tree {
                let index = self.rng.gen_range(0..pool_size as u32) as usize;
                return self.unexplored.take_at(index);
            }
            let j = self.tree.find(u) as u32;
            if !self.drawn[j as usize] {
                self.drawn[j as usize] = true;
                self.drawn_list.push(j);
                return j;
            }
        }
        // Most of the weight is drawn already: zero the drawn entries so the next draws avoid them.
        for k in 0..self.drawn_list.len() {
            let j = self.drawn_list[k];
            let weight = self.tree.get(j as usize);
            if weight > 0.0 {
                self.taken.push((j, weight));
                self.tree.set(j as usize, 0.0);
            }
        }
        let tree_total = self.tree.total();
        let pool_size = self.unexplored.available();
        let pool_total = pool_size as f64 * self.max_weight;
        let u = self.rng.gen::<f64>() * (tree_total + pool_total);
        let from_tree = pool_size == 0 || (tree_total > 0.0 && u < tree_total);
        if from_tree {
            let j = self.tree.find(u) as u32;
            self.take(j);
            self.drawn[j as usize] = true;
            self.drawn_list.push(j);
            j
        } else {
            let index = self.rng.gen_range(0..pool_size as u32) as usize;
            self.unexplored.take_at(index)
        }
    }

    /// Puts every coordinate taken this round back into the draw.
    fn end_round(&mut self) {
        for &j in &self.drawn_list {
            self.drawn[j as usize] = false;
        }
        self.drawn_list.clear();
        for &(j, weight) in &self.taken {
            self.tree.set(j as usize, weight);
        }
        self.taken.clear();
        self.unexplored.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chi_square::{chi_square_critical_001, chi_square_statistic};

    /// A schedule past its first pass with the given weights: `None` leaves a coordinate unexplored.
    fn with_weights(deltas: &[Option<f64>], eta: f64, schedule_size: usize) -> PrioritySchedule {
        let mut schedule = PrioritySchedule::new(deltas.len(), schedule_size, eta, 7);
        let mut out = Vec::new();
        while !schedule.first_pass_done() {
            schedule.propose(&mut out);
        }
        for (j, delta) in deltas.iter().enumerate() {
            if let Some(delta) = delta {
                schedule.report_change(j as u32, *delta);
            }
        }
        schedule
    }

    #[test]
    fn single_draws_are_proportional_to_weights_chi_square() {
        // Weights span two orders of magnitude; two coordinates stay unexplored (weight = max).
        let deltas = [
            Some(0.0),
            Some(0.1),
            Some(0.5),
            Some(1.0),
            Some(2.0),
            None,
            Some(0.3),
            Some(3.0),
            Some(0.05),
            None,
            Some(1.5),
            Some(0.7),
        ];
        let mut schedule = with_weights(&deltas, 0.05, 1);
        let weights: Vec<f64> = (0..deltas.len() as u32)
            .map(|j| schedule.weight(j))
            .collect();
        assert_eq!(weights[5], 9.05);
        assert_eq!(weights[9], 9.05);
        let total: f64 = weights.iter().sum();
        let draws = 400_000;
        let mut counts = vec![0u64; deltas.len()];
        let mut out = Vec::new();
        for _ in 0..draws {
            // U' = 1 mode of propose, which is the same draw as `sample_one`.
            schedule.propose(&mut out);
            counts[out[0] as usize] += 1;
        }
        let expected: Vec<f64> = weights.iter().map(|w| draws as f64 * w / total).collect();
        let statistic = chi_square_statistic(&counts, &expected);
        let critical = chi_square_critical_001(deltas.len() - 1);
        assert!(statistic < critical, "chi2 = {statistic} >= {critical}");
    }

    #[test]
    fn sample_one_is_proportional_over_many_coordinates() {
        let n = 200;
        let deltas: Vec<Option<f64>> = (0..n).map(|j| Some(((j % 17) as f64) * 0.1)).collect();
        let mut schedule = with_weights(&deltas, 0.01, 8);
        let weights: Vec<f64> = (0..n as u32).map(|j| schedule.weight(j)).collect();
        let total: f64 = weights.iter().sum();
        let draws = 600_000;
        let mut counts = vec![0u64; n];
        for _ in 0..draws {
            counts[schedule.sample_one() as usize] += 1;
        }
        let expected: Vec<f64> = weights.iter().map(|w| draws as f64 * w / total).collect();
        let statistic = chi_square_statistic(&counts, &expected);
        let critical = chi_square_critical_001(n - 1);
        assert!(statistic < critical, "chi2 = {statistic} >= {critical}");
    }

    #[test]
    fn ordered_pairs_follow_successive_draws_without_replacement() {
        // P(first = a, second = b) = w_a / W * w_b / (W - w_a).
        let deltas = [Some(0.0), Some(1.0), Some(2.0), None];
        let mut schedule = with_weights(&deltas, 0.5, 2);
        let weights: Vec<f64> = (0..4).map(|j| schedule.weight(j)).collect();
        let total: f64 = weights.iter().sum();
        let draws = 200_000;
        let mut counts = [0u64; 16];
        let mut expected = [0.0; 16];
        for a in 0..4 {
            for b in 0..4 {
                if a != b {
                    let p = weights[a] / total * weights[b] / (total - weights[a]);
                    expected[a * 4 + b] = draws as f64 * p;
                }
            }
        }
        let mut out = Vec::new();
        for _ in 0..draws {
            schedule.propose(&mut out);
            assert_eq!(out.len(), 2);
            assert_ne!(out[0], out[1]);
            counts[out[0] as usize * 4 + out[1] as usize] += 1;
        }
        let pairs: Vec<usize> = (0..16).filter(|&k| k / 4 != k % 4).collect();
        let counts: Vec<u64> = pairs.iter().map(|&k| counts[k]).collect();
        let expected: Vec<f64> = pairs.iter().map(|&k| expected[k]).collect();
        let statistic = chi_square_statistic(&counts, &expected);
        let critical = chi_square_critical_001(pairs.len() - 1);
        assert!(statistic < critical, "chi2 = {statistic} >= {critical}");
    }

    #[test]
    fn rounds_never_repeat_a_candidate() {
        let n = 100;
        let mut schedule = PrioritySchedule::new(n, 60, 1e-3, 11);
        let mut out = Vec::new();
        let mut seen = vec![0u32; n];
        for round in 1..=2_000u32 {
            schedule.propose(&mut out);
            assert_eq!(out.len(), 60);
            for &j in &out {
                assert_ne!(
                    seen[j as usize], round,
                    "coordinate {j} repeated in round {round}"
                );
                seen[j as usize] = round;
            }
            // A few large changes concentrate the weight; the draw must still be distinct.
            for &j in out.iter().take(5) {
                schedule.report_change(j, if j % 3 == 0 { 10.0 } else { 0.0 });
            }
        }
    }

    #[test]
    fn schedule_size_above_n_proposes_everything() {
        let mut schedule = PrioritySchedule::new(7, 50, 0.0, 3);
        let mut out = Vec::new();
        for _ in 0..5 {
            schedule.propose(&mut out);
            let mut sorted = out.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..7).collect::<Vec<u32>>());
            for &j in &out {
                schedule.report_change(j, 0.0);
            }
        }
    }

    #[test]
    fn zero_delta_coordinates_are_proposed_at_rate_proportional_to_eta() {
        // Half the coordinates stopped moving (weight eta), half move by 0.3 (weight 0.09 + eta).
        let n = 40;
        let eta = 0.01;
        let deltas: Vec<Option<f64>> = (0..n)
            .map(|j| Some(if j % 2 == 0 { 0.0 } else { 0.3 }))
            .collect();
        let mut schedule = with_weights(&deltas, eta, 1);
        let draws = 200_000;
        let mut zero_hits = 0u64;
        for _ in 0..draws {
            if schedule.sample_one() % 2 == 0 {
                zero_hits += 1;
            }
        }
        let p = (20.0 * eta) / (20.0 * eta + 20.0 * (0.09 + eta));
        let mean = draws as f64 * p;
        let sd = (draws as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (zero_hits as f64 - mean).abs() < 5.0 * sd,
            "{zero_hits} zero-delta draws, expected {mean} +- {sd}"
        );
    }

    #[test]
    fn first_pass_proposes_every_coordinate_once() {
        let n = 1_003;
        let mut schedule = PrioritySchedule::new(n, 100, 1e-6, 5);
        let mut out = Vec::new();
        let mut count = vec![0u32; n];
        for _ in 0..10 {
            schedule.propose(&mut out);
            for &j in &out {
                count[j as usize] += 1;
            }
        }
        assert!(!schedule.first_pass_done());
        schedule.propose(&mut out);
        assert!(schedule.first_pass_done());
        // The last round held the 3 remaining first-pass coordinates plus 97 weighted draws.
        for &j in &out[..3] {
            assert_eq!(count[j as usize], 0);
            count[j as usize] += 1;
        }
        assert!(count.iter().all(|&c| c >= 1));
        assert!((schedule.passes() - 1100.0 / 1003.0).abs() < 1e-12);
    }

    #[test]
    fn report_all_equals_one_report_per_coordinate() {
        let deltas: Vec<f64> = (0..300)
            .map(|j| if j % 7 == 0 { (j as f64).sqrt() } else { 0.0 })
            .collect();
        let mut one_by_one = PrioritySchedule::new(300, 5, 1e-3, 4);
        let mut at_once = PrioritySchedule::new(300, 5, 1e-3, 4);
        for (j, &d) in deltas.iter().enumerate() {
            one_by_one.report_change(j as u32, d);
        }
        at_once.report_all(&deltas);
        for j in 0..300 {
            assert_eq!(one_by_one.weight(j), at_once.weight(j));
        }
        one_by_one.end_first_pass();
        at_once.end_first_pass();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..50 {
            one_by_one.propose(&mut a);
            at_once.propose(&mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn ending_the_first_pass_samples_by_weight_at_once() {
        let mut schedule = PrioritySchedule::new(100, 1, 1e-12, 9);
        for j in 0..100 {
            schedule.report_change(j, if j == 42 { 1.0 } else { 0.0 });
        }
        schedule.end_first_pass();
        assert!(schedule.first_pass_done());
        let mut out = Vec::new();
        for _ in 0..20 {
            schedule.propose(&mut out);
            assert_eq!(out, [42]);
        }
    }

    #[test]
    fn million_coordinates_favour_the_moving_ones() {
        // After the first pass, only coordinates below 1000 keep moving; they must get most of
        // the proposals even though they are 0.1% of the coordinates.
        let n = 1_000_000;
        let mut schedule = PrioritySchedule::new(n, 1_000, 1e-8, 99);
        let mut out = Vec::with_capacity(1_000);
        let mut rounds = 0;
        while !schedule.first_pass_done() {
            schedule.propose(&mut out);
            for &j in &out {
                schedule.report_change(j, if j < 1_000 { 1.0 } else { 0.0 });
            }
            rounds += 1;
        }
        assert_eq!(rounds, 1_000);
        let mut moving = 0;
        for _ in 0..50 {
            schedule.propose(&mut out);
            moving += out.iter().filter(|&&j| j < 1_000).count();
        }
        // Weight share of the moving ones: 1000 / (1000 + 999000 * 1e-8) ~ 0.99999, but a round
        // draws 1000 distinct candidates from 1000 heavy ones, so nearly every round takes all.
        assert!(
            moving > 49_000,
            "{moving} of 50000 proposals went to moving coordinates"
        );
        assert!((schedule.passes() - 1.05).abs() < 1e-12);
    }

    #[test]
    fn unexplored_weight_tracks_the_largest_weight() {
        let mut schedule = PrioritySchedule::new(3, 1, 0.5, 1);
        assert_eq!(schedule.weight(2), 0.5);
        schedule.report_change(0, 2.0);
        assert_eq!(schedule.weight(0), 4.5);
        assert_eq!(schedule.weight(2), 4.5);
        schedule.report_change(0, 0.0);
        assert_eq!(schedule.weight(0), 0.5);
        assert_eq!(schedule.weight(2), 4.5);
        schedule.report_change(1, f64::NAN);
        assert_eq!(schedule.weight(1), 4.5);
        schedule.report_change(1, f64::NEG_INFINITY);
        assert_eq!(schedule.weight(1), 4.5);
        schedule.report_change(1, 1e200);
        assert_eq!(schedule.weight(1), MAX_WEIGHT);
        schedule.report_change(0, -1e200);
        let mut out = Vec::new();
        schedule.propose(&mut out);
        assert!(out[0] < 3);
    }

    #[test]
    fn same_seed_same_sequence() {
        let run = |seed| {
            let mut schedule = PrioritySchedule::new(500, 32, 1e-4, seed);
            let mut out = Vec::new();
            let mut trace = Vec::new();
            for round in 0..100 {
                schedule.propose(&mut out);
                for &j in &out {
                    schedule.report_change(j, ((j + round) % 7) as f64 * 0.01);
                }
                trace.extend_from_slice(&out);
            }
            trace
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }
}
