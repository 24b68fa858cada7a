//! L-BFGS: the quasi-Newton direction by the two-loop recursion over the last `m` steps, and a
//! backtracking line search. Plain sequential code: the objective and its gradient come from a
//! closure (in `strads mlr`, one parallel loop over the examples per call).
//!
//! With an [`L1`] term the solver is OWL-QN (Andrew and Gao, 2007): the pseudo-gradient (the
//! steepest-descent direction of the non-smooth objective) stands for the gradient, the direction
//! keeps only components that descend along it, and every trial point is projected onto the
//! orthant of the current point (a coordinate that would change sign becomes 0).

use std::collections::VecDeque;

/// When to stop and how much history to keep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsSettings {
    /// Pairs `(s, y)` kept for the inverse-Hessian approximation.
    pub memory: usize,
    /// Stop when `||grad F(w)|| <= tol * max(1, ||grad F(w_0)||)`.
    pub tol: f64,
    /// Stop after this many iterations (direction and line search).
    pub max_iterations: usize,
}

impl Default for LbfgsSettings {
    fn default() -> Self {
        LbfgsSettings {
            memory: 10,
            tol: 1e-6,
            max_iterations: 500,
        }
    }
}

/// Why the solver stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LbfgsStop {
    /// The gradient norm reached the tolerance.
    Converged,
    /// The iteration limit came first.
    IterationLimit,
    /// The line search found no decrease along a descent direction: the objective is at its
    /// minimum to the precision of its floating-point evaluation.
    NoProgress,
    /// The caller asked to stop ([`minimize_until`]).
    Stopped,
}

/// The state after one iteration, for traces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsIteration {
    /// Iterations done (0: the starting point).
    pub iteration: usize,
    /// `F(w)`.
    pub objective: f64,
    /// `||grad F(w)||_2`.
    pub gradient_norm: f64,
    /// Objective evaluations so far.
    pub evaluations: usize,
}

/// The result of [`minimize`].
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsOutcome {
    /// The last point.
    pub point: Vec<f64>,
    /// Its iteration record.
    pub last: LbfgsIteration,
    /// Why it stopped.
    pub stop: LbfgsStop,
}

/// The last `m` steps `s = w' - w` and gradient changes `y = g' - g`, with `1 / (s . y)`.
struct History {
    capacity: usize,
    pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl History {
    /// Keeps the pair when it has positive curvature (`s . y > 0`, which a convex objective
    /// guarantees up to rounding); a pair without would make the approximation indefinite.
    fn push(&mut self, s: Vec<f64>, y: Vec<f64>) {
        let sy = dot(&s, &y);
        if sy <= 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() || sy <= 0.0 {
            return;
        }
        if self.pairs.len() == self.capacity {
            self.pairs.pop_front();
        }
        self.pairs.push_back((s, y, 1.0 / sy));
    }

    /// `-H g` by the two-loop recursion, with `H_0 = (s . y / y . y) I` from the newest pair.
    fn direction(&self, gradient: &[f64]) -> Vec<f64> {
        let mut q = gradient.to_vec();
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for (s, y, rho) in self.pairs.iter().rev() {
            let alpha = rho * dot(s, &q);
            for (qi, yi) in q.iter_mut().zip(y) {
                *qi -= alpha * yi;
            }
            alphas.push(alpha);
        }
        if let Some((_, y, rho)) = self.pairs.back() {
            let gamma = 1.0 / (rho * dot(y, y));
            for qi in q.iter_mut() {
                *qi *= gamma;
            }
        }
        for ((s, y, rho), alpha) in self.pairs.iter().zip(alphas.iter().rev()) {
            let beta = rho * dot(y, &q);
            for (qi, si) in q.iter_mut().zip(s) {
                *qi += (alpha - beta) * si;
            }
        }
        for qi in q.iter_mut() {
            *qi = -*qi;
        }
        q
    }
}

/// An L1 term `strength * sum_{i < coordinates} |w_i|` added to the objective.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct L1 {
    /// The multiplier (0: none).
    pub strength: f64,
    /// How many leading coordinates it covers (the others, e.g. intercepts, are free).
    pub coordinates: usize,
}

impl L1 {
    /// Whether there is an L1 term.
    pub fn is_active(&self) -> bool {
        self.strength > 0.0
    }

    /// `strength * ||w_{..coordinates}||_1`.
    pub fn value(&self, w: &[f64]) -> f64 {
        if !self.is_active() {
            return 0.0;
        }
        self.strength * w[..self.coordinates].iter().map(|x| x.abs()).sum::<f64>()
    }

    /// The pseudo-gradient of `f + L1` from the smooth part's gradient `g`: at `w_i != 0` the
    /// derivative `g_i + c sign(w_i)`; at `w_i = 0` the one-sided derivative that descends, or 0
    /// when neither does (`|g_i| <= c`: 0 is optimal in that coordinate).
    pub fn pseudo_gradient(&self, w: &[f64], g: &[f64]) -> Vec<f64> {
        let mut pg = g.to_vec();
        if !self.is_active() {
            return pg;
        }
        let c = self.strength;
        for (i, p) in pg.iter_mut().enumerate().take(self.coordinates) {
            *p = if w[i] > 0.0 {
                g[i] + c
            } else if w[i] < 0.0 {
                g[i] - c
            } else if g[i] + c < 0.0 {
                g[i] + c
            } else if g[i] - c > 0.0 {
                g[i] - c
            } else {
                0.0
            };
        }
        pg
    }
}

/// Sufficient decrease: accept a step when `F(w + t d) <= F(w) + C1 t (g . d)`.
const C1: f64 = 1e-4;
/// Halvings of the step before the line search gives up.
const MAX_HALVINGS: usize = 40;
/// An iteration that lowers `F` by less than this fraction of `|F|` ends the run
/// ([`LbfgsStop::NoProgress`]): the objective is then exact to about 100 units in the last place,
/// and below that the sufficient-decrease test passes on rounding alone (`F + C1 t slope` rounds to
/// `F`), so the line search would accept steps that do nothing. On a 1M-example problem the
/// gradient norm stalled at 2.3e-4 (3.5e-9 of its start) while hundreds of evaluations changed `F` by
/// one unit in the last place.
const RELATIVE_DECREASE_FLOOR: f64 = 1e-14;

/// Minimises `F` from `start`. `evaluate(w)` returns `(F(w), grad F(w))`; `observe` sees every
/// iteration (the start included). An error of `evaluate` stops the solver and is returned.
pub fn minimize<E>(
    start: Vec<f64>,
    settings: &LbfgsSettings,
    evaluate: impl FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    observe: impl FnMut(&LbfgsIteration),
) -> Result<LbfgsOutcome, E> {
    minimize_with_l1(start, settings, &L1::default(), evaluate, observe)
}

/// Minimises `f + l1` from `start` (OWL-QN when `l1` is active; [`minimize`] otherwise).
/// `evaluate(w)` returns the smooth part `(f(w), grad f(w))`; the objectives observed and
/// returned include the L1 term, and the gradient norms are the pseudo-gradient's.
pub fn minimize_with_l1<E>(
    start: Vec<f64>,
    settings: &LbfgsSettings,
    l1: &L1,
    evaluate: impl FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    observe: impl FnMut(&LbfgsIteration),
) -> Result<LbfgsOutcome, E> {
    minimize_until(start, settings, l1, evaluate, observe, || Ok(false))
}

/// [`minimize_with_l1`], asking `stop()` after every iteration (the start included, and after
/// the convergence and iteration-limit tests) whether to stop there, with
/// [`LbfgsStop::Stopped`] and the current point: how a caller interrupts a run.
pub fn minimize_until<E>(
    start: Vec<f64>,
    settings: &LbfgsSettings,
    l1: &L1,
    mut evaluate: impl FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    mut observe: impl FnMut(&LbfgsIteration),
    mut stop: impl FnMut() -> Result<bool, E>,
) -> Result<LbfgsOutcome, E> {
    let mut history = History {
        capacity: settings.memory.max(1),
        pairs: VecDeque::new(),
    };
    let mut point = start;
    let (smooth, mut gradient) = evaluate(&point)?;
    let mut objective = smooth + l1.value(&point);
    let mut pseudo = l1.pseudo_gradient(&point, &gradient);
    let mut evaluations = 1;
    let initial_norm = dot(&pseudo, &pseudo).sqrt();
    let threshold = settings.tol * initial_norm.max(1.0);
    let mut record = LbfgsIteration {
        iteration: 0,
        objective,
        gradient_norm: initial_norm,
        evaluations,
    };
    observe(&record);
    loop {
        if record.gradient_norm <= threshold {
            return Ok(finish(point, record, LbfgsStop::Converged));
        }
        if record.iteration >= settings.max_iterations {
            return Ok(finish(point, record, LbfgsStop::IterationLimit));
        }
        if stop()? {
            return Ok(finish(point, record, LbfgsStop::Stopped));
        }
        let mut direction = history.direction(&pseudo);
        if l1.is_active() {
            // OWL-QN: keep only the components that descend along the pseudo-gradient.
            for (d, p) in direction.iter_mut().zip(&pseudo).take(l1.coordinates) {
                if *d * p >= 0.0 {
                    *d = 0.0;
                }
            }
        }
        let slope = dot(&pseudo, &direction);
        if slope >= 0.0 || !slope.is_finite() {
            // Not a descent direction (rounding in a stale history): restart from steepest descent.
            history.pairs.clear();
            direction = pseudo.iter().map(|g| -g).collect();
        }
        // The orthant the trial points stay in: the current signs, and for a zero coordinate
        // the sign of its descent.
        let orthant: Vec<f64> = point
            .iter()
            .zip(&pseudo)
            .take(if l1.is_active() { l1.coordinates } else { 0 })
            .map(|(&w, &p)| {
                if w != 0.0 {
                    w.signum()
                } else {
                    -p.signum() * f64::from(u8::from(p != 0.0))
                }
            })
            .collect();
        // Without curvature information, a first step of length 1 in w.
        let mut step = if history.pairs.is_empty() {
            1.0 / record.gradient_norm.max(f64::MIN_POSITIVE)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..MAX_HALVINGS {
            let mut trial: Vec<f64> = point
                .iter()
                .zip(&direction)
                .map(|(w, d)| w + step * d)
                .collect();
            for (t, o) in trial.iter_mut().zip(&orthant) {
                if *t * o <= 0.0 {
                    *t = 0.0;
                }
            }
            let (trial_smooth, trial_gradient) = evaluate(&trial)?;
            let trial_objective = trial_smooth + l1.value(&trial);
            evaluations += 1;
            // Sufficient decrease along the (projected) step actually taken.
            let moved: f64 = pseudo
                .iter()
                .zip(trial.iter().zip(&point))
                .map(|(p, (t, w))| p * (t - w))
                .sum();
            if trial_objective <= objective + C1 * moved {
                accepted = Some((trial, trial_objective, trial_gradient));
                break;
            }
            step *= 0.5;
        }
        let Some((trial, trial_objective, trial_gradient)) = accepted else {
            record.evaluations = evaluations;
            return Ok(finish(point, record, LbfgsStop::NoProgress));
        };
        let s: Vec<f64> = trial.iter().zip(&point).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = trial_gradient
            .iter()
            .zip(&gradient)
            .map(|(a, b)| a - b)
            .collect();
        history.push(s, y);
        let decrease =
            (objective - trial_objective) / objective.abs().max(trial_objective.abs()).max(1.0);
        point = trial;
        objective = trial_objective;
        gradient = trial_gradient;
        pseudo = l1.pseudo_gradient(&point, &gradient);
        record = LbfgsIteration {
            iteration: record.iteration + 1,
            objective,
            gradient_norm: dot(&pseudo, &pseudo).sqrt(),
            evaluations,
        };
        observe(&record);
        if decrease < RELATIVE_DECREASE_FLOOR && record.gradient_norm > threshold {
            return Ok(finish(point, record, LbfgsStop::NoProgress));
        }
    }
}

fn finish(point: Vec<f64>, last: LbfgsIteration, stop: LbfgsStop) -> LbfgsOutcome {
    LbfgsOutcome { point, last, stop }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `F(w) = sum_i c_i (w_i - i)^2 / 2`, badly conditioned (c from 1 to 1000).
    fn quadratic(w: &[f64]) -> Result<(f64, Vec<f64>), ()> {
        let c = |i: usize| 10f64.powf(3.0 * i as f64 / (w.len() - 1) as f64);
        let f = w
            .iter()
            .enumerate()
            .map(|(i, x)| c(i) * (x - i as f64).powi(2) / 2.0)
            .sum();
        let g = w
            .iter()
            .enumerate()
            .map(|(i, x)| c(i) * (x - i as f64))
            .collect();
        Ok((f, g))
    }

    #[test]
    fn an_ill_conditioned_quadratic_is_solved_to_the_tolerance() {
        let settings = LbfgsSettings {
            tol: 1e-10,
            ..LbfgsSettings::default()
        };
        let mut seen = 0;
        let outcome = minimize(vec![0.0; 20], &settings, quadratic, |_| seen += 1).unwrap();
        assert_eq!(outcome.stop, LbfgsStop::Converged);
        assert_eq!(seen, outcome.last.iteration + 1);
        // ||g|| <= 1e-10 ||g_0|| (about 2e-6 here) and every curvature is at least 1.
        for (i, w) in outcome.point.iter().enumerate() {
            assert!((w - i as f64).abs() < 3e-6, "w[{i}] = {w}");
        }
        // scipy's L-BFGS-B (maxcor 10) takes 184 iterations to the same relative gradient.
        assert!(
            outcome.last.iteration < 200,
            "{} iterations",
            outcome.last.iteration
        );
    }

    #[test]
    fn the_rosenbrock_function_is_minimised() {
        let rosenbrock = |w: &[f64]| -> Result<(f64, Vec<f64>), ()> {
            let (x, y) = (w[0], w[1]);
            let f = (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
            let g = vec![
                -2.0 * (1.0 - x) - 400.0 * x * (y - x * x),
                200.0 * (y - x * x),
            ];
            Ok((f, g))
        };
        let settings = LbfgsSettings {
            tol: 1e-9,
            max_iterations: 1000,
            ..LbfgsSettings::default()
        };
        let outcome = minimize(vec![-1.2, 1.0], &settings, rosenbrock, |_| {}).unwrap();
        assert!((outcome.point[0] - 1.0).abs() < 1e-6 && (outcome.point[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_decrease_below_rounding_stops_the_run_instead_of_wasting_evaluations() {
        // The same quadratic, shifted by 1e6: near the minimum the changes of F fall below its
        // rounding, and an unreachable tolerance must not keep the solver stepping.
        let shifted = |w: &[f64]| quadratic(w).map(|(f, g)| (f + 1e6, g));
        let settings = LbfgsSettings {
            tol: 0.0,
            max_iterations: 10_000,
            ..LbfgsSettings::default()
        };
        let outcome = minimize(vec![0.0; 20], &settings, shifted, |_| {}).unwrap();
        assert_eq!(outcome.stop, LbfgsStop::NoProgress);
        assert!(
            outcome.last.evaluations < 1000,
            "{} evaluations",
            outcome.last.evaluations
        );
        assert!(
            outcome.last.objective - 1e6 < 1e-6,
            "{}",
            outcome.last.objective
        );
    }

    #[test]
    fn with_an_l1_term_the_solution_is_the_soft_thresholded_one() {
        // Separable: the minimum of c_i (w_i - i)^2 / 2 + 3 |w_i| is max(i - 3 / c_i, 0); the
        // last coordinate is left out of the L1 term.
        let l1 = L1 {
            strength: 3.0,
            coordinates: 19,
        };
        let settings = LbfgsSettings {
            tol: 1e-10,
            max_iterations: 2000,
            ..LbfgsSettings::default()
        };
        let outcome = minimize_with_l1(vec![0.0; 20], &settings, &l1, quadratic, |_| {}).unwrap();
        let c = |i: usize| 10f64.powf(3.0 * i as f64 / 19.0);
        let want = |i: usize| {
            if i < 19 {
                (i as f64 - 3.0 / c(i)).max(0.0)
            } else {
                i as f64
            }
        };
        let minimum: f64 = (0..20)
            .map(|i| {
                c(i) * (want(i) - i as f64).powi(2) / 2.0 + if i < 19 { 3.0 * want(i) } else { 0.0 }
            })
            .sum();
        // It stops when F no longer falls measurably (to 1e-14 of F): the objective is exact,
        // the coordinates to the objective's flatness.
        assert!(
            (outcome.last.objective - minimum).abs() < 1e-12 * minimum,
            "{:?} vs {minimum}",
            outcome.last
        );
        for (i, w) in outcome.point.iter().enumerate() {
            assert!((w - want(i)).abs() < 1e-5, "w[{i}] = {w}, want {}", want(i));
        }
        assert!(
            outcome.point[..2].iter().all(|&w| w == 0.0),
            "exact zeros: {:?}",
            &outcome.point[..3]
        );
    }

    #[test]
    fn a_stop_request_ends_the_run_at_the_next_iteration_with_its_point() {
        let settings = LbfgsSettings {
            tol: 0.0,
            ..LbfgsSettings::default()
        };
        let mut asked = 0;
        let mut points = Vec::new();
        let outcome = minimize_until(
            vec![0.0; 20],
            &settings,
            &L1::default(),
            |w| {
                points.push(w.to_vec());
                quadratic(w)
            },
            |_| {},
            || {
                asked += 1;
                Ok(asked == 3)
            },
        )
        .unwrap();
        // Asked at the start and after iterations 1 and 2: it stops after iteration 2.
        assert_eq!(
            (outcome.stop, outcome.last.iteration),
            (LbfgsStop::Stopped, 2)
        );
        assert!(points.contains(&outcome.point));
        assert_eq!(outcome.last.objective, quadratic(&outcome.point).unwrap().0);
    }

    #[test]
    fn the_iteration_limit_is_reported_not_an_error() {
        let settings = LbfgsSettings {
            tol: 0.0,
            max_iterations: 3,
            ..LbfgsSettings::default()
        };
        let outcome = minimize(vec![0.0; 20], &settings, quadratic, |_| {}).unwrap();
        assert_eq!(
            (outcome.stop, outcome.last.iteration),
            (LbfgsStop::IterationLimit, 3)
        );
    }
}
