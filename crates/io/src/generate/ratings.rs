//! Synthetic rating sets with a known low-rank truth, popularity skew and a train/test split.
//!
//! The truth is `r_ij = w_i . h_j + noise`, with the entries of `w_i` and `h_j` drawn from
//! `N(0, 1 / sqrt(rank))` (so `w_i . h_j` has variance 1) and Gaussian noise of standard deviation
//! `noise`. User `u` (1-based) is drawn with probability proportional to `u^-skew` and item `i`
//! with probability proportional to `i^-skew`; pairs are distinct. Each rating goes to the test
//! file with probability `test_fraction`. Lines are `user item rating`, 1-based ids, ratings with
//! four decimals.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::atomic::write_atomic;
use crate::error::DataError;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct RatingsSpec {
    /// Users (the largest user id).
    pub users: usize,
    /// Items (the largest item id).
    pub items: usize,
    /// Distinct (user, item) pairs, train and test together.
    pub ratings: usize,
    /// Rank of the truth.
    pub rank: usize,
    /// Standard deviation of the Gaussian noise.
    pub noise: f64,
    /// Popularity skew: id `k` is drawn with probability proportional to `k^-skew`.
    pub skew: f64,
    /// Probability that a rating goes to the test file.
    pub test_fraction: f64,
    /// Random seed.
    pub seed: u64,
}

impl Default for RatingsSpec {
    fn default() -> Self {
        RatingsSpec {
            users: 1000,
            items: 500,
            ratings: 50_000,
            rank: 5,
            noise: 0.0,
            skew: 0.5,
            test_fraction: 0.1,
            seed: 1,
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct RatingsSummary {
    /// The training file (`PREFIX.train`).
    pub train_path: PathBuf,
    /// The test file (`PREFIX.test`).
    pub test_path: PathBuf,
    /// Ratings in the training file.
    pub train_ratings: usize,
    /// Ratings in the test file.
    pub test_ratings: usize,
}

/// Writes `PREFIX.train` and `PREFIX.test` for `spec`.
pub fn generate_ratings(spec: &RatingsSpec, prefix: &Path) -> Result<RatingsSummary, DataError> {
    validate(spec)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let scale = 1.0 / (spec.rank as f64).sqrt().sqrt();
    let factor = Normal::new(0.0, scale).expect("finite scale");
    let w: Vec<f64> = (0..spec.users * spec.rank)
        .map(|_| factor.sample(&mut rng))
        .collect();
    let h: Vec<f64> = (0..spec.items * spec.rank)
        .map(|_| factor.sample(&mut rng))
        .collect();
    let user_cdf = power_law_cdf(spec.users, spec.skew);
    let item_cdf = power_law_cdf(spec.items, spec.skew);
    // Draw pairs until `ratings` distinct ones; a pair is user * items + item.
    let mut pairs: Vec<u64> = Vec::with_capacity(spec.ratings + spec.ratings / 8);
    while pairs.len() < spec.ratings {
        let missing = spec.ratings - pairs.len();
        for _ in 0..missing + missing / 16 + 16 {
            let u = draw(&user_cdf, &mut rng) as u64;
            let i = draw(&item_cdf, &mut rng) as u64;
            pairs.push(u * spec.items as u64 + i);
        }
        pairs.sort_unstable();
        pairs.dedup();
        // Keep a random subset of the right size, so no id range is favoured by the cut.
        if pairs.len() > spec.ratings {
            for k in 0..spec.ratings {
                let j = rng.gen_range(k..pairs.len());
                pairs.swap(k, j);
            }
            pairs.truncate(spec.ratings);
            pairs.sort_unstable();
        }
    }
    let noise = Normal::new(0.0, spec.noise).expect("finite noise");
    let mut train = Vec::with_capacity(spec.ratings * 16);
    let mut test = Vec::with_capacity((spec.ratings as f64 * spec.test_fraction * 20.0) as usize);
    let (mut n_train, mut n_test) = (0, 0);
    for &pair in &pairs {
        let (u, i) = (
            (pair / spec.items as u64) as usize,
            (pair % spec.items as u64) as usize,
        );
        let dot: f64 = (0..spec.rank)
            .map(|t| w[u * spec.rank + t] * h[i * spec.rank + t])
            .sum();
        let value = dot
            + if spec.noise > 0.0 {
                noise.sample(&mut rng)
            } else {
                0.0
            };
        let out = if rng.gen_bool(spec.test_fraction) {
            n_test += 1;
            &mut test
        } else {
            n_train += 1;
            &mut train
        };
        writeln!(out, "{} {} {:.4}", u + 1, i + 1, value).expect("writing to memory");
    }
    let train_path = with_suffix(prefix, "train");
    let test_path = with_suffix(prefix, "test");
    write_atomic(&train_path, |f| f.write_all(&train))?;
    write_atomic(&test_path, |f| f.write_all(&test))?;
    Ok(RatingsSummary {
        train_path,
        test_path,
        train_ratings: n_train,
        test_ratings: n_test,
    })
}

/// `PREFIX.suffix`.
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn validate(spec: &RatingsSpec) -> Result<(), DataError> {
    let refuse = |message: String| Err(DataError::InvalidRequest { message });
    if spec.users == 0 || spec.items == 0 || spec.rank == 0 {
        return refuse("users, items and rank must be at least 1".into());
    }
    if spec.ratings as u128 > (spec.users as u128 * spec.items as u128) / 2 {
        return refuse(format!(
            "{} ratings are more than half of the {} x {} pairs",
            spec.ratings, spec.users, spec.items
        ));
    }
    if !(spec.noise >= 0.0 && spec.noise.is_finite()) {
        return refuse(format!("noise must be >= 0, got {}", spec.noise));
    }
    if !(spec.skew >= 0.0 && spec.skew.is_finite()) {
        return refuse(format!("skew must be >= 0, got {}", spec.skew));
    }
    if !(0.0..1.0).contains(&spec.test_fraction) {
        return refuse(format!(
            "test fraction must be in [0, 1), got {}",
            spec.test_fraction
        ));
    }
    // The true factors, the popularity tables, and per rating its pair and its text.
    let needed = (spec.users as u128 + spec.items as u128) * (spec.rank as u128 * 8 + 8)
        + spec.ratings as u128 * 48;
    crate::memory::check_memory(
        &format!(
            "generating {} users x {} items of rank {} with {} ratings",
            spec.users, spec.items, spec.rank, spec.ratings
        ),
        needed,
    )
    .or_else(refuse)?;
    Ok(())
}

/// Cumulative weights of `k^-skew` for `k = 1..=n`.
fn power_law_cdf(n: usize, skew: f64) -> Vec<f64> {
    let mut total = 0.0;
    (1..=n)
        .map(|k| {
            total += (k as f64).powf(-skew);
            total
        })
        .collect()
}

/// A 0-based index drawn from the cumulative weights.
fn draw(cdf: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let x = rng.gen::<f64>() * cdf[cdf.len() - 1];
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratings::{read_ratings, RatingsFormat};

    #[test]
    fn pairs_are_distinct_counts_add_up_and_the_seed_fixes_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RatingsSpec {
            users: 50,
            items: 40,
            ratings: 600,
            noise: 0.0,
            ..RatingsSpec::default()
        };
        let a = generate_ratings(&spec, &dir.path().join("a")).unwrap();
        let b = generate_ratings(&spec, &dir.path().join("b")).unwrap();
        assert_eq!(a.train_ratings + a.test_ratings, 600);
        assert_eq!(
            std::fs::read(&a.train_path).unwrap(),
            std::fs::read(&b.train_path).unwrap()
        );
        let train = read_ratings(&a.train_path, RatingsFormat::Auto, 2).unwrap();
        let test = read_ratings(&a.test_path, RatingsFormat::Auto, 1).unwrap();
        assert_eq!(train.len(), a.train_ratings);
        let mut seen = std::collections::HashSet::new();
        for r in [&train, &test] {
            for k in 0..r.len() {
                let key = (
                    r.user_ids[r.users[k] as usize].clone(),
                    r.item_ids[r.items[k] as usize].clone(),
                );
                assert!(seen.insert(key), "duplicate pair");
            }
        }
        // Popularity skew: user 1 is drawn more often than user 50.
        let count = |id: &str| {
            let u = train.user_ids.iter().position(|x| x == id);
            u.map_or(0, |u| {
                train.users.iter().filter(|&&x| x as usize == u).count()
            })
        };
        assert!(count("1") > count("50"));
    }

    #[test]
    fn impossible_specs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RatingsSpec {
            users: 10,
            items: 10,
            ratings: 60,
            ..RatingsSpec::default()
        };
        assert!(generate_ratings(&spec, &dir.path().join("x")).is_err());
    }
}
