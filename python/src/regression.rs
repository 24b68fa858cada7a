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
use strads_io::SparseRows;

use crate::convert::{app_error, to_py};
use crate::interrupt::run_interruptible;

/// An index array as scipy stores it: int32 (the usual) or int64, read without a copy.
pub enum IndexArray<'py> {
    /// `int32` indices.
    I32(PyReadonlyArray1<'py, i32>),
    /// `int64` indices.
    I64(PyReadonlyArray1<'py, i64>),
}

impl<'py> IndexArray<'py> {
    /// Reads a 1-D int32 or int64 numpy array.
    pub fn extract(array: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(array) = array.extract::<PyReadonlyArray1<'py, i32>>() {
            return Ok(IndexArray::I32(array));
        }
        array
            .extract::<PyReadonlyArray1<'py, i64>>()
            .map(IndexArray::I64)
            .map_err(|_| {
                PyValueError::new_err(format!("{what} must be a 1-D int32 or int64 array"))
            })
    }

    /// The indices widened to `i64`, one by one.
    fn to_i64(&self) -> PyResult<Vec<i64>> {
        Ok(match self {
            IndexArray::I32(array) => array.as_slice()?.iter().map(|&i| i64::from(i)).collect(),
            IndexArray::I64(array) => array.as_slice()?.to_vec(),
        })
    }

    /// The indices as the library's `u32` columns, or the first that does not fit.
    fn to_u32(&self) -> PyResult<Vec<u32>> {
        let convert = |i: i64| {
            u32::try_from(i).map_err(|_| {
                PyValueError::new_err(format!("X has a column index {i} out of range"))
            })
        };
        match self {
            IndexArray::I32(array) => array
                .as_slice()?
                .iter()
                .map(|&i| convert(i.into()))
                .collect(),
            IndexArray::I64(array) => array.as_slice()?.iter().map(|&i| convert(i)).collect(),
        }
    }
}

/// Builds the library's rows from CSR arrays (0-based column indices), checking the shapes.
fn sparse_rows(
    indptr: &IndexArray<'_>,
    indices: &IndexArray<'_>,
    data: &[f64],
    labels: &[f64],
) -> PyResult<SparseRows> {
    let indptr = indptr.to_i64()?;
    let bad = |m: String| Err(PyValueError::new_err(m));
    if indptr.len() != labels.len() + 1 {
        return bad(format!(
            "X has {} rows but y has {} entries",
            indptr.len().saturating_sub(1),
            labels.len()
        ));
    }
    let columns = indices.to_u32()?;
    if columns.len() != data.len() {
        return bad("X's indices and data differ in length".into());
    }
    let mut rows = SparseRows::new();
    rows.labels = labels.to_vec();
    rows.row_offsets = Vec::with_capacity(indptr.len());
    for (i, &offset) in indptr.iter().enumerate() {
        if offset < 0 || offset as usize > columns.len() {
            return bad(format!(
                "X's row offset {offset} of row {i} is out of range"
            ));
        }
        rows.row_offsets.push(offset as usize);
    }
    rows.columns = columns;
    rows.values = data.to_vec();
    Ok(rows)
}

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
