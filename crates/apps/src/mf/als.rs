//! Alternating least squares: every owned W row is solved in closed form against the needed H
//! rows (`kernels::als_row`), the new W rows go to the workers that need them, then every owned
//! H row is solved against those; the new H rows serve both the evaluation and the next W half.
//!
//! With extrapolation ([`AlsOptions::extrapolation`] > 0; Bro 1998, "ALS with line search"),
//! from the third iteration on each half starts from the other factor moved further along its
//! last change: the W half from `H' = H_t + beta (H_t - H_(t-1))`, the H half likewise from W.
//! A half solves its rows from the other factor alone, so its rows' errors at their solutions
//! (`als_row_with_error`) give the objective at the new point nearly for free; the move is kept
//! only if that, summed over the workers (so every worker decides alike), is no higher than the
//! objective before the half. Otherwise the half is solved again from the unmoved factor and
//! that step halves; a kept step grows. So the objective never increases from one iteration to
//! the next, and the fixed points are those of plain ALS (the same optimum).

use std::ops::ControlFlow;

use strads_engine::replicated::{run_replicated, AllReduceSum, Exchange, ReplicatedRounds};
use strads_engine::Worker;

use super::kernels::{als_row, als_row_with_error, AlsScratch};
use super::shard::Side;
use super::{AlsOptions, Driver, Local};
use crate::error::AppError;

/// An accepted extrapolation multiplies its step by this.
const STEP_GROWTH: f64 = 1.5;
/// A step never grows beyond this many times its first value.
const STEP_MAX_FACTOR: f64 = 4.0;
/// The first iteration that extrapolates: the first iteration's change is from the start,
/// which is scaled arbitrarily (extrapolating along it was rejected on the benchmark shapes).
const FIRST_EXTRAPOLATED_ITERATION: u64 = 3;

/// What a checkpoint holds: W, H, their values before the last iteration's halves (owned rows;
/// empty without extrapolation), the steps of H and of W, and the objective at the end of the
/// last iteration.
type Saved = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, [f64; 2], f64);

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
    let item_squares = sum_of_squares(&local.items);
    let extrapolating = options.extrapolation > 0.0;
    // The users' sums give the objective after a W half, which only extrapolation needs.
    let user_squares = if extrapolating {
        sum_of_squares(&local.users)
    } else {
        Vec::new()
    };
    // A checkpoint holds W, H and the extrapolation's state: everything else is rebuilt.
    let largest = (&local.w, &local.h, &local.w, &local.h, [0.0; 2], 0.0);
    driver.check_space(worker, &largest)?;
    let first_steps = [options.extrapolation; 2];
    let (first, h_previous, w_previous, steps, objective) = match driver.resume::<Saved>(worker)? {
        Some((iteration, (w, h, h_previous, w_previous, steps, objective))) => {
            (local.w, local.h) = (w, h);
            (
                iteration as u64 + 1,
                h_previous,
                w_previous,
                steps,
                objective,
            )
        }
        None => (0, Vec::new(), Vec::new(), first_steps, f64::INFINITY),
    };
    local.refresh_h(worker)?;
    let mut als = Als {
        scratch: AlsScratch::new(local.rank),
        local,
        driver,
        squares: [user_squares, item_squares],
        options,
        previous: [h_previous, w_previous],
        steps,
        objective,
    };
    run_replicated(worker, &mut als, first)?;
    Ok(())
}

/// One of the two factors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Factor {
    W,
    H,
}

impl Factor {
    /// The factor this one is solved from.
    fn other(self) -> Factor {
        match self {
            Factor::W => Factor::H,
            Factor::H => Factor::W,
        }
    }
}

/// ALS as replicated rounds: round 0 evaluates the start, round `t` is iteration `t` (the W
/// half, then the H half); the sums of the errors decide when to stop.
struct Als<'a, 'run> {
    local: &'a mut Local,
    driver: &'a mut Driver<'run>,
    scratch: AlsScratch,
    /// Each owned user's and each owned item's sum of squared ratings (the users' only with
    /// extrapolation).
    squares: [Vec<f64>; 2],
    options: AlsOptions,
    /// The owned rows of H and of W before the last iteration's halves moved them on (empty
    /// until an iteration has run, and without extrapolation).
    previous: [Vec<f64>; 2],
    /// The extrapolation steps of H and of W (replicated: every worker updates them from the
    /// same sums).
    steps: [f64; 2],
    /// The objective after the last iteration (replicated; infinite before iteration 1).
    objective: f64,
}

impl Als<'_, '_> {
    /// Index of `factor` in `previous` and `steps`.
    fn slot(factor: Factor) -> usize {
        match factor {
            Factor::H => 0,
            Factor::W => 1,
        }
    }

    /// Solves every owned row of `solved` from the other factor's needed rows; returns this
    /// worker's squared error at the solution when the sums of squares are there, otherwise 0.
    fn solve(&mut self, solved: Factor) -> f64 {
        let (k, local) = (self.local.rank, &mut *self.local);
        let (side, other, reg, squares, factor) = match solved {
            Factor::W => (
                &local.users,
                &local.h_needed[..],
                &local.user_reg,
                &self.squares[0],
                &mut local.w,
            ),
            Factor::H => (
                &local.items,
                &local.w_needed[..],
                &local.item_reg,
                &self.squares[1],
                &mut local.h,
            ),
        };
        let squares = (squares.len() == side.len()).then_some(&squares[..]);
        solve_rows(side, other, reg, squares, factor, k, &mut self.scratch)
    }

    /// Sends the owned rows of `factor` to the workers that need them.
    fn refresh(&mut self, worker: &mut Worker<'_>, factor: Factor) -> Result<(), AppError> {
        match factor {
            Factor::W => self.local.refresh_w(worker)?,
            Factor::H => self.local.refresh_h(worker)?,
        }
        Ok(())
    }

    /// One half with extrapolation: `solved` is solved from the other factor moved on along its
    /// last change, `X' = X + step (X - X_previous)`, if the objective there (summed over the
    /// workers) is no higher than `reference`, the objective before; otherwise from `X`, the
    /// step halving. Leaves `X_previous` = `X`. Returns this worker's squared error and the
    /// objective, both at the solution.
    fn extrapolated_half(
        &mut self,
        worker: &mut Worker<'_>,
        solved: Factor,
        extrapolate: bool,
        reference: f64,
    ) -> Result<(f64, f64), AppError> {
        let moved = solved.other();
        let slot = Self::slot(moved);
        let step = self.steps[slot];
        let current = match moved {
            Factor::W => &mut self.local.w,
            Factor::H => &mut self.local.h,
        };
        if extrapolate {
            for (previous, x) in self.previous[slot].iter_mut().zip(current.iter_mut()) {
                let plain = *x;
                *x = plain + step * (plain - *previous);
                *previous = plain;
            }
        } else {
            self.previous[slot].clone_from(current);
        }
        // H's needed rows are fresh from the last iteration unless H moved.
        if extrapolate || moved == Factor::W {
            self.refresh(worker, moved)?;
        }
        let mut error = self.solve(solved);
        let mut objective = self.objective_sum(worker, error)?;
        if extrapolate {
            if objective <= reference {
                let largest = self.options.extrapolation * STEP_MAX_FACTOR;
                self.steps[slot] = (step * STEP_GROWTH).min(largest);
            } else {
                // Not finite, or uphill: back to the plain point.
                self.steps[slot] = step / 2.0;
                match moved {
                    Factor::W => self.local.w.copy_from_slice(&self.previous[slot]),
                    Factor::H => self.local.h.copy_from_slice(&self.previous[slot]),
                }
                self.refresh(worker, moved)?;
                error = self.solve(solved);
                objective = self.objective_sum(worker, error)?;
            }
        }
        Ok((error, objective))
    }

    /// The objective from every worker's squared `error` and penalty (collective).
    fn objective_sum(&self, worker: &mut Worker<'_>, error: f64) -> Result<f64, AppError> {
        let sums = AllReduceSum([error, self.local.penalty()]).exchange(worker)?;
        Ok(sums[0] + sums[1])
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
            [self.squares[1].iter().sum(), local.penalty(), test_squares]
        } else {
            let train_error = if self.options.extrapolation > 0.0 {
                let extrapolate = iteration >= FIRST_EXTRAPOLATED_ITERATION
                    && self.previous.iter().all(|p| !p.is_empty());
                let (_, after_w) =
                    self.extrapolated_half(worker, Factor::W, extrapolate, self.objective)?;
                self.extrapolated_half(worker, Factor::H, extrapolate, after_w)?
                    .0
            } else {
                self.solve(Factor::W);
                self.local.refresh_w(worker)?;
                self.solve(Factor::H)
            };
            let local = &mut *self.local;
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
                &self.previous[0],
                &self.previous[1],
                self.steps,
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
