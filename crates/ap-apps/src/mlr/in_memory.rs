//! [`InMemoryExamples`]: training examples held in memory (the Python bindings' arrays) instead
//! of a libsvm file.

use std::sync::Arc;

use strads_io::SparseRows;

use super::example::Example;
use super::MlrError;

/// Labelled rows in memory, shared by the worker threads of one process: worker `p` of `P` takes
/// the `p`-th contiguous range of rows (near-equal counts). One process only: the other
/// processes of a cluster would not have the rows. Two values are equal when they share the
/// same rows.
#[derive(Clone, Debug)]
pub struct InMemoryExamples {
    rows: Arc<SparseRows>,
    width: usize,
}

/// Labels are whole numbers below this magnitude (they are `f64`s, exact to 2^53).
const LARGEST_LABEL: f64 = 9.0e15;

impl InMemoryExamples {
    /// Checks what a file's reader would (labels are whole numbers; columns strictly increasing
    /// within a row and below `width`; values finite), naming the first offending row. A
    /// caller's arrays, unlike a parsed file, were never checked. Explicit zeros are dropped
    /// when a worker takes its rows, as a file's are.
    pub fn new(rows: SparseRows, width: usize) -> Result<Self, MlrError> {
        rows.check_arrays(width, |i, columns, values| {
            let label = rows.labels[i];
            if !(label.fract() == 0.0 && label.abs() < LARGEST_LABEL) {
                return Err(format!("row {i}: the label {label} is not a whole number"));
            }
            match values.iter().position(|v| !v.is_finite()) {
                Some(k) => Err(format!(
                    "row {i}, column {}: the value {} is not finite",
                    columns[k], values[k]
                )),
                None => Ok(()),
            }
        })
        .map_err(MlrError::InvalidArgument)?;
        Ok(InMemoryExamples {
            rows: Arc::new(rows),
            width,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.rows.n_rows()
    }

    /// Whether there is no example (never, once made).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Columns of X (which may exceed the largest column used: trailing features may be
    /// empty).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Worker `worker` of `workers`'s examples, their nonzero features only.
    pub(crate) fn share(&self, worker: usize, workers: usize) -> Vec<Example> {
        let n = self.len();
        let (start, end) = (worker * n / workers, (worker + 1) * n / workers);
        (start..end)
            .map(|i| {
                let (columns, values) = self.rows.row(i);
                let nonzero = || columns.iter().zip(values).filter(|(_, &v)| v != 0.0);
                Example {
                    // Checked whole and below 2^53 in `new`.
                    label: self.rows.labels[i] as i64,
                    class: 0,
                    columns: nonzero().map(|(&c, _)| c).collect(),
                    values: nonzero().map(|(_, &v)| v).collect(),
                }
            })
            .collect()
    }
}

impl PartialEq for InMemoryExamples {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.rows, &other.rows) && self.width == other.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(labels: &[f64], entries: &[&[(u32, f64)]]) -> SparseRows {
        // Filled by hand: `push_row` asserts the invariants some of these rows break.
        let mut rows = SparseRows::new();
        for (&label, entries) in labels.iter().zip(entries) {
            rows.labels.push(label);
            rows.columns.extend(entries.iter().map(|e| e.0));
            rows.values.extend(entries.iter().map(|e| e.1));
            rows.row_offsets.push(rows.columns.len());
        }
        rows
    }

    #[test]
    fn workers_share_the_rows_in_order_without_zeros() {
        let examples = InMemoryExamples::new(
            rows(
                &[3.0, -1.0, 3.0],
                &[&[(0, 1.0), (2, 0.0)], &[], &[(1, 2.0)]],
            ),
            4,
        )
        .unwrap();
        let all: Vec<Example> = (0..2).flat_map(|w| examples.share(w, 2)).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(examples.share(0, 2).len(), 1);
        assert_eq!(
            (all[0].label, &*all[0].columns, &*all[0].values),
            (3, &[0][..], &[1.0][..])
        );
        assert_eq!((all[1].label, all[1].columns.len()), (-1, 0));
        assert_eq!((all[2].label, &*all[2].columns), (3, &[1][..]));
    }

    #[test]
    fn bad_rows_are_named() {
        let check = |labels: &[f64], entries: &[&[(u32, f64)]], expected: &str| {
            let error = InMemoryExamples::new(rows(labels, entries), 2).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        };
        check(&[1.5], &[&[(0, 1.0)]], "row 0: the label 1.5");
        check(&[1.0, 2.0], &[&[], &[(0, f64::NAN)]], "row 1, column 0");
        check(&[1.0], &[&[(1, 1.0), (0, 1.0)]], "strictly increasing");
        check(&[1.0], &[&[(5, 1.0)]], "column 5 is outside");
        assert!(InMemoryExamples::new(SparseRows::new(), 1).is_err());
    }
}
