//! [`DVector`]: a distributed `Vec`, range-partitioned over the workers, and [`VecView`], what a
//! loop body indexes.

use crate::prefetch::prefetch_value;
use std::collections::VecDeque;
use std::ops::{Index, IndexMut, Range};
use std::sync::Arc;

use serde_bytes::ByteBuf;
use strads_engine::{RotatedBlock, Worker};

use crate::delta::Delta;
use crate::error::{decode, encode, ApError};
use crate::param::{Access, ContainerInfo, ContainerKind, Element, Param};
use crate::view::{
    put_block, take_block, violation, Audit, DeltaRef, LoopView, Pending, StepDelta, TouchedSet,
};

/// A distributed vector: `len` elements, worker `w` holding the range `bounds[w]..bounds[w + 1]`.
///
/// Made by [`crate::Ap::dvector`] and its siblings. As a loop's *parameters* it is indexed by
/// global index inside the body (through a [`VecView`]); as a loop's *data* each element is one
/// iteration, and a `Serializable` loop may move elements to the worker that runs them (each
/// keeps its global index, which [`crate::Ap::gather`] uses to restore the order).
pub struct DVector<T> {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) len: usize,
    pub(crate) worker: usize,
    pub(crate) bounds: Vec<usize>,
    pub(crate) local: Vec<T>,
    /// Global index of each local element once a loop has placed elements away from their home
    /// range; `None` while the local elements are exactly the home range.
    pub(crate) origin: Option<Origin>,
    /// Which loop plan arranged the elements (0: none), so a plan knows its arrangement holds.
    pub(crate) arrangement: u64,
}

impl<T> DVector<T> {
    /// Number of elements in the whole vector.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vector has no elements at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The container's name in errors and printed strategies.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the container (the default is `vector<id>`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The elements this worker holds, for per-worker work between loops (sums, output).
    pub fn local(&self) -> &[T] {
        &self.local
    }

    /// The elements this worker holds, mutably.
    pub fn local_mut(&mut self) -> &mut [T] {
        &mut self.local
    }

    /// The elements this worker holds, taken out of the vector (to build another, e.g. with
    /// [`crate::Ap::dvector_from_parts`]).
    pub fn into_local(self) -> Vec<T> {
        self.local
    }

    /// The global indices of [`DVector::local`], in the same order.
    pub fn local_indices(&self) -> Vec<u64> {
        match &self.origin {
            Some(origin) => (0..origin.len()).map(|n| origin.get(n)).collect(),
            None => {
                (self.bounds[self.worker] as u64..self.bounds[self.worker + 1] as u64).collect()
            }
        }
    }

    /// The global index of local element `n` (of [`DVector::local`]).
    pub(crate) fn global_index(&self, n: usize) -> u64 {
        global_index(self.origin.as_ref(), self.bounds[self.worker], n)
    }

    /// The home range of worker `w`.
    pub fn range_of(&self, w: usize) -> Range<usize> {
        self.bounds[w]..self.bounds[w + 1]
    }

    fn check_home(&self, what: &str) -> Result<(), ApError> {
        if self.origin.is_some() {
            return Err(ApError::Usage(format!(
                "`{}` was arranged as a loop's data, so it cannot be {what}",
                self.name
            )));
        }
        Ok(())
    }
}

impl<T: Element> DVector<T> {
    /// Moves elements so that worker `w` holds `bounds[w]..bounds[w + 1]` (collective).
    pub(crate) fn move_to(
        &mut self,
        worker: &mut Worker<'_>,
        bounds: &[usize],
    ) -> Result<(), ApError> {
        self.check_home("repartitioned")?;
        if bounds == self.bounds.as_slice() {
            return Ok(());
        }
        let here = self.range_of(self.worker);
        let mut local = std::mem::take(&mut self.local);
        let mut outgoing = Vec::with_capacity(bounds.len() - 1);
        // Walk destinations from the last so that `split_off` peels the tail each time.
        let mut parts: Vec<Vec<T>> = Vec::with_capacity(bounds.len() - 1);
        for w in (0..bounds.len() - 1).rev() {
            let start = bounds[w].clamp(here.start, here.end) - here.start;
            parts.push(local.split_off(start.min(local.len())));
        }
        parts.reverse();
        for part in &parts {
            outgoing.push(encode(part)?);
        }
        drop(parts);
        let incoming = worker.all_to_all_bytes(outgoing);
        let mut mine = Vec::with_capacity(bounds[self.worker + 1] - bounds[self.worker]);
        for bytes in incoming {
            let part: Vec<T> = decode(&bytes)?;
            mine.extend(part);
        }
        self.local = mine;
        self.bounds = bounds.to_vec();
        Ok(())
    }
}

/// The global index of local element `n` of a vector whose elements came from a loop's
/// arrangement (`origin`) or are its home range from `home_start`.
pub(crate) fn global_index(origin: Option<&Origin>, home_start: usize, n: usize) -> u64 {
    match origin {
        Some(origin) => origin.get(n),
        None => (home_start + n) as u64,
    }
}

/// The indices removed by [`Origin::split_tail`].
pub(crate) enum OriginTail<'a> {
    Narrow(std::vec::Drain<'a, u32>),
    Wide(std::vec::Drain<'a, u64>),
}

impl OriginTail<'_> {
    /// The next `n` indices.
    pub fn take(&mut self, n: usize) -> Origin {
        match self {
            OriginTail::Narrow(d) => Origin::Narrow(d.by_ref().take(n).collect()),
            OriginTail::Wide(d) => Origin::Wide(d.by_ref().take(n).collect()),
        }
    }
}

/// Global indices of elements away from their home range: 4 bytes each when the vector's length
/// allows (a loop's arranged data keeps one per element for as long as it lives).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum Origin {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Origin {
    /// Room for `capacity` indices of a vector of `len` elements.
    pub fn with_capacity(len: usize, capacity: usize) -> Origin {
        if u32::try_from(len).is_ok() {
            Origin::Narrow(Vec::with_capacity(capacity))
        } else {
            Origin::Wide(Vec::with_capacity(capacity))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Origin::Narrow(v) => v.len(),
            Origin::Wide(v) => v.len(),
        }
    }

    pub fn get(&self, n: usize) -> u64 {
        match self {
            Origin::Narrow(v) => u64::from(v[n]),
            Origin::Wide(v) => v[n],
        }
    }

    /// Appends `index`, which is below the vector's length.
    pub fn push(&mut self, index: u64) {
        match self {
            Origin::Narrow(v) => v.push(index as u32),
            Origin::Wide(v) => v.push(index),
        }
    }

    pub fn swap(&mut self, a: usize, b: usize) {
        match self {
            Origin::Narrow(v) => v.swap(a, b),
            Origin::Wide(v) => v.swap(a, b),
        }
    }

    /// The indices in the order `from` gives: position `n` takes the index at `from[n]`.
    pub fn gathered(&self, from: &[u32]) -> Origin {
        match self {
            Origin::Narrow(v) => Origin::Narrow(from.iter().map(|&f| v[f as usize]).collect()),
            Origin::Wide(v) => Origin::Wide(from.iter().map(|&f| v[f as usize]).collect()),
        }
    }

    /// Removes the indices from `at` on, to take in turn ([`OriginTail::take`]).
    pub fn split_tail(&mut self, at: usize) -> OriginTail<'_> {
        match self {
            Origin::Narrow(v) => OriginTail::Narrow(v.drain(at..)),
            Origin::Wide(v) => OriginTail::Wide(v.drain(at..)),
        }
    }

    /// Appends `other`'s indices, freeing it.
    pub fn append(&mut self, other: Origin) -> Result<(), ApError> {
        match (self, other) {
            (Origin::Narrow(v), Origin::Narrow(o)) => v.extend(o),
            (Origin::Wide(v), Origin::Wide(o)) => v.extend(o),
            _ => return Err(ApError::Codec("global indices of another width".into())),
        }
        Ok(())
    }
}

/// A loop body's view of a [`DVector`]: index it by global index, like the `Vec` it replaces.
///
/// Indexing a key the worker does not hold in the current step (or, in debug mode, a key outside
/// the iteration's recorded keys) stops the loop with an error naming the container and the key.
pub struct VecView<T> {
    name: Arc<str>,
    /// Global index of `data[0]`.
    start: usize,
    data: Vec<T>,
    bounds: Arc<[usize]>,
    replica: Option<Box<VecReplica<T>>>,
    audit: Option<Box<Audit>>,
    /// `replica` or `audit` is set: an access needs more than the range check. One flag, so
    /// that the common access (an exclusive view, no debug check) is a subtraction and a
    /// comparison, inlined into the body.
    slow: bool,
}

/// A replica's bookkeeping (see [`crate::view`]).
struct VecReplica<T> {
    asynchronous: bool,
    /// Steps may begin before the previous ones are merged (see [`Access::Replica`]).
    stale: bool,
    /// Every merged step applied; kept only for stale synchronous loops (without staleness the
    /// view's data is the merged state whenever a step begins).
    committed: Vec<T>,
    /// The step in which each element was last first-written (0: never).
    stamp: Vec<u32>,
    step: u32,
    /// Elements first written in this step, with their value before it.
    before: Vec<(usize, T)>,
    /// Values whose storage the next first writes reuse (this worker's merged changes): saving
    /// a `Vec` element then copies without allocating.
    spare: Vec<T>,
    /// This worker's changes of the steps not merged yet (shared with the workers of this
    /// process that read them).
    pending: Pending<Arc<Vec<(u64, T)>>>,
    /// Merged changes that workers of this process may still be reading, oldest first; their
    /// storage goes to `spare` once no one else holds them.
    retired: VecDeque<Arc<Vec<(u64, T)>>>,
    touched: TouchedSet,
}

impl<T> VecReplica<T> {
    /// Synchronous without staleness: no `committed` copy, merges apply to the data itself.
    fn merges_from_data(&self) -> bool {
        !self.asynchronous && !self.stale
    }
}

impl<T> VecView<T> {
    /// The global index range this view holds now.
    pub fn held(&self) -> Range<usize> {
        self.start..self.start + self.data.len()
    }

    /// Position of key `i` in `data`, or the access violation that stops the loop.
    #[inline]
    fn position(&self, i: usize) -> usize {
        let at = i.wrapping_sub(self.start);
        if at >= self.data.len() {
            self.not_held(i);
        }
        at
    }

    #[cold]
    #[inline(never)]
    fn not_held(&self, i: usize) -> ! {
        violation(
            &self.name,
            format!(
                "key {i} is not held by this worker in this step (it holds {:?}); \
                 the loop's key function must name every key the body touches",
                self.held()
            ),
        )
    }

    /// Debug mode: stops the loop if `i` is not among the iteration's recorded keys;
    /// inspection: records `i`.
    #[inline(never)]
    fn check_allowed(&self, i: usize) {
        if let Some(audit) = &self.audit {
            audit.access(i as u64, &self.name, &|| i.to_string());
        }
    }
}

impl<T: Clone> VecView<T> {
    /// The slow part of a write: the debug check, and a replica's first write in a step saving
    /// the element's value before it.
    #[inline(never)]
    fn before_write(&mut self, i: usize) {
        if self.audit.is_some() {
            self.check_allowed(i);
        }
        let at = self.position(i);
        if let Some(replica) = &mut self.replica {
            if replica.stamp[at] != replica.step {
                replica.stamp[at] = replica.step;
                let saved = match replica.spare.pop() {
                    Some(mut spare) => {
                        spare.clone_from(&self.data[at]);
                        spare
                    }
                    None => self.data[at].clone(),
                };
                replica.before.push((at, saved));
            }
        }
    }
}

impl<T> Index<usize> for VecView<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        if self.audit.is_some() {
            self.check_allowed(i);
        }
        let at = self.position(i);
        &self.data[at]
    }
}

impl<T: Clone> IndexMut<usize> for VecView<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        if self.slow {
            self.before_write(i);
        }
        let at = self.position(i);
        &mut self.data[at]
    }
}

impl<T: Element + Delta> LoopView for VecView<T> {
    fn begin_step(&mut self, step: u32) {
        if let Some(replica) = &mut self.replica {
            replica.step = step;
        }
    }

    fn step_delta(&mut self, shared: bool) -> Result<StepDelta, ApError> {
        let Some(replica) = &mut self.replica else {
            return Ok(StepDelta::Bytes(Vec::new()));
        };
        let changes: Vec<(u64, T)> = if replica.merges_from_data() {
            // The element goes back to its value before the step (the merged state), and the
            // written value becomes the change, in place: merging then only applies changes.
            replica
                .before
                .drain(..)
                .map(|(at, mut written)| {
                    std::mem::swap(&mut self.data[at], &mut written);
                    written.delta_from(&self.data[at]);
                    (at as u64, written)
                })
                .collect()
        } else {
            replica
                .before
                .drain(..)
                .map(|(at, mut before)| {
                    self.data[at].delta_into(&mut before);
                    (at as u64, before)
                })
                .collect()
        };
        let changes = Arc::new(changes);
        let delta = if shared {
            StepDelta::Shared(changes.clone())
        } else {
            StepDelta::Bytes(encode(&*changes)?)
        };
        if !replica.asynchronous {
            replica.pending.push(replica.step, changes);
        } else if let Ok(changes) = Arc::try_unwrap(changes) {
            replica
                .spare
                .extend(changes.into_iter().map(|(_, change)| change));
        }
        Ok(delta)
    }

    fn apply_step(
        &mut self,
        step: u32,
        deltas: &[DeltaRef<'_>],
        own: usize,
    ) -> Result<(), ApError> {
        let Some(replica) = &mut self.replica else {
            return Ok(());
        };
        let mine = replica.pending.pop(step).unwrap_or_default();
        let from_data = replica.merges_from_data();
        // Without staleness the data is the merged state of the steps before (`step_delta` put
        // this worker's written elements back): the step's changes apply to it directly.
        let merged = if from_data {
            &mut self.data
        } else {
            replica.touched.clear(self.data.len());
            &mut replica.committed
        };
        for (w, delta) in deltas.iter().enumerate() {
            let received;
            let changes: &[(u64, T)] = if w == own {
                &mine
            } else {
                received = delta.read::<Vec<(u64, T)>>()?;
                &received
            };
            for (key, change) in changes {
                let at = *key as usize;
                merged[at].apply(change);
                if !from_data {
                    replica.touched.insert(at);
                }
            }
        }
        if !from_data {
            for &at in &replica.touched.keys {
                self.data[at].clone_from(&replica.committed[at]);
            }
        }
        replica.retired.push_back(mine);
        while let Some(oldest) = replica.retired.pop_front() {
            match Arc::try_unwrap(oldest) {
                Ok(changes) => replica
                    .spare
                    .extend(changes.into_iter().map(|(_, change)| change)),
                Err(still_read) => {
                    replica.retired.push_front(still_read);
                    break;
                }
            }
        }
        debug_assert!(!from_data || replica.pending.later().next().is_none());
        for later in replica.pending.later() {
            for (key, change) in later.iter() {
                let at = *key as usize;
                if replica.touched.contains(at) {
                    self.data[at].apply(change);
                }
            }
        }
        Ok(())
    }

    fn apply_other(&mut self, delta: DeltaRef<'_>) -> Result<(), ApError> {
        for (key, change) in delta.read::<Vec<(u64, T)>>()?.iter() {
            self.data[*key as usize].apply(change);
        }
        Ok(())
    }

    fn take_block(&mut self, encode: bool) -> Result<RotatedBlock, ApError> {
        take_block(&mut self.data, encode)
    }

    fn put_block(&mut self, block: usize, data: RotatedBlock) -> Result<(), ApError> {
        self.data = put_block(data)?;
        self.start = self.bounds[block];
        Ok(())
    }

    fn set_allowed(&mut self, keys: Option<&[u64]>) {
        Audit::set_allowed(&mut self.audit, keys);
        self.slow = self.replica.is_some() || self.audit.is_some();
    }

    fn start_recording(&mut self) {
        Audit::start_recording(&mut self.audit);
        self.slow = true;
    }

    fn take_recorded(&mut self) -> Vec<u64> {
        Audit::take_recorded(&mut self.audit)
    }

    fn discard_changes(&mut self) {
        if let Some(replica) = &mut self.replica {
            if replica.merges_from_data() {
                // Every write is of the current step: its saved values are the merged state.
                for (at, before) in replica.before.drain(..) {
                    self.data[at] = before;
                }
            } else {
                self.data.clone_from(&replica.committed);
                replica.before.clear();
            }
        }
    }
}

impl<T: Element + Delta> Param for &mut DVector<T> {
    type Key = usize;
    type View = VecView<T>;

    #[inline(always)]
    fn prefetch(view: &VecView<T>, key: &usize) {
        if let Some(element) = view.data.get(key.wrapping_sub(view.start)) {
            prefetch_value(element);
        }
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn info(&self) -> ContainerInfo {
        ContainerInfo {
            id: self.id,
            name: self.name.clone(),
            kind: ContainerKind::Vector {
                len: self.len,
                bounds: self.bounds.clone(),
            },
            local_bytes: bincode::serialized_size(&self.local).unwrap_or(u64::MAX),
        }
    }

    fn key_code(&self, key: &usize) -> Result<u64, String> {
        if *key < self.len {
            Ok(*key as u64)
        } else {
            Err(format!(
                "key {key} is out of range for `{}` of length {}",
                self.name, self.len
            ))
        }
    }

    fn open(&mut self, worker: &mut Worker<'_>, access: Access) -> Result<VecView<T>, ApError> {
        self.check_home("a loop's parameter")?;
        let name: Arc<str> = Arc::from(self.name.as_str());
        let bounds: Arc<[usize]> = Arc::from(self.bounds.as_slice());
        match access {
            Access::Exclusive => Ok(VecView {
                name,
                start: self.bounds[self.worker],
                data: std::mem::take(&mut self.local),
                bounds,
                replica: None,
                audit: None,
                slow: false,
            }),
            Access::Replica {
                asynchronous,
                stale,
            } => {
                let parts = worker.all_gather(&ByteBuf::from(encode(&self.local)?))?;
                let mut data = Vec::with_capacity(self.len);
                for part in parts {
                    data.extend(decode::<Vec<T>>(&part)?);
                }
                self.local.clear();
                let committed = if stale && !asynchronous {
                    data.clone()
                } else {
                    Vec::new()
                };
                Ok(VecView {
                    name,
                    start: 0,
                    bounds,
                    replica: Some(Box::new(VecReplica {
                        asynchronous,
                        stale,
                        committed,
                        stamp: vec![0; data.len()],
                        step: 0,
                        before: Vec::new(),
                        spare: Vec::new(),
                        retired: VecDeque::new(),
                        pending: Pending::default(),
                        touched: TouchedSet::default(),
                    })),
                    data,
                    audit: None,
                    slow: true,
                })
            }
        }
    }

    fn close(&mut self, _worker: &mut Worker<'_>, view: VecView<T>) -> Result<(), ApError> {
        let home = self.range_of(self.worker);
        if view.replica.is_some() {
            // Every replica is merged; the home range of this worker's copy is authoritative.
            let mut data = view.data;
            data.truncate(home.end);
            self.local = data.split_off(home.start);
        } else {
            debug_assert_eq!(view.start, home.start, "a rotated block did not come home");
            self.local = view.data;
        }
        Ok(())
    }

    fn repartition(&mut self, worker: &mut Worker<'_>, bounds: &[usize]) -> Result<(), ApError> {
        self.move_to(worker, bounds)
    }
}
