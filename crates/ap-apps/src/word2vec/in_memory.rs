//! [`InMemorySentences`]: a corpus held in memory (the Python bindings' lists of tokens) instead
//! of a text file.

use std::sync::Arc;

use super::Word2vecError;

/// Sentences of tokens in memory, shared by the worker threads of one process: worker `p` of `P`
/// takes the `p`-th contiguous range of sentences (near-equal counts), as it would take a byte
/// range of a file's lines. One process only. Two values are equal when they share the same
/// sentences.
#[derive(Clone, Debug)]
pub struct InMemorySentences {
    sentences: Arc<Vec<Vec<String>>>,
}

impl InMemorySentences {
    /// Checks that every token is what a line of a text file could hold (not empty, no
    /// whitespace: a vectors file writes one word per field), naming the first offending
    /// sentence and token.
    pub fn new(sentences: Vec<Vec<String>>) -> Result<Self, Word2vecError> {
        for (i, sentence) in sentences.iter().enumerate() {
            for (j, token) in sentence.iter().enumerate() {
                if token.is_empty() || token.chars().any(char::is_whitespace) {
                    return Err(Word2vecError::InvalidArgument(format!(
                        "sentence {i}, token {j}: {token:?} is empty or holds whitespace (a \
                         vectors file holds one word per field)"
                    )));
                }
            }
        }
        Ok(InMemorySentences {
            sentences: Arc::new(sentences),
        })
    }

    /// Number of sentences.
    pub fn len(&self) -> usize {
        self.sentences.len()
    }

    /// Whether there is no sentence.
    pub fn is_empty(&self) -> bool {
        self.sentences.is_empty()
    }

    /// Worker `worker` of `workers`'s sentences.
    pub(crate) fn share(&self, worker: usize, workers: usize) -> &[Vec<String>] {
        let n = self.len();
        &self.sentences[worker * n / workers..(worker + 1) * n / workers]
    }
}

impl PartialEq for InMemorySentences {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.sentences, &other.sentences)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &[&[&str]]) -> Vec<Vec<String>> {
        text.iter()
            .map(|s| s.iter().map(|t| t.to_string()).collect())
            .collect()
    }

    #[test]
    fn workers_share_the_sentences_in_order() {
        let text = InMemorySentences::new(sentences(&[&["a", "b"], &[], &["c"]])).unwrap();
        let all: Vec<Vec<String>> = (0..2).flat_map(|w| text.share(w, 2).to_vec()).collect();
        assert_eq!(all, sentences(&[&["a", "b"], &[], &["c"]]));
        assert_eq!(text.share(0, 2).len(), 1);
    }

    #[test]
    fn tokens_a_text_file_cannot_hold_are_named() {
        for (bad, expected) in [("", "sentence 1, token 1"), ("a b", "sentence 1, token 1")] {
            let error = InMemorySentences::new(sentences(&[&["x"], &["y", bad]])).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
    }
}
