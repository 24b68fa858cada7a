//! A binary cache of a parsed UCI docword file ([`write_docword_cache`]): its documents, merged
//! and sorted, so that each worker reads exactly the documents of its id range
//! ([`DocwordCache::read_docs`]) at disk speed, with no parsing and no regrouping.
//!
//! The file, every number little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | magic `STRADSDC` |
//! | 8..12 | version ([`DOCWORD_CACHE_VERSION`]) |
//! | 12..16 | zero |
//! | 16..24, 24..32, 32..36 | the source's length, modification time (seconds, nanoseconds) |
//! | 36..40 | zero |
//! | 40..48, 48..56 | documents `D`, words `W` (the source's header) |
//! | 56..64, 64..72 | cells `c` (distinct `(doc, word)` pairs), tokens (the sum of the counts) |
//! | 72..80 | FNV-1a hash of bytes 0..72 |
//! | then | where each document's cells end `u64 x D` |
//! | then | words `u32 x c` (0-based), counts `u32 x c` |
//!
//! Document `d`'s cells are its words in increasing order, each with the sum of its counts in
//! the source (a repeated `(doc, word)` line adds up, as when the text is read).

use std::io::Write;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::cache_file::{fnv1a, has_magic, CacheFile, SourceStamp};
use crate::corpus::{check_docword_total, read_docword_header, read_docword_shard, WordCount};
use crate::error::DataError;

/// The first bytes of every docword cache.
pub const DOCWORD_CACHE_MAGIC: &[u8; 8] = b"STRADSDC";

/// The layout version this build writes and reads.
pub const DOCWORD_CACHE_VERSION: u32 = 1;

const HEADER_BYTES: u64 = 80;

/// What a docword cache holds, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocwordCacheHeader {
    /// The source when the cache was made.
    pub source: SourceStamp,
    /// Documents `D` (empty ones included).
    pub docs: u64,
    /// Vocabulary size `W`.
    pub words: u64,
    /// Distinct `(doc, word)` pairs.
    pub cells: u64,
    /// Tokens in the corpus.
    pub tokens: u64,
}

impl DocwordCacheHeader {
    fn encode(&self) -> [u8; HEADER_BYTES as usize] {
        let mut bytes = [0u8; HEADER_BYTES as usize];
        bytes[0..8].copy_from_slice(DOCWORD_CACHE_MAGIC);
        bytes[8..12].copy_from_slice(&DOCWORD_CACHE_VERSION.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.source.len.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.source.modified_seconds.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.source.modified_nanos.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.docs.to_le_bytes());
        bytes[48..56].copy_from_slice(&self.words.to_le_bytes());
        bytes[56..64].copy_from_slice(&self.cells.to_le_bytes());
        bytes[64..72].copy_from_slice(&self.tokens.to_le_bytes());
        let hash = fnv1a(&bytes[..72]);
        bytes[72..80].copy_from_slice(&hash.to_le_bytes());
        bytes
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<DocwordCacheHeader, DataError> {
        let bad = |message: String| Err(DataError::invalid(path, message));
        if bytes.len() < HEADER_BYTES as usize || &bytes[0..8] != DOCWORD_CACHE_MAGIC {
            return bad("not a Strads docword cache (it does not start with `STRADSDC`)".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let version = u32_at(8);
        if version != DOCWORD_CACHE_VERSION {
            return bad(format!(
                "a docword cache of version {version}; this build reads version \
                 {DOCWORD_CACHE_VERSION}: make it again from its source"
            ));
        }
        if u64_at(72) != fnv1a(&bytes[..72]) {
            return bad("the cache's header is corrupt (its hash does not match)".into());
        }
        Ok(DocwordCacheHeader {
            source: SourceStamp {
                len: u64_at(16),
                modified_seconds: u64_at(24) as i64,
                modified_nanos: u32_at(32),
            },
            docs: u64_at(40),
            words: u64_at(48),
            cells: u64_at(56),
            tokens: u64_at(64),
        })
    }

    /// Where the sections start: document ends, words, counts, and the file's length (in
    /// `u128`, so that a corrupt count cannot overflow).
    fn layout(&self) -> [u128; 4] {
        let (d, c) = (self.docs as u128, self.cells as u128);
        let ends = HEADER_BYTES as u128;
        let words = ends + 8 * d;
        let counts = words + 4 * c;
        [ends, words, counts, counts + 4 * c]
    }
}

/// Whether `path` starts with [`DOCWORD_CACHE_MAGIC`].
pub fn is_docword_cache(path: &Path) -> Result<bool, DataError> {
    has_magic(path, DOCWORD_CACHE_MAGIC)
}

/// Parses the docword file `source` whole (with the errors of reading it as text, its header's
/// `NNZ` and a nonempty corpus checked) and writes its cache to `out` atomically; returns the
/// header written.
pub fn write_docword_cache(source: &Path, out: &Path) -> Result<DocwordCacheHeader, DataError> {
    let stamp = SourceStamp::of(source)?;
    let text_header = read_docword_header(source)?;
    let mut cells = read_docword_shard(source, &text_header, 0, 1)?;
    let tokens: u64 = cells.iter().map(|c| u64::from(c.count)).sum();
    check_docword_total(source, &text_header, cells.len(), tokens)?;
    cells.sort_unstable_by_key(|c| (c.doc, c.word));
    // Repeated (doc, word) lines add up, as the loader's grouping of text cells does.
    cells.dedup_by(|later, kept| {
        let same = (later.doc, later.word) == (kept.doc, kept.word);
        if same {
            kept.count += later.count;
        }
        same
    });
    let header = DocwordCacheHeader {
        source: stamp,
        docs: text_header.docs as u64,
        words: text_header.words as u64,
        cells: cells.len() as u64,
        tokens,
    };
    write_atomic(out, |w| {
        w.write_all(&header.encode())?;
        let mut at = 0usize;
        for doc in 0..text_header.docs {
            while at < cells.len() && cells[at].doc as usize == doc {
                at += 1;
            }
            w.write_all(&(at as u64).to_le_bytes())?;
        }
        for cell in &cells {
            w.write_all(&cell.word.to_le_bytes())?;
        }
        for cell in &cells {
            w.write_all(&cell.count.to_le_bytes())?;
        }
        Ok(())
    })?;
    Ok(header)
}

/// An open docword cache whose header and length were checked.
#[derive(Debug)]
pub struct DocwordCache {
    cache: CacheFile,
    header: DocwordCacheHeader,
}

impl DocwordCache {
    /// Opens `path` and checks its header and length.
    pub fn open(path: &Path) -> Result<DocwordCache, DataError> {
        let (cache, head, len) = CacheFile::open(path, HEADER_BYTES)?;
        let header = DocwordCacheHeader::decode(path, &head)?;
        cache.check_length(len, header.layout()[3])?;
        Ok(DocwordCache { cache, header })
    }

    /// The header.
    pub fn header(&self) -> &DocwordCacheHeader {
        &self.header
    }

    /// Bytes read so far (the header included).
    pub fn bytes_read(&self) -> u64 {
        self.cache.bytes_read
    }

    /// Fails unless the cache was made from `source` as it is now (same length and
    /// modification time).
    pub fn check_source(&self, source: &Path) -> Result<(), DataError> {
        self.header.source.check_unchanged(&self.cache.path, source)
    }

    fn read_u64s(&mut self, at: u128, n: u128) -> Result<Vec<u64>, DataError> {
        Ok(self
            .cache
            .read(at, 8 * n)?
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect())
    }

    fn read_u32s(&mut self, at: u128, n: u128) -> Result<Vec<u32>, DataError> {
        Ok(self
            .cache
            .read(at, 4 * n)?
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")))
            .collect())
    }

    /// The cells of documents `docs` (0-based ids), by document and then increasing word:
    /// checked to be what [`write_docword_cache`] writes (words below `W` and increasing within
    /// a document, counts positive, documents' ends in order).
    pub fn read_docs(&mut self, docs: std::ops::Range<u64>) -> Result<Vec<WordCount>, DataError> {
        let header = self.header;
        if docs.start > docs.end || docs.end > header.docs {
            return Err(DataError::invalid(
                &self.cache.path,
                format!("documents {docs:?} asked of a corpus of {}", header.docs),
            ));
        }
        let [ends_at, words_at, counts_at, _] = header.layout();
        let start = match docs.start {
            0 => 0,
            first => self.read_u64s(ends_at + 8 * u128::from(first - 1), 1)?[0],
        };
        let ends = self.read_u64s(
            ends_at + 8 * u128::from(docs.start),
            u128::from(docs.end - docs.start),
        )?;
        let end = ends.last().copied().unwrap_or(start);
        let ordered = ends.first().is_none_or(|&e| e >= start)
            && ends.windows(2).all(|w| w[0] <= w[1])
            && end <= header.cells;
        if !ordered {
            return Err(self
                .cache
                .corrupt(format!("the ends of documents {docs:?} are out of order")));
        }
        let n = u128::from(end - start);
        let words = self.read_u32s(words_at + 4 * u128::from(start), n)?;
        let counts = self.read_u32s(counts_at + 4 * u128::from(start), n)?;
        let mut cells = Vec::with_capacity(words.len());
        let mut at = 0usize;
        for (doc, &doc_end) in docs.clone().zip(&ends) {
            let doc_end = (doc_end - start) as usize;
            let doc_words = &words[at..doc_end];
            let good = doc_words.windows(2).all(|w| w[0] < w[1])
                && doc_words.iter().all(|&w| u64::from(w) < header.words)
                && counts[at..doc_end].iter().all(|&c| c > 0);
            if !good {
                return Err(self.cache.corrupt(format!(
                    "document {doc} has unsorted or out-of-range words or a zero count"
                )));
            }
            for (&word, &count) in doc_words.iter().zip(&counts[at..doc_end]) {
                cells.push(WordCount {
                    doc: doc as u32,
                    word,
                    count,
                });
            }
            at = doc_end;
        }
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text's cells, merged by `(doc, word)` and sorted: what the cache must hold.
    fn merged(mut cells: Vec<WordCount>) -> Vec<WordCount> {
        cells.sort_unstable_by_key(|c| (c.doc, c.word));
        let mut out: Vec<WordCount> = Vec::new();
        for c in cells {
            match out.last_mut() {
                Some(last) if (last.doc, last.word) == (c.doc, c.word) => last.count += c.count,
                _ => out.push(c),
            }
        }
        out
    }

    #[test]
    fn every_document_range_of_the_cache_is_the_text_merged() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("x.docword");
        // Five documents (the fourth empty), lines out of order, a repeated pair, a comment.
        let text = "5\n6\n8\n3 2 1\n1 4 2\n# c\n1 1 3\n2 6 1\n1 4 5\n5 3 2\n3 1 1\n5 1 7\n";
        std::fs::write(&source, text).unwrap();
        let cache = dir.path().join("x.cache");
        let header = write_docword_cache(&source, &cache).unwrap();
        assert_eq!(
            (header.docs, header.words, header.cells, header.tokens),
            (5, 6, 7, 22)
        );
        assert!(is_docword_cache(&cache).unwrap() && !is_docword_cache(&source).unwrap());
        let text_header = read_docword_header(&source).unwrap();
        let expected = merged(read_docword_shard(&source, &text_header, 0, 1).unwrap());
        let mut reader = DocwordCache::open(&cache).unwrap();
        reader.check_source(&source).unwrap();
        for first in 0..=5u64 {
            for last in first..=5 {
                let want: Vec<WordCount> = expected
                    .iter()
                    .filter(|c| (first..last).contains(&u64::from(c.doc)))
                    .copied()
                    .collect();
                assert_eq!(
                    reader.read_docs(first..last).unwrap(),
                    want,
                    "{first}..{last}"
                );
            }
        }
        assert!(reader.read_docs(2..6).is_err());
        // The source changed: the cache is stale.
        std::fs::write(&source, format!("{text}4 2 1\n")).unwrap();
        let stale = reader.check_source(&source).unwrap_err().to_string();
        assert!(stale.contains("stale"), "{stale}");
    }

    #[test]
    fn a_bad_source_is_the_texts_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("x.docword");
        std::fs::write(&source, "2\n3\n2\n1 1 1\n2 9 1\n").unwrap();
        let cache = dir.path().join("x.cache");
        let error = write_docword_cache(&source, &cache)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("x.docword") && error.contains(":5"),
            "{error}"
        );
        assert!(!cache.exists());
        std::fs::write(&source, "2\n3\n3\n1 1 1\n2 3 1\n").unwrap();
        let error = write_docword_cache(&source, &cache)
            .unwrap_err()
            .to_string();
        assert!(error.contains("NNZ"), "{error}");
    }

    #[test]
    fn a_truncated_or_corrupt_cache_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("x.docword");
        std::fs::write(&source, "2\n3\n3\n1 1 1\n1 2 4\n2 3 1\n").unwrap();
        let cache = dir.path().join("x.cache");
        write_docword_cache(&source, &cache).unwrap();
        let good = std::fs::read(&cache).unwrap();
        let outcome = |bytes: &[u8]| {
            std::fs::write(&cache, bytes).unwrap();
            DocwordCache::open(&cache)?.read_docs(0..2)
        };
        let truncated = outcome(&good[..good.len() - 4]).unwrap_err().to_string();
        assert!(
            truncated.contains("x.cache") && truncated.contains("truncated"),
            "{truncated}"
        );
        // Document 0's two words swapped.
        let mut swapped = good.clone();
        let words_at = 80 + 8 * 2;
        swapped[words_at..words_at + 4].copy_from_slice(&1u32.to_le_bytes());
        swapped[words_at + 4..words_at + 8].copy_from_slice(&0u32.to_le_bytes());
        let unsorted = outcome(&swapped).unwrap_err().to_string();
        assert!(
            unsorted.contains("corrupt") && unsorted.contains("document 0"),
            "{unsorted}"
        );
        let mut header = good.clone();
        header[40] ^= 1;
        let hash = outcome(&header).unwrap_err().to_string();
        assert!(hash.contains("hash"), "{hash}");
    }
}
