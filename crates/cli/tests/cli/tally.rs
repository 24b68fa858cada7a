//! The malformed-input tally (README "Reliability"): malformed or unusual inputs, bad and
//! inapplicable flags, and outputs that collide with inputs, each run through the real binary,
//! and how each ended: a clean exit 2 naming the problem (with `file:line` for a bad line), a
//! correct acceptance (exit 0 with the right shape in the JSON summary), or a failure: an abort
//! (killed by a signal, e.g. SIGABRT from a failed allocation), a hang (no exit within 60 s), a
//! silent misread (exit 0 where the input is bad, or a wrong shape) or a wrong message.
//!
//! Every run is limited to 4 GiB of address space (`ulimit -v`) with `STRADS_MEMORY_LIMIT=2G`,
//! so an allocation that a check misses aborts visibly instead of swapping. Print the tally with
//! `cargo test --release -p strads-cli --test cli tally -- --nocapture`; set
//! `STRADS_TALLY_BINARY=/path/to/strads` to tally another build (e.g. an older one).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::strads_path;

/// Where a rejection's message must point.
#[derive(Clone, Copy)]
enum At {
    /// `error: FILE:LINE: `
    Line(&'static str, u64),
    /// `error: FILE: `
    File(&'static str),
    /// Anywhere: a usage error.
    Any,
}

enum Expect {
    /// Exit status 2, nothing on stdout, an `error:` line pointing `at` and naming `keyword`.
    Reject { at: At, keyword: &'static str },
    /// Exit status 0 and these values in the JSON summary.
    Accept(Vec<(&'static str, Value)>),
}

struct Case {
    group: &'static str,
    name: String,
    /// Files to create: name and bytes; `\0FIFO` makes a FIFO, `\0LINK:target` a symlink to
    /// `target` and `\0HARD:target` a hard link to it (created after the plain files).
    files: Vec<(&'static str, Vec<u8>)>,
    /// The command line; `@name` is the path of file `name`.
    args: String,
    expect: Expect,
}

fn reject(
    group: &'static str,
    name: impl Into<String>,
    files: Vec<(&'static str, Vec<u8>)>,
    args: &str,
    at: At,
    keyword: &'static str,
) -> Case {
    Case {
        group,
        name: name.into(),
        files,
        args: args.to_owned(),
        expect: Expect::Reject { at, keyword },
    }
}

fn accept(
    group: &'static str,
    name: impl Into<String>,
    files: Vec<(&'static str, Vec<u8>)>,
    args: &str,
    fields: Vec<(&'static str, Value)>,
) -> Case {
    Case {
        group,
        name: name.into(),
        files,
        args: args.to_owned(),
        expect: Expect::Accept(fields),
    }
}

fn file(name: &'static str, content: &str) -> (&'static str, Vec<u8>) {
    (name, content.as_bytes().to_vec())
}

const BOM: &str = "\u{feff}";
const LASSO: &str = "lasso --data @train.libsvm --threads 1 --json";
const MM: &str = "%%MatrixMarket matrix coordinate real general\n";

fn libsvm_cases() -> Vec<Case> {
    let g = "libsvm";
    let mut cases = Vec::new();
    let bad_lines: &[(&str, &str)] = &[
        ("abc 1:1", "expected a numeric label"),
        ("1:2 3:4", "every line starts with its label"),
        ("nan 1:1", "expected a finite label"),
        ("inf 1:1", "expected a finite label"),
        ("1e400 1:1", "expected a finite label"),
        ("1 7", "expected a feature `index:value`"),
        ("1 x:1", "is not a positive integer"),
        ("1 -3:1", "is not a positive integer"),
        ("1 +3:1", "is not a positive integer"),
        ("1 1.5:1", "is not a positive integer"),
        ("1 :3", "is not a positive integer"),
        ("1 3:abc", "is not a number"),
        ("1 3:", "is not a number"),
        ("1 3:inf", "is not finite"),
        ("1 3:-inf", "is not finite"),
        ("1 3:nan", "is not finite"),
        ("1 3:1e400", "is not finite"),
        ("1 3:0x10", "is not a number"),
        ("1 3:1:1", "is not a number"),
        ("1 3:--1", "is not a number"),
        ("1 1:1,2:2", "is not a number"),
        ("1 0:1", "--zero-based"),
        ("1 2:1 2:3", "duplicate feature index 2"),
        ("1 9:1 4:3", "unsorted feature indices"),
        ("1 4294967297:1", "is too large"),
        ("1 99999999999999999999:1", "is not a positive integer"),
        ("1 1:1 qid:3", "is not a positive integer"),
        ("1 \u{661}:1", "is not a positive integer"),
        ("\u{1}\u{2} 1:1", "expected a numeric label"),
    ];
    for (line, keyword) in bad_lines {
        let content = format!("1 1:0.5 2:1\n{line}\n0.5 1:1 3:2\n");
        cases.push(reject(
            g,
            format!("line {line:?}"),
            vec![file("train.libsvm", &content)],
            LASSO,
            At::Line("train.libsvm", 2),
            keyword,
        ));
    }
    // Invalid UTF-8 in a value.
    cases.push(reject(
        g,
        "invalid UTF-8 in a value",
        vec![("train.libsvm", b"1 1:1\n1 2:\xff\xfe\n".to_vec())],
        LASSO,
        At::Line("train.libsvm", 2),
        "is not a number",
    ));
    for (name, content) in [
        ("an empty file", ""),
        ("only comments and blank lines", "# a\n\n   \n# b\n"),
        ("only a byte order mark", BOM),
    ] {
        cases.push(reject(
            g,
            name,
            vec![file("train.libsvm", content)],
            LASSO,
            At::File("train.libsvm"),
            "no examples",
        ));
    }
    // Sizes no machine holds: refused before anything is sized by them.
    for line in ["1 4000000000:1", "1 1000000000:1", "1 400000000:1"] {
        cases.push(reject(
            g,
            format!("a column index of {line:?}"),
            vec![file("train.libsvm", &format!("{line}\n-1 1:1\n"))],
            LASSO,
            At::Any,
            "would need about",
        ));
    }
    let shape = |rows: u64, cols: u64, nonzeros: u64| {
        vec![
            ("rows", json!(rows)),
            ("cols", json!(cols)),
            ("nonzeros", json!(nonzeros)),
        ]
    };
    let good: &[(&str, String, u64)] = &[
        (
            "a byte order mark",
            format!("{BOM}1 1:0.5 2:1\n-1 2:2 3:0.5\n0.5 1:1 3:2\n"),
            6,
        ),
        (
            "CRLF line ends",
            "1 1:0.5 2:1\r\n-1 2:2 3:0.5\r\n0.5 1:1 3:2\r\n".into(),
            6,
        ),
        (
            "tabs and runs of spaces",
            "1\t1:0.5  2:1\n-1 \t2:2 3:0.5\n0.5   1:1\t3:2\n".into(),
            6,
        ),
        (
            "comments after examples",
            "1 1:0.5 2:1 # x\n-1 2:2 3:0.5#y\n0.5 1:1 3:2\n".into(),
            6,
        ),
        (
            "qid after the label",
            "1 qid:1 1:0.5 2:1\n-1 qid:1 2:2 3:0.5\n0.5 qid:2 1:1 3:2\n".into(),
            6,
        ),
        (
            "explicit zeros (not stored)",
            "1 1:0.5 2:0\n-1 2:2 3:0.5\n0.5 1:1 3:2\n".into(),
            5,
        ),
        (
            "no final newline and trailing blank lines before it",
            "1 1:0.5 2:1\n-1 2:2 3:0.5\n\n\n0.5 1:1 3:2".into(),
            6,
        ),
        (
            "signs and exponents",
            "+1 1:5e-1 2:1E0\n-1 2:2 3:+0.5\n0.5 1:1 3:2.\n".into(),
            6,
        ),
    ];
    for (name, content, nonzeros) in good {
        cases.push(accept(
            g,
            *name,
            vec![file("train.libsvm", content)],
            LASSO,
            shape(3, 3, *nonzeros),
        ));
    }
    cases.push(accept(
        g,
        "--zero-based indices",
        vec![file("train.libsvm", "1 0:1 2:3\n-1 0:1 1:1\n")],
        &format!("{LASSO} --zero-based"),
        shape(2, 3, 4),
    ));
    // Logistic labels.
    let logreg = "logreg --data @train.libsvm --threads 1 --json";
    for label in ["0.5", "2", "-2"] {
        cases.push(reject(
            g,
            format!("logreg label {label}"),
            vec![file("train.libsvm", &format!("1 1:1\n{label} 2:1\n"))],
            logreg,
            At::Line("train.libsvm", 2),
            "expected a binary label",
        ));
    }
    cases.push(accept(
        g,
        "logreg 0/1 labels",
        vec![file("train.libsvm", "1 1:1\n0 2:1\n0 1:2 2:1\n1 1:1\n")],
        logreg,
        shape(4, 2, 5),
    ));
    // Values whose squares overflow: refused, not "objective": null with exit 0.
    cases.push(reject(
        g,
        "a label of 1e200",
        vec![file("train.libsvm", "1e200 1:1\n-1 2:1\n")],
        LASSO,
        At::Any,
        "the objective at b = 0 is inf",
    ));
    cases
}

fn mm_cases() -> Vec<Case> {
    let g = "MatrixMarket + labels";
    let mut cases = Vec::new();
    let run = "lasso --data @x.mtx --labels @y.txt --threads 1 --json";
    let labels3 = file("y.txt", "1\n2\n-1\n");
    let header_errors: &[(&str, String, u64, &str)] = &[
        ("an empty file", String::new(), 1, "expected the banner"),
        (
            "no banner",
            "3 2 1\n1 1 1\n".into(),
            1,
            "expected the banner",
        ),
        (
            "a vector",
            "%%MatrixMarket vector coordinate real general\n".into(),
            1,
            "only `matrix`",
        ),
        (
            "an array",
            "%%MatrixMarket matrix array real general\n".into(),
            1,
            "only `coordinate`",
        ),
        (
            "complex values",
            "%%MatrixMarket matrix coordinate complex general\n".into(),
            1,
            "supported fields",
        ),
        (
            "symmetric",
            "%%MatrixMarket matrix coordinate real symmetric\n".into(),
            1,
            "only `general`",
        ),
        (
            "a banner of 4 words",
            "%%MatrixMarket matrix coordinate real\n".into(),
            1,
            "expected the banner",
        ),
        ("no size line", format!("{MM}% c\n"), 3, "the size line"),
        (
            "a bad size line",
            format!("{MM}3 x 1\n"),
            2,
            "the size line",
        ),
        (
            "a size line of 4 numbers",
            format!("{MM}3 2 1 1\n"),
            2,
            "the size line",
        ),
        (
            "more entries than cells",
            format!("{MM}2 2 5\n"),
            2,
            "more than fit",
        ),
        (
            "2^32 + 1 rows",
            format!("{MM}4294967297 2 1\n1 1 1\n"),
            2,
            "too large",
        ),
    ];
    for (name, content, line, keyword) in header_errors {
        cases.push(reject(
            g,
            *name,
            vec![file("x.mtx", content), labels3.clone()],
            run,
            At::Line("x.mtx", *line),
            keyword,
        ));
    }
    let entry_errors: &[(&str, &str)] = &[
        ("1 2", "(3 fields)"),
        ("1 2 3 4", "(3 fields)"),
        ("a 2 3", "expected a row index"),
        ("1 2.0 3", "expected a column index"),
        ("4 1 3", "row index 4 is outside"),
        ("1 3 3", "column index 3 is outside"),
        ("0 1 3", "row index 0 is outside"),
        ("1 2 nan", "is not finite"),
        ("1 2 inf", "is not finite"),
        ("1 2 1e400", "is not finite"),
        ("1 2 x", "is not a number"),
    ];
    for (entry, keyword) in entry_errors {
        cases.push(reject(
            g,
            format!("entry {entry:?}"),
            vec![
                file("x.mtx", &format!("{MM}3 2 3\n1 1 1\n{entry}\n3 1 1\n")),
                labels3.clone(),
            ],
            run,
            At::Line("x.mtx", 4),
            keyword,
        ));
    }
    cases.push(reject(
        g,
        "a duplicate entry",
        vec![
            file("x.mtx", &format!("{MM}3 2 3\n2 1 1\n1 2 5\n2 1 3\n")),
            labels3.clone(),
        ],
        run,
        At::Line("x.mtx", 5),
        "duplicate entry",
    ));
    for (name, content, keyword) in [
        (
            "fewer entries than the header says",
            format!("{MM}3 2 4\n1 1 1\n2 2 1\n"),
            "the body has 2",
        ),
        (
            "more entries than the header says",
            format!("{MM}3 2 1\n1 1 1\n2 2 1\n"),
            "the body has 2",
        ),
    ] {
        cases.push(reject(
            g,
            name,
            vec![file("x.mtx", &content), labels3.clone()],
            run,
            At::File("x.mtx"),
            keyword,
        ));
    }
    cases.push(reject(
        g,
        "2^32 rows and a header of 4e18 entries",
        vec![
            file(
                "x.mtx",
                &format!("{MM}4294967296 4294967296 4000000000000000000\n1 1 1\n"),
            ),
            labels3.clone(),
        ],
        run,
        At::Line("y.txt", 4),
        "missing label",
    ));
    let label_errors: &[(&str, &str, u64, &str)] = &[
        ("fewer labels than rows", "1\n2\n", 3, "missing label"),
        ("more labels than rows", "1\n2\n3\n4\n", 4, "extra label"),
        ("a blank line inside", "1\n\n2\n3\n", 2, "empty line"),
        ("a NaN label", "1\nnan\n3\n", 2, "finite label"),
        (
            "two labels on a line",
            "1\n2 3\n3\n",
            2,
            "one label per line",
        ),
        ("a word", "1\ntwo\n3\n", 2, "numeric label"),
    ];
    for (name, labels, line, keyword) in label_errors {
        cases.push(reject(
            g,
            *name,
            vec![
                file("x.mtx", &format!("{MM}3 2 3\n1 1 1\n2 2 1\n3 1 1\n")),
                file("y.txt", labels),
            ],
            run,
            At::Line("y.txt", *line),
            keyword,
        ));
    }
    // A header of 2^32 rows once reserved 32 GiB for its labels.
    cases.push(reject(
        g,
        "2^32 rows with one label",
        vec![
            file("x.mtx", &format!("{MM}4294967296 2 1\n1 1 1\n")),
            file("y.txt", "1\n"),
        ],
        run,
        At::Line("y.txt", 2),
        "missing label",
    ));
    cases.push(reject(
        g,
        "2^32 columns",
        vec![
            file("x.mtx", &format!("{MM}2 4294967296 2\n1 1 1\n2 9 1\n")),
            file("y.txt", "1\n2\n"),
        ],
        run,
        At::Any,
        "would need about",
    ));
    let shape = |nonzeros: u64| {
        vec![
            ("rows", json!(3)),
            ("cols", json!(2)),
            ("nonzeros", json!(nonzeros)),
        ]
    };
    let good: &[(&str, String, &str)] = &[
        (
            "a byte order mark on both files",
            format!("{BOM}{MM}3 2 3\n1 1 1\n2 2 1\n3 1 1\n"),
            "\u{feff}1\n2\n-1\n",
        ),
        (
            "comments and blank lines in the body",
            format!("{MM}% c\n3 2 3\n1 1 1\n% d\n\n2 2 1\n3 1 1\n"),
            "1\n2\n-1\n",
        ),
        (
            "a pattern matrix",
            "%%MatrixMarket matrix coordinate pattern general\n3 2 3\n1 1\n2 2\n3 1\n".into(),
            "1\n2\n-1\n",
        ),
        (
            "an integer matrix and CRLF",
            "%%MatrixMarket matrix coordinate integer general\r\n3 2 3\r\n1 1 4\r\n2 2 -1\r\n3 1 2\r\n"
                .into(),
            "1\r\n2\r\n-1\r\n",
        ),
    ];
    for (name, matrix, labels) in good {
        cases.push(accept(
            g,
            *name,
            vec![file("x.mtx", matrix), file("y.txt", labels)],
            run,
            shape(3),
        ));
    }
    cases.push(reject(
        g,
        "an integer matrix with 1.5",
        vec![
            file(
                "x.mtx",
                "%%MatrixMarket matrix coordinate integer general\n3 2 1\n1 1 1.5\n",
            ),
            labels3.clone(),
        ],
        run,
        At::Line("x.mtx", 3),
        "expected an integer value",
    ));
    cases
}

fn ratings_cases() -> Vec<Case> {
    let g = "ratings";
    let mut cases = Vec::new();
    let run = "mf --train @r.txt --rank 2 --iters 2 --threads 2 --json";
    let body = "1 10 5\n1 20 3\n2 10 4\n2 20 1\n3 20 2\n";
    let first_lines: &[(&str, &str)] = &[
        ("1 2 nan", "is not finite"),
        ("1 2 inf", "is not finite"),
        ("1 2 -1e400", "is not finite"),
        ("1 2 x", "is not a number"),
        ("a b NaN", "is not finite"),
        ("user item", "expected `user item rating`"),
    ];
    for (first, keyword) in first_lines {
        cases.push(reject(
            g,
            format!("first line {first:?}"),
            vec![file("r.txt", &format!("{first}\n{body}"))],
            run,
            At::Line("r.txt", 1),
            keyword,
        ));
    }
    let later_lines: &[(&str, &str)] = &[
        ("1 2", "expected `user item rating`"),
        ("1 2 3 4 5", "expected `user item rating`"),
        ("1 2 nan", "is not finite"),
        ("user item rating", "is not a number"),
        ("1,,3", "the item id is empty"),
        // Once a panic of the parser thread (exit 101).
        ("1 ", "found 1 fields"),
        ("1 2 ", "found 2 fields"),
        ("1 2 \u{ff}", "is not a number"),
    ];
    for (line, keyword) in later_lines {
        cases.push(reject(
            g,
            format!("line 3 {line:?}"),
            vec![file("r.txt", &format!("1 10 5\n2 10 4\n{line}\n3 20 2\n"))],
            run,
            At::Line("r.txt", 3),
            keyword,
        ));
    }
    for (name, content) in [
        ("an empty file", ""),
        ("only a header", "user item rating\n"),
        ("only blank lines", "\n\n  \n"),
    ] {
        cases.push(reject(
            g,
            name,
            vec![file("r.txt", content)],
            run,
            At::File("r.txt"),
            "no ratings",
        ));
    }
    let shape = |users: u64, items: u64, ratings: u64| {
        vec![
            ("users", json!(users)),
            ("items", json!(items)),
            ("train_ratings", json!(ratings)),
        ]
    };
    let good: &[(&str, String, [u64; 3])] = &[
        ("plain", body.into(), [3, 2, 5]),
        ("a byte order mark", format!("{BOM}{body}"), [3, 2, 5]),
        (
            "a header line",
            format!("user item rating\n{body}"),
            [3, 2, 5],
        ),
        (
            "CSV with a header and timestamps",
            "userId,movieId,rating,timestamp\n1,10,5,0\n1,20,3,0\n2,10,4,0\n".into(),
            [2, 2, 3],
        ),
        (
            "MovieLens",
            "1::10::5::0\n1::20::3::0\n2::10::4::0\n".into(),
            [2, 2, 3],
        ),
        (
            "ids with leading zeros are other ids",
            "7 1 1\n007 1 2\n7 2 3\n".into(),
            [2, 2, 3],
        ),
        (
            "huge plain-number ids",
            "67108863 4294967296 1\n67108862 1 2\n".into(),
            [2, 2, 2],
        ),
        (
            "MatrixMarket",
            format!("{MM}3 20 3\n1 10 5\n2 20 3\n3 10 1\n"),
            [3, 2, 3],
        ),
        (
            "MatrixMarket of 2^32 rows and columns",
            format!("{MM}4294967296 4294967296 2\n4294967296 7 4.5\n1 7 2\n"),
            [2, 1, 2],
        ),
    ];
    for (name, content, [users, items, ratings]) in good {
        cases.push(accept(
            g,
            *name,
            vec![file("r.txt", content)],
            run,
            shape(*users, *items, *ratings),
        ));
    }
    cases.push(reject(
        g,
        "a MovieLens line with 2 fields",
        vec![file("r.txt", "1::10::5::0\n1::2\n")],
        run,
        At::Line("r.txt", 2),
        "expected `user::item::rating::timestamp`",
    ));
    cases.push(reject(
        g,
        "a pattern MatrixMarket file",
        vec![file(
            "r.txt",
            "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1\n",
        )],
        run,
        At::Line("r.txt", 1),
        "no rating values",
    ));
    cases.push(reject(
        g,
        "a bad line in --test",
        vec![file("r.txt", body), file("t.txt", "1 10 5\n1 20 x\n")],
        "mf --train @r.txt --test @t.txt --rank 2 --iters 2 --threads 1 --json",
        At::Line("t.txt", 2),
        "is not a number",
    ));
    cases.push(reject(
        g,
        "a bad line in --predict",
        vec![file("r.txt", body), file("p.txt", "1 10\n1\n")],
        "mf --train @r.txt --rank 2 --iters 2 --threads 1 --predict @p.txt \
         --predictions-out @out.txt",
        At::Line("p.txt", 2),
        "expected `user item`",
    ));
    cases
}

fn corpus_cases() -> Vec<Case> {
    let g = "corpora";
    let mut cases = Vec::new();
    let run = "lda --data @c.txt --topics 2 --iters 2 --threads 1 --json";
    let docword = "3\n4\n5\n1 1 2\n1 3 1\n2 2 5\n3 4 1\n3 1 1\n";
    let shape = |docs: u64, words: u64, tokens: u64| {
        vec![
            ("docs", json!(docs)),
            ("words", json!(words)),
            ("tokens", json!(tokens)),
        ]
    };
    let good: &[(&str, String, &str, [u64; 3])] = &[
        ("docword", docword.into(), "", [3, 4, 10]),
        (
            "docword with a byte order mark",
            format!("{BOM}{docword}"),
            "",
            [3, 4, 10],
        ),
        (
            "docword with comments around the header",
            "# UCI\n3\n# W\n4\n5\n1 1 2\n1 3 1\n2 2 5\n3 4 1\n3 1 1\n".to_owned(),
            "",
            [3, 4, 10],
        ),
        (
            "idcount with a byte order mark",
            format!("{BOM}1 1:2 3:1\n2 2:5\n3 4:1 1:1\n"),
            "",
            [3, 4, 10],
        ),
        (
            "text with a byte order mark",
            format!("{BOM}a b a\nc b\n"),
            "",
            [2, 3, 5],
        ),
        (
            "text with stop words",
            "a b a the\nc b the\n".into(),
            "--stopwords @stop.txt",
            [2, 3, 5],
        ),
    ];
    for (name, content, extra, [docs, words, tokens]) in good {
        let mut files = vec![file("c.txt", content)];
        if !extra.is_empty() {
            files.push(file("stop.txt", "\u{feff}the\n"));
        }
        cases.push(accept(
            g,
            *name,
            files,
            &format!("{run} {extra}"),
            shape(*docs, *words, *tokens),
        ));
    }
    let bad: &[(&str, &str, &str, At, &str)] = &[
        (
            "an all-comment file",
            "# a\n# b\n",
            "",
            At::File("c.txt"),
            "no documents",
        ),
        (
            "an all-comment file as docword",
            "# a\n# b\n",
            "--format docword",
            At::Line("c.txt", 3),
            "the number of documents D",
        ),
        ("an empty file", "", "", At::File("c.txt"), "no documents"),
        (
            "a count of 4e9",
            "2\n3\n1\n1 1 4000000000\n",
            "",
            At::Any,
            "would need about",
        ),
        (
            "NNZ of 4e9 against one line",
            "2\n3\n4000000000\n1 1 1\n",
            "",
            At::File("c.txt"),
            "the body has 1",
        ),
        (
            "a doc id beyond D",
            "2\n3\n1\n3 1 1\n",
            "",
            At::Line("c.txt", 4),
            "doc id 3 is outside",
        ),
        (
            "a word id beyond W",
            "2\n3\n1\n1 4 1\n",
            "",
            At::Line("c.txt", 4),
            "word id 4 is outside",
        ),
        (
            "a count of 0",
            "2\n3\n2\n1 1 1\n1 2 0\n",
            "",
            At::Line("c.txt", 5),
            "expected a count",
        ),
        (
            "a count of 1.5",
            "2\n3\n1\n1 1 1.5\n",
            "",
            At::Line("c.txt", 4),
            "expected a count",
        ),
        (
            "a line of 2 fields",
            "2\n3\n1\n1 1\n",
            "",
            At::Line("c.txt", 4),
            "expected `doc word count`",
        ),
        (
            "a header word",
            "2\nthree\n1\n1 1 1\n",
            "--format docword",
            At::Line("c.txt", 2),
            "the vocabulary size W",
        ),
        (
            "idcount without a colon",
            "1 1:2 3\n",
            "--format idcount",
            At::Line("c.txt", 1),
            "expected `word:count`",
        ),
        (
            "idcount doc 0",
            "1 1:2\n0 2:1\n",
            "",
            At::Line("c.txt", 2),
            "doc id 0",
        ),
        (
            "idcount count x",
            "1 1:2\n2 2:x\n",
            "",
            At::Line("c.txt", 2),
            "expected a count",
        ),
    ];
    for (name, content, extra, at, keyword) in bad {
        cases.push(reject(
            g,
            *name,
            vec![file("c.txt", content)],
            &format!("{run} {extra}"),
            *at,
            keyword,
        ));
    }
    // With the default 50 topics: 50,000,000 x 50 counts per worker.
    cases.push(reject(
        g,
        "a vocabulary of 50,000,000 words",
        vec![file("c.txt", "2\n50000000\n1\n1 1 1\n")],
        "lda --data @c.txt --iters 2 --threads 1 --json",
        At::Any,
        "would need about",
    ));
    cases.push(reject(
        g,
        "text that is not UTF-8",
        vec![("c.txt", b"a b\nc \xff\xfe d\n".to_vec())],
        &format!("{run} --format text"),
        At::Line("c.txt", 2),
        "expected UTF-8 text",
    ));
    cases.push(reject(
        g,
        "a vocabulary shorter than W",
        vec![file("c.txt", docword), file("v.txt", "a\nb\n")],
        &format!("{run} --vocab @v.txt"),
        At::File("v.txt"),
        "the vocabulary has 2 words",
    ));
    cases.push(reject(
        g,
        "a vocabulary with an empty line",
        vec![file("c.txt", docword), file("v.txt", "a\n\nc\nd\n")],
        &format!("{run} --vocab @v.txt"),
        At::Line("v.txt", 2),
        "expected a word",
    ));
    cases
}

fn flag_cases() -> Vec<Case> {
    let g = "flags";
    let mut cases = Vec::new();
    let libsvm = || vec![file("train.libsvm", "1 1:1 2:0.5\n-1 2:1\n2 1:0.5 3:1\n")];
    let lasso_bad: &[(&str, &str)] = &[
        ("--lambda=-1", "--lambda"),
        ("--lambda nan", "--lambda"),
        ("--lambda-ratio 0", "--lambda-ratio"),
        ("--lambda-ratio inf", "--lambda-ratio"),
        ("--tol 0", "--tol"),
        ("--tol nan", "--tol"),
        ("--max-iters -1", "--max-iters"),
        ("--max-iters nan", "--max-iters"),
        ("--max-seconds -1", "--max-seconds"),
        ("--max-seconds nan", "--max-seconds"),
        ("--max-seconds 0", "--max-seconds"),
        ("--layout rows --eta -1", "--eta"),
        ("--layout rows --eta nan", "--eta"),
        ("--layout rows --rho 0", "--rho"),
        ("--layout rows --schedule-size 0", "--schedule-size"),
        ("--layout rows --sweep-share 17", "--sweep-share"),
        ("--layout rows --sweep-share nan", "--sweep-share"),
        ("--gap-every 0", "--gap-every"),
        ("--local-passes 0", "--local-passes"),
        ("--layout rows --staleness 1000000000", "would need about"),
        (
            "--layout rows --staleness 18446744073709551615",
            "--staleness",
        ),
        ("--processes 0", "--processes"),
        ("--threads 0", "--threads"),
        ("--threads 100000", "--threads must be at most 256"),
        ("--process 1", "--process 1"),
        ("--processes 2", "--hosts"),
        ("--connect-timeout 5", "only applies to a cluster"),
        ("--peer-timeout 5", "only applies to a cluster"),
        ("--hosts @train.libsvm", "only applies to a cluster"),
        ("--scheduler cyclic", "--layout rows"),
        ("--staleness 1", "--layout rows"),
        ("--layout rows --local-passes 2", "--layout columns"),
        (
            "--labels @train.libsvm",
            "--labels only applies to a MatrixMarket",
        ),
        ("--format mm", "--labels"),
        ("--layout diagonal", "diagonal"),
        ("--bogus", "--bogus"),
    ];
    for (flags, keyword) in lasso_bad {
        let threads = if flags.contains("--threads") {
            ""
        } else {
            "--threads 1"
        };
        cases.push(reject(
            g,
            format!("lasso {flags}"),
            libsvm(),
            &format!("lasso --data @train.libsvm --json {threads} {flags}"),
            At::Any,
            keyword,
        ));
    }
    cases.push(reject(
        g,
        "lasso --zero-based with MatrixMarket",
        vec![
            file("x.mtx", &format!("{MM}1 1 1\n1 1 1\n")),
            file("y.txt", "1\n"),
        ],
        "lasso --data @x.mtx --labels @y.txt --zero-based --threads 1",
        At::Any,
        "--zero-based only applies to libsvm",
    ));
    for flags in ["--zero-based", "--labels @train.libsvm", "--format libsvm"] {
        cases.push(reject(
            g,
            format!("lasso {flags} without --data"),
            libsvm(),
            &format!("lasso --threads 1 {flags}"),
            At::Any,
            "without one, the embedded problem",
        ));
    }
    let ratings = || vec![file("r.txt", "1 10 5\n1 20 3\n2 10 4\n2 20 1\n")];
    let mf_bad: &[(&str, &str)] = &[
        ("--rank 0", "--rank"),
        ("--rank 100000", "would need about"),
        ("--lambda=-1", "--lambda"),
        ("--lambda nan", "--lambda"),
        ("--inner 0", "--inner"),
        ("--max-seconds 0", "--max-seconds"),
        ("--max-seconds nan", "--max-seconds"),
        ("--lr 0.1", "--lr only applies to --algo sgd"),
        ("--lr-decay 0.1", "--lr-decay only applies to --algo sgd"),
        ("--eval-every 2", "--eval-every only applies to --algo sgd"),
        ("--algo sgd --eval-every 0", "--eval-every"),
        ("--algo als --inner 2", "--inner only applies to --algo ccd"),
        ("--algo sgd --init random", "--init only applies"),
        ("--algo sgd --init-steps 2", "--init-steps only applies"),
        ("--algo sgd --lr 0", "--lr"),
        ("--algo sgd --lr nan", "--lr"),
        ("--algo sgd --lr-decay=-1", "--lr-decay"),
        ("--init random --init-steps 2", "--init-steps only applies"),
        ("--init-steps 0", "--init-steps"),
        ("--predict @r.txt", "required arguments"),
        ("--threads 0", "--threads"),
    ];
    for (flags, keyword) in mf_bad {
        let threads = if flags.contains("--threads") {
            ""
        } else {
            "--threads 1"
        };
        cases.push(reject(
            g,
            format!("mf {flags}"),
            ratings(),
            &format!("mf --train @r.txt --iters 1 {threads} {flags}"),
            At::Any,
            keyword,
        ));
    }
    for flags in ["--test @r.txt", "--format delimited"] {
        cases.push(reject(
            g,
            format!("mf {flags} without --train"),
            ratings(),
            &format!("mf --threads 1 {flags}"),
            At::Any,
            "without one, the embedded problem",
        ));
    }
    let text = || {
        vec![
            file("t.txt", "a b a\nc b\n"),
            file("d.txt", "2\n3\n1\n1 1 1\n"),
        ]
    };
    let lda_bad: &[(&str, &str, &str)] = &[
        ("t.txt", "--topics 0", "--topics"),
        ("t.txt", "--alpha 0", "--alpha"),
        ("t.txt", "--alpha=-1", "--alpha"),
        ("t.txt", "--beta nan", "--beta"),
        ("t.txt", "--sampler mh --mh-steps 9", "--mh-steps"),
        ("t.txt", "--mh-steps 2", "--mh-steps only applies"),
        (
            "t.txt",
            "--sampler exact --mh-steps 2",
            "--mh-steps only applies",
        ),
        ("t.txt", "--vocab @t.txt", "--vocab only applies"),
        ("t.txt", "--top-words 3", "--top-words only applies"),
        (
            "t.txt",
            "--topics-out @o.txt --top-words 0",
            "--top-words must be at least 1",
        ),
        ("t.txt", "--min-count 0", "--min-count"),
        ("d.txt", "--stopwords @t.txt", "--stopwords only applies"),
        ("d.txt", "--min-count 2", "--min-count only applies"),
        ("t.txt", "--threads 0", "--threads"),
    ];
    for (data, flags, keyword) in lda_bad {
        let threads = if flags.contains("--threads") {
            ""
        } else {
            "--threads 1"
        };
        cases.push(reject(
            g,
            format!("lda {data} {flags}"),
            text(),
            &format!("lda --data @{data} --topics 2 --iters 1 {threads} {flags}"),
            At::Any,
            keyword,
        ));
    }
    for flags in ["--vocab @t.txt", "--format text", "--stopwords @t.txt"] {
        cases.push(reject(
            g,
            format!("lda {flags} without --data"),
            text(),
            &format!("lda --threads 1 --iters 1 {flags}"),
            At::Any,
            "without one, the embedded corpus",
        ));
    }
    for flags in ["--width 0", "--height 100000"] {
        cases.push(reject(
            g,
            format!("plot {flags}"),
            vec![file(
                "t.jsonl",
                "{\"iteration\":1,\"seconds\":1,\"objective\":1}\n",
            )],
            &format!("plot @t.jsonl --out @p.png {flags}"),
            At::Any,
            "--width and --height",
        ));
    }
    cases.push(reject(
        g,
        "launch --processes 0",
        libsvm(),
        "launch --processes 0 -- lasso --data @train.libsvm",
        At::Any,
        "--processes",
    ));
    cases
}

fn generator_cases() -> Vec<Case> {
    let g = "generators";
    let mut cases = Vec::new();
    let huge: &[&str] = &[
        "lasso --rows 10 --cols 4000000000 --nnz-per-row 2 --support 2 --out @g",
        "lasso --rows 10 --cols 100 --nnz-per-row 2 --support 2 --group 4000000000 --out @g",
        "mf --users 4000000000 --items 10 --ratings 10 --out @g",
        "mf --users 10 --items 10 --ratings 10 --rank 100000000 --out @g",
        "lda --docs 10 --vocab 4000000000 --topics 10 --out @g",
        "lda --docs 10 --vocab 100000 --topics 100000 --out @g",
        "lda --docs 10 --vocab 100 --topics 10 --doc-length 4000000000 --out @g",
    ];
    for flags in huge {
        cases.push(reject(
            g,
            format!("gen {flags}"),
            Vec::new(),
            &format!("gen {flags}"),
            At::Any,
            "would need about",
        ));
    }
    let bad: &[(&str, &str)] = &[
        (
            "lasso --rows 10 --cols 10 --nnz-per-row 2 --support 2 --corr 1 --out @g",
            "corr must be in [0, 1)",
        ),
        (
            "lasso --rows 10 --cols 10 --nnz-per-row 2 --support 2 --noise nan --out @g",
            "noise must be finite",
        ),
        (
            "mf --users 10 --items 10 --ratings 10 --test-fraction 1 --out @g",
            "test fraction",
        ),
        (
            "lda --docs 10 --vocab 10 --beta=-1 --out @g",
            "alpha and beta",
        ),
        (
            "lasso --rows 10 --cols 10 --nnz-per-row 2 --support 2 --out @missing/g",
            "No such file",
        ),
    ];
    for (flags, keyword) in bad {
        cases.push(reject(
            g,
            format!("gen {flags}"),
            Vec::new(),
            &format!("gen {flags}"),
            At::Any,
            keyword,
        ));
    }
    cases
}

fn output_cases() -> Vec<Case> {
    let g = "outputs and special files";
    let mut cases = Vec::new();
    let libsvm = file("train.libsvm", "1 1:1 2:0.5\n-1 2:1\n2 1:0.5 3:1\n");
    let lasso = |flags: &str| format!("lasso --data @train.libsvm --threads 1 --json {flags}");
    let collisions: &[(&str, &str)] = &[
        ("--out @train.libsvm", "is the same file as --data"),
        ("--trace @train.libsvm", "is the same file as --data"),
        ("--out @o.txt --trace @o.txt", "is the same file as --out"),
        ("--out @link.txt", "is the same file as --data"),
        ("--out @hard.txt", "is the same file as --data"),
        ("--out @sub/../train.libsvm", "is the same file as --data"),
        ("--out @missing/o.txt", "cannot write to the directory"),
        ("--out @sub", "is a directory"),
    ];
    for (flags, keyword) in collisions {
        cases.push(reject(
            g,
            format!("lasso {flags}"),
            vec![
                libsvm.clone(),
                file("sub/keep", ""),
                ("link.txt", b"\0LINK:train.libsvm".to_vec()),
                ("hard.txt", b"\0HARD:train.libsvm".to_vec()),
            ],
            &lasso(flags),
            At::Any,
            keyword,
        ));
    }
    cases.push(reject(
        g,
        "--data is a FIFO",
        vec![("train.libsvm", b"\0FIFO".to_vec())],
        &lasso(""),
        At::File("train.libsvm"),
        "not a regular file (a FIFO)",
    ));
    cases.push(reject(
        g,
        "--labels is a FIFO",
        vec![
            file("x.mtx", &format!("{MM}1 1 1\n1 1 1\n")),
            ("y.txt", b"\0FIFO".to_vec()),
        ],
        "lasso --data @x.mtx --labels @y.txt --threads 1",
        At::File("y.txt"),
        "not a regular file (a FIFO)",
    ));
    cases.push(reject(
        g,
        "--data is a directory",
        vec![file("sub/keep", "")],
        "lasso --data @sub --threads 1",
        At::File("sub"),
        "not a regular file (a directory)",
    ));
    let ratings = file("r.users", "1 10 5\n1 20 3\n2 10 4\n");
    let mf_collisions: &[(&str, &str)] = &[
        ("--out-prefix @r", "is the same file as --train"),
        (
            "--predict @p.txt --predictions-out @r.users",
            "is the same file as --train",
        ),
        (
            "--predict @p.txt --predictions-out @p.txt",
            "is the same file as --predict",
        ),
        ("--out-prefix @m --trace @m.json", "is the same file as"),
    ];
    for (flags, keyword) in mf_collisions {
        cases.push(reject(
            g,
            format!("mf {flags}"),
            vec![ratings.clone(), file("p.txt", "1 10\n")],
            &format!("mf --train @r.users --rank 2 --iters 1 --threads 1 {flags}"),
            At::Any,
            keyword,
        ));
    }
    cases.push(reject(
        g,
        "mf --train is a FIFO",
        vec![("r.txt", b"\0FIFO".to_vec())],
        "mf --train @r.txt --threads 1",
        At::File("r.txt"),
        "not a regular file (a FIFO)",
    ));
    let corpus = file("c.txt", "a b a\nc b\n");
    for flags in [
        "--doc-topics-out @c.txt",
        "--topics-out @c.txt",
        "--word-topics-out @w.txt --trace @w.txt",
    ] {
        cases.push(reject(
            g,
            format!("lda {flags}"),
            vec![corpus.clone()],
            &format!("lda --data @c.txt --topics 2 --iters 1 --threads 1 {flags}"),
            At::Any,
            "is the same file as",
        ));
    }
    cases.push(reject(
        g,
        "lda --data is a FIFO",
        vec![("c.txt", b"\0FIFO".to_vec())],
        "lda --data @c.txt --threads 1",
        At::File("c.txt"),
        "not a regular file (a FIFO)",
    ));
    cases.push(reject(
        g,
        "plot --out over its trace",
        vec![file(
            "t.svg",
            "{\"iteration\":1,\"seconds\":1,\"objective\":1}\n",
        )],
        "plot @t.svg --out @t.svg",
        At::Any,
        "is the same file as TRACE",
    ));
    cases
}

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    CleanExit2,
    CorrectAcceptance,
    Abort,
    Hang,
    SilentMisread,
    WrongMessage,
    OtherFailure,
}

impl Outcome {
    fn is_good(self) -> bool {
        matches!(self, Outcome::CleanExit2 | Outcome::CorrectAcceptance)
    }

    fn name(self) -> &'static str {
        match self {
            Outcome::CleanExit2 => "clean exit 2",
            Outcome::CorrectAcceptance => "correct acceptance",
            Outcome::Abort => "abort (signal)",
            Outcome::Hang => "hang (> 60 s)",
            Outcome::SilentMisread => "silent misread",
            Outcome::WrongMessage => "exit 2, wrong message",
            Outcome::OtherFailure => "other exit status",
        }
    }
}

fn create_files(dir: &Path, files: &[(&'static str, Vec<u8>)]) {
    let mut links = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        if bytes.starts_with(b"\0") {
            links.push((path, bytes.clone()));
        } else {
            std::fs::write(&path, bytes).unwrap();
        }
    }
    for (path, bytes) in links {
        let text = String::from_utf8(bytes[1..].to_vec()).unwrap();
        if text == "FIFO" {
            let status = Command::new("mkfifo").arg(&path).status().unwrap();
            assert!(status.success(), "mkfifo {}", path.display());
        } else if let Some(target) = text.strip_prefix("LINK:") {
            std::os::unix::fs::symlink(target, &path).unwrap();
        } else if let Some(target) = text.strip_prefix("HARD:") {
            std::fs::hard_link(dir.join(target), &path).unwrap();
        }
    }
}

/// Runs one case and says how it ended, with the evidence.
fn run_case(case: &Case) -> (Outcome, String) {
    let dir = tempfile::tempdir().unwrap();
    create_files(dir.path(), &case.files);
    let args: Vec<String> = case
        .args
        .split_whitespace()
        .map(|a| match a.strip_prefix('@') {
            Some(name) => dir.path().join(name).to_str().unwrap().to_owned(),
            None => a.to_owned(),
        })
        .collect();
    let (out, err) = (dir.path().join(".stdout"), dir.path().join(".stderr"));
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304; exec \"$0\" \"$@\"")
        .arg(std::env::var("STRADS_TALLY_BINARY").unwrap_or_else(|_| strads_path().to_owned()))
        .args(&args)
        .env_remove("STRADS_SECRET")
        .env("STRADS_MEMORY_LIMIT", "2G")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let evidence = format!(
        "`strads {}`: status {status:?}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        case.args
    );
    let Some(status) = status else {
        return (Outcome::Hang, evidence);
    };
    let Some(code) = status.code() else {
        return (Outcome::Abort, evidence);
    };
    match (&case.expect, code) {
        (Expect::Reject { at, keyword }, 2) => {
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
            let prefix = match at {
                At::Line(name, line) => Some(format!(
                    "error: {}:{line}: ",
                    dir.path().join(name).display()
                )),
                At::File(name) => Some(format!("error: {}: ", dir.path().join(name).display())),
                At::Any => None,
            };
            let located = prefix
                .as_ref()
                .is_none_or(|p| errors.iter().any(|e| e.starts_with(p.as_str())));
            let named = errors.iter().any(|e| e.contains(keyword));
            let clean =
                !stderr.contains("panicked") && stdout.trim().is_empty() && !errors.is_empty();
            if located && named && clean {
                (Outcome::CleanExit2, evidence)
            } else {
                (Outcome::WrongMessage, evidence)
            }
        }
        (Expect::Reject { .. }, 0) => (Outcome::SilentMisread, evidence),
        (Expect::Accept(fields), 0) => {
            let summary: Option<Value> = stdout
                .lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .and_then(|l| serde_json::from_str(l).ok());
            let right = summary
                .as_ref()
                .is_some_and(|s| fields.iter().all(|(k, v)| s.get(*k) == Some(v)));
            if right {
                (Outcome::CorrectAcceptance, evidence)
            } else {
                (Outcome::SilentMisread, evidence)
            }
        }
        _ => (Outcome::OtherFailure, evidence),
    }
}

#[test]
fn tally_of_malformed_inputs_flags_and_outputs() {
    let mut cases = libsvm_cases();
    cases.extend(mm_cases());
    cases.extend(ratings_cases());
    cases.extend(corpus_cases());
    cases.extend(flag_cases());
    cases.extend(generator_cases());
    cases.extend(output_cases());
    let started = Instant::now();
    // Two at a time: the machine may have two cores shared with other work.
    let results: Vec<(Outcome, String)> = std::thread::scope(|scope| {
        let halves: Vec<_> = [0, 1]
            .map(|h| {
                let cases = &cases;
                scope.spawn(move || {
                    cases
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 2 == h)
                        .map(|(i, c)| (i, run_case(c)))
                        .collect::<Vec<_>>()
                })
            })
            .into_iter()
            .collect();
        let mut all: Vec<_> = halves.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    });
    let mut by_group: BTreeMap<&str, BTreeMap<Outcome, usize>> = BTreeMap::new();
    let mut totals: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (case, (outcome, evidence)) in cases.iter().zip(&results) {
        *by_group
            .entry(case.group)
            .or_default()
            .entry(*outcome)
            .or_default() += 1;
        *totals.entry(*outcome).or_default() += 1;
        if !outcome.is_good() {
            failures.push(format!(
                "[{}] {}: {}\n{evidence}",
                case.group,
                case.name,
                outcome.name()
            ));
        }
    }
    let describe = |counts: &BTreeMap<Outcome, usize>| {
        counts
            .iter()
            .map(|(o, n)| format!("{n} {}", o.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "malformed-input tally: {} cases in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    for (group, counts) in &by_group {
        let n: usize = counts.values().sum();
        println!("  {group}: {n} cases: {}", describe(counts));
    }
    println!("  total: {}", describe(&totals));
    assert!(
        failures.is_empty(),
        "{} of {} cases did not end cleanly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
