//! The exact collapsed conditional: the O(K) reference and the sparse (SparseLDA) sampler.

use super::{nonzero_runs, FastRng};
use crate::padded::PaddedVec;

/// The symmetric Dirichlet priors and the vocabulary size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Priors {
    /// Document-topic prior `alpha`.
    pub alpha: f64,
    /// Topic-word prior `beta`.
    pub beta: f64,
    /// Vocabulary size `W`.
    pub words: usize,
}

/// The exact collapsed conditional `p(z = k | rest)` for `k in 0..K`, normalised, from the counts
/// without the token: `doc_topic` = `n_d.`, `word_topic` = `n_.w`, `topic_total` = `n_.`.
pub fn exact_conditional(
    doc_topic: &[u32],
    word_topic: &[u32],
    topic_total: &[i64],
    priors: &Priors,
) -> Vec<f64> {
    let w_beta = priors.words as f64 * priors.beta;
    let mut p: Vec<f64> = (0..doc_topic.len())
        .map(|k| {
            (f64::from(doc_topic[k]) + priors.alpha) * (f64::from(word_topic[k]) + priors.beta)
                / (topic_total[k] as f64 + w_beta)
        })
        .collect();
    let sum: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= sum);
    p
}

/// One topic's cached terms in [`SparseConditional`].
#[derive(Clone, Copy, Debug, Default)]
struct TopicTerms {
    /// `c_k = (n_dk + a) / (n_k + W b)` of the current document.
    coef: f64,
    /// `1 / (n_k + W b)`, and the same for `n_k - 1` and `n_k + 1`.
    inverse_total: f64,
    inverse_below: f64,
    inverse_above: f64,
}

/// The exact collapsed conditional drawn sparsely (after SparseLDA, Yao, Mimno and McCallum
/// 2009): the sampler for small K, tested against [`exact_conditional`].
///
/// With the document's coefficients `c_k = (n_dk + a) / (n_k + W b)`,
/// `p_k = (n_dk + a)(n_kw + b) / (n_k + W b) = c_k n_kw + b c_k`: a word bucket
/// `Q = sum_k c_k n_kw`, summed over the word's nonzero topics only (after the first iterations
/// a handful), and a prior bucket `b C` with `C = sum_k c_k`, kept current by the two topics each
/// token moves between. `Q` holds nearly all the mass, so a token usually costs one pass over its
/// word's topics; the O(K) scan of the prior bucket is rare.
///
/// Moving a token waits on no division and takes no branch that depends on where it went:
/// `1 / (n_k + W b)` is kept for `n_k - 1` and `n_k + 1` as well (each is a function of `n_k`
/// alone, so the values are those a direct division gives, and the division for the new
/// neighbour is not waited on), and `C` after a token that came back to its topic is the
/// value saved at its removal, chosen without a branch (half the tokens stay, so a branch
/// there is mispredicted often).
#[derive(Clone, Debug, Default)]
pub struct SparseConditional {
    topics: usize,
    alpha: f64,
    beta: f64,
    w_beta: f64,
    /// Per topic `k`: `c_k` of the current document and the cached inverses, side by side so
    /// that moving a token touches one entry (and takes one bounds check) per topic.
    terms: PaddedVec<TopicTerms>,
    /// `C`.
    coef_sum: f64,
    /// The topic [`SparseConditional::remove_token`] last took a token from, and `C` before
    /// it did: restored when the token comes back to the same topic (common once the chain has
    /// mixed), which keeps `C` free of rounding drift.
    removed_topic: usize,
    removed_coef_sum: f64,
    /// The nonzero topics of each word of the current slice (`topics` slots per word, the
    /// first `word_nonzeros[w]` used), largest counts first when the slice was loaded.
    first_word: usize,
    word_nonzero: PaddedVec<u16>,
    word_nonzeros: PaddedVec<u32>,
    /// Scratch for [`SparseConditional::sample`]: the running sums of the word bucket (K + 3).
    word_prefix: PaddedVec<f64>,
}

impl SparseConditional {
    /// Takes the priors and the totals `n_.`.
    pub fn load_totals(&mut self, topic_total: &[i64], priors: &Priors) {
        self.topics = topic_total.len();
        self.alpha = priors.alpha;
        self.beta = priors.beta;
        self.w_beta = priors.words as f64 * priors.beta;
        let w_beta = self.w_beta;
        let inverse = |n_k: i64| 1.0 / (n_k as f64 + w_beta);
        self.terms.assign(topic_total.iter().map(|&n_k| TopicTerms {
            coef: 0.0,
            inverse_total: inverse(n_k),
            inverse_below: inverse(n_k - 1),
            inverse_above: inverse(n_k + 1),
        }));
        self.word_prefix.resize(self.topics + 3, 0.0);
    }

    /// Takes the rows `n_.w` of the words `first_word..` (K counts per word, concatenated).
    pub fn load_words(&mut self, first_word: usize, rows: &[u32]) {
        let k = self.topics;
        self.first_word = first_word;
        let words = rows.len() / k;
        self.word_nonzero.resize(words * k, 0);
        self.word_nonzeros.clear();
        for (row, slots) in rows
            .chunks_exact(k)
            .zip(self.word_nonzero.chunks_exact_mut(k))
        {
            // Every word of every slice, every iteration: the nonzeros by runs
            // (`nonzero_runs`), each topic of a run written and kept only if its count is
            // nonzero. `used <= topic`, so writes stay inside the word's K slots.
            let mut used = 0;
            for (first, run) in nonzero_runs(row) {
                for (offset, &n) in run.iter().enumerate() {
                    slots[used] = (first + offset) as u16;
                    used += usize::from(n > 0);
                }
            }
            // Largest first: the search over the word bucket then usually stops early.
            slots[..used].sort_unstable_by_key(|&t| std::cmp::Reverse(row[usize::from(t)]));
            self.word_nonzeros.push(used as u32);
        }
    }

    /// Takes the counts `n_d.` of the document whose tokens come next (`C` is recomputed, so
    /// rounding cannot accumulate over more than one document's run of tokens).
    pub fn load_doc(&mut self, doc_topic: &[u32]) {
        let alpha = self.alpha;
        let mut sum = 0.0;
        for (term, &n) in self.terms.iter_mut().zip(doc_topic) {
            term.coef = (f64::from(n) + alpha) * term.inverse_total;
            sum += term.coef;
        }
        self.coef_sum = sum;
    }

    /// The per-token operations over plain slices of this state: taken once per run of
    /// tokens, so that a token's moves and draw index slices without re-deriving them.
    #[inline]
    pub fn moves(&mut self) -> TokenMoves<'_> {
        TokenMoves {
            topics: self.topics,
            alpha: self.alpha,
            beta: self.beta,
            w_beta: self.w_beta,
            terms: &mut self.terms[..],
            coef_sum: &mut self.coef_sum,
            removed_topic: &mut self.removed_topic,
            removed_coef_sum: &mut self.removed_coef_sum,
            first_word: self.first_word,
            word_nonzero: &mut self.word_nonzero[..],
            word_nonzeros: &mut self.word_nonzeros[..],
            word_prefix: &mut self.word_prefix[..],
        }
    }

    /// Topic `k` has lost a token of `word`: `n_dk`, `n_kw`, `n_k` are the counts without it.
    pub fn remove_token(&mut self, word: usize, k: usize, n_dk: u32, n_kw: u32, n_k: i64) {
        self.moves().remove_token(word, k, n_dk, n_kw, n_k);
    }

    /// Topic `k` has gained a token of `word`: `n_dk`, `n_kw`, `n_k` are the counts with it.
    pub fn add_token(&mut self, word: usize, k: usize, n_dk: u32, n_kw: u32, n_k: i64) {
        self.moves().add_token(word, k, n_dk, n_kw, n_k);
    }

    /// Draws the topic of a token of `word` (in the loaded slice, with counts `word_topic`) of
    /// the loaded document; the counts must be those without the token.
    pub fn sample(&mut self, word: usize, word_topic: &[u32], rng: &mut FastRng) -> usize {
        self.moves().sample(word, word_topic, rng)
    }

    /// The topics in `word`'s list, in the list's order.
    #[cfg(test)]
    pub(super) fn word_topics(&self, word: usize) -> Vec<u16> {
        let at = (word - self.first_word) * self.topics;
        let used = self.word_nonzeros[word - self.first_word] as usize;
        self.word_nonzero[at..at + used].to_vec()
    }

    /// The distribution [`SparseConditional::sample`] draws from for a token of `word`, from
    /// the cached coefficients, `C` and the word's list (its two buckets, normalised).
    #[cfg(test)]
    pub(super) fn implied_conditional(&self, word: usize, word_topic: &[u32]) -> Vec<f64> {
        let mut mass: Vec<f64> = self.terms.iter().map(|t| self.beta * t.coef).collect();
        let mut word_total = 0.0;
        for t in self.word_topics(word) {
            let t = usize::from(t);
            let weight = self.terms[t].coef * f64::from(word_topic[t]);
            mass[t] += weight;
            word_total += weight;
        }
        let total = word_total + self.beta * self.coef_sum;
        mass.iter().map(|m| m / total).collect()
    }
}

/// [`SparseConditional`]'s per-token operations, over slices of its state (see
/// [`SparseConditional::moves`]).
pub struct TokenMoves<'a> {
    topics: usize,
    alpha: f64,
    beta: f64,
    w_beta: f64,
    terms: &'a mut [TopicTerms],
    coef_sum: &'a mut f64,
    removed_topic: &'a mut usize,
    removed_coef_sum: &'a mut f64,
    first_word: usize,
    word_nonzero: &'a mut [u16],
    word_nonzeros: &'a mut [u32],
    word_prefix: &'a mut [f64],
}

impl TokenMoves<'_> {
    /// Topic `k` has lost a token of `word`: `n_dk`, `n_kw`, `n_k` are the counts without it.
    #[inline]
    pub fn remove_token(&mut self, word: usize, k: usize, n_dk: u32, n_kw: u32, n_k: i64) {
        *self.removed_topic = k;
        *self.removed_coef_sum = *self.coef_sum;
        // n_k went down by one: its cached inverses move down.
        let term = &mut self.terms[k];
        term.inverse_above = term.inverse_total;
        term.inverse_total = term.inverse_below;
        term.inverse_below = 1.0 / ((n_k - 1) as f64 + self.w_beta);
        let coef = (f64::from(n_dk) + self.alpha) * term.inverse_total;
        *self.coef_sum += coef - term.coef;
        term.coef = coef;
        if n_kw == 0 {
            let used = self.word_nonzeros[word - self.first_word] as usize;
            let slots = self.word_slots(word);
            let at = slots[..used]
                .iter()
                .position(|&t| usize::from(t) == k)
                .expect("a topic with a token is in its word's list");
            // Swap-remove: the order (largest first at the slice's start) only speeds the search.
            slots.swap(at, used - 1);
            self.word_nonzeros[word - self.first_word] -= 1;
        }
    }

    /// Topic `k` has gained a token of `word`: `n_dk`, `n_kw`, `n_k` are the counts with it.
    #[inline]
    pub fn add_token(&mut self, word: usize, k: usize, n_dk: u32, n_kw: u32, n_k: i64) {
        // n_k went up by one: its cached inverses move up. (Back where it was, the values are
        // those before the removal: each is the same division of the same n_k.)
        let term = &mut self.terms[k];
        term.inverse_below = term.inverse_total;
        term.inverse_total = term.inverse_above;
        term.inverse_above = 1.0 / ((n_k + 1) as f64 + self.w_beta);
        let coef = (f64::from(n_dk) + self.alpha) * term.inverse_total;
        let moved_sum = *self.coef_sum + (coef - term.coef);
        term.coef = coef;
        // Back where it was: C is the value before the removal (exact, where the two
        // increments would leave rounding), selected by mask rather than by a branch. (Without
        // black_box the compiler turns the mask back into a branch, mispredicted 0.5 times a
        // token under cachegrind.)
        let back = std::hint::black_box(u64::from(k == *self.removed_topic).wrapping_neg());
        *self.coef_sum = f64::from_bits(
            (self.removed_coef_sum.to_bits() & back) | (moved_sum.to_bits() & !back),
        );
        if n_kw == 1 {
            let used = self.word_nonzeros[word - self.first_word] as usize;
            self.word_slots(word)[used] = k as u16;
            self.word_nonzeros[word - self.first_word] += 1;
        }
    }

    fn word_slots(&mut self, word: usize) -> &mut [u16] {
        let at = (word - self.first_word) * self.topics;
        &mut self.word_nonzero[at..at + self.topics]
    }

    /// Draws the topic of a token of `word` (in the loaded slice, with counts `word_topic`) of
    /// the loaded document; the counts must be those without the token.
    #[inline]
    pub fn sample(&mut self, word: usize, word_topic: &[u32], rng: &mut FastRng) -> usize {
        let at = (word - self.first_word) * self.topics;
        let used = self.word_nonzeros[word - self.first_word] as usize;
        let nonzero = &self.word_nonzero[at..at + used];
        // Both K long: the compiler checks each topic against one bound.
        let terms = &self.terms[..self.topics];
        let counts = &word_topic[..self.topics];
        let weigh = |t: u16| terms[usize::from(t)].coef * f64::from(counts[usize::from(t)]);
        // The word bucket's running sums, then +inf up to a multiple of four entries.
        let prefix = &mut self.word_prefix[..used + 3];
        let mut word_total = 0.0;
        for (sum, &t) in prefix.iter_mut().zip(nonzero) {
            word_total += weigh(t);
            *sum = word_total;
        }
        prefix[used..].fill(f64::INFINITY);
        let prior_total = self.beta * self.coef_sum.max(0.0);
        let mut u = rng.unit() * (word_total + prior_total);
        if u < word_total {
            // The drawn topic is the first whose running sum exceeds u, i.e. the number of
            // running sums at or below u: counted four at a time without a branch on u (a
            // search that stops at the topic mispredicts its exit about once a token, and
            // each step waits on the previous subtraction).
            let below: usize = prefix
                .chunks_exact(4)
                .take(used.div_ceil(4))
                .map(|four| four.iter().map(|&sum| usize::from(sum <= u)).sum::<usize>())
                .sum();
            // Rounding can put u on the last sum; the last topic is as good as any then.
            return usize::from(nonzero[below.min(used - 1)]);
        }
        u -= word_total;
        for (k, term) in terms.iter().enumerate() {
            u -= self.beta * term.coef;
            if u < 0.0 {
                return k;
            }
        }
        self.topics - 1
    }
}
