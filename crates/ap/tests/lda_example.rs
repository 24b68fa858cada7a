//! The LDA examples (`examples/lda_sequential.rs`, `examples/lda_ap.rs`) against `strads lda`: the
//! same model and objective, so after the same iterations on the same corpus the log-likelihood
//! per token agrees; the AP version on one worker is the sequential program exactly, and on two
//! workers agrees with one.

use std::path::Path;

use strads_ap::{run, ApConfig};
use strads_apps::lda::{train, CorpusSource, LdaParams, SamplerKind};
use strads_apps::Hooks;
use strads_engine::ClusterConfig;
use strads_io::corpus::CorpusFormat;
use strads_io::generate::lda::{generate_lda, LdaSpec};

#[allow(dead_code)]
#[rustfmt::skip] // formatted with examples/rustfmt.toml
#[path = "../examples/lda_ap.rs"]
mod lda_ap;

#[allow(dead_code)]
#[rustfmt::skip] // formatted with examples/rustfmt.toml
#[path = "../examples/lda_sequential.rs"]
mod lda_sequential;

const TOPICS: usize = 20;
/// Past the burn-in: at 15 iterations the chains are still climbing (-8.9 per token at 5, -7.4
/// at 15, -6.85 at 50), and where a chain is on that climb depends on details of the sweep
/// order; at 50 they have settled.
const ITERATIONS: usize = 50;
/// Chains per system: one chain's log-likelihood differs from another's by up to about 1% here
/// (strads lda's own chains too), their mean by a few tenths of a percent.
const SEEDS: u64 = 4;

fn args(path: &Path, seed: u64) -> Vec<String> {
    let path = path.to_str().unwrap().to_owned();
    let (iterations, topics, seed) = (ITERATIONS.to_string(), TOPICS.to_string(), seed.to_string());
    let args = [
        "--data",
        &path,
        "--topics",
        &topics,
        "--iters",
        &iterations,
        "--seed",
        &seed,
    ];
    args.iter().map(|s| s.to_string()).collect()
}

fn strads(path: &Path, seed: u64) -> f64 {
    let params = LdaParams {
        checkpointing: Default::default(),
        corpus: CorpusSource {
            path: path.to_path_buf(),
            format: CorpusFormat::Docword,
            vocab: None,
            min_count: 1,
            stopwords: None,
            in_memory: None,
        },
        topics: TOPICS,
        iterations: ITERATIONS,
        alpha: 0.1,
        beta: 0.01,
        seed,
        sampler: SamplerKind::Exact,
        loglik_every: 0,
        check_counts: false,
        doc_topics: false,
    };
    let model = train(&ClusterConfig::threads(2), &params, Hooks::default()).unwrap();
    model.unwrap().loglik_per_token()
}

fn ap(path: &Path, seed: u64, threads: usize) -> f64 {
    let opts = lda_ap::parse_args(&args(path, seed)).unwrap();
    let summaries = run(&ApConfig::threads(threads), move |ap| {
        lda_ap::train(ap, &opts)
    })
    .unwrap();
    let first = &summaries[0];
    for other in &summaries[1..] {
        assert_eq!(other.loglik_per_token(), first.loglik_per_token());
    }
    assert_eq!(first.tokens, 300_000);
    assert_eq!(first.records.len(), ITERATIONS + 1);
    first.loglik_per_token()
}

fn mean(f: impl Fn(u64) -> f64) -> f64 {
    (1..=SEEDS).map(f).sum::<f64>() / SEEDS as f64
}

fn relative_gap(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn ap_lda_matches_strads_lda_and_the_sequential_program() {
    // 300,000 tokens from 20 overlapping topics (no few well-separated topics, whose chains
    // settle in modes several percent apart).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docword.txt");
    let spec = LdaSpec {
        docs: 3000,
        words: 2000,
        topics: TOPICS,
        doc_length: 100,
        alpha: 0.1,
        beta: 0.05,
        seed: 3,
    };
    generate_lda(&spec, &path).unwrap();

    let strads = mean(|seed| strads(&path, seed));
    let two = mean(|seed| ap(&path, seed, 2));
    let one = mean(|seed| ap(&path, seed, 1));
    assert!(
        relative_gap(two, strads) < 0.01,
        "AP {two} vs strads {strads}"
    );
    assert!(
        relative_gap(one, two) < 0.01,
        "1 worker {one} vs 2 workers {two}"
    );

    // One worker runs the cells in the sequential program's order with the same random
    // numbers: the same chain.
    let sequential = lda_sequential::parse_args(&args(&path, 1))
        .and_then(|opts| lda_sequential::train(&opts))
        .unwrap()
        .loglik_per_token();
    assert_eq!(ap(&path, 1, 1), sequential);
}
