//! `examples/word2vec_sequential.rs`, `strads word2vec`'s program written sequentially, against
//! the AP program: on one worker the AP program computes the same vectors and trace, bit for bit,
//! with per-pair negatives, with shared negatives and with CBOW.

use strads_ap::{ApConfig, ClusterConfig};
use strads_ap_apps::word2vec::generate::{generate_text, TextSpec};
use strads_ap_apps::word2vec::{train, Architecture, Word2vecParams};
use strads_ap_apps::Hooks;

#[allow(dead_code)]
#[path = "../examples/word2vec_sequential.rs"]
mod word2vec_sequential;

#[test]
fn the_sequential_program_and_the_ap_program_on_one_worker_learn_the_same_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("clusters.txt");
    generate_text(&data, &TextSpec::default()).unwrap();
    let config = ApConfig {
        cluster: ClusterConfig::threads(1),
        debug: false,
        print_strategies: false,
    };
    let base = Word2vecParams {
        dim: 16,
        epochs: 2,
        min_count: 2,
        // Small packs: the AP program merges (on one worker: does nothing) many times a pass.
        sync_words: 3000,
        ..Word2vecParams::new(&data)
    };
    let variants = [
        base.clone(),
        Word2vecParams {
            shared_negatives: true,
            ..base.clone()
        },
        Word2vecParams {
            architecture: Architecture::Cbow,
            ..base.clone()
        },
    ];
    for params in &variants {
        let ap = train(&config, params, Hooks::default()).unwrap().unwrap();
        let (vectors, trace) = word2vec_sequential::fit(params).unwrap();
        assert_eq!(ap.vectors, vectors, "{params:?}");
        let summary = |t: &[strads_ap_apps::word2vec::TraceRecord]| -> Vec<(u64, u64, f64, f64)> {
            t.iter()
                .map(|r| (r.words, r.pairs, r.mean_loss, r.alpha))
                .collect()
        };
        assert_eq!(summary(&ap.trace), summary(&trace), "{params:?}");
    }
}
