//! Word vector files in word2vec's formats, and nearest neighbours by cosine.
//!
//! Text: a header line `V dim`, then one line per word, `word v1 ... vdim`. Binary (word2vec.c's
//! `-binary 1`): the same header line, then per word its bytes, a space, `dim` little-endian
//! `f32` and a newline.

use std::io::Write;
use std::path::Path;

use strads_io::{write_atomic, DataError};

/// Words and their vectors, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct WordVectors {
    /// The words, in file order.
    pub words: Vec<String>,
    /// Components per vector.
    pub dim: usize,
    /// `words.len() * dim` components.
    pub values: Vec<f32>,
}

impl WordVectors {
    /// The vector of word `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The `top` words nearest to `word` by cosine similarity (itself excluded), most similar
    /// first; `None` if `word` is not in the file.
    pub fn most_similar(&self, word: &str, top: usize) -> Option<Vec<(String, f32)>> {
        let target = self.words.iter().position(|w| w == word)?;
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let t = self.row(target);
        let tn = norm(t);
        let mut scored: Vec<(usize, f32)> = (0..self.words.len())
            .filter(|&i| i != target)
            .map(|i| {
                let r = self.row(i);
                let d: f32 = r.iter().zip(t).map(|(a, b)| a * b).sum();
                let denominator = norm(r) * tn;
                (
                    i,
                    if denominator > 0.0 {
                        d / denominator
                    } else {
                        0.0
                    },
                )
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(top);
        Some(
            scored
                .into_iter()
                .map(|(i, s)| (self.words[i].clone(), s))
                .collect(),
        )
    }
}

/// Writes `vectors` atomically, as text or binary.
pub fn write_vectors(path: &Path, vectors: &WordVectors, binary: bool) -> Result<(), DataError> {
    write_atomic(path, |w| {
        writeln!(w, "{} {}", vectors.words.len(), vectors.dim)?;
        let mut buffer = ryu::Buffer::new();
        for (i, word) in vectors.words.iter().enumerate() {
            w.write_all(word.as_bytes())?;
            if binary {
                w.write_all(b" ")?;
                for x in vectors.row(i) {
                    w.write_all(&x.to_le_bytes())?;
                }
            } else {
                for &x in vectors.row(i) {
                    w.write_all(b" ")?;
                    w.write_all(buffer.format(x).as_bytes())?;
                }
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Reads a vectors file, text or binary (told apart by content: a file that parses as text is
/// text, else one that parses exactly as binary is binary; the error is the text parser's).
pub fn read_vectors(path: &Path) -> Result<WordVectors, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| {
        DataError::parse(
            path,
            1,
            "expected a header line `V dim` (a word2vec vectors file)",
        )
    })?;
    let header = std::str::from_utf8(&bytes[..newline]).unwrap_or("");
    let (words, dim) = match header.split_whitespace().collect::<Vec<_>>()[..] {
        [v, d] => match (v.parse::<usize>(), d.parse::<usize>()) {
            (Ok(v), Ok(d)) if d > 0 => (v, d),
            _ => return Err(header_error(path)),
        },
        _ => return Err(header_error(path)),
    };
    // Text first: a text file can happen to have a binary file's layout (with dim 2, `1.0 0.0\n`
    // is 8 bytes), while a binary file is almost never UTF-8 text of `dim` numbers per line.
    match parse_text(path, &bytes[newline + 1..], words, dim) {
        Ok(vectors) => Ok(vectors),
        Err(text_error) => parse_binary(&bytes[newline + 1..], words, dim).ok_or(text_error),
    }
}

fn header_error(path: &Path) -> DataError {
    DataError::parse(
        path,
        1,
        "expected a header line `V dim` with the number of words and a positive dimension",
    )
}

fn parse_binary(mut body: &[u8], words: usize, dim: usize) -> Option<WordVectors> {
    let mut vectors = WordVectors {
        words: Vec::with_capacity(words.min(1 << 20)),
        dim,
        values: Vec::new(),
    };
    for _ in 0..words {
        let space = body.iter().position(|&b| b == b' ')?;
        let word = std::str::from_utf8(&body[..space])
            .ok()?
            .trim_start_matches('\n');
        if word.is_empty() || word.contains(char::is_whitespace) {
            return None;
        }
        let values = body.get(space + 1..space + 1 + 4 * dim)?;
        vectors.words.push(word.to_owned());
        vectors.values.extend(
            values
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        body = &body[space + 1 + 4 * dim..];
        if body.first() == Some(&b'\n') {
            body = &body[1..];
        }
    }
    body.is_empty().then_some(vectors)
}

fn parse_text(
    path: &Path,
    body: &[u8],
    words: usize,
    dim: usize,
) -> Result<WordVectors, DataError> {
    let text = std::str::from_utf8(body).map_err(|_| DataError::Invalid {
        path: path.to_path_buf(),
        message: "neither a text vectors file (not UTF-8) nor a binary one of the header's \
                      size"
            .into(),
    })?;
    let mut vectors = WordVectors {
        words: Vec::with_capacity(words.min(1 << 20)),
        dim,
        values: Vec::with_capacity(words.min(1 << 20) * dim),
    };
    for (n, line) in text.lines().enumerate() {
        let line_number = n as u64 + 2;
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let word = fields.next().expect("a non-blank line has a field");
        let before = vectors.values.len();
        for field in fields {
            let value: f32 = field.parse().map_err(|_| {
                DataError::parse(path, line_number, format!("`{field}` is not a number"))
            })?;
            vectors.values.push(value);
        }
        let found = vectors.values.len() - before;
        if found != dim {
            return Err(DataError::parse(
                path,
                line_number,
                format!("expected a word and {dim} numbers, found {found} numbers"),
            ));
        }
        vectors.words.push(word.to_owned());
    }
    if vectors.words.len() != words {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "the header announces {words} words, the file holds {}",
                vectors.words.len()
            ),
        });
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WordVectors {
        WordVectors {
            words: vec!["a".into(), "b".into(), "c".into()],
            dim: 2,
            values: vec![1.0, 0.0, 0.9, 0.1, -1.0, 0.5],
        }
    }

    #[test]
    fn text_and_binary_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for binary in [false, true] {
            let path = dir.path().join(format!("v{binary}"));
            write_vectors(&path, &sample(), binary).unwrap();
            assert_eq!(read_vectors(&path).unwrap(), sample());
        }
        let text = std::fs::read_to_string(dir.path().join("vfalse")).unwrap();
        assert_eq!(text, "3 2\na 1.0 0.0\nb 0.9 0.1\nc -1.0 0.5\n");
    }

    #[test]
    fn neighbours_are_ranked_by_cosine() {
        let near = sample().most_similar("a", 5).unwrap();
        let names: Vec<&str> = near.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        let expected = 0.9 / (0.81f32 + 0.01).sqrt();
        assert!((near[0].1 - expected).abs() < 1e-6);
        assert!(sample().most_similar("zzz", 5).is_none());
    }

    #[test]
    fn a_short_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.txt");
        std::fs::write(&path, "2 2\na 1 2\nb 3\n").unwrap();
        let message = read_vectors(&path).unwrap_err().to_string();
        assert!(message.contains(":3:"), "{message}");
    }
}
