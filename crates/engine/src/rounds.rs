//! The round driver: schedule -> push on every worker -> sum of partials -> pull -> apply.
//!
//! One round of a program ([`RoundWorker`] on every worker, [`RoundLeader`] on worker 0): the
//! leader (worker 0) schedules a task and sends it to every
//! worker; each worker computes a partial result from its shard (`push`) and sends it to the
//! leader; when the leader has counted a partial from every worker it sums them in worker order
//! (`reduce`), commits the round (`pull`) and sends the resulting update to every worker, which
//! applies it (`apply`).
//!
//! With staleness `s`, the leader keeps up to `s + 1` rounds in flight, and a worker computes
//! round `t` with exactly the updates of rounds `<= t - s - 1` applied, or of every earlier round
//! if a barrier already required that (**invariant**, tested below): it holds back newer updates
//! until after the push, so the result does not depend on message timing. `s = 0` is bulk synchronous. Updates are applied in round order. A task
//! scheduled as [`Schedule::Barrier`] waits until no round is in flight and runs on the state with
//! every earlier update applied (for whole-model evaluations such as a duality gap).
//! Completion is detected by counting messages, never by waiting on timely frontiers.
//!
//! The driver tells the leader which earlier rounds a push does not see: `schedule` gets the
//! rounds a push of the round would miss if it runs pipelined, and `pull` the rounds its push did
//! miss (none for a barrier), so a program that corrects for them does not restate the rule.
//!
//! A program may also [`Schedule::Pause`]: once the rounds in flight commit, every worker
//! returns [`RoundsEnd::Paused`] from [`continue_rounds`] with no driver message in flight and
//! its [`RoundsState`] (the next round, the updates applied, the updates held back by the
//! staleness rule), which serialises; calling it again with that state continues exactly as if
//! it had not returned (**invariant**, tested below). Callers checkpoint there.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::mailbox::{decode, encode, Worker};

/// A program made of rounds, split as the round driver runs it: every worker runs the worker
/// side ([`RoundWorker`]: `push`, `apply`) on its own data, and worker 0 also runs the leader
/// side ([`RoundLeader`]: `schedule`, `reduce`, `pull`), which holds what only the leader
/// decides. No worker carries a leader it does not run.
pub trait RoundWorker {
    /// What the leader asks every worker to compute in a round.
    type Task: Serialize + DeserializeOwned;
    /// A worker's contribution to a round; contributions are summed.
    type Partial: Serialize + DeserializeOwned;
    /// What the leader commits in a round, applied by every worker.
    type Update: Serialize + DeserializeOwned;

    /// Every worker: its partial result for `task`, computed on its own data.
    fn push(&mut self, round: u64, task: &Self::Task) -> Self::Partial;
    /// Every worker (the leader too): applies the committed update of round `round`.
    fn apply(&mut self, round: u64, update: &Self::Update);
}

/// The leader's side of a round program `W` (on worker 0 only).
pub trait RoundLeader<W: RoundWorker> {
    /// What round `round` does. `in_flight` rounds are scheduled but not yet committed. If the
    /// task runs pipelined ([`Schedule::Run`]), its push will not see the updates of the rounds
    /// `unseen` (those just before `round`; a barrier sees every earlier update).
    fn schedule(&mut self, round: u64, in_flight: u64, unseen: Range<u64>) -> Schedule<W::Task>;
    /// Adds `other` into `sum`. Called in worker order, so the sum is deterministic.
    fn reduce(&mut self, sum: &mut W::Partial, other: W::Partial);
    /// Commits round `round` from the summed partials and returns the update. The pushes of the
    /// round did not see the updates of the rounds `unseen` (empty for a barrier), which are all
    /// committed by now.
    fn pull(&mut self, round: u64, unseen: Range<u64>, task: W::Task, sum: W::Partial)
        -> W::Update;
}

/// The leader's decision for the next round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule<T> {
    /// Run this task, pipelined with the rounds in flight.
    Run(T),
    /// Run this task once every earlier round is committed, on workers that have applied every
    /// earlier update.
    Barrier(T),
    /// Nothing to schedule until a round in flight commits (only valid while one is in flight).
    Wait,
    /// The program is finished once the rounds in flight commit.
    Finished,
    /// Schedule nothing more for now: once the rounds in flight commit, [`continue_rounds`]
    /// returns [`RoundsEnd::Paused`] on every worker. The next call asks `schedule` again.
    Pause,
}

/// Why [`continue_rounds`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundsEnd {
    /// The leader's `schedule` returned [`Schedule::Finished`] and every update is applied.
    Finished,
    /// The leader's `schedule` returned [`Schedule::Pause`]: every scheduled round is committed
    /// and every worker holds its update (applied, or held back by the staleness rule).
    Paused,
}

/// Where one worker's rounds stand between calls of [`continue_rounds`]: what a checkpoint of
/// the driver holds. Each worker has its own (the updates it holds back differ by nothing but
/// timing-free rules, yet they are per worker).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundsState<U> {
    /// The next round to schedule: every earlier one is committed (between calls, none is in
    /// flight).
    next_round: u64,
    /// Updates this worker has applied (rounds `0..applied`).
    applied: u64,
    /// Updates received but not applied yet: staleness lets the next rounds' pushes run
    /// without them, so applying them at a pause would change those pushes.
    held_back: Vec<(u64, U)>,
}

impl<U> RoundsState<U> {
    /// The state before round 0.
    pub fn start() -> Self {
        RoundsState {
            next_round: 0,
            applied: 0,
            held_back: Vec::new(),
        }
    }

    /// Rounds committed so far.
    pub fn rounds(&self) -> u64 {
        self.next_round
    }
}

/// How rounds are pipelined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundOptions {
    /// Up to `staleness + 1` rounds are in flight; 0 is bulk synchronous.
    pub staleness: u64,
}

/// What the driver did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundStats {
    /// Rounds committed.
    pub rounds: u64,
}

// Tags of the driver's messages (program tags are below 2^62; these are small and fixed).
const TAG_TASK: u64 = 1;
const TAG_PARTIAL: u64 = 2;
const TAG_UPDATE: u64 = 3;
const TAG_STOP: u64 = 4;
const TAG_PAUSE: u64 = 5;
const TAG_PAUSED: u64 = 6;

/// Leader-side bookkeeping of rounds in flight.
struct Leader<P: RoundWorker> {
    scheduled: u64,
    committed: u64,
    exhausted: bool,
    stop_sent: bool,
    /// `schedule` asked for a pause: schedule nothing more in this call.
    pausing: bool,
    pause_sent: bool,
    /// Workers that reported being paused (the leader returns once all have, so that no
    /// worker can receive the next call's tasks in this one).
    paused_workers: usize,
    /// Updates every worker will have applied when it pushes the next round, whatever it is:
    /// pushes only ever apply more (a barrier applies every earlier update).
    seen: u64,
    /// A barrier task waiting for the rounds in flight to commit.
    barrier: Option<P::Task>,
    /// The rounds in flight: the rounds their pushes do not see, and the task.
    tasks: BTreeMap<u64, (Range<u64>, P::Task)>,
    partials: BTreeMap<u64, Vec<Option<P::Partial>>>,
}

/// Runs `program` to completion on this worker, with its leader side `leader` on worker 0 (and
/// `None` on the others); every worker of the cluster must call it. Returns once the leader's
/// `schedule` returned [`Schedule::Finished`] and every scheduled round was applied; a
/// [`Schedule::Pause`] is passed over (see [`continue_rounds`]).
///
/// # Panics
/// When `leader` is `None` on worker 0 or given on another worker.
pub fn run_rounds<P: RoundWorker, L: RoundLeader<P>>(
    worker: &mut Worker<'_>,
    program: &mut P,
    mut leader: Option<&mut L>,
    options: RoundOptions,
) -> Result<RoundStats, EngineError> {
    let mut state = RoundsState::start();
    while continue_rounds(worker, program, leader.as_deref_mut(), options, &mut state)?
        == RoundsEnd::Paused
    {}
    Ok(RoundStats {
        rounds: state.rounds(),
    })
}

/// Runs `program` from `state` until the leader's `schedule` finishes or pauses, and leaves in
/// `state` where this worker's rounds stand; every worker of the cluster must call it with its
/// own state (from [`RoundsState::start`], the previous call, or a checkpoint of it), and worker
/// 0 with the leader side (`None` on the others).
///
/// # Panics
/// When `leader` is `None` on worker 0 or given on another worker.
pub fn continue_rounds<P: RoundWorker, L: RoundLeader<P>>(
    worker: &mut Worker<'_>,
    program: &mut P,
    mut leader_side: Option<&mut L>,
    options: RoundOptions,
    state: &mut RoundsState<P::Update>,
) -> Result<RoundsEnd, EngineError> {
    assert_eq!(
        leader_side.is_some(),
        worker.is_leader(),
        "the leader side runs on worker 0, and only there"
    );
    let peers = worker.peers();
    let staleness = options.staleness;
    let first_round = state.next_round;
    // The updates this worker has applied are the ones every worker has (every worker pushes the
    // same rounds under the same rule), so the next push sees at least these.
    let mut leader: Option<Leader<P>> = worker.is_leader().then(|| Leader {
        seen: state.applied,
        scheduled: first_round,
        committed: first_round,
        exhausted: false,
        stop_sent: false,
        pausing: false,
        pause_sent: false,
        paused_workers: 0,
        barrier: None,
        tasks: BTreeMap::new(),
        partials: BTreeMap::new(),
    });
    let mut applied: u64 = state.applied;
    // Tasks of one sender arrive in the order sent (one tag), so rounds are pushed in order.
    let mut pushed: u64 = first_round;
    let mut tasks: BTreeMap<u64, (bool, P::Task)> = BTreeMap::new();
    let mut updates: BTreeMap<u64, P::Update> =
        std::mem::take(&mut state.held_back).into_iter().collect();
    let mut stop_at: Option<u64> = None;
    let mut pause_at: Option<u64> = None;
    let mut reported_paused = false;

    loop {
        let mut progressed = false;

        for (_, bytes) in worker.take(TAG_TASK) {
            let (round, barrier, task): (u64, bool, P::Task) = decode(&bytes)?;
            tasks.insert(round, (barrier, task));
        }
        for (_, bytes) in worker.take(TAG_UPDATE) {
            let (round, update): (u64, P::Update) = decode(&bytes)?;
            updates.insert(round, update);
        }
        for (_, bytes) in worker.take(TAG_STOP) {
            stop_at = Some(decode(&bytes)?);
        }
        for (_, bytes) in worker.take(TAG_PAUSE) {
            pause_at = Some(decode(&bytes)?);
        }
        if let Some(lead) = leader.as_mut() {
            lead.paused_workers += worker.take(TAG_PAUSED).len();
            for (source, bytes) in worker.take(TAG_PARTIAL) {
                let (round, partial): (u64, P::Partial) = decode(&bytes)?;
                let slots = lead
                    .partials
                    .get_mut(&round)
                    .expect("partial for a round not in flight");
                slots[source] = Some(partial);
            }
        }

        // Commit before scheduling, so that a round's update and the next round's task leave
        // in the same flush (one network latency per round instead of two).
        if let Some(lead) = leader.as_mut() {
            while lead
                .partials
                .get(&lead.committed)
                .is_some_and(|slots| slots.iter().all(Option::is_some))
            {
                let round = lead.committed;
                let mut slots = lead
                    .partials
                    .remove(&round)
                    .unwrap()
                    .into_iter()
                    .map(Option::unwrap);
                let mut sum = slots.next().expect("at least one worker");
                let side = leader_side
                    .as_deref_mut()
                    .expect("worker 0 has the leader side");
                for partial in slots {
                    side.reduce(&mut sum, partial);
                }
                let (unseen, task) = lead.tasks.remove(&round).unwrap();
                let update = side.pull(round, unseen, task, sum);
                let bytes = encode(&(round, update))?;
                for destination in 0..peers {
                    worker.send_bytes(destination, TAG_UPDATE, bytes.clone());
                }
                lead.committed += 1;
                progressed = true;
            }
        }

        if let Some(lead) = leader.as_mut() {
            loop {
                if lead.exhausted || lead.pausing || lead.scheduled > lead.committed + staleness {
                    break;
                }
                // What a pipelined push of this round would see.
                let pipelined = first_needed(lead.scheduled, false, staleness).max(lead.seen);
                let (task, barrier) = match lead.barrier.take() {
                    Some(task) if lead.committed == lead.scheduled => (task, true),
                    Some(task) => {
                        lead.barrier = Some(task);
                        break;
                    }
                    None => match leader_side
                        .as_deref_mut()
                        .expect("worker 0 has the leader side")
                        .schedule(
                            lead.scheduled,
                            lead.scheduled - lead.committed,
                            pipelined..lead.scheduled,
                        ) {
                        Schedule::Run(task) => (task, false),
                        Schedule::Barrier(task) => {
                            lead.barrier = Some(task);
                            continue;
                        }
                        Schedule::Wait => {
                            assert!(
                                lead.scheduled > lead.committed,
                                "Schedule::Wait with no round in flight"
                            );
                            break;
                        }
                        Schedule::Finished => {
                            lead.exhausted = true;
                            break;
                        }
                        Schedule::Pause => {
                            lead.pausing = true;
                            break;
                        }
                    },
                };
                let bytes = encode(&(lead.scheduled, barrier, &task))?;
                for destination in 0..peers {
                    worker.send_bytes(destination, TAG_TASK, bytes.clone());
                }
                if barrier {
                    lead.seen = lead.scheduled;
                } else {
                    lead.seen = pipelined;
                }
                lead.tasks
                    .insert(lead.scheduled, (lead.seen..lead.scheduled, task));
                lead.partials
                    .insert(lead.scheduled, (0..peers).map(|_| None).collect());
                lead.scheduled += 1;
                progressed = true;
            }
            if lead.exhausted && !lead.stop_sent && lead.committed == lead.scheduled {
                let bytes = encode(&lead.scheduled)?;
                for destination in 0..peers {
                    worker.send_bytes(destination, TAG_STOP, bytes.clone());
                }
                lead.stop_sent = true;
                progressed = true;
            }
            if lead.pausing && !lead.pause_sent && lead.committed == lead.scheduled {
                let bytes = encode(&lead.scheduled)?;
                for destination in 0..peers {
                    worker.send_bytes(destination, TAG_PAUSE, bytes.clone());
                }
                lead.pause_sent = true;
                progressed = true;
            }
        }

        // Round t runs on the state with exactly the updates of rounds < t - s applied (rounds < t
        // for a barrier); later updates wait, so results do not depend on message timing.
        while let Some(entry) = tasks.first_entry() {
            let round = *entry.key();
            let barrier = entry.get().0;
            let needed = first_needed(round, barrier, staleness);
            progressed |= apply_in_order(program, &mut updates, &mut applied, needed);
            if applied < needed {
                break;
            }
            let (round, (_, task)) = entry.remove_entry();
            let partial = program.push(round, &task);
            worker.send_bytes(0, TAG_PARTIAL, encode(&(round, partial))?);
            pushed = round + 1;
            progressed = true;
        }
        if let Some(stop) = stop_at {
            progressed |= apply_in_order(program, &mut updates, &mut applied, stop);
        }

        if stop_at == Some(applied) && tasks.is_empty() {
            worker.flush();
            state.next_round = applied;
            state.applied = applied;
            return Ok(RoundsEnd::Finished);
        }
        // Paused once every round before the pause is pushed and its update is here (applied
        // or held back): nothing of this call is in flight to this worker any more.
        if let Some(pause) = pause_at {
            let all_updates_here = applied + updates.len() as u64 == pause;
            if !reported_paused && pushed == pause && all_updates_here {
                worker.send_bytes(0, TAG_PAUSED, Vec::new());
                reported_paused = true;
                progressed = true;
            }
            let everyone_paused = leader.as_ref().is_none_or(|l| l.paused_workers == peers);
            if reported_paused && everyone_paused {
                worker.flush();
                state.next_round = pause;
                state.applied = applied;
                state.held_back = std::mem::take(&mut updates).into_iter().collect();
                return Ok(RoundsEnd::Paused);
            }
        }
        worker.step(!progressed);
    }
}

/// The staleness rule: the push of round `round` needs the updates of rounds `0..` this applied
/// (every earlier round for a barrier, else all but the last `staleness`). Workers apply exactly
/// that before pushing, unless an earlier barrier already applied more.
fn first_needed(round: u64, barrier: bool, staleness: u64) -> u64 {
    if barrier {
        round
    } else {
        round.saturating_sub(staleness)
    }
}

/// Applies the received updates of rounds `applied..target` in order, stopping at the first one
/// not received yet. Returns whether it applied any.
fn apply_in_order<P: RoundWorker>(
    program: &mut P,
    updates: &mut BTreeMap<u64, P::Update>,
    applied: &mut u64,
    target: u64,
) -> bool {
    let start = *applied;
    while *applied < target {
        let Some(update) = updates.remove(applied) else {
            break;
        };
        program.apply(*applied, &update);
        *applied += 1;
    }
    *applied > start
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::{run_cluster, ClusterConfig};

    /// Round t: every worker contributes (index + 1) * t; the update is the sum; workers keep a
    /// running total. Each push checks the staleness invariant, and each pull that the driver
    /// named the rounds its push did not see.
    struct Accumulate {
        index: u64,
        staleness: u64,
        applied: u64,
        floor: u64,
        total: u64,
        /// Per round: the updates this worker had applied at its push (shared with the leader
        /// side on worker 0, which checks what the driver told it against it).
        applied_at_push: Rc<RefCell<BTreeMap<u64, u64>>>,
    }

    /// The leader side of [`Accumulate`].
    struct AccumulateLeader {
        rounds: u64,
        staleness: u64,
        /// Pause before every round that is a multiple of this (0: never).
        pause_every: u64,
        paused_at: Option<u64>,
        /// Per round: the rounds the driver said its push would not see, at `schedule`.
        unseen_at_schedule: BTreeMap<u64, Range<u64>>,
        /// Worker 0's pushes.
        applied_at_push: Rc<RefCell<BTreeMap<u64, u64>>>,
    }

    impl RoundWorker for Accumulate {
        type Task = u64;
        type Partial = u64;
        type Update = u64;
        fn push(&mut self, round: u64, task: &u64) -> u64 {
            // Exactly rounds < t - s applied, except that a barrier (every 7th round) pulled the
            // state forward and state never moves back.
            let needed = if round % 7 == 3 {
                round
            } else {
                round.saturating_sub(self.staleness)
            };
            self.floor = self.floor.max(needed);
            self.applied_at_push
                .borrow_mut()
                .insert(round, self.applied);
            assert_eq!(
                self.applied, self.floor,
                "round {round} computed with {} updates applied",
                self.applied
            );
            (self.index + 1) * task
        }
        fn apply(&mut self, round: u64, update: &u64) {
            assert_eq!(round, self.applied, "updates applied out of order");
            self.applied += 1;
            self.total += update;
        }
    }

    impl RoundLeader<Accumulate> for AccumulateLeader {
        fn schedule(&mut self, round: u64, in_flight: u64, unseen: Range<u64>) -> Schedule<u64> {
            assert!(in_flight <= self.staleness + 1);
            assert!(unseen.end == round && unseen.start + self.staleness >= round);
            let pause_due = self.pause_every > 0 && round % self.pause_every == 0;
            if pause_due && round > 0 && self.paused_at != Some(round) {
                self.paused_at = Some(round);
                return Schedule::Pause;
            }
            if round >= self.rounds {
                Schedule::Finished
            } else if round % 7 == 3 {
                self.unseen_at_schedule.insert(round, round..round);
                Schedule::Barrier(round)
            } else {
                self.unseen_at_schedule.insert(round, unseen);
                Schedule::Run(round)
            }
        }
        fn reduce(&mut self, sum: &mut u64, other: u64) {
            *sum += other;
        }
        fn pull(&mut self, round: u64, unseen: Range<u64>, _task: u64, sum: u64) -> u64 {
            // The leader's own push of this round has run: it saw exactly the updates before
            // `unseen`, as `schedule` was told.
            let applied = self.applied_at_push.borrow()[&round];
            assert_eq!(unseen, applied..round, "round {round}");
            assert_eq!(unseen, self.unseen_at_schedule[&round], "round {round}");
            sum
        }
    }

    /// Worker `index`'s side, and the leader side on worker 0.
    fn accumulate(
        index: usize,
        rounds: u64,
        staleness: u64,
        pause_every: u64,
    ) -> (Accumulate, Option<AccumulateLeader>) {
        let applied_at_push = Rc::new(RefCell::new(BTreeMap::new()));
        let leader = (index == 0).then(|| AccumulateLeader {
            rounds,
            staleness,
            pause_every,
            paused_at: None,
            unseen_at_schedule: BTreeMap::new(),
            applied_at_push: applied_at_push.clone(),
        });
        let program = Accumulate {
            index: index as u64,
            staleness,
            applied: 0,
            floor: 0,
            total: 0,
            applied_at_push,
        };
        (program, leader)
    }

    fn run(threads: usize, staleness: u64, rounds: u64) -> Vec<(u64, u64)> {
        run_cluster(&ClusterConfig::threads(threads), move |worker| {
            let (mut program, mut leader) = accumulate(worker.index(), rounds, staleness, 0);
            let stats = run_rounds(
                worker,
                &mut program,
                leader.as_mut(),
                RoundOptions { staleness },
            )
            .unwrap();
            (stats.rounds, program.total)
        })
        .unwrap()
    }

    /// What a worker saw in [`run_with_pauses`].
    struct PausedRun {
        pauses: u64,
        rounds: u64,
        total: u64,
        /// Updates applied and held back at each pause.
        at_pauses: Vec<(u64, usize)>,
    }

    /// Pauses every `pause_every` rounds, the driver's state round-tripped through bincode at
    /// each (as a checkpoint would).
    fn run_with_pauses(
        threads: usize,
        staleness: u64,
        rounds: u64,
        pause_every: u64,
    ) -> Vec<PausedRun> {
        run_cluster(&ClusterConfig::threads(threads), move |worker| {
            let (mut program, mut leader) =
                accumulate(worker.index(), rounds, staleness, pause_every);
            let options = RoundOptions { staleness };
            let mut state = RoundsState::start();
            let mut at_pauses = Vec::new();
            while continue_rounds(worker, &mut program, leader.as_mut(), options, &mut state)
                .unwrap()
                == RoundsEnd::Paused
            {
                at_pauses.push((state.applied, state.held_back.len()));
                state = decode(&encode(&state).unwrap()).unwrap();
            }
            PausedRun {
                pauses: at_pauses.len() as u64,
                rounds: state.rounds(),
                total: program.total,
                at_pauses,
            }
        })
        .unwrap()
    }

    #[test]
    fn a_paused_driver_continues_exactly_as_if_it_had_not_paused() {
        for threads in [1, 3] {
            for staleness in [0, 2] {
                let rounds = 100;
                let weight: u64 = (1..=threads as u64).sum();
                let expected = weight * rounds * (rounds - 1) / 2;
                // Each push asserts the staleness invariant, which a pause that applied the
                // held-back updates would break.
                for PausedRun {
                    pauses,
                    rounds: done,
                    total,
                    at_pauses,
                } in run_with_pauses(threads, staleness, rounds, 10)
                {
                    assert_eq!(pauses, 10, "threads {threads}, staleness {staleness}");
                    assert_eq!(done, rounds);
                    assert_eq!(total, expected, "threads {threads}, staleness {staleness}");
                    for (pause, &(applied, held_back)) in at_pauses.iter().enumerate() {
                        let next_round = 10 * (pause as u64 + 1);
                        assert_eq!(applied + held_back as u64, next_round);
                        // The last round's push ran without its own update at least.
                        if staleness > 0 {
                            assert!(held_back > 0, "a pause applied the held-back updates");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_worker_applies_every_round_at_any_staleness() {
        for threads in [1, 2, 3] {
            for staleness in [0, 1, 3] {
                let rounds = 200;
                let weight: u64 = (1..=threads as u64).sum();
                let expected = weight * rounds * (rounds - 1) / 2;
                for (done, total) in run(threads, staleness, rounds) {
                    assert_eq!(done, rounds);
                    assert_eq!(total, expected, "threads {threads}, staleness {staleness}");
                }
            }
        }
    }

    #[test]
    fn a_program_with_no_rounds_stops() {
        assert_eq!(run(2, 0, 0), vec![(0, 0), (0, 0)]);
    }
}
