//! The rotation driver's example (`examples/word_counts_rotation.rs`) gives the closed form's word
//! counters and stops after the iterations its rule allows: on 1, 2 and 3 worker threads, and on
//! 2 real processes of 2 threads each over loopback (the test binary starts itself twice), where
//! a block moves as it is between the threads of a process and is encoded between processes.

use strads_engine::ClusterConfig;

mod support;

#[path = "../examples/word_counts_rotation.rs"]
mod word_counts_rotation;

use word_counts_rotation::{count, reference};

/// Checks every worker's result against the reference (worker 0's counters, everyone's
/// iterations).
fn check(results: &[(u64, Option<Vec<u64>>)], shape: &str) {
    let (iterations, counts) = reference();
    assert!(iterations > 1, "the example runs several iterations");
    for (p, (run, found)) in results.iter().enumerate() {
        assert_eq!(*run, iterations, "{shape}, worker {p}: iterations");
        if p == 0 {
            assert_eq!(found.as_ref(), Some(&counts), "{shape}: counters");
        }
    }
}

#[test]
fn word_counts_by_rotation_match_the_closed_form_on_one_to_three_threads() {
    for threads in 1..=3 {
        let results = count(&ClusterConfig::threads(threads));
        assert_eq!(results.len(), threads);
        check(&results, &format!("{threads} threads"));
    }
}

/// This test's name as the harness knows it (for `--exact` in the children).
const TEST: &str = "word_counts_by_rotation_match_the_closed_form_on_two_processes";
const THREADS_PER_PROCESS: usize = 2;

#[test]
fn word_counts_by_rotation_match_the_closed_form_on_two_processes() {
    if support::as_child(THREADS_PER_PROCESS, count) {
        return;
    }
    let parts: Vec<Vec<(u64, Option<Vec<u64>>)>> =
        support::run_on_processes(TEST, 2, THREADS_PER_PROCESS);
    let results: Vec<_> = parts.into_iter().flatten().collect();
    check(&results, "2 processes x 2 threads");
}
