//! Numerical correctness of Lasso and sparse logistic regression.
//!
//! Every answer of `strads_apps::sparse_regression::solve` is checked against an independent
//! dense reference solver written in this file (plain cyclic coordinate descent with its own
//! duality gap; none of the library's kernels), against the KKT conditions at the returned
//! coefficients, and against itself under every scheduler, with and without the dependency
//! filter, on one and two threads and with stale rounds.
//!
//! Objectives (no intercept):
//! - Lasso: `F(b) = 1/2 ||y - X b||^2 + lambda ||b||_1`, `lambda_max = ||X^T y||_inf`.
//! - Logistic: `F(b) = sum_i log(1 + exp(-y_i x_i . b)) + lambda ||b||_1`, `y_i` in {-1, +1},
//!   `lambda_max = ||X^T y||_inf / 2`.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strads_apps::sparse_regression::{
    solve, solving_threads, ColumnsOptions, DataSource, Layout, LayoutKind, LossKind, Penalty,
    RegressionParams, RowsOptions, Solution, StopReason,
};
use strads_apps::Hooks;
use strads_core::{SchedulerKind, SchedulerParams};
use strads_engine::ClusterConfig;

// ------------------------------------------------------------------------------------------------
// Problems
// ------------------------------------------------------------------------------------------------

/// A dense design matrix with labels; written to libsvm (nonzeros only) for the library.
#[derive(Clone, Debug)]
struct Problem {
    name: &'static str,
    n: usize,
    d: usize,
    /// Row-major `n x d`.
    x: Vec<f64>,
    y: Vec<f64>,
}

fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller; `1 - u` keeps the logarithm finite.
    let u: f64 = rng.gen();
    let v: f64 = rng.gen();
    (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

impl Problem {
    fn at(&self, i: usize, j: usize) -> f64 {
        self.x[i * self.d + j]
    }

    fn column(&self, j: usize) -> Vec<f64> {
        (0..self.n).map(|i| self.at(i, j)).collect()
    }

    fn predictions(&self, b: &[f64]) -> Vec<f64> {
        (0..self.n)
            .map(|i| (0..self.d).map(|j| self.at(i, j) * b[j]).sum())
            .collect()
    }

    /// `X^T v`.
    fn xt(&self, v: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.d];
        for (i, &vi) in v.iter().enumerate() {
            for (j, o) in out.iter_mut().enumerate() {
                *o += self.at(i, j) * vi;
            }
        }
        out
    }

    /// Writes the problem as a 1-based libsvm file, each label mapped by `label`.
    fn write_libsvm(&self, dir: &Path, file: &str, label: impl Fn(f64) -> f64) -> PathBuf {
        use std::fmt::Write as _;
        let mut text = String::new();
        for i in 0..self.n {
            write!(text, "{}", label(self.y[i])).unwrap();
            for j in 0..self.d {
                let v = self.at(i, j);
                if v != 0.0 {
                    // `{}` prints the shortest decimal that reads back to the same f64.
                    write!(text, " {}:{}", j + 1, v).unwrap();
                }
            }
            text.push('\n');
        }
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A random design: entries N(0, 1) with probability `density`, columns scaled by factors in
    /// [0.5, 2] (so the column norms differ); every row and column gets at least one nonzero (so
    /// the file's width is `d`).
    fn random_design(name: &'static str, n: usize, d: usize, density: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let scales: Vec<f64> = (0..d).map(|_| rng.gen_range(0.5..2.0)).collect();
        let mut x = vec![0.0; n * d];
        for i in 0..n {
            for j in 0..d {
                if density >= 1.0 || rng.gen_bool(density) {
                    x[i * d + j] = gaussian(&mut rng) * scales[j];
                }
            }
        }
        for j in 0..d {
            if (0..n).all(|i| x[i * d + j] == 0.0) {
                let i = rng.gen_range(0..n);
                x[i * d + j] = gaussian(&mut rng) * scales[j];
            }
        }
        for i in 0..n {
            if (0..d).all(|j| x[i * d + j] == 0.0) {
                let j = rng.gen_range(0..d);
                x[i * d + j] = gaussian(&mut rng) * scales[j];
            }
        }
        Problem {
            name,
            n,
            d,
            x,
            y: vec![0.0; n],
        }
    }

    /// Groups of `group` columns, each column `z_g + noise * e` (correlation about
    /// `1 / (1 + noise^2)` within a group), columns scaled by factors in [0.5, 2].
    fn correlated_design(
        name: &'static str,
        n: usize,
        groups: usize,
        group: usize,
        noise: f64,
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = groups * group;
        let mut x = vec![0.0; n * d];
        for g in 0..groups {
            let z: Vec<f64> = (0..n).map(|_| gaussian(&mut rng)).collect();
            for k in 0..group {
                let j = g * group + k;
                let scale = rng.gen_range(0.5..2.0);
                for i in 0..n {
                    x[i * d + j] = (z[i] + noise * gaussian(&mut rng)) * scale;
                }
            }
        }
        Problem {
            name,
            n,
            d,
            x,
            y: vec![0.0; n],
        }
    }

    /// A sparse truth: `k` coefficients of size 1..3 with random signs.
    fn truth(&self, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let mut beta = vec![0.0; self.d];
        for _ in 0..k {
            let j = rng.gen_range(0..self.d);
            let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
            beta[j] = sign * rng.gen_range(1.0..3.0);
        }
        beta
    }

    /// `y = X beta + noise * e` with a `k`-sparse truth.
    fn with_lasso_labels(mut self, k: usize, noise: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let beta = self.truth(k, &mut rng);
        let p = self.predictions(&beta);
        self.y = p.iter().map(|&p| p + noise * gaussian(&mut rng)).collect();
        self
    }

    /// `P(y = +1) = sigmoid(x . beta / scale)` with a `k`-sparse truth (label noise everywhere),
    /// then the last `flipped` rows are replaced by copies of the first ones with the opposite
    /// label, so no `b` classifies every row correctly: the data are not separable.
    fn with_logistic_labels(mut self, k: usize, scale: f64, flipped: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let beta = self.truth(k, &mut rng);
        let p = self.predictions(&beta);
        self.y = p
            .iter()
            .map(|&p| {
                if rng.gen_bool(sigmoid(p / scale)) {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        assert!(flipped <= self.n / 2);
        for r in 0..flipped {
            let target = self.n - 1 - r;
            for j in 0..self.d {
                self.x[target * self.d + j] = self.x[r * self.d + j];
            }
            self.y[target] = -self.y[r];
        }
        self
    }
}

fn lasso_problems() -> Vec<Problem> {
    vec![
        Problem::random_design("lasso dense 60x20", 60, 20, 1.0, 11).with_lasso_labels(6, 0.5, 12),
        Problem::random_design("lasso sparse 200x100 (10%)", 200, 100, 0.1, 21)
            .with_lasso_labels(10, 0.3, 22),
        Problem::random_design("lasso wide 40x120", 40, 120, 1.0, 31).with_lasso_labels(5, 0.2, 32),
        // Groups of 3 near-copies: |corr| about 0.98 within a group.
        Problem::correlated_design("lasso correlated 80x30 (groups of 3)", 80, 10, 3, 0.15, 41)
            .with_lasso_labels(4, 0.5, 42),
    ]
}

fn logistic_problems() -> Vec<Problem> {
    vec![
        Problem::random_design("logistic dense 200x20", 200, 20, 1.0, 51)
            .with_logistic_labels(6, 1.0, 10, 52),
        Problem::random_design("logistic sparse 300x60 (10%)", 300, 60, 0.1, 61)
            .with_logistic_labels(8, 0.7, 10, 62),
        Problem::random_design("logistic wide 40x120", 40, 120, 1.0, 71)
            .with_logistic_labels(5, 1.0, 4, 72),
        Problem::correlated_design(
            "logistic correlated 150x30 (groups of 3)",
            150,
            10,
            3,
            0.15,
            81,
        )
        .with_logistic_labels(4, 1.0, 8, 82),
    ]
}

// ------------------------------------------------------------------------------------------------
// The reference: dense losses, objective, gradient, duality gap and cyclic coordinate descent
// ------------------------------------------------------------------------------------------------

fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + exp(t))`.
fn log1pexp(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

fn soft_threshold(z: f64, t: f64) -> f64 {
    z.signum() * (z.abs() - t).max(0.0)
}

fn loss_value(kind: LossKind, y: f64, p: f64) -> f64 {
    match kind {
        LossKind::Squared => 0.5 * (y - p) * (y - p),
        LossKind::Logistic => log1pexp(-y * p),
    }
}

/// `d loss / d p`.
fn loss_slope(kind: LossKind, y: f64, p: f64) -> f64 {
    match kind {
        LossKind::Squared => p - y,
        LossKind::Logistic => -y * sigmoid(-y * p),
    }
}

/// `d^2 loss / d p^2`.
fn loss_curvature(kind: LossKind, p: f64) -> f64 {
    match kind {
        LossKind::Squared => 1.0,
        LossKind::Logistic => sigmoid(p) * sigmoid(-p),
    }
}

fn l1(b: &[f64]) -> f64 {
    b.iter().map(|v| v.abs()).sum()
}

fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn objective(problem: &Problem, kind: LossKind, b: &[f64], lambda: f64) -> f64 {
    let p = problem.predictions(b);
    let loss: f64 = p
        .iter()
        .zip(&problem.y)
        .map(|(&p, &y)| loss_value(kind, y, p))
        .sum();
    loss + lambda * l1(b)
}

/// `X^T f'(X b)`, the gradient of the smooth part.
fn gradient(problem: &Problem, kind: LossKind, b: &[f64]) -> Vec<f64> {
    let p = problem.predictions(b);
    let slopes: Vec<f64> = p
        .iter()
        .zip(&problem.y)
        .map(|(&p, &y)| loss_slope(kind, y, p))
        .collect();
    problem.xt(&slopes)
}

fn lambda_max(problem: &Problem, kind: LossKind) -> f64 {
    let m = inf_norm(&problem.xt(&problem.y));
    match kind {
        LossKind::Squared => m,
        LossKind::Logistic => m / 2.0,
    }
}

/// `(F(b), F(b) - D(s theta))` with `theta = -f'(X b)` and `s = min(1, lambda / ||X^T theta||_inf)`.
///
/// Lasso: `D(theta) = y . theta - ||theta||^2 / 2`; with `theta = r = y - X b` and `y = r + X b`
/// the gap is `(1 - s)^2 / 2 ||r||^2 + lambda ||b||_1 - s b . X^T r`, which has no cancellation
/// between two large numbers. Logistic: `D(theta) = sum_i H(y_i theta_i)` with `H` the binary
/// entropy in nats.
fn duality_gap(problem: &Problem, kind: LossKind, b: &[f64], lambda: f64) -> (f64, f64) {
    let p = problem.predictions(b);
    let theta: Vec<f64> = p
        .iter()
        .zip(&problem.y)
        .map(|(&p, &y)| -loss_slope(kind, y, p))
        .collect();
    let xt_theta = problem.xt(&theta);
    let m = inf_norm(&xt_theta);
    let s = if m > lambda { lambda / m } else { 1.0 };
    let f = objective(problem, kind, b, lambda);
    let gap = match kind {
        LossKind::Squared => {
            let r2: f64 = theta.iter().map(|r| r * r).sum();
            let b_xtr: f64 = b.iter().zip(&xt_theta).map(|(b, g)| b * g).sum();
            0.5 * (1.0 - s) * (1.0 - s) * r2 + lambda * l1(b) - s * b_xtr
        }
        LossKind::Logistic => {
            let entropy = |u: f64| {
                let term = |v: f64| if v > 0.0 { -v * v.ln() } else { 0.0 };
                term(u) + term(1.0 - u)
            };
            let dual: f64 = theta
                .iter()
                .zip(&problem.y)
                .map(|(&t, &y)| entropy((s * y * t).clamp(0.0, 1.0)))
                .sum();
            f - dual
        }
    };
    (f, gap)
}

/// The reference optimum.
#[derive(Clone, Debug)]
struct Reference {
    b: Vec<f64>,
    objective: f64,
    /// Its duality gap: `F* >= objective - gap`.
    gap: f64,
}

/// Relative duality gap the reference iterates to.
const REFERENCE_TOL: f64 = 1e-13;
const REFERENCE_MAX_EPOCHS: usize = 200_000;

/// Plain dense cyclic coordinate descent from `b = 0` until `gap <= REFERENCE_TOL * F(b)`.
///
/// Lasso: exact coordinate minimisation `b_j = S(b_j ||x_j||^2 + x_j . r, lambda) / ||x_j||^2`.
/// Logistic: a proximal Newton step per coordinate (the minimiser of the second-order model plus
/// `lambda |b_j|`) with Armijo backtracking on the true objective (CDN, Yuan et al. 2010). The loss
/// change of a row is computed as `log(1 + sigmoid(z) expm1(dz))` (z = -y p) so that the test is
/// accurate even for the tiny steps near the optimum.
fn reference_solve(problem: &Problem, kind: LossKind, lambda: f64) -> Reference {
    let (n, d) = (problem.n, problem.d);
    let columns: Vec<Vec<f64>> = (0..d).map(|j| problem.column(j)).collect();
    let norms2: Vec<f64> = columns
        .iter()
        .map(|c| c.iter().map(|x| x * x).sum())
        .collect();
    let y = &problem.y;
    let mut b = vec![0.0; d];
    let mut p = vec![0.0; n];
    for epoch in 1..=REFERENCE_MAX_EPOCHS {
        for j in 0..d {
            let col = &columns[j];
            match kind {
                LossKind::Squared => {
                    let g: f64 = (0..n).map(|i| col[i] * (y[i] - p[i])).sum();
                    let new = soft_threshold(b[j] * norms2[j] + g, lambda) / norms2[j];
                    let delta = new - b[j];
                    if delta != 0.0 {
                        for i in 0..n {
                            p[i] += col[i] * delta;
                        }
                        b[j] = new;
                    }
                }
                LossKind::Logistic => {
                    let (mut g, mut h) = (0.0, 0.0);
                    for i in 0..n {
                        g += col[i] * loss_slope(kind, y[i], p[i]);
                        h += col[i] * col[i] * loss_curvature(kind, p[i]);
                    }
                    if h <= 0.0 {
                        continue;
                    }
                    let direction = soft_threshold(h * b[j] - g, lambda) / h - b[j];
                    if direction == 0.0 {
                        continue;
                    }
                    let model = g * direction + lambda * ((b[j] + direction).abs() - b[j].abs());
                    let mut step = 1.0;
                    for _ in 0..60 {
                        let dz = step * direction;
                        let mut change = lambda * ((b[j] + dz).abs() - b[j].abs());
                        for i in 0..n {
                            if col[i] != 0.0 {
                                let z = -y[i] * p[i];
                                change += (sigmoid(z) * (-y[i] * col[i] * dz).exp_m1()).ln_1p();
                            }
                        }
                        if change <= 0.01 * step * model {
                            for i in 0..n {
                                p[i] += col[i] * dz;
                            }
                            b[j] += dz;
                            break;
                        }
                        step *= 0.5;
                    }
                }
            }
        }
        // Refresh the predictions exactly and check the gap.
        p = problem.predictions(&b);
        if epoch % 5 == 0 {
            let (f, gap) = duality_gap(problem, kind, &b, lambda);
            if gap <= REFERENCE_TOL * f {
                return Reference {
                    b,
                    objective: f,
                    gap: gap.max(0.0),
                };
            }
        }
    }
    let (f, gap) = duality_gap(problem, kind, &b, lambda);
    panic!(
        "{}: the reference did not reach a relative gap of {REFERENCE_TOL} in \
         {REFERENCE_MAX_EPOCHS} epochs (F = {f}, gap = {gap})",
        problem.name
    );
}

// ------------------------------------------------------------------------------------------------
// Running the library
// ------------------------------------------------------------------------------------------------

/// How one library run is configured (everything else is fixed in [`params`]).
#[derive(Clone, Copy, Debug)]
struct Run {
    scheduler: SchedulerKind,
    schedule_size: usize,
    rho: f64,
    staleness: u64,
    threads: usize,
    screening: bool,
    inner_passes: usize,
    layout: LayoutKind,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            scheduler: SchedulerKind::Priority,
            schedule_size: 8,
            rho: 0.1,
            staleness: 0,
            threads: 1,
            screening: true,
            inner_passes: 1,
            layout: LayoutKind::Rows,
        }
    }
}

/// The tolerance asked of the library: `gap <= LIBRARY_TOL * F(b)`.
const LIBRARY_TOL: f64 = 1e-12;

fn params(kind: LossKind, path: &Path, penalty: Penalty, run: Run) -> RegressionParams {
    RegressionParams {
        checkpointing: Default::default(),
        loss: kind,
        data: DataSource::Libsvm {
            path: path.to_path_buf(),
            zero_based: false,
        },
        penalty,
        tol: LIBRARY_TOL,
        max_passes: 20_000.0,
        // No time limit: the runs must stop on the gap or the pass limit (deterministic).
        max_seconds: f64::INFINITY,
        gap_every: 0.25,
        layout: match run.layout {
            LayoutKind::Rows => Layout::Rows(RowsOptions {
                scheduler: SchedulerParams {
                    kind: run.scheduler,
                    schedule_size: run.schedule_size,
                    eta: 1e-6,
                    seed: 7,
                },
                rho: run.rho,
                staleness: run.staleness,
                screening: run.screening,
                sweep_share: 0.25,
                inner_passes: run.inner_passes,
            }),
            // Every thread solves, however small the problem: these runs check the blocks'
            // exchange.
            LayoutKind::Columns => Layout::Columns(ColumnsOptions {
                local_passes: 1,
                single_worker_entries: 0,
            }),
        },
    }
}

fn run_library(kind: LossKind, path: &Path, penalty: Penalty, run: Run) -> Solution {
    let cluster = ClusterConfig::threads(run.threads);
    solve(
        &cluster,
        &params(kind, path, penalty, run),
        Hooks::default(),
    )
    .unwrap_or_else(|e| panic!("solve failed ({run:?}): {e}"))
    .expect("a single-process cluster returns the solution")
}

fn relative_difference(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

/// Every check of one library answer against the reference for the same problem and lambda.
fn check_against_reference(
    problem: &Problem,
    kind: LossKind,
    ratio: f64,
    solution: &Solution,
    reference: &Reference,
    context: &str,
) {
    let ctx = format!("{} at lambda ratio {ratio} ({context})", problem.name);
    assert_eq!(solution.rows, problem.n, "{ctx}: rows");
    assert_eq!(solution.cols, problem.d, "{ctx}: columns");
    assert_eq!(
        solution.coefficients.len(),
        problem.d,
        "{ctx}: coefficients"
    );
    let lambda_max_ref = lambda_max(problem, kind);
    assert!(
        relative_difference(solution.lambda_max, lambda_max_ref) <= 1e-12,
        "{ctx}: lambda_max {} but ||X^T y||_inf{} = {lambda_max_ref}",
        solution.lambda_max,
        if kind == LossKind::Logistic {
            " / 2"
        } else {
            ""
        }
    );
    let lambda = ratio * lambda_max_ref;
    assert!(
        relative_difference(solution.lambda, lambda) <= 1e-12,
        "{ctx}: lambda {} but ratio * lambda_max = {lambda}",
        solution.lambda
    );
    assert_eq!(
        solution.stop,
        StopReason::Converged,
        "{ctx}: stopped for {:?} after {} passes with gap {} (objective {})",
        solution.stop,
        solution.iterations,
        solution.duality_gap,
        solution.objective
    );
    assert!(
        solution.duality_gap <= LIBRARY_TOL * solution.objective,
        "{ctx}: converged with gap {} > tol * F = {}",
        solution.duality_gap,
        LIBRARY_TOL * solution.objective
    );
    let b = &solution.coefficients;
    assert!(
        b.iter().all(|v| v.is_finite()),
        "{ctx}: non-finite coefficients"
    );

    // The reported objective is F of the returned coefficients. Both sum the same n terms (the
    // library from predictions kept up to date incrementally), so they agree to rounding:
    // 1e-10 relative leaves four orders of magnitude over n * eps for these n.
    let f = objective(problem, kind, b, lambda);
    assert!(
        relative_difference(solution.objective, f) <= 1e-10,
        "{ctx}: reported objective {} but F(returned b) = {f}",
        solution.objective
    );

    // The optimum: both solvers certify F* within 1e-12 relative, so 1e-7 is generous.
    assert!(
        relative_difference(f, reference.objective) <= 1e-7,
        "{ctx}: F(b) = {f} but the reference optimum is {} (relative difference {:e})",
        reference.objective,
        relative_difference(f, reference.objective)
    );
    // Certificates are consistent: F* lies in [F_ref - gap_ref, F_ref] and in
    // [F_lib - gap_lib, F_lib], so the two intervals overlap. The slack 1e-13 * F covers the
    // rounding of the two independently summed objectives (about n * eps * F).
    let slack = 1e-13 * reference.objective.abs();
    assert!(
        f >= reference.objective - reference.gap - slack,
        "{ctx}: F(b) = {f} is below the reference's dual bound {}",
        reference.objective - reference.gap
    );
    assert!(
        reference.objective >= solution.objective - solution.duality_gap - slack,
        "{ctx}: the library's dual bound {} is above the reference's objective {} (its gap is \
         not a valid bound)",
        solution.objective - solution.duality_gap,
        reference.objective
    );

    check_kkt(problem, kind, lambda, b, reference, &ctx);
}

/// KKT conditions at `b`: `g = X^T f'(X b)`; `g_j = -lambda sign(b_j)` if `b_j != 0`, and
/// `|g_j| <= lambda` if `b_j = 0`.
///
/// Tolerance. Let `eps >= F(b) - F*`; we use `eps = F(b) - (F_ref - gap_ref)` (rigorous, since
/// `F* >= F_ref - gap_ref`) plus 1e-14 F for rounding. Write `p = X b`, `p* = X b*`, and let row
/// i's loss have curvature between `c_i` and `M_i` on the segment from `p_i` to `p*_i`.
/// Optimality of `b*` gives `F(b) - F* >= 1/2 sum_i c_i (p_i - p*_i)^2`, and by Cauchy-Schwarz
/// `|g_j(b) - g_j(b*)| <= sum_i |x_ij| M_i |p_i - p*_i| <= sqrt(sum_i x_ij^2 M_i^2 / c_i) sqrt(2 eps)`.
/// Squared loss: `c_i = M_i = 1`, so the bound is `||x_j|| sqrt(2 eps)` exactly. Logistic loss:
/// `|f'''| <= f''`, so along a segment shorter than ln 2 (the predictions move far less here)
/// the curvature stays within a factor 2 of `f''(p_i)`, `M_i^2 / c_i <= 8 f''(p_i)`, and the
/// bound is `sqrt(8 h_j) sqrt(2 eps)` with `h_j = sum_i x_ij^2 f''(p_i)`; we use
/// `3 sqrt(2 eps h_j)`. `g(b*)` satisfies KKT exactly, so that bound (plus the rounding of the
/// sum `g_j`, 1e-12 sum_i |x_ij f'_i|) is the tolerance for every zero coefficient and every
/// nonzero one whose sign agrees with `b*`. It is at most about 2e-4 lambda on these problems,
/// and the violations found are orders of magnitude below it.
fn check_kkt(
    problem: &Problem,
    kind: LossKind,
    lambda: f64,
    b: &[f64],
    reference: &Reference,
    ctx: &str,
) {
    let f = objective(problem, kind, b, lambda);
    let eps =
        (f - (reference.objective - reference.gap)).max(0.0) + 1e-14 * reference.objective.abs();
    let p = problem.predictions(b);
    let factor = match kind {
        LossKind::Squared => 1.0,
        LossKind::Logistic => 3.0,
    };
    let slopes: Vec<f64> = p
        .iter()
        .zip(&problem.y)
        .map(|(&p, &y)| loss_slope(kind, y, p))
        .collect();
    let g = gradient(problem, kind, b);
    for j in 0..problem.d {
        let col = problem.column(j);
        let h: f64 = col
            .iter()
            .zip(&p)
            .map(|(x, &p)| x * x * loss_curvature(kind, p))
            .sum();
        let magnitude: f64 = col.iter().zip(&slopes).map(|(x, s)| (x * s).abs()).sum();
        let tol = factor * (2.0 * eps * h).sqrt() + 1e-12 * magnitude + 1e-12 * lambda;
        if b[j] != 0.0 {
            let violation = (g[j] + lambda * b[j].signum()).abs();
            assert!(
                violation <= tol,
                "{ctx}: KKT fails at nonzero b[{j}] = {}: |g_j + lambda sign(b_j)| = {violation:e} \
                 > {tol:e} (g_j = {}, lambda = {lambda})",
                b[j],
                g[j]
            );
        } else {
            assert!(
                g[j].abs() <= lambda + tol,
                "{ctx}: KKT fails at zero b[{j}]: |g_j| = {} > lambda + tol = {} + {tol:e}",
                g[j].abs(),
                lambda
            );
        }
    }
}

/// Solves `problem` with the library and the reference at each ratio and checks everything.
fn check_problem(problem: &Problem, kind: LossKind, ratios: &[f64], run: Run) {
    let dir = tempfile::tempdir().unwrap();
    let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
    let lambda_max = lambda_max(problem, kind);
    for &ratio in ratios {
        let reference = reference_solve(problem, kind, ratio * lambda_max);
        let solution = run_library(kind, &path, Penalty::Ratio(ratio), run);
        check_against_reference(
            problem,
            kind,
            ratio,
            &solution,
            &reference,
            &format!("{run:?}"),
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

/// The reference itself, on a design with orthogonal columns (each column lives on its own rows),
/// where the Lasso has the closed form `b_j = S(x_j . y, lambda) / ||x_j||^2`; the library must
/// give the same.
#[test]
fn lasso_on_orthogonal_columns_matches_the_closed_form() {
    let (d, per_column) = (12, 5);
    let n = d * per_column;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut x = vec![0.0; n * d];
    for j in 0..d {
        for k in 0..per_column {
            x[(j * per_column + k) * d + j] = gaussian(&mut rng) * (j as f64 + 1.0) / 4.0;
        }
    }
    let problem = Problem {
        name: "lasso orthogonal 60x12",
        n,
        d,
        x,
        y: vec![0.0; n],
    }
    .with_lasso_labels(5, 0.5, 6);
    let dir = tempfile::tempdir().unwrap();
    let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
    let xty = problem.xt(&problem.y);
    for ratio in [0.5, 0.1, 0.01] {
        let lambda = ratio * lambda_max(&problem, LossKind::Squared);
        let exact: Vec<f64> = (0..d)
            .map(|j| {
                let norm2: f64 = problem.column(j).iter().map(|x| x * x).sum();
                soft_threshold(xty[j], lambda) / norm2
            })
            .collect();
        let reference = reference_solve(&problem, LossKind::Squared, lambda);
        let solution = run_library(
            LossKind::Squared,
            &path,
            Penalty::Ratio(ratio),
            Run::default(),
        );
        for (j, &exact) in exact.iter().enumerate() {
            let scale = exact.abs().max(1.0);
            assert!(
                (reference.b[j] - exact).abs() <= 1e-12 * scale,
                "reference b[{j}] = {} but the closed form is {exact}",
                reference.b[j],
            );
            assert!(
                (solution.coefficients[j] - exact).abs() <= 1e-12 * scale,
                "ratio {ratio}: library b[{j}] = {} but the closed form is {exact}",
                solution.coefficients[j],
            );
        }
        check_against_reference(
            &problem,
            LossKind::Squared,
            ratio,
            &solution,
            &reference,
            "closed form",
        );
    }
}

#[test]
fn lasso_matches_reference_on_dense_sparse_wide_and_correlated_designs() {
    for problem in lasso_problems() {
        check_problem(
            &problem,
            LossKind::Squared,
            &[0.5, 0.1, 0.01],
            Run::default(),
        );
    }
}

#[test]
fn logistic_matches_reference_on_non_separable_sparse_wide_and_correlated_designs() {
    for problem in logistic_problems() {
        // The wide problem is separable without the penalty: small lambdas make its coefficients
        // (and the solve) large, so it runs at the two larger ratios only.
        let ratios: &[f64] = if problem.n < problem.d {
            &[0.5, 0.1]
        } else {
            &[0.5, 0.1, 0.01]
        };
        check_problem(&problem, LossKind::Logistic, ratios, Run::default());
    }
}

/// Priority, cyclic and random, each with the dependency filter (rho 0.1) and without it
/// (rho 1.0 with 4 candidates a round, few enough for these nearly uncorrelated sparse columns:
/// parallel coordinate descent is safe while the candidates are fewer than d / spectral radius of
/// the normalised X^T X, here well above 4), both with parallel steps (`inner_passes` 0). The
/// correlated design is run with parallel steps only behind the filter, since there unfiltered
/// parallel updates of near-copies overshoot; the Lasso also runs unfiltered with sequential
/// steps (`inner_passes` 4), which are safe on any design.
#[test]
fn every_scheduler_with_and_without_dependency_filter_reaches_the_optimum() {
    let sparse_lasso = &lasso_problems()[1];
    let correlated_lasso = &lasso_problems()[3];
    let sparse_logistic = &logistic_problems()[1];
    let correlated_logistic = &logistic_problems()[3];
    let cases: [(&Problem, LossKind, bool); 4] = [
        (sparse_lasso, LossKind::Squared, true),
        (correlated_lasso, LossKind::Squared, false),
        (sparse_logistic, LossKind::Logistic, true),
        (correlated_logistic, LossKind::Logistic, false),
    ];
    let ratio = 0.1;
    for (problem, kind, unfiltered_is_safe) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
        let reference = reference_solve(problem, kind, ratio * lambda_max(problem, kind));
        let mut runs = Vec::new();
        for scheduler in SchedulerKind::ALL {
            runs.push(Run {
                scheduler,
                schedule_size: 8,
                rho: 0.1,
                ..Run::default()
            });
            if unfiltered_is_safe {
                runs.push(Run {
                    scheduler,
                    schedule_size: 4,
                    rho: 1.0,
                    inner_passes: 0,
                    ..Run::default()
                });
            }
            // Sequential steps within the round need no filter, even on near-copies.
            if kind == LossKind::Squared {
                runs.push(Run {
                    scheduler,
                    schedule_size: 8,
                    rho: 1.0,
                    inner_passes: 4,
                    ..Run::default()
                });
            }
        }
        let mut objectives = Vec::new();
        for run in runs {
            let solution = run_library(kind, &path, Penalty::Ratio(ratio), run);
            check_against_reference(
                problem,
                kind,
                ratio,
                &solution,
                &reference,
                &format!("{run:?}"),
            );
            objectives.push((run, solution.objective));
        }
        let (first_run, first) = objectives[0];
        for &(run, objective) in &objectives[1..] {
            assert!(
                relative_difference(objective, first) <= 1e-8,
                "{}: {run:?} reached {objective} but {first_run:?} reached {first}",
                problem.name
            );
        }
    }
}

/// At lambda >= lambda_max, b = 0 is optimal: the first gap evaluation (at b = 0) proves it, so
/// the solve converges without a single coordinate update.
#[test]
fn penalty_at_or_above_lambda_max_gives_zero_and_stops_at_once() {
    let cases = [
        (lasso_problems()[0].clone(), LossKind::Squared),
        (lasso_problems()[2].clone(), LossKind::Squared),
        (logistic_problems()[0].clone(), LossKind::Logistic),
        (logistic_problems()[1].clone(), LossKind::Logistic),
    ];
    for (problem, kind) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
        let lambda_max = lambda_max(&problem, kind);
        let penalties = [
            Penalty::Ratio(1.0),
            Penalty::Ratio(1.5),
            Penalty::Absolute(2.0 * lambda_max),
        ];
        for penalty in penalties {
            let ctx = format!("{} with {penalty:?}", problem.name);
            let solution = run_library(kind, &path, penalty, Run::default());
            assert_eq!(solution.stop, StopReason::Converged, "{ctx}: stop");
            assert!(
                solution.coefficients.iter().all(|&b| b == 0.0),
                "{ctx}: b != 0: {:?}",
                solution.coefficients
            );
            assert_eq!(solution.iterations, 0.0, "{ctx}: passes before stopping");
            assert_eq!(solution.trace.len(), 1, "{ctx}: gap evaluations");
            let f0 = objective(&problem, kind, &vec![0.0; problem.d], 0.0);
            assert!(
                relative_difference(solution.objective, f0) <= 1e-12,
                "{ctx}: objective {} but F(0) = {f0}",
                solution.objective
            );
            assert!(
                solution.duality_gap <= 1e-12 * f0,
                "{ctx}: gap {} at b = 0",
                solution.duality_gap
            );
        }
        // Just below lambda_max the answer is no longer zero.
        let solution = run_library(kind, &path, Penalty::Ratio(0.9), Run::default());
        assert!(
            solution.nnz() > 0,
            "{}: b = 0 at 0.9 lambda_max",
            problem.name
        );
    }
}

/// Runs `problem` at lambda = `ratio` lambda_max with the default settings (one thread, bulk
/// synchronous, screening on) and with two threads, screening off, one and two rounds in flight,
/// and two threads with two rounds in flight; each must pass every reference check and reach the
/// objective of the default run within 1e-8 relative.
fn check_variants_agree(problem: &Problem, kind: LossKind, ratio: f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
    let reference = reference_solve(problem, kind, ratio * lambda_max(problem, kind));
    let base = run_library(kind, &path, Penalty::Ratio(ratio), Run::default());
    check_against_reference(problem, kind, ratio, &base, &reference, "default run");
    let variants = [
        Run {
            threads: 2,
            ..Run::default()
        },
        Run {
            screening: false,
            ..Run::default()
        },
        Run {
            staleness: 1,
            ..Run::default()
        },
        Run {
            staleness: 2,
            ..Run::default()
        },
        Run {
            threads: 2,
            staleness: 2,
            ..Run::default()
        },
        Run {
            inner_passes: 0,
            ..Run::default()
        },
        Run {
            inner_passes: 8,
            threads: 2,
            ..Run::default()
        },
    ];
    // No filter with rounds in flight: the sequential steps correct the stale gradients for the
    // unseen changes through the Gram entries (squared loss only: the logistic loss keeps
    // parallel steps, which need the filter).
    let unfiltered_stale = Run {
        rho: 1.0,
        staleness: 2,
        threads: 2,
        ..Run::default()
    };
    let extra = (kind == LossKind::Squared).then_some(unfiltered_stale);
    for run in variants.into_iter().chain(extra) {
        let solution = run_library(kind, &path, Penalty::Ratio(ratio), run);
        check_against_reference(
            problem,
            kind,
            ratio,
            &solution,
            &reference,
            &format!("{run:?}"),
        );
        assert!(
            relative_difference(solution.objective, base.objective) <= 1e-8,
            "{}: {run:?} reached {} but the default run (1 thread, staleness 0) reached {}",
            problem.name,
            solution.objective,
            base.objective
        );
    }
}

/// One thread versus two (rows sharded over two workers), bulk synchronous rounds versus one or
/// two rounds in flight, and gap-safe screening on versus off, all reach the same optimum.
#[test]
fn two_threads_stale_rounds_and_no_screening_give_the_single_thread_answer() {
    check_variants_agree(&lasso_problems()[1], LossKind::Squared, 0.1);
    check_variants_agree(&lasso_problems()[3], LossKind::Squared, 0.1);
    check_variants_agree(&logistic_problems()[0], LossKind::Logistic, 0.1);
    check_variants_agree(&logistic_problems()[1], LossKind::Logistic, 0.1);
}

/// The same on the correlated logistic problem (groups of 3 near-copies, |corr| about 0.98).
///
/// Guards the fix of a divergence found at commit 7441fb9: with `staleness: 2` (priority
/// scheduler, `schedule_size` 8, rho 0.1, lambda = 0.1 lambda_max) two near-copies updated in
/// overlapping rounds both took the full step (round r+1 measured its gradient before round r's
/// change of the partner was applied), and the logistic predictions saturated until the
/// objective reached about 1e35. The leader now skips a candidate correlated with a change its
/// round did not see (`unseen` in the task).
#[test]
fn stale_rounds_on_correlated_logistic_reach_the_single_thread_answer() {
    check_variants_agree(&logistic_problems()[3], LossKind::Logistic, 0.1);
}

/// The same on the correlated Lasso problem at a small penalty (lambda = 0.01 lambda_max).
///
/// Guards the same fix on the Lasso: before it, `staleness: 2` diverged here after about 818
/// passes (minimal form: cyclic scheduler, `schedule_size` 1, rounds r, r+1, r+2 updating three
/// near-copies, each from a state without the other two's changes).
#[test]
fn stale_rounds_on_correlated_lasso_at_small_penalty_reach_the_single_thread_answer() {
    check_variants_agree(&lasso_problems()[3], LossKind::Squared, 0.01);
}

/// The column layout (workers own column blocks and exchange the change of the predictions)
/// reaches the reference optimum on every design with 1, 2 and 3 workers, and the workers'
/// answers agree: 2 and 3 blocks take block-Jacobi steps, averaged where the blocks interfere.
#[test]
fn column_layout_matches_reference_with_one_two_and_three_workers() {
    let cases = lasso_problems()
        .into_iter()
        .map(|p| (p, LossKind::Squared, &[0.5, 0.1, 0.01][..]))
        .chain(
            logistic_problems()
                .into_iter()
                .map(|p| (p, LossKind::Logistic, &[0.5, 0.1][..])),
        );
    for (problem, kind, ratios) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
        for &ratio in ratios {
            let reference = reference_solve(&problem, kind, ratio * lambda_max(&problem, kind));
            let mut objectives = Vec::new();
            for threads in [1, 2, 3] {
                let run = Run {
                    threads,
                    layout: LayoutKind::Columns,
                    ..Run::default()
                };
                let solution = run_library(kind, &path, Penalty::Ratio(ratio), run);
                check_against_reference(
                    &problem,
                    kind,
                    ratio,
                    &solution,
                    &reference,
                    &format!("{run:?}"),
                );
                objectives.push(solution.objective);
            }
            for (threads, objective) in [2, 3].into_iter().zip(&objectives[1..]) {
                assert!(
                    relative_difference(*objective, objectives[0]) <= 1e-8,
                    "{}: {threads} column blocks reached {objective}, one block {}",
                    problem.name,
                    objectives[0]
                );
            }
        }
    }
}

/// The big benchmark's shape in small (issue 17: 1M x 10M with about 1.25 nonzeros a column):
/// far more columns than rows, each column holding one or two entries, so most columns share
/// no row and the working set is a sliver of the block. The column layout with 1, 2 and 3
/// workers reaches the reference optimum (1e-9 relative, beside every check of
/// [`check_against_reference`]), at a small lambda where the support nears the rows.
#[test]
fn column_layout_matches_reference_far_wider_than_tall_with_about_one_entry_a_column() {
    let problem = Problem::random_design("lasso 60x3000 (2%, ~1.2 a column)", 60, 3000, 0.02, 91)
        .with_lasso_labels(30, 0.3, 92);
    let dir = tempfile::tempdir().unwrap();
    let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
    for ratio in [0.1, 0.01] {
        let reference = reference_solve(
            &problem,
            LossKind::Squared,
            ratio * lambda_max(&problem, LossKind::Squared),
        );
        for threads in [1, 2, 3] {
            let run = Run {
                threads,
                layout: LayoutKind::Columns,
                ..Run::default()
            };
            let solution = run_library(LossKind::Squared, &path, Penalty::Ratio(ratio), run);
            let ctx = format!("{run:?}");
            check_against_reference(
                &problem,
                LossKind::Squared,
                ratio,
                &solution,
                &reference,
                &ctx,
            );
            assert!(
                relative_difference(solution.objective, reference.objective) <= 1e-9,
                "ratio {ratio}, {ctx}: F = {} but the reference optimum is {}",
                solution.objective,
                reference.objective
            );
        }
    }
}

/// The column layout checks its pass limit every round: with one pass over the working set per
/// round it stops within one pass of the limit, and says it did not converge.
#[test]
fn column_layout_stops_within_a_round_of_the_pass_limit() {
    let problem = &lasso_problems()[3];
    let dir = tempfile::tempdir().unwrap();
    let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
    let run = Run {
        threads: 2,
        layout: LayoutKind::Columns,
        ..Run::default()
    };
    for limit in [2.0, 5.0] {
        let mut params = params(LossKind::Squared, &path, Penalty::Ratio(0.001), run);
        params.max_passes = limit;
        let solution = solve(&ClusterConfig::threads(2), &params, Hooks::default())
            .unwrap()
            .expect("the solution");
        assert_eq!(solution.stop, StopReason::MaxIterations, "limit {limit}");
        assert!(
            solution.iterations >= limit && solution.iterations <= limit + 1.0,
            "limit {limit}: stopped after {} passes",
            solution.iterations
        );
        assert!(!solution.converged());
    }
}

/// A small X is solved on one worker thread in one process, whatever the cluster's threads
/// (`ColumnsOptions::single_worker_entries`, bounded for a libsvm file by its bytes / 4), with
/// one thread's answer bit for bit; 0 keeps every thread, and so do clusters of processes.
#[test]
fn a_small_problem_is_solved_on_one_worker_thread_unless_told_otherwise() {
    let problem = &lasso_problems()[3];
    let dir = tempfile::tempdir().unwrap();
    let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
    let file_entries_bound = std::fs::metadata(&path).unwrap().len() / 4;
    let ratio = 0.01;
    let with_rule = |single_worker_entries: u64| {
        let run = Run {
            layout: LayoutKind::Columns,
            ..Run::default()
        };
        let mut params = params(LossKind::Squared, &path, Penalty::Ratio(ratio), run);
        params.layout = Layout::Columns(ColumnsOptions {
            local_passes: 1,
            single_worker_entries,
        });
        params
    };
    let two = ClusterConfig::threads(2);
    let default_rule = ColumnsOptions::default().single_worker_entries;
    assert!(
        file_entries_bound <= default_rule,
        "the test problem is small"
    );
    assert_eq!(solving_threads(&with_rule(default_rule), &two), 1);
    assert_eq!(solving_threads(&with_rule(file_entries_bound), &two), 1);
    assert_eq!(solving_threads(&with_rule(file_entries_bound - 1), &two), 2);
    assert_eq!(solving_threads(&with_rule(0), &two), 2);
    let processes =
        ClusterConfig::cluster(2, 0, vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()]).unwrap();
    assert_eq!(solving_threads(&with_rule(default_rule), &processes), 2);

    let solve_on = |threads: usize, single_worker_entries: u64| {
        solve(
            &ClusterConfig::threads(threads),
            &with_rule(single_worker_entries),
            Hooks::default(),
        )
        .unwrap()
        .expect("the solution")
    };
    let reference = reference_solve(
        problem,
        LossKind::Squared,
        ratio * lambda_max(problem, LossKind::Squared),
    );
    let one_thread = solve_on(1, 0);
    let small_on_two = solve_on(2, default_rule);
    let blocks_on_two = solve_on(2, 0);
    for (solution, what) in [
        (&small_on_two, "2 threads, small-problem rule"),
        (&blocks_on_two, "2 threads, 2 blocks"),
    ] {
        check_against_reference(
            problem,
            LossKind::Squared,
            ratio,
            solution,
            &reference,
            what,
        );
    }
    assert_eq!(small_on_two.coefficients, one_thread.coefficients);
    assert_eq!(small_on_two.rounds, one_thread.rounds);
    // Two blocks take block-Jacobi rounds: not the one thread's steps, so not its bits.
    assert_ne!(blocks_on_two.coefficients, one_thread.coefficients);
}

/// Logistic labels 0/1 are read as -1/+1: the same lambda_max, the same answer.
#[test]
fn logistic_accepts_zero_one_labels_as_minus_one_plus_one() {
    let problem = logistic_problems()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let signed = problem.write_libsvm(dir.path(), "signed.libsvm", |y| y);
    let binary = problem.write_libsvm(
        dir.path(),
        "binary.libsvm",
        |y| if y > 0.0 { 1.0 } else { 0.0 },
    );
    let ratio = 0.1;
    let reference = reference_solve(
        &problem,
        LossKind::Logistic,
        ratio * lambda_max(&problem, LossKind::Logistic),
    );
    for run in [
        Run::default(),
        Run {
            threads: 2,
            ..Run::default()
        },
    ] {
        let a = run_library(LossKind::Logistic, &signed, Penalty::Ratio(ratio), run);
        let b = run_library(LossKind::Logistic, &binary, Penalty::Ratio(ratio), run);
        check_against_reference(
            &problem,
            LossKind::Logistic,
            ratio,
            &b,
            &reference,
            "0/1 labels",
        );
        assert_eq!(a.lambda_max, b.lambda_max, "{run:?}: lambda_max");
        assert!(
            relative_difference(a.objective, b.objective) <= 1e-12,
            "{run:?}: -1/+1 labels reach {} but 0/1 labels {}",
            a.objective,
            b.objective
        );
        for (j, (x, y)) in a.coefficients.iter().zip(&b.coefficients).enumerate() {
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                "{run:?}: b[{j}] = {x} with -1/+1 labels but {y} with 0/1 labels"
            );
        }
    }
}

/// The same rows given in memory (as the Python bindings give them) and in a libsvm file give the
/// same answer in both layouts on two threads (to the solve's tolerance: a file is split over the
/// workers by bytes, memory by rows, so sums are added in another order), and the in-memory width
/// keeps trailing empty columns (which a file cannot state).
#[test]
fn rows_in_memory_give_the_answer_of_the_same_rows_in_a_file() {
    use strads_apps::sparse_regression::InMemoryRows;
    use strads_io::SparseRows;
    for (problem, kind) in [
        (lasso_problems().remove(1), LossKind::Squared),
        (logistic_problems().remove(1), LossKind::Logistic),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
        let mut rows = SparseRows::new();
        for i in 0..problem.n {
            let row = &problem.x[i * problem.d..(i + 1) * problem.d];
            let columns: Vec<u32> = (0..problem.d as u32)
                .filter(|&j| row[j as usize] != 0.0)
                .collect();
            let values: Vec<f64> = columns.iter().map(|&j| row[j as usize]).collect();
            rows.push_row(problem.y[i], &columns, &values);
        }
        let exact = InMemoryRows::new(rows.clone(), problem.d).unwrap();
        let extra_columns = 3;
        let wider = InMemoryRows::new(rows, problem.d + extra_columns).unwrap();
        for layout in [LayoutKind::Rows, LayoutKind::Columns] {
            let run = Run {
                threads: 2,
                layout,
                ..Run::default()
            };
            let ctx = format!("{} ({layout:?})", problem.name);
            let from_file = run_library(kind, &path, Penalty::Ratio(0.1), run);
            let from_memory = |data: &InMemoryRows| {
                let mut memory_params = params(kind, &path, Penalty::Ratio(0.1), run);
                memory_params.data = DataSource::InMemory(data.clone());
                solve(&ClusterConfig::threads(2), &memory_params, Hooks::default())
                    .unwrap()
                    .unwrap()
            };
            let same = from_memory(&exact);
            let largest_difference = same
                .coefficients
                .iter()
                .zip(&from_file.coefficients)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(largest_difference <= 1e-9, "{ctx}: {largest_difference}");
            assert!(
                relative_difference(same.objective, from_file.objective) <= 1e-10,
                "{ctx}"
            );
            // Empty columns change the schedule's sizes, not the optimum.
            let wide = from_memory(&wider);
            assert_eq!(wide.cols, problem.d + extra_columns, "{ctx}");
            assert!(
                wide.coefficients[problem.d..].iter().all(|&b| b == 0.0),
                "{ctx}"
            );
            assert!(
                relative_difference(wide.objective, from_file.objective) <= 1e-10,
                "{ctx}: {} vs {}",
                wide.objective,
                from_file.objective
            );
        }
    }
}

/// The same matrix given by columns in memory (a CSC matrix's arrays, read straight into the
/// column layout's blocks) gives bit for bit the answer of its rows in memory, on 1 to 3 threads
/// and for both losses, also when its columns hold unsorted entries, duplicates and explicit
/// zeros; the rows layout refuses columns.
#[test]
fn columns_in_memory_give_the_answer_of_the_same_rows_in_memory_bit_for_bit() {
    use strads_apps::sparse_regression::{CscColumns, InMemoryColumns, InMemoryRows};
    use strads_io::SparseRows;
    for (problem, kind) in [
        (lasso_problems().remove(1), LossKind::Squared),
        (logistic_problems().remove(1), LossKind::Logistic),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = problem.write_libsvm(dir.path(), "data.libsvm", |y| y);
        let at = |i: usize, j: usize| problem.x[i * problem.d + j];
        let mut rows = SparseRows::new();
        for i in 0..problem.n {
            let columns: Vec<u32> = (0..problem.d as u32)
                .filter(|&j| at(i, j as usize) != 0.0)
                .collect();
            let values: Vec<f64> = columns.iter().map(|&j| at(i, j as usize)).collect();
            rows.push_row(problem.y[i], &columns, &values);
        }
        let rows = InMemoryRows::new(rows, problem.d).unwrap();
        // CSC arrays: canonical, and messy (each column's entries reversed and halved into
        // duplicates, with an explicit zero).
        let (mut indptr, mut indices, mut data) = (vec![0i32], Vec::new(), Vec::new());
        let (mut messy_indptr, mut messy_indices, mut messy_data) =
            (vec![0i64], Vec::new(), Vec::new());
        for j in 0..problem.d {
            let column: Vec<usize> = (0..problem.n).filter(|&i| at(i, j) != 0.0).collect();
            for &i in &column {
                indices.push(i as i32);
                data.push(at(i, j));
            }
            for &i in column.iter().rev() {
                messy_indices.extend([i as i64, i as i64]);
                messy_data.extend([at(i, j) * 0.5, at(i, j) * 0.5]);
            }
            messy_indices.push((j % problem.n) as i64);
            messy_data.push(0.0);
            indptr.push(indices.len() as i32);
            messy_indptr.push(messy_indices.len() as i64);
        }
        let solve_with = |data: DataSource, threads: usize, layout: LayoutKind| {
            let run = Run {
                threads,
                layout,
                ..Run::default()
            };
            let mut memory_params = params(kind, &path, Penalty::Ratio(0.1), run);
            memory_params.data = data;
            solve(
                &ClusterConfig::threads(threads),
                &memory_params,
                Hooks::default(),
            )
        };
        for threads in 1..=3 {
            let ctx = format!("{} on {threads} thread(s)", problem.name);
            let by_rows = solve_with(
                DataSource::InMemory(rows.clone()),
                threads,
                LayoutKind::Columns,
            )
            .unwrap()
            .unwrap();
            let canonical = CscColumns::new(&indptr, &indices, &data, problem.n).unwrap();
            let messy =
                CscColumns::new(&messy_indptr, &messy_indices, &messy_data, problem.n).unwrap();
            for columns in [
                InMemoryColumns::new(&canonical, &problem.y, threads, kind).unwrap(),
                InMemoryColumns::new(&messy, &problem.y, threads, kind).unwrap(),
            ] {
                assert_eq!(columns.nonzeros(), rows.rows.n_nonzeros(), "{ctx}");
                let by_columns = solve_with(
                    DataSource::InMemoryColumns(columns),
                    threads,
                    LayoutKind::Columns,
                )
                .unwrap()
                .unwrap();
                assert_eq!(by_columns.coefficients, by_rows.coefficients, "{ctx}");
                assert_eq!(by_columns.objective, by_rows.objective, "{ctx}");
                assert_eq!(by_columns.lambda_max, by_rows.lambda_max, "{ctx}");
                assert_eq!(by_columns.rounds, by_rows.rounds, "{ctx}");
            }
            let columns = InMemoryColumns::new(&canonical, &problem.y, threads, kind).unwrap();
            let refused = solve_with(
                DataSource::InMemoryColumns(columns.clone()),
                threads,
                LayoutKind::Rows,
            );
            assert!(
                matches!(refused, Err(strads_apps::AppError::InvalidArgument(_))),
                "{ctx}"
            );
            // Blocks are cut for one number of threads.
            let other = solve_with(
                DataSource::InMemoryColumns(columns),
                threads + 1,
                LayoutKind::Columns,
            );
            assert!(
                matches!(other, Err(strads_apps::AppError::InvalidArgument(_))),
                "{ctx}"
            );
        }
    }
}

/// A CSC matrix's offending entries are named by row and column, the first in column order.
#[test]
fn columns_in_memory_name_their_first_offending_entry() {
    use strads_apps::sparse_regression::{ColumnsError, CscColumns, InMemoryColumns};
    let labels = [1.0, 2.0, 3.0];
    let read_for =
        |loss: LossKind, indptr: &[i32], indices: &[i32], data: &[f64], labels: &[f64]| {
            let source = CscColumns::new(indptr, indices, data, 3).map_err(|e| e.to_string())?;
            InMemoryColumns::new(&source, labels, 2, loss)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
    let read = |indptr: &[i32], indices: &[i32], data: &[f64], labels: &[f64]| {
        read_for(LossKind::Squared, indptr, indices, data, labels)
    };
    assert_eq!(
        read(&[0, 1, 3], &[0, 2, 1], &[1.0, 2.0, 3.0], &labels),
        Ok(())
    );
    assert_eq!(
        read(
            &[0, 1, 3],
            &[0, 2, 1],
            &[1.0, f64::NAN, f64::INFINITY],
            &labels
        )
        .unwrap_err(),
        "X contains NaN or infinity: nan at row 2, column 1"
    );
    assert_eq!(
        read(&[0, 1, 3], &[0, 3, 1], &[1.0, 2.0, 3.0], &labels).unwrap_err(),
        "X has a row index 3 out of range at column 1 (X has 3 rows)"
    );
    assert_eq!(
        read(&[0, 1, 4], &[0, 2, 1], &[1.0, 2.0, 3.0], &labels).unwrap_err(),
        "X's column offsets of column 1 (1 to 4) are out of range"
    );
    assert_eq!(
        read(&[0, 0, 2], &[1, 1], &[f64::MAX, f64::MAX], &labels).unwrap_err(),
        "X's duplicate entries of row 1, column 1 sum to infinity"
    );
    assert_eq!(
        read(&[0, 1, 3], &[0, 2, 1], &[1.0, 2.0, 3.0], &labels[..2]).unwrap_err(),
        "X has 3 rows but y has 2 entries"
    );
    assert_eq!(
        read(
            &[0, 1, 3],
            &[0, 2, 1],
            &[1.0, 2.0, 3.0],
            &[1.0, f64::NAN, 0.0]
        )
        .unwrap_err(),
        "y contains NaN or infinity: nan at row 1"
    );
    assert!(matches!(
        CscColumns::new(&[0, 1], &[0], &[1.0, 2.0], 3),
        Err(ColumnsError::Shape(_))
    ));
    // Logistic labels are classes.
    let (indptr, indices, data) = ([0, 1, 3], [0, 2, 1], [1.0, 2.0, 3.0]);
    assert_eq!(
        read_for(
            LossKind::Logistic,
            &indptr,
            &indices,
            &data,
            &[1.0, 0.0, -1.0]
        ),
        Ok(())
    );
    assert_eq!(
        read_for(
            LossKind::Logistic,
            &indptr,
            &indices,
            &data,
            &[1.0, 2.0, -1.0]
        )
        .unwrap_err(),
        "row 1: the label 2 is not a class (-1 or +1, or 0 or 1)"
    );
}

/// Arrays that break the rows' invariants are refused with the offending row named.
#[test]
fn rows_in_memory_that_break_the_invariants_name_the_row() {
    use strads_apps::sparse_regression::InMemoryRows;
    use strads_io::SparseRows;
    let mut rows = SparseRows::new();
    rows.push_row(1.0, &[0, 2], &[1.0, 2.0]);
    rows.push_row(1.0, &[1], &[f64::NAN]);
    let error = InMemoryRows::new(rows.clone(), 3).unwrap_err().to_string();
    assert!(error.contains("row 1, column 1"), "{error}");
    rows.values[2] = 1.0;
    let error = InMemoryRows::new(rows.clone(), 2).unwrap_err().to_string();
    assert!(error.contains("row 0: column 2 is outside"), "{error}");
    rows.columns.swap(0, 1);
    let error = InMemoryRows::new(rows.clone(), 3).unwrap_err().to_string();
    assert!(
        error.contains("row 0: column 0 does not follow column 2"),
        "{error}"
    );
    rows.columns.swap(0, 1);
    rows.labels[1] = f64::INFINITY;
    let error = InMemoryRows::new(rows, 3).unwrap_err().to_string();
    assert!(error.contains("row 1: the label inf"), "{error}");
}
