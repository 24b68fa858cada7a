//! Synthetic corpora from the LDA generative model, with the topics they were drawn from.
//!
//! Topic `k` is a distribution `phi_k ~ Dirichlet(beta)` over `words` words; document `d` has
//! topic proportions `theta_d ~ Dirichlet(alpha)` over `topics` topics and `doc_length` tokens,
//! each drawn as `z ~ theta_d`, `w ~ phi_z`. Everything comes from one `ChaCha8Rng` seeded with
//! `seed`, so a seed fixes the output.
//!
//! Three files are written, each atomically:
//! - `out`: the corpus in UCI docword format (`D`, `W`, `NNZ`, then `doc word count` lines, 1-based,
//!   sorted by document then word);
//! - [`vocab_path`]`(out)` (`out.vocab`): word `i` is named `w<i>` (1-based);
//! - [`topics_path`]`(out)` (`out.topics`): the true topics, one line per topic (in topic order)
//!   of `word:probability` pairs with 1-based word ids, omitting probabilities below
//!   [`TOPIC_FILE_FLOOR`].

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, WeightedAliasIndex};

use crate::atomic::write_atomic;
use crate::error::DataError;

/// Topic-word probabilities below this are left out of the topics file.
pub const TOPIC_FILE_FLOOR: f64 = 1e-7;

/// What corpus to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct LdaSpec {
    /// Documents.
    pub docs: usize,
    /// Vocabulary size.
    pub words: usize,
    /// Topics.
    pub topics: usize,
    /// Tokens per document.
    pub doc_length: usize,
    /// Dirichlet parameter of the document-topic proportions.
    pub alpha: f64,
    /// Dirichlet parameter of the topic-word distributions.
    pub beta: f64,
    /// Seed of the random generator.
    pub seed: u64,
}

/// What [`generate_lda`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct LdaSummary {
    /// Tokens in the corpus.
    pub tokens: u64,
    /// `doc word count` lines.
    pub nnz: usize,
    /// The vocabulary file.
    pub vocab_path: PathBuf,
    /// The true topics.
    pub topics_path: PathBuf,
}

/// `out` with `suffix` appended.
fn with_suffix(out: &Path, suffix: &str) -> PathBuf {
    let mut path = out.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}

/// The vocabulary file written next to `out`: `out.vocab`.
pub fn vocab_path(out: &Path) -> PathBuf {
    with_suffix(out, ".vocab")
}

/// The true-topics file written next to `out`: `out.topics`.
pub fn topics_path(out: &Path) -> PathBuf {
    with_suffix(out, ".topics")
}

/// A draw from `Dirichlet(concentration, ..., concentration)` of dimension `n`, by normalised
/// gamma variates (redrawn in the vanishingly rare case that all of them underflow to zero).
fn dirichlet(rng: &mut ChaCha8Rng, gamma: &Gamma<f64>, n: usize) -> Vec<f64> {
    loop {
        let mut draw: Vec<f64> = (0..n).map(|_| gamma.sample(rng)).collect();
        let sum: f64 = draw.iter().sum();
        if sum > 0.0 && sum.is_finite() {
            draw.iter_mut().for_each(|p| *p /= sum);
            return draw;
        }
    }
}

/// Samples the corpus described by `spec` and writes it, its vocabulary and its true topics.
pub fn generate_lda(spec: &LdaSpec, out: &Path) -> Result<LdaSummary, DataError> {
    let invalid = |message: String| Err(DataError::InvalidRequest { message });
    if spec.docs == 0 || spec.words == 0 || spec.topics == 0 || spec.doc_length == 0 {
        return invalid(
            "documents, words, topics and the document length must be at least 1".into(),
        );
    }
    if spec.docs as u64 > u64::from(u32::MAX) || spec.words as u64 > u64::from(u32::MAX) {
        return invalid("documents and words must be below 2^32".into());
    }
    if !(spec.alpha > 0.0 && spec.alpha.is_finite() && spec.beta > 0.0 && spec.beta.is_finite()) {
        return invalid(format!(
            "alpha and beta must be positive, got {} and {}",
            spec.alpha, spec.beta
        ));
    }
    // Every topic's word distribution and its alias table; per document its word counts.
    let cells_per_doc = spec.doc_length.min(spec.words) as u128;
    let needed = spec.topics as u128 * spec.words as u128 * 32
        + spec.docs as u128 * cells_per_doc * 8
        + spec.doc_length as u128 * 4;
    if let Err(message) = crate::memory::check_memory(
        &format!(
            "generating {} documents of {} tokens from {} topics over {} words",
            spec.docs, spec.doc_length, spec.topics, spec.words
        ),
        needed,
    ) {
        return invalid(message);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let word_gamma = Gamma::new(spec.beta, 1.0).expect("beta > 0");
    let topic_gamma = Gamma::new(spec.alpha, 1.0).expect("alpha > 0");
    let topics: Vec<Vec<f64>> = (0..spec.topics)
        .map(|_| dirichlet(&mut rng, &word_gamma, spec.words))
        .collect();
    let word_samplers: Vec<WeightedAliasIndex<f64>> = topics
        .iter()
        .map(|phi| WeightedAliasIndex::new(phi.clone()).expect("a normalised distribution"))
        .collect();

    // Each document's word counts, as sorted (word, count) pairs.
    let mut docs: Vec<Vec<(u32, u32)>> = Vec::with_capacity(spec.docs);
    let mut words = Vec::with_capacity(spec.doc_length);
    for _ in 0..spec.docs {
        let theta = dirichlet(&mut rng, &topic_gamma, spec.topics);
        let topic_sampler = WeightedAliasIndex::new(theta).expect("a normalised distribution");
        words.clear();
        for _ in 0..spec.doc_length {
            let z = topic_sampler.sample(&mut rng);
            words.push(word_samplers[z].sample(&mut rng) as u32);
        }
        words.sort_unstable();
        let mut cells: Vec<(u32, u32)> = Vec::new();
        for &w in &words {
            match cells.last_mut() {
                Some((last, count)) if *last == w => *count += 1,
                _ => cells.push((w, 1)),
            }
        }
        docs.push(cells);
    }
    let nnz: usize = docs.iter().map(Vec::len).sum();
    write_atomic(out, |w| {
        writeln!(w, "{}\n{}\n{}", spec.docs, spec.words, nnz)?;
        for (d, cells) in docs.iter().enumerate() {
            for &(word, count) in cells {
                writeln!(w, "{} {} {}", d + 1, word + 1, count)?;
            }
        }
        Ok(())
    })?;
    let vocab = vocab_path(out);
    write_atomic(&vocab, |w| {
        for i in 1..=spec.words {
            writeln!(w, "w{i}")?;
        }
        Ok(())
    })?;
    let topics_file = topics_path(out);
    write_atomic(&topics_file, |w| {
        let mut buffer = ryu::Buffer::new();
        for phi in &topics {
            let mut first = true;
            for (word, &p) in phi.iter().enumerate() {
                if p < TOPIC_FILE_FLOOR {
                    continue;
                }
                if !first {
                    w.write_all(b" ")?;
                }
                first = false;
                write!(w, "{}:{}", word + 1, buffer.format(p))?;
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    })?;
    Ok(LdaSummary {
        tokens: (spec.docs * spec.doc_length) as u64,
        nnz,
        vocab_path: vocab,
        topics_path: topics_file,
    })
}

/// Reads a topics file written by [`generate_lda`]: one dense distribution per line over `words`
/// words (omitted entries are 0).
pub fn read_topics(path: &Path, words: usize) -> Result<Vec<Vec<f64>>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut topics = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut phi = vec![0.0; words];
        for token in line.split_whitespace() {
            let parsed = token.split_once(':').and_then(|(word, p)| {
                let word: usize = word.parse().ok()?;
                let p: f64 = p.parse().ok()?;
                (word >= 1 && word <= words).then_some((word - 1, p))
            });
            let (word, p) = parsed.ok_or_else(|| {
                DataError::parse(
                    path,
                    index as u64 + 1,
                    format!(
                        "expected `word:probability` with word in 1..={words}, found {token:?}"
                    ),
                )
            })?;
            phi[word] = p;
        }
        topics.push(phi);
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{read_docword_header, read_docword_shard, read_vocabulary};

    #[test]
    fn writes_a_readable_corpus_with_its_truth() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("c.txt");
        let spec = LdaSpec {
            docs: 30,
            words: 40,
            topics: 3,
            doc_length: 25,
            alpha: 0.1,
            beta: 0.05,
            seed: 3,
        };
        let summary = generate_lda(&spec, &out).unwrap();
        let header = read_docword_header(&out).unwrap();
        assert_eq!(
            (header.docs, header.words, header.nnz),
            (30, 40, summary.nnz)
        );
        let cells = read_docword_shard(&out, &header, 0, 1).unwrap();
        assert_eq!(cells.iter().map(|c| u64::from(c.count)).sum::<u64>(), 750);
        assert_eq!(read_vocabulary(&summary.vocab_path).unwrap().len(), 40);
        let topics = read_topics(&summary.topics_path, 40).unwrap();
        assert_eq!(topics.len(), 3);
        for phi in topics {
            assert!((phi.iter().sum::<f64>() - 1.0).abs() < 1e-5);
        }
        // Same seed, same bytes.
        let again = dir.path().join("d.txt");
        generate_lda(&spec, &again).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    }
}
