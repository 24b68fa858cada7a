//! `examples/mlr_sequential.rs`, `strads mlr`'s program written sequentially, against the AP
//! program: on one worker the AP program computes the same fit (L-BFGS bit for bit; SGD up to
//! the rounding of merging a mini-batch's change back into the weights), on two workers L-BFGS
//! reaches the same objective.

use std::path::Path;

use strads_ap::{ApConfig, ClusterConfig};
use strads_ap_apps::mlr::generate::{generate_mlr, MlrSpec};
use strads_ap_apps::mlr::{train, Fit, MlrParams, SgdSettings, Solver};
use strads_ap_apps::Hooks;

#[allow(dead_code)]
#[path = "../examples/mlr_sequential.rs"]
mod mlr_sequential;

fn ap(workers: usize, params: &MlrParams) -> Fit {
    let config = ApConfig {
        cluster: ClusterConfig::threads(workers),
        debug: false,
        print_strategies: false,
    };
    train(&config, params, Hooks::default()).unwrap().unwrap()
}

fn problem(dir: &Path) -> MlrParams {
    let path = dir.join("train.libsvm");
    let spec = MlrSpec {
        rows: 3000,
        test_rows: 0,
        classes: 4,
        features: 20,
        nnz_per_row: 6,
        scale: 3.0,
        seed: 11,
    };
    generate_mlr(&spec, &path).unwrap();
    MlrParams {
        lambda: 0.5,
        intercept: true,
        ..MlrParams::new(&path)
    }
}

#[test]
fn the_sequential_program_and_the_ap_program_fit_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let lbfgs = problem(dir.path());
    let sequential = mlr_sequential::fit(&lbfgs).unwrap();
    let one = ap(1, &lbfgs);
    assert_eq!(
        sequential.weights, one.weights,
        "L-BFGS on one worker, bit for bit"
    );
    assert_eq!(
        (sequential.objective, sequential.iterations),
        (one.objective, one.iterations)
    );
    assert_eq!(sequential.train, one.train);
    let two = ap(2, &lbfgs);
    let gap = (two.objective - sequential.objective).abs() / sequential.objective;
    assert!(
        gap < 1e-9,
        "L-BFGS on two workers: {} vs {}",
        two.objective,
        sequential.objective
    );

    let sgd = MlrParams {
        solver: Solver::Sgd(SgdSettings {
            epochs: 4,
            batch: 100,
            ..SgdSettings::default()
        }),
        ..lbfgs
    };
    let sequential = mlr_sequential::fit(&sgd).unwrap();
    let one = ap(1, &sgd);
    for (s, a) in sequential.weights.iter().zip(&one.weights) {
        assert!(
            (s - a).abs() <= 1e-9 * s.abs().max(1.0),
            "SGD weight {s} vs {a}"
        );
    }
    assert_eq!(sequential.trace.len(), 4);
    let (first, last) = (&sequential.trace[0], &sequential.trace[3]);
    assert!(
        last.objective < first.objective,
        "SGD lowers the objective over the epochs"
    );
}
