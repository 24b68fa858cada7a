//! `strads gen mf`: a low-rank rating set with popularity skew and a train/test split.

use std::path::PathBuf;

use clap::Args;
use strads_io::{generate_ratings, RatingsSpec};

use crate::failure::{bad_input, Failure};

/// Flags of `strads gen mf`.
#[derive(Args)]
pub struct MfGenArgs {
    /// Users (ids 1..=USERS; user u is drawn with probability proportional to u^-SKEW).
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Items (ids 1..=ITEMS, drawn likewise).
    #[arg(long, default_value_t = 2_000)]
    pub items: usize,
    /// Distinct (user, item) ratings, train and test together.
    #[arg(long, default_value_t = 500_000)]
    pub ratings: usize,
    /// Rank of the truth r_ij = w_i . h_j + noise (w, h entries ~ N(0, rank^-1/2)).
    #[arg(long, default_value_t = 10)]
    pub rank: usize,
    /// Standard deviation of the Gaussian noise.
    #[arg(long, default_value_t = 0.5)]
    pub noise: f64,
    /// Popularity skew exponent (0 = uniform).
    #[arg(long, default_value_t = 0.5)]
    pub skew: f64,
    /// Fraction of the ratings written to PREFIX.test.
    #[arg(long, default_value_t = 0.1)]
    pub test_fraction: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output prefix: writes PREFIX.train and PREFIX.test (`user item rating` lines).
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: MfGenArgs) -> Result<(), Failure> {
    let spec = RatingsSpec {
        users: args.users,
        items: args.items,
        ratings: args.ratings,
        rank: args.rank,
        noise: args.noise,
        skew: args.skew,
        test_fraction: args.test_fraction,
        seed: args.seed,
    };
    let summary = generate_ratings(&spec, &args.out).map_err(bad_input)?;
    eprintln!(
        "wrote {} ({} ratings) and {} ({} ratings)",
        summary.train_path.display(),
        summary.train_ratings,
        summary.test_path.display(),
        summary.test_ratings
    );
    Ok(())
}
