//! Inverse problems through a differentiable simulation: each module states a problem,
//! produces its hidden truth and observation, and solves it with the runtime's gradients
//! and the optimisers of [`crate::optim`]. The `inverse` binary runs them and draws the
//! results with [`crate::output`].
//!
//! - [`initial_state`]: problem 1, the initial velocity of a decaying periodic flow.
//! - [`identify`]: problem 2, a viscosity field and a body force in a channel.
//! - [`design`]: problem 3, the shape of an obstacle in a channel of least pressure drop.
//!
//! [`channel`] is the channel problems 2 and 3 share.

pub mod channel;
pub mod design;
pub mod fields;
pub mod identify;
pub mod initial_state;
