//! `strads lda`: topic modelling by collapsed Gibbs sampling with STRADS vocabulary rotation.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;
use strads_apps::lda::{train, CorpusSource, LdaParams, LdaResult, SamplerKind};
use strads_engine::ClusterConfig;
use strads_io::corpus::{detect_corpus_format, CorpusFormat};
use strads_io::generate::lda::{generate_lda, vocab_path, LdaSpec};
use strads_io::{write_atomic, write_docword_cache, DocwordCache};

use crate::checkpoint_args::CheckpointArgs;
use crate::cluster_args::{Agreement, ClusterArgs};
use crate::failure::{app_failure, bad_input, Failure};
use crate::files::{check_output_space, prepare_cache, Files};
use crate::flags::Given;
use crate::progress::lda_progress;
use crate::trace_output::write_trace;
use crate::training::{run_training, Prepared};

/// Corpus formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Guess from the first non-blank line: a lone integer is a docword header, `id word:count`
    /// is idcount, anything else is text.
    Auto,
    /// UCI bag-of-words: lines D, W, NNZ, then `doc word count` lines (1-based ids).
    Docword,
    /// One document per line: `doc_id word:count ...` (1-based ids).
    Idcount,
    /// One document per line of whitespace-separated tokens; the vocabulary is built on load.
    Text,
}

/// Token samplers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Sampler {
    /// `exact` for K <= 64, `mh` above (measured: at K = 50 the exact sampler is faster and
    /// mixes better per iteration; at K = 1000 its word and document rows are no longer sparse
    /// and MH is far faster).
    Auto,
    /// O(1) per token: Metropolis-Hastings with word and doc proposals (LightLDA-style).
    Mh,
    /// Exact Gibbs draws from the collapsed conditional, SparseLDA-style: O(nonzero topics of
    /// the word) per token, plus a rare O(K) when the draw falls in the prior's buckets.
    Exact,
}

/// The output formats, shown after `strads lda --help`.
const OUTPUT_FORMATS: &str = "\
Output formats (topics are numbered from 0, words and documents from 1):
  --topics-out: for each topic, its --top-words most probable words, one per line:
    `topic word probability`, with phi_kw = (n_kw + beta) / (n_k + W beta) and the word's
    name when a vocabulary is known (else its id).
  --word-topics-out: `word topic:count topic:count ...` for every word with tokens (n_kw).
  --doc-topics-out: `doc topic:count ...` for every non-empty document (n_dk); for text
    input the document is its line number.
  --trace: one JSON line per log-likelihood evaluation:
    `iteration, seconds, loglik, loglik_per_token, tokens_per_second`.
  --json: one summary line: app, topics, iterations, tokens, docs, words, loglik,
    loglik_per_token, tokens_per_second, seconds, load_seconds, train_seconds, workers,
    processes, threads, alpha, beta, sampler, mh_steps, seed.
Objective: log p(w, z) = log p(w|z) + log p(z), with
  log p(w|z) = K [lnG(W b) - W lnG(b)] + sum_k [ sum_w lnG(n_kw + b) - lnG(n_k + W b) ]
  log p(z)   = D [lnG(K a) - K lnG(a)] + sum_d [ sum_k lnG(n_dk + a) - lnG(n_d + K a) ]";

/// Flags of `strads lda` (output formats in [`OUTPUT_FORMATS`]).
#[derive(Args, Clone, Debug)]
#[command(after_long_help = OUTPUT_FORMATS)]
pub struct LdaArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    /// The corpus; without it, an embedded generated corpus (2000 documents, 20 topics).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Format of --data [default: auto].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// A binary cache of a docword --data: read instead of --data when it was made from --data
    /// as it is now (each worker reads only its documents); otherwise, on one process, --data is
    /// parsed whole and the cache written (atomically) for the next runs. A truncated or
    /// corrupt cache is an error.
    #[arg(long, value_name = "FILE", requires = "data")]
    pub cache: Option<PathBuf>,
    /// Vocabulary for docword/idcount input: one word per line, line i names word id i.
    #[arg(long, value_name = "FILE")]
    pub vocab: Option<PathBuf>,
    /// Text input: drop words seen fewer than N times in the whole corpus [default: 1].
    #[arg(long, value_name = "N")]
    pub min_count: Option<u64>,
    /// Text input: drop the words listed in FILE (whitespace-separated, `#` comments).
    #[arg(long, value_name = "FILE")]
    pub stopwords: Option<PathBuf>,
    /// Number of topics K.
    #[arg(long, value_name = "K", default_value_t = LdaParams::default().topics)]
    pub topics: usize,
    /// Iterations (sweeps over all tokens).
    #[arg(long, value_name = "N", default_value_t = LdaParams::default().iterations)]
    pub iters: usize,
    /// Symmetric Dirichlet prior of the document-topic proportions.
    #[arg(long, default_value_t = LdaParams::default().alpha, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Symmetric Dirichlet prior of the topic-word distributions.
    #[arg(long, default_value_t = LdaParams::default().beta, allow_negative_numbers = true)]
    pub beta: f64,
    /// Token sampler.
    #[arg(long, value_enum, default_value_t = Sampler::Auto)]
    pub sampler: Sampler,
    /// MH sampler: rounds of (word-proposal step, doc-proposal step) per token, 1 to 4
    /// [default: 2].
    #[arg(long, value_name = "N")]
    pub mh_steps: Option<usize>,
    /// Evaluate (and trace) the log-likelihood every N iterations; 0 = only after the last.
    #[arg(long, value_name = "N", default_value_t = LdaParams::default().loglik_every)]
    pub loglik_every: usize,
    /// Check every count against the topic assignments after each iteration (slow; a test aid).
    #[arg(long)]
    pub check_counts: bool,
    /// Random seed (initial topics, sampling, embedded corpus). Same seed and cluster shape,
    /// same output.
    #[arg(long, default_value_t = LdaParams::default().seed)]
    pub seed: u64,
    /// Words per topic in --topics-out [default: 10].
    #[arg(long, value_name = "N")]
    pub top_words: Option<usize>,
    /// Write each topic's most probable words (see above for the format).
    #[arg(long, value_name = "FILE")]
    pub topics_out: Option<PathBuf>,
    /// Write the document-topic counts n_dk as sparse lines.
    #[arg(long, value_name = "FILE")]
    pub doc_topics_out: Option<PathBuf>,
    /// Write the word-topic counts n_kw as sparse lines.
    #[arg(long, value_name = "FILE")]
    pub word_topics_out: Option<PathBuf>,
    /// Write one JSON line per log-likelihood evaluation.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print one JSON summary line on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

/// The embedded default corpus.
fn embedded_spec(seed: u64) -> LdaSpec {
    LdaSpec {
        docs: 2000,
        words: 2000,
        topics: 20,
        doc_length: 100,
        alpha: 0.1,
        beta: 0.05,
        seed,
    }
}

/// Fails on flags that the corpus format or the sampler would ignore, and on out-of-range
/// numbers. `format` is the corpus's format (`None` for the embedded corpus).
fn check_flags(args: &LdaArgs, format: Option<CorpusFormat>, given: &Given) -> Result<(), Failure> {
    match format {
        None => given.reject(
            &["--format", "--vocab", "--min-count", "--stopwords"],
            "to a --data file (without one, the embedded corpus is used)",
        )?,
        Some(CorpusFormat::Text) => given.reject(
            &["--vocab"],
            "to docword and idcount corpora (a text corpus's vocabulary is built from its \
             words)",
        )?,
        Some(CorpusFormat::Docword | CorpusFormat::IdCount) => given.reject(
            &["--min-count", "--stopwords"],
            "to text corpora (docword and idcount corpora are already counted words)",
        )?,
    }
    if format != Some(CorpusFormat::Docword) {
        given.reject(&["--cache"], "to docword corpora")?;
    }
    let exact = match args.sampler {
        Sampler::Exact => true,
        Sampler::Mh => false,
        Sampler::Auto => args.topics <= SamplerKind::AUTO_EXACT_MAX_TOPICS,
    };
    if exact {
        given.reject(
            &["--mh-steps"],
            "to the MH sampler (--sampler mh, or --sampler auto above 64 topics)",
        )?;
    }
    if args.topics_out.is_none() {
        given.reject(&["--top-words"], "to --topics-out")?;
    }
    if args.top_words == Some(0) {
        return Err(bad_input(anyhow::anyhow!("--top-words must be at least 1")));
    }
    if args.min_count == Some(0) {
        return Err(bad_input(anyhow::anyhow!(
            "--min-count must be at least 1 (1 keeps every word)"
        )));
    }
    Ok(())
}

/// Runs the subcommand.
pub fn run(args: LdaArgs, given: &Given) -> Result<(), Failure> {
    let cluster = args.cluster.config()?;
    let is_output_process = cluster.process == 0;
    let prepare = |cluster: &ClusterConfig| -> Result<_, Failure> {
        Files::new()
            .input("--data", args.data.as_deref())
            .input("--vocab", args.vocab.as_deref())
            .input("--stopwords", args.stopwords.as_deref())
            .input("--hosts", args.cluster.hosts.as_deref())
            .input("--secret-file", args.cluster.secret_file.as_deref())
            .output("--topics-out", args.topics_out.as_deref())
            .output("--word-topics-out", args.word_topics_out.as_deref())
            .output("--doc-topics-out", args.doc_topics_out.as_deref())
            .output("--trace", args.trace.as_deref())
            .check(is_output_process)?;
        args.checkpoint.check(&[
            ("--data", args.data.as_deref()),
            ("--vocab", args.vocab.as_deref()),
            ("--stopwords", args.stopwords.as_deref()),
            ("--topics-out", args.topics_out.as_deref()),
            ("--word-topics-out", args.word_topics_out.as_deref()),
            ("--doc-topics-out", args.doc_topics_out.as_deref()),
            ("--trace", args.trace.as_deref()),
        ])?;
        let format = match &args.data {
            None => None,
            Some(path) => Some(match args.format.unwrap_or(Format::Auto) {
                Format::Auto => detect_corpus_format(path).map_err(bad_input)?,
                Format::Docword => CorpusFormat::Docword,
                Format::Idcount => CorpusFormat::IdCount,
                Format::Text => CorpusFormat::Text,
            }),
        };
        check_flags(&args, format, given)?;
        let mut embedded_dir = None;
        let mut cache_use = None;
        let corpus = match (&args.data, format) {
            (Some(path), Some(format)) => CorpusSource {
                path: match &args.cache {
                    Some(cache) => {
                        let make_first = format!(
                            "make it first with one process: `strads lda --data {} --cache {} \
                             --iters 1`",
                            path.display(),
                            cache.display()
                        );
                        cache_use = Some(prepare_cache(
                            cache,
                            cluster.processes(),
                            DocwordCache::open,
                            |reader| reader.check_source(path),
                            &make_first,
                            || write_docword_cache(path, cache).map(drop),
                        )?);
                        cache.clone()
                    }
                    None => path.clone(),
                },
                format,
                vocab: args.vocab.clone(),
                min_count: args.min_count.unwrap_or(1),
                stopwords: args.stopwords.clone(),
                in_memory: None,
            },
            _ => {
                // Every process generates the same embedded corpus (it is seeded).
                let dir = tempfile::tempdir()
                    .context("creating a temporary directory for the embedded corpus")?;
                let path = dir.path().join("embedded-docword.txt");
                generate_lda(&embedded_spec(args.seed), &path).map_err(bad_input)?;
                embedded_dir = Some(dir);
                CorpusSource {
                    vocab: Some(vocab_path(&path)),
                    path,
                    format: CorpusFormat::Docword,
                    min_count: 1,
                    stopwords: None,
                    in_memory: None,
                }
            }
        };
        let mh_steps = args.mh_steps.unwrap_or(SamplerKind::DEFAULT_MH_CYCLES);
        let mut params = LdaParams {
            corpus,
            topics: args.topics,
            iterations: args.iters,
            alpha: args.alpha,
            beta: args.beta,
            seed: args.seed,
            sampler: match args.sampler {
                Sampler::Auto => SamplerKind::tuned(args.topics, mh_steps),
                Sampler::Mh => SamplerKind::Mh { cycles: mh_steps },
                Sampler::Exact => SamplerKind::Exact,
            },
            loglik_every: args.loglik_every,
            check_counts: args.check_counts,
            doc_topics: args.doc_topics_out.is_some(),
            checkpointing: Default::default(),
        };
        let mut agreement = agreement(&args, &params, cluster);
        params.checkpointing =
            args.checkpoint
                .checkpointing_agreed("lda", cluster, &mut agreement)?;
        Ok(Prepared {
            params: (params, embedded_dir, cache_use),
            agreement,
        })
    };
    run_training(
        cluster,
        prepare,
        |show| lda_progress(show, args.iters),
        |cluster, (params, ..), hooks| {
            train(cluster, params, hooks).map_err(|error| app_failure(error, is_output_process))
        },
        |cluster, (params, _embedded_dir, cache_use), model, seconds| {
            write_outputs(&args, &model)?;
            let sampler = match params.sampler {
                SamplerKind::Exact => "exact",
                SamplerKind::Mh { .. } => "mh",
            };
            print_summary(&args, cluster, &model, sampler, seconds, cache_use)
        },
    )
}

/// The name of word `w` (0-based) in outputs: its vocabulary entry, else its 1-based id.
fn word_name(model: &LdaResult, w: usize) -> String {
    match &model.vocabulary {
        Some(words) => words[w].clone(),
        None => (w + 1).to_string(),
    }
}

fn write_sparse_line(w: &mut impl Write, id: u64, row: &[(u32, u32)]) -> std::io::Result<()> {
    write!(w, "{id}")?;
    for &(topic, count) in row {
        write!(w, " {topic}:{count}")?;
    }
    w.write_all(b"\n")
}

fn write_outputs(args: &LdaArgs, model: &LdaResult) -> Result<(), Failure> {
    if let Some(path) = &args.topics_out {
        let phi = model.topic_word_distributions(args.beta);
        write_atomic(path, |w| {
            let mut buffer = ryu::Buffer::new();
            for (k, topic) in phi.iter().enumerate() {
                let mut order: Vec<usize> = (0..topic.len()).collect();
                let top = args.top_words.unwrap_or(10).min(order.len());
                if top == 0 {
                    continue;
                }
                order.select_nth_unstable_by(top - 1, |&a, &b| {
                    topic[b].total_cmp(&topic[a]).then(a.cmp(&b))
                });
                order.truncate(top);
                order.sort_by(|&a, &b| topic[b].total_cmp(&topic[a]).then(a.cmp(&b)));
                for word in order {
                    writeln!(
                        w,
                        "{k} {} {}",
                        word_name(model, word),
                        buffer.format(topic[word])
                    )?;
                }
            }
            Ok(())
        })?;
    }
    // A `topic:count` cell is at most 22 bytes, a row's id 21.
    let sparse_bytes = |rows: &mut dyn Iterator<Item = usize>| -> u64 {
        rows.map(|cells| 22 + 22 * cells as u64).sum()
    };
    if let Some(path) = &args.word_topics_out {
        let bytes = sparse_bytes(&mut model.word_topic.iter().map(Vec::len));
        check_output_space("--word-topics-out", path, bytes)?;
        write_atomic(path, |w| {
            for (word, row) in model.word_topic.iter().enumerate() {
                if !row.is_empty() {
                    write_sparse_line(w, word as u64 + 1, row)?;
                }
            }
            Ok(())
        })?;
    }
    if let (Some(path), Some(docs)) = (&args.doc_topics_out, &model.doc_topic) {
        let mut docs: Vec<&(u64, Vec<(u32, u32)>)> = docs.iter().collect();
        docs.sort_by_key(|d| d.0);
        let bytes = sparse_bytes(&mut docs.iter().map(|d| d.1.len()));
        check_output_space("--doc-topics-out", path, bytes)?;
        write_atomic(path, |w| {
            for (id, row) in docs {
                write_sparse_line(w, id + 1, row)?;
            }
            Ok(())
        })?;
    }
    if let Some(path) = &args.trace {
        write_trace(path, &model.trace)?;
    }
    Ok(())
}

fn print_summary(
    args: &LdaArgs,
    cluster: &strads_engine::ClusterConfig,
    model: &LdaResult,
    sampler: &str,
    seconds: f64,
    cache_use: Option<&str>,
) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let mut summary = json!({
            "app": "lda",
            "topics": model.topics,
            "iterations": model.iterations,
            "tokens": model.tokens,
            "docs": model.docs,
            "words": model.words,
            "loglik": model.loglik,
            "loglik_per_token": model.loglik_per_token(),
            "tokens_per_second": model.tokens_per_second(),
            "seconds": seconds,
            "load_seconds": model.load_seconds,
            "train_seconds": model.train_seconds,
            "workers": cluster.workers(),
            "processes": cluster.processes(),
            "threads": cluster.threads,
            "alpha": args.alpha,
            "beta": args.beta,
            "sampler": sampler,
            "mh_steps": args.mh_steps.unwrap_or(SamplerKind::DEFAULT_MH_CYCLES),
            "seed": args.seed,
            "count_checks": model.count_checks,
            "cache": cache_use,
        });
        crate::resources::add_resources(&mut summary, cluster.threads, model.iterations as f64);
        crate::resources::add_process_figures(&mut summary, &model.processes, "tokens_held");
        writeln!(stdout, "{summary}")?;
    } else {
        writeln!(
            stdout,
            "lda: {} documents, {} words, {} tokens, {} topics",
            model.docs, model.words, model.tokens, model.topics
        )?;
        writeln!(
            stdout,
            "log p(w, z) = {:.10e} ({:.6} per token) after {} iterations",
            model.loglik,
            model.loglik_per_token(),
            model.iterations
        )?;
        writeln!(
            stdout,
            "{:.3e} tokens/s; load {:.3} s, train {:.3} s, total {:.3} s on {} worker(s) in {} process(es)",
            model.tokens_per_second(),
            model.load_seconds,
            model.train_seconds,
            seconds,
            cluster.workers(),
            cluster.processes()
        )?;
    }
    Ok(())
}

/// What the processes of a cluster must agree on: every resolved parameter, the inputs' sizes,
/// and whether document-topic counts are gathered on process 0 (for --doc-topics-out).
fn agreement(
    args: &LdaArgs,
    params: &LdaParams,
    cluster: &strads_engine::ClusterConfig,
) -> Vec<(String, String)> {
    let mut items = Agreement::new(cluster, "lda");
    let corpus = &params.corpus;
    match &args.data {
        None => items.item("--data", "the embedded corpus"),
        Some(data) => items
            .file("--data", Some(data))
            .file("--vocab", corpus.vocab.as_deref())
            .file("--stopwords", corpus.stopwords.as_deref()),
    };
    items
        .item("--format", format!("{:?}", corpus.format))
        .item("--min-count", corpus.min_count)
        .item("--topics", params.topics)
        .item("--iters", params.iterations)
        .number("--alpha", params.alpha)
        .number("--beta", params.beta)
        .item(
            "--sampler",
            match params.sampler {
                SamplerKind::Exact => "exact".to_owned(),
                SamplerKind::Mh { cycles } => format!("mh, --mh-steps {cycles}"),
            },
        )
        .item("--loglik-every", params.loglik_every)
        .item("--check-counts", params.check_counts)
        .item("--seed", params.seed)
        .item(
            "document-topic counts gathered on process 0 (--doc-topics-out)",
            params.doc_topics,
        );
    items.into_items()
}
