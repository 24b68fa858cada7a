//! LDA topic modelling by collapsed Gibbs sampling, model-parallel with STRADS vocabulary rotation.
//!
//! The model: `theta_d ~ Dirichlet(alpha)`, `phi_k ~ Dirichlet(beta)`, `z ~ theta_d`,
//! `w ~ phi_z`, with `theta` and `phi` integrated out. The objective printed every iteration is
//! the collapsed joint log-likelihood `log p(w, z) = log p(w | z) + log p(z)`:
//!
//! ```text
//! log p(w|z) = K [lnG(W b) - W lnG(b)] + sum_k [ sum_w lnG(n_kw + b) - lnG(n_k + W b) ]
//! log p(z)   = D [lnG(K a) - K lnG(a)] + sum_d [ sum_k lnG(n_dk + a) - lnG(n_d + K a) ]
//! ```
//!
//! Documents are sharded over the workers ([`load`]); each worker keeps its tokens' topics and
//! its documents' topic counts ([`shard`]); the word-topic rows move between workers block by block
//! ([`program`]); a token is resampled in O(1) by Metropolis-Hastings ([`kernels`]).

pub mod kernels;
pub mod load;
pub mod program;
pub mod shard;

use serde::Serialize;
use strads_engine::ClusterConfig;

pub use load::{CorpusSource, InMemoryCorpus, LocalDoc};

use crate::checkpoint::Checkpointing;
use crate::error::AppError;
use crate::runner::{run_app, Hooks};

/// `(topic, count)` pairs with positive counts, by topic.
pub type SparseCounts = Vec<(u32, u32)>;

/// Documents' topic counts: `(0-based doc id, n_d.)`.
pub type DocTopicRows = Vec<(u64, SparseCounts)>;

/// How tokens are resampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerKind {
    /// O(1) per token: `cycles` rounds of a word-proposal and a doc-proposal MH step.
    Mh {
        /// Rounds of (word step, doc step) per token.
        cycles: usize,
    },
    /// A draw from the exact collapsed conditional (SparseLDA buckets: O(nonzero topics of the
    /// word) per token after the first iterations).
    Exact,
}

impl SamplerKind {
    /// MH's default rounds of (word step, doc step) per token.
    pub const DEFAULT_MH_CYCLES: usize = 2;

    /// The exact sampler samples up to this many topics by default (measured: at K = 50 it is
    /// faster than MH and mixes better per iteration; at K = 1000 its word and document rows
    /// are no longer sparse and MH is far faster).
    pub const AUTO_EXACT_MAX_TOPICS: usize = 64;

    /// The default sampler for `topics` topics: exact up to
    /// [`SamplerKind::AUTO_EXACT_MAX_TOPICS`], MH with `cycles` rounds above.
    pub fn tuned(topics: usize, cycles: usize) -> SamplerKind {
        if topics <= SamplerKind::AUTO_EXACT_MAX_TOPICS {
            SamplerKind::Exact
        } else {
            SamplerKind::Mh { cycles }
        }
    }
}

/// Everything a training run needs besides the cluster.
#[derive(Clone, Debug)]
pub struct LdaParams {
    /// The corpus.
    pub corpus: CorpusSource,
    /// Topics `K`.
    pub topics: usize,
    /// Sweeps over all tokens.
    pub iterations: usize,
    /// Document-topic prior.
    pub alpha: f64,
    /// Topic-word prior.
    pub beta: f64,
    /// Seed: with the same cluster shape, the same seed gives the same result.
    pub seed: u64,
    /// The token sampler.
    pub sampler: SamplerKind,
    /// Evaluate the log-likelihood every this many iterations (0: only after the last one).
    pub loglik_every: usize,
    /// Check the counts against the topic assignments after every iteration (slow; for tests).
    pub check_counts: bool,
    /// Collect the documents' topic counts on the leader.
    pub doc_topics: bool,
    /// Checkpoints (after iterations), resuming and stop requests.
    pub checkpointing: Checkpointing,
}

impl Default for LdaParams {
    /// The command line's defaults (the corpus is an empty docword path, to be set): K = 50
    /// topics, 100 iterations, alpha 0.1, beta 0.01, the log-likelihood after every iteration.
    fn default() -> Self {
        let topics = 50;
        LdaParams {
            corpus: CorpusSource {
                path: std::path::PathBuf::new(),
                format: strads_io::corpus::CorpusFormat::Docword,
                vocab: None,
                min_count: 1,
                stopwords: None,
                in_memory: None,
            },
            topics,
            iterations: 100,
            alpha: 0.1,
            beta: 0.01,
            seed: 1,
            sampler: SamplerKind::tuned(topics, SamplerKind::DEFAULT_MH_CYCLES),
            loglik_every: 1,
            check_counts: false,
            doc_topics: false,
            checkpointing: Checkpointing::default(),
        }
    }
}

/// One line of the trace: the state after an iteration.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct TraceRecord {
    /// Iterations done.
    pub iteration: usize,
    /// Seconds of training so far (loading excluded).
    pub seconds: f64,
    /// `log p(w, z)`.
    pub loglik: f64,
    /// `log p(w, z)` divided by the number of tokens.
    pub loglik_per_token: f64,
    /// Tokens sampled per second so far (all iterations, all workers).
    pub tokens_per_second: f64,
}

/// Called on the leader after each log-likelihood evaluation (for progress displays).
pub type Observer = crate::runner::Observer<TraceRecord>;

/// The trained model, returned by process 0.
#[derive(Clone, Debug)]
pub struct LdaResult {
    /// Topics `K`.
    pub topics: usize,
    /// Vocabulary size `W`.
    pub words: usize,
    /// Documents `D`.
    pub docs: u64,
    /// Tokens.
    pub tokens: u64,
    /// Iterations done.
    pub iterations: usize,
    /// `log p(w, z)` after the last iteration.
    pub loglik: f64,
    /// `n_k`.
    pub topic_totals: Vec<u64>,
    /// `n_kw` by word (0-based), as `(topic, count)` pairs with positive counts, by topic.
    pub word_topic: Vec<Vec<(u32, u32)>>,
    /// `n_dk` of the non-empty documents, `(doc id, [(topic, count)])`, when asked for.
    pub doc_topic: Option<DocTopicRows>,
    /// Word names, when known.
    pub vocabulary: Option<Vec<String>>,
    /// One record per log-likelihood evaluation.
    pub trace: Vec<TraceRecord>,
    /// Seconds from start to the initial counts in place.
    pub load_seconds: f64,
    /// Seconds of training.
    pub train_seconds: f64,
    /// How many count-consistency checks passed.
    pub count_checks: usize,
    /// Per process, process 0 first, gathered at the end of a successful run: the bytes of the
    /// corpus it read, the tokens its workers hold (over all processes, every token once) and
    /// its peak memory.
    pub processes: Vec<strads_engine::ProcessFigures>,
}

impl LdaResult {
    /// `log p(w, z)` per token.
    pub fn loglik_per_token(&self) -> f64 {
        self.loglik / self.tokens as f64
    }

    /// Tokens sampled per second over the whole training.
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 * self.iterations as f64 / self.train_seconds
    }

    /// The topic-word distributions `phi_kw = (n_kw + b) / (n_k + W b)`, dense, K x W.
    pub fn topic_word_distributions(&self, beta: f64) -> Vec<Vec<f64>> {
        let w_beta = self.words as f64 * beta;
        let mut phi: Vec<Vec<f64>> = self
            .topic_totals
            .iter()
            .map(|&n| vec![beta / (n as f64 + w_beta); self.words])
            .collect();
        for (w, row) in self.word_topic.iter().enumerate() {
            for &(k, c) in row {
                let k = k as usize;
                phi[k][w] = (f64::from(c) + beta) / (self.topic_totals[k] as f64 + w_beta);
            }
        }
        phi
    }
}

/// Bytes one process needs to train (an estimate that errs on the high side): every worker's
/// dense `W x K` word-topic counts (and as much again for the rows it packs and receives), its
/// per-word sums, its log-gamma tables; per token of the process's share, its topic and layout
/// (`z`, document, slot, word and order: 18 bytes) and its cell; per non-empty document, its
/// topic counts; on process 0 the `K x W` topic-word distributions written by `--topics-out`.
pub fn memory_needed(
    topics: usize,
    threads: usize,
    workers: usize,
    words: usize,
    tokens: u64,
    docs: u64,
) -> u128 {
    let (k, threads, workers, words) = (
        topics as u128,
        threads as u128,
        workers.max(1) as u128,
        words as u128,
    );
    let share = |n: u128| (n * threads).div_ceil(workers);
    let docs = u128::from(docs.min(tokens));
    threads * (words * (8 * k + 40) + (2 << 20) * 8)
        + share(u128::from(tokens)) * 24
        + share(docs) * k * 4
        + words * k * 8
}

fn validate(params: &LdaParams) -> Result<(), AppError> {
    use crate::error::Parameter as P;
    let bad = |parameter, requirement: &str, value: &dyn std::fmt::Display| {
        Err(AppError::invalid(parameter, requirement, value))
    };
    if params.topics == 0 || params.topics > (1 << 24) {
        return bad(P::Topics, "in 1..=16777216", &params.topics);
    }
    if !(params.alpha > 0.0 && params.alpha.is_finite()) {
        return bad(P::Alpha, "> 0", &params.alpha);
    }
    if !(params.beta > 0.0 && params.beta.is_finite()) {
        return bad(P::Beta, "> 0", &params.beta);
    }
    if let SamplerKind::Mh { cycles } = params.sampler {
        if !(1..=kernels::MAX_CYCLES).contains(&cycles) {
            return bad(
                P::MhCycles,
                &format!("in 1..={}", kernels::MAX_CYCLES),
                &cycles,
            );
        }
    }
    Ok(())
}

/// Trains on `cluster`; returns the model in process 0 and `None` in the others.
pub fn train(
    cluster: &ClusterConfig,
    params: &LdaParams,
    hooks: Hooks<TraceRecord>,
) -> Result<Option<LdaResult>, AppError> {
    run_app::<program::Training>(cluster, params, hooks)
}
