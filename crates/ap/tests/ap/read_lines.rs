//! `Ap::read_lines`: sharded reading in file order, and a malformed line named by file and line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strads_ap::{run, ApError};
use strads_io::{read_shard_lines, DataError};

use crate::threads;

const LINES: usize = 200;
/// 0-based index of the malformed line among the entry lines (after the comment).
const BAD: usize = 150;

fn parse(line: &str) -> Result<Option<(u64, i64)>, String> {
    if line.starts_with('#') {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    match (
        fields.next().and_then(|f| f.parse().ok()),
        fields.next().and_then(|f| f.parse().ok()),
        fields.next(),
    ) {
        (Some(index), Some(value), None) => Ok(Some((index, value))),
        _ => Err(format!("expected `index value`, found {line:?}")),
    }
}

/// A comment line, then `LINES` entries; with `bad`, entry `BAD` is malformed.
fn write_file(dir: &Path, bad: bool) -> PathBuf {
    let mut text = String::from("# index value\n");
    for i in 0..LINES {
        if bad && i == BAD {
            text.push_str("151 not-a-number\n");
        } else {
            writeln!(text, "{i} {}", i as i64 * 3 - 100).unwrap();
        }
    }
    let path = dir.join(if bad { "bad.txt" } else { "good.txt" });
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn read_lines_gives_the_file_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), false);
    let results = run(&threads(2), move |ap| {
        let entries = ap.read_lines(&path, parse)?;
        let local = entries.local().len();
        Ok((ap.gather(&entries)?, local))
    })
    .unwrap();
    let want: Vec<(u64, i64)> = (0..LINES).map(|i| (i as u64, i as i64 * 3 - 100)).collect();
    assert_eq!(results[0].0.as_ref().unwrap(), &want);
    assert!(results.iter().all(|r| r.1 > 0), "both workers read a part");
}

#[test]
fn a_malformed_line_in_the_second_shard_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), true);
    // The file's line number of the bad entry (1-based, after the comment line).
    let bad_line = BAD as u64 + 2;
    // It is in the second worker's shard.
    let shard = read_shard_lines(&path, 1, 2, 0).unwrap();
    assert!(shard
        .lines()
        .any(|l| l.text == b"151 not-a-number".as_slice()));

    let program_path = path.clone();
    let results = crate::within(60, move || {
        run(&threads(2), move |ap| {
            Ok(ap.read_lines(&program_path, parse).map(|v| v.len()))
        })
        .expect("the program itself runs")
    });
    assert_eq!(results.len(), 2);
    for (w, outcome) in results.into_iter().enumerate() {
        match outcome {
            Err(ApError::Data(DataError::Parse {
                path: error_path,
                line,
                message,
            })) => {
                assert_eq!(error_path, path, "worker {w}");
                assert_eq!(line, bad_line, "worker {w}");
                assert!(message.contains("not-a-number"), "worker {w}: {message}");
            }
            other => panic!("worker {w}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn sum_by_key_sums_every_workers_pairs_by_key_in_key_order() {
    // Each worker counts the keys of its own part; every worker gets the total of every key.
    for workers in 1..=3 {
        let results = run(&threads(workers), move |ap| {
            let (w, n) = (ap.index() as u64, ap.workers() as u64);
            let keys: Vec<u64> = (0..100).filter(|k| k % n == w || k % 7 == 0).collect();
            let local: Vec<(u64, u64)> = keys.iter().rev().map(|&k| (k, k + w)).collect();
            ap.sum_by_key(local)
        })
        .unwrap();
        let n = workers as u64;
        let want: Vec<(u64, u64)> = (0..100)
            .map(|k| {
                let holders = (0..n).filter(|w| k % n == *w || k % 7 == 0);
                (k, holders.map(|w| k + w).sum())
            })
            .collect();
        for result in results {
            assert_eq!(result, want, "{workers} workers");
        }
    }
}
