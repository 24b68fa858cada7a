//! `Serializable` loops: the result equals replaying the iterations sequentially in the order the
//! execution itself reports, and impossible schedules are refused.

use std::ops::IndexMut;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use strads_ap::{run, ApError, Consistency, IterationPlacement, Synchronization, VecView};

use crate::threads;

const NX: usize = 60;
const NY: usize = 12;
const PASSES: usize = 2;

/// Where and when an iteration ran: its worker, the block of the rotated container `y` it ran
/// with (as a range of keys), and its position among the worker's iterations in that execution.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Stamp {
    worker: u32,
    held: (u64, u64),
    seq: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Op {
    id: u64,
    a: usize,
    b: usize,
    /// One stamp per execution of the loop, in execution order.
    stamps: Vec<Stamp>,
}

/// An order-sensitive update of `x[a]` and `y[b]` (neither commutes with another iteration's
/// update of the same keys).
fn update<X, Y>(id: u64, a: usize, b: usize, x: &mut X, y: &mut Y)
where
    X: IndexMut<usize, Output = i64> + ?Sized,
    Y: IndexMut<usize, Output = i64> + ?Sized,
{
    let i = id as i64;
    let xa = x[a].wrapping_mul(3).wrapping_add(y[b]).wrapping_add(i);
    x[a] = xa;
    y[b] = y[b].wrapping_mul(5).wrapping_sub(xa).wrapping_add(7 * i);
}

fn x0(i: usize) -> i64 {
    i as i64 + 1
}

fn y0(i: usize) -> i64 {
    100 - 3 * i as i64
}

fn ops(n: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (rng.gen_range(0..NX), rng.gen_range(0..NY)))
        .collect()
}

struct Outcome {
    data: Vec<Op>,
    x: Vec<i64>,
    y: Vec<i64>,
    /// `y`'s blocks after the loop (the rotation blocks of the plan).
    blocks: Vec<(u64, u64)>,
    pinned: IterationPlacement,
    y_sync: Synchronization,
}

fn execute(workers: usize, pairs: Arc<Vec<(usize, usize)>>) -> Outcome {
    let results = run(&threads(workers), move |ap| {
        let n = pairs.len();
        let mut data = ap
            .dvector(n, |i| Op {
                id: i as u64,
                a: pairs[i].0,
                b: pairs[i].1,
                stamps: Vec::new(),
            })
            .with_name("ops");
        let mut x = ap.dvector(NX, x0).with_name("x");
        let mut y = ap.dvector(NY, y0).with_name("y");
        let me = ap.index() as u32;
        let mut strategy = None;
        for _ in 0..PASSES {
            let mut seq = 0u32;
            let report = ap
                .parallel_for(&mut data, (&mut x, &mut y))
                .keys(|op: &Op| (op.a, op.b))
                .name("order")
                .run(Consistency::Serializable, |op, (x, y)| {
                    let held = y.held();
                    op.stamps.push(Stamp {
                        worker: me,
                        held: (held.start as u64, held.end as u64),
                        seq,
                    });
                    seq += 1;
                    update(op.id, op.a, op.b, x, y);
                })?;
            assert_eq!(report.steps, ap.workers());
            strategy = Some(report.strategy);
        }
        let blocks = (0..ap.workers())
            .map(|w| {
                let r = y.range_of(w);
                (r.start as u64, r.end as u64)
            })
            .collect();
        let strategy = strategy.expect("the loop ran");
        Ok((
            ap.gather(&data)?,
            ap.gather(&x)?,
            ap.gather(&y)?,
            blocks,
            strategy.iterations,
            strategy.containers[1].synchronization.clone(),
        ))
    })
    .expect("the program runs");
    let (data, x, y, blocks, pinned, y_sync) = results.into_iter().next().unwrap();
    Outcome {
        data: data.unwrap(),
        x: x.unwrap(),
        y: y.unwrap(),
        blocks,
        pinned,
        y_sync,
    }
}

/// Replays the iterations in the given order (per pass), from the initial state.
fn replay(pairs: &[(usize, usize)], orders: &[Vec<usize>]) -> (Vec<i64>, Vec<i64>) {
    let mut x: Vec<i64> = (0..NX).map(x0).collect();
    let mut y: Vec<i64> = (0..NY).map(y0).collect();
    for order in orders {
        for &i in order {
            update(i as u64, pairs[i].0, pairs[i].1, &mut x, &mut y);
        }
    }
    (x, y)
}

fn check_serializable(workers: usize, seed: u64) {
    let pairs = Arc::new(ops(300, seed));
    let out = execute(workers, pairs.clone());
    assert_eq!(
        out.pinned,
        IterationPlacement::WithKey {
            container: "x".into()
        },
        "the larger container is pinned"
    );
    if workers > 1 {
        assert_eq!(out.y_sync, Synchronization::Rotation);
    }
    assert_eq!(out.data.len(), pairs.len());
    // The order the execution reports: sub-round by sub-round, worker by worker, each worker's
    // iterations in the order it ran them.
    let mut orders = Vec::new();
    for pass in 0..PASSES {
        let mut keyed: Vec<(usize, u32, u32, usize)> = Vec::with_capacity(pairs.len());
        for (i, op) in out.data.iter().enumerate() {
            assert_eq!(op.id as usize, i, "gather restores the data order");
            assert_eq!(op.stamps.len(), PASSES, "iteration {i} ran once per pass");
            let s = op.stamps[pass];
            let block = out
                .blocks
                .iter()
                .position(|&b| b == s.held)
                .unwrap_or_else(|| panic!("iteration {i} ran with {s:?}, not a block of y"));
            let (lo, hi) = s.held;
            assert!(
                (lo..hi).contains(&(op.b as u64)),
                "iteration {i} ran while its key {} of y was not held ({s:?})",
                op.b
            );
            let sub_round = (block + workers - s.worker as usize) % workers;
            keyed.push((sub_round, s.worker, s.seq, i));
        }
        keyed.sort_unstable();
        // Inside a sub-round a worker runs its block's iterations in global index order (the
        // data started in index order; the arrangement keeps each sender's order, senders in
        // worker order).
        for pair in keyed.windows(2) {
            if (pair[0].0, pair[0].1) == (pair[1].0, pair[1].1) {
                assert!(pair[0].3 < pair[1].3, "out of index order: {pair:?}");
            }
        }
        // Each worker's positions are 0, 1, 2, ... in the order above: nothing ran twice or was
        // lost, and the sub-rounds ran in order on every worker.
        for w in 0..workers as u32 {
            let seqs: Vec<u32> = keyed.iter().filter(|k| k.1 == w).map(|k| k.2).collect();
            assert_eq!(seqs, (0..seqs.len() as u32).collect::<Vec<_>>());
        }
        if workers > 1 {
            let blocks_used: std::collections::HashSet<(u64, u64)> =
                out.data.iter().map(|op| op.stamps[pass].held).collect();
            assert_eq!(blocks_used.len(), workers, "every block of y was used");
        }
        orders.push(keyed.into_iter().map(|k| k.3).collect::<Vec<_>>());
    }
    let (x, y) = replay(&pairs, &orders);
    assert_eq!(
        out.x, x,
        "x differs from the sequential replay ({workers} workers)"
    );
    assert_eq!(
        out.y, y,
        "y differs from the sequential replay ({workers} workers)"
    );
    if workers > 1 {
        // The check has teeth: the index order gives a different result.
        let index_order: Vec<usize> = (0..pairs.len()).collect();
        assert_ne!(orders[0], index_order);
        let (xi, yi) = replay(&pairs, &vec![index_order; PASSES]);
        assert!(
            xi != out.x || yi != out.y,
            "the updates are order-sensitive"
        );
    }
}

#[test]
fn serializable_equals_a_sequential_order_on_1_thread() {
    check_serializable(1, 11);
}

#[test]
fn serializable_equals_a_sequential_order_on_2_threads() {
    check_serializable(2, 12);
}

#[test]
fn serializable_equals_a_sequential_order_on_3_threads() {
    check_serializable(3, 13);
}

#[test]
fn rotated_keys_in_two_blocks_are_a_schedule_error() {
    let results = crate::within(60, || {
        run(&threads(2), |ap| {
            // Iteration 17 touches keys 0 and NY - 1 of the rotated `y`: one in each block.
            let mut data = ap.dvector(40, |i| {
                if i == 17 {
                    (i % NX, 0, NY - 1)
                } else {
                    (i % NX, i % NY, i % NY)
                }
            });
            let mut x = ap.dvector(NX, x0).with_name("x");
            let mut y = ap.dvector(NY, y0).with_name("y");
            let outcome = ap
                .parallel_for(&mut data, (&mut x, &mut y))
                .keys(|&(a, b, c): &(usize, usize, usize)| (a, [b, c]))
                .name("split")
                .run(Consistency::Serializable, |&mut (a, b, c), (x, y)| {
                    x[a] += y[b] + y[c];
                });
            Ok(outcome)
        })
        .expect("the program itself runs")
    });
    assert_eq!(results.len(), 2);
    for (w, outcome) in results.into_iter().enumerate() {
        match outcome {
            Err(ApError::Schedule { name, message }) => {
                assert_eq!(name, "split");
                assert!(message.contains("`y`"), "worker {w}: {message}");
                assert!(message.contains("iteration 17"), "worker {w}: {message}");
            }
            other => panic!("worker {w}: expected a schedule error, got {other:?}"),
        }
    }
}

#[test]
fn pinned_keys_on_two_workers_and_keys_out_of_range_are_schedule_errors() {
    // (x keys, y key): iteration 5 names keys 0 and NX - 1 of the pinned `x`, which two
    // workers hold; in the second loop iteration 9 names key NY of `y`, past its end.
    let results = crate::within(60, || {
        run(&threads(2), |ap| {
            let mut data = ap.range(30);
            let mut x = ap.dvector(NX, x0).with_name("x");
            let mut y = ap.dvector(NY, y0).with_name("y");
            let two_owners = ap
                .parallel_for(&mut data, (&mut x, &mut y))
                .keys(|&i: &usize| {
                    let a = if i == 5 { vec![0, NX - 1] } else { vec![i] };
                    (a, i % NY)
                })
                .name("two owners")
                .run(Consistency::Serializable, |_, _| {});
            let out_of_range = ap
                .parallel_for(&mut data, (&mut x, &mut y))
                .keys(|&i: &usize| (i, if i == 9 { NY } else { i % NY }))
                .name("past the end")
                .run(Consistency::Serializable, |_, _| {});
            Ok((two_owners, out_of_range))
        })
        .expect("the program itself runs")
    });
    for (w, (two_owners, out_of_range)) in results.into_iter().enumerate() {
        match two_owners {
            Err(ApError::Schedule { name, message }) => {
                assert_eq!(name, "two owners");
                assert!(
                    message.contains("iteration 5") && message.contains("`x`"),
                    "worker {w}: {message}"
                );
            }
            other => panic!("worker {w}: expected a schedule error, got {other:?}"),
        }
        match out_of_range {
            Err(ApError::Schedule { name, message }) => {
                assert_eq!(name, "past the end");
                assert!(
                    message.contains("iteration 9") && message.contains("`y`"),
                    "worker {w}: {message}"
                );
            }
            other => panic!("worker {w}: expected a schedule error, got {other:?}"),
        }
    }
}

/// The final `x` and `y` after `PASSES` executions of the order-sensitive loop, its keys named by
/// a key function or found by inspecting the body's accesses.
fn final_state(workers: usize, pairs: Arc<Vec<(usize, usize)>>, inspect: bool) -> Outcome3 {
    let results = run(&threads(workers), move |ap| {
        let n = pairs.len();
        let mut data = ap.dvector(n, |i| (pairs[i].0, pairs[i].1, i as u64));
        let mut x = ap.dvector(NX, x0).with_name("x");
        let mut y = ap.dvector(NY, y0).with_name("y");
        let mut strategy = None;
        for _ in 0..PASSES {
            let body = |op: &mut (usize, usize, u64), (x, y): &mut (VecView<i64>, VecView<i64>)| {
                update(op.2, op.0, op.1, x, y)
            };
            let pf = ap.parallel_for(&mut data, (&mut x, &mut y)).name("keys");
            let report = if inspect {
                pf.run(Consistency::Serializable, body)?
            } else {
                pf.keys(|op| (op.0, op.1))
                    .run(Consistency::Serializable, body)?
            };
            strategy = Some(report.strategy);
        }
        Ok((ap.gather(&x)?, ap.gather(&y)?, strategy.unwrap()))
    })
    .expect("the program runs");
    let (x, y, strategy) = results.into_iter().next().unwrap();
    (x.unwrap(), y.unwrap(), strategy)
}

type Outcome3 = (Vec<i64>, Vec<i64>, strads_ap::Strategy);

#[test]
fn inspection_finds_the_keys_a_key_function_names() {
    for workers in [1, 2, 3] {
        let pairs = Arc::new(ops(300, 11 + workers as u64));
        let named = final_state(workers, pairs.clone(), false);
        let inspected = final_state(workers, pairs.clone(), true);
        // The same plan (hence the same order): the same state to the last bit.
        assert_eq!(named.2, inspected.2, "{workers} workers: strategies differ");
        assert_eq!(named.0, inspected.0, "{workers} workers: x differs");
        assert_eq!(named.1, inspected.1, "{workers} workers: y differs");
        // The inspection's dry run left no trace: one more pass than requested would differ.
        let (x1, y1) = replay(&pairs, &[(0..pairs.len()).collect()]);
        assert!(x1 != inspected.0 || y1 != inspected.1);
    }
}
