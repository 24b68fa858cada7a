//! Exchanging only the rows a worker needs: a worker's ratings touch some rows of the other
//! factor (its "needed" rows, sorted by global index); each owner sends exactly those, once per
//! exchange, instead of every worker all-gathering the whole factor.

use std::ops::Range;

use strads_engine::{EngineError, Worker};

/// Who sends which owned rows to whom, set up once from every worker's needed rows.
#[derive(Clone, Debug)]
pub struct Halo {
    /// For each peer, the offsets (within this worker's owned block) of the rows it needs, in
    /// increasing order.
    serve: Vec<Vec<u32>>,
    /// Number of needed rows this worker receives.
    needed_len: usize,
}

impl Halo {
    /// Tells each owner which of its rows this worker needs. `needed` is sorted and every entry
    /// lies in one of `blocks` (block `q` is owned by worker `q`, blocks in increasing order).
    /// Collective: every worker must call it.
    pub fn new(
        worker: &mut Worker<'_>,
        needed: &[u32],
        blocks: &[Range<usize>],
    ) -> Result<Halo, EngineError> {
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
        Ok(Halo {
            serve: incoming
                .into_iter()
                .map(|rows| rows.into_iter().map(|g| g - mine).collect())
                .collect(),
            needed_len: needed.len(),
        })
    }

    /// Sends every peer `width` numbers for each owned row it needs (written by `fill(offset,
    /// out)` into `out`, `width` long), and returns the numbers of this worker's needed rows,
    /// `width` per row, in the order of its `needed` list. Collective.
    pub fn exchange(
        &self,
        worker: &mut Worker<'_>,
        width: usize,
        fill: impl Fn(usize, &mut [f64]),
    ) -> Result<Vec<f64>, EngineError> {
        let mut values = vec![0.0; self.needed_len * width];
        self.exchange_into(worker, width, fill, &mut values)?;
        Ok(values)
    }

    /// [`Halo::exchange`] into `values` (length: needed rows times `width`), which the caller
    /// can keep from one exchange to the next (on huge pages, see [`crate::huge`]). Collective.
    pub fn exchange_into(
        &self,
        worker: &mut Worker<'_>,
        width: usize,
        fill: impl Fn(usize, &mut [f64]),
        values: &mut [f64],
    ) -> Result<(), EngineError> {
        let me = worker.index();
        let fill_rows = |rows: &[u32], out: &mut [f64]| {
            for (&offset, row) in rows.iter().zip(out.chunks_exact_mut(width)) {
                fill(offset as usize, row);
            }
        };
        let piece = |rows: &[u32]| {
            let mut out = vec![0.0; rows.len() * width];
            fill_rows(rows, &mut out);
            to_wire(&out)
        };
        // This worker's own rows are copied in place below instead of being sent to itself (on
        // one worker that is the whole exchange: 6% of a CCD++ iteration).
        let outgoing: Vec<Vec<u8>> = self
            .serve
            .iter()
            .enumerate()
            .map(|(peer, rows)| if peer == me { Vec::new() } else { piece(rows) })
            .collect();
        let incoming = worker.all_to_all_bytes(outgoing);
        // Needed rows are sorted and blocks are in worker order, so the pieces arrive in order.
        assert_eq!(
            values.len(),
            self.needed_len * width,
            "the buffer fits the needed rows"
        );
        let mut at = 0;
        for (peer, received) in incoming.iter().enumerate() {
            if peer == me {
                let len = self.serve[me].len() * width;
                fill_rows(&self.serve[me], &mut values[at..at + len]);
                at += len;
            } else {
                let len = received.len() / 8;
                if received.len() % 8 != 0 || at + len > values.len() {
                    return Err(EngineError::Codec(format!(
                        "worker {peer} sent {} bytes of factor rows, which do not fit",
                        received.len()
                    )));
                }
                from_wire(received, &mut values[at..at + len]);
                at += len;
            }
        }
        if at != values.len() {
            return Err(EngineError::Codec(format!(
                "received {at} numbers of factor rows, expected {}",
                values.len()
            )));
        }
        Ok(())
    }
}

/// `values` as little-endian bytes (the wire format of every number the engine sends).
fn to_wire(values: &[f64]) -> Vec<u8> {
    if cfg!(target_endian = "little") {
        bytemuck::cast_slice(values).to_vec()
    } else {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
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
