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

use serde_bytes::ByteBuf;

use crate::dvector::global_index;
use crate::error::{decode, encode, ApError};
use crate::parallel::{
    apply_messages, run_items, step_deltas, KeyFunction, LoopReport, ParallelFor, StepError,
    StepMessage,
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
        vec![Access::Replica { asynchronous }; infos.len()]
    };
    let mut views = params.open_all(worker, &access)?;
    let origin = data.origin.as_deref();
    let home_start = data.bounds[data.worker];
    // Messages of others received but not merged, by step; this worker's own by step.
    let mut inbox: HashMap<u32, Vec<Option<StepMessage>>> = HashMap::new();
    let mut own: HashMap<u32, StepMessage> = HashMap::new();
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
                let messages = wait_step(worker, tags, step, &mut inbox, &mut own, p, workers)?;
                if failure.is_none() {
                    failure = messages.iter().find_map(|m| m.error.clone());
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
        let message = StepMessage {
            error,
            deltas: step_deltas(&mut P::dyn_views(&mut views))?,
        };
        let bytes = ByteBuf::from(encode(&message)?);
        for w in (0..workers).filter(|&w| w != p) {
            worker.send(w, tags + t as u64, &bytes)?;
        }
        worker.flush();
        own.insert(t as u32, message);
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
            )?;
            if (0..workers).any(|w| w != p && received_from[w] < steps) {
                worker.step(true);
            }
        }
    } else {
        while merged < steps {
            let step = merged as u32 + 1;
            let messages = wait_step(worker, tags, step, &mut inbox, &mut own, p, workers)?;
            if failure.is_none() {
                failure = messages.iter().find_map(|m| m.error.clone());
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
    inbox: &mut HashMap<u32, Vec<Option<StepMessage>>>,
    own: &mut HashMap<u32, StepMessage>,
    p: usize,
    workers: usize,
) -> Result<Vec<StepMessage>, ApError> {
    let slots = inbox
        .entry(step)
        .or_insert_with(|| (0..workers).map(|_| None).collect());
    loop {
        for (source, bytes) in worker.take(tags + step as u64) {
            let bytes: ByteBuf = decode(&bytes)?;
            slots[source] = Some(decode(&bytes)?);
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

/// Asynchronous loops: applies every message that has arrived, in arrival order.
fn drain_async(
    worker: &mut strads_engine::Worker<'_>,
    tags: u64,
    steps: usize,
    views: &mut [&mut dyn LoopView],
    received_from: &mut [usize],
    failure: &mut Option<StepError>,
    p: usize,
) -> Result<(), ApError> {
    for t in 1..=steps {
        for (source, bytes) in worker.take(tags + t as u64) {
            debug_assert_ne!(source, p);
            let bytes: ByteBuf = decode(&bytes)?;
            let message: StepMessage = decode(&bytes)?;
            if failure.is_none() {
                failure.clone_from(&message.error);
            }
            for (view, delta) in views.iter_mut().zip(&message.deltas) {
                view.apply_other(delta)?;
            }
            received_from[source] += 1;
        }
    }
    Ok(())
}
