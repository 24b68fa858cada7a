//! A STRADS-AP app on the runner every Strads app plugs into ([`strads_runner`]): the app says
//! what is its own with an [`Ap`] handle ([`ApApp`]), and [`run_ap_app`] runs it as
//! [`strads_runner::run_app`] runs the engine's apps (checks, cluster start, timing, the stop
//! rule agreed at boundaries, trace observer, worker 0's answer with every process's figures).

use std::marker::PhantomData;

use strads_engine::{ClusterConfig, ProcessFigures, Worker};
use strads_runner::{run_app, App, Footprint, Hooks, Run, RunError, Timing};

use crate::error::ApError;
use crate::program::{Ap, ApConfig, ApState};

/// An app written on STRADS-AP: [`strads_runner::App`] with an [`Ap`] handle in place of the
/// engine's worker. The handle made while loading goes on through solving and gathering (its
/// containers and loop plans stay valid).
pub trait ApApp: 'static {
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
    /// What the app fails with; the runner's and the AP runtime's failures convert into it.
    type Error: From<RunError> + From<ApError> + Send + 'static;

    /// Checks the parameters and the cluster before any work (on every process).
    fn check(params: &Self::Params, cluster: &ClusterConfig) -> Result<(), Self::Error>;

    /// Loads this worker's share (collective).
    fn load(
        ap: &mut Ap<'_, '_>,
        params: &Self::Params,
        run: &mut Run<Self::Record>,
    ) -> Result<Self::Loaded, Self::Error>;

    /// Runs the solver loop until it stops, the same iteration on every worker.
    fn solve(
        ap: &mut Ap<'_, '_>,
        params: &Self::Params,
        loaded: Self::Loaded,
        run: &mut Run<Self::Record>,
    ) -> Result<Self::Solved, Self::Error>;

    /// After solving, on every worker: the collectives that bring the answer to worker 0 (kept
    /// in `solved`); returns what this worker holds of the data (the bytes it read are the
    /// handle's, [`Ap::bytes_read`]).
    fn gather(
        ap: &mut Ap<'_, '_>,
        params: &Self::Params,
        solved: &mut Self::Solved,
    ) -> Result<u64, Self::Error>;

    /// On worker 0: the answer, from its solved state, the run's timing and every process's
    /// figures (process 0 first).
    fn summarise(
        params: &Self::Params,
        solved: Self::Solved,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> Self::Output;
}

/// Runs the AP app `A` on `config`'s cluster (one thread in debug mode) with the caller's
/// `hooks`; returns the answer in process 0 and `None` in the others.
pub fn run_ap_app<A: ApApp>(
    config: &ApConfig,
    params: &A::Params,
    hooks: Hooks<A::Record>,
) -> Result<Option<A::Output>, A::Error> {
    let cluster = config.cluster_to_run()?;
    let params = OnApParams {
        app: params.clone(),
        debug: config.debug,
        print_strategies: config.print_strategies,
    };
    run_app::<OnAp<A>>(&cluster, &params, hooks)
}

/// The runner's app for an [`ApApp`].
struct OnAp<A>(PhantomData<A>);

/// An [`ApApp`]'s parameters with the handle's settings.
struct OnApParams<P> {
    app: P,
    debug: bool,
    print_strategies: bool,
}

impl<P: Clone> Clone for OnApParams<P> {
    fn clone(&self) -> Self {
        OnApParams {
            app: self.app.clone(),
            debug: self.debug,
            print_strategies: self.print_strategies,
        }
    }
}

impl<A: ApApp> App for OnAp<A> {
    type Params = OnApParams<A::Params>;
    type Record = A::Record;
    type Loaded = (ApState, A::Loaded);
    type Solved = (ApState, A::Solved);
    type Output = A::Output;
    type Error = A::Error;

    fn check(params: &Self::Params, cluster: &ClusterConfig) -> Result<(), A::Error> {
        A::check(&params.app, cluster)
    }

    fn load(
        worker: &mut Worker<'_>,
        params: &Self::Params,
        run: &mut Run<A::Record>,
    ) -> Result<Self::Loaded, A::Error> {
        let mut ap = Ap::resume(worker, ApState::new(params.debug, params.print_strategies));
        let loaded = A::load(&mut ap, &params.app, run)?;
        Ok((ap.into_state(), loaded))
    }

    fn solve(
        worker: &mut Worker<'_>,
        params: &Self::Params,
        (state, loaded): Self::Loaded,
        run: &mut Run<A::Record>,
    ) -> Result<Self::Solved, A::Error> {
        let mut ap = Ap::resume(worker, state);
        let solved = A::solve(&mut ap, &params.app, loaded, run)?;
        Ok((ap.into_state(), solved))
    }

    fn gather(
        worker: &mut Worker<'_>,
        params: &Self::Params,
        (state, solved): &mut Self::Solved,
    ) -> Result<Footprint, A::Error> {
        let mut ap = Ap::resume(worker, std::mem::take(state));
        let held = A::gather(&mut ap, &params.app, solved)?;
        let bytes_read = ap.bytes_read();
        *state = ap.into_state();
        Ok(Footprint { bytes_read, held })
    }

    fn summarise(
        params: &Self::Params,
        (_, solved): Self::Solved,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> A::Output {
        A::summarise(&params.app, solved, timing, processes)
    }
}
