//! What each worker holds: a block of user rows and a block of item rows, and the ratings they
//! touch, stored twice (by user for the W half, by item for the H half).
//!
//! Blocks are contiguous ranges of dense indices with near-equal rating counts
//! (`strads_core::balanced_blocks`); block `p` of each kind belongs to worker `p`. Within a row,
//! ratings are sorted by the other side's index, so every per-row sum runs in the same order
//! whatever the cluster shape.

use std::ops::Range;

/// A worker's rows of one side and the ratings they touch, in compressed rows.
#[derive(Clone, Debug, Default)]
pub struct Side {
    /// The owned rows (dense global indices).
    pub rows: Range<usize>,
    /// Training ratings of owned row `i` are `ptr[i]..ptr[i + 1]`.
    pub ptr: Vec<usize>,
    /// Index into `needed` of each rating's other-side row.
    pub cols: Vec<u32>,
    /// Rating values.
    pub values: Vec<f64>,
    /// Seen test ratings of owned row `i` are `test_ptr[i]..test_ptr[i + 1]` (user side only).
    pub test_ptr: Vec<usize>,
    /// Index into `needed` of each test rating's other-side row.
    pub test_cols: Vec<u32>,
    /// Test rating values.
    pub test_values: Vec<f64>,
    /// The other side's rows these ratings touch, sorted global indices.
    pub needed: Vec<u32>,
}

impl Side {
    /// Number of owned rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is owned.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Training ratings of the owned rows (counted by `ptr`, so still known once a solver that
    /// keeps them elsewhere has released `cols` and `values`).
    pub fn ratings(&self) -> usize {
        self.ptr.last().copied().unwrap_or(0)
    }

    /// Frees the training ratings' `cols` and `values` (a solver that keeps its own copy of
    /// them); `ptr` and the test ratings stay.
    pub fn release_training_ratings(&mut self) {
        self.cols = Vec::new();
        self.values = Vec::new();
    }

    /// Training ratings of owned row `i`: positions in `cols` / `values`.
    pub fn row(&self, i: usize) -> Range<usize> {
        self.ptr[i]..self.ptr[i + 1]
    }

    /// Seen test ratings of owned row `i`.
    pub fn test_row(&self, i: usize) -> Range<usize> {
        self.test_ptr[i]..self.test_ptr[i + 1]
    }
}

/// Ratings as parallel arrays: row, other-side row, value.
pub type Triples<'a> = (&'a [u32], &'a [u32], &'a [f64]);

/// Builds the side owning `rows` from `train` (and `test`), where the first array of a triple is
/// this side's index and the second the other side's; `n_other` is the other side's size.
pub fn build_side(
    rows: Range<usize>,
    train: Triples<'_>,
    test: Option<Triples<'_>>,
    n_other: usize,
) -> Side {
    let (first, count) = (rows.start as u32, rows.len() as u32);
    let mut counts = vec![0u32; rows.len()];
    for &r in train.0 {
        // `r - first < count` is the block test in one comparison (it wraps below `first`).
        let local = r.wrapping_sub(first);
        if local < count {
            counts[local as usize] += 1;
        }
    }
    let mut builder = SideBuilder::new(rows, vec![counts], n_other);
    for ((&r, &c), &v) in train.0.iter().zip(train.1).zip(train.2) {
        if r.wrapping_sub(first) < count {
            builder.place(0, r, c, v);
        }
    }
    builder
        .finish(test)
        .expect("the counts were taken from the same ratings")
}

/// A side built while its ratings arrive, straight into its compressed rows: no list of the
/// ratings is kept beside it (at Netflix's shape each such list is 1.4 GB).
///
/// The ratings come from several sources (workers), each in its own order; every source says
/// first how many ratings of each row it will send. A rating is placed after those of the same
/// row from earlier sources and from earlier in its source, which is where it would be had the
/// sources' lists been concatenated, so the side equals [`build_side`] of that concatenation.
pub struct SideBuilder {
    rows: Range<usize>,
    n_other: usize,
    ptr: Vec<usize>,
    /// `cursor[s][i]`: where source `s`'s next rating of owned row `i` goes.
    cursor: Vec<Vec<usize>>,
    /// `left[s][i]`: how many more ratings of owned row `i` source `s` announced. (Counting
    /// down instead of keeping each source's end beside its cursor: the tables are as long as
    /// the owned rows, on the user side hundreds of thousands per worker, and what a loader
    /// frees mid-way stays resident in the allocator's arena.)
    left: Vec<Vec<u32>>,
    /// The first (source, owned row) whose ratings ran past the announced count.
    excess: Option<(usize, usize)>,
    cols: Vec<u32>,
    values: Vec<f64>,
}

impl SideBuilder {
    /// A builder for `rows`, where `counts[s][i]` is how many ratings of owned row `i` source `s`
    /// sends; `n_other` is the other side's size.
    pub fn new(rows: Range<usize>, counts: Vec<Vec<u32>>, n_other: usize) -> SideBuilder {
        let n = rows.len();
        let mut ptr = vec![0usize; n + 1];
        for i in 0..n {
            ptr[i + 1] = ptr[i] + counts.iter().map(|c| c[i] as usize).sum::<usize>();
        }
        let mut cursor: Vec<Vec<usize>> = Vec::with_capacity(counts.len());
        for (s, source) in counts.iter().enumerate() {
            // Source `s` starts where source `s - 1` ends.
            let start = match s {
                0 => ptr[..n].to_vec(),
                _ => cursor[s - 1]
                    .iter()
                    .zip(&counts[s - 1])
                    .map(|(&at, &c)| at + c as usize)
                    .collect(),
            };
            debug_assert_eq!(start.len(), source.len());
            cursor.push(start);
        }
        let total = ptr[n];
        SideBuilder {
            rows,
            n_other,
            ptr,
            cursor,
            left: counts,
            excess: None,
            cols: vec![0; total],
            values: vec![0.0; total],
        }
    }

    /// Places source `source`'s next rating of global row `row`. A rating beyond the announced
    /// counts is caught by [`SideBuilder::finish`] (the cursor then runs past its end).
    #[inline]
    pub fn place(&mut self, source: usize, row: u32, col: u32, value: f64) {
        let i = row as usize - self.rows.start;
        let left = &mut self.left[source][i];
        if *left > 0 {
            *left -= 1;
            let slot = &mut self.cursor[source][i];
            self.cols[*slot] = col;
            self.values[*slot] = value;
            *slot += 1;
        } else if self.excess.is_none() {
            self.excess = Some((source, i));
        }
    }

    /// The side: rows sorted by the other side's index (stable), `test` compressed beside, the
    /// columns compacted to the other-side rows used. Fails if a source sent other counts than
    /// it announced.
    pub fn finish(self, test: Option<Triples<'_>>) -> Result<Side, String> {
        let short = self
            .left
            .iter()
            .enumerate()
            .find_map(|(s, left)| Some((s, left.iter().position(|&l| l > 0)?)));
        if let Some((s, i)) = self.excess.or(short) {
            return Err(format!(
                "worker {s} sent another number of ratings of row {} than it announced",
                self.rows.start + i
            ));
        }
        let SideBuilder {
            rows,
            n_other,
            ptr,
            mut cols,
            mut values,
            ..
        } = self;
        sort_rows(&ptr, &mut cols, &mut values);
        let mut needed_mark = vec![false; n_other];
        cols.iter().for_each(|&c| needed_mark[c as usize] = true);
        let (test_ptr, mut test_cols, test_values) = match test {
            Some(test) => compress(&rows, test, &mut needed_mark),
            None => (vec![0; rows.len() + 1], Vec::new(), Vec::new()),
        };
        let mut compact = vec![u32::MAX; n_other];
        let mut needed = Vec::new();
        for (g, _) in needed_mark.iter().enumerate().filter(|(_, m)| **m) {
            compact[g] = needed.len() as u32;
            needed.push(g as u32);
        }
        for c in cols.iter_mut().chain(test_cols.iter_mut()) {
            *c = compact[*c as usize];
        }
        Ok(Side {
            rows,
            ptr,
            cols,
            values,
            test_ptr,
            test_cols,
            test_values,
            needed,
        })
    }
}

/// The ratings of `rows` in compressed rows, each row sorted by the other side's global index
/// (a stable sort, so duplicates keep file order); marks the other-side rows used.
fn compress(
    rows: &Range<usize>,
    (row_of, col_of, value_of): Triples<'_>,
    used: &mut [bool],
) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    let n = rows.len();
    let (first, count) = (rows.start as u32, n as u32);
    // `r - first < count` is the block test in one comparison (it wraps below `first`).
    let mut ptr = vec![0usize; n + 1];
    for &r in row_of {
        let local = r.wrapping_sub(first);
        if local < count {
            ptr[local as usize + 1] += 1;
        }
    }
    for i in 0..n {
        ptr[i + 1] += ptr[i];
    }
    let total = ptr[n];
    let (mut cols, mut values) = (vec![0u32; total], vec![0.0f64; total]);
    let mut next = ptr[..n].to_vec();
    for ((&r, &c), &v) in row_of.iter().zip(col_of).zip(value_of) {
        let local = r.wrapping_sub(first);
        if local < count {
            let slot = &mut next[local as usize];
            cols[*slot] = c;
            values[*slot] = v;
            *slot += 1;
            used[c as usize] = true;
        }
    }
    sort_rows(&ptr, &mut cols, &mut values);
    (ptr, cols, values)
}

/// Sorts each row `ptr[i]..ptr[i + 1]` by column, stably (duplicates keep their order).
fn sort_rows(ptr: &[usize], cols: &mut [u32], values: &mut [f64]) {
    // Rows usually arrive sorted (files are commonly written row by row, and the item side of
    // such a file is then sorted by user); only the others are sorted here.
    let mut pairs: Vec<(u32, f64)> = Vec::new();
    for w in ptr.windows(2) {
        let range = w[0]..w[1];
        if cols[range.clone()].windows(2).all(|w| w[0] <= w[1]) {
            continue;
        }
        pairs.clear();
        pairs.extend(
            cols[range.clone()]
                .iter()
                .copied()
                .zip(values[range.clone()].iter().copied()),
        );
        pairs.sort_by_key(|e| e.0);
        for (k, (c, v)) in range.zip(&pairs) {
            cols[k] = *c;
            values[k] = *v;
        }
    }
}

/// A deterministic pseudo-random number in [-1, 1) for entry `(row, t)` of a factor, from the
/// seed alone (so initial factors do not depend on which worker owns the row).
pub fn initial_entry(seed: u64, factor: u64, row: usize, t: usize, rank: usize) -> f64 {
    let mut z = seed
        .wrapping_add(factor.wrapping_mul(0xD6E8_FEB8_6659_FD93))
        .wrapping_add(((row * rank + t) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // splitmix64 finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_hold_their_rows_sorted_with_compact_columns() {
        let users = [1u32, 0, 1, 2, 1];
        let items = [3u32, 1, 0, 3, 2];
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        let side = build_side(1..3, (&users, &items, &values), None, 4);
        assert_eq!(side.ptr, [0, 3, 4]);
        assert_eq!(side.needed, [0, 2, 3]);
        let row: Vec<(u32, f64)> = side
            .row(0)
            .map(|k| (side.needed[side.cols[k] as usize], side.values[k]))
            .collect();
        assert_eq!(row, [(0, 3.0), (2, 5.0), (3, 1.0)]);
        assert_eq!(side.values[3], 4.0);
    }

    /// Ratings placed as two sources deliver them (interleaved, as the rounds of the loaders'
    /// exchange do) give the side built from the sources' concatenation, duplicates in order.
    #[test]
    fn a_side_built_on_receipt_equals_the_side_of_the_concatenation() {
        let source_0 = ([3u32, 1, 3, 2], [5u32, 4, 5, 0], [1.0, 2.0, 3.0, 4.0]);
        let source_1 = ([1u32, 3, 3, 1], [0u32, 5, 2, 4], [5.0, 6.0, 7.0, 8.0]);
        let concat = |i: usize| -> Vec<u32> {
            let (a, b) = ([&source_0.0, &source_0.1][i], [&source_1.0, &source_1.1][i]);
            a.iter().chain(b.iter()).copied().collect()
        };
        let values: Vec<f64> = source_0.2.iter().chain(&source_1.2).copied().collect();
        let (rows, cols) = (concat(0), concat(1));
        let expected = build_side(1..4, (&rows, &cols, &values), None, 6);

        let counts = |rs: &[u32]| -> Vec<u32> {
            (1..4u32)
                .map(|r| rs.iter().filter(|&&x| x == r).count() as u32)
                .collect()
        };
        let mut builder = SideBuilder::new(1..4, vec![counts(&source_0.0), counts(&source_1.0)], 6);
        for k in 0..4 {
            builder.place(1, source_1.0[k], source_1.1[k], source_1.2[k]);
            builder.place(0, source_0.0[k], source_0.1[k], source_0.2[k]);
        }
        let side = builder.finish(None).expect("counts as announced");
        assert_eq!(side.ptr, expected.ptr);
        assert_eq!(side.cols, expected.cols);
        assert_eq!(side.values, expected.values);
        assert_eq!(side.needed, expected.needed);
        // Row 3 rates column 5 twice in source 0 and once in source 1: in that order.
        let row: Vec<(u32, f64)> = side
            .row(2)
            .map(|k| (side.needed[side.cols[k] as usize], side.values[k]))
            .collect();
        assert_eq!(row, [(2, 7.0), (5, 1.0), (5, 3.0), (5, 6.0)]);

        let mut excess = SideBuilder::new(1..4, vec![vec![1, 0, 0]], 6);
        excess.place(0, 1, 0, 1.0);
        excess.place(0, 1, 2, 1.0);
        assert!(
            excess.finish(None).is_err(),
            "a rating beyond the announced count"
        );
        let mut short = SideBuilder::new(1..4, vec![vec![1, 0, 0], vec![0, 0, 2]], 6);
        short.place(0, 1, 0, 1.0);
        short.place(1, 3, 2, 1.0);
        assert!(short.finish(None).is_err(), "a rating fewer than announced");
    }

    #[test]
    fn initial_entries_are_spread_in_the_interval() {
        let xs: Vec<f64> = (0..10_000).map(|r| initial_entry(7, 1, r, 3, 5)).collect();
        assert!(xs.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert_ne!(initial_entry(7, 1, 0, 0, 5), initial_entry(8, 1, 0, 0, 5));
    }
}
