//! The strategy of a loop as one plain value: how each container is partitioned and placed, how
//! updates travel, and the consistency. The runtime decides it (today by the rules in
//! ARCHITECTURE.md; later a planner from measurements), prints it on request, and nothing else
//! about parallelisation is scattered across flags.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A loop's consistency model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Consistency {
    /// STRADS-AP's AsyncFor: the result equals running the iterations in some sequential order.
    /// Needs a key function; the runtime rotates parameter blocks so that no two workers ever
    /// hold the same key at once.
    Serializable,
    /// SyncFor, bulk synchronous: mini-batches against a snapshot, every worker's changes merged
    /// at each mini-batch boundary.
    Bsp,
    /// SyncFor, stale synchronous: a mini-batch may start while the changes of up to `s` earlier
    /// mini-batches of the other workers are still missing.
    Ssp(u32),
    /// Asynchronous (Hogwild-style with bounded delay): others' changes are applied as they
    /// arrive, in arrival order; a worker waits only when some peer's changes are more than
    /// `max_delay` mini-batches behind. Not deterministic.
    Async {
        /// How many mini-batches a peer's changes may lag.
        max_delay: u32,
    },
}

/// Where the loop's iterations run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IterationPlacement {
    /// Where the data vector's elements already are.
    InPlace,
    /// On the worker owning the iteration's key in the named container (data moved there once).
    WithKey {
        /// The pinned container.
        container: String,
    },
}

/// How a container's keys are split over the workers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Partitioning {
    /// Contiguous index ranges, one per worker.
    Range {
        /// How the range boundaries were chosen.
        balance: Balance,
    },
    /// Keys by hash, one class per worker.
    Hash,
    /// Every worker holds everything.
    Replicated,
}

/// How range boundaries are chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Balance {
    /// As the container was made (equal counts, or the weights it was built with).
    AsBuilt,
    /// Equal numbers of iterations per range, from the key function.
    IterationCount,
}

/// How a container's updates travel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Synchronization {
    /// The owner holds it; the iterations come to it. Nothing travels.
    Pinned,
    /// STRADS's static rotation: in sub-round r worker p holds block (p + r) mod P, then passes it
    /// to worker p - 1.
    Rotation,
    /// A replica per worker; each step's changes are all-gathered and merged in worker order.
    ReplicaDeltas,
}

/// One container's part of a strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStrategy {
    /// The container.
    pub name: String,
    /// How its keys are split.
    pub partitioning: Partitioning,
    /// How its updates travel.
    pub synchronization: Synchronization,
}

/// Everything the runtime decided for one loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strategy {
    /// The loop (its name, or its call site).
    pub name: String,
    /// The consistency model.
    pub consistency: Consistency,
    /// Workers the loop runs on.
    pub workers: usize,
    /// Where iterations run.
    pub iterations: IterationPlacement,
    /// Steps (rotation sub-rounds or mini-batches) per execution.
    pub steps_per_execution: usize,
    /// Iterations per mini-batch on each worker (synchronous loops).
    pub mini_batch: Option<usize>,
    /// Each container's partitioning and synchronisation, in the loop's tuple order.
    pub containers: Vec<ContainerStrategy>,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(json) => f.write_str(&json),
            Err(_) => write!(f, "{self:?}"),
        }
    }
}
