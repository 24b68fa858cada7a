//! The column layout: every worker owns a contiguous block of columns over *all* rows, plus a
//! replica of every row's labels, built from the row shards the workers loaded.
//!
//! Blocks are contiguous so that columns a file keeps together (feature groups, one-hot fields)
//! stay on one worker, where their updates see each other; they are cut so that every worker
//! holds about the same number of nonzeros.

use std::sync::Arc;

use strads_engine::{RecordChunk, Worker};
use strads_io::SparseRows;

use super::column_descent::gather_dot_by;
use super::column_shard::{ColumnShard, Entries};
use crate::error::AppError;

/// One worker's block of columns.
#[derive(Clone, Debug)]
pub struct ColumnBlock {
    /// Global index of the block's first column; local column `k` is global `first_column + k`.
    pub first_column: usize,
    /// The block's columns over all rows (row indices are global); shared when a caller's
    /// columns in memory were read into blocks once for every worker ([`blocks_from_columns`]).
    pub columns: Arc<ColumnShard>,
    /// Every row's label, in file order.
    pub labels: Vec<f64>,
    /// What the solve's first passes over the block find, when the reading found it in its
    /// own pass (a canonical CSC matrix in memory, in the pass that checks it); `None` for the
    /// solve to compute.
    pub first_pass: Option<FirstPass>,
}

/// Per column of a block, what the column layout's solve finds in its first two passes over
/// the block (the curvatures, then the first gap evaluation's `X^T f'(0)`), computed as the
/// solve computes them (the same bits).
#[derive(Clone, Debug, PartialEq)]
pub struct FirstPass {
    /// `||x_j||^2`.
    pub column_norms2: Vec<f64>,
    /// `x_j . f'(y, 0)` summed as [`super::column_descent::gather_dot`] sums.
    pub gradients_at_zero: Vec<f64>,
}

/// `boundaries[w]..boundaries[w + 1]` is worker w's block: contiguous ranges with about
/// `total / workers` nonzeros each, from the nonzeros per column.
pub fn block_boundaries(column_counts: &[f64], workers: usize) -> Vec<usize> {
    let total: f64 = column_counts.iter().sum();
    let mut boundaries = Vec::with_capacity(workers + 1);
    boundaries.push(0);
    let mut seen = 0.0;
    let mut j = 0;
    for w in 1..workers {
        let target = total * w as f64 / workers as f64;
        while j < column_counts.len() && seen + column_counts[j] / 2.0 < target {
            seen += column_counts[j];
            j += 1;
        }
        boundaries.push(j);
    }
    boundaries.push(column_counts.len());
    boundaries
}

/// Bytes of one entry on the wire: global row (u32), column (u32), value (f64), little-endian.
const ENTRY_BYTES: usize = 16;

/// Columns whose counts [`redistribute`] sums in one collective.
const COUNT_SLICE: usize = 1 << 15;

/// Entries one worker sends another in one message of [`redistribute`]: 256 KiB messages (not
/// the engine's largest, 4 MiB), since a process holds a round's messages to and from each of
/// its workers at once, on top of the rows being sent and the blocks being filled (measured:
/// 4 MiB fewer at the peak than 1 MiB messages on two threads, and no more CPU).
const MESSAGE_ENTRIES: u64 = (256 << 10) / ENTRY_BYTES as u64;

/// Sends every entry of this worker's rows to the worker owning its column and returns this
/// worker's block. Every worker must call it (it is a collective).
///
/// The entries go in messages of at most 256 KiB ([`MESSAGE_ENTRIES`]), encoded one message ahead
/// from the rows (a row's entries for one block are a contiguous run, since its columns
/// increase), and each received entry is written straight into its place in the block: every
/// source first tells every owner how many entries of each of its columns it will send, so the
/// owner knows where each source's part of each column starts. A worker holds its rows and its
/// block while exchanging (never its entries a second time), then its block.
pub fn redistribute(
    worker: &mut Worker<'_>,
    rows: SparseRows,
    n_cols: usize,
) -> Result<ColumnBlock, AppError> {
    let peers = worker.peers();
    // A column has at most one entry per row, and rows are numbered by u32.
    let mut local = vec![0u32; n_cols];
    for &c in &rows.columns {
        local[c as usize] += 1;
    }
    // Summed a slice of columns at a time: a collective copies its vector several times over
    // (encoded, sent to each worker, decoded), which for every column at once would add
    // megabytes on every worker just before the blocks are filled.
    let mut counts = Vec::with_capacity(n_cols);
    for slice in local.chunks(COUNT_SLICE) {
        let slice: Vec<f64> = slice.iter().map(|&n| f64::from(n)).collect();
        counts.extend(worker.all_reduce_sum(&slice)?);
    }
    let boundaries = block_boundaries(&counts, peers);
    let (first_column, end) = (boundaries[worker.index()], boundaries[worker.index() + 1]);
    let mut col_offsets = vec![0usize; end - first_column + 1];
    for k in 0..end - first_column {
        col_offsets[k + 1] = col_offsets[k] + counts[first_column + k] as usize;
    }
    drop(counts);

    // Every source's counts of the columns of every block, to the block's owner.
    let to_each: Vec<u64> = (0..peers)
        .map(|d| {
            local[boundaries[d]..boundaries[d + 1]]
                .iter()
                .map(|&n| u64::from(n))
                .sum()
        })
        .collect();
    let outgoing = (0..peers)
        .map(|d| {
            local[boundaries[d]..boundaries[d + 1]]
                .iter()
                .flat_map(|n| n.to_le_bytes())
                .collect()
        })
        .collect();
    drop(local);
    let from_each = worker.all_to_all_bytes(outgoing);
    let mut block = BlockFiller::new(col_offsets, &from_each)?;
    drop(from_each);

    let shard_rows: Vec<usize> = worker.all_gather(&rows.n_rows())?;
    let first_row: usize = shard_rows[..worker.index()].iter().sum();
    let labels: Vec<Vec<f64>> = worker.all_gather(&rows.labels)?;
    let labels: Vec<f64> = labels.concat();

    // The run of row i's entries that falls in worker d's block.
    let segment = |i: usize, d: usize| -> std::ops::Range<usize> {
        let columns = &rows.columns[rows.row_offsets[i]..rows.row_offsets[i + 1]];
        let start = columns.partition_point(|&c| (c as usize) < boundaries[d]);
        let end = columns.partition_point(|&c| (c as usize) < boundaries[d + 1]);
        rows.row_offsets[i] + start..rows.row_offsets[i] + end
    };
    // Per destination: the row being sent and the next entry of it (absolute index).
    let mut cursors: Vec<(usize, usize)> = vec![(0, 0); peers];
    let mut fill = |d: usize, mut n: usize, message: &mut Vec<u8>| {
        let (row, next) = &mut cursors[d];
        while n > 0 {
            let run = segment(*row, d);
            let from = (*next).max(run.start);
            let take = run.end.saturating_sub(from).min(n);
            let global_row = (first_row + *row) as u32;
            for k in from..from + take {
                message.extend_from_slice(&global_row.to_le_bytes());
                message.extend_from_slice(&rows.columns[k].to_le_bytes());
                message.extend_from_slice(&rows.values[k].to_le_bytes());
            }
            n -= take;
            if from + take >= run.end {
                *row += 1;
                *next = 0;
            } else {
                *next = from + take;
            }
        }
    };
    let mut take = |chunk: RecordChunk<'_>| block.place(chunk.source, first_column, chunk.bytes);
    // In exchanges of at most MESSAGE_ENTRIES per destination, as many as the largest count
    // anywhere needs (the same number on every worker).
    let largest = worker.all_gather(&to_each.iter().copied().max().unwrap_or(0))?;
    let exchanges = largest
        .into_iter()
        .max()
        .unwrap_or(0)
        .div_ceil(MESSAGE_ENTRIES);
    for e in 0..exchanges {
        let counts: Vec<u64> = to_each
            .iter()
            .map(|&n| n.saturating_sub(e * MESSAGE_ENTRIES).min(MESSAGE_ENTRIES))
            .collect();
        worker.exchange_records(ENTRY_BYTES, &counts, &mut fill, &mut take)?;
    }
    drop(rows);

    Ok(ColumnBlock {
        first_column,
        columns: Arc::new(block.finish(labels.len())),
        labels,
        first_pass: None,
    })
}

/// A block being filled with the entries its owner receives, each written straight into its
/// place: sources hold consecutive row ranges and send their entries row by row, so source s's
/// entries of a column follow those of sources before s, in the order they arrive.
struct BlockFiller {
    col_offsets: Vec<usize>,
    /// `next[s * width + k]`: where source s's next entry of column k goes.
    next: Vec<usize>,
    rows: Vec<u32>,
    values: Vec<f64>,
}

impl BlockFiller {
    /// The block with columns `col_offsets` (over all sources) and `from_each[s]`, source s's
    /// count of each column (u32, little-endian).
    fn new(col_offsets: Vec<usize>, from_each: &[Vec<u8>]) -> Result<BlockFiller, AppError> {
        let width = col_offsets.len() - 1;
        let mut next = vec![0usize; from_each.len() * width];
        let mut at = col_offsets[..width].to_vec();
        for (s, counts) in from_each.iter().enumerate() {
            if counts.len() != width * 4 {
                return Err(AppError::Engine(strads_engine::EngineError::Codec(
                    format!(
                        "worker {s} sent {} bytes of column counts for {width} columns",
                        counts.len()
                    ),
                )));
            }
            for (k, n) in counts.chunks_exact(4).enumerate() {
                next[s * width + k] = at[k];
                at[k] += u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize;
            }
        }
        if at != col_offsets[1..] {
            return Err(AppError::Engine(strads_engine::EngineError::Codec(
                "the workers' column counts do not add up to their sums".into(),
            )));
        }
        let total = col_offsets[width];
        Ok(BlockFiller {
            col_offsets,
            next,
            rows: vec![0; total],
            values: vec![0.0; total],
        })
    }

    /// Writes source `source`'s next entries (wire format, columns from `first`) in place.
    fn place(&mut self, source: usize, first: usize, bytes: &[u8]) {
        let width = self.col_offsets.len() - 1;
        let next = &mut self.next[source * width..(source + 1) * width];
        for e in bytes.chunks_exact(ENTRY_BYTES) {
            let field = |k: usize| <[u8; 4]>::try_from(&e[k..k + 4]).expect("4 bytes");
            let row = u32::from_le_bytes(field(0));
            let column = u32::from_le_bytes(field(4)) as usize - first;
            let slot = &mut next[column];
            self.rows[*slot] = row;
            self.values[*slot] = f64::from_le_bytes(e[8..16].try_into().expect("8 bytes"));
            *slot += 1;
        }
    }

    /// The filled block, once every source's entries were placed (each source sent exactly the
    /// entries it counted, which the counts' check and the exchange's byte counts check).
    fn finish(self, n_rows: usize) -> ColumnShard {
        let width = self.col_offsets.len() - 1;
        debug_assert!(
            width == 0 || self.next[self.next.len() - width..] == self.col_offsets[1..],
            "the last source's entries reach every column's end"
        );
        ColumnShard {
            n_rows,
            col_offsets: self.col_offsets,
            rows: self.rows.into(),
            values: self.values.into(),
        }
    }
}

/// Worker `index` of `peers`'s block built straight from every row in memory (shared by the
/// workers of one process): the same block as [`redistribute`] builds from the workers' row
/// shards (the same boundaries, every column's rows in increasing order, every label), without
/// the exchange. Each worker scans all rows for its columns.
pub fn block_from_memory(
    rows: &SparseRows,
    n_cols: usize,
    index: usize,
    peers: usize,
) -> ColumnBlock {
    block_from_memory_in_chunks(rows, n_cols, index, peers, CHUNK_ENTRIES)
}

/// Entries of one chunk of columns in [`block_from_memory_in_chunks`]: 32K entries, 384 KiB of
/// row indices and values, which stay in the L2 cache while they are filled.
const CHUNK_ENTRIES: usize = 1 << 15;

/// [`block_from_memory`], filling the block by chunks of consecutive columns of about
/// `chunk_entries` entries: the entries are first appended to their chunk's bucket, in row order
/// (a few dozen sequential write streams), then each bucket is scattered into its chunk's part of
/// the block, whose writes stay in cache. One direct scatter over the whole block (30 MB at 5M
/// nonzeros on two workers) spent most of its time waiting for memory (`perf`).
fn block_from_memory_in_chunks(
    rows: &SparseRows,
    n_cols: usize,
    index: usize,
    peers: usize,
    chunk_entries: usize,
) -> ColumnBlock {
    let mut counts = vec![0.0; n_cols];
    for &c in &rows.columns {
        counts[c as usize] += 1.0;
    }
    let boundaries = block_boundaries(&counts, peers);
    let (first, end) = (boundaries[index], boundaries[index + 1]);
    let width = end - first;
    // The block's column sizes are the counts just made: no second pass over the entries.
    let mut offsets = vec![0usize; width + 1];
    for k in 0..width {
        offsets[k + 1] = offsets[k] + counts[first + k] as usize;
    }
    // Chunk of each column of the block, and each chunk's entries.
    let mut chunk_of = vec![0u32; width];
    let mut chunk_sizes = vec![0usize];
    for k in 0..width {
        let size = counts[first + k] as usize;
        let last = chunk_sizes.len() - 1;
        if chunk_sizes[last] > 0 && chunk_sizes[last] + size > chunk_entries {
            chunk_sizes.push(0);
        }
        let chunk = chunk_sizes.len() - 1;
        chunk_of[k] = chunk as u32;
        chunk_sizes[chunk] += size;
    }
    let mut buckets: Vec<Vec<(u32, u32, f64)>> =
        chunk_sizes.iter().map(|&n| Vec::with_capacity(n)).collect();
    for i in 0..rows.n_rows() {
        let (columns, row_values) = rows.row(i);
        // Columns are sorted within a row: the block's entries are one contiguous run.
        let start = columns.partition_point(|&c| (c as usize) < first);
        for (&c, &v) in columns[start..].iter().zip(&row_values[start..]) {
            if c as usize >= end {
                break;
            }
            let k = c as usize - first;
            buckets[chunk_of[k] as usize].push((i as u32, k as u32, v));
        }
    }
    let mut next = offsets.clone();
    let mut row_index = vec![0u32; offsets[width]];
    let mut values = vec![0.0; offsets[width]];
    for bucket in buckets {
        // In row order: every column's rows stay increasing.
        for (i, k, v) in bucket {
            let slot = &mut next[k as usize];
            row_index[*slot] = i;
            values[*slot] = v;
            *slot += 1;
        }
    }
    ColumnBlock {
        first_column: first,
        columns: Arc::new(ColumnShard {
            n_rows: rows.n_rows(),
            col_offsets: offsets,
            rows: row_index.into(),
            values: values.into(),
        }),
        labels: rows.labels.clone(),
        first_pass: None,
    }
}

/// Why a caller's columns in memory cannot be read: the first offence in column order (and
/// within a column, in stored order). The messages name X and y as the Python estimators do.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnsError {
    /// X and y (or the arrays of X) disagree in shape.
    Shape(String),
    /// Column `column`'s entries would be `start..end` of the arrays, which is out of range.
    Offsets {
        /// The column.
        column: usize,
        /// Its first entry.
        start: i64,
        /// One past its last entry.
        end: i64,
    },
    /// An entry's row index is negative or not below the number of rows.
    RowOutOfRange {
        /// The row index.
        row: i64,
        /// The entry's column.
        column: usize,
        /// Rows of X.
        n_rows: usize,
    },
    /// An entry is NaN or infinite.
    NotFinite {
        /// The value.
        value: f64,
        /// Its row.
        row: usize,
        /// Its column.
        column: usize,
    },
    /// Duplicate entries of one row and column sum to infinity.
    DuplicatesOverflow {
        /// Their row.
        row: usize,
        /// Their column.
        column: usize,
    },
    /// A label is NaN or infinite.
    Label {
        /// Its row.
        row: usize,
        /// The label.
        value: f64,
    },
}

/// A float as Python prints it (`nan`, `inf`), for messages about a caller's arrays.
fn python_float(value: f64) -> String {
    if value.is_nan() {
        "nan".into()
    } else {
        format!("{value}")
    }
}

impl std::fmt::Display for ColumnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnsError::Shape(message) => write!(f, "{message}"),
            ColumnsError::Offsets { column, start, end } => write!(
                f,
                "X's column offsets of column {column} ({start} to {end}) are out of range"
            ),
            ColumnsError::RowOutOfRange {
                row,
                column,
                n_rows,
            } => write!(
                f,
                "X has a row index {row} out of range at column {column} (X has {n_rows} rows)"
            ),
            ColumnsError::NotFinite { value, row, column } => write!(
                f,
                "X contains NaN or infinity: {} at row {row}, column {column}",
                python_float(*value)
            ),
            ColumnsError::DuplicatesOverflow { row, column } => write!(
                f,
                "X's duplicate entries of row {row}, column {column} sum to infinity"
            ),
            ColumnsError::Label { row, value } => write!(
                f,
                "y contains NaN or infinity: {} at row {row}",
                python_float(*value)
            ),
        }
    }
}

impl std::error::Error for ColumnsError {}

/// A caller's matrix read column by column, for [`blocks_from_columns`]: a CSC matrix's arrays
/// ([`CscColumns`]) or a dense array.
pub trait ColumnSource: Sync {
    /// Whether [`ColumnSource::stored`] counts each column's nonzeros exactly unless the
    /// column holds explicit zeros or duplicates (a CSC matrix), rather than bounding them
    /// (a dense array): then the blocks' storage is reserved from it.
    const STORED_IS_EXACT: bool;

    /// Rows of X.
    fn n_rows(&self) -> usize;

    /// Columns of X.
    fn n_cols(&self) -> usize;

    /// Entries stored for column `j` (see [`ColumnSource::STORED_IS_EXACT`]), which cut the
    /// blocks first; fails if the column's extent in the arrays is out of range.
    fn stored(&self, j: usize) -> Result<usize, ColumnsError>;

    /// Appends column `j`'s nonzeros to `rows` and `values` in increasing row order (duplicates
    /// summed in their stored order, zeros dropped), checking every entry.
    fn read_column(
        &self,
        j: usize,
        rows: &mut Vec<u32>,
        values: &mut Vec<f64>,
    ) -> Result<(), ColumnsError>;
}

/// A CSC matrix's arrays as scipy holds them (`indptr`, `indices`: int32 or int64, `data`),
/// borrowed.
#[derive(Clone, Copy, Debug)]
pub struct CscColumns<'a, P, I> {
    /// `indptr[j]..indptr[j + 1]` are column j's entries.
    pub indptr: &'a [P],
    /// Each entry's row.
    pub indices: &'a [I],
    /// Each entry's value.
    pub data: &'a [f64],
    /// Rows of X.
    pub n_rows: usize,
}

impl<'a, P, I> CscColumns<'a, P, I>
where
    P: Copy + Into<i64> + Sync,
    I: Copy + Into<i64> + Sync,
{
    /// The arrays of a CSC matrix of `n_rows` rows (and `indptr.len() - 1` columns), checked
    /// for their lengths; every entry is checked as it is read.
    pub fn new(
        indptr: &'a [P],
        indices: &'a [I],
        data: &'a [f64],
        n_rows: usize,
    ) -> Result<Self, ColumnsError> {
        if indptr.is_empty() {
            return Err(ColumnsError::Shape("X's indptr is empty".into()));
        }
        if indices.len() != data.len() {
            return Err(ColumnsError::Shape(
                "X's indices and data differ in length".into(),
            ));
        }
        Ok(CscColumns {
            indptr,
            indices,
            data,
            n_rows,
        })
    }

    /// Rows an entry's index must be below: rows are stored as u32.
    fn height(&self) -> u64 {
        (self.n_rows as u64).min(u64::from(u32::MAX) + 1)
    }

    fn extent(&self, j: usize) -> Result<(usize, usize), ColumnsError> {
        let (start, end): (i64, i64) = (self.indptr[j].into(), self.indptr[j + 1].into());
        if start < 0 || end < start || end as u64 > self.data.len() as u64 {
            return Err(ColumnsError::Offsets {
                column: j,
                start,
                end,
            });
        }
        Ok((start as usize, end as usize))
    }
}

impl<P, I> ColumnSource for CscColumns<'_, P, I>
where
    P: Copy + Into<i64> + Sync,
    I: Copy + Into<i64> + Sync,
{
    const STORED_IS_EXACT: bool = true;

    fn n_rows(&self) -> usize {
        self.n_rows
    }

    fn n_cols(&self) -> usize {
        self.indptr.len() - 1
    }

    fn stored(&self, j: usize) -> Result<usize, ColumnsError> {
        self.extent(j).map(|(start, end)| end - start)
    }

    fn read_column(
        &self,
        j: usize,
        rows: &mut Vec<u32>,
        values: &mut Vec<f64>,
    ) -> Result<(), ColumnsError> {
        let (start, end) = self.extent(j)?;
        let (indices, data) = (&self.indices[start..end], &self.data[start..end]);
        let height = self.height();
        // The usual column is checked by one scan without branches, then copied whole; only
        // another column is read entry by entry, to name its first offence or to sort it.
        if is_canonical(indices, data, height) {
            rows.extend(indices.iter().map(|&row| {
                let row: i64 = row.into();
                row as u32
            }));
            values.extend_from_slice(data);
            return Ok(());
        }
        let column_start = rows.len();
        let mut previous = -1i64;
        let mut sorted = true;
        for (&row, &value) in indices.iter().zip(data) {
            let row: i64 = row.into();
            if row < 0 || row as u64 >= height {
                return Err(ColumnsError::RowOutOfRange {
                    row,
                    column: j,
                    n_rows: self.n_rows,
                });
            }
            if !value.is_finite() {
                return Err(ColumnsError::NotFinite {
                    value,
                    row: row as usize,
                    column: j,
                });
            }
            sorted &= row > previous;
            previous = row;
            if value != 0.0 {
                rows.push(row as u32);
                values.push(value);
            }
        }
        if !sorted {
            canonical_column(rows, values, column_start).map_err(|row| {
                ColumnsError::DuplicatesOverflow {
                    row: row as usize,
                    column: j,
                }
            })?;
        }
        Ok(())
    }
}

/// Whether a column's entries are its nonzeros as the blocks hold them: rows in range (below
/// `height`) and increasing, values finite and nonzero. One scan without branches.
fn is_canonical<I: Copy + Into<i64>>(indices: &[I], data: &[f64], height: u64) -> bool {
    let mut previous = -1i64;
    let mut clean = true;
    for (&row, &value) in indices.iter().zip(data) {
        let row: i64 = row.into();
        clean &= (row > previous) & ((row as u64) < height) & value.is_finite() & (value != 0.0);
        previous = row;
    }
    clean
}

/// Sorts the entries of the last column (from `start`) by row, summing duplicates in their
/// stored order (as the rows' reading sums a row's duplicates) and dropping sums of zero;
/// `Err(row)` if a sum overflows.
fn canonical_column(rows: &mut Vec<u32>, values: &mut Vec<f64>, start: usize) -> Result<(), u32> {
    let mut entries: Vec<(u32, f64)> = rows[start..]
        .iter()
        .copied()
        .zip(values[start..].iter().copied())
        .collect();
    // Stable, so duplicates are summed in their stored order.
    entries.sort_by_key(|&(row, _)| row);
    rows.truncate(start);
    values.truncate(start);
    let mut k = 0;
    while k < entries.len() {
        let row = entries[k].0;
        let mut sum = 0.0;
        while k < entries.len() && entries[k].0 == row {
            sum += entries[k].1;
            k += 1;
        }
        if !sum.is_finite() {
            return Err(row);
        }
        if sum != 0.0 {
            rows.push(row);
            values.push(sum);
        }
    }
    Ok(())
}

/// Reads columns `first..end` of `source` into one shard (row indices over all rows), with the
/// largest `|x_j . at_zero|` over them: each column's gradient at `b = 0` (`at_zero` holds
/// `f'(y_i, 0)`), summed as [`super::kernels::coordinate_statistics`] sums it, while the
/// column is in cache.
fn read_block(
    source: &impl ColumnSource,
    first: usize,
    end: usize,
    reserve: usize,
    at_zero: &[f64],
) -> Result<(ColumnShard, f64), ColumnsError> {
    let mut col_offsets = Vec::with_capacity(end - first + 1);
    let mut rows = Vec::with_capacity(reserve);
    let mut values = Vec::with_capacity(reserve);
    col_offsets.push(0);
    let mut max_abs_gradient = 0.0f64;
    for j in first..end {
        let start = rows.len();
        source.read_column(j, &mut rows, &mut values)?;
        let mut g = 0.0;
        for (&i, &x) in rows[start..].iter().zip(&values[start..]) {
            g += x * at_zero[i as usize];
        }
        max_abs_gradient = max_abs_gradient.max(g.abs());
        col_offsets.push(rows.len());
    }
    let shard = ColumnShard {
        n_rows: source.n_rows(),
        col_offsets,
        rows: rows.into(),
        values: values.into(),
    };
    Ok((shard, max_abs_gradient))
}

/// Stored entries from which [`blocks_from_columns`] reads the blocks on a thread each: below
/// it (a few hundred microseconds of reading) a thread's start and join would cost more.
const PARALLEL_READ_MIN_ENTRIES: f64 = 100_000.0;

/// A caller's matrix in memory, read once into the column layout's blocks for `peers` workers
/// with its labels: the blocks [`block_from_memory`] would build from the same matrix's rows
/// (the same boundaries, by the nonzeros per column; the same entries in increasing row order),
/// each read straight from the caller's columns, every entry checked as it is copied
/// ([`ColumnSource::read_column`]), the blocks on `peers` threads at once (on this thread alone
/// when the matrix is small).
///
/// The blocks are first cut by the stored entries per column; if a column's nonzeros differ
/// (explicit zeros, duplicates, a dense array), they are cut again by the nonzeros, copying
/// the columns once more when that moves a boundary.
///
/// Also returns `||X^T at_zero||_inf` (`at_zero[i] = f'(y_i, 0)`, so lambda_max), summed per
/// column as the column layout sums it, in the same pass.
pub fn blocks_from_columns<S: ColumnSource>(
    source: &S,
    labels: &[f64],
    at_zero: &[f64],
    peers: usize,
) -> Result<(Vec<ColumnBlock>, f64), ColumnsError> {
    read_blocks(source, labels, at_zero, peers, PARALLEL_READ_MIN_ENTRIES)
}

/// [`blocks_from_columns`], reading on a thread per block from `parallel_min_entries` stored
/// entries.
fn read_blocks<S: ColumnSource>(
    source: &S,
    labels: &[f64],
    at_zero: &[f64],
    peers: usize,
    parallel_min_entries: f64,
) -> Result<(Vec<ColumnBlock>, f64), ColumnsError> {
    let stored = check_shape(source, labels)?;
    let peers = peers.max(1);
    let boundaries = block_boundaries(&stored, peers);
    let reserve = |w: usize| -> usize {
        if S::STORED_IS_EXACT {
            stored[boundaries[w]..boundaries[w + 1]].iter().sum::<f64>() as usize
        } else {
            0
        }
    };
    assert_eq!(at_zero.len(), source.n_rows(), "one derivative per row");
    let read = |w: usize| {
        read_block(
            source,
            boundaries[w],
            boundaries[w + 1],
            reserve(w),
            at_zero,
        )
    };
    // A small matrix is read on this thread: starting and joining a thread per block would
    // cost more than reading them (a fit from Python of a few thousand entries).
    let shards = on_threads(
        peers,
        stored.iter().sum::<f64>() >= parallel_min_entries,
        read,
    );
    // The first offence in column order: blocks are in column order.
    let shards = shards.into_iter().collect::<Result<Vec<_>, _>>()?;
    // The largest over all columns, whichever block holds them (as the workers' all-gathered
    // maxima give it).
    let max_abs_gradient = shards
        .iter()
        .map(|&(_, block_max)| block_max)
        .fold(0.0f64, f64::max);
    let shards: Vec<ColumnShard> = shards.into_iter().map(|(shard, _)| shard).collect();
    let nonzeros: Vec<f64> = shards
        .iter()
        .flat_map(|shard| shard.col_offsets.windows(2).map(|w| (w[1] - w[0]) as f64))
        .collect();
    let final_boundaries = if nonzeros == stored {
        boundaries.clone()
    } else {
        block_boundaries(&nonzeros, peers)
    };
    let shards = if final_boundaries == boundaries {
        shards
    } else {
        recut(&shards, &boundaries, &final_boundaries)
    };
    let blocks = shards
        .into_iter()
        .enumerate()
        .map(|(w, shard)| ColumnBlock {
            first_column: final_boundaries[w],
            columns: Arc::new(shard),
            labels: labels.to_vec(),
            first_pass: None,
        })
        .collect();
    Ok((blocks, max_abs_gradient))
}

/// The labels' and the columns' extents checked against X's shape: each column's stored
/// entries.
fn check_shape(source: &impl ColumnSource, labels: &[f64]) -> Result<Vec<f64>, ColumnsError> {
    let n_rows = source.n_rows();
    if labels.len() != n_rows {
        return Err(ColumnsError::Shape(format!(
            "X has {n_rows} rows but y has {} entries",
            labels.len()
        )));
    }
    if let Some(row) = labels.iter().position(|y| !y.is_finite()) {
        return Err(ColumnsError::Label {
            row,
            value: labels[row],
        });
    }
    (0..source.n_cols())
        .map(|j| source.stored(j).map(|n| n as f64))
        .collect()
}

/// `task(w)` for every block `w` of `peers`, in block order: on a thread each if `parallel`
/// (this thread doing block 0), else all on this thread.
fn on_threads<T: Send>(peers: usize, parallel: bool, task: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if !parallel {
        return (0..peers).map(task).collect();
    }
    let task = &task;
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..peers).map(|w| scope.spawn(move || task(w))).collect();
        let mut results = vec![task(0)];
        results.extend(
            others
                .into_iter()
                .map(|handle| handle.join().expect("a block's reading panicked")),
        );
        results
    })
}

/// [`blocks_from_columns`] for a CSC matrix whose blocks can read its entries in place: if
/// every column is canonical (each column's rows in range and increasing, its values finite and
/// nonzero: scipy's canonical format without explicit zeros), each block's row indices and
/// values are `rows` and `values` at the block's entries, shared, not copied; `rows` must be
/// `source.indices` as u32, `values` `source.data`. Without `rows` (int64 indices, which the
/// blocks cannot read as u32) each block's row indices are copied, narrowed, and its values
/// shared. The entries are read once (on a thread per block when the matrix is large), to check
/// them and to find lambda_max, summed as [`blocks_from_columns`] sums it: the same blocks, the
/// same lambda_max bit for bit. Any other matrix is read by [`blocks_from_columns`] (which
/// copies it, naming its first bad entry); the second value says whether the blocks share it.
pub fn shared_blocks_from_csc<P, I>(
    source: &CscColumns<'_, P, I>,
    rows: Option<&Entries<u32>>,
    values: &Entries<f64>,
    labels: &[f64],
    at_zero: &[f64],
    peers: usize,
) -> Result<(Vec<ColumnBlock>, f64, bool), ColumnsError>
where
    P: Copy + Into<i64> + Sync,
    I: Copy + Into<i64> + Sync,
{
    shared_blocks(
        source,
        rows,
        values,
        labels,
        at_zero,
        peers,
        PARALLEL_READ_MIN_ENTRIES,
    )
}

/// [`shared_blocks_from_csc`], checking on a thread per block from `parallel_min_entries`
/// stored entries.
fn shared_blocks<P, I>(
    source: &CscColumns<'_, P, I>,
    rows: Option<&Entries<u32>>,
    values: &Entries<f64>,
    labels: &[f64],
    at_zero: &[f64],
    peers: usize,
    parallel_min_entries: f64,
) -> Result<(Vec<ColumnBlock>, f64, bool), ColumnsError>
where
    P: Copy + Into<i64> + Sync,
    I: Copy + Into<i64> + Sync,
{
    let same_entries = values.len() == source.data.len()
        && values.as_ptr() == source.data.as_ptr()
        && rows.is_none_or(|rows| {
            rows.len() == source.indices.len()
                && std::mem::size_of::<I>() == std::mem::size_of::<u32>()
                && rows.as_ptr().cast::<()>() == source.indices.as_ptr().cast::<()>()
        });
    if !same_entries {
        return Err(ColumnsError::Shape(
            "the shared entries are not the CSC matrix's".into(),
        ));
    }
    let stored = check_shape(source, labels)?;
    assert_eq!(at_zero.len(), labels.len(), "one derivative per row");
    let peers = peers.max(1);
    let boundaries = block_boundaries(&stored, peers);
    // Every extent was checked: column j's entries start at `indptr[j]`, and a block's columns'
    // entries are contiguous.
    let offset = |j: usize| -> usize {
        let offset: i64 = source.indptr[j].into();
        offset as usize
    };
    let height = source.height();
    // Per block: its largest |x_j . at_zero|, what the solve's first two passes would find
    // (found in this pass, which reads the same entries, instead of in two of the solve's
    // own), and its row indices if narrowed; `None` if a column is not canonical.
    let check = |w: usize| -> Option<(f64, FirstPass, Option<Vec<u32>>)> {
        let mut max_abs_gradient = 0.0f64;
        let width = boundaries[w + 1] - boundaries[w];
        let mut first_pass = FirstPass {
            column_norms2: Vec::with_capacity(width),
            gradients_at_zero: Vec::with_capacity(width),
        };
        for j in boundaries[w]..boundaries[w + 1] {
            let (start, end) = (offset(j), offset(j + 1));
            let (indices, data) = (&source.indices[start..end], &source.data[start..end]);
            if !is_canonical(indices, data, height) {
                return None;
            }
            let mut g = 0.0;
            for (&i, &x) in indices.iter().zip(data) {
                let i: i64 = i.into();
                g += x * at_zero[i as usize];
            }
            max_abs_gradient = max_abs_gradient.max(g.abs());
            // In the order of the solve's own sums (`column_descent`), so the same bits.
            first_pass
                .column_norms2
                .push(data.iter().map(|x| x * x).sum::<f64>());
            first_pass
                .gradients_at_zero
                .push(gather_dot_by(indices, data, at_zero));
        }
        let narrowed = rows.is_none().then(|| {
            let entries = offset(boundaries[w])..offset(boundaries[w + 1]);
            source.indices[entries]
                .iter()
                .map(|&i| {
                    let i: i64 = i.into();
                    i as u32
                })
                .collect()
        });
        Some((max_abs_gradient, first_pass, narrowed))
    };
    let parallel = stored.iter().sum::<f64>() >= parallel_min_entries;
    let Some(checked) = on_threads(peers, parallel, check)
        .into_iter()
        .collect::<Option<Vec<_>>>()
    else {
        let (blocks, lambda_max) =
            read_blocks(source, labels, at_zero, peers, parallel_min_entries)?;
        return Ok((blocks, lambda_max, false));
    };
    let max_abs_gradient = checked
        .iter()
        .map(|&(block_max, _, _)| block_max)
        .fold(0.0f64, f64::max);
    let blocks = checked
        .into_iter()
        .enumerate()
        .map(|(w, (_, first_pass, narrowed))| {
            let (first, end) = (boundaries[w], boundaries[w + 1]);
            let entries = offset(first)..offset(end);
            ColumnBlock {
                first_column: first,
                columns: Arc::new(ColumnShard {
                    n_rows: source.n_rows,
                    col_offsets: (first..=end).map(|j| offset(j) - entries.start).collect(),
                    rows: match narrowed {
                        Some(narrowed) => narrowed.into(),
                        None => rows.expect("narrowed without rows").slice(entries.clone()),
                    },
                    values: values.slice(entries),
                }),
                labels: labels.to_vec(),
                first_pass: Some(first_pass),
            }
        })
        .collect();
    Ok((blocks, max_abs_gradient, true))
}

/// The blocks `shards`, cut at `from`, cut again at `to` (every column copied once).
fn recut(shards: &[ColumnShard], from: &[usize], to: &[usize]) -> Vec<ColumnShard> {
    // Global column j is column j - from[w] of the shard w that holds it.
    let column = |j: usize| -> (&[u32], &[f64]) {
        let w = from[1..].partition_point(|&start| start <= j);
        shards[w].column(j - from[w])
    };
    let n_rows = shards.first().map_or(0, |shard| shard.n_rows);
    to.windows(2)
        .map(|range| {
            let (mut col_offsets, mut rows, mut values) = (vec![0], Vec::new(), Vec::new());
            for j in range[0]..range[1] {
                let (index, column_values) = column(j);
                rows.extend_from_slice(index);
                values.extend_from_slice(column_values);
                col_offsets.push(rows.len());
            }
            ColumnShard {
                n_rows,
                col_offsets,
                rows: rows.into(),
                values: values.into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_balance_nonzeros_and_cover_every_column() {
        let counts = [5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 4.0, 2.0];
        assert_eq!(block_boundaries(&counts, 1), vec![0, 8]);
        assert_eq!(block_boundaries(&counts, 2), vec![0, 4, 8]);
        let three = block_boundaries(&counts, 3);
        assert_eq!((three[0], three[3]), (0, 8));
        assert!(three.windows(2).all(|w| w[0] <= w[1]));
        // More workers than columns: some blocks are empty, none overlap.
        let many = block_boundaries(&[1.0, 1.0], 4);
        assert_eq!(many.len(), 5);
        assert!(many.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*many.last().unwrap(), 2);
    }

    #[test]
    fn entries_arriving_in_any_order_of_sources_become_sorted_columns() {
        let entry = |row: u32, column: u32, value: f64| {
            let mut e = Vec::new();
            e.extend_from_slice(&row.to_le_bytes());
            e.extend_from_slice(&column.to_le_bytes());
            e.extend_from_slice(&value.to_le_bytes());
            e
        };
        let counts = |c: [u32; 2]| c.iter().flat_map(|n| n.to_le_bytes()).collect::<Vec<u8>>();
        // Two sources: rows 0-1, then rows 2-3; the block is columns 3..5, each source's entries
        // in two messages, the second source's first.
        let from_each = [counts([1, 2]), counts([1, 1])];
        let mut block = BlockFiller::new(vec![0, 2, 5], &from_each).unwrap();
        block.place(1, 3, &[entry(2, 4, 4.0)].concat());
        block.place(0, 3, &[entry(0, 4, 1.0), entry(1, 3, 2.0)].concat());
        block.place(1, 3, &entry(3, 3, 5.0));
        block.place(0, 3, &entry(1, 4, 3.0));
        let shard = block.finish(4);
        assert_eq!(shard.n_cols(), 2);
        assert_eq!(shard.column(0), (&[1u32, 3][..], &[2.0, 5.0][..]));
        assert_eq!(shard.column(1), (&[0u32, 1, 2][..], &[1.0, 3.0, 4.0][..]));
        // Counts that do not add up to the columns' sizes are an error.
        assert!(BlockFiller::new(vec![0, 2, 6], &from_each).is_err());
    }

    /// The blocks built from rows in memory are the transposed matrix cut at the boundaries:
    /// every column's rows and values in increasing row order, and every label.
    #[test]
    fn blocks_from_memory_are_the_transpose_cut_at_the_boundaries() {
        let mut rows = SparseRows::new();
        rows.push_row(1.0, &[0, 2, 5], &[1.0, 2.0, 3.0]);
        rows.push_row(2.0, &[1, 2], &[4.0, 5.0]);
        rows.push_row(3.0, &[], &[]);
        rows.push_row(4.0, &[0, 5, 6], &[6.0, 7.0, 8.0]);
        let n_cols = 8; // column 7 is empty
        let whole = ColumnShard::from_rows(&rows, n_cols);
        for (peers, chunk_entries) in
            (1..=3).flat_map(|p| [(p, 1), (p, 2), (p, 3), (p, CHUNK_ENTRIES)])
        {
            let mut next_column = 0;
            for index in 0..peers {
                let block = block_from_memory_in_chunks(&rows, n_cols, index, peers, chunk_entries);
                assert_eq!(block.first_column, next_column);
                assert_eq!(block.labels, rows.labels);
                for k in 0..block.columns.n_cols() {
                    assert_eq!(block.columns.column(k), whole.column(next_column + k));
                }
                next_column += block.columns.n_cols();
            }
            assert_eq!(next_column, n_cols);
        }
    }

    /// Read on this thread or on a thread per block, a CSC matrix's blocks are the same: the
    /// transposed rows cut at the same boundaries, with the same lambda_max bit for bit, and a
    /// bad entry is named the same way.
    #[test]
    fn columns_read_serially_or_in_parallel_give_the_same_blocks() {
        let (n_rows, n_cols) = (40, 30);
        let mut rows = SparseRows::new();
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        for i in 0..n_rows {
            let mut columns: Vec<u32> = (0..n_cols as u32).filter(|_| next() % 4 == 0).collect();
            columns.dedup();
            let values: Vec<f64> = columns.iter().map(|_| next() as f64 / 1e9 - 2.0).collect();
            rows.push_row(i as f64 - 10.0, &columns, &values);
        }
        let whole = ColumnShard::from_rows(&rows, n_cols);
        let indptr: Vec<i64> = whole.col_offsets.iter().map(|&o| o as i64).collect();
        let indices: Vec<i32> = whole.rows.iter().map(|&r| r as i32).collect();
        let source = CscColumns::new(&indptr, &indices, &whole.values, n_rows).unwrap();
        let at_zero: Vec<f64> = rows.labels.iter().map(|y| -y).collect();
        let expected_max = (0..n_cols)
            .map(|j| {
                let (r, v) = whole.column(j);
                r.iter()
                    .zip(v)
                    .map(|(&i, &x)| x * at_zero[i as usize])
                    .sum::<f64>()
                    .abs()
            })
            .fold(0.0f64, f64::max);
        for peers in 1..=3 {
            for parallel_min_entries in [0.0, f64::INFINITY] {
                let (blocks, max) =
                    read_blocks(&source, &rows.labels, &at_zero, peers, parallel_min_entries)
                        .unwrap();
                assert_eq!(max.to_bits(), expected_max.to_bits());
                let expected = block_boundaries(
                    &(0..n_cols)
                        .map(|j| whole.column(j).0.len() as f64)
                        .collect::<Vec<_>>(),
                    peers,
                );
                assert_eq!(blocks.len(), peers);
                for (w, block) in blocks.iter().enumerate() {
                    assert_eq!(block.first_column, expected[w]);
                    assert_eq!(block.labels, rows.labels);
                    for k in 0..block.columns.n_cols() {
                        assert_eq!(block.columns.column(k), whole.column(expected[w] + k));
                    }
                }
            }
            // A NaN in the last column is named by its row and column on either path.
            let mut bad_values = whole.values.to_vec();
            *bad_values.last_mut().unwrap() = f64::NAN;
            let bad = CscColumns::new(&indptr, &indices, &bad_values, n_rows).unwrap();
            let errors: Vec<String> = [0.0, f64::INFINITY]
                .into_iter()
                .map(|min| {
                    read_blocks(&bad, &rows.labels, &at_zero, peers, min)
                        .unwrap_err()
                        .to_string()
                })
                .collect();
            assert_eq!(errors[0], errors[1]);
            assert!(
                errors[0].contains(&format!("column {}", n_cols - 1)),
                "{}",
                errors[0]
            );
        }
    }

    /// A canonical CSC matrix's blocks read its entries in place (u32 indices shared, int64
    /// indices narrowed into each block, values shared), and are the copied blocks: the same
    /// boundaries, columns and lambda_max bit for bit, serially or on threads. A matrix with
    /// an unsorted column is copied (and sorted) instead, and a NaN is named as when copying.
    #[test]
    fn shared_blocks_read_the_entries_in_place_and_equal_the_copied_blocks() {
        let (n_rows, n_cols) = (50, 40);
        let mut rows = SparseRows::new();
        let mut state = 11u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        for i in 0..n_rows {
            let columns: Vec<u32> = (0..n_cols as u32).filter(|_| next() % 3 == 0).collect();
            let values: Vec<f64> = columns.iter().map(|_| next() as f64 / 1e9 - 2.0).collect();
            rows.push_row(i as f64 * 0.5 - 7.0, &columns, &values);
        }
        // The reference: the rows transposed.
        let whole = ColumnShard::from_rows(&rows, n_cols);
        let indptr: Vec<i32> = whole.col_offsets.iter().map(|&o| o as i32).collect();
        let indices: &'static [u32] = Box::leak(whole.rows.to_vec().into_boxed_slice());
        let wide: Vec<i64> = indices.iter().map(|&r| i64::from(r)).collect();
        let data: &'static [f64] = Box::leak(whole.values.to_vec().into_boxed_slice());
        let owner: Arc<dyn std::any::Any + Send + Sync> = Arc::new(());
        let shared_rows = Entries::shared(indices, Arc::clone(&owner));
        let shared_values = Entries::shared(data, Arc::clone(&owner));
        let at_zero: Vec<f64> = rows.labels.iter().map(|y| -y).collect();
        let in_data = |p: *const f64| data.as_ptr_range().contains(&p) || data.is_empty();
        for peers in 1..=3 {
            for parallel_min_entries in [0.0, f64::INFINITY] {
                let narrow = CscColumns::new(&indptr, indices, data, n_rows).unwrap();
                let (copied, copied_max) =
                    read_blocks(&narrow, &rows.labels, &at_zero, peers, parallel_min_entries)
                        .unwrap();
                let wide_source = CscColumns::new(&indptr, &wide, data, n_rows).unwrap();
                for source_rows in [Some(&shared_rows), None] {
                    let shared = match source_rows {
                        Some(_) => shared_blocks(
                            &narrow,
                            source_rows,
                            &shared_values,
                            &rows.labels,
                            &at_zero,
                            peers,
                            parallel_min_entries,
                        ),
                        None => shared_blocks(
                            &wide_source,
                            None,
                            &shared_values,
                            &rows.labels,
                            &at_zero,
                            peers,
                            parallel_min_entries,
                        ),
                    };
                    let (blocks, max, shares) = shared.unwrap();
                    assert!(shares);
                    assert_eq!(max.to_bits(), copied_max.to_bits());
                    assert_eq!(blocks.len(), copied.len());
                    let mut next_column = 0;
                    for (block, copy) in blocks.iter().zip(&copied) {
                        assert_eq!(block.first_column, copy.first_column);
                        assert_eq!(block.first_column, next_column);
                        assert_eq!(block.labels, rows.labels);
                        assert_eq!(block.columns.n_rows, n_rows);
                        assert_eq!(block.columns.col_offsets, copy.columns.col_offsets);
                        for k in 0..block.columns.n_cols() {
                            assert_eq!(block.columns.column(k), whole.column(next_column + k));
                        }
                        next_column += block.columns.n_cols();
                        assert!(block.columns.values.is_shared());
                        assert!(in_data(block.columns.values.as_ptr()));
                        assert_eq!(block.columns.rows.is_shared(), source_rows.is_some());
                    }
                    assert_eq!(next_column, n_cols);
                    // Every block holds the owner; dropped, they let it go.
                    assert!(Arc::strong_count(&owner) > 3);
                    drop(blocks);
                    assert_eq!(Arc::strong_count(&owner), 3);
                }
            }
            // One column's first two entries swapped: copied, sorted, the same blocks as a copy.
            let j = (0..n_cols).find(|&j| whole.column(j).0.len() >= 2).unwrap();
            let first = whole.col_offsets[j];
            let mut unsorted: Vec<u32> = indices.to_vec();
            let mut unsorted_data: Vec<f64> = data.to_vec();
            unsorted.swap(first, first + 1);
            unsorted_data.swap(first, first + 1);
            let unsorted: &'static [u32] = Box::leak(unsorted.into_boxed_slice());
            let unsorted_data: &'static [f64] = Box::leak(unsorted_data.into_boxed_slice());
            let source = CscColumns::new(&indptr, unsorted, unsorted_data, n_rows).unwrap();
            let (blocks, max, shares) = shared_blocks(
                &source,
                Some(&Entries::shared(unsorted, Arc::clone(&owner))),
                &Entries::shared(unsorted_data, Arc::clone(&owner)),
                &rows.labels,
                &at_zero,
                peers,
                0.0,
            )
            .unwrap();
            assert!(!shares);
            let narrow = CscColumns::new(&indptr, indices, data, n_rows).unwrap();
            let (copied, copied_max) =
                read_blocks(&narrow, &rows.labels, &at_zero, peers, 0.0).unwrap();
            assert_eq!(max.to_bits(), copied_max.to_bits());
            for (block, copy) in blocks.iter().zip(&copied) {
                assert!(!block.columns.values.is_shared());
                assert_eq!(block.first_column, copy.first_column);
                for k in 0..block.columns.n_cols() {
                    assert_eq!(block.columns.column(k), copy.columns.column(k));
                }
            }
            // A NaN is named as the copy names it.
            let mut bad: Vec<f64> = data.to_vec();
            bad[first + 1] = f64::NAN;
            let bad: &'static [f64] = Box::leak(bad.into_boxed_slice());
            let source = CscColumns::new(&indptr, indices, bad, n_rows).unwrap();
            let error = shared_blocks(
                &source,
                Some(&shared_rows),
                &Entries::shared(bad, Arc::clone(&owner)),
                &rows.labels,
                &at_zero,
                peers,
                0.0,
            )
            .unwrap_err();
            let copy_error = read_blocks(&source, &rows.labels, &at_zero, peers, 0.0).unwrap_err();
            assert_eq!(error.to_string(), copy_error.to_string());
            assert!(
                error.to_string().contains(&format!("column {j}")),
                "{error}"
            );
            // Entries that are not the matrix's are refused.
            assert!(shared_blocks(
                &source,
                Some(&shared_rows),
                &shared_values,
                &rows.labels,
                &at_zero,
                peers,
                0.0
            )
            .is_err());
        }
    }
}
