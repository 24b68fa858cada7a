//! The distributed sampler that every worker runs: STRADS static vocabulary rotation.
//!
//! Documents are sharded over the P workers; the vocabulary is split into P blocks of near-equal
//! token count (`balanced_blocks`). An iteration is P sub-rounds; in sub-round r worker p samples
//! its tokens whose word lies in block `rotation_block(p, r, P) = (p + r) mod P`, so no word-topic
//! row is written by two workers at once. After each sub-round one step of the engine's rotation
//! exchange ([`Worker::rotate`]) does both synchronisations: every worker sends its change of `n_k`
//! to everyone (so `n_k` is exact again), and the rows of its block to worker p - 1, which samples
//! that block next.

use std::ops::Range;
use std::time::Instant;

use strads_core::{balanced_blocks, rotation_block};
use strads_engine::{ProcessFigures, Worker};

use serde::{Deserialize, Serialize};

use super::kernels::{word_log_likelihood, FastRng, LogGammaTable, Priors, Topic};
use super::load::LoadedCorpus;
use super::shard::{local_word_counts, PackedRows, ShardState};
use super::{DocTopicRows, LdaParams, LdaResult, Observer, TraceRecord};
use crate::checkpoint::{Boundary, CheckpointClock};
use crate::error::AppError;

/// A worker's state after an iteration, as a checkpoint holds it.
#[derive(Deserialize)]
struct LdaSnapshot {
    topics: Vec<Topic>,
    rng: [u64; 4],
    trace: Vec<TraceRecord>,
    seconds: f64,
}

/// [`LdaSnapshot`] by reference, for writing (bincode encodes a reference as the value).
#[derive(Serialize)]
struct LdaSnapshotRef<'a> {
    topics: &'a [Topic],
    rng: [u64; 4],
    trace: &'a [TraceRecord],
    seconds: f64,
}

/// Fails on every worker when `result` failed on any (so that none waits for the others).
fn agree<T>(worker: &mut Worker<'_>, result: Result<T, AppError>) -> Result<T, AppError> {
    let error = result.as_ref().err().map(ToString::to_string);
    let all: Vec<Option<String>> = worker.all_gather(&error)?;
    match all
        .into_iter()
        .enumerate()
        .find_map(|(w, e)| e.map(|e| (w, e)))
    {
        None => Ok(result.unwrap_or_else(|_| unreachable!("no worker failed"))),
        Some((w, message)) => Err(AppError::InvalidArgument(format!(
            "resuming failed on worker {w}: {message}"
        ))),
    }
}

/// A sub-round of the rotation, seen from one worker.
struct Rotation {
    blocks: Vec<Range<usize>>,
    worker: usize,
    peers: usize,
}

impl Rotation {
    /// The block this worker holds in sub-round `r`.
    fn held(&self, r: usize) -> Range<usize> {
        self.blocks[rotation_block(self.worker, r, self.peers)].clone()
    }
}

/// Runs the whole training on one worker; the leader returns the result.
pub fn train_on_worker(
    worker: &mut Worker<'_>,
    params: &LdaParams,
    corpus: LoadedCorpus,
    started: Instant,
    observer: Option<Observer>,
) -> Result<Option<LdaResult>, AppError> {
    let (p, peers) = (worker.index(), worker.peers());
    let k = params.topics;
    let words = corpus.words;
    let priors = Priors {
        alpha: params.alpha,
        beta: params.beta,
        words,
    };
    let mut rng = FastRng::new(params.seed, p as u64);
    // Blocks balanced by the global token count of each word.
    let local_counts: Vec<f64> = local_word_counts(&corpus.docs, words)
        .iter()
        .map(|&c| c as f64)
        .collect();
    let word_weights: Vec<u64> = worker
        .all_reduce_sum(&local_counts)?
        .iter()
        .map(|&c| c as u64)
        .collect();
    let rotation = Rotation {
        blocks: balanced_blocks(&word_weights, peers),
        worker: p,
        peers,
    };
    let mut state = ShardState::new(
        &corpus.docs,
        k,
        words,
        &rotation.blocks,
        params.sampler,
        &mut rng,
    )
    .map_err(|e| AppError::Resources(format!("allocating the count arrays: {e}")))?;
    let tokens_held = corpus.tokens_held();
    drop(corpus.docs);
    // A checkpoint holds every token's topic and the generator: the counts follow from the
    // topics exactly (integers), so they are rebuilt below as at the start.
    params.checkpointing.check_space(
        worker,
        &LdaSnapshotRef {
            topics: state.topics(),
            rng: rng.state(),
            trace: &[],
            seconds: 0.0,
        },
    )?;
    let resumed = params
        .checkpointing
        .resume::<LdaSnapshot>(worker)?
        .map(|(iteration, snapshot)| -> Result<_, AppError> {
            state
                .restore_topics(&snapshot.topics)
                .map_err(AppError::InvalidArgument)?;
            rng = FastRng::from_state(snapshot.rng);
            Ok((iteration, snapshot.trace, snapshot.seconds))
        })
        .transpose();
    let resumed = agree(worker, resumed)?;

    // Initial counts: every worker's partial rows of block b go to its first holder, worker b.
    let initial = gather_rows(worker, &mut state, &rotation)?;
    for (source, packed) in initial.iter().enumerate() {
        state.add_rows(rotation.held(0), packed, source == 0);
    }
    let totals = worker.all_gather(&state.local_topic_counts())?;
    let mut synced_totals = sum_vectors(&totals, k);
    state.topic_total = synced_totals.clone();

    let max_word = word_weights.iter().copied().max().unwrap_or(0) as usize;
    let word_table = LogGammaTable::new(params.beta, max_word);
    let doc_table = LogGammaTable::new(params.alpha, state.max_doc_length());
    let load_seconds = started.elapsed().as_secs_f64();

    let mut train_started = Instant::now();
    let mut trace = Vec::new();
    let mut count_checks = 0;
    let mut loglik = f64::NAN;
    let mut clock = CheckpointClock::default();
    let mut first = 1;
    let mut completed = 0;
    if let Some((iteration, saved_trace, seconds)) = resumed {
        trace = saved_trace;
        train_started = Instant::now()
            .checked_sub(std::time::Duration::from_secs_f64(seconds))
            .unwrap_or(train_started);
        clock = CheckpointClock::at(iteration, seconds);
        first = iteration as usize + 1;
        completed = iteration as usize;
    }
    for iteration in first..=params.iterations {
        for r in 0..peers {
            state.sample_block(rotation.held(r), &priors, params.sampler, &mut rng);
            if peers == 1 {
                synced_totals.clone_from(&state.topic_total);
            } else {
                let delta: Vec<i64> = state
                    .topic_total
                    .iter()
                    .zip(&synced_totals)
                    .map(|(now, before)| now - before)
                    .collect();
                // The held block's rows go to worker p - 1, which holds it next; the change
                // of n_k goes to everyone.
                let rows = state.pack_rows(rotation.held(r));
                let (rows, deltas): (PackedRows, Vec<Vec<i64>>) = worker.rotate(&rows, &delta)?;
                for delta in &deltas {
                    for (total, change) in synced_totals.iter_mut().zip(delta) {
                        *total += change;
                    }
                }
                state.topic_total.clone_from(&synced_totals);
                state.add_rows(rotation.held(r + 1), &rows, true);
            }
        }
        // Every worker holds its own block again: blocks are disjoint and cover the vocabulary.
        if params.check_counts {
            check_counts(worker, &mut state, &rotation, &synced_totals, iteration)?;
            count_checks += 1;
        }
        // Every worker decides the same: write a checkpoint, stop on request (then the state
        // is evaluated as after the last iteration).
        let boundary = if iteration < params.iterations {
            let seconds = train_started.elapsed().as_secs_f64();
            params
                .checkpointing
                .boundary(worker, iteration as u64, seconds, &mut clock)?
        } else {
            Boundary::default()
        };
        completed = iteration;
        let evaluate = iteration == params.iterations
            || boundary.stop.is_some()
            || (params.loglik_every > 0 && iteration % params.loglik_every == 0);
        if evaluate {
            let local = [
                state.word_rows_log_likelihood(rotation.held(0), &word_table),
                state.doc_log_likelihood(params.alpha, &doc_table),
            ];
            let sums = worker.all_reduce_sum(&local)?;
            loglik = word_log_likelihood(sums[0], &synced_totals, &priors) + sums[1];
            let seconds = train_started.elapsed().as_secs_f64();
            let record = TraceRecord {
                iteration,
                seconds,
                loglik,
                loglik_per_token: loglik / corpus.total_tokens as f64,
                tokens_per_second: corpus.total_tokens as f64 * iteration as f64 / seconds,
            };
            if let (true, Some(observer)) = (worker.is_leader(), &observer) {
                observer(&record);
            }
            trace.push(record);
        }
        if boundary.checkpoint {
            let snapshot = LdaSnapshotRef {
                topics: state.topics(),
                rng: rng.state(),
                trace: &trace,
                seconds: train_started.elapsed().as_secs_f64(),
            };
            params
                .checkpointing
                .save(worker, iteration as u64, &snapshot)?;
        }
        if boundary.stop.is_some() {
            break;
        }
    }
    let train_seconds = train_started.elapsed().as_secs_f64();

    // The leader collects every block's rows, and the documents' topic counts if asked.
    let mut outgoing: Vec<PackedRows> = vec![Vec::new(); peers];
    outgoing[0] = state.pack_rows(rotation.held(0));
    let blocks = worker.all_to_all(&outgoing)?;
    let doc_topic = if params.doc_topics {
        let mut outgoing: Vec<DocTopicRows> = vec![Vec::new(); peers];
        outgoing[0] = state.doc_topic_rows();
        let all = worker.all_to_all(&outgoing)?;
        Some(all.into_iter().flatten().collect::<Vec<_>>())
    } else {
        None
    };
    // Only on success (every worker gets here): each process's figures, its peak last.
    let mine = ProcessFigures {
        bytes_read: corpus.bytes_read,
        held: tokens_held,
        peak_memory_bytes: strads_io::peak_resident_bytes(),
    };
    let Some(processes) = worker.gather_process_figures(&mine)? else {
        return Ok(None);
    };
    let mut word_topic: Vec<Vec<(u32, u32)>> = Vec::with_capacity(words);
    for (b, packed) in blocks.iter().enumerate() {
        let mut at = 0;
        for _ in rotation.blocks[b].clone() {
            let nonzeros = packed[at] as usize;
            let row = (0..nonzeros)
                .map(|j| (packed[at + 1 + 2 * j], packed[at + 2 + 2 * j]))
                .collect();
            at += 1 + 2 * nonzeros;
            word_topic.push(row);
        }
    }
    Ok(Some(LdaResult {
        topics: k,
        words,
        docs: corpus.total_docs,
        tokens: corpus.total_tokens,
        iterations: completed,
        loglik,
        topic_totals: synced_totals.iter().map(|&n| n as u64).collect(),
        word_topic,
        doc_topic,
        vocabulary: corpus.vocabulary,
        trace,
        load_seconds,
        train_seconds,
        count_checks,
        processes,
    }))
}

fn sum_vectors(parts: &[Vec<i64>], len: usize) -> Vec<i64> {
    let mut sum = vec![0i64; len];
    for part in parts {
        for (s, v) in sum.iter_mut().zip(part) {
            *s += v;
        }
    }
    sum
}

/// Sends every worker's local counts of block b to worker b, which sums them into its rows
/// (replacing what it held) and returns them.
fn gather_rows(
    worker: &mut Worker<'_>,
    state: &mut ShardState,
    rotation: &Rotation,
) -> Result<Vec<PackedRows>, AppError> {
    let outgoing: Vec<PackedRows> = rotation
        .blocks
        .iter()
        .map(|block| state.pack_local_counts(block.clone()))
        .collect();
    let incoming: Vec<PackedRows> = worker.all_to_all(&outgoing)?;
    Ok(incoming)
}

/// After an iteration: the rows each worker holds equal the counts recomputed from every
/// worker's topic assignments; `n_k = sum_w n_kw` (the synchronised totals); the total of all
/// rows is the number of tokens; and each worker's `n_dk` match its assignments with
/// `n_d = sum_k n_dk`.
fn check_counts(
    worker: &mut Worker<'_>,
    state: &mut ShardState,
    rotation: &Rotation,
    synced_totals: &[i64],
    iteration: usize,
) -> Result<(), AppError> {
    let k = state.n_topics;
    let held = rotation.held(0);
    let recount = gather_rows(worker, state, rotation)?;
    let mut problems = Vec::new();
    if !state.rows_equal_sum(held.clone(), &recount) {
        problems.push(format!(
            "the rows of words {held:?} disagree with the topic assignments"
        ));
    }
    if let Err(problem) = state.check_local_counts() {
        problems.push(problem);
    }
    let local_sums = state.block_topic_sums(held);
    let local_tokens = state.tokens() as i64;
    let (sums, tokens): (Vec<Vec<i64>>, Vec<i64>) = worker
        .all_gather(&(local_sums, local_tokens))?
        .into_iter()
        .unzip();
    let row_totals = sum_vectors(&sums, k);
    let tokens: i64 = tokens.iter().sum();
    if row_totals != synced_totals {
        problems.push("n_k differs from sum_w n_kw".into());
    }
    if row_totals.iter().sum::<i64>() != tokens {
        problems.push(format!(
            "sum of n_kw is not the number of tokens ({tokens})"
        ));
    }
    let all: Vec<Vec<String>> = worker.all_gather(&problems)?;
    let all: Vec<String> = all.into_iter().flatten().collect();
    if all.is_empty() {
        Ok(())
    } else {
        Err(AppError::Inconsistent(format!(
            "after iteration {iteration}: {}",
            all.join("; ")
        )))
    }
}
