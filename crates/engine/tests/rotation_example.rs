//! The rotation driver's example (`examples/word_counts_rotation.rs`) gives the closed form's word
//! counters and stops after the iterations its rule allows: on 1, 2 and 3 worker threads, and on
//! 2 real processes of 2 threads each over loopback (the test binary starts itself twice), where
//! a block moves as it is between the threads of a process and is encoded between processes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strads_engine::{ClusterConfig, Secret};

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
const CHILD_PROCESS: &str = "STRADS_ROTATION_TEST_CHILD_PROCESS";
const CHILD_HOSTS: &str = "STRADS_ROTATION_TEST_CHILD_HOSTS";
const CHILD_OUT: &str = "STRADS_ROTATION_TEST_CHILD_OUT";
const THREADS_PER_PROCESS: usize = 2;

#[test]
fn word_counts_by_rotation_match_the_closed_form_on_two_processes() {
    if let Ok(process) = std::env::var(CHILD_PROCESS) {
        return child(&process);
    }
    let dir = tempfile::tempdir().unwrap();
    let ports = strads_engine::loopback::free_loopback_ports(2).unwrap();
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut children: Vec<Child> = (0..2)
        .map(|p| spawn(p, &hosts.join(","), dir.path()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for (p, child) in children.iter_mut().enumerate() {
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "process {p} did not finish in 120 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = std::fs::read_to_string(dir.path().join(format!("log{p}"))).unwrap_or_default();
        assert!(status.success(), "process {p} failed: {status}\n{log}");
    }
    let mut results = Vec::new();
    for p in 0..2 {
        let text = std::fs::read_to_string(dir.path().join(format!("out{p}.json"))).unwrap();
        let part: Vec<(u64, Option<Vec<u64>>)> = serde_json::from_str(&text).unwrap();
        assert_eq!(part.len(), THREADS_PER_PROCESS, "process {p}'s workers");
        results.extend(part);
    }
    check(&results, "2 processes x 2 threads");
}

/// A child: process `process` of two, writing what its workers returned.
fn child(process: &str) {
    let process: usize = process.parse().unwrap();
    let hosts: Vec<String> = std::env::var(CHILD_HOSTS)
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let secret = Secret::new("strads-rotation-test-secret-0123456789").unwrap();
    let config = ClusterConfig::cluster(THREADS_PER_PROCESS, process, hosts)
        .unwrap()
        .with_secret(secret);
    let results = count(&config);
    let out = std::env::var(CHILD_OUT).unwrap();
    std::fs::write(out, serde_json::to_string(&results).unwrap()).unwrap();
}

fn spawn(process: usize, hosts: &str, dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join(format!("log{process}"))).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_PROCESS, process.to_string())
        .env(CHILD_HOSTS, hosts)
        .env(CHILD_OUT, dir.join(format!("out{process}.json")))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}
