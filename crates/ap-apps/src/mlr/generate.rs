//! `strads gen mlr`: a softmax problem with a known truth.
//!
//! The true weights `W*` are independent `N(0, scale^2 / nnz)` (so an example's scores have
//! standard deviation about `scale`); an example has `nnz` distinct features drawn uniformly
//! (all `d` when `nnz >= d`) with `N(0, 1)` values rounded to 4 decimals, and its class is drawn
//! from `softmax(W*^T x)`, computed from the rounded values as written. Labels are written as
//! `1..=K`. Deterministic for a seed.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use strads_io::DataError;

use super::classes::ClassMap;
use super::kernels::{softmax_in_place, Shape};
use super::model::write_model;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MlrSpec {
    /// Training examples.
    pub rows: usize,
    /// Test examples (same truth), written to `FILE.test` when positive.
    pub test_rows: usize,
    /// Classes `K` (at least 2).
    pub classes: usize,
    /// Features `d`.
    pub features: usize,
    /// Nonzero features per example (`>= d`: dense).
    pub nnz_per_row: usize,
    /// Standard deviation of an example's true scores.
    pub scale: f64,
    /// Random seed.
    pub seed: u64,
}

impl Default for MlrSpec {
    fn default() -> Self {
        MlrSpec {
            rows: 10_000,
            test_rows: 2_000,
            classes: 5,
            features: 50,
            nnz_per_row: 50,
            scale: 2.0,
            seed: 1,
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct MlrGenerated {
    /// The test file, if any.
    pub test_path: Option<PathBuf>,
    /// The true model (`strads mlr --model` reads it), with its `.classes` file.
    pub truth_path: PathBuf,
    /// Nonzero features in the training file.
    pub nonzeros: u64,
}

/// `out` with `suffix` appended (`train.libsvm` -> `train.libsvm.test`).
pub fn with_suffix(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes the training file `out`, `out.test` and the truth `out.truth` (+ `.classes`).
pub fn generate_mlr(spec: &MlrSpec, out: &Path) -> Result<MlrGenerated, DataError> {
    let invalid = |message: String| Err(DataError::InvalidRequest { message });
    if spec.classes < 2 || spec.features == 0 || spec.rows == 0 || spec.nnz_per_row == 0 {
        return invalid(
            "gen mlr needs at least 2 classes, 1 feature, 1 row and 1 nonzero per row".into(),
        );
    }
    if !(spec.scale.is_finite() && spec.scale >= 0.0) {
        return invalid(format!(
            "the scale must be finite and >= 0, got {}",
            spec.scale
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let nnz = spec.nnz_per_row.min(spec.features);
    let shape = Shape {
        classes: spec.classes,
        features: spec.features,
        intercept: false,
    };
    let deviation = spec.scale / (nnz as f64).sqrt();
    let truth: Vec<f64> = (0..shape.len())
        .map(|_| deviation * Distribution::<f64>::sample(&StandardNormal, &mut rng))
        .collect();
    let nonzeros = write_examples(out, spec.rows, nnz, &shape, &truth, &mut rng)?;
    let test_path = if spec.test_rows > 0 {
        let path = with_suffix(out, ".test");
        write_examples(&path, spec.test_rows, nnz, &shape, &truth, &mut rng)?;
        Some(path)
    } else {
        None
    };
    let truth_path = with_suffix(out, ".truth");
    let labels = ClassMap::from_labels(1..=spec.classes as i64);
    write_model(&truth_path, &shape, &labels, &truth)?;
    Ok(MlrGenerated {
        test_path,
        truth_path,
        nonzeros,
    })
}

fn write_examples(
    path: &Path,
    rows: usize,
    nnz: usize,
    shape: &Shape,
    truth: &[f64],
    rng: &mut ChaCha8Rng,
) -> Result<u64, DataError> {
    let (k, d) = (shape.classes, shape.features);
    let mut nonzeros = 0u64;
    strads_io::write_atomic(path, |w| {
        let mut columns: Vec<usize> = Vec::with_capacity(nnz);
        let mut values = Vec::with_capacity(nnz);
        let mut scores = vec![0.0; k];
        for _ in 0..rows {
            columns.clear();
            if nnz == d {
                columns.extend(0..d);
            } else {
                columns.extend(rand::seq::index::sample(rng, d, nnz).iter());
                columns.sort_unstable();
            }
            values.clear();
            scores.fill(0.0);
            for &j in &columns {
                let normal: f64 = StandardNormal.sample(rng);
                // Rounded as written, so the labels follow the file's values exactly.
                let value = (normal * 1e4).round() / 1e4;
                values.push(value);
                for (s, t) in scores.iter_mut().zip(&truth[j * k..(j + 1) * k]) {
                    *s += value * t;
                }
            }
            softmax_in_place(&mut scores);
            let u: f64 = rng.gen();
            let mut class = k - 1;
            let mut cumulative = 0.0;
            for (c, p) in scores.iter().enumerate() {
                cumulative += p;
                if u < cumulative {
                    class = c;
                    break;
                }
            }
            write!(w, "{}", class + 1)?;
            for (&j, &v) in columns.iter().zip(&values) {
                if v != 0.0 {
                    write!(w, " {}:{v}", j + 1)?;
                    nonzeros += 1;
                }
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    })?;
    Ok(nonzeros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlr::example::parse_example;

    #[test]
    fn the_same_seed_writes_the_same_files_and_labels_follow_the_truth() {
        let dir = tempfile::tempdir().unwrap();
        let spec = MlrSpec {
            rows: 3000,
            test_rows: 10,
            classes: 3,
            features: 8,
            nnz_per_row: 4,
            scale: 4.0,
            seed: 9,
        };
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let generated = generate_mlr(&spec, &a).unwrap();
        generate_mlr(&spec, &b).unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert_eq!(text, std::fs::read_to_string(&b).unwrap());
        assert_eq!(
            std::fs::read_to_string(generated.test_path.unwrap())
                .unwrap()
                .lines()
                .count(),
            10
        );
        // With scores of deviation 4, the true model's most likely class is usually the label.
        let (shape, classes, truth) = crate::mlr::model::read_model(&generated.truth_path).unwrap();
        let mut right = 0;
        let mut scratch = vec![0.0; 3];
        for line in text.lines() {
            let e = parse_example(line, false).unwrap().unwrap();
            assert!(e.columns.len() <= 4);
            let (predicted, _) = crate::mlr::kernels::predict(
                &shape,
                &truth,
                &e.columns,
                &e.values,
                None,
                &mut scratch,
            );
            right += usize::from(classes.label_of(predicted) == e.label);
        }
        assert!(right > 3000 * 6 / 10, "{right} of 3000");
    }
}
