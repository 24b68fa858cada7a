//! The flags that say where workers run, shared by every app subcommand.

use std::path::PathBuf;

use clap::Args;
use strads_engine::cluster::read_hosts_file;
use strads_engine::ClusterConfig;

use crate::{bad_input, Failure};

/// Where the workers run: threads in this process, and optionally a cluster of processes.
#[derive(Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Worker threads per process [default: the machine's cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Number of processes in the cluster (each runs the same command).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub processes: usize,
    /// Index of this process, in 0..processes.
    #[arg(long, value_name = "I", default_value_t = 0)]
    pub process: usize,
    /// File with one `host:port` per process, in process order (needed when --processes > 1).
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
}

impl ClusterArgs {
    /// The cluster these flags describe.
    pub fn config(&self) -> Result<ClusterConfig, Failure> {
        let threads = self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        if threads == 0 {
            return Err(bad_input(anyhow::anyhow!("--threads must be at least 1")));
        }
        if self.processes <= 1 {
            if self.process != 0 {
                return Err(bad_input(anyhow::anyhow!(
                    "--process {} needs --processes > {}",
                    self.process,
                    self.process
                )));
            }
            return Ok(ClusterConfig::threads(threads));
        }
        let Some(hosts) = &self.hosts else {
            return Err(bad_input(anyhow::anyhow!(
                "--processes {} needs --hosts FILE (or use `strads launch` to start a local cluster)",
                self.processes
            )));
        };
        let hosts = read_hosts_file(hosts, self.processes).map_err(bad_input)?;
        ClusterConfig::cluster(threads, self.process, hosts).map_err(bad_input)
    }
}
