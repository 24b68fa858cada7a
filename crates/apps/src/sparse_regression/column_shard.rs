//! A worker's rows of X stored by column (CSC), the layout coordinate descent reads.

use strads_io::SparseRows;

/// The rows of X held by one worker, stored column by column; row indices are local.
#[derive(Clone, Debug, Default)]
pub struct ColumnShard {
    /// Number of local rows.
    pub n_rows: usize,
    /// `col_offsets[j]..col_offsets[j + 1]` are column j's entries.
    pub col_offsets: Vec<usize>,
    /// Local row index of each entry, increasing within a column.
    pub rows: Vec<u32>,
    /// Value of each entry.
    pub values: Vec<f64>,
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
            rows,
            values,
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
