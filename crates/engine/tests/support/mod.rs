//! Running a test on real processes over loopback: the test binary starts itself once per
//! process (`--exact` on the test's name), each child runs the test's cluster as its process of
//! the cluster and writes its workers' results (or one result for the process) as JSON, and the
//! parent reads them back. The runner's tests include this module too (`#[path]`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use strads_engine::{ClusterConfig, Secret};

const CHILD_PROCESS: &str = "STRADS_ENGINE_TEST_CHILD_PROCESS";
const CHILD_HOSTS: &str = "STRADS_ENGINE_TEST_CHILD_HOSTS";
const CHILD_OUT: &str = "STRADS_ENGINE_TEST_CHILD_OUT";

/// How long the children may take together.
const DEADLINE: Duration = Duration::from_secs(120);

/// In a child started by [`run_on_processes`]: runs `run` as this process of the cluster
/// (`threads` workers each), writes its result (its workers' results, or what the process
/// returns) and returns true. In the parent test: returns false and does nothing.
pub fn as_child<T: Serialize>(threads: usize, run: impl FnOnce(&ClusterConfig) -> T) -> bool {
    let Ok(process) = std::env::var(CHILD_PROCESS) else {
        return false;
    };
    let process: usize = process.parse().unwrap();
    let hosts: Vec<String> = std::env::var(CHILD_HOSTS)
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let secret = Secret::new("strads-engine-test-secret-0123456789").unwrap();
    let config = ClusterConfig::cluster(threads, process, hosts)
        .unwrap()
        .with_secret(secret);
    let results = run(&config);
    let out = std::env::var(CHILD_OUT).unwrap();
    std::fs::write(out, serde_json::to_string(&results).unwrap()).unwrap();
    true
}

/// Starts this binary's test `test` as `processes` processes of one cluster on loopback, waits
/// for them all (each must succeed within two minutes: its log is shown otherwise) and returns
/// each process's workers' results, process 0 first; every process must report `threads`.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub fn run_on_processes<T: DeserializeOwned>(
    test: &str,
    processes: usize,
    threads: usize,
) -> Vec<Vec<T>> {
    let results: Vec<Vec<T>> = run_processes(test, processes);
    for (p, workers) in results.iter().enumerate() {
        assert_eq!(workers.len(), threads, "process {p}'s workers");
    }
    results
}

/// As [`run_on_processes`], with one result per process (what its `as_child` run returned).
pub fn run_processes<T: DeserializeOwned>(test: &str, processes: usize) -> Vec<T> {
    let dir = tempfile::tempdir().unwrap();
    let ports = strads_engine::loopback::free_loopback_ports(processes).unwrap();
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut children: Vec<Child> = (0..processes)
        .map(|p| spawn(test, p, &hosts.join(","), dir.path()))
        .collect();
    let deadline = Instant::now() + DEADLINE;
    for (p, child) in children.iter_mut().enumerate() {
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "process {p} did not finish in {} s",
                DEADLINE.as_secs()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = std::fs::read_to_string(dir.path().join(format!("log{p}"))).unwrap_or_default();
        assert!(status.success(), "process {p} failed: {status}\n{log}");
    }
    (0..processes)
        .map(|p| {
            let text = std::fs::read_to_string(dir.path().join(format!("out{p}.json"))).unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect()
}

fn spawn(test: &str, process: usize, hosts: &str, dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join(format!("log{process}"))).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_PROCESS, process.to_string())
        .env(CHILD_HOSTS, hosts)
        .env(CHILD_OUT, dir.join(format!("out{process}.json")))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}
