//! One `Serializable` SGD program on 1 thread, 2 threads and 2 real processes over loopback:
//! 2 threads and 2 processes are bit-identical, 1 thread is the plain sequential loop bit for bit
//! and close to 2 threads (which run the iterations in another order).

use std::ops::IndexMut;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use strads_ap::{run, Ap, ApConfig, ApError, ClusterConfig, Consistency};

use crate::threads;

/// This test's name as the test harness knows it (for `--exact` in the children).
const TEST: &str = "processes::two_processes_match_two_threads";
/// Set in a child: its process index. Also the hosts and where to write the result.
const CHILD_PROCESS: &str = "STRADS_AP_TEST_CHILD_PROCESS";
const CHILD_HOSTS: &str = "STRADS_AP_TEST_CHILD_HOSTS";
const CHILD_OUT: &str = "STRADS_AP_TEST_CHILD_OUT";
const CHILD_THREADS: &str = "STRADS_AP_TEST_CHILD_THREADS";

const K: usize = 4;
const USERS: usize = 30;
const ITEMS: usize = 20;
const RATINGS: usize = 400;
const EPOCHS: usize = 5;
const LR: f64 = 0.01;
const REG: f64 = 0.01;

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Rating {
    user: usize,
    item: usize,
    value: f64,
}

fn ratings() -> Vec<Rating> {
    let mut rng = ChaCha8Rng::seed_from_u64(60);
    (0..RATINGS)
        .map(|_| Rating {
            user: rng.gen_range(0..USERS),
            item: rng.gen_range(0..ITEMS),
            value: rng.gen_range(1.0..5.0),
        })
        .collect()
}

fn init(i: usize, salt: usize) -> [f64; K] {
    std::array::from_fn(|k| 0.3 + 0.1 * (((i * 7 + k * 3 + salt) % 11) as f64) / 11.0)
}

fn sgd<W, H>(r: &Rating, w: &mut W, h: &mut H)
where
    W: IndexMut<usize, Output = [f64; K]> + ?Sized,
    H: IndexMut<usize, Output = [f64; K]> + ?Sized,
{
    let (wu, hi) = (w[r.user], h[r.item]);
    let error = r.value - (0..K).map(|k| wu[k] * hi[k]).sum::<f64>();
    for k in 0..K {
        w[r.user][k] += LR * (error * hi[k] - REG * wu[k]);
        h[r.item][k] += LR * (error * wu[k] - REG * hi[k]);
    }
}

type Factors = (Vec<[f64; K]>, Vec<[f64; K]>);

fn program(ap: &mut Ap<'_, '_>) -> Result<Option<Factors>, ApError> {
    let all = ratings();
    let mut data = ap.dvector(RATINGS, |i| all[i]);
    let mut w = ap.dvector(USERS, |u| init(u, 0)).with_name("w");
    let mut h = ap.dvector(ITEMS, |i| init(i, 5)).with_name("h");
    for _ in 0..EPOCHS {
        ap.parallel_for(&mut data, (&mut w, &mut h))
            .keys(|r: &Rating| (r.user, r.item))
            .name("sgd")
            .run(Consistency::Serializable, |r, (w, h)| sgd(r, w, h))?;
    }
    let (w, h) = (ap.gather(&w)?, ap.gather(&h)?);
    Ok(w.zip(h))
}

fn bits(factors: &Factors) -> Vec<u64> {
    factors
        .0
        .iter()
        .chain(&factors.1)
        .flatten()
        .map(|v| v.to_bits())
        .collect()
}

fn rmse(factors: &Factors) -> f64 {
    let all = ratings();
    let sum: f64 = all
        .iter()
        .map(|r| {
            let p: f64 = (0..K)
                .map(|k| factors.0[r.user][k] * factors.1[r.item][k])
                .sum();
            (r.value - p).powi(2)
        })
        .sum();
    (sum / all.len() as f64).sqrt()
}

/// The child's side: process `process` of the two, writing process 0's gathered result.
fn child(process: &str) {
    let process: usize = process.parse().expect("a process index");
    let hosts: Vec<String> = std::env::var(CHILD_HOSTS)
        .expect("hosts")
        .split(',')
        .map(str::to_owned)
        .collect();
    let out = std::env::var(CHILD_OUT).expect("an output path");
    let threads: usize = std::env::var(CHILD_THREADS)
        .expect("threads")
        .parse()
        .unwrap();
    let config = ApConfig {
        cluster: ClusterConfig::cluster(threads, process, hosts)
            .expect("a cluster config")
            .with_secret(strads_engine::Secret::new("strads-ap-test-secret-0123456789").unwrap()),
        debug: false,
        print_strategies: false,
    };
    let results = run(&config, program).expect("the program runs in the child");
    assert_eq!(results.len(), threads, "the process's workers");
    let text = match &results[0] {
        Some(factors) => serde_json::to_string(&bits(factors)).unwrap(),
        None => "null".to_owned(),
    };
    std::fs::write(out, text).expect("the result is written");
}

fn spawn(process: usize, threads: usize, hosts: &str, dir: &Path) -> Child {
    let log = |what: &str| std::fs::File::create(dir.join(format!("{what}{process}.log"))).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_PROCESS, process.to_string())
        .env(CHILD_HOSTS, hosts)
        .env(CHILD_OUT, dir.join(format!("out{process}.json")))
        .env(CHILD_THREADS, threads.to_string())
        .env_remove("STRADS_AP_DEBUG")
        .stdin(Stdio::null())
        .stdout(log("stdout"))
        .stderr(log("stderr"))
        .spawn()
        .expect("the test binary starts again")
}

fn logs(dir: &Path) -> String {
    let mut text = String::new();
    for process in 0..2 {
        for what in ["stdout", "stderr"] {
            let body = std::fs::read_to_string(dir.join(format!("{what}{process}.log")))
                .unwrap_or_default();
            text.push_str(&format!("--- process {process} {what} ---\n{body}\n"));
        }
    }
    text
}

/// Runs the program as two processes of `threads` workers on loopback; process 0's result.
fn two_processes(threads: usize) -> Factors {
    let dir = tempfile::tempdir().unwrap();
    let ports = strads_engine::loopback::free_loopback_ports(2).unwrap();
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let hosts = hosts.join(",");
    let mut children: Vec<Child> = (0..2)
        .map(|p| spawn(p, threads, &hosts, dir.path()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut statuses = [None; 2];
    while statuses.iter().any(Option::is_none) {
        for (p, child) in children.iter_mut().enumerate() {
            if statuses[p].is_none() {
                statuses[p] = child.try_wait().unwrap();
            }
        }
        if Instant::now() > deadline {
            for child in &mut children {
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!(
                "the two processes did not finish within 60 s\n{}",
                logs(dir.path())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (p, status) in statuses.iter().enumerate() {
        let status = status.unwrap();
        assert!(
            status.success(),
            "process {p} failed: {status}\n{}",
            logs(dir.path())
        );
    }
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| {
            panic!(
                "no result {name} from a child ({e}): did it run `{TEST}`?\n{}",
                logs(dir.path())
            )
        })
    };
    assert_eq!(
        read("out1.json"),
        "null",
        "process 1 holds neither worker 0 nor its gathered result"
    );
    let text = read("out0.json");
    let bits: Vec<u64> = serde_json::from_str(&text).unwrap();
    let values: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
    let (w, h) = values.split_at(USERS * K);
    let rows = |v: &[f64]| -> Vec<[f64; K]> {
        v.chunks(K).map(|c| std::array::from_fn(|k| c[k])).collect()
    };
    (rows(w), rows(h))
}

#[test]
fn two_processes_match_two_threads() {
    if let Ok(process) = std::env::var(CHILD_PROCESS) {
        // In a child started by this very test: be one process of the cluster, nothing else.
        child(&process);
        return;
    }
    let processes = two_processes(1);
    let two = run(&threads(2), program).unwrap().remove(0).unwrap();
    // Two threads in each process: the rotation moves blocks between threads of a process and
    // encodes them between processes, with the same result.
    let mixed = two_processes(2);
    let four = run(&threads(4), program).unwrap().remove(0).unwrap();
    assert_eq!(
        bits(&mixed),
        bits(&four),
        "2 processes x 2 threads vs 4 threads"
    );
    let one = run(&threads(1), program).unwrap().remove(0).unwrap();

    assert_eq!(
        bits(&processes),
        bits(&two),
        "2 processes vs 2 threads, bit for bit"
    );

    // One thread runs the plain sequential loop, in data order.
    let all = ratings();
    let mut w: Vec<[f64; K]> = (0..USERS).map(|u| init(u, 0)).collect();
    let mut h: Vec<[f64; K]> = (0..ITEMS).map(|i| init(i, 5)).collect();
    let start = rmse(&(w.clone(), h.clone()));
    for _ in 0..EPOCHS {
        for r in &all {
            sgd(r, &mut w, &mut h);
        }
    }
    let sequential = (w, h);
    assert_eq!(
        bits(&one),
        bits(&sequential),
        "1 thread vs the sequential loop"
    );

    // Two threads run the same updates in another order: close, not equal.
    assert_ne!(bits(&one), bits(&two), "2 threads reorder the iterations");
    let largest = bits(&one)
        .iter()
        .zip(bits(&two))
        .map(|(&a, b)| (f64::from_bits(a) - f64::from_bits(b)).abs())
        .fold(0.0, f64::max);
    assert!(largest < 0.1, "1 vs 2 threads differ by {largest}");
    let (r1, r2) = (rmse(&one), rmse(&two));
    assert!(
        r1 < start && r2 < start,
        "SGD lowers the error: {start} -> {r1}, {r2}"
    );
    assert!((r1 - r2).abs() < 0.01 * r1, "rmse {r1} vs {r2}");
}
