//! Flags shared by every app subcommand, and flags that do not apply: `--threads N --processes
//! 1` is accepted by every app, and a flag that the chosen variant (algorithm, layout, solver,
//! mode) would ignore is a usage error (status 2) naming it, the same way in every subcommand,
//! even when it is given with its default's value. And only the binary names flags: no library
//! source outside its tests and comments holds a `--flag`.

use crate::support::{arg, number, run, Dir, Run};

/// Small inputs for every app.
struct Inputs {
    _dir: Dir,
    lasso: String,
    logreg: String,
    ratings: String,
    text: String,
    mlr: String,
}

fn inputs() -> Inputs {
    let dir = Dir::new();
    let problem = [
        "--rows",
        "60",
        "--cols",
        "30",
        "--nnz-per-row",
        "4",
        "--support",
        "5",
    ];
    let lasso = arg(&dir.generate("lasso.libsvm", "lasso", &problem));
    let logreg = arg(&dir.generate("logreg.libsvm", "logreg", &problem));
    let ratings = arg(&dir.write(
        "ratings.txt",
        "1 10 5\n1 20 3\n2 10 4\n2 20 1\n3 30 2\n3 10 4\n4 20 5\n4 30 3\n",
    ));
    let sentence = "the cat sat on the mat and the dog sat on the log\n";
    let text = arg(&dir.write("text.txt", &sentence.repeat(20)));
    let mlr = arg(&dir.write(
        "mlr.libsvm",
        "0 1:1 2:0.5\n1 2:1 3:0.2\n2 1:0.3 3:1\n0 1:0.9\n1 2:0.8\n2 3:0.7\n",
    ));
    Inputs {
        _dir: dir,
        lasso,
        logreg,
        ratings,
        text,
        mlr,
    }
}

/// Status 2, one `error:` line naming every flag and saying what they apply to, nothing on
/// stdout, no panic.
fn assert_inapplicable(run: &Run, flags: &[&str], context: &str) {
    run.expect_code(2);
    assert!(!run.stderr.contains("panicked"), "{}", run.describe());
    assert!(run.stdout.trim().is_empty(), "{}", run.describe());
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.describe());
    let verb = if flags.len() == 1 { "applies" } else { "apply" };
    let expected = format!("error: {} only {verb} {context}", flags.join(", "));
    assert!(
        errors[0].starts_with(&expected),
        "expected {expected:?} in `{}`\n{}",
        run.what,
        run.describe()
    );
}

fn strads(command: &str) -> Run {
    run(command.split_whitespace())
}

#[test]
fn mf_rejects_the_flags_of_other_algorithms_naming_them() {
    let i = inputs();
    let mf = format!("mf --train {} --iters 1 --rank 2 --threads 1", i.ratings);
    // sgd's flags with als and ccd, also with their default values.
    for algo in ["als", "ccd"] {
        assert_inapplicable(
            &strads(&format!("{mf} --algo {algo} --lr 0.1")),
            &["--lr"],
            "to --algo sgd",
        );
        assert_inapplicable(
            &strads(&format!("{mf} --algo {algo} --lr 0.05 --lr-decay 0.1")),
            &["--lr", "--lr-decay"],
            "to --algo sgd",
        );
        assert_inapplicable(
            &strads(&format!("{mf} --algo {algo} --eval-every 1")),
            &["--eval-every"],
            "to --algo sgd",
        );
    }
    // ccd's flag with sgd and als.
    for algo in ["sgd", "als"] {
        assert_inapplicable(
            &strads(&format!("{mf} --algo {algo} --inner 2")),
            &["--inner"],
            "to --algo ccd",
        );
    }
    // als's flag with ccd and sgd.
    for algo in ["ccd", "sgd"] {
        assert_inapplicable(
            &strads(&format!("{mf} --algo {algo} --als-extrapolation 0")),
            &["--als-extrapolation"],
            "to --algo als",
        );
    }
    // A negative step is a usage error naming the flag.
    let negative = strads(&format!("{mf} --algo als --als-extrapolation -1"));
    negative.expect_code(2);
    assert!(
        negative
            .stderr
            .contains("--als-extrapolation must be a finite number >= 0")
            && !negative.stderr.contains("panicked"),
        "{}",
        negative.describe()
    );
    // The start of ccd and als with sgd.
    assert_inapplicable(
        &strads(&format!("{mf} --algo sgd --init spectral --init-steps 2")),
        &["--init", "--init-steps"],
        "to --algo ccd and als",
    );
    // Each flag with its own algorithm is taken.
    for flags in [
        "--algo sgd --lr 0.05 --lr-decay 0.1",
        "--algo sgd --eval-every 3",
        "--algo ccd --inner 2",
        "--algo als --init random",
        "--algo als --als-extrapolation 0",
        "--algo als --als-extrapolation 2.5",
    ] {
        strads(&format!("{mf} {flags} --json")).expect_success();
    }
}

/// The flags of the rows layout's options (`RowsOptions`), each with a value other than its
/// default, and the column layout's (`ColumnsOptions`).
const ROWS_FLAGS: [(&str, &str); 8] = [
    ("--scheduler", "cyclic"),
    ("--schedule-size", "16"),
    ("--rho", "0.5"),
    ("--eta", "1e-6"),
    ("--staleness", "1"),
    ("--no-screening", ""),
    ("--sweep-share", "0.5"),
    ("--inner-passes", "2"),
];
const COLUMNS_FLAGS: [(&str, &str); 2] =
    [("--local-passes", "2"), ("--single-worker-entries", "0")];

fn command_line(flags: &[(&str, &str)]) -> String {
    flags
        .iter()
        .map(|(flag, value)| format!("{flag} {value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn lasso_and_logreg_reject_the_flags_of_the_other_layout_naming_them() {
    let i = inputs();
    let rows_flags: Vec<&str> = ROWS_FLAGS.iter().map(|(flag, _)| *flag).collect();
    for (app, data) in [("lasso", &i.lasso), ("logreg", &i.logreg)] {
        let base = format!("{app} --data {data} --threads 1");
        // Every rows-only flag with the column layout, chosen or by default, all named.
        for layout in ["--layout columns", ""] {
            assert_inapplicable(
                &strads(&format!("{base} {layout} {}", command_line(&ROWS_FLAGS))),
                &rows_flags,
                "to --layout rows",
            );
        }
        // Each one alone.
        for (flag, value) in ROWS_FLAGS {
            assert_inapplicable(
                &strads(&format!("{base} --layout columns {flag} {value}")),
                &[flag],
                "to --layout rows",
            );
        }
        // Also with their defaults' values.
        assert_inapplicable(
            &strads(&format!("{base} --layout columns --rho 0.1 --staleness 0")),
            &["--rho", "--staleness"],
            "to --layout rows",
        );
        // The column layout's flag with the rows layout.
        assert_inapplicable(
            &strads(&format!(
                "{base} --layout rows {}",
                command_line(&COLUMNS_FLAGS)
            )),
            &["--local-passes", "--single-worker-entries"],
            "to --layout columns",
        );
        strads(&format!("{base} --layout rows --staleness 0 --json")).expect_success();
    }
}

#[test]
fn lasso_and_logreg_take_the_flags_of_their_layout() {
    let i = inputs();
    for (app, data) in [("lasso", &i.lasso), ("logreg", &i.logreg)] {
        let base = format!("{app} --data {data} --threads 2 --json");
        // Every rows flag at once: the summary reports the scheduling they set.
        let run = strads(&format!(
            "{base} --layout rows --gap-every 1 {}",
            command_line(&ROWS_FLAGS)
        ));
        run.expect_success();
        let summary = run.json();
        assert_eq!(summary["layout"], "rows", "{}", run.describe());
        assert_eq!(summary["scheduler"], "cyclic", "{}", run.describe());
        assert_eq!(number(&summary, "schedule_size"), 16.0);
        assert_eq!(number(&summary, "rho"), 0.5);
        assert_eq!(number(&summary, "staleness"), 1.0);
        assert!(
            summary["converged"].as_bool().unwrap(),
            "{}",
            run.describe()
        );
        // The column layout's flag: no rows scheduling in its summary.
        let run = strads(&format!(
            "{base} --layout columns --gap-every 5 {}",
            command_line(&COLUMNS_FLAGS)
        ));
        run.expect_success();
        let summary = run.json();
        assert_eq!(summary["layout"], "columns", "{}", run.describe());
        assert!(summary["scheduler"].is_null() && summary["staleness"].is_null());
        assert!(
            summary["converged"].as_bool().unwrap(),
            "{}",
            run.describe()
        );
    }
}

#[test]
fn mlr_and_word2vec_reject_the_flags_of_other_modes_naming_them() {
    let i = inputs();
    let mlr = format!("mlr --data {} --threads 1", i.mlr);
    assert_inapplicable(
        &strads(&format!("{mlr} --epochs 3 --staleness 0")),
        &["--epochs", "--staleness"],
        "to --solver sgd",
    );
    assert_inapplicable(
        &strads(&format!("{mlr} --solver sgd --tol 1e-3")),
        &["--tol"],
        "to --solver lbfgs",
    );
    let w2v = format!("word2vec --data {} --min-count 1 --threads 1", i.text);
    assert_inapplicable(
        &strads(&format!("{w2v} --out {}.vec --top 3", i.text)),
        &["--top"],
        "to --similar",
    );
    assert_inapplicable(
        &strads(&format!(
            "{w2v} --out {}.vec --cbow --shared-negatives",
            i.text
        )),
        &["--shared-negatives"],
        "to skip-gram",
    );
    assert_inapplicable(
        &strads(&format!(
            "lda --data {} --topics 2 --sampler exact --mh-steps 2 --threads 1",
            i.text
        )),
        &["--mh-steps"],
        "to the MH sampler",
    );
}

#[test]
fn every_app_subcommand_accepts_threads_and_one_process() {
    let i = inputs();
    let dir = Dir::new();
    let out = arg(&dir.path("vectors.txt"));
    let commands = [
        // Without the small-problem rule, which would solve these tiny files on one thread.
        format!("lasso --data {} --single-worker-entries 0", i.lasso),
        format!("logreg --data {} --single-worker-entries 0", i.logreg),
        format!("mf --train {} --iters 1 --rank 2", i.ratings),
        format!("lda --data {} --topics 2 --iters 1", i.text),
        format!("mlr --data {} --max-iters 5", i.mlr),
        format!(
            "word2vec --data {} --out {out} --min-count 1 --dim 4 --epochs 1",
            i.text
        ),
    ];
    for command in &commands {
        let run = strads(&format!("{command} --threads 2 --processes 1 --json"));
        run.expect_success();
        let summary = run.json();
        assert_eq!(number(&summary, "threads"), 2.0, "{command}");
        assert_eq!(number(&summary, "processes"), 1.0, "{command}");
    }
}

/// The library crates whose non-test code must name no flag: they say what is wrong in their
/// own terms, and `strads` adds the flag (`failure::flag_hint`, `flags::flag_of`). `crates/ap`
/// is left out: its argument parser (`ApConfig::from_args`) is the edge of the STRADS-AP
/// example programs and names their flags.
const LIBRARY_SOURCES: [&str; 5] = [
    "engine/src",
    "io/src",
    "core/src",
    "apps/src",
    "ap-apps/src",
];

/// The lines of `text` before its test module that are not comments and hold `--` followed by a
/// letter (a flag such as `--zero-based`), as `line: text`.
fn lines_naming_flags(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| {
            line.match_indices("--")
                .any(|(at, _)| line[at + 2..].starts_with(|c: char| c.is_ascii_lowercase()))
        })
        .map(|(number, line)| format!("{}: {}", number + 1, line.trim()))
        .collect()
}

fn rust_files(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_library_source_names_a_flag() {
    assert_eq!(
        lines_naming_flags("let a = 1;\n// --x\nErr(\"pass --zero-based\")\n#[cfg(test)]\n\"--y\""),
        ["3: Err(\"pass --zero-based\")"],
        "the scan itself"
    );
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for dir in LIBRARY_SOURCES {
        let mut files = Vec::new();
        rust_files(&crates.join(dir), &mut files);
        assert!(!files.is_empty(), "no sources under crates/{dir}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in lines_naming_flags(&text) {
                found.push(format!("{}:{line}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library code names command-line flags (say what is wrong in the library's terms, with \
         typed fields, and add the flag in crates/cli):\n{}",
        found.join("\n")
    );
}
