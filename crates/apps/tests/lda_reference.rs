//! LDA against independent references: topic recovery on a corpus drawn from known topics, the
//! printed log-likelihood against the formula evaluated term by term on the returned
//! counts, count consistency after every iteration, and identical output for the same seed.

use std::path::Path;

use strads_apps::lda::kernels::log_likelihood_reference;
use strads_apps::lda::{train, CorpusSource, LdaParams, LdaResult, SamplerKind};
use strads_apps::Hooks;
use strads_engine::ClusterConfig;
use strads_io::corpus::CorpusFormat;
use strads_io::generate::lda::{generate_lda, read_topics, LdaSpec};

fn params(path: &Path, topics: usize, iterations: usize, sampler: SamplerKind) -> LdaParams {
    LdaParams {
        checkpointing: Default::default(),
        corpus: CorpusSource {
            path: path.to_owned(),
            format: CorpusFormat::Docword,
            vocab: None,
            min_count: 1,
            stopwords: None,
            in_memory: None,
        },
        topics,
        iterations,
        alpha: 0.1,
        beta: 0.01,
        seed: 7,
        sampler,
        loglik_every: 1,
        check_counts: false,
        doc_topics: true,
    }
}

fn corpus(dir: &Path, spec: &LdaSpec) -> std::path::PathBuf {
    let path = dir.join("corpus.txt");
    generate_lda(spec, &path).unwrap();
    path
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// For each true topic, the cosine similarity of the closest learned topic, averaged.
fn mean_best_match(truth: &[Vec<f64>], learned: &[Vec<f64>]) -> f64 {
    let best: Vec<f64> = truth
        .iter()
        .map(|t| learned.iter().map(|l| cosine(t, l)).fold(0.0, f64::max))
        .collect();
    best.iter().sum::<f64>() / best.len() as f64
}

#[test]
fn learned_topics_match_the_generating_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Well-separated topics: a sparse Dirichlet over a 400-word vocabulary.
    let spec = LdaSpec {
        docs: 500,
        words: 400,
        topics: 5,
        doc_length: 100,
        alpha: 0.1,
        beta: 0.01,
        seed: 5,
    };
    let path = corpus(dir.path(), &spec);
    let truth = read_topics(&strads_io::generate::lda::topics_path(&path), spec.words).unwrap();
    for (threads, sampler) in [(2, SamplerKind::Mh { cycles: 2 }), (1, SamplerKind::Exact)] {
        let model = train(
            &ClusterConfig::threads(threads),
            &params(&path, spec.topics, 150, sampler),
            Hooks::default(),
        )
        .unwrap()
        .unwrap();
        let learned = model.topic_word_distributions(0.01);
        let score = mean_best_match(&truth, &learned);
        eprintln!("{sampler:?} on {threads} threads: mean best-match cosine {score:.4}");
        assert!(
            score > 0.9,
            "{sampler:?} on {threads} threads: mean best-match cosine {score}"
        );
    }
}

/// Dense n_dk (D x K) and n_kw (W x K) from a result.
fn dense_counts(model: &LdaResult) -> (Vec<u32>, Vec<u32>) {
    let k = model.topics;
    let mut doc_topic = vec![0u32; model.docs as usize * k];
    for (doc, row) in model.doc_topic.as_ref().unwrap() {
        for &(topic, count) in row {
            doc_topic[*doc as usize * k + topic as usize] = count;
        }
    }
    let mut word_topic = vec![0u32; model.words * k];
    for (word, row) in model.word_topic.iter().enumerate() {
        for &(topic, count) in row {
            word_topic[word * k + topic as usize] = count;
        }
    }
    (doc_topic, word_topic)
}

#[test]
fn printed_log_likelihood_is_the_formula_on_the_final_counts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = LdaSpec {
        docs: 120,
        words: 90,
        topics: 4,
        doc_length: 30,
        alpha: 0.2,
        beta: 0.05,
        seed: 2,
    };
    let path = corpus(dir.path(), &spec);
    for threads in [1, 3] {
        let model = train(
            &ClusterConfig::threads(threads),
            &params(&path, 5, 7, SamplerKind::Mh { cycles: 2 }),
            Hooks::default(),
        )
        .unwrap()
        .unwrap();
        let (doc_topic, word_topic) = dense_counts(&model);
        let reference = log_likelihood_reference(&doc_topic, &word_topic, 5, 0.1, 0.01);
        assert!(
            (model.loglik - reference).abs() <= 1e-9 * reference.abs(),
            "{threads} threads: printed {} vs formula {reference}",
            model.loglik
        );
        assert_eq!(model.trace.len(), 7);
        assert_eq!(model.trace.last().unwrap().loglik, model.loglik);
        assert_eq!(model.tokens, 120 * 30);
        let total: u64 = model.topic_totals.iter().sum();
        assert_eq!(total, model.tokens);
    }
}

#[test]
fn counts_are_consistent_after_every_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let spec = LdaSpec {
        docs: 90,
        words: 150,
        topics: 5,
        doc_length: 40,
        alpha: 0.1,
        beta: 0.05,
        seed: 9,
    };
    let path = corpus(dir.path(), &spec);
    for (threads, sampler) in [
        (1, SamplerKind::Mh { cycles: 1 }),
        (3, SamplerKind::Mh { cycles: 2 }),
        (2, SamplerKind::Exact),
    ] {
        let mut p = params(&path, 6, 12, sampler);
        p.check_counts = true;
        let model = train(&ClusterConfig::threads(threads), &p, Hooks::default())
            .unwrap()
            .unwrap();
        assert_eq!(model.count_checks, 12, "{sampler:?} on {threads} threads");
    }
}

#[test]
fn same_seed_and_cluster_shape_give_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let spec = LdaSpec {
        docs: 100,
        words: 120,
        topics: 4,
        doc_length: 30,
        alpha: 0.1,
        beta: 0.05,
        seed: 4,
    };
    let path = corpus(dir.path(), &spec);
    for threads in [1, 2] {
        let run = || {
            train(
                &ClusterConfig::threads(threads),
                &params(&path, 4, 10, SamplerKind::Mh { cycles: 2 }),
                Hooks::default(),
            )
            .unwrap()
            .unwrap()
        };
        let (a, b) = (run(), run());
        assert_eq!(a.loglik.to_bits(), b.loglik.to_bits());
        assert_eq!(a.word_topic, b.word_topic);
        assert_eq!(a.doc_topic, b.doc_topic);
        let mut other = params(&path, 4, 10, SamplerKind::Mh { cycles: 2 });
        other.seed = 8;
        let c = train(&ClusterConfig::threads(threads), &other, Hooks::default())
            .unwrap()
            .unwrap();
        assert_ne!(a.word_topic, c.word_topic, "another seed, another chain");
    }
}

/// The same documents given in memory (as the Python bindings give them) train exactly as the
/// docword file does: the workers hold the same contiguous document ranges either way.
#[test]
fn documents_in_memory_train_as_the_same_documents_in_a_file() {
    use strads_apps::lda::{InMemoryCorpus, LocalDoc};
    let dir = tempfile::tempdir().unwrap();
    let spec = LdaSpec {
        docs: 120,
        words: 200,
        topics: 4,
        doc_length: 40,
        alpha: 0.1,
        beta: 0.01,
        seed: 9,
    };
    let path = corpus(dir.path(), &spec);
    // UCI docword: three header lines (D, W, NNZ), then 1-based `doc word count` lines.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let docs: usize = lines.next().unwrap().trim().parse().unwrap();
    let words: usize = lines.next().unwrap().trim().parse().unwrap();
    lines.next();
    let mut documents: Vec<LocalDoc> = (0..docs as u64)
        .map(|id| LocalDoc {
            id,
            words: Vec::new(),
        })
        .collect();
    for line in lines {
        let fields: Vec<u32> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        documents[fields[0] as usize - 1]
            .words
            .push((fields[1] - 1, fields[2]));
    }
    for doc in &mut documents {
        doc.words.sort_unstable();
    }
    let from_file = params(&path, 4, 5, SamplerKind::Mh { cycles: 2 });
    let mut from_memory = from_file.clone();
    from_memory.corpus.in_memory = Some(InMemoryCorpus::new(documents, words, None).unwrap());
    let cluster = ClusterConfig::threads(2);
    let file_model = train(&cluster, &from_file, Hooks::default())
        .unwrap()
        .unwrap();
    let memory_model = train(&cluster, &from_memory, Hooks::default())
        .unwrap()
        .unwrap();
    assert_eq!(memory_model.word_topic, file_model.word_topic);
    assert_eq!(memory_model.loglik, file_model.loglik);
    assert_eq!(memory_model.docs, file_model.docs);
}
