//! The item side's ratings re-laid out in tiles of users for CCD++'s H half.
//!
//! The H half gathers `(w_old, w_new)` of each rating's user from an array as long as the users
//! the worker's items touch (all of them, typically: megabytes), in user order within each item
//! but jumping across the whole array from item to item. Tiles cut the users into ranges whose
//! pairs fit in L2 cache and store, tile by tile, each item's ratings from that range; the pass
//! then runs tile by tile with per-item running sums. Within an item the ratings are still visited
//! in increasing user order, so every sum is the same sequence of floating-point operations as
//! the plain row-by-row pass (`kernels::ccd_coordinate`): results are bit-identical.

// Items are addressed by index into several parallel arrays (sums, old and new values).
#![allow(clippy::needless_range_loop)]

use super::kernels::ccd_residual;
use super::shard::Side;

/// Users per tile: 16384 pairs of f64 are 256 KiB.
const TILE_USERS: usize = 16_384;

/// The item side in tile-major order.
pub struct Tiles {
    /// `ptr[tile][j]..ptr[tile][j + 1]`: item `j`'s ratings from the users of `tile`.
    ptr: Vec<Vec<usize>>,
    /// Compact user index of each rating.
    cols: Vec<u32>,
    /// The residual of each rating (`r_ij - w_i . h_j`).
    pub residual: Vec<f64>,
}

impl Tiles {
    /// Lays out `side` (rows = items, sorted columns = compact users) by tile; the residual starts
    /// as the rating values.
    ///
    /// Built while the item side still holds its ratings (the copy's peak: both layouts), so
    /// only one table of offsets (tiles x items) is kept beside them: it counts, then serves as
    /// the cursors, and ends as the tiles' starts.
    pub fn new(side: &Side) -> Tiles {
        let n_items = side.len();
        let n_tiles = side.needed.len().div_ceil(TILE_USERS).max(1);
        // `ptr[tile][j + 1]`: item `j`'s ratings in `tile`, then their running total.
        let mut ptr = vec![vec![0usize; n_items + 1]; n_tiles];
        for j in 0..n_items {
            for n in side.row(j) {
                ptr[side.cols[n] as usize / TILE_USERS][j + 1] += 1;
            }
        }
        let mut start = 0;
        for tile in &mut ptr {
            tile[0] = start;
            for j in 0..n_items {
                start += tile[j + 1];
                tile[j + 1] = start;
            }
        }
        // Each rating goes to `ptr[tile][j]`, which then moves on; afterwards it stands where
        // `ptr[tile][j + 1]` did, so the starts are restored by shifting each table by one.
        let mut cols = vec![0u32; side.cols.len()];
        let mut residual = vec![0.0; side.cols.len()];
        for j in 0..n_items {
            for n in side.row(j) {
                let slot = &mut ptr[side.cols[n] as usize / TILE_USERS][j];
                cols[*slot] = side.cols[n];
                residual[*slot] = side.values[n];
                *slot += 1;
            }
        }
        let mut start = 0;
        for tile in &mut ptr {
            tile.rotate_right(1);
            tile[0] = start;
            start = tile[n_items];
        }
        Tiles {
            ptr,
            cols,
            residual,
        }
    }

    /// `out_j = sum_i e_ij other_i` for every item `j` (rows of `other` and `out` `k` wide, `other`
    /// indexed by compact user): with the residual still the ratings (before the first
    /// [`Tiles::step`]), `R^T other` for the spectral start. Each item adds its ratings in
    /// increasing user order, tile after tile: the same sums, bit for bit, as a pass over the
    /// item side's rows.
    pub fn multiply(&self, other: &[f64], k: usize, out: &mut [f64]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        for ptr in &self.ptr {
            for (j, row) in out.chunks_exact_mut(k).enumerate() {
                for n in ptr[j]..ptr[j + 1] {
                    let (e, o) = (self.residual[n], &other[self.cols[n] as usize * k..][..k]);
                    for (x, y) in row.iter_mut().zip(o) {
                        *x += e * y;
                    }
                }
            }
        }
    }

    /// `sum_i e_ij^2` for every one of the `n_items` items, in increasing user order (with the
    /// residual still the ratings: the diagonal of `R^T R`).
    pub fn squared_sums(&self, n_items: usize) -> Vec<f64> {
        let mut sums = vec![0.0; n_items];
        for ptr in &self.ptr {
            for (j, sum) in sums.iter_mut().enumerate() {
                for &e in &self.residual[ptr[j]..ptr[j + 1]] {
                    *sum += e * e;
                }
            }
        }
        sums
    }

    /// The H half of a CCD++ step for column `t`: for every item `j`,
    /// `h_new = sum_i (e_ij + w_old_i h_old_j) w_new_i / (reg_j + sum_i w_new_i^2)` (0 if the
    /// denominator is 0). `w_pairs[2 c..]` is `(w_old, w_new)` of compact user `c`; `h_old` goes
    /// in and `h_new` comes out.
    ///
    /// The residual update this step implies (`ccd_residual(e, w_old, h_old, w_new, h_new)` on
    /// every rating) is deferred to the next call, or to [`Tiles::flush`]: each call first applies
    /// the previous step's update to a rating and then uses the updated residual, in the same pass
    /// (one pass over the ratings per step instead of two). `pending` is the previous step's
    /// `(w_pairs, h_old, h_new)`, `None` for the first step.
    pub fn step(
        &mut self,
        pending: Option<(&[f64], &[f64], &[f64])>,
        w_pairs: &[f64],
        h_old: &[f64],
        reg: &[f64],
        h_new: &mut [f64],
    ) {
        let n_items = h_old.len();
        let mut numerator = vec![0.0; n_items];
        let mut denominator = reg.to_vec();
        for ptr in &self.ptr {
            for j in 0..n_items {
                let (old, mut num, mut den) = (h_old[j], numerator[j], denominator[j]);
                let range = ptr[j]..ptr[j + 1];
                let (cols, residual) = (&self.cols[range.clone()], &mut self.residual[range]);
                match pending {
                    Some((previous_pairs, previous_old, previous_new)) => {
                        let (h_before, h_after) = (previous_old[j], previous_new[j]);
                        for (e, &c) in residual.iter_mut().zip(cols) {
                            let c = c as usize * 2;
                            let updated = ccd_residual(
                                *e,
                                previous_pairs[c],
                                h_before,
                                previous_pairs[c + 1],
                                h_after,
                            );
                            *e = updated;
                            let (w_old, w_new) = (w_pairs[c], w_pairs[c + 1]);
                            num += (updated + old * w_old) * w_new;
                            den += w_new * w_new;
                        }
                    }
                    None => {
                        for (&e, &c) in residual.iter().zip(cols) {
                            let c = c as usize * 2;
                            let (w_old, w_new) = (w_pairs[c], w_pairs[c + 1]);
                            num += (e + old * w_old) * w_new;
                            den += w_new * w_new;
                        }
                    }
                }
                numerator[j] = num;
                denominator[j] = den;
            }
        }
        for j in 0..n_items {
            h_new[j] = if denominator[j] > 0.0 {
                numerator[j] / denominator[j]
            } else {
                0.0
            };
        }
    }

    /// Applies a step's deferred residual update (see [`Tiles::step`]).
    pub fn flush(&mut self, w_pairs: &[f64], h_old: &[f64], h_new: &[f64]) {
        for ptr in &self.ptr {
            for j in 0..h_old.len() {
                let (old, new) = (h_old[j], h_new[j]);
                for n in ptr[j]..ptr[j + 1] {
                    let c = self.cols[n] as usize * 2;
                    self.residual[n] =
                        ccd_residual(self.residual[n], w_pairs[c], old, w_pairs[c + 1], new);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mf::kernels::ccd_coordinate;
    use crate::mf::shard::build_side;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn tiled_step_is_bit_identical_to_the_row_pass() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (n_users, n_items, n) = (60_000usize, 30usize, 80_000usize);
        let users: Vec<u32> = (0..n).map(|_| rng.gen_range(0..n_users as u32)).collect();
        let items: Vec<u32> = (0..n).map(|_| rng.gen_range(0..n_items as u32)).collect();
        let values: Vec<f64> = (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let side = build_side(0..n_items, (&items, &users, &values), None, n_users);
        let w_pairs: Vec<f64> = (0..2 * side.needed.len())
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let h_old: Vec<f64> = (0..n_items).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let reg: Vec<f64> = (0..n_items).map(|j| 0.1 * j as f64).collect();
        let mut tiles = Tiles::new(&side);
        assert!(tiles.ptr.len() > 1, "the test needs several tiles");
        // Two steps (the second with the first's update deferred into it), then a flush.
        let w_pairs_2: Vec<f64> = w_pairs.iter().map(|x| x * 0.5 + 0.1).collect();
        let mut h_new = vec![0.0; n_items];
        tiles.step(None, &w_pairs, &h_old, &reg, &mut h_new);
        let h_old_2: Vec<f64> = h_new.iter().map(|x| x * 0.9).collect();
        let mut h_new_2 = vec![0.0; n_items];
        tiles.step(
            Some((&w_pairs, &h_old, &h_new)),
            &w_pairs_2,
            &h_old_2,
            &reg,
            &mut h_new_2,
        );
        tiles.flush(&w_pairs_2, &h_old_2, &h_new_2);
        let mut residual = side.values.clone();
        for (pairs, old, new) in [(&w_pairs, &h_old, &h_new), (&w_pairs_2, &h_old_2, &h_new_2)] {
            for j in 0..n_items {
                let range = side.row(j);
                let expected = ccd_coordinate(
                    &residual[range.clone()],
                    &side.cols[range.clone()],
                    pairs,
                    2,
                    0,
                    1,
                    old[j],
                    reg[j],
                );
                assert_eq!(expected.to_bits(), new[j].to_bits());
                for m in range {
                    let c = side.cols[m] as usize * 2;
                    residual[m] = ccd_residual(residual[m], pairs[c], old[j], pairs[c + 1], new[j]);
                }
            }
        }
        // Same residuals, as multisets per item (the layout differs).
        let mut a = residual.clone();
        let mut b = tiles.residual.clone();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        assert_eq!(a, b);
    }

    /// Before any step, the tiles' products with the ratings are those of a plain pass over the
    /// item side's rows, bit for bit (the spectral start reads either).
    #[test]
    fn tiled_products_are_bit_identical_to_the_row_pass() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (n_users, n_items, n, k) = (50_000usize, 40usize, 90_000usize, 3usize);
        let users: Vec<u32> = (0..n).map(|_| rng.gen_range(0..n_users as u32)).collect();
        let items: Vec<u32> = (0..n).map(|_| rng.gen_range(0..n_items as u32)).collect();
        let values: Vec<f64> = (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let side = build_side(0..n_items, (&items, &users, &values), None, n_users);
        let other: Vec<f64> = (0..k * side.needed.len())
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let tiles = Tiles::new(&side);
        assert!(tiles.ptr.len() > 1, "the test needs several tiles");
        let mut product = vec![f64::NAN; n_items * k];
        tiles.multiply(&other, k, &mut product);
        let squares = tiles.squared_sums(n_items);
        for j in 0..n_items {
            let mut expected = vec![0.0; k];
            let mut square = 0.0;
            for m in side.row(j) {
                let r = side.values[m];
                for t in 0..k {
                    expected[t] += r * other[side.cols[m] as usize * k + t];
                }
                square += r * r;
            }
            for t in 0..k {
                assert_eq!(
                    expected[t].to_bits(),
                    product[j * k + t].to_bits(),
                    "{j} {t}"
                );
            }
            assert_eq!(square.to_bits(), squares[j].to_bits(), "{j}");
        }
    }
}
