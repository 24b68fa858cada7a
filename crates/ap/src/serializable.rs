//! `Serializable` loops (STRADS-AP's AsyncFor): the plan made from the key function, and the
//! rotation that runs it.
//!
//! The plan, made on a loop's first execution and reused:
//! 1. Every iteration's keys per container come from the key function.
//! 2. Of the containers with keys, the largest (encoded bytes) is *pinned*: its partition decides
//!    where each iteration runs, and its elements never move. The others are *rotated*: split
//!    into one block per worker, passed from worker to worker. Accumulators are replicas merged at
//!    every step (their documented relaxation).
//! 3. Vector containers are re-cut into ranges of near-equal iteration counts (a key weighs its
//!    iterations). A container keeps its ranges when a loop with more iterations cut it, or when
//!    they are within 5% of the new cut's balance.
//! 4. An iteration runs on the worker owning its pinned keys, in the sub-round in which that
//!    worker holds the block of its rotated keys. If an iteration's pinned keys have two owners,
//!    or its rotated keys lie in two blocks, no conflict-free schedule exists and the loop fails
//!    naming the container and the keys.
//! 5. The data elements move once to the worker that runs them, grouped by block.
//!
//! Why the result equals a sequential order: in sub-round r worker p holds rotated block
//! (p + r) mod P and its own pinned range; no two workers hold the same block or range, and an
//! iteration touches only keys of the pinned range of its worker and of the block it runs with, so
//! iterations running at the same time touch disjoint keys. Running the sub-rounds one after the
//! other, each worker's iterations of the sub-round in its order, is therefore a sequential order
//! with the same result.

use std::ops::{ControlFlow, Range};

use serde_bytes::ByteBuf;
use strads_core::balanced_blocks;
use strads_engine::rotation::{rotate_once, RotationProgram, Route, SubRound};
use strads_engine::{RotatedBlock, Worker};

use crate::dvector::{global_index, DVector, Origin};
use crate::error::{decode, encode, ApError};
use crate::parallel::{
    apply_messages, encoded_step_deltas, run_items, KeyFunction, LoopReport, ParallelFor, Received,
    StepError, StepMessage,
};
use crate::param::{Access, ContainerKind, Element, ParamSet};
use crate::strategy::{
    Balance, Consistency, ContainerStrategy, IterationPlacement, Partitioning, Strategy,
    Synchronization,
};

/// Keys of the local iterations, per container, in compressed rows.
struct KeyCodes {
    /// `starts[c][n]..starts[c][n + 1]` indexes `codes[c]` for iteration n.
    starts: Vec<Vec<u32>>,
    codes: Vec<Vec<u64>>,
}

impl KeyCodes {
    fn new(containers: usize) -> Self {
        KeyCodes {
            starts: vec![vec![0u32]; containers],
            codes: vec![Vec::new(); containers],
        }
    }

    /// Appends one iteration's codes per container.
    fn push(&mut self, found: &[Vec<u64>]) {
        for (c, codes) in found.iter().enumerate() {
            self.codes[c].extend_from_slice(codes);
            self.starts[c].push(self.codes[c].len() as u32);
        }
    }

    fn of(&self, c: usize, n: usize) -> &[u64] {
        &self.codes[c][self.starts[c][n] as usize..self.starts[c][n + 1] as usize]
    }
}

/// A `Serializable` loop's plan on one worker.
pub(crate) struct Plan {
    strategy: Strategy,
    access: Vec<Access>,
    rotated: Vec<bool>,
    container_ids: Vec<u64>,
    /// The home partition each vector container must have (others `None`).
    bounds: Vec<Option<Vec<usize>>>,
    /// The local data elements of each block, after arrangement.
    block_ranges: Vec<Range<usize>>,
    arrangement: u64,
    /// Debug mode: the keys recorded for every local iteration.
    recorded: Option<KeyCodes>,
}

#[inline]
pub(crate) fn run<D, P, K, B>(
    mut pf: ParallelFor<'_, '_, '_, D, P, K>,
    mut body: B,
) -> Result<LoopReport, ApError>
where
    D: Element,
    P: ParamSet,
    K: KeyFunction<D, P>,
    B: FnMut(&mut D, &mut P::Views),
{
    let cache_key = (pf.name.clone(), pf.data.id);
    let ids = pf.params.ids();
    let reusable =
        pf.ap.plans.get(&cache_key).is_some_and(|plan| {
            plan.arrangement == pf.data.arrangement && plan.container_ids == ids
        });
    if !reusable {
        let plan = make_plan(&mut pf, &mut body)?;
        pf.ap.record_strategy(&plan.strategy);
        pf.ap.plans.insert(cache_key.clone(), plan);
    }
    let plan = pf.ap.plans.remove(&cache_key).expect("plan made above");
    let outcome = execute(&mut pf, &plan, &mut body);
    pf.ap.plans.insert(cache_key, plan);
    outcome
}

#[inline]
fn execute<D, P, K, B>(
    pf: &mut ParallelFor<'_, '_, '_, D, P, K>,
    plan: &Plan,
    body: &mut B,
) -> Result<LoopReport, ApError>
where
    D: Element,
    P: ParamSet,
    K: KeyFunction<D, P>,
    B: FnMut(&mut D, &mut P::Views),
{
    let worker = &mut *pf.ap.worker;
    let (p, workers) = (worker.index(), worker.peers());
    // A container used by another loop in between may have been re-cut: restore this plan's.
    for (c, bounds) in plan.bounds.iter().enumerate() {
        if let Some(bounds) = bounds {
            pf.params.repartition(c, worker, bounds)?;
        }
    }
    let mut views = pf.params.open_all(worker, &plan.access)?;
    let mut sweep = Sweep {
        worker: p,
        plan,
        items: &mut pf.data.local,
        origin: pf.data.origin.as_ref(),
        home_start: pf.data.bounds[pf.data.worker],
        views: &mut views,
        keys: &pf.keys,
        body,
        failure: None,
    };
    let rotating = plan.rotated.contains(&true);
    if rotating {
        rotate_once(worker, &mut sweep, 0)?;
    } else {
        // Without a rotated container every iteration runs at home, in one step.
        let home = SubRound {
            iteration: 0,
            index: 0,
            block: p,
        };
        let message = sweep.step(home)?;
        let messages = if workers == 1 {
            vec![message]
        } else {
            let all: Vec<ByteBuf> = worker.all_gather(&ByteBuf::from(encode(&message)?))?;
            all.iter()
                .map(|bytes| decode(bytes))
                .collect::<Result<_, _>>()?
        };
        sweep.receive(home, messages)?;
    }
    let failure = sweep.failure;
    if plan.recorded.is_some() {
        for view in P::dyn_views(&mut views) {
            view.set_allowed(None);
        }
    }
    pf.params.close_all(worker, views)?;
    if let Some(error) = failure {
        return Err(error.into_error(&pf.name));
    }
    Ok(LoopReport {
        strategy: plan.strategy.clone(),
        steps: if rotating { workers } else { 1 },
        max_staleness: 0,
        seconds: 0.0,
    })
}

/// A loop's execution as a program of the engine's rotation driver: a sub-round's step runs the
/// local iterations of the held block; the block's state is the block of every rotated container;
/// the part for all is the step's message (a body failure and the replicas' changes).
struct Sweep<'a, D, P: ParamSet, K, B> {
    worker: usize,
    plan: &'a Plan,
    items: &'a mut [D],
    origin: Option<&'a Origin>,
    home_start: usize,
    views: &'a mut P::Views,
    keys: &'a K,
    body: &'a mut B,
    /// The first body failure any worker reported: the later steps run no iteration.
    failure: Option<StepError>,
}

impl<D, P, K, B> RotationProgram for Sweep<'_, D, P, K, B>
where
    D: Element,
    P: ParamSet,
    K: KeyFunction<D, P>,
    B: FnMut(&mut D, &mut P::Views),
{
    type Block = ContainerBlocks;
    type ToAll = StepMessage;
    type Error = ApError;

    #[inline]
    fn step(&mut self, now: SubRound) -> Result<StepMessage, ApError> {
        let step = now.index as u32 + 1;
        for view in P::dyn_views(self.views) {
            view.begin_step(step);
        }
        let range = self.plan.block_ranges[now.block].clone();
        let error = if self.failure.is_some() {
            None
        } else {
            let (recorded, keys) = (self.plan.recorded.as_ref(), self.keys);
            let (origin, home_start) = (self.origin, self.home_start);
            run_items(
                self.worker,
                &mut self.items[range.clone()],
                self.views,
                self.body,
                |n| global_index(origin, home_start, range.start + n),
                |n, views| {
                    if let Some(recorded) = recorded {
                        for (c, view) in P::dyn_views(views).into_iter().enumerate() {
                            view.set_allowed(Some(recorded.of(c, range.start + n)));
                        }
                    }
                },
                |item, views| keys.prefetch(item, views),
            )
        };
        Ok(StepMessage {
            error,
            deltas: encoded_step_deltas(&mut P::dyn_views(self.views))?,
        })
    }

    fn hand_over(&mut self, _block: usize, route: Route) -> Result<ContainerBlocks, ApError> {
        let mut blocks = Vec::new();
        for (view, &rotated) in P::dyn_views(self.views).into_iter().zip(&self.plan.rotated) {
            if rotated {
                blocks.push(view.take_block(route == Route::Encoded)?);
            }
        }
        Ok(ContainerBlocks(blocks))
    }

    fn take_over(&mut self, block: usize, state: ContainerBlocks) -> Result<(), ApError> {
        let mut incoming = state.0.into_iter();
        for (view, &rotated) in P::dyn_views(self.views).into_iter().zip(&self.plan.rotated) {
            if rotated {
                let data = incoming
                    .next()
                    .ok_or_else(|| ApError::Codec("a rotated block is missing".into()))?;
                view.put_block(block, data)?;
            }
        }
        Ok(())
    }

    fn receive(&mut self, now: SubRound, messages: Vec<StepMessage>) -> Result<(), ApError> {
        if self.failure.is_none() {
            self.failure = messages.iter().find_map(|m| m.error.clone());
        }
        let messages: Vec<Received> = messages.into_iter().map(Received::Wire).collect();
        let step = now.index as u32 + 1;
        apply_messages(&mut P::dyn_views(self.views), step, &messages, self.worker)
    }

    /// Not reached: a loop's execution is one iteration ([`rotate_once`]).
    fn end_iteration(
        &mut self,
        _worker: &mut Worker<'_>,
        _iteration: u64,
    ) -> Result<ControlFlow<()>, ApError> {
        Ok(ControlFlow::Break(()))
    }
}

/// The rotated containers' blocks of a sub-round, in container order: each moved as it is to a
/// worker of this process, or encoded by its view for another process (then encoded together as
/// a list of byte strings).
struct ContainerBlocks(Vec<RotatedBlock>);

impl serde::Serialize for ContainerBlocks {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for block in &self.0 {
            match block {
                RotatedBlock::Bytes(bytes) => {
                    seq.serialize_element(serde_bytes::Bytes::new(bytes))?;
                }
                RotatedBlock::Moved(_) => {
                    return Err(S::Error::custom("a block taken to move cannot be encoded"));
                }
            }
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for ContainerBlocks {
    fn deserialize<De: serde::Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        let blocks: Vec<ByteBuf> = serde::Deserialize::deserialize(deserializer)?;
        Ok(ContainerBlocks(
            blocks
                .into_iter()
                .map(|bytes| RotatedBlock::Bytes(bytes.into_vec()))
                .collect(),
        ))
    }
}

fn make_plan<D, P, K, B>(
    pf: &mut ParallelFor<'_, '_, '_, D, P, K>,
    body: &mut B,
) -> Result<Plan, ApError>
where
    D: Element,
    P: ParamSet,
    K: KeyFunction<D, P>,
    B: FnMut(&mut D, &mut P::Views),
{
    let name = pf.name.clone();
    let schedule_error = |message: String| ApError::Schedule {
        name: name.clone(),
        message,
    };
    let (p, workers) = (pf.ap.index(), pf.ap.workers());
    let infos = pf.params.infos();
    let n_containers = infos.len();

    // 1. Every local iteration's keys: checked, counted per vector container (step 3 balances
    //    by the counts) and, in debug mode, recorded. Not kept otherwise: step 4 asks the key
    //    function again, which costs less than holding every iteration's keys (for a loop over
    //    ratings with two containers, 24 bytes per rating, more than the ratings themselves).
    let mut counts: Vec<Vec<f64>> = infos
        .iter()
        .map(|info| match &info.kind {
            ContainerKind::Vector { len, .. } if workers > 1 => vec![0.0; *len],
            _ => Vec::new(),
        })
        .collect();
    let mut recorded = pf.ap.debug.then(|| KeyCodes {
        starts: vec![vec![0u32]; n_containers],
        codes: vec![Vec::new(); n_containers],
    });
    // Without a key function, the keys come from an inspection of the body's accesses, kept
    // (the body cannot be asked again).
    let mut failure: Option<String> = None;
    let inspected = if pf.keys.present() {
        None
    } else {
        let (keys, inspection_failure) = inspect(pf, body, n_containers)?;
        failure = inspection_failure;
        Some(keys)
    };
    let mut scratch = vec![Vec::new(); n_containers];
    for (n, item) in pf.data.local.iter().enumerate() {
        if failure.is_some() {
            break;
        }
        match iteration_keys(
            &pf.keys,
            inspected.as_ref(),
            n,
            &pf.params,
            item,
            &mut scratch,
        ) {
            Ok(()) => {}
            Err(None) => unreachable!("the keys come from the key function or the inspection"),
            Err(Some((c, message))) => {
                failure = Some(format!(
                    "iteration {}: container `{}`: {message}",
                    pf.data.global_index(n),
                    infos[c].name
                ));
                break;
            }
        }
        for c in 0..n_containers {
            if !counts[c].is_empty() {
                for &code in &scratch[c] {
                    counts[c][code as usize] += 1.0;
                }
            }
            if let Some(keys) = &mut recorded {
                keys.codes[c].extend_from_slice(&scratch[c]);
                keys.starts[c].push(keys.codes[c].len() as u32);
            }
        }
    }
    agree(pf, failure).map_err(&schedule_error)?;

    // 2. Roles: the biggest keyed container is pinned, the other keyed ones rotate.
    let local_bytes: Vec<f64> = infos.iter().map(|i| i.local_bytes as f64).collect();
    let total_bytes = pf.ap.sum_vec(&local_bytes)?;
    let keyed: Vec<usize> = (0..n_containers)
        .filter(|&c| infos[c].kind != ContainerKind::Accumulator)
        .collect();
    let pinned = keyed
        .iter()
        .copied()
        .max_by(|&a, &b| total_bytes[a].total_cmp(&total_bytes[b]).then(b.cmp(&a)));
    let rotated: Vec<bool> = (0..n_containers)
        .map(|c| keyed.contains(&c) && Some(c) != pinned)
        .collect();

    // 3. Vector containers re-cut by cost, unless a loop with more iterations cut them or their
    //    current ranges are nearly as balanced for this loop (so that loops over different data
    //    sharing a container, such as a training and a test loop, do not move it back and forth
    //    at every execution).
    let mut bounds: Vec<Option<Vec<usize>>> = vec![None; n_containers];
    for &c in &keyed {
        let ContainerKind::Vector {
            len,
            bounds: current,
        } = &infos[c].kind
        else {
            continue;
        };
        if workers == 1 {
            bounds[c] = Some(current.clone());
            continue;
        }
        let counts = pf.ap.sum_vec(&counts[c])?;
        let iterations: f64 = counts.iter().sum();
        // A key weighs its iterations, as in `strads mf`'s blocks. (Adding a cost per key, for its
        // row fetched once a step, balanced the workers' totals better but not the sub-rounds'
        // blocks, and on skewed ratings SGD's stratified order lost 1-3% of test RMSE against
        // `strads mf --algo sgd`; bench/run_ap.py's mf shapes.)
        let weights: Vec<u64> = counts.iter().map(|&n| n as u64).collect();
        let ranges = balanced_blocks(&weights, workers);
        let mut cut: Vec<usize> = ranges.iter().map(|r| r.start).collect();
        cut.push(*len);
        let busiest = |cut: &[usize]| -> u64 {
            let cost = |w: usize| weights[cut[w]..cut[w + 1]].iter().sum::<u64>();
            (0..workers).map(cost).max().unwrap_or(0)
        };
        let id = infos[c].id;
        let heavier = pf.ap.cut_by.get(&id).is_some_and(|&n| n > iterations);
        if heavier || busiest(current) as f64 <= KEEP_BALANCE * busiest(&cut) as f64 {
            cut.clone_from(current);
        } else {
            pf.params.repartition(c, pf.ap.worker, &cut)?;
            pf.ap.cut_by.insert(id, iterations);
        }
        bounds[c] = Some(cut);
    }
    let owner = |c: usize, code: u64| -> usize {
        match &bounds[c] {
            Some(cut) => cut.partition_point(|&b| b as u64 <= code) - 1,
            None => (code % workers as u64) as usize,
        }
    };

    // 4. Each iteration's worker and block (one worker: all its own, nothing to compute).
    let n_local = if workers > 1 { pf.data.local.len() } else { 0 };
    // (worker, block) as `worker * workers + block`: 4 bytes per element while it moves.
    if u32::try_from(workers * workers).is_err() || u32::try_from(n_local).is_err() {
        return Err(schedule_error(format!(
            "{workers} workers or {n_local} local iterations are more than a placement can hold"
        )));
    }
    let mut placement: Vec<u32> = Vec::with_capacity(n_local);
    let mut failure = None;
    'iterations: for n in 0..n_local {
        // The keys were checked in step 1.
        let item = &pf.data.local[n];
        iteration_keys(
            &pf.keys,
            inspected.as_ref(),
            n,
            &pf.params,
            item,
            &mut scratch,
        )
        .map_err(|_| ApError::Usage(format!("loop `{name}`: the key function changed")))?;
        let mut home: Option<(usize, u64)> = None;
        if let Some(c) = pinned {
            for &code in &scratch[c] {
                let o = owner(c, code);
                match home {
                    Some((h, first)) if h != o => {
                        failure = Some(format!(
                            "iteration {} touches keys {first} and {code} of `{}`, which are held \
                             by different workers; no conflict-free schedule exists (pin another \
                             container, or run the loop Bsp)",
                            pf.data.global_index(n),
                            infos[c].name
                        ));
                        break 'iterations;
                    }
                    _ => home = Some((o, code)),
                }
            }
        }
        let home = home.map_or(p, |(h, _)| h);
        let mut block: Option<(usize, usize, u64)> = None;
        for c in (0..n_containers).filter(|&c| rotated[c]) {
            for &code in &scratch[c] {
                let o = owner(c, code);
                match block {
                    Some((b, first_c, first)) if b != o => {
                        failure = Some(format!(
                            "iteration {} touches key {first} of `{}` and key {code} of `{}`, \
                             which lie in different rotation blocks; no conflict-free schedule \
                             exists",
                            pf.data.global_index(n),
                            infos[first_c].name,
                            infos[c].name
                        ));
                        break 'iterations;
                    }
                    _ => block = Some((o, c, code)),
                }
            }
        }
        let block = block.map_or(home, |(b, _, _)| b);
        placement.push((home * workers + block) as u32);
    }
    agree(pf, failure).map_err(&schedule_error)?;

    // 5. Move the elements to the workers that run them, grouped by block.
    let arrangement = pf.ap.new_id();
    let block_sizes = arrange(pf, placement, workers)?;
    pf.data.arrangement = arrangement;
    let mut block_ranges = Vec::with_capacity(workers);
    let mut start = 0;
    for count in block_sizes {
        block_ranges.push(start..start + count);
        start += count;
    }

    let containers = infos
        .iter()
        .enumerate()
        .map(|(c, info)| {
            let partitioning = match info.kind {
                ContainerKind::Vector { .. } => Partitioning::Range {
                    balance: if workers > 1 {
                        Balance::IterationCount
                    } else {
                        Balance::AsBuilt
                    },
                },
                ContainerKind::Map => Partitioning::Hash,
                ContainerKind::Accumulator => Partitioning::Replicated,
            };
            let synchronization = if info.kind == ContainerKind::Accumulator {
                Synchronization::ReplicaDeltas
            } else if rotated[c] {
                Synchronization::Rotation
            } else {
                Synchronization::Pinned
            };
            ContainerStrategy {
                name: info.name.clone(),
                partitioning,
                synchronization,
            }
        })
        .collect();
    let access = infos
        .iter()
        .map(|info| match info.kind {
            ContainerKind::Accumulator => Access::Replica {
                asynchronous: false,
                stale: false,
            },
            _ => Access::Exclusive,
        })
        .collect();
    Ok(Plan {
        strategy: Strategy {
            name: name.clone(),
            consistency: Consistency::Serializable,
            workers,
            iterations: match pinned {
                Some(c) => IterationPlacement::WithKey {
                    container: infos[c].name.clone(),
                },
                None => IterationPlacement::InPlace,
            },
            steps_per_execution: if rotated.contains(&true) { workers } else { 1 },
            mini_batch: None,
            containers,
        },
        access,
        rotated,
        container_ids: infos.iter().map(|i| i.id).collect(),
        bounds,
        block_ranges,
        arrangement,
        recorded,
    })
}

/// A container whose current ranges give a loop's busiest worker at most this many times the
/// cost the re-cut would give it keeps its ranges.
const KEEP_BALANCE: f64 = 1.05;

/// Local iteration `n`'s key codes per container, into `out` (cleared first), from the
/// inspection's record if there is one, else from the key function. `Err(None)`: neither;
/// `Err(Some((container, why)))`: an invalid key.
fn iteration_keys<D, P: ParamSet, K: KeyFunction<D, P>>(
    keys: &K,
    inspected: Option<&KeyCodes>,
    n: usize,
    params: &P,
    item: &D,
    out: &mut [Vec<u64>],
) -> Result<(), Option<(usize, String)>> {
    out.iter_mut().for_each(Vec::clear);
    if let Some(inspected) = inspected {
        for (c, codes) in out.iter_mut().enumerate() {
            codes.extend_from_slice(inspected.of(c, n));
        }
        return Ok(());
    }
    match keys.codes(item, params, out) {
        None => Err(None),
        Some(result) => result.map_err(Some),
    }
}

/// Every worker learns every worker's failure; all return the first one.
fn agree<D, P, K>(
    pf: &mut ParallelFor<'_, '_, '_, D, P, K>,
    failure: Option<String>,
) -> Result<(), String> {
    let all: Vec<Option<String>> = pf.ap.all_gather(&failure).map_err(|e| e.to_string())?;
    match all.into_iter().flatten().next() {
        Some(message) => Err(message),
        None => Ok(()),
    }
}

/// Sends every element to the worker that runs it (`placement`: its worker and block, as
/// `worker * workers + block`; empty with one worker, which keeps every element) and groups the
/// received ones by block: within a block, the senders in worker order, each one's elements in
/// its local order (so in global index order when the data started in index order). Returns the
/// number of local elements of each block.
///
/// Memory: nothing is copied but the leaving elements (and, when a permutation moves most
/// elements, the data once while it is gathered: see [`permute`]). A permutation puts the staying
/// elements first, by block, and the leaving ones after them, by destination and block; those
/// leave the data vector (moved as they are to a worker of this process, encoded for another),
/// the arriving ones are appended in their place, and a second permutation puts every element
/// where it belongs. The placement becomes the permutations, and the global indices are 4 bytes
/// each while the vector's length allows.
fn arrange<D: Element, P, K>(
    pf: &mut ParallelFor<'_, '_, '_, D, P, K>,
    mut placement: Vec<u32>,
    workers: usize,
) -> Result<Vec<usize>, ApError> {
    let data: &mut DVector<D> = pf.data;
    if workers == 1 {
        return Ok(vec![data.local.len()]);
    }
    let me = data.worker;
    let split = |code: u32| (code as usize / workers, code as usize % workers);
    // sizes[d][b]: the elements of block b that go to worker d.
    let mut sizes = vec![vec![0u64; workers]; workers];
    for &code in &placement {
        let (home, block) = split(code);
        sizes[home][block] += 1;
    }
    // Nothing to move (a placement that keeps every element in block order on every worker: a
    // collective decision, since the others would wait in the all-to-all).
    let stays = placement.iter().all(|&code| split(code).0 == me)
        && placement
            .windows(2)
            .all(|pair| split(pair[0]).1 <= split(pair[1]).1);
    let everyone: Vec<(bool, Vec<Vec<u64>>)> = pf.ap.all_gather(&(stays, sizes))?;
    if everyone.iter().all(|(stays, _)| *stays) {
        return Ok(everyone[me].1[me].iter().map(|&n| n as usize).collect());
    }
    let sizes = &everyone[me].1;
    let count = |d: usize, b: usize| sizes[d][b] as usize;
    let local = &mut data.local;
    let home_start = data.bounds[me];
    let mut origin = Origin::with_capacity(data.len, local.len());
    let old_origin = data.origin.take();
    for n in 0..local.len() {
        origin.push(global_index(old_origin.as_ref(), home_start, n));
    }
    drop(old_origin);

    // 1. The staying elements first, by block, then the leaving ones by destination and block.
    // next[d * workers + b]: where the next element of block b for worker d goes.
    let mut next = vec![0usize; workers * workers];
    let mut at = 0;
    for d in std::iter::once(me).chain((0..workers).filter(|&d| d != me)) {
        for b in 0..workers {
            next[d * workers + b] = at;
            at += count(d, b);
        }
    }
    let staying: usize = (0..workers).map(|b| count(me, b)).sum();
    for code in placement.iter_mut() {
        let slot = &mut next[*code as usize];
        *code = *slot as u32;
        *slot += 1;
    }
    // The staying elements first keep their order and only close up (sequential swaps, where the
    // cycles would jump across the vector when the leaving ones are spread through it).
    let mut closed = 0;
    for n in 0..local.len() {
        if (placement[n] as usize) < staying {
            swap_at(local, &mut origin, &mut placement, closed, n);
            closed += 1;
        }
    }
    permute(local, &mut origin, &mut placement);
    let mut leaving_items = local.drain(staying..);
    let mut leaving_indices = origin.split_tail(staying);
    let mut outgoing: Vec<Vec<Run<D>>> = Vec::with_capacity(workers);
    for d in 0..workers {
        let mut runs = Vec::new();
        if d != me {
            for b in 0..workers {
                let n = count(d, b);
                runs.push(Run {
                    indices: leaving_indices.take(n),
                    items: leaving_items.by_ref().take(n).collect(),
                });
            }
        }
        outgoing.push(runs);
    }
    drop(leaving_items);
    drop(leaving_indices);
    let incoming = pf.ap.worker.all_to_all_moved(outgoing)?;

    // 2. Every element to its place: block by block, in each the senders in worker order.
    let arriving = |s: usize, b: usize| everyone[s].1[me][b] as usize;
    let mut block_sizes = vec![0usize; workers];
    let mut start = 0;
    for b in 0..workers {
        for s in 0..workers {
            next[s * workers + b] = start;
            start += arriving(s, b);
            block_sizes[b] += arriving(s, b);
        }
    }
    let total = start;
    if u32::try_from(total).is_err() {
        return Err(ApError::Usage(format!(
            "loop `{}`: {total} iterations placed on worker {me}, more than it can hold",
            pf.name
        )));
    }
    placement.clear();
    for b in 0..workers {
        let first = next[me * workers + b];
        placement.extend((first..first + count(me, b)).map(|at| at as u32));
    }
    local.reserve_exact(total - local.len());
    for (s, runs) in incoming.into_iter().enumerate() {
        if s == me {
            continue;
        }
        if runs.len() != workers {
            return Err(ApError::Codec(
                "an arrangement message lacks a block".into(),
            ));
        }
        for (b, run) in runs.into_iter().enumerate() {
            let n = arriving(s, b);
            if run.items.len() != n || run.indices.len() != n {
                return Err(ApError::Codec(
                    "an arrangement message does not hold the elements announced".into(),
                ));
            }
            let first = next[s * workers + b];
            placement.extend((first..first + n).map(|at| at as u32));
            origin.append(run.indices)?;
            local.extend(run.items);
        }
    }
    // The staying elements keep their order and only move up, to make room for the arriving
    // ones: first each to its place from the last (sequential swaps), then the cycles of the
    // arriving ones.
    let mut unplaced = staying;
    for to in (0..total).rev() {
        if unplaced == 0 {
            break;
        }
        if placement[unplaced - 1] as usize == to {
            swap_at(local, &mut origin, &mut placement, unplaced - 1, to);
            unplaced -= 1;
        }
    }
    permute(local, &mut origin, &mut placement);
    data.origin = Some(origin);
    Ok(block_sizes)
}

/// Moves every element `n` of `items` (and its global index) to position `to[n]`. Leaves `to` the
/// identity.
///
/// In place (each swap puts one element where it belongs) when few elements are out of place,
/// as when the data came in block order (LDA's tokens): no second copy of the data. When many
/// are (ratings in an order of their own, MF's), following the cycles jumps across the vector
/// for every element (measured: a quarter of an MF run on 2 workers), so the elements are
/// gathered into a new vector instead, at the cost of that copy while it is made.
fn permute<D: Clone>(items: &mut Vec<D>, origin: &mut Origin, to: &mut [u32]) {
    let displaced = to
        .iter()
        .enumerate()
        .filter(|&(n, &t)| t as usize != n)
        .count();
    if displaced > items.len() / GATHER_ABOVE {
        let mut from = vec![0u32; to.len()];
        for (n, &t) in to.iter().enumerate() {
            from[t as usize] = n as u32;
        }
        *items = from.iter().map(|&f| items[f as usize].clone()).collect();
        *origin = origin.gathered(&from);
        to.iter_mut().enumerate().for_each(|(n, t)| *t = n as u32);
        return;
    }
    for n in 0..items.len() {
        loop {
            let target = to[n] as usize;
            if target == n {
                break;
            }
            swap_at(items, origin, to, n, target);
        }
    }
}

/// [`permute`] gathers into a new vector when more than `1 / GATHER_ABOVE` of the elements are
/// out of place.
const GATHER_ABOVE: usize = 4;

/// Swaps elements `a` and `b` with their global indices and destinations.
fn swap_at<D>(items: &mut [D], origin: &mut Origin, to: &mut [u32], a: usize, b: usize) {
    if a != b {
        items.swap(a, b);
        origin.swap(a, b);
        to.swap(a, b);
    }
}

/// Elements of one block on their way to the worker that runs them, with their global indices.
#[derive(serde::Serialize, serde::Deserialize)]
struct Run<D> {
    indices: Origin,
    items: Vec<D>,
}

/// The keys of every local iteration found by running the body once on copies: every container
/// opened as a replica (so every key holds its real value), every access recorded, every write
/// then discarded. Control flow must not depend on parameter values, as for a key function;
/// debug mode checks that it does not. Returns the first failure of the body, if any.
fn inspect<D, P, K, B>(
    pf: &mut ParallelFor<'_, '_, '_, D, P, K>,
    body: &mut B,
    n_containers: usize,
) -> Result<(KeyCodes, Option<String>), ApError>
where
    D: Element,
    P: ParamSet,
    B: FnMut(&mut D, &mut P::Views),
{
    let worker = &mut *pf.ap.worker;
    let access = vec![
        Access::Replica {
            asynchronous: false,
            stale: false,
        };
        n_containers
    ];
    let mut views = pf.params.open_all(worker, &access)?;
    for view in P::dyn_views(&mut views) {
        view.begin_step(1);
        view.start_recording();
    }
    let mut keys = KeyCodes::new(n_containers);
    let mut found = vec![Vec::new(); n_containers];
    let mut failure = None;
    for (n, item) in pf.data.local.iter().enumerate() {
        let mut copy = [item.clone()];
        let iteration = pf.data.global_index(n);
        let error = run_items(
            worker.index(),
            &mut copy,
            &mut views,
            body,
            |_| iteration,
            |_, _| {},
            |_, _| {},
        );
        if let Some(error) = error {
            failure = Some(format!(
                "the body failed while its accesses were inspected, at iteration {iteration}: {}",
                error.message
            ));
            break;
        }
        for (c, view) in P::dyn_views(&mut views).into_iter().enumerate() {
            found[c] = view.take_recorded();
            found[c].sort_unstable();
            found[c].dedup();
        }
        keys.push(&found);
    }
    for view in P::dyn_views(&mut views) {
        view.discard_changes();
    }
    pf.params.close_all(worker, views)?;
    Ok((keys, failure))
}
