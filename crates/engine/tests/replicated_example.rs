//! The replicated-rounds driver's example (`examples/ridge_replicated.rs`) reaches the normal
//! equations' solution of its ridge problem on 1-4 worker threads and on 2 real processes of 2
//! threads each over loopback (the test binary starts itself twice), every worker with the same
//! answer after the same round; and 2 processes of 2 threads give the same bits as 4 threads (the
//! shares are summed in worker order, whoever moves them).

use strads_engine::ClusterConfig;

mod support;

#[path = "../examples/ridge_replicated.rs"]
mod ridge_replicated;

use ridge_replicated::Solved;

/// Every worker ended with the same answer, the normal equations' solution.
fn check(solved: &[Solved], what: &str) {
    let expected = ridge_replicated::reference();
    for (w, worker) in solved.iter().enumerate() {
        assert_eq!(
            worker, &solved[0],
            "{what}: worker {w} differs from worker 0"
        );
    }
    let found = &solved[0];
    assert!(
        found.rounds < ridge_replicated::MAX_ROUNDS,
        "{what}: did not converge"
    );
    for (j, (a, b)) in found.coefficients.iter().zip(&expected).enumerate() {
        assert!((a - b).abs() < 1e-9, "{what}, coefficient {j}: {a} vs {b}");
    }
}

#[test]
fn ridge_by_replicated_rounds_matches_the_normal_equations_on_one_to_four_threads() {
    for threads in 1..=4 {
        let solved = ridge_replicated::solve(&ClusterConfig::threads(threads));
        assert_eq!(solved.len(), threads);
        check(&solved, &format!("{threads} threads"));
    }
}

/// This test's name as the harness knows it (for `--exact` in the children).
const TEST: &str = "ridge_by_replicated_rounds_on_two_processes_matches_four_threads";
const THREADS_PER_PROCESS: usize = 2;

#[test]
fn ridge_by_replicated_rounds_on_two_processes_matches_four_threads() {
    // The coefficients travel as bits: JSON's decimal form need not read back to the same bits.
    let as_bits = |config: &ClusterConfig| -> Vec<(Vec<u64>, u64)> {
        ridge_replicated::solve(config)
            .into_iter()
            .map(|s| {
                (
                    s.coefficients.iter().map(|b| b.to_bits()).collect(),
                    s.rounds,
                )
            })
            .collect()
    };
    if support::as_child(THREADS_PER_PROCESS, as_bits) {
        return;
    }
    let parts: Vec<Vec<(Vec<u64>, u64)>> = support::run_on_processes(TEST, 2, THREADS_PER_PROCESS);
    let solved: Vec<Solved> = parts
        .into_iter()
        .flatten()
        .map(|(bits, rounds)| Solved {
            coefficients: bits.into_iter().map(f64::from_bits).collect(),
            rounds,
        })
        .collect();
    check(&solved, "2 processes of 2 threads");
    let threads = ridge_replicated::solve(&ClusterConfig::threads(2 * THREADS_PER_PROCESS));
    assert_eq!(
        solved[0], threads[0],
        "2 processes of 2 threads against 4 threads"
    );
}
