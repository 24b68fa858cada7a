//! A blocked sum tree over non-negative weights: O(log n) weight updates and O(log n) sampling of
//! an index with probability proportional to its weight.
//!
//! Leaves are grouped in blocks of [`BLOCK`] consecutive weights; a binary tree sums the blocks.
//! A draw descends the small block tree (it stays in cache even for millions of weights) and then
//! scans one block of contiguous memory; an update rewrites the leaf, re-sums its block and the
//! block tree path. With a plain binary tree over 200 000 weights every level of a descent was a
//! cache miss, which made priority scheduling the most expensive part of a Lasso round.
//!
//! Every sum (block and tree node) is recomputed from its parts after an update, never adjusted by
//! a difference, so rounding errors never accumulate: setting a weight to zero really removes it.

/// Weights per block: 32 `f64`, four cache lines.
pub const BLOCK: usize = 32;

/// Sum tree over `len` non-negative `f64` weights, all zero initially.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SumTree {
    /// Number of weights in use (indices `0..len`).
    len: usize,
    /// The weights, padded with zeros to a whole number of blocks.
    leaves: Vec<f64>,
    /// Number of leaves of the block tree (a power of two, at least 1).
    size: usize,
    /// Implicit tree over block sums: `nodes[1]` is the root, node `k` has children `2k` and
    /// `2k + 1`, block `b` is `nodes[size + b]`; index 0 is unused.
    nodes: Vec<f64>,
}

impl SumTree {
    /// A tree over `len` weights, all zero.
    pub fn new(len: usize) -> Self {
        let blocks = len.div_ceil(BLOCK).max(1);
        let size = blocks.next_power_of_two();
        Self {
            len,
            leaves: vec![0.0; blocks * BLOCK],
            size,
            nodes: vec![0.0; 2 * size],
        }
    }

    /// Number of weights.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tree holds no weights at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sum of all weights.
    pub fn total(&self) -> f64 {
        self.nodes[1]
    }

    /// Weight of index `i`.
    ///
    /// # Panics
    /// If `i >= len`.
    pub fn get(&self, i: usize) -> f64 {
        assert!(
            i < self.len,
            "sum tree index {i} out of range 0..{}",
            self.len
        );
        self.leaves[i]
    }

    /// Sets the weight of index `i` to `weight`, in O(BLOCK + log n).
    ///
    /// # Panics
    /// If `i >= len`, or if `weight` is negative or not finite.
    pub fn set(&mut self, i: usize, weight: f64) {
        assert!(
            i < self.len,
            "sum tree index {i} out of range 0..{}",
            self.len
        );
        assert!(
            weight >= 0.0 && weight.is_finite(),
            "sum tree weight must be finite and non-negative, got {weight}"
        );
        self.leaves[i] = weight;
        let block = i / BLOCK;
        let mut k = self.size + block;
        self.nodes[k] = self.leaves[block * BLOCK..(block + 1) * BLOCK].iter().sum();
        k >>= 1;
        while k >= 1 {
            self.nodes[k] = self.nodes[2 * k] + self.nodes[2 * k + 1];
            k >>= 1;
        }
    }

    /// Replaces every weight at once, in O(n) (instead of n updates of O(BLOCK + log n)).
    ///
    /// # Panics
    /// If `weights.len() != len`, or if a weight is negative or not finite.
    pub fn assign(&mut self, weights: &[f64]) {
        assert_eq!(
            weights.len(),
            self.len,
            "sum tree assign needs one weight per index"
        );
        assert!(
            weights.iter().all(|w| *w >= 0.0 && w.is_finite()),
            "sum tree weights must be finite and non-negative"
        );
        self.leaves[..self.len].copy_from_slice(weights);
        self.leaves[self.len..].fill(0.0);
        for (block, chunk) in self.leaves.chunks(BLOCK).enumerate() {
            self.nodes[self.size + block] = chunk.iter().sum();
        }
        let blocks = self.leaves.len() / BLOCK;
        self.nodes[self.size + blocks..].fill(0.0);
        for k in (1..self.size).rev() {
            self.nodes[k] = self.nodes[2 * k] + self.nodes[2 * k + 1];
        }
    }

    /// The index whose cumulative-weight interval contains `u`, for `u` in `[0, total)`: index `i`
    /// owns `[w_0 + ... + w_{i-1}, w_0 + ... + w_i)`. With `u = U * total` and `U` uniform on
    /// `[0, 1)` this samples `i` with probability `w_i / total`.
    ///
    /// The descent never enters a subtree or block of total weight zero, so as long as
    /// `total() > 0` the result has a positive weight even when rounding puts `u` at or past the
    /// end of an interval. If `total()` is zero the result is unspecified (but in range when
    /// `len > 0`).
    pub fn find(&self, mut u: f64) -> usize {
        let mut k = 1;
        while k < self.size {
            let left = self.nodes[2 * k];
            let right = self.nodes[2 * k + 1];
            if u < left || right <= 0.0 {
                k *= 2;
            } else {
                u -= left;
                k = 2 * k + 1;
            }
        }
        let block = k - self.size;
        let leaves = &self.leaves[block * BLOCK..(block + 1) * BLOCK];
        let mut last_positive = None;
        for (offset, &w) in leaves.iter().enumerate() {
            if w > 0.0 {
                if u < w {
                    return block * BLOCK + offset;
                }
                last_positive = Some(offset);
            }
            u -= w;
        }
        // Rounding put u past the block's end: the last positive weight owns it.
        (block * BLOCK + last_positive.unwrap_or(0)).min(self.len.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_updates_exactly() {
        let mut tree = SumTree::new(5);
        for (i, w) in [1.0, 2.0, 0.0, 4.0, 0.5].into_iter().enumerate() {
            tree.set(i, w);
        }
        assert_eq!(tree.total(), 7.5);
        tree.set(3, 0.0);
        assert_eq!(tree.total(), 3.5);
        assert_eq!(tree.get(4), 0.5);
    }

    #[test]
    fn find_maps_intervals_to_indices() {
        let mut tree = SumTree::new(4);
        for (i, w) in [1.0, 0.0, 2.0, 1.0].into_iter().enumerate() {
            tree.set(i, w);
        }
        assert_eq!(tree.find(0.0), 0);
        assert_eq!(tree.find(0.999), 0);
        assert_eq!(tree.find(1.0), 2);
        assert_eq!(tree.find(2.999), 2);
        assert_eq!(tree.find(3.0), 3);
        // Past the end (rounding) still lands on a positive weight.
        assert_eq!(tree.find(10.0), 3);
    }

    #[test]
    fn find_skips_zero_weight_tail() {
        let mut tree = SumTree::new(8);
        tree.set(2, 1.0);
        for u in [0.0, 0.5, 1.0, 5.0] {
            assert_eq!(tree.find(u), 2);
        }
    }

    #[test]
    fn find_crosses_blocks() {
        let n = 5 * BLOCK + 3;
        let mut tree = SumTree::new(n);
        for i in 0..n {
            tree.set(i, (i % 3) as f64);
        }
        let mut cumulative = 0.0;
        for i in 0..n {
            let w = tree.get(i);
            if w > 0.0 {
                assert_eq!(tree.find(cumulative), i);
                assert_eq!(tree.find(cumulative + 0.5 * w), i);
            }
            cumulative += w;
        }
        assert_eq!(tree.total(), cumulative);
        assert!(tree.get(tree.find(cumulative * 2.0)) > 0.0);
    }

    #[test]
    fn assign_equals_one_update_per_index() {
        let n = 3 * BLOCK + 5;
        let weights: Vec<f64> = (0..n).map(|i| ((i * 7) % 5) as f64 * 0.25).collect();
        let mut one_by_one = SumTree::new(n);
        for (i, &w) in weights.iter().enumerate() {
            one_by_one.set(i, 1.0 + w);
            one_by_one.set(i, w);
        }
        let mut assigned = SumTree::new(n);
        assigned.set(4, 9.0);
        assigned.assign(&weights);
        assert_eq!(assigned.total(), one_by_one.total());
        for u in [0.0, 0.3, 1.7, 10.0, 25.0] {
            assert_eq!(assigned.find(u), one_by_one.find(u));
        }
    }

    #[test]
    fn single_leaf_tree() {
        let mut tree = SumTree::new(1);
        tree.set(0, 3.0);
        assert_eq!(tree.total(), 3.0);
        assert_eq!(tree.find(2.0), 0);
    }
}
