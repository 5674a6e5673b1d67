//! The iteration both optimisers share: evaluate the start, report every iterate, decide
//! when to stop, and hand the step itself to the method.

use std::ops::ControlFlow;

use super::bounds::Bounds;
use super::error::OptimError;
use super::eval::{distance, finite, norm, setting, start, Counted};
use super::report::{Iterate, Minimum, Termination};

/// A point with its finite objective value and gradient.
pub(crate) struct Point {
    pub x: Vec<f64>,
    pub loss: f64,
    pub gradient: Vec<f64>,
}

/// What one step of a method gives.
pub(crate) enum Step {
    /// The next iterate.
    To(Point),
    /// The run ends at the current iterate, for this reason.
    End(Termination),
}

/// The part that differs between optimisers: one step from the current iterate, and any
/// stopping rule of its own besides the shared ones.
pub(crate) trait Method {
    /// One step from `at`, whose projected gradient norm is `projected_gradient_norm`.
    fn step<E, F>(
        &mut self,
        objective: &mut Counted<F>,
        bounds: &Bounds,
        at: &Point,
        projected_gradient_norm: f64,
    ) -> Result<Step, OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>;

    /// Learns from the accepted step `from` -> `to` (curvature pairs, progress made).
    fn accepted(&mut self, _from: &Point, _to: &Point) {}

    /// A reason of the method's own to stop at the current iterate; checked after the
    /// observer and the tolerance, before the iteration limit.
    fn stop(&self) -> Option<Termination> {
        None
    }
}

/// When the shared loop stops: the projected gradient tolerance and the iteration limit,
/// settings every optimiser carries.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stopping {
    pub tolerance: f64,
    pub max_iterations: usize,
}

impl Stopping {
    /// Checks the tolerance (>= 0), naming it otherwise.
    pub fn check<E>(&self) -> Result<(), OptimError<E>> {
        let t = self.tolerance;
        setting("tolerance", t, t >= 0.0, ">= 0")
    }
}

/// Minimises `objective` from `x0` within `bounds` with `method`, showing every iterate to
/// `observe`.
///
/// `x0` is checked and projected onto the bounds; a non-finite value or gradient there is
/// an error, since there is no finite iterate to return.
pub(crate) fn minimize<M, E, F, O>(
    mut method: M,
    stopping: &Stopping,
    x0: Vec<f64>,
    bounds: &Bounds,
    objective: F,
    mut observe: O,
) -> Result<Minimum, OptimError<E>>
where
    M: Method,
    F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    O: FnMut(&Iterate<'_>) -> ControlFlow<()>,
{
    let x = start(x0, bounds)?;
    let mut objective = Counted::new(objective, x.len());
    let (loss, gradient) = objective.eval(&x)?;
    if !finite(loss, &gradient) {
        return Err(OptimError::NonFiniteStart { value: loss });
    }
    let mut at = Point { x, loss, gradient };
    let mut history = vec![loss];
    let mut step_norm = 0.0;
    let mut k = 0;
    loop {
        let pg = bounds.projected_gradient_norm(&at.x, &at.gradient);
        let iterate = Iterate {
            iteration: k,
            loss: at.loss,
            gradient_norm: norm(&at.gradient),
            projected_gradient_norm: pg,
            step_norm,
            evaluations: objective.evaluations,
            x: &at.x,
            gradient: &at.gradient,
        };
        let termination = if observe(&iterate).is_break() {
            Some(Termination::Stopped)
        } else if pg <= stopping.tolerance {
            Some(Termination::Converged)
        } else if let Some(own) = method.stop() {
            Some(own)
        } else if k >= stopping.max_iterations {
            Some(Termination::MaxIterations)
        } else {
            None
        };
        let step = match termination {
            Some(termination) => Step::End(termination),
            None => method.step(&mut objective, bounds, &at, pg)?,
        };
        match step {
            Step::To(next) => {
                method.accepted(&at, &next);
                step_norm = distance(&next.x, &at.x);
                history.push(next.loss);
                at = next;
                k += 1;
            }
            Step::End(termination) => {
                return Ok(Minimum {
                    x: at.x,
                    loss: at.loss,
                    gradient: at.gradient,
                    iterations: k,
                    evaluations: objective.evaluations,
                    termination,
                    history,
                })
            }
        }
    }
}
