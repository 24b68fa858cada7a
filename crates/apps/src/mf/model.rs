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

    /// Writes `PREFIX.users` and `PREFIX.items` (lines `id f_1 ... f_rank`, shortest round-trip
    /// decimals) and `PREFIX.json` (rank, global mean, counts), each atomically. Returns the paths.
    pub fn write(
        &self,
        prefix: &Path,
        meta: &serde_json::Value,
    ) -> Result<Vec<PathBuf>, DataError> {
        let path = |suffix: &str| {
            let mut name = prefix.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        let k = self.rank;
        let write_rows = |path: &Path, ids: &[String], rows: &[f64]| {
            write_atomic(path, |out| {
                for (r, id) in ids.iter().enumerate() {
                    out.write_all(id.as_bytes())?;
                    for x in &rows[r * k..(r + 1) * k] {
                        write!(out, " {x}")?;
                    }
                    out.write_all(b"\n")?;
                }
                Ok(())
            })
        };
        let (users, items, json) = (path(".users"), path(".items"), path(".json"));
        write_rows(&users, &self.user_ids, &self.w)?;
        write_rows(&items, &self.item_ids, &self.h)?;
        let mut meta = meta.clone();
        if let Some(object) = meta.as_object_mut() {
            object.insert("rank".into(), k.into());
            object.insert("global_mean".into(), self.global_mean.into());
            object.insert("users".into(), self.user_ids.len().into());
            object.insert("items".into(), self.item_ids.len().into());
        }
        write_atomic(&json, |out| {
            serde_json::to_writer_pretty(&mut *out, &meta)?;
            out.write_all(b"\n")
        })?;
        Ok(vec![users, items, json])
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
