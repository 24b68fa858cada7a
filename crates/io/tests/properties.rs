//! Property tests of every parser in this crate: random well-formed files, written with random
//! but legal formatting (separators, CRLF, comments, blank lines, a byte order mark), and the
//! same files randomly mutated byte by byte. For each, the parser (read in a random number of
//! shards where it shards) must never panic and must either give the same data as a plain
//! reference parser written here, or fail exactly where the reference fails: an error naming the
//! file and the same 1-based line (or the file, for whole-file problems). Headers that declare
//! huge sizes must be refused or read quickly without reserving memory for what they declare.
//!
//! The case counts are modest (64 per property, `PROPTEST_CASES` to change) so the suite stays
//! fast.

use std::path::Path;
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::Config;
use strads_io::corpus::{
    check_docword_total, read_docword_header, read_docword_shard, read_id_count_shard,
    read_text_shard, WordCount,
};
use strads_io::{
    check_mm_total, check_nonempty_total, entries_to_rows, read_coefficients, read_labels,
    read_libsvm_shard, read_mm_header, read_mm_shard, read_ratings, DataError, LabelKind,
    LibsvmOptions, MmField, RatingsFormat, SparseRows,
};

/// Cases per property: 64, or `PROPTEST_CASES` (for a longer hunt outside CI).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a parse ended, in terms both parsers can state.
#[derive(Debug, Clone, PartialEq)]
enum Outcome<T> {
    Data(T),
    /// A bad line: its 1-based number.
    Line(u64),
    /// A problem of the whole file (its header disagrees with its body, it is empty, ...).
    File,
}

/// The outcome of a real parse of `path`: its data, or where its error points. Panics if the
/// error does not name `path`.
fn outcome_of<T>(path: &Path, result: Result<T, DataError>) -> Outcome<T> {
    match result {
        Ok(data) => Outcome::Data(data),
        Err(DataError::Parse {
            path: named, line, ..
        })
        | Err(DataError::ZeroIndex {
            path: named, line, ..
        }) => {
            assert_eq!(named, path, "the error names another file");
            Outcome::Line(line)
        }
        Err(DataError::Invalid { path: named, .. }) | Err(DataError::Empty { path: named, .. }) => {
            assert_eq!(named, path, "the error names another file");
            Outcome::File
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

/// Compares outcomes, except that any data is accepted from the parser when the reference has a
/// file-level error and vice versa is not: a line error must match exactly.
fn assert_agrees<T: PartialEq + std::fmt::Debug>(
    real: Outcome<T>,
    reference: Outcome<T>,
    text: &[u8],
) {
    assert_eq!(
        real,
        reference,
        "parser and reference disagree on {:?}",
        String::from_utf8_lossy(text)
    );
}

fn write_temp(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// The lines of `bytes` as the parsers see them: split at `\n`, one `\r` before it removed,
/// numbered from 1; a leading byte order mark is not part of the first line.
fn lines(bytes: &[u8]) -> Vec<(u64, &[u8])> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(u64, &[u8])> = Vec::new();
    let mut parts: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    for (i, part) in parts.into_iter().enumerate() {
        out.push((i as u64 + 1, part.strip_suffix(b"\r").unwrap_or(part)));
    }
    out
}

/// Whitespace tokens as the formats define them: spaces, tabs and carriage returns separate.
fn tokens(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b' ' || b == b'\t' || b == b'\r')
        .filter(|t| !t.is_empty())
        .collect()
}

fn float(token: &[u8]) -> Option<f64> {
    std::str::from_utf8(token).ok()?.parse().ok()
}

fn finite(token: &[u8]) -> Option<f64> {
    float(token).filter(|v| v.is_finite())
}

fn unsigned(token: &[u8]) -> Option<u64> {
    if token.is_empty() || !token.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(token).ok()?.parse().ok()
}

/// Applies `mutations` (position, kind, byte) to `bytes`: insert, delete or replace a byte.
fn mutate(mut bytes: Vec<u8>, mutations: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(position, kind, byte) in mutations {
        let at = if bytes.is_empty() {
            0
        } else {
            position % (bytes.len() + 1)
        };
        match kind % 3 {
            0 => bytes.insert(at, byte),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ if at < bytes.len() => bytes[at] = byte,
            _ => bytes.push(byte),
        }
    }
    bytes
}

/// Bytes that matter to the text formats, for mutations.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![
        b'0', b'1', b'2', b'9', b':', b' ', b'\t', b'\n', b'\r', b'-', b'+', b'.', b'e', b'n',
        b'a', b'i', b'f', b'#', b'%', b',', 0xEF, 0xBB, 0xBF, 0xFF, 0x00,
    ])
}

fn mutations() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), interesting_byte()), 0..5)
}

/// Legal formatting choices: the separator between fields, CRLF line ends, a byte order mark,
/// comment and blank lines between lines.
#[derive(Debug, Clone)]
struct Style {
    separator: &'static str,
    crlf: bool,
    bom: bool,
    extra_lines: Vec<bool>,
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop::sample::select(vec![" ", "\t", "  ", " \t"]),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 0..8),
    )
        .prop_map(|(separator, crlf, bom, extra_lines)| Style {
            separator,
            crlf,
            bom,
            extra_lines,
        })
}

impl Style {
    /// Joins `lines`, inserting a comment (`comment` prefix) or blank line where the style says.
    fn render(&self, lines: &[String], comment: Option<&str>) -> Vec<u8> {
        let end = if self.crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        for (i, line) in lines.iter().enumerate() {
            if let (Some(true), Some(prefix)) = (self.extra_lines.get(i), comment) {
                text.push_str(&format!("{prefix} a comment{end}"));
            } else if self.extra_lines.get(i) == Some(&false) && i % 2 == 1 && comment.is_some() {
                text.push_str(end);
            }
            text.push_str(line);
            text.push_str(end);
        }
        let mut bytes = if self.bom { BOM.to_vec() } else { Vec::new() };
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        Just(-1.0),
        (-1e6..1e6f64),
        (-100i32..100).prop_map(f64::from),
    ]
}

// ---------------------------------------------------------------------------------------------
// libsvm

type Examples = Vec<(f64, Vec<(u32, f64)>)>;

fn reference_libsvm(bytes: &[u8], zero_based: bool) -> Outcome<Examples> {
    let mut examples = Vec::new();
    for (number, line) in lines(bytes) {
        let content = match line.iter().position(|&b| b == b'#') {
            Some(hash) => &line[..hash],
            None => line,
        };
        let fields = tokens(content);
        let Some((label, features)) = fields.split_first() else {
            continue;
        };
        let Some(label) = finite(label) else {
            return Outcome::Line(number);
        };
        let mut row = Vec::new();
        let mut previous: Option<u64> = None;
        for (position, token) in features.iter().enumerate() {
            if position == 0 && token.starts_with(b"qid:") {
                continue;
            }
            let Some(colon) = token.iter().position(|&b| b == b':') else {
                return Outcome::Line(number);
            };
            let Some(index) = unsigned(&token[..colon]) else {
                return Outcome::Line(number);
            };
            if !zero_based && index == 0 {
                return Outcome::Line(number);
            }
            let column = if zero_based { index } else { index - 1 };
            if column > u64::from(u32::MAX) {
                return Outcome::Line(number);
            }
            let Some(value) = finite(&token[colon + 1..]) else {
                return Outcome::Line(number);
            };
            if previous.is_some_and(|p| index <= p) {
                return Outcome::Line(number);
            }
            previous = Some(index);
            if value != 0.0 {
                row.push((column as u32, value));
            }
        }
        examples.push((label, row));
    }
    if examples.is_empty() {
        return Outcome::File;
    }
    Outcome::Data(examples)
}

fn real_libsvm(path: &Path, shards: usize, zero_based: bool) -> Outcome<Examples> {
    let options = LibsvmOptions {
        zero_based,
        labels: LabelKind::Real,
    };
    let result = (|| {
        let mut rows = SparseRows::new();
        for shard in 0..shards {
            rows.append(&read_libsvm_shard(path, shard, shards, &options)?);
        }
        check_nonempty_total(path, rows.n_rows())?;
        Ok(rows)
    })();
    match outcome_of(path, result) {
        Outcome::Data(rows) => Outcome::Data(
            (0..rows.n_rows())
                .map(|i| {
                    let (columns, values) = rows.row(i);
                    (
                        rows.labels[i],
                        columns
                            .iter()
                            .copied()
                            .zip(values.iter().copied())
                            .collect(),
                    )
                })
                .collect(),
        ),
        Outcome::Line(line) => Outcome::Line(line),
        Outcome::File => Outcome::File,
    }
}

fn libsvm_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(
            (
                value(),
                prop::collection::btree_map(0u32..40, value(), 0..6),
            ),
            0..8,
        ),
        style(),
        any::<bool>(),
    )
        .prop_map(|(examples, style, qid)| {
            let lines: Vec<String> = examples
                .iter()
                .map(|(label, features)| {
                    let mut line = format!("{label}");
                    if qid {
                        line.push_str(&format!("{}qid:3", style.separator));
                    }
                    for (index, value) in features {
                        line.push_str(&format!("{}{}:{value}", style.separator, index + 1));
                    }
                    line
                })
                .collect();
            style.render(&lines, Some("#"))
        })
}

proptest! {
    #![proptest_config(Config::with_cases(cases()))]

    #[test]
    fn libsvm_matches_the_reference(
        text in libsvm_text(),
        edits in mutations(),
        shards in 1usize..5,
        zero_based in any::<bool>(),
    ) {
        let bytes = mutate(text, &edits);
        let (_dir, path) = write_temp(&bytes);
        assert_agrees(
            real_libsvm(&path, shards, zero_based),
            reference_libsvm(&bytes, zero_based),
            &bytes,
        );
    }
}

/// The case proptest once found: a feature index 0 read as 1-based is an error at its line
/// (`DataError::ZeroIndex`), as the reference says.
#[test]
fn a_zero_index_read_as_one_based_is_an_error_at_its_line() {
    let bytes = b"1 2:0.5\n-1 0:-1\n".to_vec();
    let (_dir, path) = write_temp(&bytes);
    for shards in 1..3 {
        let real = real_libsvm(&path, shards, false);
        assert_eq!(real, Outcome::Line(2));
        assert_agrees(real, reference_libsvm(&bytes, false), &bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// labels

fn reference_labels(bytes: &[u8], expected: usize, kind: LabelKind) -> Outcome<Vec<f64>> {
    let mut labels = Vec::new();
    let mut blank: Option<u64> = None;
    let all = lines(bytes);
    let count = all.len() as u64;
    for (number, line) in all {
        let fields = tokens(line);
        if fields.is_empty() {
            blank.get_or_insert(number);
            continue;
        }
        if let Some(blank) = blank {
            return Outcome::Line(blank);
        }
        if fields.len() > 1 {
            return Outcome::Line(number);
        }
        let Some(label) = finite(fields[0]) else {
            return Outcome::Line(number);
        };
        if kind == LabelKind::Binary && ![1.0, -1.0, 0.0].contains(&label) {
            return Outcome::Line(number);
        }
        if labels.len() == expected {
            return Outcome::Line(number);
        }
        labels.push(label);
    }
    let _ = count;
    if labels.len() < expected {
        return Outcome::Line(labels.len() as u64 + 1);
    }
    Outcome::Data(labels)
}

fn labels_text() -> impl Strategy<Value = (Vec<u8>, usize)> {
    (prop::collection::vec(value(), 0..10), style(), 0usize..3).prop_map(
        |(labels, style, surplus)| {
            let lines: Vec<String> = labels.iter().map(|l| format!(" {l} ")).collect();
            let mut bytes = style.render(&lines, None);
            // Blank lines at the end are allowed.
            bytes.extend(std::iter::repeat_n(b'\n', surplus));
            let expected = labels.len();
            (bytes, expected)
        },
    )
}

proptest! {
    #![proptest_config(Config::with_cases(cases()))]

    #[test]
    fn labels_match_the_reference(
        (text, expected) in labels_text(),
        edits in mutations(),
        binary in any::<bool>(),
        off_by in -1i64..2,
    ) {
        let bytes = mutate(text, &edits);
        let expected = (expected as i64 + off_by).max(0) as usize;
        let kind = if binary { LabelKind::Binary } else { LabelKind::Real };
        let (_dir, path) = write_temp(&bytes);
        assert_agrees(
            outcome_of(&path, read_labels(&path, expected, kind)),
            reference_labels(&bytes, expected, kind),
            &bytes,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// MatrixMarket

type Entries = Vec<(u32, u32, f64)>;

fn reference_mm(bytes: &[u8]) -> Outcome<(usize, usize, Entries)> {
    let all = lines(bytes);
    let Some((_, banner)) = all.first() else {
        return Outcome::Line(1);
    };
    let words = tokens(banner);
    let is = |t: &[u8], w: &str| t.eq_ignore_ascii_case(w.as_bytes());
    if words.len() != 5
        || !is(words[0], "%%MatrixMarket")
        || !is(words[1], "matrix")
        || !is(words[2], "coordinate")
        || !is(words[4], "general")
    {
        return Outcome::Line(1);
    }
    let field = if is(words[3], "real") {
        MmField::Real
    } else if is(words[3], "integer") {
        MmField::Integer
    } else if is(words[3], "pattern") {
        MmField::Pattern
    } else {
        return Outcome::Line(1);
    };
    let mut rest = all[1..].iter();
    let (rows, cols, nnz) = loop {
        let Some(&(number, line)) = rest.next() else {
            return Outcome::Line(all.len() as u64 + 1);
        };
        let fields = tokens(line);
        match fields.first() {
            None => continue,
            Some(first) if first.starts_with(b"%") => continue,
            _ => {}
        }
        let numbers: Option<Vec<u64>> = fields.iter().map(|t| unsigned(t)).collect();
        let Some([rows, cols, nnz]) = numbers.and_then(|n| <[u64; 3]>::try_from(n).ok()) else {
            return Outcome::Line(number);
        };
        let limit = u64::from(u32::MAX) + 1;
        if rows > limit || cols > limit || u128::from(nnz) > u128::from(rows) * u128::from(cols) {
            return Outcome::Line(number);
        }
        break (rows, cols, nnz);
    };
    let mut entries: Vec<(u32, u32, f64, u64)> = Vec::new();
    for &(number, line) in rest {
        let fields = tokens(line);
        match fields.first() {
            None => continue,
            Some(first) if first.starts_with(b"%") => continue,
            _ => {}
        }
        let want = if field == MmField::Pattern { 2 } else { 3 };
        if fields.len() != want {
            return Outcome::Line(number);
        }
        let index = |t: &[u8], bound: u64| unsigned(t).filter(|&i| i >= 1 && i <= bound);
        let (Some(row), Some(col)) = (index(fields[0], rows), index(fields[1], cols)) else {
            return Outcome::Line(number);
        };
        let value = match field {
            MmField::Pattern => 1.0,
            MmField::Real => match finite(fields[2]) {
                Some(v) => v,
                None => return Outcome::Line(number),
            },
            MmField::Integer => match std::str::from_utf8(fields[2])
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
            {
                Some(v) => v as f64,
                None => return Outcome::Line(number),
            },
        };
        entries.push(((row - 1) as u32, (col - 1) as u32, value, number));
    }
    if rows == 0 || entries.len() as u64 != nnz {
        return Outcome::File;
    }
    entries.sort_by_key(|e| (e.0, e.1, e.3));
    for pair in entries.windows(2) {
        if (pair[0].0, pair[0].1) == (pair[1].0, pair[1].1) {
            return Outcome::Line(pair[1].3);
        }
    }
    Outcome::Data((
        rows as usize,
        cols as usize,
        entries
            .into_iter()
            .filter(|e| e.2 != 0.0)
            .map(|e| (e.0, e.1, e.2))
            .collect(),
    ))
}

fn real_mm(path: &Path, shards: usize) -> Outcome<(usize, usize, Entries)> {
    let result = (|| {
        let header = read_mm_header(path)?;
        let mut entries = Vec::new();
        for shard in 0..shards {
            entries.extend(read_mm_shard(path, &header, shard, shards)?);
        }
        check_mm_total(path, &header, entries.len())?;
        let labels = vec![0.0; header.rows];
        let rows = entries_to_rows(path, header.rows, 0, entries, &labels)?;
        let mut out = Vec::new();
        for i in 0..rows.n_rows() {
            let (columns, values) = rows.row(i);
            for (&c, &v) in columns.iter().zip(values) {
                out.push((i as u32, c, v));
            }
        }
        Ok((header.rows, header.cols, out))
    })();
    outcome_of(path, result)
}

fn mm_text() -> impl Strategy<Value = Vec<u8>> {
    (
        1u32..6,
        1u32..6,
        // A list, not a map: a repeated cell is a duplicate entry, an error at its later line.
        prop::collection::vec(((0u32..6, 0u32..6), value()), 0..7),
        prop::sample::select(vec!["real", "integer", "pattern", "REAL"]),
        style(),
    )
        .prop_map(|(rows, cols, cells, field, style)| {
            let cells: Vec<_> = cells
                .into_iter()
                .filter(|((r, c), _)| *r < rows && *c < cols)
                .collect();
            let mut lines = vec![format!("%%MatrixMarket matrix coordinate {field} general")];
            lines.push(format!(
                "{rows}{0}{cols}{0}{1}",
                style.separator,
                cells.len()
            ));
            for ((r, c), v) in &cells {
                let value = match field {
                    "pattern" => String::new(),
                    "integer" => format!("{}{}", style.separator, v.round() as i64),
                    _ => format!("{}{v}", style.separator),
                };
                lines.push(format!("{}{}{}{value}", r + 1, style.separator, c + 1));
            }
            // Comments only after the banner.
            let mut style = style;
            if let Some(first) = style.extra_lines.first_mut() {
                *first = false;
            }
            style.render(&lines, Some("%"))
        })
}

proptest! {
    #![proptest_config(Config::with_cases(cases()))]

    #[test]
    fn matrix_market_matches_the_reference(
        text in mm_text(),
        edits in mutations(),
        shards in 1usize..4,
    ) {
        let bytes = mutate(text, &edits);
        let (_dir, path) = write_temp(&bytes);
        assert_agrees(real_mm(&path, shards), reference_mm(&bytes), &bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Ratings (delimited)

type Triples = Vec<(String, String, f64)>;

fn reference_ratings(bytes: &[u8]) -> Outcome<Triples> {
    let mut triples = Vec::new();
    for (number, line) in lines(bytes) {
        let body = line.trim_ascii();
        if body.is_empty() {
            continue;
        }
        let fields: Vec<&[u8]> = if body.contains(&b',') {
            body.split(|&b| b == b',').map(<[u8]>::trim_ascii).collect()
        } else {
            tokens(body)
        };
        if fields.len() != 3 && fields.len() != 4 {
            return Outcome::Line(number);
        }
        let Some(value) = finite(fields[2]) else {
            if number == 1 && fields.iter().all(|f| float(f).is_none()) {
                continue;
            }
            return Outcome::Line(number);
        };
        if fields[0].is_empty() || fields[1].is_empty() {
            return Outcome::Line(number);
        }
        let text = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
        triples.push((text(fields[0]), text(fields[1]), value));
    }
    if triples.is_empty() {
        return Outcome::File;
    }
    Outcome::Data(triples)
}

fn real_ratings(path: &Path, threads: usize) -> Outcome<Triples> {
    match outcome_of(path, read_ratings(path, RatingsFormat::Delimited, threads)) {
        Outcome::Data(r) => Outcome::Data(
            (0..r.len())
                .map(|k| {
                    (
                        r.user_ids[r.users[k] as usize].clone(),
                        r.item_ids[r.items[k] as usize].clone(),
                        r.values[k],
                    )
                })
                .collect(),
        ),
        Outcome::Line(line) => Outcome::Line(line),
        Outcome::File => Outcome::File,
    }
}

fn ratings_text() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        (0u32..50).prop_map(|n| n.to_string()),
        Just("007".to_owned()),
        Just("alice".to_owned()),
        Just("67108863".to_owned()),
        Just("99999999999".to_owned()),
    ];
    (
        prop::collection::vec((id.clone(), id, value(), any::<bool>()), 0..8),
        style(),
        prop::sample::select(vec!["", "user item rating", "u,i,r,t"]),
        any::<bool>(),
    )
        .prop_map(|(ratings, style, header, commas)| {
            let separator = if commas { "," } else { style.separator };
            let mut lines: Vec<String> = Vec::new();
            if !header.is_empty() {
                lines.push(header.to_owned());
            }
            for (user, item, value, stamp) in &ratings {
                let mut line = format!("{user}{separator}{item}{separator}{value}");
                if *stamp {
                    line.push_str(&format!("{separator}123"));
                }
                lines.push(line);
            }
            let mut style = style;
            style.extra_lines.clear();
            style.render(&lines, None)
        })
}

proptest! {
    #![proptest_config(Config::with_cases(cases()))]

    #[test]
    fn ratings_match_the_reference(
        text in ratings_text(),
        edits in mutations(),
        threads in 1usize..4,
    ) {
        let bytes = mutate(text, &edits);
        let (_dir, path) = write_temp(&bytes);
        assert_agrees(real_ratings(&path, threads), reference_ratings(&bytes), &bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Docword, id:count and plain-text corpora

fn reference_docword(bytes: &[u8]) -> Outcome<Vec<WordCount>> {
    let all = lines(bytes);
    let mut values = Vec::new();
    let mut index = 0;
    while values.len() < 3 {
        let Some(&(number, line)) = all.get(index) else {
            return Outcome::Line(all.len() as u64 + 1);
        };
        index += 1;
        let fields = tokens(line);
        match fields.first() {
            None => continue,
            Some(first) if first.starts_with(b"#") => continue,
            _ => {}
        }
        match (fields.len(), unsigned(fields[0])) {
            (1, Some(v)) if v <= u64::from(u32::MAX) => values.push(v),
            _ => return Outcome::Line(number),
        }
    }
    let (docs, words, nnz) = (values[0], values[1], values[2]);
    let mut cells = Vec::new();
    for &(number, line) in &all[index..] {
        let fields = tokens(line);
        match fields.first() {
            None => continue,
            Some(first) if first.starts_with(b"#") => continue,
            _ => {}
        }
        if fields.len() != 3 {
            return Outcome::Line(number);
        }
        let id = |t: &[u8], bound: u64| unsigned(t).filter(|&v| v >= 1 && v <= bound);
        let count = unsigned(fields[2]).filter(|&c| c >= 1 && c <= u64::from(u32::MAX));
        match (id(fields[0], docs), id(fields[1], words), count) {
            (Some(doc), Some(word), Some(count)) => cells.push(WordCount {
                doc: (doc - 1) as u32,
                word: (word - 1) as u32,
                count: count as u32,
            }),
            _ => return Outcome::Line(number),
        }
    }
    if cells.len() as u64 != nnz || cells.is_empty() {
        return Outcome::File;
    }
    Outcome::Data(cells)
}

fn real_docword(path: &Path, shards: usize) -> Outcome<Vec<WordCount>> {
    let result = (|| {
        let header = read_docword_header(path)?;
        let mut cells = Vec::new();
        for shard in 0..shards {
            cells.extend(read_docword_shard(path, &header, shard, shards)?);
        }
        let tokens = cells.iter().map(|c| u64::from(c.count)).sum();
        check_docword_total(path, &header, cells.len(), tokens)?;
        Ok(cells)
    })();
    outcome_of(path, result)
}

fn docword_text() -> impl Strategy<Value = Vec<u8>> {
    (
        1u32..5,
        1u32..6,
        prop::collection::vec((0u32..5, 0u32..6, 1u32..9), 0..8),
        style(),
    )
        .prop_map(|(docs, words, cells, style)| {
            let cells: Vec<_> = cells
                .into_iter()
                .filter(|(d, w, _)| *d < docs && *w < words)
                .collect();
            let mut lines = vec![docs.to_string(), words.to_string(), cells.len().to_string()];
            for (d, w, c) in &cells {
                lines.push(format!("{}{2}{}{2}{c}", d + 1, w + 1, style.separator));
            }
            style.render(&lines, Some("#"))
        })
}

fn reference_id_count(bytes: &[u8]) -> Outcome<Vec<WordCount>> {
    let mut cells = Vec::new();
    for (number, line) in lines(bytes) {
        let fields = tokens(line);
        let Some((first, rest)) = fields.split_first() else {
            continue;
        };
        if first.starts_with(b"#") {
            continue;
        }
        let id = |t: &[u8]| unsigned(t).filter(|&v| v >= 1 && v <= u64::from(u32::MAX));
        let Some(doc) = id(first) else {
            return Outcome::Line(number);
        };
        for token in rest {
            let Some(colon) = token.iter().position(|&b| b == b':') else {
                return Outcome::Line(number);
            };
            let count =
                unsigned(&token[colon + 1..]).filter(|&c| c >= 1 && c <= u64::from(u32::MAX));
            match (id(&token[..colon]), count) {
                (Some(word), Some(count)) => cells.push(WordCount {
                    doc: (doc - 1) as u32,
                    word: (word - 1) as u32,
                    count: count as u32,
                }),
                _ => return Outcome::Line(number),
            }
        }
    }
    Outcome::Data(cells)
}

fn id_count_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(
            (1u32..9, prop::collection::vec((1u32..9, 1u32..9), 0..4)),
            0..6,
        ),
        style(),
    )
        .prop_map(|(docs, style)| {
            let lines: Vec<String> = docs
                .iter()
                .map(|(doc, words)| {
                    let mut line = doc.to_string();
                    for (w, c) in words {
                        line.push_str(&format!("{}{w}:{c}", style.separator));
                    }
                    line
                })
                .collect();
            style.render(&lines, Some("#"))
        })
}

/// Plain text: the documents as lists of words (each line one document).
fn reference_text(bytes: &[u8]) -> Outcome<Vec<Vec<String>>> {
    let mut docs = Vec::new();
    for (number, line) in lines(bytes) {
        let mut doc = Vec::new();
        for token in tokens(line) {
            match std::str::from_utf8(token) {
                Ok(word) => doc.push(word.to_owned()),
                Err(_) => return Outcome::Line(number),
            }
        }
        docs.push(doc);
    }
    Outcome::Data(docs)
}

fn real_text(path: &Path, shards: usize) -> Outcome<Vec<Vec<String>>> {
    let result = (|| {
        let mut docs = Vec::new();
        for shard in 0..shards {
            let part = read_text_shard(path, shard, shards)?;
            for doc in part.docs {
                docs.push(
                    doc.iter()
                        .map(|&w| part.words[w as usize].clone())
                        .collect(),
                );
            }
        }
        Ok(docs)
    })();
    outcome_of(path, result)
}

proptest! {
    #![proptest_config(Config::with_cases(cases()))]

    #[test]
    fn docword_matches_the_reference(
        text in docword_text(),
        edits in mutations(),
        shards in 1usize..4,
    ) {
        let bytes = mutate(text, &edits);
        let (_dir, path) = write_temp(&bytes);
        assert_agrees(real_docword(&path, shards), reference_docword(&bytes), &bytes);
    }

    #[test]
    fn id_count_matches_the_reference(
        text in id_count_text(),
        edits in mutations(),
        shards in 1usize..4,
    ) {
        let bytes = mutate(text, &edits);
        let (_dir, path) = write_temp(&bytes);
        let real = (0..shards)
            .map(|s| read_id_count_shard(&path, s, shards, None))
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| parts.concat());
        assert_agrees(outcome_of(&path, real), reference_id_count(&bytes), &bytes);
    }

    #[test]
    fn text_corpora_match_the_reference(
        words in prop::collection::vec(prop::collection::vec("[a-z]{1,3}|é|\u{feff}", 0..4), 0..6),
        style in style(),
        edits in mutations(),
        shards in 1usize..4,
    ) {
        let lines: Vec<String> = words.iter().map(|w| w.join(style.separator)).collect();
        let bytes = mutate(style.render(&lines, None), &edits);
        let (_dir, path) = write_temp(&bytes);
        assert_agrees(real_text(&path, shards), reference_text(&bytes), &bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Coefficient files

fn reference_coefficients(bytes: &[u8]) -> Outcome<Vec<(u32, f64)>> {
    let mut entries = Vec::new();
    let mut previous = 0u64;
    for (number, line) in lines(bytes) {
        let fields = tokens(line);
        match fields.as_slice() {
            [] => continue,
            [first, ..] if first.starts_with(b"#") => continue,
            [index, value] => {
                let Some(index) =
                    unsigned(index).filter(|&i| i >= 1 && i <= u64::from(u32::MAX) + 1)
                else {
                    return Outcome::Line(number);
                };
                if index <= previous {
                    return Outcome::Line(number);
                }
                let Some(value) = finite(value) else {
                    return Outcome::Line(number);
                };
                previous = index;
                entries.push(((index - 1) as u32, value));
            }
            _ => return Outcome::Line(number),
        }
    }
    Outcome::Data(entries)
}

proptest! {
    #![proptest_config(Config::with_cases(cases()))]

    #[test]
    fn coefficients_match_the_reference(
        entries in prop::collection::btree_map(1u32..100, value(), 0..8),
        style in style(),
        edits in mutations(),
    ) {
        let lines: Vec<String> = entries
            .iter()
            .map(|(i, v)| format!("{i}{}{v}", style.separator))
            .collect();
        let bytes = mutate(style.render(&lines, Some("#")), &edits);
        let (_dir, path) = write_temp(&bytes);
        assert_agrees(
            outcome_of(&path, read_coefficients(&path)),
            reference_coefficients(&bytes),
            &bytes,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Huge declared sizes

/// The process's peak virtual memory (`VmPeak`), in bytes.
fn peak_virtual_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn huge() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(u64::from(u32::MAX)),
        Just(u64::from(u32::MAX) + 1),
        Just(u64::MAX),
        (1u64 << 24)..(1u64 << 40),
    ]
}

proptest! {
    #![proptest_config(Config::with_cases(cases()))]

    /// Headers that declare far more than the file holds are refused, or read into data the
    /// size of the file, quickly: nothing is reserved for what they declare (a reservation of
    /// 2^32 labels or entries would show in the peak virtual memory, or abort).
    #[test]
    fn huge_declared_sizes_are_not_allocated(
        rows in huge(),
        cols in huge(),
        nnz in huge(),
        expected in huge(),
    ) {
        let before = peak_virtual_memory();
        let started = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let mtx = dir.path().join("x.mtx");
        std::fs::write(
            &mtx,
            format!("%%MatrixMarket matrix coordinate real general\n{rows} {cols} {nnz}\n1 1 1\n"),
        )
        .unwrap();
        let header = read_mm_header(&mtx);
        if let Ok(header) = &header {
            let entries = read_mm_shard(&mtx, header, 0, 1).unwrap();
            prop_assert!(check_mm_total(&mtx, header, entries.len()).is_err() || nnz == 1);
        }
        let ratings = read_ratings(&mtx, RatingsFormat::MatrixMarket, 2);
        if let Ok(ratings) = ratings {
            prop_assert_eq!(ratings.len(), 1);
        }
        let labels = dir.path().join("y.txt");
        std::fs::write(&labels, "1\n2\n").unwrap();
        let expected = usize::try_from(expected).unwrap_or(usize::MAX);
        prop_assert!(read_labels(&labels, expected, LabelKind::Real).is_err());
        let docword = dir.path().join("d.txt");
        std::fs::write(&docword, format!("{rows}\n{cols}\n{nnz}\n1 1 {expected}\n")).unwrap();
        let read = read_docword_header(&docword).and_then(|header| {
            let cells = read_docword_shard(&docword, &header, 0, 1)?;
            let tokens = cells.iter().map(|c| u64::from(c.count)).sum();
            check_docword_total(&docword, &header, cells.len(), tokens)
        });
        prop_assert!(read.is_err() || nnz == 1);
        prop_assert!(started.elapsed().as_secs_f64() < 2.0);
        let grown = peak_virtual_memory().saturating_sub(before);
        prop_assert!(grown < 4 << 30, "peak virtual memory grew by {} bytes", grown);
    }
}
