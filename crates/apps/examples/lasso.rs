//! Solve a generated Lasso problem on two worker threads and compare with the known truth.
//!
//! ```sh
//! cargo run --release -p strads-apps --example lasso
//! ```
//!
//! The same `solve` call runs on a cluster of processes when given
//! `ClusterConfig::cluster(threads, process, hosts)?.with_secret(secret)` (the job's shared
//! secret, the same in every process) instead of `ClusterConfig::threads(2)`.

use strads_apps::sparse_regression::{
    solve, DataSource, Layout, LossKind, Penalty, RegressionParams, RowsOptions,
};
use strads_apps::Hooks;
use strads_core::{SchedulerKind, SchedulerParams};
use strads_engine::ClusterConfig;
use strads_io::{generate_regression, read_coefficients, RegressionSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A problem with 50 true nonzero coefficients among 2000 columns, in groups of 5 correlated
    // columns (the case where the dependency filter matters).
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("train.libsvm");
    let spec = RegressionSpec {
        rows: 5000,
        cols: 2000,
        nnz_per_row: 20,
        support: 50,
        corr: 0.5,
        group: 5,
        ..RegressionSpec::default()
    };
    let generated = generate_regression(&spec, &path)?;

    let params = RegressionParams {
        checkpointing: Default::default(),
        loss: LossKind::Squared,
        data: DataSource::Libsvm {
            path,
            zero_based: false,
        },
        penalty: Penalty::Ratio(0.05),
        tol: 1e-8,
        max_passes: 1e4,
        max_seconds: 60.0,
        gap_every: 1.0,
        layout: Layout::Rows(RowsOptions {
            scheduler: SchedulerParams {
                kind: SchedulerKind::Priority,
                schedule_size: 32,
                eta: 1e-9,
                seed: 1,
            },
            // The CLI's lasso defaults: each round's candidates are stepped one after another
            // through their Gram entries (4 inner passes), so no dependency filter (rho 1) is
            // needed.
            rho: 1.0,
            staleness: 0,
            screening: true,
            sweep_share: 0.5,
            inner_passes: 4,
        }),
    };
    let solution = solve(&ClusterConfig::threads(2), &params, Hooks::default())?
        .expect("process 0 holds the answer");

    // How many of the true coefficients were found?
    let truth = read_coefficients(&generated.truth_path)?;
    let found = truth
        .iter()
        .filter(|(j, _)| solution.coefficients[*j as usize] != 0.0)
        .count();
    println!(
        "objective {:.6} (gap {:.1e}), {} nonzeros; {found} of the {} true coefficients found; {:.1} passes",
        solution.objective,
        solution.duality_gap,
        solution.nnz(),
        truth.len(),
        solution.iterations
    );
    Ok(())
}
