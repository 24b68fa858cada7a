//! Running the `strads` binary from tests: captured output, deadlines (a test never hangs on a
//! child), cleanup of children on failure, generated problems and loopback hosts files.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single command of these tests may take before it is killed and the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The binary under test.
pub fn strads_path() -> &'static str {
    env!("CARGO_BIN_EXE_strads")
}

/// The output of a finished command.
#[derive(Debug)]
pub struct Run {
    /// What the command was (for messages).
    pub what: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the whole output unless the command exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit status {code} from `{}`\n{}",
            self.what,
            self.describe()
        );
        self
    }

    /// Panics unless the command succeeded.
    pub fn expect_success(&self) -> &Self {
        self.expect_code(0)
    }

    /// The lines of stderr that start with `error:`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }

    /// The JSON summary: the one line on stdout.
    pub fn json(&self) -> serde_json::Value {
        let lines: Vec<&str> = self.stdout.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one JSON line on stdout of `{}`\n{}",
            self.what,
            self.describe()
        );
        serde_json::from_str(lines[0]).unwrap_or_else(|e| {
            panic!(
                "stdout of `{}` is not JSON ({e})\n{}",
                self.what,
                self.describe()
            )
        })
    }

    /// Status, stdout and stderr, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A pipe being read into memory by a thread.
struct Capture {
    buffer: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    fn start(mut source: impl Read + Send + 'static) -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match source.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
        });
        Capture {
            buffer,
            thread: Some(thread),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }

    /// Waits (briefly) for the pipe to reach its end, then returns everything read. Grandchildren
    /// that outlive a killed child may hold the pipe open, so this never waits for long.
    fn finish(&mut self) -> String {
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        self.text()
    }
}

/// A running `strads` process whose stdout and stderr are captured; killed when dropped.
pub struct Proc {
    what: String,
    child: Child,
    stdout: Capture,
    stderr: Capture,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `strads ARGS` (without a cluster secret in its environment).
    pub fn spawn<I, S>(args: I) -> Proc
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Proc::spawn_with_env(args, &[])
    }

    /// Starts `strads ARGS` with `env` added to its environment (and no other cluster secret).
    pub fn spawn_with_env<I, S>(args: I, env: &[(&str, &str)]) -> Proc
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let what = std::iter::once("strads".to_owned())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new(strads_path())
            .args(&args)
            .env_remove(SECRET_ENV)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
        let stdout = Capture::start(child.stdout.take().unwrap());
        let stderr = Capture::start(child.stderr.take().unwrap());
        Proc {
            what,
            child,
            stdout,
            stderr,
            status: None,
        }
    }

    /// The command line (for messages).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait on a child");
        }
        self.status
    }

    /// Waits until the process exits or `deadline` passes; returns the status if it exited.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// What the process printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.text()
    }

    /// What the process printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout.text()
    }

    /// Stdout and stderr so far, for failure messages.
    pub fn describe_so_far(&self) -> String {
        format!(
            "`{}`\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.stdout.text(),
            self.stderr.text()
        )
    }

    /// Waits for the process (killing it and failing the test after `timeout`) and returns its
    /// output.
    pub fn finish(mut self, timeout: Duration) -> Run {
        if self.wait_until(Instant::now() + timeout).is_none() {
            self.kill();
            panic!(
                "`{}` did not finish within {timeout:?}; killed it\n{}",
                self.what,
                self.describe_so_far()
            );
        }
        self.into_run()
    }

    /// The output of an exited process.
    fn into_run(mut self) -> Run {
        let status = self.try_wait().expect("the process has exited");
        Run {
            what: self.what.clone(),
            status,
            stdout: self.stdout.finish(),
            stderr: self.stderr.finish(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `strads ARGS` to completion (at most [`COMMAND_TIMEOUT`]).
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Proc::spawn(args).finish(COMMAND_TIMEOUT)
}

/// A path as a command-line argument.
pub fn arg(path: &Path) -> String {
    path.to_str().expect("temporary paths are UTF-8").to_owned()
}

/// A fresh temporary directory with helpers to put files in it.
pub struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    /// A new empty directory.
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::Builder::new()
                .prefix("strads-cli-test-")
                .tempdir()
                .expect("temporary directory"),
        }
    }

    /// The path of `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `content` to `name` and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).expect("write a test file");
        path
    }

    /// Generates a problem with `strads gen APP ...` into `name` and returns its path.
    pub fn generate(&self, name: &str, app: &str, flags: &[&str]) -> PathBuf {
        let path = self.path(name);
        let mut args = vec!["gen".to_owned(), app.to_owned()];
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        args.extend(["--out".to_owned(), arg(&path)]);
        run(&args).expect_success();
        assert!(path.exists(), "strads gen did not write {}", path.display());
        path
    }

    /// Writes a hosts file with `processes` free loopback ports and returns it with the ports.
    pub fn loopback_hosts(&self, processes: usize) -> (PathBuf, Vec<u16>) {
        let ports = free_loopback_ports(processes);
        let text: String = ports.iter().map(|p| format!("127.0.0.1:{p}\n")).collect();
        (self.write("hosts.txt", &text), ports)
    }
}

/// `count` distinct free TCP ports on 127.0.0.1, below the kernel's ephemeral range (the
/// engine's pick, which `strads launch` uses too: a port from that range can be taken by another
/// test's connection before the process that should listen on it binds).
pub fn free_loopback_ports(count: usize) -> Vec<u16> {
    strads_engine::loopback::free_loopback_ports(count).expect("free loopback ports")
}

/// The generated Lasso problem of the cluster tests (2000 x 500, correlated groups).
pub const LASSO_PROBLEM: &[&str] = &[
    "--rows",
    "2000",
    "--cols",
    "500",
    "--nnz-per-row",
    "10",
    "--support",
    "20",
    "--corr",
    "0.5",
    "--group",
    "5",
    "--seed",
    "3",
];

/// Relative difference of two numbers.
pub fn relative_difference(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

/// A number field of a JSON object, or a panic naming the field.
pub fn number(json: &serde_json::Value, field: &str) -> f64 {
    json[field]
        .as_f64()
        .unwrap_or_else(|| panic!("field {field:?} is not a number in {json}"))
}

/// The environment variable with a cluster's secret.
pub const SECRET_ENV: &str = "STRADS_SECRET";

/// The secret of the clusters these tests start by hand.
pub const TEST_SECRET: &str = "strads-cli-tests-0123456789abcdef";

/// The command line of process `process` of a cluster started by hand: `APP --processes N
/// --process I --hosts HOSTS --threads 1 FLAGS`.
pub fn cluster_args(
    app: &str,
    processes: usize,
    process: usize,
    hosts: &Path,
    flags: &[String],
) -> Vec<String> {
    let mut args = vec![
        app.to_owned(),
        "--processes".to_owned(),
        processes.to_string(),
        "--process".to_owned(),
        process.to_string(),
        "--hosts".to_owned(),
        arg(hosts),
        "--threads".to_owned(),
        "1".to_owned(),
    ];
    args.extend(flags.iter().cloned());
    args
}

/// Starts process `process` of a cluster on `hosts` directly (see [`cluster_args`]), with the
/// tests' secret.
pub fn spawn_process(
    app: &str,
    processes: usize,
    process: usize,
    hosts: &Path,
    flags: &[String],
) -> Proc {
    Proc::spawn_with_env(
        cluster_args(app, processes, process, hosts, flags),
        &[(SECRET_ENV, TEST_SECRET)],
    )
}

/// Starts the processes of a cluster on `hosts` directly (not via `strads launch`): process `i`
/// runs `strads APP --processes N --process i --hosts HOSTS --threads 1 FLAGS`, all with the
/// tests' secret.
pub fn spawn_cluster(app: &str, processes: usize, hosts: &Path, flags: &[String]) -> Vec<Proc> {
    (0..processes)
        .map(|process| spawn_process(app, processes, process, hosts, flags))
        .collect()
}

/// A lasso problem that keeps two processes busy far longer than any test (the tolerance is out
/// of reach; `--max-seconds` bounds a run that nobody stops), for the fault-injection tests.
pub const BIG_PROBLEM: &[&str] = &[
    "--rows",
    "20000",
    "--cols",
    "20000",
    "--nnz-per-row",
    "20",
    "--support",
    "200",
    "--corr",
    "0.5",
    "--group",
    "5",
    "--seed",
    "5",
];
