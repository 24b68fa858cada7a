//! Coefficient files: the nonzero entries of a coefficient vector as `index value` lines, with
//! 1-based indices, used for fitted models and for the true coefficients of generated data.

use std::io::Write;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::DataError;
use crate::shard::read_lines;
use crate::token::{fields, number_problem, parse_finite, parse_unsigned, quoted};

/// Writes the nonzero entries of `coef` to `path` (atomically) as `index value` lines in index
/// order, with 1-based indices and values in the shortest form that reads back to the same `f64`.
pub fn write_coefficients(path: &Path, coef: &[f64]) -> Result<(), DataError> {
    write_atomic(path, |writer| {
        let mut number = ryu::Buffer::new();
        for (index, &value) in coef.iter().enumerate() {
            if value != 0.0 {
                writeln!(writer, "{} {}", index + 1, number.format(value))?;
            }
        }
        Ok(())
    })
}

/// Reads a coefficient file written by [`write_coefficients`] and returns its entries as
/// `(0-based index, value)` pairs in file order. Blank lines and `#` comment lines are skipped;
/// indices must be strictly increasing.
pub fn read_coefficients(path: &Path) -> Result<Vec<(u32, f64)>, DataError> {
    let mut entries: Vec<(u32, f64)> = Vec::new();
    let mut previous: Option<u64> = None;
    read_lines(path, 0, 1, 0, |line| {
        let tokens: Vec<&[u8]> = fields(line.text).collect();
        match tokens.as_slice() {
            [] => {}
            [first, ..] if first.starts_with(b"#") => {}
            [index_text, value_text] => {
                let index = parse_unsigned(index_text)
                    .filter(|&index| index >= 1 && index <= u64::from(u32::MAX) + 1)
                    .ok_or_else(|| {
                        format!(
                            "expected a 1-based coefficient index, found {}",
                            quoted(index_text)
                        )
                    })?;
                if let Some(previous) = previous.filter(|&previous| previous >= index) {
                    return Err(format!(
                        "coefficient index {index} follows {previous}; indices must be strictly increasing"
                    )
                    .into());
                }
                let value = parse_finite(value_text).map_err(|e| {
                    format!(
                        "expected a coefficient value, found {}",
                        number_problem(value_text, e)
                    )
                })?;
                previous = Some(index);
                entries.push(((index - 1) as u32, value));
            }
            _ => {
                return Err(format!(
                    "expected `index value`, found {}",
                    quoted(line.text.trim_ascii())
                )
                .into());
            }
        }
        Ok(())
    })?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nonzeros_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.coef");
        let coef = [0.0, 0.1 + 0.2, 0.0, -1e-300, 1.0 / 3.0, 0.0];
        write_coefficients(&path, &coef).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("2 0.30000000000000004\n4 -1e-300\n"),
            "{text}"
        );
        let read = read_coefficients(&path).unwrap();
        assert_eq!(read, vec![(1, 0.1 + 0.2), (3, -1e-300), (4, 1.0 / 3.0)]);
    }

    #[test]
    fn errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.coef");
        let cases = [
            (
                "1 1\n0 2\n",
                ":2: expected a 1-based coefficient index, found \"0\"",
            ),
            (
                "# c\n3 1\n2 2\n",
                ":3: coefficient index 2 follows 3; indices must be strictly increasing",
            ),
            (
                "1 x\n",
                ":1: expected a coefficient value, found \"x\" is not a number",
            ),
            ("1\n", ":1: expected `index value`, found \"1\""),
        ];
        for (content, expected) in cases {
            std::fs::write(&path, content).unwrap();
            let message = read_coefficients(&path).unwrap_err().to_string();
            assert_eq!(
                message,
                format!("{}{expected}", path.display()),
                "for {content:?}"
            );
        }
    }
}
