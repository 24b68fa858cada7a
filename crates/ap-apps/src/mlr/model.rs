//! The model files: `FILE` holds the weights, `FILE.classes` the label of each class.
//!
//! `FILE`: a header line `mlr classes K features d intercept yes|no`, then one line per class
//! `k` (in class order) with its `d` feature weights and, with an intercept, its intercept last.
//! `FILE.classes`: line `k + 1` is the label of class `k`. Both are written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use strads_io::{write_atomic, DataError};

use super::classes::ClassMap;
use super::kernels::Shape;

/// Where the class labels of the model at `model` go: `model` with `.classes` appended.
pub fn classes_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".classes");
    PathBuf::from(name)
}

/// Writes the model (weights feature-major, as the kernels hold them) and its classes.
pub fn write_model(
    path: &Path,
    shape: &Shape,
    classes: &ClassMap,
    weights: &[f64],
) -> Result<(), DataError> {
    let k = shape.classes;
    write_atomic(path, |w| {
        writeln!(
            w,
            "mlr classes {k} features {} intercept {}",
            shape.features,
            if shape.intercept { "yes" } else { "no" }
        )?;
        let mut buffer = ryu::Buffer::new();
        let rows = shape.features + usize::from(shape.intercept);
        for class in 0..k {
            for j in 0..rows {
                if j > 0 {
                    w.write_all(b" ")?;
                }
                w.write_all(buffer.format(weights[j * k + class]).as_bytes())?;
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    })?;
    write_atomic(&classes_path(path), |w| {
        for label in classes.labels() {
            writeln!(w, "{label}")?;
        }
        Ok(())
    })
}

/// Reads a model written by [`write_model`]: its shape, classes and weights (feature-major).
pub fn read_model(path: &Path) -> Result<(Shape, ClassMap, Vec<f64>), DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let shape = match header[..] {
        ["mlr", "classes", k, "features", d, "intercept", i] => match (k.parse(), d.parse()) {
            (Ok(classes), Ok(features)) if classes >= 2 && (i == "yes" || i == "no") => Shape {
                classes,
                features,
                intercept: i == "yes",
            },
            _ => return Err(DataError::parse(path, 1, "a malformed model header")),
        },
        _ => {
            return Err(DataError::parse(
                path,
                1,
                "expected `mlr classes K features d intercept yes|no` (the header of a model \
                 that mlr training writes)",
            ))
        }
    };
    let k = shape.classes;
    let rows = shape.features + usize::from(shape.intercept);
    let mut weights = vec![0.0; shape.len()];
    for class in 0..k {
        let line_number = class as u64 + 2;
        let line = lines.next().ok_or_else(|| {
            DataError::parse(
                path,
                line_number,
                format!("expected class {class}'s weights, found the end of the file"),
            )
        })?;
        let values: Vec<f64> = line
            .split_whitespace()
            .map(|t| t.parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| DataError::parse(path, line_number, "expected finite numbers"))?;
        if values.len() != rows {
            return Err(DataError::parse(
                path,
                line_number,
                format!("expected {rows} weights, found {}", values.len()),
            ));
        }
        for (j, v) in values.into_iter().enumerate() {
            weights[j * k + class] = v;
        }
    }
    let classes_file = classes_path(path);
    let labels_text =
        std::fs::read_to_string(&classes_file).map_err(|e| DataError::io(&classes_file, e))?;
    let mut labels = Vec::with_capacity(k);
    for (n, line) in labels_text.lines().enumerate() {
        let label = line.trim().parse::<i64>().map_err(|_| {
            DataError::parse(&classes_file, n as u64 + 1, "expected an integer label")
        })?;
        labels.push(label);
    }
    let classes = ClassMap::from_labels(labels.iter().copied());
    if classes.labels() != labels.as_slice() || labels.len() != k {
        return Err(DataError::invalid(
            &classes_file,
            format!("expected {k} distinct labels in increasing order, one per line"),
        ));
    }
    Ok((shape, classes, weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_model_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        let shape = Shape {
            classes: 3,
            features: 2,
            intercept: true,
        };
        let weights: Vec<f64> = (0..9).map(|i| i as f64 / 7.0 - 0.3).collect();
        let classes = ClassMap::from_labels([-1, 3, 7]);
        write_model(&path, &shape, &classes, &weights).unwrap();
        assert_eq!(read_model(&path).unwrap(), (shape, classes, weights));
        assert_eq!(
            std::fs::read_to_string(classes_path(&path)).unwrap(),
            "-1\n3\n7\n"
        );
    }
}
