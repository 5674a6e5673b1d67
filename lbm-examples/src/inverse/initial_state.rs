//! Problem 1, initial-state recovery: find the initial velocity field of a decaying flow
//! from one observation of its velocity `T` steps later, in 2D (D2Q9) or 3D (D3Q19, the
//! same pattern as vortex tubes; problem 4 of the issue, with checkpointing under a memory
//! budget).
//!
//! The hidden initial field is a pattern of Lamb-Oseen vortices ([`super::fields::smiley`],
//! jittered by a seed) at rest density. It is run `T` steps with BGK on a periodic grid and
//! its velocity field observed. The unknowns are the initial velocity (two per cell; the
//! density is known to be uniform); the loss is the mean squared velocity mismatch at
//! step `T`, scaled by the pattern's peak speed,
//! `J(u0) = sum_x |u_T(x; u0) - u_obs(x)|^2 / (N U^2)`.
//! Its gradient is the simulation's gradient with respect to the initial populations,
//! mapped through the equilibrium that builds them from `u0`
//! ([`lbm_runtime::equilibrium_gradient`]). Bound-constrained L-BFGS keeps every
//! component within a Mach-safe `|u| <= 0.2`; a trial point whose flow diverges counts
//! as an infinite loss, which the line search backs off from.

use std::ops::ControlFlow;

use lbm_runtime::{
    equilibrium_gradient, ops, Backend, Budget, Checkpointing, Grid, LatticeKind, Objective,
    Precision, Simulation, Step, Storage, Streaming,
};

use super::fields::{extrude, relative_error, smiley, vortex_field_nd, Vortex};
use super::{image_field, GradientMeter, StepProgress};
use crate::optim::{Bounds, Iterate, Lbfgs, Minimum};

/// What to recover and how.
#[derive(Clone, Debug)]
pub struct InitialStateProblem {
    /// The lattice: D2Q9 on a square, D3Q19 or D3Q27 on a cube.
    pub lattice: LatticeKind,
    /// Cells along each side of the periodic square or cube.
    pub size: usize,
    /// Steps between the initial state and the observation.
    pub steps: usize,
    /// BGK relaxation rate.
    pub omega: f64,
    /// Peak speed of the hidden vortices (lattice units).
    pub peak: f64,
    /// Jitter of the vortex positions.
    pub seed: u64,
    /// Precision of the simulation.
    pub precision: Precision,
    /// How its populations are kept.
    pub storage: Storage,
    /// How its step streams.
    pub streaming: Streaming,
    /// Where it runs.
    pub backend: Backend,
    /// How the gradient's backward sweep keeps its states.
    pub checkpointing: Checkpointing,
    /// The pattern of the hidden initial field.
    pub hidden: HiddenPattern,
    /// Who is told how far each simulation call has come.
    pub progress: StepProgress,
}

/// The pattern the hidden initial field is drawn from.
#[derive(Clone, Debug, Default)]
pub enum HiddenPattern {
    /// A smiling face of vortices, jittered by the problem's seed.
    #[default]
    Smiley,
    /// The flow along the contours of a stream function on the `size x size` plane,
    /// `[x + size * y]`, scaled to the problem's peak speed (see
    /// [`super::image_field`]).
    StreamFunction(Vec<f64>),
}

/// The hidden field and its observation.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The grid.
    pub grid: Grid,
    /// The hidden initial velocity, `[cell * D + a]`.
    pub truth: Vec<f64>,
    /// The velocity after the run, `[cell * D + a]`.
    pub observed: Vec<f64>,
}

/// What the recovery found.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The recovered initial velocity, `[cell * D + a]`.
    pub recovered: Vec<f64>,
    /// `||recovered - truth|| / ||truth||`.
    pub relative_error: f64,
    /// The same for the observation itself taken as a guess of the initial field (how
    /// much the flow changed in `T` steps).
    pub observation_error: f64,
    /// The optimiser's outcome (loss history, iterations, termination).
    pub minimum: Minimum,
    /// Gradient evaluations.
    pub gradients: usize,
    /// Seconds in the simulation's gradient calls.
    pub gradient_seconds: f64,
    /// Lattice updates per second over the gradient calls, forward and backward steps
    /// counted once each, in millions.
    pub mlups: f64,
}

/// Errors of the recovery: the engine's or the optimiser's.
pub type RecoveryError = super::ProblemError;

impl InitialStateProblem {
    /// The default problem for a backend: 256^2 over 800 steps on a GPU, 64^2 over 300
    /// on the CPU. Vortex sizes scale with the grid, so the steps scale too: in both, the
    /// vortices move several core radii before the observation.
    pub fn for_backend(backend: Backend) -> Self {
        let (size, steps) = if backend.is_gpu() {
            (256, 800)
        } else {
            (64, 300)
        };
        InitialStateProblem {
            lattice: LatticeKind::D2Q9,
            size,
            steps,
            omega: 1.9,
            peak: 0.05,
            seed: 1,
            precision: Precision::F32,
            storage: Storage::Compute,
            streaming: Streaming::TwoStates,
            backend,
            checkpointing: Checkpointing::StoreAll,
            hidden: HiddenPattern::Smiley,
            progress: StepProgress::default(),
        }
    }

    /// The 3D problem for a backend: D3Q19, 96^3 over 500 steps on a GPU with the states
    /// of the backward sweep within a 4 GiB budget (binomial checkpointing: store-all
    /// would take 34 GB), 24^3 over 200 steps on the CPU.
    pub fn for_backend_3d(backend: Backend) -> Self {
        let (size, steps, budget) = if backend.is_gpu() {
            (96, 500, 4usize << 30)
        } else {
            (24, 200, 256 << 20)
        };
        InitialStateProblem {
            lattice: LatticeKind::D3Q19,
            size,
            steps,
            peak: 0.03,
            checkpointing: Checkpointing::Budget(Budget::bytes(budget)),
            ..Self::for_backend(backend)
        }
    }

    fn grid(&self) -> lbm_runtime::Result<Grid> {
        let n = self.size;
        match self.lattice.d() {
            2 => Grid::new_2d(self.lattice, n, n),
            _ => Grid::new_3d(self.lattice, n, n, n),
        }
    }

    fn simulation(&self, grid: &Grid) -> lbm_runtime::Result<Simulation> {
        let step = Step::new(&ops::bgk::INFO).uniform("omega", [self.omega]);
        let mut sim = Simulation::new(grid.clone(), &step, self.precision, self.backend)?
            .with_storage(self.storage)?
            .with_streaming(self.streaming)?;
        self.progress.install(&mut sim);
        Ok(sim)
    }

    /// The hidden initial velocity on `grid`, `[cell * D + a]`.
    pub fn hidden_field(&self, grid: &Grid) -> lbm_runtime::Result<Vec<f64>> {
        match &self.hidden {
            HiddenPattern::Smiley => Ok(vortex_field_nd(grid, &self.vortices(grid))),
            HiddenPattern::StreamFunction(psi) => {
                let [nx, ny, _] = grid.dims();
                if psi.len() != nx * ny {
                    return Err(lbm_runtime::LbmError::ShapeMismatch {
                        what: "hidden stream function".into(),
                        got: psi.len(),
                        expected: nx * ny,
                        why: format!("one per cell of the {nx}x{ny} plane"),
                    });
                }
                Ok(extrude(
                    grid,
                    &image_field::velocity(psi, nx, ny, self.peak),
                ))
            }
        }
    }

    /// The hidden vortices: the smiley with every centre moved by up to half a core radius
    /// in each direction, by the seed's pseudo-random offsets.
    pub fn vortices(&self, grid: &Grid) -> Vec<Vortex> {
        let mut jitter = super::offsets(self.seed);
        smiley(grid, self.peak)
            .into_iter()
            .map(|v| Vortex {
                x: v.x + v.r0 * jitter(),
                y: v.y + v.r0 * jitter(),
                ..v
            })
            .collect()
    }

    /// Runs the hidden initial field and observes its velocity after `steps` steps.
    pub fn observe(&self) -> lbm_runtime::Result<Observation> {
        let grid = self.grid()?;
        let truth = self.hidden_field(&grid)?;
        let mut sim = self.simulation(&grid)?;
        sim.set_equilibrium(&vec![1.0; grid.cells()], &truth)?;
        sim.run(self.steps)?;
        let (_, observed) = sim.macroscopic()?;
        Ok(Observation {
            grid,
            truth,
            observed,
        })
    }

    /// The loss of an initial velocity field against `obs`, and its gradient.
    pub fn misfit(&self, obs: &Observation) -> lbm_runtime::Result<Misfit> {
        let n = obs.grid.cells();
        let scale = 1.0 / (n as f64 * self.peak * self.peak);
        Ok(Misfit {
            sim: self.simulation(&obs.grid)?,
            objective: Objective::new(&ops::velocity_mismatch::INFO)
                .field("target", obs.observed.clone())
                .weights([scale]),
            grid: obs.grid.clone(),
            rho: vec![1.0; n],
            steps: self.steps,
            checkpointing: self.checkpointing,
        })
    }

    /// Recovers the initial velocity from `obs` with at most `iterations` L-BFGS steps,
    /// starting from rest; `progress` sees every iterate and the simulation's MLUPS so far.
    pub fn recover(
        &self,
        obs: &Observation,
        iterations: usize,
        mut progress: impl FnMut(&Iterate<'_>, f64),
    ) -> Result<Recovery, RecoveryError> {
        let n = obs.grid.cells();
        let mut misfit = self.misfit(obs)?;
        let meter = GradientMeter::new(n, self.steps);
        let loss_and_gradient = |u0: &[f64]| meter.evaluate(u0.len(), || misfit.evaluate(u0));
        let observer = |it: &Iterate<'_>| {
            progress(it, meter.mlups());
            ControlFlow::Continue(())
        };
        let d = self.lattice.d();
        let bounds = Bounds::uniform(d * n, -0.2, 0.2)?;
        let minimum = Lbfgs::new().max_iterations(iterations).minimize_with(
            vec![0.0; d * n],
            &bounds,
            loss_and_gradient,
            observer,
        )?;
        let recovered = minimum.x.clone();
        Ok(Recovery {
            relative_error: relative_error(&recovered, &obs.truth),
            observation_error: relative_error(&obs.observed, &obs.truth),
            recovered,
            minimum,
            gradients: meter.calls(),
            gradient_seconds: meter.seconds(),
            mlups: meter.mlups(),
        })
    }
}

/// The recovery's loss as a function of the initial velocity, with its gradient: one
/// simulation kept for every evaluation.
pub struct Misfit {
    sim: Simulation,
    objective: Objective,
    grid: Grid,
    rho: Vec<f64>,
    steps: usize,
    checkpointing: Checkpointing,
}

impl Misfit {
    /// The loss at the initial velocity `u0` (`[cell * D + a]`) and its gradient.
    pub fn evaluate(&mut self, u0: &[f64]) -> lbm_runtime::Result<(f64, Vec<f64>)> {
        self.sim.set_equilibrium(&self.rho, u0)?;
        let g = self
            .sim
            .gradient(&self.objective, self.steps, self.checkpointing)?;
        let (_, d_u) = equilibrium_gradient(&self.grid, &self.rho, u0, &g.initial)?;
        Ok((g.loss, d_u))
    }
}
