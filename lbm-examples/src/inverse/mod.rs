//! Inverse problems through a differentiable simulation: each module states a problem,
//! produces its hidden truth and observation, and solves it with the runtime's gradients
//! and the optimisers of [`crate::optim`]. The `inverse` binary runs them and draws the
//! results with [`crate::output`].

pub mod fields;
pub mod initial_state;
