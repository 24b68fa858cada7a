//! Accesses outside an iteration's keys: debug mode names the loop, the iteration and the
//! container; without debug mode an access outside the held block is an error, not a hang or a
//! wrong answer.

use strads_ap::{run, ApError, Consistency, LoopReport};

use crate::{debug_mode, threads, within};

/// A loop whose key function names key `i` but whose iteration 7 also reads key `i + 1`.
fn peek_program(config: strads_ap::ApConfig) -> Vec<Result<LoopReport, ApError>> {
    within(60, move || {
        run(&config, |ap| {
            let mut data = ap.range(10);
            let mut x = ap.dvector(11, |i| i as i64).with_name("x");
            Ok(ap
                .parallel_for(&mut data, (&mut x,))
                .keys(|&i: &usize| (i,))
                .name("peek")
                .run(Consistency::Serializable, |&mut i, (x,)| {
                    let next = if i == 7 { x[i + 1] } else { 0 };
                    x[i] += next + 1;
                }))
        })
        .expect("the program itself runs")
    })
}

#[test]
fn debug_mode_catches_a_key_outside_the_recorded_ones() {
    let results = peek_program(debug_mode());
    assert_eq!(results.len(), 1, "debug mode runs one worker");
    match &results[0] {
        Err(ApError::Access {
            name,
            iteration,
            message,
        }) => {
            assert_eq!(name, "peek");
            assert_eq!(*iteration, 7);
            assert!(message.contains("`x`"), "{message}");
            assert!(message.contains("key 8"), "{message}");
        }
        other => panic!("expected an access error, got {other:?}"),
    }
    // Without debug mode one thread holds every key, so nothing stops the loop: the check is
    // debug mode's doing.
    assert!(peek_program(threads(1))[0].is_ok());
}

#[test]
fn debug_mode_checks_the_keys_an_inspection_recorded() {
    let results = within(60, || {
        run(&debug_mode(), |ap| {
            let mut data = ap.range(6);
            let mut x = ap.dvector(7, |_| 0i64).with_name("x");
            let mut outcomes = Vec::new();
            let mut after_first = None;
            for _ in 0..2 {
                // No key function: the first execution's inspection records x[3] for
                // iteration 3; the second execution touches x[4] instead.
                outcomes.push(ap.parallel_for(&mut data, (&mut x,)).name("drift").run(
                    Consistency::Serializable,
                    |&mut i, (x,)| {
                        let k = if i == 3 && x[i] != 0 { i + 1 } else { i };
                        x[k] += 1;
                    },
                ));
                if after_first.is_none() {
                    after_first = ap.gather(&x)?;
                }
            }
            Ok((outcomes, after_first))
        })
        .expect("the program itself runs")
    });
    let (outcomes, after_first) = &results[0];
    assert!(outcomes[0].is_ok(), "first execution: {:?}", outcomes[0]);
    // The inspection's dry run left nothing behind: each iteration counted once.
    assert_eq!(after_first.as_deref(), Some(&[1, 1, 1, 1, 1, 1, 0][..]));
    assert!(
        matches!(&outcomes[1], Err(ApError::Access { name, iteration: 3, message })
            if name == "drift" && message.contains("key 4")),
        "second execution: {:?}",
        outcomes[1]
    );
}

#[test]
fn debug_mode_catches_a_key_that_depends_on_a_parameter_value() {
    let results = within(60, || {
        run(&debug_mode(), |ap| {
            let mut data = ap.range(6);
            let mut x = ap.dvector(7, |_| 0i64).with_name("x");
            let mut outcomes = Vec::new();
            for _ in 0..2 {
                // Iteration 3 touches x[3] while x[3] is 0, and x[4] once it is not.
                outcomes.push(
                    ap.parallel_for(&mut data, (&mut x,))
                        .keys(|&i: &usize| (i,))
                        .name("drift")
                        .run(Consistency::Serializable, |&mut i, (x,)| {
                            let k = if i == 3 && x[i] != 0 { i + 1 } else { i };
                            x[k] += 1;
                        }),
                );
            }
            Ok(outcomes)
        })
        .expect("the program itself runs")
    });
    let outcomes = &results[0];
    assert!(outcomes[0].is_ok(), "first execution: {:?}", outcomes[0]);
    match &outcomes[1] {
        Err(ApError::Access {
            name,
            iteration,
            message,
        }) => {
            assert_eq!(name, "drift");
            assert_eq!(*iteration, 3);
            assert!(
                message.contains("`x`") && message.contains("key 4"),
                "{message}"
            );
        }
        other => panic!("second execution: expected an access error, got {other:?}"),
    }
}

#[test]
fn without_debug_mode_a_pinned_key_held_elsewhere_is_an_error() {
    let results = within(60, || {
        run(&threads(2), |ap| {
            let mut data = ap.range(20);
            let mut x = ap.dvector(20, |i| i as i64).with_name("x");
            Ok(ap
                .parallel_for(&mut data, (&mut x,))
                .keys(|&i: &usize| (i,))
                .name("far")
                .run(Consistency::Serializable, |&mut i, (x,)| {
                    // Key i + 10 is on the other worker.
                    x[i] += x[(i + 10) % 20];
                }))
        })
        .expect("the program itself runs")
    });
    assert_eq!(results.len(), 2);
    for (w, outcome) in results.iter().enumerate() {
        match outcome {
            Err(e @ (ApError::Access { name, .. } | ApError::Body { name, .. })) => {
                assert_eq!(name, "far");
                let text = e.to_string();
                assert!(text.contains("`x`") && text.contains("not held"), "{text}");
            }
            other => panic!("worker {w}: expected an error, got {other:?}"),
        }
    }
}

#[test]
fn without_debug_mode_a_rotated_key_outside_the_block_is_an_error() {
    let results = within(60, || {
        run(&threads(2), |ap| {
            let mut data = ap.range(40);
            let mut x = ap.dvector(40, |i| i as i64).with_name("x");
            let mut y = ap.dvector(10, |i| i as i64).with_name("y");
            Ok(ap
                .parallel_for(&mut data, (&mut x, &mut y))
                .keys(|&i: &usize| (i, i % 10))
                .name("reach")
                .run(Consistency::Serializable, |&mut i, (x, y)| {
                    // Keys 0 and 9 of y are in different blocks: one of them is not held.
                    x[i] += y[0] + y[9];
                }))
        })
        .expect("the program itself runs")
    });
    for (w, outcome) in results.iter().enumerate() {
        match outcome {
            Err(e @ (ApError::Access { name, .. } | ApError::Body { name, .. })) => {
                assert_eq!(name, "reach");
                let text = e.to_string();
                assert!(text.contains("`y`") && text.contains("not held"), "{text}");
            }
            other => panic!("worker {w}: expected an error, got {other:?}"),
        }
    }
}
