//! The process management of `strads launch`: a cluster of local processes on free loopback
//! ports.
//!
//! The launcher picks one free port per process, writes a hosts file, makes a fresh random
//! cluster secret, starts the same binary once per process with `--processes N --process I
//! --hosts FILE` (and `--threads T` when the launcher was given it) added after the subcommand
//! and the secret in its environment ([`SECRET_ENV`]; an environment is readable only by its
//! user, a command line by everyone),
//! lets the children write straight to the terminal, and returns the first non-zero exit status
//! (killing the others), or 0.
//!
//! Children die with their launcher: each child's standard input is a pipe whose other end only
//! the launcher holds, and a child started with [`LIFELINE_ENV`] watches it
//! ([`watch_launcher`]). When the launcher ends in any way (even `kill -9`), the kernel closes
//! the pipe, the child reads end-of-file and exits with status 1. (`prctl(PR_SET_PDEATHSIG)`
//! would need `unsafe` in a `pre_exec` hook and works on Linux only; the pipe needs neither.)

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::Duration;

use strads_engine::loopback::free_loopback_ports;
use strads_engine::secret::SECRET_ENV;
use strads_engine::Secret;

use crate::failure::FAILURE_EXIT_CODE;

/// Set (to `stdin`) in the environment of the children of `strads launch`: their standard input
/// is the launcher's lifeline.
pub const LIFELINE_ENV: &str = "STRADS_LAUNCHER_LIFELINE";

/// In a child of `strads launch` (see [`LIFELINE_ENV`]), starts a thread that exits the process
/// with status 1 as soon as the launcher is gone (its standard input reaches end-of-file).
/// Returns whether it did. Call once, early, from the binary.
pub fn watch_launcher() -> bool {
    if std::env::var_os(LIFELINE_ENV).is_none_or(|v| v != "stdin") {
        return false;
    }
    std::thread::Builder::new()
        .name("strads:lifeline".into())
        .spawn(|| {
            let mut stdin = std::io::stdin().lock();
            let mut buffer = [0u8; 64];
            loop {
                match stdin.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            eprintln!(
                "error: the launcher (strads launch) of this process (pid {}) exited; stopping",
                std::process::id()
            );
            std::process::exit(FAILURE_EXIT_CODE);
        })
        .is_ok()
}

/// What to launch.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    /// The program to start (normally the current executable).
    pub program: PathBuf,
    /// Number of processes.
    pub processes: usize,
    /// Worker threads per process (`--threads`), or `None` to leave them to each child (its own
    /// `--threads`, or the machine's cores).
    pub threads: Option<usize>,
    /// The subcommand and its arguments, e.g. `["lasso", "--data", "x.libsvm"]`.
    pub args: Vec<String>,
}

/// Writes a hosts file for `ports` into `dir` and returns its path.
pub fn write_hosts_file(dir: &Path, ports: &[u16]) -> std::io::Result<PathBuf> {
    let path = dir.join("hosts.txt");
    let text: String = ports.iter().map(|p| format!("127.0.0.1:{p}\n")).collect();
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The command line of process `process`: the subcommand first, then the cluster flags, then
/// the subcommand's own arguments.
pub fn child_args(spec: &LaunchSpec, process: usize, hosts: &Path) -> Vec<String> {
    let mut args = Vec::with_capacity(spec.args.len() + 8);
    let mut rest = spec.args.iter();
    if let Some(subcommand) = rest.next() {
        args.push(subcommand.clone());
    }
    args.extend([
        "--processes".to_owned(),
        spec.processes.to_string(),
        "--process".to_owned(),
        process.to_string(),
        "--hosts".to_owned(),
        hosts.display().to_string(),
    ]);
    if let Some(threads) = spec.threads {
        args.extend(["--threads".to_owned(), threads.to_string()]);
    }
    args.extend(rest.cloned());
    args
}

/// Starts the processes and waits for them. Returns the exit code to use: the first non-zero
/// exit status of any child (the others are then killed), or 0.
pub fn launch(spec: &LaunchSpec, hosts_dir: &Path) -> std::io::Result<i32> {
    let ports = free_loopback_ports(spec.processes)?;
    let hosts = write_hosts_file(hosts_dir, &ports)?;
    let secret = Secret::random_hex().map_err(std::io::Error::other)?;
    let mut children: Vec<Child> = Vec::with_capacity(spec.processes);
    // The write ends of the children's lifelines: held until the launcher returns or dies.
    let mut _lifelines: Vec<ChildStdin> = Vec::with_capacity(spec.processes);
    for process in 0..spec.processes {
        match Command::new(&spec.program)
            .args(child_args(spec, process, &hosts))
            .env(SECRET_ENV, &secret)
            .env(LIFELINE_ENV, "stdin")
            .stdin(Stdio::piped())
            .spawn()
        {
            Ok(mut child) => {
                _lifelines.extend(child.stdin.take());
                children.push(child);
            }
            Err(e) => {
                kill_all(&mut children);
                return Err(e);
            }
        }
    }
    // When a child fails, the others usually fail too (a bad input file, a lost peer) and process
    // 0 is the one that reports it: give them a moment to exit on their own before killing them,
    // so the report is not cut off.
    let mut running: Vec<bool> = vec![true; children.len()];
    let mut first_failure: Option<(i32, std::time::Instant)> = None;
    loop {
        for (index, child) in children.iter_mut().enumerate() {
            if !running[index] {
                continue;
            }
            if let Some(status) = child.try_wait()? {
                running[index] = false;
                let code = exit_code(status);
                if code != 0 && first_failure.is_none() {
                    first_failure = Some((code, std::time::Instant::now()));
                }
            }
        }
        match first_failure {
            Some((code, at)) if !running.contains(&true) || at.elapsed() > GRACE => {
                kill_all(&mut children);
                return Ok(code);
            }
            None if !running.contains(&true) => return Ok(0),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// How long the other processes get to exit by themselves after one failed.
const GRACE: Duration = Duration::from_secs(5);

fn kill_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    status.code().unwrap_or(1)
}
