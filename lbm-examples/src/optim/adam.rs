//! Adam with projection onto the box after every step (see [`Adam`]).

use std::ops::ControlFlow;

use super::bounds::Bounds;
use super::error::OptimError;
use super::eval::{distance, finite, norm, setting, start, Counted};
use super::report::{Iterate, Minimum, Termination};

/// Adam with projection onto the box after every step; `Adam::new(lr)` takes the paper's
/// defaults for the other settings.
///
/// Kingma and Ba, "Adam: a method for stochastic optimization", ICLR 2015 (Algorithm 1,
/// bias-corrected moments), followed by the Euclidean projection onto the bounds: the
/// projected variant used for box-constrained training. It needs only gradients and no
/// line search, so each iteration costs one evaluation; on a smooth deterministic objective
/// such as a simulation's loss, [`Lbfgs`](super::Lbfgs) usually needs far fewer.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    learning_rate: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    max_iterations: usize,
    tolerance: f64,
}

impl Adam {
    /// Adam with step size `learning_rate`, betas 0.9 and 0.999, epsilon 1e-8, at most
    /// 1000 iterations, stopping early only at a projected gradient norm of 0.
    pub fn new(learning_rate: f64) -> Self {
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            max_iterations: 1000,
            tolerance: 0.0,
        }
    }

    /// The decay rates of the first and second moment estimates, each in `[0, 1)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// The term that keeps the step finite where the second moment vanishes (> 0).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// The most steps taken.
    pub fn max_iterations(mut self, n: usize) -> Self {
        self.max_iterations = n;
        self
    }

    /// Stops once the projected gradient norm is at most `tolerance` (>= 0).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
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

    /// As [`minimize`](Self::minimize), showing every iterate to `observe` (a progress bar,
    /// a log, a figure every so often), which may stop the run with `ControlFlow::Break`.
    ///
    /// `x0` is projected onto the bounds first. An objective error ends the run with that
    /// error. A NaN or infinite value or gradient after a step ends it with
    /// [`Termination::NonFinite`] and the last finite iterate; at the start it is an error.
    pub fn minimize_with<E, F, O>(
        &self,
        x0: Vec<f64>,
        bounds: &Bounds,
        objective: F,
        mut observe: O,
    ) -> Result<Minimum, OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
        O: FnMut(&Iterate<'_>) -> ControlFlow<()>,
    {
        self.check()?;
        let mut x = start(x0, bounds)?;
        let n = x.len();
        let mut objective = Counted::new(objective, n);
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        // The last finite iterate, returned if a step leads somewhere non-finite.
        let mut last: Option<(Vec<f64>, f64, Vec<f64>)> = None;
        let mut history = Vec::new();
        let (mut b1t, mut b2t) = (1.0, 1.0);
        let mut k = 0;
        loop {
            let (f, g) = objective.eval(&x)?;
            if !finite(f, &g) {
                let Some((x, loss, gradient)) = last else {
                    return Err(OptimError::NonFiniteStart { value: f });
                };
                return Ok(Minimum {
                    x,
                    loss,
                    gradient,
                    iterations: k - 1,
                    evaluations: objective.evaluations,
                    termination: Termination::NonFinite,
                    history,
                });
            }
            history.push(f);
            let pg = bounds.projected_gradient_norm(&x, &g);
            let iterate = Iterate {
                iteration: k,
                loss: f,
                gradient_norm: norm(&g),
                projected_gradient_norm: pg,
                step_norm: last.as_ref().map_or(0.0, |(p, _, _)| distance(&x, p)),
                evaluations: objective.evaluations,
                x: &x,
                gradient: &g,
            };
            let termination = if observe(&iterate).is_break() {
                Some(Termination::Stopped)
            } else if pg <= self.tolerance {
                Some(Termination::Converged)
            } else if k >= self.max_iterations {
                Some(Termination::MaxIterations)
            } else {
                None
            };
            if let Some(termination) = termination {
                return Ok(Minimum {
                    x,
                    loss: f,
                    gradient: g,
                    iterations: k,
                    evaluations: objective.evaluations,
                    termination,
                    history,
                });
            }
            // Algorithm 1 of the paper, then the projection.
            b1t *= self.beta1;
            b2t *= self.beta2;
            let mut next = x.clone();
            for i in 0..n {
                m[i] = self.beta1 * m[i] + (1.0 - self.beta1) * g[i];
                v[i] = self.beta2 * v[i] + (1.0 - self.beta2) * g[i] * g[i];
                let m_hat = m[i] / (1.0 - b1t);
                let v_hat = v[i] / (1.0 - b2t);
                next[i] -= self.learning_rate * m_hat / (v_hat.sqrt() + self.epsilon);
            }
            bounds.project(&mut next);
            last = Some((std::mem::replace(&mut x, next), f, g));
            k += 1;
        }
    }

    fn check<E>(&self) -> Result<(), OptimError<E>> {
        let lr = self.learning_rate;
        setting(
            "learning_rate",
            lr,
            lr.is_finite() && lr > 0.0,
            "finite and > 0",
        )?;
        let unit = "in [0, 1)";
        setting("beta1", self.beta1, (0.0..1.0).contains(&self.beta1), unit)?;
        setting("beta2", self.beta2, (0.0..1.0).contains(&self.beta2), unit)?;
        let e = self.epsilon;
        setting("epsilon", e, e.is_finite() && e > 0.0, "finite and > 0")?;
        let t = self.tolerance;
        setting("tolerance", t, t >= 0.0, ">= 0")
    }
}
