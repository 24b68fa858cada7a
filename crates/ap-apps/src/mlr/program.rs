//! The AP program: load, solve, score. Runs on every worker (SPMD); between loops every worker
//! holds the same weights and computes the same values.

use std::cell::{Cell, RefCell};
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use strads_ap::{
    in_memory_on_one_process, Ap, ApApp, ApError, ClusterConfig, Consistency, DVector,
    ProcessFigures, Run, Timing,
};
use strads_io::DataError;

use super::classes::ClassMap;
use super::example::{parse_line, zero_index_message, Example, LineProblem};
use super::kernels::{self, Shape};
use super::lbfgs::{minimize_until, LbfgsStop, L1};
use super::{MlrError, MlrParams, SgdSettings, Solver};

/// Why the solver stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// L-BFGS: the gradient norm reached the tolerance.
    Converged,
    /// L-BFGS: `max_iterations` came first.
    IterationLimit,
    /// L-BFGS: no decrease to floating-point precision (at the minimum, in practice).
    NoProgress,
    /// SGD: every epoch ran.
    EpochsDone,
    /// The caller asked to stop (the Python bindings, on Ctrl-C), at an L-BFGS iteration or
    /// after an SGD epoch.
    Interrupted,
}

/// Accuracy and mean log-loss on a set of examples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Examples scored.
    pub examples: usize,
    /// Fraction predicted right.
    pub accuracy: f64,
    /// Mean `-log p(y_i | x_i)`.
    pub log_loss: f64,
}

/// One line of the trace: an L-BFGS iteration or an SGD epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceRecord {
    /// Iteration (L-BFGS; 0 is the start) or epochs done (SGD).
    pub iteration: usize,
    /// Seconds since solving started (loading excluded).
    pub seconds: f64,
    /// `F(W)`.
    pub objective: f64,
    /// `||grad F(W)||_2`.
    pub gradient_norm: f64,
    /// Objective evaluations so far (L-BFGS), passes over the examples (SGD, scoring excluded).
    pub evaluations: usize,
    /// SGD: the epoch's step size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// SGD with test data: the test accuracy after the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
}

/// A fitted model and how it was reached.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// The classes' labels.
    pub classes: ClassMap,
    /// Classes, features, intercept.
    pub shape: Shape,
    /// The weights, feature-major (see [`kernels`]).
    pub weights: Vec<f64>,
    /// `F(W)`.
    pub objective: f64,
    /// `||grad F(W)||_2`.
    pub gradient_norm: f64,
    /// L-BFGS iterations or SGD epochs.
    pub iterations: usize,
    /// Why it stopped.
    pub stop: StopReason,
    /// Training examples and their nonzeros.
    pub rows: usize,
    /// Nonzero feature values in the training data.
    pub nonzeros: u64,
    /// On the training data.
    pub train: Metrics,
    /// On the test data, if any.
    pub test: Option<Metrics>,
    /// Per iteration or epoch.
    pub trace: Vec<TraceRecord>,
    /// Seconds reading the inputs (the runner's load clock).
    pub load_seconds: f64,
    /// Seconds solving (the runner's solve clock; scoring excluded).
    pub solve_seconds: f64,
    /// Per process, process 0 first (empty on workers other than 0): bytes of the training and
    /// test files it read, the examples its workers hold (over all processes, every training
    /// and test example once) and its peak memory, gathered at the end of the run.
    pub processes: Vec<strads_ap::ProcessFigures>,
}

/// Reads a libsvm file into a vector of examples, each worker its byte range.
pub fn read_examples(
    ap: &mut Ap<'_, '_>,
    path: &Path,
    zero_based: bool,
) -> Result<DVector<Example>, ApError> {
    // The token of a feature index 0 that stopped this worker's read.
    let mut zero_index: Option<String> = None;
    let read = ap.read_lines(path, |line| {
        parse_line(line, zero_based).map_err(|problem| match problem {
            LineProblem::Expected(message) => message,
            LineProblem::ZeroIndex { token } => {
                let message = zero_index_message(&token);
                zero_index = Some(token);
                message
            }
        })
    });
    match read {
        Ok(rows) => Ok(rows.with_name("examples")),
        // Every worker has this same error (read_lines agrees on one failing line), so every
        // worker takes part in this gather; a token whose sentence is the error's makes it the
        // typed DataError::ZeroIndex (the same token on another line says the same).
        Err(ApError::Data(DataError::Parse {
            path,
            line,
            message,
        })) => {
            let tokens = ap.all_gather(&zero_index)?;
            let token = tokens
                .into_iter()
                .flatten()
                .find(|token| zero_index_message(token) == message);
            Err(ApError::Data(match token {
                Some(token) => DataError::ZeroIndex { path, line, token },
                _ => DataError::Parse {
                    path,
                    line,
                    message,
                },
            }))
        }
        Err(error) => Err(error),
    }
}

/// The app on the runner ([`strads_ap::ApApp`]): load, solve, score.
pub(crate) struct Mlr;

/// A worker's share once loaded, and what every worker agreed on about the data.
pub(crate) struct Loaded {
    rows: DVector<Example>,
    test: Option<DVector<Example>>,
    classes: ClassMap,
    shape: Shape,
    /// Training examples, all workers.
    n: usize,
    /// Training nonzeros, all workers.
    nonzeros: u64,
}

/// A worker's state once solved (and, after gathering, scored).
pub(crate) struct Solved {
    loaded: Loaded,
    weights: Vec<f64>,
    objective: f64,
    gradient_norm: f64,
    iterations: usize,
    stop: StopReason,
    trace: Vec<TraceRecord>,
    /// On the training and the test data, once gathered.
    scores: Option<(Metrics, Option<Metrics>)>,
}

impl ApApp for Mlr {
    type Params = MlrParams;
    type Record = TraceRecord;
    type Loaded = Loaded;
    type Solved = Solved;
    type Output = Fit;
    type Error = MlrError;

    fn check(params: &MlrParams, cluster: &ClusterConfig) -> Result<(), MlrError> {
        super::check_params(params)?;
        in_memory_on_one_process(
            params.in_memory.is_some(),
            cluster,
            "examples in memory are trained on the threads of one process; the other \
             processes would not have them",
        )?;
        Ok(())
    }

    fn load(
        ap: &mut Ap<'_, '_>,
        params: &MlrParams,
        _run: &mut Run<TraceRecord>,
    ) -> Result<Loaded, MlrError> {
        load(ap, params)
    }

    fn solve(
        ap: &mut Ap<'_, '_>,
        params: &MlrParams,
        loaded: Loaded,
        run: &mut Run<TraceRecord>,
    ) -> Result<Solved, MlrError> {
        solve(ap, params, loaded, run)
    }

    fn gather(
        ap: &mut Ap<'_, '_>,
        _params: &MlrParams,
        solved: &mut Solved,
    ) -> Result<u64, MlrError> {
        let Loaded {
            rows, test, shape, ..
        } = &mut solved.loaded;
        // Training and test examples this worker holds (the vectors are range-partitioned and
        // keep their cut through the run's loops).
        let held = rows.local().len() + test.as_ref().map_or(0, |t| t.local().len());
        let train = score(ap, rows, shape, &solved.weights)?;
        let test = match test.as_mut() {
            Some(test) => Some(score(ap, test, shape, &solved.weights)?),
            None => None,
        };
        solved.scores = Some((train, test));
        Ok(held as u64)
    }

    fn summarise(
        _params: &MlrParams,
        solved: Solved,
        timing: Timing,
        processes: Vec<ProcessFigures>,
    ) -> Fit {
        let (train, test) = solved.scores.expect("gathered before summarising");
        Fit {
            classes: solved.loaded.classes,
            shape: solved.loaded.shape,
            weights: solved.weights,
            objective: solved.objective,
            gradient_norm: solved.gradient_norm,
            iterations: solved.iterations,
            stop: solved.stop,
            rows: solved.loaded.n,
            nonzeros: solved.loaded.nonzeros,
            train,
            test,
            trace: solved.trace,
            load_seconds: timing.load_seconds,
            solve_seconds: timing.solve_seconds,
            processes,
        }
    }
}

/// Reads the examples, agrees on their sizes and classes.
fn load(ap: &mut Ap<'_, '_>, params: &MlrParams) -> Result<Loaded, MlrError> {
    let mut rows = match &params.in_memory {
        Some(examples) => {
            let local = examples.share(ap.index(), ap.workers());
            ap.dvector_from_parts(local)?.with_name("examples")
        }
        None => read_examples(ap, &params.data, params.zero_based)?,
    };
    let mut test = match &params.test {
        Some(path) => Some(read_examples(ap, path, params.zero_based)?),
        None => None,
    };
    let (n, nonzeros, width) = sizes(ap, &rows)?;
    // Arrays in memory say their width; trailing features without a value get zero weights.
    let width = width.max(params.in_memory.as_ref().map_or(0, |m| m.width()));
    if n == 0 {
        return Err(MlrError::Data(strads_io::DataError::Empty {
            path: params.data.clone(),
            what: "examples".into(),
        }));
    }
    let local_labels = ClassMap::from_labels(rows.local().iter().map(|e| e.label));
    let classes = ClassMap::from_labels(
        ap.all_gather(&local_labels.labels().to_vec())?
            .into_iter()
            .flatten(),
    );
    if classes.len() < 2 {
        return Err(MlrError::InvalidArgument(format!(
            "{}: every example has the label {}; multinomial logistic regression needs at \
             least two classes",
            params.data.display(),
            classes.label_of(0)
        )));
    }
    assign_classes(ap, &mut rows, &classes, &params.data)?;
    if let (Some(test), Some(path)) = (test.as_mut(), &params.test) {
        assign_classes(ap, test, &classes, path)?;
    }
    let shape = Shape {
        classes: classes.len(),
        features: width,
        intercept: params.intercept,
    };
    Ok(Loaded {
        rows,
        test,
        classes,
        shape,
        n,
        nonzeros,
    })
}

/// Runs the solver until it stops: converged, out of iterations or epochs, or asked to.
fn solve(
    ap: &mut Ap<'_, '_>,
    params: &MlrParams,
    mut loaded: Loaded,
    run: &mut Run<TraceRecord>,
) -> Result<Solved, MlrError> {
    let Loaded {
        rows,
        test,
        shape,
        n,
        ..
    } = &mut loaded;
    let l1 = L1 {
        strength: params.l1,
        coordinates: shape.penalised(),
    };
    let mut trace = Vec::new();
    let (weights, objective, gradient_norm, iterations, stop) = match params.solver {
        Solver::Lbfgs(settings) => {
            // The objective's loops and the stop rule's collective both need the handle, and
            // the observer and the stop rule the run; the solver calls them one at a time.
            let ap = RefCell::new(&mut *ap);
            let run = RefCell::new(&mut *run);
            let last_iteration = Cell::new(0u64);
            let outcome = minimize_until(
                vec![0.0; shape.len()],
                &settings,
                &l1,
                |w| {
                    objective_and_gradient(&mut ap.borrow_mut(), rows, shape, w, params.lambda)
                        .map_err(MlrError::from)
                },
                |it| {
                    let run = run.borrow();
                    let record = TraceRecord {
                        iteration: it.iteration,
                        seconds: run.seconds(),
                        objective: it.objective,
                        gradient_norm: it.gradient_norm,
                        evaluations: it.evaluations,
                        step: None,
                        test_accuracy: None,
                    };
                    run.observe(ap.borrow_mut().engine(), &record);
                    last_iteration.set(it.iteration as u64);
                    trace.push(record);
                },
                || {
                    let mut run = run.borrow_mut();
                    let seconds = run.seconds();
                    let boundary =
                        run.boundary(ap.borrow_mut().engine(), last_iteration.get(), seconds)?;
                    Ok(boundary.stop.is_some())
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
            let weights = sgd(
                ap,
                rows,
                test.as_mut(),
                shape,
                (params.lambda, &l1),
                *n,
                &settings,
                (&mut trace, run),
            )?;
            let last = trace.last().expect("every epoch is traced");
            let (objective, gradient_norm, epochs) =
                (last.objective, last.gradient_norm, last.iteration);
            let stop = if epochs < settings.epochs {
                StopReason::Interrupted
            } else {
                StopReason::EpochsDone
            };
            (weights, objective, gradient_norm, epochs, stop)
        }
    };
    Ok(Solved {
        loaded,
        weights,
        objective,
        gradient_norm,
        iterations,
        stop,
        trace,
        scores: None,
    })
}

/// Examples, nonzeros and width (one past the largest column) of the whole vector.
fn sizes(ap: &mut Ap<'_, '_>, rows: &DVector<Example>) -> Result<(usize, u64, usize), ApError> {
    let local = rows.local();
    let nonzeros: u64 = local.iter().map(|e| e.columns.len() as u64).sum();
    let width = local.iter().map(Example::width).max().unwrap_or(0) as u64;
    let all = ap.all_gather(&(nonzeros, width))?;
    Ok((
        rows.len(),
        all.iter().map(|a| a.0).sum(),
        all.iter().map(|a| a.1).max().unwrap_or(0) as usize,
    ))
}

/// Sets every example's class; a label outside `classes` (a test label never seen in training)
/// fails every worker with the same error.
fn assign_classes(
    ap: &mut Ap<'_, '_>,
    rows: &mut DVector<Example>,
    classes: &ClassMap,
    path: &Path,
) -> Result<(), MlrError> {
    let mut unknown = None;
    for example in rows.local_mut() {
        match classes.class_of(example.label) {
            Some(class) => example.class = class,
            None => unknown = unknown.or(Some(example.label)),
        }
    }
    if let Some(label) = ap.all_gather(&unknown)?.into_iter().flatten().next() {
        return Err(MlrError::InvalidArgument(format!(
            "{}: label {label} is not a class of the training data (its labels: {:?})",
            path.display(),
            classes.labels()
        )));
    }
    Ok(())
}

/// `(F(W), grad F(W))`: one `Bsp` loop, a single mini-batch per worker, summing every example's
/// loss and gradient into an accumulator; the penalty is added between loops.
pub fn objective_and_gradient(
    ap: &mut Ap<'_, '_>,
    rows: &mut DVector<Example>,
    shape: &Shape,
    weights: &[f64],
    lambda: f64,
) -> Result<(f64, Vec<f64>), ApError> {
    let len = shape.len();
    // The gradient, then the loss in the last slot.
    let mut sums = ap.accumulator(vec![0.0; len + 1]).with_name("gradient");
    let mut scratch = vec![0.0; shape.classes];
    ap.parallel_for(rows, (&mut sums,))
        .name("mlr gradient")
        .batch(usize::MAX)
        .run(Consistency::Bsp, |e, (sums,)| {
            let (gradient, loss) = sums.split_at_mut(len);
            loss[0] += kernels::add_loss_gradient(
                shape,
                weights,
                &e.columns,
                &e.values,
                e.class as usize,
                &mut scratch,
                gradient,
            );
        })?;
    let mut gradient = sums.get().clone();
    let loss = gradient.pop().unwrap_or(0.0);
    let penalised = shape.penalised();
    for (g, w) in gradient[..penalised].iter_mut().zip(weights) {
        *g += lambda * w;
    }
    Ok((
        loss + lambda / 2.0 * kernels::penalty_norm(shape, weights),
        gradient,
    ))
}

/// Accuracy and mean log-loss of `weights` on `rows`.
pub fn score(
    ap: &mut Ap<'_, '_>,
    rows: &mut DVector<Example>,
    shape: &Shape,
    weights: &[f64],
) -> Result<Metrics, ApError> {
    // [log-loss sum, correct predictions]
    let mut sums = ap.accumulator(vec![0.0; 2]).with_name("scores");
    let mut scratch = vec![0.0; shape.classes];
    ap.parallel_for(rows, (&mut sums,))
        .name("mlr score")
        .batch(usize::MAX)
        .run(Consistency::Bsp, |e, (sums,)| {
            let class = e.class as usize;
            let (predicted, loss) = kernels::predict(
                shape,
                weights,
                &e.columns,
                &e.values,
                Some(class),
                &mut scratch,
            );
            sums[0] += loss.unwrap_or(0.0);
            sums[1] += f64::from(u8::from(predicted == class));
        })?;
    let n = rows.len().max(1) as f64;
    Ok(Metrics {
        examples: rows.len(),
        accuracy: sums.get()[1] / n,
        log_loss: sums.get()[0] / n,
    })
}

/// `sign(x) max(|x| - t, 0)`, the proximal step of `t |x|`.
fn soft_threshold(x: f64, t: f64) -> f64 {
    x.signum() * (x.abs() - t).max(0.0)
}

/// Examples that stay together when [`shuffle_in_chunks`] permutes a worker's examples.
const SHUFFLE_CHUNK: usize = 64;

/// Permutes `examples` by chunks of [`SHUFFLE_CHUNK`] consecutive ones. A full shuffle scatters
/// the examples away from their features in memory (each holds its own allocation, made in file
/// order): on the 1M-example problem an SGD epoch then took 2.9 s, of which the passes over the
/// scattered examples were most. Chunks keep 64 examples' features together; SGD needs the
/// order to change between epochs, not every example to move on its own.
fn shuffle_in_chunks(examples: &mut [Example], rng: &mut ChaCha8Rng) {
    let mut order: Vec<usize> = (0..examples.len().div_ceil(SHUFFLE_CHUNK)).collect();
    order.shuffle(rng);
    let empty = || Example {
        label: 0,
        class: 0,
        columns: Box::new([]),
        values: Box::new([]),
    };
    let mut old: Vec<Example> = examples
        .iter_mut()
        .map(|e| std::mem::replace(e, empty()))
        .collect();
    let mut slots = examples.iter_mut();
    for chunk in order {
        let end = ((chunk + 1) * SHUFFLE_CHUNK).min(old.len());
        for example in &mut old[chunk * SHUFFLE_CHUNK..end] {
            *slots.next().expect("as many slots as examples") = std::mem::replace(example, empty());
        }
    }
}

/// Mini-batch SGD (see the module docs of [`super`]); returns the weights after the last epoch
/// (every epoch, or the one after which a stop was requested).
#[allow(clippy::too_many_arguments)]
fn sgd(
    ap: &mut Ap<'_, '_>,
    rows: &mut DVector<Example>,
    mut test: Option<&mut DVector<Example>>,
    shape: &Shape,
    (lambda, l1): (f64, &L1),
    n: usize,
    settings: &SgdSettings,
    (trace, run): (&mut Vec<TraceRecord>, &mut Run<TraceRecord>),
) -> Result<Vec<f64>, MlrError> {
    let step0 = match settings.step {
        Some(step) => step,
        None => {
            let local: f64 = rows.local().iter().map(Example::squared_norm).sum();
            let mean = ap.sum(local)? / n as f64 + f64::from(u8::from(shape.intercept));
            1.0 / mean.max(f64::MIN_POSITIVE)
        }
    };
    let mut weights = ap.accumulator(vec![0.0; shape.len()]).with_name("weights");
    let penalised = shape.penalised();
    let batch = settings.batch;
    for epoch in 0..settings.epochs {
        // A fresh order every epoch; the examples are a bag, so permuting a worker's own
        // examples changes nothing else.
        let seed =
            settings.seed ^ ((ap.index() as u64) << 32) ^ (epoch as u64).wrapping_mul(0x9e37_79b9);
        shuffle_in_chunks(rows.local_mut(), &mut ChaCha8Rng::seed_from_u64(seed));
        let step = step0 / (1.0 + settings.decay * epoch as f64);
        // The penalty's share of one example's gradient is lambda/n W: a factor (1 - step
        // lambda / n) per example, applied once per mini-batch for the whole batch.
        let shrink_one = 1.0 - step * lambda / n as f64;
        let shrink_batch = shrink_one.powi(batch as i32);
        // The L1 term's proximal step for a mini-batch: soft-thresholding by its share.
        let threshold_one = step * l1.strength / n as f64;
        let threshold_batch = threshold_one * batch as f64;
        let mut scratch = vec![0.0; shape.classes];
        let mut since_shrink = 0usize;
        ap.parallel_for(rows, (&mut weights,))
            .name("mlr sgd")
            .batch(batch)
            .run(settings.consistency, |e, (w,)| {
                // A stop request skips the rest of the epoch (prompt Ctrl-C in Python).
                if run.stop_set() {
                    return;
                }
                kernels::sgd_step(
                    shape,
                    &mut w[..],
                    &e.columns,
                    &e.values,
                    e.class as usize,
                    step,
                    &mut scratch,
                );
                since_shrink += 1;
                if since_shrink == batch {
                    for x in &mut w[..penalised] {
                        *x = soft_threshold(*x * shrink_batch, threshold_batch);
                    }
                    since_shrink = 0;
                }
            })?;
        // The shrinkage still owed for every worker's last partial mini-batch.
        let owed = ap.sum(since_shrink as f64)?;
        let mut current = weights.get().clone();
        let factor = shrink_one.powf(owed);
        for x in &mut current[..penalised] {
            *x = soft_threshold(*x * factor, threshold_one * owed);
        }
        weights.set(current);
        let (objective, gradient) = objective_and_gradient(ap, rows, shape, weights.get(), lambda)?;
        let test_accuracy = match test.as_deref_mut() {
            Some(test) => Some(score(ap, test, shape, weights.get())?.accuracy),
            None => None,
        };
        let pseudo = l1.pseudo_gradient(weights.get(), &gradient);
        let record = TraceRecord {
            iteration: epoch + 1,
            seconds: run.seconds(),
            objective: objective + l1.value(weights.get()),
            gradient_norm: pseudo.iter().map(|g| g * g).sum::<f64>().sqrt(),
            evaluations: epoch + 1,
            step: Some(step),
            test_accuracy,
        };
        run.observe(ap.engine(), &record);
        trace.push(record);
        let seconds = run.seconds();
        if run
            .boundary(ap.engine(), (epoch + 1) as u64, seconds)?
            .stop
            .is_some()
        {
            break;
        }
    }
    Ok(weights.get().clone())
}
