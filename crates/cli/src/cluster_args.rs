//! The flags that say where workers run, shared by every app subcommand, and what the processes
//! of a cluster must agree on.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use strads_engine::cluster::{read_hosts_file, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PEER_TIMEOUT};
use strads_engine::secret::SECRET_ENV;
use strads_engine::{Cluster, ClusterConfig, Secret};

use crate::failure::{bad_input, Failure};
use crate::flags::reject_inapplicable;

/// The most worker threads a process may run.
pub const MAX_THREADS: usize = 256;

/// `--threads`, the one definition of the flag: every app subcommand takes it (in
/// [`ClusterArgs`]), and so does `strads launch`, which passes it on to its children.
#[derive(Args, Clone, Debug, Default)]
pub struct ThreadsArg {
    /// Worker threads per process, at most 256 [default: the machine's cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl ThreadsArg {
    /// The worker threads per process: the value given, checked, or the machine's cores.
    pub fn resolve(&self) -> Result<usize, Failure> {
        let threads = self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        if threads == 0 {
            return Err(bad_input(anyhow::anyhow!("--threads must be at least 1")));
        }
        if threads > MAX_THREADS {
            return Err(bad_input(anyhow::anyhow!(
                "--threads must be at most {MAX_THREADS}, got {threads}: every pair of workers \
                 has its own channels, so memory and start-up time grow with the square of the \
                 workers (256 threads take 0.3 GB and 8 s to solve a 3-row problem)"
            )));
        }
        Ok(threads)
    }
}

/// Where the workers run: threads in this process, and optionally a cluster of processes.
#[derive(Args, Clone, Debug)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Number of processes in the cluster (each runs the same command).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub processes: usize,
    /// Index of this process, in 0..processes.
    #[arg(long, value_name = "I", default_value_t = 0)]
    pub process: usize,
    /// File with one `host:port` per process, in process order (needed when --processes > 1).
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// File holding the cluster's shared secret, which every process proves it knows before it
    /// is admitted (with --processes > 1, unless the STRADS_SECRET environment variable holds
    /// it; at least 16 bytes, e.g. from `openssl rand -hex 32`; `strads launch` makes one).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// Seconds that forming the cluster may take (every process connected, authenticated and in
    /// agreement) [default: 60].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub connect_timeout: Option<f64>,
    /// Seconds without a heartbeat from a peer process after which it is declared lost (it is
    /// stopped, hung or cut off) and every other process exits with status 1 [default: 30].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub peer_timeout: Option<f64>,
}

impl ClusterArgs {
    /// The cluster these flags describe.
    pub fn config(&self) -> Result<ClusterConfig, Failure> {
        let threads = self.threads.resolve()?;
        if self.processes == 0 {
            return Err(bad_input(anyhow::anyhow!(
                "--processes must be at least 1, got 0"
            )));
        }
        if self.processes <= 1 {
            if self.process != 0 {
                return Err(bad_input(anyhow::anyhow!(
                    "--process {} needs --processes > {}",
                    self.process,
                    self.process
                )));
            }
            reject_inapplicable(
                &[
                    ("--hosts", self.hosts.is_some()),
                    ("--secret-file", self.secret_file.is_some()),
                    ("--connect-timeout", self.connect_timeout.is_some()),
                    ("--peer-timeout", self.peer_timeout.is_some()),
                ],
                "to a cluster of processes (--processes > 1)",
            )?;
            return Ok(ClusterConfig::threads(threads));
        }
        let Some(hosts) = &self.hosts else {
            return Err(bad_input(anyhow::anyhow!(
                "--processes {} needs --hosts FILE (or use `strads launch` to start a local cluster)",
                self.processes
            )));
        };
        let hosts = read_hosts_file(hosts, self.processes).map_err(bad_input)?;
        let config = ClusterConfig::cluster(threads, self.process, hosts).map_err(bad_input)?;
        let connect_timeout = seconds(
            "--connect-timeout",
            self.connect_timeout,
            DEFAULT_CONNECT_TIMEOUT,
        )?;
        let peer_timeout = seconds("--peer-timeout", self.peer_timeout, DEFAULT_PEER_TIMEOUT)?;
        Ok(config
            .with_secret(self.secret()?)
            .with_connect_timeout(connect_timeout)
            .with_peer_timeout(peer_timeout))
    }

    /// The cluster's secret: from --secret-file, else from the environment.
    fn secret(&self) -> Result<Secret, Failure> {
        let bytes = match &self.secret_file {
            Some(path) => {
                let mut bytes = std::fs::read(path).map_err(|e| {
                    bad_input(anyhow::anyhow!(
                        "{}: cannot read the secret file: {e}",
                        path.display()
                    ))
                })?;
                while bytes.last().is_some_and(u8::is_ascii_whitespace) {
                    bytes.pop();
                }
                warn_if_others_can_read(path);
                bytes
            }
            None => match std::env::var_os(SECRET_ENV) {
                Some(value) => value.into_encoded_bytes(),
                None => {
                    return Err(bad_input(anyhow::anyhow!(
                        "a cluster of processes needs a shared secret, which every process \
                         proves it knows before it is admitted: set {SECRET_ENV} to the same \
                         random string (at least {} characters, e.g. from `openssl rand -hex \
                         32`) in the environment of every process, or give every process \
                         --secret-file FILE; `strads launch` makes one by itself",
                        Secret::MIN_LEN
                    )))
                }
            },
        };
        let from = match &self.secret_file {
            Some(path) => format!("{}", path.display()),
            None => SECRET_ENV.to_owned(),
        };
        Secret::new(bytes).map_err(|e| bad_input(anyhow::anyhow!("{from}: {e}")))
    }
}

/// A positive number of seconds from a flag, or `default`.
fn seconds(flag: &str, value: Option<f64>, default: Duration) -> Result<Duration, Failure> {
    let Some(value) = value else {
        return Ok(default);
    };
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if value > 0.0 && value <= 1e6 => Ok(duration),
        _ => Err(bad_input(anyhow::anyhow!(
            "{flag} must be a number of seconds in (0, 1000000], got {value}"
        ))),
    }
}

#[cfg(unix)]
fn warn_if_others_can_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: {} can be read by other users; `chmod 600` it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_others_can_read(_path: &Path) {}

/// What every process of a cluster must agree on, in order: the binary, the subcommand,
/// `--threads`, then the app's items (every flag that changes the computation, with its
/// resolved value, and the inputs' sizes). Compared during formation; the first difference is
/// an error on every process naming the item.
pub struct Agreement(Vec<(String, String)>);

impl Agreement {
    /// The items every app starts with.
    pub fn new(cluster: &ClusterConfig, subcommand: &str) -> Agreement {
        let mut agreement = Agreement(Vec::new());
        agreement
            .item(
                "strads version",
                strads_engine::agreement::binary_identity(),
            )
            .item("subcommand", subcommand)
            .item("--threads", cluster.threads);
        agreement
    }

    /// An item shown with `Display`.
    pub fn item(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.0.push((name.to_owned(), value.to_string()));
        self
    }

    /// A number, written so that different numbers read differently (`{:?}`: 1e-300, not 300
    /// zeros).
    pub fn number(&mut self, name: &str, value: f64) -> &mut Self {
        self.item(name, format!("{value:?}"))
    }

    /// An input file's size (item `FLAG size`), or that it is absent.
    pub fn file(&mut self, flag: &str, path: Option<&Path>) -> &mut Self {
        let value = match path {
            None => "none".to_owned(),
            Some(path) => match std::fs::metadata(path) {
                Ok(metadata) => format!("{} bytes", metadata.len()),
                Err(e) => format!("unreadable ({})", e.kind()),
            },
        };
        self.item(&format!("{flag} size"), value)
    }

    /// The items.
    pub fn into_items(self) -> Vec<(String, String)> {
        self.0
    }
}

/// A process of a cluster that fails before the cluster forms with bad input or usage (exit
/// status 2) tells its peers, which would otherwise wait for it until the connect timeout: it
/// forms the cluster with its error in place of its agreement list (every peer then exits 2
/// naming this process and the error), then fails as it would have. An app's own error (its
/// parameters' check, the same on every process) is printed by process 0 only, as
/// [`crate::failure::app_failure`] does once the cluster runs.
pub fn fail_before_formation(
    cluster: &ClusterConfig,
    is_output_process: bool,
    failure: Failure,
) -> Failure {
    if cluster.processes() > 1 && failure.code == 2 {
        Cluster::report_failure(cluster, &crate::failure::message_of(&failure.error));
    }
    let from_app = failure
        .error
        .downcast_ref::<strads_apps::AppError>()
        .is_some()
        || failure
            .error
            .downcast_ref::<crate::failure::FlagError>()
            .is_some();
    if from_app && !is_output_process {
        return Failure {
            code: failure.code,
            error: anyhow::anyhow!(""),
        };
    }
    failure
}
