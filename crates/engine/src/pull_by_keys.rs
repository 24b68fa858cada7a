//! Pull by keys: each worker needs some rows of a table whose rows are split into contiguous
//! blocks, one per worker (the keys it needs, sorted by global index); each owner sends exactly
//! those, once per pull, instead of every worker all-gathering the whole table. The plan (who
//! sends which rows to whom) is set up once; each pull is then one bounded exchange with no
//! collective beyond its rounds. MF pulls the other factor's rows its ratings touch (its
//! "halo") with it.
//!
//! ```
//! use strads_engine::{run_cluster, ClusterConfig, PullByKeys};
//! // Worker q owns rows 4q..4q+4 of a table whose row g is [g, -g]; each needs rows 1 and 6.
//! let pulled = run_cluster(&ClusterConfig::threads(2), |worker| {
//!     let blocks = [0..4, 4..8];
//!     let plan = PullByKeys::new(worker, &[1, 6], &blocks).unwrap();
//!     let first = blocks[worker.index()].start;
//!     plan.pull(worker, 2, |offset, row| {
//!         let g = (first + offset) as f64;
//!         row.copy_from_slice(&[g, -g]);
//!     })
//!     .unwrap()
//! })
//! .unwrap();
//! assert_eq!(pulled, vec![vec![1.0, -1.0, 6.0, -6.0]; 2]);
//! ```

use std::ops::Range;

use crate::{record_rounds, EngineError, Worker};

/// Who sends which owned rows to whom, set up once from every worker's needed keys.
#[derive(Clone, Debug)]
pub struct PullByKeys {
    /// For each peer, the offsets (within this worker's owned block) of the rows it needs, in
    /// increasing order.
    serve: Vec<Vec<u32>>,
    /// Number of needed rows this worker receives.
    needed_len: usize,
    /// For each peer, how many of this worker's needed rows it owns.
    from_each: Vec<usize>,
    /// The most rows any worker serves any other (fixes the rounds of an exchange).
    largest_serve: u64,
}

impl PullByKeys {
    /// Tells each owner which of its rows this worker needs. `needed` is sorted and every entry
    /// lies in one of `blocks` (block `q` is owned by worker `q`, blocks in increasing order).
    /// Collective: every worker must call it.
    pub fn new(
        worker: &mut Worker<'_>,
        needed: &[u32],
        blocks: &[Range<usize>],
    ) -> Result<PullByKeys, EngineError> {
        let requests: Vec<Vec<u32>> = blocks
            .iter()
            .map(|block| {
                let lo = needed.partition_point(|&g| (g as usize) < block.start);
                let hi = needed.partition_point(|&g| (g as usize) < block.end);
                needed[lo..hi].to_vec()
            })
            .collect();
        let incoming: Vec<Vec<u32>> = worker.all_to_all(&requests)?;
        let mine = blocks[worker.index()].start as u32;
        let me = worker.index();
        let largest_here = incoming
            .iter()
            .enumerate()
            .filter(|&(peer, _)| peer != me)
            .map(|(_, rows)| rows.len() as u64)
            .max()
            .unwrap_or(0);
        let largest_serve = worker
            .all_gather(&largest_here)?
            .into_iter()
            .max()
            .unwrap_or(0);
        Ok(PullByKeys {
            serve: incoming
                .into_iter()
                .map(|rows| rows.into_iter().map(|g| g - mine).collect())
                .collect(),
            needed_len: needed.len(),
            from_each: requests.iter().map(Vec::len).collect(),
            largest_serve,
        })
    }

    /// Sends every peer `width` numbers for each owned row it needs (written by `fill(offset,
    /// out)` into `out`, `width` long), and returns the numbers of this worker's needed rows,
    /// `width` per row, in the order of its `needed` list. Collective.
    pub fn pull(
        &self,
        worker: &mut Worker<'_>,
        width: usize,
        fill: impl Fn(usize, &mut [f64]),
    ) -> Result<Vec<f64>, EngineError> {
        let mut values = vec![0.0; self.needed_len * width];
        self.pull_into(worker, width, fill, &mut values)?;
        Ok(values)
    }

    /// [`PullByKeys::pull`] into `values` (length: needed rows times `width`), which the caller
    /// can keep from one pull to the next (MF keeps it on huge pages). Collective.
    pub fn pull_into(
        &self,
        worker: &mut Worker<'_>,
        width: usize,
        fill: impl Fn(usize, &mut [f64]),
        values: &mut [f64],
    ) -> Result<(), EngineError> {
        let me = worker.index();
        assert_eq!(
            values.len(),
            self.needed_len * width,
            "the buffer fits the needed rows"
        );
        // Needed rows are sorted and blocks are in worker order: the rows from worker q start
        // after those from workers before q.
        let mut starts = Vec::with_capacity(self.from_each.len());
        let mut at = 0;
        for &n in &self.from_each {
            starts.push(at);
            at += n * width;
        }
        // This worker's own rows are copied in place instead of being sent to itself (on one
        // worker that is the whole exchange: 6% of an MF CCD++ iteration).
        let own = &mut values[starts[me]..starts[me] + self.serve[me].len() * width];
        for (&offset, row) in self.serve[me].iter().zip(own.chunks_exact_mut(width)) {
            fill(offset as usize, row);
        }
        // The others' rows in messages of bounded size (whole factor rows of a worker's block
        // in one message left timely's buffers at that size for the rest of the run).
        let counts: Vec<u64> = (0..self.serve.len())
            .map(|peer| {
                if peer == me {
                    0
                } else {
                    self.serve[peer].len() as u64
                }
            })
            .collect();
        let incoming: Vec<u64> = (0..self.from_each.len())
            .map(|peer| {
                if peer == me {
                    0
                } else {
                    self.from_each[peer] as u64
                }
            })
            .collect();
        let rounds = record_rounds(8 * width, self.largest_serve);
        let mut sent = vec![0usize; counts.len()];
        let mut row = vec![0.0; width];
        worker.exchange_known_records(
            8 * width,
            &counts,
            &incoming,
            rounds,
            |peer, n, message| {
                for &offset in &self.serve[peer][sent[peer]..sent[peer] + n] {
                    fill(offset as usize, &mut row);
                    append_wire(&row, message);
                }
                sent[peer] += n;
            },
            |chunk| {
                let from = starts[chunk.source] + chunk.first as usize * width;
                from_wire(chunk.bytes, &mut values[from..from + chunk.bytes.len() / 8]);
            },
        )
    }
}

/// Appends `values` as little-endian bytes (the wire format of every number the engine sends).
fn append_wire(values: &[f64], out: &mut Vec<u8>) {
    if cfg!(target_endian = "little") {
        out.extend_from_slice(bytemuck::cast_slice(values));
    } else {
        values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
}

/// Reads little-endian `bytes` into `out` (`8 * out.len()` bytes).
fn from_wire(bytes: &[u8], out: &mut [f64]) {
    if cfg!(target_endian = "little") {
        bytemuck::cast_slice_mut::<f64, u8>(out).copy_from_slice(bytes);
    } else {
        for (o, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
            *o = f64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PullByKeys;
    use crate::{run_cluster, ClusterConfig};

    /// Each of 2 workers needs every row of the other's block and every third of its own;
    /// rows wide enough that a block takes two messages still arrive whole and in place.
    #[test]
    fn needed_rows_arrive_in_place_over_several_rounds() {
        const ROWS: usize = 12_000;
        const WIDTH: usize = 48;
        let blocks = [0..ROWS, ROWS..2 * ROWS];
        let results = run_cluster(&ClusterConfig::threads(2), move |worker| {
            let me = worker.index();
            let needed: Vec<u32> = (0..2 * ROWS as u32)
                .filter(|&g| !blocks[me].contains(&(g as usize)) || g % 3 == 0)
                .collect();
            let plan = PullByKeys::new(worker, &needed, &blocks).unwrap();
            let first = blocks[me].start;
            let values = plan
                .pull(worker, WIDTH, |offset, out| {
                    for (c, o) in out.iter_mut().enumerate() {
                        *o = ((first + offset) * 1000 + c) as f64;
                    }
                })
                .unwrap();
            (needed, values)
        })
        .unwrap();
        for (needed, values) in results {
            assert_eq!(values.len(), needed.len() * WIDTH);
            for (row, &g) in values.chunks_exact(WIDTH).zip(&needed) {
                let expected: Vec<f64> =
                    (0..WIDTH).map(|c| (g as usize * 1000 + c) as f64).collect();
                assert_eq!(row, expected.as_slice(), "row {g}");
            }
        }
    }
}
