//! The SPMD entry point [`run`], its configuration [`ApConfig`], and [`Ap`], the handle a program
//! uses to make containers, run loops and combine values between loops.

use std::collections::HashMap;
use std::path::Path;

use serde_bytes::ByteBuf;
use strads_core::balanced_blocks;
use strads_engine::{run_cluster, ClusterConfig, ProcessFigures, Worker};
use strads_io::DataError;

use crate::accumulator::Accumulator;
use crate::dmap::{DMap, MapKey};
use crate::dvector::DVector;
use crate::error::{decode, encode, ApError};
use crate::param::Element;
use crate::strategy::Strategy;

/// Where and how a program runs.
#[derive(Clone, Debug)]
pub struct ApConfig {
    /// The cluster: worker threads, and processes over TCP.
    pub cluster: ClusterConfig,
    /// Debug mode: run sequentially in one thread and check every access of a `Serializable`
    /// loop against the keys its key function recorded. Also on when the environment variable
    /// `STRADS_AP_DEBUG` is set to anything but `0`.
    pub debug: bool,
    /// Print each loop's strategy (one JSON line on stderr, from worker 0) when the loop is first
    /// planned. Also on when `STRADS_AP_PRINT_STRATEGY` is set to anything but `0`.
    pub print_strategies: bool,
}

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v != "0")
}

impl ApConfig {
    /// Runs on `cluster`, with debug mode and strategy printing as the environment says.
    pub fn new(cluster: ClusterConfig) -> Self {
        ApConfig {
            cluster,
            debug: env_flag("STRADS_AP_DEBUG"),
            print_strategies: env_flag("STRADS_AP_PRINT_STRATEGY"),
        }
    }

    /// `threads` worker threads in this process.
    pub fn threads(threads: usize) -> Self {
        ApConfig::new(ClusterConfig::threads(threads))
    }

    /// Takes the cluster flags out of a command line (like `MPI_Init`, so that a program parses
    /// only its own flags): `--threads N` worker threads per process (default: the machine's
    /// cores), `--processes N`, `--process I` and `--hosts FILE` (one `host:port` per process;
    /// needed when N > 1; the processes' shared secret comes from `STRADS_SECRET` in the
    /// environment). Returns the configuration and the other arguments, in their order.
    ///
    /// ```
    /// let args = ["--rank", "5", "--threads", "2"].map(String::from);
    /// let (config, rest) = strads_ap::ApConfig::from_args(args).unwrap();
    /// assert_eq!((config.cluster.threads, rest), (2, vec!["--rank".to_owned(), "5".to_owned()]));
    /// ```
    pub fn from_args(
        args: impl IntoIterator<Item = String>,
    ) -> Result<(Self, Vec<String>), ApError> {
        let (mut threads, mut processes, mut process, mut hosts) = (None, 1, 0, None);
        let mut rest = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            if !matches!(
                flag.as_str(),
                "--threads" | "--processes" | "--process" | "--hosts"
            ) {
                rest.push(arg);
                continue;
            }
            let value = inline
                .or_else(|| args.next())
                .ok_or_else(|| ApError::Usage(format!("{flag} needs a value")))?;
            let number = || {
                value.parse::<usize>().map_err(|_| {
                    ApError::Usage(format!("{flag} needs a whole number, got {value:?}"))
                })
            };
            match flag.as_str() {
                "--threads" => threads = Some(number()?),
                "--processes" => processes = number()?,
                "--process" => process = number()?,
                _ => hosts = Some(std::path::PathBuf::from(value)),
            }
        }
        let threads = threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        if threads == 0 {
            return Err(ApError::Usage("--threads must be at least 1".into()));
        }
        let cluster = if processes <= 1 {
            if process != 0 {
                return Err(ApError::Usage(format!(
                    "--process {process} needs --processes > {process}"
                )));
            }
            ClusterConfig::threads(threads)
        } else {
            let Some(hosts) = hosts else {
                return Err(ApError::Usage(format!(
                    "--processes {processes} needs --hosts FILE (one host:port per process)"
                )));
            };
            let hosts = strads_engine::cluster::read_hosts_file(&hosts, processes)?;
            let cluster = ClusterConfig::cluster(threads, process, hosts)?;
            // The processes prove the shared secret to each other (as `strads`'s do).
            match std::env::var_os(strads_engine::secret::SECRET_ENV) {
                Some(secret) => {
                    cluster.with_secret(strads_engine::Secret::new(secret.into_encoded_bytes())?)
                }
                None => cluster,
            }
        };
        Ok((ApConfig::new(cluster), rest))
    }
}

impl ApConfig {
    /// The cluster a program runs on: the configured one, or in debug mode one thread (a
    /// multi-process cluster is refused).
    pub(crate) fn cluster_to_run(&self) -> Result<ClusterConfig, ApError> {
        if !self.debug {
            return Ok(self.cluster.clone());
        }
        if self.cluster.processes() > 1 {
            return Err(ApError::Usage(
                "debug mode runs the program in one thread of one process; \
                 start it without other processes"
                    .into(),
            ));
        }
        Ok(ClusterConfig::threads(1))
    }
}

/// Runs `program` on every worker of the cluster (SPMD: every worker runs the same code; code
/// between loops is ordinary sequential Rust and computes the same values everywhere) and returns
/// every local worker's result, in worker order.
///
/// In debug mode the program runs on one worker thread; a multi-process cluster is refused.
pub fn run<T, F>(config: &ApConfig, program: F) -> Result<Vec<T>, ApError>
where
    T: Send + 'static,
    F: Fn(&mut Ap<'_, '_>) -> Result<T, ApError> + Send + Sync + 'static,
{
    let cluster = config.cluster_to_run()?;
    let (debug, print_strategies) = (config.debug, config.print_strategies);
    let results = run_cluster(&cluster, move |worker| {
        let mut ap = Ap::new(worker, debug, print_strategies);
        program(&mut ap)
    })?;
    results.into_iter().collect()
}

/// A worker's handle on the program: containers, loops, and collectives for the code between
/// loops.
pub struct Ap<'a, 'w> {
    pub(crate) worker: &'a mut Worker<'w>,
    pub(crate) debug: bool,
    pub(crate) print_strategies: bool,
    next_id: u64,
    next_tag: u64,
    pub(crate) plans: HashMap<(String, u64), crate::serializable::Plan>,
    /// Vector containers cut by a `Serializable` loop's plan: the iterations of the loop that cut
    /// them last (a loop with fewer iterations keeps the ranges).
    pub(crate) cut_by: HashMap<u64, f64>,
    pub(crate) strategies: Vec<Strategy>,
    /// Bytes of the lines [`Ap::read_lines`] read on this worker, over all its calls.
    bytes_read: u64,
}

/// Message tags of synchronous loops start here (programs' own tags are smaller).
const LOOP_TAGS: u64 = 1 << 61;

/// What an [`Ap`] keeps between two uses of its worker (the containers' and tags' counters,
/// the loops' plans and strategies, the bytes read): the runner's adapter
/// ([`crate::run_ap_app`]) ends the handle after loading and makes it again to solve, and the
/// containers made while loading keep their meaning.
#[derive(Default)]
pub(crate) struct ApState {
    debug: bool,
    print_strategies: bool,
    next_id: u64,
    next_tag: u64,
    plans: HashMap<(String, u64), crate::serializable::Plan>,
    cut_by: HashMap<u64, f64>,
    strategies: Vec<Strategy>,
    bytes_read: u64,
}

impl ApState {
    /// The state of a handle that has made nothing yet.
    pub(crate) fn new(debug: bool, print_strategies: bool) -> Self {
        ApState {
            debug,
            print_strategies,
            next_id: 1,
            next_tag: LOOP_TAGS,
            ..ApState::default()
        }
    }
}

impl<'a, 'w> Ap<'a, 'w> {
    fn new(worker: &'a mut Worker<'w>, debug: bool, print_strategies: bool) -> Self {
        Ap::resume(worker, ApState::new(debug, print_strategies))
    }

    /// The handle on `worker` going on from `state` (what [`Ap::into_state`] kept).
    pub(crate) fn resume(worker: &'a mut Worker<'w>, state: ApState) -> Self {
        Ap {
            worker,
            debug: state.debug,
            print_strategies: state.print_strategies,
            next_id: state.next_id,
            next_tag: state.next_tag,
            plans: state.plans,
            cut_by: state.cut_by,
            strategies: state.strategies,
            bytes_read: state.bytes_read,
        }
    }

    /// Ends the handle, keeping what a later one needs to go on ([`Ap::resume`]).
    pub(crate) fn into_state(self) -> ApState {
        ApState {
            debug: self.debug,
            print_strategies: self.print_strategies,
            next_id: self.next_id,
            next_tag: self.next_tag,
            plans: self.plans,
            cut_by: self.cut_by,
            strategies: self.strategies,
            bytes_read: self.bytes_read,
        }
    }

    /// This worker's index in `0..workers()`.
    pub fn index(&self) -> usize {
        self.worker.index()
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.worker.peers()
    }

    /// Whether this is worker 0, which by convention prints and writes outputs.
    pub fn is_leader(&self) -> bool {
        self.worker.is_leader()
    }

    /// Whether debug mode is on.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// The strategies of the loops planned so far, in the order they were first run.
    pub fn strategies(&self) -> &[Strategy] {
        &self.strategies
    }

    /// The engine's worker handle, for collectives this API does not cover.
    pub fn engine(&mut self) -> &mut Worker<'w> {
        self.worker
    }

    pub(crate) fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A block of `1 << 24` message tags for one loop execution.
    pub(crate) fn new_tags(&mut self) -> u64 {
        let base = self.next_tag;
        self.next_tag += 1 << 24;
        base
    }

    pub(crate) fn record_strategy(&mut self, strategy: &Strategy) {
        if self.print_strategies && self.is_leader() {
            eprintln!("strategy {strategy}");
        }
        self.strategies.push(strategy.clone());
    }

    fn vector_with_bounds<T>(&mut self, bounds: Vec<usize>, local: Vec<T>) -> DVector<T> {
        let id = self.new_id();
        DVector {
            id,
            name: format!("vector{id}"),
            len: *bounds.last().unwrap_or(&0),
            worker: self.index(),
            bounds,
            local,
            origin: None,
            arrangement: 0,
        }
    }

    /// A vector of `len` elements, element `i` made by `make(i)` on the worker that holds it;
    /// the workers hold near-equal contiguous ranges.
    pub fn dvector<T>(&mut self, len: usize, make: impl FnMut(usize) -> T) -> DVector<T> {
        let workers = self.workers();
        let bounds: Vec<usize> = (0..=workers).map(|w| len * w / workers).collect();
        let w = self.index();
        let local = (bounds[w]..bounds[w + 1]).map(make).collect();
        self.vector_with_bounds(bounds, local)
    }

    /// Like [`Ap::dvector`], with ranges of near-equal total `weights` (one per element, the
    /// same on every worker), e.g. the number of ratings of each user.
    pub fn dvector_balanced<T>(
        &mut self,
        weights: &[u64],
        make: impl FnMut(usize) -> T,
    ) -> DVector<T> {
        let ranges = balanced_blocks(weights, self.workers());
        let mut bounds: Vec<usize> = ranges.iter().map(|r| r.start).collect();
        bounds.push(weights.len());
        let w = self.index();
        let local = (bounds[w]..bounds[w + 1]).map(make).collect();
        self.vector_with_bounds(bounds, local)
    }

    /// The vector `0, 1, ..., n - 1`: a loop over an index range.
    pub fn range(&mut self, n: usize) -> DVector<usize> {
        self.dvector(n, |i| i)
    }

    /// A vector made of every worker's `local` elements, concatenated in worker order
    /// (collective).
    pub fn dvector_from_parts<T>(&mut self, local: Vec<T>) -> Result<DVector<T>, ApError> {
        let lens: Vec<u64> = self.worker.all_gather(&(local.len() as u64))?;
        let mut bounds = vec![0usize];
        for len in lens {
            bounds.push(bounds.last().unwrap() + len as usize);
        }
        Ok(self.vector_with_bounds(bounds, local))
    }

    /// Reads a text file in byte-range shards (each worker reads only its part) and parses each
    /// line with `parse`, which returns the line's elements (an `Option` for at most one, `None`
    /// for a comment; any iterator for several) or `Err(what was expected)` for a malformed line.
    /// A malformed line fails every worker with an error naming the file and the line. The
    /// elements are in file order.
    pub fn read_lines<T, I: IntoIterator<Item = T>>(
        &mut self,
        path: &Path,
        mut parse: impl FnMut(&str) -> Result<I, String>,
    ) -> Result<DVector<T>, ApError> {
        let (w, workers) = (self.index(), self.workers());
        let mut local = Vec::new();
        let read = strads_io::read_lines(path, w, workers, 0, |line| {
            let parsed = match std::str::from_utf8(line.text) {
                Ok(s) => parse(s),
                Err(_) => Err("expected UTF-8 text".to_owned()),
            };
            local.extend(parsed?);
            Ok(())
        });
        // Every worker learns every failure, so that all stop with the same error: a bad line
        // as its number in the file (which the reader counted) and message, anything else as
        // line 0 and its text.
        let mut unreadable = None;
        let failure = match read {
            Ok(bytes) => {
                self.bytes_read += bytes;
                None
            }
            Err(DataError::Parse { line, message, .. }) => Some((line, message)),
            Err(e) => {
                let failure = Some((0, e.to_string()));
                unreadable = Some(e);
                failure
            }
        };
        let failures: Vec<Option<(u64, String)>> = self.worker.all_gather(&failure)?;
        if let Some((line, message)) = failures.into_iter().flatten().next() {
            return Err(if line == 0 {
                // This worker's own I/O error keeps its kind; a peer's arrives as text.
                match unreadable {
                    Some(e) => ApError::Data(e),
                    None => ApError::Usage(message),
                }
            } else {
                ApError::Data(DataError::parse(path, line, message))
            });
        }
        self.dvector_from_parts(local)
    }

    /// Bytes of input this worker has read with [`Ap::read_lines`]: the lines of its byte
    /// ranges (over all workers and one file, the file's size).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Each process's bytes read ([`Ap::bytes_read`]), `held` (what its workers hold of the
    /// data, in the program's unit) and peak resident memory (read now), gathered on worker 0,
    /// process 0 first; `None` on the other workers. Collective: call it on every worker, at
    /// the end of a run, so that the peak is the run's.
    pub fn gather_process_figures(
        &mut self,
        held: u64,
    ) -> Result<Option<Vec<ProcessFigures>>, ApError> {
        let mine = ProcessFigures {
            bytes_read: self.bytes_read,
            held,
            peak_memory_bytes: strads_io::peak_resident_bytes(),
        };
        Ok(self.worker.gather_process_figures(&mine)?)
    }

    /// An empty distributed map.
    pub fn dmap<K: MapKey, V>(&mut self) -> DMap<K, V> {
        let id = self.new_id();
        DMap {
            id,
            name: format!("map{id}"),
            worker: self.index(),
            workers: self.workers(),
            local: HashMap::new(),
        }
    }

    /// A replicated accumulator holding `value` (the same on every worker).
    pub fn accumulator<T>(&mut self, value: T) -> Accumulator<T> {
        let id = self.new_id();
        Accumulator {
            id,
            name: format!("accumulator{id}"),
            value,
        }
    }

    /// Collects the whole vector, in global index order, on worker 0 (`None` elsewhere).
    pub fn gather<T: Element>(&mut self, vector: &DVector<T>) -> Result<Option<Vec<T>>, ApError> {
        let workers = self.workers();
        let mut outgoing = vec![Vec::new(); workers];
        outgoing[0] = encode(&(vector.local_indices(), &vector.local))?;
        let incoming = self.worker.all_to_all_bytes(outgoing);
        if !self.is_leader() {
            return Ok(None);
        }
        let mut all: Vec<(u64, T)> = Vec::with_capacity(vector.len);
        for bytes in incoming {
            let (indices, items): (Vec<u64>, Vec<T>) = decode(&bytes)?;
            all.extend(indices.into_iter().zip(items));
        }
        all.sort_unstable_by_key(|(i, _)| *i);
        Ok(Some(all.into_iter().map(|(_, item)| item).collect()))
    }

    /// The sum over all workers of each worker's `value` (the same result on every worker).
    pub fn sum(&mut self, value: f64) -> Result<f64, ApError> {
        Ok(self.worker.all_reduce_sum(&[value])?[0])
    }

    /// Element-wise sum over all workers, in worker order.
    pub fn sum_vec(&mut self, values: &[f64]) -> Result<Vec<f64>, ApError> {
        Ok(self.worker.all_reduce_sum(values)?)
    }

    /// Every worker's `(key, value)` pairs summed by key, in increasing key order: the same list
    /// on every worker (collective). Within a key the values are added in worker order, each
    /// worker's in its order. E.g. each worker counts the user ids of its shard of the ratings,
    /// and every worker learns every user's ratings: a small message per worker (one pair per
    /// distinct key it holds), where gathering the ids would move every rating's.
    pub fn sum_by_key<K, V>(&mut self, local: Vec<(K, V)>) -> Result<Vec<(K, V)>, ApError>
    where
        K: Element + Ord,
        V: Element + std::ops::AddAssign,
    {
        let mut all: Vec<(K, V)> = if self.workers() == 1 {
            local
        } else {
            self.all_gather(&local)?.into_iter().flatten().collect()
        };
        // A stable sort: sorted runs (one per worker, typically) merge in linear time.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut summed: Vec<(K, V)> = Vec::with_capacity(all.len());
        for (key, value) in all {
            match summed.last_mut() {
                Some((last, sum)) if *last == key => *sum += value,
                _ => summed.push((key, value)),
            }
        }
        Ok(summed)
    }

    /// Every worker's `value`, in worker order, on every worker.
    pub fn all_gather<T: Element>(&mut self, value: &T) -> Result<Vec<T>, ApError> {
        let bytes = ByteBuf::from(encode(value)?);
        let all: Vec<ByteBuf> = self.worker.all_gather(&bytes)?;
        all.iter().map(|b| decode(b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cluster_flags_are_taken_out_and_the_rest_kept_in_order() {
        let (config, rest) =
            ApConfig::from_args(args(&["--a", "1", "--threads=3", "b", "--process", "0"])).unwrap();
        assert_eq!(config.cluster, ClusterConfig::threads(3));
        assert_eq!(rest, args(&["--a", "1", "b"]));
    }

    #[test]
    fn bad_cluster_flags_are_usage_errors() {
        for bad in [
            &["--threads"][..],
            &["--threads", "x"],
            &["--threads", "0"],
            &["--process", "1"],
            &["--processes", "2"],
        ] {
            let error = ApConfig::from_args(args(bad)).unwrap_err();
            assert!(matches!(error, ApError::Usage(_)), "{bad:?}: {error}");
        }
    }
}
