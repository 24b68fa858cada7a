//! `strads word2vec`: word embeddings (skip-gram or CBOW with negative sampling) on STRADS-AP,
//! and nearest neighbours in a saved vectors file.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use strads_ap::ApConfig;
use strads_ap_apps::word2vec::{
    read_vectors, train, write_vectors, Architecture, Fit, Word2vecParams,
};
use strads_engine::ClusterConfig;

use crate::cluster_args::{Agreement, ClusterArgs};
use crate::failure::{ap_app_failure, bad_input, Failure};
use crate::files::Files;
use crate::flags::Given;
use crate::progress::word2vec_progress;
use crate::trace_output::write_trace;
use crate::training::{run_training, Prepared};

/// The library's defaults, which the flags' defaults are (the data path plays no part).
fn defaults() -> Word2vecParams {
    Word2vecParams::new(std::path::Path::new(""))
}

/// Flags of `strads word2vec`.
#[derive(Args, Clone, Debug)]
pub struct Word2vecArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Training text: one sentence per line, whitespace-separated tokens (lines longer than 1000
    /// tokens are cut into sentences of 1000).
    #[arg(long, value_name = "FILE", required_unless_present = "similar")]
    pub data: Option<PathBuf>,
    /// Write the vectors here (word2vec's text format; --binary for its binary format).
    #[arg(long, value_name = "FILE", required_unless_present = "similar")]
    pub out: Option<PathBuf>,
    /// Write --out in word2vec's binary format.
    #[arg(long)]
    pub binary: bool,
    /// Vector dimension.
    #[arg(long, default_value_t = defaults().dim)]
    pub dim: usize,
    /// Maximum window: each center word draws its window uniformly in 1..=WINDOW.
    #[arg(long, default_value_t = defaults().window)]
    pub window: usize,
    /// Negative samples per pair, from the unigram distribution to the 3/4.
    #[arg(long, default_value_t = defaults().negative)]
    pub negative: usize,
    /// Words with fewer occurrences are dropped.
    #[arg(long, default_value_t = defaults().min_count)]
    pub min_count: u64,
    /// Subsampling threshold of frequent words (0: none).
    #[arg(long, default_value_t = defaults().sample, allow_negative_numbers = true)]
    pub sample: f64,
    /// First learning rate (decays linearly over all epochs to --min-alpha).
    #[arg(long, default_value_t = defaults().alpha, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Last learning rate.
    #[arg(long, default_value_t = defaults().min_alpha, allow_negative_numbers = true)]
    pub min_alpha: f64,
    /// Passes over the text.
    #[arg(long, default_value_t = defaults().epochs)]
    pub epochs: usize,
    /// CBOW (the mean of the window predicts the center word) instead of skip-gram.
    #[arg(long)]
    pub cbow: bool,
    /// Seed of the initial vectors and of the workers' random streams.
    #[arg(long, default_value_t = defaults().seed)]
    pub seed: u64,
    /// Words a worker trains on between merges of the workers' changes (a pass has at least 16
    /// merges) [default: 200000 with --shared-negatives, 50000 without].
    #[arg(long)]
    pub sync_words: Option<usize>,
    /// Skip-gram: draw one set of negatives per center word, shared by the words of its window,
    /// and update the window's pairs at once (Ji et al. 2016), instead of fresh negatives for
    /// every pair.
    #[arg(long)]
    pub shared_negatives: bool,
    /// Write one JSON line per epoch.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print one JSON summary line on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// Print the nearest neighbours of WORD by cosine in --vectors instead of training.
    #[arg(long, value_name = "WORD", requires = "vectors", conflicts_with_all = ["data", "out", "trace"])]
    pub similar: Option<String>,
    /// The vectors file for --similar (text or binary, told apart by content).
    #[arg(long, value_name = "FILE", requires = "similar")]
    pub vectors: Option<PathBuf>,
    /// Neighbours --similar prints.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Runs the subcommand.
pub fn run(args: Word2vecArgs, given: &Given) -> Result<(), Failure> {
    if let (Some(word), Some(path)) = (&args.similar, &args.vectors) {
        given.reject(
            &[
                "--binary",
                "--dim",
                "--window",
                "--negative",
                "--min-count",
                "--sample",
                "--alpha",
                "--min-alpha",
                "--epochs",
                "--cbow",
                "--seed",
                "--sync-words",
                "--shared-negatives",
            ],
            "to training (not to --similar)",
        )?;
        return similar(&args, word, path);
    }
    let cluster = args.cluster.config()?;
    let is_output_process = cluster.process == 0;
    let prepare = |cluster: &ClusterConfig| -> Result<_, Failure> {
        given.reject(&["--top"], "to --similar")?;
        if args.cbow {
            given.reject(&["--shared-negatives"], "to skip-gram (without --cbow)")?;
        }
        check_values(&args)?;
        Files::new()
            .input("--data", args.data.as_deref())
            .input("--hosts", args.cluster.hosts.as_deref())
            .input("--secret-file", args.cluster.secret_file.as_deref())
            .output("--out", args.out.as_deref())
            .output("--trace", args.trace.as_deref())
            .check(is_output_process)?;
        let params = Word2vecParams {
            dim: args.dim,
            window: args.window,
            negative: args.negative,
            min_count: args.min_count,
            sample: args.sample,
            alpha: args.alpha,
            min_alpha: args.min_alpha,
            epochs: args.epochs,
            architecture: if args.cbow {
                Architecture::Cbow
            } else {
                Architecture::SkipGram
            },
            seed: args.seed,
            sync_words: sync_words(&args),
            shared_negatives: args.shared_negatives,
            ..Word2vecParams::new(args.data.as_deref().expect("clap requires --data"))
        };
        Ok(Prepared {
            params,
            agreement: agreement(&args, cluster),
        })
    };
    run_training(
        cluster,
        prepare,
        |show| word2vec_progress(show, args.epochs),
        |cluster, params, hooks| {
            train(&ApConfig::new(cluster.clone()), params, hooks)
                .map_err(|e| ap_app_failure(e, is_output_process))
        },
        |cluster, _, fit, seconds| {
            let out = args.out.as_deref().expect("clap requires --out");
            write_vectors(out, &fit.vectors, args.binary)?;
            if let Some(path) = &args.trace {
                write_trace(path, &fit.trace)?;
            }
            print_summary(&args, cluster, &fit, seconds);
            Ok(())
        },
    )
}

fn similar(args: &Word2vecArgs, word: &str, path: &std::path::Path) -> Result<(), Failure> {
    Files::new().input("--vectors", Some(path)).check(false)?;
    let vectors = read_vectors(path).map_err(bad_input)?;
    let Some(neighbours) = vectors.most_similar(word, args.top) else {
        return Err(bad_input(anyhow::anyhow!(
            "{}: `{word}` is not among its {} words",
            path.display(),
            vectors.words.len()
        )));
    };
    if args.json {
        let list: Vec<_> = neighbours
            .iter()
            .map(|(w, s)| json!({"word": w, "cosine": s}))
            .collect();
        println!("{}", json!({"word": word, "neighbours": list}));
    } else {
        for (w, s) in neighbours {
            println!("{w} {s:.6}");
        }
    }
    Ok(())
}

/// Flag values out of range, named by their flags (the library checks them too, without the
/// flag names).
/// `--sync-words`, or its default for the chosen negatives.
fn sync_words(args: &Word2vecArgs) -> usize {
    args.sync_words
        .unwrap_or(Word2vecParams::default_sync_words(args.shared_negatives))
}

fn check_values(args: &Word2vecArgs) -> Result<(), Failure> {
    let at_least_one = [
        ("--dim", args.dim as u64),
        ("--window", args.window as u64),
        ("--negative", args.negative as u64),
        ("--min-count", args.min_count),
        ("--epochs", args.epochs as u64),
        ("--sync-words", sync_words(args) as u64),
    ];
    if let Some((flag, _)) = at_least_one.iter().find(|(_, v)| *v == 0) {
        return Err(bad_input(anyhow::anyhow!("{flag} must be at least 1")));
    }
    if !(args.alpha.is_finite() && args.alpha > 0.0) {
        return Err(bad_input(anyhow::anyhow!(
            "--alpha must be positive and finite, got {}",
            args.alpha
        )));
    }
    if !(args.min_alpha >= 0.0 && args.min_alpha <= args.alpha) {
        return Err(bad_input(anyhow::anyhow!(
            "--min-alpha must be in [0, --alpha], got {}",
            args.min_alpha
        )));
    }
    if !(args.sample.is_finite() && args.sample >= 0.0) {
        return Err(bad_input(anyhow::anyhow!(
            "--sample must be finite and >= 0, got {}",
            args.sample
        )));
    }
    Ok(())
}

/// What every process must agree on.
fn agreement(args: &Word2vecArgs, cluster: &strads_engine::ClusterConfig) -> Vec<(String, String)> {
    let mut items = Agreement::new(cluster, "word2vec");
    items
        .file("--data", args.data.as_deref())
        .item("--dim", args.dim)
        .item("--window", args.window)
        .item("--negative", args.negative)
        .item("--min-count", args.min_count)
        .number("--sample", args.sample)
        .number("--alpha", args.alpha)
        .number("--min-alpha", args.min_alpha)
        .item("--epochs", args.epochs)
        .item("--cbow", args.cbow)
        .item("--seed", args.seed)
        .item("--sync-words", sync_words(args))
        .item("--shared-negatives", args.shared_negatives);
    items.into_items()
}

fn print_summary(args: &Word2vecArgs, cluster: &ClusterConfig, fit: &Fit, seconds: f64) {
    let last = fit.trace.last().expect("at least one epoch");
    let words: u64 = fit.trace.iter().map(|t| t.words).sum();
    let words_per_second = words as f64 / fit.train_seconds.max(1e-9);
    let architecture = if args.cbow { "cbow" } else { "skip-gram" };
    if args.json {
        let mut summary = json!({
            "app": "word2vec",
            "architecture": architecture,
            "shared_negatives": args.shared_negatives,
            "vocabulary": fit.vocabulary,
            "corpus_words": fit.corpus_words,
            "dim": args.dim,
            "epochs": fit.trace.len(),
            "words_per_second": words_per_second,
            "final_loss": last.mean_loss,
            "consistency": format!("{:?}", fit.strategy.consistency),
            "words_per_step": fit.words_per_step,
            "load_seconds": fit.load_seconds,
            "train_seconds": fit.train_seconds,
            "seconds": seconds,
            "processes": cluster.processes(),
            "threads": cluster.threads,
        });
        crate::resources::add_resources(&mut summary, cluster.threads, fit.trace.len() as f64);
        crate::resources::add_process_figures(&mut summary, &fit.processes, "words_held");
        println!("{summary}");
        return;
    }
    println!(
        "strads word2vec ({architecture}, negative sampling): {} words, vocabulary {}, dim {}; \
         {:?} loop, mini-batch {} words",
        fit.corpus_words, fit.vocabulary, args.dim, fit.strategy.consistency, fit.words_per_step
    );
    for t in &fit.trace {
        println!(
            "epoch {}: {} words, {} pairs, {:.0} words/s, mean loss {:.6}, alpha {:.6}",
            t.epoch, t.words, t.pairs, t.words_per_second, t.mean_loss, t.alpha
        );
    }
    let peak_mib = strads_io::peak_resident_bytes().map(|b| b as f64 / 1048576.0);
    println!(
        "seconds: {:.3} (loading {:.3}, training {:.3}); peak memory {}",
        seconds,
        fit.load_seconds,
        fit.train_seconds,
        peak_mib.map_or("unknown".into(), |mib| format!("{mib:.1} MiB"))
    );
}
