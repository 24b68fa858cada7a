//! The parallel loop: [`ParallelFor`], built by [`Ap::parallel_for`] and run with a consistency
//! model.

use crate::prefetch::PREFETCH_DISTANCE;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::dvector::DVector;
use crate::error::ApError;
use crate::param::{Element, KeysOf, ParamSet};
use crate::program::Ap;
use crate::strategy::{Consistency, Strategy};
use crate::view::{is_violation, panic_text, DeltaRef, LoopView, StepDelta};

/// The key function of a loop that has none.
pub struct NoKeys;

/// A loop's key function, or [`NoKeys`].
pub trait KeyFunction<D, P: ParamSet> {
    /// Whether there is a key function (without one, `Serializable` loops inspect the body).
    fn present(&self) -> bool;
    /// The key codes of one iteration per container, or `None` without a key function.
    fn codes(
        &self,
        item: &D,
        params: &P,
        out: &mut [Vec<u64>],
    ) -> Option<Result<(), (usize, String)>>;
    /// Prefetches the elements `item`'s iteration will touch (nothing without a key function).
    #[inline(always)]
    fn prefetch(&self, item: &D, views: &P::Views) {
        let _ = (item, views);
    }
}

impl<D, P: ParamSet> KeyFunction<D, P> for NoKeys {
    fn present(&self) -> bool {
        false
    }
    fn codes(&self, _: &D, _: &P, _: &mut [Vec<u64>]) -> Option<Result<(), (usize, String)>> {
        None
    }
}

impl<D, P, F, K> KeyFunction<D, P> for F
where
    P: ParamSet,
    F: Fn(&D) -> K,
    K: KeysOf<P>,
{
    fn present(&self) -> bool {
        true
    }
    fn codes(
        &self,
        item: &D,
        params: &P,
        out: &mut [Vec<u64>],
    ) -> Option<Result<(), (usize, String)>> {
        Some(self(item).codes(params, out))
    }
    #[inline(always)]
    fn prefetch(&self, item: &D, views: &P::Views) {
        self(item).prefetch(views);
    }
}

/// What one execution of a loop did.
#[derive(Clone, Debug)]
pub struct LoopReport {
    /// The strategy it ran with.
    pub strategy: Strategy,
    /// Steps (sub-rounds or mini-batches) run.
    pub steps: usize,
    /// The most steps of other workers' changes a step started without (synchronous loops;
    /// never more than `s` under `Ssp(s)`, 0 under `Bsp`).
    pub max_staleness: usize,
    /// Wall-clock seconds of the execution (including planning on the first one).
    pub seconds: f64,
}

/// A loop over a data vector and a tuple of containers; see [`Ap::parallel_for`].
pub struct ParallelFor<'l, 'a, 'w, D, P, K> {
    pub(crate) ap: &'l mut Ap<'a, 'w>,
    pub(crate) data: &'l mut DVector<D>,
    pub(crate) params: P,
    pub(crate) keys: K,
    pub(crate) name: String,
    pub(crate) batch: Option<usize>,
}

impl<'a, 'w> Ap<'a, 'w> {
    /// A parallel loop: one iteration per element of `data`, the body seeing the element
    /// mutably and a view of each container of `params` (a tuple such as `(&mut w, &mut h)`).
    ///
    /// ```ignore
    /// ap.parallel_for(&mut ratings, (&mut w, &mut h))
    ///     .keys(|r| (r.user, r.item))
    ///     .run(Consistency::Serializable, |r, (w, h)| sgd_step(&mut w[r.user], &mut h[r.item], r))?;
    /// ```
    ///
    /// Every worker must run the same loops in the same order (SPMD). A loop is identified by
    /// its call site (or [`ParallelFor::name`]): its plan is made on the first execution and
    /// reused.
    #[track_caller]
    pub fn parallel_for<'l, D: Element, P: ParamSet>(
        &'l mut self,
        data: &'l mut DVector<D>,
        params: P,
    ) -> ParallelFor<'l, 'a, 'w, D, P, NoKeys> {
        let caller = std::panic::Location::caller();
        ParallelFor {
            ap: self,
            data,
            params,
            keys: NoKeys,
            name: format!("{}:{}", caller.file(), caller.line()),
            batch: None,
        }
    }
}

impl<'l, 'a, 'w, D: Element, P: ParamSet, K: KeyFunction<D, P>> ParallelFor<'l, 'a, 'w, D, P, K> {
    /// The keys each iteration touches, one entry per container (a key, several, or `()` for
    /// an accumulator). `Serializable` loops schedule by them; without a key function they
    /// learn them by inspecting the body's accesses on the first execution (a dry run on replicas
    /// whose writes are discarded: an extra pass, and a full copy of the containers per worker
    /// while it runs). Either way, debug mode checks every access against them.
    pub fn keys<F, Keys>(self, keys: F) -> ParallelFor<'l, 'a, 'w, D, P, F>
    where
        F: Fn(&D) -> Keys,
        Keys: KeysOf<P>,
    {
        ParallelFor {
            ap: self.ap,
            data: self.data,
            params: self.params,
            keys,
            name: self.name,
            batch: self.batch,
        }
    }

    /// Names the loop in errors and strategies (default: its call site).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Iterations per worker in one mini-batch of a synchronous loop (default: a sixteenth of
    /// the largest worker's share).
    pub fn batch(mut self, iterations: usize) -> Self {
        self.batch = Some(iterations.max(1));
        self
    }

    /// Runs the loop once over every element of the data vector.
    #[inline]
    pub fn run<B>(self, consistency: Consistency, body: B) -> Result<LoopReport, ApError>
    where
        B: FnMut(&mut D, &mut P::Views),
    {
        let started = Instant::now();
        let mut report = match consistency {
            Consistency::Serializable => crate::serializable::run(self, body)?,
            _ => crate::synchronous::run(self, consistency, body)?,
        };
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Shorthand for `run(Consistency::Serializable, body)`: the result equals running the
    /// iterations in a sequential order (STRADS-AP's AsyncFor).
    #[inline]
    pub fn serializable<B>(self, body: B) -> Result<LoopReport, ApError>
    where
        B: FnMut(&mut D, &mut P::Views),
    {
        self.run(Consistency::Serializable, body)
    }
}

/// What every worker sends at the end of a step: its failure, if any, and each view's changes,
/// encoded (for workers of other processes).
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct StepMessage {
    pub error: Option<StepError>,
    pub deltas: Vec<ByteBuf>,
}

/// The same between the workers of one process: the views' changes as they are, shared.
pub(crate) struct LocalStep {
    pub error: Option<StepError>,
    pub deltas: Vec<StepDelta>,
}

/// A step's message as a worker holds it: received encoded, or shared within the process.
pub(crate) enum Received {
    Wire(StepMessage),
    Local(Arc<LocalStep>),
}

impl Default for Received {
    fn default() -> Self {
        Received::Wire(StepMessage::default())
    }
}

impl Received {
    pub fn error(&self) -> Option<&StepError> {
        match self {
            Received::Wire(m) => m.error.as_ref(),
            Received::Local(m) => m.error.as_ref(),
        }
    }

    /// Container `c`'s changes (none if the sender had none).
    pub fn delta(&self, c: usize) -> DeltaRef<'_> {
        match self {
            Received::Wire(m) => DeltaRef::Bytes(m.deltas.get(c).map_or(&[][..], |d| d)),
            Received::Local(m) => m
                .deltas
                .get(c)
                .map_or(DeltaRef::Bytes(&[]), StepDelta::as_ref),
        }
    }
}

/// A failure of a worker's body, in a form every worker can turn into the same error.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct StepError {
    pub worker: usize,
    /// The iteration (global index of its data element) for access violations.
    pub iteration: Option<u64>,
    pub message: String,
}

impl StepError {
    pub fn into_error(self, name: &str) -> ApError {
        match self.iteration {
            Some(iteration) => ApError::Access {
                name: name.to_owned(),
                iteration,
                message: self.message,
            },
            None => ApError::Body {
                name: name.to_owned(),
                worker: self.worker,
                message: self.message,
            },
        }
    }
}

/// Runs `body` over `items` (whose global indices are `index(n)`), stopping at the first panic,
/// which it returns as a [`StepError`]. `before` runs before each iteration (debug checks);
/// `prefetch` is given the item [`PREFETCH_DISTANCE`] iterations ahead, to request its elements.
#[inline]
pub(crate) fn run_items<D, V>(
    worker: usize,
    items: &mut [D],
    views: &mut V,
    body: &mut impl FnMut(&mut D, &mut V),
    index: impl Fn(usize) -> u64,
    mut before: impl FnMut(usize, &mut V),
    prefetch: impl Fn(&D, &V),
) -> Option<StepError> {
    let current = Cell::new(0usize);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for n in 0..items.len() {
            if let Some(ahead) = items.get(n + PREFETCH_DISTANCE) {
                prefetch(ahead, views);
            }
            current.set(n);
            before(n, views);
            body(&mut items[n], views);
        }
    }));
    outcome.err().map(|payload| StepError {
        worker,
        iteration: is_violation(payload.as_ref()).then(|| index(current.get())),
        message: panic_text(payload.as_ref()),
    })
}

/// The views' changes of the step that just ended: shared where a view can if `shared` (every
/// receiver runs in this process), encoded otherwise.
pub(crate) fn step_deltas(
    views: &mut [&mut dyn LoopView],
    shared: bool,
) -> Result<Vec<StepDelta>, ApError> {
    views.iter_mut().map(|v| v.step_delta(shared)).collect()
}

/// The views' changes of the step that just ended, encoded.
pub(crate) fn encoded_step_deltas(
    views: &mut [&mut dyn LoopView],
) -> Result<Vec<ByteBuf>, ApError> {
    step_deltas(views, false)?
        .into_iter()
        .map(|delta| match delta {
            StepDelta::Bytes(bytes) => Ok(ByteBuf::from(bytes)),
            StepDelta::Shared(_) => Err(ApError::Codec(
                "a view shared its changes when asked to encode them".into(),
            )),
        })
        .collect()
}

/// Merges step `step` into every view from every worker's message (in worker order).
pub(crate) fn apply_messages(
    views: &mut [&mut dyn LoopView],
    step: u32,
    messages: &[Received],
    own: usize,
) -> Result<(), ApError> {
    for (c, view) in views.iter_mut().enumerate() {
        let deltas: Vec<DeltaRef<'_>> = messages.iter().map(|m| m.delta(c)).collect();
        view.apply_step(step, &deltas, own)?;
    }
    Ok(())
}
