//! [`Example`], one row of the training data, and [`parse_example`], its libsvm line.
//!
//! A line is `label index:value index:value ...`: an integer class label (any integer; `3.0` is
//! read as 3), then features with strictly increasing indices (1-based unless `zero_based`) and
//! finite values. A `# comment` runs to the end of a line; blank and comment-only lines hold no
//! example. Explicit zeros are accepted and not stored.

use serde::{Deserialize, Serialize};

/// One example: its label as written, its class (the label's index in the sorted labels, set once
/// every label is known) and its nonzero features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The label as written in the file.
    pub label: i64,
    /// The class index `0..K` (0 until the classes are known).
    pub class: u32,
    /// Feature columns (0-based), increasing.
    pub columns: Box<[u32]>,
    /// The features' values, one per column.
    pub values: Box<[f64]>,
}

impl Example {
    /// One past the largest column (0 for an example without features).
    pub fn width(&self) -> usize {
        self.columns.last().map_or(0, |&c| c as usize + 1)
    }

    /// `||x||^2`.
    pub fn squared_norm(&self) -> f64 {
        self.values.iter().map(|v| v * v).sum()
    }
}

/// Parses one libsvm line: `Ok(None)` for a line without an example, `Err(what was expected)` for a
/// malformed one (the caller adds the file and line).
pub fn parse_example(line: &str, zero_based: bool) -> Result<Option<Example>, String> {
    parse_line(line, zero_based).map_err(|problem| match problem {
        LineProblem::Expected(message) => message,
        LineProblem::ZeroIndex { token } => zero_index_message(&token),
    })
}

/// Why a line holds no example: what was expected there, or a feature index 0 in a file read
/// as 1-based (its token), which the reader reports as the typed
/// [`strads_io::DataError::ZeroIndex`] (reading the file as 0-based may be all it needs).
pub(crate) enum LineProblem {
    Expected(String),
    ZeroIndex { token: String },
}

impl From<String> for LineProblem {
    fn from(expected: String) -> LineProblem {
        LineProblem::Expected(expected)
    }
}

/// What a feature index 0 in a 1-based file is, as a sentence.
pub(crate) fn zero_index_message(token: &str) -> String {
    format!("feature index 0 in {token:?}, but indices are read as 1-based")
}

/// [`parse_example`], with a feature index 0 told apart.
pub(crate) fn parse_line(line: &str, zero_based: bool) -> Result<Option<Example>, LineProblem> {
    let content = line.split('#').next().unwrap_or("");
    let mut tokens = content.split_ascii_whitespace();
    let Some(label_token) = tokens.next() else {
        return Ok(None);
    };
    let label = parse_label(label_token)?;
    let mut columns = Vec::new();
    let mut values = Vec::new();
    let mut previous: Option<u64> = None;
    for token in tokens {
        let Some((index_text, value_text)) = token.split_once(':') else {
            return Err(format!("expected a feature `index:value`, found {token:?}").into());
        };
        let index: u64 = index_text.parse().map_err(|_| {
            format!("expected a feature `index:value` with an integer index, found {token:?}")
        })?;
        if index == 0 && !zero_based {
            return Err(LineProblem::ZeroIndex {
                token: token.to_owned(),
            });
        }
        if previous.is_some_and(|p| index <= p) {
            return Err(format!(
                "feature index {index} (in {token:?}) follows {}: indices must be strictly \
                 increasing",
                previous.unwrap_or(0)
            )
            .into());
        }
        previous = Some(index);
        let column = if zero_based { index } else { index - 1 };
        let column = u32::try_from(column)
            .ok()
            .filter(|&c| c < u32::MAX)
            .ok_or_else(|| format!("feature index {index} is too large (at most 2^32 - 2)"))?;
        let value: f64 = value_text
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("expected a finite feature value, found {token:?}"))?;
        if value != 0.0 {
            columns.push(column);
            values.push(value);
        }
    }
    Ok(Some(Example {
        label,
        class: 0,
        columns: columns.into_boxed_slice(),
        values: values.into_boxed_slice(),
    }))
}

/// An integer label, written as an integer or as a float with an integral value (`1.0`).
fn parse_label(token: &str) -> Result<i64, String> {
    if let Ok(label) = token.parse::<i64>() {
        return Ok(label);
    }
    match token.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
        Ok(_) => Err(format!("expected an integer class label, found {token:?}")),
        Err(_) if token.contains(':') => Err(format!(
            "expected an integer class label, found the feature {token:?}: every line starts \
             with its label"
        )),
        Err(_) => Err(format!("expected an integer class label, found {token:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_its_label_and_nonzero_features() {
        let example = parse_example("-1 2:0.5 3:0 7:-2 # note", false)
            .unwrap()
            .unwrap();
        assert_eq!(example.label, -1);
        assert_eq!(&*example.columns, &[1, 6]);
        assert_eq!(&*example.values, &[0.5, -2.0]);
        assert_eq!(example.width(), 7);
        assert_eq!(parse_example("7.0 0:1", true).unwrap().unwrap().label, 7);
        assert_eq!(parse_example("  # only a comment", false).unwrap(), None);
    }

    #[test]
    fn malformed_lines_say_what_was_expected() {
        for (line, expected) in [
            ("1.5 1:2", "integer class label"),
            ("1:2 3:4", "every line starts with its label"),
            ("1 2:1 2:3", "strictly increasing"),
            ("1 0:1", "1-based"),
            ("1 3", "index:value"),
            ("1 3:nan", "finite"),
            ("1 x:1", "integer index"),
        ] {
            let error = parse_example(line, false).unwrap_err();
            assert!(error.contains(expected), "{line:?}: {error}");
            assert!(!error.contains("--"), "names a flag: {error}");
        }
    }
}
