//! The libsvm / svmlight text format: one example per line, `label index:value index:value ...`.
//!
//! Accepted: tokens separated by spaces or tabs, a `# comment` to the end of any line, blank and
//! comment-only lines (skipped), CRLF line ends, and a `qid:N` token right after the label
//! (skipped). Feature indices are 1-based unless [`LibsvmOptions::zero_based`] is set, and must be
//! strictly increasing within a line. Explicit zero values are accepted but not stored, since a
//! sparse row holds only nonzeros; they still count for the ordering check.

use std::path::Path;

use crate::error::DataError;
use crate::labels::LabelKind;
use crate::shard::{read_lines, LineError};
use crate::sparse::SparseRows;
use crate::token::{fields, number_problem, parse_finite, parse_unsigned, quoted, NumberError};

/// How to read a libsvm file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LibsvmOptions {
    /// Feature indices start at 0 rather than at the customary 1.
    pub zero_based: bool,
    /// Which labels are accepted.
    pub labels: LabelKind,
}

/// Reads the examples that shard `shard` of `n_shards` owns in the libsvm file `path` (see
/// [`crate::shard`] for which lines a shard owns).
///
/// A shard without examples is not an error here, since with many shards some may legitimately be
/// empty; check the total over all shards with [`check_nonempty_total`].
pub fn read_libsvm_shard(
    path: &Path,
    shard: usize,
    n_shards: usize,
    options: &LibsvmOptions,
) -> Result<SparseRows, DataError> {
    let mut rows = SparseRows::new();
    let mut zero_index = None;
    read_lines(path, shard, n_shards, 0, |line| {
        parse_libsvm_line(line.text, options, &mut rows, &mut zero_index)
    })
    .map_err(|error| with_zero_index(error, zero_index))?;
    Ok(rows)
}

/// The rows of the whole libsvm file `path`, with the file offset of each row's line (for a
/// cache that finds a shard's rows by their lines' offsets).
pub(crate) fn read_libsvm_rows(
    path: &Path,
    options: &LibsvmOptions,
) -> Result<(SparseRows, Vec<u64>), DataError> {
    let mut rows = SparseRows::new();
    let mut offsets = Vec::new();
    let mut zero_index = None;
    read_lines(path, 0, 1, 0, |line| {
        let before = rows.n_rows();
        parse_libsvm_line(line.text, options, &mut rows, &mut zero_index)?;
        if rows.n_rows() > before {
            offsets.push(line.offset);
        }
        Ok(())
    })
    .map_err(|error| with_zero_index(error, zero_index))?;
    Ok((rows, offsets))
}

/// Why a line holds no example: what was expected there, or a feature index 0 in a file read
/// as 1-based, which has its own error ([`DataError::ZeroIndex`]) because reading the file
/// as 0-based may be all it needs.
enum LineProblem {
    Expected(String),
    ZeroIndex { token: String },
}

impl From<String> for LineProblem {
    fn from(expected: String) -> LineProblem {
        LineProblem::Expected(expected)
    }
}

/// Appends the example on `line`, if it holds one (a blank or comment line does not), to `rows`.
/// A feature index 0 in a 1-based file is also kept in `zero_index` (its token), for
/// [`with_zero_index`]: the reader stops at the first bad line, so it is that line's.
fn parse_libsvm_line(
    line: &[u8],
    options: &LibsvmOptions,
    rows: &mut SparseRows,
    zero_index: &mut Option<String>,
) -> Result<(), LineError> {
    let content = match memchr::memchr(b'#', line) {
        Some(hash) => &line[..hash],
        None => line,
    };
    if !parse_plain_line(content, options, rows) {
        match parse_line(content, options, rows) {
            Ok(()) => {}
            Err(LineProblem::Expected(message)) => return Err(message.into()),
            Err(LineProblem::ZeroIndex { token }) => {
                let message = format!("feature index 0 in {token:?}");
                *zero_index = Some(token);
                return Err(message.into());
            }
        }
    }
    Ok(())
}

/// The reader's error for the line a feature index 0 stopped (`zero_index`, its token) as a
/// [`DataError::ZeroIndex`]; any other error as it is.
fn with_zero_index(error: DataError, zero_index: Option<String>) -> DataError {
    match (error, zero_index) {
        (DataError::Parse { path, line, .. }, Some(token)) => {
            DataError::ZeroIndex { path, line, token }
        }
        (error, _) => error,
    }
}

/// Fails with [`DataError::Empty`] when the shards of `path` together hold no examples.
pub fn check_nonempty_total(path: &Path, total_rows: usize) -> Result<(), DataError> {
    if total_rows == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "examples".into(),
        });
    }
    Ok(())
}

/// The common line, `label index:value ...` with single-pass tokens (no `qid:`), read in one
/// scan and appended to `rows`: `true`. Any other line, and any line with a problem, leaves
/// `rows` as it was and gives `false`, and [`parse_line`] reads it to the same result or names
/// the error: this path accepts only what that one accepts, with the same numbers.
fn parse_plain_line(content: &[u8], options: &LibsvmOptions, rows: &mut SparseRows) -> bool {
    // The line is checked to be UTF-8 once (checking each number's token on its own was a
    // seventh of the parse), and its numbers are then read from slices of it: every slice ends
    // at an ASCII byte or at the end, so it is on a character boundary.
    let Ok(text) = std::str::from_utf8(content) else {
        return false;
    };
    let finite = |token: &str| token.parse::<f64>().ok().filter(|v| v.is_finite());
    let is_gap = |b: u8| b == b' ' || b == b'\t' || b == b'\r';
    let token_end = |from: usize| {
        let mut i = from;
        while i < content.len() && !is_gap(content[i]) {
            i += 1;
        }
        i
    };
    let label_end = token_end(0);
    if label_end == 0 {
        return false;
    }
    let label_token = &content[..label_end];
    let Some(label) = finite(&text[..label_end]) else {
        return false;
    };
    if options.labels.check(label, label_token).is_err() {
        return false;
    }
    let kept = rows.columns.len();
    let undo = |rows: &mut SparseRows| {
        rows.columns.truncate(kept);
        rows.values.truncate(kept);
        false
    };
    let mut previous: Option<u64> = None;
    let mut i = label_end;
    loop {
        while i < content.len() && is_gap(content[i]) {
            i += 1;
        }
        if i == content.len() {
            break;
        }
        // The index: decimal digits, then `:`.
        let start = i;
        let mut index: u64 = 0;
        while i < content.len() && content[i].is_ascii_digit() {
            index = index * 10 + u64::from(content[i] - b'0');
            i += 1;
            if index > u64::from(u32::MAX) + 1 {
                return undo(rows);
            }
        }
        if i == start || i == content.len() || content[i] != b':' {
            return undo(rows);
        }
        let value_start = i + 1;
        i = token_end(value_start);
        let Some(value) = finite(&text[value_start..i]) else {
            return undo(rows);
        };
        if index == 0 && !options.zero_based {
            return undo(rows);
        }
        let column = if options.zero_based { index } else { index - 1 };
        if column > u64::from(u32::MAX) || previous.is_some_and(|p| index <= p) {
            return undo(rows);
        }
        previous = Some(index);
        if value != 0.0 {
            rows.columns.push(column as u32);
            rows.values.push(value);
        }
    }
    rows.labels.push(label);
    rows.row_offsets.push(rows.columns.len());
    true
}

/// Appends the example on one line (comment already removed) to `rows`, if the line holds one.
/// On error `rows` may hold part of the line, which does not matter as the whole read fails.
fn parse_line(
    content: &[u8],
    options: &LibsvmOptions,
    rows: &mut SparseRows,
) -> Result<(), LineProblem> {
    let mut tokens = fields(content);
    let Some(label_token) = tokens.next() else {
        return Ok(());
    };
    let label = parse_finite(label_token).map_err(|error| match error {
        NumberError::NotANumber if label_token.contains(&b':') => format!(
            "expected a numeric label, found the feature {}: every line starts with its label",
            quoted(label_token)
        ),
        NumberError::NotANumber => {
            format!("expected a numeric label, found {}", quoted(label_token))
        }
        NumberError::NotFinite => format!("expected a finite label, found {}", quoted(label_token)),
    })?;
    options.labels.check(label, label_token)?;

    let mut previous_index: Option<u64> = None;
    for (position, token) in tokens.enumerate() {
        if position == 0 && token.starts_with(b"qid:") {
            continue;
        }
        let (index, value) = parse_feature(token, options)?;
        if let Some(previous) = previous_index {
            if index == previous {
                return Err(format!(
                    "duplicate feature index {index} in {}: indices must be strictly increasing",
                    quoted(token)
                )
                .into());
            }
            if index < previous {
                return Err(format!(
                    "unsorted feature indices: {index} (in {}) follows {previous}; indices must be \
                     strictly increasing",
                    quoted(token)
                )
                .into());
            }
        }
        previous_index = Some(index);
        if value != 0.0 {
            let column = if options.zero_based { index } else { index - 1 };
            // parse_feature has checked that the column fits.
            rows.columns.push(column as u32);
            rows.values.push(value);
        }
    }
    rows.labels.push(label);
    rows.row_offsets.push(rows.columns.len());
    Ok(())
}

/// Reads one `index:value` token, returning the index as written in the file.
fn parse_feature(token: &[u8], options: &LibsvmOptions) -> Result<(u64, f64), LineProblem> {
    let expected = "expected a feature `index:value`";
    let Some(colon) = memchr::memchr(b':', token) else {
        return Err(format!("{expected}, found {}", quoted(token)).into());
    };
    let (index_text, value_text) = (&token[..colon], &token[colon + 1..]);
    let kind = if options.zero_based {
        "non-negative"
    } else {
        "positive"
    };
    let index = parse_unsigned(index_text).ok_or_else(|| {
        format!(
            "{expected}, found {}: {} is not a {kind} integer",
            quoted(token),
            quoted(index_text)
        )
    })?;
    if index == 0 && !options.zero_based {
        return Err(LineProblem::ZeroIndex {
            token: String::from_utf8_lossy(token).into_owned(),
        });
    }
    let column = if options.zero_based { index } else { index - 1 };
    if column > u64::from(u32::MAX) {
        return Err(format!(
            "feature index {index} in {} is too large: at most {} columns are supported",
            quoted(token),
            u64::from(u32::MAX) + 1
        )
        .into());
    }
    let value = parse_finite(value_text).map_err(|error| {
        format!(
            "{expected}, found {}: {}",
            quoted(token),
            number_problem(value_text, error)
        )
    })?;
    Ok((index, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &tempfile::TempDir, content: &str) -> PathBuf {
        let path = dir.path().join("train.libsvm");
        std::fs::write(&path, content).unwrap();
        path
    }

    fn read_all(path: &Path, options: &LibsvmOptions) -> Result<SparseRows, DataError> {
        read_libsvm_shard(path, 0, 1, options)
    }

    /// Reads `content` and returns the error message with the temporary directory removed.
    fn error_of(content: &str, options: &LibsvmOptions) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, content);
        let message = read_all(&path, options).unwrap_err().to_string();
        message.replace(&dir.path().display().to_string(), "")
    }

    #[test]
    fn binary_labels_are_checked_at_their_line() {
        let binary = LibsvmOptions {
            labels: LabelKind::Binary,
            ..LibsvmOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "1 1:1\n0 2:1\n-1 1:2\n");
        assert_eq!(
            read_all(&path, &binary).unwrap().labels,
            vec![1.0, 0.0, -1.0]
        );
        assert_eq!(
            error_of("1 1:1\n# comment\n0.5 2:1\n", &binary),
            "/train.libsvm:3: expected a binary label (-1/+1 or 0/1), found \"0.5\""
        );
    }

    #[test]
    fn reads_labels_features_comments_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let content = "# header comment\n\
                       1 1:0.5 3:-2\r\n\
                       \n\
                       -1\tqid:7 2:1e-3   4:0 5:7 # trailing comment\n\
                       0.25\n\
                       +2 10:3";
        let path = write(&dir, content);
        let rows = read_all(&path, &LibsvmOptions::default()).unwrap();
        assert_eq!(rows.labels, vec![1.0, -1.0, 0.25, 2.0]);
        assert_eq!(rows.row(0), (&[0u32, 2][..], &[0.5, -2.0][..]));
        // The explicit zero at index 4 is not stored.
        assert_eq!(rows.row(1), (&[1u32, 4][..], &[1e-3, 7.0][..]));
        assert_eq!(rows.row(2), (&[][..], &[][..]));
        assert_eq!(rows.row(3), (&[9u32][..], &[3.0][..]));
        assert_eq!(rows.min_cols(), 10);

        let zero_based = LibsvmOptions {
            zero_based: true,
            ..LibsvmOptions::default()
        };
        let path = write(&dir, "1 0:1 2:2\n");
        let rows = read_all(&path, &zero_based).unwrap();
        assert_eq!(rows.row(0), (&[0u32, 2][..], &[1.0, 2.0][..]));
    }

    #[test]
    fn shards_join_to_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut content = String::new();
        for i in 0..50 {
            content.push_str(&format!("{i} {}:1.5 {}:-{i}\n", i + 1, i + 3));
            if i % 7 == 0 {
                content.push_str("# comment\r\n\n");
            }
        }
        let path = write(&dir, &content);
        let options = LibsvmOptions::default();
        let whole = read_all(&path, &options).unwrap();
        assert_eq!(whole.n_rows(), 50);
        for n_shards in [2, 3, 7, 64, 5000] {
            let mut joined = SparseRows::new();
            for shard in 0..n_shards {
                joined.append(&read_libsvm_shard(&path, shard, n_shards, &options).unwrap());
            }
            assert_eq!(joined, whole, "{n_shards} shards");
        }
    }

    #[test]
    fn empty_file_is_empty_not_an_error_until_the_total_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "# only a comment\n\n");
        let rows = read_all(&path, &LibsvmOptions::default()).unwrap();
        assert_eq!(rows.n_rows(), 0);
        let error = check_nonempty_total(&path, rows.n_rows()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{}: the file holds no examples", path.display())
        );
        assert!(check_nonempty_total(&path, 1).is_ok());
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let one = LibsvmOptions::default();
        let cases = [
            ("1 1:1\nabc 1:2\n", "/train.libsvm:2: expected a numeric label, found \"abc\""),
            (
                "1:2 3:4\n",
                "/train.libsvm:1: expected a numeric label, found the feature \"1:2\": every line \
                 starts with its label",
            ),
            ("\n\nnan 1:1\n", "/train.libsvm:3: expected a finite label, found \"nan\""),
            ("1 1:1\r\n1 7\r\n", "/train.libsvm:2: expected a feature `index:value`, found \"7\""),
            (
                "1 x:1\n",
                "/train.libsvm:1: expected a feature `index:value`, found \"x:1\": \"x\" is not a \
                 positive integer",
            ),
            (
                "1 -3:1\n",
                "/train.libsvm:1: expected a feature `index:value`, found \"-3:1\": \"-3\" is not a \
                 positive integer",
            ),
            (
                "1 3:abc\n",
                "/train.libsvm:1: expected a feature `index:value`, found \"3:abc\": \"abc\" is not \
                 a number",
            ),
            (
                "1 3:inf\n",
                "/train.libsvm:1: expected a feature `index:value`, found \"3:inf\": \"inf\" is not \
                 finite",
            ),
            ("1 3:\n", "/train.libsvm:1: expected a feature `index:value`, found \"3:\": \"\" is not a number"),
            (
                "1 1:1\n1 0:1 2:1\n",
                "/train.libsvm:2: feature index 0 in \"0:1\", but indices are read as 1-based",
            ),
            (
                "1 2:1 2:3\n",
                "/train.libsvm:1: duplicate feature index 2 in \"2:3\": indices must be strictly \
                 increasing",
            ),
            (
                "1 1:1\n# c\n1 9:1 4:3\n",
                "/train.libsvm:3: unsorted feature indices: 4 (in \"4:3\") follows 9; indices must \
                 be strictly increasing",
            ),
            (
                "1 4294967297:1\n",
                "/train.libsvm:1: feature index 4294967297 in \"4294967297:1\" is too large: at most \
                 4294967296 columns are supported",
            ),
        ];
        for (content, expected) in cases {
            assert_eq!(error_of(content, &one), expected, "for {content:?}");
        }
        let zero = LibsvmOptions {
            zero_based: true,
            ..LibsvmOptions::default()
        };
        assert_eq!(
            error_of("1 x:1\n", &zero),
            "/train.libsvm:1: expected a feature `index:value`, found \"x:1\": \"x\" is not a \
             non-negative integer"
        );
    }

    #[test]
    fn error_lines_are_absolute_when_reading_a_later_shard() {
        let dir = tempfile::tempdir().unwrap();
        let mut content = "1 1:1\n".repeat(99);
        content.push_str("1 1:oops\n");
        let path = write(&dir, &content);
        let options = LibsvmOptions::default();
        assert!(read_libsvm_shard(&path, 0, 4, &options).is_ok());
        let error = read_libsvm_shard(&path, 3, 4, &options).unwrap_err();
        assert!(
            matches!(error, DataError::Parse { line: 100, .. }),
            "{error}"
        );
    }
}
