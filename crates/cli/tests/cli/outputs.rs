//! `--out`, `--trace` and `--json`: well-formed, consistent with each other, and the coefficients
//! really attain the reported objective on the data (checked by an independent evaluation here).

use std::path::Path;

use strads_io::{read_coefficients, read_libsvm_shard, LibsvmOptions};

use crate::support::{arg, number, relative_difference, run, Dir, LASSO_PROBLEM};

/// Evaluates the objective of `app` at the coefficients `beta` on the libsvm file `data`:
/// lasso `1/2 ||y - X b||^2 + lambda ||b||_1`, logreg `sum log(1 + exp(-y x.b)) + lambda ||b||_1`.
fn objective(app: &str, data: &Path, beta: &[(u32, f64)], lambda: f64) -> f64 {
    let rows = read_libsvm_shard(data, 0, 1, &LibsvmOptions::default()).expect("read the data");
    let cols = rows.min_cols();
    let mut b = vec![0.0; cols];
    for &(j, value) in beta {
        assert!(
            (j as usize) < cols,
            "coefficient index {} beyond the {cols} columns",
            j + 1
        );
        b[j as usize] = value;
    }
    let mut loss = 0.0;
    for i in 0..rows.n_rows() {
        let (columns, values) = rows.row(i);
        let margin: f64 = columns
            .iter()
            .zip(values)
            .map(|(&j, &x)| x * b[j as usize])
            .sum();
        let y = rows.labels[i];
        loss += match app {
            "lasso" => 0.5 * (y - margin) * (y - margin),
            "logreg" => {
                let y = if y == 0.0 { -1.0 } else { y };
                let z = -y * margin;
                // log(1 + exp(z)), stable for large |z|.
                z.max(0.0) + (-z.abs()).exp().ln_1p()
            }
            other => panic!("unknown app {other}"),
        };
    }
    loss + lambda * b.iter().map(|v| v.abs()).sum::<f64>()
}

fn outputs_are_well_formed_and_consistent(app: &str) {
    let dir = Dir::new();
    let data = dir.generate("train.libsvm", app, LASSO_PROBLEM);
    let out = dir.path("coef.txt");
    let trace = dir.path("trace.jsonl");
    let tol = 1e-9;
    let run = run([
        app,
        "--data",
        &arg(&data),
        "--threads",
        "2",
        "--tol",
        &tol.to_string(),
        "--out",
        &arg(&out),
        "--trace",
        &arg(&trace),
        "--json",
    ]);
    run.expect_success();
    let summary = run.json();
    assert_eq!(summary["app"], app, "{summary}");
    for field in [
        "objective",
        "duality_gap",
        "nnz",
        "iterations",
        "converged",
        "seconds",
        "load_seconds",
        "solve_seconds",
        "lambda",
        "workers",
        "processes",
    ] {
        assert!(
            summary.get(field).is_some(),
            "the summary lacks {field:?}: {summary}"
        );
    }
    assert_eq!(summary["converged"], true, "{summary}");
    assert_eq!(summary["workers"], 2, "{summary}");
    assert_eq!(summary["processes"], 1, "{summary}");
    let objective_reported = number(&summary, "objective");
    let gap = number(&summary, "duality_gap");
    let lambda = number(&summary, "lambda");
    assert!(
        gap >= 0.0 && gap <= tol * objective_reported,
        "converged with gap {gap} > tol x objective {objective_reported}"
    );

    // The coefficient file: `index value` lines, 1-based increasing indices, nonzero finite
    // values, as many as the summary's nnz.
    let text = std::fs::read_to_string(&out).expect("--out file written");
    let mut previous = 0u64;
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            fields.len(),
            2,
            "coef.txt:{}: expected `index value`, got {line:?}",
            number + 1
        );
        let index: u64 = fields[0].parse().expect("integer index");
        let value: f64 = fields[1].parse().expect("numeric value");
        assert!(
            index > previous,
            "coef.txt:{}: index {index} after {previous}",
            number + 1
        );
        assert!((1..=500).contains(&index), "index {index} out of 1..=500");
        assert!(value.is_finite() && value != 0.0, "value {value}");
        previous = index;
    }
    let coefficients = read_coefficients(&out).expect("strads-io reads the --out file");
    assert_eq!(
        coefficients.len() as u64,
        summary["nnz"].as_u64().unwrap(),
        "--out holds a different number of coefficients than the summary's nnz"
    );
    assert!(
        !coefficients.is_empty(),
        "an all-zero model at lambda_max/10"
    );

    // The coefficients attain the reported objective.
    let evaluated = objective(app, &data, &coefficients, lambda);
    assert!(
        relative_difference(evaluated, objective_reported) < 1e-9,
        "the --out coefficients give objective {evaluated}, the summary says {objective_reported}"
    );

    // The trace: one JSON object per line with the documented fields, in order; the last record
    // is the summary's.
    let text = std::fs::read_to_string(&trace).expect("--trace file written");
    let records: Vec<serde_json::Value> = text
        .lines()
        .enumerate()
        .map(|(number, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("trace.jsonl:{}: not JSON ({e}): {line}", number + 1))
        })
        .collect();
    assert!(!records.is_empty(), "empty trace");
    let mut last_iteration = 0.0;
    let mut last_seconds = 0.0;
    for record in &records {
        for field in ["iteration", "seconds", "objective", "duality_gap", "nnz"] {
            assert!(
                record.get(field).is_some(),
                "a trace record lacks {field:?}: {record}"
            );
        }
        let iteration = number(record, "iteration");
        let seconds = number(record, "seconds");
        assert!(iteration >= last_iteration, "iterations go back: {record}");
        assert!(seconds >= last_seconds, "time goes back: {record}");
        assert!(number(record, "objective").is_finite(), "{record}");
        assert!(number(record, "duality_gap") >= 0.0, "{record}");
        last_iteration = iteration;
        last_seconds = seconds;
    }
    let last = records.last().unwrap();
    assert_eq!(
        number(last, "objective"),
        objective_reported,
        "the trace's last objective is not the summary's"
    );
    assert_eq!(number(last, "duality_gap"), gap, "{last} vs {summary}");
    assert_eq!(last["nnz"], summary["nnz"], "{last} vs {summary}");
    assert_eq!(
        number(last, "iteration"),
        number(&summary, "iterations"),
        "{last} vs {summary}"
    );

    // Output files are written under a temporary name and renamed: nothing else is left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path("."))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "coef.txt",
            "trace.jsonl",
            "train.libsvm",
            "train.libsvm.truth"
        ],
        "unexpected files in the output directory"
    );
}

#[test]
fn lasso_out_trace_and_json_agree() {
    outputs_are_well_formed_and_consistent("lasso");
}

#[test]
fn logreg_out_trace_and_json_agree() {
    outputs_are_well_formed_and_consistent("logreg");
}

#[test]
fn text_summary_without_json_reports_the_objective() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1 2:0.5\n-1 2:1\n2 1:0.5 3:1\n");
    let run = run(["lasso", "--data", &arg(&data), "--threads", "1"]);
    run.expect_success();
    assert!(
        run.stdout.contains("lasso: 3 x 3") && run.stdout.contains("objective "),
        "{}",
        run.describe()
    );
    assert!(
        serde_json::from_str::<serde_json::Value>(run.stdout.trim()).is_err(),
        "without --json the summary is text"
    );
}

#[test]
fn failed_run_writes_no_output_files() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n1 1:x\n");
    let out = dir.path("coef.txt");
    let trace = dir.path("trace.jsonl");
    let run = run([
        "lasso",
        "--data",
        &arg(&data),
        "--threads",
        "1",
        "--out",
        &arg(&out),
        "--trace",
        &arg(&trace),
    ]);
    run.expect_code(2);
    assert!(!out.exists(), "--out written by a failed run");
    assert!(!trace.exists(), "--trace written by a failed run");
}

/// The text summary of a default run and the `--json` summary of the same run (deterministic:
/// same data, seed and threads) show the same values, each where its label says: for every
/// subcommand, so a format string with its arguments out of order cannot pass.
#[test]
fn text_summaries_show_the_json_summary_values() {
    let summaries = |app: &str| {
        let text = run([app, "--threads", "2"]);
        text.expect_success();
        let json = run([app, "--threads", "2", "--json"]);
        json.expect_success();
        (text.stdout, json.json())
    };
    let n = |json: &serde_json::Value, field: &str| number(json, field);
    let int = |json: &serde_json::Value, field: &str| n(json, field) as u64;
    let expect_line = |text: &str, line: &str| {
        assert!(
            text.lines().any(|l| l.contains(line)),
            "the summary has no line with {line:?}:\n{text}"
        );
    };

    for app in ["lasso", "logreg"] {
        let (text, json) = summaries(app);
        expect_line(
            &text,
            &format!(
                "{app}: {} x {} ({} nonzeros), lambda {:.6e} ({:.3e} x lambda_max)",
                int(&json, "rows"),
                int(&json, "cols"),
                int(&json, "nonzeros"),
                n(&json, "lambda"),
                n(&json, "lambda") / n(&json, "lambda_max")
            ),
        );
        expect_line(
            &text,
            &format!(
                "objective {:.12e}, {} nonzero coefficients",
                n(&json, "objective"),
                int(&json, "nnz")
            ),
        );
        let layout = json["layout"].as_str().unwrap().trim_end_matches('s');
        expect_line(
            &text,
            &format!(
                "{:.1} passes, {} rounds ({layout} layout)",
                n(&json, "iterations"),
                int(&json, "rounds")
            ),
        );
        expect_line(
            &text,
            &format!(
                "on {} worker(s) in {} process(es)",
                int(&json, "workers"),
                int(&json, "processes")
            ),
        );
    }

    let (text, json) = summaries("mf");
    expect_line(
        &text,
        &format!(
            "mf ({}): {} users x {} items, {} training ratings, rank {}, lambda {}",
            json["algo"].as_str().unwrap(),
            int(&json, "users"),
            int(&json, "items"),
            int(&json, "train_ratings"),
            int(&json, "rank"),
            n(&json, "lambda")
        ),
    );
    expect_line(
        &text,
        &format!(
            "objective {:.12e}, rmse train {:.6} after {} iterations",
            n(&json, "objective"),
            n(&json, "rmse_train"),
            int(&json, "iterations")
        ),
    );
    expect_line(
        &text,
        &format!(
            "rmse test {:.6} on {} ratings ({} with an unseen user or item",
            n(&json, "rmse_test"),
            int(&json, "test_ratings"),
            int(&json, "unseen_test_ratings")
        ),
    );

    let (text, json) = summaries("lda");
    expect_line(
        &text,
        &format!(
            "lda: {} documents, {} words, {} tokens, {} topics",
            int(&json, "docs"),
            int(&json, "words"),
            int(&json, "tokens"),
            int(&json, "topics")
        ),
    );
    expect_line(
        &text,
        &format!(
            "log p(w, z) = {:.10e} ({:.6} per token) after {} iterations",
            n(&json, "loglik"),
            n(&json, "loglik_per_token"),
            int(&json, "iterations")
        ),
    );
    expect_line(
        &text,
        &format!(
            "on {} worker(s) in {} process(es)",
            int(&json, "workers"),
            int(&json, "processes")
        ),
    );
}
