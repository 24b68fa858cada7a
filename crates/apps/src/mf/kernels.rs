//! The matrix-factorisation kernels as plain functions over slices: a CCD++ coordinate update and
//! its residual update, an ALS row solve (normal equations by a small dense Cholesky), and an SGD
//! step. Every sum runs over the row's ratings in the order given, so the caller fixes the
//! floating-point summation order.
//!
//! Objective: `sum_(i,j) (r_ij - w_i . h_j)^2 + lambda (sum_i c_i ||w_i||^2 + sum_j c_j ||h_j||^2)`;
//! `reg` below is `lambda c_i` of the row being updated.

use strads_core::prefetch::prefetch_slice;

/// CCD++ update of one coordinate `w_it` with everything else fixed (the exact minimiser):
///
/// `w_it = sum_j (e_ij + w_old h_old_jt) h_new_jt / (reg + sum_j h_new_jt^2)`
///
/// where `e_ij = r_ij - w_i . h_j` is the residual with the current term `w_old h_old_jt` still
/// in it, so `e_ij + w_old h_old_jt` is the residual without the rank-one term `t`, and `h_new`
/// is the other factor's column `t` to fit against (for the W half `h_new = h_old`; for the H
/// half the users' column changed just before).
///
/// `residual[k]` belongs to the rating whose other row is `cols[k]`; that row's old and new
/// values are `other[cols[k] * stride + old_at]` and `other[cols[k] * stride + new_at]` (the
/// exchanged values arrive interleaved). A row whose denominator is 0 (no ratings, no penalty)
/// gets 0.
#[allow(clippy::too_many_arguments)]
pub fn ccd_coordinate(
    residual: &[f64],
    cols: &[u32],
    other: &[f64],
    stride: usize,
    old_at: usize,
    new_at: usize,
    own_old: f64,
    reg: f64,
) -> f64 {
    let mut numerator = 0.0;
    let mut denominator = reg;
    for (&e, &c) in residual.iter().zip(cols) {
        let base = c as usize * stride;
        let (h_old, h_new) = (other[base + old_at], other[base + new_at]);
        numerator += (e + own_old * h_old) * h_new;
        denominator += h_new * h_new;
    }
    ratio_or_zero(numerator, denominator)
}

/// `numerator / denominator`, or 0 when the denominator is 0.
#[inline]
fn ratio_or_zero(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

/// The user side's pass after a rank-one step, fused with the next step's coordinate update:
/// every residual of the row becomes `ccd_residual(e, w_old, h_old, w_new, h_new)` and then, with
/// the updated residuals and the next column, the next coordinate's exact minimiser is returned
/// (what [`ccd_coordinate`] would compute on the updated residuals, in the same order).
///
/// `triples[cols[k] * 3..]` holds `(h_old, h_new, h_next)` of the rating's item; `w` is
/// `(w_old, w_new)` of this row for the finished step and `w_next` its current value in the
/// next column.
pub fn ccd_update_and_next(
    residual: &mut [f64],
    cols: &[u32],
    triples: &[f64],
    (w_old, w_new): (f64, f64),
    w_next: f64,
    reg_next: f64,
) -> f64 {
    let mut numerator = 0.0;
    let mut denominator = reg_next;
    for (e, &c) in residual.iter_mut().zip(cols) {
        let h = &triples[c as usize * 3..c as usize * 3 + 3];
        let updated = ccd_residual(*e, w_old, h[0], w_new, h[1]);
        *e = updated;
        numerator += (updated + w_next * h[2]) * h[2];
        denominator += h[2] * h[2];
    }
    ratio_or_zero(numerator, denominator)
}

/// The residual after the rank-one term `w_t h_t^T` changed from `(w_old, h_old)` to
/// `(w_new, h_new)` at one rating: `e + w_old h_old - w_new h_new`, evaluated in this order so
/// that the copy kept by users and the copy kept by items stay bit-identical.
#[inline]
pub fn ccd_residual(e: f64, w_old: f64, h_old: f64, w_new: f64, h_new: f64) -> f64 {
    (e + w_old * h_old) - w_new * h_new
}

/// A matrix that is not positive definite: its `index`-th pivot was not positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the normal equations are not positive definite (pivot {index})")]
pub struct NotPositiveDefinite {
    /// The 0-based index of the failing pivot.
    pub index: usize,
}

/// Scratch space for [`als_row`], sized for one rank.
#[derive(Clone, Debug)]
pub struct AlsScratch {
    gram: Vec<f64>,
    rhs: Vec<f64>,
    /// A chunk of the other side's rows, transposed (see [`normal_equations`]).
    columns: Vec<f64>,
    /// The partial sums of the normal equations (see [`normal_equations`]).
    lanes: Vec<[f64; 4]>,
    /// The Gram matrix before its factorisation (see [`als_row_with_error`]).
    kept: Vec<f64>,
}

impl AlsScratch {
    /// Scratch for rank `rank`.
    pub fn new(rank: usize) -> Self {
        AlsScratch {
            gram: vec![0.0; rank * rank],
            rhs: vec![0.0; rank],
            columns: Vec::new(),
            kept: vec![0.0; rank * rank],
            lanes: Vec::new(),
        }
    }
}

/// ALS row update: the `w` minimising `sum_j (r_j - w . h_j)^2 + reg ||w||^2`, i.e. the solution
/// of the normal equations `(sum_j h_j h_j^T + reg I) w = sum_j r_j h_j`.
///
/// Rating `k` has value `values[k]` and other-side row `other[cols[k] * rank..][..rank]`. The
/// result goes to `out` (length `rank`).
pub fn als_row(
    values: &[f64],
    cols: &[u32],
    other: &[f64],
    reg: f64,
    scratch: &mut AlsScratch,
    out: &mut [f64],
) -> Result<(), NotPositiveDefinite> {
    normal_equations(values, cols, other, out.len(), scratch);
    solve_normal_equations(reg, scratch, out)
}

/// Solves the normal equations that [`normal_equations`] left in `scratch`, with `reg` added to
/// the diagonal, into `out` (the Gram matrix is overwritten by its factor).
fn solve_normal_equations(
    reg: f64,
    scratch: &mut AlsScratch,
    out: &mut [f64],
) -> Result<(), NotPositiveDefinite> {
    let rank = out.len();
    let gram = &mut scratch.gram;
    for a in 0..rank {
        gram[a * rank + a] += reg;
    }
    out.copy_from_slice(&scratch.rhs);
    cholesky_solve(gram, out, rank)
}

/// [`als_row`], also returning the row's squared error at the solution,
/// `sum_j (r_j - w . h_j)^2`, from the normal equations instead of another pass over the
/// ratings: with `G = sum_j h_j h_j^T` and `b = sum_j r_j h_j` it is
/// `sum_j r_j^2 - 2 w . b + w^T G w`. `squares` is `sum_j r_j^2`. ALS's training error after an
/// H half costs `rank^2` per item this way, not `rank` per rating.
#[allow(clippy::too_many_arguments)]
pub fn als_row_with_error(
    values: &[f64],
    cols: &[u32],
    other: &[f64],
    reg: f64,
    squares: f64,
    scratch: &mut AlsScratch,
    out: &mut [f64],
) -> Result<f64, NotPositiveDefinite> {
    normal_equations(values, cols, other, out.len(), scratch);
    // The Cholesky factor overwrites the Gram matrix; keep its lower triangle.
    scratch.kept.clone_from(&scratch.gram);
    solve_normal_equations(reg, scratch, out)?;
    Ok(squared_error(&scratch.kept, &scratch.rhs, squares, out))
}

/// `squares - 2 w . b + w^T G w` with `G` given by its lower triangle (`w.len()` square).
pub fn squared_error(gram: &[f64], rhs: &[f64], squares: f64, w: &[f64]) -> f64 {
    let rank = w.len();
    let mut quadratic = 0.0;
    for a in 0..rank {
        let row = &gram[a * rank..a * rank + a];
        let off_diagonal: f64 = row.iter().zip(w).map(|(g, x)| g * x).sum();
        quadratic += w[a] * (2.0 * off_diagonal + gram[a * rank + a] * w[a]);
    }
    squares - 2.0 * dot(w, rhs) + quadratic
}

/// The normal equations' sums (lower triangle of `gram` without the penalty, and `rhs`).
///
/// The ratings are taken in chunks of [`CHUNK`]. A chunk's other-side rows are first transposed
/// into `rank` contiguous columns, in one copy loop: on the item side the rows are scattered
/// over tens of megabytes of W, and a loop that only copies keeps many cache misses in flight,
/// where an accumulation over the rows (a hundred operations per rating; measured 1.4x slower
/// per iteration) waits on each in turn. The sums are then dot products of contiguous columns, which vectorise:
/// each entry is summed in four interleaved lanes (lane `l` takes the ratings `m = l mod 4`, in
/// order) that carry over from chunk to chunk, and the lanes are added at the end, then the last
/// `n mod 4` products. The function is compiled for AVX2 and AVX-512 too and picks the best the
/// processor has at run time; the results are the same on every target (Rust never fuses a
/// multiply and an add on its own).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn normal_equations(
    values: &[f64],
    cols: &[u32],
    other: &[f64],
    rank: usize,
    scratch: &mut AlsScratch,
) {
    let n = cols.len();
    let whole = n - n % 4;
    let (gram, rhs) = (&mut scratch.gram, &mut scratch.rhs);
    let (columns, lanes) = (&mut scratch.columns, &mut scratch.lanes);
    // Lanes of gram entry (a, b) at a * rank + b (b <= a); of rhs entry a at rank^2 + a.
    lanes.clear();
    lanes.resize(rank * rank + rank, [0.0; 4]);
    columns.resize(rank * CHUNK, 0.0);
    for start in (0..whole).step_by(CHUNK) {
        let len = CHUNK.min(whole - start);
        for (m, &c) in cols[start..start + len].iter().enumerate() {
            if let Some(&ahead) = cols.get(start + m + PREFETCH_RATINGS) {
                prefetch_slice(&other[ahead as usize * rank..][..rank]);
            }
            let h = &other[c as usize * rank..][..rank];
            for (a, &x) in h.iter().enumerate() {
                columns[a * CHUNK + m] = x;
            }
        }
        let (gram_lanes, rhs_lanes) = lanes.split_at_mut(rank * rank);
        for a in 0..rank {
            let column_a = &columns[a * CHUNK..][..len];
            add_lanes(column_a, &values[start..start + len], &mut rhs_lanes[a]);
            add_lower_row(column_a, columns, len, &mut gram_lanes[a * rank..][..a + 1]);
        }
    }
    // The last `n mod 4` ratings' rows, transposed the same way.
    let tail = n - whole;
    for (m, &c) in cols[whole..].iter().enumerate() {
        let h = &other[c as usize * rank..][..rank];
        for (a, &x) in h.iter().enumerate() {
            columns[a * CHUNK + m] = x;
        }
    }
    let tail_dot = |x: &[f64], y: &[f64]| -> f64 { x.iter().zip(y).map(|(x, y)| x * y).sum() };
    let finish = |lanes: [f64; 4], tail: f64| (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail;
    for a in 0..rank {
        let column_a = &columns[a * CHUNK..][..tail];
        rhs[a] = finish(lanes[rank * rank + a], tail_dot(column_a, &values[whole..]));
        for b in 0..=a {
            let column_b = &columns[b * CHUNK..][..tail];
            gram[a * rank + b] = finish(lanes[a * rank + b], tail_dot(column_a, column_b));
        }
    }
}

/// How many ratings ahead [`normal_equations`] prefetches the other side's row it will copy.
const PREFETCH_RATINGS: usize = 16;

/// Ratings per chunk of [`normal_equations`]: a multiple of 4 whose transposed rows (`rank`
/// columns of it) stay in the first-level cache at the usual ranks. Without chunks the columns of
/// a row with hundreds of ratings (the items, the heaviest users) spilled to the second level:
/// the H half was 1.1-1.2x slower.
const CHUNK: usize = 128;

/// `lanes[l] += sum over steps of x[4s + l] y[4s + l]` (`x.len()` a multiple of 4).
#[inline(always)]
fn add_lanes(x: &[f64], y: &[f64], lanes: &mut [f64; 4]) {
    for (x, y) in x.chunks_exact(4).zip(y.chunks_exact(4)) {
        for l in 0..4 {
            lanes[l] += x[l] * y[l];
        }
    }
}

/// [`add_lanes`] of `column` (length `len`, a multiple of 4) with each of the first
/// `lanes.len()` columns of `columns` (stride [`CHUNK`]), four columns at a time: each step of
/// `column` is loaded once for four sums, which are independent chains held in registers.
#[inline(always)]
fn add_lower_row(column: &[f64], columns: &[f64], len: usize, lanes: &mut [[f64; 4]]) {
    let blocked = lanes.len() - lanes.len() % 4;
    for b in (0..blocked).step_by(4) {
        let y: [&[f64]; 4] = std::array::from_fn(|j| &columns[(b + j) * CHUNK..][..len]);
        let mut sums: [[f64; 4]; 4] = std::array::from_fn(|j| lanes[b + j]);
        for (step, x) in column.chunks_exact(4).enumerate() {
            let m = step * 4;
            for j in 0..4 {
                let yj = &y[j][m..m + 4];
                for l in 0..4 {
                    sums[j][l] += x[l] * yj[l];
                }
            }
        }
        lanes[b..b + 4].copy_from_slice(&sums);
    }
    for b in blocked..lanes.len() {
        add_lanes(column, &columns[b * CHUNK..][..len], &mut lanes[b]);
    }
}

/// Solves `A x = b` in place for a symmetric positive definite `A` given by its lower triangle
/// (row-major, `n x n`); `a` is overwritten by its Cholesky factor `L` (`A = L L^T`), except
/// that the diagonal holds `1 / L_jj` (one division per column instead of one per entry), and
/// `b` by `x`.
///
/// The rank-10 systems of ALS (one per row, every iteration) run a copy compiled for that size,
/// whose loops unroll; it does the same operations in the same order, so the same result.
pub fn cholesky_solve(a: &mut [f64], b: &mut [f64], n: usize) -> Result<(), NotPositiveDefinite> {
    match n {
        10 => cholesky_solve_in::<10>(a, b, n),
        _ => cholesky_solve_in::<0>(a, b, n),
    }
}

/// [`cholesky_solve`] with the size `FIXED` known at compile time (0: `n` at run time).
#[inline(always)]
fn cholesky_solve_in<const FIXED: usize>(
    a: &mut [f64],
    b: &mut [f64],
    n: usize,
) -> Result<(), NotPositiveDefinite> {
    // With FIXED > 0 the size is a constant the loops unroll over.
    let n = if FIXED > 0 { FIXED } else { n };
    // Slices of the exact lengths, so that the bounds checks of a fixed size fold away.
    let (a, b) = (&mut a[..n * n], &mut b[..n]);
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d.is_nan() || d <= 0.0 {
            return Err(NotPositiveDefinite { index: j });
        }
        let inverse = 1.0 / d.sqrt();
        a[j * n + j] = inverse;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s * inverse;
        }
    }
    // L y = b, then L^T x = y.
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s * a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s * a[i * n + i];
    }
    Ok(())
}

/// Eigen-decomposition of a symmetric `n x n` matrix (row-major; only symmetric input is
/// meaningful) by cyclic Jacobi rotations: returns the eigenvalues in decreasing order and the
/// eigenvectors as the columns of an `n x n` row-major matrix, in the same order. Meant for the
/// small `rank x rank` matrices of the spectral initialisation; deterministic for a given input.
pub fn symmetric_eigen(matrix: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    // Each sweep rotates every off-diagonal pair to zero; convergence is quadratic, so a few
    // sweeps reach rounding level and 100 is only a guard.
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q] * a[p * n + q])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation angle that zeroes a_pq (Golub & Van Loan, Algorithm 8.4.1).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..n {
                    let (arp, arq) = (a[r * n + p], a[r * n + q]);
                    a[r * n + p] = c * arp - s * arq;
                    a[r * n + q] = s * arp + c * arq;
                }
                for r in 0..n {
                    let (apr, aqr) = (a[p * n + r], a[q * n + r]);
                    a[p * n + r] = c * apr - s * aqr;
                    a[q * n + r] = s * apr + c * aqr;
                }
                for r in 0..n {
                    let (vrp, vrq) = (v[r * n + p], v[r * n + q]);
                    v[r * n + p] = c * vrp - s * vrq;
                    v[r * n + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| a[y * n + y].total_cmp(&a[x * n + x]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = vec![0.0; n * n];
    for (column, &i) in order.iter().enumerate() {
        for r in 0..n {
            vectors[r * n + column] = v[r * n + i];
        }
    }
    (values, vectors)
}

/// One SGD step on rating `r` of `(w, h)`:
///
/// `e = r - w . h;  w += eta (e h - reg_w w);  h += eta (e w - reg_h h)` (both from the old values),
///
/// the gradient of `(r - w . h)^2 + reg_w ||w||^2 + reg_h ||h||^2` up to a factor 2 folded into
/// `eta`. With `reg_w = lambda c_i / n_i` (and likewise for h) an epoch's steps add up to the
/// gradient of the whole objective. Returns `e`.
#[inline]
pub fn sgd_step(w: &mut [f64], h: &mut [f64], r: f64, eta: f64, reg_w: f64, reg_h: f64) -> f64 {
    let e = r - dot(w, h);
    for (wt, ht) in w.iter_mut().zip(h.iter_mut()) {
        let (w0, h0) = (*wt, *ht);
        *wt = w0 + eta * (e * h0 - reg_w * w0);
        *ht = h0 + eta * (e * w0 - reg_h * h0);
    }
    e
}

/// `sse + sum_m (values[m] - w . h_m)^2` with `h_m = other[cols[m] * rank..][..rank]`: the same
/// value as adding `(r - dot(w, h))^2` rating by rating (each [`dot`] in index order, the squares
/// in rating order), but four ratings at a time, so that their dot products run side by side in
/// vector lanes (compiled for AVX2 and AVX-512 too, picked at run time).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn add_squared_errors(w: &[f64], cols: &[u32], values: &[f64], other: &[f64], sse: f64) -> f64 {
    let k = w.len();
    let mut sse = sse;
    let (col_chunks, value_chunks) = (cols.chunks_exact(4), values.chunks_exact(4));
    let (col_tail, value_tail) = (col_chunks.remainder(), value_chunks.remainder());
    for (c, r) in col_chunks.zip(value_chunks) {
        let rows: [&[f64]; 4] = std::array::from_fn(|l| &other[c[l] as usize * k..][..k]);
        // `dot`'s sum starts from -0.0, which leaves its first term unchanged.
        let mut sums = [-0.0f64; 4];
        for t in 0..k {
            for l in 0..4 {
                sums[l] += w[t] * rows[l][t];
            }
        }
        for l in 0..4 {
            let e = r[l] - sums[l];
            sse += e * e;
        }
    }
    for (&c, &r) in col_tail.iter().zip(value_tail) {
        let e = r - dot(w, &other[c as usize * k..][..k]);
        sse += e * e;
    }
    sse
}

/// `w . h`, summed in index order.
#[inline]
pub fn dot(w: &[f64], h: &[f64]) -> f64 {
    w.iter().zip(h).map(|(a, b)| a * b).sum()
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Gaussian elimination with partial pivoting on the full matrix: an independent solver.
    fn gauss_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for col in 0..n {
            let pivot = (col..n)
                .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
                .unwrap();
            a.swap(col, pivot);
            b.swap(col, pivot);
            for row in col + 1..n {
                let f = a[row][col] / a[col][col];
                for k in col..n {
                    a[row][k] -= f * a[col][k];
                }
                b[row] -= f * b[col];
            }
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n).map(|k| a[i][k] * x[k]).sum();
            x[i] = (b[i] - s) / a[i][i];
        }
        x
    }

    /// A random row of `n_ratings` ratings against `n_other` random other-side rows of `rank`:
    /// `(other rows, columns, values)`.
    fn random_row(
        rng: &mut ChaCha8Rng,
        rank: usize,
        n_ratings: usize,
        n_other: usize,
    ) -> (Vec<f64>, Vec<u32>, Vec<f64>) {
        let other = (0..n_other * rank)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let cols = (0..n_ratings)
            .map(|_| rng.gen_range(0..n_other as u32))
            .collect();
        let values = (0..n_ratings).map(|_| rng.gen_range(-2.0..5.0)).collect();
        (other, cols, values)
    }

    #[test]
    fn als_row_solves_the_normal_equations() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for rank in [1, 2, 5, 10] {
            // One scratch for rows of every length, as a pass over a side uses it.
            let mut scratch = AlsScratch::new(rank);
            for n_ratings in [1, 3, 41, 7, 40] {
                let (other, cols, values) = random_row(&mut rng, rank, n_ratings, 50);
                let reg = 0.3;
                let mut out = vec![0.0; rank];
                als_row(&values, &cols, &other, reg, &mut scratch, &mut out).unwrap();
                // The normal equations, built here from their definition.
                let mut a = vec![vec![0.0; rank]; rank];
                let mut b = vec![0.0; rank];
                for (&r, &c) in values.iter().zip(&cols) {
                    let h = &other[c as usize * rank..][..rank];
                    for p in 0..rank {
                        b[p] += r * h[p];
                        for q in 0..rank {
                            a[p][q] += h[p] * h[q];
                        }
                    }
                }
                for (p, row) in a.iter_mut().enumerate() {
                    row[p] += reg;
                }
                let expected = gauss_solve(a, b);
                for (x, y) in out.iter().zip(&expected) {
                    assert!(
                        (x - y).abs() <= 1e-9 * (1.0 + y.abs()),
                        "{out:?} vs {expected:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_error_from_the_normal_equations_is_the_direct_sum() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for rank in [1, 3, 10] {
            let mut scratch = AlsScratch::new(rank);
            for n_ratings in [1, 9, 200] {
                let (other, cols, values) = random_row(&mut rng, rank, n_ratings, 300);
                let squares = values.iter().map(|r| r * r).sum();
                let (mut plain, mut with_error) = (vec![0.0; rank], vec![0.0; rank]);
                let reg = 0.7;
                als_row(&values, &cols, &other, reg, &mut scratch, &mut plain).unwrap();
                let error = als_row_with_error(
                    &values,
                    &cols,
                    &other,
                    reg,
                    squares,
                    &mut scratch,
                    &mut with_error,
                )
                .unwrap();
                assert_eq!(plain, with_error);
                let direct: f64 = values
                    .iter()
                    .zip(&cols)
                    .map(|(&r, &c)| {
                        let e = r - dot(&plain, &other[c as usize * rank..][..rank]);
                        e * e
                    })
                    .sum();
                assert!(
                    (error - direct).abs() <= 1e-10 * squares,
                    "rank {rank}, {n_ratings} ratings: {error} vs {direct}"
                );
            }
        }
    }

    #[test]
    fn squared_errors_in_lanes_equal_the_plain_sum() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for rank in [1, 3, 10] {
            for n in [0, 1, 4, 7, 30] {
                let (other, cols, values) = random_row(&mut rng, rank, n, 50);
                let w: Vec<f64> = (0..rank).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let mut plain = 0.25;
                for (&c, &r) in cols.iter().zip(&values) {
                    let e = r - dot(&w, &other[c as usize * rank..][..rank]);
                    plain += e * e;
                }
                let lanes = add_squared_errors(&w, &cols, &values, &other, 0.25);
                assert_eq!(lanes.to_bits(), plain.to_bits(), "rank {rank}, {n} ratings");
            }
        }
    }

    #[test]
    fn singular_normal_equations_are_reported() {
        let mut out = vec![0.0; 2];
        let error = als_row(
            &[1.0],
            &[0],
            &[1.0, 1.0],
            0.0,
            &mut AlsScratch::new(2),
            &mut out,
        );
        assert_eq!(error, Err(NotPositiveDefinite { index: 1 }));
    }

    #[test]
    fn ccd_coordinate_is_the_exact_minimiser() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let other: Vec<f64> = (0..20).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let cols: Vec<u32> = (0..12).map(|_| rng.gen_range(0..20)).collect();
        let residual: Vec<f64> = (0..12).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let (w_old, reg) = (0.7, 0.2);
        let loss = |w: f64| -> f64 {
            let data: f64 = residual
                .iter()
                .zip(&cols)
                .map(|(&e, &c)| {
                    let h = other[c as usize];
                    let e_new = e + w_old * h - w * h;
                    e_new * e_new
                })
                .sum();
            data + reg * w * w
        };
        let w = ccd_coordinate(&residual, &cols, &other, 1, 0, 0, w_old, reg);
        for delta in [1e-3, -1e-3, 0.1, -0.1] {
            assert!(loss(w) <= loss(w + delta));
        }
    }

    #[test]
    fn the_fused_pass_equals_update_then_coordinate() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let n_other = 15;
        let triples: Vec<f64> = (0..3 * n_other).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let cols: Vec<u32> = (0..30).map(|_| rng.gen_range(0..n_other as u32)).collect();
        let mut residual: Vec<f64> = (0..30).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let (w_old, w_new, w_next, reg) = (0.3, -0.4, 0.8, 0.1);
        let mut expected = residual.clone();
        for (e, &c) in expected.iter_mut().zip(&cols) {
            let h = &triples[c as usize * 3..];
            *e = ccd_residual(*e, w_old, h[0], w_new, h[1]);
        }
        let expected_next = ccd_coordinate(&expected, &cols, &triples[2..], 3, 0, 0, w_next, reg);
        let next = ccd_update_and_next(&mut residual, &cols, &triples, (w_old, w_new), w_next, reg);
        assert_eq!(residual, expected);
        assert_eq!(next, expected_next);
    }

    #[test]
    fn symmetric_eigen_reconstructs_the_matrix() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for n in [1, 2, 5, 10] {
            let b: Vec<f64> = (0..n * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            // A symmetric matrix with both signs of eigenvalues: B + B^T.
            let a: Vec<f64> = (0..n * n).map(|x| b[x] + b[(x % n) * n + x / n]).collect();
            let (values, vectors) = symmetric_eigen(&a, n);
            assert!(values.windows(2).all(|p| p[0] >= p[1]), "{values:?}");
            // A = V diag(values) V^T and V^T V = I, checked entry by entry.
            for r in 0..n {
                for c in 0..n {
                    let rebuilt: f64 = (0..n)
                        .map(|t| vectors[r * n + t] * values[t] * vectors[c * n + t])
                        .sum();
                    assert!((rebuilt - a[r * n + c]).abs() < 1e-12, "n {n}: {r},{c}");
                    let gram: f64 = (0..n)
                        .map(|t| vectors[t * n + r] * vectors[t * n + c])
                        .sum();
                    let identity = if r == c { 1.0 } else { 0.0 };
                    assert!((gram - identity).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn sgd_step_follows_the_gradient() {
        let (mut w, mut h) = (vec![0.5, -0.2], vec![0.1, 0.4]);
        let (w0, h0) = (w.clone(), h.clone());
        let e = sgd_step(&mut w, &mut h, 1.0, 0.1, 0.01, 0.02);
        assert!((e - (1.0 - dot(&w0, &h0))).abs() < 1e-15);
        for t in 0..2 {
            assert!((w[t] - (w0[t] + 0.1 * (e * h0[t] - 0.01 * w0[t]))).abs() < 1e-15);
            assert!((h[t] - (h0[t] + 0.1 * (e * w0[t] - 0.02 * h0[t]))).abs() < 1e-15);
        }
    }
}
