//! The rotation driver (`strads_engine::rotation`) on its own: counting words, as LDA's sampler
//! updates its word-topic rows. Every worker holds a contiguous range of documents; the
//! vocabulary is split into one block of counters per worker. In sub-round r of an iteration
//! worker p adds, for each of its tokens whose word lies in block (p + r) mod P, the iteration's
//! number to that word's counter (no other worker holds the block meanwhile), then the driver
//! passes the block's counters to worker p - 1, which holds it next, and every worker's number of
//! tokens counted to every worker. At the iteration boundary every worker has the same running
//! total of tokens counted, and all stop once it reaches `STOP_AFTER_TOKENS`.
//!
//! After T iterations the counter of word w is `c_w (1 + 2 + ... + T) = c_w T (T + 1) / 2`, with
//! `c_w` its number of tokens in the corpus (counted directly by [`reference`]).
//!
//! Run: `cargo run --release -p strads-engine --example word_counts_rotation -- [THREADS]`.

use std::ops::{ControlFlow, Range};

use serde::{Deserialize, Serialize};
use strads_engine::rotation::{run_rotation, RotationProgram, Route, SubRound};
use strads_engine::{run_cluster, ClusterConfig, EngineError, Worker};

/// Documents in the corpus.
pub const DOCS: usize = 300;
/// Words in the vocabulary.
pub const WORDS: usize = 40;
/// The workers stop after the iteration that brings the tokens counted to at least this.
pub const STOP_AFTER_TOKENS: u64 = 5_000;

/// The words of document `d`: `1 + d % 7` tokens, a deterministic spread over the vocabulary.
pub fn document(d: usize) -> Vec<usize> {
    (0..1 + d % 7)
        .map(|t| (d * 7 + t * t * 13) % WORDS)
        .collect()
}

/// Block `b` of `n` of a range `0..len`, contiguous and in order.
fn block(b: usize, n: usize, len: usize) -> Range<usize> {
    b * len / n..(b + 1) * len / n
}

/// A block's state: the counters of its words, which travel with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WordBlock {
    /// The block's first word.
    pub first: usize,
    /// Weighted counts of the words `first..first + counts.len()`.
    pub counts: Vec<u64>,
}

/// One worker's program: its tokens, the block it holds, the running total of tokens counted.
pub struct WordCounts {
    tokens: Vec<usize>,
    held: WordBlock,
    tokens_counted: u64,
}

impl WordCounts {
    /// Worker `index` of `peers`: its documents' tokens, and its home block's counters at zero.
    pub fn new(index: usize, peers: usize) -> WordCounts {
        let tokens = block(index, peers, DOCS).flat_map(document).collect();
        let home = block(index, peers, WORDS);
        WordCounts {
            tokens,
            held: WordBlock {
                first: home.start,
                counts: vec![0; home.len()],
            },
            tokens_counted: 0,
        }
    }
}

impl RotationProgram for WordCounts {
    type Block = WordBlock;
    /// Tokens counted in the sub-round.
    type ToAll = u64;
    type Error = EngineError;

    fn step(&mut self, sub_round: SubRound) -> Result<u64, EngineError> {
        let WordBlock { first, counts } = &mut self.held;
        let mut counted = 0;
        for &word in &self.tokens {
            if let Some(count) = word.checked_sub(*first).and_then(|at| counts.get_mut(at)) {
                *count += sub_round.iteration;
                counted += 1;
            }
        }
        Ok(counted)
    }

    fn hand_over(&mut self, _block: usize, _route: Route) -> Result<WordBlock, EngineError> {
        Ok(std::mem::take(&mut self.held))
    }

    fn take_over(&mut self, _block: usize, state: WordBlock) -> Result<(), EngineError> {
        self.held = state;
        Ok(())
    }

    fn receive(&mut self, _sub_round: SubRound, all: Vec<u64>) -> Result<(), EngineError> {
        self.tokens_counted += all.iter().sum::<u64>();
        Ok(())
    }

    /// Every worker received the same counts, so every worker decides the same.
    fn end_iteration(
        &mut self,
        _worker: &mut Worker<'_>,
        _iteration: u64,
    ) -> Result<ControlFlow<()>, EngineError> {
        Ok(if self.tokens_counted >= STOP_AFTER_TOKENS {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }
}

/// Counts on the cluster `config`; every worker returns the iterations run and, on worker 0,
/// every word's counter (the home blocks gathered in worker order).
pub fn count(config: &ClusterConfig) -> Vec<(u64, Option<Vec<u64>>)> {
    run_cluster(config, |worker| {
        let mut program = WordCounts::new(worker.index(), worker.peers());
        let iterations = run_rotation(worker, &mut program, 1..).unwrap();
        let blocks: Vec<WordBlock> = worker.all_gather(&program.held).unwrap();
        let counts = worker
            .is_leader()
            .then(|| blocks.into_iter().flat_map(|b| b.counts).collect());
        (iterations, counts)
    })
    .unwrap()
}

/// The iterations the stop rule allows and the counters after them, from a direct count of the
/// corpus and the closed form.
pub fn reference() -> (u64, Vec<u64>) {
    let mut tokens_per_word = vec![0u64; WORDS];
    for word in (0..DOCS).flat_map(document) {
        tokens_per_word[word] += 1;
    }
    let tokens: u64 = tokens_per_word.iter().sum();
    let iterations = STOP_AFTER_TOKENS.div_ceil(tokens);
    let weight = iterations * (iterations + 1) / 2;
    let counts = tokens_per_word.iter().map(|c| c * weight).collect();
    (iterations, counts)
}

#[allow(dead_code)] // `main` is unused where a test includes this file as a module.
fn main() {
    let threads = std::env::args()
        .nth(1)
        .map_or(2, |t| t.parse().expect("THREADS is a number"));
    let results = count(&ClusterConfig::threads(threads));
    let (iterations, counts) = results.into_iter().next().expect("worker 0");
    let (expected_iterations, expected) = reference();
    println!("{iterations} iterations of {threads} sub-rounds; word counters {counts:?}");
    assert_eq!(iterations, expected_iterations, "iterations run");
    assert_eq!(counts, Some(expected), "counters against the closed form");
    println!("equal to the closed form c_w T (T + 1) / 2");
}
