//! Lasso and sparse logistic regression on rows in memory: the library's
//! `sparse_regression::solve`, as `strads lasso` / `strads logreg` call it.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strads_apps::checkpoint::Checkpointing;
use strads_apps::sparse_regression::{
    solve, DataSource, InMemoryRows, Layout, LossKind, Penalty, RegressionParams,
};
use strads_core::{SchedulerKind, SchedulerParams};
use strads_engine::ClusterConfig;

use crate::convert::{app_error, to_py};
use crate::csr::{sparse_rows, IndexArray};
use crate::interrupt::run_interruptible;

/// Fits Lasso (`loss="squared"`) or sparse logistic regression (`loss="logistic"`, labels
/// -1/+1) on the CSR matrix (`indptr`, `indices`: int32 or int64; `data`) of `n_cols` columns
/// with labels `y`.
/// `penalty` is `"lambda"` (then `penalty_value` is lambda) or `"ratio"` (lambda = value x
/// lambda_max). Returns a dict: `coef` (a numpy array), the solution's numbers and `trace` (a
/// list of dicts, one per duality-gap evaluation); `on_progress(record)` is called with each
/// trace record as it is made.
#[pyfunction]
#[pyo3(signature = (loss, indptr, indices, data, y, n_cols, penalty, penalty_value, tol,
    max_iters, max_seconds, threads, layout, seed, on_progress))]
#[allow(clippy::too_many_arguments)]
pub fn fit_sparse_regression<'py>(
    py: Python<'py>,
    loss: &str,
    indptr: Bound<'py, PyAny>,
    indices: Bound<'py, PyAny>,
    data: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    n_cols: usize,
    penalty: &str,
    penalty_value: f64,
    tol: f64,
    max_iters: f64,
    max_seconds: f64,
    threads: usize,
    layout: &str,
    seed: u64,
    on_progress: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let loss = match loss {
        "squared" => LossKind::Squared,
        "logistic" => LossKind::Logistic,
        other => return Err(PyValueError::new_err(format!("unknown loss {other:?}"))),
    };
    let penalty = match penalty {
        "lambda" => Penalty::Absolute(penalty_value),
        "ratio" => Penalty::Ratio(penalty_value),
        other => return Err(PyValueError::new_err(format!("unknown penalty {other:?}"))),
    };
    let layout: Layout = layout.parse().map_err(PyValueError::new_err)?;
    if threads == 0 {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    let rows = sparse_rows(
        &IndexArray::extract(&indptr, "indptr")?,
        &IndexArray::extract(&indices, "indices")?,
        data.as_slice()?,
        y.as_slice()?,
        n_cols,
    )?;
    let rows = InMemoryRows::new(rows, n_cols).map_err(app_error)?;
    let stop = Arc::new(AtomicUsize::new(0));
    // The CLI's defaults for the column layout (README, "Layouts and their flags"); the rows
    // layout's scheduling keeps the CLI's defaults too.
    let params = RegressionParams {
        loss,
        data: DataSource::InMemory(rows),
        penalty,
        tol,
        max_passes: max_iters,
        max_seconds,
        scheduler: SchedulerParams {
            kind: SchedulerKind::Priority,
            schedule_size: match loss {
                LossKind::Squared => 256,
                LossKind::Logistic => 64,
            },
            eta: 1e-9,
            seed,
        },
        rho: match loss {
            LossKind::Squared => 1.0,
            LossKind::Logistic => 0.1,
        },
        staleness: 0,
        gap_every: match (layout, loss) {
            (Layout::Columns, _) => 20.0,
            (Layout::Rows, LossKind::Squared) => 2.0,
            (Layout::Rows, LossKind::Logistic) => 0.25,
        },
        screening: true,
        sweep_share: match loss {
            LossKind::Squared => 16.0,
            LossKind::Logistic => 0.25,
        },
        inner_passes: 4,
        layout,
        local_passes: 0,
        checkpointing: Checkpointing {
            stop_request: Some(stop.clone()),
            ..Default::default()
        },
    };
    let solution = run_interruptible(py, stop, &on_progress, move |progress| {
        let observer: strads_apps::sparse_regression::Observer = Arc::new(move |record| {
            progress.send(serde_json::to_value(record).unwrap_or_default());
        });
        solve(&ClusterConfig::threads(threads), &params, Some(observer))
    })?
    .map_err(app_error)?
    .ok_or_else(|| PyValueError::new_err("a single process returns the solution"))?;
    let result = PyDict::new(py);
    result.set_item("objective", solution.objective)?;
    result.set_item("duality_gap", solution.duality_gap)?;
    result.set_item("stop_reason", to_py(py, &solution.stop)?)?;
    result.set_item("converged", solution.converged())?;
    result.set_item("iterations", solution.iterations)?;
    result.set_item("rounds", solution.rounds)?;
    result.set_item("lambda", solution.lambda)?;
    result.set_item("lambda_max", solution.lambda_max)?;
    result.set_item("load_seconds", solution.load_seconds)?;
    result.set_item("solve_seconds", solution.solve_seconds)?;
    result.set_item("trace", to_py(py, &solution.trace)?)?;
    result.set_item("coef", solution.coefficients.into_pyarray(py))?;
    Ok(result)
}
