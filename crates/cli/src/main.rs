//! `strads`: scheduled model-parallel machine learning on threads or a cluster of processes.
//!
//! This binary only reads flags, shows progress and prints results; every algorithm lives in the
//! library crates. Exit status: 0 success, 1 runtime failure (e.g. a peer process died),
//! 2 bad input or usage, 128 + N when signal N (SIGINT, SIGTERM) stopped a run after it wrote
//! its outputs.

mod checkpoint_args;
mod cluster_args;
mod failure;
mod files;
mod flags;
mod gen;
mod gen_lda;
mod gen_mf;
mod gen_mlr;
mod gen_text;
mod launch;
mod launcher;
mod lda;
mod mf;
mod mlr;
mod plot;
mod progress;
mod regression;
mod resources;
mod trace_output;
mod training;
mod word2vec;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::flags::Given;

/// Scheduled model-parallel machine learning (STRADS) on threads or a cluster of processes.
#[derive(Parser)]
#[command(name = "strads", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lasso: minimise 1/2 ||y - X b||^2 + lambda ||b||_1 by scheduled coordinate descent.
    Lasso(regression::RegressionArgs),
    /// Sparse logistic regression: minimise sum_i log(1 + exp(-y_i x_i.b)) + lambda ||b||_1.
    Logreg(regression::RegressionArgs),
    /// Matrix factorisation of ratings (CCD++, ALS or rotated SGD).
    Mf(mf::MfArgs),
    /// LDA topic modelling: collapsed Gibbs sampling with STRADS vocabulary rotation.
    Lda(lda::LdaArgs),
    /// Multinomial logistic regression on STRADS-AP: minimise
    /// sum_i -log softmax(W x_i)_{y_i} + lambda/2 ||W||^2 by L-BFGS or mini-batch SGD.
    Mlr(mlr::MlrArgs),
    /// Word embeddings on STRADS-AP: skip-gram (or CBOW) with negative sampling, word2vec's
    /// semantics; --similar WORD --vectors FILE prints nearest neighbours.
    Word2vec(word2vec::Word2vecArgs),
    /// Plot traces (--trace files of any app): objective and test metric against iteration and time.
    Plot(plot::PlotArgs),
    /// Generate a synthetic problem with a known sparse truth.
    #[command(subcommand)]
    Gen(gen::GenCommand),
    /// Run a subcommand as a cluster of local processes on loopback.
    Launch(launch::LaunchArgs),
}

fn main() -> ExitCode {
    // A child of `strads launch` exits as soon as its launcher is gone.
    launcher::watch_launcher();
    let mut strads = Cli::command();
    let matches = strads.get_matches_mut();
    let cli = Cli::from_arg_matches(&matches)
        .map_err(|error| error.format(&mut strads))
        .unwrap_or_else(|error| error.exit());
    // Which flags the subcommand's command line gave, for the rejection of inapplicable ones.
    let given = match matches.subcommand() {
        Some((name, matches)) => strads
            .find_subcommand(name)
            .map(|command| Given::new(command, matches))
            .unwrap_or_default(),
        None => Given::default(),
    };
    let result = match cli.command {
        Command::Lasso(args) => regression::run(
            strads_apps::sparse_regression::LossKind::Squared,
            args,
            &given,
        ),
        Command::Logreg(args) => regression::run(
            strads_apps::sparse_regression::LossKind::Logistic,
            args,
            &given,
        ),
        Command::Mf(args) => mf::run(args, &given),
        Command::Lda(args) => lda::run(args, &given),
        Command::Mlr(args) => mlr::run(args, &given),
        Command::Word2vec(args) => word2vec::run(args, &given),
        Command::Plot(args) => plot::run(args),
        Command::Gen(command) => gen::run(command),
        // The launcher checks its children's command line with the same parser.
        Command::Launch(args) => launch::run(args, Cli::command()),
    };
    failure::exit_code(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Library errors name parameters; each must map to a flag that an app subcommand has (a
    /// misspelt flag would turn a range error into one naming no flag).
    #[test]
    fn every_parameter_maps_to_a_flag_of_an_app_subcommand() {
        let strads = Cli::command();
        for parameter in strads_apps::Parameter::ALL {
            let flag = flags::flag_of(parameter);
            let owners: Vec<&str> = strads
                .get_subcommands()
                .filter(|sub| {
                    sub.get_arguments().any(|arg| {
                        arg.get_long()
                            .is_some_and(|long| flag == format!("--{long}"))
                    })
                })
                .map(|sub| sub.get_name())
                .collect();
            assert!(
                !owners.is_empty(),
                "{parameter} maps to {flag}, which no subcommand has"
            );
        }
    }
}
