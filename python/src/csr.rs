//! scipy's CSR arrays (`indptr`, `indices`, `data`) and the labels, read into the library's
//! [`SparseRows`] in one pass that checks them as it copies: the row offsets, every column
//! index, every value (NaN and infinity are named by row and column, as the estimators' own
//! checks name them), and the order of the columns within a row (an unsorted row, or one with
//! duplicates, is sorted and its duplicates summed, as scipy's `sum_duplicates` would). Explicit
//! zeros are dropped. So the estimators hand a float64 CSR matrix over as it is, without
//! scanning it in numpy first.

use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use strads_io::SparseRows;

/// An index array as scipy stores it: int32 (the usual) or int64, read without a copy.
pub enum IndexArray<'py> {
    /// `int32` indices.
    I32(PyReadonlyArray1<'py, i32>),
    /// `int64` indices.
    I64(PyReadonlyArray1<'py, i64>),
}

impl<'py> IndexArray<'py> {
    /// The array as a Python object.
    pub fn as_any(&self) -> &Bound<'py, PyAny> {
        match self {
            IndexArray::I32(array) => array.as_any(),
            IndexArray::I64(array) => array.as_any(),
        }
    }

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
}

/// The library's rows from CSR arrays (0-based column indices) of `n_cols` columns and one
/// label per row, checked and copied in one pass (see the module's documentation). The labels
/// are checked by the caller (the library's in-memory sources check them again).
pub fn sparse_rows(
    indptr: &IndexArray<'_>,
    indices: &IndexArray<'_>,
    data: &[f64],
    labels: &[f64],
    n_cols: usize,
) -> PyResult<SparseRows> {
    use IndexArray::{I32, I64};
    match (indptr, indices) {
        (I32(p), I32(i)) => rows_from_csr(p.as_slice()?, i.as_slice()?, data, labels, n_cols),
        (I32(p), I64(i)) => rows_from_csr(p.as_slice()?, i.as_slice()?, data, labels, n_cols),
        (I64(p), I32(i)) => rows_from_csr(p.as_slice()?, i.as_slice()?, data, labels, n_cols),
        (I64(p), I64(i)) => rows_from_csr(p.as_slice()?, i.as_slice()?, data, labels, n_cols),
    }
}

/// A float as Python prints it in the estimators' messages (`nan`, `inf`).
fn python_float(value: f64) -> String {
    if value.is_nan() {
        "nan".into()
    } else {
        format!("{value}")
    }
}

fn rows_from_csr<P: Copy + Into<i64>, I: Copy + Into<i64>>(
    indptr: &[P],
    indices: &[I],
    data: &[f64],
    labels: &[f64],
    n_cols: usize,
) -> PyResult<SparseRows> {
    let bad = |m: String| Err(PyValueError::new_err(m));
    let n_rows = labels.len();
    if indptr.len() != n_rows + 1 {
        return bad(format!(
            "X has {} rows but y has {n_rows} entries",
            indptr.len().saturating_sub(1)
        ));
    }
    if indices.len() != data.len() {
        return bad("X's indices and data differ in length".into());
    }
    // Columns are stored as u32.
    let width = (n_cols as u64).min(u64::from(u32::MAX) + 1);
    let mut rows = SparseRows::new();
    rows.labels = labels.to_vec();
    rows.row_offsets.reserve(n_rows);
    rows.columns.reserve(data.len());
    rows.values.reserve(data.len());
    let mut scratch: Vec<(u32, f64)> = Vec::new();
    for i in 0..n_rows {
        let (start, end): (i64, i64) = (indptr[i].into(), indptr[i + 1].into());
        if start < 0 || end < start || end as u64 > data.len() as u64 {
            return bad(format!(
                "X's row offsets of row {i} ({start} to {end}) are out of range"
            ));
        }
        let row_start = rows.columns.len();
        let mut previous = -1i64;
        let mut sorted = true;
        for k in start as usize..end as usize {
            let column: i64 = indices[k].into();
            let value = data[k];
            if column < 0 || column as u64 >= width {
                return bad(format!(
                    "X has a column index {column} out of range at row {i} (X has {n_cols} \
                     columns)"
                ));
            }
            if !value.is_finite() {
                return bad(format!(
                    "X contains NaN or infinity: {} at row {i}, column {column}",
                    python_float(value)
                ));
            }
            sorted &= column > previous;
            previous = column;
            if value != 0.0 {
                rows.columns.push(column as u32);
                rows.values.push(value);
            }
        }
        if !sorted {
            canonical_row(&mut rows, row_start, &mut scratch).map_err(|column| {
                PyValueError::new_err(format!(
                    "X's duplicate entries of row {i}, column {column} sum to infinity"
                ))
            })?;
        }
        rows.row_offsets.push(rows.columns.len());
    }
    Ok(rows)
}

/// Sorts the entries of the last row (from `row_start`) by column, summing duplicates and
/// dropping sums of zero; `Err(column)` if a sum overflows.
fn canonical_row(
    rows: &mut SparseRows,
    row_start: usize,
    scratch: &mut Vec<(u32, f64)>,
) -> Result<(), u32> {
    scratch.clear();
    scratch.extend(
        rows.columns[row_start..]
            .iter()
            .copied()
            .zip(rows.values[row_start..].iter().copied()),
    );
    // Stable, so duplicates are summed in their stored order.
    scratch.sort_by_key(|&(column, _)| column);
    rows.columns.truncate(row_start);
    rows.values.truncate(row_start);
    let mut k = 0;
    while k < scratch.len() {
        let column = scratch[k].0;
        let mut sum = 0.0;
        while k < scratch.len() && scratch[k].0 == column {
            sum += scratch[k].1;
            k += 1;
        }
        if !sum.is_finite() {
            return Err(column);
        }
        if sum != 0.0 {
            rows.columns.push(column);
            rows.values.push(sum);
        }
    }
    Ok(())
}
