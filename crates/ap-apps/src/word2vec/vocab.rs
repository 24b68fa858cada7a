//! The vocabulary (words kept by `min_count`, most frequent first), the subsampling
//! probabilities and the noise distribution of negative sampling.

use std::collections::HashMap;

use rand::Rng;

/// Words with at least `min_count` occurrences, sorted by count (descending), ties by word, so
/// that every worker that merges the same counts builds the same vocabulary.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocabulary {
    words: Vec<String>,
    counts: Vec<u64>,
    index: HashMap<String, u32>,
}

impl Vocabulary {
    /// From `(word, count)` pairs, a word possibly several times (its counts are added).
    pub fn from_counts<'w>(
        counts: impl IntoIterator<Item = (&'w str, u64)>,
        min_count: u64,
    ) -> Self {
        let mut merged: HashMap<&str, u64> = HashMap::new();
        for (word, count) in counts {
            *merged.entry(word).or_default() += count;
        }
        let mut kept: Vec<(&str, u64)> = merged
            .into_iter()
            .filter(|&(_, c)| c >= min_count.max(1))
            .collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let words: Vec<String> = kept.iter().map(|&(w, _)| w.to_owned()).collect();
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Vocabulary {
            counts: kept.iter().map(|&(_, c)| c).collect(),
            words,
            index,
        }
    }

    /// Words in the vocabulary.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// No word reached `min_count`.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The words, in vocabulary order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Each word's count.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Occurrences of vocabulary words in the corpus (the words an epoch processes).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The id of `word`, if it is in the vocabulary.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    /// word2vec's probability of keeping each occurrence of each word:
    /// `(sqrt(f / (sample T)) + 1) (sample T) / f` for a word of count `f` among `T` (capped at
    /// 1); every word is kept when `sample` is 0.
    pub fn keep_probabilities(&self, sample: f64) -> Vec<f32> {
        let threshold = sample * self.total() as f64;
        self.counts
            .iter()
            .map(|&f| {
                if sample <= 0.0 {
                    return 1.0;
                }
                let f = f as f64;
                (((f / threshold).sqrt() + 1.0) * threshold / f).min(1.0) as f32
            })
            .collect()
    }
}

/// Walker's alias method over the unigram distribution raised to `power` (word2vec: 0.75): a
/// draw is one uniform index and one uniform number, exact probabilities without word2vec's
/// 1e8-entry table.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSampler {
    threshold: Vec<f32>,
    alias: Vec<u32>,
}

impl NoiseSampler {
    /// The sampler of `P(w) = count_w^power / sum_v count_v^power`.
    pub fn new(counts: &[u64], power: f64) -> Self {
        let n = counts.len();
        let weights: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(power)).collect();
        let total: f64 = weights.iter().sum();
        // Scaled so that the mean is 1.
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut threshold = vec![1.0f32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            threshold[s] = scaled[s] as f32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left has probability 1 up to rounding.
        NoiseSampler { threshold, alias }
    }

    /// One draw.
    #[inline]
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let i = rng.gen_range(0..self.threshold.len());
        if rng.gen::<f32>() < self.threshold[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }

    /// The probability of each outcome that the table encodes (for tests and checks).
    pub fn probabilities(&self) -> Vec<f64> {
        let n = self.threshold.len() as f64;
        let mut p: Vec<f64> = self.threshold.iter().map(|&t| f64::from(t) / n).collect();
        for (i, &t) in self.threshold.iter().enumerate() {
            p[self.alias[i] as usize] += (1.0 - f64::from(t)) / n;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_vocabulary_merges_counts_drops_rare_words_and_sorts_by_count_then_word() {
        let vocab = Vocabulary::from_counts(
            [("b", 3), ("a", 2), ("c", 1), ("a", 1), ("d", 5), ("e", 2)],
            2,
        );
        assert_eq!(vocab.words(), &["d", "a", "b", "e"]);
        assert_eq!(vocab.counts(), &[5, 3, 3, 2]);
        assert_eq!(vocab.total(), 13);
        assert_eq!(vocab.id("e"), Some(3));
        assert_eq!(vocab.id("c"), None);
    }

    #[test]
    fn keep_probabilities_follow_word2vecs_formula() {
        let vocab = Vocabulary::from_counts([("the", 9000), ("cat", 900), ("zebra", 100)], 1);
        let keep = vocab.keep_probabilities(1e-3);
        // T = 10000, sample T = 10.
        let expected = |f: f64| ((f / 10.0).sqrt() + 1.0) * 10.0 / f;
        assert!((f64::from(keep[0]) - expected(9000.0)).abs() < 1e-6);
        assert!((f64::from(keep[1]) - expected(900.0)).abs() < 1e-6);
        assert!((f64::from(keep[2]) - expected(100.0)).abs() < 1e-6);
        assert!(keep[0] < keep[1] && keep[1] < keep[2] && keep[2] < 1.0);
        assert_eq!(vocab.keep_probabilities(0.0), vec![1.0; 3]);
    }

    #[test]
    fn the_alias_table_encodes_the_unigram_distribution_to_the_three_quarters() {
        let counts = [1000u64, 300, 300, 50, 7, 1];
        let sampler = NoiseSampler::new(&counts, 0.75);
        let weights: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(0.75)).collect();
        let total: f64 = weights.iter().sum();
        for (p, w) in sampler.probabilities().iter().zip(&weights) {
            assert!((p - w / total).abs() < 1e-6, "{p} vs {}", w / total);
        }
        // And the draws follow it.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let draws = 200_000;
        let mut seen = vec![0usize; counts.len()];
        for _ in 0..draws {
            seen[sampler.sample(&mut rng)] += 1;
        }
        for (s, w) in seen.iter().zip(&weights) {
            let p = w / total;
            let sd = (p * (1.0 - p) / draws as f64).sqrt();
            assert!((*s as f64 / draws as f64 - p).abs() < 5.0 * sd + 1e-9);
        }
    }
}
