//! The one skeleton every training subcommand runs (`lasso`/`logreg`, `mf`, `lda`, `mlr`,
//! `word2vec`), so that each of them prepares, forms, stops and reports the same way:
//!
//! ```text
//! prepare (flags, files, data, parameters, agreement) --fails--> told to the peers, exit 2
//!    | + the panic hook of a cluster, the SIGINT/SIGTERM handler
//! form the cluster with the agreement -> solve with the stop request and a progress bar
//!    -> process 0: finish (outputs, summary) -> exit 128 + signal if a signal stopped it
//! ```
//!
//! A subcommand writes only its own steps (`prepare`, `solve`, `finish`); the order, the
//! failure before formation, the hooks and the exit status of an interrupted run are here.

use indicatif::ProgressBar;
use strads_apps::runner::{Hooks, Observer};
use strads_engine::ClusterConfig;

use crate::checkpoint_args::{install_stop_on_signals, interrupted};
use crate::cluster_args::fail_before_formation;
use crate::failure::{install_exit_on_failure, Failure};

/// What `prepare` returns: the subcommand's parameters (with whatever must live as long as the
/// run, e.g. an embedded problem's directory) and what every process must agree on.
pub struct Prepared<P> {
    pub params: P,
    pub agreement: Vec<(String, String)>,
}

/// Runs a training subcommand on `cluster`:
/// - `prepare` does everything before formation; its failure is reported to the peers;
/// - `progress(show)` makes the progress bar and its observer (shown on process 0 only);
/// - `solve` runs the library with the hooks, `Ok(None)` on processes other than 0;
/// - `finish` (process 0) writes the outputs and the summary, given the solve's seconds.
pub fn run_training<P, R, S>(
    cluster: ClusterConfig,
    prepare: impl FnOnce(&ClusterConfig) -> Result<Prepared<P>, Failure>,
    progress: impl FnOnce(bool) -> (Option<ProgressBar>, Option<Observer<R>>),
    solve: impl FnOnce(&ClusterConfig, &P, Hooks<R>) -> Result<Option<S>, Failure>,
    finish: impl FnOnce(&ClusterConfig, P, S, f64) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let is_output_process = cluster.process == 0;
    let before_formation = || -> Result<_, Failure> {
        let prepared = prepare(&cluster)?;
        if cluster.processes() > 1 {
            install_exit_on_failure(cluster.process);
        }
        // Installed last: until the run starts, a signal ends the process as usual.
        let stop_request = install_stop_on_signals()?;
        Ok((prepared, stop_request))
    };
    let (Prepared { params, agreement }, stop_request) = before_formation()
        .map_err(|failure| fail_before_formation(&cluster, is_output_process, failure))?;
    let cluster = cluster.with_agreement(agreement);
    let (bar, observer) = progress(is_output_process);
    let hooks = Hooks {
        stop: Some(stop_request.clone()),
        observer,
    };
    let started = std::time::Instant::now();
    let solution = solve(&cluster, &params, hooks)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(solution) = solution {
        finish(&cluster, params, solution, started.elapsed().as_secs_f64())?;
    }
    interrupted(Some(&stop_request))
}
