//! The coordinate-descent kernels: plain functions over a worker's columns and row state.

use super::column_shard::ColumnShard;
use super::loss::Loss;

/// Per-row state of a worker: labels, predictions `p = X b` and the loss derivatives at them.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
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
    // Without branches: whether a coordinate crosses the threshold is as unpredictable as a coin
    // near the optimum, and a mispredicted branch cost more than a sweep's step on a short
    // column. The same values as the branches `z - t`, `z + t`, `0` (rounding is symmetric in
    // sign), and 0 for a NaN `z`.
    (z.abs() - t).max(0.0).copysign(z)
}

/// The minimiser over `b` of `g (b - b_j) + h/2 (b - b_j)^2 + lambda |b|`, i.e.
/// `b = S(h b_j - g, lambda) / h`: the exact coordinate minimiser for the squared loss, a
/// proximal Newton step for the logistic loss. With `h = 0` (an empty column, or logistic rows so
/// saturated that the curvature underflows) the coefficient is left as it is.
#[inline]
pub fn coordinate_step(b_j: f64, g: f64, h: f64, lambda: f64) -> f64 {
    if h > 0.0 {
        soft_threshold(h * b_j - g, lambda) / h
    } else {
        b_j
    }
}

/// Reusable buffers of [`round_statistics`]; all empty between calls.
#[derive(Clone, Debug, Default)]
pub struct OverlapScratch {
    /// Per local row: the first entry on it, or `u32::MAX`.
    head: Vec<u32>,
    /// Per entry: the next entry on the same row.
    next: Vec<u32>,
    /// Per entry: its candidate position and value.
    entries: Vec<(u32, f64)>,
    touched_rows: Vec<u32>,
    /// The current column's dot products with the earlier columns, by their position: a
    /// `U'`-long accumulator that stays in the L1 cache (a dense `U' x U'` one, 2 MB at
    /// `U' = 512`, missed the cache on most pair updates).
    dots: Vec<f64>,
    /// Whether `dots[a]` was touched in the current column, and the positions that were.
    touched: Vec<bool>,
    touched_positions: Vec<u32>,
    /// Entry ranges of the round's columns.
    ranges: Vec<(usize, usize)>,
}

impl OverlapScratch {
    /// Scratch for a shard of `n_rows` rows.
    pub fn new(n_rows: usize) -> Self {
        OverlapScratch {
            head: vec![u32::MAX; n_rows],
            ..Default::default()
        }
    }
}

/// The key of the pair of candidate positions `a < b` among `n` candidates: ordered by `b`, then
/// `a`, the order in which [`round_statistics`] finds the pairs.
#[inline]
pub fn pair_key(a: usize, b: usize, n: usize) -> u32 {
    debug_assert!(a < b && b < n);
    (b * n + a) as u32
}

/// The pair `(a, b)` of a [`pair_key`] among `n` candidates.
#[inline]
pub fn pair_of(key: u32, n: usize) -> (usize, usize) {
    (key as usize % n, key as usize / n)
}

/// A round's statistics in one pass over the columns of `unseen ++ candidates`: for each
/// candidate, `g_j` and `h_j` (as [`coordinate_statistics`]); and, if `pairs`, the partial dot
/// products `x_a . x_b` over this worker's rows for every pair of positions that share at least
/// one row here, as `(pair_key(a, b), dot)` sorted by key.
///
/// Pairs that share no row are left out: their partial is exactly zero, and for sparse data they
/// are almost all pairs. The pairs cost one step per pair of entries on a common row, on top of
/// the pass that the gradients need anyway (so the column data is fetched from memory once).
#[allow(clippy::too_many_arguments)]
pub fn round_statistics<L: Loss>(
    shard: &ColumnShard,
    rows: &RowState,
    unseen: &[u32],
    candidates: &[u32],
    pairs: bool,
    scratch: &mut OverlapScratch,
    gradient: &mut Vec<f64>,
    curvature: &mut Vec<f64>,
    pair_dots: &mut Vec<(u32, f64)>,
) {
    gradient.clear();
    curvature.clear();
    pair_dots.clear();
    let m = unseen.len();
    let n = m + candidates.len();
    if pairs && scratch.dots.len() < n {
        scratch.dots.resize(n, 0.0);
        scratch.touched.resize(n, false);
    }
    // Column ranges first: independent loads the processor can overlap, instead of one cache
    // miss at the start of every column.
    scratch.ranges.clear();
    scratch
        .ranges
        .extend(unseen.iter().chain(candidates).map(|&j| {
            (
                shard.col_offsets[j as usize],
                shard.col_offsets[j as usize + 1],
            )
        }));
    for b in 0..n {
        let (start, end) = scratch.ranges[b];
        let (index, values) = (&shard.rows[start..end], &shard.values[start..end]);
        let (mut g, mut h) = (0.0, 0.0);
        for (&i, &x) in index.iter().zip(values) {
            if b >= m {
                g += x * rows.first[i as usize];
                h += if L::CONSTANT_CURVATURE {
                    x * x
                } else {
                    x * x * rows.second[i as usize]
                };
            }
            if !pairs {
                continue;
            }
            let mut e = scratch.head[i as usize];
            if e == u32::MAX {
                scratch.touched_rows.push(i);
            }
            while e != u32::MAX {
                let (a, xa) = scratch.entries[e as usize];
                if !std::mem::replace(&mut scratch.touched[a as usize], true) {
                    scratch.touched_positions.push(a);
                }
                scratch.dots[a as usize] += xa * x;
                e = scratch.next[e as usize];
            }
            scratch.next.push(scratch.head[i as usize]);
            scratch.head[i as usize] = scratch.entries.len() as u32;
            scratch.entries.push((b as u32, x));
        }
        if b >= m {
            gradient.push(g);
            curvature.push(h);
        }
        // Column b's pairs, in order of a: emitted column by column, the list is in key order
        // without a sort of the whole list (which took a seventh of the time at 0.001).
        scratch.touched_positions.sort_unstable();
        for &a in &scratch.touched_positions {
            let a = a as usize;
            pair_dots.push((pair_key(a, b, n), scratch.dots[a]));
            scratch.dots[a] = 0.0;
            scratch.touched[a] = false;
        }
        scratch.touched_positions.clear();
    }
    if !pairs {
        return;
    }
    debug_assert!(pair_dots.windows(2).all(|w| w[0].0 < w[1].0));
    for &i in &scratch.touched_rows {
        scratch.head[i as usize] = u32::MAX;
    }
    scratch.touched_rows.clear();
    scratch.entries.clear();
    scratch.next.clear();
}

/// Adds the sparse, key-sorted list `other` into `sum` (also key-sorted).
pub fn add_sparse(sum: &mut Vec<(u32, f64)>, other: &[(u32, f64)]) {
    if other.is_empty() {
        return;
    }
    let mut merged = Vec::with_capacity(sum.len() + other.len());
    let (mut i, mut k) = (0, 0);
    while i < sum.len() || k < other.len() {
        match (sum.get(i), other.get(k)) {
            (Some(&(a, x)), Some(&(b, y))) if a == b => {
                merged.push((a, x + y));
                i += 1;
                k += 1;
            }
            (Some(&(a, x)), Some(&(b, _))) if a < b => {
                merged.push((a, x));
                i += 1;
            }
            (Some(&(a, x)), None) => {
                merged.push((a, x));
                i += 1;
            }
            (_, Some(&(b, y))) => {
                merged.push((b, y));
                k += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    *sum = merged;
}

/// `X^T theta` over this worker's rows with `theta_i = -f'(p_i)`, for the listed columns (all
/// columns when `columns` is `None`), written into `out` in the same order.
pub fn gradient_dual_point(
    shard: &ColumnShard,
    rows: &RowState,
    columns: Option<&[u32]>,
    out: &mut Vec<f64>,
) {
    let dot = |j: usize| {
        let (index, values) = shard.column(j);
        -index
            .iter()
            .zip(values)
            .map(|(&i, &x)| x * rows.first[i as usize])
            .sum::<f64>()
    };
    out.clear();
    match columns {
        Some(columns) => out.extend(columns.iter().map(|&j| dot(j as usize))),
        None => out.extend((0..shard.n_cols()).map(dot)),
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
    fn round_statistics_match_dense_products() {
        let mut data = SparseRows::new();
        data.push_row(1.0, &[0, 1, 3], &[1.0, 2.0, 3.0]);
        data.push_row(-1.0, &[1, 2], &[4.0, 5.0]);
        data.push_row(0.5, &[0, 2, 3], &[6.0, 7.0, 8.0]);
        data.push_row(2.0, &[4], &[1.0]);
        let shard = ColumnShard::from_rows(&data, 5);
        let dense = [
            [1.0, 2.0, 0.0, 3.0, 0.0],
            [0.0, 4.0, 5.0, 0.0, 0.0],
            [6.0, 0.0, 7.0, 8.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 1.0],
        ];
        let rows = RowState::at_zero::<SquaredLoss>(data.labels.clone());
        let (unseen, candidates) = ([3u32, 0], [4u32, 2, 1]);
        let all: Vec<u32> = unseen.iter().chain(&candidates).copied().collect();
        let mut scratch = OverlapScratch::new(4);
        let (mut gradient, mut curvature, mut dots) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..2 {
            // Twice, to check the scratch is left clean.
            round_statistics::<SquaredLoss>(
                &shard,
                &rows,
                &unseen,
                &candidates,
                true,
                &mut scratch,
                &mut gradient,
                &mut curvature,
                &mut dots,
            );
            let n = all.len();
            let mut expected = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    let (ca, cb) = (all[a] as usize, all[b] as usize);
                    let dot: f64 = dense.iter().map(|row| row[ca] * row[cb]).sum();
                    if dense.iter().any(|row| row[ca] != 0.0 && row[cb] != 0.0) {
                        expected.push((pair_key(a, b, n), dot));
                    }
                }
            }
            expected.sort_by_key(|&(key, _)| key);
            assert_eq!(dots, expected);
            for (k, &j) in candidates.iter().enumerate() {
                assert_eq!(
                    (gradient[k], curvature[k]),
                    coordinate_statistics::<SquaredLoss>(&shard, j as usize, &rows)
                );
            }
        }
        round_statistics::<SquaredLoss>(
            &shard,
            &rows,
            &[],
            &candidates,
            false,
            &mut scratch,
            &mut gradient,
            &mut curvature,
            &mut dots,
        );
        assert!(dots.is_empty());
        assert_eq!(gradient.len(), 3);
    }

    #[test]
    fn sparse_sums_merge_by_key() {
        let mut sum = vec![(1, 1.0), (4, 2.0), (9, 3.0)];
        add_sparse(&mut sum, &[(0, 5.0), (4, 1.0), (10, 1.0)]);
        assert_eq!(sum, vec![(0, 5.0), (1, 1.0), (4, 3.0), (9, 3.0), (10, 1.0)]);
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
