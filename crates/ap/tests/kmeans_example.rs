//! The k-means example (`examples/kmeans.rs`) against Lloyd's algorithm written plainly here: the
//! same centroids and inertia on 1 and 2 threads and on 2 real processes over loopback, inertia
//! never rising, the planted clusters found; and its input errors.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strads_ap::{run, ApConfig, ClusterConfig};
use strads_engine::Secret;

#[allow(dead_code)]
#[rustfmt::skip] // formatted with examples/rustfmt.toml
#[path = "../examples/kmeans.rs"]
mod kmeans;

const K: usize = 4;
const CENTERS: [[f64; 3]; K] = [
    [0.0, 0.0, 0.0],
    [6.0, 6.0, 0.0],
    [0.0, 6.0, 6.0],
    [6.0, 0.0, 6.0],
];
/// Set in a child process: its index, the hosts, the points file and where to write the result.
const CHILD: &str = "STRADS_KMEANS_TEST_CHILD";
const CHILD_HOSTS: &str = "STRADS_KMEANS_TEST_HOSTS";
const CHILD_DATA: &str = "STRADS_KMEANS_TEST_DATA";
const CHILD_OUT: &str = "STRADS_KMEANS_TEST_OUT";

/// 4000 points around the four centres; the first four all come from the first blob, so that
/// Lloyd's algorithm needs several iterations to separate them.
fn write_points(path: &Path) {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut text = String::from("# x y z\n");
    for n in 0..4000 {
        let center = if n < 4 {
            CENTERS[0]
        } else {
            CENTERS[rng.gen_range(0..K)]
        };
        let point: Vec<String> = center
            .iter()
            .map(|c| format!("{:.6}", c + rng.gen_range(-1.5..1.5)))
            .collect();
        text.push_str(&point.join(if n % 2 == 0 { " " } else { "," }));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Lloyd's algorithm, sequentially: (centroids, inertia per iteration).
fn lloyd(points: &[Vec<f64>], k: usize, tolerance: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut centroids: Vec<Vec<f64>> = points[..k].to_vec();
    let mut inertias = Vec::new();
    for _ in 0..100 {
        let mut sums = vec![vec![0.0; points[0].len()]; k];
        let mut counts = vec![0usize; k];
        let mut inertia = 0.0;
        for p in points {
            let d: Vec<f64> = centroids
                .iter()
                .map(|c| c.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum())
                .collect();
            let j = (0..k).fold(0, |best, j| if d[j] < d[best] { j } else { best });
            inertia += d[j];
            counts[j] += 1;
            sums[j].iter_mut().zip(p).for_each(|(s, x)| *s += x);
        }
        inertias.push(inertia);
        let mut shift: f64 = 0.0;
        for j in (0..k).filter(|&j| counts[j] > 0) {
            let mean: Vec<f64> = sums[j].iter().map(|s| s / counts[j] as f64).collect();
            let moved: f64 = mean
                .iter()
                .zip(&centroids[j])
                .map(|(a, b)| (a - b).powi(2))
                .sum();
            shift = shift.max(moved.sqrt());
            centroids[j] = mean;
        }
        if shift <= tolerance {
            break;
        }
    }
    (centroids, inertias)
}

fn options(path: &Path) -> kmeans::Options {
    let args = [
        "--data",
        path.to_str().unwrap(),
        "--k",
        "4",
        "--tolerance",
        "1e-9",
    ];
    kmeans::parse_args(&args.map(String::from)).unwrap()
}

fn on_threads(path: &Path, threads: usize) -> kmeans::Clustering {
    let opts = options(path);
    let fits = run(&ApConfig::threads(threads), move |ap| {
        kmeans::cluster(ap, &opts)
    })
    .unwrap();
    assert!(
        fits.iter().all(|f| *f == fits[0]),
        "every worker returns the same clustering"
    );
    fits.into_iter().next().unwrap()
}

fn assert_close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-9 * y.abs().max(1.0),
            "{what}: {x} vs {y}"
        );
    }
}

fn check(fit: &kmeans::Clustering, reference: &(Vec<Vec<f64>>, Vec<f64>), what: &str) {
    assert!(fit.converged, "{what} converged");
    assert_close(
        &fit.inertia,
        &reference.1,
        &format!("{what}: inertia per iteration"),
    );
    for (c, r) in fit.centroids.iter().zip(&reference.0) {
        assert_close(c, r, &format!("{what}: centroid"));
    }
}

#[test]
fn kmeans_matches_lloyd_on_threads_and_processes() {
    if let Ok(process) = std::env::var(CHILD) {
        return child(process.parse().unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("points.txt");
    write_points(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    let points: Vec<Vec<f64>> = text
        .lines()
        .filter_map(|l| kmeans::parse_point(l).unwrap())
        .collect();
    let reference = lloyd(&points, K, 1e-9);
    assert!(
        reference.1.len() >= 3,
        "the start from one blob takes several iterations"
    );
    assert!(
        reference.1.windows(2).all(|w| w[1] <= w[0] + 1e-9),
        "Lloyd's inertia never rises"
    );
    // The planted centres are found (each within 0.2 of a centroid).
    for center in CENTERS {
        let (_, d) = kmeans::nearest(&reference.0, &center);
        assert!(d.sqrt() < 0.2, "centre {center:?} found: {:?}", reference.0);
    }

    check(&on_threads(&path, 1), &reference, "1 thread");
    check(&on_threads(&path, 2), &reference, "2 threads");
    check(&two_processes(&path, dir.path()), &reference, "2 processes");
}

/// Runs the test binary again as two processes of one worker each; process 0's clustering.
fn two_processes(data: &Path, dir: &Path) -> kmeans::Clustering {
    let ports = strads_engine::loopback::free_loopback_ports(2).unwrap();
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut children: Vec<_> = (0..2)
        .map(|p| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "kmeans_matches_lloyd_on_threads_and_processes",
                    "--test-threads=1",
                ])
                .env(CHILD, p.to_string())
                .env(CHILD_HOSTS, hosts.join(","))
                .env(CHILD_DATA, data)
                .env(CHILD_OUT, dir.join(format!("out{p}.txt")))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for child in &mut children {
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("a k-means process did not finish within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(child.wait().unwrap().success(), "a k-means process failed");
    }
    let read = |p: usize| std::fs::read_to_string(dir.join(format!("out{p}.txt"))).unwrap();
    assert_eq!(
        read(0),
        read(1),
        "both processes return the same clustering"
    );
    let bits: Vec<Vec<u64>> = serde_json::from_str(&read(0)).unwrap();
    let floats = |v: &Vec<u64>| v.iter().map(|&b| f64::from_bits(b)).collect::<Vec<f64>>();
    let (inertia, centroids) = bits.split_first().unwrap();
    kmeans::Clustering {
        centroids: centroids.iter().map(floats).collect(),
        inertia: floats(inertia),
        converged: true,
    }
}

/// In a child: one process of the two; writes its clustering's bits (inertia, then centroids).
fn child(process: usize) {
    let hosts: Vec<String> = std::env::var(CHILD_HOSTS)
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let config = ApConfig {
        cluster: ClusterConfig::cluster(1, process, hosts)
            .unwrap()
            .with_secret(Secret::new("strads-kmeans-test-secret-0123456789").unwrap()),
        debug: false,
        print_strategies: false,
    };
    let opts = options(Path::new(&std::env::var(CHILD_DATA).unwrap()));
    let fit = run(&config, move |ap| kmeans::cluster(ap, &opts))
        .unwrap()
        .remove(0);
    assert!(fit.converged);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    let mut rows = vec![bits(&fit.inertia)];
    rows.extend(fit.centroids.iter().map(|c| bits(c)));
    std::fs::write(
        std::env::var(CHILD_OUT).unwrap(),
        serde_json::to_string(&rows).unwrap(),
    )
    .unwrap();
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let fail = |text: &str, k: &str| {
        let path = dir.path().join("points.txt");
        std::fs::write(&path, text).unwrap();
        let args = ["--data", path.to_str().unwrap(), "--k", k].map(String::from);
        let opts = kmeans::parse_args(&args).unwrap();
        let result = run(&ApConfig::threads(2), move |ap| kmeans::cluster(ap, &opts));
        result
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{text:?} was accepted"))
    };
    let message = fail("1 2\n3 4\n5 x\n", "1");
    assert!(
        message.contains("points.txt:3") && message.contains("\"5 x\""),
        "{message}"
    );
    let message = fail("1 2\n3 4 5\n", "1");
    assert!(
        message.contains("not every point has 2 coordinates"),
        "{message}"
    );
    let message = fail("1 2\n3 4\n", "3");
    assert!(message.contains("2 points, fewer than --k 3"), "{message}");
    assert!(
        kmeans::parse_args(&["--data", "x"].map(String::from)).is_err(),
        "--k is required"
    );
}
