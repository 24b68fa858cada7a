//! A tiny multiplicative hasher for integer keys (in the style of rustc's FxHash).
//!
//! The standard SipHash guards against adversarial keys, which the scheduler's own coordinate
//! pairs are not, and costs several times more per lookup. Multiplying by an odd constant mixes
//! low key bits upwards only, while hash tables take the bucket index from the low bits, and a
//! packed pair `(min << 32) | max` keeps one coordinate entirely in the high bits. So `finish`
//! folds the high half down and multiplies once more (`h = (h ^ h >> 32) * K; h ^ h >> 32`):
//! two multiplications in all, and pairs that differ only in either half spread like random keys.

use std::hash::{BuildHasher, Hasher};

/// Odd multiplier (from rustc-hash 2: a large prime with well-spread bits).
const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;

/// Multiplicative hasher for integer keys; not resistant to adversarial input.
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher {
    hash: u64,
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.hash = self.hash.wrapping_add(i).wrapping_mul(MULTIPLIER);
    }

    fn finish(&self) -> u64 {
        let h = (self.hash ^ (self.hash >> 32)).wrapping_mul(MULTIPLIER);
        h ^ (h >> 32)
    }
}

/// [`BuildHasher`] for [`FxHasher`].
#[derive(Clone, Copy, Debug, Default)]
pub struct FxBuildHasher;

impl BuildHasher for FxBuildHasher {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct values of the low `bits` bits of the hashes of `keys`.
    fn buckets(keys: impl Iterator<Item = u64>, bits: u32) -> usize {
        let mask = (1u64 << bits) - 1;
        let set: std::collections::HashSet<u64> =
            keys.map(|k| FxBuildHasher.hash_one(k) & mask).collect();
        set.len()
    }

    #[test]
    fn packed_pairs_spread_over_buckets_like_random_keys() {
        // 256 keys into 1024 buckets: random keys give about 227 distinct buckets.
        assert!(buckets((0..256u64).map(|hi| (hi << 32) | 7), 10) > 200);
        assert!(buckets((0..256u64).map(|lo| (3 << 32) | lo), 10) > 200);
        // 2048 strided pairs into 4096 buckets: random keys give about 1612.
        let strided = (0..64u64).flat_map(|a| (0..32u64).map(move |b| (a << 42) | (b << 12)));
        assert!(buckets(strided, 12) > 1500);
    }
}
