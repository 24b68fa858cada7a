//! The coordinate-descent kernels: plain functions over a worker's columns and row state.

use super::column_shard::ColumnShard;
use super::loss::Loss;

/// Per-row state of a worker: labels, predictions `p = X b` and the loss derivatives at them.
#[derive(Clone, Debug, Default)]
pub struct RowState {
    /// Labels `y_i`.
    pub labels: Vec<f64>,
    /// Predictions `p_i = x_i . b`.
    pub predictions: Vec<f64>,
    /// `f'(p_i)`.
    pub first: Vec<f64>,
    /// `f''(p_i)` (unused when the loss has constant curvature).
    pub second: Vec<f64>,
}

impl RowState {
    /// The state at `b = 0`.
    pub fn at_zero<L: Loss>(labels: Vec<f64>) -> Self {
        let n = labels.len();
        let (first, second) = labels.iter().map(|&y| L::derivatives(y, 0.0)).unzip();
        RowState {
            labels,
            predictions: vec![0.0; n],
            first,
            second,
        }
    }
}

/// `g_j = sum_i x_ij f'(p_i)` and `h_j = sum_i x_ij^2 f''(p_i)` over the worker's rows
/// (`h_j = sum_i x_ij^2` when the curvature is constant).
#[inline]
pub fn coordinate_statistics<L: Loss>(
    shard: &ColumnShard,
    j: usize,
    rows: &RowState,
) -> (f64, f64) {
    let (index, values) = shard.column(j);
    let mut g = 0.0;
    let mut h = 0.0;
    for (&i, &x) in index.iter().zip(values) {
        let i = i as usize;
        g += x * rows.first[i];
        h += if L::CONSTANT_CURVATURE {
            x * x
        } else {
            x * x * rows.second[i]
        };
    }
    (g, h)
}

/// Applies `b_j += delta`: `p_i += x_ij delta` on column j's rows, and refreshes the derivatives.
#[inline]
pub fn apply_delta<L: Loss>(shard: &ColumnShard, j: usize, delta: f64, rows: &mut RowState) {
    let (index, values) = shard.column(j);
    for (&i, &x) in index.iter().zip(values) {
        let i = i as usize;
        let p = rows.predictions[i] + x * delta;
        rows.predictions[i] = p;
        let (first, second) = L::derivatives(rows.labels[i], p);
        rows.first[i] = first;
        if !L::CONSTANT_CURVATURE {
            rows.second[i] = second;
        }
    }
}

/// `S(z, t) = sign(z) max(|z| - t, 0)`.
#[inline]
pub fn soft_threshold(z: f64, t: f64) -> f64 {
    if z > t {
        z - t
    } else if z < -t {
        z + t
    } else {
        0.0
    }
}

/// The minimiser over `b` of `g (b - b_j) + h/2 (b - b_j)^2 + lambda |b|`, i.e.
/// `b = S(h b_j - g, lambda) / h`: the exact coordinate minimiser for the squared loss, a
/// proximal Newton step for the logistic loss. A column with `h = 0` (no data) stays at 0.
#[inline]
pub fn coordinate_step(b_j: f64, g: f64, h: f64, lambda: f64) -> f64 {
    if h > 0.0 {
        soft_threshold(h * b_j - g, lambda) / h
    } else {
        0.0
    }
}

/// Partial dot products `x_a . x_b` over this worker's rows, for each requested pair of
/// candidate positions. Column a is scattered into `scratch` (length `n_rows`, all zero on entry
/// and on exit) once, then every pair (a, b) costs one pass over column b.
pub fn pair_dots(
    shard: &ColumnShard,
    candidates: &[u32],
    pairs: &[(u32, u32)],
    scratch: &mut [f64],
    out: &mut Vec<f64>,
) {
    out.clear();
    let mut scattered: Option<u32> = None;
    for &(a, b) in pairs {
        if scattered != Some(a) {
            if let Some(previous) = scattered {
                let (index, _) = shard.column(candidates[previous as usize] as usize);
                for &i in index {
                    scratch[i as usize] = 0.0;
                }
            }
            let (index, values) = shard.column(candidates[a as usize] as usize);
            for (&i, &x) in index.iter().zip(values) {
                scratch[i as usize] = x;
            }
            scattered = Some(a);
        }
        let (index, values) = shard.column(candidates[b as usize] as usize);
        out.push(
            index
                .iter()
                .zip(values)
                .map(|(&i, &x)| scratch[i as usize] * x)
                .sum(),
        );
    }
    if let Some(previous) = scattered {
        let (index, _) = shard.column(candidates[previous as usize] as usize);
        for &i in index {
            scratch[i as usize] = 0.0;
        }
    }
}

/// `X^T theta` over this worker's rows with `theta_i = -f'(p_i)`, written into `out` (length d).
pub fn gradient_dual_point(shard: &ColumnShard, rows: &RowState, out: &mut [f64]) {
    for (j, slot) in out.iter_mut().enumerate() {
        let (index, values) = shard.column(j);
        *slot = -index
            .iter()
            .zip(values)
            .map(|(&i, &x)| x * rows.first[i as usize])
            .sum::<f64>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse_regression::loss::SquaredLoss;
    use strads_io::SparseRows;

    #[test]
    fn coordinate_step_minimises_the_one_dimensional_problem() {
        // Brute force over a fine grid around the answer.
        for &(b, g, h, lambda) in &[
            (0.0, -3.0, 2.0, 1.0),
            (1.0, 0.5, 1.0, 0.2),
            (-0.5, 0.1, 4.0, 3.0),
        ] {
            let objective = |x: f64| g * (x - b) + 0.5 * h * (x - b) * (x - b) + lambda * x.abs();
            let best = coordinate_step(b, g, h, lambda);
            for k in -2000..=2000 {
                let x = best + k as f64 * 1e-3;
                assert!(objective(x) >= objective(best) - 1e-12);
            }
        }
    }

    #[test]
    fn pair_dots_match_dense_products() {
        let mut data = SparseRows::new();
        data.push_row(0.0, &[0, 1, 3], &[1.0, 2.0, 3.0]);
        data.push_row(0.0, &[1, 2], &[4.0, 5.0]);
        data.push_row(0.0, &[0, 2, 3], &[6.0, 7.0, 8.0]);
        let shard = ColumnShard::from_rows(&data, 4);
        let dense = [
            [1.0, 2.0, 0.0, 3.0],
            [0.0, 4.0, 5.0, 0.0],
            [6.0, 0.0, 7.0, 8.0],
        ];
        let candidates = [3u32, 0, 2, 1];
        let pairs = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)];
        let mut scratch = vec![0.0; 3];
        let mut out = Vec::new();
        pair_dots(&shard, &candidates, &pairs, &mut scratch, &mut out);
        for (k, &(a, b)) in pairs.iter().enumerate() {
            let (ca, cb) = (
                candidates[a as usize] as usize,
                candidates[b as usize] as usize,
            );
            let expected: f64 = dense.iter().map(|row| row[ca] * row[cb]).sum();
            assert_eq!(out[k], expected);
        }
        assert!(scratch.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn applying_a_delta_keeps_predictions_equal_to_x_b() {
        let mut data = SparseRows::new();
        data.push_row(1.0, &[0, 1], &[1.0, 2.0]);
        data.push_row(-2.0, &[1], &[3.0]);
        let shard = ColumnShard::from_rows(&data, 2);
        let mut rows = RowState::at_zero::<SquaredLoss>(data.labels.clone());
        apply_delta::<SquaredLoss>(&shard, 1, 0.5, &mut rows);
        apply_delta::<SquaredLoss>(&shard, 0, -1.0, &mut rows);
        assert_eq!(rows.predictions, vec![-1.0 + 1.0, 1.5]);
        assert_eq!(rows.first, vec![0.0 - 1.0, 1.5 + 2.0]);
    }
}
