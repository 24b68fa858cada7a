//! The runner on a toy app: a running sum of every worker's `index + 1` per iteration, checked
//! against its closed form; a stop request seen at the first boundary by every worker; the
//! observer called on worker 0 only; bad parameters refused before the cluster forms.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use strads_engine::{ClusterConfig, ProcessFigures, Worker};
use strads_runner::{run_app, App, Footprint, Hooks, Run, RunError, Timing};

/// Adds `sum over workers of (index + 1)` once per iteration, for `iterations` iterations.
struct CountingApp;

#[derive(Clone)]
struct Params {
    iterations: u64,
}

/// Iterations done and the running total, the same on every worker.
#[derive(Debug)]
struct Solved {
    iterations: u64,
    total: f64,
}

impl App for CountingApp {
    type Params = Params;
    type Record = (u64, f64);
    type Loaded = f64;
    type Solved = Solved;
    type Output = (Solved, Timing, Vec<ProcessFigures>);
    type Error = RunError;

    fn check(params: &Params, _cluster: &ClusterConfig) -> Result<(), RunError> {
        if params.iterations == 0 {
            return Err(RunError::InvalidArgument(
                "iterations must be at least 1".into(),
            ));
        }
        Ok(())
    }

    fn load(
        worker: &mut Worker<'_>,
        _params: &Params,
        _run: &mut Run<(u64, f64)>,
    ) -> Result<f64, RunError> {
        Ok(worker.index() as f64 + 1.0)
    }

    fn solve(
        worker: &mut Worker<'_>,
        params: &Params,
        share: f64,
        run: &mut Run<(u64, f64)>,
    ) -> Result<Solved, RunError> {
        let mut total = 0.0;
        for iteration in 1..=params.iterations {
            total += worker.all_reduce_sum(&[share])?[0];
            run.observe(worker, &(iteration, total));
            let seconds = run.seconds();
            if run.boundary(worker, iteration, seconds)?.stop.is_some() {
                return Ok(Solved {
                    iterations: iteration,
                    total,
                });
            }
        }
        Ok(Solved {
            iterations: params.iterations,
            total,
        })
    }

    fn gather(
        _worker: &mut Worker<'_>,
        _params: &Params,
        _solved: &mut Solved,
    ) -> Result<Footprint, RunError> {
        Ok(Footprint {
            bytes_read: 10,
            held: 1,
        })
    }

    fn summarise(
        _params: &Params,
        solved: Solved,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> Self::Output {
        (solved, timing, processes)
    }
}

/// Worker 0's output of a run: the result, its timing and the processes' figures.
type Output = (Solved, Timing, Vec<ProcessFigures>);

/// Runs the app on `threads` threads with `hooks`; returns worker 0's output and the records
/// the observer saw.
fn run(threads: usize, iterations: u64, stop: Option<usize>) -> (Output, Vec<(u64, f64)>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let hooks = Hooks {
        stop: stop.map(|signal| Arc::new(AtomicUsize::new(signal))),
        observer: Some(Arc::new(move |record: &(u64, f64)| {
            sink.lock().unwrap().push(*record)
        })),
    };
    let output = run_app::<CountingApp>(
        &ClusterConfig::threads(threads),
        &Params { iterations },
        hooks,
    )
    .unwrap()
    .expect("one process runs worker 0");
    let seen = seen.lock().unwrap().clone();
    (output, seen)
}

#[test]
fn every_iteration_runs_and_worker_0_alone_observes_each() {
    for threads in 1..=3 {
        let ((solved, timing, processes), seen) = run(threads, 4, None);
        // Each iteration adds 1 + 2 + ... + threads.
        let per_iteration = (threads * (threads + 1) / 2) as f64;
        assert_eq!(solved.iterations, 4);
        assert_eq!(solved.total, 4.0 * per_iteration);
        let expected: Vec<(u64, f64)> = (1..=4).map(|i| (i, i as f64 * per_iteration)).collect();
        assert_eq!(seen, expected, "{threads} threads");
        assert!(timing.load_seconds >= 0.0 && timing.solve_seconds >= 0.0);
        // One process: its workers' footprints summed.
        assert_eq!(processes.len(), 1);
        assert_eq!(processes[0].bytes_read, 10 * threads as u64);
        assert_eq!(processes[0].held, threads as u64);
    }
}

#[test]
fn a_stop_request_stops_every_worker_at_the_first_boundary() {
    let ((solved, _, _), seen) = run(2, 10, Some(2));
    assert_eq!(solved.iterations, 1);
    assert_eq!(solved.total, 3.0);
    assert_eq!(seen, vec![(1, 3.0)]);
}

#[test]
fn a_stop_request_left_at_zero_changes_nothing() {
    let ((solved, _, _), seen) = run(2, 5, Some(0));
    assert_eq!((solved.iterations, solved.total), (5, 15.0));
    assert_eq!(seen.len(), 5);
}

#[test]
fn bad_parameters_fail_before_the_cluster_forms() {
    let error = run_app::<CountingApp>(
        &ClusterConfig::threads(2),
        &Params { iterations: 0 },
        Hooks::default(),
    )
    .unwrap_err();
    assert!(matches!(error, RunError::InvalidArgument(_)), "{error}");
    assert_eq!(error.exit_code(), 2);
}
