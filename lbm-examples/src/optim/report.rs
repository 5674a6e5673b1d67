//! What the optimisers report: each iterate as it comes, and the outcome.

/// The state after `iteration` steps, handed to the observer of
/// [`Adam::minimize_with`](super::Adam::minimize_with) and
/// [`Lbfgs::minimize_with`](super::Lbfgs::minimize_with): iterate 0 is the (projected)
/// starting point, iterate `k` the point after `k` steps.
#[derive(Clone, Copy, Debug)]
pub struct Iterate<'a> {
    /// Steps taken so far.
    pub iteration: usize,
    /// The objective at `x`.
    pub loss: f64,
    /// Euclidean norm of the gradient at `x`.
    pub gradient_norm: f64,
    /// Euclidean norm of the projected gradient `P(x - g) - x` at `x`: what goes to zero
    /// at a bounded minimum, where the gradient itself need not.
    pub projected_gradient_norm: f64,
    /// Euclidean length of the last step (`0` for iterate 0).
    pub step_norm: f64,
    /// Objective evaluations so far, line-search trials included.
    pub evaluations: usize,
    /// The parameters.
    pub x: &'a [f64],
    /// The gradient at `x`.
    pub gradient: &'a [f64],
}

/// Why an optimiser stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// The projected gradient norm fell to the tolerance.
    Converged,
    /// A step lowered the loss by less than the relative tolerance (L-BFGS).
    SmallDecrease,
    /// The iteration limit was reached.
    MaxIterations,
    /// The observer asked to stop.
    Stopped,
    /// No step along the projected gradient lowered the loss (L-BFGS): a minimum to the
    /// precision of the objective, or an objective and gradient that disagree.
    LineSearchFailed,
    /// The objective became NaN or infinite after a step (Adam); the result is the last
    /// finite iterate.
    NonFinite,
}

/// Where an optimiser stopped.
#[derive(Clone, Debug)]
pub struct Minimum {
    /// The parameters of the last accepted iterate.
    pub x: Vec<f64>,
    /// The objective there.
    pub loss: f64,
    /// The gradient there.
    pub gradient: Vec<f64>,
    /// Steps taken.
    pub iterations: usize,
    /// Objective evaluations, line-search trials included.
    pub evaluations: usize,
    /// Why it stopped.
    pub termination: Termination,
    /// The loss of every iterate, `history[k]` after `k` steps (for a loss plot).
    pub history: Vec<f64>,
}
