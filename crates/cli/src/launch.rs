//! `strads launch`: a cluster of local processes on loopback.

use clap::Args;

use crate::cluster_args::ThreadsArg;
use crate::failure::{bad_input, Failure};
use crate::launcher::{child_args, launch, LaunchSpec};

/// Flags of `strads launch`.
#[derive(Args)]
pub struct LaunchArgs {
    /// Number of processes.
    #[arg(long, default_value_t = 2)]
    pub processes: usize,
    // Passed on to every child; without it, each child has its own --threads (or the default).
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// The subcommand to run in every process, with its flags (after `--`).
    #[arg(last = true, required = true, value_name = "SUBCOMMAND")]
    pub command: Vec<String>,
}

/// Runs the subcommand; exits with the first non-zero status of a child. `strads` is the
/// binary's command line parser, which checks the children's command line before any starts.
pub fn run(args: LaunchArgs, strads: clap::Command) -> Result<(), Failure> {
    if args.processes == 0 {
        return Err(bad_input(anyhow::anyhow!(
            "--processes must be at least 1, got 0"
        )));
    }
    // Checked here, so that a bad value is reported once, not by every child.
    let threads = match args.threads.threads {
        Some(_) => Some(args.threads.resolve()?),
        None => None,
    };
    if args
        .command
        .first()
        .is_some_and(|c| c == "launch" || c == "gen")
    {
        return Err(bad_input(anyhow::anyhow!(
            "`strads launch` runs an app subcommand such as lasso or logreg"
        )));
    }
    let dir = tempfile::tempdir()?;
    let spec = LaunchSpec {
        program: std::env::current_exe()?,
        processes: args.processes,
        threads,
        args: args.command,
    };
    // Check the children's command line here, so a usage error is reported once, not per child.
    let mut argv = vec!["strads".to_owned()];
    argv.extend(child_args(&spec, 0, &dir.path().join("hosts.txt")));
    if let Err(error) = strads.try_get_matches_from(&argv) {
        let _ = error.print();
        return Err(Failure {
            code: 2,
            error: anyhow::anyhow!(""),
        });
    }
    match launch(&spec, dir.path())? {
        0 => Ok(()),
        code => Err(Failure {
            code: code.clamp(1, 255) as u8,
            error: anyhow::anyhow!(""),
        }),
    }
}
