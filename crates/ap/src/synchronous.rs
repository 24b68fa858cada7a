//! Synchronous loops (STRADS-AP's SyncFor): `Bsp`, `Ssp(s)` and `Async`.
//!
//! Iterations run where their data elements are. Every worker holds a replica of each container;
//! a pass is cut into mini-batches (the same number on every worker). At the end of mini-batch t a
//! worker sends its changes of t to every other worker. Before starting mini-batch t + 1 it merges
//! every step up to t - s (`Bsp`: s = 0), each step's changes from all workers in worker order into
//! the committed state, and shows the committed state plus its own unmerged changes. So a read is
//! never more than `s` mini-batches stale, and the result depends only on the cluster shape, not
//! on message timing. `Async` instead adds others' changes as they arrive and waits only for a
//! peer more than `max_delay` mini-batches behind. A single worker runs the iterations in order
//! on the containers themselves, which is what a mini-batch computation with one worker means.

use std::collections::HashMap;
use std::sync::Arc;

use serde_bytes::ByteBuf;

use crate::dvector::global_index;
use crate::error::{decode, encode, ApError};
use crate::parallel::{
    apply_messages, encoded_step_deltas, run_items, step_deltas, KeyFunction, LocalStep,
    LoopReport, ParallelFor, Received, StepError, StepMessage,
};
use crate::param::{Access, ContainerKind, Element, ParamSet};
use crate::strategy::{
    Balance, Consistency, ContainerStrategy, IterationPlacement, Partitioning, Strategy,
    Synchronization,
};
use crate::view::LoopView;

pub(crate) fn run<D, P, K, B>(
    pf: ParallelFor<'_, '_, '_, D, P, K>,
    consistency: Consistency,
    mut body: B,
) -> Result<LoopReport, ApError>
where
    D: Element,
    P: ParamSet,
    K: KeyFunction<D, P>,
    B: FnMut(&mut D, &mut P::Views),
{
    let ParallelFor {
        ap,
        data,
        mut params,
        name,
        batch,
        keys,
        ..
    } = pf;
    let (p, workers) = (ap.index(), ap.workers());
    let (staleness, asynchronous) = match consistency {
        Consistency::Bsp => (0, false),
        Consistency::Ssp(s) => (s as usize, false),
        Consistency::Async { max_delay } => (max_delay as usize, true),
        Consistency::Serializable => unreachable!("serializable loops run in serializable.rs"),
    };
    let lens: Vec<u64> = ap.engine().all_gather(&(data.local.len() as u64))?;
    let largest = lens.iter().copied().max().unwrap_or(0) as usize;
    let batch = batch.unwrap_or(largest.div_ceil(16)).max(1);
    let steps = largest.div_ceil(batch).max(1);

    let infos = params.infos();
    let strategy = Strategy {
        name: name.clone(),
        consistency,
        workers,
        iterations: IterationPlacement::InPlace,
        steps_per_execution: steps,
        mini_batch: Some(batch),
        containers: infos
            .iter()
            .map(|info| ContainerStrategy {
                name: info.name.clone(),
                partitioning: match info.kind {
                    ContainerKind::Vector { .. } => Partitioning::Range {
                        balance: Balance::AsBuilt,
                    },
                    ContainerKind::Map => Partitioning::Hash,
                    ContainerKind::Accumulator => Partitioning::Replicated,
                },
                synchronization: Synchronization::ReplicaDeltas,
            })
            .collect(),
    };
    if !ap.strategies.iter().any(|s| s == &strategy) {
        ap.record_strategy(&strategy);
    }

    let tags = ap.new_tags();
    let worker = &mut *ap.worker;
    // One worker is its own mini-batch order: its views hold the containers as they are, with
    // no replica bookkeeping.
    let access = if workers == 1 {
        vec![Access::Exclusive; infos.len()]
    } else {
        let stale = staleness > 0 && !asynchronous;
        vec![
            Access::Replica {
                asynchronous,
                stale
            };
            infos.len()
        ]
    };
    let mut views = params.open_all(worker, &access)?;
    let origin = data.origin.as_ref();
    let home_start = data.bounds[data.worker];
    // Between workers of one process the views' changes are shared, not encoded.
    let local = (0..workers).all(|w| worker.shares_process_with(w));
    // Messages of others received but not merged, by step; this worker's own by step.
    let mut inbox: HashMap<u32, Vec<Option<Received>>> = HashMap::new();
    let mut own: HashMap<u32, Received> = HashMap::new();
    let mut merged = 0usize; // steps merged (synchronous), or fully received (asynchronous)
    let mut received_from = vec![0usize; workers]; // asynchronous: messages received per peer
    let mut max_staleness = 0usize;
    let mut failure: Option<StepError> = None;
    // This worker's body failed: it runs no more iterations, but (synchronously) its verdict is
    // the first failure in step and worker order, which it learns when it merges that step.
    let mut stopped = false;

    for t in 1..=steps {
        // Wait until every step up to t - 1 - s is merged (or, asynchronously, received).
        let need = (t - 1).saturating_sub(staleness);
        if asynchronous {
            loop {
                drain_async(
                    worker,
                    tags,
                    steps,
                    &mut P::dyn_views(&mut views),
                    &mut received_from,
                    &mut failure,
                    p,
                    local,
                )?;
                if (0..workers).all(|w| w == p || received_from[w] >= need) {
                    break;
                }
                worker.step(true);
            }
            let behind = (0..workers)
                .filter(|&w| w != p)
                .map(|w| (t - 1).saturating_sub(received_from[w]))
                .max()
                .unwrap_or(0);
            max_staleness = max_staleness.max(behind);
        } else {
            while merged < need {
                let step = merged as u32 + 1;
                let messages = wait_step(worker, tags, step, &mut inbox, &mut own, p, local)?;
                if failure.is_none() {
                    failure = messages.iter().find_map(|m| m.error().cloned());
                }
                apply_messages(&mut P::dyn_views(&mut views), step, &messages, p)?;
                merged += 1;
            }
            max_staleness = max_staleness.max(t - 1 - merged);
        }

        for view in P::dyn_views(&mut views) {
            view.begin_step(t as u32);
        }
        let start = ((t - 1) * batch).min(data.local.len());
        let end = (t * batch).min(data.local.len());
        let error = if failure.is_some() || stopped {
            None
        } else {
            run_items(
                p,
                &mut data.local[start..end],
                &mut views,
                &mut body,
                |n| global_index(origin, home_start, start + n),
                |_, _| {},
                |item, views| keys.prefetch(item, views),
            )
        };
        stopped |= error.is_some();
        if asynchronous && failure.is_none() {
            failure.clone_from(&error);
        }
        let tag = tags + t as u64;
        let others = (0..workers).filter(|&w| w != p);
        if local {
            let message = Arc::new(LocalStep {
                error,
                deltas: step_deltas(&mut P::dyn_views(&mut views), true)?,
            });
            for w in others {
                worker.send_parcel(w, tag, Box::new(message.clone()));
            }
            // This worker merges its own changes from what its views kept: the message it keeps
            // holds none of them, so they are free as soon as every peer has merged them.
            let (error, deltas) = (message.error.clone(), Vec::new());
            own.insert(t as u32, Received::Wire(StepMessage { error, deltas }));
        } else {
            let message = StepMessage {
                error,
                deltas: encoded_step_deltas(&mut P::dyn_views(&mut views))?,
            };
            let bytes = encode(&message)?;
            for w in others {
                worker.send_bytes(w, tag, bytes.clone());
            }
            let (error, deltas) = (message.error, Vec::new());
            own.insert(t as u32, Received::Wire(StepMessage { error, deltas }));
        }
        worker.flush();
    }

    // Merge (or receive) everything before handing the containers back.
    if asynchronous {
        while (0..workers).any(|w| w != p && received_from[w] < steps) {
            drain_async(
                worker,
                tags,
                steps,
                &mut P::dyn_views(&mut views),
                &mut received_from,
                &mut failure,
                p,
                local,
            )?;
            if (0..workers).any(|w| w != p && received_from[w] < steps) {
                worker.step(true);
            }
        }
    } else {
        while merged < steps {
            let step = merged as u32 + 1;
            let messages = wait_step(worker, tags, step, &mut inbox, &mut own, p, local)?;
            if failure.is_none() {
                failure = messages.iter().find_map(|m| m.error().cloned());
            }
            apply_messages(&mut P::dyn_views(&mut views), step, &messages, p)?;
            merged += 1;
        }
    }
    params.close_all(worker, views)?;
    if asynchronous {
        // Every worker must end with the same verdict: share the failures seen.
        let all: Vec<Option<ByteBuf>> = worker.all_gather(
            &failure
                .as_ref()
                .map(|f| encode(f).map(ByteBuf::from))
                .transpose()?,
        )?;
        if let Some(bytes) = all.into_iter().flatten().next() {
            failure = Some(decode(&bytes)?);
        }
    }
    if let Some(error) = failure {
        return Err(error.into_error(&name));
    }
    Ok(LoopReport {
        strategy,
        steps,
        max_staleness,
        seconds: 0.0,
    })
}

/// Waits for every worker's message of `step` and returns them in worker order (this worker's
/// own from `own`).
fn wait_step(
    worker: &mut strads_engine::Worker<'_>,
    tags: u64,
    step: u32,
    inbox: &mut HashMap<u32, Vec<Option<Received>>>,
    own: &mut HashMap<u32, Received>,
    p: usize,
    local: bool,
) -> Result<Vec<Received>, ApError> {
    let workers = worker.peers();
    let tag = tags + step as u64;
    let slots = inbox
        .entry(step)
        .or_insert_with(|| (0..workers).map(|_| None).collect());
    loop {
        for (source, bytes) in worker.take(tag) {
            slots[source] = Some(receive(worker, source, tag, &bytes, local)?);
        }
        if (0..workers).all(|w| w == p || slots[w].is_some()) {
            break;
        }
        worker.step(true);
    }
    let mut slots = inbox.remove(&step).expect("slots made above");
    slots[p] = Some(own.remove(&step).unwrap_or_default());
    Ok(slots.into_iter().map(Option::unwrap_or_default).collect())
}

/// The message `source` sent under `tag`: its bytes, or (`local`) the parcel they announce.
fn receive(
    worker: &mut strads_engine::Worker<'_>,
    source: usize,
    tag: u64,
    bytes: &[u8],
    local: bool,
) -> Result<Received, ApError> {
    if !local {
        return Ok(Received::Wire(decode(bytes)?));
    }
    let parcel = worker
        .take_parcel(source, tag)
        .ok_or_else(|| ApError::Codec(format!("worker {source}'s step changes are missing")))?;
    let message = parcel
        .downcast::<Arc<LocalStep>>()
        .map_err(|_| ApError::Codec("a step's changes of another type".into()))?;
    Ok(Received::Local(*message))
}

/// Asynchronous loops: applies every message that has arrived, in arrival order.
#[allow(clippy::too_many_arguments)]
fn drain_async(
    worker: &mut strads_engine::Worker<'_>,
    tags: u64,
    steps: usize,
    views: &mut [&mut dyn LoopView],
    received_from: &mut [usize],
    failure: &mut Option<StepError>,
    p: usize,
    local: bool,
) -> Result<(), ApError> {
    for t in 1..=steps {
        let tag = tags + t as u64;
        for (source, bytes) in worker.take(tag) {
            debug_assert_ne!(source, p);
            let message = receive(worker, source, tag, &bytes, local)?;
            if failure.is_none() {
                *failure = message.error().cloned();
            }
            for (c, view) in views.iter_mut().enumerate() {
                view.apply_other(message.delta(c))?;
            }
            received_from[source] += 1;
        }
    }
    Ok(())
}
