//! The per-example kernels: plain functions over slices, no allocation.
//!
//! The weights are feature-major: feature `j`'s `K` class weights are `w[j K .. (j + 1) K]`, and
//! with an intercept its `K` values follow the last feature's. So an example's scores and its
//! gradient each visit `K` consecutive weights per nonzero feature, a loop the compiler
//! vectorises, instead of `K` scattered ones.
//!
//! With scores `s = W^T x (+ b)` and `p = softmax(s)`, an example's loss and its gradient are
//!
//! ```text
//! loss(x, y) = -log p_y = log sum_k exp(s_k) - s_y
//! d loss / d W[j, k] = x_j (p_k - [k = y])        d loss / d b_k = p_k - [k = y]
//! ```

/// The model's dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Classes `K`.
    pub classes: usize,
    /// Features `d`.
    pub features: usize,
    /// Whether the model has an intercept per class (unpenalised).
    pub intercept: bool,
}

impl Shape {
    /// Number of weights: `(d + intercept) K`.
    pub fn len(&self) -> usize {
        (self.features + usize::from(self.intercept)) * self.classes
    }

    /// Whether the model has no weight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of penalised weights, `d K` (they come first).
    pub fn penalised(&self) -> usize {
        self.features * self.classes
    }
}

/// `scores = W^T x (+ b)`; features at or beyond `d` (seen only in a test file) weigh nothing.
#[inline]
pub fn scores(shape: &Shape, weights: &[f64], columns: &[u32], values: &[f64], scores: &mut [f64]) {
    let k = shape.classes;
    if shape.intercept {
        scores.copy_from_slice(&weights[shape.penalised()..shape.penalised() + k]);
    } else {
        scores.fill(0.0);
    }
    for (&j, &x) in columns.iter().zip(values) {
        let j = j as usize;
        if j >= shape.features {
            break;
        }
        let row = &weights[j * k..(j + 1) * k];
        for (s, w) in scores.iter_mut().zip(row) {
            *s += x * w;
        }
    }
}

/// Turns `scores` into the probabilities `softmax(scores)` in place and returns
/// `log sum_k exp(scores_k)` (computed from the largest score, so it never overflows).
#[inline]
pub fn softmax_in_place(scores: &mut [f64]) -> f64 {
    let largest = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - largest).exp();
        total += *s;
    }
    let inverse = 1.0 / total;
    for s in scores.iter_mut() {
        *s *= inverse;
    }
    largest + total.ln()
}

/// Adds the example's loss gradient to `gradient` (same layout as the weights) and returns its
/// loss. `scratch` holds `K` values.
///
/// For `K` up to [`MAX_FIXED_CLASSES`] a copy compiled for that `K` runs: the scores live in
/// registers and each nonzero's `K` multiply-adds are straight-line vector code. On the 1M x 1000,
/// K = 10 benchmark problem a 13-iteration solve went from 4.85 s to 4.55 s with it (one run each,
/// on a VM shared with other jobs: a modest gain, not a precise one).
#[inline]
pub fn add_loss_gradient(
    shape: &Shape,
    weights: &[f64],
    columns: &[u32],
    values: &[f64],
    class: usize,
    scratch: &mut [f64],
    gradient: &mut [f64],
) -> f64 {
    macro_rules! fixed {
        ($($k:literal)*) => {
            match shape.classes {
                $($k => add_loss_gradient_fixed::<$k>(shape, weights, columns, values, class, gradient),)*
                _ => add_loss_gradient_any(shape, weights, columns, values, class, scratch, gradient),
            }
        };
    }
    fixed!(2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// The largest `K` with a kernel compiled for it.
pub const MAX_FIXED_CLASSES: usize = 16;

/// [`add_loss_gradient`] for a `K` known at compile time.
#[inline(always)]
fn add_loss_gradient_fixed<const K: usize>(
    shape: &Shape,
    weights: &[f64],
    columns: &[u32],
    values: &[f64],
    class: usize,
    gradient: &mut [f64],
) -> f64 {
    let bias = shape.penalised();
    let mut s = [0.0; K];
    if shape.intercept {
        s.copy_from_slice(&weights[bias..bias + K]);
    }
    for (&j, &x) in columns.iter().zip(values) {
        let j = j as usize;
        let row: &[f64; K] = weights[j * K..j * K + K].try_into().expect("K weights");
        for k in 0..K {
            s[k] += x * row[k];
        }
    }
    let own_score = s[class];
    let log_total = softmax_in_place(&mut s);
    s[class] -= 1.0;
    for (&j, &x) in columns.iter().zip(values) {
        let j = j as usize;
        let row: &mut [f64; K] = (&mut gradient[j * K..j * K + K])
            .try_into()
            .expect("K weights");
        for k in 0..K {
            row[k] += x * s[k];
        }
    }
    if shape.intercept {
        for (g, r) in gradient[bias..bias + K].iter_mut().zip(&s) {
            *g += r;
        }
    }
    log_total - own_score
}

/// [`add_loss_gradient`] for any `K`.
fn add_loss_gradient_any(
    shape: &Shape,
    weights: &[f64],
    columns: &[u32],
    values: &[f64],
    class: usize,
    scratch: &mut [f64],
    gradient: &mut [f64],
) -> f64 {
    let k = shape.classes;
    scores(shape, weights, columns, values, scratch);
    let own_score = scratch[class];
    let log_total = softmax_in_place(scratch);
    // scratch becomes the residual p - e_y.
    scratch[class] -= 1.0;
    for (&j, &x) in columns.iter().zip(values) {
        let j = j as usize;
        let row = &mut gradient[j * k..(j + 1) * k];
        for (g, r) in row.iter_mut().zip(scratch.iter()) {
            *g += x * r;
        }
    }
    if shape.intercept {
        let row = &mut gradient[shape.penalised()..shape.penalised() + k];
        for (g, r) in row.iter_mut().zip(scratch.iter()) {
            *g += r;
        }
    }
    log_total - own_score
}

/// One stochastic gradient step on the example's loss: `W -= step * grad loss(x, y)`, touching
/// only the rows of its nonzero features (and the intercept). Returns the loss before the step.
/// Compiled per `K` up to [`MAX_FIXED_CLASSES`], as [`add_loss_gradient`].
#[inline]
pub fn sgd_step(
    shape: &Shape,
    weights: &mut [f64],
    columns: &[u32],
    values: &[f64],
    class: usize,
    step: f64,
    scratch: &mut [f64],
) -> f64 {
    macro_rules! fixed {
        ($($k:literal)*) => {
            match shape.classes {
                $($k => sgd_step_fixed::<$k>(shape, weights, columns, values, class, step),)*
                _ => sgd_step_any(shape, weights, columns, values, class, step, scratch),
            }
        };
    }
    fixed!(2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// [`sgd_step`] for a `K` known at compile time.
#[inline(always)]
fn sgd_step_fixed<const K: usize>(
    shape: &Shape,
    weights: &mut [f64],
    columns: &[u32],
    values: &[f64],
    class: usize,
    step: f64,
) -> f64 {
    let bias = shape.penalised();
    let mut s = [0.0; K];
    if shape.intercept {
        s.copy_from_slice(&weights[bias..bias + K]);
    }
    for (&j, &x) in columns.iter().zip(values) {
        let j = j as usize;
        let row: &[f64; K] = weights[j * K..j * K + K].try_into().expect("K weights");
        for k in 0..K {
            s[k] += x * row[k];
        }
    }
    let own_score = s[class];
    let log_total = softmax_in_place(&mut s);
    s[class] -= 1.0;
    for (&j, &x) in columns.iter().zip(values) {
        let j = j as usize;
        let factor = step * x;
        let row: &mut [f64; K] = (&mut weights[j * K..j * K + K])
            .try_into()
            .expect("K weights");
        for k in 0..K {
            row[k] -= factor * s[k];
        }
    }
    if shape.intercept {
        for (w, r) in weights[bias..bias + K].iter_mut().zip(&s) {
            *w -= step * r;
        }
    }
    log_total - own_score
}

/// [`sgd_step`] for any `K`.
fn sgd_step_any(
    shape: &Shape,
    weights: &mut [f64],
    columns: &[u32],
    values: &[f64],
    class: usize,
    step: f64,
    scratch: &mut [f64],
) -> f64 {
    let k = shape.classes;
    scores(shape, weights, columns, values, scratch);
    let own_score = scratch[class];
    let log_total = softmax_in_place(scratch);
    scratch[class] -= 1.0;
    for (&j, &x) in columns.iter().zip(values) {
        let j = j as usize;
        let factor = step * x;
        let row = &mut weights[j * k..(j + 1) * k];
        for (w, r) in row.iter_mut().zip(scratch.iter()) {
            *w -= factor * r;
        }
    }
    if shape.intercept {
        let row = &mut weights[shape.penalised()..shape.penalised() + k];
        for (w, r) in row.iter_mut().zip(scratch.iter()) {
            *w -= step * r;
        }
    }
    log_total - own_score
}

/// The predicted class (the largest score; the first on ties) and `-log p_class` of `class`, when
/// given. `scratch` holds `K` values.
#[inline]
pub fn predict(
    shape: &Shape,
    weights: &[f64],
    columns: &[u32],
    values: &[f64],
    class: Option<usize>,
    scratch: &mut [f64],
) -> (usize, Option<f64>) {
    scores(shape, weights, columns, values, scratch);
    let mut best = 0;
    for (k, &s) in scratch.iter().enumerate() {
        if s > scratch[best] {
            best = k;
        }
    }
    let loss = class.map(|c| {
        let own = scratch[c];
        softmax_in_place(scratch) - own
    });
    (best, loss)
}

/// `||w||^2` over the penalised weights.
pub fn penalty_norm(shape: &Shape, weights: &[f64]) -> f64 {
    weights[..shape.penalised()].iter().map(|w| w * w).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        classes: 3,
        features: 4,
        intercept: true,
    };

    fn weights() -> Vec<f64> {
        (0..SHAPE.len())
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0)
            .collect()
    }

    /// The loss written straight from its definition, `-log(exp(s_y) / sum_k exp(s_k))`.
    fn plain_loss(w: &[f64], columns: &[u32], values: &[f64], class: usize) -> f64 {
        let s: Vec<f64> = (0..3)
            .map(|k| {
                let mut s = w[12 + k];
                for (&j, &x) in columns.iter().zip(values) {
                    s += w[j as usize * 3 + k] * x;
                }
                s
            })
            .collect();
        let total: f64 = s.iter().map(|v| v.exp()).sum();
        -(s[class].exp() / total).ln()
    }

    #[test]
    fn the_gradient_matches_finite_differences_of_the_loss() {
        let (columns, values, class) = ([0u32, 2, 3], [0.5, -1.5, 2.0], 1);
        let w = weights();
        let mut gradient = vec![0.0; SHAPE.len()];
        let mut scratch = [0.0; 3];
        let loss = add_loss_gradient(
            &SHAPE,
            &w,
            &columns,
            &values,
            class,
            &mut scratch,
            &mut gradient,
        );
        assert!((loss - plain_loss(&w, &columns, &values, class)).abs() < 1e-12);
        let h = 1e-6;
        for i in 0..w.len() {
            let (mut up, mut down) = (w.clone(), w.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (plain_loss(&up, &columns, &values, class)
                - plain_loss(&down, &columns, &values, class))
                / (2.0 * h);
            assert!(
                (numeric - gradient[i]).abs() < 1e-7,
                "weight {i}: {numeric} vs {}",
                gradient[i]
            );
        }
    }

    #[test]
    fn an_sgd_step_moves_by_the_gradient_and_predict_agrees_with_the_loss() {
        let (columns, values, class) = ([1u32, 3], [1.0, -0.5], 2);
        let mut w = weights();
        let mut gradient = vec![0.0; SHAPE.len()];
        let mut scratch = [0.0; 3];
        let loss = add_loss_gradient(
            &SHAPE,
            &w,
            &columns,
            &values,
            class,
            &mut scratch,
            &mut gradient,
        );
        let before = w.clone();
        let sgd_loss = sgd_step(&SHAPE, &mut w, &columns, &values, class, 0.1, &mut scratch);
        assert_eq!(loss, sgd_loss);
        for i in 0..w.len() {
            assert!((before[i] - 0.1 * gradient[i] - w[i]).abs() < 1e-15);
        }
        let (_, predicted_loss) = predict(
            &SHAPE,
            &before,
            &columns,
            &values,
            Some(class),
            &mut scratch,
        );
        assert!((predicted_loss.unwrap() - loss).abs() < 1e-12);
    }

    #[test]
    fn the_fixed_k_kernels_agree_with_the_general_one() {
        for classes in [2, 3, 10, 16, 17] {
            let shape = Shape {
                classes,
                features: 5,
                intercept: classes % 2 == 0,
            };
            let w: Vec<f64> = (0..shape.len())
                .map(|i| ((i * 5 % 13) as f64 - 6.0) / 5.0)
                .collect();
            let (columns, values) = ([0u32, 3, 4], [1.5, -0.25, 2.0]);
            let mut scratch = vec![0.0; classes];
            let mut fixed = vec![0.0; shape.len()];
            let mut general = vec![0.0; shape.len()];
            let a = add_loss_gradient(&shape, &w, &columns, &values, 1, &mut scratch, &mut fixed);
            let (mut stepped_fixed, mut stepped_any) = (w.clone(), w.clone());
            sgd_step(
                &shape,
                &mut stepped_fixed,
                &columns,
                &values,
                1,
                0.1,
                &mut scratch,
            );
            sgd_step_any(
                &shape,
                &mut stepped_any,
                &columns,
                &values,
                1,
                0.1,
                &mut scratch,
            );
            for (x, y) in stepped_fixed.iter().zip(&stepped_any) {
                assert!((x - y).abs() < 1e-12, "K = {classes}");
            }
            let b =
                add_loss_gradient_any(&shape, &w, &columns, &values, 1, &mut scratch, &mut general);
            assert!((a - b).abs() < 1e-12, "K = {classes}");
            for (x, y) in fixed.iter().zip(&general) {
                assert!((x - y).abs() < 1e-12, "K = {classes}");
            }
        }
    }

    #[test]
    fn huge_scores_do_not_overflow() {
        let mut scores = [1000.0, 0.0, -1000.0];
        let log_total = softmax_in_place(&mut scores);
        assert!((log_total - 1000.0).abs() < 1e-12);
        assert!((scores[0] - 1.0).abs() < 1e-12 && scores[2] == 0.0);
    }
}
