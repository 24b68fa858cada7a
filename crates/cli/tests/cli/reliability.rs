//! Clusters of real processes on loopback under attack and under faults: forged handshakes and
//! idle connections are never admitted and never delay formation past its deadline; processes
//! started differently fail with status 2 naming the first differing flag, on every process; a
//! stopped peer is detected within the peer timeout, a peer killed while loading at once; the
//! children of `strads launch` die with it; a cluster needs a secret.
//!
//! Timing bounds here are generous (several seconds beyond what is needed); each test prints
//! what it measured (`cargo test ... -- --nocapture`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{
    arg, cluster_args, spawn_cluster, spawn_process, Dir, Proc, Run, BIG_PROBLEM, COMMAND_TIMEOUT,
    LASSO_PROBLEM, SECRET_ENV, TEST_SECRET,
};

/// The handshake's magic number (crates/engine/src/connect.rs): "STRADS", protocol version 2.
const MAGIC: u64 = 0x5354_5241_4453_0002;
/// The acceptor's answer: magic, process count, index, nonce (32), MAC (32).
const ANSWER: usize = 3 * 8 + 32 + 32;

/// Flags that make a lasso run go on until killed (at most 120 s).
fn endless(data: &Path) -> Vec<String> {
    [
        "--data",
        &arg(data),
        "--tol",
        "1e-300",
        "--max-iters",
        "1e12",
        "--max-seconds",
        "120",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn strings(flags: &[&str]) -> Vec<String> {
    flags.iter().map(|f| (*f).to_owned()).collect()
}

/// Panics (after killing every child, via their `Drop`) with the output of all of them.
fn fail(children: &[&Proc], message: &str) -> ! {
    let outputs: Vec<String> = children.iter().map(|c| c.describe_so_far()).collect();
    panic!("{message}\n{}", outputs.join("\n"));
}

/// Whether a TCP socket on 127.0.0.1:`port` is in `state` (Linux: /proc/net/tcp; `0A`
/// listening, `01` established).
#[cfg(target_os = "linux")]
fn socket_in_state(port: u16, state: &str) -> bool {
    sockets_in_state(port, state) > 0
}

/// How many TCP sockets on 127.0.0.1:`port` (either end) are in `state` (a loopback connection
/// counts twice, once per end).
#[cfg(target_os = "linux")]
fn sockets_in_state(port: u16, state: &str) -> usize {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return 0;
    };
    let endpoint = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3
                && fields[3] == state
                && (fields[1] == endpoint || fields[2] == endpoint)
        })
        .count()
}

/// Waits until `process` listens on `port` (without connecting to it: a probe would be one more
/// connection to drop).
fn wait_until_listening(process: &mut Proc, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.try_wait() {
            fail(&[&*process], &format!("exited ({status}) before listening"));
        }
        #[cfg(target_os = "linux")]
        if socket_in_state(port, "0A") {
            return;
        }
        #[cfg(not(target_os = "linux"))]
        if Instant::now() + Duration::from_secs(58) > deadline {
            return; // two seconds: enough to start listening
        }
        if Instant::now() > deadline {
            fail(
                &[&*process],
                &format!("did not listen on port {port} within 60 s"),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the processes are connected to process 0 (which listens on `port0`), then gives
/// them `settle` to load and start solving. Fails the test if one exits meanwhile.
fn wait_until_connected(children: &mut [Proc], port0: u16, settle: Duration) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let check_alive = |children: &mut [Proc]| {
        for index in 0..children.len() {
            if let Some(status) = children[index].try_wait() {
                let all: Vec<&Proc> = children.iter().collect();
                fail(
                    &all,
                    &format!("process {index} exited ({status}) too early"),
                );
            }
        }
    };
    #[cfg(target_os = "linux")]
    while !socket_in_state(port0, "01") {
        check_alive(children);
        if Instant::now() > deadline {
            let all: Vec<&Proc> = children.iter().collect();
            fail(&all, "the processes did not connect within 60 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (port0, deadline);
    let from = Instant::now();
    while from.elapsed() < settle {
        check_alive(children);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A dialer's hello: magic, process count, index, the index it wants, purpose (0 data,
/// 1 heartbeat), and a nonce.
fn hello(processes: u64, index: u64, wanted: u64, purpose: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    for value in [MAGIC, processes, index, wanted, purpose] {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes.extend_from_slice(&[7u8; 32]);
    bytes
}

/// Whether the peer closed `stream` (end of file or reset) within 20 s.
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buffer = [0u8; 256];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. an answer we do not care about
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn expect_error_line(run: &Run, parts: &[&str]) {
    assert!(
        run.error_lines()
            .iter()
            .any(|line| parts.iter().all(|p| line.contains(p))),
        "expected an error line with {parts:?}\n{}",
        run.describe()
    );
}

#[test]
fn forged_handshakes_are_dropped_and_the_real_cluster_still_forms() {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", "lasso", LASSO_PROBLEM);
    let (hosts, ports) = dir.loopback_hosts(2);
    let flags = strings(&["--data", &arg(&data), "--json"]);
    let mut zero = spawn_process("lasso", 2, 0, &hosts, &flags);
    wait_until_listening(&mut zero, ports[0]);

    // Every forgery comes before the real process 1, so an admitted one would take its place.
    let mut frame = (1u64 << 40).to_le_bytes().to_vec();
    frame.resize(72, 0xAB);
    let forgeries: [(&str, Vec<u8>, bool); 6] = [
        ("process 1 of 2 with a wrong MAC", hello(2, 1, 0, 0), true),
        (
            "process 1's heartbeat with a wrong MAC",
            hello(2, 1, 0, 1),
            true,
        ),
        ("process 1 of 3", hello(3, 1, 0, 0), true),
        ("a second process 0", hello(2, 0, 0, 0), true),
        ("process 7 of 2", hello(2, 7, 0, 0), true),
        (
            "a frame length of 2^40 instead of a handshake",
            frame,
            false,
        ),
    ];
    let started = Instant::now();
    for (what, bytes, answered) in &forgeries {
        let mut stream = TcpStream::connect(("127.0.0.1", ports[0])).unwrap();
        stream.write_all(bytes).unwrap();
        if *answered {
            // The challenge comes back; the forger cannot compute the MAC, so it sends zeros.
            let mut answer = [0u8; ANSWER];
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            if stream.read_exact(&mut answer).is_ok() {
                let _ = stream.write_all(&[0u8; 32]);
            }
        }
        if !closed_by_peer(&mut stream) {
            fail(
                &[&zero],
                &format!("{what}: process 0 kept the connection open"),
            );
        }
    }
    println!(
        "6 forged handshakes dropped in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    let one = spawn_process("lasso", 2, 1, &hosts, &flags);
    let zero = zero.finish(COMMAND_TIMEOUT);
    let one = one.finish(COMMAND_TIMEOUT);
    zero.expect_success();
    one.expect_success();
    assert_eq!(zero.json()["processes"], 2, "{}", zero.describe());
    assert!(
        zero.stderr.contains("dropped 6 connection(s)"),
        "process 0 should report the 6 dropped connections\n{}",
        zero.describe()
    );
}

#[test]
fn seven_idle_connections_do_not_delay_formation() {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", "lasso", LASSO_PROBLEM);
    let (hosts, ports) = dir.loopback_hosts(2);
    // Each idle connection may hold a handshake for 10 s; accepting them one after another would
    // take 70 s, far past this deadline.
    let flags = strings(&["--data", &arg(&data), "--json", "--connect-timeout", "20"]);
    let mut zero = spawn_process("lasso", 2, 0, &hosts, &flags);
    wait_until_listening(&mut zero, ports[0]);
    let idle: Vec<TcpStream> = (0..7)
        .map(|_| TcpStream::connect(("127.0.0.1", ports[0])).unwrap())
        .collect();
    let started = Instant::now();
    let one = spawn_process("lasso", 2, 1, &hosts, &flags);
    let one = one.finish(COMMAND_TIMEOUT);
    let seconds = started.elapsed().as_secs_f64();
    let zero = zero.finish(COMMAND_TIMEOUT);
    zero.expect_success();
    one.expect_success();
    println!(
        "with 7 idle connections open, process 1 formed the cluster and finished in {seconds:.3} s"
    );
    drop(idle);
}

#[test]
fn formation_gives_up_at_its_deadline_despite_idle_connections() {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", "lasso", LASSO_PROBLEM);
    let (hosts, ports) = dir.loopback_hosts(2);
    let flags = strings(&["--data", &arg(&data), "--connect-timeout", "3"]);
    let started = Instant::now();
    let mut zero = spawn_process("lasso", 2, 0, &hosts, &flags);
    wait_until_listening(&mut zero, ports[0]);
    let _idle: Vec<TcpStream> = (0..7)
        .map(|_| TcpStream::connect(("127.0.0.1", ports[0])).unwrap())
        .collect();
    // Process 1 never comes: process 0 must give up at its 3 s deadline (bound: 3 s + 7 s).
    let bound = Duration::from_secs(10);
    if zero.wait_until(started + bound).is_none() {
        fail(
            &[&zero],
            "process 0 was still waiting 10 s after it started",
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let zero = zero.finish(Duration::from_secs(1));
    zero.expect_code(1);
    expect_error_line(&zero, &["process 1", "did not connect within 3 s"]);
    println!("with 7 idle connections, process 0 gave up after {seconds:.3} s (deadline 3 s)");
}

#[test]
fn a_process_with_another_secret_is_never_admitted() {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", "lasso", LASSO_PROBLEM);
    let (hosts, _) = dir.loopback_hosts(2);
    let flags = strings(&["--data", &arg(&data), "--connect-timeout", "5"]);
    let zero = spawn_process("lasso", 2, 0, &hosts, &flags);
    let one = Proc::spawn_with_env(
        cluster_args("lasso", 2, 1, &hosts, &flags),
        &[(SECRET_ENV, "another-secret-0123456789abcdef")],
    );
    let one = one.finish(COMMAND_TIMEOUT);
    let zero = zero.finish(COMMAND_TIMEOUT);
    // The engine says what happened; the binary adds where the secret comes from.
    let hint = "from STRADS_SECRET or --secret-file?";
    one.expect_code(1);
    expect_error_line(
        &one,
        &["process 0", "did not prove the cluster secret", hint],
    );
    zero.expect_code(1);
    expect_error_line(&zero, &["process 1", "did not authenticate", hint]);
}

#[test]
fn a_cluster_needs_a_secret_from_the_environment_or_a_file() {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", "lasso", LASSO_PROBLEM);
    let (hosts, _) = dir.loopback_hosts(2);
    let flags = strings(&["--data", &arg(&data), "--json"]);

    let none = Proc::spawn(cluster_args("lasso", 2, 0, &hosts, &flags)).finish(COMMAND_TIMEOUT);
    none.expect_code(2);
    expect_error_line(&none, &["STRADS_SECRET", "--secret-file", "strads launch"]);

    let short = Proc::spawn_with_env(
        cluster_args("lasso", 2, 0, &hosts, &flags),
        &[(SECRET_ENV, "short")],
    )
    .finish(COMMAND_TIMEOUT);
    short.expect_code(2);
    expect_error_line(&short, &["STRADS_SECRET", "at least 16"]);

    let single = Proc::spawn(["lasso", "--data", &arg(&data), "--peer-timeout", "3"])
        .finish(COMMAND_TIMEOUT);
    single.expect_code(2);
    expect_error_line(&single, &["--peer-timeout", "--processes > 1"]);

    // The same secret from a file (a trailing newline is not part of it) forms the cluster.
    let file = dir.write("secret", &format!("{TEST_SECRET}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut with_file = flags.clone();
    with_file.extend(["--secret-file".to_owned(), arg(&file)]);
    let zero = Proc::spawn(cluster_args("lasso", 2, 0, &hosts, &with_file));
    // Process 1 takes the secret from the environment: the same bytes.
    let one = spawn_process("lasso", 2, 1, &hosts, &flags);
    let zero = zero.finish(COMMAND_TIMEOUT);
    let one = one.finish(COMMAND_TIMEOUT);
    zero.expect_success();
    one.expect_success();
    assert!(
        !zero.stderr.contains("warning"),
        "no warning for a private secret file\n{}",
        zero.describe()
    );
}

/// Starts two processes whose command lines differ (`flags0`, `flags1` after the cluster flags)
/// and checks that both exit with status 2 naming `item` and each other.
fn assert_disagreement(app: &str, flags0: &[String], flags1: &[String], item: &str) {
    let dir = Dir::new();
    let (hosts, _) = dir.loopback_hosts(2);
    let zero = spawn_process(app, 2, 0, &hosts, flags0);
    let one = spawn_process(app, 2, 1, &hosts, flags1);
    let runs = [zero.finish(COMMAND_TIMEOUT), one.finish(COMMAND_TIMEOUT)];
    for (process, run) in runs.iter().enumerate() {
        run.expect_code(2);
        let other = format!("process {}", 1 - process);
        expect_error_line(run, &[&other, &format!("differs in {item}")]);
        assert!(run.stdout.trim().is_empty(), "{}", run.describe());
    }
}

#[test]
fn processes_started_with_different_flags_fail_naming_the_first_difference() {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", "lasso", LASSO_PROBLEM);
    let other = dir.generate(
        "other.libsvm",
        "lasso",
        &["--rows", "300", "--cols", "50", "--support", "5"],
    );
    let with = |extra: &[&str]| {
        let mut flags = strings(&["--data", &arg(&data)]);
        flags.extend(strings(extra));
        flags
    };
    assert_disagreement(
        "lasso",
        &with(&["--lambda-ratio", "0.1"]),
        &with(&["--lambda-ratio", "0.2"]),
        "--lambda-ratio",
    );
    // Different data files (the issue: both exited 0 with a wrong answer).
    assert_disagreement(
        "lasso",
        &with(&[]),
        &strings(&["--data", &arg(&other)]),
        "--data size",
    );
    // A layout flag and its default.
    assert_disagreement(
        "lasso",
        &with(&["--layout", "rows", "--staleness", "1"]),
        &with(&["--layout", "rows"]),
        "--staleness",
    );
    assert_disagreement(
        "mf",
        &strings(&["--rank", "5"]),
        &strings(&["--rank", "6"]),
        "--rank",
    );
    assert_disagreement(
        "lda",
        &strings(&["--topics", "5", "--iters", "2"]),
        &strings(&["--topics", "6", "--iters", "2"]),
        "--topics",
    );
    assert_disagreement(
        "mf",
        &strings(&["--iters", "2"]),
        &strings(&["--iters", "2", "--out-prefix", &arg(&dir.path("model"))]),
        "model gathered",
    );
}

#[test]
fn processes_with_different_threads_or_subcommands_fail_naming_it() {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", "lasso", LASSO_PROBLEM);
    let (hosts, _) = dir.loopback_hosts(2);
    let with_threads = |process: usize, threads: &str| {
        let mut args = cluster_args(
            "lasso",
            2,
            process,
            &hosts,
            &strings(&["--data", &arg(&data)]),
        );
        let at = args.iter().position(|a| a == "--threads").unwrap();
        args[at + 1] = threads.to_owned();
        Proc::spawn_with_env(args, &[(SECRET_ENV, TEST_SECRET)])
    };
    let (zero, one) = (with_threads(0, "2"), with_threads(1, "1"));
    let runs = [zero.finish(COMMAND_TIMEOUT), one.finish(COMMAND_TIMEOUT)];
    expect_error_line(
        &runs[0],
        &["process 1 differs in --threads: 2 here, 1 there"],
    );
    expect_error_line(
        &runs[1],
        &["process 0 differs in --threads: 1 here, 2 there"],
    );
    for run in &runs {
        run.expect_code(2);
    }

    let zero = spawn_process("lasso", 2, 0, &hosts, &strings(&["--data", &arg(&data)]));
    let one = spawn_process("logreg", 2, 1, &hosts, &strings(&["--data", &arg(&data)]));
    let runs = [zero.finish(COMMAND_TIMEOUT), one.finish(COMMAND_TIMEOUT)];
    expect_error_line(
        &runs[0],
        &["process 1 differs in subcommand: lasso here, logreg there"],
    );
    expect_error_line(
        &runs[1],
        &["process 0 differs in subcommand: logreg here, lasso there"],
    );
    for run in &runs {
        run.expect_code(2);
    }
}

/// Stops `victim` with SIGSTOP once the cluster runs and checks that the survivor exits with
/// status 1 within the peer timeout (plus a generous margin), naming it.
#[cfg(unix)]
fn stopped_peer_is_detected(victim: usize) {
    let peer_timeout = 3.0;
    let dir = Dir::new();
    let data = dir.generate("big.libsvm", "lasso", BIG_PROBLEM);
    let (hosts, ports) = dir.loopback_hosts(2);
    let mut flags = endless(&data);
    flags.extend(strings(&["--peer-timeout", &peer_timeout.to_string()]));
    let mut children = spawn_cluster("lasso", 2, &hosts, &flags);
    wait_until_connected(&mut children, ports[0], Duration::from_millis(1500));

    let pid = children[victim].id().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("kill -STOP");
    assert!(stopped.success());
    let stopped_at = Instant::now();
    let survivor = 1 - victim;
    let bound = Duration::from_secs_f64(peer_timeout + 10.0);
    let exited = children[survivor].wait_until(stopped_at + bound);
    let seconds = stopped_at.elapsed().as_secs_f64();
    // Let the victim go (it is killed when dropped).
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status();
    if exited.is_none() {
        fail(
            &children.iter().collect::<Vec<_>>(),
            &format!("process {survivor} still ran {bound:?} after process {victim} was stopped"),
        );
    }
    let run = children
        .swap_remove(survivor)
        .finish(Duration::from_secs(1));
    run.expect_code(1);
    expect_error_line(&run, &[&format!("process {victim}"), "no heartbeat"]);
    assert!(
        seconds >= peer_timeout / 2.0,
        "detected after {seconds:.3} s, before the peer timeout could have passed\n{}",
        run.describe()
    );
    println!(
        "process {victim} stopped: process {survivor} exited after {seconds:.3} s (peer timeout \
         {peer_timeout} s)"
    );
}

#[cfg(unix)]
#[test]
fn stopping_process_1_makes_process_0_exit_within_the_peer_timeout() {
    stopped_peer_is_detected(1);
}

#[cfg(unix)]
#[test]
fn stopping_process_0_makes_process_1_exit_within_the_peer_timeout() {
    stopped_peer_is_detected(0);
}

#[test]
fn a_peer_killed_while_loading_is_detected_at_once() {
    // mf parses its files after forming the cluster (about 0.25 s for these 2M ratings on one
    // thread): kill process 1 once both of its connections to process 0 are up and a moment
    // for their handshakes has passed.
    let dir = Dir::new();
    let ratings = dir.path("ratings");
    crate::support::run([
        "gen",
        "mf",
        "--users",
        "20000",
        "--items",
        "5000",
        "--ratings",
        "2000000",
        "--rank",
        "5",
        "--seed",
        "1",
        "--out",
        &arg(&ratings),
    ])
    .expect_success();
    let (hosts, ports) = dir.loopback_hosts(2);
    let flags = strings(&[
        "--train",
        &format!("{}.train", arg(&ratings)),
        "--iters",
        "1000",
        "--max-seconds",
        "120",
    ]);
    let mut children = spawn_cluster("mf", 2, &hosts, &flags);
    let deadline = Instant::now() + Duration::from_secs(60);
    #[cfg(target_os = "linux")]
    while sockets_in_state(ports[0], "01") < 4 {
        if children.iter_mut().any(|c| c.try_wait().is_some()) || Instant::now() > deadline {
            fail(
                &children.iter().collect::<Vec<_>>(),
                "the processes did not connect (or one exited)",
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ports, deadline);
    std::thread::sleep(Duration::from_millis(50));
    children[1].kill();
    let killed_at = Instant::now();
    let bound = Duration::from_secs(10);
    if children[0].wait_until(killed_at + bound).is_none() {
        fail(
            &children.iter().collect::<Vec<_>>(),
            "process 0 still ran 10 s after process 1 was killed while loading",
        );
    }
    let seconds = killed_at.elapsed().as_secs_f64();
    let run = children.swap_remove(0).finish(Duration::from_secs(1));
    run.expect_code(1);
    expect_error_line(&run, &["process 1", "exited or was killed"]);
    println!("mf process 1 killed while loading: process 0 exited after {seconds:.3} s");
}

/// The processes whose parent is `parent` (Linux: /proc/*/stat), and whether each is alive
/// (not a zombie).
#[cfg(target_os = "linux")]
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some((_, ppid)) = state_and_parent(pid) {
            if ppid == parent {
                children.push(pid);
            }
        }
    }
    children
}

/// A process's state letter and parent, if it exists.
#[cfg(target_os = "linux")]
fn state_and_parent(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
    state_and_parent(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

#[cfg(target_os = "linux")]
#[test]
fn killing_the_launcher_takes_its_children_down() {
    let dir = Dir::new();
    let data = dir.generate("big.libsvm", "lasso", BIG_PROBLEM);
    let mut args = strings(&[
        "launch",
        "--processes",
        "2",
        "--threads",
        "1",
        "--",
        "lasso",
    ]);
    args.extend(endless(&data));
    let mut launcher = Proc::spawn(&args);
    let deadline = Instant::now() + Duration::from_secs(60);
    let children = loop {
        let children = children_of(launcher.id());
        if children.len() == 2 {
            break children;
        }
        if launcher.try_wait().is_some() || Instant::now() > deadline {
            fail(&[&launcher], "the launcher did not start two children");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(1500));

    // The secret travels in the children's environment, never on their command line.
    for child in &children {
        let environ = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
        let secret = environ
            .split(|b| *b == 0)
            .find_map(|v| v.strip_prefix(b"STRADS_SECRET="))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| fail(&[&launcher], "a child has no STRADS_SECRET"));
        assert_eq!(secret.len(), 64, "a 32-byte random secret in hex");
        let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains(&secret),
            "the secret is on a child's command line"
        );
    }

    launcher.kill();
    let killed_at = Instant::now();
    let bound = Duration::from_secs(10);
    while children.iter().any(|&c| alive(c)) && killed_at.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = killed_at.elapsed().as_secs_f64();
    let survivors: Vec<u32> = children.iter().copied().filter(|&c| alive(c)).collect();
    for &pid in &survivors {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(
        survivors.is_empty(),
        "children {survivors:?} still ran {bound:?} after their launcher was killed\n{}",
        launcher.describe_so_far()
    );
    println!("launcher killed: both children gone after {seconds:.3} s");
}

/// A process that fails with bad input before the cluster forms tells its peers while forming:
/// they exit 2 at once naming it and its error, instead of at the connect timeout (120 s here;
/// the deadline below is half of it, so only a prompt report passes).
#[test]
fn a_process_failing_before_formation_stops_its_peers_at_once_naming_its_error() {
    let dir = Dir::new();
    let data = dir.write("data.libsvm", "1 1:1 2:0.5\n-1 2:1\n2 1:0.5 3:1\n");
    let not_a_directory = dir.write("not-a-directory", "x\n");
    let text = dir.write("text.txt", "a b c a b\nb c a\n");
    let train = arg(&data);
    let cases: [(&str, Vec<String>, Vec<String>, &str); 4] = [
        (
            "word2vec",
            vec![
                "--data".into(),
                arg(&text),
                "--out".into(),
                arg(&dir.path("vectors.txt")),
            ],
            vec!["--dim".into(), "0".into()],
            "--dim must be at least 1",
        ),
        (
            "mlr",
            vec!["--data".into(), train],
            vec!["--epochs".into(), "3".into()],
            "--epochs only applies to --solver sgd",
        ),
        (
            "lasso",
            vec!["--data".into(), arg(&data)],
            vec!["--checkpoint".into(), arg(&not_a_directory)],
            "--checkpoint is not a directory",
        ),
        (
            "lda",
            vec!["--iters".into(), "2".into()],
            vec!["--checkpoint-every".into(), "2".into()],
            "--checkpoint-every needs --checkpoint DIR",
        ),
    ];
    for (app, common, bad, expected) in cases {
        let (hosts, _) = dir.loopback_hosts(2);
        let mut flags = common.clone();
        flags.extend(["--connect-timeout".to_owned(), "120".to_owned()]);
        let mut bad_flags = flags.clone();
        bad_flags.extend(bad);
        let started = Instant::now();
        let healthy = spawn_process(app, 2, 0, &hosts, &flags);
        let failing = spawn_process(app, 2, 1, &hosts, &bad_flags);
        let failed = failing.finish(COMMAND_TIMEOUT);
        let peer = healthy.finish(COMMAND_TIMEOUT);
        failed.expect_code(2);
        assert!(failed.stderr.contains(expected), "{}", failed.describe());
        peer.expect_code(2);
        assert!(
            peer.stderr
                .contains("process 1 failed before the cluster could run")
                && peer.stderr.contains(expected),
            "{app}: {}",
            peer.describe()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{app}: took {:?}",
            started.elapsed()
        );
    }
}
