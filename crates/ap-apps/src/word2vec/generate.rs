//! `strads gen text`: sentences over words in planted clusters, so that a test can check that
//! learned neighbours recover the clusters.
//!
//! Every sentence belongs to one cluster, drawn uniformly; each of its words is, with probability
//! `1 - filler`, a uniform word of that cluster (`c{k}w{j}`), otherwise one of `fillers` filler
//! words (`f{j}`) shared by all clusters. Words of one cluster share their contexts, words of
//! different clusters only the fillers.

use std::io::Write;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strads_io::{write_atomic, DataError};

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextSpec {
    /// Clusters of words.
    pub clusters: usize,
    /// Words per cluster.
    pub words_per_cluster: usize,
    /// Filler words shared by every cluster.
    pub fillers: usize,
    /// Probability that a word is a filler.
    pub filler: f64,
    /// Sentences (lines).
    pub sentences: usize,
    /// Words per sentence.
    pub sentence_length: usize,
    /// Random seed.
    pub seed: u64,
}

impl Default for TextSpec {
    fn default() -> Self {
        TextSpec {
            clusters: 10,
            words_per_cluster: 20,
            fillers: 10,
            filler: 0.2,
            sentences: 5000,
            sentence_length: 12,
            seed: 1,
        }
    }
}

/// The word `j` of cluster `k`.
pub fn cluster_word(k: usize, j: usize) -> String {
    format!("c{k}w{j}")
}

/// The cluster of a word written by [`generate_text`], `None` for a filler.
pub fn cluster_of(word: &str) -> Option<usize> {
    word.strip_prefix('c')?.split('w').next()?.parse().ok()
}

/// Writes the corpus to `path` atomically.
pub fn generate_text(path: &Path, spec: &TextSpec) -> Result<(), DataError> {
    if spec.clusters == 0
        || spec.words_per_cluster == 0
        || spec.sentence_length == 0
        || !(0.0..=1.0).contains(&spec.filler)
        || (spec.filler > 0.0 && spec.fillers == 0)
    {
        return Err(DataError::InvalidRequest {
            message: "clusters, words per cluster and sentence length must be at least 1, the \
                      filler probability in [0, 1] (and some filler words if it is positive)"
                .into(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    write_atomic(path, |w| {
        for _ in 0..spec.sentences {
            let k = rng.gen_range(0..spec.clusters);
            for i in 0..spec.sentence_length {
                if i > 0 {
                    w.write_all(b" ")?;
                }
                if spec.filler > 0.0 && rng.gen_bool(spec.filler) {
                    write!(w, "f{}", rng.gen_range(0..spec.fillers))?;
                } else {
                    let j = rng.gen_range(0..spec.words_per_cluster);
                    w.write_all(cluster_word(k, j).as_bytes())?;
                }
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_name_their_cluster() {
        assert_eq!(cluster_of(&cluster_word(12, 3)), Some(12));
        assert_eq!(cluster_of("f3"), None);
    }

    #[test]
    fn sentences_hold_one_cluster_and_fillers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        let spec = TextSpec {
            sentences: 50,
            ..TextSpec::default()
        };
        generate_text(&path, &spec).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 50);
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            assert_eq!(words.len(), spec.sentence_length);
            let mut clusters: Vec<usize> = words.iter().filter_map(|w| cluster_of(w)).collect();
            clusters.dedup();
            assert!(clusters.len() <= 1, "{line}");
        }
    }
}
