//! One worker's part of the sampler state: its documents' tokens and topics, its documents'
//! topic counts, the word-topic rows of the vocabulary block it holds, and its view of `n_k`.
//!
//! Tokens are stored twice over one topic array: `doc_z` holds every token's topic in document
//! order (so the doc proposal can pick another token of the document), and the word-major index
//! (`word_start`, `token_doc`, `token_slot`) lists, for each word, where its tokens sit in
//! `doc_z`. Sampling walks a block word by word, so a word's row and its proposal stay in cache.

use std::ops::Range;

use super::huge::HugeBuffer;
use super::kernels::{
    doc_log_likelihood, resample_token, sample_exact, word_rows_log_likelihood, FastRng,
    LogGammaTable, Priors, TokenDraws, TokenState, Topic, WordProposal,
};
use super::load::LocalDoc;
use super::{DocTopicRows, SamplerKind};

/// How many tokens ahead the sampler touches the memory a token will need.
const LOOKAHEAD: usize = 8;

/// Rows of a vocabulary block in transit: for each word of the block in order, its number of
/// nonzero topics `m`, then `m` pairs `topic, count`.
pub type PackedRows = Vec<u32>;

/// A worker's sampler state.
pub struct ShardState {
    /// Topics `K`.
    pub n_topics: usize,
    /// Global ids of the local documents.
    pub doc_ids: Vec<u64>,
    /// CSR offsets of the documents into `doc_z` (`n_docs + 1` entries).
    doc_start: Vec<u32>,
    /// Every local token's topic, in document order.
    doc_z: HugeBuffer<Topic>,
    /// CSR offsets of the words into the word-major token lists (`W + 1` entries).
    word_start: Vec<u32>,
    /// Word-major: the local document of each token.
    token_doc: Vec<u32>,
    /// Word-major: the token's slot in `doc_z`.
    token_slot: Vec<u32>,
    /// `n_dk`, local documents x K.
    doc_topic: HugeBuffer<u32>,
    /// `n_kw`, W x K; only the rows of the block this worker holds are current.
    word_topic: HugeBuffer<u32>,
    /// This worker's view of `n_k`: the last synchronised totals plus its own changes since.
    pub topic_total: Vec<i64>,
    proposal: WordProposal,
    cumulative: Vec<f64>,
}

impl ShardState {
    /// Lays out the tokens of `docs` and gives each a uniformly random topic.
    pub fn new(
        docs: &[LocalDoc],
        n_topics: usize,
        words: usize,
        rng: &mut FastRng,
    ) -> std::io::Result<Self> {
        let mut doc_start = Vec::with_capacity(docs.len() + 1);
        let mut doc_z = Vec::new();
        let mut word_count = vec![0u32; words + 1];
        let mut doc_topic = HugeBuffer::<u32>::zeroed(docs.len() * n_topics)?;
        doc_start.push(0);
        for (d, doc) in docs.iter().enumerate() {
            for &(word, count) in &doc.words {
                word_count[word as usize + 1] += count;
                for _ in 0..count {
                    let k = rng.below(n_topics as u64) as Topic;
                    doc_z.push(k);
                    doc_topic[d * n_topics + k as usize] += 1;
                }
            }
            doc_start.push(doc_z.len() as u32);
        }
        let mut word_start = word_count;
        for w in 0..words {
            word_start[w + 1] += word_start[w];
        }
        let mut next = word_start.clone();
        let mut token_doc = vec![0u32; doc_z.len()];
        let mut token_slot = vec![0u32; doc_z.len()];
        for (d, doc) in docs.iter().enumerate() {
            let mut slot = doc_start[d];
            for &(word, count) in &doc.words {
                for _ in 0..count {
                    let position = next[word as usize] as usize;
                    next[word as usize] += 1;
                    token_doc[position] = d as u32;
                    token_slot[position] = slot;
                    slot += 1;
                }
            }
        }
        let mut topics = HugeBuffer::<Topic>::zeroed(doc_z.len())?;
        topics.copy_from_slice(&doc_z);
        Ok(ShardState {
            n_topics,
            doc_ids: docs.iter().map(|d| d.id).collect(),
            doc_start,
            doc_z: topics,
            word_start,
            token_doc,
            token_slot,
            doc_topic,
            word_topic: HugeBuffer::zeroed(words * n_topics)?,
            topic_total: vec![0; n_topics],
            proposal: WordProposal::default(),
            cumulative: Vec::new(),
        })
    }

    /// Local tokens.
    pub fn tokens(&self) -> usize {
        self.doc_z.len()
    }

    /// Local tokens of each word.
    pub fn word_counts(&self) -> Vec<u64> {
        self.word_start
            .windows(2)
            .map(|w| u64::from(w[1] - w[0]))
            .collect()
    }

    /// The longest local document.
    pub fn max_doc_length(&self) -> usize {
        self.doc_start
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }

    /// Local tokens per topic.
    pub fn local_topic_counts(&self) -> Vec<i64> {
        let mut counts = vec![0i64; self.n_topics];
        for &k in self.doc_z.iter() {
            counts[k as usize] += 1;
        }
        counts
    }

    /// The word-topic counts of the local tokens of the words in `block`, packed.
    pub fn pack_local_counts(&self, block: Range<usize>) -> PackedRows {
        let mut packed = Vec::new();
        let mut row = vec![0u32; self.n_topics];
        for w in block {
            let tokens = self.word_start[w] as usize..self.word_start[w + 1] as usize;
            for &slot in &self.token_slot[tokens.clone()] {
                row[self.doc_z[slot as usize] as usize] += 1;
            }
            push_sparse_row(&mut packed, &mut row);
        }
        packed
    }

    /// The current rows of the words in `block`, packed.
    pub fn pack_rows(&self, block: Range<usize>) -> PackedRows {
        let mut packed = Vec::new();
        let k = self.n_topics;
        for w in block {
            let row = &self.word_topic[w * k..(w + 1) * k];
            let nonzeros = row.iter().filter(|&&c| c > 0).count();
            packed.push(nonzeros as u32);
            for (topic, &c) in row.iter().enumerate() {
                if c > 0 {
                    packed.push(topic as u32);
                    packed.push(c);
                }
            }
        }
        packed
    }

    /// Adds packed rows of `block` to the held rows (`clear` first to replace them).
    pub fn add_rows(&mut self, block: Range<usize>, packed: &[u32], clear: bool) {
        let k = self.n_topics;
        if clear {
            self.word_topic[block.start * k..block.end * k].fill(0);
        }
        let mut at = 0;
        for w in block {
            let nonzeros = packed[at] as usize;
            at += 1;
            for _ in 0..nonzeros {
                self.word_topic[w * k + packed[at] as usize] += packed[at + 1];
                at += 2;
            }
        }
        debug_assert_eq!(at, packed.len());
    }

    /// Whether the held rows of `block` equal the sum of `parts` (packed rows of the block).
    pub fn rows_equal_sum(&self, block: Range<usize>, parts: &[PackedRows]) -> bool {
        let k = self.n_topics;
        let mut sum = vec![0u32; (block.end - block.start) * k];
        for packed in parts {
            let mut at = 0;
            for w in 0..block.end - block.start {
                let nonzeros = packed[at] as usize;
                at += 1;
                for _ in 0..nonzeros {
                    sum[w * k + packed[at] as usize] += packed[at + 1];
                    at += 2;
                }
            }
        }
        sum == self.word_topic[block.start * k..block.end * k]
    }

    /// Resamples every local token whose word is in `block` (the block this worker holds).
    pub fn sample_block(
        &mut self,
        block: Range<usize>,
        priors: &Priors,
        sampler: SamplerKind,
        rng: &mut FastRng,
    ) {
        let k = self.n_topics;
        let ShardState {
            doc_start,
            doc_z,
            word_start,
            token_doc,
            token_slot,
            doc_topic,
            word_topic,
            topic_total,
            proposal,
            cumulative,
            ..
        } = self;
        let (doc_z, doc_topic, word_topic): (&mut [Topic], &mut [u32], &mut [u32]) =
            (doc_z, doc_topic, word_topic);
        let mut touched = 0u32;
        let mut ring = [TokenDraws::default(); LOOKAHEAD];
        for w in block {
            let tokens = word_start[w] as usize..word_start[w + 1] as usize;
            if tokens.is_empty() {
                continue;
            }
            let row = &mut word_topic[w * k..(w + 1) * k];
            match sampler {
                SamplerKind::Mh { cycles } => {
                    proposal.rebuild(row);
                    let k_alpha = k as f64 * priors.alpha;
                    let (first, end) = (tokens.start, tokens.end);
                    // Draws are made LOOKAHEAD tokens early (stage A touches the token's topic,
                    // the other tokens its doc proposals read and its document's counts of its
                    // word-proposal candidates); stage B, half-way, touches its document's
                    // count of its current topic. The cache misses of several tokens then
                    // overlap instead of following one another.
                    let stage_a = |i: usize, rng: &mut FastRng, touched: &mut u32| {
                        let draws = TokenDraws::draw(proposal, k, cycles, priors.beta, rng);
                        let d = token_doc[i] as usize;
                        let start = doc_start[d] as usize;
                        let len = doc_start[d + 1] as usize - start;
                        let slot = token_slot[i] as usize;
                        let mut t = u32::from(doc_z[slot]);
                        for c in 0..cycles {
                            if let Some(j) = draws.doc_slot(c, len, slot - start, k_alpha) {
                                t ^= u32::from(doc_z[start + j]);
                            }
                            t ^= doc_topic[d * k + draws.word[c] as usize];
                        }
                        *touched ^= t;
                        draws
                    };
                    for i in first..(first + LOOKAHEAD).min(end) {
                        ring[i % LOOKAHEAD] = stage_a(i, rng, &mut touched);
                    }
                    for i in first..end {
                        let draws = ring[i % LOOKAHEAD];
                        if i + LOOKAHEAD < end {
                            let ahead = i + LOOKAHEAD;
                            let draws = TokenDraws::draw(proposal, k, cycles, priors.beta, rng);
                            let d = token_doc[ahead] as usize;
                            let start = doc_start[d] as usize;
                            let len = doc_start[d + 1] as usize - start;
                            let slot = token_slot[ahead] as usize;
                            let mut t = u32::from(doc_z[slot]);
                            for c in 0..cycles {
                                if let Some(j) = draws.doc_slot(c, len, slot - start, k_alpha) {
                                    t ^= u32::from(doc_z[start + j]);
                                }
                                t ^= doc_topic[d * k + draws.word[c] as usize];
                            }
                            touched ^= t;
                            ring[i % LOOKAHEAD] = draws;
                        }
                        if i + LOOKAHEAD / 2 < end {
                            let half = i + LOOKAHEAD / 2;
                            let d = token_doc[half] as usize;
                            let z = usize::from(doc_z[token_slot[half] as usize]);
                            touched ^= doc_topic[d * k + z];
                        }
                        let d = token_doc[i] as usize;
                        let (start, end) = (doc_start[d] as usize, doc_start[d + 1] as usize);
                        let state = TokenState {
                            doc_topic: &mut doc_topic[d * k..(d + 1) * k],
                            word_topic: row,
                            topic_total,
                            doc_z: &mut doc_z[start..end],
                            slot: token_slot[i] as usize - start,
                        };
                        resample_token(state, proposal, priors, cycles, &draws, rng);
                    }
                }
                SamplerKind::Exact => {
                    for i in tokens {
                        let d = token_doc[i] as usize;
                        let slot = token_slot[i] as usize;
                        let old = doc_z[slot] as usize;
                        let doc_row = &mut doc_topic[d * k..(d + 1) * k];
                        doc_row[old] -= 1;
                        row[old] -= 1;
                        topic_total[old] -= 1;
                        let new = sample_exact(doc_row, row, topic_total, priors, cumulative, rng)
                            as usize;
                        doc_row[new] += 1;
                        row[new] += 1;
                        topic_total[new] += 1;
                        doc_z[slot] = new as Topic;
                    }
                }
            }
        }
        std::hint::black_box(touched);
    }

    /// `sum lnG(n_kw + b) - lnG(b)` over the rows of `block`.
    pub fn word_rows_log_likelihood(&self, block: Range<usize>, table: &LogGammaTable) -> f64 {
        let k = self.n_topics;
        word_rows_log_likelihood(&self.word_topic[block.start * k..block.end * k], table)
    }

    /// The local documents' part of `log p(z)`.
    pub fn doc_log_likelihood(&self, alpha: f64, table: &LogGammaTable) -> f64 {
        doc_log_likelihood(&self.doc_topic, self.n_topics, alpha, table)
    }

    /// The local documents' topic counts as sparse rows `(doc id, [(topic, count)])`.
    pub fn doc_topic_rows(&self) -> DocTopicRows {
        let k = self.n_topics;
        self.doc_ids
            .iter()
            .enumerate()
            .map(|(d, &id)| {
                let row = &self.doc_topic[d * k..(d + 1) * k];
                let sparse = row
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c > 0)
                    .map(|(t, &c)| (t as u32, c))
                    .collect();
                (id, sparse)
            })
            .collect()
    }

    /// Checks the local counts against the topic assignments: `n_dk` recounted from `z`, and
    /// `n_d = sum_k n_dk` equal to the document's length. Returns a description of the first
    /// inconsistency.
    pub fn check_local_counts(&self) -> Result<(), String> {
        let k = self.n_topics;
        let mut row = vec![0u32; k];
        for d in 0..self.doc_ids.len() {
            row.fill(0);
            let (start, end) = (self.doc_start[d] as usize, self.doc_start[d + 1] as usize);
            for &z in &self.doc_z[start..end] {
                row[z as usize] += 1;
            }
            let held = &self.doc_topic[d * k..(d + 1) * k];
            if held != row.as_slice() {
                return Err(format!(
                    "n_dk of document {} disagrees with its z",
                    self.doc_ids[d]
                ));
            }
            let n_d: u64 = held.iter().map(|&c| u64::from(c)).sum();
            if n_d != (end - start) as u64 {
                return Err(format!(
                    "n_d of document {} is not its length",
                    self.doc_ids[d]
                ));
            }
        }
        Ok(())
    }

    /// Per-topic sums of the held rows of `block` (`sum_w n_kw` over the block).
    pub fn block_topic_sums(&self, block: Range<usize>) -> Vec<i64> {
        let k = self.n_topics;
        let mut sums = vec![0i64; k];
        for row in self.word_topic[block.start * k..block.end * k].chunks_exact(k) {
            for (s, &c) in sums.iter_mut().zip(row) {
                *s += i64::from(c);
            }
        }
        sums
    }
}

/// Appends `row` (K counts) to `packed` as a sparse row and zeroes it.
fn push_sparse_row(packed: &mut PackedRows, row: &mut [u32]) {
    let at = packed.len();
    packed.push(0);
    let mut nonzeros = 0;
    for (topic, c) in row.iter_mut().enumerate() {
        if *c > 0 {
            packed.push(topic as u32);
            packed.push(*c);
            *c = 0;
            nonzeros += 1;
        }
    }
    packed[at] = nonzeros;
}
