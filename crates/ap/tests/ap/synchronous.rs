//! `Bsp`, `Ssp(s)` and `Async` loops against plain sequential mini-batch references.

use std::ops::IndexMut;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use strads_ap::{run, Consistency};

use crate::{home, threads};

const LEN: usize = 16;
const N: usize = 50;
const BATCH: usize = 4;
const PASSES: usize = 2;

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Update {
    i: usize,
    j: usize,
    v: i64,
    x: f64,
}

fn updates(seed: u64) -> Vec<Update> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..N)
        .map(|_| Update {
            i: rng.gen_range(0..LEN),
            j: rng.gen_range(0..LEN),
            v: rng.gen_range(-20..20),
            x: rng.gen_range(-1.0..1.0),
        })
        .collect()
}

/// Reads other keys and its own writes, writes two keys, reads and writes the accumulator.
fn int_body<W: IndexMut<usize, Output = i64> + ?Sized>(u: &Update, w: &mut W, acc: &mut i64) {
    let r = w[u.j];
    w[u.i] = w[u.i].wrapping_mul(3).wrapping_add(r).wrapping_add(u.v);
    w[u.j] = w[u.j].wrapping_sub(*acc % 11);
    *acc = acc.wrapping_add(w[u.i] % 101);
}

fn float_body<W: IndexMut<usize, Output = f64> + ?Sized>(u: &Update, w: &mut W) {
    let r = w[u.j];
    w[u.i] = w[u.i] * 0.9 + 0.3 * r + u.x;
    w[u.j] -= 0.05 * w[u.i];
}

/// Mini-batch steps of a pass over `n` elements on `workers` workers with batch `batch`.
fn steps(n: usize, workers: usize, batch: usize) -> usize {
    let largest = (0..workers)
        .map(|w| home(n, w, workers).len())
        .max()
        .unwrap();
    largest.div_ceil(batch).max(1)
}

/// The global indices of worker `w`'s batch `t` (0-based).
fn batch_of(n: usize, w: usize, workers: usize, batch: usize, t: usize) -> std::ops::Range<usize> {
    let range = home(n, w, workers);
    let start = (range.start + t * batch).min(range.end);
    let end = (range.start + (t + 1) * batch).min(range.end);
    start..end
}

/// The sequential mini-batch reference: every worker runs its batch on a copy of the step's
/// snapshot, and the changes (copy - snapshot) are added to the snapshot in worker order. One
/// worker is the plain sequential program: its batch runs on the state itself.
fn bsp_reference<S: Clone>(
    state: &mut S,
    workers: usize,
    passes: usize,
    mut run_batch: impl FnMut(&mut S, std::ops::Range<usize>),
    mut add_change: impl FnMut(&mut S, &S, &S),
) {
    let steps = steps(N, workers, BATCH);
    for _ in 0..passes {
        for t in 0..steps {
            if workers == 1 {
                run_batch(state, batch_of(N, 0, 1, BATCH, t));
                continue;
            }
            let snapshot = state.clone();
            let mut next = snapshot.clone();
            for w in 0..workers {
                let mut copy = snapshot.clone();
                run_batch(&mut copy, batch_of(N, w, workers, BATCH, t));
                add_change(&mut next, &copy, &snapshot);
            }
            *state = next;
        }
    }
}

fn check_bsp_integers(workers: usize) {
    let data = Arc::new(updates(21 + workers as u64));
    let program_data = data.clone();
    let results = run(&threads(workers), move |ap| {
        let mut items = ap.dvector(N, |i| program_data[i]);
        let mut w = ap.dvector(LEN, |k| k as i64 * 7 - 30).with_name("w");
        let mut acc = ap.accumulator(5i64).with_name("acc");
        for _ in 0..PASSES {
            let report = ap
                .parallel_for(&mut items, (&mut w, &mut acc))
                .batch(BATCH)
                .run(Consistency::Bsp, |u, (w, acc)| int_body(u, w, acc))?;
            assert_eq!(report.steps, steps(N, ap.workers(), BATCH));
            assert_eq!(report.max_staleness, 0);
            assert_eq!(report.strategy.mini_batch, Some(BATCH));
        }
        Ok((ap.gather(&w)?, *acc.get()))
    })
    .expect("the program runs");

    let mut state: (Vec<i64>, i64) = ((0..LEN).map(|k| k as i64 * 7 - 30).collect(), 5);
    bsp_reference(
        &mut state,
        workers,
        PASSES,
        |(w, acc), batch| batch.for_each(|n| int_body(&data[n], w, acc)),
        |(next, next_acc), (copy, copy_acc), (snap, snap_acc)| {
            for k in 0..LEN {
                next[k] = next[k].wrapping_add(copy[k].wrapping_sub(snap[k]));
            }
            *next_acc = next_acc.wrapping_add(copy_acc.wrapping_sub(*snap_acc));
        },
    );
    let (w, acc) = &results[0];
    assert_eq!(w.as_ref().unwrap(), &state.0, "w ({workers} workers)");
    assert_eq!(*acc, state.1, "accumulator ({workers} workers)");
    for (p, (_, other_acc)) in results.iter().enumerate() {
        assert_eq!(*other_acc, state.1, "worker {p}'s accumulator replica");
    }
}

fn check_bsp_floats(workers: usize) {
    let data = Arc::new(updates(31 + workers as u64));
    let program_data = data.clone();
    let results = run(&threads(workers), move |ap| {
        let mut items = ap.dvector(N, |i| program_data[i]);
        let mut w = ap.dvector(LEN, |k| 1.0 / (k as f64 + 1.0)).with_name("w");
        for _ in 0..PASSES {
            ap.parallel_for(&mut items, (&mut w,))
                .batch(BATCH)
                .run(Consistency::Bsp, |u, (w,)| float_body(u, w))?;
        }
        ap.gather(&w)
    })
    .expect("the program runs");

    let mut state: Vec<f64> = (0..LEN).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    bsp_reference(
        &mut state,
        workers,
        PASSES,
        |w, batch| batch.for_each(|n| float_body(&data[n], w)),
        |next, copy, snap| {
            for k in 0..LEN {
                if copy[k].to_bits() != snap[k].to_bits() {
                    next[k] += copy[k] - snap[k];
                }
            }
        },
    );
    let got: Vec<u64> = results[0]
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let want: Vec<u64> = state.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want, "w ({workers} workers), bit for bit");
}

#[test]
fn bsp_integers_and_accumulator_equal_sequential_mini_batches() {
    for workers in [1, 2, 3] {
        check_bsp_integers(workers);
    }
}

#[test]
fn bsp_floats_equal_sequential_mini_batches_bit_for_bit() {
    for workers in [1, 2, 3] {
        check_bsp_floats(workers);
    }
}

/// One iteration of the staleness probes: what the counter read.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Probe {
    seen: u64,
}

const PROBES: usize = 95;
const PROBE_WORKERS: usize = 3;

/// Runs a loop in which every iteration reads the counter and adds 1 to it (and to a count per
/// residue and an accumulator); checks the reads against the staleness bound `bound` and the
/// totals. Returns the loop's `max_staleness`.
fn check_probes(consistency: Consistency, bound: usize) -> usize {
    let workers = PROBE_WORKERS;
    let results = crate::within(60, move || {
        run(&threads(workers), move |ap| {
            let mut probes = ap.dvector(PROBES, |_| Probe::default());
            let mut counter = ap.dvector(1, |_| 0u64).with_name("counter");
            let mut residues = ap.dvector(7, |_| 0u64).with_name("residues");
            let mut total = ap.accumulator(0u64).with_name("total");
            let mut position = 0usize;
            let me = ap.index();
            let report = ap
                .parallel_for(&mut probes, (&mut counter, &mut residues, &mut total))
                .batch(BATCH)
                .run(consistency, |probe, (counter, residues, total)| {
                    probe.seen = counter[0];
                    counter[0] += 1;
                    residues[(home(PROBES, me, workers).start + position) % 7] += 1;
                    **total += 1;
                    position += 1;
                })?;
            Ok((
                report,
                ap.gather(&probes)?,
                ap.gather(&counter)?,
                ap.gather(&residues)?,
                *total.get(),
            ))
        })
        .expect("the program runs")
    });
    let (report, probes, counter, residues, _) = &results[0];
    let probes = probes.as_ref().unwrap();
    assert_eq!(
        counter.as_ref().unwrap(),
        &vec![PROBES as u64],
        "{consistency:?}"
    );
    let mut want = vec![0u64; 7];
    (0..PROBES).for_each(|g| want[g % 7] += 1);
    assert_eq!(residues.as_ref().unwrap(), &want, "{consistency:?}");
    for (p, r) in results.iter().enumerate() {
        assert_eq!(
            r.4, PROBES as u64,
            "{consistency:?}: worker {p}'s accumulator"
        );
    }
    assert!(
        report.max_staleness <= bound,
        "{consistency:?}: max_staleness {} > {bound}",
        report.max_staleness
    );
    assert_eq!(report.steps, steps(PROBES, workers, BATCH));
    for w in 0..workers {
        let range = home(PROBES, w, workers);
        for g in range.clone() {
            let position = g - range.start;
            let t = position / BATCH + 1;
            // Everything this worker did before, and every other worker's steps 1..=t-1-bound.
            let merged_steps = (t - 1).saturating_sub(bound);
            let others: usize = (0..workers)
                .filter(|&o| o != w)
                .map(|o| home(PROBES, o, workers).len().min(merged_steps * BATCH))
                .sum();
            let seen = probes[g].seen as usize;
            assert!(
                seen >= position + others,
                "{consistency:?}: worker {w} step {t} read {seen} < {position} own + {others} \
                 merged increments"
            );
            assert!(
                seen < PROBES,
                "{consistency:?}: read {seen} of {PROBES} increments"
            );
        }
    }
    report.max_staleness
}

#[test]
fn ssp_reads_are_at_most_s_steps_stale() {
    for s in [0, 1, 3] {
        check_probes(Consistency::Ssp(s), s as usize);
    }
}

#[test]
fn async_totals_are_exact_and_delay_bounded() {
    for max_delay in [0, 1, 2] {
        check_probes(Consistency::Async { max_delay }, max_delay as usize);
    }
}

/// Workers' bodies fail in different steps: every worker must return the same error (under
/// `Bsp`/`Ssp` the first in step, then worker order), whatever the consistency.
#[test]
fn a_body_failure_gives_every_worker_the_same_error() {
    for consistency in [
        Consistency::Bsp,
        Consistency::Ssp(2),
        Consistency::Async { max_delay: 1 },
    ] {
        let results = crate::within(60, move || {
            run(&threads(3), move |ap| {
                let mut data = ap.range(30);
                let mut w = ap.dvector(4, |_| 0i64);
                let me = ap.index();
                let outcome = ap
                    .parallel_for(&mut data, (&mut w,))
                    .name("fails")
                    .batch(2)
                    .run(consistency, |&mut i, (w,)| {
                        // Worker 0 fails in its third step, the others in their second.
                        let fail_at = if me == 0 { 4 } else { 2 };
                        if i - home(30, me, 3).start == fail_at {
                            panic!("worker {me} gives up");
                        }
                        w[i % 4] += 1;
                    });
                Ok(outcome.map(|_| ()).map_err(|e| e.to_string()))
            })
            .expect("the program itself runs")
        });
        let first = &results[0];
        assert!(first.is_err(), "{consistency:?}: {first:?}");
        if !matches!(consistency, Consistency::Async { .. }) {
            // Deterministic: worker 1's failure is the first in (step, worker) order.
            assert!(
                matches!(first, Err(text) if text.contains("worker 1 gives up")),
                "{consistency:?}: {first:?}"
            );
        }
        for (w, outcome) in results.iter().enumerate() {
            assert_eq!(outcome, first, "{consistency:?}: worker {w}");
        }
    }
}
