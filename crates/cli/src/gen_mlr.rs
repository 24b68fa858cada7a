//! `strads gen mlr`: a softmax problem with a known truth.

use std::path::PathBuf;

use clap::Args;
use strads_ap_apps::mlr::generate::{generate_mlr, MlrSpec};

use crate::failure::{bad_input, Failure};

/// Flags of `strads gen mlr`.
#[derive(Args)]
pub struct MlrGenArgs {
    /// Training examples.
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    /// Test examples from the same truth, written to FILE.test (0: none).
    #[arg(long, default_value_t = 2_000)]
    pub test_rows: usize,
    /// Classes K (labels 1..=K).
    #[arg(long, default_value_t = 5)]
    pub classes: usize,
    /// Features d.
    #[arg(long, default_value_t = 50)]
    pub features: usize,
    /// Nonzero features per example (>= FEATURES: dense).
    #[arg(long, default_value_t = 50)]
    pub nnz_per_row: usize,
    /// Standard deviation of an example's true scores (larger: classes easier to tell apart).
    #[arg(long, default_value_t = 2.0)]
    pub scale: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output libsvm file (also FILE.test, and the true model FILE.truth with FILE.truth.classes).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: MlrGenArgs) -> Result<(), Failure> {
    let spec = MlrSpec {
        rows: args.rows,
        test_rows: args.test_rows,
        classes: args.classes,
        features: args.features,
        nnz_per_row: args.nnz_per_row,
        scale: args.scale,
        seed: args.seed,
    };
    let generated = generate_mlr(&spec, &args.out).map_err(bad_input)?;
    eprintln!(
        "wrote {} ({} x {}, {} nonzeros, {} classes){} and the truth {}",
        args.out.display(),
        args.rows,
        args.features,
        generated.nonzeros,
        args.classes,
        generated
            .test_path
            .map(|p| format!(", {} ({} rows)", p.display(), args.test_rows))
            .unwrap_or_default(),
        generated.truth_path.display()
    );
    Ok(())
}
