//! The AP program: read and count, agree on the vocabulary, train epoch by epoch, gather the
//! input vectors on worker 0. Runs on every worker (SPMD).

use std::collections::HashMap;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use strads_ap::{
    in_memory_on_one_process, Ap, ApApp, ClusterConfig, Consistency, DVector, ProcessFigures, Run,
    Strategy, Timing,
};
use strads_io::DataError;

use super::kernels;
use super::vectors::WordVectors;
use super::vocab::{NoiseSampler, Vocabulary};
use super::{Architecture, Word2vecError, Word2vecParams};

/// Longer lines are cut into sentences of this many tokens (word2vec.c's
/// `MAX_SENTENCE_LENGTH`), which also bounds one iteration's work.
pub const MAX_SENTENCE: usize = 1000;

/// Merges per pass at least, so that small corpora on several workers still mix often.
const MIN_STEPS_PER_EPOCH: usize = 16;

/// One epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceRecord {
    /// Epochs done.
    pub epoch: usize,
    /// Vocabulary words read in the epoch (before subsampling), all workers.
    pub words: u64,
    /// (input, center) pairs trained on, all workers.
    pub pairs: u64,
    /// The epoch's seconds.
    pub seconds: f64,
    /// `words / seconds`.
    pub words_per_second: f64,
    /// Mean SGNS loss per pair over the epoch, each taken before its step.
    pub mean_loss: f64,
    /// The learning rate at the end of the epoch.
    pub alpha: f64,
}

/// Learned vectors and how they were reached.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// The input vectors of the vocabulary, most frequent word first (empty on workers other
    /// than 0).
    pub vectors: WordVectors,
    /// Vocabulary words.
    pub vocabulary: usize,
    /// Occurrences of vocabulary words in the text.
    pub corpus_words: u64,
    /// Per epoch.
    pub trace: Vec<TraceRecord>,
    /// What the runtime decided for the training loop.
    pub strategy: Strategy,
    /// Words (before subsampling) a worker trains on between merges: one mini-batch.
    pub words_per_step: usize,
    /// Seconds reading and counting (the runner's load clock).
    pub load_seconds: f64,
    /// Seconds training (the runner's solve clock).
    pub train_seconds: f64,
    /// Per process, process 0 first (empty on workers other than 0): bytes of the text it read,
    /// the vocabulary words of its sentences (over all processes, the corpus's words after the
    /// minimum count) and its peak memory, gathered at the end of training.
    pub processes: Vec<strads_ap::ProcessFigures>,
}

/// The app on the runner ([`strads_ap::ApApp`]): read and count, train, gather.
pub(crate) struct Word2vec;

/// A worker's share once loaded: its packs of sentences, the vectors, and what every worker
/// agreed on (the vocabulary and the mini-batch).
pub(crate) struct Loaded {
    vocab: Vocabulary,
    packs: DVector<Vec<Vec<u32>>>,
    input: DVector<Vec<f32>>,
    output: DVector<Vec<f32>>,
    keep: Vec<f32>,
    noise: NoiseSampler,
    /// Vocabulary words in this worker's sentences.
    tokens_here: u64,
    words_per_step: usize,
}

/// A worker's state once trained (and, after gathering, the input vectors on worker 0).
pub(crate) struct Solved {
    loaded: Loaded,
    trace: Vec<TraceRecord>,
    strategy: Strategy,
    /// Worker 0's input vectors, once gathered.
    rows: Option<Vec<Vec<f32>>>,
}

impl ApApp for Word2vec {
    type Params = Word2vecParams;
    type Record = TraceRecord;
    type Loaded = Loaded;
    type Solved = Solved;
    type Output = Fit;
    type Error = Word2vecError;

    fn check(params: &Word2vecParams, cluster: &ClusterConfig) -> Result<(), Word2vecError> {
        super::check_params(params)?;
        in_memory_on_one_process(
            params.in_memory.is_some(),
            cluster,
            "sentences in memory are trained on the threads of one process; the other \
             processes would not have them",
        )?;
        Ok(())
    }

    fn load(
        ap: &mut Ap<'_, '_>,
        params: &Word2vecParams,
        _run: &mut Run<TraceRecord>,
    ) -> Result<Loaded, Word2vecError> {
        load(ap, params)
    }

    fn solve(
        ap: &mut Ap<'_, '_>,
        params: &Word2vecParams,
        loaded: Loaded,
        run: &mut Run<TraceRecord>,
    ) -> Result<Solved, Word2vecError> {
        train(ap, params, loaded, run)
    }

    fn gather(
        ap: &mut Ap<'_, '_>,
        _params: &Word2vecParams,
        solved: &mut Solved,
    ) -> Result<u64, Word2vecError> {
        solved.rows = ap.gather(&solved.loaded.input)?;
        Ok(solved.loaded.tokens_here)
    }

    fn summarise(
        params: &Word2vecParams,
        solved: Solved,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> Fit {
        let Solved {
            loaded,
            trace,
            strategy,
            rows,
        } = solved;
        let vectors = WordVectors {
            words: loaded.vocab.words().to_vec(),
            dim: params.dim,
            values: rows.into_iter().flatten().flatten().collect(),
        };
        Fit {
            vectors,
            vocabulary: loaded.vocab.len(),
            corpus_words: loaded.vocab.total(),
            trace,
            strategy,
            words_per_step: loaded.words_per_step,
            load_seconds: timing.load_seconds,
            train_seconds: timing.solve_seconds,
            processes,
        }
    }
}

/// Reads and counts this worker's text, agrees on the vocabulary, packs the sentences and
/// makes the vectors.
fn load(ap: &mut Ap<'_, '_>, params: &Word2vecParams) -> Result<Loaded, Word2vecError> {
    // Each worker interns the words of its shard; the ids are local until the vocabulary is
    // agreed.
    let mut interner = Interner::default();
    let sentences: DVector<Vec<u32>> = match &params.in_memory {
        Some(text) => {
            let local: Vec<Vec<u32>> = text
                .share(ap.index(), ap.workers())
                .iter()
                .flat_map(|sentence| interner.sentences(sentence.iter().map(String::as_str)))
                .collect();
            ap.dvector_from_parts(local)?
        }
        None => ap.read_lines(&params.data, |line| {
            Ok::<_, String>(interner.sentences(line.split_whitespace()))
        })?,
    };
    let Interner {
        words: local_words,
        counts: local_counts,
        ..
    } = interner;
    let shard: Vec<(String, u64)> = local_words.iter().cloned().zip(local_counts).collect();
    let shards = ap.all_gather(&shard)?;
    let vocab = Vocabulary::from_counts(
        shards.iter().flatten().map(|(w, c)| (w.as_str(), *c)),
        params.min_count,
    );
    drop(shards);
    if vocab.is_empty() {
        let what = format!("words occurring at least {} times", params.min_count);
        return Err(match params.in_memory {
            Some(_) => Word2vecError::InvalidArgument(format!("the sentences hold no {what}")),
            None => Word2vecError::Data(DataError::Empty {
                path: params.data.clone(),
                what,
            }),
        });
    }
    // Local ids to vocabulary ids; words below the minimum count leave their sentences, as in
    // word2vec.c (so the window spans over them).
    let to_vocab: Vec<Option<u32>> = local_words.iter().map(|w| vocab.id(w)).collect();
    drop(local_words);
    let mut sentences = sentences.into_local();
    let mut tokens_here = 0u64;
    for sentence in &mut sentences {
        sentence.retain_mut(|id| match to_vocab[*id as usize] {
            Some(v) => {
                *id = v;
                true
            }
            None => false,
        });
        tokens_here += sentence.len() as u64;
    }
    let most_tokens = ap.all_gather(&tokens_here)?.into_iter().max().unwrap_or(0) as usize;
    let words_per_step = params
        .sync_words
        .min(most_tokens.div_ceil(MIN_STEPS_PER_EPOCH))
        .max(1);
    // A mini-batch is one pack of about `words_per_step` words: the lines' lengths vary (from a
    // few words to 1000), and batches of equal line counts would keep one worker waiting for
    // the other at every merge.
    let packs = ap
        .dvector_from_parts(pack_sentences(sentences, words_per_step))?
        .with_name("sentences");

    let (v, dim) = (vocab.len(), params.dim);
    let seed = params.seed;
    // Row i's start depends on (seed, i) only, so every cluster shape starts alike.
    let input = ap
        .dvector(v, |i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            (0..dim)
                .map(|_| (rng.gen::<f32>() - 0.5) / dim as f32)
                .collect::<Vec<f32>>()
        })
        .with_name("input vectors");
    let output = ap
        .dvector(v, |_| vec![0.0f32; dim])
        .with_name("output vectors");
    let keep = vocab.keep_probabilities(params.sample);
    let noise = NoiseSampler::new(vocab.counts(), 0.75);
    Ok(Loaded {
        vocab,
        packs,
        input,
        output,
        keep,
        noise,
        tokens_here,
        words_per_step,
    })
}

/// Trains epoch by epoch until every epoch ran or a stop was requested.
fn train(
    ap: &mut Ap<'_, '_>,
    params: &Word2vecParams,
    mut loaded: Loaded,
    run: &mut Run<TraceRecord>,
) -> Result<Solved, Word2vecError> {
    let Loaded {
        vocab,
        packs,
        input,
        output,
        keep,
        noise,
        ..
    } = &mut loaded;
    let (corpus_words, seed, dim) = (vocab.total(), params.seed, params.dim);
    let planned = (corpus_words * params.epochs as u64).max(1) as f64;
    let (alpha0, min_alpha) = (params.alpha, params.min_alpha);
    let workers = ap.workers() as u64;
    let mut words_before = 0u64; // all workers' words of the epochs done
    let mut trace = Vec::with_capacity(params.epochs);
    let mut strategy = None;
    let mut alpha = alpha0;
    for epoch in 0..params.epochs {
        let epoch_started = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5157_4f52_4432_5645);
        rng.set_stream(((epoch as u64) << 32) | ap.index() as u64);
        let (mut words, mut pairs, mut loss) = (0u64, 0u64, 0.0f64);
        let mut kept: Vec<usize> = Vec::new();
        let (mut negatives, mut next_negatives) = (Vec::new(), Vec::new());
        // Sets of negatives a window draws: one per context word for word2vec.c's skip-gram,
        // one for the window otherwise.
        let per_pair = params.architecture == Architecture::SkipGram && !params.shared_negatives;
        let sets = |(lo, hi): (usize, usize)| if per_pair { hi - lo } else { 1 };
        let mut change = vec![0.0f32; dim];
        let mut hidden = vec![0.0f32; dim];
        let mut context: Vec<usize> = Vec::new();
        let mut window = kernels::WindowScratch::default();
        let report = ap
            .parallel_for(&mut *packs, (&mut *input, &mut *output))
            .name("word2vec epoch")
            .batch(1)
            .run(Consistency::Bsp, |pack, (input, output)| {
                for sentence in pack.iter() {
                    // A stop request skips the rest of the epoch (prompt Ctrl-C in Python).
                    if run.stop_set() {
                        break;
                    }
                    // Progress over the whole run, this worker's words standing for every
                    // worker's (they hold about equal shares).
                    let progress = (words_before + words * workers) as f64 / planned;
                    alpha = (alpha0 - (alpha0 - min_alpha) * progress).max(min_alpha);
                    let rate = alpha as f32;
                    kept.clear();
                    for &w in sentence.iter() {
                        words += 1;
                        let p = keep[w as usize];
                        if p >= 1.0 || rng.gen::<f32>() < p {
                            kept.push(w as usize);
                        }
                    }
                    // Each window's draws (its size, then its negatives) are made one window
                    // early, in the order they would be made in turn (the results are those
                    // of drawing them when the window comes), so that its rows are requested
                    // while the window before it computes: waiting for those rows is most of
                    // the kernels' time.
                    if kept.is_empty() {
                        continue;
                    }
                    let mut next_b = rng.gen_range(1..=params.window);
                    if kept.len() < 2 {
                        continue; // a lone word has no context: no negatives drawn
                    }
                    let (neg, len) = (params.negative, kept.len());
                    let first = sets(window_bounds(0, next_b, len));
                    draw_negatives(&mut next_negatives, first, neg, noise, &mut rng);
                    for i in 0..kept.len() {
                        let (center, b) = (kept[i], next_b);
                        std::mem::swap(&mut negatives, &mut next_negatives);
                        if i + 1 < kept.len() {
                            next_b = rng.gen_range(1..=params.window);
                            let (lo, hi) = window_bounds(i + 1, next_b, len);
                            let sets = sets((lo, hi));
                            draw_negatives(&mut next_negatives, sets, neg, noise, &mut rng);
                            for j in (lo..=hi).filter(|&j| j != i + 1) {
                                strads_ap::prefetch_slice(&input[kept[j]]);
                            }
                            strads_ap::prefetch_slice(&output[kept[i + 1]]);
                            for &n in &next_negatives {
                                strads_ap::prefetch_slice(&output[n]);
                            }
                        }
                        let (lo, hi) = window_bounds(i, b, kept.len());
                        context.clear();
                        context.extend((lo..=hi).filter(|&j| j != i).map(|j| kept[j]));
                        match params.architecture {
                            Architecture::SkipGram if params.shared_negatives => {
                                loss += kernels::skipgram_window(
                                    input,
                                    output,
                                    &context,
                                    center,
                                    &negatives,
                                    rate,
                                    &mut window,
                                );
                                pairs += context.len() as u64;
                            }
                            Architecture::SkipGram => {
                                let per_pair = negatives.chunks_exact(params.negative);
                                for (&c, negatives) in context.iter().zip(per_pair) {
                                    loss += kernels::skipgram_pair(
                                        &mut input[c],
                                        output,
                                        center,
                                        negatives,
                                        rate,
                                        &mut change,
                                    );
                                    pairs += 1;
                                }
                            }
                            Architecture::Cbow => {
                                let rows = &*input;
                                kernels::mean_into(
                                    context.iter().map(|&c| rows[c].as_slice()),
                                    &mut hidden,
                                );
                                loss += kernels::sgns_outputs(
                                    &hidden,
                                    output,
                                    center,
                                    &negatives,
                                    rate,
                                    &mut change,
                                );
                                for &c in &context {
                                    kernels::add_change(&mut input[c], &change);
                                }
                                pairs += 1;
                            }
                        }
                    }
                }
            })?;
        strategy.get_or_insert(report.strategy);
        let totals = ap.sum_vec(&[words as f64, pairs as f64, loss])?;
        let (words, pairs) = (totals[0] as u64, totals[1] as u64);
        words_before += words;
        let seconds = epoch_started.elapsed().as_secs_f64();
        trace.push(TraceRecord {
            epoch: epoch + 1,
            words,
            pairs,
            seconds,
            words_per_second: words as f64 / seconds.max(1e-9),
            mean_loss: totals[2] / pairs.max(1) as f64,
            alpha: ap.sum(alpha)? / workers as f64,
        });
        run.observe(ap.engine(), &trace[trace.len() - 1]);
        let seconds = run.seconds();
        if run
            .boundary(ap.engine(), (epoch + 1) as u64, seconds)?
            .stop
            .is_some()
        {
            break;
        }
    }
    Ok(Solved {
        loaded,
        trace,
        strategy: strategy.expect("at least one epoch ran"),
        rows: None,
    })
}

/// A worker's words before the vocabulary is agreed: each distinct token gets the next local
/// id, and its occurrences are counted.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    words: Vec<String>,
    counts: Vec<u64>,
}

impl Interner {
    /// The local ids of one line's tokens, as sentences of at most [`MAX_SENTENCE`] tokens.
    fn sentences<'t>(&mut self, tokens: impl Iterator<Item = &'t str>) -> Vec<Vec<u32>> {
        let ids: Vec<u32> = tokens
            .map(|token| {
                let id = match self.ids.get(token) {
                    Some(&id) => id,
                    None => {
                        self.ids.insert(token.to_owned(), self.words.len() as u32);
                        self.words.push(token.to_owned());
                        self.counts.push(0);
                        self.words.len() as u32 - 1
                    }
                };
                self.counts[id as usize] += 1;
                id
            })
            .collect();
        ids.chunks(MAX_SENTENCE).map(<[u32]>::to_vec).collect()
    }
}

/// Packs sentences, in order, into runs of at least `words` words (the last one shorter).
fn pack_sentences(sentences: Vec<Vec<u32>>, words: usize) -> Vec<Vec<Vec<u32>>> {
    let mut packs = Vec::new();
    let (mut pack, mut in_pack) = (Vec::new(), 0usize);
    for sentence in sentences {
        in_pack += sentence.len();
        pack.push(sentence);
        if in_pack >= words {
            packs.push(std::mem::take(&mut pack));
            in_pack = 0;
        }
    }
    if !pack.is_empty() {
        packs.push(pack);
    }
    packs
}

/// The words around position `i` of a sentence of `len` kept words in a window of `b`: positions
/// `lo..=hi` (the center included).
fn window_bounds(i: usize, b: usize, len: usize) -> (usize, usize) {
    (i.saturating_sub(b), (i + b).min(len - 1))
}

/// Fills `negatives` with `sets` sets of `per_set` words drawn from the noise distribution.
fn draw_negatives(
    negatives: &mut Vec<usize>,
    sets: usize,
    per_set: usize,
    noise: &NoiseSampler,
    rng: &mut ChaCha8Rng,
) {
    negatives.clear();
    negatives.extend((0..sets * per_set).map(|_| noise.sample(rng)));
}
