//! Matrix factorisation of ratings in memory: the library's `mf::solve`, as `strads mf` calls
//! it, with the training ratings given as dense user and item indices.

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use numpy::ndarray::ArrayView1;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strads_apps::mf::{
    solve, Algorithm, AlsOptions, CcdOptions, InMemoryRatings, Init, MfParams, RegScaling,
    SgdOptions,
};
use strads_engine::ClusterConfig;
use strads_io::RatingsFormat;

use crate::convert::{app_error, to_py};
use crate::interrupt::run_interruptible;

/// Factorises the ratings `values[k]` of user `users[k]` for item `items[k]`. Each of `users`
/// and `items` is either a uint32 array of dense indices (every index below the largest occurs)
/// or an int64 array of ids in `0..=max_id` (any strides), numbered here in sorted order (the
/// CLI's order for integer ids) straight into the library's array: no numpy array of indices
/// and no copy of one. `algorithm` is "ccd", "als" or "sgd", `reg_scaling` "none" or "count",
/// `init` "spectral" or "random"; `init_steps` 0 means the CLI's default, and so does `None` for
/// `inner_iterations` (ccd), `als_extrapolation` (als), `learning_rate` and
/// `learning_rate_decay` (sgd).
/// Returns a dict with `w` (users x rank, flattened row-major), `h` (items x rank), the
/// global mean, the last objective and RMSE, `diverged`, `trace` (one dict per iteration),
/// `load_seconds` and `solve_seconds`, and `user_ids` / `item_ids` (the id of each index, int64)
/// for the sides given as ids; `on_progress(record)` is called after each iteration.
#[pyfunction]
#[pyo3(signature = (users, items, values, algorithm, rank, lam, reg_scaling, iterations,
    inner_iterations, init, init_steps, max_seconds, seed, learning_rate, learning_rate_decay,
    threads, on_progress, als_extrapolation=None))]
#[allow(clippy::too_many_arguments)]
pub fn fit_mf<'py>(
    py: Python<'py>,
    users: Bound<'py, PyAny>,
    items: Bound<'py, PyAny>,
    values: PyReadonlyArray1<'py, f64>,
    algorithm: &str,
    rank: usize,
    lam: f64,
    reg_scaling: &str,
    iterations: usize,
    inner_iterations: Option<usize>,
    init: &str,
    init_steps: usize,
    max_seconds: f64,
    seed: u64,
    learning_rate: Option<f64>,
    learning_rate_decay: Option<f64>,
    threads: usize,
    on_progress: Bound<'py, PyAny>,
    als_extrapolation: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let algorithm = match algorithm {
        // The other algorithms' options: strads.mf has rejected any that were given.
        "ccd" => Algorithm::Ccd(CcdOptions {
            inner_iterations: inner_iterations.unwrap_or(CcdOptions::default().inner_iterations),
        }),
        "als" => Algorithm::Als(AlsOptions {
            extrapolation: als_extrapolation.unwrap_or(AlsOptions::default().extrapolation),
        }),
        "sgd" => {
            let defaults = SgdOptions::default();
            Algorithm::Sgd(SgdOptions {
                learning_rate: learning_rate.unwrap_or(defaults.learning_rate),
                learning_rate_decay: learning_rate_decay.unwrap_or(defaults.learning_rate_decay),
                ..defaults
            })
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "algorithm must be 'ccd', 'als' or 'sgd', got {other:?}"
            )))
        }
    };
    let reg_scaling = match reg_scaling {
        "none" => RegScaling::None,
        "count" => RegScaling::Count,
        other => {
            return Err(PyValueError::new_err(format!(
                "reg_scaling must be 'none' or 'count', got {other:?}"
            )))
        }
    };
    let init = match init {
        "spectral" => Init::Spectral,
        "random" => Init::Random,
        other => {
            return Err(PyValueError::new_err(format!(
                "init must be 'spectral' or 'random', got {other:?}"
            )))
        }
    };
    if threads == 0 {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    let (users, items) = (
        SideArray::new(&users, "user")?,
        SideArray::new(&items, "item")?,
    );
    let (user_view, item_view, value_view) = (users.view(), items.view(), values.as_array());
    // The two sides' indices are numbered on two threads while this one copies the ratings
    // (the numpy arrays are only read, under the borrows taken above, with the GIL held).
    let (users, items, values) = std::thread::scope(|scope| {
        let users = scope.spawn(move || user_view.indices("user"));
        let items = scope.spawn(move || item_view.indices("item"));
        let values = value_view.to_vec();
        let join = |side: std::thread::ScopedJoinHandle<'_, _>| {
            side.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        (join(users), join(items), values)
    });
    let ((users, user_ids), (items, item_ids)) = (
        users.map_err(PyValueError::new_err)?,
        items.map_err(PyValueError::new_err)?,
    );
    let ratings = InMemoryRatings::new(users, items, values).map_err(app_error)?;
    let stop = Arc::new(AtomicUsize::new(0));
    let params = MfParams {
        train: PathBuf::from("<ratings in memory>"),
        train_in_memory: Some(ratings),
        test: None,
        format: RatingsFormat::Auto,
        algorithm,
        rank,
        lambda: lam,
        reg_scaling,
        iterations,
        init,
        // The CLI's defaults (README, "Matrix factorisation").
        init_steps: match init_steps {
            0 => MfParams::tuned_init_steps(algorithm.kind()),
            steps => steps,
        },
        max_seconds,
        seed,
        collect_model: true,
        checkpointing: Default::default(),
    };
    let solution = run_interruptible(py, stop.clone(), &on_progress, move |progress| {
        solve(
            &ClusterConfig::threads(threads),
            &params,
            progress.hooks(stop),
        )
    })?
    .map_err(app_error)?
    .ok_or_else(|| PyValueError::new_err("a single process returns the solution"))?;
    let model = solution
        .model
        .ok_or_else(|| PyValueError::new_err("the factors were not gathered"))?;
    // The model's ids are the dense indices as decimal tokens, in numeric order: row k of W is
    // user k. Checked, since the Python side relies on it.
    let in_order = |ids: &[String]| ids.iter().enumerate().all(|(k, id)| *id == k.to_string());
    if !in_order(&model.user_ids) || !in_order(&model.item_ids) {
        return Err(PyValueError::new_err(
            "user or item indices are not dense (every index below the largest must occur)",
        ));
    }
    let result = PyDict::new(py);
    result.set_item("w", PyArray1::from_vec(py, model.w))?;
    result.set_item("h", PyArray1::from_vec(py, model.h))?;
    result.set_item("n_users", model.user_ids.len())?;
    result.set_item("n_items", model.item_ids.len())?;
    result.set_item("global_mean", model.global_mean)?;
    result.set_item("objective", solution.last.objective)?;
    result.set_item("rmse_train", solution.last.rmse_train)?;
    result.set_item("iterations", solution.last.iteration)?;
    result.set_item("diverged", solution.diverged)?;
    result.set_item("load_seconds", solution.load_seconds)?;
    result.set_item("solve_seconds", solution.solve_seconds)?;
    if let Some(ids) = user_ids {
        result.set_item("user_ids", PyArray1::from_vec(py, ids))?;
    }
    if let Some(ids) = item_ids {
        result.set_item("item_ids", PyArray1::from_vec(py, ids))?;
    }
    result.set_item("trace", to_py(py, &solution.trace)?)?;
    Ok(result)
}

/// One side's indices as given: dense uint32 indices (copied), or int64 ids (any strides) to
/// number by [`number_by_table`].
enum SideArray<'py> {
    Dense(PyReadonlyArray1<'py, u32>),
    Ids(PyReadonlyArray1<'py, i64>),
}

/// A [`SideArray`]'s elements, readable from another thread.
#[derive(Clone, Copy)]
enum SideView<'a> {
    Dense(ArrayView1<'a, u32>),
    Ids(ArrayView1<'a, i64>),
}

impl<'py> SideArray<'py> {
    fn new(array: &Bound<'py, PyAny>, what: &str) -> PyResult<SideArray<'py>> {
        if let Ok(dense) = array.extract::<PyReadonlyArray1<'py, u32>>() {
            return Ok(SideArray::Dense(dense));
        }
        match array.extract::<PyReadonlyArray1<'py, i64>>() {
            Ok(ids) => Ok(SideArray::Ids(ids)),
            Err(_) => Err(PyValueError::new_err(format!(
                "{what} indices must be a 1-dimensional uint32 or int64 array"
            ))),
        }
    }

    fn view(&self) -> SideView<'_> {
        match self {
            SideArray::Dense(array) => SideView::Dense(array.as_array()),
            SideArray::Ids(array) => SideView::Ids(array.as_array()),
        }
    }
}

impl SideView<'_> {
    /// The library's dense indices, and for ids the id of each index.
    fn indices(self, what: &str) -> Result<(Vec<u32>, Option<Vec<i64>>), String> {
        match self {
            SideView::Dense(dense) => Ok((dense.to_vec(), None)),
            SideView::Ids(ids) => {
                let (codes, uniques) = number_by_table(ids.iter().copied(), what)?;
                Ok((codes, Some(uniques)))
            }
        }
    }
}

/// Numbers non-negative integer ids in sorted order by a table indexed by id: one pass marks
/// the ids present, one numbers the table, one looks every id up. Linear in the ratings and the
/// largest id (the caller hands over ids whose largest is within a small multiple of their
/// count); a hash map or a sort costs several times as much on millions of ratings.
fn number_by_table(
    ids: impl ExactSizeIterator<Item = i64> + Clone,
    what: &str,
) -> Result<(Vec<u32>, Vec<i64>), String> {
    let mut high = 0i64;
    for (row, id) in ids.clone().enumerate() {
        if id < 0 {
            return Err(format!(
                "{what} id at row {row} is {id}: ids numbered by table are non-negative"
            ));
        }
        high = high.max(id);
    }
    const ABSENT: u32 = u32::MAX;
    let mut code_of = vec![ABSENT; high as usize + 1];
    ids.clone().for_each(|id| code_of[id as usize] = 0);
    let mut uniques = Vec::new();
    for (id, code) in code_of.iter_mut().enumerate() {
        if *code != ABSENT {
            if uniques.len() >= ABSENT as usize {
                return Err(format!(
                    "more than {ABSENT} distinct {what} ids: more than 32-bit indices can number"
                ));
            }
            *code = uniques.len() as u32;
            uniques.push(id as i64);
        }
    }
    let codes = ids.map(|id| code_of[id as usize]).collect();
    Ok((codes, uniques))
}
