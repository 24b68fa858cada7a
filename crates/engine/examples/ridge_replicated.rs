//! The replicated-rounds driver (`strads_engine::replicated`) on its own: ridge regression,
//! `min_b 1/2 ||y - X b||^2 + lambda/2 ||b||^2`, by block coordinate descent in the column
//! layout. Worker p owns a block of the columns of X (over all rows) and their coefficients, and
//! every worker holds its own replica of the residuals `r = y - X b`.
//!
//! A round: every worker sweeps its block once, sequentially, against its own copy of the
//! residuals (`step`), and shares the change it made to them, `X_p delta_p`, with the largest
//! coefficient change (`AllGather`: an `Arc` between threads of one process, bytes to another
//! process). Every worker then commits the average of the blocks' steps (`apply`): its replica
//! of the residuals moves by `-(1/P) sum_p X_p delta_p`, summed in worker order, and its
//! coefficients by `delta_p / P`. The averaged point is a convex combination of points each at
//! least as good as the current one, so the objective never rises. Every worker stops after the
//! same round: the decision reads only the gathered shares.
//!
//! Run: `cargo run --release -p strads-engine --example ridge_replicated -- [THREADS]`; it checks
//! its answer against the normal equations `(X^T X + lambda I) b = X^T y`.

use std::ops::{ControlFlow, Range};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strads_engine::replicated::{run_replicated, AllGather, ReplicatedRounds};
use strads_engine::{run_cluster, ClusterConfig, EngineError, Worker};

/// Rows of the problem.
pub const ROWS: usize = 500;
/// Columns (coefficients).
pub const COLS: usize = 12;
/// The penalty lambda.
pub const LAMBDA: f64 = 0.5;
/// Stop once no coefficient moved by more than this in a round.
pub const TOLERANCE: f64 = 1e-13;
/// Stop after this many rounds in any case.
pub const MAX_ROUNDS: u64 = 20_000;

/// Entry `(i, j)` of X: a deterministic, well-conditioned design.
pub fn x(i: usize, j: usize) -> f64 {
    (((i * 7 + j * 13) % 17) as f64 - 8.0) / 8.0 + if i % COLS == j { 1.0 } else { 0.0 }
}

/// Label `i`.
pub fn y(i: usize) -> f64 {
    (0..COLS).map(|j| x(i, j) * (j as f64 - 5.5)).sum::<f64>() + ((i % 5) as f64 - 2.0) * 0.1
}

/// The columns worker `index` of `peers` owns.
pub fn block(index: usize, peers: usize) -> Range<usize> {
    index * COLS / peers..(index + 1) * COLS / peers
}

/// A worker's share of a round.
#[derive(Serialize, Deserialize)]
pub struct Step {
    /// `X_p delta_p` over all rows: how this block's sweep moved the predictions.
    change: Vec<f64>,
    /// The block's largest `|delta_j|`.
    largest: f64,
}

/// One worker's part: its columns and coefficients, and its replica of the residuals.
pub struct Ridge {
    /// The owned columns of X, each over all rows.
    columns: Vec<Vec<f64>>,
    /// `||x_j||^2` of each owned column.
    norms: Vec<f64>,
    /// The owned coefficients.
    coefficients: Vec<f64>,
    /// The replicated residuals `y - X b`.
    residuals: Vec<f64>,
    /// A sweep's copy of the residuals.
    trial: Vec<f64>,
    /// A sweep's change of each owned coefficient.
    deltas: Vec<f64>,
    workers: usize,
}

impl Ridge {
    /// Worker `index` of `peers` at `b = 0`, where `r = y`.
    pub fn new(index: usize, peers: usize) -> Ridge {
        let columns: Vec<Vec<f64>> = block(index, peers)
            .map(|j| (0..ROWS).map(|i| x(i, j)).collect())
            .collect();
        let norms = columns
            .iter()
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        let residuals: Vec<f64> = (0..ROWS).map(y).collect();
        Ridge {
            coefficients: vec![0.0; columns.len()],
            columns,
            norms,
            trial: residuals.clone(),
            deltas: Vec::new(),
            residuals,
            workers: peers,
        }
    }
}

impl ReplicatedRounds for Ridge {
    type Share = AllGather<Step>;
    type Error = EngineError;

    /// One sweep of the owned coordinates on a copy of the residuals: each coordinate's exact
    /// minimiser `b_j' = (x_j . r + ||x_j||^2 b_j) / (||x_j||^2 + lambda)`, and `r -= x_j delta_j`.
    fn step(
        &mut self,
        _worker: &mut Worker<'_>,
        _round: u64,
    ) -> Result<AllGather<Step>, EngineError> {
        self.trial.clone_from(&self.residuals);
        let deltas = &mut self.deltas;
        deltas.clear();
        for (j, column) in self.columns.iter().enumerate() {
            let b = self.coefficients[j];
            let dot: f64 = column.iter().zip(&self.trial).map(|(x, r)| x * r).sum();
            let delta = (dot + self.norms[j] * b) / (self.norms[j] + LAMBDA) - b;
            for (r, x) in self.trial.iter_mut().zip(column) {
                *r -= x * delta;
            }
            deltas.push(delta);
        }
        let change = self
            .residuals
            .iter()
            .zip(&self.trial)
            .map(|(old, new)| old - new)
            .collect();
        let largest = deltas.iter().fold(0.0f64, |m, d| m.max(d.abs()));
        Ok(AllGather(Step { change, largest }))
    }

    /// Every worker: `r -= (1/P) sum_p X_p delta_p`, summed in worker order, and
    /// `b_p += delta_p / P` on its block; stop when no block moved a coefficient by more than
    /// [`TOLERANCE`].
    fn apply(
        &mut self,
        _worker: &mut Worker<'_>,
        round: u64,
        steps: Vec<Arc<Step>>,
    ) -> Result<ControlFlow<()>, EngineError> {
        let share = 1.0 / self.workers as f64;
        for (i, r) in self.residuals.iter_mut().enumerate() {
            let sum: f64 = steps.iter().map(|step| step.change[i]).sum();
            *r -= share * sum;
        }
        for (b, delta) in self.coefficients.iter_mut().zip(&self.deltas) {
            *b += share * delta;
        }
        let largest = steps.iter().fold(0.0f64, |m, step| m.max(step.largest));
        Ok(if largest <= TOLERANCE || round + 1 >= MAX_ROUNDS {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }
}

/// What a worker ends with: every coefficient (gathered from the blocks) and the rounds run.
#[derive(Clone, Debug, PartialEq)]
pub struct Solved {
    /// The coefficients, `COLS` of them.
    pub coefficients: Vec<f64>,
    /// Rounds run.
    pub rounds: u64,
}

/// Solves on this worker; every worker of the cluster calls it.
pub fn solve_on(worker: &mut Worker<'_>) -> Solved {
    let mut ridge = Ridge::new(worker.index(), worker.peers());
    let rounds = run_replicated(worker, &mut ridge, 0).unwrap();
    let blocks: Vec<Vec<f64>> = worker.all_gather(&ridge.coefficients).unwrap();
    Solved {
        coefficients: blocks.concat(),
        rounds,
    }
}

/// Solves on `config`'s cluster; what each of this process's workers ends with.
pub fn solve(config: &ClusterConfig) -> Vec<Solved> {
    run_cluster(config, solve_on).unwrap()
}

/// The normal equations' solution, by Gaussian elimination with partial pivoting.
pub fn reference() -> Vec<f64> {
    let mut a = [[0.0; COLS + 1]; COLS];
    for i in 0..ROWS {
        let row: Vec<f64> = (0..COLS).map(|j| x(i, j)).collect();
        for (equation, &xj) in a.iter_mut().zip(&row) {
            for (entry, &xk) in equation.iter_mut().zip(&row) {
                *entry += xj * xk;
            }
            equation[COLS] += xj * y(i);
        }
    }
    for (j, equation) in a.iter_mut().enumerate() {
        equation[j] += LAMBDA;
    }
    for c in 0..COLS {
        let pivot = (c..COLS)
            .max_by(|&p, &q| a[p][c].abs().total_cmp(&a[q][c].abs()))
            .unwrap();
        a.swap(c, pivot);
        for r in c + 1..COLS {
            let factor = a[r][c] / a[c][c];
            let pivot_row = a[c];
            for (value, pivot) in a[r][c..].iter_mut().zip(&pivot_row[c..]) {
                *value -= factor * pivot;
            }
        }
    }
    let mut b = vec![0.0; COLS];
    for c in (0..COLS).rev() {
        let known: f64 = (c + 1..COLS).map(|k| a[c][k] * b[k]).sum();
        b[c] = (a[c][COLS] - known) / a[c][c];
    }
    b
}

#[allow(dead_code)] // `main` is unused where a test includes this file as a module.
fn main() {
    let threads = std::env::args()
        .nth(1)
        .map_or(2, |t| t.parse().expect("THREADS is a number"));
    let solved = solve(&ClusterConfig::threads(threads));
    let expected = reference();
    let found = &solved[0];
    let error = found
        .coefficients
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "ridge by block coordinate descent on {threads} worker(s), {} rounds: b = {:.6?}",
        found.rounds, found.coefficients
    );
    println!("largest difference from the normal equations' solution: {error:.2e}");
    assert!(
        error < 1e-9,
        "block coordinate descent did not reach the normal equations' solution"
    );
}
