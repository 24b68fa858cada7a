//! `strads gen lda`: a corpus sampled from the LDA generative model, with its true topics.

use std::path::PathBuf;

use clap::Args;
use strads_io::generate::lda::{generate_lda, LdaSpec};

use crate::failure::{bad_input, Failure};

/// Flags of `strads gen lda`.
///
/// Writes FILE (UCI docword: D, W, NNZ, then `doc word count` lines, 1-based), FILE.vocab (word i
/// is `w<i>`) and FILE.topics (the true topics: one line per topic of `word:probability` pairs,
/// 1-based words, probabilities below 1e-7 left out).
#[derive(Args)]
#[command(
    after_long_help = "Writes FILE (UCI docword: D, W, NNZ, then `doc word count` lines, \
1-based), FILE.vocab (word i is `w<i>`) and FILE.topics (the true topics: one line per topic of \
`word:probability` pairs, 1-based words, probabilities below 1e-7 left out)."
)]
pub struct LdaGenArgs {
    /// Documents.
    #[arg(long, default_value_t = 1000)]
    pub docs: usize,
    /// Vocabulary size.
    #[arg(long, default_value_t = 1000)]
    pub vocab: usize,
    /// Topics.
    #[arg(long, default_value_t = 10)]
    pub topics: usize,
    /// Tokens per document.
    #[arg(long, default_value_t = 100)]
    pub doc_length: usize,
    /// Dirichlet parameter of the document-topic proportions.
    #[arg(long, default_value_t = 0.1)]
    pub alpha: f64,
    /// Dirichlet parameter of the topic-word distributions.
    #[arg(long, default_value_t = 0.05)]
    pub beta: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output docword file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: LdaGenArgs) -> Result<(), Failure> {
    let spec = LdaSpec {
        docs: args.docs,
        words: args.vocab,
        topics: args.topics,
        doc_length: args.doc_length,
        alpha: args.alpha,
        beta: args.beta,
        seed: args.seed,
    };
    let summary = generate_lda(&spec, &args.out).map_err(bad_input)?;
    eprintln!(
        "wrote {} ({} documents, {} words, {} tokens, {} entries), {} and {}",
        args.out.display(),
        args.docs,
        args.vocab,
        summary.tokens,
        summary.nnz,
        summary.vocab_path.display(),
        summary.topics_path.display()
    );
    Ok(())
}
