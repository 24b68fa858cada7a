//! The STRADS dependency filter: among a round's candidates keep only nearly independent ones.
//!
//! Candidates are visited in order and `c` is kept if `|corr(c, k)| < rho` for every already kept
//! `k`. Correlations between coordinate pairs are expensive (a pass over two data columns, summed
//! over workers), so [`PairCorrelationCache`] remembers them across rounds.

use std::cell::Cell;
use std::collections::HashMap;

use crate::fx_hash::FxBuildHasher;

/// Symmetric cache of `|corr(a, b)|` for coordinate pairs.
///
/// A pair is stored under the key `(min << 32) | max`, so `(a, b)` and `(b, a)` are one entry.
/// Once `capacity` entries are stored, new pairs are no longer stored (existing entries can still be
/// updated): the pairs met first are kept rather than evicting at random, which keeps memory bounded
/// and behaviour deterministic. Every lookup (`get`, `get_or_compute`, each pair examined by
/// `missing_pairs`) counts as a hit or a miss.
#[derive(Clone, Debug)]
pub struct PairCorrelationCache {
    capacity: usize,
    entries: HashMap<u64, f32, FxBuildHasher>,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

/// Key of the unordered pair `{a, b}`.
fn pair_key(a: u32, b: u32) -> u64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    (u64::from(lo) << 32) | u64::from(hi)
}

impl PairCorrelationCache {
    /// An empty cache that stores at most `capacity` pairs.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::with_hasher(FxBuildHasher),
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    /// Maximum number of stored pairs.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The cached `|corr(a, b)|`, if any (symmetric in `a` and `b`).
    pub fn get(&self, a: u32, b: u32) -> Option<f32> {
        let found = self.entries.get(&pair_key(a, b)).copied();
        self.count(found.is_some());
        found
    }

    /// Stores `|corr(a, b)|`. Returns whether it is stored: `false` when the cache is full and the
    /// pair is new.
    pub fn insert(&mut self, a: u32, b: u32, abs_corr: f32) -> bool {
        let key = pair_key(a, b);
        if let Some(slot) = self.entries.get_mut(&key) {
            *slot = abs_corr;
            true
        } else if self.entries.len() < self.capacity {
            self.entries.insert(key, abs_corr);
            true
        } else {
            false
        }
    }

    /// The cached `|corr(a, b)|`, or `compute(a, b)` stored (if there is room) and returned.
    pub fn get_or_compute(&mut self, a: u32, b: u32, compute: impl FnOnce(u32, u32) -> f32) -> f32 {
        if let Some(value) = self.get(a, b) {
            return value;
        }
        let value = compute(a, b);
        self.insert(a, b, value);
        value
    }

    /// Number of stored pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no pair is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lookups that found a stored pair.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    /// Lookups that found nothing.
    pub fn misses(&self) -> u64 {
        self.misses.get()
    }

    /// Fills `out` (cleared first) with the pairs among `candidates` whose correlation is not
    /// cached yet, as positions `(i, j)` into `candidates` with `i < j`, in lexicographic order;
    /// the coordinates are `candidates[i]` and `candidates[j]`. Pairs of a coordinate with itself
    /// are skipped.
    pub fn missing_pairs(&mut self, candidates: &[u32], out: &mut Vec<(u32, u32)>) {
        out.clear();
        for (i, &a) in candidates.iter().enumerate() {
            for (j, &b) in candidates.iter().enumerate().skip(i + 1) {
                if a != b && self.get(a, b).is_none() {
                    out.push((i as u32, j as u32));
                }
            }
        }
    }

    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.set(counter.get() + 1);
    }
}

/// Greedy dependency filter: visits `candidates` in order and keeps `c` if `corr(c, k) < rho` for
/// every already kept `k`; the others are dropped. `corr` returns `|corr|` of a pair; a NaN
/// correlation counts as a conflict. `kept` and `dropped` are cleared first and receive the
/// candidates in their original order.
///
/// The result is maximal: every dropped candidate conflicts with some kept one. The check stops at
/// the first conflict, so a dropped candidate costs at most `kept.len()` calls of `corr`.
pub fn dependency_filter(
    candidates: &[u32],
    rho: f64,
    mut corr: impl FnMut(u32, u32) -> f64,
    kept: &mut Vec<u32>,
    dropped: &mut Vec<u32>,
) {
    kept.clear();
    dropped.clear();
    for &c in candidates {
        if kept.iter().all(|&k| corr(c, k) < rho) {
            kept.push(c);
        } else {
            dropped.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random symmetric |corr| matrix with ones on the diagonal.
    fn random_correlations(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let mut c = vec![1.0; n * n];
        for a in 0..n {
            for b in a + 1..n {
                // Mostly small correlations with a few strong ones, like sparse data columns.
                let v = if rng.gen_bool(0.2) {
                    rng.gen_range(0.0..1.0)
                } else {
                    rng.gen_range(0.0..0.15)
                };
                c[a * n + b] = v;
                c[b * n + a] = v;
            }
        }
        c
    }

    #[test]
    fn filter_keeps_independent_and_maximal_sets() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        for case in 0..500 {
            let n = rng.gen_range(1..60);
            let corr = random_correlations(n, &mut rng);
            let rho = rng.gen_range(0.01..0.5);
            let size = rng.gen_range(0..=n);
            let mut candidates: Vec<u32> = (0..n as u32).collect();
            for i in 0..size {
                let r = rng.gen_range(i..n);
                candidates.swap(i, r);
            }
            candidates.truncate(size);
            let lookup = |a: u32, b: u32| corr[a as usize * n + b as usize];
            dependency_filter(&candidates, rho, lookup, &mut kept, &mut dropped);

            assert_eq!(kept.len() + dropped.len(), candidates.len(), "case {case}");
            for (x, &a) in kept.iter().enumerate() {
                for &b in &kept[x + 1..] {
                    assert!(lookup(a, b) < rho, "case {case}: kept {a},{b} correlate");
                }
            }
            for &d in &dropped {
                assert!(
                    kept.iter().any(|&k| lookup(d, k) >= rho),
                    "case {case}: {d}"
                );
            }
            // Order is preserved: kept and dropped are subsequences of candidates.
            let mut merged: Vec<u32> = kept.iter().chain(&dropped).copied().collect();
            merged.sort_unstable();
            let mut sorted = candidates.clone();
            sorted.sort_unstable();
            assert_eq!(merged, sorted);
            assert!(is_subsequence(&kept, &candidates) && is_subsequence(&dropped, &candidates));
        }
    }

    fn is_subsequence(part: &[u32], whole: &[u32]) -> bool {
        let mut it = whole.iter();
        part.iter().all(|p| it.any(|w| w == p))
    }

    #[test]
    fn first_candidate_is_always_kept_and_nan_conflicts() {
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        dependency_filter(&[4, 2, 9], 0.1, |_, _| f64::NAN, &mut kept, &mut dropped);
        assert_eq!(kept, [4]);
        assert_eq!(dropped, [2, 9]);
    }

    #[test]
    fn cache_is_symmetric_and_counts_lookups() {
        let mut cache = PairCorrelationCache::new(10);
        assert!(cache.is_empty());
        assert!(cache.insert(7, 3, 0.25));
        assert_eq!(cache.get(3, 7), Some(0.25));
        assert_eq!(cache.get(7, 3), Some(0.25));
        assert_eq!(cache.get(7, 4), None);
        assert_eq!((cache.hits(), cache.misses()), (2, 1));
        assert!(cache.insert(3, 7, 0.5));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(7, 3), Some(0.5));
        assert_eq!(cache.get_or_compute(1, 2, |a, b| (a + b) as f32), 3.0);
        assert_eq!(cache.get_or_compute(2, 1, |_, _| unreachable!()), 3.0);
        // Extreme ids do not collide through the packing.
        assert!(cache.insert(u32::MAX, 0, 0.9));
        assert_eq!(cache.get(0, u32::MAX), Some(0.9));
        assert_eq!(cache.get(u32::MAX, u32::MAX), None);
    }

    #[test]
    fn cache_respects_capacity() {
        let mut cache = PairCorrelationCache::new(5);
        let mut stored = 0;
        for a in 0..10u32 {
            if cache.insert(a, a + 100, 0.1) {
                stored += 1;
            }
        }
        assert_eq!((stored, cache.len(), cache.capacity()), (5, 5, 5));
        // Existing pairs may still be updated when full, new ones are refused.
        assert!(cache.insert(100, 0, 0.7));
        assert_eq!(cache.get(0, 100), Some(0.7));
        assert!(!cache.insert(50, 51, 0.2));
        assert_eq!(cache.get(50, 51), None);
        assert!(!PairCorrelationCache::new(0).insert(1, 2, 0.3));
    }

    #[test]
    fn missing_pairs_lists_uncached_positions() {
        let mut cache = PairCorrelationCache::new(100);
        cache.insert(5, 9, 0.0);
        let mut out = Vec::new();
        cache.missing_pairs(&[9, 1, 5, 5], &mut out);
        // (0, 2) and (0, 3) are {9, 5}, cached; (2, 3) is 5 with itself.
        assert_eq!(out, [(0, 1), (1, 2), (1, 3)]);
        for &(i, j) in &out {
            let c = [9, 1, 5, 5];
            cache.insert(c[i as usize], c[j as usize], 0.05);
        }
        cache.missing_pairs(&[9, 1, 5], &mut out);
        assert!(out.is_empty());
    }
}
