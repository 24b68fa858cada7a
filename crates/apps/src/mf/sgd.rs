//! Stratified SGD (as in DSGD / STRADS MF): the ratings form P x P blocks (user block p by item
//! block b). An epoch is P sub-epochs of the engine's rotation driver (`strads_engine::rotation`);
//! in sub-epoch s worker p runs SGD over block `(p, (p + s) mod P)` with the H rows of that item
//! block, which no other worker holds at the time (the P blocks share no user and no item), then
//! the driver passes those H rows to worker p - 1, which takes that block next. After P
//! sub-epochs every H block is home again.
//!
//! Step-size schedule: epoch `e` (from 0) uses `eta_e = lr / (1 + lr_decay e)`.
//! Each rating `(i, j)` takes one step of `kernels::sgd_step` with `reg_w = lambda c_i / n_i`
//! and `reg_h = lambda c_j / n_j` (`n` = training ratings of the row), so that one epoch's steps
//! add up to the gradient of the objective. The order of ratings within a block is fixed once from
//! the seed and the block (users in a random order, each user's ratings together and shuffled),
//! so a run depends only on the seed and the cluster shape.

use std::ops::ControlFlow;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use strads_core::prefetch::prefetch_slice;
use strads_engine::rotation::{run_rotation, RotationProgram, Route, SubRound};
use strads_engine::Worker;

use super::kernels::sgd_step;
use super::load::Problem;
use super::{Driver, Local, MfParams, RegScaling, SgdOptions};
use crate::error::AppError;

/// How many ratings ahead an SGD step prefetches its item's H row.
const PREFETCH_RATINGS: usize = 16;

/// One rating of a block: owned user, item offset within the item block, value.
#[derive(Clone, Copy, Debug)]
struct BlockRating {
    user: u32,
    item: u32,
    value: f64,
}

/// Runs stratified SGD until the driver says stop.
pub fn run(
    worker: &mut Worker<'_>,
    local: &mut Local,
    driver: &mut Driver<'_>,
    problem: &Problem,
    params: &MfParams,
    options: SgdOptions,
) -> Result<(), AppError> {
    let blocks = ratings_by_block(local, problem, params.seed, worker.index());
    let per_rating = |c: u64| match params.reg_scaling {
        RegScaling::None => params.lambda / c.max(1) as f64,
        RegScaling::Count => params.lambda,
    };
    let user_reg: Vec<f64> = problem.user_counts.iter().map(|&c| per_rating(c)).collect();
    let item_reg: Vec<f64> = problem.item_counts.iter().map(|&c| per_rating(c)).collect();

    // A checkpoint holds W and H after an epoch; the step size follows from the epoch and the
    // rating order from the seed.
    driver.check_space(worker, &(&local.w, &local.h))?;
    let first = match driver.resume::<(Vec<f64>, Vec<f64>)>(worker)? {
        Some((epoch, (w, h))) => {
            (local.w, local.h) = (w, h);
            epoch + 1
        }
        None => {
            local.refresh_h(worker)?;
            if driver.record(worker, 0, local.evaluate(&local.h_needed))? {
                return Ok(());
            }
            1
        }
    };
    let mut sgd = Sgd {
        local,
        driver,
        problem,
        options,
        blocks,
        user_reg,
        item_reg,
    };
    run_rotation(worker, &mut sgd, first as u64..)?;
    Ok(())
}

/// An epoch as a program of the rotation driver: a sub-epoch's step runs SGD over the ratings of
/// the held item block with `local.h` holding that block's H rows, which are the block's state
/// (nothing goes to all); at the boundary `local.h` is the home block again.
struct Sgd<'a, 'run> {
    local: &'a mut Local,
    driver: &'a mut Driver<'run>,
    problem: &'a Problem,
    options: SgdOptions,
    /// This worker's ratings by item block.
    blocks: Vec<Vec<BlockRating>>,
    user_reg: Vec<f64>,
    item_reg: Vec<f64>,
}

impl RotationProgram for Sgd<'_, '_> {
    type Block = Vec<f64>;
    type ToAll = ();
    type Error = AppError;

    fn step(&mut self, sub_round: SubRound) -> Result<(), AppError> {
        let options = &self.options;
        let eta = options.learning_rate
            / (1.0 + options.learning_rate_decay * (sub_round.iteration - 1) as f64);
        let (k, b) = (self.local.rank, sub_round.block);
        let item_start = self.problem.item_blocks[b].start;
        let (w, h_block) = (&mut self.local.w, &mut self.local.h);
        let ratings = &self.blocks[b];
        for (n, rating) in ratings.iter().enumerate() {
            // The H row of a rating a few steps ahead (item rows come at random, users in
            // order): its cache misses overlap the steps before it.
            if let Some(ahead) = ratings.get(n + PREFETCH_RATINGS) {
                prefetch_slice(&h_block[ahead.item as usize * k..][..k]);
            }
            let (i, j) = (rating.user as usize, rating.item as usize);
            sgd_step(
                &mut w[i * k..(i + 1) * k],
                &mut h_block[j * k..(j + 1) * k],
                rating.value,
                eta,
                self.user_reg[i],
                self.item_reg[item_start + j],
            );
        }
        Ok(())
    }

    fn hand_over(&mut self, _block: usize, _route: Route) -> Result<Vec<f64>, AppError> {
        Ok(std::mem::take(&mut self.local.h))
    }

    fn take_over(&mut self, _block: usize, h_block: Vec<f64>) -> Result<(), AppError> {
        self.local.h = h_block;
        Ok(())
    }

    fn end_iteration(
        &mut self,
        worker: &mut Worker<'_>,
        epoch: u64,
    ) -> Result<ControlFlow<()>, AppError> {
        let (local, epoch) = (&mut *self.local, epoch as usize);
        let driver = &mut *self.driver;
        // Every worker takes the same branch: the epoch, the options and worker 0's clock
        // decide it.
        let evaluate = epoch % self.options.evaluate_every.get() == 0
            || driver.is_last(epoch)
            || driver.out_of_time(worker)?;
        if evaluate {
            local.refresh_h(worker)?;
            if driver.record(worker, epoch, local.evaluate(&local.h_needed))? {
                return Ok(ControlFlow::Break(()));
            }
        }
        let stop = driver.boundary(worker, epoch, &(&local.w, &local.h))?;
        // A requested stop ends the run here; its last record is of the model it returns.
        if stop && !evaluate {
            local.refresh_h(worker)?;
            driver.record(worker, epoch, local.evaluate(&local.h_needed))?;
        }
        Ok(if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }
}

/// This worker's ratings split by item block, each block in a random order fixed by the seed.
fn ratings_by_block(
    local: &Local,
    problem: &Problem,
    seed: u64,
    p: usize,
) -> Vec<Vec<BlockRating>> {
    let users = &local.users;
    let mut blocks: Vec<Vec<BlockRating>> = vec![Vec::new(); problem.item_blocks.len()];
    for i in 0..users.len() {
        for n in users.row(i) {
            let item = users.needed[users.cols[n] as usize] as usize;
            let b = problem.item_blocks.partition_point(|r| r.end <= item);
            blocks[b].push(BlockRating {
                user: i as u32,
                item: (item - problem.item_blocks[b].start) as u32,
                value: users.values[n],
            });
        }
    }
    for (b, block) in blocks.iter_mut().enumerate() {
        let stream = (p * problem.item_blocks.len() + b) as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        *block = shuffle_by_user(block, &mut rng);
    }
    blocks
}

/// A random order that keeps each user's ratings together: the users' runs in a random order,
/// each run shuffled. (`ratings` is grouped by user.) A fully random order would load a
/// different W row from memory at every step; this way a row stays in cache for its run.
fn shuffle_by_user(ratings: &[BlockRating], rng: &mut ChaCha8Rng) -> Vec<BlockRating> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for (n, rating) in ratings.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if ratings[run.start].user == rating.user => run.end = n + 1,
            _ => runs.push(n..n + 1),
        }
    }
    runs.shuffle(rng);
    let mut ordered = Vec::with_capacity(ratings.len());
    for run in runs {
        let start = ordered.len();
        ordered.extend_from_slice(&ratings[run]);
        ordered[start..].shuffle(rng);
    }
    ordered
}
