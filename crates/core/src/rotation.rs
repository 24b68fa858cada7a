//! Blocks for STRADS's static rotation (LDA's vocabulary, MF's items, STRADS-AP's rotated
//! containers): contiguous ranges of near-equal weight, one per worker. The rotation itself (in
//! sub-round `r` worker `p` holds block `(p + r) mod P`, and passes it to worker `p - 1`) is the
//! engine's rotation driver, `strads_engine::rotation`.

use std::ops::Range;

/// Splits items `0..weights.len()` into `n_blocks` contiguous ranges of near-equal total weight
/// (e.g. vocabulary words weighted by token count).
///
/// Greedy: boundary `b` (for `b = 1..n_blocks`) is placed after the prefix whose weight is closest
/// to `b * total / n_blocks`, scanning forward from the previous boundary, but never so that a
/// block would be left without items. With fewer items than blocks, the first blocks get one item
/// each and the trailing blocks are empty.
/// Each block's weight is then within the largest item weight of the ideal `total / n_blocks`
/// (apart from the one-item-per-block guarantee). The ranges are in order and cover every item
/// exactly once.
///
/// # Panics
/// If `n_blocks == 0`.
pub fn balanced_blocks(weights: &[u64], n_blocks: usize) -> Vec<Range<usize>> {
    assert!(n_blocks > 0, "cannot split into zero blocks");
    let len = weights.len();
    if len < n_blocks {
        // Fewer items than blocks: one item each, then empty blocks.
        return (0..n_blocks)
            .map(|b| b.min(len)..(b + 1).min(len))
            .collect();
    }
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut blocks = Vec::with_capacity(n_blocks);
    let mut start = 0;
    let mut prefix: u128 = 0; // weight of items[..end]
    let mut end = 0;
    for b in 1..n_blocks {
        // Compare prefix * n_blocks with b * total to stay in integers.
        let target = total * b as u128;
        let scale = n_blocks as u128;
        // Leave at least one item for this block and each later one.
        let (min_end, max_end) = (start + 1, len - (n_blocks - b));
        while end < min_end {
            prefix += u128::from(weights[end]);
            end += 1;
        }
        while end < max_end {
            let next = prefix + u128::from(weights[end]);
            // Take item `end` if that brings the prefix at least as close to the target.
            let below = target.abs_diff(prefix * scale);
            let above = target.abs_diff(next * scale);
            if above <= below && prefix * scale < target {
                prefix = next;
                end += 1;
            } else {
                break;
            }
        }
        blocks.push(start..end);
        start = end;
    }
    blocks.push(start..len);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn check_partition(weights: &[u64], n_blocks: usize) -> Vec<Range<usize>> {
        let blocks = balanced_blocks(weights, n_blocks);
        assert_eq!(blocks.len(), n_blocks);
        let mut next = 0;
        for block in &blocks {
            assert_eq!(block.start, next, "blocks must be contiguous and in order");
            assert!(block.end >= block.start);
            next = block.end;
        }
        assert_eq!(next, weights.len(), "every item in exactly one block");
        if weights.len() >= n_blocks {
            assert!(blocks.iter().all(|b| !b.is_empty()));
        }
        blocks
    }

    #[test]
    fn blocks_partition_items_with_near_equal_weight() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for _ in 0..300 {
            let len = rng.gen_range(0..200);
            let n_blocks = rng.gen_range(1..12);
            let weights: Vec<u64> = (0..len)
                .map(|_| {
                    if rng.gen_bool(0.05) {
                        rng.gen_range(0..5_000)
                    } else {
                        rng.gen_range(0..100)
                    }
                })
                .collect();
            let blocks = check_partition(&weights, n_blocks);
            let total: u64 = weights.iter().sum();
            let max_item = weights.iter().copied().max().unwrap_or(0);
            if len >= 4 * n_blocks {
                let ideal = total as f64 / n_blocks as f64;
                for block in &blocks {
                    let w: u64 = weights[block.clone()].iter().sum();
                    // Within two largest items of the ideal share (one at each boundary).
                    assert!(
                        (w as f64 - ideal).abs() <= 2.0 * max_item as f64,
                        "block {block:?} weighs {w}, ideal {ideal}"
                    );
                }
            }
        }
    }

    #[test]
    fn uniform_weights_split_evenly() {
        let blocks = check_partition(&[1; 12], 4);
        assert_eq!(blocks, [0..3, 3..6, 6..9, 9..12]);
        let blocks = check_partition(&[1, 1], 4);
        assert_eq!(blocks, [0..1, 1..2, 2..2, 2..2]);
        assert_eq!(check_partition(&[], 3), [0..0, 0..0, 0..0]);
        assert_eq!(check_partition(&[0, 0, 0], 2), [0..1, 1..3]);
    }

    #[test]
    fn heavy_item_gets_its_own_block() {
        let blocks = check_partition(&[1, 1, 100, 1, 1], 3);
        assert_eq!(blocks, [0..2, 2..3, 3..5]);
    }
}
