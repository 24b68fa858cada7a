//! Multinomial logistic regression on rows in memory: the STRADS-AP app `mlr::train`, as
//! `strads mlr` calls it, with the examples given as CSR arrays and integer labels.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strads_ap::{ApConfig, Consistency};
use strads_ap_apps::mlr::{train, InMemoryExamples, LbfgsSettings, MlrParams, SgdSettings, Solver};

use crate::convert::{ap_app_error, to_py};
use crate::csr::{sparse_rows, IndexArray};
use crate::interrupt::run_interruptible;

/// Fits multinomial logistic regression on the CSR matrix (`indptr`, `indices`: int32 or int64;
/// `data`) of `n_cols` columns with whole-number labels `y` (the estimator passes class indices
/// `0..K`). `solver` is "lbfgs" (then `tol`, `max_iter`, `memory` apply) or "sgd" (`epochs`,
/// `batch`, `step` (None: the CLI's default), `decay`, `staleness`, `seed`). Returns a dict:
/// `weights` (feature-major, `(n_cols + intercept) x K` flattened), `classes`, the objective,
/// gradient norm, iterations, stop reason and `trace` (one dict per L-BFGS iteration or SGD
/// epoch); `on_progress(record)` is called with each trace record as it is made.
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, y, n_cols, lam, l1, intercept, solver, tol, max_iter,
    memory, epochs, batch, step, decay, staleness, seed, threads, on_progress))]
#[allow(clippy::too_many_arguments)]
pub fn fit_mlr<'py>(
    py: Python<'py>,
    indptr: Bound<'py, PyAny>,
    indices: Bound<'py, PyAny>,
    data: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    n_cols: usize,
    lam: f64,
    l1: f64,
    intercept: bool,
    solver: &str,
    tol: f64,
    max_iter: usize,
    memory: usize,
    epochs: usize,
    batch: usize,
    step: Option<f64>,
    decay: f64,
    staleness: u32,
    seed: u64,
    threads: usize,
    on_progress: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let solver = match solver {
        "lbfgs" => Solver::Lbfgs(LbfgsSettings {
            memory,
            tol,
            max_iterations: max_iter,
        }),
        "sgd" => Solver::Sgd(SgdSettings {
            epochs,
            batch,
            step,
            decay,
            consistency: match staleness {
                0 => Consistency::Bsp,
                s => Consistency::Ssp(s),
            },
            seed,
        }),
        other => {
            return Err(PyValueError::new_err(format!(
                "solver must be 'lbfgs' or 'sgd', got {other:?}"
            )))
        }
    };
    if threads == 0 {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    if !(l1.is_finite() && l1 >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "l1 must be finite and >= 0, got {l1}"
        )));
    }
    let rows = sparse_rows(
        &IndexArray::extract(&indptr, "indptr")?,
        &IndexArray::extract(&indices, "indices")?,
        data.as_slice()?,
        y.as_slice()?,
        n_cols,
    )?;
    let examples = InMemoryExamples::new(rows, n_cols).map_err(ap_app_error)?;
    let stop = Arc::new(AtomicUsize::new(0));
    let params = MlrParams {
        lambda: lam,
        l1,
        intercept,
        solver,
        ..MlrParams::in_memory(examples)
    };
    let fit = run_interruptible(py, stop.clone(), &on_progress, move |progress| {
        train(&ApConfig::threads(threads), &params, progress.hooks(stop))
    })?
    .map_err(ap_app_error)?
    .ok_or_else(|| PyValueError::new_err("a single process returns the fit"))?;
    let result = PyDict::new(py);
    result.set_item("classes", fit.classes.labels().to_vec())?;
    result.set_item("features", fit.shape.features)?;
    result.set_item("objective", fit.objective)?;
    result.set_item("gradient_norm", fit.gradient_norm)?;
    result.set_item("iterations", fit.iterations)?;
    result.set_item("stop_reason", to_py(py, &fit.stop)?)?;
    result.set_item("train_accuracy", fit.train.accuracy)?;
    result.set_item("train_log_loss", fit.train.log_loss)?;
    result.set_item("load_seconds", fit.load_seconds)?;
    result.set_item("solve_seconds", fit.solve_seconds)?;
    result.set_item("trace", to_py(py, &fit.trace)?)?;
    result.set_item("weights", fit.weights.into_pyarray(py))?;
    Ok(result)
}
