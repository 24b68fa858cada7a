//! `strads lda` and `strads gen lda`: malformed corpora (status 2, `file:line:` messages), the
//! output files against the corpus, the same seed giving identical files, and two real processes
//! reaching the log-likelihood of one process.

use std::collections::HashMap;

use crate::support::{arg, number, relative_difference, run, Dir, Run};

/// Checks status 2, exactly one `error:` line that starts with `prefix` and names `keyword`, and
/// nothing on stdout.
fn assert_rejected(run: &Run, prefix: &str, keyword: &str) {
    run.expect_code(2);
    assert!(!run.stderr.contains("panicked"), "{}", run.describe());
    assert!(run.stdout.trim().is_empty(), "{}", run.describe());
    let errors = run.error_lines();
    assert_eq!(
        errors.len(),
        1,
        "one error line expected\n{}",
        run.describe()
    );
    assert!(
        errors[0].starts_with(prefix) && errors[0].contains(keyword),
        "expected an error starting with {prefix:?} and naming {keyword:?}, got {:?}",
        errors[0]
    );
}

fn lda(data: &str, extra: &[&str]) -> Run {
    let mut args = vec!["lda", "--data", data, "--topics", "3", "--iters", "2"];
    args.extend(extra);
    run(&args)
}

/// A malformed corpus: file name, content, extra flags, the line the error names (`None`: the
/// whole file) and a keyword of the message.
type Case = (
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<u64>,
    &'static str,
);

#[test]
fn malformed_corpora_name_the_file_and_line() {
    let dir = Dir::new();
    // (file name, content, extra flags, expected line (None: whole file), keyword)
    let cases: &[Case] = &[
        (
            "zero.txt",
            "2\n3\n2\n1 1 2\n2 3 0\n",
            &[],
            Some(5),
            "expected a count (a positive integer",
        ),
        (
            "fraction.txt",
            "2\n3\n1\n1 1 1.5\n",
            &[],
            Some(4),
            "expected a count",
        ),
        (
            "negative.txt",
            "2\n3\n1\n1 1 -2\n",
            &[],
            Some(4),
            "expected a count",
        ),
        (
            "word.txt",
            "2\n3\n2\n1 1 1\n2 9 1\n",
            &[],
            Some(5),
            "word id 9 is outside 1..=3",
        ),
        (
            "doc.txt",
            "2\n3\n1\n3 1 1\n",
            &[],
            Some(4),
            "doc id 3 is outside 1..=2",
        ),
        (
            "fields.txt",
            "2\n3\n1\n1 1\n",
            &[],
            Some(4),
            "expected `doc word count`",
        ),
        (
            "header.txt",
            "2\nthree\n1\n1 1 1\n",
            &[],
            Some(2),
            "expected the vocabulary size W",
        ),
        (
            "nnz.txt",
            "2\n3\n3\n1 1 1\n2 2 1\n",
            &[],
            None,
            "the header says 3 entries (NNZ), the body has 2",
        ),
        ("empty.txt", "2\n3\n0\n", &[], None, "holds no tokens"),
        (
            "idcount.txt",
            "1 1:2 2:1\n2 3:x\n",
            &["--format", "idcount"],
            Some(2),
            "expected a count",
        ),
        (
            "idword.txt",
            "1 1:2 0:1\n",
            &["--format", "idcount"],
            Some(1),
            "word id 0",
        ),
        (
            "blank.txt",
            "\n  \n",
            &["--format", "text"],
            None,
            "holds no tokens",
        ),
    ];
    for (name, content, extra, line, keyword) in cases {
        let path = dir.write(name, content);
        let prefix = match line {
            Some(line) => format!("error: {}:{line}: ", path.display()),
            None => format!("error: {}: ", path.display()),
        };
        for threads in ["1", "2"] {
            let mut flags = extra.to_vec();
            flags.extend(["--threads", threads]);
            assert_rejected(&lda(&arg(&path), &flags), &prefix, keyword);
        }
    }
    // A vocabulary that disagrees with the header, and stop words that leave nothing.
    let data = dir.write("ok.txt", "2\n3\n2\n1 1 1\n2 3 4\n");
    let vocab = dir.write("vocab.txt", "a\nb\n");
    let result = lda(&arg(&data), &["--vocab", &arg(&vocab)]);
    assert_rejected(
        &result,
        &format!("error: {}: ", vocab.display()),
        "the vocabulary has 2 words",
    );
    let text = dir.write("text.txt", "the a\nan the\n");
    let stop = dir.write("stop.txt", "the a an # articles\n");
    let result = lda(&arg(&text), &["--stopwords", &arg(&stop)]);
    assert_rejected(
        &result,
        &format!("error: {}: ", text.display()),
        "holds no tokens",
    );
    // Usage errors.
    for (flags, keyword) in [
        (
            &["--sampler", "mh", "--mh-steps", "9"][..],
            "--mh-steps must be in 1..=4",
        ),
        (&["--alpha", "0"][..], "--alpha must be > 0"),
    ] {
        let result = lda(&arg(&data), flags);
        assert_rejected(&result, "error: ", keyword);
    }
    let zero_topics = run(["lda", "--data", &arg(&data), "--topics", "0"]);
    assert_rejected(&zero_topics, "error: ", "--topics must be in");
}

/// Parses `id topic:count ...` lines into (id, [(topic, count)]).
fn sparse_lines(text: &str) -> Vec<(u64, Vec<(usize, u64)>)> {
    text.lines()
        .map(|line| {
            let mut fields = line.split(' ');
            let id = fields.next().unwrap().parse().unwrap();
            let row = fields
                .map(|f| {
                    let (k, c) = f.split_once(':').unwrap();
                    (k.parse().unwrap(), c.parse().unwrap())
                })
                .collect();
            (id, row)
        })
        .collect()
}

#[test]
fn output_files_agree_with_the_corpus_and_repeat_for_the_same_seed() {
    let dir = Dir::new();
    let data = dir.generate(
        "c.txt",
        "lda",
        &[
            "--docs",
            "60",
            "--vocab",
            "50",
            "--topics",
            "3",
            "--doc-length",
            "20",
            "--seed",
            "2",
        ],
    );
    let vocab = format!("{}.vocab", arg(&data));
    let outputs = |tag: &str| {
        let names =
            ["topics", "words", "docs", "trace"].map(|n| dir.path(&format!("{n}-{tag}.txt")));
        let result = run([
            "lda",
            "--data",
            &arg(&data),
            "--vocab",
            &vocab,
            "--topics",
            "4",
            "--iters",
            "5",
            "--threads",
            "2",
            "--top-words",
            "3",
            "--seed",
            "9",
            "--json",
            "--topics-out",
            &arg(&names[0]),
            "--word-topics-out",
            &arg(&names[1]),
            "--doc-topics-out",
            &arg(&names[2]),
            "--trace",
            &arg(&names[3]),
        ]);
        result.expect_success();
        let files: Vec<String> = names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        (result.json(), files)
    };
    let (json, files) = outputs("a");
    for field in [
        "topics",
        "iterations",
        "tokens",
        "loglik",
        "loglik_per_token",
        "tokens_per_second",
        "seconds",
        "load_seconds",
        "workers",
        "processes",
    ] {
        assert!(!json[field].is_null(), "summary lacks {field}: {json}");
    }
    assert_eq!(json["app"], "lda");
    assert_eq!(number(&json, "tokens"), 1200.0);
    // Topics: 3 lines per topic, `topic word probability`, words from the vocabulary.
    let topic_lines: Vec<&str> = files[0].lines().collect();
    assert_eq!(topic_lines.len(), 12);
    for (i, line) in topic_lines.iter().enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0].parse::<usize>().unwrap(), i / 3);
        assert!(fields[1].starts_with('w'), "{line}");
        let p: f64 = fields[2].parse().unwrap();
        assert!(p > 0.0 && p < 1.0, "{line}");
    }
    // Word-topic and doc-topic counts both add up to the corpus; per document to its length.
    let words = sparse_lines(&files[1]);
    let docs = sparse_lines(&files[2]);
    let total = |rows: &[(u64, Vec<(usize, u64)>)]| -> u64 {
        rows.iter().flat_map(|(_, r)| r.iter().map(|x| x.1)).sum()
    };
    assert_eq!(total(&words), 1200);
    assert_eq!(total(&docs), 1200);
    let mut word_totals: HashMap<usize, u64> = HashMap::new();
    for (_, row) in &words {
        for &(k, c) in row {
            assert!(k < 4);
            *word_totals.entry(k).or_default() += c;
        }
    }
    let mut doc_totals: HashMap<usize, u64> = HashMap::new();
    for (id, row) in &docs {
        assert!((1..=60).contains(id));
        assert_eq!(row.iter().map(|x| x.1).sum::<u64>(), 20, "document {id}");
        for &(k, c) in row {
            *doc_totals.entry(k).or_default() += c;
        }
    }
    assert_eq!(word_totals, doc_totals, "n_k from words and from documents");
    // Trace: one line per iteration, the last one the summary's log-likelihood.
    let trace: Vec<serde_json::Value> = files[3]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(trace.len(), 5);
    assert_eq!(number(&trace[4], "loglik"), number(&json, "loglik"));
    // Same seed and cluster shape: the same files and the same log-likelihood.
    let (again, files_again) = outputs("b");
    assert_eq!(files[..3], files_again[..3]);
    assert_eq!(number(&json, "loglik"), number(&again, "loglik"));
}

#[test]
fn text_corpora_build_their_vocabulary() {
    let dir = Dir::new();
    let text = dir.write(
        "t.txt",
        "apple banana apple the\nthe cherry banana\n\nrare apple cherry\n",
    );
    let stop = dir.write("stop.txt", "the\n");
    let topics = dir.path("topics.txt");
    let result = run([
        "lda",
        "--data",
        &arg(&text),
        "--stopwords",
        &arg(&stop),
        "--min-count",
        "2",
        "--topics",
        "2",
        "--iters",
        "3",
        "--top-words",
        "3",
        "--topics-out",
        &arg(&topics),
        "--json",
    ]);
    result.expect_success();
    let json = result.json();
    // apple x3, banana x2, cherry x2; `the` is a stop word and `rare` is too rare.
    assert_eq!(number(&json, "tokens"), 7.0);
    assert_eq!(number(&json, "words"), 3.0);
    assert_eq!(number(&json, "docs"), 4.0);
    let written = std::fs::read_to_string(&topics).unwrap();
    for word in ["apple", "banana", "cherry"] {
        assert!(written.contains(word), "{written}");
    }
}

#[test]
fn two_processes_reach_the_log_likelihood_of_one() {
    let dir = Dir::new();
    let data = dir.generate(
        "c.txt",
        "lda",
        &[
            "--docs",
            "300",
            "--vocab",
            "300",
            "--topics",
            "5",
            "--doc-length",
            "60",
            "--seed",
            "4",
        ],
    );
    for sampler in ["mh", "exact"] {
        let flags = [
            "lda",
            "--data",
            &arg(&data),
            "--topics",
            "5",
            "--iters",
            "60",
            "--sampler",
            sampler,
            "--json",
        ];
        let one = run(flags.iter().copied().chain(["--threads", "1"]));
        one.expect_success();
        let mut launch = vec!["launch", "--processes", "2", "--threads", "1", "--"];
        launch.extend(flags);
        let two = run(&launch);
        two.expect_success();
        let (a, b) = (one.json(), two.json());
        assert_eq!(number(&b, "processes"), 2.0);
        assert_eq!(number(&b, "workers"), 2.0);
        assert_eq!(b["sampler"], sampler);
        let (la, lb) = (
            number(&a, "loglik_per_token"),
            number(&b, "loglik_per_token"),
        );
        assert!(
            relative_difference(la, lb) < 0.01,
            "{sampler}: 1 process {la}, 2 processes {lb}"
        );
    }
}

/// `--cache` for a docword corpus: the first run parses the corpus and writes the cache, later
/// runs (one process or two) read it and sample exactly as from the text; each of two processes
/// reads about half of it; a truncated cache is an error naming it, a stale one is refused by a
/// cluster; `--cache` is refused for a text corpus.
#[test]
fn a_docword_cache_is_written_once_then_read_with_the_answer_of_the_text() {
    let dir = Dir::new();
    let data = dir.generate(
        "c.docword",
        "lda",
        &[
            "--docs",
            "200",
            "--vocab",
            "150",
            "--topics",
            "4",
            "--doc-length",
            "40",
            "--seed",
            "6",
        ],
    );
    let cache = dir.path("c.cache");
    let flags = |cache_flag: bool| {
        let mut flags = vec![
            "lda".to_owned(),
            "--data".into(),
            arg(&data),
            "--topics".into(),
            "4".into(),
            "--iters".into(),
            "5".into(),
            "--json".into(),
        ];
        if cache_flag {
            flags.extend(["--cache".into(), arg(&cache)]);
        }
        flags
    };
    let launched = |cache_flag: bool| {
        let mut all: Vec<String> = ["launch", "--processes", "2", "--threads", "1", "--"]
            .map(str::to_owned)
            .to_vec();
        all.extend(flags(cache_flag));
        let result = run(&all);
        result.expect_success();
        result.json()
    };
    let one = |cache_flag: bool| {
        let mut all = flags(cache_flag);
        all.extend(["--threads".into(), "2".into()]);
        let result = run(&all);
        result.expect_success();
        result.json()
    };
    let text = one(false);
    assert!(text["cache"].is_null(), "{text}");
    let written = one(true);
    assert_eq!(written["cache"], "written", "{written}");
    let read = one(true);
    assert_eq!(read["cache"], "read", "{read}");
    let two_text = launched(false);
    let two = launched(true);
    assert_eq!(two["cache"], "read", "{two}");
    for (name, summary, reference) in [
        ("written", &written, &text),
        ("read", &read, &text),
        ("two", &two, &two_text),
    ] {
        for field in ["docs", "words", "tokens", "loglik"] {
            assert_eq!(
                summary[field], reference[field],
                "{name} {field}: {summary}"
            );
        }
    }
    let cache_len = std::fs::metadata(&cache).unwrap().len() as f64;
    for bytes in two["bytes_read_per_process"].as_array().unwrap() {
        let bytes = bytes.as_f64().unwrap();
        assert!(
            bytes > 0.4 * cache_len && bytes < 0.65 * cache_len,
            "{bytes} of {cache_len}: {two}"
        );
    }
    // Truncated: exit status 2, naming the cache, which is left as it is.
    let good = std::fs::read(&cache).unwrap();
    std::fs::write(&cache, &good[..good.len() - 3]).unwrap();
    let truncated = run(flags(true));
    truncated.expect_code(2);
    let message = truncated.error_lines().join("\n");
    assert!(
        message.contains("c.cache") && message.contains("truncated"),
        "{message}"
    );
    assert_eq!(
        std::fs::metadata(&cache).unwrap().len() as usize,
        good.len() - 3
    );
    // Stale (the corpus changed since): refused by a cluster, made again by one process.
    std::fs::write(&cache, &good).unwrap();
    let mut changed = std::fs::read_to_string(&data).unwrap();
    changed.push_str("# a comment changes the file\n");
    std::fs::write(&data, changed).unwrap();
    let mut stale_two: Vec<String> = ["launch", "--processes", "2", "--threads", "1", "--"]
        .map(str::to_owned)
        .to_vec();
    stale_two.extend(flags(true));
    let refused = run(&stale_two);
    refused.expect_code(2);
    assert!(
        refused.describe().contains("stale"),
        "{}",
        refused.describe()
    );
    assert_eq!(one(true)["cache"], "written");
    // Not for text corpora.
    let text_corpus = dir.write("t.txt", "a b c\nb c d\n");
    let refused = lda(&arg(&text_corpus), &["--cache", &arg(&dir.path("t.cache"))]);
    assert_rejected(&refused, "error: --cache", "docword");
}

/// A block's rows travel between the workers of one process as a copy of the counts (K <= 64)
/// and between processes packed (`HandedRows`): the chain of a cluster shape must not depend on
/// which, so P workers as threads of one process and as processes (or a mix) sample the same
/// chain, bit for bit.
#[test]
fn the_same_workers_as_threads_or_processes_sample_the_same_chain() {
    let dir = Dir::new();
    let data = dir.generate(
        "c.txt",
        "lda",
        &[
            "--docs",
            "200",
            "--vocab",
            "400",
            "--topics",
            "6",
            "--doc-length",
            "50",
            "--seed",
            "9",
        ],
    );
    for sampler in ["exact", "mh"] {
        let flags = [
            "lda",
            "--data",
            &arg(&data),
            "--topics",
            "6",
            "--iters",
            "15",
            "--sampler",
            sampler,
            "--json",
        ];
        let loglik = |processes: &str, threads: &str| {
            let run = if processes == "1" {
                run(flags.iter().copied().chain(["--threads", threads]))
            } else {
                let mut launch = vec!["launch", "--processes", processes, "--threads", threads];
                launch.push("--");
                launch.extend(flags);
                run(&launch)
            };
            run.expect_success();
            number(&run.json(), "loglik_per_token")
        };
        assert_eq!(loglik("1", "2"), loglik("2", "1"), "{sampler}, 2 workers");
        assert_eq!(loglik("1", "4"), loglik("2", "2"), "{sampler}, 4 workers");
    }
}
