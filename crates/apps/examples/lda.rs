//! Fit LDA to a generated corpus on two worker threads and compare with the true topics.
//!
//! ```sh
//! cargo run --release -p strads-apps --example lda
//! ```
//!
//! The same `train` call runs on a cluster of processes when given
//! `ClusterConfig::cluster(threads, process, hosts)?.with_secret(secret)` (the job's shared
//! secret, the same in every process) instead of `ClusterConfig::threads(2)`.

use strads_apps::lda::{train, CorpusSource, LdaParams, SamplerKind};
use strads_apps::Hooks;
use strads_engine::ClusterConfig;
use strads_io::corpus::CorpusFormat;
use strads_io::generate::lda::{generate_lda, read_topics, topics_path, vocab_path, LdaSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1000 documents of 100 tokens drawn from 8 sparse topics over 1000 words.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("docword.txt");
    let spec = LdaSpec {
        docs: 1000,
        words: 1000,
        topics: 8,
        doc_length: 100,
        alpha: 0.1,
        beta: 0.01,
        seed: 1,
    };
    generate_lda(&spec, &path)?;
    let params = LdaParams {
        checkpointing: Default::default(),
        corpus: CorpusSource {
            vocab: Some(vocab_path(&path)),
            path: path.clone(),
            format: CorpusFormat::Docword,
            min_count: 1,
            stopwords: None,
            in_memory: None,
        },
        topics: 8,
        iterations: 100,
        alpha: 0.1,
        beta: 0.01,
        seed: 1,
        sampler: SamplerKind::Mh { cycles: 2 },
        loglik_every: 10,
        check_counts: false,
        doc_topics: false,
    };
    let model =
        train(&ClusterConfig::threads(2), &params, Hooks::default())?.expect("worker 0 is here");
    for record in &model.trace {
        println!(
            "iteration {:3}: log p(w, z) / N = {:.4}",
            record.iteration, record.loglik_per_token
        );
    }
    // Each true topic against its closest learned topic.
    let truth = read_topics(&topics_path(&path), spec.words)?;
    let learned = model.topic_word_distributions(params.beta);
    let cosine = |a: &[f64], b: &[f64]| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt()
            * b.iter().map(|x| x * x).sum::<f64>().sqrt())
    };
    for (k, phi) in truth.iter().enumerate() {
        let best = learned.iter().map(|l| cosine(phi, l)).fold(0.0, f64::max);
        println!("true topic {k}: best-match cosine {best:.3}");
    }
    Ok(())
}
