//! Command-line programs: the cluster flags that every STRADS-AP program understands, so that
//! turning a sequential program's `main` into a distributed one is one line.

use std::fmt::Display;
use std::path::Path;

use strads_engine::cluster::read_hosts_file;
use strads_engine::ClusterConfig;

use crate::error::ApError;
use crate::program::{run, Ap, ApConfig};

/// The cluster flags: `--threads N` (worker threads in this process; default: the machine's
/// cores), `--processes N`, `--process I` and `--hosts FILE` (one `host:port` per process, needed
/// when `--processes` is above 1). Every process of a cluster is started with the same flags
/// except `--process`.
pub const CLUSTER_FLAGS: [&str; 4] = ["--threads", "--processes", "--process", "--hosts"];

/// Takes the cluster flags out of `args` (each `--flag value` or `--flag=value`) and returns the
/// cluster they describe and the other arguments, in order.
pub fn cluster_from_args(args: &[String]) -> Result<(ApConfig, Vec<String>), ApError> {
    let mut rest = Vec::new();
    let (mut threads, mut processes, mut process, mut hosts) = (None, 1usize, 0usize, None);
    let mut at = 0;
    while at < args.len() {
        let arg = &args[at];
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        if !CLUSTER_FLAGS.contains(&flag) {
            rest.push(arg.clone());
            at += 1;
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => {
                at += 1;
                args.get(at)
                    .cloned()
                    .ok_or_else(|| ApError::Usage(format!("{flag} needs a value")))?
            }
        };
        at += 1;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| ApError::Usage(format!("{flag} expects a number, found {value:?}")))
        };
        match flag {
            "--threads" => threads = Some(number()?),
            "--processes" => processes = number()?,
            "--process" => process = number()?,
            _ => hosts = Some(value.clone()),
        }
    }
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if threads == 0 {
        return Err(ApError::Usage("--threads must be at least 1".into()));
    }
    let cluster = if processes <= 1 {
        if process != 0 {
            return Err(ApError::Usage(format!(
                "--process {process} needs --processes above {process}"
            )));
        }
        ClusterConfig::threads(threads)
    } else {
        let Some(hosts) = hosts else {
            return Err(ApError::Usage(format!(
                "--processes {processes} needs --hosts FILE (one host:port per process)"
            )));
        };
        let hosts = read_hosts_file(Path::new(&hosts), processes)?;
        ClusterConfig::cluster(threads, process, hosts)?
    };
    Ok((ApConfig::new(cluster), rest))
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
    fn cluster_flags_are_taken_out_and_the_rest_kept_in_order() {
        let args = strings(&["--data", "x.txt", "--threads", "3", "--topics=5", "-v"]);
        let (config, rest) = cluster_from_args(&args).unwrap();
        assert_eq!(config.cluster, ClusterConfig::threads(3));
        assert_eq!(rest, strings(&["--data", "x.txt", "--topics=5", "-v"]));
        let (config, _) = cluster_from_args(&strings(&["--threads=2"])).unwrap();
        assert_eq!(config.cluster.workers(), 2);
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
    fn bad_cluster_flags_are_usage_errors() {
        for args in [
            vec!["--threads"],
            vec!["--threads", "two"],
            vec!["--threads", "0"],
            vec!["--process", "1"],
            vec!["--processes", "2"],
        ] {
            let err = cluster_from_args(&strings(&args)).unwrap_err();
            assert!(matches!(err, ApError::Usage(_)), "{args:?}: {err}");
        }
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
