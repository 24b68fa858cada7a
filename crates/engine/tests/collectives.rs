//! The worker collectives (`all_gather`, `all_gather_shared`, `broadcast`, `all_to_all`, `all_to_all_bytes`,
//! `all_reduce_sum`, `rotate`) and a pull by keys (`PullByKeys`) checked directly against what they must return, computed here from
//! the worker index alone: on 1, 2 and 3 threads, and on 2 real processes of 2 threads each over
//! loopback (the test binary starts itself twice).

use serde::{Deserialize, Serialize};
use strads_engine::{run_cluster, ClusterConfig, PullByKeys, Worker};

mod support;

/// What one worker received from every collective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Seen {
    worker: usize,
    peers: usize,
    gathered: Vec<u64>,
    /// `all_gather_shared` of a vector: moved between threads, encoded between processes.
    gathered_shared: Vec<Vec<u64>>,
    broadcast: String,
    all_to_all: Vec<(u64, u64)>,
    bytes: Vec<Vec<u8>>,
    sum: Vec<f64>,
    rotated_block: u64,
    rotated_to_all: Vec<u64>,
    /// `PullByKeys`: the rows of `pull_table` this worker needs (`needed_keys`), twice over (the
    /// plan is reused), `PULL_WIDTH` numbers a row.
    pulled: Vec<f64>,
    /// Twenty rounds of a gather followed by a sum: tags never mix up consecutive collectives.
    rounds: Vec<(Vec<u64>, f64)>,
}

const ROUNDS: u64 = 20;

/// Numbers per row of the pulled table.
const PULL_WIDTH: usize = 3;

/// Worker q owns a block of q + 2 rows of the pulled table, blocks in worker order.
fn pull_blocks(peers: usize) -> Vec<std::ops::Range<usize>> {
    let mut start = 0;
    (0..peers)
        .map(|q| {
            let block = start..start + q + 2;
            start = block.end;
            block
        })
        .collect()
}

/// Row `g` of the pulled table.
fn pull_row(g: usize, pull: u64) -> [f64; PULL_WIDTH] {
    [g as f64, (g * g) as f64, -(g as f64) - pull as f64]
}

/// The rows worker `p` needs: every other row, its own block's included (the rows of the
/// parity of `p`), sorted.
fn needed_keys(p: usize, peers: usize) -> Vec<u32> {
    let rows = pull_blocks(peers).last().unwrap().end;
    (0..rows as u32)
        .filter(|g| (*g as usize + p) % 2 == 0)
        .collect()
}

/// Every collective, in one fixed order, on worker `worker.index()`.
fn exercise(worker: &mut Worker<'_>) -> Seen {
    let (p, peers) = (worker.index(), worker.peers());
    let gathered = worker.all_gather(&(p as u64 * 10 + 1)).unwrap();
    let gathered_shared = worker
        .all_gather_shared(vec![p as u64; p + 1])
        .unwrap()
        .iter()
        .map(|shared| shared.to_vec())
        .collect();
    let root = peers - 1;
    let message = format!("from the root, worker {root}");
    let broadcast = worker
        .broadcast(root, (p == root).then_some(&message))
        .unwrap();
    let outgoing: Vec<(u64, u64)> = (0..peers).map(|d| (p as u64, d as u64)).collect();
    let all_to_all = worker.all_to_all(&outgoing).unwrap();
    // Sizes differ by source and destination, the empty message included.
    let bytes = worker.all_to_all_bytes((0..peers).map(|d| vec![p as u8; p + d]).collect());
    let sum = worker
        .all_reduce_sum(&[p as f64, 1.0, 0.5 * p as f64])
        .unwrap();
    let (rotated_block, rotated_to_all) = worker.rotate(&(100 * p as u64), &(p as u64)).unwrap();
    let blocks = pull_blocks(peers);
    let plan = PullByKeys::new(worker, &needed_keys(p, peers), &blocks).unwrap();
    let first = blocks[p].start;
    let mut pulled = Vec::new();
    for pull in 0..2 {
        let rows = plan
            .pull(worker, PULL_WIDTH, |offset, row| {
                row.copy_from_slice(&pull_row(first + offset, pull))
            })
            .unwrap();
        pulled.extend(rows);
    }
    let rounds = (0..ROUNDS)
        .map(|round| {
            let value = round * peers as u64 + p as u64;
            let gathered = worker.all_gather(&value).unwrap();
            let sum = worker.all_reduce_sum(&[value as f64]).unwrap()[0];
            (gathered, sum)
        })
        .collect();
    Seen {
        worker: p,
        peers,
        gathered,
        gathered_shared,
        broadcast,
        all_to_all,
        bytes,
        sum,
        rotated_block,
        rotated_to_all,
        pulled,
        rounds,
    }
}

/// What worker `p` of `peers` must see, from the collectives' definitions.
fn expected(p: usize, peers: usize) -> Seen {
    let all: Vec<usize> = (0..peers).collect();
    let index_sum: usize = all.iter().sum();
    Seen {
        worker: p,
        peers,
        gathered: all.iter().map(|&q| q as u64 * 10 + 1).collect(),
        gathered_shared: all.iter().map(|&q| vec![q as u64; q + 1]).collect(),
        broadcast: format!("from the root, worker {}", peers - 1),
        // Source s sent (s, p) to this worker; results come in source order.
        all_to_all: all.iter().map(|&s| (s as u64, p as u64)).collect(),
        bytes: all.iter().map(|&s| vec![s as u8; s + p]).collect(),
        sum: vec![index_sum as f64, peers as f64, 0.5 * index_sum as f64],
        // STRADS's rotation: the block of worker p + 1 arrives here.
        rotated_block: 100 * ((p + 1) % peers) as u64,
        rotated_to_all: all.iter().map(|&q| q as u64).collect(),
        pulled: (0..2)
            .flat_map(|pull| {
                needed_keys(p, peers)
                    .into_iter()
                    .flat_map(move |g| pull_row(g as usize, pull))
            })
            .collect(),
        rounds: (0..ROUNDS)
            .map(|round| {
                let values: Vec<u64> = all
                    .iter()
                    .map(|&q| round * peers as u64 + q as u64)
                    .collect();
                let sum = values.iter().sum::<u64>() as f64;
                (values, sum)
            })
            .collect(),
    }
}

#[test]
fn collectives_on_threads_return_what_their_definitions_say() {
    for threads in [1, 2, 3] {
        let seen = run_cluster(&ClusterConfig::threads(threads), exercise).unwrap();
        assert_eq!(seen.len(), threads);
        for (p, seen) in seen.into_iter().enumerate() {
            assert_eq!(seen, expected(p, threads), "{threads} threads, worker {p}");
        }
    }
}

/// This test's name as the harness knows it (for `--exact` in the children).
const TEST: &str = "collectives_on_two_processes_return_what_their_definitions_say";
const THREADS_PER_PROCESS: usize = 2;

#[test]
fn collectives_on_two_processes_return_what_their_definitions_say() {
    if support::as_child(THREADS_PER_PROCESS, |config| {
        run_cluster(config, exercise).unwrap()
    }) {
        return;
    }
    let peers = 2 * THREADS_PER_PROCESS;
    let parts: Vec<Vec<Seen>> = support::run_on_processes(TEST, 2, THREADS_PER_PROCESS);
    let mut workers: Vec<Seen> = parts.into_iter().flatten().collect();
    workers.sort_by_key(|s| s.worker);
    for (w, seen) in workers.into_iter().enumerate() {
        assert_eq!(
            seen,
            expected(w, peers),
            "worker {w} of {peers}, 2 processes"
        );
    }
}
