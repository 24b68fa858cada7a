//! `strads mlr`'s program (`crates/ap-apps/src/mlr/program.rs`) written sequentially: the same
//! model, solvers and outputs over a `Vec` of examples with `for` loops, for comparing the two
//! (the AP program's loops are `parallel_for`s, its sums accumulators, its agreements
//! `all_gather`s). On one worker the AP program computes exactly this.
//!
//! ```sh
//! strads gen mlr --rows 100000 --features 200 --classes 5 --out train.svm
//! cargo run --release -p strads-ap-apps --example mlr_sequential -- train.svm 1.0 [sgd]
//! ```
//!
//! Arguments: the libsvm file, `lambda`, and `sgd` for mini-batch SGD (default: L-BFGS), each
//! with `strads mlr`'s default settings. Prints one JSON line.

use std::path::Path;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use strads_ap_apps::mlr::example::{parse_example, Example};
use strads_ap_apps::mlr::kernels::{self, Shape};
use strads_ap_apps::mlr::lbfgs::minimize_with_l1;
use strads_ap_apps::mlr::{
    ClassMap, Fit, LbfgsStop, Metrics, MlrError, MlrParams, SgdSettings, Solver, StopReason,
    TraceRecord, L1,
};
use strads_io::DataError;

/// Reads a libsvm file; a malformed line is an error naming the file and the line.
pub fn read_examples(path: &Path, zero_based: bool) -> Result<Vec<Example>, MlrError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut examples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse_example(line, zero_based) {
            Ok(Some(example)) => examples.push(example),
            Ok(None) => {}
            Err(message) => return Err(DataError::parse(path, n as u64 + 1, message).into()),
        }
    }
    Ok(examples)
}

/// The whole program.
pub fn fit(params: &MlrParams) -> Result<Fit, MlrError> {
    let started = Instant::now();
    let mut rows = read_examples(&params.data, params.zero_based)?;
    let mut test = match &params.test {
        Some(path) => Some(read_examples(path, params.zero_based)?),
        None => None,
    };
    let n = rows.len();
    let nonzeros: u64 = rows.iter().map(|e| e.columns.len() as u64).sum();
    let width = rows.iter().map(Example::width).max().unwrap_or(0);
    if n == 0 {
        let what = "examples".into();
        return Err(DataError::Empty {
            path: params.data.clone(),
            what,
        }
        .into());
    }
    let classes = ClassMap::from_labels(rows.iter().map(|e| e.label));
    if classes.len() < 2 {
        return Err(MlrError::InvalidArgument(format!(
            "{}: every example has the label {}; multinomial logistic regression needs at \
             least two classes",
            params.data.display(),
            classes.label_of(0)
        )));
    }
    assign_classes(&mut rows, &classes, &params.data)?;
    if let (Some(test), Some(path)) = (test.as_mut(), &params.test) {
        assign_classes(test, &classes, path)?;
    }
    let shape = Shape {
        classes: classes.len(),
        features: width,
        intercept: params.intercept,
    };
    let load_seconds = started.elapsed().as_secs_f64();

    let l1 = L1 {
        strength: params.l1,
        coordinates: shape.penalised(),
    };
    let solving = Instant::now();
    let mut trace = Vec::new();
    let (weights, objective, gradient_norm, iterations, stop) = match params.solver {
        Solver::Lbfgs(settings) => {
            let outcome = minimize_with_l1(
                vec![0.0; shape.len()],
                &settings,
                &l1,
                |w| Ok::<_, MlrError>(objective_and_gradient(&rows, &shape, w, params.lambda)),
                |it| {
                    trace.push(TraceRecord {
                        iteration: it.iteration,
                        seconds: solving.elapsed().as_secs_f64(),
                        objective: it.objective,
                        gradient_norm: it.gradient_norm,
                        evaluations: it.evaluations,
                        step: None,
                        test_accuracy: None,
                    })
                },
            )?;
            let stop = match outcome.stop {
                LbfgsStop::Converged => StopReason::Converged,
                LbfgsStop::IterationLimit => StopReason::IterationLimit,
                LbfgsStop::NoProgress => StopReason::NoProgress,
                LbfgsStop::Stopped => StopReason::Interrupted,
            };
            let last = outcome.last;
            (
                outcome.point,
                last.objective,
                last.gradient_norm,
                last.iteration,
                stop,
            )
        }
        Solver::Sgd(settings) => {
            let penalties = (params.lambda, &l1);
            let weights = sgd(
                &mut rows,
                test.as_deref(),
                &shape,
                penalties,
                &settings,
                solving,
                &mut trace,
            );
            let last = trace.last().expect("every epoch is traced");
            (
                weights,
                last.objective,
                last.gradient_norm,
                settings.epochs,
                StopReason::EpochsDone,
            )
        }
    };
    let solve_seconds = solving.elapsed().as_secs_f64();
    let train = score(&rows, &shape, &weights);
    let test = test.as_ref().map(|test| score(test, &shape, &weights));
    Ok(Fit {
        classes,
        shape,
        weights,
        objective,
        gradient_norm,
        iterations,
        stop,
        rows: n,
        nonzeros,
        train,
        test,
        trace,
        load_seconds,
        solve_seconds,
        // The sequential program runs outside any cluster: no per-process figures.
        processes: Vec::new(),
    })
}

/// Sets every example's class; a label outside `classes` is an error.
fn assign_classes(rows: &mut [Example], classes: &ClassMap, path: &Path) -> Result<(), MlrError> {
    for example in rows {
        match classes.class_of(example.label) {
            Some(class) => example.class = class,
            None => {
                return Err(MlrError::InvalidArgument(format!(
                    "{}: label {} is not a class of the training data (its labels: {:?})",
                    path.display(),
                    example.label,
                    classes.labels()
                )))
            }
        }
    }
    Ok(())
}

/// `(F(W), grad F(W))`: every example's loss and gradient summed, then the penalty.
pub fn objective_and_gradient(
    rows: &[Example],
    shape: &Shape,
    weights: &[f64],
    lambda: f64,
) -> (f64, Vec<f64>) {
    let mut gradient = vec![0.0; shape.len()];
    let mut loss = 0.0;
    let mut scratch = vec![0.0; shape.classes];
    for e in rows {
        let (columns, values, class) = (&e.columns, &e.values, e.class as usize);
        loss += kernels::add_loss_gradient(
            shape,
            weights,
            columns,
            values,
            class,
            &mut scratch,
            &mut gradient,
        );
    }
    for (g, w) in gradient[..shape.penalised()].iter_mut().zip(weights) {
        *g += lambda * w;
    }
    (
        loss + lambda / 2.0 * kernels::penalty_norm(shape, weights),
        gradient,
    )
}

/// Accuracy and mean log-loss of `weights` on `rows`.
pub fn score(rows: &[Example], shape: &Shape, weights: &[f64]) -> Metrics {
    let (mut log_loss, mut correct) = (0.0, 0.0);
    let mut scratch = vec![0.0; shape.classes];
    for e in rows {
        let class = e.class as usize;
        let (predicted, loss) = kernels::predict(
            shape,
            weights,
            &e.columns,
            &e.values,
            Some(class),
            &mut scratch,
        );
        log_loss += loss.unwrap_or(0.0);
        correct += f64::from(u8::from(predicted == class));
    }
    let n = rows.len().max(1) as f64;
    Metrics {
        examples: rows.len(),
        accuracy: correct / n,
        log_loss: log_loss / n,
    }
}

/// `sign(x) max(|x| - t, 0)`, the proximal step of `t |x|`.
fn soft_threshold(x: f64, t: f64) -> f64 {
    x.signum() * (x.abs() - t).max(0.0)
}

/// Examples that stay together when the examples are shuffled (as in the AP program).
const SHUFFLE_CHUNK: usize = 64;

/// Permutes `examples` by chunks of [`SHUFFLE_CHUNK`] consecutive ones.
fn shuffle_in_chunks(examples: &mut Vec<Example>, rng: &mut ChaCha8Rng) {
    let mut order: Vec<usize> = (0..examples.len().div_ceil(SHUFFLE_CHUNK)).collect();
    order.shuffle(rng);
    let mut chunks: Vec<Vec<Example>> = Vec::new();
    while !examples.is_empty() {
        let rest = examples.split_off(SHUFFLE_CHUNK.min(examples.len()));
        chunks.push(std::mem::replace(examples, rest));
    }
    for chunk in order {
        examples.append(&mut chunks[chunk]);
    }
}

/// Mini-batch SGD: the weights after the last epoch.
fn sgd(
    rows: &mut Vec<Example>,
    test: Option<&[Example]>,
    shape: &Shape,
    (lambda, l1): (f64, &L1),
    settings: &SgdSettings,
    solving: Instant,
    trace: &mut Vec<TraceRecord>,
) -> Vec<f64> {
    let n = rows.len();
    let step0 = settings.step.unwrap_or_else(|| {
        let mean = rows.iter().map(Example::squared_norm).sum::<f64>() / n as f64
            + f64::from(u8::from(shape.intercept));
        1.0 / mean.max(f64::MIN_POSITIVE)
    });
    let mut w = vec![0.0; shape.len()];
    let (penalised, batch) = (shape.penalised(), settings.batch);
    for epoch in 0..settings.epochs {
        let seed = settings.seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9);
        shuffle_in_chunks(rows, &mut ChaCha8Rng::seed_from_u64(seed));
        let step = step0 / (1.0 + settings.decay * epoch as f64);
        // The L2 shrinkage and the L1 proximal step, once per mini-batch for the whole batch.
        let shrink_one = 1.0 - step * lambda / n as f64;
        let shrink_batch = shrink_one.powi(batch as i32);
        let threshold_one = step * l1.strength / n as f64;
        let threshold_batch = threshold_one * batch as f64;
        let mut scratch = vec![0.0; shape.classes];
        let mut since_shrink = 0usize;
        for e in rows.iter() {
            let (columns, values, class) = (&e.columns, &e.values, e.class as usize);
            kernels::sgd_step(shape, &mut w, columns, values, class, step, &mut scratch);
            since_shrink += 1;
            if since_shrink == batch {
                for x in &mut w[..penalised] {
                    *x = soft_threshold(*x * shrink_batch, threshold_batch);
                }
                since_shrink = 0;
            }
        }
        // The shrinkage still owed for the last partial mini-batch.
        let owed = since_shrink as f64;
        for x in &mut w[..penalised] {
            *x = soft_threshold(*x * shrink_one.powf(owed), threshold_one * owed);
        }
        let (objective, gradient) = objective_and_gradient(rows, shape, &w, lambda);
        let pseudo = l1.pseudo_gradient(&w, &gradient);
        trace.push(TraceRecord {
            iteration: epoch + 1,
            seconds: solving.elapsed().as_secs_f64(),
            objective: objective + l1.value(&w),
            gradient_norm: pseudo.iter().map(|g| g * g).sum::<f64>().sqrt(),
            evaluations: epoch + 1,
            step: Some(step),
            test_accuracy: test.map(|test| score(test, shape, &w).accuracy),
        });
    }
    w
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(data), Some(Ok(lambda))) = (args.first(), args.get(1).map(|l| l.parse::<f64>()))
    else {
        eprintln!("usage: mlr_sequential FILE LAMBDA [sgd]");
        std::process::exit(2);
    };
    let mut params = MlrParams::new(Path::new(data));
    params.lambda = lambda;
    if args.get(2).map(String::as_str) == Some("sgd") {
        params.solver = Solver::Sgd(SgdSettings::default());
    }
    match fit(&params) {
        Ok(fit) => println!(
            "{{\"objective\":{},\"gradient_norm\":{},\"iterations\":{},\"train_accuracy\":{},\"solve_seconds\":{}}}",
            fit.objective, fit.gradient_norm, fit.iterations, fit.train.accuracy, fit.solve_seconds
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(if e.is_bad_input() { 2 } else { 1 });
        }
    }
}
