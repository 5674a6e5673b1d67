//! Calling the objective: counting, and checking what it returns.

use super::bounds::Bounds;
use super::error::OptimError;

/// The objective with an evaluation counter; hands on its errors and rejects a gradient of
/// the wrong length, so the optimisers index gradients without checks.
pub(crate) struct Counted<F> {
    objective: F,
    n: usize,
    pub evaluations: usize,
}

impl<F> Counted<F> {
    pub fn new(objective: F, n: usize) -> Self {
        Counted {
            objective,
            n,
            evaluations: 0,
        }
    }

    /// The value and gradient at `x`, or why not.
    pub fn eval<E>(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), OptimError<E>>
    where
        F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), E>,
    {
        self.evaluations += 1;
        let (f, g) = (self.objective)(x).map_err(OptimError::Objective)?;
        if g.len() != self.n {
            return Err(OptimError::GradientLength {
                expected: self.n,
                actual: g.len(),
            });
        }
        Ok((f, g))
    }
}

/// Whether a value and its gradient are usable.
pub(crate) fn finite(f: f64, g: &[f64]) -> bool {
    f.is_finite() && g.iter().all(|v| v.is_finite())
}

/// Euclidean norm.
pub(crate) fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Euclidean distance.
pub(crate) fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Checks that `value` satisfies `ok`, naming the setting otherwise.
pub(crate) fn setting<E>(
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), OptimError<E>> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::Setting {
            name,
            value,
            expected,
        })
    }
}

/// The starting point, checked against the bounds and projected onto them.
pub(crate) fn start<E>(mut x: Vec<f64>, bounds: &Bounds) -> Result<Vec<f64>, OptimError<E>> {
    if x.len() != bounds.len() {
        return Err(OptimError::Dimension {
            expected: bounds.len(),
            actual: x.len(),
        });
    }
    if let Some(i) = x.iter().position(|v| v.is_nan()) {
        return Err(OptimError::NanStart(i));
    }
    bounds.project(&mut x);
    Ok(x)
}
