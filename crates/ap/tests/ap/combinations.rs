//! Containers and loops in combination: an accumulator and a rotated `DMap` in `Serializable`
//! loops, loops with different plans sharing containers, tiny inputs.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use strads_ap::{run, ApError, Consistency};

use crate::{debug_mode, threads};

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Seen {
    worker: u32,
    held: (u64, u64),
    seq: u32,
    acc: u64,
}

/// In a `Serializable` loop an accumulator is merged at every sub-round: an iteration reads the
/// increments of every earlier sub-round (all workers) and its own worker's earlier ones in its
/// sub-round, exactly.
#[test]
fn serializable_accumulator_merges_every_sub_round() {
    const N: usize = 90;
    for workers in [1, 2, 3] {
        let results = run(&threads(workers), move |ap| {
            let mut data = ap.dvector(N, |i| (i, Seen::default()));
            let mut x = ap.dvector(30, |_| 0u64).with_name("x");
            let mut y = ap.dvector(9, |_| 0u64).with_name("y");
            let mut acc = ap.accumulator(1000u64).with_name("acc");
            let me = ap.index() as u32;
            let mut seq = 0;
            ap.parallel_for(&mut data, (&mut x, &mut y, &mut acc))
                .keys(|&(i, _): &(usize, Seen)| (i % 30, (i * 7) % 9, ()))
                .run(Consistency::Serializable, |(i, seen), (x, y, acc)| {
                    let held = y.held();
                    *seen = Seen {
                        worker: me,
                        held: (held.start as u64, held.end as u64),
                        seq,
                        acc: **acc,
                    };
                    seq += 1;
                    **acc += 1;
                    x[*i % 30] += 1;
                    y[(*i * 7) % 9] += 1;
                })?;
            let blocks: Vec<(u64, u64)> = (0..ap.workers())
                .map(|w| (y.range_of(w).start as u64, y.range_of(w).end as u64))
                .collect();
            Ok((ap.gather(&data)?, *acc.get(), blocks))
        })
        .unwrap();
        let (data, total, blocks) = &results[0];
        let data = data.as_ref().unwrap();
        assert_eq!(*total, 1000 + N as u64);
        assert!(results.iter().all(|r| r.1 == *total), "replicas agree");
        let sub_round = |s: &Seen| {
            let b = blocks.iter().position(|&b| b == s.held).unwrap();
            (b + workers - s.worker as usize) % workers
        };
        for (i, (_, s)) in data.iter().enumerate() {
            let r = sub_round(s);
            let earlier = data.iter().filter(|(_, o)| sub_round(o) < r).count();
            let own = data
                .iter()
                .filter(|(_, o)| sub_round(o) == r && o.worker == s.worker && o.seq < s.seq)
                .count();
            assert_eq!(
                s.acc,
                1000 + (earlier + own) as u64,
                "{workers} workers: iteration {i} ({s:?}, sub-round {r})"
            );
        }
    }
}

fn key_hash<K: Hash>(key: &K) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Op {
    id: u64,
    a: usize,
    key: u64,
    worker: u32,
    seq: u32,
}

fn map_update(op: &Op, xa: &mut i64, mk: &mut i64) {
    *xa = xa
        .wrapping_mul(3)
        .wrapping_add(*mk)
        .wrapping_add(op.id as i64);
    *mk = mk.wrapping_mul(5).wrapping_sub(*xa);
}

/// A `DMap` rotated (the pinned container is a larger vector): the result equals replaying the
/// execution's order (sub-round, worker, position), the sub-round of an iteration being fixed by
/// its map key's hash class.
#[test]
fn serializable_with_a_rotated_dmap_equals_a_sequential_order() {
    const N: usize = 200;
    const NX: usize = 80;
    for workers in [2, 3] {
        let mut rng = ChaCha8Rng::seed_from_u64(70 + workers as u64);
        let pairs: Arc<Vec<(usize, u64)>> = Arc::new(
            (0..N)
                .map(|_| (rng.gen_range(0..NX), rng.gen_range(0..10)))
                .collect(),
        );
        let program_pairs = pairs.clone();
        let results = run(&threads(workers), move |ap| {
            let mut data = ap.dvector(N, |i| Op {
                id: i as u64,
                a: program_pairs[i].0,
                key: program_pairs[i].1,
                worker: 0,
                seq: 0,
            });
            let mut x = ap.dvector(NX, |i| i as i64).with_name("x");
            let mut m = ap.dmap::<u64, i64>().with_name("m");
            for k in 0..10 {
                m.insert(k, 100 + k as i64);
            }
            let me = ap.index() as u32;
            let mut seq = 0;
            let report = ap
                .parallel_for(&mut data, (&mut x, &mut m))
                .keys(|op: &Op| (op.a, op.key))
                .run(Consistency::Serializable, |op, (x, m)| {
                    op.worker = me;
                    op.seq = seq;
                    seq += 1;
                    let mut xa = x[op.a];
                    let mut mk = *m.get(&op.key).expect("present");
                    map_update(op, &mut xa, &mut mk);
                    x[op.a] = xa;
                    m.insert(op.key, mk);
                })?;
            Ok((
                ap.gather(&data)?,
                ap.gather(&x)?,
                m.local().clone(),
                report.strategy,
            ))
        })
        .unwrap();
        let strategy = &results[0].3;
        assert_eq!(
            strategy.containers[1].synchronization,
            strads_ap::Synchronization::Rotation,
            "{strategy}"
        );
        let data = results[0].0.as_ref().unwrap();
        let mut order: Vec<(usize, u32, u32, usize)> = data
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let block = (key_hash(&op.key) % workers as u64) as usize;
                let r = (block + workers - op.worker as usize) % workers;
                (r, op.worker, op.seq, i)
            })
            .collect();
        order.sort_unstable();
        let mut x: Vec<i64> = (0..NX as i64).collect();
        let mut m: HashMap<u64, i64> = (0..10).map(|k| (k, 100 + k as i64)).collect();
        for &(_, _, _, i) in &order {
            let op = &data[i];
            let mut mk = m[&op.key];
            map_update(op, &mut x[op.a], &mut mk);
            m.insert(op.key, mk);
        }
        assert_eq!(results[0].1.as_ref().unwrap(), &x, "{workers} workers: x");
        let mut got = HashMap::new();
        for r in &results {
            got.extend(r.2.clone());
        }
        assert_eq!(got, m, "{workers} workers: m");
    }
}

/// Two `Serializable` loops with different plans (keys skewed to opposite ends of `x`, so
/// different cuts) alternate over the same data and containers, with a `Bsp` loop in between:
/// each execution re-cuts `x` and re-arranges the data, and nothing is lost or misplaced.
#[test]
fn loops_with_different_plans_share_containers() {
    const N: usize = 120;
    const NX: usize = 40;
    for workers in [1, 2, 3] {
        let results = run(&threads(workers), |ap| {
            let mut data = ap.range(N);
            let mut x = ap.dvector(NX, |_| 0u64).with_name("x");
            let mut y = ap.dvector(8, |_| 0u64).with_name("y");
            let mut z = ap.dvector(NX, |_| 0u64).with_name("z");
            let low = |i: usize| (i * i) % (NX * NX) / NX / 3; // skewed to low keys
            let high = |i: usize| NX - 1 - low(i);
            for _ in 0..3 {
                ap.parallel_for(&mut data, (&mut x, &mut y))
                    .keys(move |&i: &usize| (low(i), i % 8))
                    .name("low")
                    .run(Consistency::Serializable, move |&mut i, (x, y)| {
                        x[low(i)] += i as u64;
                        y[i % 8] += 1;
                    })?;
                ap.parallel_for(&mut data, (&mut z, &mut x)).batch(7).run(
                    Consistency::Bsp,
                    |&mut i, (z, x)| {
                        z[i % NX] += x[(i * 3) % NX];
                    },
                )?;
                ap.parallel_for(&mut data, (&mut x, &mut y))
                    .keys(move |&i: &usize| (high(i), (i + 1) % 8))
                    .name("high")
                    .run(Consistency::Serializable, move |&mut i, (x, y)| {
                        x[high(i)] += 2 * i as u64;
                        y[(i + 1) % 8] += 10;
                    })?;
            }
            Ok((ap.gather(&x)?, ap.gather(&y)?, ap.gather(&z)?))
        })
        .unwrap();
        // Reference (the Bsp loop reads x, which only the Serializable loops write).
        let low = |i: usize| (i * i) % (NX * NX) / NX / 3;
        let high = |i: usize| NX - 1 - low(i);
        let (mut x, mut y, mut z) = (vec![0u64; NX], vec![0u64; 8], vec![0u64; NX]);
        for _ in 0..3 {
            for i in 0..N {
                x[low(i)] += i as u64;
                y[i % 8] += 1;
            }
            let snapshot = x.clone();
            for i in 0..N {
                z[i % NX] += snapshot[(i * 3) % NX];
            }
            for i in 0..N {
                x[high(i)] += 2 * i as u64;
                y[(i + 1) % 8] += 10;
            }
        }
        let (gx, gy, gz) = &results[0];
        assert_eq!(gx.as_ref().unwrap(), &x, "{workers} workers: x");
        assert_eq!(gy.as_ref().unwrap(), &y, "{workers} workers: y");
        assert_eq!(gz.as_ref().unwrap(), &z, "{workers} workers: z");
    }
}

/// More workers than iterations and than elements of the rotated container.
#[test]
fn tiny_inputs_on_more_workers_than_elements() {
    let results = crate::within(60, || {
        run(&threads(3), |ap| {
            let mut data = ap.range(2);
            let mut x = ap.dvector(5, |i| i as i64).with_name("x");
            let mut y = ap.dvector(1, |_| 10i64).with_name("y");
            ap.parallel_for(&mut data, (&mut x, &mut y))
                .keys(|&i: &usize| (i * 2, 0usize))
                .run(Consistency::Serializable, |&mut i, (x, y)| {
                    x[i * 2] += y[0];
                    y[0] += 1;
                })?;
            let mut empty = ap.range(0);
            ap.parallel_for(&mut empty, (&mut x,))
                .run(Consistency::Bsp, |&mut i, (x,)| x[i] += 1)?;
            ap.parallel_for(&mut empty, (&mut x,))
                .keys(|&i: &usize| (i,))
                .run(Consistency::Serializable, |&mut i, (x,)| x[i] += 1)?;
            Ok((ap.gather(&x)?, ap.gather(&y)?))
        })
        .unwrap()
    });
    let (x, y) = &results[0];
    // Either sequential order of the two iterations (the plan decides which runs first).
    let x = x.as_ref().unwrap();
    assert!(
        x == &vec![10, 1, 13, 3, 4] || x == &vec![11, 1, 12, 3, 4],
        "x = {x:?} is not the result of either order"
    );
    assert_eq!(y.as_ref().unwrap(), &vec![12]);
}

/// Debug mode checks `DMap` accesses too: a word count that also peeks at another word.
#[test]
fn debug_mode_checks_dmap_keys() {
    let results = run(&debug_mode(), |ap| {
        let words = ["a", "b", "c", "a", "d"];
        let mut data = ap.dvector(words.len(), |i| words[i].to_owned());
        let mut counts = ap.dmap::<String, u64>().with_name("counts");
        Ok(ap
            .parallel_for(&mut data, (&mut counts,))
            .keys(|w: &String| (w.clone(),))
            .name("peek count")
            .run(Consistency::Serializable, |w, (counts,)| {
                if w == "d" {
                    let _ = counts.get(&"a".to_owned());
                }
                *counts.get_or_default(w.clone()) += 1;
            }))
    })
    .unwrap();
    match &results[0] {
        Err(ApError::Access {
            name,
            iteration,
            message,
        }) => {
            assert_eq!(name, "peek count");
            assert_eq!(*iteration, 4);
            assert!(
                message.contains("`counts`") && message.contains("\"a\""),
                "{message}"
            );
        }
        other => panic!("expected an access error, got {other:?}"),
    }
}
