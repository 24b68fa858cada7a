//! Matrix factorisation end to end on generated low-rank problems: convergence, monotone CCD++,
//! and identical factors across cluster shapes.

use std::path::Path;

use strads_apps::mf::{
    solve, Algorithm, AlgorithmKind, AlsOptions, CcdOptions, Init, MfParams, MfSolution, Model,
    RegScaling, SgdOptions,
};
use strads_apps::Hooks;
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

/// The test problem's options of each solver.
fn with_options(algorithm: AlgorithmKind) -> Algorithm {
    match algorithm {
        AlgorithmKind::Ccd => Algorithm::Ccd(CcdOptions {
            inner_iterations: 1,
        }),
        AlgorithmKind::Als => Algorithm::Als(AlsOptions::default()),
        AlgorithmKind::Sgd => Algorithm::Sgd(SgdOptions {
            learning_rate: 0.02,
            learning_rate_decay: 0.01,
            ..SgdOptions::default()
        }),
    }
}

fn params(train: &Path, test: &Path, algorithm: AlgorithmKind, iterations: usize) -> MfParams {
    MfParams {
        checkpointing: Default::default(),
        train: train.to_owned(),
        train_in_memory: None,
        test: Some(test.to_owned()),
        format: RatingsFormat::Auto,
        algorithm: with_options(algorithm),
        rank: 3,
        lambda: 1e-4,
        reg_scaling: RegScaling::None,
        iterations,
        init: Init::Spectral,
        init_steps: 2,
        max_seconds: f64::INFINITY,
        seed: 3,
        collect_model: true,
    }
}

fn run(threads: usize, params: &MfParams) -> MfSolution {
    solve(&ClusterConfig::threads(threads), params, Hooks::default())
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
        (AlgorithmKind::Ccd, 60),
        (AlgorithmKind::Als, 30),
        (AlgorithmKind::Sgd, 300),
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
        let mut p = params(&train, &test, AlgorithmKind::Ccd, 25);
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

/// A noisy problem (its optimum is not the truth, and ALS needs many iterations to it).
fn noisy(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let spec = RatingsSpec {
        users: 400,
        items: 150,
        ratings: 12_000,
        rank: 4,
        noise: 0.5,
        skew: 0.8,
        test_fraction: 0.1,
        seed: 5,
    };
    let summary = generate_ratings(&spec, &dir.join("noisy")).unwrap();
    (summary.train_path, summary.test_path)
}

#[test]
fn extrapolated_als_reaches_the_optimum_of_plain_als_and_never_increases_the_objective() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noisy(dir.path());
    for reg_scaling in [RegScaling::None, RegScaling::Count] {
        let fit = |extrapolation: f64, iterations: usize| {
            let mut p = params(&train, &test, AlgorithmKind::Als, iterations);
            p.algorithm = Algorithm::Als(AlsOptions { extrapolation });
            p.reg_scaling = reg_scaling;
            p.lambda = 0.05;
            run(2, &p)
        };
        // Plain ALS run long enough that its objective no longer moves in 12 digits (its
        // slow tail is what extrapolation is for).
        let plain = fit(0.0, 5000);
        let extrapolated = fit(AlsOptions::default().extrapolation, 400);
        for solution in [&plain, &extrapolated] {
            // Up to rounding: at the optimum the objective moves in its last digits.
            for pair in solution.trace.windows(2) {
                assert!(
                    pair[1].objective <= pair[0].objective * (1.0 + 1e-12),
                    "{reg_scaling:?}: {:?} then {:?}",
                    pair[0],
                    pair[1]
                );
            }
        }
        let optimum = plain.last.objective;
        let relative = |objective: f64| (objective - optimum).abs() / optimum;
        assert!(
            relative(extrapolated.last.objective) <= 1e-9,
            "{reg_scaling:?}: extrapolated {} vs plain {optimum}",
            extrapolated.last.objective
        );
        // The same factors, not only the same objective (up to the optimum's flatness).
        let (a, b) = (plain.model.unwrap(), extrapolated.model.unwrap());
        let predictions = |m: &Model| -> Vec<f64> {
            (0..a.user_ids.len())
                .flat_map(|i| {
                    let w = &m.w[i * 3..][..3];
                    (0..a.item_ids.len()).map(move |j| {
                        let h = &m.h[j * 3..][..3];
                        w.iter().zip(h).map(|(x, y)| x * y).sum::<f64>()
                    })
                })
                .collect()
        };
        let largest = predictions(&a)
            .iter()
            .zip(&predictions(&b))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(
            largest <= 1e-3,
            "{reg_scaling:?}: predictions differ by {largest}"
        );
        // Where plain ALS is after 30 iterations, extrapolation is sooner.
        let plain_30 = fit(0.0, 30).last.objective;
        let sooner = extrapolated
            .trace
            .iter()
            .position(|r| r.objective <= plain_30)
            .unwrap();
        assert!(
            sooner < 30,
            "{reg_scaling:?}: extrapolated reaches plain's 30th at {sooner}"
        );
    }
}

#[test]
fn ccd_and_als_factors_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    for init in [Init::Spectral, Init::Random] {
        for algorithm in [AlgorithmKind::Ccd, AlgorithmKind::Als] {
            let mut p = params(&train, &test, algorithm, 5);
            p.init = init;
            let one = run(1, &p).model.unwrap();
            for threads in [2, 3] {
                let other = run(threads, &p).model.unwrap();
                let difference = max_difference(&one, &other);
                assert!(
                    difference <= 1e-9,
                    "{init:?} {algorithm:?} {threads} threads: {difference}"
                );
            }
        }
    }
}

/// Orthonormal columns spanning the columns of `a` (`rows x k`, row-major), by Gram-Schmidt.
fn orthonormal_columns(a: &[f64], k: usize) -> Vec<f64> {
    let rows = a.len() / k;
    let mut q = a.to_vec();
    for t in 0..k {
        for s in 0..t {
            let projection: f64 = (0..rows).map(|r| q[r * k + s] * q[r * k + t]).sum();
            for r in 0..rows {
                q[r * k + t] -= projection * q[r * k + s];
            }
        }
        let norm: f64 = (0..rows).map(|r| q[r * k + t].powi(2)).sum::<f64>().sqrt();
        for r in 0..rows {
            q[r * k + t] /= norm;
        }
    }
    q
}

#[test]
fn the_spectral_start_spans_the_top_eigenvectors_of_the_co_rating_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    let mut p = params(&train, &test, AlgorithmKind::Ccd, 0);
    p.init_steps = 60;
    let model = run(2, &p).model.unwrap();
    assert!(model.w.iter().all(|&x| x == 0.0), "W starts at 0");
    // The reference: A = R^T R without its diagonal, built densely from the file, and its
    // eigenvectors by a dense Jacobi decomposition (not by subspace iteration).
    let ratings = strads_io::read_ratings(&train, RatingsFormat::Auto, 1).unwrap();
    let n = ratings.n_items();
    let k = p.rank;
    let mut by_user = vec![Vec::new(); ratings.n_users()];
    for r in 0..ratings.len() {
        let user = ratings.users[r] as usize;
        by_user[user].push((ratings.items[r] as usize, ratings.values[r]));
    }
    let mut a = vec![0.0; n * n];
    for row in &by_user {
        for &(x, rx) in row {
            for &(y, ry) in row {
                if x != y {
                    a[x * n + y] += rx * ry;
                }
            }
        }
    }
    let (values, vectors) = strads_apps::mf::kernels::symmetric_eigen(&a, n);
    assert!(
        values[k - 1] > 2.0 * values[k].abs(),
        "a clear gap: {values:?}"
    );
    let top: Vec<f64> = (0..n)
        .flat_map(|r| vectors[r * n..r * n + k].to_vec())
        .collect();
    // Same item order: dense indices come from the same file.
    let q = orthonormal_columns(&model.h, k);
    // The projections onto the two spans agree: ||Q Q^T - V V^T||_max is small.
    let mut worst = 0.0f64;
    for x in 0..n {
        for y in 0..n {
            let pq: f64 = (0..k).map(|t| q[x * k + t] * q[y * k + t]).sum();
            let pv: f64 = (0..k).map(|t| top[x * k + t] * top[y * k + t]).sum();
            worst = worst.max((pq - pv).abs());
        }
    }
    assert!(worst < 1e-8, "projections differ by {worst}");
}

#[test]
fn sgd_is_identical_for_the_same_seed_and_cluster_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    let p = params(&train, &test, AlgorithmKind::Sgd, 5);
    let a = run(2, &p).model.unwrap();
    let b = run(2, &p).model.unwrap();
    assert_eq!(a, b);
    let mut other_seed = p.clone();
    other_seed.seed = 4;
    assert_ne!(run(2, &other_seed).model.unwrap(), a);
}

/// Evaluating SGD only every few epochs changes the trace, not the model: the factors are
/// bit-identical to those of a run evaluated after every epoch, and the records kept are those
/// of the start, the multiples and the last epoch, each equal to the every-epoch run's.
#[test]
fn sgd_evaluated_every_few_epochs_returns_the_same_factors() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    let every_epoch = params(&train, &test, AlgorithmKind::Sgd, 7);
    let Algorithm::Sgd(options) = every_epoch.algorithm else {
        unreachable!("an SGD problem")
    };
    let every_third = MfParams {
        algorithm: Algorithm::Sgd(SgdOptions {
            evaluate_every: std::num::NonZeroUsize::new(3).unwrap(),
            ..options
        }),
        ..every_epoch.clone()
    };
    for threads in [1, 2] {
        let full = run(threads, &every_epoch);
        let sparse = run(threads, &every_third);
        let (a, b) = (full.model.unwrap(), sparse.model.unwrap());
        assert_eq!((a.w, a.h), (b.w, b.h), "{threads} threads");
        let kept: Vec<usize> = sparse.trace.iter().map(|r| r.iteration).collect();
        assert_eq!(kept, [0, 3, 6, 7]);
        for record in &sparse.trace {
            let same = &full.trace[record.iteration];
            assert_eq!(
                (record.objective, record.rmse_test),
                (same.objective, same.rmse_test)
            );
        }
        assert_eq!(sparse.last.iteration, 7);
    }
}

#[test]
fn a_rank_above_the_item_count_still_fits() {
    // 3 items and rank 5: at most 3 directions exist, the other columns keep a random start.
    let dir = tempfile::tempdir().unwrap();
    let spec = RatingsSpec {
        users: 200,
        items: 3,
        ratings: 280,
        rank: 2,
        noise: 0.0,
        skew: 0.0,
        test_fraction: 0.1,
        seed: 5,
    };
    let summary = generate_ratings(&spec, &dir.path().join("narrow")).unwrap();
    for algorithm in [AlgorithmKind::Ccd, AlgorithmKind::Als] {
        let mut p = params(&summary.train_path, &summary.test_path, algorithm, 0);
        p.rank = 5;
        let start = run(2, &p).model.unwrap();
        for t in 0..5 {
            assert!(
                start.h.iter().skip(t).step_by(5).any(|&x| x != 0.0),
                "{algorithm:?}: column {t} of H starts at 0"
            );
        }
        p.iterations = 40;
        let solution = run(2, &p);
        assert!(
            solution.last.rmse_train < 0.01,
            "{algorithm:?}: {:?}",
            solution.last
        );
    }
}

/// The training ratings given in memory (as dense indices in the ids' numeric order, as the
/// Python bindings give them) factorise to the same factors as the file, bit for bit (CCD++'s
/// sums do not depend on how the ratings are split).
#[test]
fn ratings_in_memory_give_the_factors_of_the_same_ratings_in_a_file() {
    use strads_apps::mf::InMemoryRatings;
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = noiseless(dir.path());
    let text = std::fs::read_to_string(&train).unwrap();
    let triples: Vec<(u64, u64, f64)> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (
                fields[0].parse().unwrap(),
                fields[1].parse().unwrap(),
                fields[2].parse().unwrap(),
            )
        })
        .collect();
    let dense = |ids: Vec<u64>| -> Vec<u32> {
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        ids.iter()
            .map(|id| sorted.binary_search(id).unwrap() as u32)
            .collect()
    };
    let users = dense(triples.iter().map(|t| t.0).collect());
    let items = dense(triples.iter().map(|t| t.1).collect());
    let values = triples.iter().map(|t| t.2).collect();
    let mut from_file = params(&train, &test, AlgorithmKind::Ccd, 3);
    from_file.test = None;
    let mut from_memory = from_file.clone();
    from_memory.train_in_memory = Some(InMemoryRatings::new(users, items, values).unwrap());
    let file_model = run(2, &from_file).model.unwrap();
    let memory_model = run(3, &from_memory).model.unwrap();
    assert_eq!(file_model.w, memory_model.w);
    assert_eq!(file_model.h, memory_model.h);
    assert_eq!(memory_model.user_ids.len(), file_model.user_ids.len());
    assert_eq!(memory_model.user_ids[0], "0");
}

/// Arrays of different lengths, or a rating that is not a number, are refused by rating.
#[test]
fn ratings_in_memory_that_are_not_numbers_name_the_rating() {
    use strads_apps::mf::InMemoryRatings;
    let error = InMemoryRatings::new(vec![0, 1], vec![0, 0], vec![1.0, f64::NAN]).unwrap_err();
    assert!(error.to_string().contains("rating 1 is NaN"), "{error}");
    let error = InMemoryRatings::new(vec![0], vec![0, 0], vec![1.0]).unwrap_err();
    assert!(error.to_string().contains("1 users, 2 items"), "{error}");
}

/// Indices in memory must be dense: one without a rating is named.
#[test]
fn ratings_in_memory_with_a_gap_in_the_indices_name_it() {
    use strads_apps::mf::InMemoryRatings;
    let error = InMemoryRatings::new(vec![0, 2], vec![0, 0], vec![1.0, 2.0]).unwrap_err();
    assert!(
        error.to_string().contains("user index 1 has no rating"),
        "{error}"
    );
}

/// A parameter out of range is a typed error naming the parameter as `MfParams` does (the CLI
/// maps it to its flag); no library error names a command-line flag. Checked before any file
/// is read, so the paths need not exist.
#[test]
fn out_of_range_parameters_are_typed_errors_naming_no_flag() {
    use strads_apps::{AppError, Parameter};
    let base = params(
        Path::new("absent-train"),
        Path::new("absent-test"),
        AlgorithmKind::Sgd,
        1,
    );
    let cases: [(MfParams, Parameter, &str); 4] = [
        (
            MfParams {
                rank: 0,
                ..base.clone()
            },
            Parameter::Rank,
            "0",
        ),
        (
            MfParams {
                algorithm: Algorithm::Sgd(SgdOptions {
                    learning_rate: -1.0,
                    ..SgdOptions::default()
                }),
                ..base.clone()
            },
            Parameter::LearningRate,
            "-1",
        ),
        (
            MfParams {
                algorithm: Algorithm::Ccd(CcdOptions {
                    inner_iterations: 0,
                }),
                ..base.clone()
            },
            Parameter::InnerIterations,
            "0",
        ),
        (
            MfParams {
                max_seconds: 0.0,
                ..base.clone()
            },
            Parameter::MaxSeconds,
            "0",
        ),
    ];
    for (bad, expected, shown) in cases {
        let error = solve(&ClusterConfig::threads(1), &bad, Hooks::default()).unwrap_err();
        let message = error.to_string();
        assert_eq!(error.exit_code(), 2, "{message}");
        match error {
            AppError::InvalidParameter {
                parameter, value, ..
            } => {
                assert_eq!(parameter, expected, "{message}");
                assert_eq!(value, shown, "{message}");
            }
            other => panic!("{expected}: not a parameter error: {other}"),
        }
        assert!(
            message.starts_with(expected.name()) && !message.contains("--"),
            "{message}"
        );
    }
}
