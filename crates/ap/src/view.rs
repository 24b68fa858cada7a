//! What a loop body sees of a container during one step, and how the runtime moves a step's
//! changes between workers.
//!
//! A view owns the storage it shows for the duration of a loop (the container lends it and gets it
//! back at the loop's end), so views carry no lifetimes and a body can hold several of them
//! mutably at once. Two ways to hold data:
//!
//! - **exclusive**: the view holds one block of the container (its home block, or the block the
//!   rotation brought), and no other worker can touch those keys now. Writes need no bookkeeping.
//! - **replica**: the view holds a copy of the whole container. The first write to an element in a
//!   step saves the element's value before the step; at the step's end its change
//!   ([`crate::Delta`]) is what crosses to the other workers. The view keeps `committed`, the value
//!   with every worker's changes of the merged steps applied in worker order, and shows
//!   `committed` plus this worker's own changes of the steps not merged yet, so a worker always
//!   reads its own writes, and the merged state does not depend on message timing. Without
//!   staleness (`Bsp`) a vector view needs no `committed`: every step begins from the merged
//!   state, which is its data once the step's written elements are put back to their saved
//!   values.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

use strads_engine::RotatedBlock;

use crate::error::ApError;

/// The operations the loop drivers need from every view, whatever its container.
///
/// Not meant to be implemented outside this crate; it is public only because the container
/// traits name it.
#[doc(hidden)]
pub trait LoopView {
    /// A new step begins (steps count from 1 in a loop execution).
    fn begin_step(&mut self, step: u32);
    /// This worker's changes in the step that just ended: encoded (empty when there are none
    /// to send, e.g. an exclusive view), or, if `shared` and the view can, the value itself for
    /// the workers of this process to read.
    fn step_delta(&mut self, shared: bool) -> Result<StepDelta, ApError>;
    /// Merges step `step`: every worker's changes in worker order (`deltas[own]` is ignored:
    /// this worker's own changes are taken from what it kept).
    fn apply_step(&mut self, step: u32, deltas: &[DeltaRef<'_>], own: usize)
        -> Result<(), ApError>;
    /// Asynchronous loops: adds another worker's changes as soon as they arrive.
    fn apply_other(&mut self, delta: DeltaRef<'_>) -> Result<(), ApError>;
    /// Rotation: gives up the held block, encoded if `encode` (for another process), else
    /// moved as is.
    fn take_block(&mut self, encode: bool) -> Result<RotatedBlock, ApError>;
    /// Rotation: installs block `block`, received from the worker that held it.
    fn put_block(&mut self, block: usize, data: RotatedBlock) -> Result<(), ApError>;
    /// Debug mode: the key codes the current iteration may touch (`None`: no check).
    fn set_allowed(&mut self, keys: Option<&[u64]>);
    /// Inspection: from now on, record the code of every key accessed.
    fn start_recording(&mut self);
    /// Inspection: the codes recorded since the last call (or since recording started).
    fn take_recorded(&mut self) -> Vec<u64>;
    /// Inspection: forgets every write since the view was opened (replicas only).
    fn discard_changes(&mut self);
}

/// A view's changes of one step, as they leave it.
pub enum StepDelta {
    /// Encoded: for any worker.
    Bytes(Vec<u8>),
    /// The changes themselves, shared with the workers of this process, which read them in
    /// place (nothing encoded, copied or decoded).
    Shared(Arc<dyn Any + Send + Sync>),
}

impl StepDelta {
    /// How a receiver sees it.
    pub fn as_ref(&self) -> DeltaRef<'_> {
        match self {
            StepDelta::Bytes(bytes) => DeltaRef::Bytes(bytes),
            StepDelta::Shared(value) => DeltaRef::Shared(value.as_ref()),
        }
    }
}

/// Another worker's changes of one step, as a view receives them.
#[derive(Clone, Copy)]
pub enum DeltaRef<'a> {
    /// Encoded.
    Bytes(&'a [u8]),
    /// Shared by a worker of this process: the view's own change type.
    Shared(&'a (dyn Any + Send + Sync)),
}

impl<'a> DeltaRef<'a> {
    /// The encoded form; for views that only ever send encoded changes.
    pub(crate) fn bytes(self) -> Result<&'a [u8], ApError> {
        match self {
            DeltaRef::Bytes(bytes) => Ok(bytes),
            DeltaRef::Shared(_) => Err(ApError::Codec(
                "shared changes reached a view that only encodes its changes".into(),
            )),
        }
    }

    /// The changes as a value of type `C`: shared ones read in place, encoded ones decoded.
    pub(crate) fn read<C>(self) -> Result<std::borrow::Cow<'a, C>, ApError>
    where
        C: serde::de::DeserializeOwned + Clone + 'static,
    {
        match self {
            DeltaRef::Bytes(bytes) => Ok(std::borrow::Cow::Owned(crate::error::decode(bytes)?)),
            DeltaRef::Shared(value) => value
                .downcast_ref::<C>()
                .map(std::borrow::Cow::Borrowed)
                .ok_or_else(|| ApError::Codec("shared changes of another type".into())),
        }
    }
}

/// A view's checks of accesses: debug mode's allowed keys, and the inspection's recording.
/// Boxed behind one `Option`, so that a view without checks pays one branch per access.
#[derive(Default)]
pub(crate) struct Audit {
    pub allowed: Option<Vec<u64>>,
    pub recorded: Option<std::cell::RefCell<Vec<u64>>>,
}

impl Audit {
    /// Checks (debug mode) or records (inspection) an access to `code`; `shown` prints the key.
    #[inline]
    pub fn access(&self, code: u64, container: &str, shown: &dyn Fn() -> String) {
        if let Some(recorded) = &self.recorded {
            recorded.borrow_mut().push(code);
        }
        if let Some(allowed) = &self.allowed {
            if !allowed.contains(&code) {
                violation(
                    container,
                    format!("key {} is not among the iteration's recorded keys", shown()),
                );
            }
        }
    }

    /// Sets or clears the allowed keys of `audit`, dropping it when nothing is left to check.
    pub fn set_allowed(audit: &mut Option<Box<Audit>>, keys: Option<&[u64]>) {
        match keys {
            Some(keys) => {
                let allowed = audit
                    .get_or_insert_with(Box::default)
                    .allowed
                    .get_or_insert_with(Vec::new);
                allowed.clear();
                allowed.extend_from_slice(keys);
            }
            None => {
                if let Some(a) = audit.as_mut() {
                    a.allowed = None;
                }
                Audit::drop_if_idle(audit);
            }
        }
    }

    pub fn start_recording(audit: &mut Option<Box<Audit>>) {
        audit.get_or_insert_with(Box::default).recorded = Some(Default::default());
    }

    pub fn take_recorded(audit: &mut Option<Box<Audit>>) -> Vec<u64> {
        audit
            .as_ref()
            .and_then(|a| a.recorded.as_ref())
            .map(|r| std::mem::take(&mut *r.borrow_mut()))
            .unwrap_or_default()
    }

    fn drop_if_idle(audit: &mut Option<Box<Audit>>) {
        if audit
            .as_ref()
            .is_some_and(|a| a.allowed.is_none() && a.recorded.is_none())
        {
            *audit = None;
        }
    }
}

/// The panic payload of an access a view cannot serve: a key not held in this step, or, in debug
/// mode, a key outside the iteration's recorded keys. The loop driver turns it into an error.
#[derive(Debug)]
pub(crate) struct AccessViolation {
    pub container: String,
    pub message: String,
}

/// Stops the body: `message` says which key of which container and why.
#[cold]
#[inline(never)]
pub(crate) fn violation(container: &str, message: String) -> ! {
    std::panic::panic_any(AccessViolation {
        container: container.to_owned(),
        message,
    })
}

/// Turns a caught panic payload into the text of an error.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(v) = payload.downcast_ref::<AccessViolation>() {
        format!("container `{}`: {}", v.container, v.message)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "a panic with no message".to_owned()
    }
}

/// Whether a panic payload is an access violation (debug mode reports those by iteration).
pub(crate) fn is_violation(payload: &(dyn Any + Send)) -> bool {
    payload.is::<AccessViolation>()
}

/// A replica's own changes of the steps not merged yet, oldest first.
pub(crate) struct Pending<D> {
    steps: VecDeque<(u32, D)>,
}

impl<D> Default for Pending<D> {
    fn default() -> Self {
        Pending {
            steps: VecDeque::new(),
        }
    }
}

impl<D> Pending<D> {
    pub fn push(&mut self, step: u32, delta: D) {
        self.steps.push_back((step, delta));
    }

    /// Removes and returns this worker's changes of `step`, which must be the oldest kept.
    pub fn pop(&mut self, step: u32) -> Option<D> {
        match self.steps.front() {
            Some((s, _)) if *s == step => self.steps.pop_front().map(|(_, d)| d),
            _ => None,
        }
    }

    /// The changes of the steps after the last merged one.
    pub fn later(&self) -> impl Iterator<Item = &D> {
        self.steps.iter().map(|(_, d)| d)
    }
}

/// A set of small integers that can be emptied in O(1): the keys a merge touched.
#[derive(Default)]
pub(crate) struct TouchedSet {
    mark: Vec<u32>,
    epoch: u32,
    pub keys: Vec<usize>,
}

impl TouchedSet {
    pub fn clear(&mut self, universe: usize) {
        if self.mark.len() < universe {
            self.mark.resize(universe, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
        self.keys.clear();
    }

    pub fn insert(&mut self, key: usize) {
        if self.mark[key] != self.epoch {
            self.mark[key] = self.epoch;
            self.keys.push(key);
        }
    }

    pub fn contains(&self, key: usize) -> bool {
        self.mark.get(key) == Some(&self.epoch)
    }
}

/// Rotation: gives up the storage of a held block, encoded if `encode` (for a worker of another
/// process), else moved as is.
pub(crate) fn take_block<S>(held: &mut S, encode: bool) -> Result<RotatedBlock, ApError>
where
    S: serde::Serialize + Default + Send + 'static,
{
    let block = std::mem::take(held);
    Ok(if encode {
        RotatedBlock::Bytes(crate::error::encode(&block)?)
    } else {
        RotatedBlock::Moved(Box::new(block))
    })
}

/// Rotation: the storage of a block received, from [`take_block`] of the same container.
pub(crate) fn put_block<S: serde::de::DeserializeOwned + 'static>(
    data: RotatedBlock,
) -> Result<S, ApError> {
    match data {
        RotatedBlock::Bytes(bytes) => crate::error::decode(&bytes),
        RotatedBlock::Moved(value) => value
            .downcast::<S>()
            .map(|block| *block)
            .map_err(|_| ApError::Codec("a moved block is not of its container's type".into())),
    }
}
