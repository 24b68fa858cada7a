//! A trained model: the factors with the original ids, predictions, and the factor files.

use std::io::Write;
use std::path::{Path, PathBuf};

use strads_engine::{EngineError, Worker};
use strads_io::{write_atomic, DataError};

use super::kernels::dot;
use super::Local;

/// The factors of every user and item, by dense index, with their original ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Rank of the factors.
    pub rank: usize,
    /// Original id of each user.
    pub user_ids: Vec<String>,
    /// Original id of each item.
    pub item_ids: Vec<String>,
    /// W, users x rank, row-major.
    pub w: Vec<f64>,
    /// H, items x rank, row-major.
    pub h: Vec<f64>,
    /// Mean training rating: the prediction when the user or the item is unknown.
    pub global_mean: f64,
}

impl Model {
    /// Scores `(user, item)` pairs of original ids: `w_u . h_i`, or the global mean when either
    /// id is not in the training set. Returns the scores and how many pairs were unknown.
    pub fn predict(&self, pairs: &[(String, String)]) -> (Vec<f64>, usize) {
        let index = |ids: &[String]| -> std::collections::HashMap<String, usize> {
            ids.iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect()
        };
        let (users, items) = (index(&self.user_ids), index(&self.item_ids));
        let k = self.rank;
        let mut unknown = 0;
        let scores = pairs
            .iter()
            .map(|(u, i)| match (users.get(u), items.get(i)) {
                (Some(&u), Some(&i)) => {
                    dot(&self.w[u * k..(u + 1) * k], &self.h[i * k..(i + 1) * k])
                }
                _ => {
                    unknown += 1;
                    self.global_mean
                }
            })
            .collect();
        (scores, unknown)
    }

    /// Writes the model as a set: `PREFIX.users` and `PREFIX.items` (lines `id f_1 ... f_rank`,
    /// shortest round-trip decimals), then the manifest `PREFIX.json` (rank, global mean,
    /// counts, `meta`, and each factor file's size and FNV-1a checksum), each atomically.
    ///
    /// The manifest is written last and the old one is removed first, so at every moment either
    /// `PREFIX.json` is absent (a write in progress or interrupted) or it describes the factor
    /// files beside it, which [`check_set`] verifies. Returns the paths.
    pub fn write(
        &self,
        prefix: &Path,
        meta: &serde_json::Value,
    ) -> Result<Vec<PathBuf>, DataError> {
        let k = self.rank;
        let write_rows = |path: &Path, ids: &[String], rows: &[f64]| {
            let mut digest = Digest::default();
            write_atomic(path, |out| {
                let mut line = Vec::new();
                for (r, id) in ids.iter().enumerate() {
                    line.clear();
                    line.extend_from_slice(id.as_bytes());
                    for x in &rows[r * k..(r + 1) * k] {
                        write!(line, " {x}")?;
                    }
                    line.push(b'\n');
                    digest.update(&line);
                    out.write_all(&line)?;
                }
                Ok(())
            })
            .map(|()| digest)
        };
        let (users, items, json) = set_paths(prefix);
        // No manifest while the factor files change: an interrupted write leaves none.
        match std::fs::remove_file(strads_io::resolve_symlinks(&json)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DataError::io(&json, e)),
        }
        let users_digest = write_rows(&users, &self.user_ids, &self.w)?;
        let items_digest = write_rows(&items, &self.item_ids, &self.h)?;
        let mut meta = meta.clone();
        if let Some(object) = meta.as_object_mut() {
            object.insert("rank".into(), k.into());
            object.insert("global_mean".into(), self.global_mean.into());
            object.insert("users".into(), self.user_ids.len().into());
            object.insert("items".into(), self.item_ids.len().into());
            object.insert(
                "files".into(),
                serde_json::json!({
                    "users": users_digest.describe(&users),
                    "items": items_digest.describe(&items),
                }),
            );
        }
        write_atomic(&json, |out| {
            serde_json::to_writer_pretty(&mut *out, &meta)?;
            out.write_all(b"\n")
        })?;
        Ok(vec![users, items, json])
    }
}

/// `PREFIX.users`, `PREFIX.items` and `PREFIX.json`.
pub fn set_paths(prefix: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |suffix: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    (path(".users"), path(".items"), path(".json"))
}

/// Checks that the model files at `prefix` form a complete set: the manifest `PREFIX.json`
/// exists and `PREFIX.users` and `PREFIX.items` have the sizes and checksums it records.
pub fn check_set(prefix: &Path) -> Result<(), DataError> {
    let (users, items, json) = set_paths(prefix);
    let text = std::fs::read(&json).map_err(|e| DataError::io(&json, e))?;
    let manifest: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| DataError::invalid(&json, format!("not a model manifest: {e}")))?;
    for (key, path) in [("users", &users), ("items", &items)] {
        let recorded = &manifest["files"][key];
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let mut digest = Digest::default();
        digest.update(&bytes);
        if digest.describe(path) != *recorded {
            return Err(DataError::invalid(
                path,
                format!(
                    "does not match the manifest {} ({} bytes, checksum {}; the manifest \
                     records {recorded}): the set was not written together",
                    json.display(),
                    digest.bytes,
                    digest.hex()
                ),
            ));
        }
    }
    Ok(())
}

/// Size and 64-bit FNV-1a hash of a file's bytes.
#[derive(Clone, Copy, Debug)]
struct Digest {
    bytes: u64,
    hash: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            bytes: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl Digest {
    fn update(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        for &byte in data {
            self.hash = (self.hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    /// The manifest's record of the file `path`.
    fn describe(&self, path: &Path) -> serde_json::Value {
        serde_json::json!({
            "name": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "bytes": self.bytes,
            "fnv1a64": self.hex(),
        })
    }
}

/// The whole of W and H, row-major.
pub type Factors = (Vec<f64>, Vec<f64>);

/// Sends every worker's W and H rows to worker 0, which returns the whole of W and H (blocks are
/// contiguous and in worker order). Done once, at the end.
pub fn gather(worker: &mut Worker<'_>, local: &Local) -> Result<Option<Factors>, EngineError> {
    let peers = worker.peers();
    let mut outgoing = vec![(Vec::new(), Vec::new()); peers];
    outgoing[0] = (local.w.clone(), local.h.clone());
    let incoming: Vec<(Vec<f64>, Vec<f64>)> = worker.all_to_all(&outgoing)?;
    if !worker.is_leader() {
        return Ok(None);
    }
    let (mut w, mut h) = (Vec::new(), Vec::new());
    for (wp, hp) in incoming {
        w.extend(wp);
        h.extend(hp);
    }
    Ok(Some((w, h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(rank: usize, value: f64) -> Model {
        Model {
            rank,
            user_ids: vec!["u1".into(), "u2".into()],
            item_ids: vec!["i1".into()],
            w: vec![value; 2 * rank],
            h: vec![value; rank],
            global_mean: 3.0,
        }
    }

    #[test]
    fn the_manifest_is_written_last_and_describes_the_set() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("m");
        let meta = serde_json::json!({"algo": "ccd"});
        model(2, 0.5).write(&prefix, &meta).unwrap();
        check_set(&prefix).unwrap();
        let (users, items, json) = set_paths(&prefix);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(manifest["rank"], 2);
        assert_eq!(manifest["files"]["users"]["name"], "m.users");

        // Factor files from another model beside this manifest (as a crash between two renames
        // of an unordered writer would leave) are detected.
        let other = dir.path().join("other");
        model(3, 0.25).write(&other, &meta).unwrap();
        std::fs::copy(set_paths(&other).1, &items).unwrap();
        let error = check_set(&prefix).unwrap_err().to_string();
        assert!(error.contains("does not match the manifest"), "{error}");

        // An interrupted rewrite leaves no manifest: here the items file cannot be written.
        model(2, 0.5).write(&prefix, &meta).unwrap();
        std::fs::remove_file(&items).unwrap();
        std::fs::create_dir(&items).unwrap();
        assert!(model(4, 1.0).write(&prefix, &meta).is_err());
        assert!(!json.exists(), "a manifest beside a partial set");
        assert!(check_set(&prefix).is_err());
        assert!(users.exists());
    }
}
