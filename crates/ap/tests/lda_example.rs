//! The LDA examples (`examples/lda_sequential.rs`, `examples/lda_ap.rs`) against `strads lda`: the
//! same model and objective, so after the same iterations on the same corpus the log-likelihood
//! per token agrees; the AP version on one worker is the sequential program exactly, and on two
//! workers agrees with one.

use strads_ap::{run, ApConfig};
use strads_apps::lda::{train, CorpusSource, LdaParams, SamplerKind};
use strads_engine::ClusterConfig;
use strads_io::corpus::CorpusFormat;
use strads_io::lda_generate::{generate_lda, LdaSpec};

#[allow(dead_code)]
#[rustfmt::skip] // formatted with examples/rustfmt.toml
#[path = "../examples/lda_ap.rs"]
mod lda_ap;

#[allow(dead_code)]
#[rustfmt::skip] // formatted with examples/rustfmt.toml
#[path = "../examples/lda_sequential.rs"]
mod lda_sequential;

const TOPICS: usize = 10;
const ITERATIONS: usize = 60;

fn args(path: &std::path::Path) -> Vec<String> {
    let path = path.to_str().unwrap().to_owned();
    let iterations = ITERATIONS.to_string();
    let topics = TOPICS.to_string();
    ["--data", &path, "--topics", &topics, "--iters", &iterations]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn relative_gap(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn ap_lda_matches_strads_lda_and_the_sequential_program() {
    // 225,000 tokens from 10 well-separated topics: every chain reaches the same mode within
    // the iterations, so what is compared is the model and the objective, not the luck of a
    // chain (on a corpus of overlapping topics chains settle in different modes about 1% apart).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docword.txt");
    let spec = LdaSpec {
        docs: 1500,
        words: 1000,
        topics: TOPICS,
        doc_length: 150,
        alpha: 0.1,
        beta: 0.01,
        seed: 7,
    };
    generate_lda(&spec, &path).unwrap();
    let args = args(&path);

    let params = LdaParams {
        corpus: CorpusSource {
            path: path.clone(),
            format: CorpusFormat::Docword,
            vocab: None,
            min_count: 1,
            stopwords: None,
        },
        topics: TOPICS,
        iterations: ITERATIONS,
        alpha: 0.1,
        beta: 0.01,
        seed: 1,
        sampler: SamplerKind::Exact,
        loglik_every: 0,
        check_counts: false,
        doc_topics: false,
    };
    let strads = train(&ClusterConfig::threads(2), &params, None)
        .unwrap()
        .unwrap()
        .loglik_per_token();

    let ap = |threads: usize| {
        let opts = lda_ap::parse_args(&args).unwrap();
        let summaries = run(&ApConfig::threads(threads), move |ap| {
            lda_ap::train(ap, &opts)
        })
        .unwrap();
        let first = &summaries[0];
        for other in &summaries[1..] {
            assert_eq!(other.loglik_per_token(), first.loglik_per_token());
        }
        assert_eq!(first.tokens, 225_000);
        assert_eq!(first.records.len(), ITERATIONS + 1);
        first.loglik_per_token()
    };
    let (one, two) = (ap(1), ap(2));
    let sequential = lda_sequential::parse_args(&args)
        .and_then(|opts| lda_sequential::train(&opts))
        .unwrap()
        .loglik_per_token();

    assert!(
        relative_gap(two, strads) < 0.01,
        "AP {two} vs strads {strads}"
    );
    assert!(
        relative_gap(one, two) < 0.01,
        "1 worker {one} vs 2 workers {two}"
    );
    // One worker runs the tokens in the sequential program's order with the same random
    // numbers: the same chain.
    assert_eq!(one, sequential);
}
