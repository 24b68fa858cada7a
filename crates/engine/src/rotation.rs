//! The rotation driver: STRADS's static rotation of blocks, sub-round by sub-round.
//!
//! A model is split into P blocks, one per worker (LDA: the word-topic rows of a range of words;
//! MF SGD: the H rows of an item block; STRADS-AP: a block of each rotated container). An
//! iteration is P sub-rounds: in sub-round r worker p holds block [`held_block`]`(p, r, P)` =
//! `(p + r) mod P` and runs its step on it ([`RotationProgram::step`]), no other worker holding
//! that block meanwhile; then the driver passes the block's state to worker p - 1, which holds it
//! next ([`RotationProgram::hand_over`], [`RotationProgram::take_over`]), and every worker's part
//! for all (a change of a shared total, say) to every worker ([`RotationProgram::receive`]).
//! After P sub-rounds every worker holds its home block p again, which is where the iteration
//! boundary ([`RotationProgram::end_iteration`]: evaluation, checkpoints, the stop rule) sees the
//! model.
//!
//! **Invariant:** a block is held by one worker at a time, and its state reaches its next holder
//! (`take_over`) after its previous holder's step and before the next holder's; so an iteration
//! equals the sequential order "sub-round 0 on every worker, then sub-round 1, ..." for a program
//! whose step touches only the held block and the worker's own data, whatever the timing.
//!
//! Cost: one exchange per sub-round ([`Worker::rotate_block`]: one collective tag, one message
//! per worker), none with one worker. To a worker of the same process the block's state moves as
//! it is (nothing encoded or copied); to another process it is encoded once, with room for the
//! part for all, and decoded once.
//!
//! ```
//! use std::ops::ControlFlow;
//! use strads_engine::rotation::{run_rotation, Route, RotationProgram, SubRound};
//! use strads_engine::{run_cluster, ClusterConfig, EngineError, Worker};
//!
//! /// Each block is a list of the workers that stepped on it, in order.
//! struct Visits {
//!     held: Vec<usize>,
//!     index: usize,
//! }
//!
//! impl RotationProgram for Visits {
//!     type Block = Vec<usize>;
//!     type ToAll = ();
//!     type Error = EngineError;
//!     fn step(&mut self, _sub_round: SubRound) -> Result<(), EngineError> {
//!         self.held.push(self.index);
//!         Ok(())
//!     }
//!     fn hand_over(&mut self, _block: usize, _route: Route) -> Result<Vec<usize>, EngineError> {
//!         Ok(std::mem::take(&mut self.held))
//!     }
//!     fn take_over(&mut self, _block: usize, state: Vec<usize>) -> Result<(), EngineError> {
//!         self.held = state;
//!         Ok(())
//!     }
//!     fn end_iteration(&mut self, _: &mut Worker<'_>, _: u64) -> Result<ControlFlow<()>, EngineError> {
//!         Ok(ControlFlow::Continue(()))
//!     }
//! }
//!
//! let homes = run_cluster(&ClusterConfig::threads(3), |worker| {
//!     let mut visits = Visits { held: Vec::new(), index: worker.index() };
//!     run_rotation(worker, &mut visits, 0..1).unwrap();
//!     visits.held
//! })
//! .unwrap();
//! // Block 0 was held by worker 0, then by worker 2 (sub-round 1), then by worker 1.
//! assert_eq!(homes, vec![vec![0, 2, 1], vec![1, 0, 2], vec![2, 1, 0]]);
//! ```

use std::ops::ControlFlow;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::EngineError;
use crate::mailbox::{decode, encode, encode_with_room, RotatedBlock, Worker};

/// The block worker `worker` holds in sub-round `sub_round` of `n_blocks`:
/// `(worker + sub_round) mod n_blocks`. With one block per worker, no two workers hold the same
/// block in any sub-round, and over `n_blocks` sub-rounds every worker holds every block once.
///
/// # Panics
/// If `n_blocks == 0`.
pub fn held_block(worker: usize, sub_round: usize, n_blocks: usize) -> usize {
    assert!(n_blocks > 0, "rotation needs at least one block");
    (worker % n_blocks + sub_round % n_blocks) % n_blocks
}

/// Where a sub-round stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubRound {
    /// The iteration (as numbered by the caller of [`run_rotation`]).
    pub iteration: u64,
    /// The sub-round within the iteration, `0..P`.
    pub index: usize,
    /// The block this worker holds in it: [`held_block`]`(worker, index, P)`.
    pub block: usize,
}

/// How a block's state travels to its next holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To a worker of this process: the value itself moves.
    Moved,
    /// To another process: the driver encodes it (bincode).
    Encoded,
}

/// A program of rotated blocks, as the rotation driver runs it on every worker. The worker holds
/// its home block (block `index`) when the driver starts and at every iteration boundary.
pub trait RotationProgram {
    /// The state of a block that travels with it to its next holder.
    type Block: Serialize + DeserializeOwned + Send + 'static;
    /// What a worker tells every worker (itself included) after each sub-round; `()` for nothing.
    type ToAll: Serialize + DeserializeOwned;
    /// The program's error; the driver's own failures (a block that does not decode) are
    /// [`EngineError`]s.
    type Error: From<EngineError>;

    /// Works on the held block `sub_round.block`; returns this worker's part for all.
    fn step(&mut self, sub_round: SubRound) -> Result<Self::ToAll, Self::Error>;

    /// Takes the state of `block` (held in the sub-round that just ended) out, for the worker
    /// that holds it next; `route` says whether it will move as it is or be encoded (a program
    /// whose state is not one typed value may prepare it accordingly). Not called with one worker.
    fn hand_over(&mut self, block: usize, route: Route) -> Result<Self::Block, Self::Error>;

    /// Installs the state of `block`, which this worker holds in the next sub-round, as its
    /// previous holder handed it over. Not called with one worker.
    fn take_over(&mut self, block: usize, state: Self::Block) -> Result<(), Self::Error>;

    /// Every worker's part for all of `sub_round`, in worker order (after `take_over`). By
    /// default ignored (for programs with nothing to tell).
    fn receive(&mut self, sub_round: SubRound, all: Vec<Self::ToAll>) -> Result<(), Self::Error> {
        let _ = (sub_round, all);
        Ok(())
    }

    /// The boundary after `iteration`, with every block home: whether to go on. Every worker
    /// must decide the same (from a collective, or from what every worker knows).
    fn end_iteration(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: u64,
    ) -> Result<ControlFlow<()>, Self::Error>;
}

/// Runs the iterations `iterations` (in order) of `program` on this worker: P sub-rounds each,
/// then [`RotationProgram::end_iteration`], until the iterations run out or it breaks. Every
/// worker of the cluster must call it with the same iterations. Returns the iterations run.
pub fn run_rotation<P: RotationProgram>(
    worker: &mut Worker<'_>,
    program: &mut P,
    iterations: impl IntoIterator<Item = u64>,
) -> Result<u64, P::Error> {
    let mut run = 0;
    for iteration in iterations {
        rotate_once(worker, program, iteration)?;
        run += 1;
        if program.end_iteration(worker, iteration)?.is_break() {
            break;
        }
    }
    Ok(run)
}

/// One iteration of `program` (P sub-rounds, every block home at the end) without its boundary:
/// for callers whose iterations are driven from elsewhere (a STRADS-AP loop's execution). Every
/// worker of the cluster must call it.
pub fn rotate_once<P: RotationProgram>(
    worker: &mut Worker<'_>,
    program: &mut P,
    iteration: u64,
) -> Result<(), P::Error> {
    let (index, peers) = (worker.index(), worker.peers());
    let route = if worker.shares_process_with(worker.rotation_successor()) {
        Route::Moved
    } else {
        Route::Encoded
    };
    for sub_round in 0..peers {
        let now = SubRound {
            iteration,
            index: sub_round,
            block: held_block(index, sub_round, peers),
        };
        let to_all = program.step(now)?;
        if peers == 1 {
            program.receive(now, vec![to_all])?;
            continue;
        }
        let state = program.hand_over(now.block, route)?;
        let to_all = encode(&to_all)?;
        let outgoing = match route {
            Route::Moved => RotatedBlock::Moved(Box::new(state)),
            Route::Encoded => RotatedBlock::Bytes(encode_with_room(&state, to_all.len() + 8)?),
        };
        let (incoming, all) = worker.rotate_block(outgoing, to_all);
        let state: P::Block = match incoming {
            RotatedBlock::Moved(value) => *value
                .downcast::<P::Block>()
                .map_err(|_| EngineError::Codec("a moved rotation block of another type".into()))?,
            RotatedBlock::Bytes(bytes) => decode(&bytes)?,
        };
        program.take_over(held_block(index, sub_round + 1, peers), state)?;
        let all = all
            .iter()
            .map(|bytes| decode(bytes))
            .collect::<Result<Vec<P::ToAll>, EngineError>>()?;
        program.receive(now, all)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::held_block;

    #[test]
    fn workers_never_share_a_block_and_each_visits_every_block() {
        for n_workers in 1..9 {
            for sub_round in 0..20 {
                let mut used = vec![false; n_workers];
                for worker in 0..n_workers {
                    let block = held_block(worker, sub_round, n_workers);
                    assert!(!used[block], "P={n_workers} r={sub_round}");
                    used[block] = true;
                }
            }
            for worker in 0..n_workers {
                let mut seen = vec![false; n_workers];
                for sub_round in 0..n_workers {
                    seen[held_block(worker, sub_round, n_workers)] = true;
                }
                assert!(seen.iter().all(|&s| s));
                // The block held in sub-round r + 1 is the one worker + 1 held in sub-round r:
                // what the exchange to worker - 1 delivers.
                for sub_round in 0..n_workers {
                    assert_eq!(
                        held_block(worker, sub_round + 1, n_workers),
                        held_block((worker + 1) % n_workers, sub_round, n_workers)
                    );
                }
            }
        }
        assert_eq!(
            held_block(usize::MAX, usize::MAX, 7),
            (usize::MAX % 7 * 2) % 7
        );
    }
}
