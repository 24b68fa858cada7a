//! One answer whatever the cluster shape: 1 thread, 2 threads, and 2 real processes over loopback
//! (started by `strads launch`, or by hand with a hosts file).

use std::collections::BTreeMap;
use std::path::Path;

use strads_io::read_coefficients;

use crate::support::{
    arg, number, relative_difference, run, spawn_cluster, Dir, Run, COMMAND_TIMEOUT, LASSO_PROBLEM,
};

/// The flags of every solve in this module.
fn solve_flags(data: &Path, out: &Path) -> Vec<String> {
    vec![
        "--data".to_owned(),
        arg(data),
        "--tol".to_owned(),
        "1e-10".to_owned(),
        "--out".to_owned(),
        arg(out),
        "--json".to_owned(),
    ]
}

/// Checks that two runs reached the same converged answer: objectives within 1e-8 relative, and
/// coefficient files that agree to 1e-6 of the largest coefficient.
fn assert_same_answer(
    reference: (&str, &Run, &Path),
    other: (&str, &Run, &Path),
    processes: u64,
    workers: u64,
) {
    let (reference_name, reference_run, reference_out) = reference;
    let (name, run, out) = other;
    let expected = reference_run.json();
    let got = run.json();
    assert_eq!(got["converged"], true, "{name}: {got}");
    assert_eq!(got["processes"], processes, "{name}: {got}");
    assert_eq!(got["workers"], workers, "{name}: {got}");
    let difference = relative_difference(number(&expected, "objective"), number(&got, "objective"));
    assert!(
        difference <= 1e-8,
        "{name} objective {} differs from {reference_name} objective {} by {difference:e} \
         (relative)",
        got["objective"],
        expected["objective"]
    );
    assert_eq!(got["rows"], expected["rows"], "{name}: {got}");
    assert_eq!(got["cols"], expected["cols"], "{name}: {got}");
    assert!(
        relative_difference(number(&expected, "lambda"), number(&got, "lambda")) < 1e-12,
        "{name} uses lambda {} but {reference_name} {}",
        got["lambda"],
        expected["lambda"]
    );

    let coefficients = |path: &Path| -> BTreeMap<u32, f64> {
        read_coefficients(path)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .collect()
    };
    let a = coefficients(reference_out);
    let b = coefficients(out);
    let scale = a.values().fold(0.0f64, |m, v| m.max(v.abs()));
    for index in a.keys().chain(b.keys()) {
        let (x, y) = (
            a.get(index).copied().unwrap_or(0.0),
            b.get(index).copied().unwrap_or(0.0),
        );
        assert!(
            (x - y).abs() <= 1e-6 * scale,
            "coefficient {} is {x} with {reference_name} but {y} with {name}",
            index + 1
        );
    }
}

fn same_answer_on_threads_and_processes(app: &str, layout: &str) {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", app, LASSO_PROBLEM);
    let shapes: [(&str, Vec<String>, u64, u64); 3] = [
        (
            "1 thread",
            vec![app.to_owned(), "--threads".to_owned(), "1".to_owned()],
            1,
            1,
        ),
        (
            "2 threads",
            vec![app.to_owned(), "--threads".to_owned(), "2".to_owned()],
            1,
            2,
        ),
        (
            "2 processes",
            ["launch", "--processes", "2", "--threads", "1", "--", app]
                .map(str::to_owned)
                .to_vec(),
            2,
            2,
        ),
    ];
    let mut runs = Vec::new();
    for (index, (name, prefix, processes, workers)) in shapes.into_iter().enumerate() {
        let out = dir.path(&format!("coef-{index}.txt"));
        let mut args = prefix;
        args.extend(solve_flags(&data, &out));
        args.extend(["--layout".to_owned(), layout.to_owned()]);
        let result = run(&args);
        result.expect_success();
        runs.push((name, result, out, processes, workers));
    }
    let (reference_name, reference_run, reference_out, _, _) = &runs[0];
    for (name, result, out, processes, workers) in &runs[1..] {
        assert_same_answer(
            (reference_name, reference_run, reference_out),
            (name, result, out),
            *processes,
            *workers,
        );
    }
}

#[test]
fn lasso_gives_the_same_answer_on_one_thread_two_threads_and_two_processes() {
    same_answer_on_threads_and_processes("lasso", "rows");
}

#[test]
fn logreg_gives_the_same_answer_on_one_thread_two_threads_and_two_processes() {
    same_answer_on_threads_and_processes("logreg", "rows");
}

#[test]
fn column_layout_lasso_gives_the_same_answer_on_one_thread_two_threads_and_two_processes() {
    same_answer_on_threads_and_processes("lasso", "columns");
}

#[test]
fn column_layout_logreg_gives_the_same_answer_on_one_thread_two_threads_and_two_processes() {
    same_answer_on_threads_and_processes("logreg", "columns");
}

#[test]
fn processes_started_by_hand_agree_and_only_process_zero_prints() {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", "lasso", LASSO_PROBLEM);
    let reference_out = dir.path("coef-reference.txt");
    let mut args = vec!["lasso".to_owned(), "--threads".to_owned(), "1".to_owned()];
    args.extend(solve_flags(&data, &reference_out));
    let reference = run(&args);
    reference.expect_success();

    let (hosts, _ports) = dir.loopback_hosts(2);
    let out = dir.path("coef-cluster.txt");
    let children = spawn_cluster("lasso", 2, &hosts, &solve_flags(&data, &out));
    let mut runs = children
        .into_iter()
        .map(|child| child.finish(COMMAND_TIMEOUT));
    let (zero, one) = (runs.next().unwrap(), runs.next().unwrap());
    zero.expect_success();
    one.expect_success();
    assert!(
        one.stdout.is_empty(),
        "process 1 printed on stdout:\n{}",
        one.describe()
    );
    assert!(
        one.error_lines().is_empty() && zero.error_lines().is_empty(),
        "errors from a successful cluster:\n{}\n{}",
        zero.describe(),
        one.describe()
    );
    assert_same_answer(
        ("1 thread", &reference, &reference_out),
        ("2 processes by hand", &zero, &out),
        2,
        2,
    );
}
