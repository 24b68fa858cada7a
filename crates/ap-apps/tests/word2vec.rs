//! word2vec on a generated corpus with planted clusters: the learned neighbours recover them,
//! on one worker and on two.

use strads_ap::{ApConfig, ClusterConfig};
use strads_ap_apps::word2vec::generate::{cluster_of, generate_text, TextSpec};
use strads_ap_apps::word2vec::{train, Architecture, Fit, Word2vecError, Word2vecParams};
use strads_ap_apps::Hooks;

fn corpus(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("clusters.txt");
    generate_text(&path, &TextSpec::default()).unwrap();
    path
}

fn params(data: &std::path::Path) -> Word2vecParams {
    Word2vecParams {
        dim: 32,
        min_count: 1,
        ..Word2vecParams::new(data)
    }
}

/// The fraction of the top-5 neighbours of the cluster words that are in the word's cluster.
fn neighbours_in_cluster(fit: &Fit) -> f64 {
    let (mut same, mut all) = (0usize, 0usize);
    for word in &fit.vectors.words {
        let Some(cluster) = cluster_of(word) else {
            continue;
        };
        for (neighbour, _) in fit.vectors.most_similar(word, 5).unwrap() {
            all += 1;
            same += usize::from(cluster_of(&neighbour) == Some(cluster));
        }
    }
    same as f64 / all as f64
}

/// `threads` worker threads, debug mode off whatever the environment says.
fn threads(threads: usize) -> ApConfig {
    ApConfig {
        cluster: ClusterConfig::threads(threads),
        debug: false,
        print_strategies: false,
    }
}

fn fit(threads_: usize, params: &Word2vecParams) -> Fit {
    train(&threads(threads_), params, Hooks::default())
        .unwrap()
        .expect("this process runs worker 0")
}

#[test]
fn skipgram_neighbours_recover_the_planted_clusters_on_one_and_two_workers() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(&dir);
    for workers in [1, 2] {
        let fit = fit(workers, &params(&data));
        // 10 clusters x 20 words + 10 fillers, every one above min-count 1.
        assert_eq!(fit.vocabulary, 210);
        assert_eq!(fit.corpus_words, 5000 * 12);
        assert_eq!(fit.vectors.words.len(), 210);
        assert_eq!(fit.vectors.values.len(), 210 * 32);
        assert_eq!(fit.trace.len(), 5);
        assert!(fit.trace.iter().all(|t| t.words == 60_000));
        // The learning rate falls linearly over all epochs' words, 0.025 -> 0.0001.
        for t in &fit.trace {
            let planned = 0.025 - (0.025 - 0.0001) * t.epoch as f64 / 5.0;
            assert!(
                (t.alpha - planned).abs() < 1e-4,
                "epoch {}: {}",
                t.epoch,
                t.alpha
            );
        }
        let (first, last) = (fit.trace[0].mean_loss, fit.trace[4].mean_loss);
        assert!(last < first, "loss {first} -> {last}");
        // A random neighbour is in the cluster with probability 19/209.
        let share = neighbours_in_cluster(&fit);
        assert!(
            share > 0.8,
            "{workers} workers: {share} of neighbours in cluster"
        );
    }
}

#[test]
fn cbow_neighbours_recover_the_planted_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(&dir);
    let params = Word2vecParams {
        architecture: Architecture::Cbow,
        alpha: 0.05,
        ..params(&data)
    };
    let share = neighbours_in_cluster(&fit(2, &params));
    assert!(share > 0.8, "{share} of neighbours in cluster");
}

#[test]
fn skipgram_with_shared_negatives_recovers_the_planted_clusters_on_one_and_two_workers() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(&dir);
    let params = Word2vecParams {
        shared_negatives: true,
        ..params(&data)
    };
    for workers in [1, 2] {
        let fit = fit(workers, &params);
        let (first, last) = (fit.trace[0].mean_loss, fit.trace[4].mean_loss);
        assert!(last < first, "loss {first} -> {last}");
        let share = neighbours_in_cluster(&fit);
        assert!(
            share > 0.8,
            "{workers} workers: {share} of neighbours in cluster"
        );
    }
}

#[test]
fn a_seed_and_a_cluster_shape_fix_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(&dir);
    let params = Word2vecParams {
        epochs: 1,
        ..params(&data)
    };
    assert_eq!(fit(2, &params).vectors, fit(2, &params).vectors);
}

#[test]
fn no_word_reaching_the_minimum_count_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rare.txt");
    std::fs::write(&data, "a b c\nd e\n").unwrap();
    let error = train(&threads(2), &Word2vecParams::new(&data), Hooks::default()).unwrap_err();
    assert!(error.is_bad_input());
    let message = error.to_string();
    assert!(
        message.contains("rare.txt") && message.contains("at least 5"),
        "{message}"
    );
    let missing = dir.path().join("missing.txt");
    let error = train(
        &threads(1),
        &Word2vecParams::new(&missing),
        Hooks::default(),
    )
    .unwrap_err();
    assert!(matches!(error, Word2vecError::Ap(_)) && error.is_bad_input());
    assert!(error.to_string().contains("missing.txt"), "{error}");
}

#[test]
fn pairs_follow_the_dynamic_window_without_subsampling() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(&dir);
    let window = 5usize;
    let params = Word2vecParams {
        epochs: 1,
        sample: 0.0,
        dim: 8,
        window,
        ..params(&data)
    };
    let pairs = fit(2, &params).trace[0].pairs as f64;
    // Every sentence has 12 words; the center at i with window b (uniform in 1..=window) has
    // min(i, b) + min(11 - i, b) contexts. Expectation and variance, computed directly.
    let (mut mean, mut variance) = (0.0, 0.0);
    for i in 0..12usize {
        let counts: Vec<f64> = (1..=window)
            .map(|b| (i.min(b) + (11 - i).min(b)) as f64)
            .collect();
        let m = counts.iter().sum::<f64>() / window as f64;
        mean += m;
        variance += counts.iter().map(|c| (c - m) * (c - m)).sum::<f64>() / window as f64;
    }
    let (mean, sd) = (5000.0 * mean, (5000.0 * variance).sqrt());
    assert!(
        (pairs - mean).abs() < 5.0 * sd,
        "{pairs} pairs, expected {mean} +- {sd}"
    );
    // With word2vec's subsampling the frequent fillers are mostly dropped: fewer pairs.
    let sampled = fit(
        2,
        &Word2vecParams {
            sample: 1e-3,
            ..params
        },
    )
    .trace[0]
        .pairs as f64;
    assert!(sampled < 0.9 * mean, "{sampled} pairs with subsampling");
}
