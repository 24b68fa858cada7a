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
    check_csr_lengths(indptr.len(), indices.len(), data.len(), n_rows)?;
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

/// A canonical CSR matrix transposed into CSC arrays for the column layout: `indptr` per
/// column, the row indices as u32 (the blocks' type) and the values, owned, so that the blocks
/// read them in place (`InMemoryColumns::shared`) with no further copy.
pub struct CscCopy {
    /// Column `j`'s entries are `indptr[j]..indptr[j + 1]`.
    pub indptr: Vec<i64>,
    /// Row index of each entry, increasing within a column.
    pub rows: Vec<u32>,
    /// Value of each entry.
    pub values: Vec<f64>,
}

/// [`sparse_rows`]'s checks, with the matrix transposed into CSC arrays instead of copied as
/// rows: one counting pass over the entries (checking them, on `threads` threads by ranges of
/// rows) and one scatter pass (on `threads` threads by ranges of columns, each writing its own
/// part of the arrays). `Ok(None)` when a row is not canonical (columns not increasing, or an
/// explicit zero): the caller reads such a matrix by [`sparse_rows`], which sums and drops them.
pub fn csc_from_csr(
    indptr: &IndexArray<'_>,
    indices: &IndexArray<'_>,
    data: &[f64],
    n_rows: usize,
    n_cols: usize,
    threads: usize,
) -> PyResult<Option<CscCopy>> {
    use IndexArray::{I32, I64};
    let t = threads.max(1);
    match (indptr, indices) {
        (I32(p), I32(i)) => transpose(p.as_slice()?, i.as_slice()?, data, n_rows, n_cols, t),
        (I32(p), I64(i)) => transpose(p.as_slice()?, i.as_slice()?, data, n_rows, n_cols, t),
        (I64(p), I32(i)) => transpose(p.as_slice()?, i.as_slice()?, data, n_rows, n_cols, t),
        (I64(p), I64(i)) => transpose(p.as_slice()?, i.as_slice()?, data, n_rows, n_cols, t),
    }
}

/// Entries below which [`transpose`] runs on the calling thread alone: a thread's start and
/// join would cost more than the work.
const PARALLEL_MIN_ENTRIES: usize = 100_000;

/// Entries of one chunk of columns in [`transpose`]'s scatter: 1.5 MiB of row indices and
/// values, whose write positions (two cache lines per column) stay in the L2 cache.
const SCATTER_CHUNK_ENTRIES: usize = 1 << 17;

/// Why a range of rows cannot be transposed: a bad entry (the message), or a row that is not
/// canonical.
enum RowsOffence {
    Bad(String),
    NotCanonical,
}

/// `task(part)` for each part, on a thread each (this thread doing the first) if `parallel`;
/// the results in part order.
fn on_threads<T: Send, R: Send>(
    parts: Vec<T>,
    parallel: bool,
    task: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    if !parallel || parts.len() <= 1 {
        return parts.into_iter().map(task).collect();
    }
    let task = &task;
    let mut parts = parts.into_iter();
    let first = parts.next().expect("at least two parts");
    std::thread::scope(|scope| {
        let others: Vec<_> = parts.map(|p| scope.spawn(move || task(p))).collect();
        let mut results = vec![task(first)];
        results.extend(
            others
                .into_iter()
                .map(|handle| handle.join().expect("a part of the transposition panicked")),
        );
        results
    })
}

fn transpose<P: Copy + Into<i64> + Sync, I: Copy + Into<i64> + Sync>(
    indptr: &[P],
    indices: &[I],
    data: &[f64],
    n_rows: usize,
    n_cols: usize,
    threads: usize,
) -> PyResult<Option<CscCopy>> {
    let bad = |m: String| Err(PyValueError::new_err(m));
    check_csr_lengths(indptr.len(), indices.len(), data.len(), n_rows)?;
    // Columns are stored as u32, rows too.
    let width = (n_cols as u64).min(u64::from(u32::MAX) + 1);
    if n_cols as u64 > width || n_rows as u64 > u64::from(u32::MAX) + 1 {
        return Ok(None);
    }
    let parallel = data.len() >= PARALLEL_MIN_ENTRIES;
    let parts = if parallel {
        threads.min(n_rows.max(1))
    } else {
        1
    };
    let row_range = |part: usize| (part * n_rows / parts, (part + 1) * n_rows / parts);
    // Counting pass: each part's entries per column, every entry checked in row order.
    let counted = on_threads(
        (0..parts).collect(),
        parallel,
        |part| -> Result<_, RowsOffence> {
            let (first, end) = row_range(part);
            let mut counts = vec![0u32; n_cols];
            for i in first..end {
                let (start, stop): (i64, i64) = (indptr[i].into(), indptr[i + 1].into());
                if start < 0 || stop < start || stop as u64 > data.len() as u64 {
                    return Err(RowsOffence::Bad(format!(
                        "X's row offsets of row {i} ({start} to {stop}) are out of range"
                    )));
                }
                let mut previous = -1i64;
                for k in start as usize..stop as usize {
                    let column: i64 = indices[k].into();
                    let value = data[k];
                    if column < 0 || column as u64 >= width {
                        return Err(RowsOffence::Bad(format!(
                            "X has a column index {column} out of range at row {i} (X has \
                         {n_cols} columns)"
                        )));
                    }
                    if !value.is_finite() {
                        return Err(RowsOffence::Bad(format!(
                            "X contains NaN or infinity: {} at row {i}, column {column}",
                            python_float(value)
                        )));
                    }
                    if column <= previous || value == 0.0 {
                        return Err(RowsOffence::NotCanonical);
                    }
                    previous = column;
                    counts[column as usize] += 1;
                }
            }
            Ok(counts)
        },
    );
    // A part's offence comes before any later part's rows: the first in part order is the
    // first in row order.
    let mut per_part = Vec::with_capacity(parts);
    for counted in counted {
        match counted {
            Ok(counts) => per_part.push(counts),
            Err(RowsOffence::Bad(message)) => return bad(message),
            Err(RowsOffence::NotCanonical) => return Ok(None),
        }
    }
    let mut col_offsets = Vec::with_capacity(n_cols + 1);
    col_offsets.push(0usize);
    for j in 0..n_cols {
        let column: usize = per_part.iter().map(|counts| counts[j] as usize).sum();
        col_offsets.push(col_offsets[j] + column);
    }
    drop(per_part);
    let nnz = col_offsets[n_cols];
    // Scatter pass: each part a range of columns of about equal entries, writing its own slice
    // of the arrays; rows are visited in order, so every column's rows come out increasing.
    let mut column_bounds = vec![0usize];
    for part in 1..parts {
        let target = part * nnz / parts;
        let j = col_offsets
            .partition_point(|&offset| offset < target)
            .min(n_cols);
        column_bounds.push(j.max(*column_bounds.last().expect("starts with 0")));
    }
    column_bounds.push(n_cols);
    let mut rows = vec![0u32; nnz];
    let mut values = vec![0.0f64; nnz];
    let mut slices = Vec::with_capacity(parts);
    {
        let (mut rows_rest, mut values_rest) = (rows.as_mut_slice(), values.as_mut_slice());
        for part in 0..parts {
            let (first, end) = (column_bounds[part], column_bounds[part + 1]);
            let len = col_offsets[end] - col_offsets[first];
            let (rows_part, rows_tail) = std::mem::take(&mut rows_rest).split_at_mut(len);
            let (values_part, values_tail) = std::mem::take(&mut values_rest).split_at_mut(len);
            rows_rest = rows_tail;
            values_rest = values_tail;
            slices.push((first, end, rows_part, values_part));
        }
    }
    let col_offsets_ref = &col_offsets;
    on_threads(slices, parallel, |(first, end, rows_part, values_part)| {
        let base = col_offsets_ref[first];
        let mut next: Vec<usize> = col_offsets_ref[first..end]
            .iter()
            .map(|&offset| offset - base)
            .collect();
        // Each row's next entry in the part: columns increase within a row (checked), so the
        // part's entries of a row are one run, from its first column on.
        let mut row_next: Vec<usize> = (0..n_rows)
            .map(|i| {
                let (start, stop): (i64, i64) = (indptr[i].into(), indptr[i + 1].into());
                let columns = &indices[start as usize..stop as usize];
                start as usize + columns.partition_point(|&c| (c.into() as usize) < first)
            })
            .collect();
        // By chunks of columns of about SCATTER_CHUNK_ENTRIES entries, all rows each: the
        // chunk's write positions stay in cache, where one scatter over the whole part (a
        // write position per column, 100,000s of them) waits for memory at most entries.
        let mut chunk_first = first;
        while chunk_first < end {
            let target = col_offsets_ref[chunk_first] + SCATTER_CHUNK_ENTRIES;
            let chunk_end = col_offsets_ref
                .partition_point(|&offset| offset < target)
                .clamp(chunk_first + 1, end);
            for (i, next_entry) in row_next.iter_mut().enumerate() {
                let stop: i64 = indptr[i + 1].into();
                let mut k = *next_entry;
                while k < stop as usize {
                    let c = indices[k].into() as usize;
                    if c >= chunk_end {
                        break;
                    }
                    let slot = &mut next[c - first];
                    rows_part[*slot] = i as u32;
                    values_part[*slot] = data[k];
                    *slot += 1;
                    k += 1;
                }
                *next_entry = k;
            }
            chunk_first = chunk_end;
        }
    });
    Ok(Some(CscCopy {
        indptr: col_offsets.into_iter().map(|o| o as i64).collect(),
        rows,
        values,
    }))
}

/// The lengths a CSR matrix of `n_rows` rows must have: `n_rows + 1` row offsets, as many
/// column indices as values.
fn check_csr_lengths(
    indptr_len: usize,
    indices_len: usize,
    data_len: usize,
    n_rows: usize,
) -> PyResult<()> {
    if indptr_len != n_rows + 1 {
        return Err(PyValueError::new_err(format!(
            "X has {} rows but y has {n_rows} entries",
            indptr_len.saturating_sub(1)
        )));
    }
    if indices_len != data_len {
        return Err(PyValueError::new_err(
            "X's indices and data differ in length",
        ));
    }
    Ok(())
}
