//! The two losses, written so one coordinate-descent program serves both.
//!
//! Every worker keeps, per row, the prediction `p_i = x_i . b` and the first and second
//! derivatives of the loss `f_i(p_i)` with respect to it. The coordinate statistics are then
//! `g_j = sum_i x_ij f_i'(p_i)` and `h_j = sum_i x_ij^2 f_i''(p_i)`, and the duality gap uses the
//! dual point `theta_i = -f_i'(p_i)` scaled into the feasible set `||X^T theta||_inf <= lambda`.

use serde::{Deserialize, Serialize};

/// Which objective is minimised (plus `lambda ||b||_1` in both cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LossKind {
    /// Lasso: `F(b) = 1/2 ||y - X b||^2 + lambda ||b||_1`.
    Squared,
    /// Sparse logistic regression: `F(b) = sum_i log(1 + exp(-y_i x_i . b)) + lambda ||b||_1`,
    /// labels in {-1, +1}.
    Logistic,
}

impl LossKind {
    /// The app name used in summaries (`lasso` or `logreg`).
    pub fn app_name(self) -> &'static str {
        match self {
            LossKind::Squared => "lasso",
            LossKind::Logistic => "logreg",
        }
    }
}

/// A smooth loss `f(y, p)` of a label and a prediction, with what the solver needs of it.
pub trait Loss: Copy + Send + Sync + 'static {
    /// Whether `f''` is the same constant 1 everywhere (then `h_j = ||x_j||^2`, computed once).
    const CONSTANT_CURVATURE: bool;
    /// An upper bound `L` on `f''`: the dual is then `1/L`-strongly concave, which sizes the
    /// gap-safe screening sphere (radius `sqrt(2 L gap)`).
    const SMOOTHNESS: f64;
    /// `f(y, p)`.
    fn value(y: f64, p: f64) -> f64;
    /// `(f'(p), f''(p))` with respect to the prediction.
    fn derivatives(y: f64, p: f64) -> (f64, f64);
    /// `-f*(-s theta)`, the row's term of the dual objective at the scaled dual point, where
    /// `theta = -f'(p)` and `s` in (0, 1] is the scale that makes the dual point feasible.
    fn dual_term(y: f64, theta: f64, s: f64) -> f64;
}

/// `f(y, p) = 1/2 (y - p)^2`: `f' = p - y` (minus the residual), `f'' = 1`,
/// `-f*(-s r) = s r y - s^2 r^2 / 2`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SquaredLoss;

impl Loss for SquaredLoss {
    const CONSTANT_CURVATURE: bool = true;
    const SMOOTHNESS: f64 = 1.0;
    #[inline]
    fn value(y: f64, p: f64) -> f64 {
        0.5 * (y - p) * (y - p)
    }
    #[inline]
    fn derivatives(y: f64, p: f64) -> (f64, f64) {
        (p - y, 1.0)
    }
    #[inline]
    fn dual_term(y: f64, theta: f64, s: f64) -> f64 {
        s * theta * y - 0.5 * s * s * theta * theta
    }
}

/// `f(y, p) = log(1 + exp(-y p))` for `y` in {-1, +1}: `f' = -y sigma(-y p)`,
/// `f'' = sigma(p) sigma(-p)`, and with `u = s y theta` in [0, 1],
/// `-f*(-s theta) = -u ln u - (1 - u) ln(1 - u)` (the binary entropy).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogisticLoss;

/// `1 / (1 + exp(-x))`, without overflow.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + exp(x))`, without overflow or loss of precision for large |x|.
#[inline]
pub fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

impl Loss for LogisticLoss {
    const CONSTANT_CURVATURE: bool = false;
    const SMOOTHNESS: f64 = 0.25;
    #[inline]
    fn value(y: f64, p: f64) -> f64 {
        softplus(-y * p)
    }
    #[inline]
    fn derivatives(y: f64, p: f64) -> (f64, f64) {
        let s = sigmoid(-y * p);
        (-y * s, s * (1.0 - s))
    }
    #[inline]
    fn dual_term(y: f64, theta: f64, s: f64) -> f64 {
        let u = (s * y * theta).clamp(0.0, 1.0);
        let entropy = |v: f64| if v > 0.0 { -v * v.ln() } else { 0.0 };
        entropy(u) + entropy(1.0 - u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_derivative(f: impl Fn(f64) -> f64, x: f64) -> f64 {
        let h = 1e-5;
        (f(x + h) - f(x - h)) / (2.0 * h)
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for &(y, p) in &[(1.0, 0.3), (-1.0, 2.0), (1.0, -4.0), (0.7, 1.5)] {
            let (d1, d2) = SquaredLoss::derivatives(y, p);
            assert!((d1 - numeric_derivative(|q| SquaredLoss::value(y, q), p)).abs() < 1e-6);
            assert!((d2 - 1.0).abs() < 1e-12);
            if y.abs() == 1.0 {
                let (d1, d2) = LogisticLoss::derivatives(y, p);
                assert!((d1 - numeric_derivative(|q| LogisticLoss::value(y, q), p)).abs() < 1e-6);
                let d1_of = |q| LogisticLoss::derivatives(y, q).0;
                assert!((d2 - numeric_derivative(d1_of, p)).abs() < 1e-6);
            }
        }
    }

    /// Fenchel-Young: for any p, f(p) + f*(u) >= u p with equality at u = f'(p); so with s = 1 the
    /// dual term -f*(-theta) equals f(p) - theta p... checked as f(p) = dual_term + f'(p) p.
    #[test]
    fn dual_terms_are_tight_at_the_gradient() {
        for &(y, p) in &[(1.0, 0.3), (-1.0, 2.0), (1.0, -4.0), (-1.0, -0.5)] {
            let (d1, _) = LogisticLoss::derivatives(y, p);
            let tight = LogisticLoss::dual_term(y, -d1, 1.0) + d1 * p;
            assert!(
                (tight - LogisticLoss::value(y, p)).abs() < 1e-12,
                "logistic y={y} p={p}"
            );
            let (d1, _) = SquaredLoss::derivatives(y, p);
            let tight = SquaredLoss::dual_term(y, -d1, 1.0) + d1 * p;
            assert!(
                (tight - SquaredLoss::value(y, p)).abs() < 1e-12,
                "squared y={y} p={p}"
            );
        }
    }

    #[test]
    fn softplus_and_sigmoid_are_stable() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((softplus(1000.0) - 1000.0).abs() < 1e-12);
        assert!(softplus(-1000.0) >= 0.0);
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
    }
}
