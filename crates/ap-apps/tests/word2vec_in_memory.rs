//! word2vec on sentences in memory (what the Python bindings give it) and with hooks: the same
//! vectors as from the text file they were read from, a stop request that ends training after
//! the epoch it arrives in, and an observer that sees every epoch's record.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use strads_ap::{ApConfig, ClusterConfig};
use strads_ap_apps::word2vec::generate::{generate_text, TextSpec};
use strads_ap_apps::word2vec::{train, InMemorySentences, TraceRecord, Word2vecParams};
use strads_ap_apps::Hooks;

/// `threads` worker threads, debug mode off whatever the environment says.
fn threads(threads: usize) -> ApConfig {
    ApConfig {
        cluster: ClusterConfig::threads(threads),
        debug: false,
        print_strategies: false,
    }
}

fn small(params: Word2vecParams) -> Word2vecParams {
    Word2vecParams {
        dim: 16,
        min_count: 1,
        epochs: 3,
        ..params
    }
}

#[test]
fn sentences_in_memory_train_as_the_file_they_were_read_from() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clusters.txt");
    generate_text(&path, &TextSpec::default()).unwrap();
    // Read plainly: one sentence per line, whitespace-separated tokens.
    let sentences: Vec<Vec<String>> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect();
    let from_memory = small(Word2vecParams::in_memory(
        InMemorySentences::new(sentences).unwrap(),
    ));
    let file = train(
        &threads(1),
        &small(Word2vecParams::new(&path)),
        Hooks::default(),
    )
    .unwrap()
    .unwrap();
    let memory = train(&threads(1), &from_memory, Hooks::default())
        .unwrap()
        .unwrap();
    assert_eq!(memory.vectors, file.vectors);
    assert_eq!(memory.trace.len(), 3);
}

#[test]
fn a_stop_request_skips_the_rest_of_the_epoch_and_ends_training_and_the_observer_sees_each_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clusters.txt");
    generate_text(&path, &TextSpec::default()).unwrap();
    for (flag, epochs) in [(0, 3), (2, 1)] {
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        let params = small(Word2vecParams::new(&path));
        let hooks = Hooks {
            stop: Some(Arc::new(AtomicUsize::new(flag))),
            observer: Some(Arc::new(move |_: &TraceRecord| {
                count.fetch_add(1, Ordering::SeqCst);
            })),
        };
        let fit = train(&threads(2), &params, hooks).unwrap().unwrap();
        assert_eq!(fit.trace.len(), epochs, "flag {flag}");
        assert_eq!(seen.load(Ordering::SeqCst), epochs, "flag {flag}");
        // A request made before the first sentence skips the whole epoch's work.
        let words = fit.trace[0].words;
        assert!(
            if flag == 0 { words > 0 } else { words == 0 },
            "flag {flag}: {words} words"
        );
    }
}
