//! The k-means example app (`examples/kmeans.rs`, on `run_app` and the replicated-rounds driver)
//! against Lloyd's algorithm written plainly here over all the points at once: the same centres
//! (to 1e-9), counts and iterations on 1, 2 and 3 threads and on 2 real processes of 1 and 2
//! threads over loopback (the test binary starts itself twice; the engine's test support); its
//! answer a fixed point (each centre the mean of the points nearest to it); one observed trace
//! record per iteration; bad parameters refused.

use std::sync::{Arc, Mutex};

use strads_engine::ClusterConfig;
use strads_runner::{run_app, Hooks, RunError};

#[allow(dead_code)] // `main`, unused here.
#[rustfmt::skip] // formatted with examples/rustfmt.toml
#[path = "../examples/kmeans.rs"]
mod kmeans;

#[path = "../../engine/tests/support/mod.rs"]
mod support;

use kmeans::{point, Clustering, KMeans, Params, Point, K};

const PARAMS: Params = Params {
    points: 3_000,
    seed: 7,
    max_iterations: 200,
};

/// Worker 0's answer and the trace records the observer saw.
fn run(cluster: &ClusterConfig) -> (Clustering, Vec<Clustering>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let observer = Arc::new(move |record: &Clustering| sink.lock().unwrap().push(record.clone()));
    let (answer, _timing) = run_app::<KMeans>(cluster, &PARAMS, Hooks::observing(Some(observer)))
        .unwrap()
        .expect("one process holds worker 0");
    let seen = seen.lock().unwrap().clone();
    (answer, seen)
}

/// The squared distance between two points.
fn squared_distance(a: &Point, b: &Point) -> f64 {
    (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1])
}

/// The index of the centre nearest to `x`, the first of equals.
fn nearest(centres: &[Point], x: &Point) -> usize {
    let mut best = 0;
    for k in 1..centres.len() {
        if squared_distance(&centres[k], x) < squared_distance(&centres[best], x) {
            best = k;
        }
    }
    best
}

/// Each centre's points' coordinate sums and count under `assignment`.
fn sums(points: &[Point], assignment: &[usize]) -> (Vec<Point>, Vec<u64>) {
    let mut sums = vec![[0.0; 2]; K];
    let mut counts = vec![0; K];
    for (x, &k) in points.iter().zip(assignment) {
        sums[k][0] += x[0];
        sums[k][1] += x[1];
        counts[k] += 1;
    }
    (sums, counts)
}

/// Lloyd's algorithm, sequentially over every point: from the first K points, assign each point
/// to its nearest centre and move each centre to its points' mean, until no point changes centre
/// (or the iteration limit). The final centres, counts and iterations.
fn reference() -> (Vec<Point>, Vec<u64>, u64) {
    let points: Vec<Point> = (0..PARAMS.points).map(|i| point(PARAMS.seed, i)).collect();
    let mut centres: Vec<Point> = points[..K].to_vec();
    let mut assignment: Vec<usize> = vec![usize::MAX; points.len()];
    for iteration in 1..=PARAMS.max_iterations {
        let next: Vec<usize> = points.iter().map(|x| nearest(&centres, x)).collect();
        let changed = next != assignment;
        assignment = next;
        let (sums, counts) = sums(&points, &assignment);
        for k in 0..K {
            if counts[k] > 0 {
                centres[k] = [sums[k][0] / counts[k] as f64, sums[k][1] / counts[k] as f64];
            }
        }
        if !changed || iteration == PARAMS.max_iterations {
            return (centres, counts, iteration);
        }
    }
    unreachable!("max_iterations is at least 1")
}

/// `found` is the reference's answer, a fixed point of Lloyd's step, and its trace has one record
/// per iteration, the last one with no point changed.
fn check(found: &Clustering, trace: &[Clustering], what: &str) {
    let (centres, counts, iterations) = reference();
    assert!(
        iterations > 3 && iterations < PARAMS.max_iterations,
        "{iterations} iterations"
    );
    assert_eq!(found.iterations, iterations, "{what}: iterations");
    assert_eq!(found.counts.to_vec(), counts, "{what}: counts");
    assert_eq!(found.changed, 0, "{what}: converged");
    for (k, (a, b)) in found.centres.iter().zip(&centres).enumerate() {
        let error = (a[0] - b[0]).abs().max((a[1] - b[1]).abs());
        assert!(error < 1e-9, "{what}: centre {k}: {a:?} vs {b:?}");
    }
    // A fixed point: every centre is the mean of the points nearest to it.
    let points: Vec<Point> = (0..PARAMS.points).map(|i| point(PARAMS.seed, i)).collect();
    let assignment: Vec<usize> = points.iter().map(|x| nearest(&found.centres, x)).collect();
    let (sums, fixed_counts) = sums(&points, &assignment);
    assert_eq!(
        fixed_counts, counts,
        "{what}: the final centres' assignment"
    );
    for k in 0..K {
        let mean = [
            sums[k][0] / fixed_counts[k] as f64,
            sums[k][1] / fixed_counts[k] as f64,
        ];
        let error = squared_distance(&mean, &found.centres[k]).sqrt();
        assert!(error < 1e-9, "{what}: centre {k} is not its points' mean");
    }
    // The observer saw iterations 1, 2, ..., the last one the answer.
    let numbers: Vec<u64> = trace.iter().map(|record| record.iterations).collect();
    assert_eq!(
        numbers,
        (1..=iterations).collect::<Vec<_>>(),
        "{what}: trace"
    );
    assert_eq!(trace.last(), Some(found), "{what}: the last record");
    assert_eq!(
        trace[0].changed, PARAMS.points as u64,
        "{what}: first iteration"
    );
}

#[test]
fn kmeans_matches_lloyds_algorithm_on_one_to_three_threads() {
    for threads in 1..=3 {
        let (found, trace) = run(&ClusterConfig::threads(threads));
        check(&found, &trace, &format!("{threads} threads"));
    }
}

/// A clustering as bits (JSON's decimal form need not read back to the same bits): centres,
/// counts, iterations, changed.
type Bits = (Vec<u64>, Vec<u64>, u64, u64);

fn to_bits(c: &Clustering) -> Bits {
    let centres = c.centres.iter().flatten().map(|x| x.to_bits()).collect();
    (centres, c.counts.to_vec(), c.iterations, c.changed)
}

fn from_bits((centres, counts, iterations, changed): Bits) -> Clustering {
    let coordinate = |i: usize| f64::from_bits(centres[i]);
    Clustering {
        centres: std::array::from_fn(|k| [coordinate(2 * k), coordinate(2 * k + 1)]),
        counts: counts.try_into().unwrap(),
        iterations,
        changed,
    }
}

/// Runs `test` on 2 processes of `threads` threads: the reference's answer and trace, and the
/// same bits as as many threads in one process (the sums are added in worker order, whoever
/// holds them).
fn on_two_processes(test: &str, threads: usize) {
    // Process 0's answer and trace, None in process 1.
    let as_process = |cluster: &ClusterConfig| -> Option<(Bits, Vec<Bits>)> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let observer =
            Arc::new(move |record: &Clustering| sink.lock().unwrap().push(to_bits(record)));
        let answer = run_app::<KMeans>(cluster, &PARAMS, Hooks::observing(Some(observer))).unwrap();
        let trace = seen.lock().unwrap().clone();
        answer.map(|(found, _timing)| (to_bits(&found), trace))
    };
    if support::as_child(threads, as_process) {
        return;
    }
    let answers: Vec<Option<(Bits, Vec<Bits>)>> = support::run_processes(test, 2);
    assert!(
        answers[1].is_none(),
        "process 1 answered: worker 0 is process 0's"
    );
    let (found, trace) = answers[0].clone().expect("process 0's answer");
    let (found, trace) = (
        from_bits(found),
        trace.into_iter().map(from_bits).collect::<Vec<_>>(),
    );
    check(&found, &trace, &format!("2 processes of {threads} threads"));
    let (on_threads, _) = run(&ClusterConfig::threads(2 * threads));
    assert_eq!(
        found, on_threads,
        "2 processes of {threads} threads against threads"
    );
}

#[test]
fn kmeans_on_two_processes_of_one_thread_matches_lloyds_algorithm() {
    on_two_processes(
        "kmeans_on_two_processes_of_one_thread_matches_lloyds_algorithm",
        1,
    );
}

#[test]
fn kmeans_on_two_processes_of_two_threads_matches_lloyds_algorithm() {
    on_two_processes(
        "kmeans_on_two_processes_of_two_threads_matches_lloyds_algorithm",
        2,
    );
}

#[test]
fn bad_parameters_are_refused_before_the_cluster_forms() {
    for params in [
        Params {
            points: K - 1,
            ..PARAMS
        },
        Params {
            max_iterations: 0,
            ..PARAMS
        },
    ] {
        let result = run_app::<KMeans>(&ClusterConfig::threads(2), &params, Hooks::default());
        assert!(matches!(result, Err(RunError::InvalidArgument(_))));
    }
}
