//! What crosses workers in a round of the rows layout: the leader's task, each worker's partial
//! result (summed on the leader) and the committed update. The leader ([`super::leader`]) makes
//! tasks and updates from sums; the round program ([`super::program`]) computes partials and
//! applies updates.

use serde::{Deserialize, Serialize};

/// What the leader asks of every worker in a round.
#[derive(Debug, Serialize, Deserialize)]
pub enum Task {
    /// Statistics of these candidates (and, if asked, dot products of pairs sharing a row).
    Coordinates {
        /// Candidate coordinates.
        candidates: Vec<u32>,
        /// Coordinates that may change in the rounds whose updates this round's push does not see
        /// (the last `staleness` rounds); the filter also keeps candidates away from them.
        unseen: Vec<u32>,
        /// Whether the dependency filter needs the pairs' dot products.
        with_pairs: bool,
    },
    /// `||theta - theta_s||^2`, theta_s the dual point of the last full evaluation: how many
    /// columns the next `GapPrimal` must read.
    GapChange,
    /// `X^T theta` on these columns (all when `None`) and the loss, for the duality gap.
    GapPrimal {
        /// The columns to compute (the active ones, or fewer: see the leader's gap evaluator).
        columns: Option<Vec<u32>>,
        /// A full evaluation: keep theta as the new reference theta_s.
        snapshot: bool,
    },
    /// The dual objective at `scale * theta`.
    GapDual {
        /// The factor that makes the dual point feasible.
        scale: f64,
    },
}

/// A worker's contribution to a round (summed over workers).
#[derive(Debug, Serialize, Deserialize)]
pub enum Partial {
    /// Per candidate `g_j` and `h_j`; per pair sharing a row, its dot product (pairs are over
    /// `unseen ++ candidates`).
    Coordinates {
        /// `sum_i x_ij f'(p_i)`.
        gradient: Vec<f64>,
        /// `sum_i x_ij^2 f''(p_i)`.
        curvature: Vec<f64>,
        /// `(pair_key(a, b), x_a . x_b)`, sorted by key; absent pairs share no row.
        pair_dots: Vec<(u32, f64)>,
    },
    /// `||theta - theta_s||^2` over the worker's rows.
    GapChange {
        /// The squared distance.
        change2: f64,
    },
    /// `X^T theta` (on the task's columns) and `sum_i f(p_i)`.
    GapPrimal {
        /// `X^T theta`.
        xt_theta: Vec<f64>,
        /// The loss.
        loss: f64,
    },
    /// `sum_i -f*(-s theta_i)`.
    GapDual {
        /// The dual objective.
        dual: f64,
    },
}

/// What every worker applies after a round.
#[derive(Debug, Serialize, Deserialize)]
pub enum Update {
    /// `b_j += delta` for each pair.
    Deltas(Vec<(u32, f64)>),
}
