//! LDA kernels: the exact collapsed conditional, the O(1) Metropolis-Hastings resampler, and the
//! random numbers and alias tables it uses. Plain functions over slices; no cluster, no files.
//!
//! The target of every resampling step is the collapsed conditional of token `i` (word `w`, doc
//! `d`), with all counts excluding token `i` itself:
//!
//! ```text
//! p(z_i = k | rest)  ∝  (n_dk + alpha) (n_kw + beta) / (n_k + W beta)
//! ```
//!
//! [`exact_conditional`] computes it in O(K) (the reference the tests check against).
//! [`resample_token`] reaches it in O(1) per token by cycling two Metropolis-Hastings steps, as in
//! LightLDA, whose proposals are cheap to draw:
//!
//! - the **word proposal** `q_w(k) ∝ s_kw + beta`, where `s_w` is a snapshot of the word's row
//!   taken when the sampler started on the word: with probability `n_w / (n_w + K beta)` a draw
//!   from an alias table over the snapshot's nonzeros, otherwise a uniform topic. It does not
//!   depend on the token's current topic, so the MH ratio is
//!   `a = [(n_dk' + alpha)(n_k'w + beta)(n_k + W beta)(s_kw + beta)] / [(n_dk + alpha)(n_kw + beta)(n_k' + W beta)(s_k'w + beta)]`.
//! - the **doc proposal** `q_d(k) ∝ n_dk + alpha` (counts excluding token i): with probability
//!   `(n_d - 1) / (n_d - 1 + K alpha)` the topic of another token of the document chosen
//!   uniformly, otherwise a uniform topic. The MH ratio is
//!   `a = [(n_k'w + beta)(n_k + W beta)] / [(n_kw + beta)(n_k' + W beta)]`.
//!
//! Both proposals are valid MH proposals (they are fixed while the token moves), so each step
//! leaves the exact conditional invariant; the goodness-of-fit test checks exactly that.

/// A xoshiro256++ generator (Blackman & Vigna), seeded by SplitMix64: fast, and the same on every
/// platform, so a seed fixes a run.
#[derive(Clone, Debug)]
pub struct FastRng {
    s: [u64; 4],
}

impl FastRng {
    /// A generator for `stream` (e.g. a worker index) of `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut x = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        FastRng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The generator's state (for a checkpoint).
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// The generator whose state is `state` (from [`FastRng::state`]).
    pub fn from_state(state: [u64; 4]) -> Self {
        FastRng { s: state }
    }

    /// 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..n` (multiply-shift; the bias is below `n / 2^64`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform real in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// An alias table (Walker / Vose) over integer weights, exact: entry `i` is drawn with
/// probability `weight_i / total`.
///
/// Bin `b` holds `topic[b]` with integer threshold `cut[b]` out of `total` and `alias[b]` above it.
#[derive(Clone, Debug, Default)]
pub struct AliasTable {
    topic: Vec<u32>,
    alias: Vec<u32>,
    cut: Vec<u64>,
    total: u64,
    small: Vec<(u32, u64)>,
    large: Vec<(u32, u64)>,
}

impl AliasTable {
    /// Rebuilds the table over `(topic, weight)` pairs with positive weights, reusing its buffers.
    pub fn rebuild(&mut self, entries: impl Iterator<Item = (u32, u64)>) {
        self.topic.clear();
        self.alias.clear();
        self.cut.clear();
        self.small.clear();
        self.large.clear();
        let mut total = 0u64;
        let mut count = 0u64;
        for (topic, weight) in entries {
            total += weight;
            count += 1;
            self.topic.push(topic);
            self.alias.push(topic);
            self.cut.push(0);
            self.small.push((topic, weight));
        }
        self.total = total;
        // Scaled weights: weight * count; a full bin holds `total`.
        let entries = std::mem::take(&mut self.small);
        for (bin, (_, weight)) in entries.iter().enumerate() {
            let scaled = weight * count;
            if scaled < total {
                self.small.push((bin as u32, scaled));
            } else {
                self.large.push((bin as u32, scaled));
            }
        }
        while let (Some(&(small, small_mass)), Some(&(large, large_mass))) =
            (self.small.last(), self.large.last())
        {
            self.small.pop();
            self.large.pop();
            self.cut[small as usize] = small_mass;
            self.alias[small as usize] = self.topic[large as usize];
            let rest = large_mass - (total - small_mass);
            if rest < total {
                self.small.push((large, rest));
            } else {
                self.large.push((large, rest));
            }
        }
        // What is left is full (up to nothing, in integers exactly).
        for &(bin, _) in self.small.iter().chain(&self.large) {
            self.cut[bin as usize] = total;
        }
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.topic.is_empty()
    }

    /// Draws a topic.
    #[inline]
    pub fn sample(&self, rng: &mut FastRng) -> u32 {
        let bin = rng.below(self.topic.len() as u64) as usize;
        if rng.below(self.total) < self.cut[bin] {
            self.topic[bin]
        } else {
            self.alias[bin]
        }
    }
}

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

/// The exact collapsed conditional drawn sparsely (after SparseLDA, Yao, Mimno and McCallum
/// 2009): the sampler for small K, tested against [`exact_conditional`].
///
/// With the document's coefficients `c_k = (n_dk + a) / (n_k + W b)`,
/// `p_k = (n_dk + a)(n_kw + b) / (n_k + W b) = c_k n_kw + b c_k`: a word bucket
/// `Q = sum_k c_k n_kw`, summed over the word's nonzero topics only (after the first iterations
/// a handful), and a prior bucket `b C` with `C = sum_k c_k`, kept current by the two topics each
/// token moves between. `Q` holds nearly all the mass, so a token usually costs one pass over its
/// word's topics; the O(K) scan of the prior bucket is rare.
#[derive(Clone, Debug, Default)]
pub struct SparseConditional {
    topics: usize,
    alpha: f64,
    beta: f64,
    w_beta: f64,
    /// `1 / (n_k + W b)`.
    inverse_total: Vec<f64>,
    /// `c_k` of the current document, and `C`.
    coef: Vec<f64>,
    coef_sum: f64,
    /// What [`SparseConditional::remove_token`] overwrote: `(k, 1 / (n_k + W b), c_k, C)`,
    /// restored when the token comes back to the same topic (common once the chain has mixed),
    /// which saves a division and keeps `C` free of rounding drift.
    removed: Option<(usize, f64, f64, f64)>,
    /// The nonzero topics of each word of the current slice (`topics` slots per word, the
    /// first `word_nonzeros[w]` used), largest counts first when the slice was loaded.
    first_word: usize,
    word_nonzero: Vec<u16>,
    word_nonzeros: Vec<u32>,
}

impl SparseConditional {
    /// Takes the priors and the totals `n_.`.
    pub fn load_totals(&mut self, topic_total: &[i64], priors: &Priors) {
        self.topics = topic_total.len();
        self.alpha = priors.alpha;
        self.beta = priors.beta;
        self.w_beta = priors.words as f64 * priors.beta;
        self.inverse_total.clear();
        self.inverse_total.extend(
            topic_total
                .iter()
                .map(|&n_k| 1.0 / (n_k as f64 + self.w_beta)),
        );
        self.coef.resize(self.topics, 0.0);
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
            let mut used = 0;
            for (topic, &n) in row.iter().enumerate() {
                if n > 0 {
                    slots[used] = topic as u16;
                    used += 1;
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
        for ((coef, &inverse), &n) in self.coef.iter_mut().zip(&self.inverse_total).zip(doc_topic) {
            *coef = (f64::from(n) + alpha) * inverse;
            sum += *coef;
        }
        self.coef_sum = sum;
    }

    /// Topic `k` has lost a token of `word`: `n_dk`, `n_kw`, `n_k` are the counts without it.
    #[inline]
    pub fn remove_token(&mut self, word: usize, k: usize, n_dk: u32, n_kw: u32, n_k: i64) {
        self.removed = Some((k, self.inverse_total[k], self.coef[k], self.coef_sum));
        self.refresh(k, n_dk, n_k);
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
        match self.removed.take() {
            // Back where it was: the counts are those before the removal.
            Some((removed, inverse, coef, coef_sum)) if removed == k => {
                self.inverse_total[k] = inverse;
                self.coef[k] = coef;
                self.coef_sum = coef_sum;
            }
            _ => self.refresh(k, n_dk, n_k),
        }
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

    #[inline]
    fn refresh(&mut self, k: usize, n_dk: u32, n_k: i64) {
        let inverse = 1.0 / (n_k as f64 + self.w_beta);
        self.inverse_total[k] = inverse;
        let coef = (f64::from(n_dk) + self.alpha) * inverse;
        self.coef_sum += coef - self.coef[k];
        self.coef[k] = coef;
    }

    /// Draws the topic of a token of `word` (in the loaded slice, with counts `word_topic`) of
    /// the loaded document; the counts must be those without the token.
    #[inline]
    pub fn sample(&mut self, word: usize, word_topic: &[u32], rng: &mut FastRng) -> usize {
        let at = (word - self.first_word) * self.topics;
        let used = self.word_nonzeros[word - self.first_word] as usize;
        let nonzero = &self.word_nonzero[at..at + used];
        let coef = &self.coef;
        let weigh = |t: u16| coef[usize::from(t)] * f64::from(word_topic[usize::from(t)]);
        let word_total: f64 = nonzero.iter().map(|&t| weigh(t)).sum();
        let prior_total = self.beta * self.coef_sum.max(0.0);
        let mut u = rng.unit() * (word_total + prior_total);
        if u < word_total {
            // Recomputing the few products is cheaper than storing and reloading them.
            for &t in nonzero {
                u -= weigh(t);
                if u < 0.0 {
                    return usize::from(t);
                }
            }
            // Rounding: u fell past the last term; the last topic is as good as any.
            return usize::from(nonzero[used - 1]);
        }
        u -= word_total;
        for (k, &c) in coef.iter().enumerate() {
            u -= self.beta * c;
            if u < 0.0 {
                return k;
            }
        }
        self.topics - 1
    }
}

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
        self.tokens = self.table.total;
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

/// `lnG(n + c) - lnG(c)` for integer `n`, tabulated up to a bound and computed beyond it.
#[derive(Clone, Debug)]
pub struct LogGammaTable {
    c: f64,
    ln_gamma_c: f64,
    table: Vec<f64>,
}

/// Largest table the log-likelihood precomputes (entries beyond are computed on demand).
const MAX_TABLE: usize = 1 << 20;

impl LogGammaTable {
    /// The table of `lnG(n + c) - lnG(c)` for `n in 0..=max_n` (at most 2^20 entries).
    pub fn new(c: f64, max_n: usize) -> Self {
        let ln_gamma_c = ln_gamma(c);
        let table = (0..=max_n.min(MAX_TABLE))
            .map(|n| ln_gamma(n as f64 + c) - ln_gamma_c)
            .collect();
        LogGammaTable {
            c,
            ln_gamma_c,
            table,
        }
    }

    /// `lnG(n + c) - lnG(c)`.
    #[inline]
    pub fn get(&self, n: u64) -> f64 {
        match self.table.get(n as usize) {
            Some(&value) => value,
            None => ln_gamma(n as f64 + self.c) - self.ln_gamma_c,
        }
    }
}

/// The natural logarithm of the gamma function (libm's `lgamma`).
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The document part of `log p(z)` for documents given as dense topic-count rows of length K:
/// `sum_d [ lnG(K a) - lnG(n_d + K a) + sum_k (lnG(n_dk + a) - lnG(a)) ]`, which is
/// `D [lnG(K a) - K lnG(a)] + sum_d [ sum_k lnG(n_dk + a) - lnG(n_d + K a) ]` term by term.
pub fn doc_log_likelihood(
    doc_topic: &[u32],
    n_topics: usize,
    alpha: f64,
    table: &LogGammaTable,
) -> f64 {
    let k_alpha = n_topics as f64 * alpha;
    let ln_gamma_k_alpha = ln_gamma(k_alpha);
    let mut total = 0.0;
    for row in doc_topic.chunks_exact(n_topics) {
        let mut n_d = 0u64;
        let mut sum = 0.0;
        for &c in row {
            if c > 0 {
                n_d += u64::from(c);
                sum += table.get(u64::from(c));
            }
        }
        total += sum + ln_gamma_k_alpha - ln_gamma(n_d as f64 + k_alpha);
    }
    total
}

/// `sum over rows and topics of lnG(n_kw + b) - lnG(b)` for dense word-topic rows.
pub fn word_rows_log_likelihood(word_topic: &[u32], table: &LogGammaTable) -> f64 {
    word_topic
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| table.get(u64::from(c)))
        .sum()
}

/// The rest of `log p(w | z)` given the two sums above: adds
/// `sum_k [lnG(W b) - lnG(n_k + W b)]` to `word_rows` (the sum of `lnG(n_kw + b) - lnG(b)`), which
/// makes `K [lnG(W b) - W lnG(b)] + sum_k [ sum_w lnG(n_kw + b) - lnG(n_k + W b) ]`.
pub fn word_log_likelihood(word_rows: f64, topic_total: &[i64], priors: &Priors) -> f64 {
    let w_beta = priors.words as f64 * priors.beta;
    let ln_gamma_w_beta = ln_gamma(w_beta);
    word_rows
        + topic_total
            .iter()
            .map(|&n| ln_gamma_w_beta - ln_gamma(n as f64 + w_beta))
            .sum::<f64>()
}

/// The collapsed joint log-likelihood `log p(w, z)` straight from the issue's formula, term by
/// term, from dense counts (`doc_topic` D x K, `word_topic` W x K): the slow reference.
pub fn log_likelihood_reference(
    doc_topic: &[u32],
    word_topic: &[u32],
    n_topics: usize,
    alpha: f64,
    beta: f64,
) -> f64 {
    let docs = doc_topic.len() / n_topics;
    let words = word_topic.len() / n_topics;
    let (k, w, d) = (n_topics as f64, words as f64, docs as f64);
    let mut p_w = k * (ln_gamma(w * beta) - w * ln_gamma(beta));
    for topic in 0..n_topics {
        let mut n_k = 0u64;
        for word in 0..words {
            let c = word_topic[word * n_topics + topic];
            n_k += u64::from(c);
            p_w += ln_gamma(f64::from(c) + beta);
        }
        p_w -= ln_gamma(n_k as f64 + w * beta);
    }
    let mut p_z = d * (ln_gamma(k * alpha) - k * ln_gamma(alpha));
    for row in doc_topic.chunks_exact(n_topics) {
        let n_d: u64 = row.iter().map(|&c| u64::from(c)).sum();
        p_z += row
            .iter()
            .map(|&c| ln_gamma(f64::from(c) + alpha))
            .sum::<f64>();
        p_z -= ln_gamma(n_d as f64 + k * alpha);
    }
    p_w + p_z
}

#[cfg(test)]
mod tests {
    use super::*;
    use strads_core::chi_square::{chi_square_critical_001, chi_square_statistic};

    fn draw_from(p: &[f64], rng: &mut FastRng) -> usize {
        let u = rng.unit();
        let mut acc = 0.0;
        for (k, &x) in p.iter().enumerate() {
            acc += x;
            if u < acc {
                return k;
            }
        }
        p.len() - 1
    }

    #[test]
    fn alias_table_is_exact() {
        let mut rng = FastRng::new(5, 0);
        let weights = [(0u32, 1u64), (3, 7), (4, 2), (9, 30), (11, 1)];
        let mut table = AliasTable::default();
        table.rebuild(weights.iter().copied());
        let n = 200_000;
        let mut observed = vec![0u64; 12];
        for _ in 0..n {
            observed[table.sample(&mut rng) as usize] += 1;
        }
        let total: u64 = weights.iter().map(|w| w.1).sum();
        let mut expected = vec![0.0; 12];
        for &(k, w) in &weights {
            expected[k as usize] = n as f64 * w as f64 / total as f64;
        }
        let stat = chi_square_statistic(&observed, &expected);
        assert!(stat < chi_square_critical_001(weights.len() - 1), "{stat}");
        assert_eq!(observed.iter().sum::<u64>(), n);
    }

    /// The fast sampler draws from the exact collapsed conditional: start each draw from the exact
    /// conditional, apply one resampling (word + doc MH steps), and the result must still follow
    /// it (a chain that leaves the target invariant), checked by a chi-square test. The word
    /// proposal's snapshot deliberately differs from the current counts (it is stale).
    #[test]
    fn resampling_leaves_the_exact_conditional_invariant() {
        let priors = Priors {
            alpha: 0.3,
            beta: 0.05,
            words: 40,
        };
        let n_topics = 7;
        // Counts of the rest of the state (without the token).
        let doc_topic: Vec<u32> = vec![3, 0, 1, 0, 5, 2, 0];
        let word_topic: Vec<u32> = vec![0, 4, 1, 0, 9, 0, 2];
        let topic_total: Vec<i64> = vec![40, 31, 12, 5, 77, 20, 9];
        // The document's other tokens carry exactly doc_topic; the token sits in slot 4.
        let mut doc_z = Vec::new();
        for (k, &c) in doc_topic.iter().enumerate() {
            doc_z.extend(std::iter::repeat_n(k as Topic, c as usize));
        }
        let slot = 4;
        doc_z.insert(slot, 0);
        let exact = exact_conditional(&doc_topic, &word_topic, &topic_total, &priors);
        let mut proposal = WordProposal::default();
        proposal.rebuild(&[1, 4, 0, 0, 6, 3, 2]);
        for cycles in [1, 2, MAX_CYCLES] {
            let mut rng = FastRng::new(11, cycles as u64);
            let n = 200_000;
            let mut observed = vec![0u64; n_topics];
            let (mut d, mut w, mut t, mut z) = (
                doc_topic.clone(),
                word_topic.clone(),
                topic_total.clone(),
                doc_z.clone(),
            );
            for _ in 0..n {
                let start = draw_from(&exact, &mut rng);
                d[start] += 1;
                w[start] += 1;
                t[start] += 1;
                z[slot] = start as Topic;
                let state = TokenState {
                    doc_topic: &mut d,
                    word_topic: &mut w,
                    topic_total: &mut t,
                    doc_z: &mut z,
                    slot,
                };
                let draws = TokenDraws::draw(&proposal, n_topics, cycles, priors.beta, &mut rng);
                let k =
                    resample_token(state, &proposal, &priors, cycles, &draws, &mut rng) as usize;
                observed[k] += 1;
                d[k] -= 1;
                w[k] -= 1;
                t[k] -= 1;
            }
            assert_eq!((&d, &w, &t), (&doc_topic, &word_topic, &topic_total));
            let expected: Vec<f64> = exact.iter().map(|p| p * n as f64).collect();
            let stat = chi_square_statistic(&observed, &expected);
            assert!(
                stat < chi_square_critical_001(n_topics - 1),
                "cycles {cycles}: chi-square {stat}, observed {observed:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn sparse_sampler_matches_the_exact_conditional() {
        // A word with few topics and one with all, a document with zeros, and a token moved
        // through the incremental updates (remove from one topic, add to another, a word topic
        // emptied and another created) before sampling from the counts that result.
        let priors = Priors {
            alpha: 0.1,
            beta: 0.01,
            words: 10,
        };
        let mut doc_topic = vec![0u32, 4, 0, 0, 1, 9, 0, 0, 2, 0, 3];
        let mut rows = [
            vec![0u32, 0, 0, 7, 0, 5, 0, 0, 0, 0, 1],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        ];
        let mut topic_total = vec![5i64, 9, 3, 12, 8, 40, 2, 6, 7, 1, 15];
        let k = doc_topic.len();
        let mut sparse = SparseConditional::default();
        sparse.load_totals(&topic_total, &priors);
        sparse.load_words(3, &rows.concat());
        sparse.load_doc(&doc_topic);
        // Word 3's token moves from topic 10 (its only token there) to topic 2.
        for (topic, step) in [(10usize, -1i64), (2, 1)] {
            let apply = |n: u32| (i64::from(n) + step) as u32;
            doc_topic[topic] = apply(doc_topic[topic]);
            rows[0][topic] = apply(rows[0][topic]);
            topic_total[topic] += step;
            let counts = (doc_topic[topic], rows[0][topic], topic_total[topic]);
            if step < 0 {
                sparse.remove_token(3, topic, counts.0, counts.1, counts.2);
            } else {
                sparse.add_token(3, topic, counts.0, counts.1, counts.2);
            }
        }
        for (word, row) in rows.iter().enumerate() {
            let exact = exact_conditional(&doc_topic, row, &topic_total, &priors);
            let mut rng = FastRng::new(5, word as u64);
            let n = 200_000;
            let mut observed = vec![0u64; k];
            for _ in 0..n {
                observed[sparse.sample(3 + word, row, &mut rng)] += 1;
            }
            let expected: Vec<f64> = exact.iter().map(|p| p * n as f64).collect();
            let stat = chi_square_statistic(&observed, &expected);
            assert!(
                stat < chi_square_critical_001(k - 1),
                "word {word}: chi-square {stat}, observed {observed:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn fast_log_likelihood_matches_the_formula() {
        let n_topics = 3;
        let doc_topic = vec![2, 0, 1, 0, 0, 0, 4, 1, 0];
        let word_topic = vec![1, 0, 0, 3, 1, 0, 0, 0, 0, 2, 0, 1];
        let (alpha, beta) = (0.2, 0.07);
        let priors = Priors {
            alpha,
            beta,
            words: 4,
        };
        let reference = log_likelihood_reference(&doc_topic, &word_topic, n_topics, alpha, beta);
        let doc_table = LogGammaTable::new(alpha, 2);
        let word_table = LogGammaTable::new(beta, 1);
        let mut topic_total = vec![0i64; n_topics];
        for row in word_topic.chunks(n_topics) {
            for (k, &c) in row.iter().enumerate() {
                topic_total[k] += i64::from(c);
            }
        }
        let fast = doc_log_likelihood(&doc_topic, n_topics, alpha, &doc_table)
            + word_log_likelihood(
                word_rows_log_likelihood(&word_topic, &word_table),
                &topic_total,
                &priors,
            );
        assert!(
            (fast - reference).abs() < 1e-9 * reference.abs(),
            "{fast} vs {reference}"
        );
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
    }
}
