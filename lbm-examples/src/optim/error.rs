//! The error type of the optimisers.

use super::bounds::BoundsError;

/// Why an optimiser could not run or stopped on an error; `E` is the objective's error.
///
/// Running out of iterations, converging or being stopped are not errors: they are a
/// [`Termination`](super::Termination) in the returned [`Minimum`](super::Minimum).
#[derive(Debug, thiserror::Error)]
pub enum OptimError<E> {
    /// The objective returned an error; the optimiser stops and hands it on unchanged.
    #[error("the objective failed: {0}")]
    Objective(#[source] E),
    /// The bounds given describe no box.
    #[error(transparent)]
    Bounds(#[from] BoundsError),
    /// The starting point and the bounds have different lengths.
    #[error("the starting point has {actual} parameters but the bounds {expected}")]
    Dimension {
        /// Number of bounds.
        expected: usize,
        /// Length of the starting point.
        actual: usize,
    },
    /// The objective returned a gradient of the wrong length.
    #[error("the objective returned a gradient of {actual} entries for {expected} parameters")]
    GradientLength {
        /// Number of parameters.
        expected: usize,
        /// Length of the gradient returned.
        actual: usize,
    },
    /// The starting point has a NaN in it.
    #[error("the starting point is NaN at parameter {0}")]
    NanStart(usize),
    /// The objective's value or gradient is NaN or infinite at the starting point, so there
    /// is nothing to descend from.
    #[error("the objective is not finite at the starting point (value {value})")]
    NonFiniteStart {
        /// The value there (finite when only the gradient is not).
        value: f64,
    },
    /// An optimiser setting outside its range.
    #[error("setting `{name}` = {value}: {expected}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What it must be.
        expected: &'static str,
    },
}
