//! Alternating least squares: every owned W row is solved in closed form against the needed H
//! rows (`kernels::als_row`), the new W rows go to the workers that need them, then every owned
//! H row is solved against those; the new H rows serve both the evaluation and the next W half.

use std::ops::ControlFlow;

use strads_engine::replicated::{run_replicated, AllReduceSum, ReplicatedRounds};
use strads_engine::Worker;

use super::kernels::{als_row, als_row_with_error, AlsScratch};
use super::shard::Side;
use super::{Driver, Local};
use crate::error::AppError;

/// Runs ALS until the driver says stop.
pub fn run(
    worker: &mut Worker<'_>,
    local: &mut Local,
    driver: &mut Driver<'_>,
) -> Result<(), AppError> {
    let items = &local.items;
    let squares: Vec<f64> = (0..items.len())
        .map(|j| items.values[items.row(j)].iter().map(|r| r * r).sum())
        .collect();
    // A checkpoint holds W and H: everything else is rebuilt from them.
    driver.check_space(worker, &(&local.w, &local.h))?;
    let first = match driver.resume::<(Vec<f64>, Vec<f64>)>(worker)? {
        Some((iteration, (w, h))) => {
            (local.w, local.h) = (w, h);
            iteration as u64 + 1
        }
        None => 0,
    };
    local.refresh_h(worker)?;
    let mut als = Als {
        scratch: AlsScratch::new(local.rank),
        local,
        driver,
        squares,
    };
    run_replicated(worker, &mut als, first)?;
    Ok(())
}

/// ALS as replicated rounds: round 0 evaluates the start, round `t` is iteration `t` (the W
/// half, then the H half); the sums of the errors decide when to stop.
struct Als<'a, 'run> {
    local: &'a mut Local,
    driver: &'a mut Driver<'run>,
    scratch: AlsScratch,
    /// Each owned item's sum of squared ratings.
    squares: Vec<f64>,
}

impl ReplicatedRounds for Als<'_, '_> {
    type Share = AllReduceSum<4>;
    type Error = AppError;

    fn step(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: u64,
    ) -> Result<AllReduceSum<4>, AppError> {
        let k = self.local.rank;
        let local = &mut *self.local;
        let errors = if iteration == 0 {
            // W is 0 at the start (the first half solves for it), so every prediction is 0
            // and the errors are the squared ratings.
            debug_assert!(local.w.iter().all(|&x| x == 0.0));
            let test_squares = local.users.test_values.iter().map(|r| r * r).sum();
            [self.squares.iter().sum(), local.penalty(), test_squares]
        } else {
            solve_rows(
                &local.users,
                &local.h_needed,
                &local.user_reg,
                None,
                &mut local.w,
                k,
                &mut self.scratch,
            );
            local.refresh_w(worker)?;
            let train_error = solve_rows(
                &local.items,
                &local.w_needed,
                &local.item_reg,
                Some(&self.squares),
                &mut local.h,
                k,
                &mut self.scratch,
            );
            local.refresh_h(worker)?;
            [
                train_error,
                local.penalty(),
                local.test_error(&local.h_needed),
            ]
        };
        Ok(self.driver.share(worker, errors))
    }

    fn apply(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: u64,
        sums: [f64; 4],
    ) -> Result<ControlFlow<()>, AppError> {
        let iteration = iteration as usize;
        let factors = (&self.local.w, &self.local.h);
        let stop = self.driver.commit(worker, iteration, sums)
            || (iteration > 0 && self.driver.boundary(worker, iteration, &factors)?);
        Ok(if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }
}

/// Solves every owned row of `side` into `factor`. With `squares` (each row's sum of squared
/// ratings), returns the rows' total squared error at the solution, otherwise 0.
///
/// With `lambda = 0` a row with fewer ratings than the rank has singular normal equations; it
/// is then solved with a tiny ridge (1e-9 times the mean diagonal, at least 1e-12) instead.
fn solve_rows(
    side: &Side,
    other: &[f64],
    reg: &[f64],
    squares: Option<&[f64]>,
    factor: &mut [f64],
    k: usize,
    scratch: &mut AlsScratch,
) -> f64 {
    let mut error = 0.0;
    for i in 0..side.len() {
        let range = side.row(i);
        let (values, cols) = (&side.values[range.clone()], &side.cols[range]);
        let out = &mut factor[i * k..(i + 1) * k];
        let mut solve = |reg: f64, out: &mut [f64]| match squares {
            Some(squares) => als_row_with_error(values, cols, other, reg, squares[i], scratch, out),
            None => als_row(values, cols, other, reg, scratch, out).map(|()| 0.0),
        };
        error += match solve(reg[i], out) {
            Ok(e) => e,
            Err(_) => {
                let diagonal: f64 = cols
                    .iter()
                    .map(|&c| {
                        other[c as usize * k..][..k]
                            .iter()
                            .map(|x| x * x)
                            .sum::<f64>()
                    })
                    .sum::<f64>()
                    / k as f64;
                let ridge = reg[i] + (1e-9 * diagonal).max(1e-12);
                solve(ridge, out).unwrap_or_else(|_| {
                    out.iter_mut().for_each(|x| *x = 0.0);
                    squares.map_or(0.0, |s| s[i])
                })
            }
        };
    }
    error
}
