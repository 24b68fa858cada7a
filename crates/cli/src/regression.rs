//! `strads lasso` and `strads logreg`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;
use strads_apps::sparse_regression::{
    solve, solving_threads, ColumnsOptions, DataSource, Layout, LayoutKind, LossKind, Penalty,
    RegressionParams, RowsOptions, Solution, StopReason,
};
use strads_core::{SchedulerKind, SchedulerParams};
use strads_engine::ClusterConfig;
use strads_io::{
    generate_regression, write_coefficients, write_libsvm_cache, LibsvmCache, RegressionSpec, Task,
};

use crate::checkpoint_args::CheckpointArgs;
use crate::cluster_args::{Agreement, ClusterArgs};
use crate::failure::{app_bad_input, app_failure, bad_input, Failure};
use crate::files::{check_output_space, prepare_cache, Files};
use crate::flags::Given;
use crate::progress::regression_progress;
use crate::trace_output::write_trace;
use crate::training::{run_training, Prepared};

/// Input formats for X.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Guess from the file name: `.mtx` is MatrixMarket, anything else libsvm.
    Auto,
    /// libsvm / svmlight: `label index:value ...`.
    Libsvm,
    /// MatrixMarket coordinate (needs --labels).
    Mm,
}

/// Flags of `strads lasso` and `strads logreg`.
#[derive(Args, Clone, Debug)]
pub struct RegressionArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    /// Training data; without it, an embedded generated problem is solved.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Format of --data [default: auto].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Labels, one per line, for a MatrixMarket --data.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// A binary cache of a libsvm --data: read instead of --data when it was made from --data
    /// as it is now (each worker reads only the rows its byte range of --data holds);
    /// otherwise, on one process, --data is parsed whole and the cache written (atomically)
    /// for the next runs. A truncated or corrupt cache is an error.
    #[arg(long, value_name = "FILE", requires = "data")]
    pub cache: Option<PathBuf>,
    /// Feature indices in the libsvm file start at 0 instead of 1.
    #[arg(long)]
    pub zero_based: bool,
    /// The l1 penalty lambda.
    #[arg(long, conflicts_with = "lambda_ratio", allow_negative_numbers = true)]
    pub lambda: Option<f64>,
    /// lambda = RATIO * lambda_max (lasso: ||X^T y||_inf; logreg: ||X^T y||_inf / 2) [default: 0.1].
    #[arg(long, value_name = "RATIO", allow_negative_numbers = true)]
    pub lambda_ratio: Option<f64>,
    /// Stop when the duality gap <= TOL * objective.
    #[arg(long, default_value_t = RegressionParams::default().tol, allow_negative_numbers = true)]
    pub tol: f64,
    /// Stop after this many passes over the coordinates.
    #[arg(long, default_value_t = RegressionParams::default().max_passes, allow_negative_numbers = true)]
    pub max_iters: f64,
    /// Stop after this many seconds of solving.
    #[arg(long, default_value_t = RegressionParams::default().max_seconds, allow_negative_numbers = true)]
    pub max_seconds: f64,
    /// How X is split over the workers. The flags from --scheduler to --inner-passes apply to
    /// `rows` only, --local-passes to `columns` only (the default, the faster at every
    /// benchmark lambda, README "Performance").
    #[arg(long, value_enum, default_value_t = RegressionParams::default().layout.kind())]
    pub layout: LayoutKind,
    /// Column layout: passes over each worker's working set per round [default: enough that a
    /// round's sweeping outweighs its exchange of the residual's change; 1 for big working sets].
    #[arg(long, value_name = "N")]
    pub local_passes: Option<u32>,
    /// Column layout, one process: an X of at most N entries (bounded by the file's size: its
    /// bytes / 4 for libsvm) is solved on one worker thread, whose single block converges in
    /// fewer rounds than the threads' blocks and pays no exchange; 0 keeps every thread.
    #[arg(long, value_name = "N", default_value_t = ColumnsOptions::default().single_worker_entries)]
    pub single_worker_entries: u64,
    /// Rows layout: which coordinates each round updates [default: priority].
    #[arg(long)]
    pub scheduler: Option<SchedulerKind>,
    /// Rows layout: candidates per round (U'); rounds grow up to 256 candidates while more than 256 x U'
    /// coordinates are moving [default: lasso 256 (plus its sweep share; its inner passes make a
    /// big round as good as as many sequential steps); logreg 64 in one process, 256 across
    /// processes, where every round pays two network latencies and bigger rounds amortise them].
    #[arg(long)]
    pub schedule_size: Option<usize>,
    /// Rows layout: dependency filter: never two coordinates with |corr| >= RHO in one round (1 disables)
    /// [default: 1 for lasso with inner passes, whose sequential steps need no filter; otherwise
    /// 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub rho: Option<f64>,
    /// Rows layout: priority floor: coordinate j is drawn with probability proportional to
    /// (delta b_j)^2 + eta, with eta = ETA x the largest squared step predicted at the last
    /// duality-gap evaluation [default: 1e-9].
    #[arg(long, allow_negative_numbers = true)]
    pub eta: Option<f64>,
    /// Rows layout: up to STALENESS + 1 rounds in flight (0 = bulk synchronous) [default: 0].
    #[arg(long)]
    pub staleness: Option<u64>,
    /// How often the duality gap is evaluated. Columns layout: at most GAP_EVERY evaluations'
    /// work of sweeping between two evaluations (earlier once the working set's subproblem has
    /// converged, but at least 3 evaluations' work apart). Rows layout: an evaluation (which
    /// also refreshes the priorities from the full gradient) every GAP_EVERY x max(working set,
    /// d/20) coordinate updates; the working set is the coordinates that are nonzero or were
    /// predicted to move at the last evaluation. The defaults are the best measured over the
    /// benchmark problem's lambdas (README, Performance): lasso's rounds sweep the working set,
    /// so its evaluations can be rarer than logreg's, whose refreshed priorities are worth more
    /// than the evaluation's pass over X [default: columns 20; rows: lasso 2, logreg 0.25].
    #[arg(long, allow_negative_numbers = true)]
    pub gap_every: Option<f64>,
    /// Rows layout: do not screen out coordinates with the gap-safe rule (screening is exact: it only removes
    /// coordinates that are provably zero at the optimum).
    #[arg(long)]
    pub no_screening: bool,
    /// Rows layout, priority scheduler: each round also takes SHARE x its size in candidates from a cyclic
    /// sweep over the working set, so that a coordinate whose neighbours moved after its own last
    /// step is not left waiting for the next priority refresh (0 disables) [default: lasso 16,
    /// so a lasso round is 256 coordinates by priority and 4096 from the sweep, the fastest
    /// measured at every lambda of the benchmark; logreg 0.25].
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub sweep_share: Option<f64>,
    /// Rows layout, lasso only: step each round's candidates one after another, each seeing the earlier
    /// steps through the candidates' Gram entries (exactly sequential coordinate descent), and
    /// repeat over them up to N passes while a pass still gains a thousandth of the first
    /// (0 = parallel steps from the round's gradients, as in STRADS) [default: 4].
    #[arg(long, value_name = "N")]
    pub inner_passes: Option<usize>,
    /// Random seed (scheduler, embedded problem).
    #[arg(long, default_value_t = RowsOptions::default().scheduler.seed)]
    pub seed: u64,
    /// Write the nonzero coefficients as `index value` lines (1-based).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write one JSON line per duality-gap evaluation.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print one JSON summary line on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

/// The embedded default problem: correlated groups, a sparse truth, a few seconds to solve.
fn embedded_spec(loss: LossKind, seed: u64) -> RegressionSpec {
    RegressionSpec {
        rows: 20_000,
        cols: 50_000,
        nnz_per_row: 20,
        support: 200,
        noise: 0.1,
        seed,
        corr: 0.5,
        group: 5,
        task: match loss {
            LossKind::Squared => Task::Lasso,
            LossKind::Logistic => Task::Logreg,
        },
    }
}

/// Runs the subcommand.
pub fn run(loss: LossKind, args: RegressionArgs, given: &Given) -> Result<(), Failure> {
    let cluster = args.cluster.config()?;
    let is_output_process = cluster.process == 0;
    let prepare = |cluster: &ClusterConfig| -> Result<_, Failure> {
        check_layout_flags(&args, given)?;
        check_input_flags(&args, given)?;
        Files::new()
            .input("--data", args.data.as_deref())
            .input("--labels", args.labels.as_deref())
            .input("--hosts", args.cluster.hosts.as_deref())
            .input("--secret-file", args.cluster.secret_file.as_deref())
            .output("--out", args.out.as_deref())
            .output("--trace", args.trace.as_deref())
            .check(is_output_process)?;
        args.checkpoint.check(&[
            ("--data", args.data.as_deref()),
            ("--labels", args.labels.as_deref()),
            ("--out", args.out.as_deref()),
            ("--trace", args.trace.as_deref()),
        ])?;
        // Without --data, every process generates the same embedded problem (it is seeded).
        let mut embedded_dir = None;
        let data = match &args.data {
            Some(path) => source_for(path, &args),
            None => {
                let dir = tempfile::tempdir()
                    .context("creating a temporary directory for the embedded problem")?;
                let path = dir
                    .path()
                    .join(format!("embedded-{}.libsvm", loss.app_name()));
                generate_regression(&embedded_spec(loss, args.seed), &path).map_err(bad_input)?;
                embedded_dir = Some(dir);
                Ok(DataSource::Libsvm {
                    path,
                    zero_based: false,
                })
            }
        }?;
        let (data, cache_use) = match (&args.cache, data) {
            (Some(cache), DataSource::Libsvm { path, zero_based }) => {
                let options = strads_io::LibsvmOptions {
                    zero_based,
                    ..Default::default()
                };
                let used = prepare_cache(
                    cache,
                    cluster.processes(),
                    LibsvmCache::open,
                    |reader| reader.check_source(&path, zero_based),
                    "make it first with one process (the same command without `strads launch`)",
                    || write_libsvm_cache(&path, &options, cache).map(drop),
                )?;
                let data = DataSource::Libsvm {
                    path: cache.clone(),
                    zero_based,
                };
                (data, Some(used))
            }
            (Some(_), _) => {
                return Err(bad_input(anyhow::anyhow!(
                    "--cache applies to a libsvm --data, not to a MatrixMarket one"
                )))
            }
            (None, data) => (data, None),
        };
        // The library's tuned defaults for this loss, layout and cluster, where no flag was
        // given.
        let tuned = RegressionParams::tuned(loss, args.layout, cluster.processes());
        let mut params = RegressionParams {
            loss,
            data,
            penalty: match (args.lambda, args.lambda_ratio) {
                (Some(lambda), _) => Penalty::Absolute(lambda),
                (None, Some(ratio)) => Penalty::Ratio(ratio),
                (None, None) => tuned.penalty,
            },
            tol: args.tol,
            max_passes: args.max_iters,
            max_seconds: args.max_seconds,
            gap_every: args.gap_every.unwrap_or(tuned.gap_every),
            layout: layout(loss, &args, tuned.layout),
            checkpointing: Default::default(),
        };
        strads_apps::sparse_regression::validate(&params).map_err(app_bad_input)?;
        let mut agreement = agreement(loss, &args, &params, cluster);
        params.checkpointing =
            args.checkpoint
                .checkpointing_agreed(loss.app_name(), cluster, &mut agreement)?;
        Ok(Prepared {
            params: (params, embedded_dir, cache_use),
            agreement,
        })
    };
    run_training(
        cluster,
        prepare,
        regression_progress,
        |cluster, (params, ..), hooks| {
            solve(cluster, params, hooks).map_err(|error| app_failure(error, is_output_process))
        },
        |cluster, (params, _embedded_dir, cache_use), solution, seconds| {
            finish(loss, &args, &params, cluster, &solution, seconds, cache_use)
        },
    )
}

/// On process 0 after solving: the coefficients and trace files and the summary.
fn finish(
    loss: LossKind,
    args: &RegressionArgs,
    params: &RegressionParams,
    cluster: &ClusterConfig,
    solution: &Solution,
    seconds: f64,
    cache_use: Option<&'static str>,
) -> Result<(), Failure> {
    let diverged = solution.stop == StopReason::Diverged;
    if diverged && diverged_at_start(solution) {
        return Err(bad_input(anyhow::anyhow!(
            "the objective at b = 0 is {}: the data's values are too large for double \
             precision (the labels' squares overflow); rescale them",
            solution.objective
        )));
    }
    // A diverged run's coefficients mean nothing: only its trace is written, to show how.
    if let (Some(path), false) = (&args.out, diverged) {
        // A line is at most 32 bytes (`index value`, the value in 17 significant digits).
        check_output_space("--out", path, solution.nnz() as u64 * 32)?;
        write_coefficients(path, &solution.coefficients)?;
    }
    if let Some(path) = &args.trace {
        write_trace(path, &solution.trace)?;
    }
    // The summary reports the threads that solved (one for a small problem).
    let solving_cluster = ClusterConfig {
        threads: solving_threads(params, cluster),
        ..cluster.clone()
    };
    print_summary(
        loss,
        args,
        params,
        &solving_cluster,
        solution,
        seconds,
        cache_use,
    )?;
    if diverged {
        return Err(divergence(solution));
    }
    Ok(())
}

/// Whether the objective was already infinite or NaN at b = 0, where only the data decides it.
fn diverged_at_start(solution: &Solution) -> bool {
    solution
        .trace
        .first()
        .is_some_and(|first| !first.objective.is_finite())
}

/// The failure of a run whose objective became infinite or NaN (or rose a thousandfold) while
/// solving: a runtime failure (exit status 1).
fn divergence(solution: &Solution) -> Failure {
    Failure {
        code: 1,
        error: anyhow::anyhow!(
            "the run diverged: the objective became {} after {:.1} passes; no coefficients \
             were written (in the rows layout, lower --rho or --schedule-size; or rescale \
             values too large for double precision)",
            solution.objective,
            solution.iterations
        ),
    }
}

/// What the processes of a cluster must agree on: every resolved parameter and the inputs'
/// sizes (the outputs, written by process 0 alone, need not agree).
fn agreement(
    loss: LossKind,
    args: &RegressionArgs,
    params: &RegressionParams,
    cluster: &strads_engine::ClusterConfig,
) -> Vec<(String, String)> {
    let mut items = Agreement::new(cluster, loss.app_name());
    match (&args.data, &params.data) {
        (None, _) => items.item("--data", "the embedded problem"),
        (Some(_), DataSource::Libsvm { path, zero_based }) => items
            .item("--format", "libsvm")
            .file("--data", Some(path))
            .item("--zero-based", zero_based),
        (Some(_), DataSource::MatrixMarket { matrix, labels }) => items
            .item("--format", "mm")
            .file("--data", Some(matrix))
            .file("--labels", Some(labels)),
        // The CLI reads files only.
        (Some(_), DataSource::InMemory(_)) => items.item("--data", "rows in memory"),
        (Some(_), DataSource::InMemoryColumns(_)) => items.item("--data", "columns in memory"),
    };
    match params.penalty {
        Penalty::Absolute(lambda) => items.number("--lambda", lambda),
        Penalty::Ratio(ratio) => items.number("--lambda-ratio", ratio),
    };
    // Every layout's options, the other layout's at their tuned defaults, so that the items (and
    // so the fingerprints of checkpoints written before the options moved into the layouts) are
    // the same as when every option was a parameter of its own.
    let (rows, columns) = match &params.layout {
        Layout::Rows(rows) => (rows.clone(), ColumnsOptions::default()),
        Layout::Columns(columns) => {
            let mut rows = RowsOptions::tuned(loss, cluster.processes());
            rows.scheduler.seed = args.seed;
            (rows, *columns)
        }
    };
    items
        .number("--tol", params.tol)
        .number("--max-iters", params.max_passes)
        .number("--max-seconds", params.max_seconds)
        .item("--layout", format!("{:?}", params.layout.kind()))
        .item("--local-passes", columns.local_passes)
        .item("--scheduler", format!("{:?}", rows.scheduler.kind))
        .item("--schedule-size", rows.scheduler.schedule_size)
        .number("--eta", rows.scheduler.eta)
        .item("--seed", rows.scheduler.seed)
        .number("--rho", rows.rho)
        .item("--staleness", rows.staleness)
        .number("--gap-every", params.gap_every)
        .item("--no-screening", !rows.screening)
        .number("--sweep-share", rows.sweep_share)
        .item("--inner-passes", rows.inner_passes);
    items.into_items()
}

/// Whether --data is MatrixMarket (by --format, else by the `.mtx` extension).
fn is_matrix_market(path: &std::path::Path, format: Option<Format>) -> bool {
    match format.unwrap_or(Format::Auto) {
        Format::Mm => true,
        Format::Libsvm => false,
        Format::Auto => path.extension().is_some_and(|e| e == "mtx"),
    }
}

/// Fails on input flags that the data's format (or the embedded problem) would ignore.
fn check_input_flags(args: &RegressionArgs, given: &Given) -> Result<(), Failure> {
    let Some(path) = &args.data else {
        return given.reject(
            &["--format", "--labels", "--zero-based"],
            "to a --data file (without one, the embedded problem is solved)",
        );
    };
    if is_matrix_market(path, args.format) {
        given.reject(
            &["--zero-based"],
            "to libsvm --data (MatrixMarket indices are 1-based by definition)",
        )
    } else {
        given.reject(
            &["--labels"],
            "to a MatrixMarket --data (a libsvm file holds its labels; use --format mm for a \
             MatrixMarket file without the .mtx extension)",
        )
    }
}

fn source_for(path: &std::path::Path, args: &RegressionArgs) -> Result<DataSource, Failure> {
    let is_mm = is_matrix_market(path, args.format);
    if is_mm {
        let labels = args.labels.clone().ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "a MatrixMarket --data needs --labels FILE (one label per row)"
            ))
        })?;
        Ok(DataSource::MatrixMarket {
            matrix: path.to_owned(),
            labels,
        })
    } else {
        Ok(DataSource::Libsvm {
            path: path.to_owned(),
            zero_based: args.zero_based,
        })
    }
}

fn print_summary(
    loss: LossKind,
    args: &RegressionArgs,
    params: &RegressionParams,
    cluster: &strads_engine::ClusterConfig,
    solution: &Solution,
    seconds: f64,
    cache_use: Option<&str>,
) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    if args.json {
        // The rows layout's scheduling (null for the column layout, which has none of it).
        let rows = match &params.layout {
            Layout::Rows(rows) => Some(rows),
            Layout::Columns(_) => None,
        };
        let rows_only = |value: &dyn Fn(&RowsOptions) -> serde_json::Value| {
            rows.map_or(serde_json::Value::Null, value)
        };
        let mut summary = json!({
            "app": loss.app_name(),
            "objective": solution.objective,
            "duality_gap": solution.duality_gap,
            "relative_gap": solution.duality_gap / solution.objective.abs().max(f64::MIN_POSITIVE),
            "nnz": solution.nnz(),
            "iterations": solution.iterations,
            "rounds": solution.rounds,
            "converged": solution.converged(),
            "stop_reason": solution.stop,
            "seconds": seconds,
            "load_seconds": solution.load_seconds,
            "solve_seconds": solution.solve_seconds,
            "lambda": solution.lambda,
            "lambda_max": solution.lambda_max,
            "rows": solution.rows,
            "cols": solution.cols,
            "nonzeros": solution.nonzeros,
            "workers": cluster.workers(),
            "processes": cluster.processes(),
            "threads": cluster.threads,
            "layout": params.layout.kind(),
            "scheduler": rows_only(&|rows| json!(rows.scheduler.kind.to_string())),
            "schedule_size": rows_only(&|rows| json!(rows.scheduler.schedule_size)),
            "rho": rows_only(&|rows| json!(rows.rho)),
            "staleness": rows_only(&|rows| json!(rows.staleness)),
            "tol": args.tol,
            "active_coordinates": solution.active,
            "averaged_rounds": match params.layout {
                Layout::Rows(_) => serde_json::Value::Null,
                Layout::Columns(_) => json!(solution.averaged_rounds),
            },
        });
        // Per round: what a round exchanges is what a user sizes a network by.
        crate::resources::add_resources(&mut summary, cluster.threads, solution.rounds as f64);
        crate::resources::add_process_figures(&mut summary, &solution.processes, "nonzeros_held");
        // Whether --cache was read or written (null without it).
        summary["cache"] = json!(cache_use);
        writeln!(stdout, "{summary}")?;
    } else {
        let verdict = if solution.converged() {
            format!(
                "converged: duality gap {:.3e} <= {:.0e} x objective",
                solution.duality_gap, args.tol
            )
        } else {
            format!(
                "did NOT converge ({:?}): duality gap {:.3e} > {:.0e} x objective",
                solution.stop, solution.duality_gap, args.tol
            )
        };
        writeln!(
            stdout,
            "{}: {} x {} ({} nonzeros), lambda {:.6e} ({:.3e} x lambda_max)",
            loss.app_name(),
            solution.rows,
            solution.cols,
            solution.nonzeros,
            solution.lambda,
            solution.lambda / solution.lambda_max
        )?;
        writeln!(
            stdout,
            "objective {:.12e}, {} nonzero coefficients",
            solution.objective,
            solution.nnz()
        )?;
        writeln!(stdout, "{verdict}")?;
        writeln!(
            stdout,
            "{:.1} passes, {} rounds ({} layout); load {:.3} s, solve {:.3} s, total {:.3} s on {} worker(s) in {} process(es)",
            solution.iterations,
            solution.rounds,
            match params.layout {
                Layout::Rows(_) => "rows",
                Layout::Columns(_) => "column",
            },
            solution.load_seconds,
            solution.solve_seconds,
            seconds,
            cluster.workers(),
            cluster.processes()
        )?;
    }
    if !solution.converged() && !args.json {
        eprintln!("warning: stopped before the duality gap reached the tolerance");
    }
    Ok(())
}

/// Fails on flags that the chosen layout would ignore.
fn check_layout_flags(args: &RegressionArgs, given: &Given) -> Result<(), Failure> {
    if args.local_passes == Some(0) {
        return Err(bad_input(anyhow::anyhow!(
            "--local-passes must be at least 1 (leave it out for the automatic choice)"
        )));
    }
    match args.layout {
        LayoutKind::Columns => given.reject(
            &[
                "--scheduler",
                "--schedule-size",
                "--rho",
                "--eta",
                "--staleness",
                "--no-screening",
                "--sweep-share",
                "--inner-passes",
            ],
            "to --layout rows",
        ),
        LayoutKind::Rows => given.reject(
            &["--local-passes", "--single-worker-entries"],
            "to --layout columns",
        ),
    }
}

/// The layout of --layout with its options from their flags (`tuned`, the library's tuned
/// options for this loss, layout and cluster, where none was given; [`check_layout_flags`] has
/// rejected the flags of the other layout).
fn layout(loss: LossKind, args: &RegressionArgs, tuned: Layout) -> Layout {
    match tuned {
        Layout::Rows(tuned) => {
            let inner_passes = args.inner_passes.unwrap_or(tuned.inner_passes);
            Layout::Rows(RowsOptions {
                scheduler: SchedulerParams {
                    kind: args.scheduler.unwrap_or(tuned.scheduler.kind),
                    schedule_size: args.schedule_size.unwrap_or(tuned.scheduler.schedule_size),
                    eta: args.eta.unwrap_or(tuned.scheduler.eta),
                    seed: args.seed,
                },
                // Without inner passes the lasso needs the filter again.
                rho: args
                    .rho
                    .unwrap_or(RowsOptions::tuned_rho(loss, inner_passes)),
                staleness: args.staleness.unwrap_or(tuned.staleness),
                screening: !args.no_screening,
                sweep_share: args.sweep_share.unwrap_or(tuned.sweep_share),
                inner_passes,
            })
        }
        Layout::Columns(tuned) => Layout::Columns(ColumnsOptions {
            local_passes: args.local_passes.unwrap_or(tuned.local_passes),
            single_worker_entries: args.single_worker_entries,
        }),
    }
}
