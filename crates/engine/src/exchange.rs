//! An all-to-all of fixed-size records in messages of bounded size, for loaders that send what
//! they read to the workers that own it.
//!
//! Why bounded: timely's network buffers grow to the largest message they carry and keep that
//! size for the rest of the run, so a worker's whole share sent as one message would stay
//! resident twice (send and receive side) long after loading; and a sender that encoded every
//! destination's records before sending would hold a second copy of its share.

use crate::error::EngineError;
use crate::mailbox::Worker;

/// The most bytes one worker sends another in one message of [`Worker::exchange_records`].
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Records one source sent in one round of [`Worker::exchange_records`].
#[derive(Clone, Copy, Debug)]
pub struct RecordChunk<'a> {
    /// The sending worker.
    pub source: usize,
    /// Index of the first record here among all the records `source` sends this worker.
    pub first: u64,
    /// How many records `source` sends this worker in all.
    pub total: u64,
    /// Whole records, `first..` in `source`'s order.
    pub bytes: &'a [u8],
}

impl Worker<'_> {
    /// Sends `counts[d]` records of `record_bytes` bytes each to every worker `d` and hands this
    /// worker the records every worker sent it. A collective: every worker calls it.
    ///
    /// The records go in rounds, each message at most [`MAX_MESSAGE_BYTES`] (whole records):
    /// `fill(d, n, buffer)` appends the next `n` records for worker `d` to `buffer` (so a
    /// caller keeps one cursor per destination and never encodes more than one message ahead),
    /// and `take` receives the next whole records from a source ([`RecordChunk`]: where they
    /// start in that source's records, and how many it sends in all, so a receiver can size its
    /// storage exactly). Each source's records arrive in the order it filled them; rounds
    /// interleave the sources, source order within a round.
    pub fn exchange_records(
        &mut self,
        record_bytes: usize,
        counts: &[u64],
        fill: impl FnMut(usize, usize, &mut Vec<u8>),
        take: impl FnMut(RecordChunk<'_>),
    ) -> Result<(), EngineError> {
        assert_eq!(counts.len(), self.peers(), "one count per worker");
        // Every worker's counts to every worker: how many rounds, and what arrives from whom.
        let all_counts: Vec<Vec<u64>> = self.all_gather(&counts.to_vec())?;
        let largest = all_counts.iter().flatten().copied().max().unwrap_or(0);
        let incoming: Vec<u64> = all_counts.iter().map(|c| c[self.index()]).collect();
        let rounds = record_rounds(record_bytes, largest);
        self.exchange_known_records(record_bytes, counts, &incoming, rounds, fill, take)
    }

    /// [`Worker::exchange_records`] when every worker already knows what it receives from whom
    /// (`incoming[s]` records from worker `s`) and the number of rounds (`rounds`, the same on
    /// every worker: [`record_rounds`] of the largest count anywhere), as in a halo exchange
    /// repeated every step: no collective beyond the rounds themselves, and one round when every
    /// message fits.
    pub fn exchange_known_records(
        &mut self,
        record_bytes: usize,
        counts: &[u64],
        incoming: &[u64],
        rounds: u64,
        mut fill: impl FnMut(usize, usize, &mut Vec<u8>),
        mut take: impl FnMut(RecordChunk<'_>),
    ) -> Result<(), EngineError> {
        let n_workers = self.peers();
        assert_eq!(counts.len(), n_workers, "one count per worker");
        assert_eq!(incoming.len(), n_workers, "one count per worker");
        assert!(record_bytes > 0 && record_bytes <= MAX_MESSAGE_BYTES);
        let chunk = (MAX_MESSAGE_BYTES / record_bytes) as u64;
        for round in 0..rounds {
            let in_round = |count: u64| count.saturating_sub(round * chunk).min(chunk) as usize;
            let messages = (0..n_workers)
                .map(|d| {
                    let n = in_round(counts[d]);
                    let mut message = Vec::with_capacity(n * record_bytes);
                    if n > 0 {
                        fill(d, n, &mut message);
                    }
                    debug_assert_eq!(message.len(), n * record_bytes, "fill wrote {n} records");
                    message
                })
                .collect();
            for (source, bytes) in self.all_to_all_bytes(messages).into_iter().enumerate() {
                if bytes.len() != in_round(incoming[source]) * record_bytes {
                    return Err(EngineError::Codec(format!(
                        "worker {source} sent {} bytes in round {round} of a record exchange",
                        bytes.len()
                    )));
                }
                if !bytes.is_empty() {
                    take(RecordChunk {
                        source,
                        first: round * chunk,
                        total: incoming[source],
                        bytes: &bytes,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Rounds of an exchange of records of `record_bytes` bytes whose largest count from one
/// worker to another is `largest` (at least one round, so that every worker takes part in the
/// same number of collectives even when nothing moves).
pub fn record_rounds(record_bytes: usize, largest: u64) -> u64 {
    let chunk = (MAX_MESSAGE_BYTES / record_bytes.max(1)).max(1) as u64;
    largest.div_ceil(chunk).max(1)
}

#[cfg(test)]
mod tests {
    use crate::{run_cluster, ClusterConfig};

    /// Every worker sends worker d the numbers `1000 p + d, 1000 p + d + P, ...`, enough of
    /// them to need several rounds; every worker gets each source's numbers complete and in
    /// order.
    #[test]
    fn records_arrive_complete_and_in_order_over_several_rounds() {
        const PER_DESTINATION: u64 = (super::MAX_MESSAGE_BYTES as u64 / 8) * 2 + 17;
        let results = run_cluster(&ClusterConfig::threads(3), |worker| {
            let (p, peers) = (worker.index() as u64, worker.peers());
            let mut next = vec![0u64; peers];
            let mut received: Vec<Vec<u64>> = vec![Vec::new(); peers];
            worker
                .exchange_records(
                    8,
                    &vec![PER_DESTINATION; peers],
                    |d, n, buffer| {
                        for _ in 0..n {
                            let value = 1_000_000 * p + d as u64 + next[d] * peers as u64;
                            buffer.extend_from_slice(&value.to_le_bytes());
                            next[d] += 1;
                        }
                    },
                    |chunk| {
                        assert_eq!(chunk.total, PER_DESTINATION);
                        assert_eq!(chunk.first, received[chunk.source].len() as u64);
                        received[chunk.source].extend(
                            chunk
                                .bytes
                                .chunks_exact(8)
                                .map(|b| u64::from_le_bytes(b.try_into().unwrap())),
                        )
                    },
                )
                .unwrap();
            received
        })
        .unwrap();
        for (d, received) in results.iter().enumerate() {
            for (source, values) in received.iter().enumerate() {
                let expected: Vec<u64> = (0..PER_DESTINATION)
                    .map(|k| 1_000_000 * source as u64 + d as u64 + k * 3)
                    .collect();
                assert_eq!(values, &expected, "worker {d} from {source}");
            }
        }
    }
}
