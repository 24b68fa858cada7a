//! The per-pair kernels of skip-gram and CBOW with negative sampling, as plain functions over
//! rows (`Vec<f32>`), so that tests can run them on ordinary vectors.
//!
//! For an input vector `h` (skip-gram: the context word's input vector; CBOW: the mean of the
//! context words' input vectors), the center word `c` and negatives `n_1..n_k`, the loss is
//!
//! ```text
//! L = -log sigma(h . o_c) - sum_j log sigma(-h . o_{n_j})
//! ```
//!
//! and one step moves `h` and every `o_t` by `-alpha` times their gradient, all gradients taken
//! at the values before the step (word2vec.c's order: the input's change is accumulated in a
//! scratch vector and added at the end; each output is read before it is written). The sigmoid and
//! the loss's `-log sigma` come from tables interpolated linearly (within 3e-7 of the exact
//! values on |x| < 8, computed exactly beyond), not from word2vec's 1000-entry table clipped at
//! |x| > 6: close enough that the step is the loss's gradient (which the tests check), and the
//! `exp` and `log1p` they replace were a fifth of a training profile.

use std::ops::IndexMut;
use std::sync::LazyLock;

use smallvec::SmallVec;

/// The tables cover `-TABLE_RANGE..TABLE_RANGE`.
const TABLE_RANGE: f32 = 8.0;
/// Intervals of the tables (spacing 2 x 8 / 8192 = 0.002: linear interpolation errs by at most
/// spacing^2 / 8 times the function's second derivative, about 5e-8 for the sigmoid).
const TABLE_INTERVALS: usize = 8192;

/// `sigma` and `-log sigma` at the tables' points.
static TABLES: LazyLock<[Vec<f32>; 2]> = LazyLock::new(|| {
    let at = |i: usize| -TABLE_RANGE + 2.0 * TABLE_RANGE * i as f32 / TABLE_INTERVALS as f32;
    let points = 0..=TABLE_INTERVALS;
    [
        points.clone().map(|i| exact_sigmoid(at(i))).collect(),
        points.map(|i| exact_neg_log_sigmoid(at(i))).collect(),
    ]
});

/// `table` interpolated at `x`, for `|x| < TABLE_RANGE`.
#[inline]
fn interpolate(table: &[f32], x: f32) -> f32 {
    let t = (x + TABLE_RANGE) * (TABLE_INTERVALS as f32 / (2.0 * TABLE_RANGE));
    let i = (t as usize).min(TABLE_INTERVALS - 1);
    let frac = t - i as f32;
    table[i] + frac * (table[i + 1] - table[i])
}

/// `1 / (1 + e^-x)`: tabulated on |x| < 8, exact beyond.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x.abs() < TABLE_RANGE {
        interpolate(&TABLES[0], x)
    } else {
        exact_sigmoid(x)
    }
}

/// `-log sigma(x) = log(1 + e^-x)` (widened for summing): tabulated on |x| < 8, exact beyond.
#[inline]
pub fn neg_log_sigmoid(x: f32) -> f64 {
    f64::from(if x.abs() < TABLE_RANGE {
        interpolate(&TABLES[1], x)
    } else {
        exact_neg_log_sigmoid(x)
    })
}

/// `1 / (1 + e^-x)`, without overflow for large `|x|`.
fn exact_sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `-log sigma(x) = log(1 + e^-x)`, accurate for large `|x|`.
fn exact_neg_log_sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        (-x).exp().ln_1p()
    } else {
        -x + x.exp().ln_1p()
    }
}

/// `a . b`, summed in sixteen interleaved lanes (lane `l` takes the entries `i = l mod 16`),
/// then the lanes pairwise and the last `len mod 16` products: the same arithmetic on every
/// target, and two AVX2 or one AVX-512 register of lanes where [`target_step`] is compiled for
/// them.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0.0f32; LANES];
    let whole = a.len() / LANES * LANES;
    for (x, y) in a[..whole]
        .chunks_exact(LANES)
        .zip(b[..whole].chunks_exact(LANES))
    {
        for l in 0..LANES {
            lanes[l] += x[l] * y[l];
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            lanes[l] += lanes[l + width];
        }
    }
    let mut sum = lanes[0];
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
        sum += x * y;
    }
    sum
}

/// `y += a x`.
#[inline(always)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// One output row's part of a step: with `f = h . o`, adds `-alpha dL/dh` to `input_change`,
/// moves `output` by `-alpha dL/do`, and returns this target's loss term. `label` is 1 for the
/// center word, 0 for a negative.
///
/// Compiled for AVX2 and AVX-512 too, the best the processor has picked at run time (the dot
/// products and updates of length `dim` are most of word2vec's time).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn target_step(
    input: &[f32],
    output: &mut [f32],
    label: f32,
    alpha: f32,
    input_change: &mut [f32],
) -> f64 {
    let f = dot(input, output);
    let g = (label - sigmoid(f)) * alpha;
    axpy(g, output, input_change);
    axpy(g, input, output);
    if label > 0.5 {
        neg_log_sigmoid(f)
    } else {
        neg_log_sigmoid(-f)
    }
}

/// The center word's and the negatives' steps against input vector `input`: returns the pair's
/// loss `L`, leaves `-alpha dL/dh` in `input_change` (which it zeroes first) and updates the
/// output rows. Negatives equal to `center` are skipped, as word2vec does.
pub fn sgns_outputs<O>(
    input: &[f32],
    outputs: &mut O,
    center: usize,
    negatives: &[usize],
    alpha: f32,
    input_change: &mut [f32],
) -> f64
where
    O: IndexMut<usize, Output = Vec<f32>> + ?Sized,
{
    input_change.iter_mut().for_each(|x| *x = 0.0);
    let mut loss = target_step(input, &mut outputs[center], 1.0, alpha, input_change);
    for &n in negatives {
        if n != center {
            loss += target_step(input, &mut outputs[n], 0.0, alpha, input_change);
        }
    }
    loss
}

/// One skip-gram pair: the context word's input row `input` predicts `center` against
/// `negatives`. Returns the pair's loss before the step.
pub fn skipgram_pair<O>(
    input: &mut [f32],
    outputs: &mut O,
    center: usize,
    negatives: &[usize],
    alpha: f32,
    input_change: &mut [f32],
) -> f64
where
    O: IndexMut<usize, Output = Vec<f32>> + ?Sized,
{
    let loss = sgns_outputs(input, outputs, center, negatives, alpha, input_change);
    axpy(1.0, input_change, input);
    loss
}

/// Scratch space of [`skipgram_window`]: the changes of a window's rows and its targets, kept
/// between calls.
#[derive(Clone, Debug, Default)]
pub struct WindowScratch {
    context_changes: Vec<f32>,
    target_changes: Vec<f32>,
    labels: Vec<f32>,
    target_words: Vec<usize>,
}

/// Skip-gram over one window with shared negatives (Ji et al., "Parallelizing Word2Vec in
/// Shared and Distributed Memory", 2016): every context word's input row predicts the center
/// against the same `negatives`, and the window's pairs are one step, all gradients taken at
/// the values before it. Returns the sum of the pairs' losses. Negatives equal to `center` are
/// skipped, as word2vec does.
///
/// Per pair it is the arithmetic of [`skipgram_pair`]; what it saves is memory traffic and
/// random numbers: the window reads `negatives.len() + 1` output rows once, where the pairs one
/// by one read fresh negatives for every context word.
pub fn skipgram_window<I, O>(
    inputs: &mut I,
    outputs: &mut O,
    contexts: &[usize],
    center: usize,
    negatives: &[usize],
    alpha: f32,
    scratch: &mut WindowScratch,
) -> f64
where
    I: IndexMut<usize, Output = Vec<f32>> + ?Sized,
    O: IndexMut<usize, Output = Vec<f32>> + ?Sized,
{
    if contexts.is_empty() {
        return 0.0;
    }
    let s = scratch;
    s.target_words.clear();
    s.labels.clear();
    s.target_words.push(center);
    s.labels.push(1.0);
    for &n in negatives.iter().filter(|&&n| n != center) {
        s.target_words.push(n);
        s.labels.push(0.0);
    }
    let dim = outputs[center].len();
    s.context_changes.clear();
    s.context_changes.resize(contexts.len() * dim, 0.0);
    s.target_changes.clear();
    s.target_changes.resize(s.target_words.len() * dim, 0.0);
    // The rows are read in place (a copy of each would cost a third of the arithmetic), their
    // references kept on the stack (a window has a few dozen).
    let context_rows: SmallVec<[&[f32]; 32]> =
        contexts.iter().map(|&c| inputs[c].as_slice()).collect();
    let target_rows: SmallVec<[&[f32]; 32]> = s
        .target_words
        .iter()
        .map(|&t| outputs[t].as_slice())
        .collect();
    // Every row requested at once, before the first pair waits for its two.
    for row in context_rows.iter().chain(&target_rows) {
        strads_ap::prefetch_slice(row);
    }
    let loss = window_step(
        dim,
        &context_rows,
        &target_rows,
        &s.labels,
        alpha,
        &mut s.context_changes,
        &mut s.target_changes,
    );
    drop((context_rows, target_rows));
    for (&c, change) in contexts.iter().zip(s.context_changes.chunks_exact(dim)) {
        axpy(1.0, change, &mut inputs[c]);
    }
    for (&t, change) in s
        .target_words
        .iter()
        .zip(s.target_changes.chunks_exact(dim))
    {
        axpy(1.0, change, &mut outputs[t]);
    }
    loss
}

/// The window's pairs at once: for every (context, target) pair of rows, with `f` their dot
/// product, adds `-alpha dL/d(context)` and `-alpha dL/d(target)` to the rows' changes (rows
/// of `dim` values, one after the other). Returns the summed loss. Compiled for AVX2 and
/// AVX-512 too, as [`target_step`].
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn window_step(
    dim: usize,
    contexts: &[&[f32]],
    targets: &[&[f32]],
    labels: &[f32],
    alpha: f32,
    context_changes: &mut [f32],
    target_changes: &mut [f32],
) -> f64 {
    let mut loss = 0.0;
    let context_rows = contexts.iter().zip(context_changes.chunks_exact_mut(dim));
    for (context, context_change) in context_rows {
        let target_rows = targets.iter().zip(target_changes.chunks_exact_mut(dim));
        for ((target, target_change), &label) in target_rows.zip(labels) {
            let f = dot(context, target);
            let g = (label - sigmoid(f)) * alpha;
            axpy(g, target, context_change);
            axpy(g, context, target_change);
            loss += if label > 0.5 {
                neg_log_sigmoid(f)
            } else {
                neg_log_sigmoid(-f)
            };
        }
    }
    loss
}

/// `hidden = mean of the rows`: CBOW's input vector (word2vec's `cbow_mean = 1`).
pub fn mean_into<'r>(rows: impl Iterator<Item = &'r [f32]>, hidden: &mut [f32]) {
    hidden.iter_mut().for_each(|x| *x = 0.0);
    let mut n = 0usize;
    for row in rows {
        axpy(1.0, row, hidden);
        n += 1;
    }
    if n > 0 {
        let scale = 1.0 / n as f32;
        hidden.iter_mut().for_each(|x| *x *= scale);
    }
}

/// Adds `change` to `row` (CBOW adds the hidden vector's whole change to every context row, as
/// word2vec.c does).
pub fn add_change(row: &mut [f32], change: &[f32]) {
    axpy(1.0, change, row);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SGNS loss written out plainly, in f64.
    fn loss(h: &[f64], outputs: &[Vec<f64>], center: usize, negatives: &[usize]) -> f64 {
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut l = -s(dot(h, &outputs[center])).ln();
        for &n in negatives {
            l -= (1.0 - s(dot(h, &outputs[n]))).ln();
        }
        l
    }

    fn to64(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| f64::from(x)).collect()
    }

    fn example() -> (Vec<f32>, Vec<Vec<f32>>) {
        let dim = 6;
        let input: Vec<f32> = (0..dim).map(|i| 0.3 * ((i as f32) * 1.7).sin()).collect();
        let outputs: Vec<Vec<f32>> = (0..5)
            .map(|w| {
                (0..dim)
                    .map(|i| 0.4 * ((w * dim + i) as f32 * 0.9).cos())
                    .collect()
            })
            .collect();
        (input, outputs)
    }

    #[test]
    fn one_step_moves_every_vector_along_minus_alpha_times_the_finite_difference_gradient() {
        let (input, outputs) = example();
        let (center, negatives) = (1usize, [3usize, 0, 4]);
        let alpha = 1e-3f32;
        let mut new_input = input.clone();
        let mut new_outputs = outputs.clone();
        let mut change = vec![0.0; input.len()];
        let reported = skipgram_pair(
            &mut new_input,
            &mut new_outputs,
            center,
            &negatives,
            alpha,
            &mut change,
        );
        let h = to64(&input);
        let o: Vec<Vec<f64>> = outputs.iter().map(|r| to64(r)).collect();
        let base = loss(&h, &o, center, &negatives);
        assert!((reported - base).abs() < 1e-5, "{reported} vs {base}");
        let eps = 1e-6;
        // Input gradient.
        for i in 0..h.len() {
            let (mut plus, mut minus) = (h.clone(), h.clone());
            plus[i] += eps;
            minus[i] -= eps;
            let grad = (loss(&plus, &o, center, &negatives) - loss(&minus, &o, center, &negatives))
                / (2.0 * eps);
            let step = f64::from(new_input[i] - input[i]);
            assert!(
                (step + f64::from(alpha) * grad).abs() < 1e-6,
                "input[{i}]: moved {step}, expected {}",
                -f64::from(alpha) * grad
            );
        }
        // Output gradients, including the untouched row 2.
        for w in 0..o.len() {
            for i in 0..h.len() {
                let (mut plus, mut minus) = (o.clone(), o.clone());
                plus[w][i] += eps;
                minus[w][i] -= eps;
                let grad = (loss(&h, &plus, center, &negatives)
                    - loss(&h, &minus, center, &negatives))
                    / (2.0 * eps);
                let step = f64::from(new_outputs[w][i] - outputs[w][i]);
                assert!(
                    (step + f64::from(alpha) * grad).abs() < 1e-6,
                    "output[{w}][{i}]: moved {step}, expected {}",
                    -f64::from(alpha) * grad
                );
            }
        }
    }

    #[test]
    fn a_shared_negatives_window_moves_every_row_along_minus_alpha_times_its_gradient() {
        // Three context rows (one of them twice: its two pairs both count) against the center
        // and two negatives, one of which is the center and is skipped; row 4 is untouched.
        let (_, outputs) = example();
        let inputs: Vec<Vec<f32>> = (0..4)
            .map(|w| {
                (0..6)
                    .map(|i| 0.25 * ((w * 6 + i) as f32 * 1.3).sin())
                    .collect()
            })
            .collect();
        let (contexts, center, negatives) = ([0usize, 2, 3, 2], 1usize, [4usize, 1]);
        let alpha = 1e-3f32;
        let (mut new_inputs, mut new_outputs) = (inputs.clone(), outputs.clone());
        let mut scratch = WindowScratch::default();
        let reported = skipgram_window(
            &mut new_inputs,
            &mut new_outputs,
            &contexts,
            center,
            &negatives,
            alpha,
            &mut scratch,
        );
        // The window's loss: the pairs' losses at the values before the step.
        let window_loss = |h: &[Vec<f64>], o: &[Vec<f64>]| -> f64 {
            contexts.iter().map(|&c| loss(&h[c], o, center, &[4])).sum()
        };
        let h: Vec<Vec<f64>> = inputs.iter().map(|r| to64(r)).collect();
        let o: Vec<Vec<f64>> = outputs.iter().map(|r| to64(r)).collect();
        assert!((reported - window_loss(&h, &o)).abs() < 1e-5);
        let eps = 1e-6;
        for w in 0..h.len() {
            for i in 0..h[w].len() {
                let (mut plus, mut minus) = (h.clone(), h.clone());
                plus[w][i] += eps;
                minus[w][i] -= eps;
                let grad = (window_loss(&plus, &o) - window_loss(&minus, &o)) / (2.0 * eps);
                let step = f64::from(new_inputs[w][i] - inputs[w][i]);
                assert!(
                    (step + f64::from(alpha) * grad).abs() < 1e-6,
                    "input[{w}][{i}]"
                );
            }
        }
        for w in 0..o.len() {
            for i in 0..o[w].len() {
                let (mut plus, mut minus) = (o.clone(), o.clone());
                plus[w][i] += eps;
                minus[w][i] -= eps;
                let grad = (window_loss(&h, &plus) - window_loss(&h, &minus)) / (2.0 * eps);
                let step = f64::from(new_outputs[w][i] - outputs[w][i]);
                assert!(
                    (step + f64::from(alpha) * grad).abs() < 1e-6,
                    "output[{w}][{i}]"
                );
            }
        }
    }

    #[test]
    fn a_negative_equal_to_the_center_is_skipped() {
        let (input, outputs) = example();
        let mut change = vec![0.0; input.len()];
        let (mut a_in, mut a_out) = (input.clone(), outputs.clone());
        let la = skipgram_pair(&mut a_in, &mut a_out, 2, &[2, 3], 0.1, &mut change);
        let (mut b_in, mut b_out) = (input.clone(), outputs.clone());
        let lb = skipgram_pair(&mut b_in, &mut b_out, 2, &[3], 0.1, &mut change);
        assert_eq!((la, a_in, a_out), (lb, b_in, b_out));
    }

    #[test]
    fn tabulated_sigmoid_and_its_log_match_the_exact_values_everywhere() {
        // A sweep that falls between the tables' points, across and past their range.
        for n in 0..1500 {
            let x = -10.0 + n as f64 * 0.013_37;
            let exact = 1.0 / (1.0 + (-x).exp());
            assert!(
                (f64::from(sigmoid(x as f32)) - exact).abs() < 3e-7,
                "sigmoid({x})"
            );
            let nls = (1.0 + (-x).exp()).ln();
            let err = (neg_log_sigmoid(x as f32) - nls).abs();
            assert!(err < 1e-6 * (1.0 + nls), "-log sigmoid({x})");
        }
    }

    #[test]
    fn sigmoid_and_its_log_are_finite_and_right_at_the_extremes() {
        for x in [
            -100.0f32, -20.0, -8.0, -7.9999, -3.3333, -1.0, 0.0, 0.0011, 1.0, 5.5, 20.0, 100.0,
        ] {
            let exact = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!((f64::from(sigmoid(x)) - exact).abs() < 3e-7, "sigmoid({x})");
            let nls = neg_log_sigmoid(x);
            assert!(nls.is_finite() && nls >= 0.0);
            assert!((nls - (1.0 + (-f64::from(x)).exp()).ln()).abs() < 1e-6 * (1.0 + nls));
        }
    }

    #[test]
    fn mean_into_averages_rows() {
        let rows = [vec![1.0f32, 2.0], vec![3.0, 6.0]];
        let mut hidden = vec![9.0; 2];
        mean_into(rows.iter().map(|r| r.as_slice()), &mut hidden);
        assert_eq!(hidden, vec![2.0, 4.0]);
    }
}
