//! Scoring a file with a saved model: each worker predicts its byte range of the file.

use std::path::Path;

use strads_ap::{ApConfig, ApError};

use super::kernels;
use super::model::read_model;
use super::program::{read_examples, Metrics};
use super::MlrError;

/// The predicted label of every example of a file, in file order, and the metrics when every
/// label of the file is one of the model's classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// One predicted label per example.
    pub labels: Vec<i64>,
    /// Accuracy and log-loss against the file's labels, if they are all classes of the model.
    pub metrics: Option<Metrics>,
}

/// Predicts the examples of `data` with the model at `model`; the result on the process that
/// runs worker 0 (`None` on the others).
pub fn predict(
    config: &ApConfig,
    model: &Path,
    data: &Path,
    zero_based: bool,
) -> Result<Option<Predictions>, MlrError> {
    let (shape, classes, weights) = read_model(model)?;
    let data = data.to_path_buf();
    let leader_here = config.cluster.process == 0;
    let mut results = strads_ap::run(config, move |ap| {
        let examples = read_examples(ap, &data, zero_based)?;
        let mut scratch = vec![0.0; shape.classes];
        // [log-loss sum, correct, examples whose label is a class]
        let mut sums = [0.0; 3];
        let mut predicted = Vec::with_capacity(examples.local().len());
        for e in examples.local() {
            let class = classes.class_of(e.label).map(|c| c as usize);
            let (best, loss) =
                kernels::predict(&shape, &weights, &e.columns, &e.values, class, &mut scratch);
            predicted.push(classes.label_of(best));
            if let (Some(class), Some(loss)) = (class, loss) {
                sums[0] += loss;
                sums[1] += f64::from(u8::from(best == class));
                sums[2] += 1.0;
            }
        }
        let sums = ap.sum_vec(&sums)?;
        let predicted = ap.dvector_from_parts(predicted)?;
        let labels = ap.gather(&predicted)?.unwrap_or_default();
        let n = examples.len();
        let metrics = (sums[2] as usize == n && n > 0).then(|| Metrics {
            examples: n,
            accuracy: sums[1] / n as f64,
            log_loss: sums[0] / n as f64,
        });
        Ok::<_, ApError>(Predictions { labels, metrics })
    })?;
    Ok(if leader_here && !results.is_empty() {
        Some(results.swap_remove(0))
    } else {
        None
    })
}
