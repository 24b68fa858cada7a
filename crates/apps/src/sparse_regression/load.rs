//! Sharded loading: every worker parses only its own byte range of the input, then the workers
//! agree on the shape of X (and on whether anyone met an error) with one all-gather.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strads_engine::Worker;
use strads_io::{
    check_mm_total, check_nonempty_total, entries_to_rows, is_libsvm_cache, read_labels,
    read_libsvm_shard, read_mm_header, read_mm_shard, shard_owned_bytes, DataError, LabelKind,
    LibsvmCache, LibsvmOptions, MmEntry, SparseRows,
};

use super::column_blocks::{
    blocks_from_columns, shared_blocks_from_csc, ColumnBlock, ColumnSource, ColumnsError,
    CscColumns,
};
use super::column_shard::Entries;
use super::loss::{LogisticLoss, Loss, LossKind, SquaredLoss};
use crate::error::AppError;

/// Where the training data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// A libsvm / svmlight file (labels in the first column).
    Libsvm {
        /// The file.
        path: PathBuf,
        /// Whether feature indices start at 0 instead of 1.
        zero_based: bool,
    },
    /// A MatrixMarket coordinate file for X and a file with one label per line.
    MatrixMarket {
        /// The matrix.
        matrix: PathBuf,
        /// The labels, one per row of the matrix.
        labels: PathBuf,
    },
    /// Rows already in memory (the Python bindings' arrays), shared by the worker threads of
    /// one process; each worker copies its contiguous block of rows. One process only: the
    /// other processes of a cluster would not have the rows.
    InMemory(InMemoryRows),
    /// A matrix in memory already read into the column layout's blocks, one per worker thread
    /// of one process (the Python bindings' CSC and dense arrays). The column layout only.
    InMemoryColumns(InMemoryColumns),
}

/// Labelled rows held in memory, with the width of X (which may exceed the largest column
/// index: trailing columns may be empty). Two values are equal when they share the same rows.
#[derive(Clone, Debug)]
pub struct InMemoryRows {
    /// The rows, each with its label, meeting [`SparseRows`]' invariants.
    pub rows: Arc<SparseRows>,
    /// Columns of X.
    pub n_cols: usize,
}

impl InMemoryRows {
    /// Checks [`SparseRows`]' invariants and the width, naming the first offending row: a
    /// caller's arrays, unlike a parsed file, were never checked.
    pub fn new(rows: SparseRows, n_cols: usize) -> Result<Self, AppError> {
        rows.check_arrays(n_cols, |i, columns, values| {
            if let Some(k) = values.iter().position(|v| !v.is_finite() || *v == 0.0) {
                return Err(format!(
                    "row {i}, column {}: the value {} is not a finite nonzero number",
                    columns[k], values[k]
                ));
            }
            let label = rows.labels[i];
            if !label.is_finite() {
                return Err(format!("row {i}: the label {label} is not finite"));
            }
            Ok(())
        })
        .map_err(AppError::InvalidArgument)?;
        Ok(InMemoryRows {
            rows: Arc::new(rows),
            n_cols,
        })
    }

    /// Fails, naming the first offending row, when a label is not of `kind` (a file's reader
    /// checks this while parsing).
    pub fn check_labels(&self, kind: LabelKind) -> Result<(), AppError> {
        check_label_kind(&self.rows.labels, kind)
    }

    /// Worker `shard` of `peers`'s contiguous block of rows, copied.
    fn block(&self, shard: usize, peers: usize) -> SparseRows {
        let n_rows = self.rows.n_rows();
        let (start, end) = (shard * n_rows / peers, (shard + 1) * n_rows / peers);
        let mut block = SparseRows::new();
        for i in start..end {
            let (columns, values) = self.rows.row(i);
            block.push_row(self.rows.labels[i], columns, values);
        }
        block
    }
}

/// Fails, naming the first offending row, when a label is not of `kind`.
pub(crate) fn check_label_kind(labels: &[f64], kind: LabelKind) -> Result<(), AppError> {
    if kind == LabelKind::Binary {
        if let Some(i) = labels
            .iter()
            .position(|&y| !(y == 1.0 || y == -1.0 || y == 0.0))
        {
            return Err(AppError::InvalidArgument(format!(
                "row {i}: the label {} is not a class (-1 or +1, or 0 or 1)",
                labels[i]
            )));
        }
    }
    Ok(())
}

/// A caller's matrix in memory, read once into the column layout's blocks for a number of
/// worker threads ([`blocks_from_columns`]: one checked copy of each column, no rows and no
/// transposition; or, for a canonical CSC matrix, [`shared_blocks_from_csc`]: the blocks read
/// its arrays in place, which are only checked), with its labels, for one loss: the same pass
/// finds lambda_max. Two values are equal when they share the same blocks.
#[derive(Clone, Debug)]
pub struct InMemoryColumns {
    blocks: Arc<Vec<ColumnBlock>>,
    loss: LossKind,
    lambda_max: f64,
    n_rows: usize,
    n_cols: usize,
    nonzeros: usize,
    shares_entries: bool,
}

impl InMemoryColumns {
    /// Reads `source` with its `labels` into the blocks of `workers` worker threads for `loss`,
    /// checking every entry and label (logistic labels are -1/+1, or 0/1 meaning -1/+1). A bad
    /// entry or label is an [`AppError::InvalidArgument`] that names it ([`ColumnsError`]).
    pub fn new(
        source: &impl ColumnSource,
        labels: &[f64],
        workers: usize,
        loss: LossKind,
    ) -> Result<Self, AppError> {
        Self::read(source, labels, loss, |labels, at_zero| {
            blocks_from_columns(source, labels, at_zero, workers)
                .map(|(blocks, lambda_max)| (blocks, lambda_max, false))
        })
    }

    /// [`InMemoryColumns::new`] on a CSC matrix whose entries the blocks read in place when
    /// every column is canonical ([`shared_blocks_from_csc`]: `rows` are `source.indices` as
    /// u32, or `None` to copy them narrowed; `values` are `source.data`), with no copy of X;
    /// any other matrix is copied as by [`InMemoryColumns::new`]
    /// ([`InMemoryColumns::shares_entries`] tells which).
    pub fn shared<P, I>(
        source: &CscColumns<'_, P, I>,
        rows: Option<&Entries<u32>>,
        values: &Entries<f64>,
        labels: &[f64],
        workers: usize,
        loss: LossKind,
    ) -> Result<Self, AppError>
    where
        P: Copy + Into<i64> + Sync,
        I: Copy + Into<i64> + Sync,
    {
        Self::read(source, labels, loss, |labels, at_zero| {
            shared_blocks_from_csc(source, rows, values, labels, at_zero, workers)
        })
    }

    /// The labels checked for `loss`, and the blocks `read` from them and `f'(y_i, 0)`.
    fn read(
        source: &impl ColumnSource,
        labels: &[f64],
        loss: LossKind,
        read: impl FnOnce(&[f64], &[f64]) -> Result<(Vec<ColumnBlock>, f64, bool), ColumnsError>,
    ) -> Result<Self, AppError> {
        let bad = |e: ColumnsError| AppError::InvalidArgument(e.to_string());
        let mut labels = labels.to_vec();
        let at_zero: Vec<f64> = match loss {
            LossKind::Squared => at_zero::<SquaredLoss>(&labels),
            LossKind::Logistic => {
                if let Some(row) = labels.iter().position(|y| !y.is_finite()) {
                    return Err(bad(ColumnsError::Label {
                        row,
                        value: labels[row],
                    }));
                }
                check_label_kind(&labels, LabelKind::Binary)?;
                // 0/1 labels are accepted and mean -1/+1.
                for y in &mut labels {
                    if *y == 0.0 {
                        *y = -1.0;
                    }
                }
                at_zero::<LogisticLoss>(&labels)
            }
        };
        let (blocks, lambda_max, shares_entries) = read(&labels, &at_zero).map_err(bad)?;
        Ok(InMemoryColumns {
            shares_entries,
            nonzeros: blocks.iter().map(|b| b.columns.rows.len()).sum(),
            blocks: Arc::new(blocks),
            loss,
            lambda_max,
            n_rows: source.n_rows(),
            n_cols: source.n_cols(),
        })
    }

    /// The loss the blocks were read for.
    pub fn loss(&self) -> LossKind {
        self.loss
    }

    /// `||X^T theta(0)||_inf` for the loss, the smallest penalty with `b = 0` optimal.
    pub fn lambda_max(&self) -> f64 {
        self.lambda_max
    }

    /// Rows of X.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Columns of X.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Nonzeros of X.
    pub fn nonzeros(&self) -> usize {
        self.nonzeros
    }

    /// Whether the blocks read the caller's entries in place ([`InMemoryColumns::shared`])
    /// rather than a copy.
    pub fn shares_entries(&self) -> bool {
        self.shares_entries
    }

    /// The worker threads the blocks were cut for.
    pub fn workers(&self) -> usize {
        self.blocks.len()
    }

    /// Every row's label.
    pub fn labels(&self) -> &[f64] {
        self.blocks.first().map_or(&[], |b| &b.labels)
    }

    /// Worker `index` of `peers`'s block (its columns shared, not copied), for `loss`.
    pub(crate) fn block(
        &self,
        index: usize,
        peers: usize,
        loss: LossKind,
    ) -> Result<ColumnBlock, AppError> {
        if loss != self.loss {
            return Err(AppError::InvalidArgument(format!(
                "columns in memory were read for the {:?} loss, not {loss:?}",
                self.loss
            )));
        }
        if peers != self.blocks.len() {
            return Err(AppError::InvalidArgument(format!(
                "columns in memory were cut for {} worker thread(s), not {peers}",
                self.blocks.len()
            )));
        }
        Ok(self.blocks[index].clone())
    }
}

/// `f'(y_i, 0)` per row.
fn at_zero<L: Loss>(labels: &[f64]) -> Vec<f64> {
    labels.iter().map(|&y| L::derivatives(y, 0.0).0).collect()
}

impl PartialEq for InMemoryColumns {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.blocks, &other.blocks)
    }
}

impl Eq for InMemoryColumns {}

impl PartialEq for InMemoryRows {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.rows, &other.rows) && self.n_cols == other.n_cols
    }
}

impl Eq for InMemoryRows {}

/// A worker's rows and the shape of the whole matrix.
pub struct LoadedShard {
    /// This worker's rows (row-major).
    pub rows: SparseRows,
    /// Columns of X.
    pub n_cols: usize,
    /// Rows of X over all workers.
    pub total_rows: usize,
    /// Nonzeros of X over all workers.
    pub total_nonzeros: usize,
    /// Bytes of the input this worker read: the lines of its byte range, and for MatrixMarket
    /// the whole label file, which every worker reads.
    pub bytes_read: u64,
}

/// A shard's shape: rows, columns seen, nonzeros.
type Shape = (usize, usize, usize);

/// What a worker tells the others after parsing: its shape, or its error.
#[derive(Serialize, Deserialize)]
struct ShardStatus {
    result: Result<Shape, ShardFailure>,
}

/// A worker's parse error as the others receive it: a feature index 0 in a 1-based file as
/// its fields, so that every worker fails with the same typed [`DataError::ZeroIndex`] (which
/// a caller can answer by reading the file as 0-based); any other error as a sentence.
#[derive(Serialize, Deserialize)]
enum ShardFailure {
    ZeroIndex {
        path: PathBuf,
        line: u64,
        token: String,
    },
    Message(String),
}

impl ShardFailure {
    fn of(error: &DataError) -> ShardFailure {
        match error {
            DataError::ZeroIndex { path, line, token } => ShardFailure::ZeroIndex {
                path: path.clone(),
                line: *line,
                token: token.clone(),
            },
            error => ShardFailure::Message(error.to_string()),
        }
    }

    fn into_error(self) -> AppError {
        match self {
            ShardFailure::ZeroIndex { path, line, token } => {
                AppError::Data(DataError::ZeroIndex { path, line, token })
            }
            ShardFailure::Message(message) => AppError::RemoteData(message),
        }
    }
}

/// Agrees on success: if any worker failed, every worker returns an error (its own typed error,
/// or the first failing worker's).
fn agree<T>(
    worker: &mut Worker<'_>,
    local: Result<T, DataError>,
    shape: impl Fn(&T) -> Shape,
) -> Result<(T, Vec<Shape>), AppError> {
    let status = ShardStatus {
        result: local.as_ref().map(&shape).map_err(ShardFailure::of),
    };
    let all = worker.all_gather(&status)?;
    let local = local?;
    let mut shapes = Vec::with_capacity(all.len());
    for status in all {
        shapes.push(status.result.map_err(ShardFailure::into_error)?);
    }
    Ok((local, shapes))
}

/// Loads this worker's shard of `source`, accepting labels of `labels` kind.
pub fn load_shard(
    worker: &mut Worker<'_>,
    source: &DataSource,
    labels: LabelKind,
) -> Result<LoadedShard, AppError> {
    let label_kind = labels;
    let (shard, peers) = (worker.index(), worker.peers());
    match source {
        DataSource::Libsvm { path, zero_based } => {
            let options = LibsvmOptions {
                zero_based: *zero_based,
                labels: label_kind,
            };
            // A libsvm cache (`strads lasso --cache`) gives the rows the text shard would.
            let local = match is_libsvm_cache(path) {
                Ok(true) => LibsvmCache::open(path).and_then(|mut cache| {
                    let rows = cache.read_shard(shard, peers, &options)?;
                    Ok((rows, cache.bytes_read()))
                }),
                Ok(false) => read_libsvm_shard(path, shard, peers, &options)
                    .and_then(|rows| Ok((rows, shard_owned_bytes(path, shard, peers, 0)?))),
                Err(error) => Err(error),
            };
            let ((rows, bytes_read), shapes) = agree(worker, local, |(r, _)| {
                (r.n_rows(), r.min_cols(), r.n_nonzeros())
            })?;
            let total_rows = shapes.iter().map(|s| s.0).sum();
            check_nonempty_total(path, total_rows)?;
            Ok(LoadedShard {
                rows,
                n_cols: shapes.iter().map(|s| s.1).max().unwrap_or(0),
                total_rows,
                total_nonzeros: shapes.iter().map(|s| s.2).sum(),
                bytes_read,
            })
        }
        DataSource::InMemory(in_memory) => {
            in_memory.check_labels(label_kind)?;
            let rows = in_memory.block(shard, peers);
            Ok(LoadedShard {
                rows,
                n_cols: in_memory.n_cols,
                total_rows: in_memory.rows.n_rows(),
                total_nonzeros: in_memory.rows.n_nonzeros(),
                bytes_read: 0, // nothing read from a file
            })
        }
        DataSource::InMemoryColumns(_) => Err(AppError::InvalidArgument(
            "columns in memory are solved in the column layout only (give rows for the rows \
             layout)"
                .into(),
        )),
        DataSource::MatrixMarket { matrix, labels } => {
            let labels_path = labels;
            // Parse the entries of our byte range, then send each entry to the worker that owns
            // its row (rows are split into contiguous blocks, one per worker).
            let parsed = read_mm_header(matrix).and_then(|header| {
                let entries = read_mm_shard(matrix, &header, shard, peers)?;
                let labels = read_labels(labels, header.rows, label_kind)?;
                let bytes_read = shard_owned_bytes(matrix, shard, peers, header.data_start)?
                    + std::fs::metadata(labels_path).map_or(0, |m| m.len());
                Ok((header, entries, labels, bytes_read))
            });
            let ((header, entries, labels, bytes_read), shapes) =
                agree(worker, parsed, |(_, e, _, _)| (0, 0, e.len()))?;
            check_mm_total(matrix, &header, shapes.iter().map(|s| s.2).sum())?;
            let mine = route_entries(worker, entries, header.rows)?;
            let block = |w: usize| w * header.rows / peers;
            let (start, end) = (block(shard), block(shard + 1));
            let rows = entries_to_rows(matrix, end - start, start, mine, &labels[start..end]);
            let (rows, _) = agree(worker, rows, |r| (r.n_rows(), 0, r.n_nonzeros()))?;
            Ok(LoadedShard {
                rows,
                n_cols: header.cols,
                total_rows: header.rows,
                total_nonzeros: header.nnz,
                bytes_read,
            })
        }
    }
}

/// Bytes of an entry on the wire: row, column (u32), value (f64), line offset (u64).
const MM_ENTRY_BYTES: usize = 24;

/// Sends every entry to the worker whose block of rows holds it (rows split into `peers`
/// contiguous blocks of near-equal length) in messages of bounded size, and returns the entries
/// this worker owns.
fn route_entries(
    worker: &mut Worker<'_>,
    entries: Vec<MmEntry>,
    n_rows: usize,
) -> Result<Vec<MmEntry>, AppError> {
    let peers = worker.peers();
    let block = |w: usize| w * n_rows / peers;
    // The owner of row r is the last worker whose block starts at or before r.
    let owner = |row: u32| {
        (1..peers)
            .rev()
            .find(|&w| block(w) <= row as usize)
            .unwrap_or(0)
    };
    let mut by_owner: Vec<Vec<usize>> = vec![Vec::new(); peers];
    for (k, entry) in entries.iter().enumerate() {
        by_owner[owner(entry.row)].push(k);
    }
    let counts: Vec<u64> = by_owner.iter().map(|k| k.len() as u64).collect();
    let mut sent = vec![0usize; peers];
    let mut mine = Vec::new();
    worker.exchange_records(
        MM_ENTRY_BYTES,
        &counts,
        |d, n, message| {
            for &k in &by_owner[d][sent[d]..sent[d] + n] {
                let e = &entries[k];
                message.extend_from_slice(&e.row.to_le_bytes());
                message.extend_from_slice(&e.col.to_le_bytes());
                message.extend_from_slice(&e.value.to_le_bytes());
                message.extend_from_slice(&e.offset.to_le_bytes());
            }
            sent[d] += n;
        },
        |chunk| {
            for e in chunk.bytes.chunks_exact(MM_ENTRY_BYTES) {
                let word = |i: usize| u32::from_le_bytes(e[i..i + 4].try_into().expect("4 bytes"));
                let long = |i: usize| e[i..i + 8].try_into().expect("8 bytes");
                mine.push(MmEntry {
                    row: word(0),
                    col: word(4),
                    value: f64::from_le_bytes(long(8)),
                    offset: u64::from_le_bytes(long(16)),
                });
            }
        },
    )?;
    Ok(mine)
}
