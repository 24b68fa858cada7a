//! `strads word2vec`'s program (`crates/ap-apps/src/word2vec/program.rs`) written sequentially:
//! the same model, vocabulary, subsampling, windows, negatives and learning rate over a `Vec` of
//! sentences with `for` loops, for comparing the two (the AP program's loop over the sentences is
//! a `parallel_for`, its vectors `DVector`s, its vocabulary agreed by an `all_gather`). On one
//! worker the AP program computes exactly this.
//!
//! ```sh
//! strads gen text --sentences 100000 --out corpus.txt
//! cargo run --release -p strads-ap-apps --example word2vec_sequential -- corpus.txt vectors.txt
//! ```
//!
//! Arguments: the text, the vectors file to write, and `shared` for `--shared-negatives`; the
//! other settings are `strads word2vec`'s defaults. Prints one JSON line.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strads_ap_apps::word2vec::program::MAX_SENTENCE;
use strads_ap_apps::word2vec::{
    kernels, write_vectors, Architecture, NoiseSampler, TraceRecord, Vocabulary, Word2vecError,
    Word2vecParams, WordVectors,
};
use strads_io::DataError;

/// Trains on `params.data`; returns the input vectors and the trace.
pub fn fit(params: &Word2vecParams) -> Result<(WordVectors, Vec<TraceRecord>), Word2vecError> {
    let path = &params.data;
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for token in text.split_whitespace() {
        *counts.entry(token).or_default() += 1;
    }
    let vocab = Vocabulary::from_counts(counts, params.min_count);
    if vocab.is_empty() {
        return Err(Word2vecError::Data(DataError::Empty {
            path: path.clone(),
            what: format!("words occurring at least {} times", params.min_count),
        }));
    }
    // Lines are cut every MAX_SENTENCE tokens, then the words below the minimum count leave
    // their pieces (so the window spans over them).
    let mut sentences: Vec<Vec<u32>> = Vec::new();
    for line in text.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        for piece in tokens.chunks(MAX_SENTENCE) {
            sentences.push(piece.iter().filter_map(|w| vocab.id(w)).collect());
        }
    }

    let (v, dim, seed) = (vocab.len(), params.dim, params.seed);
    let mut input: Vec<Vec<f32>> = (0..v)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            (0..dim)
                .map(|_| (rng.gen::<f32>() - 0.5) / dim as f32)
                .collect()
        })
        .collect();
    let mut output = vec![vec![0.0f32; dim]; v];
    let keep = vocab.keep_probabilities(params.sample);
    let noise = NoiseSampler::new(vocab.counts(), 0.75);

    let planned = (vocab.total() * params.epochs as u64).max(1) as f64;
    let (alpha0, min_alpha) = (params.alpha, params.min_alpha);
    let mut words_before = 0u64;
    let mut trace = Vec::with_capacity(params.epochs);
    let mut alpha = alpha0;
    for epoch in 0..params.epochs {
        let epoch_started = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5157_4f52_4432_5645);
        rng.set_stream((epoch as u64) << 32);
        let (mut words, mut pairs, mut loss) = (0u64, 0u64, 0.0f64);
        let mut kept: Vec<usize> = Vec::new();
        let mut negatives = vec![0usize; params.negative];
        let mut change = vec![0.0f32; dim];
        let mut hidden = vec![0.0f32; dim];
        let mut context: Vec<usize> = Vec::new();
        let mut window = kernels::WindowScratch::default();
        for sentence in &sentences {
            let progress = (words_before + words) as f64 / planned;
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
            for i in 0..kept.len() {
                let center = kept[i];
                let b = rng.gen_range(1..=params.window);
                let (lo, hi) = (i.saturating_sub(b), (i + b).min(kept.len() - 1));
                match params.architecture {
                    Architecture::SkipGram if params.shared_negatives => {
                        context.clear();
                        context.extend((lo..=hi).filter(|&j| j != i).map(|j| kept[j]));
                        if context.is_empty() {
                            continue;
                        }
                        for n in negatives.iter_mut() {
                            *n = noise.sample(&mut rng);
                        }
                        loss += kernels::skipgram_window(
                            &mut input,
                            &mut output,
                            &context,
                            center,
                            &negatives,
                            rate,
                            &mut window,
                        );
                        pairs += context.len() as u64;
                    }
                    Architecture::SkipGram => {
                        for j in (lo..=hi).filter(|&j| j != i) {
                            for n in negatives.iter_mut() {
                                *n = noise.sample(&mut rng);
                            }
                            loss += kernels::skipgram_pair(
                                &mut input[kept[j]],
                                &mut output,
                                center,
                                &negatives,
                                rate,
                                &mut change,
                            );
                            pairs += 1;
                        }
                    }
                    Architecture::Cbow => {
                        context.clear();
                        context.extend((lo..=hi).filter(|&j| j != i).map(|j| kept[j]));
                        if context.is_empty() {
                            continue;
                        }
                        kernels::mean_into(
                            context.iter().map(|&c| input[c].as_slice()),
                            &mut hidden,
                        );
                        for n in negatives.iter_mut() {
                            *n = noise.sample(&mut rng);
                        }
                        loss += kernels::sgns_outputs(
                            &hidden,
                            &mut output,
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
        words_before += words;
        let seconds = epoch_started.elapsed().as_secs_f64();
        trace.push(TraceRecord {
            epoch: epoch + 1,
            words,
            pairs,
            seconds,
            words_per_second: words as f64 / seconds.max(1e-9),
            mean_loss: loss / pairs.max(1) as f64,
            alpha,
        });
    }
    let vectors = WordVectors {
        words: vocab.words().to_vec(),
        dim,
        values: input.into_iter().flatten().collect(),
    };
    Ok((vectors, trace))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(data), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: word2vec_sequential TEXT VECTORS [shared]");
        std::process::exit(2);
    };
    let params = Word2vecParams {
        shared_negatives: args.get(2).is_some_and(|a| a == "shared"),
        ..Word2vecParams::new(Path::new(data))
    };
    let started = Instant::now();
    let (vectors, trace) = fit(&params).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2);
    });
    write_vectors(Path::new(out), &vectors, false).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2);
    });
    let words: u64 = trace.iter().map(|t| t.words).sum();
    let train: f64 = trace.iter().map(|t| t.seconds).sum();
    println!(
        "{{\"vocabulary\":{},\"words_per_second\":{:.0},\"final_loss\":{},\"seconds\":{:.3}}}",
        vectors.words.len(),
        words as f64 / train.max(1e-9),
        trace.last().map_or(f64::NAN, |t| t.mean_loss),
        started.elapsed().as_secs_f64()
    );
}
