//! The steps of a round's kept candidates: parallel steps from the round's gradients, or
//! sequential (Gauss-Seidel) steps that correct each gradient through the Gram entries for the
//! steps already taken and for the changes the push did not see (see
//! [`SolveSettings::inner_passes`]).

use std::ops::Range;

use super::filter::DependencyFilter;
use super::staleness::StalenessWindow;
use super::SolveSettings;
use crate::sparse_regression::kernels::{coordinate_step, pair_of};
use crate::sparse_regression::messages::{Partial, Task};

/// Which candidates of a round step, and their steps.
#[derive(Default)]
pub(super) struct RoundSteps {
    filter: DependencyFilter,
    steps: Steps,
}

/// One total step per kept candidate, and the sequential steps' buffers (kept between rounds to
/// avoid allocating in the hot loop).
#[derive(Default)]
struct Steps {
    /// The total step of each kept candidate this round.
    step: Vec<f64>,
    /// Position in the candidates -> index in the kept ones (`u32::MAX`: dropped).
    kept_index: Vec<u32>,
    /// Each kept candidate's gradient, corrected for the steps taken so far.
    corrected: Vec<f64>,
    /// The round's pairs of kept candidates (indices in the kept ones) with their Gram entry.
    kept_pairs: Vec<(u32, u32, f64)>,
    /// The Gram entries among the kept candidates as adjacency lists: `neighbour_start` indexes
    /// `neighbours` by index in the kept ones.
    neighbour_start: Vec<u32>,
    neighbours: Vec<(u32, f64)>,
}

impl RoundSteps {
    /// Positions (in the round's candidates) of the kept candidates, in order.
    pub(super) fn kept(&self) -> &[u32] {
        self.filter.kept()
    }

    /// Positions (in the round's candidates) of the dropped candidates.
    pub(super) fn dropped(&self) -> &[u32] {
        self.filter.dropped()
    }

    /// The total step of each kept candidate, in the order of [`RoundSteps::kept`].
    pub(super) fn steps(&self) -> &[f64] {
        &self.steps.step
    }

    /// The steps of coordinate round `task` from its summed partials `sum`, whose push did not
    /// see the rounds `unseen_rounds` (what they changed is in `window`): the dependency filter
    /// decides which candidates step, then each steps in parallel from the round's gradients or,
    /// with inner passes (which need the pairs), sequentially. `beta` is not touched.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn take(
        &mut self,
        settings: &SolveSettings,
        task: &Task,
        sum: &Partial,
        unseen_rounds: &Range<u64>,
        window: &mut StalenessWindow,
        beta: &[f64],
        column_norms2: &[f64],
    ) {
        let (
            Task::Coordinates {
                candidates,
                unseen,
                with_pairs,
            },
            Partial::Coordinates {
                gradient,
                curvature,
                pair_dots,
            },
        ) = (task, sum)
        else {
            unreachable!("a coordinate round's task and partial")
        };
        let changed_unseen = |j| window.changed_in(j, unseen_rounds);
        self.filter.select(
            settings,
            candidates,
            unseen,
            pair_dots,
            *with_pairs,
            column_norms2,
            changed_unseen,
        );
        let kept = self.filter.kept();
        if settings.inner_passes > 0 && *with_pairs {
            let unseen_delta = window.total_changes(unseen_rounds, unseen);
            let statistics = (
                gradient.as_slice(),
                curvature.as_slice(),
                pair_dots.as_slice(),
            );
            self.steps
                .sequential(settings, kept, candidates, beta, &unseen_delta, statistics);
        } else {
            let lambda = settings.lambda;
            self.steps
                .parallel(kept, candidates, beta, gradient, curvature, lambda);
        }
    }
}

impl Steps {
    /// Parallel steps: each kept candidate (`kept`: positions in `candidates`) steps from the
    /// round's gradient and curvature.
    fn parallel(
        &mut self,
        kept: &[u32],
        candidates: &[u32],
        beta: &[f64],
        gradient: &[f64],
        curvature: &[f64],
        lambda: f64,
    ) {
        self.step.clear();
        for &position in kept {
            let position = position as usize;
            let j = candidates[position] as usize;
            let step = coordinate_step(beta[j], gradient[position], curvature[position], lambda);
            self.step.push(step - beta[j]);
        }
    }

    /// Gauss-Seidel steps over the kept candidates (`kept`: positions in `candidates`), up to
    /// `inner_passes` passes, without touching `beta`, from the round's summed `(gradient,
    /// curvature, pair_dots)`. `pair_dots` are over positions in `unseen ++ candidates`, where
    /// `unseen_delta` holds the total change of each unseen coordinate that the push did not see.
    fn sequential(
        &mut self,
        settings: &SolveSettings,
        kept: &[u32],
        candidates: &[u32],
        beta: &[f64],
        unseen_delta: &[f64],
        (gradient, curvature, pair_dots): (&[f64], &[f64], &[(u32, f64)]),
    ) {
        let (lambda, passes) = (settings.lambda, settings.inner_passes);
        let m = unseen_delta.len();
        let total = m + gradient.len();
        let kept_count = kept.len();
        // Position in the candidates -> index in `kept`.
        self.kept_index.clear();
        self.kept_index.resize(gradient.len(), u32::MAX);
        for (index, &position) in kept.iter().enumerate() {
            self.kept_index[position as usize] = index as u32;
        }
        // The gradients from the push miss the changes of the rounds it did not see: add them
        // through the Gram entries, `g_j + sum_k x_j . x_k delta_k`. The pairs of kept
        // candidates (decoded once: a key costs two integer divisions) make adjacency lists, by
        // counting then placing.
        self.corrected.clear();
        self.corrected
            .extend(kept.iter().map(|&position| gradient[position as usize]));
        self.kept_pairs.clear();
        for &(key, dot) in pair_dots {
            let (a, b) = pair_of(key, total);
            if a < m {
                if b >= m && unseen_delta[a] != 0.0 {
                    let kb = self.kept_index[b - m];
                    if kb != u32::MAX {
                        self.corrected[kb as usize] += dot * unseen_delta[a];
                    }
                }
                continue;
            }
            let (ka, kb) = (self.kept_index[a - m], self.kept_index[b - m]);
            if ka != u32::MAX && kb != u32::MAX {
                self.kept_pairs.push((ka, kb, dot));
            }
        }
        self.neighbour_start.clear();
        self.neighbour_start.resize(kept_count + 1, 0);
        for &(a, b, _) in &self.kept_pairs {
            self.neighbour_start[a as usize + 1] += 1;
            self.neighbour_start[b as usize + 1] += 1;
        }
        for index in 0..kept_count {
            self.neighbour_start[index + 1] += self.neighbour_start[index];
        }
        self.neighbours.clear();
        self.neighbours
            .resize(self.neighbour_start[kept_count] as usize, (0, 0.0));
        let mut fill: Vec<u32> = self.neighbour_start[..kept_count].to_vec();
        for &(a, b, dot) in &self.kept_pairs {
            let (a, b) = (a as usize, b as usize);
            self.neighbours[fill[a] as usize] = (b as u32, dot);
            fill[a] += 1;
            self.neighbours[fill[b] as usize] = (a as u32, dot);
            fill[b] += 1;
        }
        self.step.clear();
        self.step.resize(kept_count, 0.0);
        let mut first_pass_decrease = 0.0;
        for pass in 0..passes {
            // The objective decrease of a step is at least h delta^2 / 2; its sum over a pass
            // measures how much the pass still achieved.
            let mut decrease = 0.0;
            for (index, &position) in kept.iter().enumerate() {
                let position = position as usize;
                let j = candidates[position] as usize;
                let h = curvature[position];
                let current = beta[j] + self.step[index];
                let delta = coordinate_step(current, self.corrected[index], h, lambda) - current;
                if delta == 0.0 {
                    continue;
                }
                self.step[index] += delta;
                self.corrected[index] += h * delta;
                let (start, end) = (
                    self.neighbour_start[index] as usize,
                    self.neighbour_start[index + 1] as usize,
                );
                for &(other, dot) in &self.neighbours[start..end] {
                    self.corrected[other as usize] += dot * delta;
                }
                decrease += h * delta * delta;
            }
            if pass == 0 {
                first_pass_decrease = decrease;
            }
            if decrease <= 1e-3 * first_pass_decrease {
                break;
            }
        }
    }
}
