//! The one error type of this crate: every failure names the file, and parse failures the line.

use std::path::{Path, PathBuf};

/// A problem with an input or output file.
///
/// Every variant carries the path, so that the message alone tells the user which file to fix.
/// Line numbers are 1-based and absolute within the file, also when the file was read as a shard.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// One line of the file does not have the expected form.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file that holds the line.
        path: PathBuf,
        /// The 1-based line number within the whole file.
        line: u64,
        /// What was expected and what was found.
        message: String,
    },
    /// Reading or writing the file failed. (The cause is part of the message and deliberately
    /// not a `source`, so that error chains do not print it twice.)
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// The file is well formed but holds nothing to work on.
    #[error("{}: the file holds no {what}", path.display())]
    Empty {
        /// The file that is empty.
        path: PathBuf,
        /// What the file should have held, in the plural (`examples`, `entries`).
        what: String,
    },
    /// A feature index 0 in a file read with 1-based indices: the file's indices may start at
    /// 0, and reading it as 0-based would accept it.
    #[error("{}:{line}: feature index 0 in {token:?}, but indices are read as 1-based", path.display())]
    ZeroIndex {
        /// The file that holds the line.
        path: PathBuf,
        /// The 1-based line number within the whole file.
        line: u64,
        /// The feature, as written (`0:value`).
        token: String,
    },
    /// The file as a whole is inconsistent, e.g. its header disagrees with its body.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The inconsistent file.
        path: PathBuf,
        /// What disagrees with what.
        message: String,
    },
    /// A request to this crate is impossible, e.g. a generator asked for more nonzeros per row than
    /// there are columns. This is a caller's mistake rather than a bad file.
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// What is wrong with the request.
        message: String,
    },
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            cause: source,
        }
    }

    /// A parse error at a known 1-based `line` of `path`. (The sharded reader, which knows a
    /// line's byte offset, counts its number before calling this, [`crate::shard::read_lines`]:
    /// no constructor here reads a file.)
    pub fn parse(path: &Path, line: u64, message: impl Into<String>) -> Self {
        DataError::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// A whole-file inconsistency in `path`.
    pub fn invalid(path: &Path, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_with_the_path_and_line() {
        let error = DataError::parse(
            Path::new("train.libsvm"),
            7,
            "expected a number, found \"x\"",
        );
        assert_eq!(
            error.to_string(),
            "train.libsvm:7: expected a number, found \"x\""
        );

        let error = DataError::Empty {
            path: "train.libsvm".into(),
            what: "examples".into(),
        };
        assert_eq!(
            error.to_string(),
            "train.libsvm: the file holds no examples"
        );

        let error = DataError::invalid(Path::new("a.mtx"), "header says 3 entries, body has 2");
        assert_eq!(
            error.to_string(),
            "a.mtx: header says 3 entries, body has 2"
        );

        let error = DataError::ZeroIndex {
            path: "train.libsvm".into(),
            line: 2,
            token: "0:1".into(),
        };
        assert_eq!(
            error.to_string(),
            "train.libsvm:2: feature index 0 in \"0:1\", but indices are read as 1-based"
        );

        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(
            DataError::io(Path::new("x"), source).to_string(),
            "x: no such file"
        );
    }
}
