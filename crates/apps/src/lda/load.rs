//! Sharded corpus loading: every worker parses only its own byte range of the input; then the
//! documents are regrouped so that each worker holds whole documents (a contiguous range of
//! document ids for the id-based formats; its own lines for plain text), and the workers agree on
//! the corpus shape and on whether anyone met an error.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strads_engine::Worker;
use strads_io::corpus::{
    build_vocabulary, check_docword_total, check_nonempty_corpus, read_docword_header,
    read_docword_shard, read_id_count_shard, read_stopwords, read_text_shard, read_vocabulary,
    CorpusFormat, WordCount,
};
use strads_io::{is_docword_cache, shard_owned_bytes, DataError, DocwordCache};

use crate::error::AppError;

/// Where the corpus comes from and how to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusSource {
    /// The corpus file.
    pub path: PathBuf,
    /// Its format.
    pub format: CorpusFormat,
    /// A vocabulary file (one word per line, line i = word id i) for the id-based formats.
    pub vocab: Option<PathBuf>,
    /// Plain text: words seen fewer times in the whole corpus are dropped.
    pub min_count: u64,
    /// Plain text: a file of words to drop.
    pub stopwords: Option<PathBuf>,
    /// Documents held in memory (the Python bindings' arrays), read instead of `path` (one
    /// process only).
    pub in_memory: Option<InMemoryCorpus>,
}

/// Documents held in memory, shared by the worker threads of one process: worker `p` of `P`
/// takes the `p`-th contiguous range of documents, as it would of a docword file.
#[derive(Clone, Debug)]
pub struct InMemoryCorpus {
    docs: Arc<Vec<LocalDoc>>,
    words: usize,
    vocabulary: Option<Vec<String>>,
}

impl InMemoryCorpus {
    /// Checks the documents (words below `words`, strictly increasing within a document, counts
    /// positive; at least one token), naming the first offending document; empty documents
    /// count in `D` as in a file.
    pub fn new(
        docs: Vec<LocalDoc>,
        words: usize,
        vocabulary: Option<Vec<String>>,
    ) -> Result<Self, AppError> {
        let bad = |m: String| Err(AppError::InvalidArgument(m));
        if let Some(names) = &vocabulary {
            if names.len() != words {
                return bad(format!(
                    "the vocabulary has {} words, the documents' width is {words}",
                    names.len()
                ));
            }
        }
        for (index, doc) in docs.iter().enumerate() {
            if doc.id != index as u64 {
                return bad(format!("document {index} has id {}", doc.id));
            }
            if let Some(&(word, _)) = doc.words.iter().find(|(w, _)| *w as usize >= words) {
                return bad(format!(
                    "document {index}: word {word} is outside the vocabulary of {words} words"
                ));
            }
            if let Some(&(word, _)) = doc.words.iter().find(|(_, c)| *c == 0) {
                return bad(format!("document {index}: word {word} has count 0"));
            }
            if doc.words.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
                return bad(format!(
                    "document {index}: words must be strictly increasing"
                ));
            }
        }
        if docs.iter().all(|doc| doc.words.is_empty()) {
            return bad("the documents hold no tokens".into());
        }
        Ok(InMemoryCorpus {
            docs: Arc::new(docs),
            words,
            vocabulary,
        })
    }

    /// Worker `shard` of `peers`'s share, as [`load_corpus`] returns it.
    fn share(&self, shard: usize, peers: usize) -> LoadedCorpus {
        let total_docs = self.docs.len() as u64;
        let range = doc_range_start(shard, peers, total_docs) as usize
            ..doc_range_start(shard + 1, peers, total_docs) as usize;
        LoadedCorpus {
            docs: self.docs[range]
                .iter()
                .filter(|doc| !doc.words.is_empty())
                .cloned()
                .collect(),
            total_docs,
            words: self.words,
            total_tokens: self
                .docs
                .iter()
                .flat_map(|doc| &doc.words)
                .map(|&(_, count)| u64::from(count))
                .sum(),
            vocabulary: self.vocabulary.clone(),
            bytes_read: 0, // nothing read from a file
        }
    }
}

impl PartialEq for InMemoryCorpus {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.docs, &other.docs)
    }
}

impl Eq for InMemoryCorpus {}

/// One document held by a worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalDoc {
    /// 0-based document id in the whole corpus (the line index for plain text).
    pub id: u64,
    /// `(word, count)` pairs, by increasing word, counts positive.
    pub words: Vec<(u32, u32)>,
}

/// A worker's documents and the shape of the whole corpus.
#[derive(Clone, Debug)]
pub struct LoadedCorpus {
    /// This worker's non-empty documents.
    pub docs: Vec<LocalDoc>,
    /// Documents in the whole corpus (`D`, empty ones included).
    pub total_docs: u64,
    /// Vocabulary size `W`.
    pub words: usize,
    /// Tokens in the whole corpus.
    pub total_tokens: u64,
    /// Word names, when known (a vocabulary file, or built from plain text).
    pub vocabulary: Option<Vec<String>>,
    /// Bytes of the corpus file this worker read: the lines of its byte range (the vocabulary
    /// and stop-word files, which every worker reads whole, are not counted).
    pub bytes_read: u64,
}

impl LoadedCorpus {
    /// Tokens in this worker's documents.
    pub fn tokens_held(&self) -> u64 {
        self.docs
            .iter()
            .flat_map(|d| &d.words)
            .map(|&(_, count)| u64::from(count))
            .sum()
    }
}

/// What a worker tells the others after parsing: its numbers, or its error as a sentence.
#[derive(Serialize, Deserialize)]
struct Status<T> {
    result: Result<T, String>,
}

/// Agrees on success: if any worker failed, every worker returns an error (its own typed error, or
/// the first failing worker's message); otherwise every worker's summary, in worker order.
fn agree<T, S: Serialize + serde::de::DeserializeOwned>(
    worker: &mut Worker<'_>,
    local: Result<T, DataError>,
    summary: impl Fn(&T) -> S,
) -> Result<(T, Vec<S>), AppError> {
    let status = Status {
        result: local.as_ref().map(&summary).map_err(|e| e.to_string()),
    };
    let all: Vec<Status<S>> = worker.all_gather(&status)?;
    let local = local?;
    let mut summaries = Vec::with_capacity(all.len());
    for status in all {
        summaries.push(status.result.map_err(AppError::RemoteData)?);
    }
    Ok((local, summaries))
}

/// The first document id of worker `w` of `peers` when `docs` documents are split into contiguous
/// ranges.
fn doc_range_start(w: usize, peers: usize, docs: u64) -> u64 {
    (u128::from(docs) * w as u128 / peers as u128) as u64
}

/// The worker whose range holds document `doc`.
fn doc_owner(doc: u64, peers: usize, docs: u64) -> usize {
    let mut owner = (u128::from(doc) * peers as u128 / u128::from(docs.max(1))) as usize;
    owner = owner.min(peers - 1);
    while owner + 1 < peers && doc_range_start(owner + 1, peers, docs) <= doc {
        owner += 1;
    }
    while owner > 0 && doc_range_start(owner, peers, docs) > doc {
        owner -= 1;
    }
    owner
}

/// Groups cells (of any order, possibly repeating a `(doc, word)` pair) into documents.
fn cells_to_docs(mut cells: Vec<WordCount>) -> Vec<LocalDoc> {
    cells.sort_unstable_by_key(|c| (c.doc, c.word));
    let mut docs: Vec<LocalDoc> = Vec::new();
    for cell in cells {
        match docs.last_mut() {
            Some(doc) if doc.id == u64::from(cell.doc) => match doc.words.last_mut() {
                Some((word, count)) if *word == cell.word => *count += cell.count,
                _ => doc.words.push((cell.word, cell.count)),
            },
            _ => docs.push(LocalDoc {
                id: u64::from(cell.doc),
                words: vec![(cell.word, cell.count)],
            }),
        }
    }
    docs
}

/// Bytes of a cell on the wire: document, word, count (u32 each, little-endian).
const CELL_BYTES: usize = 12;

/// Sends every cell to the worker that owns its document, in messages of at most
/// [`strads_engine::MAX_MESSAGE_BYTES`]; returns this worker's documents.
fn route_cells(
    worker: &mut Worker<'_>,
    mut cells: Vec<WordCount>,
    total_docs: u64,
) -> Result<Vec<LocalDoc>, AppError> {
    let peers = worker.peers();
    let owner = |cell: &WordCount| doc_owner(u64::from(cell.doc), peers, total_docs);
    // Grouped by owner in place (the receiver sorts its cells anyway): each destination's
    // cells are one run, sent from a cursor, with no second copy of the shard.
    cells.sort_unstable_by_key(owner);
    let mut counts = vec![0u64; peers];
    cells.iter().for_each(|c| counts[owner(c)] += 1);
    let mut next: Vec<usize> = counts
        .iter()
        .scan(0usize, |start, &c| {
            let here = *start;
            *start += c as usize;
            Some(here)
        })
        .collect();
    let (mut mine, mut expected) = (Vec::new(), 0usize);
    worker.exchange_records(
        CELL_BYTES,
        &counts,
        |d, n, message| {
            for cell in &cells[next[d]..next[d] + n] {
                message.extend_from_slice(&cell.doc.to_le_bytes());
                message.extend_from_slice(&cell.word.to_le_bytes());
                message.extend_from_slice(&cell.count.to_le_bytes());
            }
            next[d] += n;
        },
        |chunk| {
            if chunk.first == 0 {
                // Sized once for every source's cells, never grown by doubling.
                expected += chunk.total as usize;
                mine.reserve_exact(expected - mine.len());
            }
            for c in chunk.bytes.chunks_exact(CELL_BYTES) {
                let field = |i: usize| u32::from_le_bytes(c[i..i + 4].try_into().expect("4 bytes"));
                mine.push(WordCount {
                    doc: field(0),
                    word: field(4),
                    count: field(8),
                });
            }
        },
    )?;
    drop(cells);
    Ok(cells_to_docs(mine))
}

fn token_count(cells: &[WordCount]) -> u64 {
    cells.iter().map(|c| u64::from(c.count)).sum()
}

/// The vocabulary file of a docword corpus, if given: it must name the `words` of the header
/// of `path`.
fn read_vocabulary_of(
    source: &CorpusSource,
    path: &std::path::Path,
    words: usize,
) -> Result<Option<Vec<String>>, DataError> {
    let Some(vocab_path) = &source.vocab else {
        return Ok(None);
    };
    let names = read_vocabulary(vocab_path)?;
    if names.len() != words {
        return Err(DataError::invalid(
            vocab_path,
            format!(
                "the vocabulary has {} words, the header of {} says W = {words}",
                names.len(),
                path.display(),
            ),
        ));
    }
    Ok(Some(names))
}

/// Loads this worker's documents of `source`.
pub fn load_corpus(
    worker: &mut Worker<'_>,
    source: &CorpusSource,
) -> Result<LoadedCorpus, AppError> {
    let (shard, peers) = (worker.index(), worker.peers());
    if let Some(in_memory) = &source.in_memory {
        return Ok(in_memory.share(shard, peers));
    }
    let path = &source.path;
    match source.format {
        CorpusFormat::Docword if is_docword_cache(path)? => {
            // A cache holds the documents merged and sorted: each worker reads its id range.
            let read = (|| {
                let mut cache = DocwordCache::open(path)?;
                let header = *cache.header();
                let vocabulary = read_vocabulary_of(source, path, header.words as usize)?;
                let cells = cache.read_docs(
                    doc_range_start(shard, peers, header.docs)
                        ..doc_range_start(shard + 1, peers, header.docs),
                )?;
                Ok((header, vocabulary, cells, cache.bytes_read()))
            })();
            let ((header, vocabulary, cells, bytes_read), _) = agree(worker, read, |_| ())?;
            Ok(LoadedCorpus {
                docs: cells_to_docs(cells),
                total_docs: header.docs,
                words: header.words as usize,
                total_tokens: header.tokens,
                vocabulary,
                bytes_read,
            })
        }
        CorpusFormat::Docword => {
            let parsed = read_docword_header(path).and_then(|header| {
                let vocabulary = read_vocabulary_of(source, path, header.words)?;
                let cells = read_docword_shard(path, &header, shard, peers)?;
                let bytes_read = shard_owned_bytes(path, shard, peers, header.data_start)?;
                Ok((header, vocabulary, cells, bytes_read))
            });
            let ((header, vocabulary, cells, bytes_read), summaries) =
                agree(worker, parsed, |(_, _, cells, _)| {
                    (cells.len(), token_count(cells))
                })?;
            let lines = summaries.iter().map(|s| s.0).sum();
            let total_tokens = summaries.iter().map(|s| s.1).sum();
            check_docword_total(path, &header, lines, total_tokens)?;
            let total_docs = header.docs as u64;
            let docs = route_cells(worker, cells, total_docs)?;
            Ok(LoadedCorpus {
                docs,
                total_docs,
                words: header.words,
                total_tokens,
                vocabulary,
                bytes_read,
            })
        }
        CorpusFormat::IdCount => {
            let parsed = (|| {
                let vocabulary = match &source.vocab {
                    Some(vocab_path) => Some(read_vocabulary(vocab_path)?),
                    None => None,
                };
                let bound = vocabulary.as_ref().map(Vec::len);
                let cells = read_id_count_shard(path, shard, peers, bound)?;
                Ok((vocabulary, cells, shard_owned_bytes(path, shard, peers, 0)?))
            })();
            let ((vocabulary, cells, bytes_read), summaries) =
                agree(worker, parsed, |(_, cells, _)| {
                    let max_doc = cells
                        .iter()
                        .map(|c| u64::from(c.doc) + 1)
                        .max()
                        .unwrap_or(0);
                    let max_word = cells.iter().map(|c| c.word as usize + 1).max().unwrap_or(0);
                    (max_doc, max_word, token_count(cells))
                })?;
            let total_tokens = summaries.iter().map(|s| s.2).sum();
            check_nonempty_corpus(path, total_tokens)?;
            let total_docs = summaries.iter().map(|s| s.0).max().unwrap_or(0);
            let words = match &vocabulary {
                Some(v) => v.len(),
                None => summaries.iter().map(|s| s.1).max().unwrap_or(0),
            };
            let docs = route_cells(worker, cells, total_docs)?;
            Ok(LoadedCorpus {
                docs,
                total_docs,
                words,
                total_tokens,
                vocabulary,
                bytes_read,
            })
        }
        CorpusFormat::Text => {
            let parsed = (|| {
                let stopwords = match &source.stopwords {
                    Some(stop_path) => read_stopwords(stop_path)?,
                    None => HashSet::new(),
                };
                let text = read_text_shard(path, shard, peers)?;
                Ok((stopwords, text, shard_owned_bytes(path, shard, peers, 0)?))
            })();
            let ((stopwords, text, bytes_read), _) = agree(worker, parsed, |_| ())?;
            // Every worker builds the same vocabulary from everyone's word counts.
            let parts: Vec<(Vec<String>, Vec<u64>, u64)> = worker.all_gather(&(
                text.words.clone(),
                text.counts.clone(),
                text.docs.len() as u64,
            ))?;
            let first_doc: u64 = parts[..shard].iter().map(|p| p.2).sum();
            let total_docs: u64 = parts.iter().map(|p| p.2).sum();
            let counts: Vec<(Vec<String>, Vec<u64>)> =
                parts.into_iter().map(|(w, c, _)| (w, c)).collect();
            let vocabulary = build_vocabulary(&counts, source.min_count, &stopwords);
            let index: std::collections::HashMap<&str, u32> = vocabulary
                .iter()
                .enumerate()
                .map(|(i, w)| (w.as_str(), i as u32))
                .collect();
            let global: Vec<Option<u32>> = text
                .words
                .iter()
                .map(|w| index.get(w.as_str()).copied())
                .collect();
            let mut docs = Vec::new();
            let mut local_tokens = 0u64;
            for (line, words) in text.docs.iter().enumerate() {
                let mut ids: Vec<u32> = words.iter().filter_map(|&w| global[w as usize]).collect();
                if ids.is_empty() {
                    continue;
                }
                ids.sort_unstable();
                local_tokens += ids.len() as u64;
                let mut doc = LocalDoc {
                    id: first_doc + line as u64,
                    words: Vec::new(),
                };
                for id in ids {
                    match doc.words.last_mut() {
                        Some((word, count)) if *word == id => *count += 1,
                        _ => doc.words.push((id, 1)),
                    }
                }
                docs.push(doc);
            }
            let total_tokens: u64 = worker.all_gather(&local_tokens)?.iter().sum();
            check_nonempty_corpus(path, total_tokens)?;
            Ok(LoadedCorpus {
                docs,
                total_docs,
                words: vocabulary.len(),
                total_tokens,
                vocabulary: Some(vocabulary),
                bytes_read,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ranges_have_one_owner() {
        for peers in 1..7 {
            for docs in 0..40u64 {
                for doc in 0..docs {
                    let owner = doc_owner(doc, peers, docs);
                    assert!(doc_range_start(owner, peers, docs) <= doc);
                    assert!(doc < doc_range_start(owner + 1, peers, docs));
                }
            }
        }
    }

    #[test]
    fn cells_merge_into_documents() {
        let cell = |doc, word, count| WordCount { doc, word, count };
        let docs = cells_to_docs(vec![
            cell(2, 1, 1),
            cell(0, 3, 2),
            cell(2, 1, 4),
            cell(2, 0, 1),
        ]);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].words, [(3, 2)]);
        assert_eq!(
            (docs[1].id, docs[1].words.clone()),
            (2, vec![(0, 1), (1, 5)])
        );
    }
}
