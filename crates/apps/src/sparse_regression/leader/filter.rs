//! Which of a round's candidates take a step: STRADS's dependency filter, plus the exclusion of
//! candidates whose statistics are stale.

use strads_core::dependency_filter_pairs;

use super::SolveSettings;
use crate::sparse_regression::kernels::pair_of;

/// The candidates a round keeps and drops (positions in its candidate list).
#[derive(Default)]
pub(super) struct DependencyFilter {
    kept: Vec<u32>,
    dropped: Vec<u32>,
}

impl DependencyFilter {
    /// Positions (in the round's candidates) of the kept candidates, in order.
    pub(super) fn kept(&self) -> &[u32] {
        &self.kept
    }

    /// Positions (in the round's candidates) of the dropped candidates.
    pub(super) fn dropped(&self) -> &[u32] {
        &self.dropped
    }

    /// Decides which `candidates` step. A candidate is excluded if it, or a coordinate of
    /// `unseen` correlated with it, changed in a round this push did not see (`changed_unseen`;
    /// its statistics are stale); the others go through the greedy dependency filter (never two
    /// kept with `|corr| >= rho`) on the pairs of `pair_dots`, which are over positions in
    /// `unseen ++ candidates`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn select(
        &mut self,
        settings: &SolveSettings,
        candidates: &[u32],
        unseen: &[u32],
        pair_dots: &[(u32, f64)],
        with_pairs: bool,
        column_norms2: &[f64],
        changed_unseen: impl Fn(u32) -> bool,
    ) {
        let n = candidates.len();
        let m = unseen.len();
        let total = m + n;
        // |corr| of a pair of positions in `unseen ++ candidates`.
        let coordinate = |position: usize| {
            if position < m {
                unseen[position]
            } else {
                candidates[position - m]
            }
        };
        let abs_corr = |a: usize, b: usize, dot: f64| {
            let norms = (column_norms2[coordinate(a) as usize]
                * column_norms2[coordinate(b) as usize])
                .sqrt();
            if norms > 0.0 {
                (dot / norms).abs()
            } else {
                0.0
            }
        };
        let mut excluded: Vec<bool> = candidates.iter().map(|&j| changed_unseen(j)).collect();
        let mut conflicts = Vec::new();
        // With the filter off (rho >= 1) and sequential steps, which also correct for the changes
        // the push did not see, no pair can conflict that matters: skip the pass over the pairs.
        let filter_needed = settings.rho < 1.0 || settings.inner_passes == 0;
        if with_pairs && filter_needed {
            let rho = settings.rho;
            for &(key, dot) in pair_dots {
                let (a, b) = pair_of(key, total);
                if b < m || abs_corr(a, b, dot) < rho {
                    continue;
                }
                if a >= m {
                    conflicts.push(((a - m) as u32, (b - m) as u32));
                } else if changed_unseen(unseen[a]) {
                    excluded[b - m] = true;
                }
            }
        }
        dependency_filter_pairs(n, &excluded, &conflicts, &mut self.kept, &mut self.dropped);
    }
}
