//! `strads launch`: exits with a failing child's status and reports the failure exactly once.

use crate::support::{arg, run, Dir, Run};

/// A libsvm file of 200 examples whose line 190 is malformed: with two processes, the second
/// process's shard holds it.
fn data_with_an_error_on_line_190(dir: &Dir) -> std::path::PathBuf {
    let mut lines: Vec<String> = (0..200)
        .map(|i| {
            let label = if i % 2 == 0 { 1 } else { -1 };
            format!("{label} {}:1.5 {}:-0.5", i % 7 + 1, i % 7 + 3)
        })
        .collect();
    lines[189] = "1 2:1 5:x".to_owned();
    dir.write("train.libsvm", &(lines.join("\n") + "\n"))
}

fn launch(args: &[&str]) -> Run {
    let mut all = vec!["launch", "--processes", "2", "--threads", "1", "--"];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn launch_exits_with_status_2_when_a_child_meets_bad_data() {
    let dir = Dir::new();
    let data = data_with_an_error_on_line_190(&dir);
    let run = launch(&["lasso", "--data", &arg(&data), "--json"]);
    run.expect_code(2);
    assert!(run.stdout.trim().is_empty(), "{}", run.describe());
    assert!(!run.stderr.contains("panicked"), "{}", run.describe());
    assert!(
        run.error_lines().len() <= 1,
        "the error was printed more than once\n{}",
        run.describe()
    );
}

#[test]
fn launch_exits_with_status_2_on_a_missing_data_file() {
    let dir = Dir::new();
    let run = launch(&["lasso", "--data", &arg(&dir.path("missing.libsvm"))]);
    run.expect_code(2);
    assert!(run.stdout.trim().is_empty(), "{}", run.describe());
}

/// Runs `strads launch` `repeats` times (the children race each other, so one run proves little)
/// and checks that every run exits with 2 and prints exactly one error line with all `keywords`.
fn assert_reported_exactly_once(args: &[&str], repeats: usize, keywords: &[&str]) {
    let mut failures = Vec::new();
    for attempt in 0..repeats {
        let run = launch(args);
        let errors = run.error_lines();
        let ok = run.code() == Some(2)
            && errors.len() == 1
            && keywords.iter().all(|k| errors[0].contains(k));
        if !ok {
            failures.push(format!("attempt {attempt}: {}", run.describe()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {repeats} runs of `strads launch ... -- {}` did not exit with 2 printing exactly \
         one error line with {keywords:?}:\n{}",
        failures.len(),
        args.join(" "),
        failures.join("\n")
    );
}

#[test]
fn launch_prints_a_data_error_of_the_second_process_exactly_once() {
    let dir = Dir::new();
    let data = data_with_an_error_on_line_190(&dir);
    let expected = format!("{}:190:", data.display());
    assert_reported_exactly_once(
        &["lasso", "--data", &arg(&data)],
        100,
        &[&expected, "\"5:x\""],
    );
}

#[test]
fn launch_prints_an_invalid_parameter_error_exactly_once() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n-1 2:1\n");
    assert_reported_exactly_once(
        &["lasso", "--data", &arg(&data), "--lambda=-1"],
        30,
        &["--lambda"],
    );
}

#[test]
fn launch_prints_a_usage_error_exactly_once() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n-1 2:1\n");
    assert_reported_exactly_once(
        &["lasso", "--data", &arg(&data), "--bogus"],
        20,
        &["--bogus"],
    );
}

#[test]
fn launch_rejects_bad_shapes_and_non_app_subcommands() {
    for args in [
        &["launch", "--processes", "0", "--", "lasso"][..],
        &["launch", "--threads", "0", "--", "lasso"][..],
        &["launch", "--", "gen", "lasso", "--out", "x"][..],
        &["launch", "--", "launch", "--", "lasso"][..],
        &["launch", "--processes", "2"][..],
    ] {
        let run = run(args);
        run.expect_code(2);
        assert!(
            !run.error_lines().is_empty(),
            "no error for {args:?}\n{}",
            run.describe()
        );
    }
}
