//! Matrix factorisation end to end on generated low-rank problems: convergence, monotone CCD++,
//! and identical factors across cluster shapes.

use std::path::Path;

use strads_apps::mf::{solve, Algorithm, MfParams, MfSolution, Model, RegScaling};
use strads_engine::ClusterConfig;
use strads_io::{generate_ratings, RatingsFormat, RatingsSpec};

fn noiseless(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let spec = RatingsSpec {
        users: 300,
        items: 200,
        ratings: 24_000,
        rank: 3,
        noise: 0.0,
        skew: 0.3,
        test_fraction: 0.1,
        seed: 11,
    };
    let summary = generate_ratings(&spec, &dir.join("low-rank")).unwrap();
    (summary.train_path, summary.test_path)
}

fn params(train: &Path, test: &Path, algorithm: Algorithm, iterations: usize) -> MfParams {
    MfParams {
        train: train.to_owned(),
        test: Some(test.to_owned()),
        format: RatingsFormat::Auto,
        algorithm,
        rank: 3,
        lambda: 1e-4,
        reg_scaling: RegScaling::None,
        iterations,
        inner_iterations: 1,
        max_seconds: f64::INFINITY,
        seed: 3,
        learning_rate: 0.02,
        learning_rate_decay: 0.01,
        collect_model: true,
    }
}

fn run(threads: usize, params: &MfParams) -> MfSolution {
    solve(&ClusterConfig::threads(threads), params, None)
        .unwrap()
        .expect("one process holds the leader")
}

fn max_difference(a: &Model, b: &Model) -> f64 {
    assert_eq!(a.user_ids, b.user_ids);
    a.w.iter()
        .zip(&b.w)
        .chain(a.h.iter().zip(&b.h))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn every_algorithm_fits_a_noiseless_low_rank_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    for (algorithm, iterations) in [
        (Algorithm::Ccd, 60),
        (Algorithm::Als, 30),
        (Algorithm::Sgd, 300),
    ] {
        let solution = run(2, &params(&train, &test, algorithm, iterations));
        let rmse = solution.last.rmse_test.unwrap();
        assert!(
            rmse < 0.01,
            "{algorithm:?}: test RMSE {rmse}, trace {:?}",
            solution.trace.last()
        );
        assert_eq!(solution.unseen_test_ratings, 0);
    }
}

#[test]
fn ccd_never_increases_the_objective() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    for reg_scaling in [RegScaling::None, RegScaling::Count] {
        let mut p = params(&train, &test, Algorithm::Ccd, 25);
        p.reg_scaling = reg_scaling;
        p.lambda = 0.05;
        let solution = run(2, &p);
        for pair in solution.trace.windows(2) {
            assert!(
                pair[1].objective <= pair[0].objective * (1.0 + 1e-12),
                "{:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}

#[test]
fn ccd_and_als_factors_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    for algorithm in [Algorithm::Ccd, Algorithm::Als] {
        let p = params(&train, &test, algorithm, 5);
        let one = run(1, &p).model.unwrap();
        for threads in [2, 3] {
            let other = run(threads, &p).model.unwrap();
            let difference = max_difference(&one, &other);
            assert!(
                difference <= 1e-9,
                "{algorithm:?} {threads} threads: {difference}"
            );
        }
    }
}

#[test]
fn sgd_is_identical_for_the_same_seed_and_cluster_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    let p = params(&train, &test, Algorithm::Sgd, 5);
    let a = run(2, &p).model.unwrap();
    let b = run(2, &p).model.unwrap();
    assert_eq!(a, b);
    let mut other_seed = p.clone();
    other_seed.seed = 4;
    assert_ne!(run(2, &other_seed).model.unwrap(), a);
}
