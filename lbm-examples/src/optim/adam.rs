//! Adam with projection onto the box after every step (see [`Adam`]).

use std::ops::ControlFlow;

use super::bounds::Bounds;
use super::driver::{self, Method, Point, Step, Stopping};
use super::error::OptimError;
use super::eval::{finite, setting, Counted};
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
    stopping: Stopping,
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
            stopping: Stopping {
                tolerance: 0.0,
                max_iterations: 1000,
            },
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
        self.stopping.max_iterations = n;
        self
    }

    /// Stops once the projected gradient norm is at most `tolerance` (>= 0).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.stopping.tolerance = tolerance;
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
        observe: O,
    ) -> Result<Minimum, OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
        O: FnMut(&Iterate<'_>) -> ControlFlow<()>,
    {
        self.check()?;
        let n = bounds.len();
        let moments = Moments {
            settings: self,
            m: vec![0.0; n],
            v: vec![0.0; n],
            beta1_t: 1.0,
            beta2_t: 1.0,
        };
        driver::minimize(moments, &self.stopping, x0, bounds, objective, observe)
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
        self.stopping.check()
    }
}

/// One Adam run: the moment estimates and the powers of the betas that correct their bias.
struct Moments<'a> {
    settings: &'a Adam,
    m: Vec<f64>,
    v: Vec<f64>,
    beta1_t: f64,
    beta2_t: f64,
}

impl Method for Moments<'_> {
    /// Algorithm 1 of the paper, then the projection. Adam has no line search, so a step
    /// to a NaN or infinite value ends the run at the last finite iterate.
    fn step<E, F>(
        &mut self,
        objective: &mut Counted<F>,
        bounds: &Bounds,
        at: &Point,
        _projected_gradient_norm: f64,
    ) -> Result<Step, OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    {
        let Adam {
            learning_rate,
            beta1,
            beta2,
            epsilon,
            ..
        } = *self.settings;
        self.beta1_t *= beta1;
        self.beta2_t *= beta2;
        let mut x = at.x.clone();
        for (i, (xi, &g)) in x.iter_mut().zip(&at.gradient).enumerate() {
            self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * g;
            self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * g * g;
            let m_hat = self.m[i] / (1.0 - self.beta1_t);
            let v_hat = self.v[i] / (1.0 - self.beta2_t);
            *xi -= learning_rate * m_hat / (v_hat.sqrt() + epsilon);
        }
        bounds.project(&mut x);
        let (loss, gradient) = objective.eval(&x)?;
        Ok(if finite(loss, &gradient) {
            Step::To(Point { x, loss, gradient })
        } else {
            Step::End(Termination::NonFinite)
        })
    }
}
