//! Labelled sparse rows in compressed sparse row (CSR) form, the shape every reader produces.

/// Labelled rows of a sparse matrix in compressed sparse row form.
///
/// Row `i` holds the entries `columns[row_offsets[i]..row_offsets[i + 1]]` with the matching
/// `values`, and has label `labels[i]`. Invariants kept by every reader in this crate:
/// `row_offsets.len() == labels.len() + 1`, `row_offsets[0] == 0`, `row_offsets` is
/// non-decreasing and ends at `columns.len() == values.len()`, columns are 0-based and strictly
/// increasing within a row, and no stored value is zero.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SparseRows {
    /// One label per row.
    pub labels: Vec<f64>,
    /// Where each row starts in `columns` and `values`; one more entry than there are rows.
    pub row_offsets: Vec<usize>,
    /// 0-based column of each stored entry, strictly increasing within a row.
    pub columns: Vec<u32>,
    /// Value of each stored entry, never zero.
    pub values: Vec<f64>,
}

impl Default for SparseRows {
    fn default() -> Self {
        Self::new()
    }
}

impl SparseRows {
    /// No rows.
    pub fn new() -> Self {
        SparseRows {
            labels: Vec::new(),
            row_offsets: vec![0],
            columns: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The number of rows.
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    /// The number of stored (nonzero) entries.
    pub fn n_nonzeros(&self) -> usize {
        self.columns.len()
    }

    /// The fewest columns a matrix holding these rows can have: the largest column index plus one,
    /// or 0 when there are no entries. The true width may be larger (trailing empty columns).
    pub fn min_cols(&self) -> usize {
        // Columns are sorted within a row, so each row's maximum is its last entry.
        (0..self.n_rows())
            .filter_map(|i| self.row(i).0.last())
            .map(|&column| column as usize + 1)
            .max()
            .unwrap_or(0)
    }

    /// The columns and values of row `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.n_rows()`.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let range = self.row_offsets[i]..self.row_offsets[i + 1];
        (&self.columns[range.clone()], &self.values[range])
    }

    /// Checks the invariants of rows that were built by someone else (a caller's arrays, which
    /// unlike a parsed file were never checked): at least one row, offsets from 0 to the number
    /// of entries without decreasing, columns strictly increasing within a row and below
    /// `width`; then `check_row(i, columns, values)` for each row, the caller's own rules on
    /// labels and values. The first failure is returned as a message naming the row.
    pub fn check_arrays(
        &self,
        width: usize,
        mut check_row: impl FnMut(usize, &[u32], &[f64]) -> Result<(), String>,
    ) -> Result<(), String> {
        let n_rows = self.labels.len();
        if n_rows == 0 {
            return Err("X has no rows".into());
        }
        if self.row_offsets.len() != n_rows + 1 || self.row_offsets[0] != 0 {
            return Err(format!(
                "row offsets must hold one more entry than the {n_rows} labels and start at 0"
            ));
        }
        if self.columns.len() != self.values.len() || self.row_offsets[n_rows] != self.columns.len()
        {
            return Err("row offsets must end at the number of entries".into());
        }
        for i in 0..n_rows {
            if self.row_offsets[i] > self.row_offsets[i + 1] {
                return Err(format!("row {i}: row offsets decrease"));
            }
            let (columns, values) = self.row(i);
            if let Some(w) = columns.windows(2).position(|w| w[0] >= w[1]) {
                return Err(format!(
                    "row {i}: column {} does not follow column {} (columns must be strictly \
                     increasing within a row)",
                    columns[w + 1],
                    columns[w]
                ));
            }
            if let Some(&column) = columns.last().filter(|&&c| c as usize >= width) {
                return Err(format!(
                    "row {i}: column {column} is outside X's {width} columns"
                ));
            }
            check_row(i, columns, values)?;
        }
        Ok(())
    }

    /// Appends a row; `columns` must be 0-based, strictly increasing and hold no zero values.
    pub fn push_row(&mut self, label: f64, columns: &[u32], values: &[f64]) {
        debug_assert_eq!(columns.len(), values.len());
        debug_assert!(columns.windows(2).all(|w| w[0] < w[1]));
        self.labels.push(label);
        self.columns.extend_from_slice(columns);
        self.values.extend_from_slice(values);
        self.row_offsets.push(self.columns.len());
    }

    /// Appends all rows of `other` after the rows of `self`, e.g. to join the shards of a file.
    pub fn append(&mut self, other: &SparseRows) {
        let base = self.columns.len();
        self.labels.extend_from_slice(&other.labels);
        self.columns.extend_from_slice(&other.columns);
        self.values.extend_from_slice(&other.values);
        self.row_offsets
            .extend(other.row_offsets[1..].iter().map(|&offset| base + offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_push_append_and_report_their_shape() {
        let mut a = SparseRows::new();
        assert_eq!((a.n_rows(), a.n_nonzeros(), a.min_cols()), (0, 0, 0));
        a.push_row(1.0, &[0, 4], &[2.0, 3.0]);
        a.push_row(-1.0, &[], &[]);
        let mut b = SparseRows::new();
        b.push_row(0.5, &[2], &[7.0]);
        a.append(&b);
        assert_eq!((a.n_rows(), a.n_nonzeros(), a.min_cols()), (3, 3, 5));
        assert_eq!(a.row(0), (&[0u32, 4][..], &[2.0, 3.0][..]));
        assert_eq!(a.row(1), (&[][..], &[][..]));
        assert_eq!(a.row(2), (&[2u32][..], &[7.0][..]));
        assert_eq!(a.row_offsets, vec![0, 2, 2, 3]);
        assert_eq!(a.labels, vec![1.0, -1.0, 0.5]);
    }
}
