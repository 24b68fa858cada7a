//! The round driver (`strads_engine::rounds`) on its own: ridge regression,
//! `min_b 1/2 ||y - X b||^2 + lambda/2 ||b||^2`, by cyclic coordinate descent in STRADS's
//! schedule / push / pull rounds. Every worker holds a block of rows of X and their residuals
//! `r = y - X b` (the worker side, `RoundWorker`); the leader (worker 0) also holds `b` (the
//! leader side, `RoundLeader`).
//!
//! Round t: the leader schedules coordinate `j = t mod d`; each worker pushes `(x_j . r, ||x_j||^2)`
//! over its rows; the leader sums them and pulls the exact coordinate minimiser
//! `b_j' = (x_j . r + ||x_j||^2 b_j) / (||x_j||^2 + lambda)`; every worker applies the change to
//! its residuals. Bulk synchronous (staleness 0), so this is sequential coordinate descent.
//!
//! Run: `cargo run --release -p strads-engine --example ridge_rounds -- [THREADS]`; it checks its
//! answer against the normal equations `(X^T X + lambda I) b = X^T y`.

use std::ops::Range;

use strads_engine::rounds::{run_rounds, RoundLeader, RoundOptions, RoundWorker, Schedule};
use strads_engine::{run_cluster, ClusterConfig};

/// Rows of the problem.
pub const ROWS: usize = 600;
/// Columns (coefficients).
pub const COLS: usize = 8;
/// The penalty lambda.
pub const LAMBDA: f64 = 0.5;
/// Sweeps over the coordinates.
pub const SWEEPS: u64 = 200;

/// Row `i` of the problem (a deterministic, well-conditioned design) and its label.
pub fn row(i: usize) -> ([f64; COLS], f64) {
    let mut x = [0.0; COLS];
    for (j, value) in x.iter_mut().enumerate() {
        *value =
            (((i * 7 + j * 13) % 17) as f64 - 8.0) / 8.0 + if i % COLS == j { 1.0 } else { 0.0 };
    }
    let y = x
        .iter()
        .enumerate()
        .map(|(j, v)| v * (j as f64 - 3.5))
        .sum::<f64>()
        + ((i % 5) as f64 - 2.0) * 0.1;
    (x, y)
}

/// A worker's side: its rows and their residuals.
pub struct Ridge {
    rows: Vec<[f64; COLS]>,
    residuals: Vec<f64>,
}

/// The leader's side: the coefficients, which only the leader decides.
#[derive(Default)]
pub struct RidgeLeader {
    /// The coefficients so far.
    pub coefficients: [f64; COLS],
}

impl Ridge {
    /// Worker `index` of `peers`: a contiguous block of the rows; `b = 0`, so `r = y`.
    pub fn new(index: usize, peers: usize) -> Ridge {
        let block: Range<usize> = index * ROWS / peers..(index + 1) * ROWS / peers;
        let (rows, residuals) = block.map(row).unzip();
        Ridge { rows, residuals }
    }
}

impl RoundWorker for Ridge {
    type Task = usize;
    type Partial = (f64, f64);
    type Update = (usize, f64);

    fn push(&mut self, _round: u64, &j: &usize) -> (f64, f64) {
        let dot = self
            .rows
            .iter()
            .zip(&self.residuals)
            .map(|(x, r)| x[j] * r)
            .sum();
        (dot, self.rows.iter().map(|x| x[j] * x[j]).sum())
    }

    fn apply(&mut self, _round: u64, &(j, delta): &(usize, f64)) {
        for (x, r) in self.rows.iter().zip(&mut self.residuals) {
            *r -= x[j] * delta;
        }
    }
}

impl RoundLeader<Ridge> for RidgeLeader {
    fn schedule(&mut self, round: u64, _in_flight: u64, _unseen: Range<u64>) -> Schedule<usize> {
        if round == SWEEPS * COLS as u64 {
            return Schedule::Finished;
        }
        Schedule::Run(round as usize % COLS)
    }

    fn reduce(&mut self, sum: &mut (f64, f64), other: (f64, f64)) {
        sum.0 += other.0;
        sum.1 += other.1;
    }

    fn pull(
        &mut self,
        _round: u64,
        _unseen: Range<u64>,
        j: usize,
        (dot, norm): (f64, f64),
    ) -> (usize, f64) {
        let old = self.coefficients[j];
        let new = (dot + norm * old) / (norm + LAMBDA);
        self.coefficients[j] = new;
        (j, new - old)
    }
}

/// Solves on `threads` worker threads; the leader's coefficients.
pub fn solve(threads: usize) -> [f64; COLS] {
    let results = run_cluster(&ClusterConfig::threads(threads), |worker| {
        let mut ridge = Ridge::new(worker.index(), worker.peers());
        let mut leader = worker.is_leader().then(RidgeLeader::default);
        run_rounds(
            worker,
            &mut ridge,
            leader.as_mut(),
            RoundOptions { staleness: 0 },
        )
        .unwrap();
        leader.map(|leader| leader.coefficients)
    })
    .unwrap();
    results[0].expect("worker 0 leads")
}

/// The normal equations' solution, by Gaussian elimination with partial pivoting.
pub fn reference() -> [f64; COLS] {
    let mut a = [[0.0; COLS + 1]; COLS];
    for i in 0..ROWS {
        let (x, y) = row(i);
        for j in 0..COLS {
            for k in 0..COLS {
                a[j][k] += x[j] * x[k];
            }
            a[j][COLS] += x[j] * y;
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
    let mut b = [0.0; COLS];
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
    let (found, expected) = (solve(threads), reference());
    let error = found
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("ridge by {SWEEPS} coordinate sweeps on {threads} worker(s): b = {found:.6?}");
    println!("largest difference from the normal equations' solution: {error:.2e}");
    assert!(
        error < 1e-9,
        "coordinate descent did not reach the normal equations' solution"
    );
}
