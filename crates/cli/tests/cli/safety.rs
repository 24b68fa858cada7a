//! Safe outputs, bounded resources and no silent misreads, as a user meets them: outputs that are
//! inputs are refused before any work and leave the input as it was, unwritable directories are
//! found before loading, symlinked outputs are written through the link, mf models are published
//! with a manifest written last, sizes beyond the machine are refused naming what they would
//! need, a byte order mark changes nothing, and the text summaries read right.

use std::path::Path;

use crate::support::{arg, number, run, Dir, Proc, Run, COMMAND_TIMEOUT};

/// Status 2, nothing on stdout, and an error line naming every keyword.
fn assert_refused(run: &Run, keywords: &[&str]) {
    run.expect_code(2);
    assert!(run.stdout.trim().is_empty(), "{}", run.describe());
    assert!(!run.stderr.contains("panicked"), "{}", run.describe());
    let errors = run.error_lines();
    for keyword in keywords {
        assert!(
            errors.iter().any(|e| e.contains(keyword)),
            "no error names {keyword:?}\n{}",
            run.describe()
        );
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_output_that_is_an_input_is_refused_before_any_work() {
    let dir = Dir::new();
    // A bad line: had the data been read first, its error would have been the one reported.
    let content = "1 1:1\n1 2:x\n";
    let data = dir.write("train.libsvm", content);
    let link = dir.path("link.txt");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    for out in [&data, &link] {
        let result = run([
            "lasso",
            "--data",
            &arg(&data),
            "--threads",
            "1",
            "--out",
            &arg(out),
        ]);
        assert_refused(
            &result,
            &["is the same file as --data", "overwrite the input"],
        );
        assert_eq!(std::fs::read_to_string(&data).unwrap(), content);
    }
    let result = run([
        "lasso",
        "--data",
        &arg(&data),
        "--threads",
        "1",
        "--out",
        &arg(&dir.path("o.txt")),
        "--trace",
        &arg(&dir.path("o.txt")),
    ]);
    assert_refused(&result, &["--trace", "is the same file as --out"]);
    assert_eq!(names(&dir.path(".")), ["link.txt", "train.libsvm"]);

    // mf: the model's files over the training file, and predictions over the pairs.
    let ratings = "1 10 5\n1 20 3\n2 10 4\n";
    let train = dir.write("model.users", ratings);
    let result = run([
        "mf",
        "--train",
        &arg(&train),
        "--threads",
        "1",
        "--out-prefix",
        &arg(&dir.path("model")),
    ]);
    assert_refused(
        &result,
        &["--out-prefix (.users)", "is the same file as --train"],
    );
    assert_eq!(std::fs::read_to_string(&train).unwrap(), ratings);

    // lda: document topics over the corpus.
    let corpus = dir.write("c.txt", "a b a\nc b\n");
    let result = run([
        "lda",
        "--data",
        &arg(&corpus),
        "--threads",
        "1",
        "--doc-topics-out",
        &arg(&corpus),
    ]);
    assert_refused(&result, &["--doc-topics-out", "is the same file as --data"]);
    assert_eq!(std::fs::read_to_string(&corpus).unwrap(), "a b a\nc b\n");
}

#[test]
fn an_unwritable_output_directory_is_refused_before_loading() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1\n1 2:x\n");
    let out = dir.path("no/such/dir/coef.txt");
    let result = run([
        "lasso",
        "--data",
        &arg(&data),
        "--threads",
        "1",
        "--out",
        &arg(&out),
    ]);
    assert_refused(
        &result,
        &["--out", "cannot write to the directory", "does not exist"],
    );
    // A file where a directory should be.
    let blocker = dir.write("blocker", "");
    let result = run([
        "lasso",
        "--data",
        &arg(&data),
        "--threads",
        "1",
        "--trace",
        &arg(&blocker.join("trace.jsonl")),
    ]);
    assert_refused(&result, &["--trace", "cannot write to the directory"]);
    // The check leaves nothing behind.
    assert_eq!(names(&dir.path(".")), ["blocker", "train.libsvm"]);
}

#[test]
fn a_symlinked_output_is_written_through_the_link() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1 2:0.5\n-1 2:1\n2 1:0.5 3:1\n");
    let target = dir.write("real-coef.txt", "old\n");
    let link = dir.path("coef.txt");
    std::os::unix::fs::symlink("real-coef.txt", &link).unwrap();
    // A dangling link: the file it names is created.
    let trace_link = dir.path("trace.jsonl");
    std::os::unix::fs::symlink("made-trace.jsonl", &trace_link).unwrap();
    run([
        "lasso",
        "--data",
        &arg(&data),
        "--threads",
        "1",
        "--out",
        &arg(&link),
        "--trace",
        &arg(&trace_link),
    ])
    .expect_success();
    for path in [&link, &trace_link] {
        assert!(
            std::fs::symlink_metadata(path)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{} was replaced by a file",
            path.display()
        );
    }
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.starts_with('1') || written.starts_with('2') || written.starts_with('3'));
    assert!(!written.contains("old"), "{written}");
    assert!(dir.path("made-trace.jsonl").exists());
}

#[test]
fn mf_models_are_published_as_a_set_with_a_manifest_written_last() {
    let dir = Dir::new();
    let train = dir.write("r.txt", "1 10 5\n1 20 3\n2 10 4\n2 20 1\n3 20 2\n3 30 4\n");
    let prefix = dir.path("model");
    run([
        "mf",
        "--train",
        &arg(&train),
        "--rank",
        "2",
        "--iters",
        "2",
        "--threads",
        "1",
        "--out-prefix",
        &arg(&prefix),
    ])
    .expect_success();
    strads_apps::mf::model::check_set(&prefix).expect("a complete set");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("model.json")).unwrap()).unwrap();
    for key in ["users", "items"] {
        let file = dir.path(&format!("model.{key}"));
        assert_eq!(
            manifest["files"][key]["bytes"],
            std::fs::metadata(&file).unwrap().len(),
            "{manifest}"
        );
    }
    // Factor files of another run beside this manifest are detected.
    let other = dir.path("other");
    run([
        "mf",
        "--train",
        &arg(&train),
        "--rank",
        "3",
        "--iters",
        "2",
        "--threads",
        "1",
        "--out-prefix",
        &arg(&other),
    ])
    .expect_success();
    std::fs::copy(dir.path("other.items"), dir.path("model.items")).unwrap();
    assert!(strads_apps::mf::model::check_set(&prefix).is_err());
}

#[test]
fn sizes_beyond_the_memory_limit_name_what_they_would_need() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1 2:0.5\n-1 2:1\n2 1:0.5 3:1\n");
    let result = Proc::spawn_with_env(
        ["lasso", "--data", &arg(&data), "--threads", "1"],
        &[("STRADS_MEMORY_LIMIT", "100")],
    )
    .finish(COMMAND_TIMEOUT);
    assert_refused(
        &result,
        &[
            "3 rows and 3 columns",
            "would need about",
            "(STRADS_MEMORY_LIMIT)",
        ],
    );
    // Against the machine's own memory.
    let huge = dir.write("huge.libsvm", "1 4000000000:1\n");
    let result = run(["lasso", "--data", &arg(&huge), "--threads", "1"]);
    assert_refused(&result, &["4000000000 columns", "would need about", "GiB"]);
    let ratings = dir.write("r.txt", "1 10 5\n");
    let result = run(["mf", "--train", &arg(&ratings), "--rank", "100000"]);
    // The library names the parameter (`rank`), as the Python bindings' users set it too.
    assert_refused(&result, &["rank 100000 on", "would need about"]);
    let corpus = dir.write("d.txt", "2\n50000000\n1\n1 1 1\n");
    let result = run(["lda", "--data", &arg(&corpus), "--threads", "1"]);
    assert_refused(&result, &["W = 50000000", "would need about"]);
    let result = run(["lasso", "--data", &arg(&data), "--threads", "1000"]);
    assert_refused(&result, &["--threads must be at most 256"]);
}

#[test]
fn a_byte_order_mark_changes_nothing() {
    let dir = Dir::new();
    let data = dir.generate(
        "c.txt",
        "lda",
        &[
            "--docs",
            "40",
            "--vocab",
            "30",
            "--topics",
            "3",
            "--doc-length",
            "10",
        ],
    );
    let text = std::fs::read(&data).unwrap();
    let mut marked = b"\xEF\xBB\xBF".to_vec();
    marked.extend_from_slice(&text);
    let with_bom = dir.path("bom.txt");
    std::fs::write(&with_bom, marked).unwrap();
    let lda = |path: &Path| {
        let result = run([
            "lda",
            "--data",
            &arg(path),
            "--topics",
            "3",
            "--iters",
            "3",
            "--threads",
            "1",
            "--json",
        ]);
        result.expect_success();
        result.json()
    };
    let (plain, bom) = (lda(&data), lda(&with_bom));
    // The mark once made the docword file plain text: 43 "documents" of numbers.
    assert_eq!(number(&bom, "docs"), 40.0, "{bom}");
    for field in ["docs", "words", "tokens", "loglik"] {
        assert_eq!(plain[field], bom[field], "{field}: {plain} vs {bom}");
    }
    // Ratings: the mark once split user `1` in two.
    let ratings = dir.write("r.txt", "\u{feff}1 10 5\n1 20 3\n2 10 4\n");
    let result = run([
        "mf",
        "--train",
        &arg(&ratings),
        "--rank",
        "2",
        "--iters",
        "1",
        "--threads",
        "1",
        "--json",
    ]);
    result.expect_success();
    assert_eq!(result.json()["users"], 2, "{}", result.describe());
}

#[test]
fn values_too_large_for_double_precision_are_refused_and_write_nothing() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1e200 1:1\n-1 2:1\n");
    let out = dir.path("coef.txt");
    for layout in ["columns", "rows"] {
        let result = run([
            "lasso",
            "--data",
            &arg(&data),
            "--threads",
            "1",
            "--json",
            "--layout",
            layout,
            "--out",
            &arg(&out),
        ]);
        // Before: "objective": null, "converged": true and exit status 0.
        assert_refused(&result, &["the objective at b = 0 is inf", "too large"]);
        assert!(!out.exists());
    }
}

#[test]
fn text_summaries_read_right() {
    let dir = Dir::new();
    let data = dir.write("train.libsvm", "1 1:1 2:0.5\n-1 2:1\n2 1:0.5 3:1\n");
    for (app, layout) in [
        ("lasso", "columns"),
        ("lasso", "rows"),
        ("logreg", "columns"),
    ] {
        let data = if app == "logreg" {
            dir.write("y.libsvm", "1 1:1 2:0.5\n-1 2:1\n1 1:0.5 3:1\n")
        } else {
            data.clone()
        };
        let result = run([
            app,
            "--data",
            &arg(&data),
            "--threads",
            "1",
            "--layout",
            layout,
        ]);
        result.expect_success();
        let lines: Vec<&str> = result.stdout.lines().collect();
        assert_eq!(lines.len(), 4, "{}", result.describe());
        assert!(
            lines[0].starts_with(&format!("{app}: 3 x 3 (")),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("objective "), "{}", lines[1]);
        assert!(
            lines[2].starts_with("converged: duality gap "),
            "{}",
            lines[2]
        );
        // "N passes, M rounds (L layout)": the passes a decimal, the rounds an integer, the
        // layout a word (once printed as "2.6 passes, column rounds (27 layout)").
        let (counts, rest) = lines[3].split_once(" layout); ").expect("a layout");
        let words: Vec<&str> = counts.split_whitespace().collect();
        assert_eq!(words.len(), 5, "{}", lines[3]);
        assert!(words[0].parse::<f64>().is_ok(), "{}", lines[3]);
        assert_eq!(words[1], "passes,");
        assert!(words[2].parse::<u64>().is_ok(), "{}", lines[3]);
        assert_eq!(words[3], "rounds");
        let expected = if layout == "rows" { "(rows" } else { "(column" };
        assert_eq!(words[4], expected, "{}", lines[3]);
        assert!(rest.starts_with("load "), "{}", lines[3]);
        assert!(
            rest.ends_with("on 1 worker(s) in 1 process(es)"),
            "{}",
            lines[3]
        );
    }
    let ratings = dir.write("r.txt", "1 10 5\n1 20 3\n2 10 4\n2 20 1\n");
    let result = run([
        "mf",
        "--train",
        &arg(&ratings),
        "--test",
        &arg(&ratings),
        "--rank",
        "2",
        "--iters",
        "2",
        "--threads",
        "1",
    ]);
    result.expect_success();
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", result.describe());
    assert!(
        lines[0].starts_with("mf (ccd): 2 users x 2 items, 4 training ratings, rank 2"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("objective ") && lines[1].ends_with("after 2 iterations"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("rmse test "), "{}", lines[2]);
    assert!(lines[3].starts_with("load "), "{}", lines[3]);
    let corpus = dir.write("c.txt", "a b a\nc b\n");
    let result = run([
        "lda",
        "--data",
        &arg(&corpus),
        "--topics",
        "2",
        "--iters",
        "2",
        "--threads",
        "1",
    ]);
    result.expect_success();
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "lda: 2 documents, 3 words, 5 tokens, 2 topics",
        "{}",
        result.describe()
    );
    assert!(
        lines[1].starts_with("log p(w, z) = ") && lines[1].ends_with("after 2 iterations"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("tokens/s; load "), "{}", lines[2]);
}
