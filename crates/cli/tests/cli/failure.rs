//! A process of a cluster dies: the others must stop within 10 s with an error naming it, instead of
//! waiting forever for its messages.

use std::time::{Duration, Instant};

use crate::support::{arg, spawn_cluster, Dir, Proc, BIG_PROBLEM};

/// The requirement: survivors exit within this time after a peer dies.
const FAILURE_DEADLINE: Duration = Duration::from_secs(10);

/// Panics (after killing every child, via their `Drop`) with the output of all of them.
fn fail(children: &[Proc], message: &str) -> ! {
    let outputs: Vec<String> = children.iter().map(Proc::describe_so_far).collect();
    panic!("{message}\n{}", outputs.join("\n"));
}

/// Whether a TCP connection to or from 127.0.0.1:`port` is established (Linux: /proc/net/tcp).
#[cfg(target_os = "linux")]
fn connection_established(port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let endpoint = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl, local_address, rem_address, st (01 = ESTABLISHED), ...
        fields.len() > 3 && fields[3] == "01" && (fields[1] == endpoint || fields[2] == endpoint)
    })
}

/// Waits until process 1 has connected to process 0 (which listens on `port0`), then gives both
/// a moment to load the data and start solving. Fails the test if a child exits meanwhile.
fn wait_until_running(children: &mut [Proc], port0: u16) {
    let start = Instant::now();
    let connect_deadline = start + Duration::from_secs(60);
    let check_alive = |children: &mut [Proc]| {
        for index in 0..children.len() {
            if let Some(status) = children[index].try_wait() {
                fail(
                    children,
                    &format!("process {index} exited ({status}) before it was killed"),
                );
            }
        }
    };
    #[cfg(target_os = "linux")]
    while !connection_established(port0) {
        check_alive(children);
        if Instant::now() > connect_deadline {
            fail(children, "the processes did not connect within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (port0, connect_deadline);
    // Start-up delay only: loading the 20000-row problem takes well under a second.
    let running_from = Instant::now();
    while running_from.elapsed() < Duration::from_millis(1500) {
        check_alive(children);
        std::thread::sleep(Duration::from_millis(10));
    }
    check_alive(children);
}

fn survivor_exits_naming_the_killed_process(victim: usize) {
    let dir = Dir::new();
    let data = dir.generate("big.libsvm", "lasso", BIG_PROBLEM);
    let (hosts, ports) = dir.loopback_hosts(2);
    let flags: Vec<String> = [
        "--data",
        &arg(&data),
        "--tol",
        "1e-300",
        "--max-iters",
        "1e12",
        "--max-seconds",
        "120",
        "--json",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut children = spawn_cluster("lasso", 2, &hosts, &flags);
    wait_until_running(&mut children, ports[0]);

    let survivor = 1 - victim;
    children[victim].kill();
    let killed_at = Instant::now();
    if children[survivor]
        .wait_until(killed_at + FAILURE_DEADLINE)
        .is_none()
    {
        fail(
            &children,
            &format!(
                "process {survivor} was still running {FAILURE_DEADLINE:?} after process {victim} \
                 was killed"
            ),
        );
    }
    let run = children
        .swap_remove(survivor)
        .finish(Duration::from_secs(1));
    assert_eq!(
        run.code(),
        Some(1),
        "a lost peer is a runtime failure (status 1)\n{}",
        run.describe()
    );
    assert!(
        run.stdout.trim().is_empty(),
        "no summary may be printed after a failure\n{}",
        run.describe()
    );
    assert!(
        !run.stderr.contains("panicked at"),
        "a raw panic instead of an error\n{}",
        run.describe()
    );
    let named = format!("process {victim}");
    assert!(
        run.error_lines()
            .iter()
            .any(|l| l.contains(&named) && l.contains("process")),
        "the error of process {survivor} should name {named:?}\n{}",
        run.describe()
    );
}

#[test]
fn killing_process_1_makes_process_0_exit_naming_it_within_10_s() {
    survivor_exits_naming_the_killed_process(1);
}

#[test]
fn killing_process_0_makes_process_1_exit_naming_it_within_10_s() {
    survivor_exits_naming_the_killed_process(0);
}
