//! The checkpoint flags, shared by every app subcommand (`--checkpoint`, `--checkpoint-every`,
//! `--resume`), their checks before any work, and the signal handling that stops a run at an
//! iteration boundary.
//!
//! SIGINT and SIGTERM set a stop request instead of ending the process: the run finishes its
//! iteration, the workers agree to stop there, a last checkpoint is written (with
//! `--checkpoint`) and the outputs too, and the process exits with the signal's usual status
//! (128 + its number). A second signal ends the process at once, with that status.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Args;
use strads_apps::checkpoint::{CheckpointInterval, Checkpointing, Resume};
use strads_apps::runner::StopRequest;
use strads_engine::ClusterConfig;
use strads_io::checkpoint::{CheckpointDir, CheckpointError, CheckpointHeader, HeaderItem};

use crate::failure::{bad_input, Failure};

/// The interval when `--checkpoint` is given without `--checkpoint-every`.
pub const DEFAULT_INTERVAL_SECONDS: f64 = 60.0;

/// Agreement items that a resumed run may change: the limits of how far the run goes, and what
/// process 0 gathers for its outputs. Every other item is part of a checkpoint's fingerprint.
const NOT_FINGERPRINTED: &[&str] = &[
    "--max-iters",
    "--max-seconds",
    "--iters",
    "model gathered on process 0 (--out-prefix or --predict)",
    "document-topic counts gathered on process 0 (--doc-topics-out)",
];

/// Checkpoint and resume.
#[derive(Args, Clone, Debug, Default)]
pub struct CheckpointArgs {
    /// Write the full solver state into this directory (created if missing) every
    /// --checkpoint-every, and at SIGINT/SIGTERM; each process writes its workers' files, and
    /// a checkpoint is replaced only once the next one is complete everywhere.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// How often to checkpoint: N iterations (lasso, logreg: duality-gap evaluations, one per
    /// trace line; mf, lda: iterations) or Ns seconds, e.g. 10 or 30s [default: 60s].
    #[arg(long, value_name = "N|Ns")]
    pub checkpoint_every: Option<String>,
    /// Continue the run checkpointed in DIR, from the latest checkpoint complete on every
    /// process, to the answer it would have reached uninterrupted; needs the same processes,
    /// threads, inputs and flags (--max-iters, --iters and --max-seconds may change).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
}

impl CheckpointArgs {
    /// The interval of `--checkpoint-every`.
    fn interval(&self) -> Result<CheckpointInterval, Failure> {
        let Some(text) = &self.checkpoint_every else {
            return Ok(CheckpointInterval::Seconds(DEFAULT_INTERVAL_SECONDS));
        };
        let bad = || {
            bad_input(anyhow::anyhow!(
                "--checkpoint-every must be a number of iterations >= 1 (e.g. 10) or of \
                 seconds > 0 with an s (e.g. 30s), got '{text}'"
            ))
        };
        match text.strip_suffix('s') {
            Some(seconds) => match seconds.trim().parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => Ok(CheckpointInterval::Seconds(s)),
                _ => Err(bad()),
            },
            None => match text.trim().parse::<u64>() {
                Ok(n) if n >= 1 => Ok(CheckpointInterval::Iterations(n)),
                _ => Err(bad()),
            },
        }
    }

    /// Checks the flags and the directories before any work: `--checkpoint-every` needs
    /// `--checkpoint`; the checkpoint directory must be a directory (created if missing) that
    /// takes new files and is none of the run's `files` (inputs and outputs); a fresh run
    /// refuses a directory that already holds checkpoints (resume it, or give another).
    /// Every process checks its own directories: each writes its own workers' files.
    pub fn check(&self, files: &[(&str, Option<&Path>)]) -> Result<(), Failure> {
        let usage = |message: String| Err(bad_input(anyhow::anyhow!(message)));
        if self.checkpoint_every.is_some() && self.checkpoint.is_none() {
            return usage("--checkpoint-every needs --checkpoint DIR".into());
        }
        self.interval()?;
        if let Some(dir) = &self.resume {
            if !dir.is_dir() {
                return usage(format!(
                    "{}: --resume needs a checkpoint directory (written by --checkpoint)",
                    dir.display()
                ));
            }
        }
        let Some(dir) = &self.checkpoint else {
            return Ok(());
        };
        for (flag, path) in files {
            let Some(path) = path else { continue };
            if same_file(dir, path) {
                return usage(format!(
                    "{}: --checkpoint is also {flag}; give a directory of its own",
                    dir.display()
                ));
            }
        }
        if dir.exists() && !dir.is_dir() {
            return usage(format!(
                "{}: --checkpoint is not a directory",
                dir.display()
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            bad_input(anyhow::anyhow!(
                "{}: cannot create the --checkpoint directory: {e}",
                dir.display()
            ))
        })?;
        tempfile::tempfile_in(dir).map_err(|e| {
            bad_input(anyhow::anyhow!(
                "{}: the --checkpoint directory does not take new files: {e}",
                dir.display()
            ))
        })?;
        let resuming_here = self.resume.as_ref().is_some_and(|r| same_file(r, dir));
        let holds = CheckpointDir::new(dir)
            .holds_checkpoints()
            .map_err(bad_input)?;
        if holds && !resuming_here {
            return usage(format!(
                "{}: --checkpoint already holds a checkpoint; continue it with --resume {} (and \
                 the same --checkpoint), or give an empty directory",
                dir.display(),
                dir.display()
            ));
        }
        Ok(())
    }

    /// Items the processes must agree on: whether they checkpoint, how often, and whether they
    /// resume (the collectives of each depend on it). Not part of the fingerprint.
    fn agreement_items(&self) -> Vec<(String, String)> {
        let every = match (&self.checkpoint, self.interval()) {
            (None, _) | (_, Err(_)) => "none".to_owned(),
            (Some(_), Ok(CheckpointInterval::Iterations(n))) => format!("every {n} iterations"),
            (Some(_), Ok(CheckpointInterval::Seconds(s))) => format!("every {s:?} s"),
        };
        vec![
            ("--checkpoint".to_owned(), every),
            ("--resume".to_owned(), self.resume.is_some().to_string()),
        ]
    }

    /// The run's checkpointing (see [`CheckpointArgs::checkpointing`]), its fingerprint taken
    /// from the run's agreement `items`, to which the checkpoint flags' items are then added.
    pub fn checkpointing_agreed(
        &self,
        app: &str,
        cluster: &ClusterConfig,
        items: &mut Vec<(String, String)>,
    ) -> Result<Checkpointing, Failure> {
        let checkpointing = self.checkpointing(app, cluster, items)?;
        items.extend(self.agreement_items());
        Ok(checkpointing)
    }

    /// The run's checkpointing: `app` and the cluster's shape, the fingerprint from the
    /// agreement `items` (without [`CheckpointArgs::agreement_items`]), the directory
    /// to resume (its complete generations checked against all of it).
    fn checkpointing(
        &self,
        app: &str,
        cluster: &ClusterConfig,
        items: &[(String, String)],
    ) -> Result<Checkpointing, Failure> {
        let header = CheckpointHeader {
            app: app.to_owned(),
            processes: cluster.processes(),
            threads: cluster.threads,
            fingerprint: items
                .iter()
                .filter(|(name, _)| !NOT_FINGERPRINTED.contains(&name.as_str()))
                .cloned()
                .collect(),
        };
        let resume = match &self.resume {
            None => None,
            Some(dir) => {
                let dir = CheckpointDir::new(dir);
                let complete = dir
                    .complete_iterations(cluster.process, &header)
                    .map_err(|error| bad_input(named_by_flags(error)))?;
                if complete.is_empty() {
                    return Err(bad_input(anyhow::anyhow!(
                        "{}: --resume: no complete checkpoint of process {} in this directory",
                        dir.root().display(),
                        cluster.process
                    )));
                }
                Some(Resume { dir, complete })
            }
        };
        let save = match &self.checkpoint {
            None => None,
            Some(dir) => Some((CheckpointDir::new(dir), self.interval()?)),
        };
        Ok(Checkpointing {
            header,
            save,
            resume,
        })
    }
}

/// `error` with the cluster's shape named by the flags that set it, as the fingerprint's
/// items are (`--threads 2, this run has 1`).
fn named_by_flags(error: CheckpointError) -> CheckpointError {
    match error {
        CheckpointError::Incompatible {
            path,
            mut difference,
        } => {
            let flag = match difference.item {
                HeaderItem::Processes => Some("--processes"),
                HeaderItem::Threads => Some("--threads"),
                _ => None,
            };
            if let Some(flag) = flag {
                difference.item = HeaderItem::Fingerprint(flag.to_owned());
            }
            CheckpointError::Incompatible { path, difference }
        }
        error => error,
    }
}

/// Whether `a` and `b` name the same file or directory (after following symlinks).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    strads_io::resolve_symlinks(a) == strads_io::resolve_symlinks(b)
}

/// Installs the SIGINT/SIGTERM handlers of an app run and returns the stop request they set
/// (the signal's number). A second signal ends the process at once with 128 + its number.
pub fn install_stop_on_signals() -> Result<StopRequest, Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let request: StopRequest = Arc::new(AtomicUsize::new(0));
    let signalled = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, signalled.clone())
            .and_then(|_| signal_hook::flag::register(signal, signalled.clone()))
            .and_then(|_| {
                signal_hook::flag::register_usize(signal, request.clone(), signal as usize)
            })
            .map_err(|e| anyhow::anyhow!("cannot install the signal handlers: {e}"))?;
    }
    Ok(request)
}

/// After a run: the failure that makes the process exit with the usual status of the signal
/// that stopped it (its outputs already written), if one did.
pub fn interrupted(request: Option<&StopRequest>) -> Result<(), Failure> {
    let signal = request.map_or(0, |r| r.load(Ordering::SeqCst));
    if signal == 0 {
        return Ok(());
    }
    Err(Failure {
        code: (128 + signal).min(255) as u8,
        error: anyhow::anyhow!(
            "interrupted by signal {signal}: stopped at an iteration boundary{}",
            ", after writing the outputs (and a last checkpoint, with --checkpoint)"
        ),
    })
}
