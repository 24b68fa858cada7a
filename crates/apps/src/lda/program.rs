//! The distributed sampler that every worker runs: STRADS static vocabulary rotation.
//!
//! Documents are sharded over the P workers; the vocabulary is split into P blocks of near-equal
//! token count (`balanced_blocks`). The engine's rotation driver (`strads_engine::rotation`) runs
//! an iteration as P sub-rounds; in sub-round r worker p samples its tokens whose word lies in
//! block `(p + r) mod P`, so no word-topic row is written by two workers at once. After each
//! sub-round the driver's exchange does both synchronisations: every worker's change of `n_k` to
//! everyone (so `n_k` is exact again), and the rows of its block to worker p - 1, which samples
//! that block next.

use std::ops::{ControlFlow, Range};

use strads_core::balanced_blocks;
use strads_engine::rotation::{run_rotation, RotationProgram, Route, SubRound};
use strads_engine::{ClusterConfig, ProcessFigures, Worker};

use serde::{Deserialize, Serialize};

use super::kernels::{word_log_likelihood, FastRng, LogGammaTable, Priors, Topic};
use super::load::{load_corpus, LoadedCorpus};
use super::shard::{local_word_counts, HandedRows, PackedRows, ShardState};
use super::{DocTopicRows, LdaParams, LdaResult, TraceRecord};
use crate::checkpoint::{Boundary, Checkpointing};
use crate::error::AppError;
use crate::runner::{in_memory_on_one_process, App, Footprint, Run, Timing};

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

/// The rotation's blocks of words, seen from one worker.
struct Rotation {
    blocks: Vec<Range<usize>>,
    worker: usize,
}

impl Rotation {
    /// The words of this worker's home block (the one it holds between iterations).
    fn home(&self) -> Range<usize> {
        self.blocks[self.worker].clone()
    }
}

/// The training as an app of the runner.
pub(super) struct Training;

/// A worker's training: its tokens' state with the counts in place, what it knows of the
/// corpus, and after training the trace and what the end of the run gathered on worker 0.
pub(super) struct Trainer {
    state: ShardState,
    rng: FastRng,
    rotation: Rotation,
    priors: Priors,
    synced_totals: Vec<i64>,
    word_table: LogGammaTable,
    doc_table: LogGammaTable,
    words: usize,
    total_tokens: u64,
    total_docs: u64,
    vocabulary: Option<Vec<String>>,
    bytes_read: u64,
    tokens_held: u64,
    /// The trace so far (a resumed checkpoint's, then this run's).
    trace: Vec<TraceRecord>,
    /// Iterations done (a resumed checkpoint's at the start).
    completed: usize,
    loglik: f64,
    count_checks: usize,
    blocks: Vec<PackedRows>,
    doc_topic: Option<DocTopicRows>,
}

impl App for Training {
    type Params = LdaParams;
    type Record = TraceRecord;
    type Loaded = Trainer;
    type Solved = Trainer;
    type Output = LdaResult;
    type Error = AppError;

    fn check(params: &LdaParams, cluster: &ClusterConfig) -> Result<(), AppError> {
        super::validate(params)?;
        in_memory_on_one_process(
            params.corpus.in_memory.is_some(),
            cluster,
            "documents held in memory are trained on in one process only",
        )?;
        Ok(())
    }

    fn checkpointing(params: &LdaParams) -> Checkpointing {
        params.checkpointing.clone()
    }

    fn load(
        worker: &mut Worker<'_>,
        params: &LdaParams,
        run: &mut Run<TraceRecord>,
    ) -> Result<Trainer, AppError> {
        let threads = worker.workers_per_process();
        let corpus = load_corpus(worker, &params.corpus)?;
        let needed = super::memory_needed(
            params.topics,
            threads,
            worker.peers(),
            corpus.words,
            corpus.total_tokens,
            corpus.total_docs,
        );
        let what = format!(
            "a corpus of {} tokens over a vocabulary of W = {} words, with K = {} topics on {} \
             worker thread(s),",
            corpus.total_tokens, corpus.words, params.topics, threads
        );
        strads_io::check_memory(&what, needed).map_err(AppError::InvalidArgument)?;
        if corpus.words as u64 * params.topics as u64 > (1u64 << 34) {
            return Err(AppError::InvalidArgument(format!(
                "W x K = {} x {} word-topic counts are too many for one process",
                corpus.words, params.topics
            )));
        }
        prepare(worker, params, corpus, run)
    }

    fn solve(
        worker: &mut Worker<'_>,
        params: &LdaParams,
        mut trainer: Trainer,
        run: &mut Run<TraceRecord>,
    ) -> Result<Trainer, AppError> {
        sample(worker, params, &mut trainer, run)?;
        Ok(trainer)
    }

    fn gather(
        worker: &mut Worker<'_>,
        params: &LdaParams,
        solved: &mut Trainer,
    ) -> Result<Footprint, AppError> {
        let peers = worker.peers();
        // The leader collects every block's rows, and the documents' topic counts if asked.
        let mut outgoing: Vec<PackedRows> = vec![Vec::new(); peers];
        outgoing[0] = solved.state.pack_rows(solved.rotation.home());
        solved.blocks = worker.all_to_all(&outgoing)?;
        if params.doc_topics {
            let mut outgoing: Vec<DocTopicRows> = vec![Vec::new(); peers];
            outgoing[0] = solved.state.doc_topic_rows();
            let all = worker.all_to_all(&outgoing)?;
            solved.doc_topic = Some(all.into_iter().flatten().collect::<Vec<_>>());
        }
        Ok(Footprint {
            bytes_read: solved.bytes_read,
            held: solved.tokens_held,
        })
    }

    fn summarise(
        params: &LdaParams,
        solved: Trainer,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> LdaResult {
        let mut word_topic: Vec<Vec<(u32, u32)>> = Vec::with_capacity(solved.words);
        for (b, packed) in solved.blocks.iter().enumerate() {
            let mut at = 0;
            for _ in solved.rotation.blocks[b].clone() {
                let nonzeros = packed[at] as usize;
                let row = (0..nonzeros)
                    .map(|j| (packed[at + 1 + 2 * j], packed[at + 2 + 2 * j]))
                    .collect();
                at += 1 + 2 * nonzeros;
                word_topic.push(row);
            }
        }
        LdaResult {
            topics: params.topics,
            words: solved.words,
            docs: solved.total_docs,
            tokens: solved.total_tokens,
            iterations: solved.completed,
            loglik: solved.loglik,
            topic_totals: solved.synced_totals.iter().map(|&n| n as u64).collect(),
            word_topic,
            doc_topic: solved.doc_topic,
            vocabulary: solved.vocabulary,
            trace: solved.trace,
            load_seconds: timing.load_seconds,
            train_seconds: timing.solve_seconds,
            count_checks: solved.count_checks,
            processes,
        }
    }
}

/// After loading the corpus: the rotation's blocks, the tokens' state (resumed from a
/// checkpoint when asked: the counts follow from the topics), the initial counts and the
/// log-gamma tables.
fn prepare(
    worker: &mut Worker<'_>,
    params: &LdaParams,
    corpus: LoadedCorpus,
    run: &mut Run<TraceRecord>,
) -> Result<Trainer, AppError> {
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
    run.check_space(
        worker,
        &LdaSnapshotRef {
            topics: state.topics(),
            rng: rng.state(),
            trace: &[],
            seconds: 0.0,
        },
    )?;
    let resumed = run
        .resume::<LdaSnapshot>(worker)?
        .map(|(iteration, snapshot)| -> Result<_, AppError> {
            state
                .restore_topics(&snapshot.topics)
                .map_err(AppError::InvalidArgument)?;
            rng = FastRng::from_state(snapshot.rng);
            Ok((iteration, snapshot.trace, snapshot.seconds))
        })
        .transpose();
    let (completed, trace) = match agree(worker, resumed)? {
        Some((iteration, trace, seconds)) => {
            // Training goes on from the checkpoint's seconds.
            run.resumed_at(iteration, seconds);
            (iteration as usize, trace)
        }
        None => (0, Vec::new()),
    };

    // Initial counts: every worker's partial rows of block b go to its first holder, worker b.
    let initial = gather_rows(worker, &mut state, &rotation)?;
    for (source, packed) in initial.iter().enumerate() {
        state.add_rows(rotation.home(), packed, source == 0);
    }
    let totals = worker.all_gather(&state.local_topic_counts())?;
    let synced_totals = sum_vectors(&totals, k);
    state.topic_total.assign(synced_totals.iter().copied());

    let max_word = word_weights.iter().copied().max().unwrap_or(0) as usize;
    let word_table = LogGammaTable::new(params.beta, max_word);
    let doc_table = LogGammaTable::new(params.alpha, state.max_doc_length());
    Ok(Trainer {
        state,
        rng,
        rotation,
        priors,
        synced_totals,
        word_table,
        doc_table,
        words,
        total_tokens: corpus.total_tokens,
        total_docs: corpus.total_docs,
        vocabulary: corpus.vocabulary,
        bytes_read: corpus.bytes_read,
        tokens_held,
        trace,
        completed,
        loglik: f64::NAN,
        count_checks: 0,
        blocks: Vec::new(),
        doc_topic: None,
    })
}

/// The iterations on the engine's rotation driver (P sub-rounds each, then [`Sampling`]'s
/// boundary).
fn sample(
    worker: &mut Worker<'_>,
    params: &LdaParams,
    trainer: &mut Trainer,
    run: &mut Run<TraceRecord>,
) -> Result<(), AppError> {
    let first = trainer.completed as u64 + 1;
    let mut sampling = Sampling {
        trainer,
        params,
        run,
    };
    run_rotation(worker, &mut sampling, first..=params.iterations as u64)?;
    Ok(())
}

/// The sampler as a program of the rotation driver: a step samples the tokens of the held
/// block's words; the block's state is its word-topic rows, packed; the part for all is the
/// step's change of `n_k`, so `n_k` is exact again after every sub-round.
struct Sampling<'a> {
    trainer: &'a mut Trainer,
    params: &'a LdaParams,
    run: &'a mut Run<TraceRecord>,
}

impl RotationProgram for Sampling<'_> {
    type Block = HandedRows;
    type ToAll = Vec<i64>;
    type Error = AppError;

    fn step(&mut self, sub_round: SubRound) -> Result<Vec<i64>, AppError> {
        let t = &mut *self.trainer;
        let block = t.rotation.blocks[sub_round.block].clone();
        t.state
            .sample_block(block, &t.priors, self.params.sampler, &mut t.rng);
        Ok(t.state
            .topic_total
            .iter()
            .zip(&t.synced_totals)
            .map(|(now, before)| now - before)
            .collect())
    }

    fn hand_over(&mut self, block: usize, route: Route) -> Result<HandedRows, AppError> {
        let t = &*self.trainer;
        Ok(t.state.hand_over(t.rotation.blocks[block].clone(), route))
    }

    fn take_over(&mut self, block: usize, rows: HandedRows) -> Result<(), AppError> {
        let t = &mut *self.trainer;
        t.state.take_over(t.rotation.blocks[block].clone(), rows)
    }

    fn receive(&mut self, _sub_round: SubRound, deltas: Vec<Vec<i64>>) -> Result<(), AppError> {
        let t = &mut *self.trainer;
        for delta in &deltas {
            for (total, change) in t.synced_totals.iter_mut().zip(delta) {
                *total += change;
            }
        }
        t.state.topic_total.copy_from_slice(&t.synced_totals);
        Ok(())
    }

    /// The count check, the stop rule, the log-likelihood and checkpoints.
    fn end_iteration(
        &mut self,
        worker: &mut Worker<'_>,
        iteration: u64,
    ) -> Result<ControlFlow<()>, AppError> {
        let (params, run) = (self.params, &mut *self.run);
        let Trainer {
            state,
            rng,
            rotation,
            priors,
            synced_totals,
            word_table,
            doc_table,
            total_tokens,
            trace,
            completed,
            loglik,
            count_checks,
            ..
        } = &mut *self.trainer;
        let iteration = iteration as usize;
        // Every worker holds its own block again: blocks are disjoint and cover the vocabulary.
        if params.check_counts {
            check_counts(worker, state, rotation, synced_totals, iteration)?;
            *count_checks += 1;
        }
        // Every worker decides the same: write a checkpoint, stop on request (then the state
        // is evaluated as after the last iteration).
        let boundary = if iteration < params.iterations {
            let seconds = run.seconds();
            run.boundary(worker, iteration as u64, seconds)?
        } else {
            Boundary::default()
        };
        *completed = iteration;
        let evaluate = iteration == params.iterations
            || boundary.stop.is_some()
            || (params.loglik_every > 0 && iteration % params.loglik_every == 0);
        if evaluate {
            let local = [
                state.word_rows_log_likelihood(rotation.home(), word_table),
                state.doc_log_likelihood(params.alpha, doc_table),
            ];
            let sums = worker.all_reduce_sum(&local)?;
            *loglik = word_log_likelihood(sums[0], synced_totals, priors) + sums[1];
            let seconds = run.seconds();
            let record = TraceRecord {
                iteration,
                seconds,
                loglik: *loglik,
                loglik_per_token: *loglik / *total_tokens as f64,
                tokens_per_second: *total_tokens as f64 * iteration as f64 / seconds,
            };
            run.observe(worker, &record);
            trace.push(record);
        }
        if boundary.checkpoint {
            let snapshot = LdaSnapshotRef {
                topics: state.topics(),
                rng: rng.state(),
                trace,
                seconds: run.seconds(),
            };
            run.save(worker, iteration as u64, &snapshot)?;
        }
        Ok(if boundary.stop.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }
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
    let held = rotation.home();
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
