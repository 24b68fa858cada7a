//! Word embeddings by word2vec (skip-gram or CBOW with negative sampling) on STRADS-AP.
//!
//! Objective (Mikolov et al. 2013): for every (input, center) pair of a sentence, with `h` the
//! context word's input vector (skip-gram) or the mean of the window's input vectors (CBOW), `o_w`
//! the output vectors and `k` negatives drawn from the unigram distribution to the 3/4,
//!
//! ```text
//! L = -log sigma(h . o_center) - sum_{j=1..k} log sigma(-h . o_{n_j})
//! ```
//!
//! minimised by SGD with a learning rate decaying linearly from `alpha` to `min_alpha` over all
//! words of all epochs. Semantics of word2vec.c: the vocabulary keeps words with at least
//! `min_count` occurrences (sorted by count, then word), frequent words are subsampled with
//! keep probability `(sqrt(f / (sample T)) + 1) (sample T) / f`, the window is drawn uniformly
//! in `1..=window` per center word, input vectors start uniform in `[-0.5/dim, 0.5/dim)` and
//! output vectors at zero.
//!
//! The program ([`program`]) reads the text in byte-range shards with `read_lines` (each worker
//! interning its own words), agrees on the vocabulary by an `all_gather` of every worker's
//! `(word, count)` list, then runs each epoch as one `Bsp` loop over packs of sentences (about
//! [`Word2vecParams::sync_words`] words each, a pack per mini-batch, so that every worker's
//! mini-batch holds about the same words whatever the lines' lengths) with the input and output
//! vectors as two `DVector<Vec<f32>>` replicas: each worker trains on its own sentences and,
//! after every pack, the workers' changes to the rows they touched are summed. Why not `Serializable`: every sentence
//! touches the frequent words and the negatives, so no partition of the rows separates
//! iterations. Why `Bsp` rather than `Async`: both merge the same sparse row deltas, and `Bsp`
//! fixes the result by the seed and the cluster shape (`Async` applies changes in arrival order);
//! the two were not compared for speed. Summing the workers' changes to a frequent word is a
//! larger step on it than one worker would take, as in parameter-server word2vec; the mini-batch
//! bounds how much is summed at once.
//!
//! Workers split the text by byte ranges at line boundaries, so a text that is one long line
//! (text8) is read and trained by one worker: split it into lines first.

pub mod generate;
pub mod in_memory;
pub mod kernels;
pub mod program;
pub mod vectors;
pub mod vocab;

use std::path::{Path, PathBuf};

use strads_ap::{run_ap_app, ApConfig, Hooks};

pub use in_memory::InMemorySentences;
pub use program::{Fit, TraceRecord};
pub use vectors::{read_vectors, write_vectors, WordVectors};
pub use vocab::{NoiseSampler, Vocabulary};

/// Why a run failed (the crate's [`crate::error::ApAppError`]).
pub type Word2vecError = crate::error::ApAppError;

/// Skip-gram or CBOW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// Each context word's vector predicts the center word.
    SkipGram,
    /// The mean of the window's vectors predicts the center word.
    Cbow,
}

/// Everything a run needs besides the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Word2vecParams {
    /// Plain text, one sentence per line, whitespace-separated tokens; with
    /// [`Word2vecParams::in_memory`], only the name that messages give the sentences.
    pub data: PathBuf,
    /// Vector dimension.
    pub dim: usize,
    /// Maximum window (each center word draws its window in `1..=window`).
    pub window: usize,
    /// Negatives per pair.
    pub negative: usize,
    /// Words with fewer occurrences are dropped.
    pub min_count: u64,
    /// Subsampling threshold (0: none).
    pub sample: f64,
    /// First learning rate.
    pub alpha: f64,
    /// Last learning rate.
    pub min_alpha: f64,
    /// Passes over the text.
    pub epochs: usize,
    /// Skip-gram or CBOW.
    pub architecture: Architecture,
    /// Seed of the initial vectors and of every worker's random stream.
    pub seed: u64,
    /// Words a worker trains on between merges of the workers' changes (at most; a pass has at
    /// least 16 merges).
    pub sync_words: usize,
    /// Skip-gram only: one set of negatives per center word, shared by its window's context
    /// words, the window's pairs updated at once ([`kernels::skipgram_window`]); otherwise, as
    /// word2vec.c, fresh negatives for every pair and one pair at a time.
    pub shared_negatives: bool,
    /// Sentences in memory, read instead of `data` (one process only).
    pub in_memory: Option<InMemorySentences>,
}

impl Word2vecParams {
    /// The default of [`Word2vecParams::sync_words`]: shared negatives update a sixth of the
    /// output rows per word and keep gensim's quality with merges every 200,000 words (on two
    /// workers, English text); fresh negatives per pair lost 0.07 of WordSim-353 Spearman there
    /// and are merged every 50,000 words.
    pub fn default_sync_words(shared_negatives: bool) -> usize {
        if shared_negatives {
            200_000
        } else {
            50_000
        }
    }

    /// word2vec's defaults for `data`: skip-gram, 100 dimensions, window 5, 5 negatives,
    /// min-count 5, sample 1e-3, alpha 0.025 to 0.0001, 5 epochs.
    pub fn new(data: &Path) -> Self {
        Word2vecParams {
            data: data.to_path_buf(),
            dim: 100,
            window: 5,
            negative: 5,
            min_count: 5,
            sample: 1e-3,
            alpha: 0.025,
            min_alpha: 0.0001,
            epochs: 5,
            architecture: Architecture::SkipGram,
            seed: 1,
            sync_words: Word2vecParams::default_sync_words(false),
            shared_negatives: false,
            in_memory: None,
        }
    }

    /// Defaults as [`Word2vecParams::new`] for sentences in memory.
    pub fn in_memory(sentences: InMemorySentences) -> Self {
        Word2vecParams {
            in_memory: Some(sentences),
            ..Word2vecParams::new(Path::new("the sentences in memory"))
        }
    }
}

/// Trains on the cluster with the caller's `hooks` (a stop request: the rest of the epoch is
/// skipped, then the run stops at its end; an observer of the trace); returns the fit (with the
/// vectors) on the process that runs worker 0 (`None` on the others).
pub fn train(
    config: &ApConfig,
    params: &Word2vecParams,
    hooks: Hooks<TraceRecord>,
) -> Result<Option<Fit>, Word2vecError> {
    run_ap_app::<program::Word2vec>(config, params, hooks)
}

fn check_params(p: &Word2vecParams) -> Result<(), Word2vecError> {
    let bad = |m: &str| Err(Word2vecError::InvalidArgument(m.to_owned()));
    if p.dim == 0 || p.window == 0 || p.negative == 0 || p.epochs == 0 || p.min_count == 0 {
        return bad(
            "the dimension, window, negatives, epochs and minimum count must be at least 1",
        );
    }
    if p.sync_words == 0 {
        return bad("the words between merges must be at least 1");
    }
    if !(p.alpha.is_finite() && p.alpha > 0.0) {
        return bad("the learning rate must be positive and finite");
    }
    if !(p.min_alpha >= 0.0 && p.min_alpha <= p.alpha) {
        return bad("the final learning rate must be in [0, the first learning rate]");
    }
    if !(p.sample.is_finite() && p.sample >= 0.0) {
        return bad("the subsampling threshold must be finite and >= 0");
    }
    Ok(())
}
