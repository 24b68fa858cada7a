//! Bad input and bad usage: exit status 2 and one `error: <file>:<line>: <what was expected>` line
//! on stderr, never a panic and never a result.

use std::path::Path;

use crate::support::{arg, run, Dir, Run};

/// Checks that `run` exited with status 2, without a panic and without printing a result.
fn assert_rejected(run: &Run) {
    run.expect_code(2);
    assert!(
        !run.stderr.contains("panicked"),
        "a panic instead of an error\n{}",
        run.describe()
    );
    assert!(
        run.stdout.trim().is_empty(),
        "no result may be printed on bad input\n{}",
        run.describe()
    );
}

/// Checks that `run` failed with status 2, printed exactly one `error:` line, that the line starts
/// with `error: FILE:LINE: ` (or `error: FILE: ` when `line` is `None`) and names every keyword,
/// and that nothing was printed on stdout.
fn assert_bad_input(run: &Run, file: &Path, line: Option<u64>, keywords: &[&str]) {
    assert_rejected(run);
    let errors = run.error_lines();
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error line\n{}",
        run.describe()
    );
    let error = errors[0];
    let prefix = match line {
        Some(line) => format!("error: {}:{line}: ", file.display()),
        None => format!("error: {}: ", file.display()),
    };
    assert!(
        error.starts_with(&prefix),
        "the error should start with {prefix:?}, got {error:?}"
    );
    for keyword in keywords {
        assert!(
            error.contains(keyword),
            "the error should mention {keyword:?}, got {error:?}"
        );
    }
}

/// Checks a usage error: status 2, an `error:` line naming every keyword, no result.
fn assert_usage_error(run: &Run, keywords: &[&str]) {
    assert_rejected(run);
    let errors = run.error_lines();
    assert!(!errors.is_empty(), "no error line\n{}", run.describe());
    for keyword in keywords {
        assert!(
            errors.iter().any(|e| e.contains(keyword)),
            "the error should mention {keyword:?}\n{}",
            run.describe()
        );
    }
}

/// Runs `strads APP --data FILE --json EXTRA` (with `--threads 1` unless EXTRA sets it) on a libsvm file holding `content`.
fn run_on_libsvm(app: &str, content: &str, extra: &[&str]) -> (Dir, std::path::PathBuf, Run) {
    let dir = Dir::new();
    let path = dir.write("train.libsvm", content);
    let mut args = vec![
        app.to_owned(),
        "--data".to_owned(),
        arg(&path),
        "--json".to_owned(),
    ];
    args.extend(extra.iter().map(|e| (*e).to_owned()));
    if !extra.contains(&"--threads") {
        args.extend(["--threads".to_owned(), "1".to_owned()]);
    }
    let result = run(&args);
    (dir, path, result)
}

/// Runs `app` on a MatrixMarket matrix and its labels file on `threads` worker threads.
fn run_on_mm(app: &str, matrix: &std::path::Path, labels: &std::path::Path, threads: usize) -> Run {
    let threads = threads.to_string();
    run([
        app,
        "--data",
        &arg(matrix),
        "--labels",
        &arg(labels),
        "--threads",
        &threads,
    ])
}

#[test]
fn bad_number_in_a_feature_value_names_file_line_and_token() {
    let (_dir, path, run) = run_on_libsvm("lasso", "1 1:1\n-1 2:0.5\n1 3:abc\n", &[]);
    assert_bad_input(
        &run,
        &path,
        Some(3),
        &[
            "expected a feature `index:value`",
            "\"3:abc\"",
            "not a number",
        ],
    );
}

#[test]
fn index_zero_in_a_one_based_file_is_rejected_with_a_hint() {
    let (_dir, path, run) = run_on_libsvm("lasso", "1 1:1 2:3\n-1 0:1 2:1\n", &[]);
    assert_bad_input(
        &run,
        &path,
        Some(2),
        &["index 0", "1-based", "--zero-based"],
    );
}

#[test]
fn zero_based_flag_accepts_index_zero() {
    let (_dir, _path, run) = run_on_libsvm("lasso", "1 0:1 2:3\n-1 0:1 1:1\n", &["--zero-based"]);
    run.expect_success();
    assert_eq!(run.json()["cols"], 3, "{}", run.describe());
}

#[test]
fn duplicate_feature_indices_are_rejected() {
    let (_dir, path, run) = run_on_libsvm("lasso", "1 1:1\n# comment\n1 2:1 2:3\n", &[]);
    assert_bad_input(
        &run,
        &path,
        Some(3),
        &["duplicate feature index 2", "strictly increasing"],
    );
}

#[test]
fn unsorted_feature_indices_are_rejected() {
    let (_dir, path, run) = run_on_libsvm("lasso", "1 1:1\n\n1 9:1 4:3\n", &[]);
    assert_bad_input(
        &run,
        &path,
        Some(3),
        &[
            "unsorted feature indices",
            "4",
            "follows 9",
            "strictly increasing",
        ],
    );
}

#[test]
fn nan_feature_value_is_rejected() {
    let (_dir, path, run) = run_on_libsvm("lasso", "1 1:1\n-1 2:nan\n", &[]);
    assert_bad_input(&run, &path, Some(2), &["\"2:nan\"", "not finite"]);
}

#[test]
fn infinite_feature_values_are_rejected() {
    for value in ["inf", "-inf", "Infinity", "1e999"] {
        let (_dir, path, run) = run_on_libsvm("lasso", &format!("1 1:1\n-1 2:{value}\n"), &[]);
        assert_bad_input(&run, &path, Some(2), &[value, "not finite"]);
    }
}

#[test]
fn nan_label_is_rejected() {
    let (_dir, path, run) = run_on_libsvm("lasso", "1 1:1\n2 1:2\nnan 1:1\n", &[]);
    assert_bad_input(
        &run,
        &path,
        Some(3),
        &["expected a finite label", "\"nan\""],
    );
}

#[test]
fn empty_data_file_is_rejected() {
    for content in ["", "# only a comment\n\n"] {
        let (_dir, path, run) = run_on_libsvm("lasso", content, &[]);
        assert_bad_input(&run, &path, None, &["no examples"]);
    }
}

#[test]
fn missing_data_file_is_reported_once_with_status_2() {
    let dir = Dir::new();
    let path = dir.path("does-not-exist.libsvm");
    let run = run(["lasso", "--data", &arg(&path), "--threads", "1"]);
    assert_bad_input(&run, &path, None, &["No such file"]);
    let error = run.error_lines()[0];
    assert_eq!(
        error.matches("No such file").count(),
        1,
        "the cause should be stated once, got {error:?}"
    );
}

#[test]
fn logistic_labels_outside_plus_minus_one_are_rejected_with_their_line() {
    let (_dir, path, run) = run_on_libsvm("logreg", "1 1:1\n-1 2:1\n0 1:2\n0.5 2:1\n1 1:1\n", &[]);
    // The labels -1, +1, 0 and 1 are all fine; line 4 holds the first bad one.
    assert_bad_input(&run, &path, Some(4), &["0.5", "-1", "+1"]);
}

#[test]
fn logistic_label_error_in_a_labels_file_names_the_labels_file_and_line() {
    let dir = Dir::new();
    let matrix = dir.write(
        "x.mtx",
        &format!("{MM_BANNER}3 2 3\n1 1 1.0\n2 2 2.0\n3 1 -1.0\n"),
    );
    let labels = dir.write("y.txt", "1\n2\n-1\n");
    let result = run_on_mm("logreg", &matrix, &labels, 1);
    assert_bad_input(&result, &labels, Some(2), &["2", "-1", "+1"]);
}

#[test]
fn logistic_accepts_zero_one_labels() {
    let (_dir, _path, run) = run_on_libsvm("logreg", "1 1:1\n0 2:1\n0 1:2 2:1\n1 1:1\n", &[]);
    run.expect_success();
    assert_eq!(run.json()["rows"], 4, "{}", run.describe());
}

const MM_BANNER: &str = "%%MatrixMarket matrix coordinate real general\n";

#[test]
fn matrix_market_labels_file_shorter_than_the_rows_is_rejected() {
    let dir = Dir::new();
    let matrix = dir.write(
        "x.mtx",
        &format!("{MM_BANNER}% a comment\n3 2 3\n1 1 1.0\n2 2 2.0\n3 1 -1.0\n"),
    );
    let labels = dir.write("y.txt", "1\n2\n");
    let result = run_on_mm("lasso", &matrix, &labels, 1);
    assert_bad_input(
        &result,
        &labels,
        Some(3),
        &["missing label", "expected 3 labels", "found 2"],
    );

    // The same files with the missing label added are fine.
    let labels = dir.write("y.txt", "1\n2\n3\n");
    run([
        "lasso",
        "--data",
        &arg(&matrix),
        "--labels",
        &arg(&labels),
        "--threads",
        "1",
        "--json",
    ])
    .expect_success();
}

#[test]
fn matrix_market_entry_outside_the_header_range_is_rejected() {
    let dir = Dir::new();
    let labels = dir.write("y.txt", "1\n2\n3\n");
    let column = dir.write(
        "column.mtx",
        &format!("{MM_BANNER}3 2 3\n1 1 1.0\n2 3 2.0\n3 1 -1.0\n"),
    );
    let result = run_on_mm("lasso", &column, &labels, 1);
    assert_bad_input(
        &result,
        &column,
        Some(4),
        &["column index 3", "outside 1..=2"],
    );

    let row = dir.write(
        "row.mtx",
        &format!("{MM_BANNER}3 2 3\n1 1 1.0\n3 1 2.0\n4 2 -1.0\n"),
    );
    let result = run_on_mm("lasso", &row, &labels, 1);
    assert_bad_input(&result, &row, Some(5), &["row index 4", "outside 1..=3"]);
}

#[test]
fn matrix_market_without_labels_is_a_usage_error() {
    let dir = Dir::new();
    let matrix = dir.write("x.mtx", &format!("{MM_BANNER}1 1 1\n1 1 1.0\n"));
    let result = run(["lasso", "--data", &arg(&matrix), "--threads", "1"]);
    assert_usage_error(&result, &["--labels"]);
}

/// A libsvm file of 200 examples whose line `bad_line` (1-based) is `bad`.
fn file_with_a_late_bad_line(bad_line: usize, bad: &str) -> String {
    let mut lines: Vec<String> = (0..200)
        .map(|i| {
            let label = if i % 2 == 0 { 1 } else { -1 };
            format!("{label} {}:1.5 {}:-0.5", i % 7 + 1, i % 7 + 3)
        })
        .collect();
    lines[bad_line - 1] = bad.to_owned();
    lines.join("\n") + "\n"
}

#[test]
fn libsvm_error_read_by_the_second_worker_names_the_absolute_line() {
    let content = file_with_a_late_bad_line(190, "1 2:1 5:x");
    let (_dir, path, run) = run_on_libsvm("lasso", &content, &["--threads", "2"]);
    assert_bad_input(&run, &path, Some(190), &["\"5:x\"", "not a number"]);
}

/// The library's error is typed (a feature index 0) and the binary names the flag: also when
/// the second worker read the line and worker 0 reports it.
#[test]
fn index_zero_read_by_the_second_worker_still_gets_the_flag_hint() {
    let content = file_with_a_late_bad_line(190, "1 0:1 5:2");
    let (_dir, path, run) = run_on_libsvm("lasso", &content, &["--threads", "2"]);
    assert_bad_input(
        &run,
        &path,
        Some(190),
        &["index 0 in \"0:1\"", "1-based", "pass --zero-based"],
    );
}

#[test]
fn matrix_market_error_read_by_the_second_worker_names_the_absolute_line() {
    let dir = Dir::new();
    let mut text = format!("{MM_BANNER}% comment\n100 10 100\n");
    for row in 1..=100 {
        // Entry 90 (file line 93) is out of the column range.
        let col = if row == 90 { 11 } else { row % 10 + 1 };
        text.push_str(&format!("{row} {col} 1.5\n"));
    }
    let matrix = dir.write("x.mtx", &text);
    let labels = dir.write("y.txt", &"1\n".repeat(100));
    let result = run_on_mm("lasso", &matrix, &labels, 2);
    assert_bad_input(
        &result,
        &matrix,
        Some(93),
        &["column index 11", "outside 1..=10"],
    );
}

#[test]
fn processes_without_hosts_is_a_usage_error() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n");
    let result = run(["lasso", "--data", &arg(&data), "--processes", "2"]);
    assert_usage_error(&result, &["--processes 2", "--hosts"]);
}

#[test]
fn process_index_out_of_range_is_a_usage_error() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n");
    let (hosts, _) = dir.loopback_hosts(2);
    let result = run([
        "lasso",
        "--data",
        &arg(&data),
        "--processes",
        "2",
        "--process",
        "2",
        "--hosts",
        &arg(&hosts),
    ]);
    assert_usage_error(&result, &["process index 2", "out of range"]);

    let result = run(["lasso", "--data", &arg(&data), "--process", "1"]);
    assert_usage_error(&result, &["--process 1"]);
}

#[test]
fn malformed_hosts_file_names_its_line() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n");
    let hosts = dir.write("hosts.txt", "# cluster\n127.0.0.1:4000\nlocalhost\n");
    let result = run([
        "lasso",
        "--data",
        &arg(&data),
        "--processes",
        "2",
        "--process",
        "1",
        "--hosts",
        &arg(&hosts),
    ]);
    assert_bad_input(&result, &hosts, Some(3), &["host:port", "\"localhost\""]);

    // Too few hosts for the cluster size.
    let hosts = dir.write("two.txt", "127.0.0.1:4000\n127.0.0.1:4001\n");
    let result = run([
        "lasso",
        "--data",
        &arg(&data),
        "--processes",
        "3",
        "--process",
        "1",
        "--hosts",
        &arg(&hosts),
    ]);
    assert_usage_error(&result, &["expected 3 hosts", "found 2"]);
}

#[test]
fn out_of_range_parameters_are_usage_errors() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n-1 2:1\n");
    let data = arg(&data);
    let cases: &[(&[&str], &str)] = &[
        (&["--lambda=-1"], "--lambda"),
        (&["--lambda-ratio", "0"], "--lambda-ratio"),
        (&["--tol", "0"], "--tol"),
        (
            &["--layout", "rows", "--schedule-size", "0"],
            "--schedule-size",
        ),
        (&["--layout", "rows", "--rho", "0"], "--rho"),
        // Flags of the other layout would be ignored: an error instead.
        (&["--scheduler", "cyclic"], "--layout rows"),
        (
            &["--staleness", "1", "--eta", "1e-3"],
            "--eta, --staleness only apply",
        ),
        (
            &["--layout", "rows", "--local-passes", "2"],
            "--layout columns",
        ),
        (&["--threads", "0"], "--threads"),
    ];
    for (flags, keyword) in cases {
        let mut args = vec!["lasso", "--data", &data];
        args.extend_from_slice(flags);
        if !flags.contains(&"--threads") {
            args.extend(["--threads", "1"]);
        }
        let result = run(&args);
        assert_usage_error(&result, &[keyword]);
    }
}

#[test]
fn unknown_flags_and_values_are_usage_errors() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n");
    let data = arg(&data);
    for flags in [
        &["--bogus"][..],
        &["--layout", "rows", "--scheduler", "fastest"][..],
        &["--layout", "diagonal"][..],
        &["--format", "csv"][..],
        &["--threads", "many"][..],
        &["--lambda", "1", "--lambda-ratio", "0.1"][..],
    ] {
        let mut args = vec!["lasso", "--data", &data];
        args.extend_from_slice(flags);
        let result = run(&args);
        assert_usage_error(&result, &[]);
    }
    assert_usage_error(&run(["frobnicate"]), &[]);
}
