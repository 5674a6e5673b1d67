//! Inverse problems through a differentiable simulation: each module states a problem,
//! produces its hidden truth and observation, and solves it with the runtime's gradients
//! and the optimisers of [`crate::optim`]. The `inverse` binary runs them and draws the
//! results with [`crate::output`].
//!
//! - [`initial_state`]: problem 1, the initial velocity of a decaying periodic flow.
//! - [`identify`]: problem 2, a viscosity field and a body force in a channel.
//! - [`design`]: problem 3, the shape of an obstacle in a channel of least pressure drop.
//! - [`image_field`]: a user's picture as the hidden field of problem 1.
//!
//! [`channel`] is the channel problems 2 and 3 share.

pub mod channel;
pub mod design;
pub mod fields;
pub mod identify;
pub mod image_field;
pub mod initial_state;

use std::cell::Cell;
use std::time::Instant;

use lbm_runtime::{LbmError, ProgressObserver, Simulation};
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

/// Errors of an inverse problem: the engine's, the optimiser's or a bad setting of the
/// problem. The problems' own names for it ([`design::DesignError`],
/// [`identify::IdentifyError`], [`initial_state::RecoveryError`]) are aliases.
#[derive(Debug, thiserror::Error)]
pub enum ProblemError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] LbmError),
    /// The optimiser failed.
    #[error(transparent)]
    Optimiser(#[from] crate::optim::OptimError<LbmError>),
    /// A bound could not be built.
    #[error(transparent)]
    Bounds(#[from] crate::optim::BoundsError),
    /// A setting of the problem outside its range.
    #[error("{0}")]
    Setting(String),
}

/// An observer of the steps of a problem's simulations, installed on each as it is made:
/// what a progress bar over long forward and backward sweeps reads. None by default.
#[derive(Clone, Default)]
pub struct StepProgress(pub Option<ProgressObserver>);

impl StepProgress {
    /// Installs the observer on `sim`.
    pub(crate) fn install(&self, sim: &mut Simulation) {
        sim.set_progress(self.0.clone());
    }
}

impl std::fmt::Debug for StepProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "StepProgress(observed)"
        } else {
            "StepProgress(none)"
        })
    }
}

/// The simulation's gradient calls during an optimisation: how many, how long, and the
/// throughput they reached, readable by a progress report between calls.
pub(crate) struct GradientMeter {
    /// Calls so far and the seconds they took.
    spent: Cell<(usize, f64)>,
    /// Lattice-cell updates of one call, forward and backward steps counted once each.
    updates_per_call: f64,
}

impl GradientMeter {
    /// A meter for gradients over `steps` steps of `cells` cells.
    pub fn new(cells: usize, steps: usize) -> Self {
        GradientMeter {
            spent: Cell::new((0, 0.0)),
            updates_per_call: 2.0 * cells as f64 * steps as f64,
        }
    }

    /// Runs and times one evaluation of the loss and gradient of `n` parameters. A trial
    /// point whose flow blows up is infinitely bad, not a failure: it comes back as a NaN
    /// loss, which the line search answers by shortening its step.
    pub fn evaluate(
        &self,
        n: usize,
        evaluation: impl FnOnce() -> lbm_runtime::Result<(f64, Vec<f64>)>,
    ) -> lbm_runtime::Result<(f64, Vec<f64>)> {
        let start = Instant::now();
        let result = match evaluation() {
            Err(LbmError::Diverged { .. }) => Ok((f64::NAN, vec![0.0; n])),
            other => other,
        };
        let (calls, seconds) = self.spent.get();
        self.spent
            .set((calls + 1, seconds + start.elapsed().as_secs_f64()));
        result
    }

    /// Gradient calls so far.
    pub fn calls(&self) -> usize {
        self.spent.get().0
    }

    /// Seconds spent in them.
    pub fn seconds(&self) -> f64 {
        self.spent.get().1
    }

    /// Their throughput, in millions of lattice-cell updates per second.
    pub fn mlups(&self) -> f64 {
        let (calls, seconds) = self.spent.get();
        self.updates_per_call * calls as f64 / seconds.max(1e-9) / 1e6
    }
}

/// Pseudo-random offsets, uniform in `[-0.5, 0.5)`, that move a hidden field's features or
/// perturb a starting design. SplitMix64, whose output rand_xoshiro keeps fixed, so a
/// seed names the same problem on every platform and in every release.
pub(crate) fn offsets(seed: u64) -> impl FnMut() -> f64 {
    let mut rng = SplitMix64::seed_from_u64(seed);
    move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

#[cfg(test)]
mod tests {
    // Catches a change of generator or of scaling, which would silently change every
    // seeded problem: SplitMix64 from 7 first gives 7191089600892374487 (computed with
    // the reference algorithm, Steele, Lea and Flood 2014).
    #[test]
    fn offsets_are_splitmix64_scaled_to_the_unit_interval() {
        let mut next = super::offsets(7);
        let first = (7_191_089_600_892_374_487u64 >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        assert_eq!(next(), first);
        let rest: Vec<f64> = (0..1000).map(|_| next()).collect();
        assert!(rest.iter().all(|v| (-0.5..0.5).contains(v)));
    }
}
