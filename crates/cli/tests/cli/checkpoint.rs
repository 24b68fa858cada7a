//! Checkpoint and resume: a run resumed from a checkpoint ends with the same output files, byte
//! for byte, and the same trace (times aside) as the run that was never interrupted, for every
//! app; SIGTERM stops a run at an iteration boundary with its outputs (and a last checkpoint) and
//! exit status 143; a cluster whose process is killed with `kill -9` resumes to the
//! uninterrupted answer; bad checkpoints and flags are exit-2 errors naming the problem.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{arg, run, spawn_cluster, Dir, Proc, Run, COMMAND_TIMEOUT};

/// The trace's records without their times (which differ between any two runs).
fn trace_without_times(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: cannot read the trace: {e}", path.display()));
    text.lines()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = record.as_object_mut().unwrap();
            object.remove("seconds");
            object.remove("tokens_per_second");
            record
        })
        .collect()
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The iterations of the checkpoint generations in `dir` that have every listed manifest.
fn generations_with(dir: &Path, manifests: &[&str]) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<u64> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let iteration = name.strip_prefix("iteration-")?.parse().ok()?;
            manifests
                .iter()
                .all(|m| e.path().join(m).exists())
                .then_some(iteration)
        })
        .collect();
    found.sort_unstable();
    found
}

/// Runs `app FLAGS` three ways: uninterrupted; with a checkpoint every `every` (the last one
/// stays, before the end); resumed from it. The resumed run's `outputs` (flags naming files)
/// and trace must equal the uninterrupted run's.
fn resumed_equals_uninterrupted(app: &[&str], flags: &[&str], every: &str, outputs: &[&str]) {
    let dir = Dir::new();
    let checkpoint = dir.path("checkpoint");
    let with_outputs = |tag: &str| -> Vec<String> {
        let mut args: Vec<String> = app.iter().chain(flags).map(|s| s.to_string()).collect();
        for flag in outputs {
            args.push(flag.to_string());
            args.push(arg(&dir.path(&format!("{tag}{flag}"))));
        }
        args.push("--trace".into());
        args.push(arg(&dir.path(&format!("{tag}.trace"))));
        args
    };
    run(with_outputs("full")).expect_success();
    let mut checkpointed: Vec<String> = app.iter().chain(flags).map(|s| s.to_string()).collect();
    checkpointed.extend([
        "--checkpoint".into(),
        arg(&checkpoint),
        "--checkpoint-every".into(),
        every.into(),
    ]);
    run(&checkpointed).expect_success();
    let saved = generations_with(&checkpoint, &["process-0.json"]);
    let full_trace = trace_without_times(&dir.path("full.trace"));
    assert_eq!(saved.len(), 1, "one checkpoint kept, found {saved:?}");
    assert!(
        (saved[0] as usize) + 1 < full_trace.len(),
        "the checkpoint (after {}) is not before the end ({} trace records)",
        saved[0],
        full_trace.len()
    );
    let mut resumed = with_outputs("resumed");
    resumed.extend(["--resume".into(), arg(&checkpoint)]);
    run(&resumed).expect_success();
    // Every file an output flag made (mf's --out-prefix makes three; its manifest names the
    // files and the input paths, so it is not compared).
    for flag in outputs {
        let made: Vec<String> = std::fs::read_dir(dir.path(""))
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter_map(|name| name.strip_prefix(&format!("full{flag}")).map(str::to_owned))
            .filter(|suffix| suffix != ".json")
            .collect();
        assert!(!made.is_empty(), "{app:?}: {flag} wrote nothing");
        for suffix in made {
            assert!(
                bytes(&dir.path(&format!("full{flag}{suffix}")))
                    == bytes(&dir.path(&format!("resumed{flag}{suffix}"))),
                "{app:?}: {flag}{suffix} of the resumed run differs from the uninterrupted run's"
            );
        }
    }
    assert_eq!(
        trace_without_times(&dir.path("resumed.trace")),
        full_trace,
        "{app:?}: the resumed trace differs"
    );
}

#[test]
fn lasso_resumes_bit_identically() {
    resumed_equals_uninterrupted(&["lasso"], &["--threads", "2"], "2", &["--out"]);
}

#[test]
fn logreg_resumes_bit_identically() {
    resumed_equals_uninterrupted(
        &["logreg"],
        &["--threads", "2", "--tol", "1e-9"],
        "2",
        &["--out"],
    );
}

/// The rows layout (STRADS's scheduled rounds), bulk synchronous and with rounds in flight:
/// the driver pauses after gap evaluations, and the updates that staleness holds back there,
/// the scheduler with its random generator, screening and the staleness window are saved.
#[test]
fn lasso_and_logreg_resume_bit_identically_in_the_rows_layout() {
    for staleness in ["0", "2"] {
        resumed_equals_uninterrupted(
            &["lasso"],
            &[
                "--layout",
                "rows",
                "--threads",
                "2",
                "--lambda-ratio",
                "0.01",
                "--staleness",
                staleness,
            ],
            "10",
            &["--out"],
        );
    }
    resumed_equals_uninterrupted(
        &["logreg"],
        &["--layout", "rows", "--threads", "2", "--staleness", "1"],
        "150",
        &["--out"],
    );
}

#[test]
fn mf_resumes_bit_identically_with_every_algorithm() {
    for algo in ["ccd", "als", "sgd"] {
        resumed_equals_uninterrupted(
            &["mf", "--algo", algo],
            &["--threads", "2", "--iters", "7"],
            "3",
            &["--out-prefix"],
        );
    }
}

#[test]
fn lda_resumes_bit_identically() {
    resumed_equals_uninterrupted(
        &["lda"],
        &["--threads", "2", "--iters", "9", "--loglik-every", "1"],
        "3",
        &["--word-topics-out", "--doc-topics-out"],
    );
}

/// Waits (polling, generous deadline) until `dir` holds a generation with every manifest.
fn wait_for_checkpoint(children: &mut [Proc], dir: &Path, manifests: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while generations_with(dir, manifests).is_empty() {
        for child in children.iter_mut() {
            if let Some(status) = child.try_wait() {
                panic!(
                    "exited ({status}) before a checkpoint was written\n{}",
                    child.describe_so_far()
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint within 60 s in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_signal(process: &Proc, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &process.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {signal} failed");
}

#[test]
fn sigterm_writes_the_outputs_and_a_last_checkpoint_then_exits_143() {
    let dir = Dir::new();
    let checkpoint = dir.path("checkpoint");
    let lda = |iters: &str, tag: &str| -> Vec<String> {
        [
            "lda",
            "--threads",
            "2",
            "--iters",
            iters,
            "--word-topics-out",
            &arg(&dir.path(&format!("{tag}.words"))),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut args = lda("100000000", "stopped");
    args.extend([
        "--checkpoint".into(),
        arg(&checkpoint),
        "--checkpoint-every".into(),
        "3".into(),
    ]);
    let mut process = Proc::spawn(&args);
    wait_for_checkpoint(
        std::slice::from_mut(&mut process),
        &checkpoint,
        &["process-0.json"],
    );
    send_signal(&process, "-TERM");
    let stopped: Run = process.finish(COMMAND_TIMEOUT);
    stopped.expect_code(143);
    assert!(
        stopped.stderr.contains("interrupted by signal 15"),
        "{}",
        stopped.describe()
    );
    assert!(dir.path("stopped.words").exists(), "no outputs written");
    // The last checkpoint is the stopping iteration's; resuming it to a few more iterations
    // gives what a run of that many iterations gives.
    let last = *generations_with(&checkpoint, &["process-0.json"])
        .last()
        .expect("a checkpoint");
    let iters = (last + 3).to_string();
    run(lda(&iters, "full")).expect_success();
    let mut resumed = lda(&iters, "resumed");
    resumed.extend(["--resume".into(), arg(&checkpoint)]);
    run(&resumed).expect_success();
    assert!(
        bytes(&dir.path("full.words")) == bytes(&dir.path("resumed.words")),
        "the run resumed after SIGTERM differs from the uninterrupted one"
    );
}

#[test]
fn a_cluster_resumes_after_kill_9_to_the_uninterrupted_answer() {
    let dir = Dir::new();
    let checkpoint = dir.path("checkpoint");
    let flags = |iters: &str, extra: &[String]| -> Vec<String> {
        let mut flags: Vec<String> = ["--iters", iters, "--loglik-every", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        flags.extend(extra.iter().cloned());
        flags
    };
    let (hosts, _) = dir.loopback_hosts(2);
    let saving = [
        "--checkpoint".to_owned(),
        arg(&checkpoint),
        "--checkpoint-every".to_owned(),
        "2".to_owned(),
    ];
    let mut children = spawn_cluster("lda", 2, &hosts, &flags("100000000", &saving));
    wait_for_checkpoint(
        &mut children,
        &checkpoint,
        &["process-0.json", "process-1.json"],
    );
    children[1].kill();
    let survivor = children.remove(0).finish(COMMAND_TIMEOUT);
    survivor.expect_code(1);
    // Resume both to a few iterations past everything written (each resumes the latest
    // checkpoint complete on both), and compare with a cluster that was never interrupted.
    let written = generations_with(&checkpoint, &[]);
    let iters = (written.last().expect("a checkpoint") + 3).to_string();
    let outputs = |tag: &str| {
        vec![
            "--word-topics-out".to_owned(),
            arg(&dir.path(&format!("{tag}.words"))),
            "--trace".to_owned(),
            arg(&dir.path(&format!("{tag}.trace"))),
        ]
    };
    let mut resume = outputs("resumed");
    resume.extend(["--resume".to_owned(), arg(&checkpoint)]);
    let (hosts, _) = dir.loopback_hosts(2);
    for child in spawn_cluster("lda", 2, &hosts, &flags(&iters, &resume)) {
        child.finish(COMMAND_TIMEOUT).expect_success();
    }
    let (hosts, _) = dir.loopback_hosts(2);
    for child in spawn_cluster("lda", 2, &hosts, &flags(&iters, &outputs("full"))) {
        child.finish(COMMAND_TIMEOUT).expect_success();
    }
    assert!(
        bytes(&dir.path("full.words")) == bytes(&dir.path("resumed.words")),
        "the cluster resumed after kill -9 differs from the uninterrupted one"
    );
    assert_eq!(
        trace_without_times(&dir.path("resumed.trace")),
        trace_without_times(&dir.path("full.trace"))
    );
}

fn expect_usage_error(args: &[String], expected: &str) {
    let result = run(args);
    result.expect_code(2);
    assert!(
        result.stderr.contains(expected),
        "expected '{expected}' in the error\n{}",
        result.describe()
    );
}

#[test]
fn bad_checkpoints_and_flags_are_usage_errors_naming_the_problem() {
    let dir = Dir::new();
    let checkpoint = dir.path("checkpoint");
    let lda = |extra: &[&str]| -> Vec<String> {
        ["lda", "--threads", "2", "--iters", "6"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let path = arg(&checkpoint);
    run(lda(&["--checkpoint", &path, "--checkpoint-every", "2"])).expect_success();

    expect_usage_error(
        &lda(&["--checkpoint-every", "2"]),
        "--checkpoint-every needs --checkpoint DIR",
    );
    expect_usage_error(
        &lda(&[
            "--checkpoint",
            &arg(&dir.path("other")),
            "--checkpoint-every",
            "2x",
        ]),
        "--checkpoint-every must be",
    );
    expect_usage_error(
        &lda(&["--checkpoint", &path]),
        "--checkpoint already holds a checkpoint",
    );
    expect_usage_error(
        &lda(&["--resume", &arg(&dir.path("missing"))]),
        "--resume needs a checkpoint directory",
    );
    expect_usage_error(
        &[
            "lda",
            "--threads",
            "1",
            "--iters",
            "6",
            "--resume",
            path.as_str(),
        ]
        .map(String::from),
        "--threads 2, this run has 1",
    );
    expect_usage_error(
        &lda(&["--topics", "20", "--resume", &path]),
        "--topics 50, this run has 20",
    );
    expect_usage_error(
        &["mf", "--threads", "2", "--resume", path.as_str()].map(String::from),
        "app lda, this run has mf ccd",
    );
    let data = arg(&dir.write("data.libsvm", "1 1:1\n2 2:1\n"));
    expect_usage_error(
        &[
            "lasso",
            "--data",
            data.as_str(),
            "--checkpoint",
            data.as_str(),
        ]
        .map(String::from),
        "--checkpoint is also --data",
    );
    // A damaged worker file: an error naming it, not a silently different run.
    let generation = std::fs::read_dir(&checkpoint)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("process-0.json").exists())
        .expect("a complete generation");
    std::fs::write(generation.join("worker-1.bin"), b"garbage").unwrap();
    expect_usage_error(&lda(&["--resume", &path]), "worker-1.bin: 7 bytes");
}

/// Two real processes in the rows layout with rounds in flight: checkpointed into a shared
/// directory, then resumed, they end with the uninterrupted cluster's coefficients and trace.
#[test]
fn a_two_process_cluster_resumes_the_rows_layout_bit_identically() {
    let dir = Dir::new();
    let checkpoint = dir.path("checkpoint");
    let flags = |extra: &[String]| -> Vec<String> {
        let mut flags: Vec<String> = [
            "--layout",
            "rows",
            "--lambda-ratio",
            "0.01",
            "--staleness",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        flags.extend(extra.iter().cloned());
        flags
    };
    let outputs = |tag: &str| {
        vec![
            "--out".to_owned(),
            arg(&dir.path(&format!("{tag}.out"))),
            "--trace".to_owned(),
            arg(&dir.path(&format!("{tag}.trace"))),
        ]
    };
    let cluster = |extra: &[String]| {
        let (hosts, _) = dir.loopback_hosts(2);
        for child in spawn_cluster("lasso", 2, &hosts, &flags(extra)) {
            child.finish(COMMAND_TIMEOUT).expect_success();
        }
    };
    cluster(&outputs("full"));
    cluster(&[
        "--checkpoint".to_owned(),
        arg(&checkpoint),
        "--checkpoint-every".to_owned(),
        "10".to_owned(),
    ]);
    let saved = generations_with(&checkpoint, &["process-0.json", "process-1.json"]);
    let full_trace = trace_without_times(&dir.path("full.trace"));
    assert!(
        saved.len() == 1 && (saved[0] as usize) + 1 < full_trace.len(),
        "expected one checkpoint before the end ({} trace records), found {saved:?}",
        full_trace.len()
    );
    let mut resumed = outputs("resumed");
    resumed.extend(["--resume".to_owned(), arg(&checkpoint)]);
    cluster(&resumed);
    assert!(
        bytes(&dir.path("full.out")) == bytes(&dir.path("resumed.out")),
        "the resumed cluster's coefficients differ from the uninterrupted one's"
    );
    assert_eq!(trace_without_times(&dir.path("resumed.trace")), full_trace);
}

/// SIGTERM in the rows layout: the run finishes its round, stops at the next gap evaluation
/// with a last checkpoint there and its outputs, and exits 143; resumed to a pass limit, it
/// equals a run to that limit that was never stopped.
#[test]
fn sigterm_stops_the_rows_layout_at_a_gap_evaluation_with_a_last_checkpoint() {
    let dir = Dir::new();
    let checkpoint = dir.path("checkpoint");
    // The tolerance is out of reach: only the signal (or the pass limit) stops these runs.
    let logreg = |tag: &str, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "logreg",
            "--layout",
            "rows",
            "--threads",
            "2",
            "--staleness",
            "1",
            "--tol",
            "1e-300",
            "--out",
            &arg(&dir.path(&format!("{tag}.out"))),
            "--trace",
            &arg(&dir.path(&format!("{tag}.trace"))),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let path = arg(&checkpoint);
    let mut process = Proc::spawn(logreg(
        "stopped",
        &["--checkpoint", &path, "--checkpoint-every", "5"],
    ));
    wait_for_checkpoint(
        std::slice::from_mut(&mut process),
        &checkpoint,
        &["process-0.json"],
    );
    send_signal(&process, "-TERM");
    let stopped = process.finish(COMMAND_TIMEOUT);
    stopped.expect_code(143);
    assert!(
        stopped.stderr.contains("interrupted by signal 15"),
        "{}",
        stopped.describe()
    );
    assert!(dir.path("stopped.out").exists(), "no coefficients written");
    let stopped_trace = trace_without_times(&dir.path("stopped.trace"));
    let last = *generations_with(&checkpoint, &["process-0.json"])
        .last()
        .expect("a checkpoint");
    assert_eq!(
        last as usize,
        stopped_trace.len(),
        "the last checkpoint is not the stopping evaluation's"
    );
    // Two passes beyond where it stopped, resumed and uninterrupted.
    let passes = stopped_trace.last().unwrap()["iteration"].as_f64().unwrap() + 2.0;
    let limit = passes.to_string();
    run(logreg("full", &["--max-iters", &limit])).expect_success();
    run(logreg(
        "resumed",
        &["--max-iters", &limit, "--resume", &path],
    ))
    .expect_success();
    assert!(
        bytes(&dir.path("full.out")) == bytes(&dir.path("resumed.out")),
        "the run resumed after SIGTERM differs from the uninterrupted one"
    );
    assert_eq!(
        trace_without_times(&dir.path("resumed.trace")),
        trace_without_times(&dir.path("full.trace"))
    );
}

/// Waits (polling, generous deadline) until `process` catches SIGTERM: its handler is installed
/// before the cluster forms, and a signal sent earlier would kill it by the default action.
fn wait_for_sigterm_handler(process: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = format!("/proc/{}/status", process.id());
    loop {
        // SigCgt is the hexadecimal mask of caught signals; SIGTERM (15) is bit 14.
        let caught = std::fs::read_to_string(&status)
            .ok()
            .and_then(|text| {
                let mask = text.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
                u64::from_str_radix(mask.trim(), 16).ok()
            })
            .is_some_and(|mask| mask & (1 << 14) != 0);
        if caught {
            return;
        }
        if let Some(status) = process.try_wait() {
            panic!(
                "exited ({status}) before catching SIGTERM\n{}",
                process.describe_so_far()
            );
        }
        assert!(Instant::now() < deadline, "no SIGTERM handler within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The STRADS-AP apps stop on SIGTERM as the others do: at the next iteration boundary (an SGD
/// or word2vec epoch), with their outputs and trace written, exit status 143.
#[test]
fn sigterm_stops_mlr_and_word2vec_at_an_epoch_boundary_with_their_outputs() {
    let dir = Dir::new();
    let examples = dir.generate(
        "train.libsvm",
        "mlr",
        &[
            "--rows",
            "3000",
            "--classes",
            "3",
            "--features",
            "20",
            "--seed",
            "4",
        ],
    );
    let text = dir.generate(
        "corpus.txt",
        "text",
        &["--sentences", "3000", "--seed", "3"],
    );
    let epochs = 1_000_000;
    let runs: [(&str, Vec<String>); 2] = [
        (
            "mlr",
            vec![
                "--data".into(),
                arg(&examples),
                "--solver".into(),
                "sgd".into(),
            ],
        ),
        (
            "word2vec",
            vec![
                "--data".into(),
                arg(&text),
                "--min-count".into(),
                "1".into(),
            ],
        ),
    ];
    for (app, flags) in runs {
        let (out, trace) = (
            dir.path(&format!("{app}.out")),
            dir.path(&format!("{app}.trace")),
        );
        let mut args = vec![app.to_string()];
        args.extend(flags);
        args.extend([
            "--threads".into(),
            "2".into(),
            "--epochs".into(),
            epochs.to_string(),
            "--out".into(),
            arg(&out),
            "--trace".into(),
            arg(&trace),
        ]);
        let mut process = Proc::spawn(&args);
        wait_for_sigterm_handler(&mut process);
        send_signal(&process, "-TERM");
        let stopped: Run = process.finish(COMMAND_TIMEOUT);
        stopped.expect_code(143);
        assert!(
            stopped.stderr.contains("interrupted by signal 15"),
            "{app}: {}",
            stopped.describe()
        );
        assert!(
            std::fs::metadata(&out).is_ok_and(|m| m.len() > 0),
            "{app}: no output written"
        );
        let records = std::fs::read_to_string(&trace)
            .expect("the trace")
            .lines()
            .count();
        assert!(
            (1..epochs).contains(&records),
            "{app}: {records} epochs in the trace, expected at least one and fewer than {epochs}"
        );
    }
}
