//! Cluster shape and start-up: one process with worker threads, or several processes over TCP.
//!
//! Both shapes run the same code: timely dataflow with a process-local or a networked allocator.
//! For processes we open and vet the TCP connections ourselves ([`crate::connect`]): every
//! connection is authenticated with the cluster's secret, every peer must agree on the run's
//! items ([`crate::agreement`]), a peer that never comes up is an error after a deadline, and
//! from formation on a heartbeat ([`crate::heartbeat`]) notices a peer that dies or stops.
//!
//! [`run_cluster`] forms the cluster and runs; [`Cluster::form`] and [`Cluster::run`] do it in two
//! steps, for programs that read their input between the two (the heartbeat already watches
//! the peers then, so one that dies while loading is noticed at once).

use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{Allocator, AllocatorBuilder, ProcessBuilder};
use timely::communication::Hooks;
use timely::WorkerConfig;

use crate::agreement::Item;
use crate::error::EngineError;
use crate::heartbeat::Heartbeat;
use crate::mailbox::{ProcessShared, Worker};
use crate::secret::Secret;

/// The default of [`ClusterConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// The default of [`ClusterConfig::peer_timeout`].
pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the workers run: `threads` worker threads in each of `hosts.len()` processes.
///
/// With one process, `hosts` is empty and nothing touches the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Worker threads per process.
    pub threads: usize,
    /// Index of this process in `0..processes()`.
    pub process: usize,
    /// `host:port` of every process, in process order; empty for a single process.
    pub hosts: Vec<String>,
    /// How long formation may take: every peer connected, authenticated and agreeing.
    pub connect_timeout: Duration,
    /// How long a peer may stay silent (no heartbeat) before it is declared lost.
    pub peer_timeout: Duration,
    /// The secret every process must prove it knows; required for more than one process.
    pub secret: Option<Secret>,
    /// What every process must agree on (the caller's items: version, subcommand, flags, input
    /// sizes), compared during formation; the first difference is an error naming the item.
    pub agreement: Vec<Item>,
}

impl ClusterConfig {
    /// One process with `threads` worker threads (at least one).
    pub fn threads(threads: usize) -> Self {
        ClusterConfig {
            threads: threads.max(1),
            process: 0,
            hosts: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            peer_timeout: DEFAULT_PEER_TIMEOUT,
            secret: None,
            agreement: Vec::new(),
        }
    }

    /// Process `process` of a cluster whose processes listen on `hosts`.
    pub fn cluster(
        threads: usize,
        process: usize,
        hosts: Vec<String>,
    ) -> Result<Self, EngineError> {
        if hosts.is_empty() {
            return Err(EngineError::Config(
                "a cluster needs at least one host".into(),
            ));
        }
        if process >= hosts.len() {
            return Err(EngineError::Config(format!(
                "process index {process} is out of range for {} processes",
                hosts.len()
            )));
        }
        if threads == 0 {
            return Err(EngineError::Config(
                "threads per process must be at least 1".into(),
            ));
        }
        Ok(ClusterConfig {
            threads,
            process,
            hosts,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            peer_timeout: DEFAULT_PEER_TIMEOUT,
            secret: None,
            agreement: Vec::new(),
        })
    }

    /// The same cluster with the shared secret of its processes.
    pub fn with_secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// The same cluster whose processes must agree on `items` (in this order).
    pub fn with_agreement(mut self, items: Vec<Item>) -> Self {
        self.agreement = items;
        self
    }

    /// The same cluster with another formation deadline.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The same cluster with another peer timeout.
    pub fn with_peer_timeout(mut self, timeout: Duration) -> Self {
        self.peer_timeout = timeout;
        self
    }

    /// Number of processes.
    pub fn processes(&self) -> usize {
        self.hosts.len().max(1)
    }

    /// Number of workers in the whole cluster.
    pub fn workers(&self) -> usize {
        self.threads * self.processes()
    }
}

/// Reads a hosts file: one `host:port` per line; blank lines and `#` comments are skipped.
/// `expected` is the number of processes the caller was told about.
pub fn read_hosts_file(path: &Path, expected: usize) -> Result<Vec<String>, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::HostsFile {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut hosts = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let valid = line
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(EngineError::HostsLine {
                path: path.to_owned(),
                line: number + 1,
                message: format!("expected `host:port`, found {line:?}"),
            });
        }
        hosts.push(line.to_owned());
    }
    if hosts.len() != expected {
        return Err(EngineError::HostsFile {
            path: path.to_owned(),
            message: format!(
                "expected {expected} hosts (one per process), found {}",
                hosts.len()
            ),
        });
    }
    Ok(hosts)
}

/// Runs `func` on every worker of this process and returns their results in worker order.
///
/// Every process of a cluster must call this with the same program; worker indices are global
/// (`process * threads + thread`). The same as [`Cluster::form`] followed by [`Cluster::run`].
pub fn run_cluster<T, F>(config: &ClusterConfig, func: F) -> Result<Vec<T>, EngineError>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    Cluster::form(config)?.run(func)
}

/// A formed cluster, ready to run: for processes, every peer connected, authenticated and in
/// agreement, and the heartbeat watching them (until the cluster has run, or is dropped).
pub struct Cluster {
    config: ClusterConfig,
    sockets: Option<Vec<Option<TcpStream>>>,
    /// Dropped after the run: says goodbye to every peer.
    heartbeat: Option<Heartbeat>,
}

impl Cluster {
    /// Forms the cluster `config` describes (nothing to do for a single process).
    pub fn form(config: &ClusterConfig) -> Result<Cluster, EngineError> {
        if config.hosts.len() <= 1 {
            return Ok(Cluster {
                config: config.clone(),
                sockets: None,
                heartbeat: None,
            });
        }
        let Some(secret) = &config.secret else {
            return Err(EngineError::Config(format!(
                "a cluster of processes needs a shared secret ({} in the environment of every \
                 process, or ClusterConfig::with_secret)",
                crate::secret::SECRET_ENV
            )));
        };
        if config.peer_timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(EngineError::Config(
                "the connect and peer timeouts must be positive".into(),
            ));
        }
        // The engine's own items come after the caller's, so a caller's flag is named first.
        let mut items = config.agreement.clone();
        items.push((
            crate::agreement::THREADS_ITEM.to_owned(),
            config.threads.to_string(),
        ));
        let formed = crate::connect::form(
            &config.hosts,
            config.process,
            secret,
            &items,
            config.connect_timeout,
            config.peer_timeout,
        )?;
        Ok(Cluster {
            config: config.clone(),
            sockets: Some(formed.sockets),
            heartbeat: Some(formed.heartbeat),
        })
    }

    /// For a process that failed before it could run (bad input or usage): forms the cluster
    /// `config` describes with `message` in place of its agreement list, so that every peer
    /// fails at once naming this process and its error ([`EngineError::PeerFailed`]) instead
    /// of waiting for it until the connect timeout. Returns once every peer has the message,
    /// or formation failed (the peers then learn nothing, as before).
    pub fn report_failure(config: &ClusterConfig, message: &str) {
        let Some(secret) = &config.secret else {
            return;
        };
        if config.hosts.len() <= 1 || config.connect_timeout.is_zero() {
            return;
        }
        // Its own comparison fails (every peer's list differs from a failure's); the peers'
        // is what matters.
        let _ = crate::connect::form(
            &config.hosts,
            config.process,
            secret,
            &crate::agreement::failure_list(message),
            config.connect_timeout,
            config.peer_timeout,
        );
    }

    /// The configuration this cluster was formed from.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Runs `func` on every worker of this process and returns their results in worker order
    /// (see [`run_cluster`]).
    pub fn run<T, F>(mut self, func: F) -> Result<Vec<T>, EngineError>
    where
        T: Send + 'static,
        F: Fn(&mut Worker) -> T + Send + Sync + 'static,
    {
        let config = &self.config;
        if config.threads == 1 && self.sockets.is_none() {
            // One worker and no peers: run it on this thread. A thread's start and join (and
            // the hand-over of the result) are most of a small problem's time (a fit from
            // Python of a few thousand entries).
            let result = Self::run_here(func);
            drop(self.heartbeat.take());
            return result.map(|result| vec![result]);
        }
        let (builders, guard): (Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>) = match self
            .sockets
            .take()
        {
            None => {
                let builders =
                    ProcessBuilder::new_typed_vector(config.threads, Hooks::default().refill, None)
                        .into_iter()
                        .map(AllocatorBuilder::Process)
                        .collect();
                (builders, Box::new(()))
            }
            Some(sockets) => {
                let hooks = Hooks::default();
                let process_allocators =
                    ProcessBuilder::new_typed_vector(config.threads, hooks.refill.clone(), None);
                let (builders, guard) = initialize_networking_from_sockets(
                    process_allocators,
                    sockets,
                    config.process,
                    config.threads,
                    hooks,
                )
                .map_err(|e| EngineError::Timely(e.to_string()))?;
                (
                    builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
                    Box::new(guard),
                )
            }
        };
        let shared = ProcessShared::new(config.threads);
        let guards = timely::execute::execute_from(
            builders,
            guard,
            WorkerConfig::default(),
            move |timely_worker| {
                let mut worker = Worker::new(timely_worker, Arc::clone(&shared));
                let result = func(&mut worker);
                worker.close();
                result
            },
        )
        .map_err(EngineError::Timely)?;
        let results = guards
            .join()
            .into_iter()
            .enumerate()
            .map(|(worker, result)| {
                result.map_err(|message| EngineError::WorkerFailed { worker, message })
            })
            .collect();
        // Every worker and network thread of this process is done: say goodbye.
        drop(self.heartbeat.take());
        results
    }

    /// The one worker of a single-thread, single-process cluster run on the calling thread,
    /// as `timely::execute::execute_from` runs each worker on its own thread: a panic becomes
    /// the worker's failure, as a worker thread's would.
    fn run_here<T, F>(func: F) -> Result<T, EngineError>
    where
        F: Fn(&mut Worker) -> T,
    {
        let builder = ProcessBuilder::new_typed_vector(1, Hooks::default().refill, None)
            .pop()
            .expect("one builder for one thread");
        let run = || {
            let allocator = Allocator::Process(builder.build());
            let mut timely_worker = timely::worker::Worker::new(
                WorkerConfig::default(),
                allocator,
                Some(std::time::Instant::now()),
            );
            let result = {
                let mut worker = Worker::new(&mut timely_worker, ProcessShared::new(1));
                let result = func(&mut worker);
                worker.close();
                result
            };
            while timely_worker.has_dataflows() {
                timely_worker.step_or_park(None);
            }
            result
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).map_err(|panic| {
            EngineError::WorkerFailed {
                worker: 0,
                message: format!("{panic:?}"),
            }
        })
    }
}
