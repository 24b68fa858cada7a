//! Lasso and sparse logistic regression on a matrix in memory (CSR rows, or CSC and dense
//! columns): the library's `sparse_regression::solve`, as `strads lasso` / `strads logreg` call
//! it.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use numpy::ndarray::ArrayView2;
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strads_apps::sparse_regression::{
    solve, ColumnSource, ColumnsError, CscColumns, DataSource, InMemoryColumns, InMemoryRows,
    Layout, LossKind, Penalty, RegressionParams,
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
    let options = Options::parse(loss, penalty, penalty_value, layout, threads)?;
    let started = Instant::now();
    let rows = sparse_rows(
        &IndexArray::extract(&indptr, "indptr")?,
        &IndexArray::extract(&indices, "indices")?,
        data.as_slice()?,
        y.as_slice()?,
        n_cols,
    )?;
    let rows = InMemoryRows::new(rows, n_cols).map_err(app_error)?;
    let data = DataSource::InMemory(rows);
    let read_seconds = started.elapsed().as_secs_f64();
    fit(
        py,
        options,
        data,
        read_seconds,
        tol,
        max_iters,
        max_seconds,
        seed,
        on_progress,
    )
}

/// [`fit_sparse_regression`] on a CSC matrix (`indptr`, `indices`: int32 or int64; `data`) of
/// `len(y)` rows and `len(indptr) - 1` columns, in the column layout: each column is checked
/// and copied once, straight into its worker's block (no rows, no transposition).
#[pyfunction]
#[pyo3(signature = (loss, indptr, indices, data, y, penalty, penalty_value, tol,
    max_iters, max_seconds, threads, seed, on_progress))]
#[allow(clippy::too_many_arguments)]
pub fn fit_sparse_regression_csc<'py>(
    py: Python<'py>,
    loss: &str,
    indptr: Bound<'py, PyAny>,
    indices: Bound<'py, PyAny>,
    data: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    penalty: &str,
    penalty_value: f64,
    tol: f64,
    max_iters: f64,
    max_seconds: f64,
    threads: usize,
    seed: u64,
    on_progress: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = Options::parse(loss, penalty, penalty_value, "columns", threads)?;
    let started = Instant::now();
    let (indptr, indices) = (
        IndexArray::extract(&indptr, "indptr")?,
        IndexArray::extract(&indices, "indices")?,
    );
    let (data, labels) = (data.as_slice()?, y.as_slice()?);
    let columns = {
        use IndexArray::{I32, I64};
        let n_rows = labels.len();
        match (&indptr, &indices) {
            (I32(p), I32(i)) => in_memory_columns(
                &CscColumns::new(p.as_slice()?, i.as_slice()?, data, n_rows),
                labels,
                &options,
            ),
            (I32(p), I64(i)) => in_memory_columns(
                &CscColumns::new(p.as_slice()?, i.as_slice()?, data, n_rows),
                labels,
                &options,
            ),
            (I64(p), I32(i)) => in_memory_columns(
                &CscColumns::new(p.as_slice()?, i.as_slice()?, data, n_rows),
                labels,
                &options,
            ),
            (I64(p), I64(i)) => in_memory_columns(
                &CscColumns::new(p.as_slice()?, i.as_slice()?, data, n_rows),
                labels,
                &options,
            ),
        }
    }?;
    let data = DataSource::InMemoryColumns(columns);
    let read_seconds = started.elapsed().as_secs_f64();
    fit(
        py,
        options,
        data,
        read_seconds,
        tol,
        max_iters,
        max_seconds,
        seed,
        on_progress,
    )
}

/// [`fit_sparse_regression`] on a dense 2-D float64 array `x` (any memory order; Fortran
/// order reads each column contiguously), in the column layout: each column's nonzeros are
/// checked and copied once, straight into its worker's block.
#[pyfunction]
#[pyo3(signature = (loss, x, y, penalty, penalty_value, tol, max_iters, max_seconds, threads,
    seed, on_progress))]
#[allow(clippy::too_many_arguments)]
pub fn fit_sparse_regression_dense<'py>(
    py: Python<'py>,
    loss: &str,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    penalty: &str,
    penalty_value: f64,
    tol: f64,
    max_iters: f64,
    max_seconds: f64,
    threads: usize,
    seed: u64,
    on_progress: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = Options::parse(loss, penalty, penalty_value, "columns", threads)?;
    let started = Instant::now();
    let columns = in_memory_columns(&Ok(DenseColumns(x.as_array())), y.as_slice()?, &options)?;
    let data = DataSource::InMemoryColumns(columns);
    let read_seconds = started.elapsed().as_secs_f64();
    fit(
        py,
        options,
        data,
        read_seconds,
        tol,
        max_iters,
        max_seconds,
        seed,
        on_progress,
    )
}

/// A caller's columns read into the blocks of `options.threads` workers for its loss (a
/// `ValueError` naming the first offending entry).
fn in_memory_columns(
    source: &Result<impl ColumnSource, ColumnsError>,
    labels: &[f64],
    options: &Options,
) -> PyResult<InMemoryColumns> {
    let source = source
        .as_ref()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    InMemoryColumns::new(source, labels, options.threads, options.loss).map_err(app_error)
}

/// A dense array's columns.
struct DenseColumns<'a>(ArrayView2<'a, f64>);

impl ColumnSource for DenseColumns<'_> {
    // Zeros are dropped: a column's stored entries only bound its nonzeros.
    const STORED_IS_EXACT: bool = false;

    fn n_rows(&self) -> usize {
        self.0.nrows()
    }

    fn n_cols(&self) -> usize {
        self.0.ncols()
    }

    fn stored(&self, _j: usize) -> Result<usize, ColumnsError> {
        if self.0.nrows() as u64 > u64::from(u32::MAX) + 1 {
            return Err(ColumnsError::Shape(format!(
                "X has {} rows, more than the {} supported",
                self.0.nrows(),
                u64::from(u32::MAX) + 1
            )));
        }
        Ok(self.0.nrows())
    }

    fn read_column(
        &self,
        j: usize,
        rows: &mut Vec<u32>,
        values: &mut Vec<f64>,
    ) -> Result<(), ColumnsError> {
        for (i, &value) in self.0.column(j).iter().enumerate() {
            if !value.is_finite() {
                return Err(ColumnsError::NotFinite {
                    value,
                    row: i,
                    column: j,
                });
            }
            if value != 0.0 {
                rows.push(i as u32);
                values.push(value);
            }
        }
        Ok(())
    }
}

/// The arguments every fit checks the same way.
struct Options {
    loss: LossKind,
    penalty: Penalty,
    layout: Layout,
    threads: usize,
}

impl Options {
    fn parse(
        loss: &str,
        penalty: &str,
        penalty_value: f64,
        layout: &str,
        threads: usize,
    ) -> PyResult<Self> {
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
        Ok(Options {
            loss,
            penalty,
            layout,
            threads,
        })
    }
}

/// Runs the library's solve on `data` with the CLI's defaults; the result as a dict, whose
/// `load_seconds` adds the `read_seconds` the bindings spent reading the arrays into `data`.
#[allow(clippy::too_many_arguments)]
fn fit<'py>(
    py: Python<'py>,
    options: Options,
    data: DataSource,
    read_seconds: f64,
    tol: f64,
    max_iters: f64,
    max_seconds: f64,
    seed: u64,
    on_progress: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let Options {
        loss,
        penalty,
        layout,
        threads,
    } = options;
    let stop = Arc::new(AtomicUsize::new(0));
    // The CLI's defaults for the column layout (README, "Layouts and their flags"); the rows
    // layout's scheduling keeps the CLI's defaults too.
    let params = RegressionParams {
        loss,
        data,
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
        checkpointing: Default::default(),
    };
    let solution = run_interruptible(py, stop.clone(), &on_progress, move |progress| {
        solve(
            &ClusterConfig::threads(threads),
            &params,
            progress.hooks(stop),
        )
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
    result.set_item("load_seconds", read_seconds + solution.load_seconds)?;
    result.set_item("solve_seconds", solution.solve_seconds)?;
    result.set_item("trace", to_py(py, &solution.trace)?)?;
    result.set_item("coef", solution.coefficients.into_pyarray(py))?;
    Ok(result)
}
