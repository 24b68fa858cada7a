//! Spectral initialisation of H for CCD++ and ALS.
//!
//! Why: from a random H, the first W half-step regresses every user's ratings on random item
//! features, so the first two or three iterations of CCD++ and of ALS do little but align the
//! factors with the data (they act as a power iteration; on the benchmark problem the test RMSE
//! after iterations 1 and 2 is worse than predicting 0). The scale of the random start does not
//! matter much; its direction does. So H starts instead in the top-`rank` eigenvector subspace of
//! the item co-rating matrix `A = R^T R - D`, computed by a few steps of subspace iteration, the
//! spectral initialisation of matrix completion (Keshavan, Montanari, Oh 2010; Jain, Netrapalli,
//! Sanghavi 2013). `R` is the sparse training matrix with zeros where nothing was observed.
//!
//! `D = diag(sum_i r_ij^2)` is removed because it is the noise's share of `R^T R` and grows with
//! the item's rating count: with popularity skew, the eigenvectors of `R^T R` itself concentrate
//! on the most rated items ("diagonal deletion", as in heteroskedastic PCA).
//!
//! Each step computes `Y = A Q` with the same two sparse passes and halo exchanges as an ALS
//! iteration (`W = R Q` on the user side, `R^T W` on the item side), each a single pass over the
//! ratings with `rank`-wide rows, so a step costs a fraction of a CCD++ iteration. The columns are
//! then re-orthonormalised from the `rank x rank` Gram matrix `Y^T Y`. A last Rayleigh-Ritz step
//! orders the columns by their eigenvalue in `A` (CCD++ fits the rank-one terms in column order,
//! so the strongest comes first), and each column is scaled so that the rating-weighted mean of
//! `h_jt^2` is `sqrt(mean r^2 / rank)`: the magnitude of balanced factors whose product has the
//! ratings' mean square. W stays 0, as with the random start; the solvers begin with a W half.
//!
//! The `rank x rank` sums over items are added up exactly (fixed point in `i128`,
//! [`exact_cross`]), so the result does not depend on how the items are split between workers
//! and CCD++ and ALS still give the same factors for every cluster shape.

// Rows are addressed by index into parallel arrays.
#![allow(clippy::needless_range_loop)]

use strads_core::prefetch::prefetch_slice;
use strads_engine::{EngineError, Worker};

use super::kernels::symmetric_eigen;
use super::shard::Side;
use super::tiles::Tiles;
use super::Local;

/// Where the spectral start reads the item side's training ratings.
#[derive(Clone, Copy)]
pub enum ItemRatings<'a> {
    /// The item side's rows (`Local::items`), as ALS keeps them.
    Rows,
    /// CCD++'s tiles of the item side, before their first step (the residual is then the
    /// ratings). CCD++ builds them before the start and frees the item side's rows, so that its
    /// two layouts of the ratings are never held beside W and the W rows the items need.
    Tiles(&'a Tiles),
}

/// Replaces `local.h` (a random start) by the spectral initialisation after `steps` steps of
/// subspace iteration; sets `local.w` to 0. `mean_square` is the mean squared training rating,
/// `n_items` the number of items in all workers. Collective.
pub fn spectral(
    worker: &mut Worker<'_>,
    local: &mut Local,
    item_ratings: ItemRatings<'_>,
    steps: usize,
    mean_square: f64,
    n_items: usize,
) -> Result<(), EngineError> {
    let k = local.rank;
    let items = &local.items;
    let n_owned = items.len();
    let diagonal: Vec<f64> = match item_ratings {
        ItemRatings::Rows => (0..n_owned)
            .map(|j| items.values[items.row(j)].iter().map(|r| r * r).sum())
            .collect(),
        ItemRatings::Tiles(tiles) => tiles.squared_sums(n_owned),
    };
    // A column the data gives no direction for (its Gram eigenvalue is exactly 0, e.g. with
    // fewer items than the rank or all-zero ratings) ends up 0; it keeps its random start
    // instead, since neither CCD++ nor ALS ever moves a factor column away from all-zero.
    let random = local.h.clone();
    // Q lives in `local.h` so that the halo exchanges of H carry it.
    for _ in 0..steps {
        let y = apply(worker, local, &item_ratings, &diagonal)?;
        // Y = V' S U^T (thin SVD): with Y^T Y = U S^2 U^T, Y U S^-1 has orthonormal columns.
        let gram = exact_cross(worker, &y, &y, k, n_items)?;
        let (values, vectors) = symmetric_eigen(&gram, k);
        let inverse_norms: Vec<f64> = values
            .iter()
            .map(|&s2| if s2 > 0.0 { 1.0 / s2.sqrt() } else { 0.0 })
            .collect();
        rotate(&y, &vectors, &inverse_norms, k, &mut local.h);
    }
    // Rayleigh-Ritz: the eigenvectors of Q^T A Q, ordered by eigenvalue, largest first.
    let y = apply(worker, local, &item_ratings, &diagonal)?;
    let projected = exact_cross(worker, &local.h, &y, k, n_items)?;
    let (_, vectors) = symmetric_eigen(&projected, k);
    let q = local.h.clone();
    rotate(&q, &vectors, &vec![1.0; k], k, &mut local.h);
    // Scale column t so that sum_j n_j h_jt^2 / sum_j n_j = sqrt(mean r^2 / rank).
    let (items, h) = (&local.items, &local.h);
    let weighted = exact_row_sums(worker, n_owned, n_items, k + 1, |j, out| {
        let n = items.row(j).len() as f64;
        for t in 0..k {
            out[t] = n * h[j * k + t] * h[j * k + t];
        }
        out[k] = n;
    })?;
    let target = (mean_square / k as f64).sqrt();
    let scales: Vec<f64> = (0..k)
        .map(|t| {
            if weighted[t] > 0.0 {
                (target * weighted[k] / weighted[t]).sqrt()
            } else {
                0.0
            }
        })
        .collect();
    for (row, random_row) in local.h.chunks_exact_mut(k).zip(random.chunks_exact(k)) {
        for t in 0..k {
            row[t] = if scales[t] > 0.0 {
                row[t] * scales[t]
            } else {
                random_row[t]
            };
        }
    }
    local.w.iter_mut().for_each(|x| *x = 0.0);
    Ok(())
}

/// `A Q = R^T (R Q) - D Q` for the owned items, with Q in `local.h`; leaves `R Q` in `local.w`.
fn apply(
    worker: &mut Worker<'_>,
    local: &mut Local,
    item_ratings: &ItemRatings<'_>,
    diagonal: &[f64],
) -> Result<Vec<f64>, EngineError> {
    let k = local.rank;
    local.refresh_h(worker)?;
    multiply(&local.users, &local.h_needed, k, &mut local.w);
    local.refresh_w(worker)?;
    let mut y = vec![0.0; local.h.len()];
    match item_ratings {
        ItemRatings::Rows => multiply(&local.items, &local.w_needed, k, &mut y),
        ItemRatings::Tiles(tiles) => tiles.multiply(&local.w_needed, k, &mut y),
    }
    for (j, d) in diagonal.iter().enumerate() {
        for t in 0..k {
            y[j * k + t] -= d * local.h[j * k + t];
        }
    }
    Ok(y)
}

/// `out_i = sum_j r_ij other_j` for every owned row `i` (rows `k` wide), in rating order.
///
/// The rows of `other` are read in column order within a row but jump across all of `other`
/// from row to row; on the item side `other` is W (tens of megabytes). So the columns are cut
/// into tiles whose rows of `other` fit in cache, and the pass runs tile by tile, each row
/// resuming where the previous tile stopped (its columns are sorted). Every row still adds its
/// ratings in the same order, so the result is the same as a plain row-by-row pass.
///
/// The usual ranks run a copy of the pass with the rank fixed at compile time: a row's `k` sums
/// then stay in registers across its ratings and each rating is a few vector multiply-adds,
/// where a run-time rank loaded and stored the sums at every rating (the pass took half the time
/// of an ALS normal-equations pass for a sixth of its arithmetic). Each sum still adds its
/// terms one by one in rating order, so every rank gives the same result as the plain loop.
fn multiply(side: &Side, other: &[f64], k: usize, out: &mut [f64]) {
    match k {
        1 => multiply_fixed::<1>(side, other, out),
        2 => multiply_fixed::<2>(side, other, out),
        4 => multiply_fixed::<4>(side, other, out),
        5 => multiply_fixed::<5>(side, other, out),
        8 => multiply_fixed::<8>(side, other, out),
        10 => multiply_fixed::<10>(side, other, out),
        16 => multiply_fixed::<16>(side, other, out),
        20 => multiply_fixed::<20>(side, other, out),
        _ => multiply_any(side, other, k, out),
    }
}

/// How many ratings ahead [`multiply_fixed`] prefetches the other side's row: the user side
/// reads H at random, and its rows miss the first-level cache.
const PREFETCH_RATINGS: usize = 8;

/// [`multiply`] with the rank `K` known at compile time.
fn multiply_fixed<const K: usize>(side: &Side, other: &[f64], out: &mut [f64]) {
    let tile = (TILE_BYTES / (8 * K)).max(1);
    let n_other = other.len() / K;
    out.iter_mut().for_each(|x| *x = 0.0);
    let mut cursor: Vec<usize> = (0..side.len()).map(|i| side.row(i).start).collect();
    let (cols, values) = (&side.cols[..], &side.values[..]);
    for tile_end in (1..=n_other.div_ceil(tile)).map(|t| (t * tile).min(n_other)) {
        for (i, row) in out.chunks_exact_mut(K).enumerate() {
            let (mut n, end) = (cursor[i], side.row(i).end);
            let mut sums: [f64; K] = row.try_into().expect("rows are K wide");
            while n < end && (cols[n] as usize) < tile_end {
                if let Some(&ahead) = cols[..end].get(n + PREFETCH_RATINGS) {
                    prefetch_slice(&other[ahead as usize * K..][..K]);
                }
                let r = values[n];
                let o: &[f64; K] = other[cols[n] as usize * K..][..K]
                    .try_into()
                    .expect("rows are K wide");
                for t in 0..K {
                    sums[t] += r * o[t];
                }
                n += 1;
            }
            row.copy_from_slice(&sums);
            cursor[i] = n;
        }
    }
}

/// [`multiply`] for any rank.
fn multiply_any(side: &Side, other: &[f64], k: usize, out: &mut [f64]) {
    let tile = (TILE_BYTES / (8 * k)).max(1);
    let n_other = other.len() / k;
    out.iter_mut().for_each(|x| *x = 0.0);
    let mut cursor: Vec<usize> = (0..side.len()).map(|i| side.row(i).start).collect();
    for tile_end in (1..=n_other.div_ceil(tile)).map(|t| (t * tile).min(n_other)) {
        for i in 0..side.len() {
            let row = &mut out[i * k..(i + 1) * k];
            let (mut n, end) = (cursor[i], side.row(i).end);
            while n < end && (side.cols[n] as usize) < tile_end {
                let r = side.values[n];
                let o = &other[side.cols[n] as usize * k..][..k];
                for (x, y) in row.iter_mut().zip(o) {
                    *x += r * y;
                }
                n += 1;
            }
            cursor[i] = n;
        }
    }
}

/// Bytes of the other side's rows per tile of [`multiply`]: a quarter of the benchmark machine's
/// last-level cache (measured there: 2 MiB tiles make the item side's pass 2.3x faster than no
/// tiles, and 1/4 MiB tiles slower again from the per-tile overhead). A side whose other rows fit
/// in one tile (the user side, which reads H) runs as a plain pass.
const TILE_BYTES: usize = 2 << 20;

/// `out = input V diag(scales)`: row by row, `out_j,t = scales_t sum_s input_j,s V_s,t`, with
/// the eigenvectors `V` in the columns of `vectors` (`k x k`, row-major).
fn rotate(input: &[f64], vectors: &[f64], scales: &[f64], k: usize, out: &mut [f64]) {
    for (row_in, row_out) in input.chunks_exact(k).zip(out.chunks_exact_mut(k)) {
        for t in 0..k {
            let s: f64 = (0..k).map(|u| row_in[u] * vectors[u * k + t]).sum();
            row_out[t] = scales[t] * s;
        }
    }
}

/// `A^T B` (`k x k`, row-major) over all workers' rows of `A` and `B` (`k` wide; `n_rows` rows
/// in all workers), summed exactly.
fn exact_cross(
    worker: &mut Worker<'_>,
    a: &[f64],
    b: &[f64],
    k: usize,
    n_rows: usize,
) -> Result<Vec<f64>, EngineError> {
    exact_row_sums(worker, a.len() / k, n_rows, k * k, |j, out| {
        let (ra, rb) = (&a[j * k..(j + 1) * k], &b[j * k..(j + 1) * k]);
        for s in 0..k {
            for t in 0..k {
                out[s * k + t] = ra[s] * rb[t];
            }
        }
    })
}

/// `sum over rows j of term(j)` (vectors of `width`) over the `rows` owned rows of every worker
/// (`n_rows` in all), exact up to one rounding of each term: the terms are rounded to a fixed
/// point whose unit depends only on the largest term of any worker, and added as integers, so
/// the order (hence the split between workers) does not matter.
fn exact_row_sums(
    worker: &mut Worker<'_>,
    rows: usize,
    n_rows: usize,
    width: usize,
    term: impl Fn(usize, &mut [f64]),
) -> Result<Vec<f64>, EngineError> {
    let mut out = vec![0.0; width];
    let mut largest = 0.0f64;
    for j in 0..rows {
        term(j, &mut out);
        largest = out.iter().fold(largest, |m, x| m.max(x.abs()));
    }
    let largest = worker
        .all_gather(&largest)?
        .into_iter()
        .fold(0.0f64, f64::max);
    let unit = fixed_point_unit(largest * n_rows.max(1) as f64);
    let mut partial = vec![0i128; width];
    for j in 0..rows {
        term(j, &mut out);
        for (p, x) in partial.iter_mut().zip(&out) {
            *p += to_fixed(*x, unit);
        }
    }
    let parts: Vec<Vec<i128>> = worker.all_gather(&partial)?;
    let mut sum = vec![0i128; width];
    for part in &parts {
        for (s, x) in sum.iter_mut().zip(part) {
            *s += x;
        }
    }
    Ok(sum.into_iter().map(|x| x as f64 / unit).collect())
}

/// A power of two `u` such that sums of magnitude up to `bound` are below `2^120` in units of
/// `1 / u`: far inside `i128`, and 67 bits finer than an `f64` at that magnitude.
fn fixed_point_unit(bound: f64) -> f64 {
    if !(bound > 0.0 && bound.is_finite()) {
        return 1.0;
    }
    let exponent = (120 - bound.log2().ceil() as i32 - 1).clamp(-1000, 1000);
    2f64.powi(exponent)
}

/// `x` in units of `1 / unit`, rounded. The same `x` gives the same integer on every worker, and
/// integer sums do not depend on their order.
fn to_fixed(x: f64, unit: f64) -> i128 {
    (x * unit).round() as i128
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mf::shard::build_side;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `multiply` at every rank it specialises and at others equals the plain sum written here,
    /// bit for bit, with enough other-side rows for several tiles.
    #[test]
    fn multiply_equals_the_plain_row_sums() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for k in [1, 3, 10, 16, 20] {
            let (n_rows, n_other) = (40, TILE_BYTES / (8 * k) * 2 + 7);
            let n_ratings = 3000;
            let rows: Vec<u32> = (0..n_ratings).map(|_| rng.gen_range(0..n_rows)).collect();
            let cols: Vec<u32> = (0..n_ratings)
                .map(|_| rng.gen_range(0..n_other as u32))
                .collect();
            let values: Vec<f64> = (0..n_ratings).map(|_| rng.gen_range(-2.0..5.0)).collect();
            let side = build_side(0..n_rows as usize, (&rows, &cols, &values), None, n_other);
            let other: Vec<f64> = (0..n_other * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut out = vec![f64::NAN; n_rows as usize * k];
            multiply(&side, &other, k, &mut out);
            // The side's rows hold their ratings by column; each sum adds them in that order.
            let mut expected = vec![0.0; n_rows as usize * k];
            for i in 0..side.len() {
                for n in side.row(i) {
                    let c = side.cols[n] as usize;
                    for t in 0..k {
                        expected[i * k + t] += side.values[n] * other[c * k + t];
                    }
                }
            }
            assert_eq!(out, expected, "rank {k}");
        }
    }
}
