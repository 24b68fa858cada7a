//! CCD++ (Yu, Hsieh, Si, Dhillon 2012), model-parallel as in STRADS: for each rank-one term `t`,
//! every worker updates column `t` of its W rows (`kernels::ccd_coordinate`), sends the old and
//! new values to the workers whose items those users rated, every worker updates column `t` of
//! its H rows, and sends back the old and new `h_t` (with the next column's current values) to
//! the workers whose users rated those items. Both copies of the residual
//! `e_ij = r_ij - w_i . h_j` (by user and by item) are updated in place with the same expression,
//! so they stay bit-identical. One inner iteration per rank-one term. The item side's pass runs
//! over tiles of users ([`super::tiles`]) for cache locality, with the same summation order.

// Rows are addressed by index into several parallel arrays (ratings, residuals, old values).
#![allow(clippy::needless_range_loop)]

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use strads_engine::replicated::{run_replicated, AllReduceSum, ReplicatedRounds};
use strads_engine::Worker;

use super::kernels::{ccd_coordinate, ccd_residual, ccd_update_and_next};
use super::tiles::Tiles;
use super::{Driver, Local};
use crate::error::AppError;

/// The previous step's `(w_pairs, h_old, h_new)`, whose item residual update is pending.
type PendingStep = (Vec<f64>, Vec<f64>, Vec<f64>);

/// A worker's CCD++ state after an iteration, as a checkpoint holds it.
#[derive(Deserialize)]
struct CcdSnapshot {
    w: Vec<f64>,
    h: Vec<f64>,
    user_residual: Vec<f64>,
    test_residual: Vec<f64>,
    item_residual: Vec<f64>,
    w_pending: Vec<f64>,
    previous: Option<PendingStep>,
}

/// [`CcdSnapshot`] by reference, for writing (bincode encodes a reference as the value).
#[derive(Serialize)]
struct CcdSnapshotRef<'a> {
    w: &'a [f64],
    h: &'a [f64],
    user_residual: &'a [f64],
    test_residual: &'a [f64],
    item_residual: &'a [f64],
    w_pending: &'a [f64],
    previous: &'a Option<PendingStep>,
}

/// The item side's ratings moved into CCD++'s tiled layout ([`Tiles`]); the item side keeps
/// only its row offsets and test ratings. Done before the spectral start, which reads the tiles
/// ([`super::init::ItemRatings::Tiles`]): the copy's peak (both layouts at once) then comes before
/// W and the W rows the items need are filled, not on top of them.
pub fn tile_item_ratings(local: &mut Local) -> Tiles {
    // At Netflix's shape (90M training ratings) the item side's ratings are 1.1 GB of a 4.6 GB
    // process: CCD++ reads them only through the tiles' residuals.
    let tiles = Tiles::new(&local.items);
    local.items.release_training_ratings();
    tiles
}

/// Runs CCD++ until the driver says stop, on the item side's `tiles`
/// ([`tile_item_ratings`]).
///
/// The user side's residual update after step `t` is fused with the W update of step `t + 1`
/// (`kernels::ccd_update_and_next`): that update only needs the new residuals and column `t + 1`
/// of H, which arrive together, so each step passes over the user ratings once.
///
/// `inner` is the number of inner iterations: consecutive updates of the same rank-one term
/// (`w_t` then `h_t`, repeated) before moving to the next.
pub fn run(
    worker: &mut Worker<'_>,
    local: &mut Local,
    tiles: Tiles,
    driver: &mut Driver<'_>,
    inner: usize,
) -> Result<(), AppError> {
    let inner = inner.max(1);
    let k = local.rank;
    // W = 0 at the start, so the residual is the rating itself. The training values become the
    // residual rather than being copied (as the item side's became the tiles' residual): CCD++
    // reads the ratings only through the residuals.
    let user_residual = std::mem::take(&mut local.users.values);
    let test_residual = local.users.test_values.clone();
    // CCD++ exchanges single columns, never whole rows: the row buffers of the spectral start
    // (the W rows the items need are as many as the users rated: each process's items are
    // typically rated by nearly all users) are freed.
    local.release_needed_rows();
    let (n_users, n_items) = (local.users.len(), local.items.len());
    // Column 0 of H for the items our users rate, and the W update of step 0 it gives.
    let h_column = {
        let h = &local.h;
        local
            .item_halo
            .pull(worker, 1, |j, out| out[0] = h[j * k])?
    };
    let users = &local.users;
    let w_pending: Vec<f64> = (0..n_users)
        .map(|i| {
            let range = users.row(i);
            let cols = &users.cols[range.clone()];
            ccd_coordinate(
                &user_residual[range],
                cols,
                &h_column,
                1,
                0,
                0,
                0.0,
                local.user_reg[i],
            )
        })
        .collect();
    // A checkpoint holds the factors, both residual copies (updated in place, so not
    // recomputable bit for bit), the next step's W update and the pending item residual update.
    let mut ccd = Ccd {
        local,
        driver,
        tiles,
        user_residual,
        test_residual,
        w_pending,
        previous: None,
        // The columns of an iteration's steps: each column `inner` times in a row (CCD++'s
        // inner iterations on one rank-one term), then the next.
        steps: (0..k).flat_map(|t| std::iter::repeat_n(t, inner)).collect(),
        w_old: vec![0.0; n_users],
        h_old: vec![0.0; n_items],
        h_new: vec![0.0; n_items],
    };
    ccd.driver.check_space(worker, &ccd.snapshot())?;
    let first = match ccd.driver.resume::<CcdSnapshot>(worker)? {
        Some((iteration, snapshot)) => {
            (ccd.local.w, ccd.local.h) = (snapshot.w, snapshot.h);
            ccd.user_residual = snapshot.user_residual;
            ccd.test_residual = snapshot.test_residual;
            ccd.tiles.residual = snapshot.item_residual;
            ccd.w_pending = snapshot.w_pending;
            ccd.previous = snapshot.previous;
            iteration as u64 + 1
        }
        None => 0,
    };
    run_replicated(worker, &mut ccd, first)?;
    Ok(())
}

/// CCD++ as replicated rounds: round 0 evaluates the start, round `t` is iteration `t` (every
/// rank-one term's steps, each with its pulls); the sums of the errors decide when to stop.
struct Ccd<'a, 'run> {
    local: &'a mut Local,
    driver: &'a mut Driver<'run>,
    tiles: Tiles,
    user_residual: Vec<f64>,
    test_residual: Vec<f64>,
    /// The next step's new column of W (its update fused with the previous step's residuals).
    w_pending: Vec<f64>,
    /// The previous step's item residual update, done in the next step's pass.
    previous: Option<PendingStep>,
    /// The column of each step of an iteration.
    steps: Vec<usize>,
    w_old: Vec<f64>,
    h_old: Vec<f64>,
    h_new: Vec<f64>,
}

impl Ccd<'_, '_> {
    /// What a checkpoint holds, by reference.
    fn snapshot(&self) -> CcdSnapshotRef<'_> {
        CcdSnapshotRef {
            w: &self.local.w,
            h: &self.local.h,
            user_residual: &self.user_residual,
            test_residual: &self.test_residual,
            item_residual: &self.tiles.residual,
            w_pending: &self.w_pending,
            previous: &self.previous,
        }
    }

    /// One iteration: every step of [`Ccd::steps`].
    fn iterate(&mut self, worker: &mut Worker<'_>) -> Result<(), AppError> {
        let k = self.local.rank;
        let local = &mut *self.local;
        let (n_users, n_items) = (local.users.len(), local.items.len());
        // Slices bound once: indexing through `self` reloaded each vector's pointer in the
        // loops below (0.3% more instructions for a CCD++ solve).
        let (w_old, h_old, h_new) = (
            &mut self.w_old[..],
            &mut self.h_old[..],
            &mut self.h_new[..],
        );
        let (user_residual, test_residual) =
            (&mut self.user_residual[..], &mut self.test_residual[..]);
        let w_pending = &mut self.w_pending[..];
        let (tiles, previous, steps) = (&mut self.tiles, &mut self.previous, &self.steps[..]);
        for (s, &t) in steps.iter().enumerate() {
            // W half: the new w_t (computed in the previous pass) replaces the old.
            for i in 0..n_users {
                w_old[i] = local.w[i * k + t];
                local.w[i * k + t] = w_pending[i];
            }
            let w_pairs = {
                let w = &local.w;
                local.user_halo.pull(worker, 2, |i, out| {
                    out.copy_from_slice(&[w_old[i], w[i * k + t]])
                })?
            };
            // H half: h_jt for every owned item against the new w_t. The item side's residual
            // update of the previous step happens in the same pass (see `Tiles::step`).
            for j in 0..n_items {
                h_old[j] = local.h[j * k + t];
            }
            let pending =
                previous
                    .as_ref()
                    .map(|(pairs, old, new): &(Vec<f64>, Vec<f64>, Vec<f64>)| {
                        (pairs.as_slice(), old.as_slice(), new.as_slice())
                    });
            tiles.step(pending, &w_pairs, h_old, &local.item_reg, h_new);
            for j in 0..n_items {
                local.h[j * k + t] = h_new[j];
            }
            // Old and new h_t, and the current column of the next step (column 0 of the next
            // iteration after the last step).
            let next = steps[(s + 1) % steps.len()];
            let h_triples = {
                let h = &local.h;
                local.item_halo.pull(worker, 3, |j, out| {
                    out.copy_from_slice(&[h_old[j], h[j * k + t], h[j * k + next]])
                })?
            };
            // This step's item residual update waits for the next step's pass.
            *previous = Some((w_pairs, h_old.to_vec(), h_new.to_vec()));
            let users = &local.users;
            for i in 0..n_users {
                let (old, new) = (w_old[i], local.w[i * k + t]);
                let range = users.row(i);
                w_pending[i] = ccd_update_and_next(
                    &mut user_residual[range.clone()],
                    &users.cols[range],
                    &h_triples,
                    (old, new),
                    local.w[i * k + next],
                    local.user_reg[i],
                );
                for n in users.test_row(i) {
                    let c = users.test_cols[n] as usize * 3;
                    test_residual[n] =
                        ccd_residual(test_residual[n], old, h_triples[c], new, h_triples[c + 1]);
                }
            }
        }
        Ok(())
    }
}

impl ReplicatedRounds for Ccd<'_, '_> {
    type Share = AllReduceSum<4>;
    type Error = AppError;

    fn step(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: u64,
    ) -> Result<AllReduceSum<4>, AppError> {
        if iteration > 0 {
            self.iterate(worker)?;
        }
        let sum2 = |x: &[f64]| x.iter().map(|e| e * e).sum::<f64>();
        let errors = [
            sum2(&self.user_residual),
            self.local.penalty(),
            sum2(&self.test_residual),
        ];
        Ok(self.driver.share(worker, errors))
    }

    fn apply(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: u64,
        sums: [f64; 4],
    ) -> Result<ControlFlow<()>, AppError> {
        let iteration = iteration as usize;
        let stop = self.driver.commit(worker, iteration, sums)
            || (iteration > 0 && {
                // Built from the fields, apart from the driver that writes it.
                let snapshot = CcdSnapshotRef {
                    w: &self.local.w,
                    h: &self.local.h,
                    user_residual: &self.user_residual,
                    test_residual: &self.test_residual,
                    item_residual: &self.tiles.residual,
                    w_pending: &self.w_pending,
                    previous: &self.previous,
                };
                self.driver.boundary(worker, iteration, &snapshot)?
            });
        Ok(if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }
}
