//! `DMap` in `Serializable` and `Bsp` loops, against sequential `HashMap` references.

use std::collections::HashMap;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use strads_ap::{run, Consistency, IterationPlacement, MapView};

use crate::{home, threads};

fn words(n: usize, seed: u64) -> Vec<String> {
    let vocabulary = [
        "the", "of", "model", "worker", "rotation", "block", "delta", "strads", "loop", "key",
        "sgd", "lda", "topic", "word", "count", "map", "vector", "merge", "step", "stale",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // Skewed: low indices are much more frequent.
            let r: f64 = rng.gen();
            vocabulary[(r * r * vocabulary.len() as f64) as usize].to_owned()
        })
        .collect()
}

fn check_word_count(workers: usize) {
    const PASSES: u64 = 2;
    let text = Arc::new(words(500, 40 + workers as u64));
    let program_text = text.clone();
    let results = run(&threads(workers), move |ap| {
        let mut tokens = ap.dvector(program_text.len(), |i| program_text[i].clone());
        let mut counts = ap.dmap::<String, u64>().with_name("counts");
        let mut placement = None;
        for _ in 0..PASSES {
            let report = ap
                .parallel_for(&mut tokens, (&mut counts,))
                .keys(|word: &String| (word.clone(),))
                .name("word count")
                .run(Consistency::Serializable, |word, (counts,)| {
                    *counts.get_or_default(word.clone()) += 1;
                })?;
            placement = Some(report.strategy.iterations);
        }
        Ok((counts.local().clone(), placement.unwrap()))
    })
    .expect("the program runs");

    let mut want: HashMap<String, u64> = HashMap::new();
    for word in text.iter() {
        *want.entry(word.clone()).or_default() += PASSES;
    }
    let mut got: HashMap<String, u64> = HashMap::new();
    for (w, (local, placement)) in results.into_iter().enumerate() {
        assert_eq!(
            placement,
            IterationPlacement::WithKey {
                container: "counts".into()
            }
        );
        for (word, count) in local {
            assert!(
                got.insert(word.clone(), count).is_none(),
                "worker {w}: `{word}` is held by two workers"
            );
        }
    }
    assert_eq!(got, want, "{workers} workers");
}

#[test]
fn serializable_word_count_equals_a_hashmap_count() {
    for workers in [1, 2, 3] {
        check_word_count(workers);
    }
}

/// What the BSP body needs of a map, for the runtime's view and the reference's `HashMap`.
trait Counts {
    fn read(&self, key: u64) -> i64;
    fn add(&mut self, key: u64, value: i64);
}

impl Counts for MapView<u64, i64> {
    fn read(&self, key: u64) -> i64 {
        self.get(&key).copied().unwrap_or(0)
    }
    fn add(&mut self, key: u64, value: i64) {
        *self.get_or_default(key) += value;
    }
}

impl Counts for HashMap<u64, i64> {
    fn read(&self, key: u64) -> i64 {
        self.get(&key).copied().unwrap_or(0)
    }
    fn add(&mut self, key: u64, value: i64) {
        *self.entry(key).or_default() += value;
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Event {
    key: u64,
    other: u64,
    value: i64,
}

/// Reads another key (stale under BSP, or this worker's own write) and adds to one.
fn event_body(e: &Event, m: &mut impl Counts) {
    let other = m.read(e.other);
    m.add(e.key, e.value + other.rem_euclid(5));
}

#[test]
fn bsp_over_a_dmap_equals_sequential_mini_batches() {
    const N: usize = 120;
    const BATCH: usize = 6;
    const INITIAL: u64 = 10;
    for workers in [2, 3] {
        let mut rng = ChaCha8Rng::seed_from_u64(50 + workers as u64);
        let events: Arc<Vec<Event>> = Arc::new(
            (0..N)
                .map(|_| Event {
                    key: rng.gen_range(0..24),
                    other: rng.gen_range(0..24),
                    value: rng.gen_range(1..9),
                })
                .collect(),
        );
        let program_events = events.clone();
        let results = run(&threads(workers), move |ap| {
            let mut data = ap.dvector(N, |i| program_events[i]);
            let mut m = ap.dmap::<u64, i64>().with_name("m");
            for k in 0..INITIAL {
                m.insert(k, 10 * k as i64);
            }
            ap.parallel_for(&mut data, (&mut m,))
                .batch(BATCH)
                .run(Consistency::Bsp, |e, (m,)| event_body(e, m))?;
            Ok(m.local().clone())
        })
        .expect("the program runs");

        // Reference: per step, each worker's batch on a copy of the snapshot; the changes added
        // to the snapshot in worker order.
        let mut state: HashMap<u64, i64> = (0..INITIAL).map(|k| (k, 10 * k as i64)).collect();
        let largest = (0..workers)
            .map(|w| home(N, w, workers).len())
            .max()
            .unwrap();
        for t in 0..largest.div_ceil(BATCH) {
            let snapshot = state.clone();
            for w in 0..workers {
                let range = home(N, w, workers);
                let mut copy = snapshot.clone();
                for n in (range.start + t * BATCH).min(range.end)
                    ..(range.start + (t + 1) * BATCH).min(range.end)
                {
                    event_body(&events[n], &mut copy);
                }
                for (&k, &v) in &copy {
                    let before = snapshot.get(&k).copied();
                    if Some(v) != before {
                        *state.entry(k).or_default() += v - before.unwrap_or(0);
                    }
                }
            }
        }
        let mut got: HashMap<u64, i64> = HashMap::new();
        for local in results {
            for (k, v) in local {
                assert!(got.insert(k, v).is_none(), "key {k} is held by two workers");
            }
        }
        assert_eq!(got, state, "{workers} workers");
    }
}
