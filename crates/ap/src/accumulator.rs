//! [`Accumulator`]: a replicated value for global statistics that every iteration touches (LDA's
//! per-topic totals, a loss sum).
//!
//! The one documented relaxation of the AP model: inside a loop each worker reads the value as it
//! was at the start of the step plus its own writes in the step; at the step's end every worker's
//! change is merged ([`Delta`], a sum by default) in worker order, so all replicas agree again. A
//! `Serializable` loop's step is a rotation sub-round; a synchronous loop's is a mini-batch.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use strads_engine::{RotatedBlock, Worker};

use crate::delta::Delta;
use crate::error::{decode, encode, ApError};
use crate::param::{Access, ContainerInfo, ContainerKind, Element, Param};
use crate::view::{DeltaRef, LoopView, Pending, StepDelta};

/// A value replicated on every worker, merged by deltas at the end of every loop step.
pub struct Accumulator<T> {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) value: T,
}

impl<T> Accumulator<T> {
    /// The value (the same on every worker between loops).
    pub fn get(&self) -> &T {
        &self.value
    }

    /// Replaces the value. Sequential code runs on every worker, so every worker must set the
    /// same value, as it does when the value is computed from replicated state.
    pub fn set(&mut self, value: T) {
        self.value = value;
    }

    /// The container's name in errors and printed strategies.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the container.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

/// A loop body's view of an [`Accumulator`]: dereferences to the value.
pub struct AccView<T> {
    value: T,
    committed: T,
    before: Option<T>,
    step: u32,
    asynchronous: bool,
    pending: Pending<T>,
    _name: Arc<str>,
}

impl<T> Deref for AccView<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Clone> DerefMut for AccView<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        if self.before.is_none() {
            self.before = Some(self.value.clone());
        }
        &mut self.value
    }
}

impl<T: Element + Delta> LoopView for AccView<T> {
    fn begin_step(&mut self, step: u32) {
        self.step = step;
    }

    fn step_delta(&mut self, _shared: bool) -> Result<StepDelta, ApError> {
        // Always encoded: an accumulator's change is one small value.
        let change = self.before.take().map(|before| self.value.delta(&before));
        let bytes = encode(&change)?;
        if let (Some(change), false) = (change, self.asynchronous) {
            self.pending.push(self.step, change);
        }
        Ok(StepDelta::Bytes(bytes))
    }

    fn apply_step(
        &mut self,
        step: u32,
        deltas: &[DeltaRef<'_>],
        own: usize,
    ) -> Result<(), ApError> {
        let mine = self.pending.pop(step);
        let mut changed = false;
        for (w, delta) in deltas.iter().enumerate() {
            let change = if w == own {
                mine.clone()
            } else {
                decode::<Option<T>>(delta.bytes()?)?
            };
            if let Some(change) = change {
                self.committed.apply(&change);
                changed = true;
            }
        }
        if changed {
            self.value.clone_from(&self.committed);
            for later in self.pending.later() {
                self.value.apply(later);
            }
        }
        Ok(())
    }

    fn apply_other(&mut self, delta: DeltaRef<'_>) -> Result<(), ApError> {
        if let Some(change) = decode::<Option<T>>(delta.bytes()?)? {
            self.value.apply(&change);
        }
        Ok(())
    }

    fn take_block(&mut self, _encode: bool) -> Result<RotatedBlock, ApError> {
        Ok(RotatedBlock::Bytes(Vec::new()))
    }

    fn put_block(&mut self, _block: usize, _data: RotatedBlock) -> Result<(), ApError> {
        Ok(())
    }

    fn set_allowed(&mut self, _keys: Option<&[u64]>) {}

    fn start_recording(&mut self) {}

    fn take_recorded(&mut self) -> Vec<u64> {
        Vec::new()
    }

    fn discard_changes(&mut self) {
        self.value.clone_from(&self.committed);
        self.before = None;
    }
}

impl<T: Element + Delta> Param for &mut Accumulator<T> {
    type Key = ();
    type View = AccView<T>;

    fn id(&self) -> u64 {
        self.id
    }

    fn info(&self) -> ContainerInfo {
        ContainerInfo {
            id: self.id,
            name: self.name.clone(),
            kind: ContainerKind::Accumulator,
            local_bytes: bincode::serialized_size(&self.value).unwrap_or(u64::MAX),
        }
    }

    fn key_code(&self, _key: &()) -> Result<u64, String> {
        Ok(0)
    }

    fn open(&mut self, _worker: &mut Worker<'_>, access: Access) -> Result<AccView<T>, ApError> {
        Ok(AccView {
            committed: self.value.clone(),
            value: self.value.clone(),
            before: None,
            step: 0,
            asynchronous: matches!(
                access,
                Access::Replica {
                    asynchronous: true,
                    ..
                }
            ),
            pending: Pending::default(),
            _name: Arc::from(self.name.as_str()),
        })
    }

    fn close(&mut self, worker: &mut Worker<'_>, view: AccView<T>) -> Result<(), ApError> {
        self.value = if view.asynchronous {
            // Asynchronous merges apply in arrival order; worker 0's value is the result.
            let root = worker.index() == 0;
            let bytes = serde_bytes::ByteBuf::from(encode(&view.value)?);
            let chosen = worker.broadcast(0, root.then_some(&bytes))?;
            decode(&chosen)?
        } else {
            view.value
        };
        Ok(())
    }

    fn repartition(&mut self, _worker: &mut Worker<'_>, _bounds: &[usize]) -> Result<(), ApError> {
        Ok(())
    }
}
