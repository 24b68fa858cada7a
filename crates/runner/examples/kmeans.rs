//! K-means (Lloyd) as a whole Strads app on the replicated-rounds driver and the app runner. Run:
//! `kmeans THREADS`, or with `STRADS_SECRET` set one process of a cluster: `kmeans THREADS PROCESS
//! HOST:PORT...` (one HOST:PORT per process; the tests run 2 on loopback).

use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use strads_engine::replicated::{run_replicated, AllReduceSum, ReplicatedRounds};
use strads_engine::{ClusterConfig, ProcessFigures, Secret, Worker};
use strads_runner::{run_app, App, Hooks, Observer, Run, RunError, Timing};

pub(crate) const K: usize = 4; // clusters
pub(crate) type Point = [f64; 2];
const SUMS: usize = K * 3 + 1; // a round's: per centre its coordinates and count; then changed

/// A run's parameters.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) points: usize, // in all
    pub(crate) seed: u64,
    pub(crate) max_iterations: u64,
}

/// Point `i` (a random corner of a square, plus noise), from its own stream: any worker makes it.
pub(crate) fn point(seed: u64, i: usize) -> Point {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(i as u64);
    let corner = rng.gen_range(0..K);
    std::array::from_fn(|d| 3.0 * ((corner >> d) & 1) as f64 + rng.sample::<f64, _>(StandardNormal))
}

/// The clustering after an iteration, the same on every worker: a trace record, and the answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Clustering {
    pub(crate) iterations: u64,
    pub(crate) centres: [Point; K],
    pub(crate) counts: [u64; K], // each centre's points in the last assignment
    pub(crate) changed: u64,     // points whose centre changed in it (all in the first)
}

/// A worker's part: its points, the centre of each, and its replica of the clustering.
pub(crate) struct Part {
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
type Flow = Result<ControlFlow<()>, RunError>;

impl ReplicatedRounds for Lloyd<'_> {
    type Share = AllReduceSum<SUMS>;
    type Error = RunError;

    fn step(&mut self, _: &mut Worker<'_>, _: u64) -> Result<AllReduceSum<SUMS>, RunError> {
        let Part { points, assigned, clustering } = &mut self.part;
        let mut sums = [0.0; SUMS];
        for (x, assigned) in points.iter().zip(assigned) {
            let distance = |c: &Point| (c[0] - x[0]).powi(2) + (c[1] - x[1]).powi(2);
            let distances = clustering.centres.iter().map(distance).enumerate();
            let (k, _) = distances.min_by(|a, b| a.1.total_cmp(&b.1)).expect("K > 0");
            sums[3 * k..3 * k + 3].iter_mut().zip([x[0], x[1], 1.0]).for_each(|(s, x)| *s += x);
            sums[SUMS - 1] += f64::from(u8::from(*assigned != k));
            *assigned = k;
        }
        Ok(AllReduceSum(sums))
    }

    fn apply(&mut self, worker: &mut Worker<'_>, round: u64, sums: [f64; SUMS]) -> Flow {
        let clustering = &mut self.part.clustering;
        for (k, sum) in sums.chunks(3).take(K).enumerate() {
            clustering.counts[k] = sum[2] as u64;
            if sum[2] > 0.0 {
                clustering.centres[k] = [sum[0] / sum[2], sum[1] / sum[2]]; // Else it stays.
            }
        }
        (clustering.iterations, clustering.changed) = (round + 1, sums[SUMS - 1] as u64);
        self.run.observe(worker, clustering);
        // Every worker decides alike: from the summed numbers and the agreed boundary only.
        let requested = self.run.boundary(worker, round + 1, self.run.seconds())?.stop.is_some();
        let done = clustering.changed == 0 || round + 1 >= self.max_iterations || requested;
        Ok(if done { Break(()) } else { Continue(()) })
    }
}

/// The app: what is its own in a run; `run_app` does the rest (no `gather`: all hold the answer).
pub(crate) struct KMeans;

impl App for KMeans {
    type Params = Params;
    type Record = Clustering;
    type Loaded = Part;
    type Solved = Part;
    type Output = (Clustering, Timing);
    type Error = RunError;

    fn check(params: &Params, _: &ClusterConfig) -> Result<(), RunError> {
        let why = || RunError::InvalidArgument(format!("k-means needs {K} points, 1 iteration"));
        (params.points >= K && params.max_iterations > 0).then_some(()).ok_or_else(why)
    }

    fn load(
        worker: &mut Worker<'_>, params: &Params, _: &mut Run<Clustering>,
    ) -> Result<Part, RunError> {
        let (index, peers, n) = (worker.index(), worker.peers(), params.points);
        let share = index * n / peers..(index + 1) * n / peers;
        let points: Vec<Point> = share.map(|i| point(params.seed, i)).collect();
        let centres = std::array::from_fn(|k| point(params.seed, k));
        let clustering = Clustering { centres, ..Default::default() };
        Ok(Part { assigned: vec![usize::MAX; points.len()], points, clustering })
    }

    fn solve(
        worker: &mut Worker<'_>, params: &Params, part: Part, run: &mut Run<Clustering>,
    ) -> Result<Part, RunError> {
        let mut lloyd = Lloyd { part, max_iterations: params.max_iterations, run };
        run_replicated(worker, &mut lloyd, 0)?;
        Ok(lloyd.part)
    }

    fn summarise(_: &Params, part: Part, timing: Timing, _: Vec<ProcessFigures>) -> Self::Output {
        (part.clustering, timing)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = args.first().map_or(Ok(2), |t| t.parse())?;
    let cluster = match args.get(1) {
        None => ClusterConfig::threads(threads),
        Some(process) => ClusterConfig::cluster(threads, process.parse()?, args[2..].to_vec())?
            .with_secret(Secret::new(std::env::var("STRADS_SECRET")?)?),
    };
    let params = Params { points: 100_000, seed: 1, max_iterations: 100 };
    let progress: Observer<Clustering> =
        Arc::new(|c| println!("iteration {}: {} points changed centre", c.iterations, c.changed));
    let hooks = Hooks::observing(Some(progress));
    if let Some((answer, timing)) = run_app::<KMeans>(&cluster, &params, hooks)? {
        println!("{answer:?} in {:.3} s", timing.solve_seconds); // on process 0 only
    }
    Ok(())
}
