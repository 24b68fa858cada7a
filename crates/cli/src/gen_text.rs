//! `strads gen text`: a corpus of sentences over words in planted clusters (for word2vec).

use std::path::PathBuf;

use clap::Args;
use strads_ap_apps::word2vec::generate::{generate_text, TextSpec};

use crate::failure::{bad_input, Failure};

/// Flags of `strads gen text`.
#[derive(Args)]
pub struct TextGenArgs {
    /// Clusters of words (a sentence draws its words from one cluster).
    #[arg(long, default_value_t = 10)]
    pub clusters: usize,
    /// Words per cluster (named cKwJ).
    #[arg(long, default_value_t = 20)]
    pub words_per_cluster: usize,
    /// Filler words shared by every cluster (named fJ).
    #[arg(long, default_value_t = 10)]
    pub fillers: usize,
    /// Probability that a word of a sentence is a filler.
    #[arg(long, default_value_t = 0.2)]
    pub filler_probability: f64,
    /// Sentences (lines).
    #[arg(long, default_value_t = 5000)]
    pub sentences: usize,
    /// Words per sentence.
    #[arg(long, default_value_t = 12)]
    pub sentence_length: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output text file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: TextGenArgs) -> Result<(), Failure> {
    let spec = TextSpec {
        clusters: args.clusters,
        words_per_cluster: args.words_per_cluster,
        fillers: args.fillers,
        filler: args.filler_probability,
        sentences: args.sentences,
        sentence_length: args.sentence_length,
        seed: args.seed,
    };
    generate_text(&args.out, &spec).map_err(bad_input)?;
    eprintln!(
        "wrote {} ({} sentences of {} words; {} clusters of {} words, {} fillers)",
        args.out.display(),
        args.sentences,
        args.sentence_length,
        args.clusters,
        args.words_per_cluster,
        args.fillers
    );
    Ok(())
}
