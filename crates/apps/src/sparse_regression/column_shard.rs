//! A worker's rows of X stored by column (CSC), the layout coordinate descent reads.

use std::any::Any;
use std::ops::{Deref, Range};
use std::sync::Arc;

use strads_io::SparseRows;

/// The rows of X held by one worker, stored column by column; row indices are local.
#[derive(Clone, Debug, Default)]
pub struct ColumnShard {
    /// Number of local rows.
    pub n_rows: usize,
    /// `col_offsets[j]..col_offsets[j + 1]` are column j's entries.
    pub col_offsets: Vec<usize>,
    /// Local row index of each entry, increasing within a column.
    pub rows: Entries<u32>,
    /// Value of each entry.
    pub values: Entries<f64>,
}

/// A shard's entries: its own, or a caller's arrays read in place (a fit from Python on a CSC
/// matrix solves on scipy's `indices` and `data` without copying them). Only ever read through
/// [`Deref`], whose borrow ends with the value's.
#[derive(Clone)]
pub struct Entries<T: 'static>(Storage<T>);

#[derive(Clone)]
enum Storage<T: 'static> {
    Owned(Vec<T>),
    /// A caller's entries, kept alive (and unchanged) by `owner` for as long as any value holds
    /// it; `slice` never leaves this type with a longer borrow than the value's.
    Shared {
        slice: &'static [T],
        owner: Arc<dyn Any + Send + Sync>,
    },
}

impl<T: Clone + 'static> Entries<T> {
    /// `slice`, kept alive by `owner`, read in place.
    pub fn shared(slice: &'static [T], owner: Arc<dyn Any + Send + Sync>) -> Self {
        Entries(Storage::Shared { slice, owner })
    }

    /// Entries `range`: a caller's shared rather than copied.
    pub fn slice(&self, range: Range<usize>) -> Self {
        Entries(match &self.0 {
            Storage::Owned(entries) => Storage::Owned(entries[range].to_vec()),
            Storage::Shared { slice, owner } => Storage::Shared {
                slice: &slice[range],
                owner: Arc::clone(owner),
            },
        })
    }

    /// The entries as this value's own vector, to change (a caller's are copied first).
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let Storage::Shared { slice, .. } = &self.0 {
            self.0 = Storage::Owned(slice.to_vec());
        }
        match &mut self.0 {
            Storage::Owned(entries) => entries,
            Storage::Shared { .. } => unreachable!("made owned just above"),
        }
    }

    /// Whether the entries are a caller's, read in place.
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Storage::Shared { .. })
    }
}

impl<T: 'static> Deref for Entries<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match &self.0 {
            Storage::Owned(entries) => entries,
            Storage::Shared { slice, .. } => slice,
        }
    }
}

impl<T: 'static> Default for Entries<T> {
    fn default() -> Self {
        Entries(Storage::Owned(Vec::new()))
    }
}

impl<T: 'static> From<Vec<T>> for Entries<T> {
    fn from(entries: Vec<T>) -> Self {
        Entries(Storage::Owned(entries))
    }
}

impl<T: std::fmt::Debug + 'static> std::fmt::Debug for Entries<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            Storage::Owned(_) => "Owned",
            Storage::Shared { .. } => "Shared",
        };
        f.debug_tuple(kind).field(&self.deref()).finish()
    }
}

impl ColumnShard {
    /// Transposes row-major `data` into `n_cols` columns (counting sort, two passes).
    pub fn from_rows(data: &SparseRows, n_cols: usize) -> Self {
        let mut counts = vec![0usize; n_cols + 1];
        for &c in &data.columns {
            counts[c as usize + 1] += 1;
        }
        for j in 0..n_cols {
            counts[j + 1] += counts[j];
        }
        let col_offsets = counts.clone();
        let mut next = counts;
        let mut rows = vec![0u32; data.columns.len()];
        let mut values = vec![0.0; data.columns.len()];
        for i in 0..data.n_rows() {
            let (columns, vals) = data.row(i);
            for (&c, &v) in columns.iter().zip(vals) {
                let slot = &mut next[c as usize];
                rows[*slot] = i as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        ColumnShard {
            n_rows: data.n_rows(),
            col_offsets,
            rows: rows.into(),
            values: values.into(),
        }
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.col_offsets.len() - 1
    }

    /// Column j's local rows and values.
    #[inline]
    pub fn column(&self, j: usize) -> (&[u32], &[f64]) {
        let range = self.col_offsets[j]..self.col_offsets[j + 1];
        (&self.rows[range.clone()], &self.values[range])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_rows_into_columns() {
        let mut data = SparseRows::new();
        data.push_row(1.0, &[0, 2], &[1.0, 2.0]);
        data.push_row(2.0, &[1], &[3.0]);
        data.push_row(3.0, &[0, 1, 2], &[4.0, 5.0, 6.0]);
        let shard = ColumnShard::from_rows(&data, 4);
        assert_eq!(shard.column(0), (&[0u32, 2][..], &[1.0, 4.0][..]));
        assert_eq!(shard.column(1), (&[1u32, 2][..], &[3.0, 5.0][..]));
        assert_eq!(shard.column(2), (&[0u32, 2][..], &[2.0, 6.0][..]));
        assert_eq!(shard.column(3), (&[][..], &[][..]));
    }
}
