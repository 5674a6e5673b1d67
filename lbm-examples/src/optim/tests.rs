//! Both optimisers on bounded problems whose unconstrained minimum lies outside the box,
//! so that a bound is active at the solution, which is known in closed form.

use std::convert::Infallible;
use std::ops::ControlFlow;

use super::*;

type Objective = fn(&[f64]) -> Result<(f64, Vec<f64>), Infallible>;

/// `sum c_i (x_i - a_i)^2`, `c_i` from 1 to 100 (condition number 100), `a_i = 2` for even
/// `i` (outside `[-1, 1]`) and `0.3` for odd `i`.
fn shifted_quadratic(x: &[f64]) -> Result<(f64, Vec<f64>), Infallible> {
    let n = x.len();
    let (mut f, mut g) = (0.0, vec![0.0; n]);
    for (i, &xi) in x.iter().enumerate() {
        let c = 100f64.powf(i as f64 / (n - 1) as f64);
        let a = if i % 2 == 0 { 2.0 } else { 0.3 };
        f += c * (xi - a) * (xi - a);
        g[i] = 2.0 * c * (xi - a);
    }
    Ok((f, g))
}

/// Its minimum on `[-1, 1]^10`: the even coordinates at the upper bound.
fn quadratic_solution() -> Vec<f64> {
    (0..10)
        .map(|i| if i % 2 == 0 { 1.0 } else { 0.3 })
        .collect()
}

/// Rosenbrock's function; on `[-2, 0.5] x [-2, 2]` its minimum is `(0.5, 0.25)`, where
/// `df/dx = -1` pushes against the bound `x <= 0.5` (for `x < 0.5`, `f >= (1 - x)^2 > 0.25`).
fn rosenbrock(x: &[f64]) -> Result<(f64, Vec<f64>), Infallible> {
    let (a, b) = (x[0], x[1]);
    let f = 100.0 * (b - a * a).powi(2) + (1.0 - a).powi(2);
    let g = vec![
        -400.0 * a * (b - a * a) - 2.0 * (1.0 - a),
        200.0 * (b - a * a),
    ];
    Ok((f, g))
}

struct Problem {
    name: &'static str,
    objective: Objective,
    bounds: Bounds,
    x0: Vec<f64>,
    solution: Vec<f64>,
}

fn problems() -> Vec<Problem> {
    vec![
        Problem {
            name: "shifted quadratic",
            objective: shifted_quadratic,
            bounds: Bounds::uniform(10, -1.0, 1.0).unwrap(),
            x0: vec![-0.5; 10],
            solution: quadratic_solution(),
        },
        Problem {
            name: "Rosenbrock",
            objective: rosenbrock,
            bounds: Bounds::new(vec![-2.0, -2.0], vec![0.5, 2.0]).unwrap(),
            x0: vec![-1.2, 1.0],
            solution: vec![0.5, 0.25],
        },
    ]
}

fn max_error(x: &[f64], solution: &[f64]) -> f64 {
    x.iter()
        .zip(solution)
        .fold(0.0, |m, (a, b)| f64::max(m, (a - b).abs()))
}

/// The first iteration at which the iterate is within `tol` of the solution (max norm),
/// and the evaluations used by then.
fn first_within(
    run: impl FnOnce(&mut dyn FnMut(&Iterate<'_>) -> ControlFlow<()>) -> Minimum,
    solution: &[f64],
    tol: f64,
) -> Option<(usize, usize)> {
    let mut reached = None;
    let mut observe = |it: &Iterate<'_>| {
        if reached.is_none() && max_error(it.x, solution) < tol {
            reached = Some((it.iteration, it.evaluations));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    };
    run(&mut observe);
    reached
}

// Catches a wrong two-loop recursion, an active set that lets a variable leave the box or
// stick at a bound it should leave, and a line search that stops early: converged on the
// projected gradient, within 1e-6 of the known minimiser, the active coordinates exactly
// on their bound.
#[test]
fn lbfgs_reaches_bounded_minima_with_an_active_bound() {
    for p in problems() {
        // The relative-decrease test off: the quadratic's minimum is 93, so its loss stops
        // resolving changes near 1e-7 from x*, where the gradient test is still to pass.
        let r = Lbfgs::new()
            .tolerance(1e-6)
            .relative_decrease(0.0)
            .max_iterations(200)
            .minimize(p.x0.clone(), &p.bounds, p.objective)
            .unwrap();
        assert_eq!(r.termination, Termination::Converged, "{}: {r:?}", p.name);
        let err = max_error(&r.x, &p.solution);
        assert!(err < 1e-6, "{}: |x - x*| = {err:e} after {r:?}", p.name);
        assert_eq!(r.x[0], p.solution[0], "{}: not on the bound", p.name);
        assert!(p.bounds.contains(&r.x));
        assert_eq!(r.history.len(), r.iterations + 1);
    }
}

// Catches a projection that is skipped or a moment update that is wrong: Adam gets within
// 1e-3 of both minimisers and never leaves the box.
#[test]
fn adam_reaches_bounded_minima_within_the_box() {
    for p in problems() {
        let mut inside = true;
        let r = Adam::new(0.01)
            .max_iterations(20_000)
            .minimize_with(p.x0.clone(), &p.bounds, p.objective, |it| {
                inside &= p.bounds.contains(it.x);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert!(inside, "{}: an iterate left the box", p.name);
        let err = max_error(&r.x, &p.solution);
        assert!(err < 1e-3, "{}: |x - x*| = {err:e}", p.name);
        assert_eq!(r.x[0], p.solution[0], "{}: not on the bound", p.name);
    }
}

// Catches an L-BFGS that has degraded into gradient descent (lost curvature pairs, a
// direction reset every step): on these problems it needs at least ten times fewer
// iterations, and fewer evaluations, than Adam to get within 1e-4 of the minimiser.
#[test]
fn lbfgs_needs_far_fewer_iterations_than_adam() {
    for p in problems() {
        let tol = 1e-4;
        let lbfgs = first_within(
            |observe| {
                Lbfgs::new()
                    .max_iterations(500)
                    .minimize_with(p.x0.clone(), &p.bounds, p.objective, observe)
                    .unwrap()
            },
            &p.solution,
            tol,
        );
        let adam = first_within(
            |observe| {
                Adam::new(0.01)
                    .max_iterations(50_000)
                    .minimize_with(p.x0.clone(), &p.bounds, p.objective, observe)
                    .unwrap()
            },
            &p.solution,
            tol,
        );
        let (Some((li, le)), Some((ai, ae))) = (lbfgs, adam) else {
            panic!("{}: not reached: L-BFGS {lbfgs:?}, Adam {adam:?}", p.name);
        };
        println!(
            "{}: L-BFGS {li} iterations ({le} evaluations), Adam {ai}",
            p.name
        );
        assert!(
            10 * li <= ai,
            "{}: L-BFGS {li} vs Adam {ai} iterations",
            p.name
        );
        assert!(le < ae, "{}: L-BFGS {le} vs Adam {ae} evaluations", p.name);
    }
}

#[derive(Debug, PartialEq)]
struct SimulationDiverged(usize);

impl std::fmt::Display for SimulationDiverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "diverged at evaluation {}", self.0)
    }
}

impl std::error::Error for SimulationDiverged {}

/// The shifted quadratic, failing at evaluation `fail_at` (1-based).
fn failing_at(fail_at: usize) -> impl FnMut(&[f64]) -> Result<(f64, Vec<f64>), SimulationDiverged> {
    let mut calls = 0;
    move |x| {
        calls += 1;
        if calls == fail_at {
            return Err(SimulationDiverged(calls));
        }
        Ok(shifted_quadratic(x).unwrap_or_else(|e| match e {}))
    }
}

// Catches an error swallowed (turned into a NaN, a stop, or a retry) instead of handed
// on: the objective's own error comes back, unchanged, from any evaluation, including a
// line-search trial of L-BFGS (evaluation 2 is the first trial).
#[test]
fn objective_errors_propagate_unchanged() {
    let bounds = Bounds::uniform(10, -1.0, 1.0).unwrap();
    for fail_at in [1, 2, 5] {
        let r = Lbfgs::new().minimize(vec![0.0; 10], &bounds, failing_at(fail_at));
        assert!(
            matches!(r, Err(OptimError::Objective(SimulationDiverged(n))) if n == fail_at),
            "L-BFGS, failing at {fail_at}: {r:?}"
        );
        let r = Adam::new(0.1).minimize(vec![0.0; 10], &bounds, failing_at(fail_at));
        assert!(
            matches!(r, Err(OptimError::Objective(SimulationDiverged(n))) if n == fail_at),
            "Adam, failing at {fail_at}: {r:?}"
        );
    }
    // The error's message and source reach the caller.
    let e = Lbfgs::new()
        .minimize(vec![0.0; 10], &bounds, failing_at(1))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the objective failed: diverged at evaluation 1"
    );
    assert!(std::error::Error::source(&e).is_some());
}

// Catches input errors that panic or run anyway.
#[test]
fn bad_input_is_an_error() {
    let bounds = Bounds::uniform(2, 0.0, 1.0).unwrap();
    let ok = |x: &[f64]| -> Result<(f64, Vec<f64>), Infallible> { Ok((x[0], vec![1.0, 0.0])) };
    let short = |_: &[f64]| -> Result<(f64, Vec<f64>), Infallible> { Ok((0.0, vec![1.0])) };
    let nan = |_: &[f64]| -> Result<(f64, Vec<f64>), Infallible> { Ok((f64::NAN, vec![0.0; 2])) };
    let lbfgs = Lbfgs::new();
    assert!(matches!(
        lbfgs.minimize(vec![0.0; 3], &bounds, ok),
        Err(OptimError::Dimension {
            expected: 2,
            actual: 3
        })
    ));
    assert!(matches!(
        lbfgs.minimize(vec![f64::NAN, 0.0], &bounds, ok),
        Err(OptimError::NanStart(0))
    ));
    assert!(matches!(
        lbfgs.minimize(vec![0.5; 2], &bounds, short),
        Err(OptimError::GradientLength {
            expected: 2,
            actual: 1
        })
    ));
    assert!(matches!(
        lbfgs.minimize(vec![0.5; 2], &bounds, nan),
        Err(OptimError::NonFiniteStart { .. })
    ));
    assert!(matches!(
        Adam::new(0.1).minimize(vec![0.5; 2], &bounds, nan),
        Err(OptimError::NonFiniteStart { .. })
    ));
    for adam in [
        Adam::new(0.0),
        Adam::new(f64::NAN),
        Adam::new(0.1).betas(1.0, 0.9),
        Adam::new(0.1).betas(0.9, -0.1),
        Adam::new(0.1).epsilon(0.0),
    ] {
        let r = adam.minimize(vec![0.5; 2], &bounds, ok);
        assert!(
            matches!(r, Err(OptimError::Setting { .. })),
            "{adam:?}: {r:?}"
        );
    }
    for lbfgs in [
        Lbfgs::new().memory(0),
        Lbfgs::new().initial_step(0.0),
        Lbfgs::new().tolerance(-1.0),
        Lbfgs::new().max_line_search(0),
    ] {
        let r = lbfgs.minimize(vec![0.5; 2], &bounds, ok);
        assert!(
            matches!(r, Err(OptimError::Setting { .. })),
            "{lbfgs:?}: {r:?}"
        );
    }
}

// Catches a progress report that skips or repeats iterations, reports a norm other than
// the one documented, or ignores a request to stop; and an L-BFGS step that raises the
// loss (the Armijo condition forbids it).
#[test]
fn observers_see_every_iterate_and_can_stop_the_run() {
    let p = &problems()[1];
    let mut seen = Vec::new();
    let r = Lbfgs::new()
        .minimize_with(p.x0.clone(), &p.bounds, p.objective, |it| {
            let pg = p.bounds.projected_gradient_norm(it.x, it.gradient);
            assert_eq!(it.projected_gradient_norm, pg);
            assert_eq!(
                it.gradient_norm,
                it.gradient.iter().map(|g| g * g).sum::<f64>().sqrt()
            );
            seen.push((it.iteration, it.loss, it.step_norm));
            if it.iteration == 7 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(r.termination, Termination::Stopped);
    assert_eq!(r.iterations, 7);
    let iterations: Vec<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(iterations, (0..=7).collect::<Vec<_>>());
    assert_eq!(seen[0].2, 0.0);
    assert!(seen[1..].iter().all(|s| s.2 > 0.0));
    assert!(
        seen.windows(2).all(|w| w[1].1 < w[0].1),
        "the loss rose: {seen:?}"
    );
    let losses: Vec<f64> = seen.iter().map(|s| s.1).collect();
    assert_eq!(r.history, losses);

    let mut count = 0;
    let r = Adam::new(0.01)
        .minimize_with(p.x0.clone(), &p.bounds, p.objective, |it| {
            assert_eq!(it.iteration, count);
            count += 1;
            if it.iteration == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(
        (r.termination, r.iterations, r.evaluations),
        (Termination::Stopped, 3, 4)
    );
}

// Catches a line search that accepts a NaN (a diverged simulation) or gives up at the
// first one: past x = 1.5 the objective is NaN, the first trial lands there, and L-BFGS
// still finds the minimum at 1.2.
#[test]
fn lbfgs_backs_off_from_non_finite_values() {
    let diverging = |x: &[f64]| -> Result<(f64, Vec<f64>), Infallible> {
        if x[0] > 1.5 {
            Ok((f64::NAN, vec![f64::NAN]))
        } else {
            Ok(((x[0] - 1.2).powi(2), vec![2.0 * (x[0] - 1.2)]))
        }
    };
    let bounds = Bounds::uniform(1, 0.0, 10.0).unwrap();
    let r = Lbfgs::new()
        .initial_step(5.0)
        .minimize(vec![0.0], &bounds, diverging)
        .unwrap();
    assert_eq!(r.termination, Termination::Converged);
    assert!((r.x[0] - 1.2).abs() < 1e-8, "{r:?}");

    // Adam has no line search: it stops at the last finite iterate.
    let r = Adam::new(1.0)
        .minimize(vec![0.0], &bounds, diverging)
        .unwrap();
    assert_eq!(r.termination, Termination::NonFinite);
    assert!(r.x[0] <= 1.5 && r.loss.is_finite());
    assert_eq!(r.history.len(), r.iterations + 1);
}

// Catches a starting point outside the box being used as is: it is projected first, and
// a lower bound with an infinite upper one works.
#[test]
fn starting_points_are_projected_and_half_infinite_boxes_work() {
    let bounds = Bounds::new(vec![0.0, 0.0], vec![f64::INFINITY, f64::INFINITY]).unwrap();
    let shifted = |x: &[f64]| -> Result<(f64, Vec<f64>), Infallible> {
        let f = (x[0] + 1.0).powi(2) + (x[1] - 2.0).powi(2);
        Ok((f, vec![2.0 * (x[0] + 1.0), 2.0 * (x[1] - 2.0)]))
    };
    let mut first = None;
    let r = Lbfgs::new()
        .minimize_with(vec![-5.0, 7.0], &bounds, shifted, |it| {
            first.get_or_insert_with(|| it.x.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(first, Some(vec![0.0, 7.0]));
    assert_eq!(r.termination, Termination::Converged);
    assert_eq!(r.x[0], 0.0);
    assert!((r.x[1] - 2.0).abs() < 1e-8);
}

// Catches Adam without bias correction (its first step would be about 3.2 learning rates
// long) or with the moments mixed up: on a linear objective the corrected moments give
// m / sqrt(v) = sign(g), so every step moves each parameter by the learning rate, until the
// projection stops it at its bound.
#[test]
fn adam_steps_by_the_learning_rate_on_a_linear_objective() {
    let linear = |_: &[f64]| -> Result<(f64, Vec<f64>), Infallible> { Ok((0.0, vec![3.0, -0.5])) };
    let bounds = Bounds::new(vec![-10.0, -10.0], vec![10.0, 0.25]).unwrap();
    let mut xs = Vec::new();
    Adam::new(0.1)
        .max_iterations(4)
        .minimize_with(vec![0.0, 0.0], &bounds, linear, |it| {
            xs.push(it.x.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    let expected = [
        [0.0, 0.0],
        [-0.1, 0.1],
        [-0.2, 0.2],
        [-0.3, 0.25],
        [-0.4, 0.25],
    ];
    assert_eq!(xs.len(), expected.len());
    for (x, e) in xs.iter().zip(expected) {
        assert!(max_error(x, &e) < 1e-8, "{xs:?}");
    }
}

// Catches a quasi-Newton direction without the s·y / y·y scaling of its initial Hessian
// (Nocedal and Wright, eq. 7.20): on a quadratic the scaled unit step is accepted at once
// nearly every iteration, so evaluations barely exceed iterations; unscaled, about every
// other step needs backtracking, each trial a full simulation and adjoint in real use.
#[test]
fn lbfgs_takes_unit_steps_on_a_quadratic() {
    let p = &problems()[0];
    let r = Lbfgs::new()
        .tolerance(1e-6)
        .minimize(p.x0.clone(), &p.bounds, p.objective)
        .unwrap();
    assert!(
        r.evaluations <= r.iterations + 3,
        "{} evaluations for {} iterations",
        r.evaluations,
        r.iterations
    );
}

// Catches the relative-decrease rule being ignored, or measured against the wrong loss:
// on x^2 from 1, a first step capped at 0.1 lowers the loss from 1 to 0.81, by 19%. A
// threshold of 50% stops the run there; one of 10% lets the quasi-Newton step that
// follows reach the minimum (to rounding).
#[test]
fn lbfgs_stops_on_a_small_relative_decrease() {
    let square =
        |x: &[f64]| -> Result<(f64, Vec<f64>), Infallible> { Ok((x[0] * x[0], vec![2.0 * x[0]])) };
    let bounds = Bounds::uniform(1, -10.0, 10.0).unwrap();
    let run = |threshold: f64| {
        Lbfgs::new()
            .initial_step(0.1)
            .tolerance(0.0)
            .relative_decrease(threshold)
            .minimize(vec![1.0], &bounds, square)
            .unwrap()
    };
    let r = run(0.5);
    assert_eq!(
        (r.termination, r.iterations),
        (Termination::SmallDecrease, 1)
    );
    assert!((r.x[0] - 0.9).abs() < 1e-15, "{r:?}");
    let r = run(0.1);
    assert_eq!(r.termination, Termination::Converged, "{r:?}");
    assert!(r.x[0].abs() < 1e-15, "{r:?}");
}
