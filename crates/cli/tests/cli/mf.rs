//! `strads mf`, `strads gen mf` and `strads plot`: malformed ratings, the summary, unseen test
//! ids, predictions, identical factors on 1 thread / 2 threads / 2 processes, and plots.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::support::{arg, number, run, spawn_cluster, Dir, Run, COMMAND_TIMEOUT};

/// A small noisy rating set: PREFIX.train and PREFIX.test.
fn ratings(dir: &Dir) -> (PathBuf, PathBuf) {
    let prefix = dir.path("ratings");
    run([
        "gen",
        "mf",
        "--users",
        "400",
        "--items",
        "150",
        "--ratings",
        "12000",
        "--rank",
        "4",
        "--noise",
        "0.1",
        "--seed",
        "5",
        "--out",
        &arg(&prefix),
    ])
    .expect_success();
    (dir.path("ratings.train"), dir.path("ratings.test"))
}

fn mf(args: &[&str]) -> Run {
    let mut all = vec!["mf"];
    all.extend_from_slice(args);
    run(&all)
}

/// Reads PREFIX.users or PREFIX.items: id -> factor row.
fn factors(path: &Path) -> HashMap<String, Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let mut fields = line.split_whitespace();
            let id = fields.next().unwrap().to_owned();
            (id, fields.map(|x| x.parse().unwrap()).collect())
        })
        .collect()
}

fn max_difference(a: &Path, b: &Path) -> f64 {
    let mut worst = 0.0f64;
    for suffix in [".users", ".items"] {
        let with = |p: &Path| PathBuf::from(format!("{}{suffix}", p.display()));
        let (fa, fb) = (factors(&with(a)), factors(&with(b)));
        assert_eq!(fa.len(), fb.len());
        for (id, row) in &fa {
            for (x, y) in row.iter().zip(&fb[id]) {
                worst = worst.max((x - y).abs());
            }
        }
    }
    worst
}

#[test]
fn malformed_ratings_fail_with_status_2_naming_file_and_line() {
    let dir = Dir::new();
    let cases = [
        (
            "rating.txt",
            "1 1 4\n2 1 x\n",
            ":2: expected a numeric rating in field 3",
        ),
        (
            "fields.txt",
            "1 1 4\n2 1 3\n3 2\n",
            ":3: expected `user item rating`",
        ),
        (
            "fields.csv",
            "user,item,rating\n1,1,4\n2,1,3,4,5\n",
            ":3: expected `user item rating`",
        ),
        (
            "ml.dat",
            "1::1::4::0\n2::1::x::0\n",
            ":2: expected a numeric rating in field 3",
        ),
        ("empty.txt", "", "the file holds no ratings"),
    ];
    for (name, content, message) in cases {
        let path = dir.write(name, content);
        for threads in ["1", "2"] {
            let run = mf(&["--train", &arg(&path), "--threads", threads]);
            run.expect_code(2);
            let errors = run.error_lines();
            assert_eq!(errors.len(), 1, "{}", run.describe());
            assert!(
                errors[0].contains(&format!("{}{message}", path.display()))
                    || (message.starts_with("the file") && errors[0].contains(message)),
                "{name}: {}",
                run.describe()
            );
        }
    }
    // A bad test file is reported too, and a MatrixMarket file without values.
    let good = dir.write("good.txt", "1 1 4\n2 1 3\n");
    let bad_test = dir.write("test.txt", "1 1 4\n1\n");
    let run = mf(&["--train", &arg(&good), "--test", &arg(&bad_test)]);
    run.expect_code(2);
    assert!(run.stderr.contains("test.txt:2:"), "{}", run.describe());
    let pattern = dir.write(
        "p.mtx",
        "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1\n",
    );
    mf(&["--train", &arg(&pattern)]).expect_code(2);
    mf(&["--train", &arg(&good), "--rank", "0"]).expect_code(2);
}

#[test]
fn summary_counts_unseen_test_ids_and_predictions_use_the_model() {
    let dir = Dir::new();
    let train = dir.write(
        "train.csv",
        "user,item,rating\nann,x,4\nann,y,2\nbob,x,5\nbob,z,1\ncy,y,3\n",
    );
    let test = dir.write("test.txt", "ann z 2\nzed x 4\nbob q 3\n");
    let pairs = dir.write("pairs.txt", "ann x\nzed x\n");
    let prefix = dir.path("model");
    let predictions = dir.path("predictions.txt");
    let run = mf(&[
        "--train",
        &arg(&train),
        "--test",
        &arg(&test),
        "--rank",
        "2",
        "--iters",
        "3",
        "--threads",
        "2",
        "--json",
        "--out-prefix",
        &arg(&prefix),
        "--predict",
        &arg(&pairs),
        "--predictions-out",
        &arg(&predictions),
        "--trace",
        &arg(&dir.path("trace.jsonl")),
    ]);
    run.expect_success();
    let summary = run.json();
    for field in [
        "app",
        "algo",
        "rank",
        "iterations",
        "objective",
        "rmse_train",
        "rmse_test",
        "seconds",
        "load_seconds",
        "workers",
        "processes",
        "unseen_test_ratings",
    ] {
        assert!(summary.get(field).is_some(), "no {field} in {summary}");
    }
    assert_eq!(summary["unseen_test_ratings"], 2);
    assert_eq!(summary["test_ratings"], 3);
    assert_eq!(number(&summary, "iterations"), 3.0);
    let mean = 15.0 / 5.0;
    assert!((number(&summary, "global_mean") - mean).abs() < 1e-12);
    // Predictions: ann x from the factors, zed x (unknown user) the global mean.
    let users = factors(&PathBuf::from(format!("{}.users", prefix.display())));
    let items = factors(&PathBuf::from(format!("{}.items", prefix.display())));
    let expected: f64 = users["ann"]
        .iter()
        .zip(&items["x"])
        .map(|(a, b)| a * b)
        .sum();
    let lines: Vec<Vec<String>> = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(lines[0][..2], ["ann", "x"]);
    assert!((lines[0][2].parse::<f64>().unwrap() - expected).abs() < 1e-12);
    assert_eq!(lines[1][2].parse::<f64>().unwrap(), mean);
    let trace = std::fs::read_to_string(dir.path("trace.jsonl")).unwrap();
    assert_eq!(trace.lines().count(), 4, "iterations 0..=3");
}

#[test]
fn ccd_and_als_give_the_same_factors_on_threads_and_processes() {
    let dir = Dir::new();
    let (train, test) = ratings(&dir);
    for algo in ["ccd", "als"] {
        let common = |prefix: &Path| {
            vec![
                "mf".to_owned(),
                "--train".into(),
                arg(&train),
                "--test".into(),
                arg(&test),
                "--algo".into(),
                algo.into(),
                "--rank".into(),
                "4".into(),
                "--iters".into(),
                "4".into(),
                "--json".into(),
                "--out-prefix".into(),
                arg(prefix),
            ]
        };
        let one = dir.path(&format!("{algo}-1"));
        let two = dir.path(&format!("{algo}-2"));
        let procs = dir.path(&format!("{algo}-p"));
        let mut a = common(&one);
        a.extend(["--threads".into(), "1".into()]);
        let mut b = common(&two);
        b.extend(["--threads".into(), "2".into()]);
        let mut c = vec!["launch", "--processes", "2", "--threads", "1", "--"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        c.extend(common(&procs));
        let runs = [run(&a), run(&b), run(&c)];
        for r in &runs {
            r.expect_success();
        }
        assert_eq!(runs[2].json()["processes"], 2);
        for other in [&two, &procs] {
            let difference = max_difference(&one, other);
            assert!(difference <= 1e-9, "{algo}: {difference}");
        }
        let objective = |r: &Run| number(&r.json(), "objective");
        assert!((objective(&runs[0]) - objective(&runs[2])).abs() <= 1e-9 * objective(&runs[0]));
    }
}

#[test]
fn each_of_two_processes_reads_and_holds_about_half() {
    let dir = Dir::new();
    let (train, test) = ratings(&dir);
    let (hosts, _) = dir.loopback_hosts(2);
    let flags: Vec<String> = [
        "--train",
        &arg(&train),
        "--test",
        &arg(&test),
        "--rank",
        "4",
        "--iters",
        "2",
        "--json",
    ]
    .map(str::to_owned)
    .to_vec();
    let children = spawn_cluster("mf", 2, &hosts, &flags);
    let mut runs = children.into_iter().map(|c| c.finish(COMMAND_TIMEOUT));
    let (zero, one) = (runs.next().unwrap(), runs.next().unwrap());
    zero.expect_success();
    one.expect_success();
    let summary = zero.json();
    let list = |field: &str| -> Vec<f64> {
        let values = summary[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field}: {summary}"));
        assert_eq!(values.len(), 2, "{field}: {summary}");
        values.iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let roughly_half = |field: &str, parts: &[f64], whole: f64| {
        assert_eq!(parts.iter().sum::<f64>(), whole, "{field}: {summary}");
        for part in parts {
            assert!(
                (part / whole - 0.5).abs() < 0.1,
                "{field}: {part} of {whole}: {summary}"
            );
        }
    };
    // The byte ranges of both files tile them: each byte is read by exactly one process.
    let file_bytes = [&train, &test]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum::<u64>();
    roughly_half(
        "bytes_read_per_process",
        &list("bytes_read_per_process"),
        file_bytes as f64,
    );
    // Every training rating is held twice (by user and by item), each copy by one process.
    let ratings = number(&summary, "train_ratings");
    roughly_half(
        "ratings_held_per_process",
        &list("ratings_held_per_process"),
        2.0 * ratings,
    );
    let peaks = list("peak_memory_mib_per_process");
    assert!(peaks.iter().all(|&p| p > 0.0), "{summary}");
    // Process 0's peak at the end of solving is about its peak when it printed (the kernel's
    // figure may lag by a few pages: its per-thread counters are synced lazily).
    assert!(
        peaks[0] <= 1.1 * number(&summary, "peak_memory_mib"),
        "{summary}"
    );
}

#[test]
fn a_bad_line_that_process_1_reads_is_reported_by_process_0() {
    let dir = Dir::new();
    let mut text: String = (1..=200)
        .map(|u| format!("{u} {} 3\n", u % 7 + 1))
        .collect();
    text.push_str("201 1\n");
    let train = dir.write("train.txt", &text);
    let (hosts, _) = dir.loopback_hosts(2);
    let flags = vec!["--train".to_owned(), arg(&train)];
    let children = spawn_cluster("mf", 2, &hosts, &flags);
    let mut runs = children.into_iter().map(|c| c.finish(COMMAND_TIMEOUT));
    let (zero, one) = (runs.next().unwrap(), runs.next().unwrap());
    zero.expect_code(2);
    one.expect_code(2);
    let errors = zero.error_lines();
    assert_eq!(errors.len(), 1, "{}", zero.describe());
    let expected = format!("{}:201: expected `user item rating`", train.display());
    assert!(errors[0].contains(&expected), "{}", zero.describe());
    assert!(one.error_lines().is_empty(), "{}", one.describe());
}

#[test]
fn sgd_is_identical_for_the_same_seed_on_two_processes() {
    let dir = Dir::new();
    let (train, test) = ratings(&dir);
    let go = |name: &str, seed: &str| {
        let prefix = dir.path(name);
        run([
            "launch",
            "--processes",
            "2",
            "--threads",
            "1",
            "--",
            "mf",
            "--train",
            &arg(&train),
            "--test",
            &arg(&test),
            "--algo",
            "sgd",
            "--rank",
            "4",
            "--iters",
            "3",
            "--seed",
            seed,
            "--out-prefix",
            &arg(&prefix),
        ])
        .expect_success();
        prefix
    };
    let (a, b, c) = (go("a", "7"), go("b", "7"), go("c", "8"));
    assert_eq!(max_difference(&a, &b), 0.0);
    assert!(max_difference(&a, &c) > 0.0);
}

#[test]
fn plot_writes_a_png_and_an_svg_from_real_traces() {
    let dir = Dir::new();
    let (train, test) = ratings(&dir);
    let mut traces = Vec::new();
    for algo in ["ccd", "sgd"] {
        let trace = dir.path(&format!("{algo}.jsonl"));
        mf(&[
            "--train",
            &arg(&train),
            "--test",
            &arg(&test),
            "--algo",
            algo,
            "--iters",
            "3",
            "--trace",
            &arg(&trace),
        ])
        .expect_success();
        traces.push(arg(&trace));
    }
    let lasso_trace = dir.path("lasso.jsonl");
    run([
        "lasso",
        "--trace",
        &arg(&lasso_trace),
        "--max-iters",
        "2",
        "--threads",
        "1",
    ]);
    assert!(lasso_trace.exists());

    let png = dir.path("plot.png");
    let mut args = vec!["plot".to_owned()];
    args.extend(traces.iter().cloned());
    args.extend(["--out".into(), arg(&png)]);
    run(&args).expect_success();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(
        bytes[..8],
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n']
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 900));
    assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND");

    let svg = dir.path("lasso.svg");
    run(["plot", &arg(&lasso_trace), &traces[0], "--out", &arg(&svg)]).expect_success();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    assert!(
        text.contains("<polyline") || text.contains("<path"),
        "no lines drawn"
    );
    assert!(text.contains("lasso.jsonl") && text.contains("objective"));

    let bad = dir.write(
        "bad.jsonl",
        "{\"iteration\": 0, \"seconds\": 0, \"objective\": 1}\nnot json\n",
    );
    let run_bad = run(["plot", &arg(&bad), "--out", &arg(&dir.path("x.png"))]);
    run_bad.expect_code(2);
    assert!(
        run_bad.stderr.contains("bad.jsonl:2:"),
        "{}",
        run_bad.describe()
    );
    run(["plot", &arg(&bad), "--out", &arg(&dir.path("x.gif"))]).expect_code(2);
}

/// `--cache`: the first run parses the training file and writes the cache, later runs (one
/// process or two) read it and give the text run's factors; a stale cache is made again, a
/// truncated one is an error naming it (exit status 2).
#[test]
fn a_cache_is_written_once_then_read_with_the_answer_of_the_text() {
    let dir = Dir::new();
    let (train, test) = ratings(&dir);
    let cache = dir.path("ratings.cache");
    let common = |prefix: &Path, cache_flag: bool| {
        let mut flags = vec![
            "mf".to_owned(),
            "--train".into(),
            arg(&train),
            "--test".into(),
            arg(&test),
            "--rank".into(),
            "4".into(),
            "--iters".into(),
            "3".into(),
            "--json".into(),
            "--out-prefix".into(),
            arg(prefix),
        ];
        if cache_flag {
            flags.extend(["--cache".into(), arg(&cache)]);
        }
        flags
    };
    let one_process = |prefix: &Path, cache_flag: bool| {
        let mut flags = common(prefix, cache_flag);
        flags.extend(["--threads".into(), "1".into()]);
        let result = run(&flags);
        result.expect_success();
        result.json()
    };
    let text = one_process(&dir.path("text"), false);
    assert!(text["cache"].is_null(), "{text}");
    let written = one_process(&dir.path("written"), true);
    assert_eq!(written["cache"], "written", "{written}");
    let read = one_process(&dir.path("read"), true);
    assert_eq!(read["cache"], "read", "{read}");
    let mut two = vec!["launch", "--processes", "2", "--threads", "1", "--"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    two.extend(common(&dir.path("two"), true));
    let two = run(&two);
    two.expect_success();
    let two = two.json();
    assert_eq!(two["cache"], "read", "{two}");
    for (name, summary) in [("written", &written), ("read", &read), ("two", &two)] {
        let difference = max_difference(&dir.path("text"), &dir.path(name));
        assert!(difference <= 1e-12, "{name}: {difference}");
        for field in ["users", "items", "unseen_test_ratings"] {
            assert_eq!(summary[field], text[field], "{name} {field}: {summary}");
        }
        // One process sums the objective as the text run did; two sum their parts in another
        // order (the last bits).
        for field in ["objective", "rmse_test"] {
            let (a, b) = (number(summary, field), number(&text, field));
            assert!(
                (a - b).abs() <= 1e-12 * b.abs(),
                "{name} {field}: {a} vs {b}"
            );
        }
    }
    // Each of the two processes reads about half of the cache (its ratings, its ids' tokens,
    // every id's count) and its half of the test file.
    let cache_len = std::fs::metadata(&cache).unwrap().len() as f64;
    let test_len = std::fs::metadata(&test).unwrap().len() as f64;
    let read_by = two["bytes_read_per_process"].as_array().unwrap();
    assert_eq!(read_by.len(), 2, "{two}");
    for bytes in read_by {
        let bytes = bytes.as_f64().unwrap();
        assert!(
            bytes < 0.6 * (cache_len + test_len) && bytes > 0.4 * cache_len,
            "{bytes} of {cache_len} + {test_len}: {two}"
        );
    }

    // A truncated cache: exit status 2, naming the cache; the cache is left as it is.
    let good = std::fs::read(&cache).unwrap();
    std::fs::write(&cache, &good[..good.len() - 3]).unwrap();
    let truncated = run(common(&dir.path("bad"), true));
    truncated.expect_code(2);
    let message = truncated.error_lines().join("\n");
    assert!(
        message.contains("ratings.cache") && message.contains("truncated"),
        "{message}"
    );
    assert_eq!(
        std::fs::metadata(&cache).unwrap().len() as usize,
        good.len() - 3
    );
    // A stale cache (the training file changed since) is made again on one process, and refused
    // by a cluster of processes.
    std::fs::write(&cache, &good).unwrap();
    let mut text_now = std::fs::read_to_string(&train).unwrap();
    text_now.push_str("1 1 3.5\n");
    std::fs::write(&train, text_now).unwrap();
    let mut stale_two = vec!["launch", "--processes", "2", "--threads", "1", "--"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    stale_two.extend(common(&dir.path("stale2"), true));
    let refused = run(&stale_two);
    refused.expect_code(2);
    assert!(
        refused.describe().contains("stale"),
        "{}",
        refused.describe()
    );
    let again = one_process(&dir.path("again"), true);
    assert_eq!(again["cache"], "written", "{again}");
    assert_eq!(
        again["train_ratings"].as_f64().unwrap(),
        text["train_ratings"].as_f64().unwrap() + 1.0
    );
}
