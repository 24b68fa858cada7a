//! Every sharded line format names a bad line in the second half of a file, read by worker 1 of
//! 2, by its number in the whole file (counted here from how the file was written), and worker
//! 0 of 2 reads its half without error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strads_io::corpus::{
    read_docword_header, read_docword_shard, read_id_count_shard, read_text_shard,
};
use strads_io::{
    read_libsvm_shard, read_mm_header, read_mm_shard, read_ratings_shard, DataError, LibsvmOptions,
    RatingsFormat,
};

/// Lines before the body (a header), then `body` good lines from `good(i)` with line `bad_at`
/// of the body (0-based) replaced by `bad`. Returns the path and the bad line's 1-based number
/// in the file.
fn write(
    dir: &Path,
    name: &str,
    header: &[&str],
    body: usize,
    bad_at: usize,
    good: impl Fn(usize) -> String,
    bad: &str,
) -> (PathBuf, u64) {
    let mut text = String::new();
    for line in header {
        writeln!(text, "{line}").unwrap();
    }
    for i in 0..body {
        if i == bad_at {
            writeln!(text, "{bad}").unwrap();
        } else {
            writeln!(text, "{}", good(i)).unwrap();
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    (path, (header.len() + bad_at + 1) as u64)
}

/// Worker 0 of 2 reads its half; worker 1 fails naming `path:line` and `expected`.
fn check<T: std::fmt::Debug>(
    path: &Path,
    line: u64,
    expected: &str,
    read: impl Fn(usize) -> Result<T, DataError>,
) {
    read(0).unwrap_or_else(|e| panic!("worker 0 of {path:?}: {e}"));
    match read(1) {
        Err(DataError::Parse {
            path: named,
            line: number,
            message,
        }) => {
            assert_eq!(named, path);
            assert_eq!(number, line, "{path:?}: {message}");
            assert!(message.contains(expected), "{path:?}: {message}");
        }
        other => panic!("worker 1 of {path:?}: expected a parse error, got {other:?}"),
    }
}

const BODY: usize = 400;
const BAD_AT: usize = 300;

#[test]
fn a_bad_line_read_by_worker_1_of_2_is_named_by_its_line_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    let (path, line) = write(
        dir,
        "d.docword",
        &["10", "20", &BODY.to_string()],
        BODY,
        BAD_AT,
        |i| format!("{} {} {}", i % 10 + 1, i % 20 + 1, i % 3 + 1),
        "4 21 1",
    );
    let header = read_docword_header(&path).unwrap();
    check(&path, line, "word id 21 is outside 1..=20", |w| {
        read_docword_shard(&path, &header, w, 2)
    });

    let (path, line) = write(
        dir,
        "c.idcount",
        &[],
        BODY,
        BAD_AT,
        |i| format!("{} {}:2 {}:1", i + 1, i % 7 + 1, i % 7 + 8),
        "301 3:x",
    );
    check(&path, line, "expected a count", |w| {
        read_id_count_shard(&path, w, 2, None)
    });

    // Plain text: a token that is not UTF-8.
    let (path, _) = write(
        dir,
        "t.txt",
        &[],
        BODY,
        BAD_AT,
        |i| format!("w{i} the cat"),
        "BAD",
    );
    let bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(3).position(|w| w == b"BAD").unwrap();
    let mut broken = bytes.clone();
    broken[at] = 0xFF;
    std::fs::write(&path, broken).unwrap();
    check(&path, (BAD_AT + 1) as u64, "expected UTF-8 text", |w| {
        read_text_shard(&path, w, 2)
    });

    let (path, line) = write(
        dir,
        "m.mtx",
        &[
            "%%MatrixMarket matrix coordinate real general",
            "% a comment",
            &format!("{BODY} 5 {BODY}"),
        ],
        BODY,
        BAD_AT,
        |i| format!("{} {} {}.5", i + 1, i % 5 + 1, i),
        "301 2 abc",
    );
    let header = read_mm_header(&path).unwrap();
    check(&path, line, "expected a real value", |w| {
        read_mm_shard(&path, &header, w, 2)
    });

    let (path, line) = write(
        dir,
        "s.libsvm",
        &[],
        BODY,
        BAD_AT,
        |i| format!("{} {}:1.5 {}:2", i % 2, i % 9 + 1, i % 9 + 12),
        "1 5:1 3:2",
    );
    check(&path, line, "unsorted feature indices: 3", |w| {
        read_libsvm_shard(&path, w, 2, &LibsvmOptions::default())
    });

    for (name, separator, layout) in [
        ("r.txt", " ", "expected `user item rating`"),
        ("r.csv", ",", "expected `user item rating`"),
        ("r.dat", "::", "expected `user::item::rating::timestamp`"),
    ] {
        let (path, line) = write(
            dir,
            name,
            &[],
            BODY,
            BAD_AT,
            |i| [i.to_string(), (i % 13).to_string(), "4".into(), "0".into()].join(separator),
            &["7", "8"].join(separator),
        );
        check(&path, line, layout, |w| {
            read_ratings_shard(&path, RatingsFormat::Auto, w, 2)
        });
    }
}
