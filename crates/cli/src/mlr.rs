//! `strads mlr`: multinomial logistic regression on STRADS-AP (L-BFGS or mini-batch SGD), and
//! scoring a file with a saved model.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::json;
use strads_ap::{ApConfig, Consistency};
use strads_ap_apps::mlr::model::{classes_path, write_model};
use strads_ap_apps::mlr::{predict, train, Fit, LbfgsSettings, MlrParams, SgdSettings, Solver};
use strads_engine::ClusterConfig;

use crate::cluster_args::{fail_before_formation, Agreement, ClusterArgs};
use crate::failure::{ap_app_failure, Failure};
use crate::files::Files;
use crate::flags::Given;
use crate::progress::mlr_progress;
use crate::trace_output::write_trace;
use crate::training::{run_training, Prepared};

/// The solvers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SolverKind {
    /// L-BFGS on the full gradient, to --tol (exact).
    Lbfgs,
    /// Mini-batch SGD for --epochs.
    Sgd,
}

/// The library's defaults, which the flags' defaults are (the data path plays no part).
fn defaults() -> MlrParams {
    MlrParams::new(std::path::Path::new(""))
}

/// Flags of `strads mlr`.
#[derive(Args, Clone, Debug)]
pub struct MlrArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Training data: libsvm with integer class labels (any integers; mapped to classes in
    /// increasing order).
    #[arg(long, value_name = "FILE", required_unless_present = "predict")]
    pub data: Option<PathBuf>,
    /// Test data (libsvm): accuracy and log-loss at the end (after every epoch for SGD).
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// Feature indices in the libsvm files start at 0 instead of 1.
    #[arg(long)]
    pub zero_based: bool,
    /// The L2 penalty lambda (scikit-learn's C = 1 / lambda).
    #[arg(long, default_value_t = defaults().lambda, allow_negative_numbers = true)]
    pub lambda: f64,
    /// An L1 penalty l1 ||W||_1 added to the objective (L-BFGS becomes OWL-QN; SGD
    /// soft-thresholds after every mini-batch).
    #[arg(long, default_value_t = defaults().l1, allow_negative_numbers = true)]
    pub l1: f64,
    /// Fit an unpenalised intercept per class (default: none, as scikit-learn's
    /// fit_intercept=False).
    #[arg(long)]
    pub intercept: bool,
    /// The solver.
    #[arg(long, value_enum, default_value = "lbfgs")]
    pub solver: SolverKind,
    /// L-BFGS: stop when ||grad F|| <= TOL x max(1, ||grad F(0)||).
    #[arg(long, default_value_t = LbfgsSettings::default().tol, allow_negative_numbers = true)]
    pub tol: f64,
    /// L-BFGS: stop after this many iterations.
    #[arg(long, default_value_t = LbfgsSettings::default().max_iterations)]
    pub max_iters: usize,
    /// L-BFGS: (s, y) pairs kept.
    #[arg(long, default_value_t = LbfgsSettings::default().memory)]
    pub memory: usize,
    /// SGD: passes over the data.
    #[arg(long, default_value_t = SgdSettings::default().epochs)]
    pub epochs: usize,
    /// SGD: examples per worker in a mini-batch, after which the workers' changes are summed.
    #[arg(long, default_value_t = SgdSettings::default().batch)]
    pub batch: usize,
    /// SGD: first epoch's step size [default: 1 / mean ||x_i||^2].
    #[arg(long, allow_negative_numbers = true)]
    pub step: Option<f64>,
    /// SGD: epoch e's step is STEP / (1 + DECAY e) [default: 2, a compromise measured at 10
    /// epochs: on a generated problem 0.3% above the exact objective (0.5: 2%, 8: 0.03%), on
    /// digits 1 does best and larger decays worse].
    #[arg(long, default_value_t = SgdSettings::default().decay, allow_negative_numbers = true)]
    pub decay: f64,
    /// SGD: mini-batches a worker may run ahead of the others' changes (0: bulk synchronous,
    /// otherwise stale synchronous).
    #[arg(long, default_value_t = 0)]
    pub staleness: u32,
    /// SGD: seed of the per-epoch shuffles.
    #[arg(long, default_value_t = SgdSettings::default().seed)]
    pub seed: u64,
    /// Score this libsvm file with --model instead of training (labels that are classes of the
    /// model give accuracy and log-loss).
    #[arg(long, value_name = "FILE", requires = "model", conflicts_with_all = ["data", "test"])]
    pub predict: Option<PathBuf>,
    /// The model for --predict (written by --out; its classes in FILE.classes).
    #[arg(long, value_name = "FILE", requires = "predict")]
    pub model: Option<PathBuf>,
    /// Training: write the model (FILE, and the class labels to FILE.classes). With --predict:
    /// write one predicted label per line.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write one JSON line per L-BFGS iteration or SGD epoch.
    #[arg(long, value_name = "FILE", conflicts_with = "predict")]
    pub trace: Option<PathBuf>,
    /// Print one JSON summary line on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

/// The objective, as printed.
const OBJECTIVE: &str = "sum_i -log softmax(W x_i)_{y_i} + lambda/2 ||W||^2";

/// Runs the subcommand.
pub fn run(args: MlrArgs, given: &Given) -> Result<(), Failure> {
    let cluster = args.cluster.config()?;
    let is_output_process = cluster.process == 0;
    let check_files = || -> Result<(), Failure> {
        check_flags(&args, given)?;
        let classes_out = args
            .out
            .as_deref()
            .filter(|_| args.predict.is_none())
            .map(classes_path);
        Files::new()
            .input("--data", args.data.as_deref())
            .input("--test", args.test.as_deref())
            .input("--predict", args.predict.as_deref())
            .input("--model", args.model.as_deref())
            .input("--hosts", args.cluster.hosts.as_deref())
            .input("--secret-file", args.cluster.secret_file.as_deref())
            .output("--out", args.out.as_deref())
            .output("--out (.classes)", classes_out.as_deref())
            .output("--trace", args.trace.as_deref())
            .check(is_output_process)
    };
    if let (Some(data), Some(model)) = (&args.predict, &args.model) {
        // Scoring has no iteration to stop at: signals keep their default handling.
        let before_formation = || -> Result<(), Failure> {
            check_files()?;
            if cluster.processes() > 1 {
                crate::failure::install_exit_on_failure(cluster.process);
            }
            Ok(())
        };
        before_formation()
            .map_err(|failure| fail_before_formation(&cluster, is_output_process, failure))?;
        let items = agreement(&args, &cluster);
        let config = ApConfig::new(cluster.with_agreement(items));
        return score(&args, &config, data, model);
    }
    run_training(
        cluster,
        |cluster| {
            check_files()?;
            Ok(Prepared {
                params: params(&args),
                agreement: agreement(&args, cluster),
            })
        },
        mlr_progress,
        |cluster, params, hooks| {
            train(&ApConfig::new(cluster.clone()), params, hooks)
                .map_err(|e| ap_app_failure(e, is_output_process))
        },
        |cluster, _, fit, seconds| {
            if let Some(out) = &args.out {
                write_model(out, &fit.shape, &fit.classes, &fit.weights)?;
            }
            if let Some(path) = &args.trace {
                write_trace(path, &fit.trace)?;
            }
            print_summary(&args, cluster, &fit, seconds);
            Ok(())
        },
    )
}

/// `--predict` with `--model`: the predicted labels (to `--out`) and, when the file's labels are
/// classes of the model, the accuracy and log-loss.
fn score(args: &MlrArgs, config: &ApConfig, data: &Path, model: &Path) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let is_output_process = config.cluster.process == 0;
    let predictions = predict(config, model, data, args.zero_based)
        .map_err(|e| ap_app_failure(e, is_output_process))?;
    let Some(predictions) = predictions else {
        return Ok(());
    };
    if let Some(out) = &args.out {
        strads_io::write_atomic(out, |w| {
            for label in &predictions.labels {
                writeln!(w, "{label}")?;
            }
            Ok(())
        })?;
    }
    let metrics = predictions.metrics;
    if args.json {
        println!(
            "{}",
            json!({
                "examples": predictions.labels.len(),
                "accuracy": metrics.map(|m| m.accuracy),
                "log_loss": metrics.map(|m| m.log_loss),
                "seconds": started.elapsed().as_secs_f64(),
            })
        );
    } else {
        println!("predicted {} examples", predictions.labels.len());
        match metrics {
            Some(m) => println!("accuracy {:.6}, log-loss {:.6}", m.accuracy, m.log_loss),
            None => println!("(some labels are not classes of the model: no accuracy)"),
        }
    }
    Ok(())
}

/// The flags of training only.
const TRAINING_FLAGS: [&str; 13] = [
    "--lambda",
    "--l1",
    "--intercept",
    "--solver",
    "--tol",
    "--max-iters",
    "--memory",
    "--epochs",
    "--batch",
    "--step",
    "--decay",
    "--staleness",
    "--seed",
];

/// Fails on flags that the chosen solver, or scoring with --predict, would ignore.
fn check_flags(args: &MlrArgs, given: &Given) -> Result<(), Failure> {
    if args.predict.is_some() {
        return given.reject(&TRAINING_FLAGS, "to training (not to --predict)");
    }
    match args.solver {
        SolverKind::Lbfgs => given.reject(
            &[
                "--epochs",
                "--batch",
                "--step",
                "--decay",
                "--staleness",
                "--seed",
            ],
            "to --solver sgd",
        ),
        SolverKind::Sgd => given.reject(&["--tol", "--max-iters", "--memory"], "to --solver lbfgs"),
    }
}

fn params(args: &MlrArgs) -> MlrParams {
    let data = args
        .data
        .clone()
        .expect("clap requires --data without --predict");
    let solver = match args.solver {
        SolverKind::Lbfgs => Solver::Lbfgs(LbfgsSettings {
            memory: args.memory,
            tol: args.tol,
            max_iterations: args.max_iters,
        }),
        SolverKind::Sgd => Solver::Sgd(SgdSettings {
            epochs: args.epochs,
            batch: args.batch,
            step: args.step,
            decay: args.decay,
            consistency: match args.staleness {
                0 => Consistency::Bsp,
                s => Consistency::Ssp(s),
            },
            seed: args.seed,
        }),
    };
    MlrParams {
        data,
        test: args.test.clone(),
        zero_based: args.zero_based,
        lambda: args.lambda,
        l1: args.l1,
        intercept: args.intercept,
        solver,
        in_memory: None,
    }
}

/// What every process must agree on.
fn agreement(args: &MlrArgs, cluster: &strads_engine::ClusterConfig) -> Vec<(String, String)> {
    let mut items = Agreement::new(cluster, "mlr");
    items
        .file("--data", args.data.as_deref())
        .file("--test", args.test.as_deref())
        .file("--predict", args.predict.as_deref())
        .file("--model", args.model.as_deref())
        .item("--zero-based", args.zero_based)
        .number("--lambda", args.lambda)
        .number("--l1", args.l1)
        .item("--intercept", args.intercept)
        .item("--solver", format!("{:?}", args.solver))
        .number("--tol", args.tol)
        .item("--max-iters", args.max_iters)
        .item("--memory", args.memory)
        .item("--epochs", args.epochs)
        .item("--batch", args.batch)
        .item("--step", format!("{:?}", args.step))
        .number("--decay", args.decay)
        .item("--staleness", args.staleness)
        .item("--seed", args.seed);
    items.into_items()
}

fn print_summary(args: &MlrArgs, cluster: &ClusterConfig, fit: &Fit, seconds: f64) {
    let solver = match args.solver {
        SolverKind::Lbfgs => "lbfgs",
        SolverKind::Sgd => "sgd",
    };
    if args.json {
        let metric =
            |m: Option<strads_ap_apps::mlr::Metrics>,
             f: fn(&strads_ap_apps::mlr::Metrics) -> f64| m.as_ref().map(f);
        let mut summary = json!({
            "app": "mlr",
            "solver": solver,
            "objective": fit.objective,
            "gradient_norm": fit.gradient_norm,
            "iterations": fit.iterations,
            "stop": fit.stop,
            "lambda": args.lambda,
            "l1": args.l1,
            "intercept": args.intercept,
            "classes": fit.classes.labels(),
            "features": fit.shape.features,
            "rows": fit.rows,
            "nonzeros": fit.nonzeros,
            "train_accuracy": fit.train.accuracy,
            "train_log_loss": fit.train.log_loss,
            "test_accuracy": metric(fit.test, |m| m.accuracy),
            "test_log_loss": metric(fit.test, |m| m.log_loss),
            "load_seconds": fit.load_seconds,
            "solve_seconds": fit.solve_seconds,
            "seconds": seconds,
            "processes": cluster.processes(),
            "threads": cluster.threads,
        });
        crate::resources::add_resources(&mut summary, cluster.threads, fit.iterations as f64);
        crate::resources::add_process_figures(&mut summary, &fit.processes, "rows_held");
        println!("{summary}");
        return;
    }
    let classes: Vec<String> = fit
        .classes
        .labels()
        .iter()
        .enumerate()
        .map(|(k, label)| format!("{label}->{k}"))
        .collect();
    println!(
        "strads mlr ({solver}): {} examples, {} features, {} nonzeros, {} classes; lambda {}, {}",
        fit.rows,
        fit.shape.features,
        fit.nonzeros,
        fit.classes.len(),
        args.lambda,
        if args.intercept {
            "with unpenalised intercepts"
        } else {
            "no intercept"
        }
    );
    println!("classes (label->class): {}", classes.join(" "));
    let l1_term = if args.l1 > 0.0 {
        format!(" + l1 ||W||_1 (l1 {})", args.l1)
    } else {
        String::new()
    };
    println!("objective {OBJECTIVE}{l1_term} = {:.10e}", fit.objective);
    println!(
        "gradient norm {:.3e} after {} {} ({:?})",
        fit.gradient_norm,
        fit.iterations,
        if args.solver == SolverKind::Sgd {
            "epochs"
        } else {
            "iterations"
        },
        fit.stop
    );
    println!(
        "train: accuracy {:.6}, log-loss {:.6}",
        fit.train.accuracy, fit.train.log_loss
    );
    if let Some(test) = fit.test {
        println!(
            "test ({} examples): accuracy {:.6}, log-loss {:.6}",
            test.examples, test.accuracy, test.log_loss
        );
    }
    // This process's peak (process 0's, in a cluster of processes).
    let peak_mib = strads_io::peak_resident_bytes().map(|b| b as f64 / 1048576.0);
    println!(
        "seconds: {:.3} (loading {:.3}, solving {:.3}); peak memory {}",
        seconds,
        fit.load_seconds,
        fit.solve_seconds,
        peak_mib.map_or("unknown".into(), |mib| format!("{mib:.1} MiB"))
    );
}
