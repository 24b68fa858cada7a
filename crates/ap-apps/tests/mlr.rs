//! `strads_ap_apps::mlr` against an independent reference: Newton's method with a dense Hessian
//! and a Cholesky solve, written plainly here and run to a gradient norm of 1e-10, on a small
//! generated problem (with intercepts) and on scikit-learn's digits; L-BFGS must reach its
//! objective to 1e-6 relative on 1 and 2 worker threads, and SGD within a few percent.

use std::path::{Path, PathBuf};

use strads_ap::{ApConfig, ClusterConfig};
use strads_ap_apps::mlr::generate::{generate_mlr, MlrSpec};
use strads_ap_apps::mlr::{train, LbfgsSettings, MlrParams, SgdSettings, Solver};
use strads_ap_apps::Hooks;

/// `threads` worker threads, debug mode off whatever the environment says.
fn threads(threads: usize) -> ApConfig {
    ApConfig {
        cluster: ClusterConfig::threads(threads),
        debug: false,
        print_strategies: false,
    }
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/digits.libsvm")
}

/// A problem as the reference sees it: dense rows with the label's index in sorted order.
struct Dense {
    x: Vec<Vec<f64>>,
    y: Vec<usize>,
    classes: usize,
}

/// Reads a libsvm file plainly (1-based indices, integer labels), adding a constant 1 feature
/// for the intercept when asked.
fn read_dense(path: &Path, intercept: bool) -> Dense {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut tokens = line.split_whitespace();
        let label: i64 = tokens.next().unwrap().parse().unwrap();
        let features: Vec<(usize, f64)> = tokens
            .map(|t| {
                let (j, v) = t.split_once(':').unwrap();
                (j.parse::<usize>().unwrap() - 1, v.parse().unwrap())
            })
            .collect();
        rows.push((label, features));
    }
    let d = rows
        .iter()
        .flat_map(|r| r.1.iter().map(|f| f.0 + 1))
        .max()
        .unwrap();
    let mut labels: Vec<i64> = rows.iter().map(|r| r.0).collect();
    labels.sort_unstable();
    labels.dedup();
    let width = d + usize::from(intercept);
    Dense {
        x: rows
            .iter()
            .map(|(_, f)| {
                let mut x = vec![0.0; width];
                for &(j, v) in f {
                    x[j] = v;
                }
                if intercept {
                    x[d] = 1.0;
                }
                x
            })
            .collect(),
        y: rows
            .iter()
            .map(|r| labels.binary_search(&r.0).unwrap())
            .collect(),
        classes: labels.len(),
    }
}

/// `F(w) = sum_i -log softmax(W^T x_i)_{y_i} + lambda/2 ||W||^2` (the last feature unpenalised
/// when `intercept`), with its gradient and Hessian, for `w[j * K + k]`.
fn evaluate(p: &Dense, w: &[f64], lambda: f64, intercept: bool) -> (f64, Vec<f64>, Vec<Vec<f64>>) {
    let k = p.classes;
    let d = p.x[0].len();
    let n_weights = d * k;
    let mut f = 0.0;
    let mut g = vec![0.0; n_weights];
    let mut h = vec![vec![0.0; n_weights]; n_weights];
    for (x, &y) in p.x.iter().zip(&p.y) {
        let s: Vec<f64> = (0..k)
            .map(|c| (0..d).map(|j| x[j] * w[j * k + c]).sum())
            .collect();
        let top = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().map(|v| (v - top).exp()).sum();
        let prob: Vec<f64> = s.iter().map(|v| (v - top).exp() / z).collect();
        f += top + z.ln() - s[y];
        for j in 0..d {
            for c in 0..k {
                g[j * k + c] += x[j] * (prob[c] - f64::from(u8::from(c == y)));
            }
        }
        let nonzero: Vec<usize> = (0..d).filter(|&j| x[j] != 0.0).collect();
        for &a in &nonzero {
            for &b in &nonzero {
                for c in 0..k {
                    for e in 0..k {
                        let curvature = if c == e { prob[c] } else { 0.0 } - prob[c] * prob[e];
                        h[a * k + c][b * k + e] += x[a] * x[b] * curvature;
                    }
                }
            }
        }
    }
    let penalised = if intercept { (d - 1) * k } else { n_weights };
    for i in 0..penalised {
        f += lambda / 2.0 * w[i] * w[i];
        g[i] += lambda * w[i];
        h[i][i] += lambda;
    }
    (f, g, h)
}

/// Solves `h x = b` by Cholesky (h symmetric positive definite).
fn cholesky_solve(h: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|m| l[i][m] * l[j][m]).sum();
            if i == j {
                l[i][i] = (h[i][i] - sum).sqrt();
            } else {
                l[i][j] = (h[i][j] - sum) / l[j][j];
            }
        }
    }
    let mut z = vec![0.0; n];
    for i in 0..n {
        z[i] = (b[i] - (0..i).map(|m| l[i][m] * z[m]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (z[i] - (i + 1..n).map(|m| l[m][i] * x[m]).sum::<f64>()) / l[i][i];
    }
    x
}

/// The minimum of `F` by damped Newton steps, to `||grad F|| <= 1e-10 max(1, ||grad F(0)||)`.
fn newton_minimum(p: &Dense, lambda: f64, intercept: bool) -> f64 {
    let n_weights = p.x[0].len() * p.classes;
    let mut w = vec![0.0; n_weights];
    let (mut f, mut g, mut h) = evaluate(p, &w, lambda, intercept);
    let norm = |g: &[f64]| g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let threshold = 1e-10 * norm(&g).max(1.0);
    for _ in 0..100 {
        if norm(&g) <= threshold {
            return f;
        }
        let step = cholesky_solve(&h, &g);
        let mut t = 1.0;
        loop {
            let trial: Vec<f64> = w.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let (tf, tg, th) = evaluate(p, &trial, lambda, intercept);
            if tf <= f || t < 1e-8 {
                (w, f, g, h) = (trial, tf, tg, th);
                break;
            }
            t *= 0.5;
        }
    }
    panic!("the reference did not converge: ||g|| = {}", norm(&g));
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs())
}

fn lbfgs(data: &Path, lambda: f64, intercept: bool) -> MlrParams {
    MlrParams {
        lambda,
        intercept,
        solver: Solver::Lbfgs(LbfgsSettings {
            tol: 1e-9,
            max_iterations: 5000,
            ..LbfgsSettings::default()
        }),
        ..MlrParams::new(data)
    }
}

#[test]
fn lbfgs_reaches_the_reference_minimum_on_a_small_problem_with_intercepts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.libsvm");
    let spec = MlrSpec {
        rows: 300,
        test_rows: 0,
        classes: 4,
        features: 6,
        nnz_per_row: 4,
        scale: 3.0,
        seed: 5,
    };
    generate_mlr(&spec, &path).unwrap();
    let reference = newton_minimum(&read_dense(&path, true), 0.5, true);
    for workers in [1, 2] {
        let fit = train(
            &threads(workers),
            &lbfgs(&path, 0.5, true),
            Hooks::default(),
        )
        .unwrap()
        .unwrap();
        let gap = relative(fit.objective, reference);
        assert!(
            gap < 1e-6,
            "{workers} workers: {} vs {reference} ({gap:e})",
            fit.objective
        );
        assert!(fit.shape.intercept && fit.shape.len() == 7 * 4);
    }
}

#[test]
fn lbfgs_reaches_the_reference_minimum_on_digits_on_one_and_two_threads() {
    let lambda = 1.0;
    let reference = newton_minimum(&read_dense(&digits(), false), lambda, false);
    let mut objectives = Vec::new();
    for workers in [1, 2] {
        let fit = train(
            &threads(workers),
            &lbfgs(&digits(), lambda, false),
            Hooks::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            fit.classes.labels(),
            (0..10).collect::<Vec<i64>>().as_slice()
        );
        assert_eq!((fit.rows, fit.shape.features), (1797, 64));
        let gap = relative(fit.objective, reference);
        assert!(
            gap < 1e-6,
            "{workers} workers: {} vs {reference} ({gap:e})",
            fit.objective
        );
        assert!(fit.train.accuracy > 0.99, "{}", fit.train.accuracy);
        objectives.push(fit.objective);
    }
    assert!(relative(objectives[0], objectives[1]) < 1e-9);
}

#[test]
fn sgd_comes_within_a_few_percent_of_the_exact_objective() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sgd.libsvm");
    let spec = MlrSpec {
        rows: 20_000,
        test_rows: 0,
        classes: 5,
        features: 30,
        nnz_per_row: 10,
        scale: 3.0,
        seed: 2,
    };
    generate_mlr(&spec, &path).unwrap();
    let exact = train(&threads(2), &lbfgs(&path, 1.0, false), Hooks::default())
        .unwrap()
        .unwrap();
    for staleness in [0, 2] {
        let settings = SgdSettings {
            epochs: 10,
            consistency: if staleness == 0 {
                strads_ap::Consistency::Bsp
            } else {
                strads_ap::Consistency::Ssp(staleness)
            },
            ..SgdSettings::default()
        };
        let params = MlrParams {
            solver: Solver::Sgd(settings),
            ..lbfgs(&path, 1.0, false)
        };
        let fit = train(&threads(2), &params, Hooks::default())
            .unwrap()
            .unwrap();
        let gap = (fit.objective - exact.objective) / exact.objective;
        assert!(
            (0.0..0.03).contains(&gap),
            "staleness {staleness}: {} vs {} ({gap})",
            fit.objective,
            exact.objective
        );
        assert_eq!(fit.trace.len(), 10);
    }
}

/// The minimum of `F + l1 ||W||_1` by proximal gradient descent (soft-thresholding after each
/// gradient step, the step halved until the quadratic upper bound holds), to a relative change of
/// the objective below 1e-14 over 100 steps.
fn proximal_gradient_minimum(p: &Dense, lambda: f64, l1: f64) -> f64 {
    let n_weights = p.x[0].len() * p.classes;
    let objective = |w: &[f64]| {
        let (f, g, _) = evaluate(p, w, lambda, false);
        (f + l1 * w.iter().map(|v| v.abs()).sum::<f64>(), f, g)
    };
    let mut w = vec![0.0; n_weights];
    let (mut total, mut f, mut g) = objective(&w);
    let mut step = 1.0;
    let mut history = vec![total];
    for _ in 0..200_000 {
        loop {
            let trial: Vec<f64> = w
                .iter()
                .zip(&g)
                .map(|(a, b)| {
                    let z = a - step * b;
                    z.signum() * (z.abs() - step * l1).max(0.0)
                })
                .collect();
            let (trial_total, trial_f, trial_g) = objective(&trial);
            let d: Vec<f64> = trial.iter().zip(&w).map(|(a, b)| a - b).collect();
            let bound = f
                + d.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
                + d.iter().map(|v| v * v).sum::<f64>() / (2.0 * step);
            if trial_f <= bound + 1e-12 * f.abs() {
                (w, total, f, g) = (trial, trial_total, trial_f, trial_g);
                step *= 1.1;
                break;
            }
            step *= 0.5;
        }
        history.push(total);
        let k = history.len();
        if k > 100 && (history[k - 101] - total).abs() < 1e-14 * total {
            return total;
        }
    }
    panic!("the proximal-gradient reference did not converge");
}

#[test]
fn owlqn_reaches_the_proximal_gradient_minimum_with_an_l1_penalty_and_zeros_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l1.libsvm");
    let spec = MlrSpec {
        rows: 200,
        test_rows: 0,
        classes: 3,
        features: 8,
        nnz_per_row: 5,
        scale: 3.0,
        seed: 8,
    };
    generate_mlr(&spec, &path).unwrap();
    let (lambda, l1) = (0.1, 5.0);
    let reference = proximal_gradient_minimum(&read_dense(&path, false), lambda, l1);
    for workers in [1, 2] {
        let params = MlrParams {
            l1,
            ..lbfgs(&path, lambda, false)
        };
        let fit = train(&threads(workers), &params, Hooks::default())
            .unwrap()
            .unwrap();
        let gap = relative(fit.objective, reference);
        assert!(
            gap < 1e-6,
            "{workers} workers: {} vs {reference} ({gap:e})",
            fit.objective
        );
        assert!(
            fit.weights.contains(&0.0),
            "an L1 penalty this large zeros weights"
        );
    }
    let sgd = MlrParams {
        l1,
        solver: Solver::Sgd(SgdSettings {
            epochs: 30,
            batch: 16,
            ..SgdSettings::default()
        }),
        ..lbfgs(&path, lambda, false)
    };
    let fit = train(&threads(2), &sgd, Hooks::default()).unwrap().unwrap();
    let gap = (fit.objective - reference) / reference;
    assert!(
        (0.0..0.05).contains(&gap),
        "SGD: {} vs {reference} ({gap})",
        fit.objective
    );
}
