//! `strads word2vec` and `strads gen text`: the vectors file (text and binary) and its round
//! trip through `--similar`, the JSON summary and trace, and bad input (status 2, the file
//! named, no panic).

use std::collections::BTreeSet;

use crate::support::{arg, number, run, Dir, Run};

fn word2vec(args: &[&str]) -> Run {
    let mut all = vec!["word2vec"];
    all.extend(args);
    run(&all)
}

/// Status 2, one `error:` line containing every keyword, nothing on stdout, no panic.
fn assert_rejected(run: &Run, keywords: &[&str]) {
    run.expect_code(2);
    assert!(!run.stderr.contains("panicked"), "{}", run.describe());
    assert!(run.stdout.trim().is_empty(), "{}", run.describe());
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.describe());
    for keyword in keywords {
        assert!(
            errors[0].contains(keyword),
            "expected {keyword:?} in {:?}",
            errors[0]
        );
    }
}

/// A vectors file parsed here, independently of the library: words and rows.
fn parse_text_vectors(text: &str) -> (usize, usize, Vec<(String, Vec<f64>)>) {
    let mut lines = text.lines();
    let header: Vec<usize> = lines
        .next()
        .unwrap()
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    let rows = lines
        .map(|line| {
            let mut fields = line.split(' ');
            let word = fields.next().unwrap().to_owned();
            (word, fields.map(|x| x.parse::<f64>().unwrap()).collect())
        })
        .collect();
    (header[0], header[1], rows)
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn vectors_round_trip_through_similar_in_text_and_binary() {
    let dir = Dir::new();
    let corpus = dir.generate(
        "corpus.txt",
        "text",
        &["--sentences", "3000", "--seed", "3"],
    );
    let (text_out, binary_out, trace) = (
        arg(&dir.path("vectors.txt")),
        arg(&dir.path("vectors.bin")),
        arg(&dir.path("trace.jsonl")),
    );
    let corpus_arg = arg(&corpus);
    let common = [
        "--data",
        &corpus_arg,
        "--min-count",
        "1",
        "--dim",
        "16",
        "--threads",
        "2",
    ];
    let mut args = common.to_vec();
    args.extend(
        [
            "--out",
            text_out.as_str(),
            "--json",
            "--trace",
            trace.as_str(),
        ]
        .iter(),
    );
    let trained = word2vec(&args);
    trained.expect_success();
    let summary = trained.json();

    // The vocabulary is every distinct token of the corpus (min-count 1), counted here.
    let corpus_text = std::fs::read_to_string(&corpus).unwrap();
    let distinct: BTreeSet<&str> = corpus_text.split_whitespace().collect();
    let tokens = corpus_text.split_whitespace().count();
    assert_eq!(number(&summary, "vocabulary") as usize, distinct.len());
    assert_eq!(number(&summary, "corpus_words") as usize, tokens);
    assert_eq!(number(&summary, "epochs"), 5.0);
    assert!(number(&summary, "words_per_second") > 0.0);
    assert!(number(&summary, "peak_memory_mib") > 0.0);
    assert!(summary.get("bytes_sent").is_some(), "{summary}");
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 5);
    assert!(records
        .iter()
        .all(|r| number(r, "words") as usize == tokens));
    assert_eq!(
        number(&records[4], "mean_loss"),
        number(&summary, "final_loss")
    );

    // The text file: header, one line per word, every word once.
    let (v, dim, rows) = parse_text_vectors(&std::fs::read_to_string(&text_out).unwrap());
    assert_eq!((v, dim, rows.len()), (distinct.len(), 16, distinct.len()));
    assert!(rows.iter().all(|(_, r)| r.len() == 16));
    let words: BTreeSet<&str> = rows.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(words, distinct);

    // --similar prints the neighbours by cosine, computed here from the file.
    let similar = word2vec(&["--similar", "c2w7", "--vectors", &text_out, "--top", "5"]);
    similar.expect_success();
    let printed: Vec<(String, f64)> = similar
        .stdout
        .lines()
        .map(|l| {
            let (w, s) = l.split_once(' ').unwrap();
            (w.to_owned(), s.parse().unwrap())
        })
        .collect();
    let target = &rows.iter().find(|(w, _)| w == "c2w7").unwrap().1;
    let mut expected: Vec<(String, f64)> = rows
        .iter()
        .filter(|(w, _)| w != "c2w7")
        .map(|(w, r)| (w.clone(), cosine(target, r)))
        .collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(printed.len(), 5);
    for ((pw, ps), (ew, es)) in printed.iter().zip(&expected) {
        assert_eq!(pw, ew);
        assert!((ps - es).abs() < 1e-5, "{pw}: {ps} vs {es}");
    }
    // Planted clusters: the neighbours of c2w7 are words of cluster 2.
    let in_cluster = printed.iter().filter(|(w, _)| w.starts_with("c2w")).count();
    assert!(in_cluster >= 4, "{}", similar.stdout);

    // The same run written in binary gives the same neighbours.
    let mut args = common.to_vec();
    args.extend(["--out", binary_out.as_str(), "--binary"].iter());
    word2vec(&args).expect_success();
    let from_binary = word2vec(&["--similar", "c2w7", "--vectors", &binary_out, "--top", "5"]);
    from_binary.expect_success();
    assert_eq!(from_binary.stdout, similar.stdout);
}

#[test]
fn bad_input_names_the_file_and_exits_2() {
    let dir = Dir::new();
    let out = dir.path("v.txt");
    let missing = dir.path("missing.txt");
    assert_rejected(
        &word2vec(&["--data", &arg(&missing), "--out", &arg(&out)]),
        &["missing.txt"],
    );
    let rare = dir.write("rare.txt", "a b c\nb c d\n");
    assert_rejected(
        &word2vec(&["--data", &arg(&rare), "--out", &arg(&out), "--threads", "2"]),
        &["rare.txt", "at least 5"],
    );
    let good = dir.write("good.txt", &"x y z x y\n".repeat(20));
    for (flag, value) in [
        ("--alpha", "0"),
        ("--sample", "-1"),
        ("--dim", "0"),
        ("--window", "-2"),
    ] {
        let r = word2vec(&["--data", &arg(&good), "--out", &arg(&out), flag, value]);
        r.expect_code(2);
        assert!(!r.stderr.contains("panicked"), "{}", r.describe());
    }
    assert!(!out.exists(), "a failed run wrote its output");
    let malformed = dir.write("vectors.txt", "2 3\na 0.1 0.2 0.3\nb 0.1 zz 0.3\n");
    assert_rejected(
        &word2vec(&["--similar", "a", "--vectors", &arg(&malformed)]),
        &["vectors.txt:3:", "zz"],
    );
    let short = dir.write("short.txt", "3 2\na 1 2\n");
    assert_rejected(
        &word2vec(&["--similar", "a", "--vectors", &arg(&short)]),
        &["short.txt", "announces 3 words"],
    );
    let fine = dir.write("fine.txt", "2 2\na 1 2\nb 2 1\n");
    assert_rejected(
        &word2vec(&["--similar", "nope", "--vectors", &arg(&fine)]),
        &["fine.txt", "nope"],
    );
}

#[test]
fn two_threads_and_two_processes_write_the_same_vectors() {
    let dir = Dir::new();
    let corpus = arg(&dir.generate("corpus.txt", "text", &["--sentences", "2000"]));
    let (threads_out, processes_out) = (
        arg(&dir.path("threads.txt")),
        arg(&dir.path("processes.txt")),
    );
    let common = [
        "--data",
        corpus.as_str(),
        "--min-count",
        "1",
        "--dim",
        "8",
        "--epochs",
        "2",
        "--json",
    ];
    let mut args = vec!["word2vec", "--threads", "2", "--out", threads_out.as_str()];
    args.extend(common);
    let threads = run(&args);
    let mut args = vec![
        "launch",
        "--processes",
        "2",
        "--threads",
        "1",
        "--",
        "word2vec",
        "--out",
        processes_out.as_str(),
    ];
    args.extend(common);
    let processes = run(&args);
    threads.expect_success();
    processes.expect_success();
    assert_eq!(processes.json()["processes"], 2);
    // Bsp merges every step's changes in worker order: the cluster shape alone fixes the result.
    assert_eq!(
        std::fs::read_to_string(&threads_out).unwrap(),
        std::fs::read_to_string(&processes_out).unwrap()
    );
    assert_eq!(
        number(&threads.json(), "final_loss"),
        number(&processes.json(), "final_loss")
    );
}

/// The text summary shows the values of the `--json` summary of the same run (deterministic:
/// same corpus, seed and threads) and of its trace, epoch by epoch, each where its label says;
/// and `--similar`'s text lists the neighbours of its `--json`, in order.
#[test]
fn text_summaries_show_the_json_summary_and_trace_values() {
    let dir = Dir::new();
    let corpus = arg(&dir.generate("corpus.txt", "text", &["--sentences", "1500"]));
    let (vectors, trace) = (arg(&dir.path("vectors.txt")), arg(&dir.path("trace.jsonl")));
    let common = [
        "--data",
        corpus.as_str(),
        "--min-count",
        "1",
        "--dim",
        "8",
        "--epochs",
        "2",
        "--threads",
        "2",
        "--out",
        vectors.as_str(),
    ];
    let with = |extra: &[&str]| {
        let mut args = common.to_vec();
        args.extend(extra);
        let r = word2vec(&args);
        r.expect_success();
        r
    };
    let json = with(&["--json"]).json();
    let text = with(&["--trace", trace.as_str()]).stdout;
    let n = |field: &str| number(&json, field);
    let expect_line = |line: &str| {
        assert!(
            text.lines().any(|l| l.contains(line)),
            "the summary has no line with {line:?}:\n{text}"
        );
    };
    expect_line(&format!(
        "strads word2vec ({}, negative sampling): {} words, vocabulary {}, dim {}; {} loop, \
         mini-batch {} words",
        json["architecture"].as_str().unwrap(),
        n("corpus_words"),
        n("vocabulary"),
        n("dim"),
        json["consistency"].as_str().unwrap(),
        n("words_per_step")
    ));
    let epochs: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(epochs.len() as f64, n("epochs"));
    assert_eq!(number(epochs.last().unwrap(), "mean_loss"), n("final_loss"));
    for epoch in &epochs {
        let e = |field: &str| number(epoch, field);
        // Words per second is the one timing on the line: the rest is checked around it.
        expect_line(&format!(
            "epoch {}: {} words, {} pairs, ",
            e("epoch"),
            e("words"),
            e("pairs")
        ));
        expect_line(&format!(
            " words/s, mean loss {:.6}, alpha {:.6}",
            e("mean_loss"),
            e("alpha")
        ));
    }

    let word = text_first_word(&vectors);
    let similar = |extra: &[&str]| {
        let mut args = vec![
            "--similar",
            word.as_str(),
            "--vectors",
            vectors.as_str(),
            "--top",
            "3",
        ];
        args.extend(extra);
        let r = word2vec(&args);
        r.expect_success();
        r
    };
    let listed = similar(&[]).stdout;
    let neighbours = similar(&["--json"]).json()["neighbours"]
        .as_array()
        .unwrap()
        .clone();
    let expected: Vec<String> = neighbours
        .iter()
        .map(|n| format!("{} {:.6}", n["word"].as_str().unwrap(), number(n, "cosine")))
        .collect();
    assert_eq!(listed.lines().collect::<Vec<_>>(), expected);
    assert_eq!(expected.len(), 3);
}

/// The first word of a text vectors file (the line after its header).
fn text_first_word(path: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let (_, _, rows) = parse_text_vectors(&text);
    rows[0].0.clone()
}
