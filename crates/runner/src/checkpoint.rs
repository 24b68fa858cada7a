//! Checkpoint and resume, shared by every app: when to write a checkpoint and when to stop on
//! request, decided the same way on every worker; writing each worker's state and publishing it
//! ([`strads_io::checkpoint`] holds the directory layout); and finding and reading the state a
//! resumed run starts from.
//!
//! Every decision is taken at an iteration boundary from values all-gathered there (worker 0's
//! clock, every worker's stop request), so all workers checkpoint and stop at the same
//! iteration; a local clock or a local signal alone would make them diverge or deadlock.

use std::sync::atomic::Ordering;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strads_engine::Worker;
use strads_io::checkpoint::{CheckpointDir, CheckpointHeader, ShardRecord};

use crate::error::RunError;
use crate::hooks::StopRequest;

/// How often a run writes a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CheckpointInterval {
    /// Every this many iterations (the app's unit: an iteration of mf and lda, a duality-gap
    /// evaluation of lasso and logreg).
    Iterations(u64),
    /// At the first iteration boundary at least this many seconds (on worker 0's clock) after
    /// the last checkpoint, or after the start.
    Seconds(f64),
}

/// Where a resumed run reads its state.
#[derive(Clone, Debug)]
pub struct Resume {
    /// The checkpoint directory.
    pub dir: CheckpointDir,
    /// The iterations of the generations complete for this process (checked against this
    /// run's header by [`CheckpointDir::complete_iterations`]).
    pub complete: Vec<u64>,
}

/// A run's checkpointing: what it must match, where it writes and reads.
#[derive(Clone, Debug, Default)]
pub struct Checkpointing {
    /// The app, shape and fingerprint written into (and checked against) every checkpoint.
    pub header: CheckpointHeader,
    /// Where and how often to write checkpoints.
    pub save: Option<(CheckpointDir, CheckpointInterval)>,
    /// The checkpoint to resume.
    pub resume: Option<Resume>,
}

/// What every worker does at an iteration boundary (the same on all of them); the default is
/// "go on".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Boundary {
    /// Write a checkpoint now.
    pub checkpoint: bool,
    /// Stop now: a worker's process was asked to (by this signal).
    pub stop: Option<usize>,
}

/// When the last checkpoint was written (or the run started).
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckpointClock {
    iteration: u64,
    seconds: f64,
}

impl CheckpointClock {
    /// A clock whose last checkpoint is `iteration` at `seconds` (0, 0 at a fresh start).
    pub fn at(iteration: u64, seconds: f64) -> Self {
        CheckpointClock { iteration, seconds }
    }
}

impl Checkpointing {
    /// Decides, identically on every worker, what to do at the boundary after `iteration`;
    /// `seconds` is this worker's solve time (only worker 0's is used), `stop` the run's stop
    /// request. With no checkpoints to write and no stop request to watch, every boundary is
    /// "go on" without a collective.
    pub fn boundary(
        &self,
        worker: &mut Worker<'_>,
        iteration: u64,
        seconds: f64,
        clock: &mut CheckpointClock,
        stop: Option<&StopRequest>,
    ) -> Result<Boundary, RunError> {
        if self.save.is_none() && stop.is_none() {
            return Ok(Boundary::default());
        }
        let requested = stop.map_or(0, |r| r.load(Ordering::SeqCst));
        let all: Vec<(u64, f64)> = worker.all_gather(&(requested as u64, seconds))?;
        let signal = all.iter().map(|&(s, _)| s as usize).max().unwrap_or(0);
        let leader_seconds = all[0].1;
        if signal != 0 {
            if let Some(request) = stop {
                let _ = request.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
        let due = match self.save {
            None => false,
            Some((_, CheckpointInterval::Iterations(every))) => {
                iteration >= clock.iteration.saturating_add(every)
            }
            Some((_, CheckpointInterval::Seconds(every))) => {
                leader_seconds - clock.seconds >= every
            }
        };
        let checkpoint = self.save.is_some() && (due || signal != 0) && iteration > clock.iteration;
        if checkpoint {
            *clock = CheckpointClock::at(iteration, leader_seconds);
        }
        Ok(Boundary {
            checkpoint,
            stop: (signal != 0).then_some(signal),
        })
    }

    /// The process of `worker` and whether it is that process's first worker (which publishes
    /// the process's manifest).
    fn process_of(&self, worker: &Worker<'_>) -> (usize, bool) {
        let threads = self.header.threads.max(1);
        (worker.index() / threads, worker.index() % threads == 0)
    }

    /// Before any work: fails with [`RunError::InvalidArgument`] (exit status 2) on every
    /// worker when the checkpoint directory clearly cannot hold a checkpoint of this process's
    /// workers, each worker's share being about the size of `state` (its state as it will be
    /// written; the sizes hardly change over a run). Every worker must call it.
    pub fn check_space<T: Serialize>(
        &self,
        worker: &mut Worker<'_>,
        state: &T,
    ) -> Result<(), RunError> {
        if self.save.is_none() {
            return Ok(());
        }
        let bytes = bincode::serialized_size(state).unwrap_or(0);
        self.agree_on_space(worker, bytes, "checkpointing")
            .map_err(|e| match e {
                RunError::Resources(m) => RunError::InvalidArgument(m),
                other => other,
            })
    }

    /// Gathers every worker's `bytes`; each process's first worker checks its workers' total
    /// against the free space on the checkpoint directory; fails on every worker if any
    /// process lacks space ([`RunError::Resources`]).
    fn agree_on_space(
        &self,
        worker: &mut Worker<'_>,
        bytes: u64,
        doing: &str,
    ) -> Result<(), RunError> {
        let Some((dir, _)) = &self.save else {
            return Ok(());
        };
        let sizes: Vec<u64> = worker.all_gather(&bytes)?;
        let (process, first) = self.process_of(worker);
        let threads = self.header.threads.max(1);
        let checked = if first {
            // The manifest and the directory entry: a few KiB at most.
            let needed = sizes[process * threads..(process + 1) * threads]
                .iter()
                .fold(4096u64, |sum, &b| sum.saturating_add(b));
            strads_io::check_free_space("a checkpoint", dir.root(), needed)
                .map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        let checked: Vec<Result<(), String>> = worker.all_gather(&checked)?;
        agree_on_errors(checked.iter().map(|r| r.as_ref().err()), doing)
    }

    /// Writes this worker's `state` as the checkpoint of `iteration`; every worker must call it
    /// at the same boundary. Once every process has published its manifest, the older
    /// generations are removed, so a crash at any moment leaves a complete generation. A
    /// checkpoint that does not fit in the free space is not started, and one that fails
    /// (a disk filled meanwhile) is removed: either way the previous one stays, and the run
    /// fails on every worker naming the directory.
    pub fn save<T: Serialize>(
        &self,
        worker: &mut Worker<'_>,
        iteration: u64,
        state: &T,
    ) -> Result<(), RunError> {
        let Some((dir, _)) = &self.save else {
            return Ok(());
        };
        let (process, first) = self.process_of(worker);
        let serialized = bincode::serialize(state).map_err(|e| e.to_string());
        let size = serialized.as_ref().map_or(0, |b| b.len() as u64);
        self.agree_on_space(worker, size, "writing a checkpoint")?;
        let written = serialized.and_then(|bytes| {
            dir.write_worker(iteration, worker.index(), &bytes)
                .map_err(|e| e.to_string())
        });
        let records: Vec<Result<ShardRecord, String>> = worker.all_gather(&written)?;
        let failed = agree_on_errors(
            records.iter().map(|r| r.as_ref().err()),
            "writing a checkpoint",
        );
        let published = match failed {
            Err(e) => Err(e),
            Ok(()) => {
                let published = if first {
                    let threads = self.header.threads.max(1);
                    let mine = records[process * threads..(process + 1) * threads]
                        .iter()
                        .map(|r| r.clone().expect("checked above"))
                        .collect();
                    dir.publish(iteration, process, &self.header, mine)
                        .map_err(|e| e.to_string())
                } else {
                    Ok(())
                };
                let published: Vec<Result<(), String>> = worker.all_gather(&published)?;
                agree_on_errors(
                    published.iter().map(|r| r.as_ref().err()),
                    "writing a checkpoint",
                )
            }
        };
        if let Err(e) = published {
            // The failed generation would only hold space (it is incomplete everywhere, so no
            // resume reads it); the previous one is untouched.
            if first {
                dir.remove_generation(iteration);
            }
            return Err(e);
        }
        if first {
            dir.remove_older_than(iteration);
        }
        Ok(())
    }

    /// The state this worker resumes from, with its iteration: the latest generation complete
    /// on every process. `None` for a fresh run. Every worker must call it.
    pub fn resume<T: DeserializeOwned>(
        &self,
        worker: &mut Worker<'_>,
    ) -> Result<Option<(u64, T)>, RunError> {
        let Some(resume) = &self.resume else {
            return Ok(None);
        };
        let all: Vec<Vec<u64>> = worker.all_gather(&resume.complete)?;
        let common = all[0]
            .iter()
            .rev()
            .find(|iteration| all.iter().all(|list| list.contains(iteration)))
            .copied();
        let Some(iteration) = common else {
            let threads = self.header.threads.max(1);
            let lacking: Vec<String> = all
                .iter()
                .enumerate()
                .step_by(threads)
                .map(|(w, list)| format!("process {}: {:?}", w / threads, list))
                .collect();
            return Err(RunError::InvalidArgument(format!(
                "{}: no checkpoint is complete on every process (complete iterations by \
                 process: {})",
                resume.dir.root().display(),
                lacking.join(", ")
            )));
        };
        let (process, first) = self.process_of(worker);
        let read = resume
            .dir
            .read_worker(iteration, process, worker.index())
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                bincode::deserialize::<T>(&bytes).map_err(|e| {
                    format!(
                        "{}: not a state of this app: {e}",
                        resume.dir.worker_file(iteration, worker.index()).display()
                    )
                })
            });
        let errors: Vec<Option<String>> = worker.all_gather(&read.as_ref().err().cloned())?;
        agree_on_errors(errors.iter().map(Option::as_ref), "resuming").map_err(|e| match e {
            RunError::Resources(m) => RunError::InvalidArgument(m),
            other => other,
        })?;
        // Generations after the resumed one (incomplete somewhere, or of a run that went on)
        // would be overwritten with other bytes: remove them before this run writes its own.
        // Every process removes them before any writes (a directory may be shared).
        if let (true, Some((dir, _))) = (first, &self.save) {
            if dir.root() == resume.dir.root() {
                dir.remove_newer_than(iteration);
            }
        }
        worker.all_gather(&())?;
        Ok(Some((iteration, read.expect("checked above"))))
    }
}

/// Fails on every worker if any worker failed, naming the first failure.
fn agree_on_errors<'a>(
    errors: impl Iterator<Item = Option<&'a String>>,
    doing: &str,
) -> Result<(), RunError> {
    let failures: Vec<(usize, &String)> = errors
        .enumerate()
        .filter_map(|(w, e)| e.map(|e| (w, e)))
        .collect();
    match failures.first() {
        None => Ok(()),
        Some((w, message)) => Err(RunError::Resources(format!(
            "{doing} failed on worker {w}: {message}"
        ))),
    }
}
