//! The SGD matrix factorisation examples (`examples/mf_sgd_sequential.rs`, `examples/mf_sgd_ap.rs`)
//! against `strads mf --algo sgd` (`strads_apps::mf::solve`) on one generated problem: the same
//! test RMSE within 1% after the same epochs, the AP version on 1 and 2 threads within 0.5% of
//! each other, and the sequential program equal to the AP version on one thread (one worker takes
//! the ratings in the same order, so every step is the same).

#[allow(dead_code)]
#[rustfmt::skip] // formatted with examples/rustfmt.toml
#[path = "../examples/mf_sgd_sequential.rs"]
mod sequential;

#[allow(dead_code)]
#[rustfmt::skip] // formatted with examples/rustfmt.toml
#[path = "../examples/mf_sgd_ap.rs"]
mod distributed;

use std::path::Path;

use strads_ap::{ApConfig, ClusterConfig};
use strads_apps::mf::{solve, Algorithm, Init, MfParams, RegScaling, SgdOptions};
use strads_apps::Hooks;
use strads_io::{generate_ratings, RatingsFormat, RatingsSpec};

const EPOCHS: usize = 10;

fn argv(train: &Path, test: &Path) -> Vec<String> {
    let (train, test) = (train.display().to_string(), test.display().to_string());
    let epochs = EPOCHS.to_string();
    let flags = [
        "--train",
        &train,
        "--test",
        &test,
        "--rank",
        "10",
        "--lambda",
        "0.05",
        "--lr",
        "0.05",
        "--lr-decay",
        "0.1",
        "--epochs",
        &epochs,
        "--seed",
        "1",
        "--quiet",
    ];
    flags.iter().map(|s| s.to_string()).collect()
}

/// The AP example's test RMSE after every epoch, on `threads` worker threads.
fn ap_rmse(argv: &[String], threads: usize) -> Vec<f64> {
    let args = distributed::Args::parse(argv).unwrap();
    let summaries = strads_ap::run(&ApConfig::threads(threads), move |ap| {
        distributed::train(ap, &args)
    })
    .unwrap();
    assert_eq!(summaries.len(), threads);
    summaries[0].epochs.iter().map(|e| e.2).collect()
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn sgd_examples_match_strads_mf() {
    let dir = tempfile::tempdir().unwrap();
    let spec = RatingsSpec {
        users: 10_000,
        items: 1_000,
        ratings: 500_000,
        rank: 10,
        noise: 0.5,
        skew: 0.5,
        test_fraction: 0.1,
        seed: 1,
    };
    let files = generate_ratings(&spec, &dir.path().join("ratings")).unwrap();
    let argv = argv(&files.train_path, &files.test_path);

    let params = MfParams {
        checkpointing: Default::default(),
        train: files.train_path.clone(),
        train_in_memory: None,
        test: Some(files.test_path.clone()),
        format: RatingsFormat::Auto,
        algorithm: Algorithm::Sgd(SgdOptions {
            learning_rate: 0.05,
            learning_rate_decay: 0.1,
            ..SgdOptions::default()
        }),
        rank: 10,
        lambda: 0.05,
        reg_scaling: RegScaling::None,
        iterations: EPOCHS,
        init: Init::Random,
        init_steps: 0,
        max_seconds: f64::INFINITY,
        seed: 1,
        collect_model: false,
    };
    let strads = solve(&ClusterConfig::threads(2), &params, Hooks::default())
        .unwrap()
        .unwrap();
    let strads_rmse = strads.last.rmse_test.unwrap();
    assert_eq!(strads.last.iteration, EPOCHS);

    let args = sequential::Args::parse(&argv).unwrap();
    let sequential: Vec<f64> = sequential::train(&args)
        .unwrap()
        .epochs
        .iter()
        .map(|e| e.2)
        .collect();
    let one = ap_rmse(&argv, 1);
    let two = ap_rmse(&argv, 2);
    assert_eq!(
        (sequential.len(), one.len(), two.len()),
        (EPOCHS, EPOCHS, EPOCHS)
    );

    for (epoch, (s, a)) in sequential.iter().zip(&one).enumerate() {
        assert!(
            relative(*a, *s) < 1e-12,
            "epoch {}: sequential {s}, AP on 1 thread {a}",
            epoch + 1
        );
    }
    let (one, two) = (one[EPOCHS - 1], two[EPOCHS - 1]);
    eprintln!("test RMSE after {EPOCHS} epochs: strads mf {strads_rmse}, AP 1 thread {one}, AP 2 threads {two}");
    assert!(
        relative(two, one) < 0.005,
        "AP on 2 threads {two}, on 1 thread {one}"
    );
    for (name, rmse) in [("1 thread", one), ("2 threads", two)] {
        assert!(
            relative(rmse, strads_rmse) < 0.01,
            "AP on {name}: test RMSE {rmse}, strads mf --algo sgd: {strads_rmse}"
        );
    }
    // The problem is learnt: well below the RMSE of predicting 0 (about 1.1 here).
    assert!(strads_rmse < 0.65, "strads mf: {strads_rmse}");
}
