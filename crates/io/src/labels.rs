//! Label files: one number per line, line `i` labelling row `i` of a separately stored matrix.

use std::path::Path;

use crate::error::DataError;
use crate::shard::{read_lines, LineError};
use crate::token::{fields, parse_finite, quoted, NumberError};

/// Which labels an app accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelKind {
    /// Any finite number (regression).
    #[default]
    Real,
    /// A class: -1 or +1, or 0 or 1 (classification; the app maps 0 to -1).
    Binary,
}

impl LabelKind {
    /// `Err(what was expected)` when `label` is not of this kind.
    pub(crate) fn check(self, label: f64, token: &[u8]) -> Result<(), String> {
        match self {
            LabelKind::Binary if !(label == 1.0 || label == -1.0 || label == 0.0) => Err(format!(
                "expected a binary label (-1/+1 or 0/1), found {}",
                quoted(token)
            )),
            _ => Ok(()),
        }
    }
}

/// Reads the label file `path`, which must hold exactly `expected` labels of `kind`, one per line.
///
/// Blank lines are allowed only at the end of the file, since one in the middle would shift every
/// later label onto the wrong row. CRLF line ends, surrounding spaces and a UTF-8 byte order mark
/// are accepted.
///
/// `expected` comes from another file's header, so nothing is allocated for it beyond what this
/// file can hold: a label takes at least two bytes (`1` and a newline).
pub fn read_labels(path: &Path, expected: usize, kind: LabelKind) -> Result<Vec<f64>, DataError> {
    let file_len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len();
    let most = usize::try_from(file_len.div_ceil(2)).unwrap_or(usize::MAX);
    let mut labels = Vec::with_capacity(expected.min(most));
    let mut first_blank_line: Option<u64> = None;
    read_lines(path, 0, 1, 0, |line| {
        let mut tokens = fields(line.text);
        let Some(token) = tokens.next() else {
            first_blank_line.get_or_insert(line.offset);
            return Ok(());
        };
        if let Some(blank) = first_blank_line {
            return Err(LineError::at(
                blank,
                "expected a label, found an empty line (only the end of the file may be blank)",
            ));
        }
        if tokens.next().is_some() {
            return Err(format!(
                "expected one label per line, found {}",
                quoted(line.text.trim_ascii())
            )
            .into());
        }
        let label = parse_finite(token).map_err(|error| {
            let kind = if error == NumberError::NotFinite {
                "finite"
            } else {
                "numeric"
            };
            format!("expected a {kind} label, found {}", quoted(token))
        })?;
        kind.check(label, token)?;
        if labels.len() == expected {
            return Err(format!(
                "extra label: expected {expected} labels (one per row of X), found more"
            )
            .into());
        }
        labels.push(label);
        Ok(())
    })?;
    if labels.len() < expected {
        return Err(DataError::parse(
            path,
            labels.len() as u64 + 1,
            format!(
                "missing label: expected {expected} labels (one per row of X), found {}",
                labels.len()
            ),
        ));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels_of(content: &str, expected: usize) -> Result<Vec<f64>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.txt");
        std::fs::write(&path, content).unwrap();
        read_labels(&path, expected, LabelKind::Real)
            .map_err(|e| e.to_string().replace(&dir.path().display().to_string(), ""))
    }

    #[test]
    fn binary_labels_are_checked_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.txt");
        std::fs::write(&path, "1\n-1\n2\n").unwrap();
        let message = read_labels(&path, 3, LabelKind::Binary)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message.replace(&dir.path().display().to_string(), ""),
            "/y.txt:3: expected a binary label (-1/+1 or 0/1), found \"2\""
        );
    }

    #[test]
    fn reads_one_label_per_line() {
        assert_eq!(
            labels_of("1\n-1.5\r\n 2e3 \n\n\n", 3),
            Ok(vec![1.0, -1.5, 2000.0])
        );
        assert_eq!(labels_of("1\n-1", 2), Ok(vec![1.0, -1.0]));
        assert_eq!(labels_of("", 0), Ok(vec![]));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("1\nabc\n", 2, "/y.txt:2: expected a numeric label, found \"abc\""),
            ("1\ninf\n", 2, "/y.txt:2: expected a finite label, found \"inf\""),
            ("1\n2 3\n", 2, "/y.txt:2: expected one label per line, found \"2 3\""),
            (
                "1\n\n2\n",
                2,
                "/y.txt:2: expected a label, found an empty line (only the end of the file may be blank)",
            ),
            ("1\n2\n\n", 3, "/y.txt:3: missing label: expected 3 labels (one per row of X), found 2"),
            ("1\n2\n3\n", 2, "/y.txt:3: extra label: expected 2 labels (one per row of X), found more"),
        ];
        for (content, expected, message) in cases {
            assert_eq!(
                labels_of(content, expected),
                Err(message.to_string()),
                "for {content:?}"
            );
        }
    }
}
