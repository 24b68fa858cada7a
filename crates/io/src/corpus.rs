//! Bag-of-words corpora for topic models, in three text formats, read in shards.
//!
//! - **UCI docword** ([`read_docword_header`], [`read_docword_shard`]): three header lines `D`, `W`,
//!   `NNZ`, then `NNZ` lines `doc word count` with 1-based ids (`doc <= D`, `word <= W`) and a
//!   positive integer count, in any order (a repeated `(doc, word)` pair adds up).
//! - **id:count lines** ([`read_id_count_shard`]): one line per document, `doc_id word:count ...`,
//!   1-based ids; `D` is the largest doc id and `W` the largest word id (or the vocabulary size).
//! - **plain text** ([`read_text_shard`]): one document per line (line `i` is document `i`),
//!   whitespace-separated tokens; the vocabulary is built from the whole corpus on load
//!   ([`build_vocabulary`]), dropping stop words and rare words.
//!
//! A vocabulary file ([`read_vocabulary`]) has one word per line; line `i` names word id `i`.
//! Blank lines and lines starting with `#` in a body are skipped. A UTF-8 byte order mark at
//! the start of any of these files is skipped. Every bad line is a
//! [`DataError::Parse`] naming the file and its absolute line.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::shard::{read_lines, strip_bom};
use crate::token::{fields, parse_unsigned, quoted};

/// One cell of the document-word count matrix, with 0-based ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordCount {
    /// 0-based document.
    pub doc: u32,
    /// 0-based word.
    pub word: u32,
    /// How often the word occurs in the document (at least 1).
    pub count: u32,
}

/// The three header lines of a UCI docword file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocwordHeader {
    /// Number of documents `D`.
    pub docs: usize,
    /// Vocabulary size `W`.
    pub words: usize,
    /// Number of `doc word count` lines the body should have.
    pub nnz: usize,
    /// Byte offset of the first body line.
    pub data_start: u64,
}

/// Ids must fit in a `u32`.
const MAX_ID: u64 = u32::MAX as u64;

/// Reads the `D`, `W`, `NNZ` header lines of the docword file `path` (blank lines and `#`
/// comment lines before and between them are skipped, as in the body).
pub fn read_docword_header(path: &Path) -> Result<DocwordHeader, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut values = [0u64; 3];
    let mut offset = 0u64;
    let mut line = Vec::new();
    let mut line_number = 0u64;
    let names = [
        "the number of documents D",
        "the vocabulary size W",
        "the number of entries NNZ",
    ];
    for (index, name) in names.iter().enumerate() {
        let tokens: Vec<&[u8]> = loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| DataError::io(path, e))?;
            offset += n as u64;
            line_number += 1;
            if n == 0 {
                return Err(DataError::parse(
                    path,
                    line_number,
                    format!(
                        "expected {name} (a UCI docword header line), found the end of the file"
                    ),
                ));
            }
            let content = line.strip_suffix(b"\n").unwrap_or(&line);
            let content = if line_number == 1 {
                strip_bom(content)
            } else {
                content
            };
            let tokens: Vec<&[u8]> = fields(content).collect();
            match tokens.first() {
                None => continue,
                Some(first) if first.starts_with(b"#") => continue,
                Some(_) => break tokens,
            }
        };
        let value = match tokens.as_slice() {
            [token] => parse_unsigned(token),
            _ => None,
        };
        values[index] = value.filter(|&v| v <= MAX_ID).ok_or_else(|| {
            DataError::parse(
                path,
                line_number,
                format!(
                    "expected {name} (one non-negative integer below 2^32), found {}",
                    quoted(strip_bom(line.trim_ascii()))
                ),
            )
        })?;
    }
    Ok(DocwordHeader {
        docs: values[0] as usize,
        words: values[1] as usize,
        nnz: values[2] as usize,
        data_start: offset,
    })
}

/// Reads the `doc word count` lines that shard `shard` of `n_shards` owns in the body of the
/// docword file `path`, checking each against `header`.
pub fn read_docword_shard(
    path: &Path,
    header: &DocwordHeader,
    shard: usize,
    n_shards: usize,
) -> Result<Vec<WordCount>, DataError> {
    let mut cells = Vec::new();
    read_lines(path, shard, n_shards, header.data_start, |line| {
        if let Some(cell) = plain_docword_line(header, line.text) {
            cells.push(cell);
            return Ok(());
        }
        let mut tokens = fields(line.text);
        let first = match tokens.next() {
            None => return Ok(()),
            Some(token) if token.starts_with(b"#") => return Ok(()),
            Some(token) => token,
        };
        cells.push(parse_docword_line(header, first, tokens, line.text)?);
        Ok(())
    })?;
    Ok(cells)
}

/// The common line, three unsigned integers `doc word count` within the header's bounds, read
/// in one scan. Any other line gives `None` and takes the general path, which reads it to the
/// same cell, skips it (blank, comment) or names its error.
fn plain_docword_line(header: &DocwordHeader, line: &[u8]) -> Option<WordCount> {
    let is_gap = |b: u8| b == b' ' || b == b'\t' || b == b'\r';
    let mut numbers = [0u64; 3];
    let mut i = 0;
    for number in &mut numbers {
        while i < line.len() && is_gap(line[i]) {
            i += 1;
        }
        let start = i;
        while i < line.len() && line[i].is_ascii_digit() {
            *number = *number * 10 + u64::from(line[i] - b'0');
            i += 1;
            if *number > MAX_ID {
                return None;
            }
        }
        if i == start || (i < line.len() && !is_gap(line[i])) {
            return None;
        }
    }
    while i < line.len() && is_gap(line[i]) {
        i += 1;
    }
    let [doc, word, count] = numbers;
    let within = |id: u64, bound: usize| id >= 1 && id <= bound as u64;
    (i == line.len() && within(doc, header.docs) && within(word, header.words) && count >= 1).then(
        || WordCount {
            doc: (doc - 1) as u32,
            word: (word - 1) as u32,
            count: count as u32,
        },
    )
}

fn parse_docword_line<'a>(
    header: &DocwordHeader,
    first: &'a [u8],
    rest: impl Iterator<Item = &'a [u8]>,
    line: &[u8],
) -> Result<WordCount, String> {
    let mut tokens = [first, b"", b""];
    let mut count = 1;
    for token in rest {
        if count < 3 {
            tokens[count] = token;
        }
        count += 1;
    }
    if count != 3 {
        return Err(format!(
            "expected `doc word count` (3 fields), found {count} fields: {}",
            quoted(line.trim_ascii())
        ));
    }
    let doc = parse_id(tokens[0], "doc", header.docs as u64, "the header says")?;
    let word = parse_id(tokens[1], "word", header.words as u64, "the header says")?;
    let count = parse_count(tokens[2])?;
    Ok(WordCount { doc, word, count })
}

/// Reads a 1-based id in `1..=bound` and returns it 0-based.
fn parse_id(token: &[u8], what: &str, bound: u64, source: &str) -> Result<u32, String> {
    let id = parse_unsigned(token).ok_or_else(|| {
        format!(
            "expected a {what} id (a positive integer), found {}",
            quoted(token)
        )
    })?;
    if id == 0 || id > bound {
        return Err(format!(
            "{what} id {id} is outside 1..={bound} ({source} {bound} {what}s)"
        ));
    }
    Ok((id - 1) as u32)
}

/// Reads a count: a positive integer below 2^32.
fn parse_count(token: &[u8]) -> Result<u32, String> {
    match parse_unsigned(token) {
        Some(count) if (1..=MAX_ID).contains(&count) => Ok(count as u32),
        _ => Err(format!(
            "expected a count (a positive integer below 2^32), found {}",
            quoted(token)
        )),
    }
}

/// Fails unless the shards of the docword file `path` together hold as many lines as its header
/// says, and at least one token.
pub fn check_docword_total(
    path: &Path,
    header: &DocwordHeader,
    total_lines: usize,
    total_tokens: u64,
) -> Result<(), DataError> {
    if total_lines != header.nnz {
        return Err(DataError::invalid(
            path,
            format!(
                "the header says {} entries (NNZ), the body has {total_lines}",
                header.nnz
            ),
        ));
    }
    check_nonempty_corpus(path, total_tokens)
}

/// Fails with [`DataError::Empty`] when a corpus holds no tokens.
pub fn check_nonempty_corpus(path: &Path, total_tokens: u64) -> Result<(), DataError> {
    if total_tokens == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "tokens".into(),
        });
    }
    Ok(())
}

/// Reads the `doc_id word:count ...` lines that shard `shard` of `n_shards` owns in `path`.
/// Ids are 1-based and returned 0-based; word ids must be at most `max_words` when given (the
/// vocabulary size). A document listed on several lines adds up.
pub fn read_id_count_shard(
    path: &Path,
    shard: usize,
    n_shards: usize,
    max_words: Option<usize>,
) -> Result<Vec<WordCount>, DataError> {
    let mut cells = Vec::new();
    read_lines(path, shard, n_shards, 0, |line| {
        let mut tokens = fields(line.text);
        let first = match tokens.next() {
            None => return Ok(()),
            Some(token) if token.starts_with(b"#") => return Ok(()),
            Some(token) => token,
        };
        let doc = parse_id(first, "doc", MAX_ID, "ids are at most")?;
        for token in tokens {
            let colon = memchr::memchr(b':', token)
                .ok_or_else(|| format!("expected `word:count`, found {}", quoted(token)))?;
            let word = match max_words {
                Some(bound) => {
                    parse_id(&token[..colon], "word", bound as u64, "the vocabulary has")?
                }
                None => parse_id(&token[..colon], "word", MAX_ID, "ids are at most")?,
            };
            let count = parse_count(&token[colon + 1..])?;
            cells.push(WordCount { doc, word, count });
        }
        Ok(())
    })?;
    Ok(cells)
}

/// The documents of one shard of a plain-text corpus, with words numbered in order of first
/// appearance in the shard (local ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextShard {
    /// The distinct words of the shard, by local id.
    pub words: Vec<String>,
    /// How often each local word occurs in the shard.
    pub counts: Vec<u64>,
    /// One entry per line of the shard (blank lines are empty documents): local word ids.
    pub docs: Vec<Vec<u32>>,
}

/// Reads the lines that shard `shard` of `n_shards` owns in the plain-text corpus `path`: each
/// line is a document of whitespace-separated tokens, which must be valid UTF-8.
pub fn read_text_shard(path: &Path, shard: usize, n_shards: usize) -> Result<TextShard, DataError> {
    let mut out = TextShard::default();
    // Keyed by the word's bytes (the shard's text is read a block at a time, so keys are owned).
    let mut index: HashMap<Box<[u8]>, u32> = HashMap::new();
    read_lines(path, shard, n_shards, 0, |line| {
        let mut doc = Vec::new();
        for token in fields(line.text) {
            let id = match index.get(token) {
                Some(&id) => id,
                None => {
                    let word = std::str::from_utf8(token).map_err(|_| {
                        format!("expected UTF-8 text, found the token {}", quoted(token))
                    })?;
                    let id = out.words.len() as u32;
                    out.words.push(word.to_owned());
                    out.counts.push(0);
                    index.insert(token.into(), id);
                    id
                }
            };
            out.counts[id as usize] += 1;
            doc.push(id);
        }
        out.docs.push(doc);
        Ok(())
    })?;
    Ok(out)
}

/// Builds the vocabulary of a plain-text corpus from the word counts of all its shards: the words
/// that occur at least `min_count` times and are not in `stopwords`, most frequent first (ties in
/// byte order, so the result does not depend on the sharding).
pub fn build_vocabulary(
    shards: &[(Vec<String>, Vec<u64>)],
    min_count: u64,
    stopwords: &HashSet<String>,
) -> Vec<String> {
    let mut totals: HashMap<&str, u64> = HashMap::new();
    for (words, counts) in shards {
        for (word, &count) in words.iter().zip(counts) {
            *totals.entry(word.as_str()).or_default() += count;
        }
    }
    let mut kept: Vec<(&str, u64)> = totals
        .into_iter()
        .filter(|(word, count)| *count >= min_count && !stopwords.contains(*word))
        .collect();
    kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    kept.into_iter().map(|(word, _)| word.to_owned()).collect()
}

/// Reads a vocabulary file: one word per line (surrounding whitespace trimmed); line `i` names
/// word id `i`. An empty line is an error, since it would leave an id without a name.
pub fn read_vocabulary(path: &Path) -> Result<Vec<String>, DataError> {
    let mut words = Vec::new();
    read_lines(path, 0, 1, 0, |line| {
        let word = line.text.trim_ascii();
        if word.is_empty() {
            return Err("expected a word (one per line), found an empty line"
                .to_string()
                .into());
        }
        let word = std::str::from_utf8(word).map_err(|_| "expected a UTF-8 word".to_string())?;
        words.push(word.to_owned());
        Ok(())
    })?;
    if words.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "words".into(),
        });
    }
    Ok(words)
}

/// Reads a stop-word file: whitespace-separated words, `#` comments to the end of a line.
pub fn read_stopwords(path: &Path) -> Result<HashSet<String>, DataError> {
    let text = String::from_utf8(crate::memory::read_whole_file(path)?)
        .map_err(|_| DataError::invalid(path, "expected UTF-8 text (stop words)"))?;
    Ok(text
        .strip_prefix('\u{feff}')
        .unwrap_or(&text)
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .map(str::to_owned)
        .collect())
}

/// The text formats a corpus can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorpusFormat {
    /// UCI bag-of-words: `D`, `W`, `NNZ` header lines, then `doc word count` lines.
    Docword,
    /// One document per line: `doc_id word:count ...`.
    IdCount,
    /// One document per line of whitespace-separated tokens.
    Text,
}

/// Guesses the format of `path` from its first line that is neither blank nor a `#` comment: a
/// lone integer starts a docword header, a second token with a `:` means `doc_id word:count`
/// lines, anything else is text. A file with no such line holds no documents: an error, not a
/// text corpus of its comments.
pub fn detect_corpus_format(path: &Path) -> Result<CorpusFormat, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
                what: "documents (only blank lines and `#` comments)".into(),
            });
        }
        let content = strip_bom(line.strip_suffix(b"\n").unwrap_or(&line));
        let tokens: Vec<&[u8]> = fields(content).collect();
        match tokens.as_slice() {
            [] => continue,
            [first, ..] if first.starts_with(b"#") => continue,
            [single] if parse_unsigned(single).is_some() => return Ok(CorpusFormat::Docword),
            [_, second, ..] if second.contains(&b':') => return Ok(CorpusFormat::IdCount),
            _ => return Ok(CorpusFormat::Text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn docword_in_shards_and_its_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "d.txt", "2\n3\n4\n1 1 2\n1 3 1\n2 2 5\n2 3 1\n");
        let header = read_docword_header(&path).unwrap();
        assert_eq!((header.docs, header.words, header.nnz), (2, 3, 4));
        for n in 1..6 {
            let mut all = Vec::new();
            for s in 0..n {
                all.extend(read_docword_shard(&path, &header, s, n).unwrap());
            }
            assert_eq!(all.len(), 4);
            assert_eq!(
                all[2],
                WordCount {
                    doc: 1,
                    word: 1,
                    count: 5
                }
            );
        }
        let cases = [
            ("2\n3\n1\n1 4 1\n", ":4: word id 4 is outside 1..=3"),
            ("2\n3\n1\n3 1 1\n", ":4: doc id 3 is outside 1..=2"),
            ("2\n3\n2\n1 1 1\n1 2 0\n", ":5: expected a count"),
            ("2\n3\n1\n1 1 1.5\n", ":4: expected a count"),
            ("2\n3\n1\n1 1 -1\n", ":4: expected a count"),
            ("2\n3\n1\n1 1\n", ":4: expected `doc word count`"),
            ("2\nx\n1\n", ":2: expected the vocabulary size W"),
            ("2\n3\n", ":3: expected the number of entries"),
        ];
        for (content, expected) in cases {
            let path = write(&dir, "bad.txt", content);
            let error = read_docword_header(&path)
                .and_then(|h| read_docword_shard(&path, &h, 0, 1))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{content:?}: {error}");
        }
        let error = check_docword_total(&path, &header, 3, 10).unwrap_err();
        assert!(error
            .to_string()
            .contains("says 4 entries (NNZ), the body has 3"));
        let error = check_docword_total(&path, &header, 4, 0).unwrap_err();
        assert!(error.to_string().contains("no tokens"));
    }

    #[test]
    fn id_count_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "c.txt", "1 1:2 3:1\n\n2 2:1\n");
        let cells = read_id_count_shard(&path, 0, 1, Some(3)).unwrap();
        assert_eq!(cells.len(), 3);
        assert_eq!(
            cells[1],
            WordCount {
                doc: 0,
                word: 2,
                count: 1
            }
        );
        let error = read_id_count_shard(&path, 0, 1, Some(2)).unwrap_err();
        assert!(error
            .to_string()
            .contains("c.txt:1: word id 3 is outside 1..=2"));
        let path = write(&dir, "c.txt", "1 1:2\n2 2:x\n");
        let error = read_id_count_shard(&path, 0, 1, None).unwrap_err();
        assert!(
            error.to_string().contains("c.txt:2: expected a count"),
            "{error}"
        );
        let path = write(&dir, "c.txt", "1 1:2\n0 2:1\n");
        let error = read_id_count_shard(&path, 0, 1, None).unwrap_err();
        assert!(error.to_string().contains("c.txt:2: doc id 0"), "{error}");
    }

    #[test]
    fn text_vocabulary_ignores_sharding() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "t.txt", "the cat sat\n\nthe dog the end\nb a\n");
        let stop: HashSet<String> = ["the".to_owned()].into();
        let mut reference = None;
        for n in 1..5 {
            let shards: Vec<TextShard> = (0..n)
                .map(|s| read_text_shard(&path, s, n).unwrap())
                .collect();
            assert_eq!(shards.iter().map(|s| s.docs.len()).sum::<usize>(), 4);
            let parts: Vec<_> = shards
                .iter()
                .map(|s| (s.words.clone(), s.counts.clone()))
                .collect();
            let vocabulary = build_vocabulary(&parts, 1, &stop);
            assert_eq!(vocabulary, ["a", "b", "cat", "dog", "end", "sat"]);
            reference.get_or_insert(vocabulary);
        }
        let parts = vec![(vec!["x".to_owned(), "y".to_owned()], vec![3, 1])];
        assert_eq!(build_vocabulary(&parts, 2, &HashSet::new()), ["x"]);
    }

    #[test]
    fn vocabulary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "v.txt", "alpha\nbeta\n");
        assert_eq!(read_vocabulary(&path).unwrap(), ["alpha", "beta"]);
        let path = write(&dir, "v.txt", "alpha\n\nbeta\n");
        let error = read_vocabulary(&path).unwrap_err();
        assert!(error.to_string().contains("v.txt:2: expected a word"));
    }
}
