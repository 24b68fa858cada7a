//! How the loop drivers see the containers a loop uses: [`Param`] for one container, [`ParamSet`]
//! for the tuple a loop takes, [`KeysOf`] for what a key function returns.

use serde::de::DeserializeOwned;
use serde::Serialize;
use strads_engine::Worker;

use crate::error::ApError;
use crate::keys::KeyList;
use crate::view::LoopView;

/// What a container's element must be: plain data that can cross workers. A `serde` derive is
/// all a user type needs (plus [`crate::Delta`] for parameters written by synchronous loops).
pub trait Element: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static> Element for T {}

/// How a loop holds a container's data on each worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// One block at a time, no other worker touching its keys (home block, or rotated in).
    Exclusive,
    /// A replica of the whole container; changes cross as deltas at step ends.
    Replica {
        /// Others' changes are added as they arrive instead of in step order.
        asynchronous: bool,
        /// A step may begin before the steps it follows are merged (`Ssp`): the view keeps the
        /// merged state apart from its own unmerged changes. Otherwise (`Bsp`, one inspected
        /// step) every step begins from the merged state, and the view's data is all it needs.
        stale: bool,
    },
}

/// What the runtime knows of a container.
#[derive(Clone, Debug)]
pub struct ContainerInfo {
    /// Same on every worker for the same container.
    pub id: u64,
    /// The container's name in errors and strategies.
    pub name: String,
    /// Its kind and partition.
    pub kind: ContainerKind,
    /// Encoded size of this worker's share, in bytes (the planner's cost of moving it).
    pub local_bytes: u64,
}

/// The three container kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    /// A [`crate::DVector`] of `len` elements, worker `w` holding `bounds[w]..bounds[w + 1]`.
    Vector {
        /// Number of elements.
        len: usize,
        /// Range boundaries, one more than there are workers.
        bounds: Vec<usize>,
    },
    /// A [`crate::DMap`]: key code `c` lives on worker `c % workers`.
    Map,
    /// An [`crate::Accumulator`]: replicated, no keys.
    Accumulator,
}

/// A container that a loop can take (implemented for `&mut DVector`, `&mut DMap`,
/// `&mut Accumulator`).
pub trait Param {
    /// The container's key type (`usize` for vectors, `()` for accumulators).
    type Key;
    /// What the body sees.
    type View: LoopView + 'static;
    /// Name, kind and partition.
    fn info(&self) -> ContainerInfo;
    /// The container's id, `info().id`, without measuring the container (a loop asks for it at
    /// every execution, to check that its plan still holds).
    fn id(&self) -> u64 {
        self.info().id
    }
    /// The 64-bit code of a key (vector index, map key hash); an error says why a key is invalid.
    fn key_code(&self, key: &Self::Key) -> Result<u64, String>;
    /// Asks the CPU to fetch `key`'s element into its caches, if `view` holds it (a hint for an
    /// iteration that runs soon; containers without cheap addressing do nothing).
    #[inline(always)]
    fn prefetch(view: &Self::View, key: &Self::Key) {
        let _ = (view, key);
    }
    /// Lends the container's storage to a view for one loop execution (collective).
    fn open(&mut self, worker: &mut Worker<'_>, access: Access) -> Result<Self::View, ApError>;
    /// Takes the storage back at the loop's end (collective).
    fn close(&mut self, worker: &mut Worker<'_>, view: Self::View) -> Result<(), ApError>;
    /// Moves elements so that worker `w` holds `bounds[w]..bounds[w + 1]` (vectors only;
    /// collective).
    fn repartition(&mut self, worker: &mut Worker<'_>, bounds: &[usize]) -> Result<(), ApError>;
}

/// The tuple of containers a loop takes, e.g. `(&mut w, &mut h)`.
pub trait ParamSet {
    /// The tuple of views the body receives, e.g. `(VecView<_>, VecView<_>)`.
    type Views;
    /// Number of containers.
    const LEN: usize;
    /// Every container's description, in tuple order.
    fn infos(&self) -> Vec<ContainerInfo>;
    /// Every container's id, in tuple order.
    fn ids(&self) -> Vec<u64> {
        self.infos().iter().map(|i| i.id).collect()
    }
    /// Opens every container with its access.
    fn open_all(
        &mut self,
        worker: &mut Worker<'_>,
        access: &[Access],
    ) -> Result<Self::Views, ApError>;
    /// Closes every container.
    fn close_all(&mut self, worker: &mut Worker<'_>, views: Self::Views) -> Result<(), ApError>;
    /// The views as trait objects, in tuple order.
    fn dyn_views(views: &mut Self::Views) -> Vec<&mut dyn LoopView>;
    /// Repartitions container `index`.
    fn repartition(
        &mut self,
        index: usize,
        worker: &mut Worker<'_>,
        bounds: &[usize],
    ) -> Result<(), ApError>;
}

/// What a key function returns for a loop over containers `P`: one [`KeyList`] per container.
pub trait KeysOf<P: ParamSet> {
    /// Appends the key codes per container to `out[c]`; on an invalid key, the container's index
    /// and the reason.
    fn codes(&self, params: &P, out: &mut [Vec<u64>]) -> Result<(), (usize, String)>;
    /// Prefetches every key's element the views hold ([`Param::prefetch`]).
    fn prefetch(&self, views: &P::Views);
}

macro_rules! param_tuple {
    ($len:expr; $($p:ident $k:ident $i:tt),+) => {
        impl<$($p: Param),+> ParamSet for ($($p,)+) {
            type Views = ($($p::View,)+);
            const LEN: usize = $len;
            fn infos(&self) -> Vec<ContainerInfo> {
                vec![$(self.$i.info()),+]
            }
            fn ids(&self) -> Vec<u64> {
                vec![$(self.$i.id()),+]
            }
            fn open_all(
                &mut self,
                worker: &mut Worker<'_>,
                access: &[Access],
            ) -> Result<Self::Views, ApError> {
                Ok(($(self.$i.open(worker, access[$i])?,)+))
            }
            fn close_all(
                &mut self,
                worker: &mut Worker<'_>,
                views: Self::Views,
            ) -> Result<(), ApError> {
                $(self.$i.close(worker, views.$i)?;)+
                Ok(())
            }
            fn dyn_views(views: &mut Self::Views) -> Vec<&mut dyn LoopView> {
                vec![$(&mut views.$i as &mut dyn LoopView),+]
            }
            fn repartition(
                &mut self,
                index: usize,
                worker: &mut Worker<'_>,
                bounds: &[usize],
            ) -> Result<(), ApError> {
                match index {
                    $($i => self.$i.repartition(worker, bounds),)+
                    _ => Err(ApError::Usage(format!("no container {index} in this loop"))),
                }
            }
        }

        impl<$($p: Param,)+ $($k: KeyList<$p::Key>,)+> KeysOf<($($p,)+)> for ($($k,)+) {
            fn codes(
                &self,
                params: &($($p,)+),
                out: &mut [Vec<u64>],
            ) -> Result<(), (usize, String)> {
                $(
                    let mut failure = None;
                    self.$i.for_each_key(&mut |key| {
                        if failure.is_none() {
                            match params.$i.key_code(key) {
                                Ok(code) => out[$i].push(code),
                                Err(message) => failure = Some(message),
                            }
                        }
                    });
                    if let Some(message) = failure {
                        return Err(($i, message));
                    }
                )+
                Ok(())
            }

            #[inline(always)]
            fn prefetch(&self, views: &($($p::View,)+)) {
                $(self.$i.for_each_key(&mut |key| $p::prefetch(&views.$i, key));)+
            }
        }
    };
}

param_tuple!(1; A KA 0);
param_tuple!(2; A KA 0, B KB 1);
param_tuple!(3; A KA 0, B KB 1, C KC 2);
param_tuple!(4; A KA 0, B KB 1, C KC 2, D KD 3);
