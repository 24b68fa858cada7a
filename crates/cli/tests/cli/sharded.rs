//! Issue 17, parts 1, 2 and 5: on 2 real processes over loopback every process reads only its
//! byte range and holds only its share (the `--json` per-process figures add up to the file and
//! to the data, each near half; for MF also its share of the id tokens), the answer is the one of 1 process, and a bad line that a
//! shard boundary cuts is still reported as `file:line` with exit status 2.

use std::path::Path;

use crate::support::*;

/// Runs `app` with `flags` (and `--json`) on 1 process of 1 thread and on 2 processes of 1
/// thread (`strads launch`); returns both summaries.
fn one_and_two_processes(app: &str, flags: &[&str]) -> (serde_json::Value, serde_json::Value) {
    let mut one = vec![app, "--threads", "1", "--json"];
    one.extend(flags);
    let mut two = vec![
        "launch",
        "--processes",
        "2",
        "--threads",
        "1",
        "--",
        app,
        "--json",
    ];
    two.extend(flags);
    let (one, two) = (run(&one), run(&two));
    one.expect_success();
    two.expect_success();
    let (one, two) = (one.json(), two.json());
    assert_eq!(two["processes"], 2, "{two}");
    (one, two)
}

/// The per-process list `field` of `summary`, with one entry per process.
fn per_process(summary: &serde_json::Value, field: &str, processes: usize) -> Vec<f64> {
    let values = summary[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} is not a list: {summary}"));
    assert_eq!(values.len(), processes, "{field}: {summary}");
    values
        .iter()
        .map(|v| v.as_f64().unwrap_or_else(|| panic!("{field}: {summary}")))
        .collect()
}

/// `field`'s parts add up to `whole` exactly and each is within `slack` of an even share.
fn split_evenly(summary: &serde_json::Value, field: &str, whole: f64, slack: f64) {
    let parts = per_process(summary, field, 2);
    assert_eq!(parts.iter().sum::<f64>(), whole, "{field}: {summary}");
    for part in &parts {
        assert!(
            (part / whole - 0.5).abs() <= slack,
            "{field}: {part} of {whole} is not about half: {summary}"
        );
    }
}

/// Every process reported a peak, and process 0's is about the one it printed.
fn peaks_reported(summary: &serde_json::Value, processes: usize) {
    let peaks = per_process(summary, "peak_memory_mib_per_process", processes);
    assert!(peaks.iter().all(|&p| p > 0.0), "{summary}");
    // The kernel's figure may lag by a few pages (per-thread counters are synced lazily).
    assert!(
        peaks[0] <= 1.1 * number(summary, "peak_memory_mib"),
        "{summary}"
    );
}

fn file_len(path: &Path) -> f64 {
    std::fs::metadata(path).unwrap().len() as f64
}

#[test]
fn lasso_processes_read_and_hold_half_and_reach_the_objective_of_one() {
    let dir = Dir::new();
    let data = dir.generate("x.libsvm", "lasso", LASSO_PROBLEM);
    for layout in ["columns", "rows"] {
        let data_arg = arg(&data);
        let flags = [
            "--data",
            &data_arg,
            "--lambda-ratio",
            "0.1",
            "--tol",
            "1e-8",
            "--layout",
            layout,
        ];
        let (one, two) = one_and_two_processes("lasso", &flags);
        peaks_reported(&one, 1);
        peaks_reported(&two, 2);
        assert_eq!(
            per_process(&one, "bytes_read_per_process", 1),
            [file_len(&data)]
        );
        split_evenly(&two, "bytes_read_per_process", file_len(&data), 0.05);
        // The rows layout holds each worker's rows, the column layout its block of columns
        // (cut to balance nonzeros): either way every nonzero once.
        let nonzeros = number(&two, "nonzeros");
        split_evenly(&two, "nonzeros_held_per_process", nonzeros, 0.1);
        let (a, b) = (number(&one, "objective"), number(&two, "objective"));
        assert!(relative_difference(a, b) < 1e-6, "{layout}: {a} vs {b}");
    }
}

/// `lasso --cache`: the first (one-process) run parses the libsvm file and writes the cache,
/// later runs read it, each process only its rows, and every run gives the text run's objective
/// to the last bit (each worker holds the same rows as from the text); a truncated cache is an
/// error naming it, exit status 2.
#[test]
fn a_libsvm_cache_is_read_by_each_process_in_part_with_the_answer_of_the_text() {
    let dir = Dir::new();
    let data = dir.generate("x.libsvm", "lasso", LASSO_PROBLEM);
    let cache = dir.path("x.cache");
    let (data_arg, cache_arg) = (arg(&data), arg(&cache));
    let text = [
        "--data",
        &data_arg,
        "--lambda-ratio",
        "0.1",
        "--tol",
        "1e-8",
    ];
    let mut cached = text.to_vec();
    cached.extend(["--cache", &cache_arg]);
    let (text_one, text_two) = one_and_two_processes("lasso", &text);
    let (cached_one, cached_two) = one_and_two_processes("lasso", &cached);
    assert!(text_one["cache"].is_null(), "{text_one}");
    assert_eq!(cached_one["cache"], "written", "{cached_one}");
    assert_eq!(cached_two["cache"], "read", "{cached_two}");
    for (a, b) in [(&text_one, &cached_one), (&text_two, &cached_two)] {
        assert_eq!(a["objective"], b["objective"], "{a}\n{b}");
        assert_eq!(a["nonzeros"], b["nonzeros"], "{a}\n{b}");
    }
    let cache_len = file_len(&cache);
    for part in per_process(&cached_two, "bytes_read_per_process", 2) {
        assert!(
            part > 0.4 * cache_len && part < 0.6 * cache_len,
            "{part} of {cache_len}"
        );
    }
    split_evenly(
        &cached_two,
        "nonzeros_held_per_process",
        number(&cached_two, "nonzeros"),
        0.1,
    );

    let good = std::fs::read(&cache).unwrap();
    std::fs::write(&cache, &good[..good.len() - 5]).unwrap();
    let mut flags = vec!["lasso", "--threads", "1", "--json"];
    flags.extend(&cached);
    let truncated = run(&flags);
    truncated.expect_code(2);
    let message = truncated.error_lines().join("\n");
    assert!(
        message.contains("x.cache") && message.contains("truncated"),
        "{message}"
    );
}

#[test]
fn lda_processes_read_and_hold_half_and_reach_the_log_likelihood_of_one() {
    let dir = Dir::new();
    let data = dir.generate(
        "c.txt",
        "lda",
        &[
            "--docs",
            "400",
            "--vocab",
            "300",
            "--topics",
            "5",
            "--doc-length",
            "50",
            "--seed",
            "6",
        ],
    );
    let data_arg = arg(&data);
    let flags = ["--data", &data_arg, "--topics", "5", "--iters", "40"];
    let (one, two) = one_and_two_processes("lda", &flags);
    peaks_reported(&two, 2);
    // Every process reads the three header lines; the body is read in byte ranges.
    let text = std::fs::read_to_string(&data).unwrap();
    let header: usize = text.split_inclusive('\n').take(3).map(str::len).sum();
    let body = (text.len() - header) as f64;
    assert_eq!(per_process(&one, "bytes_read_per_process", 1), [body]);
    split_evenly(&two, "bytes_read_per_process", body, 0.05);
    let tokens = number(&two, "tokens");
    assert_eq!(tokens, 400.0 * 50.0);
    split_evenly(&two, "tokens_held_per_process", tokens, 0.05);
    let (a, b) = (
        number(&one, "loglik_per_token"),
        number(&two, "loglik_per_token"),
    );
    assert!(
        relative_difference(a, b) < 0.01,
        "1 process {a}, 2 processes {b}"
    );
}

/// Ratings with word user ids (the canonical order's bytewise part) and number item ids; one
/// process and two number the ids the same, each of the two holding about half of them.
#[test]
fn mf_processes_read_half_hold_half_of_the_ids_and_reach_the_objective_of_one() {
    let dir = Dir::new();
    let (n_users, n_items) = (300, 80);
    let text: String = (0..n_users)
        .flat_map(|u| {
            (0..8).map(move |k| {
                let item = (u * 7 + k * 13) % n_items + 1;
                format!("user{u} {item} {}\n", (u + 3 * item) % 5 + 1)
            })
        })
        .collect();
    let train = dir.write("train.txt", &text);
    let train_arg = arg(&train);
    let flags = [
        "--train", &train_arg, "--algo", "als", "--rank", "3", "--iters", "3",
    ];
    let (one, two) = one_and_two_processes("mf", &flags);
    peaks_reported(&two, 2);
    assert_eq!(number(&two, "users"), n_users as f64, "{two}");
    assert_eq!(number(&two, "items"), n_items as f64, "{two}");
    let ids = (n_users + n_items) as f64;
    assert_eq!(per_process(&one, "ids_held_per_process", 1), [ids]);
    split_evenly(&two, "ids_held_per_process", ids, 0.1);
    split_evenly(&two, "bytes_read_per_process", file_len(&train), 0.05);
    split_evenly(
        &two,
        "ratings_held_per_process",
        2.0 * text.lines().count() as f64,
        0.1,
    );
    // ALS sums every row's terms in a fixed order: the same factors for any cluster shape.
    let (a, b) = (number(&one, "objective"), number(&two, "objective"));
    assert!(
        relative_difference(a, b) < 1e-12,
        "1 process {a}, 2 processes {b}"
    );
}

#[test]
fn word2vec_processes_read_and_hold_half_and_train_as_two_threads() {
    let dir = Dir::new();
    let corpus = dir.generate("corpus.txt", "text", &["--sentences", "2000"]);
    let (corpus_arg, vectors) = (arg(&corpus), arg(&dir.path("vectors.txt")));
    let flags = [
        "--data",
        &corpus_arg,
        "--min-count",
        "1",
        "--dim",
        "8",
        "--epochs",
        "2",
        "--out",
        &vectors,
    ];
    let (one, two) = one_and_two_processes("word2vec", &flags);
    peaks_reported(&two, 2);
    split_evenly(&two, "bytes_read_per_process", file_len(&corpus), 0.05);
    let words = number(&two, "corpus_words");
    assert_eq!(per_process(&one, "words_held_per_process", 1), [words]);
    split_evenly(&two, "words_held_per_process", words, 0.05);
    // Bsp training is fixed by the seed and the cluster shape: 2 processes train exactly as 2
    // threads; 1 worker reaches about the same loss.
    let mut threads = vec!["word2vec", "--threads", "2", "--json"];
    threads.extend(flags);
    let threads = run(&threads);
    threads.expect_success();
    assert_eq!(two["final_loss"], threads.json()["final_loss"], "{two}");
    let (a, b) = (number(&one, "final_loss"), number(&two, "final_loss"));
    assert!(
        relative_difference(a, b) < 0.1,
        "1 process {a}, 2 processes {b}"
    );
}

#[test]
fn mlr_processes_read_and_hold_half_and_reach_the_objective_of_one() {
    let dir = Dir::new();
    let data = dir.generate(
        "m.libsvm",
        "mlr",
        &[
            "--rows",
            "2000",
            "--test-rows",
            "0",
            "--features",
            "20",
            "--seed",
            "2",
        ],
    );
    let data_arg = arg(&data);
    let (one, two) = one_and_two_processes("mlr", &["--data", &data_arg]);
    peaks_reported(&two, 2);
    split_evenly(&two, "bytes_read_per_process", file_len(&data), 0.05);
    split_evenly(&two, "rows_held_per_process", 2000.0, 0.05);
    let (a, b) = (number(&one, "objective"), number(&two, "objective"));
    assert!(
        relative_difference(a, b) < 1e-6,
        "1 process {a}, 2 processes {b}"
    );
}

/// A file of `before` and `after` around one long bad line that holds the file's midpoint,
/// where 2 processes cut it; returns the path and the bad line's number.
fn cut_bad_line(dir: &Dir, name: &str, before: &str, bad: &str, after: &str) -> (String, usize) {
    let text = format!("{before}{bad}\n{after}");
    let middle = text.len() / 2;
    assert!(
        before.len() < middle && middle < before.len() + bad.len(),
        "the midpoint must fall inside the bad line"
    );
    let path = dir.write(name, &text);
    (arg(&path), before.lines().count() + 1)
}

#[test]
fn a_bad_line_cut_by_the_shard_boundary_is_named_by_file_and_line() {
    let dir = Dir::new();
    // libsvm: a long line whose last feature is not a number.
    let good: String = (0..40)
        .map(|i| format!("{}.5 1:1 {}:2\n", i % 3, i % 9 + 2))
        .collect();
    let long: String = (1..400).map(|j| format!(" {j}:0.25")).collect();
    let (libsvm, line) = cut_bad_line(&dir, "x.libsvm", &good, &format!("1{long} 400:oops"), &good);
    // docword: a long cell line with a count that is not a number.
    let cells: String = (1..=30).map(|d| format!("{d} {} 2\n", d % 5 + 1)).collect();
    let header = "70\n10\n61\n";
    let pad = " ".repeat(1200);
    let (docword, docword_line) = cut_bad_line(
        &dir,
        "c.docword",
        &format!("{header}{cells}"),
        &format!("31 1{pad}oops"),
        &cells
            .lines()
            .map(|l| {
                let mut f = l.split(' ');
                let (d, w, c) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
                format!("{} {w} {c}\n", d.parse::<u32>().unwrap() + 40)
            })
            .collect::<String>(),
    );
    for (app, path, line, extra) in [
        ("lasso", &libsvm, line, vec![]),
        (
            "lda",
            &docword,
            docword_line,
            vec!["--topics", "2", "--iters", "1"],
        ),
    ] {
        let mut args = vec![
            "launch",
            "--processes",
            "2",
            "--threads",
            "1",
            "--",
            app,
            "--data",
        ];
        args.push(path);
        args.extend(extra);
        let result = run(&args);
        result.expect_code(2);
        let expected = format!("{path}:{line}:");
        assert!(
            result.error_lines().iter().any(|l| l.contains(&expected)),
            "{app}: expected {expected}: {}",
            result.describe()
        );
    }
}
