//! The MatrixMarket coordinate format (`.mtx`), for the sparse design matrix; the labels come from
//! a separate file (see [`crate::labels`]).
//!
//! Supported: `%%MatrixMarket matrix coordinate real|integer|pattern general`, `%` comment lines,
//! then the size line `rows columns entries`, then one `row column [value]` line per entry with
//! 1-based indices, in any order. The entry lines are read in shards like any line-oriented file.
//! Since a shard's entries belong to arbitrary rows, the caller regroups them by row (possibly across
//! workers) and then builds rows with [`entries_to_rows`], which also finds duplicate entries.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::DataError;
use crate::shard::{line_number_at, read_lines, strip_bom};
use crate::sparse::SparseRows;
use crate::token::{fields, number_problem, parse_finite, parse_unsigned, quoted};

/// The kind of values a MatrixMarket file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmField {
    /// Floating-point values.
    Real,
    /// Integer values (stored as `f64`).
    Integer,
    /// No values: every listed entry is 1.
    Pattern,
}

/// What the banner and size line of a MatrixMarket file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmHeader {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Number of entry lines the body should have.
    pub nnz: usize,
    /// The kind of values.
    pub field: MmField,
    /// Byte offset of the first line after the size line, where the entries start.
    pub data_start: u64,
}

/// One entry of a MatrixMarket body, with 0-based indices.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MmEntry {
    /// 0-based row.
    pub row: u32,
    /// 0-based column.
    pub col: u32,
    /// The value (1 for a pattern matrix).
    pub value: f64,
    /// Absolute byte offset of the entry's line, kept so that a problem found after regrouping can
    /// still name the line: see [`crate::shard::line_number_at`]. A byte offset rather than a line
    /// number, because a shard knows its offsets for free but its line numbers only by reading the
    /// whole file before it.
    pub offset: u64,
}

const BANNER: &str = "%%MatrixMarket matrix coordinate real|integer|pattern general";

/// Reads the banner, comments and size line of the MatrixMarket file `path`.
pub fn read_mm_header(path: &Path) -> Result<MmHeader, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut line_number = 0u64;
    let mut field = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| DataError::io(path, e))?;
        line_number += 1;
        offset += n as u64;
        if n == 0 {
            let found = if field.is_none() {
                "an empty file"
            } else {
                "the end of the file"
            };
            let expected = if field.is_none() {
                format!("the banner `{BANNER}`")
            } else {
                "the size line `rows columns entries`".to_string()
            };
            return Err(DataError::parse(
                path,
                line_number,
                format!("expected {expected}, found {found}"),
            ));
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let Some(field) = field else {
            let text = strip_bom(text);
            field = Some(parse_banner(text).map_err(|message| DataError::parse(path, 1, message))?);
            continue;
        };
        let mut tokens = fields(text).peekable();
        match tokens.peek() {
            None => continue,
            Some(first) if first.starts_with(b"%") => continue,
            Some(_) => {}
        }
        let (rows, cols, nnz) = parse_size_line(text)
            .map_err(|message| DataError::parse(path, line_number, message))?;
        return Ok(MmHeader {
            rows,
            cols,
            nnz,
            field,
            data_start: offset,
        });
    }
}

/// Reads the banner line and returns the field it declares.
fn parse_banner(line: &[u8]) -> Result<MmField, String> {
    let tokens: Vec<&[u8]> = fields(line).collect();
    let expected = || {
        format!(
            "expected the banner `{BANNER}`, found {}",
            quoted(line.trim_ascii())
        )
    };
    if tokens.len() != 5 || !tokens[0].eq_ignore_ascii_case(b"%%MatrixMarket") {
        return Err(expected());
    }
    let is = |token: &[u8], word: &str| token.eq_ignore_ascii_case(word.as_bytes());
    if !is(tokens[1], "matrix") {
        return Err(format!(
            "unsupported MatrixMarket object {}: only `matrix` is supported",
            quoted(tokens[1])
        ));
    }
    if !is(tokens[2], "coordinate") {
        return Err(format!(
            "unsupported MatrixMarket format {}: only `coordinate` (sparse) is supported",
            quoted(tokens[2])
        ));
    }
    let field = match tokens[3] {
        t if is(t, "real") => MmField::Real,
        t if is(t, "integer") => MmField::Integer,
        t if is(t, "pattern") => MmField::Pattern,
        t => {
            return Err(format!(
                "unsupported MatrixMarket field {}: supported fields are real, integer and pattern",
                quoted(t)
            ))
        }
    };
    if !is(tokens[4], "general") {
        return Err(format!(
            "unsupported MatrixMarket symmetry {}: only `general` is supported",
            quoted(tokens[4])
        ));
    }
    Ok(field)
}

/// Reads `rows columns entries`.
fn parse_size_line(line: &[u8]) -> Result<(usize, usize, usize), String> {
    let tokens: Vec<&[u8]> = fields(line).collect();
    let numbers: Option<Vec<u64>> = tokens.iter().map(|t| parse_unsigned(t)).collect();
    let Some([rows, cols, nnz]) = numbers
        .as_deref()
        .and_then(|n| <[u64; 3]>::try_from(n).ok())
    else {
        return Err(format!(
            "expected the size line `rows columns entries` (three non-negative integers), found {}",
            quoted(line.trim_ascii())
        ));
    };
    // Indices are stored 0-based in a u32.
    let limit = u64::from(u32::MAX) + 1;
    if rows > limit || cols > limit {
        return Err(format!(
            "the size {rows} x {cols} is too large: at most {limit} rows and columns are supported"
        ));
    }
    if u128::from(nnz) > u128::from(rows) * u128::from(cols) {
        return Err(format!(
            "the header says {nnz} entries, more than fit in {rows} x {cols}"
        ));
    }
    let to_usize = |n: u64| {
        usize::try_from(n).map_err(|_| format!("the number {n} is too large for this machine"))
    };
    Ok((to_usize(rows)?, to_usize(cols)?, to_usize(nnz)?))
}

/// Reads the entries that shard `shard` of `n_shards` owns in the body of `path`, checking each
/// against `header`. Blank lines and `%` comment lines in the body are skipped.
pub fn read_mm_shard(
    path: &Path,
    header: &MmHeader,
    shard: usize,
    n_shards: usize,
) -> Result<Vec<MmEntry>, DataError> {
    let mut entries = Vec::new();
    read_lines(path, shard, n_shards, header.data_start, |line| {
        let mut tokens = fields(line.text);
        let first = match tokens.next() {
            None => return Ok(()),
            Some(token) if token.starts_with(b"%") => return Ok(()),
            Some(token) => token,
        };
        let entry = parse_entry(header, first, tokens, line.text)?;
        entries.push(MmEntry {
            offset: line.offset,
            ..entry
        });
        Ok(())
    })?;
    Ok(entries)
}

/// Reads one entry line whose first token is `first` and remaining tokens `rest`.
fn parse_entry<'a>(
    header: &MmHeader,
    first: &'a [u8],
    rest: impl Iterator<Item = &'a [u8]>,
    line: &[u8],
) -> Result<MmEntry, String> {
    let mut tokens = [first, b"", b""];
    let mut count = 1;
    for token in rest {
        if count < 3 {
            tokens[count] = token;
        }
        count += 1;
    }
    let expected_count = if header.field == MmField::Pattern {
        2
    } else {
        3
    };
    if count != expected_count {
        let shape = if header.field == MmField::Pattern {
            "`row column` (2 fields, as the matrix is a pattern)"
        } else {
            "`row column value` (3 fields)"
        };
        return Err(format!(
            "expected {shape}, found {count} fields: {}",
            quoted(line.trim_ascii())
        ));
    }
    let row = parse_index(tokens[0], "row", header.rows)?;
    let col = parse_index(tokens[1], "column", header.cols)?;
    let value = match header.field {
        MmField::Pattern => 1.0,
        MmField::Real => parse_finite(tokens[2]).map_err(|error| {
            format!(
                "expected a real value, found {}",
                number_problem(tokens[2], error)
            )
        })?,
        MmField::Integer => std::str::from_utf8(tokens[2])
            .ok()
            .and_then(|text| text.parse::<i64>().ok())
            .ok_or_else(|| {
                format!(
                    "expected an integer value (the matrix field is integer), found {}",
                    quoted(tokens[2])
                )
            })? as f64,
    };
    Ok(MmEntry {
        row,
        col,
        value,
        offset: 0,
    })
}

/// Reads a 1-based index in `1..=bound` and returns it 0-based.
fn parse_index(token: &[u8], what: &str, bound: usize) -> Result<u32, String> {
    let index = parse_unsigned(token).ok_or_else(|| {
        format!(
            "expected a {what} index (a positive integer), found {}",
            quoted(token)
        )
    })?;
    if index == 0 || index > bound as u64 {
        return Err(format!(
            "{what} index {index} is outside 1..={bound} (the header says {bound} {what}s)"
        ));
    }
    // The header check bounds `bound` by 2^32, so the 0-based index fits.
    Ok((index - 1) as u32)
}

/// Fails unless the shards of `path` together hold as many entries as its header says, and the
/// matrix has at least one row.
pub fn check_mm_total(
    path: &Path,
    header: &MmHeader,
    total_entries: usize,
) -> Result<(), DataError> {
    if header.rows == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "rows".into(),
        });
    }
    if total_entries != header.nnz {
        return Err(DataError::invalid(
            path,
            format!(
                "the header says {} entries, the body has {total_entries}",
                header.nnz
            ),
        ));
    }
    Ok(())
}

/// Builds the rows `row_start..row_start + n_rows` (0-based) from their entries, in any order,
/// with one label per row. Zero values are dropped, as in every [`SparseRows`].
///
/// A duplicate `(row, column)` is reported as a parse error at the later of the two lines.
pub fn entries_to_rows(
    path: &Path,
    n_rows: usize,
    row_start: usize,
    mut entries: Vec<MmEntry>,
    labels: &[f64],
) -> Result<SparseRows, DataError> {
    if labels.len() != n_rows {
        return Err(DataError::InvalidRequest {
            message: format!("{} labels given for a block of {n_rows} rows", labels.len()),
        });
    }
    // Sorting by offset last puts the earlier line of a duplicate first.
    entries.sort_unstable_by_key(|entry| (entry.row, entry.col, entry.offset));
    let mut rows = SparseRows::new();
    rows.columns.reserve(entries.len());
    rows.values.reserve(entries.len());
    let mut next = entries.iter().peekable();
    let mut previous: Option<&MmEntry> = None;
    for (local_row, &label) in labels.iter().enumerate() {
        let row = row_start + local_row;
        while let Some(entry) = next.next_if(|entry| entry.row as usize == row) {
            if let Some(before) =
                previous.filter(|before| (before.row, before.col) == (entry.row, entry.col))
            {
                // Found after regrouping, far from the reader: the lines are counted here.
                let first_line = line_number_at(path, before.offset)?;
                return Err(DataError::parse(
                    path,
                    line_number_at(path, entry.offset)?,
                    format!(
                        "duplicate entry for row {}, column {}: it already appears on line {first_line}",
                        entry.row + 1,
                        entry.col + 1
                    ),
                ));
            }
            previous = Some(entry);
            if entry.value != 0.0 {
                rows.columns.push(entry.col);
                rows.values.push(entry.value);
            }
        }
        rows.labels.push(label);
        rows.row_offsets.push(rows.columns.len());
    }
    if let Some(stray) = next.next() {
        return Err(DataError::InvalidRequest {
            message: format!(
                "entry for row {} (0-based) is outside the block of rows {row_start}..{}",
                stray.row,
                row_start + n_rows
            ),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &tempfile::TempDir, content: &str) -> PathBuf {
        let path = dir.path().join("x.mtx");
        std::fs::write(&path, content).unwrap();
        path
    }

    fn strip(dir: &tempfile::TempDir, error: DataError) -> String {
        error
            .to_string()
            .replace(&dir.path().display().to_string(), "")
    }

    const EXAMPLE: &str = "%%MatrixMarket matrix coordinate real general\r\n\
                           % a comment\n\
                           %\n\
                           3 4 5\n\
                           3 1 2.5\n\
                           1 4 -1\n\
                           \n\
                           1 2 0.5\n\
                           2 2 0\n\
                           3 4 1e3";

    #[test]
    fn reads_header_and_entries_in_any_number_of_shards() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, EXAMPLE);
        let header = read_mm_header(&path).unwrap();
        assert_eq!(
            (header.rows, header.cols, header.nnz, header.field),
            (3, 4, 5, MmField::Real)
        );
        assert_eq!(
            &EXAMPLE.as_bytes()[header.data_start as usize..][..8],
            b"3 1 2.5\n"
        );
        for n_shards in [1, 2, 3, 10, 100] {
            let mut entries = Vec::new();
            for shard in 0..n_shards {
                entries.extend(read_mm_shard(&path, &header, shard, n_shards).unwrap());
            }
            check_mm_total(&path, &header, entries.len()).unwrap();
            let rows = entries_to_rows(&path, 3, 0, entries, &[1.0, 2.0, 3.0]).unwrap();
            assert_eq!(rows.labels, vec![1.0, 2.0, 3.0]);
            assert_eq!(rows.row(0), (&[1u32, 3][..], &[0.5, -1.0][..]));
            // The explicit zero at (2, 2) is not stored.
            assert_eq!(rows.row(1), (&[][..], &[][..]));
            assert_eq!(rows.row(2), (&[0u32, 3][..], &[2.5, 1e3][..]));
        }
        let entries = read_mm_shard(&path, &header, 0, 1).unwrap();
        let block = entries.into_iter().filter(|e| e.row >= 1).collect();
        let rows = entries_to_rows(&path, 2, 1, block, &[2.0, 3.0]).unwrap();
        assert_eq!(rows.row(1), (&[0u32, 3][..], &[2.5, 1e3][..]));
    }

    #[test]
    fn reads_integer_and_pattern_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "%%matrixmarket MATRIX coordinate integer general\n2 2 1\n2 1 -7\n",
        );
        let header = read_mm_header(&path).unwrap();
        assert_eq!(header.field, MmField::Integer);
        assert_eq!(read_mm_shard(&path, &header, 0, 1).unwrap()[0].value, -7.0);
        let path = write(
            &dir,
            "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n2 1\n",
        );
        let header = read_mm_header(&path).unwrap();
        let entry = read_mm_shard(&path, &header, 0, 1).unwrap()[0];
        assert_eq!((entry.row, entry.col, entry.value), (1, 0, 1.0));
    }

    #[test]
    fn header_errors_say_what_is_supported() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("", "/x.mtx:1: expected the banner `%%MatrixMarket matrix coordinate real|integer|pattern general`, found an empty file"),
            ("3 3 1\n", "/x.mtx:1: expected the banner `%%MatrixMarket matrix coordinate real|integer|pattern general`, found \"3 3 1\""),
            ("%%MatrixMarket vector coordinate real general\n", "/x.mtx:1: unsupported MatrixMarket object \"vector\": only `matrix` is supported"),
            ("%%MatrixMarket matrix array real general\n", "/x.mtx:1: unsupported MatrixMarket format \"array\": only `coordinate` (sparse) is supported"),
            ("%%MatrixMarket matrix coordinate complex general\n", "/x.mtx:1: unsupported MatrixMarket field \"complex\": supported fields are real, integer and pattern"),
            ("%%MatrixMarket matrix coordinate real symmetric\n", "/x.mtx:1: unsupported MatrixMarket symmetry \"symmetric\": only `general` is supported"),
            ("%%MatrixMarket matrix coordinate real general\n% c\n", "/x.mtx:3: expected the size line `rows columns entries`, found the end of the file"),
            ("%%MatrixMarket matrix coordinate real general\n% c\n3 x 1\n", "/x.mtx:3: expected the size line `rows columns entries` (three non-negative integers), found \"3 x 1\""),
            ("%%MatrixMarket matrix coordinate real general\n2 2 5\n", "/x.mtx:2: the header says 5 entries, more than fit in 2 x 2"),
        ];
        for (content, expected) in cases {
            let path = write(&dir, content);
            assert_eq!(
                strip(&dir, read_mm_header(&path).unwrap_err()),
                expected,
                "for {content:?}"
            );
        }
    }

    #[test]
    fn entry_errors_name_the_line_and_the_header_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let head = "%%MatrixMarket matrix coordinate real general\n% c\n3 4 2\n1 1 1\n";
        let cases = [
            (
                "1 2\n",
                "/x.mtx:5: expected `row column value` (3 fields), found 2 fields: \"1 2\"",
            ),
            (
                "1 2 3 4\n",
                "/x.mtx:5: expected `row column value` (3 fields), found 4 fields: \"1 2 3 4\"",
            ),
            (
                "a 2 3\n",
                "/x.mtx:5: expected a row index (a positive integer), found \"a\"",
            ),
            (
                "1 2.0 3\n",
                "/x.mtx:5: expected a column index (a positive integer), found \"2.0\"",
            ),
            (
                "4 1 3\n",
                "/x.mtx:5: row index 4 is outside 1..=3 (the header says 3 rows)",
            ),
            (
                "1 0 3\n",
                "/x.mtx:5: column index 0 is outside 1..=4 (the header says 4 columns)",
            ),
            (
                "1 2 nan\n",
                "/x.mtx:5: expected a real value, found \"nan\" is not finite",
            ),
            (
                "1 2 x\n",
                "/x.mtx:5: expected a real value, found \"x\" is not a number",
            ),
        ];
        for (entry, expected) in cases {
            let path = write(&dir, &format!("{head}{entry}"));
            let header = read_mm_header(&path).unwrap();
            let error = (0..3)
                .find_map(|shard| read_mm_shard(&path, &header, shard, 3).err())
                .unwrap();
            assert_eq!(strip(&dir, error), expected, "for {entry:?}");
        }
        let path = write(
            &dir,
            "%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 1.5\n",
        );
        let header = read_mm_header(&path).unwrap();
        assert_eq!(
            strip(&dir, read_mm_shard(&path, &header, 0, 1).unwrap_err()),
            "/x.mtx:3: expected an integer value (the matrix field is integer), found \"1.5\""
        );
        let path = write(
            &dir,
            "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1 1\n",
        );
        let header = read_mm_header(&path).unwrap();
        assert_eq!(
            strip(&dir, read_mm_shard(&path, &header, 0, 1).unwrap_err()),
            "/x.mtx:3: expected `row column` (2 fields, as the matrix is a pattern), found 3 fields: \"1 1 1\""
        );
    }

    #[test]
    fn duplicates_and_count_mismatches_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "%%MatrixMarket matrix coordinate real general\n2 2 3\n2 1 1\n1 2 5\n2 1 3\n",
        );
        let header = read_mm_header(&path).unwrap();
        // Read in two shards and regroup, as a distributed caller would.
        let mut entries = read_mm_shard(&path, &header, 1, 2).unwrap();
        entries.extend(read_mm_shard(&path, &header, 0, 2).unwrap());
        check_mm_total(&path, &header, entries.len()).unwrap();
        let error = entries_to_rows(&path, 2, 0, entries, &[0.0, 0.0]).unwrap_err();
        assert_eq!(
            strip(&dir, error),
            "/x.mtx:5: duplicate entry for row 2, column 1: it already appears on line 3"
        );

        let error = check_mm_total(&path, &header, 2).unwrap_err();
        assert_eq!(
            strip(&dir, error),
            "/x.mtx: the header says 3 entries, the body has 2"
        );
        let empty = MmHeader {
            rows: 0,
            nnz: 0,
            ..header
        };
        assert_eq!(
            strip(&dir, check_mm_total(&path, &empty, 0).unwrap_err()),
            "/x.mtx: the file holds no rows"
        );
    }
}
