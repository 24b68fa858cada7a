//! Synthetic regression and classification data with known true coefficients, in libsvm format.
//!
//! # Design
//!
//! Columns come in consecutive groups of `group` (the last group may be shorter). Each row picks
//! distinct groups uniformly at random (every group is equally popular) and takes all their columns,
//! until it has at least `nnz_per_row` candidate columns; it then drops randomly chosen surplus
//! candidates, so **every row has exactly `nnz_per_row` nonzeros**. Columns of one group therefore
//! share their nonzero rows, except for the few dropped entries.
//!
//! A value is `x_ij = sqrt(C) z_ig + sqrt(1 - C) e_ij`, with `z_ig` (one per row and group) and
//! `e_ij` independent standard normals, so every value has variance 1 and two columns of one group
//! have correlation `C = corr`, both over the rows they share and over all rows (counting zeros).
//!
//! The true coefficient vector `beta` has `support` nonzeros, each `±u` with a random sign and `u`
//! uniform in `[1, 2]`. They are spread over groups: while `support` is at most the number of groups,
//! each nonzero sits in a different group (at a random column of it); beyond that, the support is a
//! uniformly random set of columns.
//!
//! Labels: for [`Task::Lasso`], `y_i = x_i . beta + noise * n_i` with `n_i` standard normal. For
//! [`Task::Logreg`], `y_i = +1` with probability `sigmoid(x_i . beta)` and `-1` otherwise, where
//! `beta` was first multiplied by a scale that makes the standard deviation of the margin
//! `x_i . beta` about [`LOGISTIC_MARGIN_STD`] over random rows: large enough that the labels carry
//! signal, small enough that the classes are not separable. The truth file holds the scaled `beta`,
//! so for both tasks it is exactly the model the labels were drawn from.
//!
//! Everything is drawn from one `ChaCha8Rng` seeded with `seed`, so a seed fixes the output.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::atomic::write_atomic;
use crate::coefficients::write_coefficients;
use crate::error::DataError;

/// The standard deviation of the logistic margin `x_i . beta` over random rows, for
/// [`Task::Logreg`]. With a margin of standard deviation 2 the best possible classifier is right
/// about 80% of the time.
pub const LOGISTIC_MARGIN_STD: f64 = 2.0;

/// Which kind of labels to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Real labels from a noisy linear model, for the Lasso.
    Lasso,
    /// `+1` / `-1` labels from a logistic model, for sparse logistic regression.
    Logreg,
}

/// What data to generate; see the [module documentation](self) for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionSpec {
    /// Number of rows (examples), at least 1.
    pub rows: usize,
    /// Number of columns (features), at least 1.
    pub cols: usize,
    /// Nonzeros in every row, at most `cols`.
    pub nnz_per_row: usize,
    /// Nonzero true coefficients, at most `cols`.
    pub support: usize,
    /// Standard deviation of the label noise for [`Task::Lasso`]; unused for [`Task::Logreg`].
    pub noise: f64,
    /// Seed of the random generator.
    pub seed: u64,
    /// Correlation between columns of one group, in `[0, 1)`.
    pub corr: f64,
    /// Columns per group, at least 1; 1 makes all columns independent.
    pub group: usize,
    /// Which kind of labels to generate.
    pub task: Task,
}

impl Default for RegressionSpec {
    /// A small, quick Lasso problem: 1000 x 1000, 20 nonzeros per row, 10 true coefficients.
    fn default() -> Self {
        RegressionSpec {
            rows: 1000,
            cols: 1000,
            nnz_per_row: 20,
            support: 10,
            noise: 0.1,
            seed: 0,
            corr: 0.0,
            group: 1,
            task: Task::Lasso,
        }
    }
}

/// What [`generate_regression`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedSummary {
    /// Number of rows written.
    pub rows: usize,
    /// Number of columns of the matrix (the last ones may be empty).
    pub cols: usize,
    /// Number of nonzeros written.
    pub nonzeros: usize,
    /// Where the true coefficients were written.
    pub truth_path: PathBuf,
    /// For [`Task::Logreg`], the factor the drawn coefficients were multiplied by.
    pub logistic_scale: Option<f64>,
    /// For [`Task::Logreg`], how many rows have label `+1`.
    pub positive_labels: Option<usize>,
}

/// The path of the truth file for data written to `out`: `out` with `.truth` appended.
pub fn truth_path(out: &Path) -> PathBuf {
    let mut path = out.as_os_str().to_owned();
    path.push(".truth");
    PathBuf::from(path)
}

/// Writes the data described by `spec` to the libsvm file `out` and its true coefficients to
/// [`truth_path`]`(out)`, both atomically.
pub fn generate_regression(
    spec: &RegressionSpec,
    out: &Path,
) -> Result<GeneratedSummary, DataError> {
    validate(spec)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let group = spec.group;
    let n_groups = spec.cols.div_ceil(group);
    let mut beta = draw_truth(spec, n_groups, &mut rng);
    let logistic_scale = match spec.task {
        Task::Lasso => None,
        Task::Logreg => Some(logistic_scale(spec, &beta)),
    };
    if let Some(scale) = logistic_scale {
        beta.iter_mut().for_each(|b| *b *= scale);
    }

    let shared = spec.corr.sqrt();
    let own = (1.0 - spec.corr).sqrt();
    // A permutation of the groups, kept across rows: a partial Fisher-Yates shuffle of any
    // permutation yields a uniform sample of distinct groups, so it never needs resetting.
    let mut group_order: Vec<u32> = (0..n_groups as u32).collect();
    let mut entries: Vec<(u32, f64)> = Vec::with_capacity(spec.nnz_per_row + group);
    let mut line: Vec<u8> = Vec::with_capacity(32 * (spec.nnz_per_row + 1));
    let mut number = ryu::Buffer::new();
    let mut positive_labels = 0usize;

    write_atomic(out, |writer| {
        for _ in 0..spec.rows {
            entries.clear();
            let mut picked = 0;
            while entries.len() < spec.nnz_per_row {
                let j = rng.gen_range(picked..n_groups);
                group_order.swap(picked, j);
                let g = group_order[picked] as usize;
                picked += 1;
                let z: f64 = rng.sample(StandardNormal);
                for column in g * group..((g + 1) * group).min(spec.cols) {
                    let e: f64 = rng.sample(StandardNormal);
                    entries.push((column as u32, shared * z + own * e));
                }
            }
            for _ in spec.nnz_per_row..entries.len() {
                let k = rng.gen_range(0..entries.len());
                entries.swap_remove(k);
            }
            entries.sort_unstable_by_key(|&(column, _)| column);

            // The margin is summed in column order, the order a reader of the file sees.
            let margin: f64 = entries
                .iter()
                .map(|&(column, value)| value * beta[column as usize])
                .sum();
            line.clear();
            match spec.task {
                Task::Lasso => {
                    let noise: f64 = rng.sample(StandardNormal);
                    line.extend_from_slice(number.format(margin + spec.noise * noise).as_bytes());
                }
                Task::Logreg => {
                    let positive = rng.gen::<f64>() < sigmoid(margin);
                    positive_labels += usize::from(positive);
                    line.extend_from_slice(if positive { b"+1" } else { b"-1" });
                }
            }
            for &(column, value) in &entries {
                line.push(b' ');
                push_decimal(&mut line, u64::from(column) + 1);
                line.push(b':');
                line.extend_from_slice(number.format(value).as_bytes());
            }
            line.push(b'\n');
            writer.write_all(&line)?;
        }
        Ok(())
    })?;

    let truth_path = truth_path(out);
    write_coefficients(&truth_path, &beta)?;
    Ok(GeneratedSummary {
        rows: spec.rows,
        cols: spec.cols,
        nonzeros: spec.rows * spec.nnz_per_row,
        truth_path,
        logistic_scale,
        positive_labels: logistic_scale.map(|_| positive_labels),
    })
}

fn validate(spec: &RegressionSpec) -> Result<(), DataError> {
    let problem = if spec.rows == 0 {
        Some("rows must be at least 1".to_string())
    } else if spec.cols == 0 || spec.cols as u64 > u64::from(u32::MAX) {
        Some(format!(
            "cols must be between 1 and {}, not {}",
            u32::MAX,
            spec.cols
        ))
    } else if spec.nnz_per_row > spec.cols {
        Some(format!(
            "nnz_per_row ({}) exceeds cols ({})",
            spec.nnz_per_row, spec.cols
        ))
    } else if spec.support > spec.cols {
        Some(format!(
            "support ({}) exceeds cols ({})",
            spec.support, spec.cols
        ))
    } else if !(spec.noise.is_finite() && spec.noise >= 0.0) {
        Some(format!(
            "noise must be finite and non-negative, not {}",
            spec.noise
        ))
    } else if !(0.0..1.0).contains(&spec.corr) {
        Some(format!("corr must be in [0, 1), not {}", spec.corr))
    } else if spec.group == 0 {
        Some("group must be at least 1".to_string())
    } else {
        // The truth and the column groups are per column; a row's entries and its group's
        // correlated columns are built in memory.
        let needed = spec.cols as u128 * 24 + (spec.nnz_per_row as u128 + spec.group as u128) * 48;
        crate::memory::check_memory(
            &format!(
                "generating {} columns with groups of {}",
                spec.cols, spec.group
            ),
            needed,
        )
        .err()
    };
    match problem {
        Some(message) => Err(DataError::InvalidRequest { message }),
        None => Ok(()),
    }
}

/// Draws the true coefficients (see the module documentation).
fn draw_truth(spec: &RegressionSpec, n_groups: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut beta = vec![0.0; spec.cols];
    let columns: Vec<usize> = if spec.support <= n_groups {
        index::sample(rng, n_groups, spec.support)
            .into_iter()
            .map(|g| rng.gen_range(g * spec.group..((g + 1) * spec.group).min(spec.cols)))
            .collect()
    } else {
        index::sample(rng, spec.cols, spec.support).into_vec()
    };
    for column in columns {
        let sign = if rng.gen::<bool>() { 1.0 } else { -1.0 };
        beta[column] = sign * rng.gen_range(1.0..=2.0);
    }
    beta
}

/// The factor that gives the margin `x_i . beta` a standard deviation of [`LOGISTIC_MARGIN_STD`].
///
/// Each column is nonzero in a fraction `p = nnz_per_row / cols` of the rows, with variance 1 there
/// and correlation `C` with the other columns of its group, so
/// `Var(x . beta) = p ((1 - C) sum_j beta_j^2 + C sum_groups (sum_{j in group} beta_j)^2)`.
/// With no signal at all (an empty support, or empty rows) the factor is 1 and labels are coin flips.
fn logistic_scale(spec: &RegressionSpec, beta: &[f64]) -> f64 {
    let p = spec.nnz_per_row as f64 / spec.cols as f64;
    let squares: f64 = beta.iter().map(|b| b * b).sum();
    let group_sums: f64 = beta
        .chunks(spec.group)
        .map(|g| g.iter().sum::<f64>().powi(2))
        .sum();
    let variance = p * ((1.0 - spec.corr) * squares + spec.corr * group_sums);
    if variance > 0.0 {
        LOGISTIC_MARGIN_STD / variance.sqrt()
    } else {
        1.0
    }
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// Appends `n` in decimal, without the formatting machinery of `write!`.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coefficients::read_coefficients;
    use crate::libsvm::{read_libsvm_shard, LibsvmOptions};
    use crate::sparse::SparseRows;

    fn generate(
        spec: &RegressionSpec,
    ) -> (tempfile::TempDir, SparseRows, Vec<f64>, GeneratedSummary) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("data.libsvm");
        let summary = generate_regression(spec, &out).unwrap();
        let rows = read_libsvm_shard(&out, 0, 1, &LibsvmOptions::default()).unwrap();
        let mut beta = vec![0.0; spec.cols];
        for (column, value) in read_coefficients(&summary.truth_path).unwrap() {
            beta[column as usize] = value;
        }
        (dir, rows, beta, summary)
    }

    #[test]
    fn a_seed_fixes_the_output() {
        let spec = RegressionSpec {
            rows: 200,
            cols: 50,
            nnz_per_row: 7,
            group: 3,
            corr: 0.5,
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let read = |name: &str, spec: &RegressionSpec| {
            let out = dir.path().join(name);
            generate_regression(spec, &out).unwrap();
            (
                std::fs::read(&out).unwrap(),
                std::fs::read(truth_path(&out)).unwrap(),
            )
        };
        assert_eq!(read("a", &spec), read("b", &spec));
        assert_ne!(
            read("a", &spec),
            read(
                "c",
                &RegressionSpec {
                    seed: 1,
                    ..spec.clone()
                }
            )
        );
    }

    #[test]
    fn every_row_has_exactly_nnz_per_row_nonzeros() {
        // 31 columns in groups of 3: the last group is short, and 10 is not a multiple of 3, so
        // rows must both draw extra groups and drop surplus columns.
        for (cols, group, nnz) in [
            (31, 3, 10),
            (31, 3, 31),
            (10, 1, 10),
            (100, 7, 1),
            (5, 10, 3),
            (8, 2, 0),
        ] {
            let spec = RegressionSpec {
                rows: 300,
                cols,
                nnz_per_row: nnz,
                group,
                support: 3,
                ..Default::default()
            };
            let (_dir, rows, _, summary) = generate(&spec);
            assert_eq!(rows.n_rows(), 300);
            assert_eq!(summary.nonzeros, rows.n_nonzeros());
            for i in 0..rows.n_rows() {
                assert_eq!(rows.row(i).0.len(), nnz, "cols {cols} group {group}");
            }
        }
    }

    #[test]
    fn lasso_labels_without_noise_are_x_times_the_truth() {
        let spec = RegressionSpec {
            rows: 500,
            cols: 200,
            nnz_per_row: 20,
            support: 30,
            noise: 0.0,
            group: 4,
            corr: 0.3,
            ..Default::default()
        };
        let (_dir, rows, beta, _) = generate(&spec);
        assert_eq!(beta.iter().filter(|b| **b != 0.0).count(), 30);
        assert!(beta
            .iter()
            .all(|b| *b == 0.0 || (1.0..=2.0).contains(&b.abs())));
        // 30 nonzeros over 50 groups: no two share a group.
        assert!(beta
            .chunks(4)
            .all(|g| g.iter().filter(|b| **b != 0.0).count() <= 1));
        for i in 0..rows.n_rows() {
            let (columns, values) = rows.row(i);
            let margin: f64 = columns
                .iter()
                .zip(values)
                .map(|(&c, v)| v * beta[c as usize])
                .sum();
            assert_eq!(rows.labels[i], margin, "row {i}");
        }
    }

    #[test]
    fn columns_of_a_group_have_the_requested_correlation() {
        let (group, n_groups) = (5, 20);
        for corr in [0.0, 0.5, 0.9] {
            let spec = RegressionSpec {
                rows: 20_000,
                cols: group * n_groups,
                nnz_per_row: 2 * group,
                group,
                corr,
                seed: 7,
                ..Default::default()
            };
            let (_dir, rows, _, _) = generate(&spec);
            // Dense column sums of products, zeros included; every column has mean 0.
            let cols = spec.cols;
            let mut products = vec![0.0; cols * cols];
            for i in 0..rows.n_rows() {
                let (columns, values) = rows.row(i);
                for (&a, va) in columns.iter().zip(values) {
                    for (&b, vb) in columns.iter().zip(values) {
                        products[a as usize * cols + b as usize] += va * vb;
                    }
                }
            }
            let correlation = |a: usize, b: usize| {
                products[a * cols + b] / (products[a * cols + a] * products[b * cols + b]).sqrt()
            };
            let (mut within, mut n_within, mut across, mut n_across) = (0.0, 0, 0.0, 0);
            for a in 0..cols {
                for b in a + 1..cols {
                    if a / group == b / group {
                        within += correlation(a, b);
                        n_within += 1;
                    } else {
                        across += correlation(a, b);
                        n_across += 1;
                    }
                }
            }
            let (within, across) = (within / n_within as f64, across / n_across as f64);
            assert!(
                (within - corr).abs() < 0.05,
                "corr {corr}: within-group {within}"
            );
            assert!(across.abs() < 0.05, "corr {corr}: across groups {across}");
        }
    }

    #[test]
    fn logistic_labels_are_signs_that_follow_the_margin() {
        let spec = RegressionSpec {
            rows: 5000,
            cols: 100,
            nnz_per_row: 10,
            support: 20,
            task: Task::Logreg,
            ..Default::default()
        };
        let (_dir, rows, beta, summary) = generate(&spec);
        assert!(rows.labels.iter().all(|&y| y == 1.0 || y == -1.0));
        let positives = rows.labels.iter().filter(|&&y| y == 1.0).count();
        assert_eq!(summary.positive_labels, Some(positives));
        assert!((2000..3000).contains(&positives), "{positives} positives");
        // The margins have about the intended spread, and the labels agree with their sign more
        // often than chance but not always (not separable).
        let margins: Vec<f64> = (0..rows.n_rows())
            .map(|i| {
                let (columns, values) = rows.row(i);
                columns
                    .iter()
                    .zip(values)
                    .map(|(&c, v)| v * beta[c as usize])
                    .sum()
            })
            .collect();
        let std = (margins.iter().map(|m| m * m).sum::<f64>() / margins.len() as f64).sqrt();
        assert!(
            (std / LOGISTIC_MARGIN_STD - 1.0).abs() < 0.15,
            "margin std {std}"
        );
        let agree = margins
            .iter()
            .zip(&rows.labels)
            .filter(|(m, y)| m.signum() == y.signum())
            .count();
        let accuracy = agree as f64 / rows.n_rows() as f64;
        assert!(
            (0.65..0.92).contains(&accuracy),
            "accuracy of the true model {accuracy}"
        );
    }

    #[test]
    fn impossible_specs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x");
        let bad = [
            RegressionSpec {
                nnz_per_row: 2000,
                ..Default::default()
            },
            RegressionSpec {
                support: 2000,
                ..Default::default()
            },
            RegressionSpec {
                corr: 1.0,
                ..Default::default()
            },
            RegressionSpec {
                group: 0,
                ..Default::default()
            },
            RegressionSpec {
                rows: 0,
                ..Default::default()
            },
            RegressionSpec {
                noise: f64::NAN,
                ..Default::default()
            },
        ];
        for spec in bad {
            let error = generate_regression(&spec, &out).unwrap_err();
            assert!(matches!(error, DataError::InvalidRequest { .. }), "{error}");
        }
        assert!(!out.exists());
    }

    #[test]
    fn decimals_are_written_like_display() {
        for n in [0, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
