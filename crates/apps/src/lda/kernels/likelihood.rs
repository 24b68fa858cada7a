//! The collapsed joint log-likelihood `log p(w, z)`: tabulated terms, and a direct reference.

use super::Priors;

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

/// The collapsed joint log-likelihood `log p(w, z)` straight from the formula, term by
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
