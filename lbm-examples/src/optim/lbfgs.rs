//! L-BFGS with bound constraints: a projected quasi-Newton method (see [`Lbfgs`]).

use std::collections::VecDeque;
use std::ops::ControlFlow;

use super::bounds::Bounds;
use super::driver::{self, Method, Point, Step, Stopping};
use super::error::OptimError;
use super::eval::{finite, setting, Counted};
use super::report::{Iterate, Minimum, Termination};

/// Sufficient-decrease constant `c₁` of the Armijo condition.
const ARMIJO: f64 = 1e-4;
/// Largest width `ε` of the ε-active set.
const ACTIVE_WIDTH: f64 = 1e-3;

/// L-BFGS with bound constraints, a projected quasi-Newton method, and its settings.
///
/// No well-kept crate offers a bound-constrained L-BFGS in pure Rust (argmin 0.11 has
/// L-BFGS without bounds), so this is one, small enough to read. It is not the
/// Byrd-Lu-Nocedal-Zhu L-BFGS-B (generalised Cauchy point and subspace minimisation) but
/// Bertsekas' projected Newton method with an L-BFGS model of the free variables' Hessian,
/// as in Kelley's projected BFGS-Armijo method and Kim, Sra and Dhillon's projected
/// quasi-Newton method:
///
/// 1. The ε-active set of Bertsekas (1982): parameters within
///    `ε_k = min(ε, ‖x - P(x - g)‖)` of a bound with the gradient pushing outward. They
///    take a steepest-descent step, which the projection stops at the bound.
/// 2. The free parameters take the L-BFGS direction `-H g`, `H` from the two-loop
///    recursion (Nocedal 1980; Nocedal and Wright, Algorithm 7.4) on the free components of
///    the stored pairs, scaled by `s·y / y·y` of the newest.
/// 3. An Armijo backtracking search along the projection arc `x(α) = P(x + α d)`
///    (Bertsekas 1976, 1982): accept the first `α` with
///    `f(x(α)) <= f(x) + c₁ g·(x(α) - x)`, shrinking `α` by safeguarded quadratic
///    interpolation in `[0.1, 0.5]` (by 10 past a NaN or infinite value, which a diverging
///    simulation returns). Every accepted step lowers the loss.
/// 4. A pair `(s, y)` is kept only when `s·y > ε_mach y·y`, the test of L-BFGS-B, and again
///    per direction on its free components, so `H` stays positive definite.
///
/// When the quasi-Newton direction finds no decrease, the memory is dropped and the
/// projected gradient is tried; when that fails too, the run ends with
/// [`Termination::LineSearchFailed`].
///
/// References: D. P. Bertsekas, "On the Goldstein-Levitin-Polyak gradient projection
/// method", IEEE Trans. Automat. Control 21 (1976) 174-184; D. P. Bertsekas, "Projected
/// Newton methods for optimization problems with simple constraints", SIAM J. Control
/// Optim. 20 (1982) 221-246; C. T. Kelley, "Iterative Methods for Optimization", SIAM
/// 1999, chapter 5; D. Kim, S. Sra, I. S. Dhillon, "Tackling box-constrained optimization
/// via a new projected quasi-Newton approach", SIAM J. Sci. Comput. 32 (2010) 3548-3563;
/// J. Nocedal, "Updating quasi-Newton matrices with limited storage", Math. Comp. 35
/// (1980) 773-782; J. Nocedal, S. J. Wright, "Numerical Optimization", 2nd ed., Springer
/// 2006.
#[derive(Clone, Debug, PartialEq)]
pub struct Lbfgs {
    memory: usize,
    stopping: Stopping,
    relative_decrease: f64,
    initial_step: f64,
    max_line_search: usize,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Lbfgs::new()
    }
}

impl Lbfgs {
    /// 10 stored pairs, at most 100 iterations, projected gradient tolerance 1e-8,
    /// relative decrease tolerance 1e-12, first step moving no parameter by more than 1,
    /// at most 20 evaluations per line search.
    pub fn new() -> Self {
        Lbfgs {
            memory: 10,
            stopping: Stopping {
                tolerance: 1e-8,
                max_iterations: 100,
            },
            relative_decrease: 1e-12,
            initial_step: 1.0,
            max_line_search: 20,
        }
    }

    /// The number of `(s, y)` pairs kept (at least 1).
    pub fn memory(mut self, pairs: usize) -> Self {
        self.memory = pairs;
        self
    }

    /// The most steps taken.
    pub fn max_iterations(mut self, n: usize) -> Self {
        self.stopping.max_iterations = n;
        self
    }

    /// Stops once the projected gradient norm is at most `tolerance` (>= 0).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.stopping.tolerance = tolerance;
        self
    }

    /// Stops once a step lowers the loss by at most `tolerance` times the loss, i.e.
    /// `f_k - f_{k+1} <= tolerance * max(|f_k|, |f_{k+1}|)` (>= 0; with 0 only a step that
    /// leaves the loss unchanged, at the precision of `f64`, stops the run). Relative, so
    /// that a loss whose natural scale is 1e-6 is not stopped early.
    pub fn relative_decrease(mut self, tolerance: f64) -> Self {
        self.relative_decrease = tolerance;
        self
    }

    /// The largest change of any parameter in the first trial of a steepest-descent step
    /// (the first iteration, or after the memory is dropped); later trials start from the
    /// quasi-Newton step, whose length the curvature pairs set. Choose it on the scale of
    /// the parameters: a relaxation rate near 1 takes 0.1 well.
    pub fn initial_step(mut self, step: f64) -> Self {
        self.initial_step = step;
        self
    }

    /// The most objective evaluations one line search may use (at least 1).
    pub fn max_line_search(mut self, n: usize) -> Self {
        self.max_line_search = n;
        self
    }

    /// Minimises `objective` (value and gradient at a point) from `x0` within `bounds`.
    pub fn minimize<E, F>(
        &self,
        x0: Vec<f64>,
        bounds: &Bounds,
        objective: F,
    ) -> Result<Minimum, OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    {
        self.minimize_with(x0, bounds, objective, |_| ControlFlow::Continue(()))
    }

    /// As [`minimize`](Self::minimize), showing every accepted iterate to `observe`, which
    /// may stop the run with `ControlFlow::Break`.
    ///
    /// `x0` is projected onto the bounds first. An objective error, at any evaluation
    /// including line-search trials, ends the run with that error. A NaN or infinite value
    /// at a trial point shortens the step; at the start it is an error.
    pub fn minimize_with<E, F, O>(
        &self,
        x0: Vec<f64>,
        bounds: &Bounds,
        objective: F,
        observe: O,
    ) -> Result<Minimum, OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
        O: FnMut(&Iterate<'_>) -> ControlFlow<()>,
    {
        self.check()?;
        let run = Run {
            settings: self,
            pairs: VecDeque::with_capacity(self.memory),
            small_decrease: false,
        };
        driver::minimize(run, &self.stopping, x0, bounds, objective, observe)
    }

    /// The first trial `α` along a steepest-descent `d`: no parameter moves by more than
    /// the initial step.
    fn steepest_first_step(&self, d: &[f64]) -> f64 {
        let largest = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if largest > 0.0 {
            self.initial_step / largest
        } else {
            1.0
        }
    }

    /// Backtracking along the projection arc from `alpha`; `None` if no trial satisfied
    /// the Armijo condition within the allowed evaluations.
    fn line_search<E, F>(
        &self,
        objective: &mut Counted<F>,
        bounds: &Bounds,
        at: &Point,
        d: &[f64],
        mut alpha: f64,
    ) -> Result<Option<Point>, OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    {
        let Point {
            x,
            loss: f,
            gradient: g,
        } = at;
        let mut evaluations = 0;
        // Trials that move nothing or point uphill cost no evaluation, but are bounded too.
        for _ in 0..self.max_line_search.saturating_add(60) {
            if evaluations >= self.max_line_search {
                break;
            }
            let mut trial: Vec<f64> = x.iter().zip(d).map(|(xi, di)| xi + alpha * di).collect();
            bounds.project(&mut trial);
            // The first-order change along the arc; the projection can bend the step.
            let slope: f64 = trial
                .iter()
                .zip(x)
                .zip(g)
                .map(|((t, xi), gi)| gi * (t - xi))
                .sum();
            if slope >= 0.0 {
                if trial == *x {
                    return Ok(None);
                }
                alpha *= 0.5;
                continue;
            }
            evaluations += 1;
            let (f_trial, g_trial) = objective.eval(&trial)?;
            if !finite(f_trial, &g_trial) {
                alpha *= 0.1;
                continue;
            }
            if f_trial <= f + ARMIJO * slope {
                return Ok(Some(Point {
                    x: trial,
                    loss: f_trial,
                    gradient: g_trial,
                }));
            }
            // Minimiser of the quadratic through f, the slope and f_trial, in units of
            // this trial, kept within [0.1, 0.5] so the search neither stalls nor creeps.
            let curvature = f_trial - f - slope;
            let t = if curvature > 0.0 {
                -slope / (2.0 * curvature)
            } else {
                0.5
            };
            alpha *= t.clamp(0.1, 0.5);
        }
        Ok(None)
    }

    fn check<E>(&self) -> Result<(), OptimError<E>> {
        let count = |name, v: usize| setting(name, v as f64, v >= 1, ">= 1");
        count("memory", self.memory)?;
        count("max_line_search", self.max_line_search)?;
        self.stopping.check()?;
        let r = self.relative_decrease;
        setting("relative_decrease", r, r >= 0.0, ">= 0")?;
        let s = self.initial_step;
        setting(
            "initial_step",
            s,
            s.is_finite() && s > 0.0,
            "finite and > 0",
        )
    }
}

/// One L-BFGS run: the curvature pairs, and whether the last step made too little
/// progress to go on.
struct Run<'a> {
    settings: &'a Lbfgs,
    pairs: VecDeque<Pair>,
    small_decrease: bool,
}

impl Method for Run<'_> {
    /// The quasi-Newton direction, or the projected gradient when that finds no decrease;
    /// [`Termination::LineSearchFailed`] when neither does.
    fn step<E, F>(
        &mut self,
        objective: &mut Counted<F>,
        bounds: &Bounds,
        at: &Point,
        projected_gradient_norm: f64,
    ) -> Result<Step, OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    {
        let lbfgs = self.settings;
        let g = &at.gradient;
        let active = active_set(bounds, &at.x, g, ACTIVE_WIDTH.min(projected_gradient_norm));
        let (d, quasi_newton) = direction(g, &active, &self.pairs);
        let first = if quasi_newton {
            1.0
        } else {
            lbfgs.steepest_first_step(&d)
        };
        if let Some(next) = lbfgs.line_search(objective, bounds, at, &d, first)? {
            return Ok(Step::To(next));
        }
        if quasi_newton {
            // The model misled us (curvature from far away, a bound hit): start afresh.
            self.pairs.clear();
            let d: Vec<f64> = g.iter().map(|v| -v).collect();
            let first = lbfgs.steepest_first_step(&d);
            if let Some(next) = lbfgs.line_search(objective, bounds, at, &d, first)? {
                return Ok(Step::To(next));
            }
        }
        Ok(Step::End(Termination::LineSearchFailed))
    }

    /// Keeps the pair `(s, y)` when its curvature is positive, and notes a step that
    /// lowered the loss by less than the relative tolerance.
    fn accepted(&mut self, from: &Point, to: &Point) {
        let s: Vec<f64> = to.x.iter().zip(&from.x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = to
            .gradient
            .iter()
            .zip(&from.gradient)
            .map(|(a, b)| a - b)
            .collect();
        if dot(&s, &y) > f64::EPSILON * dot(&y, &y) {
            if self.pairs.len() == self.settings.memory {
                self.pairs.pop_front();
            }
            self.pairs.push_back(Pair { s, y });
        }
        let (f, f_new) = (from.loss, to.loss);
        self.small_decrease =
            f - f_new <= self.settings.relative_decrease * f.abs().max(f_new.abs());
    }

    fn stop(&self) -> Option<Termination> {
        self.small_decrease.then_some(Termination::SmallDecrease)
    }
}

/// A curvature pair: the step and the change of gradient over it.
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
}

/// The ε-active set: within `width` of a bound, with the gradient pushing outward.
fn active_set(bounds: &Bounds, x: &[f64], g: &[f64], width: f64) -> Vec<bool> {
    x.iter()
        .zip(g)
        .zip(bounds.lower().iter().zip(bounds.upper()))
        .map(|((&xi, &gi), (&l, &u))| {
            (xi - l <= width && gi > 0.0) || (u - xi <= width && gi < 0.0)
        })
        .collect()
}

/// The search direction: `-H g` on the free parameters (two-loop recursion over the free
/// components of the pairs), `-g` on the active ones. The flag says whether any pair was
/// used; without one the direction is plain steepest descent.
fn direction(g: &[f64], active: &[bool], pairs: &VecDeque<Pair>) -> (Vec<f64>, bool) {
    let free_dot = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .zip(active)
            .filter(|(_, &act)| !act)
            .map(|((x, y), _)| x * y)
            .sum()
    };
    // Pairs whose free part has positive curvature, newest first, with 1 / s·y.
    let usable: Vec<(&Pair, f64, f64)> = pairs
        .iter()
        .rev()
        .filter_map(|p| {
            let sy = free_dot(&p.s, &p.y);
            let yy = free_dot(&p.y, &p.y);
            (sy > f64::EPSILON * yy && yy > 0.0).then_some((p, 1.0 / sy, sy / yy))
        })
        .collect();
    let mut q: Vec<f64> = g
        .iter()
        .zip(active)
        .map(|(&v, &act)| if act { 0.0 } else { v })
        .collect();
    let Some(&(_, _, gamma)) = usable.first() else {
        return (g.iter().map(|v| -v).collect(), false);
    };
    let mut alphas = Vec::with_capacity(usable.len());
    for &(p, rho, _) in &usable {
        let a = rho * free_dot(&p.s, &q);
        for ((qi, yi), &act) in q.iter_mut().zip(&p.y).zip(active) {
            if !act {
                *qi -= a * yi;
            }
        }
        alphas.push(a);
    }
    for qi in q.iter_mut() {
        *qi *= gamma;
    }
    for (&(p, rho, _), a) in usable.iter().zip(alphas).rev() {
        let b = rho * free_dot(&p.y, &q);
        for ((qi, si), &act) in q.iter_mut().zip(&p.s).zip(active) {
            if !act {
                *qi += (a - b) * si;
            }
        }
    }
    let d = q
        .iter()
        .zip(g)
        .zip(active)
        .map(|((&r, &gi), &act)| if act { -gi } else { -r })
        .collect();
    (d, true)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
