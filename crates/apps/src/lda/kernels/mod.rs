//! LDA kernels: the exact collapsed conditional, the O(1) Metropolis-Hastings resampler, and the
//! random numbers and alias tables it uses. Plain functions over slices; no cluster, no files.
//! One file per concept: [`rng`], [`alias`], [`conditional`] (exact and sparse), [`mh`]
//! (Metropolis-Hastings), [`likelihood`], and [`fold_in`] (topic proportions of new documents
//! under fixed topics).
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

pub mod alias;
pub mod conditional;
pub mod fold_in;
pub mod likelihood;
pub mod mh;
pub mod rng;

pub use alias::AliasTable;
pub use conditional::{exact_conditional, Priors, SparseConditional, TokenMoves};
pub use fold_in::{fold_in, FoldInParams};
pub use likelihood::{
    doc_log_likelihood, ln_gamma, log_likelihood_reference, word_log_likelihood,
    word_rows_log_likelihood, LogGammaTable,
};
pub use mh::{resample_token, TokenDraws, TokenState, Topic, WordProposal, MAX_CYCLES};

/// The runs of 8 consecutive counts of `row` (and its shorter tail) that hold a nonzero, each
/// with the index of its first count.
///
/// For the scans that turn a word's K counts into its few nonzeros every sub-round (packing
/// rows, loading word lists): the nonzeros sit at unpredictable places, so an `if` per count
/// is mispredicted about once per nonzero, while an all-zero run is skipped by one OR of the
/// run (no early exit, so it compiles to a vector test). Callers compact a run without a
/// branch per count.
#[inline]
pub fn nonzero_runs(row: &[u32]) -> impl Iterator<Item = (usize, &[u32])> {
    const RUN: usize = 8;
    let runs = row.chunks_exact(RUN);
    let tail = (row.len() - runs.remainder().len(), runs.remainder());
    runs.enumerate()
        .map(|(i, run)| (i * RUN, run))
        .chain([tail])
        .filter(|(_, run)| run.iter().fold(0, |any, &c| any | c) != 0)
}
pub use rng::FastRng;

#[cfg(test)]
mod tests;
