//! word2vec on sentences in memory or on a text file: the STRADS-AP app `word2vec::train`, as
//! `strads word2vec` calls it; and writing vectors in word2vec's formats.

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use numpy::{IntoPyArray, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strads_ap::ApConfig;
use strads_ap_apps::word2vec::{
    train, write_vectors, Architecture, InMemorySentences, Word2vecParams, WordVectors,
};

use crate::convert::{ap_app_error, to_py};
use crate::interrupt::run_interruptible;

/// Trains word vectors on `sentences` (lists of tokens) or, when it is None, on the text file
/// `path` (one sentence per line). The parameters are `strads word2vec`'s flags; `sync_words`
/// None is the CLI's default. Returns a dict: `words` (the vocabulary, most frequent first),
/// `vectors` (float32, the rows of the words one after the other), `corpus_words`, `trace` (one dict per epoch)
/// and the load and train seconds; `on_progress(record)` is called after each epoch.
#[pyfunction]
#[pyo3(signature = (sentences, path, dim, window, negative, min_count, sample, epochs, alpha,
    min_alpha, seed, cbow, shared_negatives, sync_words, threads, on_progress))]
#[allow(clippy::too_many_arguments)]
pub fn fit_word2vec<'py>(
    py: Python<'py>,
    sentences: Option<Vec<Vec<String>>>,
    path: Option<PathBuf>,
    dim: usize,
    window: usize,
    negative: usize,
    min_count: u64,
    sample: f64,
    epochs: usize,
    alpha: f64,
    min_alpha: f64,
    seed: u64,
    cbow: bool,
    shared_negatives: bool,
    sync_words: Option<usize>,
    threads: usize,
    on_progress: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    if threads == 0 {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    let base = match (sentences, path) {
        (Some(sentences), None) => {
            Word2vecParams::in_memory(InMemorySentences::new(sentences).map_err(ap_app_error)?)
        }
        (None, Some(path)) => Word2vecParams::new(&path),
        _ => {
            return Err(PyValueError::new_err(
                "give either sentences or the path of a text file",
            ))
        }
    };
    let stop = Arc::new(AtomicUsize::new(0));
    let params = Word2vecParams {
        dim,
        window,
        negative,
        min_count,
        sample,
        epochs,
        alpha,
        min_alpha,
        seed,
        architecture: if cbow {
            Architecture::Cbow
        } else {
            Architecture::SkipGram
        },
        shared_negatives,
        sync_words: sync_words.unwrap_or(Word2vecParams::default_sync_words(shared_negatives)),
        ..base
    };
    let fit = run_interruptible(py, stop.clone(), &on_progress, move |progress| {
        train(&ApConfig::threads(threads), &params, progress.hooks(stop))
    })?
    .map_err(ap_app_error)?
    .ok_or_else(|| PyValueError::new_err("a single process returns the fit"))?;
    let result = PyDict::new(py);
    result.set_item("words", fit.vectors.words)?;
    result.set_item("dim", fit.vectors.dim)?;
    // Row-major, one row per word: reshaped by the caller.
    result.set_item("vectors", fit.vectors.values.into_pyarray(py))?;
    result.set_item("corpus_words", fit.corpus_words)?;
    result.set_item("words_per_step", fit.words_per_step)?;
    result.set_item("load_seconds", fit.load_seconds)?;
    result.set_item("train_seconds", fit.train_seconds)?;
    result.set_item("trace", to_py(py, &fit.trace)?)?;
    Ok(result)
}

/// Writes `words` and their `vectors` (float32, one row per word) to `path` in word2vec's text
/// or binary format, atomically (the file appears whole or not at all).
#[pyfunction]
pub fn write_word_vectors<'py>(
    path: PathBuf,
    words: Vec<String>,
    vectors: PyReadonlyArray2<'py, f32>,
    binary: bool,
) -> PyResult<()> {
    let view = vectors.as_array();
    let (rows, dim) = view.dim();
    if rows != words.len() {
        return Err(PyValueError::new_err(format!(
            "{} words but {rows} vectors",
            words.len()
        )));
    }
    let vectors = WordVectors {
        words,
        dim,
        // Row-major whatever the array's layout.
        values: view.iter().copied().collect(),
    };
    write_vectors(&path, &vectors, binary)
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))
}
