//! Checkpoint directories: a run's full solver state at an iteration, one file per worker, so
//! that a later run can resume it.
//!
//! Layout of a checkpoint directory `DIR`:
//!
//! ```text
//! DIR/iteration-000000000040/worker-0.bin      one worker's state (the app's bytes)
//! DIR/iteration-000000000040/worker-1.bin
//! DIR/iteration-000000000040/process-0.json    the manifest of process 0's workers, written last
//! ```
//!
//! Every file is written to a temporary and renamed ([`crate::write_atomic`]); a process writes
//! its manifest (the [`CheckpointHeader`], and each of its workers' files with size and FNV-1a
//! checksum) only after its workers' files are complete. A generation is usable for a process
//! when its manifest exists and every file it lists has that size and checksum, so a `kill -9`
//! in the middle of writing leaves a generation without a manifest (or with a file that does not
//! match it), which is skipped: the previous generation is still there, because the callers
//! remove older generations only once every process has published the new one.
//!
//! This module knows nothing of workers or clusters: the apps decide what the bytes are and
//! when every process has published.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;

/// The format of the manifest and of this layout; a manifest of another version is refused.
pub const FORMAT_VERSION: u32 = 1;

/// What a checkpoint was written by: the app, the cluster's shape and the fingerprint of the
/// computation (the flags that change it and the inputs' sizes). A resumed run must match it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointHeader {
    /// The app, e.g. `lasso` or `mf ccd`.
    pub app: String,
    /// Processes in the cluster.
    pub processes: usize,
    /// Worker threads per process.
    pub threads: usize,
    /// `(name, value)` items that must be equal, in order (a run's agreement list).
    pub fingerprint: Vec<(String, String)>,
}

impl CheckpointHeader {
    /// The first way `found` (a checkpoint's header) differs from `self` (this run).
    pub fn first_difference(&self, found: &CheckpointHeader) -> Option<HeaderDifference> {
        let differ = |item, this_run: &dyn std::fmt::Display, written: &dyn std::fmt::Display| {
            Some(HeaderDifference {
                item,
                written: written.to_string(),
                this_run: this_run.to_string(),
            })
        };
        if self.app != found.app {
            return differ(HeaderItem::App, &self.app, &found.app);
        }
        if self.processes != found.processes {
            return differ(HeaderItem::Processes, &self.processes, &found.processes);
        }
        if self.threads != found.threads {
            return differ(HeaderItem::Threads, &self.threads, &found.threads);
        }
        let (ours, theirs) = (&self.fingerprint, &found.fingerprint);
        let named = |name: &String| HeaderItem::Fingerprint(name.clone());
        for index in 0..ours.len().max(theirs.len()) {
            match (ours.get(index), theirs.get(index)) {
                (Some((a, x)), Some((b, y))) if a == b && x == y => {}
                (Some((a, x)), Some((b, y))) if a == b => return differ(named(a), x, y),
                (Some((a, x)), _) => return differ(named(a), x, &"(absent)"),
                (None, Some((b, y))) => return differ(named(b), &"(absent)", y),
                (None, None) => unreachable!("index below the longer length"),
            }
        }
        None
    }
}

/// The first item in which a checkpoint's header differs from a run's, with both values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderDifference {
    /// The item.
    pub item: HeaderItem,
    /// Its value in the checkpoint.
    pub written: String,
    /// Its value in this run.
    pub this_run: String,
}

/// An item of a [`CheckpointHeader`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderItem {
    /// [`CheckpointHeader::app`].
    App,
    /// [`CheckpointHeader::processes`].
    Processes,
    /// [`CheckpointHeader::threads`].
    Threads,
    /// An item of [`CheckpointHeader::fingerprint`], by its name (a caller may also name the
    /// items above this way, e.g. by the settings that decide them).
    Fingerprint(String),
}

impl std::fmt::Display for HeaderDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let HeaderDifference {
            item,
            written,
            this_run,
        } = self;
        match item {
            HeaderItem::App => write!(f, "it was written by a run with app {written}")?,
            HeaderItem::Processes => {
                let noun = if written == "1" {
                    "process"
                } else {
                    "processes"
                };
                write!(f, "it was written by a run of {written} {noun}")?
            }
            HeaderItem::Threads => write!(
                f,
                "it was written by a run of {written} worker threads per process"
            )?,
            HeaderItem::Fingerprint(name) => {
                write!(f, "it was written by a run with {name} {written}")?
            }
        }
        write!(f, ", this run has {this_run}")
    }
}

/// One worker's file in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The worker's global index.
    pub worker: usize,
    /// The file's size.
    pub bytes: u64,
    /// Its 64-bit FNV-1a hash, in hex.
    pub fnv1a64: String,
}

/// A process's manifest of one generation.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    iteration: u64,
    process: usize,
    header: CheckpointHeader,
    shards: Vec<ShardRecord>,
}

/// Why a checkpoint cannot be written or resumed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing a checkpoint file failed.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// A checkpoint file is damaged or not a checkpoint.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The checkpoint was written by another app, cluster shape or computation.
    #[error("{}: cannot resume this run: {difference}", path.display())]
    Incompatible {
        /// The manifest.
        path: PathBuf,
        /// The first difference.
        difference: HeaderDifference,
    },
    /// The directory holds no complete checkpoint.
    #[error("{}: no complete checkpoint {what}", path.display())]
    Missing {
        /// The directory.
        path: PathBuf,
        /// Where none was found, e.g. `of process 1`.
        what: String,
    },
}

impl CheckpointError {
    fn io(path: &Path, cause: std::io::Error) -> Self {
        CheckpointError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }

    fn corrupt(path: &Path, message: impl Into<String>) -> Self {
        CheckpointError::Corrupt {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// A checkpoint directory.
#[derive(Clone, Debug)]
pub struct CheckpointDir {
    root: PathBuf,
}

const GENERATION_PREFIX: &str = "iteration-";

impl CheckpointDir {
    /// The directory `root` (created on the first write if it does not exist).
    pub fn new(root: impl Into<PathBuf>) -> CheckpointDir {
        CheckpointDir { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the generation at `iteration`.
    pub fn generation(&self, iteration: u64) -> PathBuf {
        self.root
            .join(format!("{GENERATION_PREFIX}{iteration:012}"))
    }

    /// The state file of `worker` at `iteration`.
    pub fn worker_file(&self, iteration: u64, worker: usize) -> PathBuf {
        self.generation(iteration)
            .join(format!("worker-{worker}.bin"))
    }

    fn manifest_file(&self, iteration: u64, process: usize) -> PathBuf {
        self.generation(iteration)
            .join(format!("process-{process}.json"))
    }

    /// Writes `state` as `worker`'s file of the generation at `iteration` (atomically), and
    /// returns its record for the manifest.
    pub fn write_worker(
        &self,
        iteration: u64,
        worker: usize,
        state: &[u8],
    ) -> Result<ShardRecord, CheckpointError> {
        let directory = self.generation(iteration);
        std::fs::create_dir_all(&directory).map_err(|e| CheckpointError::io(&directory, e))?;
        let path = self.worker_file(iteration, worker);
        write_atomic(&path, |out| out.write_all(state))
            .map_err(|e| CheckpointError::io(&path, std::io::Error::other(e.to_string())))?;
        Ok(ShardRecord {
            worker,
            bytes: state.len() as u64,
            fnv1a64: fnv1a64_hex(state),
        })
    }

    /// Publishes `process`'s part of the generation at `iteration`: its manifest, written last.
    /// Every file in `shards` must have been written already.
    pub fn publish(
        &self,
        iteration: u64,
        process: usize,
        header: &CheckpointHeader,
        shards: Vec<ShardRecord>,
    ) -> Result<(), CheckpointError> {
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            iteration,
            process,
            header: header.clone(),
            shards,
        };
        let path = self.manifest_file(iteration, process);
        let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
        write_atomic(&path, |out| out.write_all(&text))
            .map_err(|e| CheckpointError::io(&path, std::io::Error::other(e.to_string())))
    }

    /// Iterations of the generations in the directory, complete or not, in increasing order.
    fn generations(&self) -> Result<Vec<u64>, CheckpointError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CheckpointError::io(&self.root, e)),
        };
        let mut iterations = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CheckpointError::io(&self.root, e))?;
            let name = entry.file_name();
            let Some(digits) = name
                .to_str()
                .and_then(|n| n.strip_prefix(GENERATION_PREFIX))
            else {
                continue;
            };
            if let Ok(iteration) = digits.parse::<u64>() {
                iterations.push(iteration);
            }
        }
        iterations.sort_unstable();
        Ok(iterations)
    }

    /// Whether the directory holds any generation (complete or not).
    pub fn holds_checkpoints(&self) -> Result<bool, CheckpointError> {
        Ok(!self.generations()?.is_empty())
    }

    /// The iterations whose generation is complete for `process` (its manifest and every file
    /// it lists, with the right size and checksum), in increasing order. A generation without
    /// a manifest is skipped (a write was interrupted); a manifest written for another app,
    /// shape or computation than `expected` is an [`CheckpointError::Incompatible`] error, and
    /// a damaged manifest, or a listed file that is missing or does not match it, is a
    /// [`CheckpointError::Corrupt`] or [`CheckpointError::Io`] error naming the file (files are
    /// renamed into place before the manifest, so only damage after the fact does that).
    pub fn complete_iterations(
        &self,
        process: usize,
        expected: &CheckpointHeader,
    ) -> Result<Vec<u64>, CheckpointError> {
        let mut complete = Vec::new();
        for iteration in self.generations()? {
            let path = self.manifest_file(iteration, process);
            let text = match std::fs::read(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CheckpointError::io(&path, e)),
            };
            let manifest = self.read_manifest(&path, &text, iteration, process)?;
            if let Some(difference) = expected.first_difference(&manifest.header) {
                return Err(CheckpointError::Incompatible { path, difference });
            }
            for shard in &manifest.shards {
                self.read_checked(iteration, shard)?;
            }
            complete.push(iteration);
        }
        Ok(complete)
    }

    fn read_manifest(
        &self,
        path: &Path,
        text: &[u8],
        iteration: u64,
        process: usize,
    ) -> Result<Manifest, CheckpointError> {
        let manifest: Manifest = serde_json::from_slice(text).map_err(|e| {
            CheckpointError::corrupt(path, format!("not a checkpoint manifest: {e}"))
        })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(CheckpointError::corrupt(
                path,
                format!(
                    "checkpoint format {} (this build reads format {FORMAT_VERSION})",
                    manifest.format_version
                ),
            ));
        }
        if manifest.iteration != iteration || manifest.process != process {
            return Err(CheckpointError::corrupt(
                path,
                format!(
                    "the manifest is of iteration {} and process {}, not of its directory's",
                    manifest.iteration, manifest.process
                ),
            ));
        }
        Ok(manifest)
    }

    /// `worker`'s state at `iteration`, checked against `process`'s manifest.
    pub fn read_worker(
        &self,
        iteration: u64,
        process: usize,
        worker: usize,
    ) -> Result<Vec<u8>, CheckpointError> {
        let path = self.manifest_file(iteration, process);
        let text = std::fs::read(&path).map_err(|e| CheckpointError::io(&path, e))?;
        let manifest = self.read_manifest(&path, &text, iteration, process)?;
        let shard = manifest
            .shards
            .iter()
            .find(|s| s.worker == worker)
            .ok_or_else(|| {
                CheckpointError::corrupt(&path, format!("the manifest lists no worker {worker}"))
            })?;
        self.read_checked(iteration, shard)
    }

    fn read_checked(
        &self,
        iteration: u64,
        shard: &ShardRecord,
    ) -> Result<Vec<u8>, CheckpointError> {
        let path = self.worker_file(iteration, shard.worker);
        let bytes = std::fs::read(&path).map_err(|e| CheckpointError::io(&path, e))?;
        if bytes.len() as u64 != shard.bytes || fnv1a64_hex(&bytes) != shard.fnv1a64 {
            return Err(CheckpointError::corrupt(
                &path,
                format!(
                    "{} bytes with checksum {}, but the manifest says {} bytes with checksum {}",
                    bytes.len(),
                    fnv1a64_hex(&bytes),
                    shard.bytes,
                    shard.fnv1a64
                ),
            ));
        }
        Ok(bytes)
    }

    /// Removes the generations before `iteration` (best effort: one that cannot be removed
    /// stays, and is skipped later). Never a later one: in a directory that several processes
    /// share, a faster process may already be writing the next generation.
    pub fn remove_older_than(&self, iteration: u64) {
        self.remove_where(|other| other < iteration);
    }

    /// Removes the generations after `iteration` (best effort), e.g. those of a run that went
    /// on past the checkpoint a new run resumes.
    pub fn remove_newer_than(&self, iteration: u64) {
        self.remove_where(|other| other > iteration);
    }

    /// Removes the generation of `iteration` (best effort): one whose writing failed, which
    /// would only hold space.
    pub fn remove_generation(&self, iteration: u64) {
        self.remove_where(|other| other == iteration);
    }

    fn remove_where(&self, remove: impl Fn(u64) -> bool) {
        for other in self.generations().unwrap_or_default() {
            if remove(other) {
                let _ = std::fs::remove_dir_all(self.generation(other));
            }
        }
    }
}

/// The 64-bit FNV-1a hash of `bytes`, in hex.
pub fn fnv1a64_hex(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> CheckpointHeader {
        CheckpointHeader {
            app: "lasso".into(),
            processes: 1,
            threads: 2,
            fingerprint: vec![("--lambda-ratio".into(), "0.1".into())],
        }
    }

    fn write_generation(dir: &CheckpointDir, iteration: u64, fill: u8) {
        let shards = (0..2)
            .map(|w| dir.write_worker(iteration, w, &[fill; 100]).unwrap())
            .collect();
        dir.publish(iteration, 0, &header(), shards).unwrap();
    }

    #[test]
    fn a_published_generation_reads_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(root.path());
        write_generation(&dir, 10, 7);
        assert_eq!(dir.complete_iterations(0, &header()).unwrap(), vec![10]);
        assert_eq!(dir.read_worker(10, 0, 1).unwrap(), vec![7; 100]);
    }

    /// What a `kill -9` while writing generation 20 leaves: a directory with some worker files
    /// (or temporaries) and no manifest. Generation 10 is still the one to resume.
    #[test]
    fn an_interrupted_write_leaves_the_previous_generation_usable() {
        let root = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(root.path());
        write_generation(&dir, 10, 7);
        dir.write_worker(20, 0, &[9; 100]).unwrap();
        std::fs::write(dir.generation(20).join(".worker-1.bin.abc.tmp"), [1, 2]).unwrap();
        assert_eq!(dir.complete_iterations(0, &header()).unwrap(), vec![10]);
        assert_eq!(dir.read_worker(10, 0, 0).unwrap(), vec![7; 100]);
    }

    /// A write that failed (a full disk) removes its own generation only.
    #[test]
    fn removing_a_failed_generation_keeps_the_previous_one() {
        let root = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(root.path());
        write_generation(&dir, 10, 7);
        dir.write_worker(20, 0, &[9; 100]).unwrap();
        dir.remove_generation(20);
        assert!(!dir.generation(20).exists());
        assert_eq!(dir.complete_iterations(0, &header()).unwrap(), vec![10]);
        assert_eq!(dir.read_worker(10, 0, 0).unwrap(), vec![7; 100]);
    }

    #[test]
    fn a_damaged_worker_file_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(root.path());
        write_generation(&dir, 10, 7);
        std::fs::write(dir.worker_file(10, 1), [7; 99]).unwrap();
        let error = dir
            .complete_iterations(0, &header())
            .unwrap_err()
            .to_string();
        assert!(error.contains("worker-1.bin"), "{error}");
        assert!(error.contains("99 bytes"), "{error}");
        std::fs::write(dir.worker_file(10, 1), [8; 100]).unwrap();
        let error = dir.read_worker(10, 0, 1).unwrap_err().to_string();
        assert!(error.contains("checksum"), "{error}");
    }

    #[test]
    fn a_manifest_of_another_computation_names_the_difference() {
        let root = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(root.path());
        write_generation(&dir, 10, 7);
        let mut other = header();
        other.fingerprint[0].1 = "0.2".into();
        let error = dir.complete_iterations(0, &other).unwrap_err().to_string();
        assert!(
            error.contains("--lambda-ratio 0.1, this run has 0.2"),
            "{error}"
        );
        let mut other = header();
        other.threads = 1;
        let error = dir.complete_iterations(0, &other).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("a run of 2 worker threads per process, this run has 1"),
            "{message}"
        );
        assert!(!message.contains("--"), "names a flag: {message}");
        match error {
            CheckpointError::Incompatible { difference, .. } => assert_eq!(
                difference,
                HeaderDifference {
                    item: HeaderItem::Threads,
                    written: "2".into(),
                    this_run: "1".into(),
                }
            ),
            other => panic!("not an incompatible checkpoint: {other}"),
        }
        let mut other = header();
        other.processes = 3;
        let message = dir.complete_iterations(0, &other).unwrap_err().to_string();
        assert!(
            message.contains("a run of 1 process, this run has 3"),
            "{message}"
        );
    }

    #[test]
    fn a_garbled_manifest_is_corrupt() {
        let root = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(root.path());
        write_generation(&dir, 10, 7);
        std::fs::write(dir.manifest_file(10, 0), b"{\"format_version\": 1").unwrap();
        let error = dir
            .complete_iterations(0, &header())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("process-0.json: not a checkpoint manifest"),
            "{error}"
        );
    }

    #[test]
    fn removing_older_or_newer_generations_keeps_the_others() {
        let root = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(root.path());
        for (iteration, fill) in [(10, 7), (20, 8), (30, 9)] {
            write_generation(&dir, iteration, fill);
        }
        dir.remove_older_than(20);
        assert_eq!(dir.complete_iterations(0, &header()).unwrap(), vec![20, 30]);
        dir.remove_newer_than(20);
        assert_eq!(dir.complete_iterations(0, &header()).unwrap(), vec![20]);
        assert!(dir.holds_checkpoints().unwrap());
    }
}
