//! `strads_ap_apps::mlr` on examples in memory (what the Python bindings give it) and with
//! hooks: the same fit as from the libsvm file they were read from, a stop request that ends
//! the run at the next boundary on every worker, and an observer that sees every trace record.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use strads_ap::{ApConfig, ClusterConfig};
use strads_ap_apps::mlr::{
    train, InMemoryExamples, LbfgsSettings, MlrParams, SgdSettings, Solver, StopReason, TraceRecord,
};
use strads_ap_apps::{Hooks, Observer};
use strads_io::SparseRows;

/// `threads` worker threads, debug mode off whatever the environment says.
fn threads(threads: usize) -> ApConfig {
    ApConfig {
        cluster: ClusterConfig::threads(threads),
        debug: false,
        print_strategies: false,
    }
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/digits.libsvm")
}

/// The file's rows, read plainly (1-based indices, integer labels), and its width.
fn read_rows(path: &Path) -> (SparseRows, usize) {
    let mut rows = SparseRows::new();
    let mut width = 0;
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let mut tokens = line.split_whitespace();
        let Some(label) = tokens.next() else { continue };
        let (mut columns, mut values) = (Vec::new(), Vec::new());
        for token in tokens {
            let (j, v) = token.split_once(':').unwrap();
            let value: f64 = v.parse().unwrap();
            if value != 0.0 {
                columns.push(j.parse::<u32>().unwrap() - 1);
                values.push(value);
            }
        }
        width = width.max(columns.last().map_or(0, |&c| c as usize + 1));
        rows.push_row(label.parse().unwrap(), &columns, &values);
    }
    (rows, width)
}

fn lbfgs() -> Solver {
    Solver::Lbfgs(LbfgsSettings {
        tol: 1e-9,
        max_iterations: 5000,
        ..LbfgsSettings::default()
    })
}

#[test]
fn examples_in_memory_fit_as_the_file_they_were_read_from() {
    let (rows, width) = read_rows(&digits());
    let in_memory = InMemoryExamples::new(rows, width).unwrap();
    let from_memory = MlrParams {
        lambda: 0.5,
        solver: lbfgs(),
        ..MlrParams::in_memory(in_memory)
    };
    let from_file = MlrParams {
        lambda: 0.5,
        solver: lbfgs(),
        ..MlrParams::new(&digits())
    };
    let file = train(&threads(1), &from_file, Hooks::default())
        .unwrap()
        .unwrap();
    // One worker visits the examples in the same order: the same sums, bit for bit.
    let memory = train(&threads(1), &from_memory, Hooks::default())
        .unwrap()
        .unwrap();
    assert_eq!(memory.weights, file.weights);
    assert_eq!(memory.objective, file.objective);
    assert_eq!(memory.classes, file.classes);
    // Two workers split the rows by count (the file by bytes): other partial sums.
    let two = train(&threads(2), &from_memory, Hooks::default())
        .unwrap()
        .unwrap();
    assert!(
        (two.objective - file.objective).abs() <= 1e-9 * file.objective,
        "{} vs {}",
        two.objective,
        file.objective
    );
}

#[test]
fn a_wider_x_than_its_columns_gets_zero_weights_for_the_empty_features() {
    let (rows, width) = read_rows(&digits());
    let wide = MlrParams {
        solver: lbfgs(),
        ..MlrParams::in_memory(InMemoryExamples::new(rows.clone(), width + 3).unwrap())
    };
    let narrow = MlrParams {
        solver: lbfgs(),
        ..MlrParams::in_memory(InMemoryExamples::new(rows, width).unwrap())
    };
    let wide = train(&threads(1), &wide, Hooks::default())
        .unwrap()
        .unwrap();
    let narrow = train(&threads(1), &narrow, Hooks::default())
        .unwrap()
        .unwrap();
    let k = narrow.shape.classes;
    assert_eq!(wide.shape.features, width + 3);
    assert_eq!(&wide.weights[..width * k], &narrow.weights[..]);
    assert!(wide.weights[width * k..].iter().all(|&w| w == 0.0));
}

/// A run of `solver` on two workers with a stop flag set from the start and an observer.
fn stopped_run(solver: Solver) -> (strads_ap_apps::mlr::Fit, Vec<TraceRecord>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let observer: Observer<TraceRecord> =
        Arc::new(move |record: &TraceRecord| sink.lock().unwrap().push(record.clone()));
    let params = MlrParams {
        solver,
        ..MlrParams::new(&digits())
    };
    let hooks = Hooks {
        stop: Some(Arc::new(AtomicUsize::new(2))),
        observer: Some(observer),
    };
    let fit = train(&threads(2), &params, hooks).unwrap().unwrap();
    let seen = seen.lock().unwrap().clone();
    (fit, seen)
}

#[test]
fn a_stop_request_ends_lbfgs_at_its_first_boundary_on_every_worker() {
    let (fit, seen) = stopped_run(lbfgs());
    assert_eq!(fit.stop, StopReason::Interrupted);
    assert_eq!(fit.iterations, 0);
    assert!(fit.weights.iter().all(|&w| w == 0.0));
    // Worker 0's observer saw the one record, once (the other worker does not report).
    assert_eq!(seen, fit.trace);
    assert_eq!(seen.len(), 1);
}

#[test]
fn a_stop_request_skips_the_rest_of_the_sgd_epoch_and_ends_it() {
    let (fit, seen) = stopped_run(Solver::Sgd(SgdSettings::default()));
    assert_eq!(fit.stop, StopReason::Interrupted);
    assert_eq!(fit.iterations, 1);
    // Set from the start, the request skipped every example: the weights never moved.
    assert!(fit.weights.iter().all(|&w| w == 0.0));
    assert_eq!(seen, fit.trace);
    assert_eq!(seen.len(), 1);
}

#[test]
fn an_observer_sees_every_record_of_a_run_that_is_not_stopped() {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let params = MlrParams {
        solver: lbfgs(),
        ..MlrParams::new(&digits())
    };
    let hooks = Hooks {
        stop: Some(Arc::new(AtomicUsize::new(0))),
        observer: Some(Arc::new(move |_: &TraceRecord| {
            count.fetch_add(1, Ordering::SeqCst);
        })),
    };
    let fit = train(&threads(2), &params, hooks).unwrap().unwrap();
    assert_ne!(fit.stop, StopReason::Interrupted);
    assert_eq!(seen.load(Ordering::SeqCst), fit.trace.len());
}
