//! `strads mf`: matrix factorisation of a ratings file.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;
use strads_apps::mf::model::set_paths;
use strads_apps::mf::{
    solve, Algorithm, AlgorithmKind, AlsOptions, CcdOptions, Init, MfParams, MfSolution,
    RegScaling, SgdOptions,
};
use strads_engine::ClusterConfig;
use strads_io::{
    generate_ratings, read_pairs, write_atomic, write_ratings_cache, RatingsCache, RatingsFormat,
    RatingsSpec,
};

use crate::checkpoint_args::CheckpointArgs;
use crate::cluster_args::{Agreement, ClusterArgs};
use crate::failure::{app_failure, bad_input, Failure};
use crate::files::{check_output_space, prepare_cache, Files};
use crate::flags::Given;
use crate::progress::mf_progress;
use crate::trace_output::write_trace;
use crate::training::{run_training, Prepared};

/// Flags of `strads mf`.
#[derive(Args, Clone, Debug)]
pub struct MfArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    /// Training ratings; without it, an embedded generated problem (2000 users, 1000 items,
    /// 100 000 ratings of rank 10 plus noise 0.1) is factorised.
    #[arg(long, value_name = "FILE")]
    pub train: Option<PathBuf>,
    /// Test ratings, scored after every iteration (ids not in --train are predicted with the
    /// global mean and counted as `unseen_test_ratings`).
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// A binary cache of --train: read instead of --train when it was made from --train as it
    /// is now (each worker reads only its part of it); otherwise, on one process, --train is
    /// parsed whole and the cache written (atomically) for the next runs. A truncated or
    /// corrupt cache is an error.
    #[arg(long, value_name = "FILE", requires = "train")]
    pub cache: Option<PathBuf>,
    /// Layout of --train, --test [default: auto].
    #[arg(long, value_enum)]
    pub format: Option<RatingsFormat>,
    /// Solver.
    #[arg(long, value_enum, default_value_t = MfParams::default().algorithm.kind())]
    pub algo: AlgorithmKind,
    /// Rank of the factors.
    #[arg(long, default_value_t = MfParams::default().rank)]
    pub rank: usize,
    /// The penalty lambda in sum (r_ij - w_i.h_j)^2 + lambda (sum c_i ||w_i||^2 + sum c_j ||h_j||^2).
    #[arg(long, default_value_t = MfParams::default().lambda, allow_negative_numbers = true)]
    pub lambda: f64,
    /// The penalty weights c.
    #[arg(long, value_enum, default_value_t = MfParams::default().reg_scaling)]
    pub reg_scaling: RegScaling,
    /// Iterations (epochs for sgd).
    #[arg(long, default_value_t = MfParams::default().iterations)]
    pub iters: usize,
    /// Stop after the iteration during which this many seconds of solving passed.
    #[arg(long, default_value_t = MfParams::default().max_seconds, allow_negative_numbers = true)]
    pub max_seconds: f64,
    /// CCD++ inner iterations: how many times each rank-one term (w_t, then h_t) is updated in a
    /// row before the next; an iteration then costs INNER times as much [default: 1; ccd only].
    #[arg(long)]
    pub inner: Option<usize>,
    /// ALS's first extrapolation step beta: before each W half H moves on to
    /// H + beta (H - previous H), kept only where the objective does not rise (beta then grows,
    /// otherwise that W half is redone from H and beta halves). 0 is plain ALS [default: 1; als
    /// only].
    #[arg(long, allow_negative_numbers = true)]
    pub als_extrapolation: Option<f64>,
    /// How ccd and als start (sgd always starts from random W and H) [default: spectral].
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    /// Subspace-iteration steps of --init spectral (each is one pass over the ratings on each
    /// side, and one more orders the columns). Default: 3 for als, 2 for ccd, each the fastest
    /// to a given test RMSE on the benchmark problem (with 3 ALS gets there one iteration
    /// sooner; CCD++ gains nothing).
    #[arg(long)]
    pub init_steps: Option<usize>,
    /// SGD step size of the first epoch; epoch e (from 0) uses LR / (1 + LR_DECAY e)
    /// [default: 0.05; sgd only].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// SGD step-size decay (see --lr) [default: 0.1; sgd only].
    #[arg(long, allow_negative_numbers = true)]
    pub lr_decay: Option<f64>,
    /// SGD: compute the objective and RMSEs (and write a trace line) at the start, after every
    /// N-th epoch and after the last, instead of after every epoch (an evaluation costs about a
    /// quarter of an epoch; SGD needs none to go on) [default: 1; sgd only].
    #[arg(long, value_name = "N")]
    pub eval_every: Option<NonZeroUsize>,
    /// Random seed (initial factors, SGD order, embedded problem).
    #[arg(long, default_value_t = MfParams::default().seed)]
    pub seed: u64,
    /// Write the factors with their original ids to PREFIX.users and PREFIX.items (lines
    /// `id f_1 ... f_rank`) and PREFIX.json (rank, global mean, settings).
    #[arg(long, value_name = "PREFIX")]
    pub out_prefix: Option<PathBuf>,
    /// Score the `user item` pairs of FILE with the trained model (needs --predictions-out).
    #[arg(long, value_name = "FILE", requires = "predictions_out")]
    pub predict: Option<PathBuf>,
    /// Where to write `user item prediction` lines for --predict.
    #[arg(long, value_name = "FILE", requires = "predict")]
    pub predictions_out: Option<PathBuf>,
    /// Write one JSON line per iteration (iteration, seconds, objective, rmse_train, rmse_test).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print one JSON summary line on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

/// Fails on flags that the chosen algorithm or input would ignore, and on out-of-range numbers.
fn check_flags(args: &MfArgs, given: &Given) -> Result<(), Failure> {
    if args.train.is_none() {
        given.reject(
            &["--format", "--test"],
            "to a --train file (without one, the embedded problem is factorised)",
        )?;
    }
    if args.algo != AlgorithmKind::Sgd {
        given.reject(&["--lr", "--lr-decay", "--eval-every"], "to --algo sgd")?;
    } else {
        given.reject(
            &["--init", "--init-steps"],
            "to --algo ccd and als (sgd starts from random W and H)",
        )?;
    }
    if args.algo != AlgorithmKind::Ccd {
        given.reject(&["--inner"], "to --algo ccd")?;
    }
    if args.algo != AlgorithmKind::Als {
        given.reject(&["--als-extrapolation"], "to --algo als")?;
    }
    if args.init == Some(Init::Random) {
        given.reject(&["--init-steps"], "to --init spectral")?;
    }
    if args.init_steps == Some(0) {
        return Err(bad_input(anyhow::anyhow!(
            "--init-steps must be at least 1 (for a random start use --init random)"
        )));
    }
    if args.predict.is_some() && args.predictions_out.is_none() {
        return Err(bad_input(anyhow::anyhow!(
            "--predict needs --predictions-out FILE"
        )));
    }
    Ok(())
}

/// The solver of --algo with its options from their flags (the library's defaults where none
/// was given; [`check_flags`] has rejected the flags of the other solvers).
fn algorithm(args: &MfArgs) -> Algorithm {
    match args.algo {
        AlgorithmKind::Ccd => Algorithm::Ccd(CcdOptions {
            inner_iterations: args.inner.unwrap_or(CcdOptions::default().inner_iterations),
        }),
        AlgorithmKind::Als => Algorithm::Als(AlsOptions {
            extrapolation: args
                .als_extrapolation
                .unwrap_or(AlsOptions::default().extrapolation),
        }),
        AlgorithmKind::Sgd => {
            let defaults = SgdOptions::default();
            Algorithm::Sgd(SgdOptions {
                learning_rate: args.lr.unwrap_or(defaults.learning_rate),
                learning_rate_decay: args.lr_decay.unwrap_or(defaults.learning_rate_decay),
                evaluate_every: args.eval_every.unwrap_or(defaults.evaluate_every),
            })
        }
    }
}

/// Runs the subcommand.
pub fn run(args: MfArgs, given: &Given) -> Result<(), Failure> {
    let cluster = args.cluster.config()?;
    let is_output_process = cluster.process == 0;
    let prepare = |cluster: &ClusterConfig| -> Result<_, Failure> {
        check_flags(&args, given)?;
        let model_files = args.out_prefix.as_deref().map(set_paths);
        Files::new()
            .input("--train", args.train.as_deref())
            .input("--test", args.test.as_deref())
            .input("--predict", args.predict.as_deref())
            .input("--hosts", args.cluster.hosts.as_deref())
            .input("--secret-file", args.cluster.secret_file.as_deref())
            .output(
                "--out-prefix (.users)",
                model_files.as_ref().map(|f| f.0.as_path()),
            )
            .output(
                "--out-prefix (.items)",
                model_files.as_ref().map(|f| f.1.as_path()),
            )
            .output(
                "--out-prefix (.json)",
                model_files.as_ref().map(|f| f.2.as_path()),
            )
            .output("--predictions-out", args.predictions_out.as_deref())
            .output("--trace", args.trace.as_deref())
            .check(is_output_process)?;
        args.checkpoint.check(&[
            ("--train", args.train.as_deref()),
            ("--test", args.test.as_deref()),
            ("--predict", args.predict.as_deref()),
            ("--predictions-out", args.predictions_out.as_deref()),
            ("--trace", args.trace.as_deref()),
        ])?;
        // Without --train, every process generates the same embedded problem (it is seeded).
        let mut embedded_dir = None;
        let (train, test) = match &args.train {
            Some(path) => (path.clone(), args.test.clone()),
            None => {
                let dir = tempfile::tempdir()
                    .context("creating a temporary directory for the embedded problem")?;
                let spec = RatingsSpec {
                    users: 2000,
                    items: 1000,
                    ratings: 100_000,
                    rank: 10,
                    noise: 0.1,
                    skew: 0.5,
                    test_fraction: 0.1,
                    seed: args.seed,
                };
                let summary =
                    generate_ratings(&spec, &dir.path().join("embedded")).map_err(bad_input)?;
                embedded_dir = Some(dir);
                (summary.train_path, Some(summary.test_path))
            }
        };
        let (train, cache_use) = match &args.cache {
            Some(cache) => {
                let format = args.format.unwrap_or(RatingsFormat::Auto);
                let make_first = format!(
                    "make it first with one process: `strads mf --train {} --cache {} --iters 1`",
                    train.display(),
                    cache.display()
                );
                let used = prepare_cache(
                    cache,
                    cluster.processes(),
                    RatingsCache::open,
                    |reader| reader.check_source(&train, format),
                    &make_first,
                    || write_ratings_cache(&train, format, cluster.threads, cache).map(drop),
                )?;
                (cache.clone(), Some(used))
            }
            None => (train, None),
        };
        // The library's defaults where no flag was given.
        let defaults = MfParams::default();
        let mut params = MfParams {
            train,
            train_in_memory: None,
            test,
            format: args.format.unwrap_or(defaults.format),
            algorithm: algorithm(&args),
            rank: args.rank,
            lambda: args.lambda,
            reg_scaling: args.reg_scaling,
            iterations: args.iters,
            init: args.init.unwrap_or(defaults.init),
            init_steps: args
                .init_steps
                .unwrap_or(MfParams::tuned_init_steps(args.algo)),
            max_seconds: args.max_seconds,
            seed: args.seed,
            collect_model: args.out_prefix.is_some() || args.predict.is_some(),
            checkpointing: Default::default(),
        };
        let mut agreement = agreement(&args, &params, cluster);
        params.checkpointing = args.checkpoint.checkpointing_agreed(
            &format!("mf {}", params.algorithm.name()),
            cluster,
            &mut agreement,
        )?;
        Ok(Prepared {
            params: (params, embedded_dir, cache_use),
            agreement,
        })
    };
    run_training(
        cluster,
        prepare,
        mf_progress,
        |cluster, (params, ..), hooks| {
            solve(cluster, params, hooks).map_err(|error| app_failure(error, is_output_process))
        },
        |cluster, (params, _embedded_dir, cache_use), solution, seconds| {
            finish(&args, &params, cluster, &solution, seconds, cache_use)
        },
    )
}

/// On process 0 after solving: the factor files, the predictions, the trace and the summary.
fn finish(
    args: &MfArgs,
    params: &MfParams,
    cluster: &ClusterConfig,
    solution: &MfSolution,
    seconds: f64,
    cache_use: Option<&'static str>,
) -> Result<(), Failure> {
    let mut unknown_predictions = None;
    if let Some(model) = &solution.model {
        if let Some(prefix) = &args.out_prefix {
            // A factor is at most 25 bytes of text (ryu's shortest form and a separator), plus
            // an id per row.
            let factors = (model.w.len() + model.h.len()) as u64;
            let rows = (model.user_ids.len() + model.item_ids.len()) as u64;
            check_output_space("--out-prefix", prefix, factors * 25 + rows * 24)?;
            let meta = json!({
                "algo": params.algorithm.name(),
                "lambda": params.lambda,
                "reg_scaling": params.reg_scaling,
                "init": params.init,
                "init_steps": params.init_steps,
                "iterations": solution.last.iteration,
                "train": args.train.as_ref().unwrap_or(&params.train).display().to_string(),
            });
            model.write(prefix, &meta)?;
        }
        if let (Some(input), Some(output)) = (&args.predict, &args.predictions_out) {
            let pairs = read_pairs(input).map_err(bad_input)?;
            let (scores, unknown) = model.predict(&pairs);
            write_atomic(output, |w| {
                for ((u, i), s) in pairs.iter().zip(&scores) {
                    writeln!(w, "{u} {i} {s}")?;
                }
                Ok(())
            })?;
            unknown_predictions = Some(unknown);
        }
    }
    if let Some(path) = &args.trace {
        write_trace(path, &solution.trace)?;
    }
    print_summary(
        args,
        params,
        cluster,
        solution,
        seconds,
        unknown_predictions,
        cache_use,
    )?;
    if solution.diverged {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!(
                "the objective became infinite or NaN at iteration {} (for sgd, lower --lr)",
                solution.last.iteration
            ),
        });
    }
    Ok(())
}

fn print_summary(
    args: &MfArgs,
    params: &MfParams,
    cluster: &strads_engine::ClusterConfig,
    solution: &MfSolution,
    seconds: f64,
    unknown_predictions: Option<usize>,
    cache_use: Option<&str>,
) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    let last = &solution.last;
    if args.json {
        let mut summary = json!({
            "app": "mf",
            "algo": params.algorithm.name(),
            "rank": params.rank,
            "lambda": params.lambda,
            "reg_scaling": params.reg_scaling,
            "init": params.init,
            "init_steps": params.init_steps,
            "iterations": last.iteration,
            "objective": last.objective,
            "rmse_train": last.rmse_train,
            "rmse_test": last.rmse_test,
            "seconds": seconds,
            "load_seconds": solution.load_seconds,
            "solve_seconds": solution.solve_seconds,
            "seconds_per_iteration": solution.solve_seconds / last.iteration.max(1) as f64,
            "workers": cluster.workers(),
            "processes": cluster.processes(),
            "threads": cluster.threads,
            "users": solution.users,
            "items": solution.items,
            "train_ratings": solution.train_ratings,
            "test_ratings": solution.test_ratings,
            "unseen_test_ratings": solution.unseen_test_ratings,
            "global_mean": solution.global_mean,
            "diverged": solution.diverged,
            "unknown_predictions": unknown_predictions,
            "cache": cache_use,
        });
        crate::resources::add_resources(&mut summary, cluster.threads, last.iteration as f64);
        crate::resources::add_process_figures(&mut summary, &solution.processes, "ratings_held");
        // The user and item ids each process numbered and holds (every id once over all).
        summary["ids_held_per_process"] = json!(solution.ids_held);
        writeln!(stdout, "{summary}")?;
    } else {
        writeln!(
            stdout,
            "mf ({}): {} users x {} items, {} training ratings, rank {}, lambda {} ({})",
            params.algorithm.name(),
            solution.users,
            solution.items,
            solution.train_ratings,
            params.rank,
            params.lambda,
            args.reg_scaling
                .to_possible_value()
                .expect("named")
                .get_name(),
        )?;
        writeln!(
            stdout,
            "objective {:.12e}, rmse train {:.6} after {} iterations",
            last.objective, last.rmse_train, last.iteration
        )?;
        if let Some(rmse) = last.rmse_test {
            writeln!(
                stdout,
                "rmse test {rmse:.6} on {} ratings ({} with an unseen user or item, predicted with the global mean {:.4})",
                solution.test_ratings, solution.unseen_test_ratings, solution.global_mean
            )?;
        }
        if let Some(unknown) = unknown_predictions {
            writeln!(
                stdout,
                "predictions written ({unknown} pairs with an unknown id got the global mean)"
            )?;
        }
        writeln!(
            stdout,
            "load {:.3} s, solve {:.3} s, total {:.3} s on {} worker(s) in {} process(es)",
            solution.load_seconds,
            solution.solve_seconds,
            seconds,
            cluster.workers(),
            cluster.processes()
        )?;
    }
    Ok(())
}

/// What the processes of a cluster must agree on: every resolved parameter, the inputs' sizes,
/// and whether the model is gathered on process 0 (for --out-prefix or --predict).
fn agreement(
    args: &MfArgs,
    params: &MfParams,
    cluster: &strads_engine::ClusterConfig,
) -> Vec<(String, String)> {
    let mut items = Agreement::new(cluster, "mf");
    match &args.train {
        None => items.item("--train", "the embedded problem"),
        Some(train) => items
            .file("--train", Some(train))
            .file("--test", args.test.as_deref()),
    };
    // Every solver's options, the other solvers' at their defaults, so that the items (and so
    // the fingerprints of checkpoints written before the options moved into the solvers) are
    // the same as when every option was a parameter of its own.
    let (ccd, sgd) = match params.algorithm {
        Algorithm::Ccd(ccd) => (ccd, SgdOptions::default()),
        Algorithm::Als(_) => (CcdOptions::default(), SgdOptions::default()),
        Algorithm::Sgd(sgd) => (CcdOptions::default(), sgd),
    };
    items
        .item("--format", format!("{:?}", params.format))
        .item("--algo", format!("{:?}", args.algo))
        .item("--rank", params.rank)
        .number("--lambda", params.lambda)
        .item("--reg-scaling", format!("{:?}", args.reg_scaling))
        .item("--iters", params.iterations)
        .number("--max-seconds", params.max_seconds)
        .item("--inner", ccd.inner_iterations)
        .item("--init", format!("{:?}", params.init))
        .item("--init-steps", params.init_steps)
        .number("--lr", sgd.learning_rate)
        .number("--lr-decay", sgd.learning_rate_decay)
        .item("--seed", params.seed)
        .item(
            "model gathered on process 0 (--out-prefix or --predict)",
            params.collect_model,
        );
    // Every process must evaluate after the same epochs (an evaluation is collective). The item
    // is there only when the option is, so that the fingerprints of checkpoints written before
    // it existed stay the same; it does not change the answer, only the trace.
    if sgd.evaluate_every != SgdOptions::default().evaluate_every {
        items.item("--eval-every", sgd.evaluate_every);
    }
    // Every process must extrapolate alike (its decisions are collective).
    if let Algorithm::Als(als) = params.algorithm {
        items.number("--als-extrapolation", als.extrapolation);
    }
    items.into_items()
}
