//! The replicated-rounds driver: step on every worker -> one exchange -> the same apply on every
//! worker, until the workers agree to stop.
//!
//! A program of replicated rounds ([`ReplicatedRounds`]) has no leader: every worker holds a
//! replica of the state that decides what happens next. Each round every worker computes its
//! share on its own part (`step`; it may exchange point to point or by collectives on its own
//! there, as MF's pulls by keys do), the driver exchanges the shares by one collective chosen by
//! the share's type ([`Exchange`]: [`AllGather`] hands every worker every share in worker order,
//! as one `Arc` to the threads of a process; [`AllReduceSum`] hands every worker their sum in
//! worker order), and every worker applies the combined result (`apply`), which also says
//! whether to go on.
//!
//! **Invariant:** every worker runs the same rounds and stops after the same one. `apply`
//! decides from the combined result and from replicated state only, both identical on every
//! worker, so one decision is reached per round with no further message; an input that differs
//! between workers (the clock) enters through a share, usually worker 0's. Debug builds check
//! the decision with one more collective per round.
//!
//! ```
//! use std::ops::ControlFlow;
//! use strads_engine::replicated::{run_replicated, AllReduceSum, ReplicatedRounds};
//! use strads_engine::{run_cluster, ClusterConfig, EngineError, Worker};
//!
//! /// Bisection for the `x` with `sum_v (x - v) = 0` over every worker's values: their mean.
//! struct Bisection { values: Vec<f64>, low: f64, high: f64 }
//!
//! impl ReplicatedRounds for Bisection {
//!     type Share = AllReduceSum<1>;
//!     type Error = EngineError;
//!     fn step(&mut self, _: &mut Worker<'_>, _: u64) -> Result<AllReduceSum<1>, EngineError> {
//!         let middle = 0.5 * (self.low + self.high);
//!         Ok(AllReduceSum([self.values.iter().map(|v| middle - v).sum()]))
//!     }
//!     fn apply(&mut self, _: &mut Worker<'_>, _: u64, [slope]: [f64; 1])
//!         -> Result<ControlFlow<()>, EngineError> {
//!         // Every worker holds the same bounds and the same sum: the same decision.
//!         let middle = 0.5 * (self.low + self.high);
//!         if slope > 0.0 { self.high = middle } else { self.low = middle }
//!         Ok(if self.high - self.low < 1e-9 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
//!     }
//! }
//!
//! let found = run_cluster(&ClusterConfig::threads(2), |worker| {
//!     let values = vec![worker.index() as f64; 3 + worker.index()]; // three 0s, four 1s
//!     let mut bisection = Bisection { values, low: -10.0, high: 10.0 };
//!     run_replicated(worker, &mut bisection, 0).unwrap();
//!     bisection.low
//! })
//! .unwrap();
//! assert!((found[0] - 4.0 / 7.0).abs() < 1e-9 && found[0] == found[1]);
//! ```
//! (See `examples/ridge_replicated.rs` for a whole program.)

use std::ops::ControlFlow;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::EngineError;
use crate::mailbox::Worker;

/// How a round's shares cross workers, and what every worker receives: one collective.
pub trait Exchange {
    /// What every worker receives, identical on every worker.
    type Combined;
    /// Exchanges this worker's share with every other worker's.
    fn exchange(self, worker: &mut Worker<'_>) -> Result<Self::Combined, EngineError>;
}

/// A share every worker receives from every worker, in worker order ([`Worker::all_gather_shared`]:
/// the threads of a process receive the same `Arc`, other processes an encoded copy).
#[derive(Debug)]
pub struct AllGather<T>(pub T);

impl<T> Exchange for AllGather<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Combined = Vec<Arc<T>>;

    fn exchange(self, worker: &mut Worker<'_>) -> Result<Vec<Arc<T>>, EngineError> {
        worker.all_gather_shared(self.0)
    }
}

/// Numbers summed element-wise over the workers, in worker order ([`Worker::all_reduce_sum`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AllReduceSum<const N: usize>(pub [f64; N]);

impl<const N: usize> Exchange for AllReduceSum<N> {
    type Combined = [f64; N];

    fn exchange(self, worker: &mut Worker<'_>) -> Result<[f64; N], EngineError> {
        let sum = worker.all_reduce_sum(&self.0)?;
        Ok(sum.try_into().expect("a sum has one number per summand"))
    }
}

/// A program of replicated rounds, run by [`run_replicated`] on every worker.
pub trait ReplicatedRounds {
    /// A worker's share of a round, and by its type how the shares are exchanged.
    type Share: Exchange;
    /// The program's error; the driver's collectives fail with [`EngineError`].
    type Error: From<EngineError>;

    /// Every worker: its share of round `round`, computed on its own part.
    fn step(&mut self, worker: &mut Worker<'_>, round: u64) -> Result<Self::Share, Self::Error>;

    /// Every worker: applies round `round`'s combined shares and says whether to go on. The
    /// decision must depend on `combined` and replicated state only (see the module's
    /// invariant); `apply` may still call collectives (a checkpoint), as every worker does.
    fn apply(
        &mut self,
        worker: &mut Worker<'_>,
        round: u64,
        combined: <Self::Share as Exchange>::Combined,
    ) -> Result<ControlFlow<()>, Self::Error>;
}

/// Runs `program`'s rounds from `first_round` until `apply` breaks, on this worker; every
/// worker of the cluster must call it. Returns the round after the last one.
pub fn run_replicated<P: ReplicatedRounds>(
    worker: &mut Worker<'_>,
    program: &mut P,
    first_round: u64,
) -> Result<u64, P::Error> {
    let mut round = first_round;
    loop {
        let share = program.step(worker, round)?;
        let combined = share.exchange(worker)?;
        let flow = program.apply(worker, round, combined)?;
        round += 1;
        if cfg!(debug_assertions) {
            check_agreement(worker, round, flow.is_break())?;
        }
        if flow.is_break() {
            return Ok(round);
        }
    }
}

/// Panics unless every worker made the same decision after round `round - 1`: a program whose
/// `apply` read state that is not replicated. Debug builds only (one collective a round).
fn check_agreement(worker: &mut Worker<'_>, round: u64, stop: bool) -> Result<(), EngineError> {
    let decisions: Vec<bool> = worker.all_gather(&stop)?;
    assert!(
        decisions.iter().all(|&d| d == stop),
        "workers disagree whether to stop after round {}: {decisions:?}",
        round - 1
    );
    Ok(())
}
