//! Cluster shape and start-up: one process with worker threads, or several processes over TCP.
//!
//! Both shapes run the same code: timely dataflow with a process-local or a networked allocator.
//! For processes we open and vet the TCP connections ourselves ([`crate::connect`]) so that a
//! peer that never comes up is an error after a deadline, not an endless retry loop on stdout.

use std::path::Path;
use std::time::Duration;

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::Hooks;
use timely::WorkerConfig;

use crate::error::EngineError;
use crate::mailbox::Worker;

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
    /// How long to wait for peers to connect at start-up.
    pub connect_timeout: Duration,
}

impl ClusterConfig {
    /// One process with `threads` worker threads (at least one).
    pub fn threads(threads: usize) -> Self {
        ClusterConfig {
            threads: threads.max(1),
            process: 0,
            hosts: Vec::new(),
            connect_timeout: Duration::from_secs(60),
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
            connect_timeout: Duration::from_secs(60),
        })
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
/// (`process * threads + thread`).
pub fn run_cluster<T, F>(config: &ClusterConfig, func: F) -> Result<Vec<T>, EngineError>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    let (builders, guard): (Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>) =
        if config.hosts.len() <= 1 {
            let builders =
                ProcessBuilder::new_typed_vector(config.threads, Hooks::default().refill, None)
                    .into_iter()
                    .map(AllocatorBuilder::Process)
                    .collect();
            (builders, Box::new(()))
        } else {
            let sockets =
                crate::connect::connect_all(&config.hosts, config.process, config.connect_timeout)?;
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
        };
    let guards = timely::execute::execute_from(
        builders,
        guard,
        WorkerConfig::default(),
        move |timely_worker| {
            let mut worker = Worker::new(timely_worker);
            let result = func(&mut worker);
            worker.close();
            result
        },
    )
    .map_err(EngineError::Timely)?;
    guards
        .join()
        .into_iter()
        .enumerate()
        .map(|(worker, result)| {
            result.map_err(|message| EngineError::WorkerFailed { worker, message })
        })
        .collect()
}
