//! The leader's steps and gap evaluations against independent dense computations.

use super::*;
use crate::sparse_regression::kernels::{pair_key, soft_threshold};
use rand::{Rng, SeedableRng};
use strads_core::{SchedulerKind, SchedulerParams};

/// A small dense problem with correlated columns: `x_j = z + noise_j` column by column.
fn correlated_problem(n: usize, d: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let shared: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let columns: Vec<Vec<f64>> = (0..d)
        .map(|_| {
            shared
                .iter()
                .map(|s| s + 0.5 * rng.gen_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let y = (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect();
    (columns, y)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn leader(d: usize, lambda: f64, inner_passes: usize, norms2: Vec<f64>) -> LeaderState {
    leader_with_staleness(d, lambda, inner_passes, norms2, 0)
}

fn leader_with_staleness(
    d: usize,
    lambda: f64,
    inner_passes: usize,
    norms2: Vec<f64>,
    staleness: u64,
) -> LeaderState {
    let settings = SolveSettings {
        lambda,
        tol: 1e-12,
        max_passes: 1e9,
        max_seconds: f64::INFINITY,
        gap_every: 1.0,
        rho: 1.0,
        staleness,
        screening: false,
        sweep_share: 0.0,
        smoothness: 1.0,
        inner_passes,
        scheduler: SchedulerParams {
            kind: SchedulerKind::Cyclic,
            schedule_size: d,
            eta: 1e-9,
            seed: 1,
        },
        pause_after_evaluations: false,
    };
    LeaderState::new(settings, norms2, None)
}

/// One round over all coordinates at b = 0 with the workers' statistics computed here
/// densely; returns the committed b.
fn one_round(columns: &[Vec<f64>], y: &[f64], lambda: f64, inner_passes: usize) -> Vec<f64> {
    let d = columns.len();
    let norms2: Vec<f64> = columns.iter().map(|c| dot(c, c)).collect();
    let mut state = leader(d, lambda, inner_passes, norms2.clone());
    let candidates: Vec<u32> = (0..d as u32).collect();
    // Squared loss at b = 0: f'(p) = p - y = -y.
    let gradient: Vec<f64> = columns.iter().map(|c| -dot(c, y)).collect();
    let mut pair_dots = Vec::new();
    for a in 0..d {
        for b in a + 1..d {
            pair_dots.push((pair_key(a, b, d), dot(&columns[a], &columns[b])));
        }
    }
    commit(
        &mut state,
        0,
        0..0,
        candidates,
        vec![],
        gradient,
        norms2,
        pair_dots,
    );
    state.beta
}

/// Commits coordinate round `round`, whose push did not see the rounds `unseen_rounds`, from
/// the given statistics.
#[allow(clippy::too_many_arguments)]
fn commit(
    state: &mut LeaderState,
    round: u64,
    unseen_rounds: Range<u64>,
    candidates: Vec<u32>,
    unseen: Vec<u32>,
    gradient: Vec<f64>,
    curvature: Vec<f64>,
    pair_dots: Vec<(u32, f64)>,
) {
    let task = Task::Coordinates {
        candidates,
        unseen,
        with_pairs: true,
    };
    let sum = Partial::Coordinates {
        gradient,
        curvature,
        pair_dots,
    };
    state.commit_coordinates(round, &unseen_rounds, &task, &sum);
}

/// Cyclic coordinate descent on the residual, written independently of the leader.
fn cyclic_descent(columns: &[Vec<f64>], y: &[f64], lambda: f64, passes: usize) -> Vec<f64> {
    let start = vec![0.0; columns.len()];
    cyclic_descent_from(columns, y, lambda, start, 0..columns.len(), passes)
}

/// Cyclic coordinate descent from `b` over the coordinates in `sweep` only.
fn cyclic_descent_from(
    columns: &[Vec<f64>],
    y: &[f64],
    lambda: f64,
    mut b: Vec<f64>,
    sweep: std::ops::Range<usize>,
    passes: usize,
) -> Vec<f64> {
    let mut residual: Vec<f64> = (0..y.len())
        .map(|i| y[i] - columns.iter().zip(&b).map(|(c, bj)| c[i] * bj).sum::<f64>())
        .collect();
    for _ in 0..passes {
        for j in sweep.clone() {
            let column = &columns[j];
            let norm2 = dot(column, column);
            let new = soft_threshold(b[j] * norm2 + dot(column, &residual), lambda) / norm2;
            for (r, x) in residual.iter_mut().zip(column) {
                *r -= (new - b[j]) * x;
            }
            b[j] = new;
        }
    }
    b
}

#[test]
fn one_inner_pass_is_a_pass_of_sequential_coordinate_descent() {
    let (columns, y) = correlated_problem(30, 8);
    let lambda = 0.05 * columns.iter().map(|c| dot(c, &y).abs()).fold(0.0, f64::max);
    let round = one_round(&columns, &y, lambda, 1);
    let sequential = cyclic_descent(&columns, &y, lambda, 1);
    assert!(round.iter().any(|&b| b != 0.0));
    for (a, b) in round.iter().zip(&sequential) {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
            "{round:?} vs {sequential:?}"
        );
    }
}

#[test]
fn many_inner_passes_solve_the_round_subproblem() {
    let (columns, y) = correlated_problem(30, 8);
    let lambda = 0.05 * columns.iter().map(|c| dot(c, &y).abs()).fold(0.0, f64::max);
    let round = one_round(&columns, &y, lambda, 10_000);
    // The passes stop once a pass gains a thousandth of the first; compare with the optimum
    // loosely, and against a single pass to see that the passes went on.
    let optimum = cyclic_descent(&columns, &y, lambda, 10_000);
    let one_pass = cyclic_descent(&columns, &y, lambda, 1);
    let distance = |b: &[f64]| {
        b.iter()
            .zip(&optimum)
            .map(|(x, o)| (x - o).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    assert!(
        distance(&round) < 0.1 * distance(&one_pass),
        "{round:?} vs {optimum:?}"
    );
}

/// With a round in flight, a push misses the changes of the round before; the sequential
/// steps add them through the Gram entries, so the round takes exactly the steps sequential
/// coordinate descent would take from the current coefficients.
#[test]
fn stale_gradients_are_corrected_for_the_unseen_changes() {
    let (columns, y) = correlated_problem(30, 6);
    let lambda = 0.05 * columns.iter().map(|c| dot(c, &y).abs()).fold(0.0, f64::max);
    let norms2: Vec<f64> = columns.iter().map(|c| dot(c, c)).collect();
    let mut state = leader_with_staleness(6, lambda, 1, norms2.clone(), 1);
    // Round 0 changed coordinates 0 and 1; round 1's push ran at b = 0 without seeing it.
    let unseen_changes = [(0u32, 0.3), (1u32, -0.2)];
    state.window.scheduled(0, &[0, 1]);
    for &(j, delta) in &unseen_changes {
        state.beta[j as usize] = delta;
    }
    state.window.committed(0, &unseen_changes);
    let unseen = [0u32, 1];
    let candidates = [2u32, 3, 4, 5];
    let positions: Vec<u32> = unseen.iter().chain(&candidates).copied().collect();
    let stale_gradient: Vec<f64> = candidates
        .iter()
        .map(|&j| -dot(&columns[j as usize], &y))
        .collect();
    let curvature: Vec<f64> = candidates.iter().map(|&j| norms2[j as usize]).collect();
    let mut pair_dots = Vec::new();
    for a in 0..positions.len() {
        for b in a + 1..positions.len() {
            let (ja, jb) = (positions[a] as usize, positions[b] as usize);
            pair_dots.push((pair_key(a, b, 6), dot(&columns[ja], &columns[jb])));
        }
    }
    commit(
        &mut state,
        1,
        0..1,
        candidates.to_vec(),
        unseen.to_vec(),
        stale_gradient,
        curvature,
        pair_dots,
    );
    // Sequential coordinate descent over 2..5 from b = (0.3, -0.2, 0, 0, 0, 0).
    let start = vec![0.3, -0.2, 0.0, 0.0, 0.0, 0.0];
    let b = cyclic_descent_from(&columns, &y, lambda, start, 2..6, 1);
    assert!(b[2..].iter().any(|&v| v != 0.0));
    for j in 2..6 {
        assert!(
            (state.beta[j] - b[j]).abs() <= 1e-12 * (1.0 + b[j].abs()),
            "{:?} vs {b:?}",
            state.beta
        );
    }
}

/// Columns left out of a partial gap evaluation are exactly those whose bound proves them
/// below lambda, the bound holds for the true `x_j . theta`, and nonzero coefficients are
/// always computed.
#[test]
fn partial_gap_evaluations_skip_only_columns_proven_below_lambda() {
    let (n, d) = (40, 200);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let columns: Vec<Vec<f64>> = (0..d)
        .map(|_| (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    let norms2: Vec<f64> = columns.iter().map(|c| dot(c, c)).collect();
    let theta_s: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let theta: Vec<f64> = theta_s
        .iter()
        .map(|t| t + 0.02 * rng.gen_range(-1.0..1.0))
        .collect();
    let change = theta
        .iter()
        .zip(&theta_s)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    let snapshot: Vec<f64> = columns.iter().map(|c| dot(c, &theta_s)).collect();
    // lambda between the typical and the largest |x_j . theta_s|, so that some columns are
    // close enough to it to be listed and most are not.
    let largest = snapshot.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let lambda = 0.8 * largest;
    let mut state = leader(d, lambda, 0, norms2.clone());
    state.gap.snapshot_xt_theta = snapshot.clone();
    state.gap.xt_theta = snapshot.clone();
    state.beta[7] = 0.5;
    let active = state.active.coordinates();
    state
        .gap
        .select_columns(change, lambda, active, &state.beta, &state.column_norms);
    let listed = state
        .gap
        .columns
        .clone()
        .expect("a partial evaluation lists its columns");
    assert!(
        !state.gap.full && listed.len() < d / 8,
        "{} listed",
        listed.len()
    );
    assert!(
        listed.contains(&7),
        "a nonzero coefficient is always computed"
    );
    for j in 0..d {
        let bound = snapshot[j].abs() + norms2[j].sqrt() * change;
        let is_listed = listed.contains(&(j as u32));
        assert_eq!(
            is_listed,
            j == 7 || bound >= lambda * (1.0 - 1e-9),
            "column {j}"
        );
        if !is_listed {
            let truth = dot(&columns[j], &theta).abs();
            let bound = state.gap.xt_theta[j].abs();
            assert!(truth <= bound && bound < lambda);
        }
    }
}
