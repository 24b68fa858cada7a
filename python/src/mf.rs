//! Matrix factorisation of ratings in memory: the library's `mf::solve`, as `strads mf` calls
//! it, with the training ratings given as dense user and item indices.

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strads_apps::checkpoint::Checkpointing;
use strads_apps::mf::{solve, Algorithm, InMemoryRatings, Init, MfParams, RegScaling};
use strads_engine::ClusterConfig;
use strads_io::RatingsFormat;

use crate::convert::{app_error, to_py};
use crate::interrupt::run_interruptible;

/// Factorises the ratings `values[k]` of user `users[k]` for item `items[k]` (dense indices:
/// every index below the largest occurs). `algorithm` is "ccd", "als" or "sgd", `reg_scaling`
/// "none" or "count", `init` "spectral" or "random"; `init_steps` 0 means the CLI's default.
/// Returns a dict with `w` (users x rank, flattened row-major), `h` (items x rank), the
/// global mean, the last objective and RMSE, `diverged` and `trace` (one dict per iteration);
/// `on_progress(record)` is called after each iteration.
#[pyfunction]
#[pyo3(signature = (users, items, values, algorithm, rank, lam, reg_scaling, iterations,
    inner_iterations, init, init_steps, max_seconds, seed, learning_rate, learning_rate_decay,
    threads, on_progress))]
#[allow(clippy::too_many_arguments)]
pub fn fit_mf<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f64>,
    algorithm: &str,
    rank: usize,
    lam: f64,
    reg_scaling: &str,
    iterations: usize,
    inner_iterations: usize,
    init: &str,
    init_steps: usize,
    max_seconds: f64,
    seed: u64,
    learning_rate: f64,
    learning_rate_decay: f64,
    threads: usize,
    on_progress: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let algorithm = match algorithm {
        "ccd" => Algorithm::Ccd,
        "als" => Algorithm::Als,
        "sgd" => Algorithm::Sgd,
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
    let ratings = InMemoryRatings::new(
        users.as_slice()?.to_vec(),
        items.as_slice()?.to_vec(),
        values.as_slice()?.to_vec(),
    )
    .map_err(app_error)?;
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
        inner_iterations,
        init,
        // The CLI's defaults (README, "Matrix factorisation").
        init_steps: match (init_steps, algorithm) {
            (0, Algorithm::Als) => 3,
            (0, _) => 2,
            (steps, _) => steps,
        },
        max_seconds,
        seed,
        learning_rate,
        learning_rate_decay,
        collect_model: true,
        checkpointing: Checkpointing {
            stop_request: Some(stop.clone()),
            ..Default::default()
        },
    };
    let solution = run_interruptible(py, stop, &on_progress, move |progress| {
        let observer: strads_apps::mf::Observer = Arc::new(move |record| {
            progress.send(serde_json::to_value(record).unwrap_or_default());
        });
        solve(&ClusterConfig::threads(threads), &params, Some(observer))
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
    result.set_item("solve_seconds", solution.solve_seconds)?;
    result.set_item("trace", to_py(py, &solution.trace)?)?;
    Ok(result)
}
