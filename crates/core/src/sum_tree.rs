//! A binary sum tree over non-negative weights: O(log n) weight updates and O(log n) sampling of
//! an index with probability proportional to its weight.
//!
//! The tree is stored implicitly in one array (`nodes[1]` is the root, the children of node `k` are
//! `2k` and `2k + 1`, leaf `i` is `nodes[size + i]`). Every internal node is recomputed as the sum
//! of its two children after an update, instead of being adjusted by a difference as a Fenwick tree
//! would be, so rounding errors never accumulate: after any sequence of updates a node holds exactly
//! what summing its current leaves pairwise would give, and setting a leaf to zero really removes it.

/// Sum tree over `len` non-negative `f64` weights, all zero initially.
#[derive(Clone, Debug)]
pub struct SumTree {
    /// Number of leaves in use (indices `0..len`).
    len: usize,
    /// Number of leaves in the complete tree (a power of two, at least 1).
    size: usize,
    /// Implicit tree; index 0 is unused.
    nodes: Vec<f64>,
}

impl SumTree {
    /// A tree over `len` weights, all zero.
    pub fn new(len: usize) -> Self {
        let size = len.next_power_of_two().max(1);
        Self {
            len,
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
        self.nodes[self.size + i]
    }

    /// Sets the weight of index `i` to `weight`, in O(log n).
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
        let mut k = self.size + i;
        self.nodes[k] = weight;
        k >>= 1;
        while k >= 1 {
            self.nodes[k] = self.nodes[2 * k] + self.nodes[2 * k + 1];
            k >>= 1;
        }
    }

    /// The index whose cumulative-weight interval contains `u`, for `u` in `[0, total)`: index `i`
    /// owns `[w_0 + ... + w_{i-1}, w_0 + ... + w_i)`. With `u = U * total` and `U` uniform on
    /// `[0, 1)` this samples `i` with probability `w_i / total`.
    ///
    /// The descent never enters a subtree of total weight zero, so as long as `total() > 0` the
    /// result has a positive weight even when rounding puts `u` at or past the end of an interval.
    /// If `total()` is zero the result is unspecified (but in range when `len > 0`).
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
        (k - self.size).min(self.len.saturating_sub(1))
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
    fn single_leaf_tree() {
        let mut tree = SumTree::new(1);
        tree.set(0, 3.0);
        assert_eq!(tree.total(), 3.0);
        assert_eq!(tree.find(2.0), 0);
    }
}
