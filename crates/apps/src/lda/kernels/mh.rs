//! The O(1) Metropolis-Hastings resampler: word and doc proposals cycled per token.

use super::{AliasTable, FastRng, Priors};

/// The word proposal of one word: an alias table over the snapshot `s_w` of its row, the
/// snapshot itself (for the MH ratio) and the word's token count `n_w`.
#[derive(Clone, Debug, Default)]
pub struct WordProposal {
    table: AliasTable,
    snapshot: Vec<u32>,
    tokens: u64,
}

impl WordProposal {
    /// Takes the snapshot of `row` (the word's counts per topic) and builds the alias table.
    pub fn rebuild(&mut self, row: &[u32]) {
        self.snapshot.clear();
        self.snapshot.extend_from_slice(row);
        self.table.rebuild(
            row.iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(k, &c)| (k as u32, u64::from(c))),
        );
        self.tokens = self.table.total();
    }
}

/// A topic index as stored per token (so K is at most 65536).
pub type Topic = u16;

/// Everything a resampling step reads and writes for one token.
pub struct TokenState<'a> {
    /// `n_dk` of the token's document (K entries).
    pub doc_topic: &'a mut [u32],
    /// `n_kw` of the token's word (K entries).
    pub word_topic: &'a mut [u32],
    /// `n_k` (K entries).
    pub topic_total: &'a mut [i64],
    /// The topics of the document's tokens, in document order.
    pub doc_z: &'a mut [Topic],
    /// The token's slot in `doc_z`.
    pub slot: usize,
}

/// The most MH cycles per token.
pub const MAX_CYCLES: usize = 4;

/// A token's proposal draws, made in advance so that the caller can fetch the memory they will
/// touch early (the sampler is memory-bound). They depend only on the word's fixed proposal and
/// the random generator, never on the state, so drawing them early changes no distribution.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenDraws {
    /// Word-proposal candidates, one per cycle.
    pub word: [u32; MAX_CYCLES],
    /// Uniform numbers in `[0, 1)` that pick the doc proposal, one per cycle.
    pub doc: [f64; MAX_CYCLES],
}

impl TokenDraws {
    /// Draws `cycles` word-proposal candidates from `proposal` and `cycles` doc-proposal numbers.
    #[inline]
    pub fn draw(
        proposal: &WordProposal,
        n_topics: usize,
        cycles: usize,
        beta: f64,
        rng: &mut FastRng,
    ) -> Self {
        let mut draws = TokenDraws::default();
        let word_mass = proposal.tokens as f64;
        let total = word_mass + n_topics as f64 * beta;
        for c in 0..cycles {
            draws.word[c] = if rng.unit() * total < word_mass {
                proposal.table.sample(rng)
            } else {
                rng.below(n_topics as u64) as u32
            };
            draws.doc[c] = rng.unit();
        }
        draws
    }

    /// The slot in `0..len` (a document of `len` tokens, the token in `slot`) that the doc
    /// proposal of cycle `c` reads, if it reads one.
    #[inline]
    pub fn doc_slot(&self, c: usize, len: usize, slot: usize, k_alpha: f64) -> Option<usize> {
        let others = len.saturating_sub(1) as f64;
        let u = self.doc[c] * (others + k_alpha);
        (u < others).then(|| {
            let j = u as usize;
            j + usize::from(j >= slot)
        })
    }
}

/// Resamples one token with `draws.len()` rounds of (word-proposal step, doc-proposal step),
/// keeping the counts and `doc_z` in step; returns the new topic. The proposals come from
/// `draws` (made by [`TokenDraws::draw`] from the same `proposal`).
#[inline]
pub fn resample_token(
    token: TokenState<'_>,
    proposal: &WordProposal,
    priors: &Priors,
    cycles: usize,
    draws: &TokenDraws,
    rng: &mut FastRng,
) -> u32 {
    let TokenState {
        doc_topic,
        word_topic,
        topic_total,
        doc_z,
        slot,
    } = token;
    let n_topics = doc_topic.len() as u64;
    let (alpha, beta) = (priors.alpha, priors.beta);
    let w_beta = priors.words as f64 * beta;
    let k_alpha = n_topics as f64 * alpha;
    let old = doc_z[slot] as usize;
    doc_topic[old] -= 1;
    word_topic[old] -= 1;
    topic_total[old] -= 1;

    let mut k = old;
    for cycle in 0..cycles {
        // Word proposal: q(k) ∝ s_kw + beta.
        let candidate = draws.word[cycle] as usize;
        if candidate != k {
            // Accept with probability min(1, numerator / denominator), without dividing.
            let numerator = (f64::from(doc_topic[candidate]) + alpha)
                * (f64::from(word_topic[candidate]) + beta)
                * (topic_total[k] as f64 + w_beta)
                * (f64::from(proposal.snapshot[k]) + beta);
            let denominator = (f64::from(doc_topic[k]) + alpha)
                * (f64::from(word_topic[k]) + beta)
                * (topic_total[candidate] as f64 + w_beta)
                * (f64::from(proposal.snapshot[candidate]) + beta);
            if numerator >= denominator || rng.unit() * denominator < numerator {
                k = candidate;
            }
        }
        // Doc proposal: another token's topic, or a uniform topic.
        let candidate = match draws.doc_slot(cycle, doc_z.len(), slot, k_alpha) {
            Some(j) => doc_z[j] as usize,
            None => rng.below(n_topics) as usize,
        };
        if candidate != k {
            let numerator =
                (f64::from(word_topic[candidate]) + beta) * (topic_total[k] as f64 + w_beta);
            let denominator =
                (f64::from(word_topic[k]) + beta) * (topic_total[candidate] as f64 + w_beta);
            if numerator >= denominator || rng.unit() * denominator < numerator {
                k = candidate;
            }
        }
    }
    doc_topic[k] += 1;
    word_topic[k] += 1;
    topic_total[k] += 1;
    doc_z[slot] = k as Topic;
    k as u32
}
