//! Lasso and sparse logistic regression on a matrix in memory (CSR rows, or CSC and dense
//! columns): the library's `sparse_regression::solve`, as `strads lasso` / `strads logreg` call
//! it.

use std::any::Any;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use numpy::ndarray::ArrayView2;
use numpy::{Element, IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strads_apps::sparse_regression::{
    solve, ColumnSource, ColumnsError, ColumnsOptions, CscColumns, DataSource, Entries,
    InMemoryColumns, InMemoryRows, Layout, LayoutKind, LossKind, Penalty, RegressionParams,
    SINGLE_WORKER_ENTRIES,
};
use strads_engine::ClusterConfig;

use crate::convert::{app_error, to_py};
use crate::csr::{csc_from_csr, sparse_rows, IndexArray};
use crate::interrupt::run_interruptible_on;

/// Fits Lasso (`loss="squared"`) or sparse logistic regression (`loss="logistic"`, labels
/// -1/+1) on the CSR matrix (`indptr`, `indices`: int32 or int64; `data`) of `n_cols` columns
/// with labels `y`.
/// `penalty` is `"lambda"` (then `penalty_value` is lambda) or `"ratio"` (lambda = value x
/// lambda_max). Returns a dict: `coef` (a numpy array), the solution's numbers and `trace` (a
/// list of dicts, one per duality-gap evaluation); `on_progress(record)` is called with each
/// trace record as it is made. `single_worker_entries` is the column layout's small-problem
/// rule (`ColumnsOptions::single_worker_entries`, the CLI's `--single-worker-entries`): an X of
/// at most that many entries is solved on one worker thread; 0 keeps every thread.
#[pyfunction]
#[pyo3(signature = (loss, indptr, indices, data, y, n_cols, penalty, penalty_value, tol,
    max_iters, max_seconds, threads, layout, seed, on_progress,
    single_worker_entries = SINGLE_WORKER_ENTRIES))]
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
    single_worker_entries: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let mut options = Options::parse(
        loss,
        penalty,
        penalty_value,
        layout,
        threads,
        single_worker_entries,
    )?;
    let started = Instant::now();
    let (indptr, indices) = (
        IndexArray::extract(&indptr, "indptr")?,
        IndexArray::extract(&indices, "indices")?,
    );
    let labels = y.as_slice()?;
    let transposed = if options.layout == LayoutKind::Columns {
        // The blocks are cut for the threads that will solve them (one for a small X).
        options.threads = options
            .columns
            .threads_for(threads, data.as_array().len() as u64);
        let csc = csc_from_csr(
            &indptr,
            &indices,
            data.as_slice()?,
            labels.len(),
            n_cols,
            options.threads,
        )?;
        if let Some(csc) = csc {
            // The transposed arrays are the blocks' own, read in place: no copy beyond the
            // transposition.
            let (rows, values) = (Entries::from(csc.rows), Entries::from(csc.values));
            let columns = shared_columns(
                CscColumns::new(&csc.indptr, &rows, &values, labels.len()),
                Some(&rows),
                &values,
                labels,
                &options,
            )?;
            Some(DataSource::InMemoryColumns(columns))
        } else {
            None
        }
    } else {
        None
    };
    // Any other matrix (or the rows layout) is read as rows.
    let data = match transposed {
        Some(data) => data,
        None => {
            let rows = sparse_rows(&indptr, &indices, data.as_slice()?, labels, n_cols)?;
            DataSource::InMemory(InMemoryRows::new(rows, n_cols).map_err(app_error)?)
        }
    };
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
/// `len(y)` rows and `len(indptr) - 1` columns, in the column layout. A canonical matrix (every
/// column's rows increasing, its values finite and nonzero) is solved on its own arrays, read
/// in place by the workers: `data`, and int32 `indices` (int64 ones are copied as u32 into the
/// blocks), only checked and read once for lambda_max, no copy of X; the arrays are read-only
/// until the fit returns. Any other matrix is checked and copied once, each column straight
/// into its worker's block (duplicates summed, explicit zeros dropped). The result's
/// `x_read_in_place` says which.
#[pyfunction]
#[pyo3(signature = (loss, indptr, indices, data, y, penalty, penalty_value, tol,
    max_iters, max_seconds, threads, seed, on_progress,
    single_worker_entries = SINGLE_WORKER_ENTRIES))]
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
    single_worker_entries: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let options = Options::parse_columns(
        loss,
        penalty,
        penalty_value,
        threads,
        single_worker_entries,
        data.as_array().len() as u64,
    )?;
    let started = Instant::now();
    let (indptr, indices) = (
        IndexArray::extract(&indptr, "indptr")?,
        IndexArray::extract(&indices, "indices")?,
    );
    // Before the arrays are read: nothing writes them from here until the fit has returned.
    let read_only = ReadOnlyWhileFitting::new(&[indices.as_any(), data.as_any()])?;
    let (values, labels) = (InPlace::new(&data)?, y.as_slice()?);
    let n_rows = labels.len();
    use IndexArray::{I32, I64};
    // int32 row indices are read as u32 (the blocks' type) through a view of the same buffer;
    // int64 ones cannot be, and are copied.
    let rows = match &indices {
        I32(i) => Some(InPlace::new(
            &i.as_any()
                .call_method1("view", ("uint32",))?
                .extract::<PyReadonlyArray1<'py, u32>>()?,
        )?),
        I64(_) => None,
    };
    let columns = {
        let rows = rows.as_ref().map(|rows| &rows.entries);
        let values = &values.entries;
        match (&indptr, &indices) {
            (I32(p), I32(i)) => shared_columns(
                CscColumns::new(p.as_slice()?, i.as_slice()?, values, n_rows),
                rows,
                values,
                labels,
                &options,
            ),
            (I32(p), I64(i)) => shared_columns(
                CscColumns::new(p.as_slice()?, i.as_slice()?, values, n_rows),
                rows,
                values,
                labels,
                &options,
            ),
            (I64(p), I32(i)) => shared_columns(
                CscColumns::new(p.as_slice()?, i.as_slice()?, values, n_rows),
                rows,
                values,
                labels,
                &options,
            ),
            (I64(p), I64(i)) => shared_columns(
                CscColumns::new(p.as_slice()?, i.as_slice()?, values, n_rows),
                rows,
                values,
                labels,
                &options,
            ),
        }
    }?;
    let read_in_place = columns.shares_entries();
    let data = DataSource::InMemoryColumns(columns);
    let read_seconds = started.elapsed().as_secs_f64();
    let result = fit(
        py,
        options,
        data,
        read_seconds,
        tol,
        max_iters,
        max_seconds,
        seed,
        on_progress,
    )?;
    result.set_item("x_read_in_place", read_in_place)?;
    drop(read_only);
    Ok(result)
}

/// [`InMemoryColumns::shared`] on a CSC matrix's arrays (a `ValueError` naming the first
/// offending entry).
fn shared_columns<P, I>(
    source: Result<CscColumns<'_, P, I>, ColumnsError>,
    rows: Option<&Entries<u32>>,
    values: &Entries<f64>,
    labels: &[f64],
    options: &Options,
) -> PyResult<InMemoryColumns>
where
    P: Copy + Into<i64> + Sync,
    I: Copy + Into<i64> + Sync,
{
    let source = source.map_err(|e| PyValueError::new_err(e.to_string()))?;
    InMemoryColumns::shared(&source, rows, values, labels, options.threads, options.loss)
        .map_err(app_error)
}

/// A 1-D array's elements, read in place by the engine's threads ([`Entries`]) for as long
/// as any value sharing them lives: each holds a reference to the array.
struct InPlace<T: 'static> {
    entries: Entries<T>,
}

impl<T: Element + Clone + Send + Sync + 'static> InPlace<T> {
    /// `array`'s elements (a contiguous array; else a `ValueError`).
    #[allow(unsafe_code)]
    fn new(array: &PyReadonlyArray1<'_, T>) -> PyResult<Self> {
        let elements = array.as_slice()?;
        let owner: Arc<dyn Any + Send + Sync> = Arc::new(array.as_any().clone().unbind());
        // SAFETY: `elements` are the array's buffer: `len` initialised, aligned elements of T
        // (numpy's `as_slice` checked that the array is contiguous). The buffer stays where it
        // is for as long as `owner` holds its reference to the array: numpy frees an array's
        // buffer only with the array, and refuses to resize an array that other references
        // see (unless told `refcheck=False`, which numpy documents as unsafe). The `'static`
        // slice only ever goes into an `Entries` that holds `owner` too, and `Entries` lends
        // it out for no longer than itself (strads_apps::sparse_regression::Entries). It is
        // not written while the workers read it: the fit holds numpy's shared borrow of the
        // array and clears its WRITEABLE flag until it returns (ReadOnlyWhileFitting).
        let elements: &'static [T] =
            unsafe { std::slice::from_raw_parts(elements.as_ptr(), elements.len()) };
        Ok(InPlace {
            entries: Entries::shared(elements, owner),
        })
    }
}

/// Clears the WRITEABLE flag of the arrays that a fit reads in place, so that Python code
/// (another thread, while the GIL is released) cannot write them during the fit, and sets it
/// again when dropped (on the arrays that had it).
struct ReadOnlyWhileFitting<'py>(Vec<Bound<'py, PyAny>>);

impl<'py> ReadOnlyWhileFitting<'py> {
    fn new(arrays: &[&Bound<'py, PyAny>]) -> PyResult<Self> {
        let mut cleared = ReadOnlyWhileFitting(Vec::new());
        for array in arrays {
            if array
                .getattr("flags")?
                .getattr("writeable")?
                .extract::<bool>()?
            {
                set_writeable(array, false)?;
                cleared.0.push((*array).clone());
            }
        }
        Ok(cleared)
    }
}

impl Drop for ReadOnlyWhileFitting<'_> {
    fn drop(&mut self) {
        for array in &self.0 {
            // Cannot fail on an array that was writeable before the fit (its base still is).
            let _ = set_writeable(array, true);
        }
    }
}

fn set_writeable(array: &Bound<'_, PyAny>, writeable: bool) -> PyResult<()> {
    let kwargs = PyDict::new(array.py());
    kwargs.set_item("write", writeable)?;
    array.call_method("setflags", (), Some(&kwargs))?;
    Ok(())
}

/// [`fit_sparse_regression`] on a dense 2-D float64 array `x` (any memory order; Fortran
/// order reads each column contiguously), in the column layout: each column's nonzeros are
/// checked and copied once, straight into its worker's block.
#[pyfunction]
#[pyo3(signature = (loss, x, y, penalty, penalty_value, tol, max_iters, max_seconds, threads,
    seed, on_progress, single_worker_entries = SINGLE_WORKER_ENTRIES))]
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
    single_worker_entries: u64,
) -> PyResult<Bound<'py, PyDict>> {
    // A dense X's stored entries are at most its elements.
    let options = Options::parse_columns(
        loss,
        penalty,
        penalty_value,
        threads,
        single_worker_entries,
        x.as_array().len() as u64,
    )?;
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
    layout: LayoutKind,
    threads: usize,
    /// The column layout's options: the CLI's, with the caller's small-problem rule.
    columns: ColumnsOptions,
}

impl Options {
    fn parse(
        loss: &str,
        penalty: &str,
        penalty_value: f64,
        layout: &str,
        threads: usize,
        single_worker_entries: u64,
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
        let layout: LayoutKind = layout.parse().map_err(PyValueError::new_err)?;
        if threads == 0 {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        Ok(Options {
            loss,
            penalty,
            layout,
            threads,
            columns: ColumnsOptions {
                single_worker_entries,
                ..ColumnsOptions::default()
            },
        })
    }

    /// [`Options::parse`] for the column layout over an X with (at most) `entries` stored
    /// entries: the blocks are cut for the threads that will solve them (one for a small X).
    fn parse_columns(
        loss: &str,
        penalty: &str,
        penalty_value: f64,
        threads: usize,
        single_worker_entries: u64,
        entries: u64,
    ) -> PyResult<Self> {
        let mut options = Self::parse(
            loss,
            penalty,
            penalty_value,
            "columns",
            threads,
            single_worker_entries,
        )?;
        options.threads = options.columns.threads_for(threads, entries);
        Ok(options)
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
        columns,
    } = options;
    let stop = Arc::new(AtomicUsize::new(0));
    // The CLI's defaults for this loss and layout in one process (README, "Layouts and their
    // flags"), with the seed of the rows layout's scheduler.
    let tuned = RegressionParams::tuned(loss, layout, 1);
    let layout = match tuned.layout {
        Layout::Rows(mut rows) => {
            rows.scheduler.seed = seed;
            Layout::Rows(rows)
        }
        Layout::Columns(_) => Layout::Columns(columns),
    };
    let params = RegressionParams {
        loss,
        data,
        penalty,
        tol,
        max_passes: max_iters,
        max_seconds,
        gap_every: tuned.gap_every,
        layout,
        checkpointing: Default::default(),
    };
    let solution =
        run_interruptible_on(py, threads, stop.clone(), &on_progress, move |progress| {
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
