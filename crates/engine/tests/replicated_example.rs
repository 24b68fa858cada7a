//! The replicated-rounds driver's example (`examples/ridge_replicated.rs`) reaches the normal
//! equations' solution of its ridge problem on 1-4 worker threads and on 2 real processes of 2
//! threads each over loopback (the test binary starts itself twice), every worker with the same
//! answer after the same round; and 2 processes of 2 threads give the same bits as 4 threads (the
//! shares are summed in worker order, whoever moves them).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strads_engine::{ClusterConfig, Secret};

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
const CHILD_PROCESS: &str = "STRADS_ENGINE_TEST_CHILD_PROCESS";
const CHILD_HOSTS: &str = "STRADS_ENGINE_TEST_CHILD_HOSTS";
const CHILD_OUT: &str = "STRADS_ENGINE_TEST_CHILD_OUT";
const THREADS_PER_PROCESS: usize = 2;

#[test]
fn ridge_by_replicated_rounds_on_two_processes_matches_four_threads() {
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
    let mut solved = Vec::new();
    for p in 0..2 {
        let text = std::fs::read_to_string(dir.path().join(format!("out{p}.json"))).unwrap();
        let process: Vec<(Vec<u64>, u64)> = serde_json::from_str(&text).unwrap();
        assert_eq!(process.len(), THREADS_PER_PROCESS, "process {p}'s workers");
        solved.extend(process.into_iter().map(|(bits, rounds)| Solved {
            coefficients: bits.into_iter().map(f64::from_bits).collect(),
            rounds,
        }));
    }
    check(&solved, "2 processes of 2 threads");
    let threads = ridge_replicated::solve(&ClusterConfig::threads(2 * THREADS_PER_PROCESS));
    assert_eq!(
        solved[0], threads[0],
        "2 processes of 2 threads against 4 threads"
    );
}

/// A child: process `process` of two, writing what its workers ended with.
fn child(process: &str) {
    let process: usize = process.parse().unwrap();
    let hosts: Vec<String> = std::env::var(CHILD_HOSTS)
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let secret = Secret::new("strads-engine-test-secret-0123456789").unwrap();
    let config = ClusterConfig::cluster(THREADS_PER_PROCESS, process, hosts)
        .unwrap()
        .with_secret(secret);
    // The coefficients' bits: JSON's decimal form need not read back to the same bits.
    let solved: Vec<(Vec<u64>, u64)> = ridge_replicated::solve(&config)
        .into_iter()
        .map(|s| {
            (
                s.coefficients.iter().map(|b| b.to_bits()).collect(),
                s.rounds,
            )
        })
        .collect();
    let out = std::env::var(CHILD_OUT).unwrap();
    std::fs::write(out, serde_json::to_string(&solved).unwrap()).unwrap();
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
