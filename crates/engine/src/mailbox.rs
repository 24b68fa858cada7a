//! The per-worker handle: point-to-point messages between workers, and collectives built on them.
//!
//! Underneath is one tiny timely dataflow per worker: an input whose records are envelopes
//! `(destination, source, tag, bytes)`, exchanged on the destination into a sink that appends
//! them to this worker's inbox. Every send is flushed by advancing the input's epoch, which is
//! what makes timely's exchange channels push their buffers. Completion is decided by counting
//! messages in the inbox, never by waiting on frontiers (measured on timely 0.32: counting is
//! about 5x cheaper).
//!
//! Messages between the same two workers may arrive in any order relative to other tags; callers
//! match on tags, so no ordering is assumed.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Input;
use timely::dataflow::InputHandle;

use crate::error::EngineError;

/// One message on the wire: destination worker, source worker, tag, encoded payload.
type Envelope = (u32, u32, u64, serde_bytes::ByteBuf);
type EnvelopeInput = InputHandle<u64, CapacityContainerBuilder<Vec<Envelope>>>;

/// Tags at or above this value belong to collectives; programs use smaller tags.
const COLLECTIVE_TAGS: u64 = 1 << 62;

/// Values the workers of one process hand to each other without encoding them
/// ([`Worker::rotate_block`]), keyed by destination worker and rotation number.
pub(crate) struct ProcessShared {
    /// Workers per process: worker `i` runs in process `i / workers_per_process`.
    workers_per_process: usize,
    handoffs: Mutex<HashMap<(usize, u64), Box<dyn Any + Send>>>,
    /// [`Worker::send_parcel`]'s values, keyed by destination, source and tag.
    parcels: Mutex<HashMap<ParcelKey, Box<dyn Any + Send>>>,
}

/// A parcel's destination worker, source worker and tag.
type ParcelKey = (usize, usize, u64);

impl ProcessShared {
    pub(crate) fn new(workers_per_process: usize) -> Arc<Self> {
        Arc::new(ProcessShared {
            workers_per_process: workers_per_process.max(1),
            handoffs: Mutex::default(),
            parcels: Mutex::default(),
        })
    }
}

/// A block passed on by [`Worker::rotate_block`]: its bytes, or, to a worker of the same
/// process, the block itself, moved without encoding.
pub enum RotatedBlock {
    /// Encoded: crosses processes.
    Bytes(Vec<u8>),
    /// The value itself: only to a worker of this process.
    Moved(Box<dyn Any + Send>),
}

/// A worker's view of the cluster: its index, the number of peers, messages and collectives.
pub struct Worker<'w> {
    timely: &'w mut timely::worker::Worker,
    input: Option<EnvelopeInput>,
    inbox: Rc<RefCell<VecDeque<Envelope>>>,
    /// Messages taken out of the inbox but not yet asked for, by tag.
    stash: HashMap<u64, Vec<(usize, Vec<u8>)>>,
    outgoing: Vec<Envelope>,
    next_collective: u64,
    shared: Arc<ProcessShared>,
    /// Calls of [`Worker::rotate_block`] so far (the same on every worker: it is collective).
    block_rotations: u64,
}

impl<'w> Worker<'w> {
    pub(crate) fn new(timely: &'w mut timely::worker::Worker, shared: Arc<ProcessShared>) -> Self {
        let inbox: Rc<RefCell<VecDeque<Envelope>>> = Rc::default();
        let mut input = EnvelopeInput::new();
        let sink_inbox = Rc::clone(&inbox);
        timely.dataflow::<u64, _, _>(|scope| {
            scope.input_from(&mut input).sink(
                Exchange::new(|envelope: &Envelope| u64::from(envelope.0)),
                "Inbox",
                move |(input, _frontier)| {
                    input.for_each(|_time, data| sink_inbox.borrow_mut().extend(data.drain(..)));
                },
            );
        });
        Worker {
            timely,
            input: Some(input),
            inbox,
            stash: HashMap::new(),
            outgoing: Vec::new(),
            next_collective: COLLECTIVE_TAGS,
            shared,
            block_rotations: 0,
        }
    }

    /// Whether worker `other` runs in this process (so values can move to it unencoded).
    pub fn shares_process_with(&self, other: usize) -> bool {
        let per_process = self.shared.workers_per_process;
        self.index() / per_process == other / per_process
    }

    /// Worker threads per process: worker `i` runs in process `i / workers_per_process()`.
    pub fn workers_per_process(&self) -> usize {
        self.shared.workers_per_process
    }

    /// The worker the rotation passes this worker's block to: `index - 1` (mod peers).
    pub fn rotation_successor(&self) -> usize {
        (self.index() + self.peers() - 1) % self.peers()
    }

    /// Global index of this worker, in `0..peers()`; worker 0 is the leader.
    pub fn index(&self) -> usize {
        self.timely.index()
    }

    /// Number of workers in the cluster.
    pub fn peers(&self) -> usize {
        self.timely.peers()
    }

    /// Whether this is worker 0, which runs schedulers and writes outputs.
    pub fn is_leader(&self) -> bool {
        self.index() == 0
    }

    /// Queues `message` for worker `destination` under `tag` (below 2^62). Call [`Worker::flush`]
    /// to send what is queued.
    pub fn send<T: Serialize>(
        &mut self,
        destination: usize,
        tag: u64,
        message: &T,
    ) -> Result<(), EngineError> {
        debug_assert!(
            tag < COLLECTIVE_TAGS,
            "tags at or above 2^62 are reserved for collectives"
        );
        self.send_raw(destination, tag, encode(message)?);
        Ok(())
    }

    /// Queues already encoded bytes for `destination` under `tag` (below 2^62): they arrive
    /// as they are ([`Worker::take`]), without a second encoding around them.
    pub fn send_bytes(&mut self, destination: usize, tag: u64, bytes: Vec<u8>) {
        self.send_raw(destination, tag, bytes);
    }

    fn send_raw(&mut self, destination: usize, tag: u64, bytes: Vec<u8>) {
        if destination != self.index() {
            BYTES_SENT.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        self.outgoing.push((
            destination as u32,
            self.index() as u32,
            tag,
            serde_bytes::ByteBuf::from(bytes),
        ));
    }

    /// Hands `value` to worker `destination`, which must run in this process, under `tag`
    /// (below 2^62), without encoding it: an empty message under `tag` tells the destination
    /// that it is there, to take with [`Worker::take_parcel`]. Not counted in
    /// [`bytes_sent`]: nothing crosses a network.
    pub fn send_parcel(&mut self, destination: usize, tag: u64, value: Box<dyn Any + Send>) {
        assert!(
            self.shares_process_with(destination),
            "a parcel can only go to a worker of the same process"
        );
        let key = (destination, self.index(), tag);
        self.shared
            .parcels
            .lock()
            .expect("parcels lock")
            .insert(key, value);
        // Queued after the parcel is stored: once the message has arrived, the parcel is there.
        self.send_raw(destination, tag, Vec::new());
    }

    /// The parcel worker `source` sent this worker under `tag`, once its message has arrived
    /// ([`Worker::take`]); `None` if there is none.
    pub fn take_parcel(&mut self, source: usize, tag: u64) -> Option<Box<dyn Any + Send>> {
        let key = (self.index(), source, tag);
        self.shared
            .parcels
            .lock()
            .expect("parcels lock")
            .remove(&key)
    }

    /// Sends everything queued so far.
    pub fn flush(&mut self) {
        if self.outgoing.is_empty() {
            return;
        }
        let input = self.input.as_mut().expect("worker used after close");
        input.send_batch(&mut self.outgoing);
        self.outgoing.clear();
        let next = *input.time() + 1;
        input.advance_to(next);
    }

    /// Takes every message that has arrived under `tag`, as `(source, bytes)`, without waiting.
    pub fn take(&mut self, tag: u64) -> Vec<(usize, Vec<u8>)> {
        self.sort_inbox();
        self.stash.remove(&tag).unwrap_or_default()
    }

    /// Lets timely move messages; blocks until something happens if `block` is true.
    pub fn step(&mut self, block: bool) {
        self.flush();
        if block {
            self.timely.step_or_park(None);
        } else {
            self.timely.step();
        }
    }

    fn sort_inbox(&mut self) {
        let mut inbox = self.inbox.borrow_mut();
        for (_, source, tag, bytes) in inbox.drain(..) {
            self.stash
                .entry(tag)
                .or_default()
                .push((source as usize, bytes.into_vec()));
        }
    }

    /// Waits until `count` messages have arrived under `tag` and returns them ordered by source.
    fn wait_for(&mut self, tag: u64, count: usize) -> Vec<(usize, Vec<u8>)> {
        self.flush();
        loop {
            self.sort_inbox();
            if self.stash.get(&tag).map_or(0, Vec::len) >= count {
                let mut messages = self.stash.remove(&tag).unwrap();
                messages.sort_by_key(|(source, _)| *source);
                return messages;
            }
            self.timely.step_or_park(None);
        }
    }

    fn collective_tag(&mut self) -> u64 {
        let tag = self.next_collective;
        self.next_collective += 1;
        tag
    }

    /// Every worker contributes `value`; every worker receives all values in worker order.
    pub fn all_gather<T: Serialize + DeserializeOwned>(
        &mut self,
        value: &T,
    ) -> Result<Vec<T>, EngineError> {
        let tag = self.collective_tag();
        let bytes = encode(value)?;
        for destination in 0..self.peers() {
            self.send_raw(destination, tag, bytes.clone());
        }
        let peers = self.peers();
        self.wait_for(tag, peers)
            .iter()
            .map(|(_, bytes)| decode(bytes))
            .collect()
    }

    /// [`Worker::all_gather`] without copies between threads of one process: every worker of
    /// this process receives the same `Arc` of `value`, and only workers of other processes
    /// receive it encoded (once). For large shares that every round gathers (a dense change of
    /// the rows, say), where encoding, decoding and copying cost as much as a pass over them.
    pub fn all_gather_shared<T>(&mut self, value: T) -> Result<Vec<Arc<T>>, EngineError>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let tag = self.collective_tag();
        let peers = self.peers();
        let value = Arc::new(value);
        let remote = (0..peers).any(|d| !self.shares_process_with(d));
        let bytes = if remote { encode(&*value)? } else { Vec::new() };
        for destination in 0..peers {
            if self.shares_process_with(destination) {
                self.send_parcel(destination, tag, Box::new(Arc::clone(&value)));
            } else {
                self.send_raw(destination, tag, bytes.clone());
            }
        }
        self.wait_for(tag, peers)
            .into_iter()
            .map(|(source, bytes)| {
                if self.shares_process_with(source) {
                    self.take_parcel(source, tag)
                        .and_then(|parcel| parcel.downcast::<Arc<T>>().ok())
                        .map(|shared| *shared)
                        .ok_or_else(|| {
                            EngineError::Codec(format!("no shared value of worker {source}"))
                        })
                } else {
                    decode(&bytes).map(Arc::new)
                }
            })
            .collect()
    }

    /// Worker `root` supplies `value` (others pass `None`); every worker receives it.
    pub fn broadcast<T: Serialize + DeserializeOwned>(
        &mut self,
        root: usize,
        value: Option<&T>,
    ) -> Result<T, EngineError> {
        let tag = self.collective_tag();
        if self.index() == root {
            let value = value
                .ok_or_else(|| EngineError::Codec("broadcast root supplied no value".into()))?;
            let bytes = encode(value)?;
            for destination in 0..self.peers() {
                self.send_raw(destination, tag, bytes.clone());
            }
        }
        let message = self.wait_for(tag, 1);
        decode(&message[0].1)
    }

    /// Worker `w` sends `outgoing[d]` to worker `d`; returns what every worker sent to this one,
    /// in source order. `outgoing` must have one entry per worker.
    pub fn all_to_all<T: Serialize + DeserializeOwned>(
        &mut self,
        outgoing: &[T],
    ) -> Result<Vec<T>, EngineError> {
        let encoded = outgoing.iter().map(encode).collect::<Result<_, _>>()?;
        self.all_to_all_bytes(encoded)
            .iter()
            .map(|bytes| decode(bytes))
            .collect()
    }

    /// [`Worker::all_to_all`] where the values move: `outgoing[d]` goes to worker `d` as it is if
    /// `d` runs in this process (no encoding, copy or decoding), encoded otherwise (each value
    /// encoded and dropped in turn, each received one decoded and its bytes dropped in turn).
    /// For large one-off exchanges (a loop's data moving to the workers that run it) whose
    /// encoded copies would raise the process's peak memory.
    ///
    /// ```
    /// use strads_engine::{ClusterConfig, run_cluster};
    /// let received = run_cluster(&ClusterConfig::threads(2), |worker| {
    ///     let me = worker.index();
    ///     worker.all_to_all_moved(vec![vec![me, 0], vec![me, 1]]).unwrap()
    /// })
    /// .unwrap();
    /// assert_eq!(received[1], vec![vec![0, 1], vec![1, 1]]);
    /// ```
    pub fn all_to_all_moved<T>(&mut self, outgoing: Vec<T>) -> Result<Vec<T>, EngineError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let peers = self.peers();
        assert_eq!(
            outgoing.len(),
            peers,
            "all_to_all needs one message per worker"
        );
        let tag = self.collective_tag();
        for (destination, value) in outgoing.into_iter().enumerate() {
            if self.shares_process_with(destination) {
                self.send_parcel(destination, tag, Box::new(value));
            } else {
                let bytes = encode(&value)?;
                drop(value);
                self.send_raw(destination, tag, bytes);
            }
        }
        self.wait_for(tag, peers)
            .into_iter()
            .map(|(source, bytes)| {
                if self.shares_process_with(source) {
                    self.take_parcel(source, tag)
                        .and_then(|parcel| parcel.downcast::<T>().ok())
                        .map(|value| *value)
                        .ok_or_else(|| {
                            EngineError::Codec(format!("no moved value of worker {source}"))
                        })
                } else {
                    decode(&bytes)
                }
            })
            .collect()
    }

    /// [`Worker::all_to_all`] of raw bytes, with no encoding: for callers that lay out large
    /// payloads themselves (a codec that writes one number at a time costs more than the copy).
    pub fn all_to_all_bytes(&mut self, outgoing: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        assert_eq!(
            outgoing.len(),
            self.peers(),
            "all_to_all needs one message per worker"
        );
        let tag = self.collective_tag();
        for (destination, bytes) in outgoing.into_iter().enumerate() {
            self.send_raw(destination, tag, bytes);
        }
        let peers = self.peers();
        self.wait_for(tag, peers)
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect()
    }

    /// One step of STRADS's static rotation: sends `block` (the bytes of the block this worker
    /// held in the sub-round that just ended) to worker `index - 1` (mod peers), which holds that
    /// block next, and `to_all` to every worker (including itself); returns the block received
    /// from worker `index + 1` and every worker's `to_all`, in worker order.
    ///
    /// The schedule this implements is [`crate::rotation::held_block`]: worker `p` holds block
    /// `(p + r) mod P` in sub-round `r`, so the block it held goes to worker `p - 1`. With one
    /// worker it returns `(block, vec![to_all])` without any messaging.
    ///
    /// On the wire it is one collective tag and one message per destination: worker `p - 1` gets
    /// `block ++ to_all ++ len(to_all)` (the trailer a little-endian `u64`), the others
    /// `to_all ++ len(to_all)`. The block's bytes are appended to in place (copied at most once,
    /// if `block` has no spare capacity for `to_all` and 8 bytes) and come back out by truncating
    /// the received message, without a copy.
    ///
    /// ```
    /// use strads_engine::{ClusterConfig, run_cluster};
    /// // Three workers each pass a block named after themselves and announce their index.
    /// let received = run_cluster(&ClusterConfig::threads(3), |worker| {
    ///     let p = worker.index() as u8;
    ///     worker.rotate_bytes(vec![b'a' + p], vec![p])
    /// })
    /// .unwrap();
    /// // Worker p receives the block of worker p + 1 (mod 3), and everyone's `to_all`.
    /// assert_eq!(received[0], (b"b".to_vec(), vec![vec![0], vec![1], vec![2]]));
    /// assert_eq!(received[1].0, b"c".to_vec());
    /// assert_eq!(received[2].0, b"a".to_vec());
    /// ```
    pub fn rotate_bytes(&mut self, block: Vec<u8>, to_all: Vec<u8>) -> (Vec<u8>, Vec<Vec<u8>>) {
        let (index, peers) = (self.index(), self.peers());
        if peers == 1 {
            return (block, vec![to_all]);
        }
        let tag = self.collective_tag();
        let mut framed = to_all;
        framed.extend_from_slice(&(framed.len() as u64).to_le_bytes());
        let successor = (index + peers - 1) % peers;
        let mut block = Some(block);
        for destination in 0..peers {
            let message = if destination == successor {
                let mut message = block.take().expect("one successor");
                message.extend_from_slice(&framed);
                message
            } else {
                framed.clone()
            };
            self.send_raw(destination, tag, message);
        }
        let predecessor = (index + 1) % peers;
        let mut received = Vec::new();
        let mut all = Vec::with_capacity(peers);
        for (source, mut message) in self.wait_for(tag, peers) {
            let trailer = message
                .len()
                .checked_sub(8)
                .expect("a rotation message ends with its to_all length");
            let len = u64::from_le_bytes(message[trailer..].try_into().expect("8 bytes")) as usize;
            let block_len = trailer
                .checked_sub(len)
                .expect("a rotation message holds its to_all");
            if source == predecessor {
                all.push(message[block_len..trailer].to_vec());
                message.truncate(block_len);
                received = message;
            } else {
                debug_assert_eq!(block_len, 0, "only worker index + 1 sends this one a block");
                message.truncate(trailer);
                all.push(message);
            }
        }
        (received, all)
    }

    /// [`Worker::rotate_bytes`] where the block may also be moved as is: a
    /// [`RotatedBlock::Moved`] goes to [`Worker::rotation_successor`], which must share this
    /// process ([`Worker::shares_process_with`]), through memory the process's workers share,
    /// without encoding; the block received comes back the way its sender passed it. Between
    /// threads, encoding and decoding a block cost more than the copy itself (rotated LDA word
    /// rows: about 12% of a step).
    ///
    /// ```
    /// use strads_engine::{ClusterConfig, RotatedBlock, run_cluster};
    /// let received = run_cluster(&ClusterConfig::threads(2), |worker| {
    ///     let block = RotatedBlock::Moved(Box::new(vec![worker.index()]));
    ///     match worker.rotate_block(block, vec![]).0 {
    ///         RotatedBlock::Moved(value) => *value.downcast::<Vec<usize>>().unwrap(),
    ///         RotatedBlock::Bytes(_) => unreachable!("moved between threads"),
    ///     }
    /// })
    /// .unwrap();
    /// assert_eq!(received, vec![vec![1], vec![0]]);
    /// ```
    pub fn rotate_block(
        &mut self,
        block: RotatedBlock,
        to_all: Vec<u8>,
    ) -> (RotatedBlock, Vec<Vec<u8>>) {
        let rotation = self.block_rotations;
        self.block_rotations += 1;
        let bytes = match block {
            RotatedBlock::Bytes(bytes) => bytes,
            RotatedBlock::Moved(value) => {
                let successor = self.rotation_successor();
                assert!(
                    self.shares_process_with(successor),
                    "a block can only be moved to a worker of the same process"
                );
                let mut handoffs = self.shared.handoffs.lock().expect("handoffs lock");
                handoffs.insert((successor, rotation), value);
                Vec::new()
            }
        };
        // The predecessor's message is sent after its handoff is stored: once it has arrived,
        // the handoff (if any) is there.
        let (received, all) = self.rotate_bytes(bytes, to_all);
        let mut handoffs = self.shared.handoffs.lock().expect("handoffs lock");
        let moved = handoffs.remove(&(self.index(), rotation));
        (
            moved.map_or(RotatedBlock::Bytes(received), RotatedBlock::Moved),
            all,
        )
    }

    /// [`Worker::rotate_bytes`] of values: `block` and `to_all` are bincode-encoded (the block
    /// with room for the framing, so it is not copied again), and what arrives is decoded.
    pub fn rotate<B: Serialize + DeserializeOwned, A: Serialize + DeserializeOwned>(
        &mut self,
        block: &B,
        to_all: &A,
    ) -> Result<(B, Vec<A>), EngineError> {
        let to_all = encode(to_all)?;
        let block = encode_with_room(block, to_all.len() + 8)?;
        let (received, all) = self.rotate_bytes(block, to_all);
        let all = all
            .iter()
            .map(|bytes| decode(bytes))
            .collect::<Result<_, _>>()?;
        Ok((decode(&received)?, all))
    }

    /// Sums `values` element-wise over all workers (in worker order, so the result is identical
    /// on every worker).
    pub fn all_reduce_sum(&mut self, values: &[f64]) -> Result<Vec<f64>, EngineError> {
        let all: Vec<Vec<f64>> = self.all_gather(&values.to_vec())?;
        let mut sum = vec![0.0; values.len()];
        for part in &all {
            for (s, v) in sum.iter_mut().zip(part) {
                *s += v;
            }
        }
        Ok(sum)
    }

    /// Closes this worker's input so the dataflow can shut down.
    pub(crate) fn close(&mut self) {
        self.flush();
        self.input = None;
    }
}

/// Message bytes this process's workers have sent to other workers (payloads, without timely's
/// framing), since the process started; what would cross the network in a cluster of machines.
static BYTES_SENT: AtomicU64 = AtomicU64::new(0);

/// Message bytes this process's workers have sent to other workers so far (see [`BYTES_SENT`]):
/// the apps report it per iteration in their `--json` summaries.
pub fn bytes_sent() -> u64 {
    BYTES_SENT.load(Ordering::Relaxed)
}

/// Encodes a message for the wire.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EngineError> {
    bincode::serialize(value).map_err(|e| EngineError::Codec(e.to_string()))
}

/// Encodes a message for the wire into a buffer with `room` bytes of spare capacity.
pub(crate) fn encode_with_room<T: Serialize>(
    value: &T,
    room: usize,
) -> Result<Vec<u8>, EngineError> {
    let codec = |e: bincode::Error| EngineError::Codec(e.to_string());
    let size = bincode::serialized_size(value).map_err(codec)? as usize;
    let mut bytes = Vec::with_capacity(size + room);
    bincode::serialize_into(&mut bytes, value).map_err(codec)?;
    Ok(bytes)
}

/// Decodes a message from the wire.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EngineError> {
    bincode::deserialize(bytes).map_err(|e| EngineError::Codec(e.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::{run_cluster, ClusterConfig};

    /// Worker p's block in the tests: its index repeated index + 1 times (so sizes differ).
    fn block_of(p: usize) -> Vec<u8> {
        vec![p as u8; p + 1]
    }

    #[test]
    fn rotate_bytes_passes_the_block_to_the_previous_worker_and_to_all_to_everyone() {
        for threads in [1, 2, 3] {
            let received = run_cluster(&ClusterConfig::threads(threads), |worker| {
                let p = worker.index();
                worker.rotate_bytes(block_of(p), vec![10 + p as u8; p])
            })
            .unwrap();
            let everyone: Vec<Vec<u8>> = (0..threads).map(|q| vec![10 + q as u8; q]).collect();
            for (p, (block, all)) in received.into_iter().enumerate() {
                assert_eq!(
                    block,
                    block_of((p + 1) % threads),
                    "{threads} threads, worker {p}"
                );
                assert_eq!(all, everyone, "{threads} threads, worker {p}");
            }
        }
    }

    #[test]
    fn rotate_bytes_with_one_worker_returns_its_own_parts() {
        let received = run_cluster(&ClusterConfig::threads(1), |worker| {
            worker.rotate_bytes(vec![1, 2, 3], vec![4])
        })
        .unwrap();
        assert_eq!(received, vec![(vec![1, 2, 3], vec![vec![4]])]);
    }

    #[test]
    fn rotate_bytes_carries_empty_parts() {
        let received = run_cluster(&ClusterConfig::threads(3), |worker| {
            worker.rotate_bytes(Vec::new(), Vec::new())
        })
        .unwrap();
        for (block, all) in received {
            assert!(block.is_empty());
            assert_eq!(all, vec![Vec::<u8>::new(); 3]);
        }
    }

    /// P steps of the rotation bring every block home, and in step r worker p receives the block
    /// that `held_block` says it holds in sub-round r + 1: worker (p + r + 1) mod P's.
    #[test]
    fn rotate_follows_the_static_schedule_and_brings_blocks_home() {
        for threads in [1, 3] {
            let homes = run_cluster(&ClusterConfig::threads(threads), move |worker| {
                let p = worker.index();
                let mut block: (usize, Vec<u32>) = (p, vec![p as u32; 1000 * (p + 1)]);
                for r in 0..threads {
                    let step = (r as u64, p as i64 - 5);
                    let (next, all) = worker.rotate(&block, &step).unwrap();
                    assert_eq!(next.0, (p + r + 1) % threads, "worker {p}, step {r}");
                    assert_eq!(next.1, vec![next.0 as u32; 1000 * (next.0 + 1)]);
                    let expected: Vec<(u64, i64)> =
                        (0..threads).map(|q| (r as u64, q as i64 - 5)).collect();
                    assert_eq!(all, expected);
                    block = next;
                }
                block.0
            })
            .unwrap();
            assert_eq!(homes, (0..threads).collect::<Vec<_>>());
        }
    }
}
