//! Box bounds on a parameter vector, and projection onto them.

/// Per-parameter bounds `lower[i] <= x[i] <= upper[i]`, either side possibly infinite.
///
/// The box is closed. An open interval, such as a relaxation rate `omega` in `(0, 2)`, is
/// the caller's to close a little inside: `Bounds::uniform(n, 1e-3, 2.0 - 1e-3)`. A
/// parameter with `lower == upper` is held fixed.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds {
    lower: Vec<f64>,
    upper: Vec<f64>,
}

/// Bounds that describe no box.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BoundsError {
    /// `lower` and `upper` of different lengths.
    #[error("{lower} lower bounds but {upper} upper bounds")]
    Lengths {
        /// Number of lower bounds.
        lower: usize,
        /// Number of upper bounds.
        upper: usize,
    },
    /// A bound that is NaN, or an interval with no point in it.
    #[error("parameter {index}: [{lower}, {upper}] is not an interval")]
    Empty {
        /// The parameter.
        index: usize,
        /// Its lower bound.
        lower: f64,
        /// Its upper bound.
        upper: f64,
    },
}

impl Bounds {
    /// Bounds from the two sides; each `lower[i] <= upper[i]`, neither NaN, `lower[i]` not
    /// `+inf` and `upper[i]` not `-inf`.
    pub fn new(lower: Vec<f64>, upper: Vec<f64>) -> Result<Self, BoundsError> {
        if lower.len() != upper.len() {
            return Err(BoundsError::Lengths {
                lower: lower.len(),
                upper: upper.len(),
            });
        }
        for (index, (&l, &u)) in lower.iter().zip(&upper).enumerate() {
            // NaN fails every comparison, so it lands here too.
            if !(l <= u && l < f64::INFINITY && u > f64::NEG_INFINITY) {
                return Err(BoundsError::Empty {
                    index,
                    lower: l,
                    upper: u,
                });
            }
        }
        Ok(Bounds { lower, upper })
    }

    /// The same interval `[lower, upper]` for all `n` parameters.
    pub fn uniform(n: usize, lower: f64, upper: f64) -> Result<Self, BoundsError> {
        Bounds::new(vec![lower; n], vec![upper; n])
    }

    /// No bounds on `n` parameters.
    pub fn unbounded(n: usize) -> Self {
        Bounds {
            lower: vec![f64::NEG_INFINITY; n],
            upper: vec![f64::INFINITY; n],
        }
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.lower.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// The lower bounds.
    pub fn lower(&self) -> &[f64] {
        &self.lower
    }

    /// The upper bounds.
    pub fn upper(&self) -> &[f64] {
        &self.upper
    }

    /// Moves every `x[i]` to the nearest point of its interval (entries past
    /// [`len`](Self::len) are left alone).
    pub fn project(&self, x: &mut [f64]) {
        for ((v, &l), &u) in x.iter_mut().zip(&self.lower).zip(&self.upper) {
            *v = v.clamp(l, u);
        }
    }

    /// Whether every `x[i]` lies in its interval (and `x` has [`len`](Self::len) entries).
    pub fn contains(&self, x: &[f64]) -> bool {
        x.len() == self.len()
            && x.iter()
                .zip(&self.lower)
                .zip(&self.upper)
                .all(|((v, l), u)| (l..=u).contains(&v))
    }

    /// Euclidean norm of the projected gradient `P(x - g) - x`: zero exactly where no
    /// feasible direction decreases the objective to first order (a KKT point), and the
    /// gradient norm where no bound is near.
    pub fn projected_gradient_norm(&self, x: &[f64], g: &[f64]) -> f64 {
        x.iter()
            .zip(g)
            .zip(self.lower.iter().zip(&self.upper))
            .map(|((&xi, &gi), (&l, &u))| {
                let d = (xi - gi).clamp(l, u) - xi;
                d * d
            })
            .sum::<f64>()
            .sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catches bounds that accept an empty box, which would make projection meaningless.
    #[test]
    fn empty_intervals_are_rejected() {
        assert!(Bounds::new(vec![0.0], vec![1.0, 2.0]).is_err());
        assert!(Bounds::uniform(2, 1.0, 0.0).is_err());
        assert!(Bounds::uniform(1, f64::NAN, 1.0).is_err());
        assert!(Bounds::uniform(1, f64::INFINITY, f64::INFINITY).is_err());
        assert!(Bounds::uniform(1, 0.5, 0.5).is_ok());
        assert!(Bounds::uniform(1, f64::NEG_INFINITY, 0.0).is_ok());
    }

    // Catches a projected gradient that ignores the bounds: at a bound with the gradient
    // pushing outward it is zero, inside it is the gradient.
    #[test]
    fn projected_gradient_vanishes_at_an_active_bound() {
        let b = Bounds::uniform(2, 0.0, 1.0).unwrap();
        assert_eq!(b.projected_gradient_norm(&[1.0, 0.0], &[-3.0, 2.0]), 0.0);
        assert_eq!(b.projected_gradient_norm(&[0.5, 0.5], &[0.3, -0.4]), 0.5);
        // Inside but near: the step to the bound, not the full gradient.
        assert!((b.projected_gradient_norm(&[0.9, 0.5], &[-3.0, 0.0]) - 0.1).abs() < 1e-15);
        let mut x = [-1.0, 2.0];
        b.project(&mut x);
        assert_eq!(x, [0.0, 1.0]);
        assert!(b.contains(&x));
    }
}
