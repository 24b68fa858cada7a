//! K-means (Lloyd's algorithm) as a whole Strads app: its data, its solver loop on the
//! replicated-rounds driver, the `App` that the runner's `run_app` runs, and `main`. Each round
//! every worker sums its points per nearest centre (`step`), one all-reduce adds the sums, and
//! every worker moves each centre to its points' mean (`apply`); the stop rule reads only those
//! sums and the runner's agreed boundary, so every worker stops after the same round. Threads:
//! `cargo run --release -p strads-runner --example kmeans -- [THREADS]`; 2 processes over loopback:
//! `cargo test --release -p strads-runner --test kmeans_example` (its tests run this app).

use std::ops::ControlFlow::{self, Break, Continue};
use std::process::ExitCode;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use strads_engine::replicated::{run_replicated, AllReduceSum, ReplicatedRounds};
use strads_engine::{ClusterConfig, ProcessFigures, Worker};
use strads_runner::{run_app, App, Footprint, Hooks, Observer, Run, RunError, Timing};

/// Clusters.
pub const K: usize = 4;
/// A point (or a centre).
pub type Point = [f64; 2];
/// A round's sums: per centre its points' coordinates and count; points that changed; inertia.
const SUMS: usize = K * 3 + 2;

/// A run's parameters.
#[derive(Clone, Debug)]
pub struct Params {
    /// Points in all.
    pub points: usize,
    /// The data's seed.
    pub seed: u64,
    /// Iterations at most.
    pub max_iterations: u64,
}

/// Point `i` (a random corner of a square, plus noise), from its own stream: any worker makes it.
pub fn point(seed: u64, i: usize) -> Point {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(i as u64);
    let corner = rng.gen_range(0..K);
    std::array::from_fn(|d| 3.0 * ((corner >> d) & 1) as f64 + rng.sample::<f64, _>(StandardNormal))
}

/// The clustering after an iteration, the same on every worker: a trace record, and the answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Clustering {
    /// Iterations done.
    pub iterations: u64,
    /// The centres.
    pub centres: [Point; K],
    /// Each centre's points in the last assignment.
    pub counts: [u64; K],
    /// Points whose nearest centre changed in the last assignment (all of them in the first).
    pub changed: u64,
    /// The sum of squared distances from the points to the centres they were last assigned to.
    pub inertia: f64,
}

/// A worker's part: its points, the centre of each, and its replica of the clustering.
pub struct Part {
    points: Vec<Point>,
    assigned: Vec<usize>,
    clustering: Clustering,
}

/// The solver loop as replicated rounds, with the run: to show the trace and agree on stopping.
struct Lloyd<'r> {
    part: Part,
    max_iterations: u64,
    run: &'r mut Run<Clustering>,
}

impl ReplicatedRounds for Lloyd<'_> {
    type Share = AllReduceSum<SUMS>;
    type Error = RunError;

    fn step(&mut self, _: &mut Worker<'_>, _: u64) -> Result<AllReduceSum<SUMS>, RunError> {
        let Part { points, assigned, clustering } = &mut self.part;
        let mut sums = [0.0; SUMS];
        for (x, assigned) in points.iter().zip(assigned) {
            // The nearest centre (the first of equals) and its squared distance.
            let distance = |c: &Point| (c[0] - x[0]).powi(2) + (c[1] - x[1]).powi(2);
            let distances = clustering.centres.iter().map(distance).enumerate();
            let (k, d) = distances.min_by(|a, b| a.1.total_cmp(&b.1)).expect("K > 0");
            sums[3 * k..3 * k + 3].iter_mut().zip([x[0], x[1], 1.0]).for_each(|(s, x)| *s += x);
            sums[SUMS - 2] += f64::from(u8::from(*assigned != k));
            sums[SUMS - 1] += d;
            *assigned = k;
        }
        Ok(AllReduceSum(sums))
    }

    fn apply(
        &mut self,
        worker: &mut Worker<'_>,
        round: u64,
        sums: [f64; SUMS],
    ) -> Result<ControlFlow<()>, RunError> {
        let clustering = &mut self.part.clustering;
        for (k, sum) in sums.chunks(3).take(K).enumerate() {
            clustering.counts[k] = sum[2] as u64;
            if sum[2] > 0.0 {
                clustering.centres[k] = [sum[0] / sum[2], sum[1] / sum[2]]; // Else it stays.
            }
        }
        clustering.iterations = round + 1;
        (clustering.changed, clustering.inertia) = (sums[SUMS - 2] as u64, sums[SUMS - 1]);
        self.run.observe(worker, clustering);
        let seconds = self.run.seconds();
        // Every worker decides alike: from the summed numbers and the agreed boundary only.
        let requested = self.run.boundary(worker, round + 1, seconds)?.stop.is_some();
        let done = clustering.changed == 0 || round + 1 >= self.max_iterations || requested;
        Ok(if done { Break(()) } else { Continue(()) })
    }
}

/// The app: what is its own in a run.
pub struct KMeans;

impl App for KMeans {
    type Params = Params;
    type Record = Clustering;
    type Loaded = Part;
    type Solved = Part;
    type Output = (Clustering, Timing);
    type Error = RunError;

    fn check(params: &Params, _: &ClusterConfig) -> Result<(), RunError> {
        let valid = params.points >= K && params.max_iterations > 0;
        let why = format!("k-means needs at least {K} points and 1 iteration");
        valid.then_some(()).ok_or(RunError::InvalidArgument(why))
    }

    fn load(
        worker: &mut Worker<'_>,
        params: &Params,
        _: &mut Run<Clustering>,
    ) -> Result<Part, RunError> {
        let (index, peers, n) = (worker.index(), worker.peers(), params.points);
        let share = index * n / peers..(index + 1) * n / peers;
        let points: Vec<Point> = share.map(|i| point(params.seed, i)).collect();
        let centres = std::array::from_fn(|k| point(params.seed, k));
        let clustering = Clustering { centres, ..Default::default() };
        Ok(Part { assigned: vec![usize::MAX; points.len()], points, clustering })
    }

    fn solve(
        worker: &mut Worker<'_>,
        params: &Params,
        part: Part,
        run: &mut Run<Clustering>,
    ) -> Result<Part, RunError> {
        let mut lloyd = Lloyd { part, max_iterations: params.max_iterations, run };
        run_replicated(worker, &mut lloyd, 0)?;
        Ok(lloyd.part)
    }

    /// Nothing to bring to worker 0: every worker holds the answer.
    fn gather(_: &mut Worker<'_>, _: &Params, part: &mut Part) -> Result<Footprint, RunError> {
        Ok(Footprint { bytes_read: 0, held: part.points.len() as u64 })
    }

    fn summarise(_: &Params, part: Part, timing: Timing, _: Vec<ProcessFigures>) -> Self::Output {
        (part.clustering, timing)
    }
}

fn main() -> ExitCode {
    let Ok(threads) = std::env::args().nth(1).map_or(Ok(2), |t| t.parse()) else {
        eprintln!("usage: kmeans [THREADS]");
        return ExitCode::from(2);
    };
    let params = Params { points: 100_000, seed: 1, max_iterations: 100 };
    let cluster = ClusterConfig::threads(threads);
    let progress: Observer<Clustering> = Arc::new(|c| {
        println!("iteration {}: {} changed, inertia {:.3}", c.iterations, c.changed, c.inertia)
    });
    match run_app::<KMeans>(&cluster, &params, Hooks::observing(Some(progress))) {
        Ok(Some((answer, timing))) => println!("{answer:?} in {:.3} s", timing.solve_seconds),
        Ok(None) => {} // A process other than process 0 (none here).
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    }
    ExitCode::SUCCESS
}
