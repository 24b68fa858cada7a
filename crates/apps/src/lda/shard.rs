//! One worker's part of the sampler state: its documents' tokens and topics, its documents'
//! topic counts, the word-topic rows of the vocabulary block it holds, and its view of `n_k`.
//!
//! Where the tokens sit depends on the sampler, because each walks them in the order that keeps
//! its working set in cache (see [`Layout`]): the Metropolis-Hastings sampler word by word, the
//! exact sampler slice by slice of the vocabulary and, inside a slice, document by document.

use crate::padded::PaddedVec;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use strads_core::prefetch::prefetch_read;
use strads_engine::rotation::Route;

use super::kernels::{
    doc_log_likelihood, nonzero_runs, resample_token, word_rows_log_likelihood, FastRng,
    LogGammaTable, Priors, SparseConditional, TokenDraws, TokenState, Topic, WordProposal,
};
use super::load::LocalDoc;
use super::{DocTopicRows, SamplerKind};
use crate::error::AppError;
use crate::huge::HugeBuffer;

/// How many tokens ahead the Metropolis-Hastings sampler prefetches the memory a token will need.
const LOOKAHEAD: usize = 8;

/// The exact sampler's slices of the vocabulary hold this many bytes of word rows, so that the
/// rows and their nonzero lists stay in a core's L2 cache (512 KiB here) while the documents'
/// rows stream through. (256 KiB measured 12% faster than 1 MiB and 3% faster than 128 KiB at
/// K = 50.)
const EXACT_SLICE_BYTES: usize = 256 * 1024;

/// Rows of a vocabulary block in transit: for each word of the block in order, its number of
/// nonzero topics `m`, then `m` pairs `topic, count`.
pub type PackedRows = Vec<u32>;

/// A block's word-topic rows on their way to the block's next holder.
#[derive(Serialize, Deserialize)]
pub enum HandedRows {
    /// Every count of every word, as held.
    Dense(Vec<u32>),
    /// Only the nonzeros ([`ShardState::pack_rows`]).
    Packed(PackedRows),
}

/// Up to this K a block that stays in the process is handed over as a copy of its rows: a
/// memcpy costs less than finding the nonzeros and scattering them back (on Reuters, K = 50,
/// 2 threads, packing and unpacking took 16% of the CPU), and with few topics the packed rows
/// are not much smaller. Above it rows are sparse and large (K = 1000: 4 kB a word), so
/// packing moves far less memory.
const DENSE_HAND_OVER_MAX_TOPICS: usize = 64;

/// Where the tokens sit. `ShardState::z` holds every local token's topic in the layout's order.
enum Layout {
    /// For the Metropolis-Hastings sampler: `z` in document order (the doc proposal picks
    /// another token of the document), with a word-major index over it: the tokens of word `w`
    /// are entries `word_start[w]..word_start[w + 1]` of `token_doc` (the token's document)
    /// and `token_slot` (its place in `z`). Sampling walks a block word by word, so a word's row
    /// and its proposal stay in cache.
    WordIndexed {
        word_start: Vec<u32>,
        token_doc: Vec<u32>,
        token_slot: Vec<u32>,
    },
    /// For the exact (sparse) sampler: the vocabulary is cut into slices (within the rotation's
    /// blocks) whose word rows fit in cache, and `z` holds the tokens slice by slice, inside a
    /// slice document by document, inside a document by word. One pass over a slice then reads
    /// its tokens and the documents' rows in order and the slice's word rows from cache.
    Sliced {
        slices: Vec<Slice>,
        /// The word of each token (same order as `z`).
        token_word: Vec<u32>,
        /// Visits: a document's run of tokens inside one slice, ending at `visit_end`.
        visit_doc: Vec<u32>,
        visit_end: Vec<u32>,
    },
}

/// A slice of the vocabulary, its visits and its tokens (ranges into the `Sliced` arrays).
struct Slice {
    words: Range<usize>,
    visits: Range<usize>,
    tokens: Range<usize>,
}

/// A worker's sampler state.
pub struct ShardState {
    /// Topics `K`.
    pub n_topics: usize,
    /// Global ids of the local documents.
    pub doc_ids: Vec<u64>,
    /// CSR offsets of the documents' tokens in document order (`n_docs + 1` entries): they index
    /// `z` in the word-indexed layout and give the documents' lengths in both.
    doc_start: Vec<u32>,
    /// Every local token's topic, in the layout's order.
    z: HugeBuffer<Topic>,
    layout: Layout,
    /// `n_dk`, local documents x K.
    doc_topic: HugeBuffer<u32>,
    /// `n_kw` of the words of the block this worker holds (`held`), one row of K per word:
    /// room for the largest block only, since a worker holds one block at a time (at K = 1000
    /// a whole W x K table would be 80 MB per worker on the bench corpus).
    word_topic: HugeBuffer<u32>,
    /// The words whose rows `word_topic` holds.
    held: Range<usize>,
    /// This worker's view of `n_k`: the last synchronised totals plus its own changes since.
    pub topic_total: PaddedVec<i64>,
    proposal: WordProposal,
    sparse: SparseConditional,
}

/// What the Metropolis-Hastings sampler needs to prefetch a token's reads ahead of time.
struct MhAhead<'a> {
    token_doc: &'a [u32],
    token_slot: &'a [u32],
    doc_start: &'a [u32],
    k: usize,
    k_alpha: f64,
    cycles: usize,
}

impl MhAhead<'_> {
    /// Prefetches what resampling token `i` (of the word-major index) with `draws` will read:
    /// its topic, the other tokens its doc proposals pick and its document's counts of its
    /// word-proposal candidates. Prefetches, not loads: a load of a missing line would stall
    /// the core once its out-of-order window fills (measured at K = 1000: loads here cost
    /// about twice the user CPU of prefetches, the same chain).
    #[inline(always)]
    fn prefetch_token(&self, i: usize, draws: &TokenDraws, doc_z: &[Topic], doc_topic: &[u32]) {
        let d = self.token_doc[i] as usize;
        let start = self.doc_start[d] as usize;
        let len = self.doc_start[d + 1] as usize - start;
        let slot = self.token_slot[i] as usize;
        prefetch_read(&doc_z[slot]);
        for c in 0..self.cycles {
            if let Some(j) = draws.doc_slot(c, len, slot - start, self.k_alpha) {
                prefetch_read(&doc_z[start + j]);
            }
            prefetch_read(&doc_topic[d * self.k + draws.word[c] as usize]);
        }
    }
}

/// Local tokens of each word (`words` entries).
pub fn local_word_counts(docs: &[LocalDoc], words: usize) -> Vec<u64> {
    let mut counts = vec![0u64; words];
    for doc in docs {
        for &(word, count) in &doc.words {
            counts[word as usize] += u64::from(count);
        }
    }
    counts
}

impl ShardState {
    /// Lays out the tokens of `docs` for `sampler` (`blocks` are the rotation's vocabulary
    /// blocks) and gives each a uniformly random topic.
    pub fn new(
        docs: &[LocalDoc],
        n_topics: usize,
        words: usize,
        blocks: &[Range<usize>],
        sampler: SamplerKind,
        rng: &mut FastRng,
    ) -> std::io::Result<Self> {
        let slice_words = (EXACT_SLICE_BYTES / (n_topics * size_of::<u32>())).max(1);
        Self::with_slice_words(docs, n_topics, words, blocks, sampler, slice_words, rng)
    }

    /// [`ShardState::new`] with the exact sampler's slices of `slice_words` words.
    fn with_slice_words(
        docs: &[LocalDoc],
        n_topics: usize,
        words: usize,
        blocks: &[Range<usize>],
        sampler: SamplerKind,
        slice_words: usize,
        rng: &mut FastRng,
    ) -> std::io::Result<Self> {
        debug_assert!(blocks.iter().all(|b| b.end <= words));
        let largest_block = blocks.iter().map(|b| b.len()).max().unwrap_or(0);
        let mut doc_start = Vec::with_capacity(docs.len() + 1);
        let mut doc_z = Vec::new();
        let mut doc_topic = HugeBuffer::<u32>::zeroed(docs.len() * n_topics)?;
        doc_start.push(0);
        for (d, doc) in docs.iter().enumerate() {
            debug_assert!(doc.words.windows(2).all(|p| p[0].0 < p[1].0));
            for &(_, count) in &doc.words {
                for _ in 0..count {
                    let k = rng.below(n_topics as u64) as Topic;
                    doc_z.push(k);
                    doc_topic[d * n_topics + k as usize] += 1;
                }
            }
            doc_start.push(doc_z.len() as u32);
        }
        let (layout, order) = match sampler {
            SamplerKind::Mh { .. } => word_indexed_layout(docs, words, &doc_start),
            SamplerKind::Exact => sliced_layout(docs, blocks, slice_words, doc_z.len()),
        };
        let mut z = HugeBuffer::<Topic>::zeroed(doc_z.len())?;
        match order {
            Some(order) => z
                .iter_mut()
                .zip(&order)
                .for_each(|(z, &slot)| *z = doc_z[slot as usize]),
            None => z.copy_from_slice(&doc_z),
        }
        Ok(ShardState {
            n_topics,
            doc_ids: docs.iter().map(|d| d.id).collect(),
            doc_start,
            z,
            layout,
            doc_topic,
            word_topic: HugeBuffer::zeroed(largest_block * n_topics)?,
            held: 0..0,
            topic_total: PaddedVec::filled(n_topics, 0),
            proposal: WordProposal::default(),
            sparse: SparseConditional::default(),
        })
    }

    /// Local tokens.
    pub fn tokens(&self) -> usize {
        self.z.len()
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
        for &k in self.z.iter() {
            counts[k as usize] += 1;
        }
        counts
    }

    /// The word-topic counts of the local tokens of the words in `block`, packed.
    pub fn pack_local_counts(&self, block: Range<usize>) -> PackedRows {
        let k = self.n_topics;
        let mut packed = Vec::new();
        match &self.layout {
            Layout::WordIndexed {
                word_start,
                token_slot,
                ..
            } => {
                let mut row = vec![0u32; k];
                for w in block {
                    let tokens = word_start[w] as usize..word_start[w + 1] as usize;
                    for &slot in &token_slot[tokens] {
                        row[self.z[slot as usize] as usize] += 1;
                    }
                    push_sparse_row(&mut packed, &mut row);
                }
            }
            Layout::Sliced {
                slices, token_word, ..
            } => {
                let mut rows = vec![0u32; block.len() * k];
                for slice in slices_of(slices, &block) {
                    for i in slice.tokens.clone() {
                        let w = token_word[i] as usize - block.start;
                        rows[w * k + usize::from(self.z[i])] += 1;
                    }
                }
                for row in rows.chunks_exact_mut(k) {
                    push_sparse_row(&mut packed, row);
                }
            }
        }
        packed
    }

    /// The current rows of the words in `block`, packed.
    pub fn pack_rows(&self, block: Range<usize>) -> PackedRows {
        let mut packed = Vec::new();
        let k = self.n_topics;
        for row in self.held_rows(&block).chunks_exact(k) {
            push_nonzeros(&mut packed, row);
        }
        packed
    }

    /// The held rows of `block` for its next holder: copied as they are when they stay in this
    /// process and K is small, packed otherwise.
    pub fn hand_over(&self, block: Range<usize>, route: Route) -> HandedRows {
        if route == Route::Moved && self.n_topics <= DENSE_HAND_OVER_MAX_TOPICS {
            HandedRows::Dense(self.held_rows(&block).to_vec())
        } else {
            HandedRows::Packed(self.pack_rows(block))
        }
    }

    /// Makes `block` the held block with the rows its previous holder handed over.
    pub fn take_over(&mut self, block: Range<usize>, rows: HandedRows) -> Result<(), AppError> {
        match rows {
            HandedRows::Dense(rows) => {
                let held = &mut self.word_topic[..block.len() * self.n_topics];
                if rows.len() != held.len() {
                    return Err(AppError::Inconsistent(format!(
                        "words {block:?} handed over with {} counts, expected {}",
                        rows.len(),
                        held.len()
                    )));
                }
                held.copy_from_slice(&rows);
                self.held = block;
            }
            HandedRows::Packed(packed) => self.add_rows(block, &packed, true),
        }
        Ok(())
    }

    /// Adds packed rows of `block` to the held rows; `clear` first to replace them, which makes
    /// `block` the held block (the rows of the block held before must have been packed).
    pub fn add_rows(&mut self, block: Range<usize>, packed: &[u32], clear: bool) {
        let k = self.n_topics;
        if clear {
            self.word_topic[..block.len() * k].fill(0);
            self.held = block.clone();
        }
        assert_eq!(block, self.held, "rows added to a block that is not held");
        let mut at = 0;
        for row in self.word_topic[..block.len() * k].chunks_exact_mut(k) {
            let nonzeros = packed[at] as usize;
            at += 1;
            for _ in 0..nonzeros {
                row[packed[at] as usize] += packed[at + 1];
                at += 2;
            }
        }
        debug_assert_eq!(at, packed.len());
    }

    /// The rows of `block`, which must be the held block.
    fn held_rows(&self, block: &Range<usize>) -> &[u32] {
        assert_eq!(*block, self.held, "the rows of a block that is not held");
        &self.word_topic[..block.len() * self.n_topics]
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
        sum == self.held_rows(&block)
    }

    /// Resamples every local token whose word is in `block` (the block this worker holds).
    pub fn sample_block(
        &mut self,
        block: Range<usize>,
        priors: &Priors,
        sampler: SamplerKind,
        rng: &mut FastRng,
    ) {
        match sampler {
            SamplerKind::Mh { cycles } => self.sample_block_mh(block, priors, cycles, rng),
            SamplerKind::Exact => self.sample_block_exact(block, priors, rng),
        }
    }

    /// The Metropolis-Hastings sampler walks the block word by word, so a word's row and its
    /// alias table stay in cache while its tokens (in random documents) are resampled.
    fn sample_block_mh(
        &mut self,
        block: Range<usize>,
        priors: &Priors,
        cycles: usize,
        rng: &mut FastRng,
    ) {
        let k = self.n_topics;
        let ShardState {
            doc_start,
            z: doc_z,
            layout,
            doc_topic,
            word_topic,
            held,
            topic_total,
            proposal,
            ..
        } = self;
        assert_eq!(block, *held, "sampling a block that is not held");
        let Layout::WordIndexed {
            word_start,
            token_doc,
            token_slot,
        } = layout
        else {
            panic!("the Metropolis-Hastings sampler needs the word-indexed layout");
        };
        let (doc_z, doc_topic, word_topic): (&mut [Topic], &mut [u32], &mut [u32]) =
            (doc_z, doc_topic, word_topic);
        let mut ring = [TokenDraws::default(); LOOKAHEAD];
        for w in block.clone() {
            let tokens = word_start[w] as usize..word_start[w + 1] as usize;
            if tokens.is_empty() {
                continue;
            }
            let at = w - block.start;
            let row = &mut word_topic[at * k..(at + 1) * k];
            proposal.rebuild(row);
            let k_alpha = k as f64 * priors.alpha;
            let (first, end) = (tokens.start, tokens.end);
            // Draws are made LOOKAHEAD tokens early, and the memory they will read is
            // prefetched then (see `prefetch_token`); half-way, the document's count of the
            // token's current topic. The cache misses of several tokens then overlap instead
            // of following one another.
            let ahead = MhAhead {
                token_doc,
                token_slot,
                doc_start,
                k,
                k_alpha,
                cycles,
            };
            for i in first..(first + LOOKAHEAD).min(end) {
                let draws = TokenDraws::draw(proposal, k, cycles, priors.beta, rng);
                ahead.prefetch_token(i, &draws, doc_z, doc_topic);
                ring[i % LOOKAHEAD] = draws;
            }
            for i in first..end {
                let draws = ring[i % LOOKAHEAD];
                if i + LOOKAHEAD < end {
                    let next = TokenDraws::draw(proposal, k, cycles, priors.beta, rng);
                    ahead.prefetch_token(i + LOOKAHEAD, &next, doc_z, doc_topic);
                    ring[i % LOOKAHEAD] = next;
                }
                if i + LOOKAHEAD / 2 < end {
                    let half = i + LOOKAHEAD / 2;
                    let d = token_doc[half] as usize;
                    let z = usize::from(doc_z[token_slot[half] as usize]);
                    prefetch_read(&doc_topic[d * k + z]);
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
    }

    /// The exact sampler walks the block slice by slice and each slice visit by visit (see
    /// [`Layout::Sliced`]): a document's row stays in L1 over its tokens in the slice, the rows
    /// of the slice's words stay in L2, and everything else streams in order. (Word by word,
    /// every token would miss the cache on its document's row.)
    fn sample_block_exact(&mut self, block: Range<usize>, priors: &Priors, rng: &mut FastRng) {
        let k = self.n_topics;
        let ShardState {
            z,
            layout,
            doc_topic,
            word_topic,
            held,
            topic_total,
            sparse,
            ..
        } = self;
        assert_eq!(block, *held, "sampling a block that is not held");
        let Layout::Sliced {
            slices,
            token_word,
            visit_doc,
            visit_end,
        } = layout
        else {
            panic!("the exact sampler needs the sliced layout");
        };
        // The held rows, indexed by global word: row w starts at (w - first) * k.
        let first = block.start;
        let (z, doc_topic, word_topic): (&mut [Topic], &mut [u32], &mut [u32]) =
            (z, doc_topic, word_topic);
        sparse.load_totals(topic_total, priors);
        let topic_total: &mut [i64] = topic_total;
        for slice in slices_of(slices, &block) {
            let words = slice.words.clone();
            sparse.load_words(
                words.start,
                &word_topic[(words.start - first) * k..(words.end - first) * k],
            );
            let mut at = slice.tokens.start;
            for v in slice.visits.clone() {
                let d = visit_doc[v] as usize;
                let doc_row = &mut doc_topic[d * k..(d + 1) * k];
                sparse.load_doc(doc_row);
                let mut moves = sparse.moves();
                let end = visit_end[v] as usize;
                // (Prefetching the word rows and lists of the tokens a few places on, as the
                // MH sampler does, measured 2-3% more user CPU: they come from L2, whose
                // latency the out-of-order window hides.)
                for (&w, z) in token_word[at..end].iter().zip(&mut z[at..end]) {
                    let w = w as usize;
                    let row = &mut word_topic[(w - first) * k..(w - first + 1) * k];
                    let old = usize::from(*z);
                    doc_row[old] -= 1;
                    row[old] -= 1;
                    topic_total[old] -= 1;
                    moves.remove_token(w, old, doc_row[old], row[old], topic_total[old]);
                    let new = moves.sample(w, row, rng);
                    doc_row[new] += 1;
                    row[new] += 1;
                    topic_total[new] += 1;
                    moves.add_token(w, new, doc_row[new], row[new], topic_total[new]);
                    *z = new as Topic;
                }
                at = end;
            }
        }
    }

    /// `sum lnG(n_kw + b) - lnG(b)` over the rows of `block`.
    pub fn word_rows_log_likelihood(&self, block: Range<usize>, table: &LogGammaTable) -> f64 {
        word_rows_log_likelihood(self.held_rows(&block), table)
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

    /// Every local token's topic, in the layout's order (a checkpoint's share of the state).
    pub fn topics(&self) -> &[Topic] {
        &self.z
    }

    /// Replaces every local token's topic with `topics` (from [`ShardState::topics`] of the same
    /// documents and layout) and recounts `n_dk`; the word-topic rows and `n_k` are then
    /// rebuilt by the caller, as after [`ShardState::new`].
    pub fn restore_topics(&mut self, topics: &[Topic]) -> Result<(), String> {
        if topics.len() != self.z.len() {
            return Err(format!(
                "the checkpoint holds {} topic assignments, this worker has {} tokens",
                topics.len(),
                self.z.len()
            ));
        }
        let k = self.n_topics;
        if let Some(bad) = topics.iter().find(|&&t| usize::from(t) >= k) {
            return Err(format!("a topic {bad} is not below K = {k}"));
        }
        self.z.copy_from_slice(topics);
        count_doc_topics(
            &self.layout,
            &self.z,
            &self.doc_start,
            k,
            &mut self.doc_topic,
        );
        Ok(())
    }

    /// Checks the local counts against the topic assignments: `n_dk` recounted from `z`, and
    /// `n_d = sum_k n_dk` equal to the document's length. Returns a description of the first
    /// inconsistency.
    pub fn check_local_counts(&self) -> Result<(), String> {
        let k = self.n_topics;
        let n_docs = self.doc_ids.len();
        let mut recount = vec![0u32; n_docs * k];
        count_doc_topics(&self.layout, &self.z, &self.doc_start, k, &mut recount);
        for d in 0..n_docs {
            let held = &self.doc_topic[d * k..(d + 1) * k];
            if held != &recount[d * k..(d + 1) * k] {
                return Err(format!(
                    "n_dk of document {} disagrees with its z",
                    self.doc_ids[d]
                ));
            }
            let n_d: u64 = held.iter().map(|&c| u64::from(c)).sum();
            if n_d != u64::from(self.doc_start[d + 1] - self.doc_start[d]) {
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
        for row in self.held_rows(&block).chunks_exact(k) {
            for (s, &c) in sums.iter_mut().zip(row) {
                *s += i64::from(c);
            }
        }
        sums
    }
}

/// Counts `n_dk` from the topic assignments `z` into `counts` (D x K, zeroed first), walking
/// the tokens in the layout's order.
fn count_doc_topics(layout: &Layout, z: &[Topic], doc_start: &[u32], k: usize, counts: &mut [u32]) {
    counts.iter_mut().for_each(|c| *c = 0);
    match layout {
        Layout::WordIndexed { .. } => {
            for d in 0..doc_start.len() - 1 {
                let (start, end) = (doc_start[d] as usize, doc_start[d + 1] as usize);
                for &z in &z[start..end] {
                    counts[d * k + usize::from(z)] += 1;
                }
            }
        }
        Layout::Sliced {
            slices,
            visit_doc,
            visit_end,
            ..
        } => {
            for slice in slices {
                let mut at = slice.tokens.start;
                for v in slice.visits.clone() {
                    let d = visit_doc[v] as usize;
                    let end = visit_end[v] as usize;
                    for &z in &z[at..end] {
                        counts[d * k + usize::from(z)] += 1;
                    }
                    at = end;
                }
            }
        }
    }
}

/// Appends `row` (K counts) to `packed` as a sparse row and zeroes it.
fn push_sparse_row(packed: &mut PackedRows, row: &mut [u32]) {
    push_nonzeros(packed, row);
    row.fill(0);
}

/// Appends `row` to `packed` as its count of nonzeros, then `(topic, count)` for each nonzero,
/// topics increasing.
///
/// Rows are handed over every sub-round, so on a small corpus this scan is a large share of an
/// iteration (on Reuters, K = 50, 2 threads: 13% of the CPU with one `if` per count): see
/// [`nonzero_runs`].
fn push_nonzeros(packed: &mut PackedRows, row: &[u32]) {
    let at = packed.len();
    packed.push(0);
    for (first_topic, run) in nonzero_runs(row) {
        let start = packed.len();
        packed.resize(start + 2 * run.len(), 0);
        let out = &mut packed[start..];
        let mut used = 0;
        for (offset, &c) in run.iter().enumerate() {
            // Written either way; kept only if nonzero (`used` advances by 0 or 2).
            out[used] = (first_topic + offset) as u32;
            out[used + 1] = c;
            used += 2 * usize::from(c > 0);
        }
        packed.truncate(start + used);
    }
    packed[at] = ((packed.len() - at - 1) / 2) as u32;
}

/// The word-indexed layout: `z` stays in document order (so no reordering).
fn word_indexed_layout(
    docs: &[LocalDoc],
    words: usize,
    doc_start: &[u32],
) -> (Layout, Option<Vec<u32>>) {
    let mut word_start = vec![0u32; words + 1];
    for doc in docs {
        for &(word, count) in &doc.words {
            word_start[word as usize + 1] += count;
        }
    }
    for w in 0..words {
        word_start[w + 1] += word_start[w];
    }
    let tokens = *doc_start.last().unwrap_or(&0) as usize;
    let mut next = word_start.clone();
    let mut token_doc = vec![0u32; tokens];
    let mut token_slot = vec![0u32; tokens];
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
    let layout = Layout::WordIndexed {
        word_start,
        token_doc,
        token_slot,
    };
    (layout, None)
}

/// The sliced layout, and for each of its tokens the token's place in document order.
fn sliced_layout(
    docs: &[LocalDoc],
    blocks: &[Range<usize>],
    slice_words: usize,
    tokens: usize,
) -> (Layout, Option<Vec<u32>>) {
    // Slices never straddle a block: a block is sampled as a whole by one worker.
    let mut bounds = Vec::new();
    for block in blocks {
        let mut start = block.start;
        while start < block.end {
            bounds.push(start..(start + slice_words).min(block.end));
            start += slice_words;
        }
    }
    let words = blocks.last().map_or(0, |b| b.end);
    let mut slice_of_word = vec![0u32; words];
    for (s, range) in bounds.iter().enumerate() {
        slice_of_word[range.clone()].fill(s as u32);
    }
    // Pass 1: tokens and visits per slice (a document's words are sorted, so its words of one
    // slice are consecutive).
    let n_slices = bounds.len();
    let (mut slice_tokens, mut slice_visits) = (vec![0usize; n_slices], vec![0usize; n_slices]);
    for doc in docs {
        let mut last = None;
        for &(word, count) in &doc.words {
            let s = slice_of_word[word as usize] as usize;
            if last != Some(s) {
                slice_visits[s] += 1;
                last = Some(s);
            }
            slice_tokens[s] += count as usize;
        }
    }
    let mut slices = Vec::with_capacity(n_slices);
    let (mut token_at, mut visit_at) = (0, 0);
    for (s, words) in bounds.into_iter().enumerate() {
        slices.push(Slice {
            words,
            visits: visit_at..visit_at + slice_visits[s],
            tokens: token_at..token_at + slice_tokens[s],
        });
        token_at += slice_tokens[s];
        visit_at += slice_visits[s];
    }
    // Pass 2: place the tokens and visits.
    let mut next_token: Vec<usize> = slices.iter().map(|s| s.tokens.start).collect();
    let mut next_visit: Vec<usize> = slices.iter().map(|s| s.visits.start).collect();
    let mut token_word = vec![0u32; tokens];
    let mut order = vec![0u32; tokens];
    let (mut visit_doc, mut visit_end) = (vec![0u32; visit_at], vec![0u32; visit_at]);
    let mut slot = 0u32;
    for (d, doc) in docs.iter().enumerate() {
        let mut last = None;
        for &(word, count) in &doc.words {
            let s = slice_of_word[word as usize] as usize;
            if last != Some(s) {
                visit_doc[next_visit[s]] = d as u32;
                next_visit[s] += 1;
                last = Some(s);
            }
            for _ in 0..count {
                token_word[next_token[s]] = word;
                order[next_token[s]] = slot;
                next_token[s] += 1;
                slot += 1;
            }
            visit_end[next_visit[s] - 1] = next_token[s] as u32;
        }
    }
    let layout = Layout::Sliced {
        slices,
        token_word,
        visit_doc,
        visit_end,
    };
    (layout, Some(order))
}

/// The slices inside `block` (slices are sorted and never straddle a block).
fn slices_of<'a>(slices: &'a [Slice], block: &Range<usize>) -> &'a [Slice] {
    let first = slices.partition_point(|s| s.words.start < block.start);
    let end = slices.partition_point(|s| s.words.start < block.end);
    &slices[first..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `push_nonzeros` (runs of zeros skipped, the rest compacted without branches) against
    /// the plain definition of a packed row, for K around the run length and every density.
    #[test]
    fn packed_rows_list_every_nonzero_in_topic_order() {
        let mut rng = FastRng::new(3, 0);
        for k in [1usize, 7, 8, 9, 17, 50, 1000] {
            for percent_nonzero in [0u64, 3, 40, 100] {
                let row: Vec<u32> = (0..k)
                    .map(|_| {
                        u32::from(rng.below(100) < percent_nonzero) * (1 + rng.below(9) as u32)
                    })
                    .collect();
                let mut expected = vec![row.iter().filter(|&&c| c > 0).count() as u32];
                for (topic, &c) in row.iter().enumerate().filter(|(_, &c)| c > 0) {
                    expected.extend([topic as u32, c]);
                }
                let mut packed = vec![42]; // appended to, not replaced
                push_nonzeros(&mut packed, &row);
                assert_eq!(
                    packed[1..],
                    expected[..],
                    "k {k}, {percent_nonzero}% nonzero"
                );
                assert_eq!(packed[0], 42);
            }
        }
    }

    /// Documents over `words` words with a few repeated words each.
    fn corpus(docs: usize, words: u32) -> Vec<LocalDoc> {
        (0..docs as u64)
            .map(|id| LocalDoc {
                id,
                words: (0..words)
                    .filter(|w| (u64::from(*w) * 7 + id * 3) % 5 < 2)
                    .map(|w| (w, 1 + (w + id as u32) % 3))
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn the_sliced_layout_holds_every_token_once_in_slice_doc_word_order() {
        let docs = corpus(9, 17);
        let blocks = [0..6, 6..10, 10..17];
        let tokens: usize = docs
            .iter()
            .flat_map(|d| &d.words)
            .map(|&(_, c)| c as usize)
            .sum();
        let (layout, order) = sliced_layout(&docs, &blocks, 3, tokens);
        let Layout::Sliced {
            slices,
            token_word,
            visit_doc,
            visit_end,
        } = layout
        else {
            unreachable!()
        };
        // Slices of at most 3 words, inside the blocks, covering the vocabulary in order.
        let bounds: Vec<_> = slices.iter().map(|s| s.words.clone()).collect();
        assert_eq!(bounds, [0..3, 3..6, 6..9, 9..10, 10..13, 13..16, 16..17]);
        // `order` is a permutation of the document-order slots.
        let mut sorted = order.clone().unwrap();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &s)| i == s as usize));
        // Each slot's word in document order, to check `token_word` against.
        let doc_order_words: Vec<u32> = docs
            .iter()
            .flat_map(|d| &d.words)
            .flat_map(|&(w, c)| std::iter::repeat_n(w, c as usize))
            .collect();
        let mut doc_of_slot = Vec::new();
        for (d, doc) in docs.iter().enumerate() {
            let n: u32 = doc.words.iter().map(|&(_, c)| c).sum();
            doc_of_slot.extend(std::iter::repeat_n(d as u32, n as usize));
        }
        let order = order.unwrap();
        let mut at = 0;
        for slice in &slices {
            assert_eq!(slice.tokens.start, at);
            let mut last_doc = None;
            for v in slice.visits.clone() {
                let end = visit_end[v] as usize;
                assert!(end > at, "a visit holds at least one token");
                // Documents in increasing order, words increasing within a visit.
                assert!(last_doc < Some(visit_doc[v]));
                last_doc = Some(visit_doc[v]);
                for i in at..end {
                    let slot = order[i] as usize;
                    assert_eq!(token_word[i], doc_order_words[slot]);
                    assert_eq!(doc_of_slot[slot], visit_doc[v]);
                    assert!(slice.words.contains(&(token_word[i] as usize)));
                    assert!(i == at || token_word[i - 1] <= token_word[i]);
                }
                at = end;
            }
            assert_eq!(slice.tokens.end, at);
        }
        assert_eq!(at, tokens);
    }

    #[test]
    fn sampling_in_small_slices_keeps_the_counts_consistent() {
        let docs = corpus(12, 23);
        let (k, words) = (5, 23);
        let blocks = [0..11, 11..23];
        let priors = Priors {
            alpha: 0.1,
            beta: 0.01,
            words,
        };
        let mut rng = FastRng::new(1, 0);
        let mut state =
            ShardState::with_slice_words(&docs, k, words, &blocks, SamplerKind::Exact, 2, &mut rng)
                .unwrap();
        let counts = state.local_topic_counts();
        state.topic_total.assign(counts);
        let before = state.z.to_vec();
        // One worker's rotation: each block's rows are taken up (from the tokens, as at the
        // start), sampled, and must still equal the recount of the tokens' topics.
        for _ in 0..20 {
            for block in &blocks {
                let rows = state.pack_local_counts(block.clone());
                state.add_rows(block.clone(), &rows, true);
                state.sample_block(block.clone(), &priors, SamplerKind::Exact, &mut rng);
                let recount = state.pack_local_counts(block.clone());
                assert!(state.rows_equal_sum(block.clone(), &[recount]));
            }
            state.check_local_counts().unwrap();
            assert_eq!(&state.topic_total[..], &state.local_topic_counts()[..]);
        }
        assert_ne!(state.z.to_vec(), before, "the sampler moved no token");
    }
}
