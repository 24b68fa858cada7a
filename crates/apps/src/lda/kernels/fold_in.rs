//! Topic proportions of a new document by Gibbs fold-in: the trained topics `phi` stay fixed and
//! only the document's own tokens are resampled, from
//!
//! ```text
//! p(z_i = k | rest)  ∝  (n_dk + alpha) phi_kw      (n_dk excluding token i)
//! ```
//!
//! After `burn_in` sweeps, the estimate averages `theta_dk = (n_dk + alpha) / (n_d + K alpha)`
//! over the remaining sweeps (the posterior mean of theta given the sampled topics, a
//! Rao-Blackwellised estimate). O(K) per token: a document is small next to the corpus.

use super::rng::FastRng;

/// Settings of [`fold_in`].
#[derive(Clone, Copy, Debug)]
pub struct FoldInParams {
    /// The document-topic prior.
    pub alpha: f64,
    /// Sweeps over the document's tokens, burn-in included.
    pub sweeps: usize,
    /// Sweeps discarded before averaging (at most `sweeps - 1`).
    pub burn_in: usize,
}

impl Default for FoldInParams {
    fn default() -> Self {
        FoldInParams {
            alpha: 0.1,
            sweeps: 50,
            burn_in: 10,
        }
    }
}

/// The topic proportions (K values summing to 1) of the document `words` (`(word, count)`
/// pairs) under the topics `phi` (`K x W`, row-major, each row a distribution over words).
/// A document with no tokens gets the prior mean, `1 / K` each.
pub fn fold_in(
    words: &[(u32, u32)],
    phi: &[f64],
    topics: usize,
    params: FoldInParams,
    rng: &mut FastRng,
) -> Vec<f64> {
    let k_count = topics;
    let vocabulary = phi.len() / k_count.max(1);
    let tokens: Vec<usize> = words
        .iter()
        .flat_map(|&(w, c)| std::iter::repeat_n(w as usize, c as usize))
        .collect();
    let n_d = tokens.len() as f64;
    let k_alpha = k_count as f64 * params.alpha;
    if tokens.is_empty() {
        return vec![1.0 / k_count as f64; k_count];
    }
    // Start every token at a uniform topic.
    let mut z: Vec<usize> = tokens
        .iter()
        .map(|_| rng.below(k_count as u64) as usize)
        .collect();
    let mut n_dk = vec![0.0f64; k_count];
    for &k in &z {
        n_dk[k] += 1.0;
    }
    let mut weights = vec![0.0f64; k_count];
    let mut theta = vec![0.0f64; k_count];
    let sweeps = params.sweeps.max(params.burn_in + 1);
    for sweep in 0..sweeps {
        for (i, &w) in tokens.iter().enumerate() {
            debug_assert!(w < vocabulary);
            n_dk[z[i]] -= 1.0;
            let mut total = 0.0;
            for k in 0..k_count {
                // p(z_i = k) ∝ (n_dk + alpha) phi_kw
                weights[k] = (n_dk[k] + params.alpha) * phi[k * vocabulary + w];
                total += weights[k];
            }
            let mut u = rng.unit() * total;
            let mut chosen = k_count - 1;
            for (k, &weight) in weights.iter().enumerate() {
                if u < weight {
                    chosen = k;
                    break;
                }
                u -= weight;
            }
            z[i] = chosen;
            n_dk[chosen] += 1.0;
        }
        if sweep >= params.burn_in {
            for k in 0..k_count {
                theta[k] += (n_dk[k] + params.alpha) / (n_d + k_alpha);
            }
        }
    }
    let kept = (sweeps - params.burn_in) as f64;
    theta.iter_mut().for_each(|t| *t /= kept);
    theta
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-token document has the exact posterior `p(z = k) ∝ alpha phi_kw`, so
    /// `E[theta_k] = (p_k + alpha) / (1 + K alpha)`; the fold-in's average must approach it.
    #[test]
    fn one_token_matches_the_exact_posterior_mean() {
        let phi = [0.5, 0.5, 0.1, 0.9, 0.3, 0.7]; // K = 3 topics over W = 2 words
        let alpha = 0.5;
        let params = FoldInParams {
            alpha,
            sweeps: 200_000,
            burn_in: 10,
        };
        let theta = fold_in(&[(1, 1)], &phi, 3, params, &mut FastRng::new(1, 0));
        let weights = [alpha * 0.5, alpha * 0.9, alpha * 0.7];
        let total: f64 = weights.iter().sum();
        for k in 0..3 {
            let expected = (weights[k] / total + alpha) / (1.0 + 3.0 * alpha);
            assert!(
                (theta[k] - expected).abs() < 3e-3,
                "{k}: {theta:?} vs {expected}"
            );
        }
        assert!((theta.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    /// Topics with disjoint words: a document of topic 1's words only is (almost) all topic 1,
    /// and a mixed one in proportion to its tokens.
    #[test]
    fn disjoint_topics_are_recognised_in_proportion() {
        // Topic 0 holds words 0-1, topic 1 words 2-3 (tiny leakage keeps every weight positive).
        let e = 1e-9;
        let phi = [0.5 - e, 0.5 - e, e, e, e, e, 0.5 - e, 0.5 - e];
        let params = FoldInParams {
            alpha: 0.01,
            ..FoldInParams::default()
        };
        let mut rng = FastRng::new(2, 0);
        let pure = fold_in(&[(2, 30), (3, 10)], &phi, 2, params, &mut rng);
        assert!(pure[1] > 0.999, "{pure:?}");
        let mixed = fold_in(&[(0, 15), (1, 15), (3, 10)], &phi, 2, params, &mut rng);
        assert!((mixed[0] - 0.75).abs() < 1e-3, "{mixed:?}");
    }

    #[test]
    fn an_empty_document_gets_the_prior_mean() {
        let theta = fold_in(
            &[],
            &[0.5; 4],
            2,
            FoldInParams::default(),
            &mut FastRng::new(3, 0),
        );
        assert_eq!(theta, vec![0.5, 0.5]);
    }
}
