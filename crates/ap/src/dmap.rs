//! [`DMap`]: a distributed `HashMap`, hash-partitioned over the workers, and [`MapView`], what a
//! loop body reads and writes.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_bytes::ByteBuf;
use strads_engine::{RotatedBlock, Worker};

use crate::delta::Delta;
use crate::error::{decode, encode, ApError};
use crate::param::{Access, ContainerInfo, ContainerKind, Element, Param};
use crate::view::{
    put_block, take_block, violation, Audit, DeltaRef, LoopView, Pending, StepDelta,
};

/// What a [`DMap`] key must be.
pub trait MapKey: Element + Hash + Eq + std::fmt::Debug {}
impl<K: Element + Hash + Eq + std::fmt::Debug> MapKey for K {}

/// The 64-bit code of a map key: a hash that is the same in every process of one build
/// (`DefaultHasher::new()` has fixed keys), so every worker agrees on where a key lives.
pub(crate) fn key_hash<K: Hash>(key: &K) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// A distributed map: key `k` lives on worker `hash(k) % workers`.
pub struct DMap<K, V> {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) worker: usize,
    pub(crate) workers: usize,
    pub(crate) local: HashMap<K, V>,
}

impl<K: MapKey, V> DMap<K, V> {
    /// The container's name in errors and printed strategies.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the container.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The entries this worker holds.
    pub fn local(&self) -> &HashMap<K, V> {
        &self.local
    }

    /// Inserts an entry from sequential code that runs on every worker: only the key's owner
    /// keeps it, so every worker may call this with the same entries.
    pub fn insert(&mut self, key: K, value: V) {
        if (key_hash(&key) % self.workers as u64) as usize == self.worker {
            self.local.insert(key, value);
        }
    }
}

/// A loop body's view of a [`DMap`].
pub struct MapView<K, V> {
    name: Arc<str>,
    map: HashMap<K, V>,
    /// Exclusive access: the hash class held now, of `classes`.
    class: Option<(u64, u64)>,
    replica: Option<Box<MapReplica<K, V>>>,
    audit: Option<Box<Audit>>,
}

struct MapReplica<K, V> {
    asynchronous: bool,
    committed: HashMap<K, V>,
    step: u32,
    /// Keys first written in this step, with their value before it (`None`: absent).
    before: HashMap<K, Option<V>>,
    pending: Pending<Vec<(K, V)>>,
}

impl<K: MapKey, V: Element + Delta + Default> MapView<K, V> {
    #[inline]
    fn check(&self, key: &K) {
        if self.audit.is_none() && self.class.is_none() {
            return;
        }
        let code = key_hash(key);
        if let Some(audit) = &self.audit {
            audit.access(code, &self.name, &|| format!("{key:?}"));
        }
        if let Some((class, classes)) = self.class {
            if code % classes != class {
                violation(
                    &self.name,
                    format!(
                        "key {key:?} is not held by this worker in this step; \
                         the loop's key function must name every key the body touches"
                    ),
                );
            }
        }
    }

    fn log_write(&mut self, key: &K) {
        if let Some(replica) = &mut self.replica {
            if !replica.before.contains_key(key) {
                replica
                    .before
                    .insert(key.clone(), self.map.get(key).cloned());
            }
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.check(key);
        self.map.get(key)
    }

    /// The value of `key`, mutably, if present.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.check(key);
        self.log_write(key);
        self.map.get_mut(key)
    }

    /// Inserts or replaces the value of `key`; returns the old one.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.check(&key);
        self.log_write(&key);
        self.map.insert(key, value)
    }

    /// The entry of `key`, as `HashMap::entry`.
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        self.check(&key);
        self.log_write(&key);
        self.map.entry(key)
    }

    /// The value of `key`, inserting `V::default()` if absent.
    pub fn get_or_default(&mut self, key: K) -> &mut V {
        self.entry(key).or_default()
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> bool {
        self.check(key);
        self.map.contains_key(key)
    }
}

impl<K: MapKey, V: Element + Delta + Default> LoopView for MapView<K, V> {
    fn begin_step(&mut self, step: u32) {
        if let Some(replica) = &mut self.replica {
            replica.step = step;
        }
    }

    fn step_delta(&mut self, _shared: bool) -> Result<StepDelta, ApError> {
        let Some(replica) = &mut self.replica else {
            return Ok(StepDelta::Bytes(Vec::new()));
        };
        let zero = V::default();
        let mut changes: Vec<(K, V)> = Vec::with_capacity(replica.before.len());
        for (key, before) in replica.before.drain() {
            if let Some(now) = self.map.get(&key) {
                changes.push((key, now.delta(before.as_ref().unwrap_or(&zero))));
            }
        }
        let bytes = encode(&changes)?;
        if !replica.asynchronous {
            replica.pending.push(replica.step, changes);
        }
        Ok(StepDelta::Bytes(bytes))
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
        let mut touched: HashSet<K> = HashSet::new();
        for (w, delta) in deltas.iter().enumerate() {
            let decoded;
            let changes: &[(K, V)] = if w == own {
                &mine
            } else {
                decoded = decode::<Vec<(K, V)>>(delta.bytes()?)?;
                &decoded
            };
            for (key, change) in changes {
                replica
                    .committed
                    .entry(key.clone())
                    .or_default()
                    .apply(change);
                touched.insert(key.clone());
            }
        }
        for key in &touched {
            self.map.insert(key.clone(), replica.committed[key].clone());
        }
        for later in replica.pending.later() {
            for (key, change) in later {
                if touched.contains(key) {
                    self.map.entry(key.clone()).or_default().apply(change);
                }
            }
        }
        Ok(())
    }

    fn apply_other(&mut self, delta: DeltaRef<'_>) -> Result<(), ApError> {
        for (key, change) in decode::<Vec<(K, V)>>(delta.bytes()?)? {
            self.map.entry(key).or_default().apply(&change);
        }
        Ok(())
    }

    fn take_block(&mut self, encode: bool) -> Result<RotatedBlock, ApError> {
        take_block(&mut self.map, encode)
    }

    fn put_block(&mut self, block: usize, data: RotatedBlock) -> Result<(), ApError> {
        self.map = put_block(data)?;
        if let Some((_, classes)) = self.class {
            self.class = Some((block as u64, classes));
        }
        Ok(())
    }

    fn set_allowed(&mut self, keys: Option<&[u64]>) {
        Audit::set_allowed(&mut self.audit, keys);
    }

    fn start_recording(&mut self) {
        Audit::start_recording(&mut self.audit);
    }

    fn take_recorded(&mut self) -> Vec<u64> {
        Audit::take_recorded(&mut self.audit)
    }

    fn discard_changes(&mut self) {
        if let Some(replica) = &mut self.replica {
            self.map.clone_from(&replica.committed);
            replica.before.clear();
        }
    }
}

impl<K: MapKey, V: Element + Delta + Default> Param for &mut DMap<K, V> {
    type Key = K;
    type View = MapView<K, V>;

    fn id(&self) -> u64 {
        self.id
    }

    fn info(&self) -> ContainerInfo {
        ContainerInfo {
            id: self.id,
            name: self.name.clone(),
            kind: ContainerKind::Map,
            local_bytes: bincode::serialized_size(&self.local).unwrap_or(u64::MAX),
        }
    }

    fn key_code(&self, key: &K) -> Result<u64, String> {
        Ok(key_hash(key))
    }

    fn open(&mut self, worker: &mut Worker<'_>, access: Access) -> Result<MapView<K, V>, ApError> {
        let name: Arc<str> = Arc::from(self.name.as_str());
        match access {
            Access::Exclusive => Ok(MapView {
                name,
                map: std::mem::take(&mut self.local),
                class: Some((self.worker as u64, self.workers as u64)),
                replica: None,
                audit: None,
            }),
            Access::Replica { asynchronous, .. } => {
                let parts = worker.all_gather(&ByteBuf::from(encode(&self.local)?))?;
                let mut map = HashMap::new();
                for part in parts {
                    map.extend(decode::<HashMap<K, V>>(&part)?);
                }
                self.local.clear();
                let committed = if asynchronous {
                    HashMap::new()
                } else {
                    map.clone()
                };
                Ok(MapView {
                    name,
                    map,
                    class: None,
                    replica: Some(Box::new(MapReplica {
                        asynchronous,
                        committed,
                        step: 0,
                        before: HashMap::new(),
                        pending: Pending::default(),
                    })),
                    audit: None,
                })
            }
        }
    }

    fn close(&mut self, _worker: &mut Worker<'_>, view: MapView<K, V>) -> Result<(), ApError> {
        let (worker, workers) = (self.worker as u64, self.workers as u64);
        self.local = if view.replica.is_some() {
            view.map
                .into_iter()
                .filter(|(k, _)| key_hash(k) % workers == worker)
                .collect()
        } else {
            view.map
        };
        Ok(())
    }

    fn repartition(&mut self, _worker: &mut Worker<'_>, _bounds: &[usize]) -> Result<(), ApError> {
        Ok(())
    }
}
