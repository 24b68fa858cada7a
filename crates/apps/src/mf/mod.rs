//! Matrix factorisation of a ratings matrix `R ~ W H^T` (users x rank, items x rank).
//!
//! Objective (exactly as printed):
//! `sum_(i,j) observed (r_ij - w_i . h_j)^2 + lambda (sum_i c_i ||w_i||^2 + sum_j c_j ||h_j||^2)`,
//! with `c = 1` ([`RegScaling::None`]) or `c` = the row's training rating count
//! ([`RegScaling::Count`], the weighted-lambda form of Spark's ALS).
//!
//! Model-parallel as in STRADS: worker `p` owns a block of user rows of W and of item rows of H
//! and the ratings they touch, stored twice (by user and by item, [`shard`]). Workers exchange only
//! the factor entries other workers' ratings need (the engine's [`PullByKeys`]), never the whole
//! of W or H.
//! - [`Algorithm::Ccd`] ([`ccd`]): CCD++, rank-one coordinate descent with the residual kept in
//!   place on both copies.
//! - [`Algorithm::Als`] ([`als`]): alternating least squares, each row in closed form, by
//!   default with a safeguarded extrapolation of H before each W half.
//! - [`Algorithm::Sgd`] ([`sgd`]): SGD on P x P stratified blocks rotated between workers.
//!
//! CCD++ and ALS sum every row's terms in a fixed order, so their factors are identical for any
//! cluster shape; SGD is identical for the same seed and cluster shape.

pub mod als;
pub mod ccd;
pub mod ids;
pub mod init;
pub mod kernels;
pub mod load;
pub mod model;
pub mod sgd;
pub mod shard;
pub mod tiles;

use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strads_engine::replicated::{AllReduceSum, Exchange};
use strads_engine::{ClusterConfig, EngineError, PullByKeys, Worker};
use strads_io::RatingsFormat;

use crate::checkpoint::Checkpointing;
use crate::error::AppError;
use crate::huge::HugeBuffer;
use crate::runner::{run_app, App, Footprint, Hooks, Run, Timing};
pub use load::InMemoryRatings;
use load::Problem;
pub use model::Model;
use shard::{initial_entry, Side};

/// Which solver, without its options: the command line's `--algo` and the Python binding's
/// string (the doc comments of the variants are also the command line's help).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmKind {
    /// CCD++: rank-one coordinate descent, residual updated in place (STRADS MF).
    Ccd,
    /// Alternating least squares, each row in closed form.
    Als,
    /// SGD over P x P stratified blocks rotated between workers.
    Sgd,
}

impl AlgorithmKind {
    /// The name used on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            AlgorithmKind::Ccd => "ccd",
            AlgorithmKind::Als => "als",
            AlgorithmKind::Sgd => "sgd",
        }
    }

    /// This solver with its tuned default options.
    pub fn with_default_options(self) -> Algorithm {
        match self {
            AlgorithmKind::Ccd => Algorithm::Ccd(CcdOptions::default()),
            AlgorithmKind::Als => Algorithm::Als(AlsOptions::default()),
            AlgorithmKind::Sgd => Algorithm::Sgd(SgdOptions::default()),
        }
    }
}

/// The solver, with the options only it has (so an option cannot be set for a solver that
/// would ignore it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algorithm {
    /// CCD++ ([`ccd`]).
    Ccd(CcdOptions),
    /// Alternating least squares ([`als`]).
    Als(AlsOptions),
    /// Stratified SGD ([`sgd`]).
    Sgd(SgdOptions),
}

impl Algorithm {
    /// Which solver this is.
    pub fn kind(self) -> AlgorithmKind {
        match self {
            Algorithm::Ccd(_) => AlgorithmKind::Ccd,
            Algorithm::Als(_) => AlgorithmKind::Als,
            Algorithm::Sgd(_) => AlgorithmKind::Sgd,
        }
    }

    /// The name used on the command line and in summaries.
    pub fn name(self) -> &'static str {
        self.kind().name()
    }
}

/// The options of CCD++ alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CcdOptions {
    /// Inner iterations: updates of one rank-one term (`w_t`, then `h_t`) in a row.
    pub inner_iterations: usize,
}

impl Default for CcdOptions {
    /// One inner iteration (the command line's default).
    fn default() -> Self {
        CcdOptions {
            inner_iterations: 1,
        }
    }
}

/// The options of ALS alone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlsOptions {
    /// The first step `beta` of the extrapolation of H before each W half
    /// (`H' = H_t + beta (H_t - H_(t-1))`, kept only if the objective does not rise; see
    /// [`als`]); 0 is plain ALS.
    pub extrapolation: f64,
}

impl Default for AlsOptions {
    /// Extrapolation with a first step of 1 (the command line's default).
    fn default() -> Self {
        AlsOptions { extrapolation: 1.0 }
    }
}

/// The options of SGD alone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdOptions {
    /// Step size of the first epoch, `eta_0`.
    pub learning_rate: f64,
    /// Step decay: epoch `e` (from 0) uses `eta_0 / (1 + decay e)`.
    pub learning_rate_decay: f64,
    /// The objective and RMSEs are computed (and traced) at the start, after every epoch that is
    /// a multiple of this, and after the last. An evaluation is a pass over the training and
    /// test ratings that costs about a quarter of an epoch, and SGD needs none of it to go on;
    /// a divergence is noticed at the next evaluation.
    pub evaluate_every: NonZeroUsize,
}

impl Default for SgdOptions {
    /// The command line's defaults: step size 0.05 decaying by 0.1 per epoch, evaluated after
    /// every epoch.
    fn default() -> Self {
        SgdOptions {
            learning_rate: 0.05,
            learning_rate_decay: 0.1,
            evaluate_every: NonZeroUsize::MIN,
        }
    }
}

/// The weight `c` of each row's penalty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum RegScaling {
    /// c = 1: lambda (sum ||w_i||^2 + sum ||h_j||^2).
    None,
    /// c = the row's number of training ratings (Spark ALS's weighted lambda).
    Count,
}

/// How CCD++ and ALS choose their starting H (W starts at 0). SGD always starts from random W
/// and H: it updates both at once and needs both nonzero. The spectral start is [`init`]; the
/// doc comments of the variants are also the command line's help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// H from the top eigenvectors of the item co-rating matrix (a few steps of subspace
    /// iteration from the random start, each about as costly as a third of a ccd iteration);
    /// W = 0.
    Spectral,
    /// H uniform random in [-1, 1) / sqrt(rank); W = 0.
    Random,
}

/// Everything a factorisation needs besides the cluster.
#[derive(Clone, Debug)]
pub struct MfParams {
    /// Training ratings.
    pub train: PathBuf,
    /// Training ratings held in memory, read instead of `train` (then `test` must be `None`;
    /// one process only).
    pub train_in_memory: Option<InMemoryRatings>,
    /// Test ratings (scored every iteration).
    pub test: Option<PathBuf>,
    /// Layout of both files.
    pub format: RatingsFormat,
    /// The solver and its own options.
    pub algorithm: Algorithm,
    /// Rank of the factors.
    pub rank: usize,
    /// The penalty lambda.
    pub lambda: f64,
    /// The penalty weights.
    pub reg_scaling: RegScaling,
    /// Iterations (epochs for SGD).
    pub iterations: usize,
    /// The starting H of CCD++ and ALS.
    pub init: Init,
    /// Subspace-iteration steps of [`Init::Spectral`].
    pub init_steps: usize,
    /// Stop after the iteration during which this many seconds of solving passed.
    pub max_seconds: f64,
    /// Seed of the initial factors and of SGD's rating order.
    pub seed: u64,
    /// Whether process 0 gathers the factors at the end (for writing or predicting).
    pub collect_model: bool,
    /// Checkpoints (after iterations), resuming and stop requests.
    pub checkpointing: Checkpointing,
}

impl Default for MfParams {
    /// The command line's defaults (`train` is an empty path, to be set): CCD++ with its default
    /// options at rank 10 with lambda 0.05 for 10 iterations from the spectral start.
    fn default() -> Self {
        MfParams {
            train: PathBuf::new(),
            train_in_memory: None,
            test: None,
            format: RatingsFormat::Auto,
            algorithm: Algorithm::Ccd(CcdOptions::default()),
            rank: 10,
            lambda: 0.05,
            reg_scaling: RegScaling::None,
            iterations: 10,
            init: Init::Spectral,
            init_steps: MfParams::tuned_init_steps(AlgorithmKind::Ccd),
            max_seconds: f64::INFINITY,
            seed: 1,
            collect_model: false,
            checkpointing: Checkpointing::default(),
        }
    }
}

impl MfParams {
    /// The default subspace-iteration steps of [`Init::Spectral`] for `algorithm`: 3 for ALS, 2
    /// for CCD++, each the fastest to a given test RMSE on the benchmark problem (with 3 ALS gets
    /// there one iteration sooner; CCD++ gains nothing). SGD does not use them.
    pub fn tuned_init_steps(algorithm: AlgorithmKind) -> usize {
        match algorithm {
            AlgorithmKind::Als => 3,
            AlgorithmKind::Ccd | AlgorithmKind::Sgd => 2,
        }
    }
}

/// One line of the trace: the state after an iteration (iteration 0 is the initial state).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceRecord {
    /// Iterations (epochs) done.
    pub iteration: usize,
    /// Seconds since solving started (loading excluded).
    pub seconds: f64,
    /// The training objective.
    pub objective: f64,
    /// Root mean squared error on the training ratings.
    pub rmse_train: f64,
    /// Root mean squared error on the test ratings (unseen ids predicted with the global mean).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse_test: Option<f64>,
}

/// Called on the leader after each iteration (for progress displays).
pub type Observer = crate::runner::Observer<TraceRecord>;

/// The answer, returned by the process that holds the leader (process 0).
#[derive(Clone, Debug)]
pub struct MfSolution {
    /// The factors, if [`MfParams::collect_model`].
    pub model: Option<Model>,
    /// The last trace record.
    pub last: TraceRecord,
    /// One record per iteration, from iteration 0.
    pub trace: Vec<TraceRecord>,
    /// Whether the objective became infinite or NaN (SGD with too large a step).
    pub diverged: bool,
    /// Distinct users in the training set.
    pub users: usize,
    /// Distinct items in the training set.
    pub items: usize,
    /// Training ratings.
    pub train_ratings: usize,
    /// Test ratings (seen and unseen).
    pub test_ratings: usize,
    /// Test ratings whose user or item is not in the training set.
    pub unseen_test_ratings: usize,
    /// Mean training rating (the prediction for unseen ids).
    pub global_mean: f64,
    /// Seconds from start to every worker holding its data.
    pub load_seconds: f64,
    /// Seconds of solving.
    pub solve_seconds: f64,
    /// Per process: its figures at the end of solving, gathered from every process.
    pub processes: Vec<ProcessFigures>,
    /// Per process: the user and item ids whose tokens its workers own ([`ids`]): over all
    /// processes, every id once. (When the factors are collected, process 0 also receives every
    /// token at the end, to write them.)
    pub ids_held: Vec<u64>,
}

/// What one process read, held (`held`: training ratings its workers store, both copies
/// counted, so over all processes twice the training ratings) and used, gathered at the end of a
/// successful run.
pub use strads_engine::ProcessFigures;

/// Factorises on `cluster`; returns the solution in process 0 and `None` in the others.
pub fn solve(
    cluster: &ClusterConfig,
    params: &MfParams,
    hooks: Hooks<TraceRecord>,
) -> Result<Option<MfSolution>, AppError> {
    run_app::<Factorisation>(cluster, params, hooks)
}

/// What an ALS row costs beyond its ratings, in ratings: the Cholesky solve and the setup of
/// its sums. Measured on the benchmark problem (rank 10): 0.48 us per row against 14 ns per
/// rating; with blocks balanced by ratings alone, the worker owning the many light users took
/// 1.5x as long for its W half.
const ALS_ROW_COST: u64 = 34;

/// Bytes one process needs (an estimate that errs on the high side): the factors of its
/// workers' blocks and the gathered model, every worker's halo of the other side's rows (at
/// worst all of them) and its exchange buffers, `rank x rank` sums and scratch per worker (the
/// spectral start's exact sums in `i128`, gathered from every worker; ALS's normal equations;
/// the small eigenproblems), and per rating copy its workers hold (a rating is held twice, by
/// its user's and by its item's owner) the copy, residuals and tiles; per test rating it holds,
/// the rating.
pub fn memory_needed(
    rank: usize,
    threads: usize,
    workers: usize,
    users: usize,
    items: usize,
    rating_copies: usize,
    test_ratings: usize,
) -> u128 {
    let (k, threads, workers) = (rank as u128, threads as u128, workers as u128);
    let rows = users as u128 + items as u128;
    rows * k * 8 * (threads + 4)
        + k * k * 8 * threads * (6 + 2 * workers)
        + rating_copies as u128 * 32
        + test_ratings as u128 * 32
}

fn validate(params: &MfParams) -> Result<(), AppError> {
    use crate::error::Parameter as P;
    let bad = |parameter, requirement: &str, value: &dyn std::fmt::Display| {
        Err(AppError::invalid(parameter, requirement, value))
    };
    match params.algorithm {
        Algorithm::Ccd(options) if options.inner_iterations == 0 => {
            return bad(P::InnerIterations, "at least 1", &0);
        }
        Algorithm::Als(options)
            if !(options.extrapolation >= 0.0 && options.extrapolation.is_finite()) =>
        {
            return bad(
                P::Extrapolation,
                "a finite number >= 0",
                &options.extrapolation,
            );
        }
        Algorithm::Sgd(options)
            if !(options.learning_rate > 0.0 && options.learning_rate.is_finite()) =>
        {
            return bad(P::LearningRate, "> 0", &options.learning_rate);
        }
        Algorithm::Sgd(options)
            if !(options.learning_rate_decay >= 0.0 && options.learning_rate_decay.is_finite()) =>
        {
            return bad(P::LearningRateDecay, ">= 0", &options.learning_rate_decay);
        }
        _ => {}
    }
    if params.rank == 0 {
        return bad(P::Rank, "at least 1", &0);
    }
    if !(params.lambda >= 0.0 && params.lambda.is_finite()) {
        return bad(P::Lambda, "a finite number >= 0", &params.lambda);
    }
    if params.max_seconds.is_nan() || params.max_seconds <= 0.0 {
        return bad(P::MaxSeconds, "> 0", &params.max_seconds);
    }
    Ok(())
}

/// A worker's blocks, factors and exchange plans.
pub struct Local {
    /// Rank of the factors.
    pub rank: usize,
    /// Owned users and their ratings (with the seen test ratings).
    pub users: Side,
    /// Owned items and their ratings.
    pub items: Side,
    /// Owned rows of W, row-major.
    pub w: Vec<f64>,
    /// Owned rows of H, row-major.
    pub h: Vec<f64>,
    /// `lambda c_i` of each owned user.
    pub user_reg: Vec<f64>,
    /// `lambda c_j` of each owned item.
    pub item_reg: Vec<f64>,
    /// Sends owned H rows to the workers whose users rate them.
    pub item_halo: PullByKeys,
    /// Sends owned W rows to the workers whose items are rated by them.
    pub user_halo: PullByKeys,
    /// The H rows the owned users' ratings touch (`users.needed`), as of the last
    /// [`Local::refresh_h`]. On huge pages: the W half reads them at random.
    pub h_needed: HugeBuffer<f64>,
    /// The W rows the owned items' ratings touch (`items.needed`), as of the last
    /// [`Local::refresh_w`]. On huge pages: the H half reads them at random, from tens of
    /// megabytes (measured: ALS's H half 1.2x faster than on 4 KiB pages).
    pub w_needed: HugeBuffer<f64>,
}

impl Local {
    fn build(
        worker: &mut Worker<'_>,
        problem: &Problem,
        users: Side,
        items: Side,
        params: &MfParams,
    ) -> Result<Local, AppError> {
        let k = params.rank;
        let (user_rows, item_rows) = (users.rows.clone(), items.rows.clone());
        let reg = |counts: &[u64]| -> Vec<f64> {
            counts
                .iter()
                .map(|&c| match params.reg_scaling {
                    RegScaling::None => params.lambda,
                    RegScaling::Count => params.lambda * c as f64,
                })
                .collect()
        };
        // H starts random in [-1, 1) / sqrt(rank); W starts at 0 for CCD++ and ALS (which solve
        // for W first) and random for SGD, which needs both sides nonzero.
        let scale = 1.0 / (k as f64).sqrt();
        let h = item_rows
            .clone()
            .flat_map(|j| (0..k).map(move |t| (j, t)))
            .map(|(j, t)| scale * initial_entry(params.seed, 1, j, t, k))
            .collect();
        let w = match params.algorithm {
            Algorithm::Sgd(_) => user_rows
                .clone()
                .flat_map(|i| (0..k).map(move |t| (i, t)))
                .map(|(i, t)| scale * initial_entry(params.seed, 2, i, t, k))
                .collect(),
            _ => vec![0.0; user_rows.len() * k],
        };
        let item_halo = PullByKeys::new(worker, &users.needed, &problem.item_blocks)?;
        let user_halo = PullByKeys::new(worker, &items.needed, &problem.user_blocks)?;
        let buffer = |rows: usize| {
            HugeBuffer::zeroed(rows * k)
                .map_err(|e| AppError::Resources(format!("cannot map {} factor rows: {e}", rows)))
        };
        let (h_needed, w_needed) = (buffer(users.needed.len())?, buffer(items.needed.len())?);
        Ok(Local {
            rank: k,
            user_reg: reg(&problem.user_counts),
            item_reg: reg(&problem.item_counts[item_rows.clone()]),
            users,
            items,
            w,
            h,
            item_halo,
            user_halo,
            h_needed,
            w_needed,
        })
    }

    /// `sum_i lambda c_i ||w_i||^2 + sum_j lambda c_j ||h_j||^2` over the owned rows.
    pub fn penalty(&self) -> f64 {
        let k = self.rank;
        let part = |rows: &[f64], reg: &[f64]| -> f64 {
            reg.iter()
                .enumerate()
                .map(|(i, r)| r * rows[i * k..(i + 1) * k].iter().map(|x| x * x).sum::<f64>())
                .sum()
        };
        part(&self.w, &self.user_reg) + part(&self.h, &self.item_reg)
    }

    /// `(training SSE, penalty, test SSE)` from the owned W rows and the needed H rows.
    pub fn evaluate(&self, h_needed: &[f64]) -> [f64; 3] {
        let users = &self.users;
        let train = self.squared_error(h_needed, |i| users.row(i), &users.cols, &users.values);
        [train, self.penalty(), self.test_error(h_needed)]
    }

    /// The test SSE (seen test ratings) from the owned W rows and the needed H rows.
    pub fn test_error(&self, h_needed: &[f64]) -> f64 {
        let users = &self.users;
        self.squared_error(
            h_needed,
            |i| users.test_row(i),
            &users.test_cols,
            &users.test_values,
        )
    }

    /// `sum (r - w_i . h_j)^2` over the ratings `row(i)` of every owned user.
    fn squared_error(
        &self,
        h_needed: &[f64],
        row: impl Fn(usize) -> std::ops::Range<usize>,
        cols: &[u32],
        values: &[f64],
    ) -> f64 {
        let k = self.rank;
        let mut sse = 0.0;
        for i in 0..self.users.len() {
            let w = &self.w[i * k..(i + 1) * k];
            let range = row(i);
            sse =
                kernels::add_squared_errors(w, &cols[range.clone()], &values[range], h_needed, sse);
        }
        sse
    }

    /// Frees `h_needed` and `w_needed` (for a solver that never exchanges whole rows, CCD++).
    pub fn release_needed_rows(&mut self) {
        (self.h_needed, self.w_needed) = (HugeBuffer::empty(), HugeBuffer::empty());
    }

    /// Sends every owned H row to the workers that need it, and receives `h_needed`.
    pub fn refresh_h(&mut self, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        let (k, h) = (self.rank, &self.h);
        self.item_halo.pull_into(
            worker,
            k,
            |j, out| out.copy_from_slice(&h[j * k..(j + 1) * k]),
            &mut self.h_needed,
        )
    }

    /// Sends every owned W row to the workers that need it, and receives `w_needed`.
    pub fn refresh_w(&mut self, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        let (k, w) = (self.rank, &self.w);
        self.user_halo.pull_into(
            worker,
            k,
            |i, out| out.copy_from_slice(&w[i * k..(i + 1) * k]),
            &mut self.w_needed,
        )
    }
}

/// Per-iteration bookkeeping shared by the solvers: the global objective and errors, the trace,
/// and the stopping rule (decided on the leader, agreed through the reduction), on the run's
/// clock and checkpoints.
pub struct Driver<'run> {
    run: &'run mut Run<TraceRecord>,
    iterations: usize,
    max_seconds: f64,
    n_train: f64,
    n_test: f64,
    unseen_sse: f64,
    /// The records so far (complete on the leader).
    pub trace: Vec<TraceRecord>,
    /// Whether the objective became infinite or NaN.
    pub diverged: bool,
}

/// A trace record as a checkpoint holds it (bincode cannot read back a record serialised with
/// `rmse_test` skipped).
type SavedRecord = (usize, f64, f64, f64, Option<f64>);

/// What a checkpoint holds besides the algorithm's state: the trace so far.
type SavedDriver = Vec<SavedRecord>;

impl Driver<'_> {
    /// Sums `local` = `(training SSE, penalty, test SSE)` over workers, records iteration
    /// `iteration`, and returns whether to stop.
    pub fn record(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: usize,
        local: [f64; 3],
    ) -> Result<bool, EngineError> {
        let global = self.share(worker, local).exchange(worker)?;
        Ok(self.commit(worker, iteration, global))
    }

    /// This worker's share of an iteration's sums: `local` = `(training SSE, penalty, test
    /// SSE)`, and whether the time is up, which only worker 0's clock says.
    pub fn share(&self, worker: &Worker<'_>, local: [f64; 3]) -> AllReduceSum<4> {
        let out_of_time = worker.is_leader() && self.run.seconds() >= self.max_seconds;
        let flag = if out_of_time { 1.0 } else { 0.0 };
        AllReduceSum([local[0], local[1], local[2], flag])
    }

    /// Records iteration `iteration` from the sums of every worker's [`Driver::share`], and
    /// returns whether to stop: the same on every worker, which all hold the same sums.
    pub fn commit(&mut self, worker: &Worker<'_>, iteration: usize, global: [f64; 4]) -> bool {
        let objective = global[0] + global[1];
        let record = TraceRecord {
            iteration,
            seconds: self.run.seconds(),
            objective,
            rmse_train: (global[0] / self.n_train).sqrt(),
            rmse_test: (self.n_test > 0.0)
                .then(|| ((global[2] + self.unseen_sse) / self.n_test).sqrt()),
        };
        self.run.observe(worker, &record);
        self.trace.push(record);
        self.diverged = !objective.is_finite();
        self.diverged || global[3] > 0.0 || iteration >= self.iterations
    }

    /// Whether worker 0's clock says the time is up, on every worker (collective), for an
    /// iteration that is not recorded: without a time limit no worker asks, and it is false.
    pub fn out_of_time(&self, worker: &mut Worker<'_>) -> Result<bool, EngineError> {
        if self.max_seconds.is_infinite() {
            return Ok(false);
        }
        Ok(self.share(worker, [0.0; 3]).exchange(worker)?[3] > 0.0)
    }

    /// Whether iteration `iteration` is the last that was asked for.
    pub fn is_last(&self, iteration: usize) -> bool {
        iteration >= self.iterations
    }

    /// After [`Driver::record`] of `iteration` said "go on": writes the checkpoint `state` (the
    /// algorithm's, with the trace) when one is due, and returns whether a stop was requested.
    pub fn boundary<S: Serialize>(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: usize,
        state: &S,
    ) -> Result<bool, AppError> {
        let seconds = self.run.seconds();
        let boundary = self.run.boundary(worker, iteration as u64, seconds)?;
        if boundary.checkpoint {
            let trace: SavedDriver = self
                .trace
                .iter()
                .map(|r| {
                    (
                        r.iteration,
                        r.seconds,
                        r.objective,
                        r.rmse_train,
                        r.rmse_test,
                    )
                })
                .collect();
            self.run
                .save(worker, iteration as u64, &(state, &trace, seconds))?;
        }
        Ok(boundary.stop.is_some())
    }

    /// Before any work: fails (exit status 2) when the checkpoint directory clearly cannot hold
    /// a checkpoint of `state` (the algorithm's, as [`Driver::boundary`] will write it).
    pub fn check_space<S: Serialize>(
        &self,
        worker: &mut Worker<'_>,
        state: &S,
    ) -> Result<(), AppError> {
        Ok(self.run.check_space(worker, state)?)
    }

    /// The state to resume from (`None` for a fresh run), with the iteration it was written
    /// after; restores the trace and the clock.
    pub fn resume<S: DeserializeOwned>(
        &mut self,
        worker: &mut Worker<'_>,
    ) -> Result<Option<(usize, S)>, AppError> {
        let Some((iteration, (state, trace, seconds))) =
            self.run.resume::<(S, SavedDriver, f64)>(worker)?
        else {
            return Ok(None);
        };
        self.trace = trace
            .into_iter()
            .map(
                |(iteration, seconds, objective, rmse_train, rmse_test)| TraceRecord {
                    iteration,
                    seconds,
                    objective,
                    rmse_train,
                    rmse_test,
                },
            )
            .collect();
        self.run.resumed_at(iteration, seconds);
        Ok(Some((iteration as usize, state)))
    }
}

/// The factorisation as an app of the runner.
struct Factorisation;

/// A worker's share once loaded: the problem's sizes and ids, its blocks and factors.
struct Loaded {
    problem: Problem,
    local: Local,
}

/// A worker's state after solving, with what the end of the run gathered on worker 0.
struct Solved {
    problem: Problem,
    local: Local,
    trace: Vec<TraceRecord>,
    diverged: bool,
    model: Option<Model>,
    ids_held: Vec<u64>,
}

impl App for Factorisation {
    type Params = MfParams;
    type Record = TraceRecord;
    type Loaded = Loaded;
    type Solved = Solved;
    type Output = MfSolution;
    type Error = AppError;

    fn check(params: &MfParams, cluster: &ClusterConfig) -> Result<(), AppError> {
        validate(params)?;
        if params.train_in_memory.is_some() && (cluster.processes() > 1 || params.test.is_some()) {
            return Err(AppError::InvalidArgument(
                "ratings held in memory are factorised in one process, without a test file".into(),
            ));
        }
        let threads = cluster.threads;
        // What the rank alone costs (the rank x rank sums and scratch) is checked before any
        // work.
        strads_io::check_memory(
            &format!("rank {} on {threads} worker thread(s)", params.rank),
            memory_needed(params.rank, threads, cluster.workers(), 0, 0, 0, 0),
        )
        .map_err(AppError::InvalidArgument)
    }

    fn checkpointing(params: &MfParams) -> Checkpointing {
        params.checkpointing.clone()
    }

    fn load(
        worker: &mut Worker<'_>,
        params: &MfParams,
        _run: &mut Run<TraceRecord>,
    ) -> Result<Loaded, AppError> {
        let row_cost = match params.algorithm {
            Algorithm::Als(_) => ALS_ROW_COST,
            Algorithm::Ccd(_) | Algorithm::Sgd(_) => 0,
        };
        // Each worker parses only its byte range of each file; the workers agree on the ids and
        // send every rating to its owners: no process holds all ratings.
        let load::Share {
            problem,
            users,
            items,
        } = load::load(worker, params, worker.workers_per_process(), row_cost)?;
        let local = Local::build(worker, &problem, users, items, params)?;
        Ok(Loaded { problem, local })
    }

    fn solve(
        worker: &mut Worker<'_>,
        params: &MfParams,
        loaded: Loaded,
        run: &mut Run<TraceRecord>,
    ) -> Result<Solved, AppError> {
        let Loaded { problem, mut local } = loaded;
        let mut driver = Driver {
            run,
            iterations: params.iterations,
            max_seconds: params.max_seconds,
            n_train: problem.n_train as f64,
            n_test: problem.n_test as f64,
            unseen_sse: problem.unseen_sse,
            trace: Vec::new(),
            diverged: false,
        };
        // The initialisation is part of solving: its time counts in every trace record. A
        // resumed run reads its factors instead (every process resumes, or none: it is agreed).
        let spectral = params.init == Init::Spectral && params.checkpointing.resume.is_none();
        let start = |worker: &mut Worker<'_>, local: &mut Local, items| {
            init::spectral(
                worker,
                local,
                items,
                params.init_steps,
                problem.mean_square,
                problem.n_items,
            )
        };
        match params.algorithm {
            Algorithm::Ccd(options) => {
                let tiles = ccd::tile_item_ratings(&mut local);
                if spectral {
                    start(worker, &mut local, init::ItemRatings::Tiles(&tiles))?;
                }
                ccd::run(
                    worker,
                    &mut local,
                    tiles,
                    &mut driver,
                    options.inner_iterations,
                )?
            }
            Algorithm::Als(options) => {
                if spectral {
                    start(worker, &mut local, init::ItemRatings::Rows)?;
                }
                als::run(worker, &mut local, &mut driver, options)?
            }
            Algorithm::Sgd(options) => {
                sgd::run(worker, &mut local, &mut driver, &problem, params, options)?
            }
        }
        Ok(Solved {
            problem,
            local,
            trace: driver.trace,
            diverged: driver.diverged,
            model: None,
            ids_held: Vec::new(),
        })
    }

    fn gather(
        worker: &mut Worker<'_>,
        params: &MfParams,
        solved: &mut Solved,
    ) -> Result<Footprint, AppError> {
        let (problem, local) = (&solved.problem, &solved.local);
        if params.collect_model {
            let factors = model::gather(worker, local)?;
            let user_names = problem.user_ids.gather_names(worker)?;
            let item_names = problem.item_ids.gather_names(worker)?;
            solved.model = factors.map(|(w, h)| Model {
                rank: params.rank,
                user_ids: user_names.unwrap_or_default(),
                item_ids: item_names.unwrap_or_default(),
                w,
                h,
                global_mean: problem.global_mean,
            });
        }
        let ids_held = (problem.user_ids.len() + problem.item_ids.len()) as u64;
        let every_ids_held: Vec<u64> = worker.all_gather(&ids_held)?;
        solved.ids_held = every_ids_held
            .chunks(worker.workers_per_process())
            .map(|workers| workers.iter().sum())
            .collect();
        Ok(Footprint {
            bytes_read: problem.bytes_read,
            held: (local.users.ratings() + local.items.ratings()) as u64,
        })
    }

    fn summarise(
        _params: &MfParams,
        solved: Solved,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> MfSolution {
        let problem = solved.problem;
        MfSolution {
            model: solved.model,
            last: solved
                .trace
                .last()
                .cloned()
                .expect("iteration 0 is recorded"),
            trace: solved.trace,
            diverged: solved.diverged,
            users: problem.n_users,
            items: problem.n_items,
            train_ratings: problem.n_train,
            test_ratings: problem.n_test,
            unseen_test_ratings: problem.unseen,
            global_mean: problem.global_mean,
            load_seconds: timing.load_seconds,
            solve_seconds: timing.solve_seconds,
            processes,
            ids_held: solved.ids_held,
        }
    }
}
