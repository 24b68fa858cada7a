//! The STRADS dependency filter: among a round's candidates keep only nearly independent ones.
//!
//! Candidates are visited in order and `c` is kept if `|corr(c, k)| < rho` for every already kept
//! `k`. Where the correlations come from is the caller's business (the Lasso app computes, in each
//! round, the dot products of the candidate pairs that share a row of X).

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

/// The same greedy filter over candidate *positions* `0..n`, when the conflicting pairs are
/// listed (`(a, b)` with `|corr| >= rho`) instead of looked up: the form to use when almost all
/// pairs are known independent, as for sparse data. Positions marked in `excluded` are dropped
/// without blocking anyone. Costs O(n + conflicts); `kept` and `dropped` receive positions in
/// increasing order.
pub fn dependency_filter_pairs(
    n: usize,
    excluded: &[bool],
    conflicts: &[(u32, u32)],
    kept: &mut Vec<u32>,
    dropped: &mut Vec<u32>,
) {
    kept.clear();
    dropped.clear();
    // Adjacency in compressed rows: each conflict is stored at its earlier position, since the
    // greedy pass only needs to block positions after the one it keeps.
    let mut offsets = vec![0usize; n + 1];
    for &(a, b) in conflicts {
        offsets[a.min(b) as usize + 1] += 1;
    }
    for p in 0..n {
        offsets[p + 1] += offsets[p];
    }
    let mut later = vec![0u32; conflicts.len()];
    let mut fill = offsets.clone();
    for &(a, b) in conflicts {
        let (first, second) = (a.min(b) as usize, a.max(b));
        later[fill[first]] = second;
        fill[first] += 1;
    }
    let mut blocked = excluded.to_vec();
    for p in 0..n {
        if blocked[p] {
            dropped.push(p as u32);
            continue;
        }
        kept.push(p as u32);
        for &q in &later[offsets[p]..offsets[p + 1]] {
            blocked[q as usize] = true;
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

    #[test]
    fn pair_list_filter_agrees_with_the_lookup_filter() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        let (mut kept_pairs, mut dropped_pairs) = (Vec::new(), Vec::new());
        for case in 0..300 {
            let n = rng.gen_range(1..50);
            let corr = random_correlations(n, &mut rng);
            let rho = rng.gen_range(0.01..0.5);
            let candidates: Vec<u32> = (0..n as u32).collect();
            dependency_filter(
                &candidates,
                rho,
                |a, b| corr[a as usize * n + b as usize],
                &mut kept,
                &mut dropped,
            );
            let mut conflicts = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    if corr[a * n + b] >= rho {
                        // Either order must work.
                        conflicts.push(if case % 2 == 0 {
                            (a as u32, b as u32)
                        } else {
                            (b as u32, a as u32)
                        });
                    }
                }
            }
            dependency_filter_pairs(
                n,
                &vec![false; n],
                &conflicts,
                &mut kept_pairs,
                &mut dropped_pairs,
            );
            assert_eq!(
                (&kept, &dropped),
                (&kept_pairs, &dropped_pairs),
                "case {case}"
            );
        }
        // An excluded position blocks nobody.
        dependency_filter_pairs(
            3,
            &[true, false, false],
            &[(0, 1), (1, 2)],
            &mut kept_pairs,
            &mut dropped_pairs,
        );
        assert_eq!(
            (kept_pairs.as_slice(), dropped_pairs.as_slice()),
            (&[1][..], &[0, 2][..])
        );
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
}
