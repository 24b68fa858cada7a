//! The one run every app plugs into: checks before any work, the cluster's start, a clock per
//! worker (loading, then solving), the app's solver loop with its stop rule, checkpoints, trace
//! and observer ([`Run`]), the answer brought to worker 0 with every process's figures, and
//! worker 0's result handed back to the caller.
//!
//! An app says only what is its own ([`App`]): how a worker loads its share, how it solves, what
//! it gathers at the end, and how worker 0 summarises. [`run_app`] does the rest, the same way for
//! every app:
//!
//! ```text
//! check -> form the cluster -> on every worker: load | solve | gather -> figures -> summarise (worker 0)
//!                               load_seconds ------^  ^-- solve_seconds (Run's clock)
//! ```

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use strads_engine::{run_cluster, ClusterConfig, ProcessFigures, Worker};

use crate::checkpoint::{Boundary, CheckpointClock, Checkpointing};
use crate::error::RunError;
use crate::hooks::{Hooks, Observer};

/// Seconds of a run on worker 0, by phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// From the worker's start (the cluster formed) to its share loaded and ready to solve.
    pub load_seconds: f64,
    /// Solving, on [`Run`]'s clock: a resumed run goes on from the checkpoint's seconds.
    pub solve_seconds: f64,
}

/// What a worker read and holds at the end of a run, gathered per process on worker 0
/// ([`ProcessFigures`], with the peak memory read then).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes of the input this worker read.
    pub bytes_read: u64,
    /// What this worker holds of the data (the app's unit: nonzeros, ratings, tokens).
    pub held: u64,
}

/// An app: what is its own in a run; everything else is [`run_app`]'s.
pub trait App: 'static {
    /// Everything a run needs besides the cluster.
    type Params: Clone + Send + Sync + 'static;
    /// One line of the trace, shown to the observer on worker 0.
    type Record: 'static;
    /// A worker's share of the problem once loaded.
    type Loaded;
    /// A worker's state once the solver loop stopped.
    type Solved;
    /// The answer, on worker 0.
    type Output: Send + 'static;
    /// What the app fails with; the runner's own failures convert into it.
    type Error: From<RunError> + Send + 'static;

    /// Checks the parameters and the cluster before any work (on every process, before the
    /// cluster forms): bad values, inputs in memory on more than one process, what the
    /// parameters alone cost in memory.
    fn check(params: &Self::Params, cluster: &ClusterConfig) -> Result<(), Self::Error>;

    /// Where and how often the run writes checkpoints and what it resumes (by default it
    /// neither writes nor resumes).
    fn checkpointing(_params: &Self::Params) -> Checkpointing {
        Checkpointing::default()
    }

    /// Loads this worker's share (a collective: every worker calls it), checking that the
    /// problem fits in memory before anything is sized by its shape. An app whose loading
    /// depends on a resumed state resumes here (`run`'s solve clock then starts at the
    /// checkpoint's seconds); the others resume in [`App::solve`].
    fn load(
        worker: &mut Worker<'_>,
        params: &Self::Params,
        run: &mut Run<Self::Record>,
    ) -> Result<Self::Loaded, Self::Error>;

    /// Runs the solver loop until it stops, the same iteration on every worker.
    fn solve(
        worker: &mut Worker<'_>,
        params: &Self::Params,
        loaded: Self::Loaded,
        run: &mut Run<Self::Record>,
    ) -> Result<Self::Solved, Self::Error>;

    /// After solving, on every worker: the collectives that bring the answer to worker 0 (kept
    /// in `solved`), and what this worker read and holds. By default nothing: for an app whose
    /// answer every worker holds (replicated), with no input read.
    fn gather(
        _worker: &mut Worker<'_>,
        _params: &Self::Params,
        _solved: &mut Self::Solved,
    ) -> Result<Footprint, Self::Error> {
        Ok(Footprint::default())
    }

    /// On worker 0: the answer, from its solved state, the run's timing and every process's
    /// figures (process 0 first).
    fn summarise(
        params: &Self::Params,
        solved: Self::Solved,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> Self::Output;
}

/// A worker's view of its run while it solves: the solve clock, the checkpoint clock and the
/// caller's hooks (stop request and observer).
pub struct Run<R> {
    started: Instant,
    /// Seconds of solving a resumed run carries from its checkpoint.
    carried_seconds: f64,
    clock: CheckpointClock,
    checkpointing: Checkpointing,
    hooks: Hooks<R>,
}

impl<R> Run<R> {
    /// A run that has not solved yet ([`run_app`] starts the solve clock after loading).
    fn new(checkpointing: Checkpointing, hooks: Hooks<R>) -> Self {
        Run {
            started: Instant::now(),
            carried_seconds: 0.0,
            clock: CheckpointClock::default(),
            checkpointing,
            hooks,
        }
    }

    /// Starts the solve clock (at the seconds a checkpoint carries, when one was resumed while
    /// loading).
    fn start_solving(&mut self) {
        let now = Instant::now();
        self.started = now
            .checked_sub(Duration::from_secs_f64(self.carried_seconds))
            .unwrap_or(now);
    }

    /// Seconds of solving (for a resumed run, from the checkpoint's seconds on).
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Whether a boundary is a collective: the run writes checkpoints or watches a stop
    /// request (otherwise every [`Run::boundary`] is "go on" at no cost).
    pub fn watching(&self) -> bool {
        self.checkpointing.save.is_some() || self.hooks.stop.is_some()
    }

    /// The observer, for a solver that shows records from its own state (the rows layout's
    /// leader).
    pub fn observer(&self) -> Option<Observer<R>> {
        self.hooks.observer.clone()
    }

    /// Shows `record` to the observer when this is worker 0.
    pub fn observe(&self, worker: &Worker<'_>, record: &R) {
        if let (true, Some(observer)) = (worker.is_leader(), &self.hooks.observer) {
            observer(record);
        }
    }

    /// Whether this worker's stop request is set, without a collective ([`Hooks::stop_set`]):
    /// for a loop body to skip the rest of its iteration; the agreed stop is
    /// [`Run::boundary`]'s.
    pub fn stop_set(&self) -> bool {
        self.hooks.stop_set()
    }

    /// The state to resume from (`None` for a fresh run) with the iteration it was written
    /// after; every worker must call it, while loading or solving. The app then calls
    /// [`Run::resumed_at`] with the checkpoint's seconds.
    pub fn resume<S: DeserializeOwned>(
        &self,
        worker: &mut Worker<'_>,
    ) -> Result<Option<(u64, S)>, RunError> {
        self.checkpointing.resume(worker)
    }

    /// The clocks go on from a checkpoint written after `iteration`, `seconds` into solving
    /// (the trace, time limits and the next checkpoint count from there).
    pub fn resumed_at(&mut self, iteration: u64, seconds: f64) {
        self.carried_seconds = seconds;
        self.started = Instant::now()
            .checked_sub(Duration::from_secs_f64(seconds))
            .unwrap_or(self.started);
        self.clock = CheckpointClock::at(iteration, seconds);
    }

    /// Before any work: fails (exit status 2) when the checkpoint directory clearly cannot hold
    /// a checkpoint of `state` (as [`Run::save`] will write it). Every worker must call it.
    pub fn check_space<S: Serialize>(
        &self,
        worker: &mut Worker<'_>,
        state: &S,
    ) -> Result<(), RunError> {
        self.checkpointing.check_space(worker, state)
    }

    /// The stop rule every worker agrees on at the boundary after `iteration` (a collective
    /// when checkpointing or watching a stop request, nothing otherwise): whether to write a
    /// checkpoint and whether a stop was requested on some worker. `seconds` is this worker's
    /// solve time; worker 0's decides.
    pub fn boundary(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: u64,
        seconds: f64,
    ) -> Result<Boundary, RunError> {
        self.checkpointing.boundary(
            worker,
            iteration,
            seconds,
            &mut self.clock,
            self.hooks.stop.as_ref(),
        )
    }

    /// Writes this worker's `state` as the checkpoint of `iteration` (after a
    /// [`Run::boundary`] that asked for one; every worker calls it).
    pub fn save<S: Serialize>(
        &self,
        worker: &mut Worker<'_>,
        iteration: u64,
        state: &S,
    ) -> Result<(), RunError> {
        self.checkpointing.save(worker, iteration, state)
    }
}

/// Runs app `A` on `cluster` with the caller's `hooks`: checks, then on every worker loads,
/// solves, gathers and (worker 0) summarises. Returns the answer in process 0 and `None` in the
/// others; the first worker's error of this process otherwise.
pub fn run_app<A: App>(
    cluster: &ClusterConfig,
    params: &A::Params,
    hooks: Hooks<A::Record>,
) -> Result<Option<A::Output>, A::Error> {
    A::check(params, cluster)?;
    let params = params.clone();
    let results = run_cluster(cluster, move |worker| {
        run_worker::<A>(worker, &params, hooks.clone())
    })
    .map_err(RunError::from)?;
    let mut leader = None;
    for result in results {
        if let Some(output) = result? {
            leader = Some(output);
        }
    }
    Ok(leader)
}

/// Fails with [`RunError::InvalidArgument`] when inputs held in memory would be solved on more
/// than one process (the other processes would not have them).
pub fn in_memory_on_one_process(
    in_memory: bool,
    cluster: &ClusterConfig,
    what: &str,
) -> Result<(), RunError> {
    if in_memory && cluster.processes() > 1 {
        return Err(RunError::InvalidArgument(what.into()));
    }
    Ok(())
}

/// One worker's run of `A`.
fn run_worker<A: App>(
    worker: &mut Worker<'_>,
    params: &A::Params,
    hooks: Hooks<A::Record>,
) -> Result<Option<A::Output>, A::Error> {
    let started = Instant::now();
    let mut run = Run::new(A::checkpointing(params), hooks);
    let loaded = A::load(worker, params, &mut run)?;
    let load_seconds = started.elapsed().as_secs_f64();
    run.start_solving();
    let mut solved = A::solve(worker, params, loaded, &mut run)?;
    let solve_seconds = run.seconds();
    let footprint = A::gather(worker, params, &mut solved)?;
    // Only on success (every worker gets here): each process's figures, its peak last.
    let figures = ProcessFigures {
        bytes_read: footprint.bytes_read,
        held: footprint.held,
        peak_memory_bytes: strads_io::peak_resident_bytes(),
    };
    let Some(processes) = worker
        .gather_process_figures(&figures)
        .map_err(RunError::from)?
    else {
        return Ok(None);
    };
    let timing = Timing {
        load_seconds,
        solve_seconds,
    };
    Ok(Some(A::summarise(params, solved, timing, processes)))
}
