//! LDA on documents in memory: the library's `lda::train`, as `strads lda` calls it, and the
//! Gibbs fold-in kernel (`lda::kernels::fold_in`) for new documents.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strads_apps::lda::kernels::{fold_in, FastRng, FoldInParams};
use strads_apps::lda::{train, CorpusSource, InMemoryCorpus, LdaParams, LocalDoc, SamplerKind};
use strads_engine::ClusterConfig;
use strads_io::corpus::CorpusFormat;

use crate::convert::{app_error, to_py};
use crate::interrupt::run_interruptible;

/// The `auto` sampler of the CLI samples exactly up to this many topics, else by MH.
const AUTO_EXACT_MAX_TOPICS: usize = 64;

/// The documents of a CSR document-term matrix of counts (rows: documents).
fn documents(indptr: &[i64], words: &[u32], counts: &[u32]) -> PyResult<Vec<LocalDoc>> {
    if words.len() != counts.len() {
        return Err(PyValueError::new_err(
            "word indices and counts differ in length",
        ));
    }
    let mut docs = Vec::with_capacity(indptr.len().saturating_sub(1));
    for (d, pair) in indptr.windows(2).enumerate() {
        let (start, end) = (pair[0], pair[1]);
        if start < 0 || end < start || end as usize > words.len() {
            return Err(PyValueError::new_err(format!(
                "document {d}: row offsets {start}..{end} are out of range"
            )));
        }
        let range = start as usize..end as usize;
        docs.push(LocalDoc {
            id: d as u64,
            words: words[range.clone()]
                .iter()
                .copied()
                .zip(counts[range].iter().copied())
                .collect(),
        });
    }
    Ok(docs)
}

/// Trains LDA on the documents of the CSR count matrix (`indptr`, `words`, `counts`) over a
/// vocabulary of `n_words` words. `sampler` is "auto", "exact" or "mh". Returns a dict with
/// `word_topic` (the `K x W` counts `n_kw`, flattened row-major), `doc_topic` (the `D x K`
/// counts `n_dk`), the log-likelihood and `trace`; `on_progress(record)` is called at every
/// log-likelihood evaluation.
#[pyfunction]
#[pyo3(signature = (indptr, words, counts, n_words, topics, iterations, alpha, beta, seed,
    sampler, mh_steps, threads, on_progress))]
#[allow(clippy::too_many_arguments)]
pub fn fit_lda<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    words: PyReadonlyArray1<'py, u32>,
    counts: PyReadonlyArray1<'py, u32>,
    n_words: usize,
    topics: usize,
    iterations: usize,
    alpha: f64,
    beta: f64,
    seed: u64,
    sampler: &str,
    mh_steps: usize,
    threads: usize,
    on_progress: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let sampler = match sampler {
        "exact" => SamplerKind::Exact,
        "auto" if topics <= AUTO_EXACT_MAX_TOPICS => SamplerKind::Exact,
        "auto" | "mh" => SamplerKind::Mh { cycles: mh_steps },
        other => {
            return Err(PyValueError::new_err(format!(
                "sampler must be 'auto', 'exact' or 'mh', got {other:?}"
            )))
        }
    };
    if threads == 0 {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    let docs = documents(indptr.as_slice()?, words.as_slice()?, counts.as_slice()?)?;
    let n_docs = docs.len();
    let corpus = InMemoryCorpus::new(docs, n_words, None).map_err(app_error)?;
    let stop = Arc::new(AtomicUsize::new(0));
    let params = LdaParams {
        corpus: CorpusSource {
            path: "<documents in memory>".into(),
            format: CorpusFormat::Docword,
            vocab: None,
            min_count: 1,
            stopwords: None,
            in_memory: Some(corpus),
        },
        topics,
        iterations,
        alpha,
        beta,
        seed,
        sampler,
        loglik_every: 1,
        check_counts: false,
        doc_topics: true,
        checkpointing: Default::default(),
    };
    let model = run_interruptible(py, stop.clone(), &on_progress, move |progress| {
        train(
            &ClusterConfig::threads(threads),
            &params,
            progress.hooks(stop),
        )
    })?
    .map_err(app_error)?
    .ok_or_else(|| PyValueError::new_err("a single process returns the model"))?;
    let mut word_topic = vec![0u64; topics * n_words];
    for (w, row) in model.word_topic.iter().enumerate() {
        for &(k, count) in row {
            word_topic[k as usize * n_words + w] = u64::from(count);
        }
    }
    let mut doc_topic = vec![0u64; n_docs * topics];
    for (d, row) in model.doc_topic.iter().flatten() {
        for &(k, count) in row {
            doc_topic[*d as usize * topics + k as usize] = u64::from(count);
        }
    }
    let result = PyDict::new(py);
    result.set_item("word_topic", PyArray1::from_vec(py, word_topic))?;
    result.set_item("doc_topic", PyArray1::from_vec(py, doc_topic))?;
    result.set_item("loglik", model.loglik)?;
    result.set_item("loglik_per_token", model.loglik_per_token())?;
    result.set_item("topic_totals", PyArray1::from_vec(py, model.topic_totals))?;
    result.set_item("iterations", model.iterations)?;
    result.set_item("tokens", model.tokens)?;
    result.set_item("train_seconds", model.train_seconds)?;
    result.set_item("trace", to_py(py, &model.trace)?)?;
    Ok(result)
}

/// The topic proportions (`D x K`, flattened) of the documents of the CSR count matrix under
/// the topics `phi` (`K x W`, flattened), by Gibbs fold-in; document `d` draws from its own
/// random stream of `seed`, so the answer does not depend on the other documents.
#[pyfunction]
#[pyo3(signature = (indptr, words, counts, phi, topics, alpha, sweeps, burn_in, seed))]
#[allow(clippy::too_many_arguments)]
pub fn fold_in_lda<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    words: PyReadonlyArray1<'py, u32>,
    counts: PyReadonlyArray1<'py, u32>,
    phi: PyReadonlyArray1<'py, f64>,
    topics: usize,
    alpha: f64,
    sweeps: usize,
    burn_in: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let docs = documents(indptr.as_slice()?, words.as_slice()?, counts.as_slice()?)?;
    let phi = phi.as_slice()?.to_vec();
    if topics == 0 || phi.len() % topics != 0 {
        return Err(PyValueError::new_err("phi must hold K x W values"));
    }
    let n_words = phi.len() / topics;
    if let Some((d, &(w, _))) = docs
        .iter()
        .enumerate()
        .find_map(|(d, doc)| Some((d, doc.words.iter().find(|(w, _)| *w as usize >= n_words)?)))
    {
        return Err(PyValueError::new_err(format!(
            "document {d}: word {w} is outside the model's {n_words} words"
        )));
    }
    let params = FoldInParams {
        alpha,
        sweeps,
        burn_in,
    };
    let theta = py.allow_threads(move || {
        std::panic::catch_unwind(move || {
            let mut theta = Vec::with_capacity(docs.len() * topics);
            for doc in &docs {
                let mut rng = FastRng::new(seed, doc.id);
                theta.extend(fold_in(&doc.words, &phi, topics, params, &mut rng));
            }
            theta
        })
    });
    let theta = theta.map_err(|_| {
        pyo3::exceptions::PyRuntimeError::new_err(
            "internal error in the strads library's fold-in (please report it)",
        )
    })?;
    Ok(PyArray1::from_vec(py, theta))
}
