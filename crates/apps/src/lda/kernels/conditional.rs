//! The exact collapsed conditional: the O(K) reference and the sparse (SparseLDA) sampler.

use super::FastRng;

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
///
/// A token's draw waits on little: `1 / (n_k + W b)` is also kept for `n_k - 1` and `n_k + 1`,
/// so moving a token needs no division before the next draw (the division for the new
/// neighbour is not waited on); `Q` is summed in four independent partial sums; and each word's
/// list of nonzero topics is kept roughly largest count first (sorted when a slice is loaded,
/// a topic moved ahead when a draw makes it outnumber the one before), so that the search
/// usually stops at its first entries.
#[derive(Clone, Debug, Default)]
pub struct SparseConditional {
    topics: usize,
    alpha: f64,
    beta: f64,
    w_beta: f64,
    /// `1 / (n_k + W b)`, and the same for `n_k - 1` and `n_k + 1` (`below`, `above`).
    inverse_total: Vec<f64>,
    inverse_below: Vec<f64>,
    inverse_above: Vec<f64>,
    /// `c_k` of the current document, and `C`.
    coef: Vec<f64>,
    coef_sum: f64,
    /// What [`SparseConditional::remove_token`] overwrote, restored when the token comes back to
    /// the same topic (common once the chain has mixed), which saves a division and keeps `C`
    /// free of rounding drift.
    removed: Option<Removed>,
    /// The nonzero topics of each word of the current slice (`topics` slots per word, the
    /// first `word_nonzeros[w]` used), roughly largest count first.
    first_word: usize,
    word_nonzero: Vec<u16>,
    word_nonzeros: Vec<u32>,
}

/// A topic's cached values before a token left it.
#[derive(Clone, Copy, Debug)]
struct Removed {
    topic: usize,
    inverse: [f64; 3],
    coef: f64,
    coef_sum: f64,
}

/// A drawn topic, and its place in its word's list of nonzero topics when the draw fell in the
/// word bucket (the place [`SparseConditional::add_token`] moves it ahead from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    /// The topic.
    pub topic: usize,
    /// Its index in the word's list, if the draw came from the word bucket.
    pub slot: Option<usize>,
}

impl SparseConditional {
    /// Takes the priors and the totals `n_.`.
    pub fn load_totals(&mut self, topic_total: &[i64], priors: &Priors) {
        self.topics = topic_total.len();
        self.alpha = priors.alpha;
        self.beta = priors.beta;
        self.w_beta = priors.words as f64 * priors.beta;
        let inverse = |n_k: i64| 1.0 / (n_k as f64 + priors.words as f64 * priors.beta);
        self.inverse_total.clear();
        self.inverse_total
            .extend(topic_total.iter().map(|&n_k| inverse(n_k)));
        self.inverse_below.clear();
        self.inverse_below
            .extend(topic_total.iter().map(|&n_k| inverse(n_k - 1)));
        self.inverse_above.clear();
        self.inverse_above
            .extend(topic_total.iter().map(|&n_k| inverse(n_k + 1)));
        self.coef.resize(self.topics, 0.0);
        self.removed = None;
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
        let inverse = [
            self.inverse_below[k],
            self.inverse_total[k],
            self.inverse_above[k],
        ];
        self.removed = Some(Removed {
            topic: k,
            inverse,
            coef: self.coef[k],
            coef_sum: self.coef_sum,
        });
        // n_k went down by one: its neighbours move down, and the new one below is computed
        // off the path of the next draw.
        self.inverse_above[k] = inverse[1];
        self.inverse_total[k] = inverse[0];
        self.inverse_below[k] = 1.0 / ((n_k - 1) as f64 + self.w_beta);
        self.set_coef(k, n_dk);
        if n_kw == 0 {
            let list = self.word_list(word);
            // It was a count of 1, near the list's end (the order is only kept roughly); the
            // entries after it move up, keeping the order.
            let at = list
                .iter()
                .rposition(|&t| usize::from(t) == k)
                .expect("a topic with a token is in its word's list");
            list.copy_within(at + 1.., at);
            self.word_nonzeros[word - self.first_word] -= 1;
        }
    }

    /// Topic `k` has gained a token of `word`: `n_dk`, `n_kw`, `n_k` are the counts with it;
    /// `slot` is where [`SparseConditional::sample`] found `k` in the word's list, if it did.
    #[inline]
    pub fn add_token(
        &mut self,
        word: usize,
        k: usize,
        slot: Option<usize>,
        word_topic: &[u32],
        n_dk: u32,
        n_k: i64,
    ) {
        match self.removed.take() {
            // Back where it was: the counts are those before the removal.
            Some(removed) if removed.topic == k => {
                [
                    self.inverse_below[k],
                    self.inverse_total[k],
                    self.inverse_above[k],
                ] = removed.inverse;
                self.coef[k] = removed.coef;
                self.coef_sum = removed.coef_sum;
            }
            _ => {
                // n_k went up by one: its neighbours move up.
                self.inverse_below[k] = self.inverse_total[k];
                self.inverse_total[k] = self.inverse_above[k];
                self.inverse_above[k] = 1.0 / ((n_k + 1) as f64 + self.w_beta);
                self.set_coef(k, n_dk);
            }
        }
        let n_kw = word_topic[k];
        if n_kw == 1 {
            // A count of 1 is the smallest: the list's end keeps the order.
            let used = self.word_nonzeros[word - self.first_word] as usize;
            let at = (word - self.first_word) * self.topics;
            self.word_nonzero[at + used] = k as u16;
            self.word_nonzeros[word - self.first_word] += 1;
        } else if let Some(mut i) = slot {
            // Move it ahead of the entries it now outnumbers, to keep the list largest first.
            let list = self.word_list(word);
            while i > 0 && word_topic[usize::from(list[i - 1])] < n_kw {
                list.swap(i - 1, i);
                i -= 1;
            }
        }
    }

    /// The topics in `word`'s list, in the list's order.
    #[cfg(test)]
    pub(super) fn word_topics(&self, word: usize) -> Vec<u16> {
        let at = (word - self.first_word) * self.topics;
        let used = self.word_nonzeros[word - self.first_word] as usize;
        self.word_nonzero[at..at + used].to_vec()
    }

    /// The used part of `word`'s list of nonzero topics.
    fn word_list(&mut self, word: usize) -> &mut [u16] {
        let at = (word - self.first_word) * self.topics;
        let used = self.word_nonzeros[word - self.first_word] as usize;
        &mut self.word_nonzero[at..at + used]
    }

    /// `c_k` from the current `1 / (n_k + W b)` and `n_dk`, and `C` with it.
    #[inline]
    fn set_coef(&mut self, k: usize, n_dk: u32) {
        let coef = (f64::from(n_dk) + self.alpha) * self.inverse_total[k];
        self.coef_sum += coef - self.coef[k];
        self.coef[k] = coef;
    }

    /// Draws the topic of a token of `word` (in the loaded slice, with counts `word_topic`) of
    /// the loaded document; the counts must be those without the token.
    #[inline]
    pub fn sample(&self, word: usize, word_topic: &[u32], rng: &mut FastRng) -> Draw {
        let at = (word - self.first_word) * self.topics;
        let used = self.word_nonzeros[word - self.first_word] as usize;
        let nonzero = &self.word_nonzero[at..at + used];
        // Both K long: the compiler checks the topics against one bound.
        let coef = &self.coef[..self.topics];
        let counts = &word_topic[..self.topics];
        let weigh = |t: u16| coef[usize::from(t)] * f64::from(counts[usize::from(t)]);
        let word_total = sum_in_lanes(nonzero, weigh);
        let prior_total = self.beta * self.coef_sum.max(0.0);
        let mut u = rng.unit() * (word_total + prior_total);
        if u < word_total {
            // Recomputing the few products is cheaper than storing and reloading them.
            // (Rounding may leave u past the last one: the last topic is as good as any.)
            let i = nonzero
                .iter()
                .position(|&t| {
                    u -= weigh(t);
                    u < 0.0
                })
                .unwrap_or(used - 1);
            return Draw {
                topic: usize::from(nonzero[i]),
                slot: Some(i),
            };
        }
        // The prior bucket, in units of b: one subtraction per topic.
        u = (u - word_total) / self.beta;
        for (k, &c) in coef.iter().enumerate() {
            u -= c;
            if u < 0.0 {
                return Draw {
                    topic: k,
                    slot: None,
                };
            }
        }
        Draw {
            topic: self.topics - 1,
            slot: None,
        }
    }
}

/// The sum of `value(x)` over `items`, in four partial sums so that each addition need not wait
/// for the one before.
#[inline]
fn sum_in_lanes<T: Copy>(items: &[T], value: impl Fn(T) -> f64) -> f64 {
    let quads = items.chunks_exact(4);
    let rest: f64 = quads.remainder().iter().map(|&x| value(x)).sum();
    let mut lanes = [0.0; 4];
    for q in quads {
        for j in 0..4 {
            lanes[j] += value(q[j]);
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + rest
}
