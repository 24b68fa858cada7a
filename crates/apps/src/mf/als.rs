//! Alternating least squares: every owned W row is solved in closed form against the needed H
//! rows (`kernels::als_row`), the new W rows go to the workers that need them, then every owned
//! H row is solved against those; the new H rows serve both the evaluation and the next W half.

use strads_engine::{EngineError, Worker};

use super::kernels::{als_row, AlsScratch};
use super::shard::Side;
use super::{Driver, Local};

/// Runs ALS until the driver says stop.
pub fn run(
    worker: &mut Worker<'_>,
    local: &mut Local,
    driver: &mut Driver,
) -> Result<(), EngineError> {
    let k = local.rank;
    let mut scratch = AlsScratch::new(k);
    let mut h_needed = local.exchange_h(worker)?;
    if driver.record(worker, 0, local.evaluate(&h_needed))? {
        return Ok(());
    }
    for iteration in 1.. {
        solve_rows(
            &local.users,
            &h_needed,
            &local.user_reg,
            &mut local.w,
            k,
            &mut scratch,
        );
        let w_needed = local.exchange_w(worker)?;
        solve_rows(
            &local.items,
            &w_needed,
            &local.item_reg,
            &mut local.h,
            k,
            &mut scratch,
        );
        h_needed = local.exchange_h(worker)?;
        if driver.record(worker, iteration, local.evaluate(&h_needed))? {
            break;
        }
    }
    Ok(())
}

/// Solves every owned row of `side` into `factor`.
///
/// With `lambda = 0` a row with fewer ratings than the rank has singular normal equations; it
/// is then solved with a tiny ridge (1e-9 times the mean diagonal, at least 1e-12) instead.
fn solve_rows(
    side: &Side,
    other: &[f64],
    reg: &[f64],
    factor: &mut [f64],
    k: usize,
    scratch: &mut AlsScratch,
) {
    for i in 0..side.len() {
        let range = side.row(i);
        let (values, cols) = (&side.values[range.clone()], &side.cols[range]);
        let out = &mut factor[i * k..(i + 1) * k];
        if als_row(values, cols, other, reg[i], scratch, out).is_err() {
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
            if als_row(values, cols, other, ridge, scratch, out).is_err() {
                out.iter_mut().for_each(|x| *x = 0.0);
            }
        }
    }
}
