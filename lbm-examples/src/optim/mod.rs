//! Optimisers over a flat parameter vector with box bounds, for the inverse problems.
//!
//! - [`Adam`]: Adam with projection onto the box after each step; one evaluation per
//!   iteration, robust to a noisy or badly scaled objective.
//! - [`Lbfgs`]: a projected L-BFGS (Bertsekas' projected Newton method with a limited-
//!   memory model of the free variables' Hessian and an Armijo search along the projection
//!   arc); far fewer iterations on a smooth objective, each of which may cost a few
//!   evaluations.
//!
//! The objective is a closure returning the value and gradient at a point,
//! `FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>`, so a simulation's error (a diverged
//! run, a bad parameter) ends the optimisation as [`OptimError::Objective`] with the error
//! unchanged. Both report every iterate (loss, gradient and projected-gradient norms, step
//! length) to an observer that can drive a progress bar or stop the run, and return a
//! [`Minimum`] with the loss history.
//!
//! ```
//! use std::ops::ControlFlow;
//! use lbm_examples::optim::{Bounds, Lbfgs, Termination};
//!
//! // (x - 3)^2 + (y + 1)^2 on [0, 2] x [0, 2]: the minimum is at (2, 0).
//! let bounds = Bounds::uniform(2, 0.0, 2.0)?;
//! let objective = |x: &[f64]| -> Result<(f64, Vec<f64>), std::convert::Infallible> {
//!     let (a, b) = (x[0] - 3.0, x[1] + 1.0);
//!     Ok((a * a + b * b, vec![2.0 * a, 2.0 * b]))
//! };
//! let result = Lbfgs::new().minimize_with(vec![1.0, 1.0], &bounds, objective, |it| {
//!     println!("{:3} loss {:.3e} |P g| {:.1e}", it.iteration, it.loss, it.projected_gradient_norm);
//!     ControlFlow::Continue(())
//! })?;
//! assert_eq!(result.termination, Termination::Converged);
//! assert_eq!(result.x, [2.0, 0.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod adam;
mod bounds;
mod driver;
mod error;
mod eval;
mod lbfgs;
mod report;

pub use adam::Adam;
pub use bounds::{Bounds, BoundsError};
pub use error::OptimError;
pub use lbfgs::Lbfgs;
pub use report::{Iterate, Minimum, Termination};

#[cfg(test)]
mod tests;
