//! Alternating least squares: every owned W row is solved in closed form against the needed H
//! rows (`kernels::als_row`), the new W rows go to the workers that need them, then every owned
//! H row is solved against those; the new H rows serve both the evaluation and the next W half.
//!
//! With extrapolation ([`AlsOptions::extrapolation`] > 0; Bro 1998, "ALS with line search"),
//! from the third iteration on the W half starts from H moved further along its last change,
//! `H' = H_t + beta (H_t - H_(t-1))`, instead of from `H_t`. The W half solves W from H alone,
//! so its rows' errors at their solutions (`als_row_with_error`) give the objective at
//! `(W(H'), H')` nearly for free; the move is kept only if that, summed over the workers (so
//! every worker decides alike), is no higher than the objective after the last iteration (up to
//! rounding, 1e-12 relative). Otherwise the W half is solved again from `H_t` and beta halves; a
//! kept move grows it. The H half then only lowers the objective, so it never increases from one
//! iteration to the next, and the fixed points are those of plain ALS (the same optimum).
//! Extrapolating W before the H half as well was tried: along W's last change, which already
//! holds H's extrapolation, it was rejected about half the time on the benchmark shapes and
//! reached Spark's RMSE no sooner.

use std::ops::ControlFlow;

use strads_engine::replicated::{run_replicated, AllReduceSum, Exchange, ReplicatedRounds};
use strads_engine::Worker;

use super::kernels::{als_row, als_row_with_error, AlsScratch};
use super::shard::Side;
use super::{AlsOptions, Driver, Local};
use crate::error::AppError;

/// A kept extrapolation multiplies beta by this (tried on the benchmark shapes: 1.2 up to 2x
/// the first beta was rejected least often; 1.5 up to 4x, or never above the first, reached
/// Spark's RMSE at the same iteration).
const STEP_GROWTH: f64 = 1.2;
/// Beta never grows beyond this many times its first value.
const STEP_MAX_FACTOR: f64 = 2.0;
/// The first iteration that extrapolates: the first iteration's change is from the start,
/// which is scaled arbitrarily (extrapolating along it was rejected on the benchmark shapes).
const FIRST_EXTRAPOLATED_ITERATION: u64 = 3;
/// An extrapolated point whose objective exceeds the reference by no more than this, relative,
/// is kept: near the optimum the two differ only by the rounding of their sums, and a rejection
/// costs a W half.
const ROUNDING: f64 = 1e-12;

/// What a checkpoint holds: W, H, H before the last iteration's H half (owned rows; empty
/// without extrapolation), beta, and the objective after the last iteration.
type Saved = (Vec<f64>, Vec<f64>, Vec<f64>, f64, f64);

/// Runs ALS until the driver says stop.
pub fn run(
    worker: &mut Worker<'_>,
    local: &mut Local,
    driver: &mut Driver<'_>,
    options: AlsOptions,
) -> Result<(), AppError> {
    let sum_of_squares = |side: &Side| -> Vec<f64> {
        (0..side.len())
            .map(|i| side.values[side.row(i)].iter().map(|r| r * r).sum())
            .collect()
    };
    let squares = sum_of_squares(&local.items);
    // The users' sums give the objective after a W half, which only extrapolation needs.
    let user_squares = if options.extrapolation > 0.0 {
        sum_of_squares(&local.users)
    } else {
        Vec::new()
    };
    // A checkpoint holds W, H and the extrapolation's state: everything else is rebuilt.
    let largest = (&local.w, &local.h, &local.h, 0.0, 0.0);
    driver.check_space(worker, &largest)?;
    let (first, h_previous, beta, objective) = match driver.resume::<Saved>(worker)? {
        Some((iteration, (w, h, h_previous, beta, objective))) => {
            (local.w, local.h) = (w, h);
            (iteration as u64 + 1, h_previous, beta, objective)
        }
        None => (0, Vec::new(), options.extrapolation, f64::INFINITY),
    };
    local.refresh_h(worker)?;
    let mut als = Als {
        scratch: AlsScratch::new(local.rank),
        local,
        driver,
        squares,
        user_squares,
        options,
        h_previous,
        beta,
        objective,
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
    /// Each owned user's sum of squared ratings (empty without extrapolation).
    user_squares: Vec<f64>,
    options: AlsOptions,
    /// The owned H rows before the last H half (empty until an iteration has run, and without
    /// extrapolation).
    h_previous: Vec<f64>,
    /// The extrapolation step (replicated: every worker updates it from the same sums).
    beta: f64,
    /// The objective after the last iteration (replicated; infinite before iteration 1).
    objective: f64,
}

impl Als<'_, '_> {
    /// Solves every owned W row from the needed H rows; returns this worker's squared error at
    /// the solution when `with_error`, otherwise 0.
    fn solve_w(&mut self, with_error: bool) -> f64 {
        let (k, local) = (self.local.rank, &mut *self.local);
        let squares = with_error.then_some(&self.user_squares[..]);
        solve_rows(
            &local.users,
            &local.h_needed,
            &local.user_reg,
            squares,
            &mut local.w,
            k,
            &mut self.scratch,
        )
    }

    /// The W half with extrapolation: from `H' = H + beta (H - H_previous)` if the objective
    /// there is no higher than after the last iteration, otherwise from `H` (beta then halves).
    /// Leaves `H_previous` = `H`, the unmoved H, and `H` as the W half used it.
    fn extrapolated_w_half(&mut self, worker: &mut Worker<'_>) -> Result<(), AppError> {
        let beta = self.beta;
        for (previous, x) in self.h_previous.iter_mut().zip(self.local.h.iter_mut()) {
            let plain = *x;
            *x = plain + beta * (plain - *previous);
            *previous = plain;
        }
        self.local.refresh_h(worker)?;
        let error = self.solve_w(true);
        let sums = AllReduceSum([error, self.local.penalty()]).exchange(worker)?;
        if sums[0] + sums[1] <= self.objective * (1.0 + ROUNDING) {
            let largest = self.options.extrapolation * STEP_MAX_FACTOR;
            self.beta = (beta * STEP_GROWTH).min(largest);
        } else {
            // Uphill, or not finite: back to the unmoved H.
            self.beta = beta / 2.0;
            self.local.h.copy_from_slice(&self.h_previous);
            self.local.refresh_h(worker)?;
            self.solve_w(false);
        }
        Ok(())
    }
}

impl ReplicatedRounds for Als<'_, '_> {
    type Share = AllReduceSum<4>;
    type Error = AppError;

    fn step(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: u64,
    ) -> Result<AllReduceSum<4>, AppError> {
        let errors = if iteration == 0 {
            let local = &*self.local;
            // W is 0 at the start (the first half solves for it), so every prediction is 0
            // and the errors are the squared ratings.
            debug_assert!(local.w.iter().all(|&x| x == 0.0));
            let test_squares = local.users.test_values.iter().map(|r| r * r).sum();
            [self.squares.iter().sum(), local.penalty(), test_squares]
        } else {
            let extrapolating = self.options.extrapolation > 0.0;
            if extrapolating
                && iteration >= FIRST_EXTRAPOLATED_ITERATION
                && self.h_previous.len() == self.local.h.len()
            {
                self.extrapolated_w_half(worker)?;
            } else {
                if extrapolating {
                    self.h_previous.clone_from(&self.local.h);
                }
                self.solve_w(false);
            }
            let (k, local) = (self.local.rank, &mut *self.local);
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
        self.objective = sums[0] + sums[1];
        let stop = self.driver.commit(worker, iteration, sums) || {
            let state = (
                &self.local.w,
                &self.local.h,
                &self.h_previous,
                self.beta,
                self.objective,
            );
            iteration > 0 && self.driver.boundary(worker, iteration, &state)?
        };
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
