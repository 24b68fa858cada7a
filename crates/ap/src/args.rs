//! Command-line programs: the cluster flags that every STRADS-AP program understands, so that
//! turning a sequential program's `main` into a distributed one is one line.

use std::fmt::Display;

use crate::error::ApError;
use crate::program::{run, Ap, ApConfig};

/// The cluster flags: `--threads N` (worker threads in this process; default: the machine's
/// cores), `--processes N`, `--process I` and `--hosts FILE` (one `host:port` per process, needed
/// when `--processes` is above 1). Every process of a cluster is started with the same flags
/// except `--process`.
pub const CLUSTER_FLAGS: [&str; 4] = ["--threads", "--processes", "--process", "--hosts"];

/// Takes the cluster flags out of `args` (each `--flag value` or `--flag=value`) and returns the
/// cluster they describe and the other arguments, in order (see [`ApConfig::from_args`]).
pub fn cluster_from_args(args: &[String]) -> Result<(ApConfig, Vec<String>), ApError> {
    ApConfig::from_args(args.iter().cloned())
}

/// Runs a command-line program: takes the cluster flags ([`CLUSTER_FLAGS`]) out of `args`, gives
/// the rest to `parse` (its error becomes [`ApError::Usage`]), runs `program` with the parsed
/// options on every worker of the cluster, and returns the result of this process's first worker
/// (between loops every worker computes the same values, so one stands for all).
///
/// A sequential program's `parse_args(&args).and_then(|opts| train(&opts))` becomes
/// `strads_ap::run_with_args(&args, parse_args, train)` with `train` taking the [`Ap`] first.
pub fn run_with_args<O, T, E, F>(
    args: &[String],
    parse: impl FnOnce(&[String]) -> Result<O, E>,
    program: F,
) -> Result<T, ApError>
where
    O: Send + Sync + 'static,
    T: Send + 'static,
    E: Display,
    F: Fn(&mut Ap<'_, '_>, &O) -> Result<T, ApError> + Send + Sync + 'static,
{
    let (config, rest) = cluster_from_args(args)?;
    let options = parse(&rest).map_err(|e| ApError::Usage(e.to_string()))?;
    let results = run(&config, move |ap| program(ap, &options))?;
    results
        .into_iter()
        .next()
        .ok_or_else(|| ApError::Usage("the cluster ran no worker in this process".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn processes_read_the_hosts_file() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "127.0.0.1:7001\n127.0.0.1:7002\n").unwrap();
        let args = strings(&[
            "--processes",
            "2",
            "--process",
            "1",
            "--threads",
            "1",
            "--hosts",
            hosts.to_str().unwrap(),
        ]);
        let (config, rest) = cluster_from_args(&args).unwrap();
        assert!(rest.is_empty());
        assert_eq!((config.cluster.process, config.cluster.workers()), (1, 2));
    }

    #[test]
    fn run_with_args_parses_the_rest_and_returns_the_first_workers_result() {
        let args = strings(&["--threads", "2", "7"]);
        let parse = |rest: &[String]| rest[0].parse::<u64>().map_err(|e| e.to_string());
        let value = run_with_args(&args, parse, |ap, n: &u64| {
            ap.sum(*n as f64).map(|s| s as u64)
        });
        assert_eq!(value.unwrap(), 14);
        let failed = run_with_args(&strings(&["x"]), parse, |_, n: &u64| Ok(*n));
        assert!(matches!(failed, Err(ApError::Usage(_))));
    }
}
