//! The active set and gap-safe screening: the coordinates not yet proven zero at the optimum.
//!
//! After a gap evaluation, the gap-safe rule drops coordinate `j` for good when
//! `|s x_j . theta| + ||x_j|| sqrt(2 L gap) < lambda` (`s theta` the feasible dual point; the
//! sphere of radius `sqrt(2 L gap)` around it holds the dual optimum), zeroing it if it is not
//! zero yet. The scheduler and the gap evaluations work on the coordinates that remain.

use super::gap::{Evaluation, GapEvaluator};
use super::SolveSettings;

/// The coordinates not screened out, and each coordinate's position among them.
pub(super) struct ActiveSet {
    /// Coordinates not screened out, in increasing order; the scheduler works on positions in
    /// this list.
    pub(super) active: Vec<u32>,
    /// Position of each coordinate in `active` (`u32::MAX` once screened out).
    pub(super) position: Vec<u32>,
    /// The smallest `||x_j||`: while the sphere alone reaches lambda on it, no column can pass.
    smallest_column_norm: f64,
}

impl ActiveSet {
    /// Every coordinate of columns with these squared norms.
    pub(super) fn new(column_norms2: &[f64]) -> Self {
        let active: Vec<u32> = (0..column_norms2.len() as u32).collect();
        ActiveSet {
            position: active.clone(),
            active,
            smallest_column_norm: column_norms2
                .iter()
                .fold(f64::INFINITY, |m, &n| m.min(n))
                .sqrt(),
        }
    }

    /// The active coordinates.
    pub(super) fn coordinates(&self) -> &[u32] {
        &self.active
    }

    /// How many coordinates are active.
    pub(super) fn len(&self) -> usize {
        self.active.len()
    }

    /// Whether every coordinate has been screened out.
    pub(super) fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The position of active coordinate `j` among the active ones.
    pub(super) fn position(&self, j: u32) -> u32 {
        self.position[j as usize]
    }

    /// After `evaluation`: drops the coordinates the gap-safe rule proves zero at the optimum,
    /// from the gap at the evaluation's own dual point `scale * theta` (the evaluator's `scale`
    /// and `X^T theta`), zeroing any of `beta` that are not zero yet. Returns those changes.
    pub(super) fn screen(
        &mut self,
        settings: &SolveSettings,
        evaluation: &Evaluation,
        evaluator: &GapEvaluator,
        column_norms: &[f64],
        beta: &mut [f64],
    ) -> Vec<(u32, f64)> {
        let radius = (2.0 * settings.smoothness * evaluation.current_gap).sqrt();
        let (lambda, scale, xt_theta) = (settings.lambda, evaluator.scale, &evaluator.xt_theta);
        let mut deltas = Vec::new();
        // No column can pass the test while the sphere alone reaches lambda: skip the pass.
        if radius * self.smallest_column_norm >= lambda {
            return deltas;
        }
        let before = self.active.len();
        self.active.retain(|&j| {
            let j = j as usize;
            let safe_zero = (scale * xt_theta[j]).abs() + radius * column_norms[j] < lambda;
            if safe_zero && beta[j] != 0.0 {
                deltas.push((j as u32, -beta[j]));
                beta[j] = 0.0;
            }
            !safe_zero
        });
        if self.active.len() < before {
            // Screening happens between barrier rounds, so no coordinate round is in flight.
            self.position.fill(u32::MAX);
            for (position, &j) in self.active.iter().enumerate() {
                self.position[j as usize] = position as u32;
            }
        }
        deltas
    }
}
