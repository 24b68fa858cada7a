//! `strads mlr` and `strads gen mlr`: malformed input (status 2, `file:line:` messages), the
//! model, class and prediction files, and 1 thread, 2 threads and 2 real processes agreeing.

use crate::support::{arg, number, relative_difference, run, Dir, Run};

/// A small generated problem with a test file.
fn problem(dir: &Dir) -> (String, String) {
    let path = dir.generate(
        "train.libsvm",
        "mlr",
        &[
            "--rows",
            "3000",
            "--test-rows",
            "500",
            "--classes",
            "4",
            "--features",
            "20",
            "--nnz-per-row",
            "8",
            "--scale",
            "3",
            "--seed",
            "4",
        ],
    );
    let test = format!("{}.test", arg(&path));
    (arg(&path), test)
}

fn mlr(args: &[&str]) -> Run {
    let mut all = vec!["mlr"];
    all.extend(args);
    run(&all)
}

/// Status 2, one `error:` line starting with `prefix` and naming `keyword`, nothing on stdout.
fn assert_rejected(run: &Run, prefix: &str, keyword: &str) {
    run.expect_code(2);
    assert!(!run.stderr.contains("panicked"), "{}", run.describe());
    assert!(run.stdout.trim().is_empty(), "{}", run.describe());
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.describe());
    assert!(
        errors[0].starts_with(prefix) && errors[0].contains(keyword),
        "expected {prefix:?}...{keyword:?}, got {:?}",
        errors[0]
    );
}

#[test]
fn malformed_input_names_the_file_and_line_and_exits_2() {
    let dir = Dir::new();
    let mut lines: Vec<String> = (0..400).map(|i| format!("{} 1:{i} 3:1", i % 3)).collect();
    lines[333] = "2 1:0.5 4:x".into();
    let bad = dir.write("bad.libsvm", &(lines.join("\n") + "\n"));
    for threads in ["1", "2"] {
        let r = mlr(&["--data", &arg(&bad), "--threads", threads]);
        assert_rejected(
            &r,
            &format!("error: {}:334:", arg(&bad)),
            "finite feature value",
        );
    }
    // A feature index 0 (read by the second worker with two threads): the library's typed
    // error, and the binary's flag.
    lines[333] = "2 0:0.5 4:1".into();
    let zero = dir.write("zero.libsvm", &(lines.join("\n") + "\n"));
    for threads in ["1", "2"] {
        let r = mlr(&["--data", &arg(&zero), "--threads", threads]);
        assert_rejected(
            &r,
            &format!("error: {}:334: feature index 0", arg(&zero)),
            "read as 1-based; pass --zero-based",
        );
    }
    let fractional = dir.write("fractional.libsvm", "1 1:1\n0.5 1:2\n");
    assert_rejected(
        &mlr(&["--data", &arg(&fractional)]),
        &format!("error: {}:2:", arg(&fractional)),
        "integer class label",
    );
    let one_class = dir.write("one.libsvm", "7 1:1\n7 2:1\n");
    assert_rejected(&mlr(&["--data", &arg(&one_class)]), "error:", "two classes");
    let train = dir.write("train.libsvm", "1 1:1\n2 2:1\n");
    let test = dir.write("test.libsvm", "1 1:1\n5 2:1\n");
    assert_rejected(
        &mlr(&["--data", &arg(&train), "--test", &arg(&test)]),
        "error:",
        "label 5 is not a class",
    );
    let model = dir.write("model", "not a model\n");
    assert_rejected(
        &mlr(&["--predict", &arg(&train), "--model", &arg(&model)]),
        &format!("error: {}:1:", arg(&model)),
        "mlr classes K",
    );
    assert_rejected(
        &mlr(&["--data", &arg(&train), "--step", "0.1"]),
        "error:",
        "--solver sgd",
    );
}

#[test]
fn the_model_predicts_what_training_reported_and_the_trace_has_every_iteration() {
    let dir = Dir::new();
    let (train, test) = problem(&dir);
    let model = dir.path("model");
    let trace = dir.path("trace.jsonl");
    let r = mlr(&[
        "--data",
        &train,
        "--test",
        &test,
        "--out",
        &arg(&model),
        "--trace",
        &arg(&trace),
        "--json",
        "--threads",
        "2",
    ]);
    r.expect_success();
    let summary = r.json();
    assert_eq!(summary["classes"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(summary["stop"], "converged");
    let iterations = number(&summary, "iterations") as usize;
    let traced = std::fs::read_to_string(&trace).unwrap();
    assert_eq!(traced.lines().count(), iterations + 1, "iterations 0..=N");
    let last: serde_json::Value = serde_json::from_str(traced.lines().last().unwrap()).unwrap();
    assert_eq!(number(&last, "objective"), number(&summary, "objective"));
    assert_eq!(
        std::fs::read_to_string(dir.path("model.classes")).unwrap(),
        "1\n2\n3\n4\n"
    );

    let predictions = dir.path("predictions");
    let p = mlr(&[
        "--predict",
        &test,
        "--model",
        &arg(&model),
        "--out",
        &arg(&predictions),
        "--json",
    ]);
    p.expect_success();
    assert_eq!(
        number(&p.json(), "accuracy"),
        number(&summary, "test_accuracy")
    );
    assert!(
        relative_difference(
            number(&p.json(), "log_loss"),
            number(&summary, "test_log_loss")
        ) < 1e-12
    );
    // The predictions file agrees with the accuracy against the test file's labels.
    let labels: Vec<String> = std::fs::read_to_string(&test)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let predicted = std::fs::read_to_string(&predictions).unwrap();
    let right = predicted
        .lines()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    assert_eq!(predicted.lines().count(), 500);
    assert_eq!(right as f64 / 500.0, number(&summary, "test_accuracy"));
}

#[test]
fn one_thread_two_threads_and_two_processes_agree() {
    let dir = Dir::new();
    let (train, test) = problem(&dir);
    for solver in ["lbfgs", "sgd"] {
        let common = [
            "mlr", "--data", &train, "--test", &test, "--solver", solver, "--json",
        ];
        let with = |extra: &[&str], before: &[&str]| {
            let mut args: Vec<&str> = before.to_vec();
            args.extend(common);
            args.extend(extra);
            run(&args)
        };
        let one = with(&["--threads", "1"], &[]);
        let two = with(&["--threads", "2"], &[]);
        let processes = with(&[], &["launch", "--processes", "2", "--threads", "1", "--"]);
        for r in [&one, &two, &processes] {
            r.expect_success();
        }
        assert_eq!(processes.json()["processes"], 2);
        let objective = |r: &Run| number(&r.json(), "objective");
        // Two threads and two processes split the data the same way: the same arithmetic.
        assert_eq!(objective(&two), objective(&processes), "{solver}");
        let tolerance = if solver == "lbfgs" { 1e-8 } else { 0.01 };
        let gap = relative_difference(objective(&one), objective(&two));
        assert!(
            gap < tolerance,
            "{solver}: 1 thread {} vs 2 threads {}",
            objective(&one),
            objective(&two)
        );
    }
}

#[test]
fn any_integer_labels_map_to_sorted_classes_and_intercepts_are_saved_and_used() {
    let dir = Dir::new();
    // Three classes told apart by an offset that only an intercept can express well.
    let mut text = String::new();
    for i in 0..300 {
        let (label, shift) = [(7, 0.0), (-1, 1.0), (3, 2.0)][i % 3];
        let x = (i % 10) as f64 / 10.0;
        text.push_str(&format!("{label} 1:{} 2:{}\n", x + shift, 1.0 - x));
    }
    let data = arg(&dir.write("labels.libsvm", &text));
    let model = dir.path("model");
    let model_arg = arg(&model);
    let fit = |extra: &[&str]| {
        let mut args = vec!["--data", data.as_str(), "--json"];
        args.extend(extra);
        mlr(&args)
    };
    let with = fit(&["--intercept", "--out", &model_arg]);
    with.expect_success();
    let without = fit(&[]);
    without.expect_success();
    assert_eq!(with.json()["classes"], serde_json::json!([-1, 3, 7]));
    assert_eq!(with.json()["intercept"], true);
    assert!(number(&with.json(), "objective") < number(&without.json(), "objective"));
    let saved = std::fs::read_to_string(&model).unwrap();
    assert!(
        saved.starts_with("mlr classes 3 features 2 intercept yes\n"),
        "{saved}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path("model.classes")).unwrap(),
        "-1\n3\n7\n"
    );
    let predicted = mlr(&["--predict", &data, "--model", &model_arg, "--json"]);
    predicted.expect_success();
    assert_eq!(
        number(&predicted.json(), "accuracy"),
        number(&with.json(), "train_accuracy")
    );
    let text_summary = mlr(&["--data", &data, "--intercept"]);
    text_summary.expect_success();
    assert!(
        text_summary.stdout.contains("-1->0 3->1 7->2"),
        "{}",
        text_summary.stdout
    );
    assert!(text_summary.stdout.contains("with unpenalised intercepts"));
}

/// The text summaries (training, then `--predict`) show the values of the `--json` summaries of
/// the same runs (deterministic: same data and threads), each where its label says, so a format
/// string with its arguments out of order cannot pass.
#[test]
fn text_summaries_show_the_json_summary_values() {
    let dir = Dir::new();
    let (train, test) = problem(&dir);
    let model = arg(&dir.path("model"));
    let common = [
        "--data",
        &train,
        "--test",
        &test,
        "--threads",
        "2",
        "--intercept",
    ];
    let with = |extra: &[&str]| {
        let mut args = common.to_vec();
        args.extend(extra);
        let r = mlr(&args);
        r.expect_success();
        r
    };
    let text = with(&["--out", &model]).stdout;
    let json = with(&["--json"]).json();
    let n = |field: &str| number(&json, field);
    let expect_line = |text: &str, line: &str| {
        assert!(
            text.lines().any(|l| l.contains(line)),
            "the summary has no line with {line:?}:\n{text}"
        );
    };
    let classes = json["classes"].as_array().unwrap();
    expect_line(
        &text,
        &format!(
            "strads mlr ({}): {} examples, {} features, {} nonzeros, {} classes; lambda {}, with \
             unpenalised intercepts",
            json["solver"].as_str().unwrap(),
            n("rows"),
            n("features"),
            n("nonzeros"),
            classes.len(),
            n("lambda")
        ),
    );
    let mapping: Vec<String> = classes
        .iter()
        .enumerate()
        .map(|(k, label)| format!("{label}->{k}"))
        .collect();
    expect_line(
        &text,
        &format!("classes (label->class): {}", mapping.join(" ")),
    );
    expect_line(&text, &format!("= {:.10e}", n("objective")));
    // The stop reason is snake_case in JSON, its Rust name in the text.
    let stop: String = json["stop"]
        .as_str()
        .unwrap()
        .split('_')
        .map(|word| word[..1].to_uppercase() + &word[1..])
        .collect();
    expect_line(
        &text,
        &format!(
            "gradient norm {:.3e} after {} iterations ({stop})",
            n("gradient_norm"),
            n("iterations")
        ),
    );
    expect_line(
        &text,
        &format!(
            "train: accuracy {:.6}, log-loss {:.6}",
            n("train_accuracy"),
            n("train_log_loss")
        ),
    );
    // 500 test rows (`problem`'s --test-rows).
    expect_line(
        &text,
        &format!(
            "test (500 examples): accuracy {:.6}, log-loss {:.6}",
            n("test_accuracy"),
            n("test_log_loss")
        ),
    );

    let predict = |extra: &[&str]| {
        let mut args = vec!["--predict", test.as_str(), "--model", model.as_str()];
        args.extend(extra);
        let r = mlr(&args);
        r.expect_success();
        r
    };
    let text = predict(&[]).stdout;
    let json = predict(&["--json"]).json();
    expect_line(
        &text,
        &format!("predicted {} examples", number(&json, "examples")),
    );
    expect_line(
        &text,
        &format!(
            "accuracy {:.6}, log-loss {:.6}",
            number(&json, "accuracy"),
            number(&json, "log_loss")
        ),
    );
}
