//! `strads gen`: synthetic problems with a known answer.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use strads_io::{generate_regression, RegressionSpec, Task};

use crate::failure::{bad_input, Failure};

/// What to generate.
#[derive(Subcommand)]
pub enum GenCommand {
    /// A Lasso problem: y = X b* + noise, written as libsvm (b* to FILE.truth).
    Lasso(RegressionGenArgs),
    /// A logistic problem: P(y = +1) = sigmoid(x . b*), written as libsvm (b* to FILE.truth).
    Logreg(RegressionGenArgs),
    /// A low-rank rating set with popularity skew: PREFIX.train and PREFIX.test.
    Mf(crate::gen_mf::MfGenArgs),
    /// An LDA corpus in UCI docword format, with FILE.vocab and the true topics in FILE.topics.
    Lda(crate::gen_lda::LdaGenArgs),
    /// A softmax problem: labels drawn from softmax(W* x), libsvm (FILE.test, truth FILE.truth).
    Mlr(crate::gen_mlr::MlrGenArgs),
    /// Sentences over words in planted clusters (for word2vec): one sentence per line.
    Text(crate::gen_text::TextGenArgs),
}

/// Flags of `strads gen lasso|logreg`.
#[derive(Args)]
pub struct RegressionGenArgs {
    /// Rows (examples).
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    /// Columns (features).
    #[arg(long, default_value_t = 10_000)]
    pub cols: usize,
    /// Nonzeros per row.
    #[arg(long, default_value_t = 20)]
    pub nnz_per_row: usize,
    /// Nonzero true coefficients.
    #[arg(long, default_value_t = 100)]
    pub support: usize,
    /// Standard deviation of the label noise (lasso).
    #[arg(long, default_value_t = 0.1)]
    pub noise: f64,
    /// Correlation of columns within a group, in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    pub corr: f64,
    /// Columns per correlated group (1 = independent columns).
    #[arg(long, default_value_t = 1)]
    pub group: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output libsvm file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs the subcommand.
pub fn run(command: GenCommand) -> Result<(), Failure> {
    let (task, args) = match command {
        GenCommand::Lasso(args) => (Task::Lasso, args),
        GenCommand::Logreg(args) => (Task::Logreg, args),
        GenCommand::Mf(args) => return crate::gen_mf::run(args),
        GenCommand::Lda(args) => return crate::gen_lda::run(args),
        GenCommand::Mlr(args) => return crate::gen_mlr::run(args),
        GenCommand::Text(args) => return crate::gen_text::run(args),
    };
    let spec = RegressionSpec {
        rows: args.rows,
        cols: args.cols,
        nnz_per_row: args.nnz_per_row,
        support: args.support,
        noise: args.noise,
        seed: args.seed,
        corr: args.corr,
        group: args.group,
        task,
    };
    let summary = generate_regression(&spec, &args.out).map_err(bad_input)?;
    eprintln!(
        "wrote {} ({} x {}, {} nonzeros) and {}",
        args.out.display(),
        summary.rows,
        summary.cols,
        summary.nonzeros,
        summary.truth_path.display()
    );
    Ok(())
}
