//! Problem 2, parameter identification: find a per-cell relaxation rate (viscosity) field
//! and a uniform body force from one observation of the velocity in a channel.
//!
//! The channel ([`Channel`]) has walls (halfway bounce-back), a parabolic Zou-He velocity
//! inlet and a Zou-He pressure outlet. It first runs at the nominal relaxation rate
//! `omega0` without a force until its flow is developed; that state is known. Then the
//! hidden field `omega(x)` (the nominal value with a blob of higher viscosity and one of
//! lower, placed by the seed) and a hidden uniform force `F` (Guo forcing) act for `T`
//! steps, and the velocity is observed.
//!
//! The unknowns are `omega` on every fluid cell and the two components of `F`. The loss is
//! the mean squared velocity mismatch at step `T` scaled by the inlet's mean speed,
//! `J = sum_x |u_T(x) - u_obs(x)|^2 / (N U^2)`, plus a weak regulariser (a smoothness
//! penalty and a prior towards `omega0`, see [`Misfit::regulariser`] for why a velocity
//! field alone leaves some directions free). The data term's gradient comes from one
//! backward run (`Gradients::param("omega")`, a field, and `param("force")`, uniform).
//! Projected L-BFGS keeps `omega` in `[0.6, 1.9]`, from the nominal field and no force; a
//! trial point whose flow diverges counts as a NaN loss, which the line search backs off
//! from.
//!
//! What makes the problem identifiable: viscosity acts only where the flow shears, so the
//! run starts from the developed flow, which shears everywhere but on the centreline (the
//! blobs sit near the walls, where it shears most). A uniform force is a potential force,
//! which a pressure field would balance entirely in a steady incompressible flow; here it
//! is switched on at step 0, so the flow answers with the accelerations and pressure waves
//! it sets off, and the pressure outlet, which holds the density uniform across the
//! channel, cannot balance its cross-channel part by a hydrostatic gradient, which skews
//! the outflow.

use std::ops::ControlFlow;

use lbm_runtime::ops::{density, equilibrium, halfway_bounce_back, momentum};
use lbm_runtime::ops::{zou_he_pressure, zou_he_velocity};
use lbm_runtime::{
    operator, ops, Backend, Checkpointing, GradValue, LbmError, Objective, Precision, Simulation,
    Step,
};

use super::channel::{viscosity, Channel};
use super::fields::relative_error;
use super::{GradientMeter, StepProgress};
use crate::optim::{Bounds, Iterate, Lbfgs, Minimum};

/// BGK collision with Guo's forcing and a relaxation rate per cell.
///
/// Guo, Zheng and Shi (2002) make a body force `F` enter at second order: the equilibrium
/// takes the velocity `u = (j + F / 2) / rho` and the source
/// `S_i = (1 - omega / 2) w_i [c_i.F / cs^2 + ((c_i.u)(c_i.F) - cs^2 u.F) / cs^4]`,
/// the expansion of `w_i [(c_i - u) / cs^2 + (c_i.u) c_i / cs^4].F`, is added after the
/// relaxation. Mass is kept and momentum grows by `F`. The library's `guo_forcing` is the
/// same scheme with `omega` declared uniform (`#[param]`); here `omega` is a plain real,
/// so a step can bind it to a per-cell field and get one gradient per cell.
#[operator]
pub fn guo_bgk(
    #[populations] f: [Real; Q],
    #[range("(0, 2)")] omega: Real,
    force: [Real; D],
) -> [Real; Q] {
    let rho = density(f);
    let j = momentum(f);
    let mut u = [0.0; D];
    let mut uf = 0.0;
    for a in 0..D {
        u[a] = (j[a] + 0.5 * force[a]) / rho;
        uf += u[a] * force[a];
    }
    let feq = equilibrium(rho, u);
    let mut out = [0.0; Q];
    for i in 0..Q {
        let mut cu = 0.0;
        let mut cf = 0.0;
        for a in 0..D {
            cu += C[i][a] * u[a];
            cf += C[i][a] * force[a];
        }
        let source = W[i] * (cf / CS2 + (cu * cf - CS2 * uf) / (CS2 * CS2));
        out[i] = f[i] - omega * (f[i] - feq[i]) + (1.0 - 0.5 * omega) * source;
    }
    out
}

/// One step of the forced channel: walls keep their populations; fluid cells bounce back
/// from wall links, the inlet (tag 1) and outlet (tag 2) columns complete their unknown
/// populations by Zou-He, and every fluid cell collides with [`guo_bgk`] at its own rate.
///
/// Bounce-back comes first so that Zou-He sees the wall-side populations of the corner
/// cells as known; the ones it completes (moving into the channel) it overwrites.
#[operator]
pub fn forced_channel_step(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[range("(0, 2)")] omega: Real,
    force: [Real; D],
    #[data] u_in: [Real; D],
    #[data] rho_out: Real,
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    let g = halfway_bounce_back(f, f_local, links);
    match tag {
        1 => guo_bgk(zou_he_velocity(g, u_in, 0, 1), omega, force),
        2 => guo_bgk(zou_he_pressure(g, rho_out, 0, -1), omega, force),
        _ => guo_bgk(g, omega, force),
    }
}

/// The bounds on the relaxation rate of every cell: inside `(0, 2)` with room to spare,
/// where BGK stays stable at the speeds of the channel.
pub const OMEGA_BOUNDS: (f64, f64) = (0.6, 1.9);

/// What to identify and how.
#[derive(Clone, Debug)]
pub struct IdentifyProblem {
    /// Cells across the channel, walls included; the channel is three times as long.
    pub size: usize,
    /// Steps of the hidden parameters' run, from the developed state to the observation.
    pub steps: usize,
    /// Steps that develop the flow at the nominal rate before that run.
    pub warmup: usize,
    /// Mean speed of the parabolic inlet profile (lattice units).
    pub mean_speed: f64,
    /// The nominal relaxation rate: the fluid's outside the blobs, and the starting guess.
    pub omega0: f64,
    /// The relaxation rate at the centre of the blob of higher viscosity.
    pub omega_thick: f64,
    /// The relaxation rate at the centre of the blob of lower viscosity.
    pub omega_thin: f64,
    /// The hidden body force, in units of the pressure gradient that drives the nominal
    /// fluid's Poiseuille flow, `G = 12 nu0 U / H^2` (see [`IdentifyProblem::force_unit`]).
    pub force: [f64; 2],
    /// Weight `alpha` of the smoothness term `alpha / 2 sum (omega_a - omega_b)^2` over
    /// neighbouring fluid cells (see [`Misfit::regulariser`]); 0 for none.
    pub smoothing: f64,
    /// Weight `beta` of the prior term `beta / (2 N) sum (omega - omega0)^2` over the `N`
    /// fluid cells (see [`Misfit::regulariser`]); 0 for none.
    pub prior: f64,
    /// Moves the blobs.
    pub seed: u64,
    /// Precision of the simulation.
    pub precision: Precision,
    /// Where it runs.
    pub backend: Backend,
    /// Who is told how far each simulation call has come.
    pub progress: StepProgress,
}

/// The hidden parameters and their observation.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The channel.
    pub channel: Channel,
    /// The hidden relaxation rate, one per cell (the walls hold `omega0`, unused).
    pub omega: Vec<f64>,
    /// The hidden force (lattice units).
    pub force: [f64; 2],
    /// The developed state every run starts from, `[cell * 9 + i]`.
    pub start: Vec<f64>,
    /// The velocity of the developed state, `[cell * 2 + a]`.
    pub start_velocity: Vec<f64>,
    /// The velocity after the run with the hidden parameters, `[cell * 2 + a]`.
    pub observed: Vec<f64>,
}

/// What the identification found.
#[derive(Clone, Debug)]
pub struct Identification {
    /// The recovered relaxation rate, one per cell (the walls hold `omega0`).
    pub omega: Vec<f64>,
    /// The recovered force (lattice units).
    pub force: [f64; 2],
    /// `||omega - omega_true|| / ||omega_true||` over the fluid cells.
    pub omega_error: f64,
    /// `||omega - omega_true|| / ||omega_start - omega_true||` over the fluid cells: how
    /// much of the starting guess's error is left.
    pub omega_error_left: f64,
    /// `||omega_start - omega_true|| / ||omega_true||`, the starting guess's error.
    pub omega_start_error: f64,
    /// `|F - F_true| / |F_true|`.
    pub force_error: f64,
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

/// Errors of the identification: the engine's, the optimiser's or a bad setting.
pub type IdentifyError = super::ProblemError;

impl IdentifyProblem {
    /// The default problem for a backend: a channel 130 cells wide over 2000 steps on a
    /// GPU, 34 cells wide over 400 steps on the CPU. Blobs scale with the channel and the
    /// steps with the time viscosity needs to cross a blob.
    pub fn for_backend(backend: Backend) -> Self {
        let (size, steps, warmup) = if backend.is_gpu() {
            (130, 2000, 10000)
        } else {
            (34, 400, 1500)
        };
        IdentifyProblem {
            size,
            steps,
            warmup,
            mean_speed: 0.05,
            omega0: 1.2,
            omega_thick: 0.75,
            omega_thin: 1.7,
            force: [0.5, -0.6],
            smoothing: 3e-6,
            prior: 3e-5,
            seed: 1,
            precision: Precision::F32,
            backend,
            progress: StepProgress::default(),
        }
    }

    /// Checks the settings that no later call would name clearly.
    fn check(&self) -> Result<(), IdentifyError> {
        let (lo, hi) = OMEGA_BOUNDS;
        for (name, v) in [
            ("omega0", self.omega0),
            ("omega_thick", self.omega_thick),
            ("omega_thin", self.omega_thin),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(IdentifyError::Setting(format!(
                    "{name} = {v} is outside [{lo}, {hi}], the bounds of the identification"
                )));
            }
        }
        if self.steps == 0 {
            return Err(IdentifyError::Setting(
                "the run to the observation needs at least one step".into(),
            ));
        }
        if !self.force.iter().all(|f| f.is_finite()) {
            return Err(IdentifyError::Setting(format!(
                "the hidden force {:?} is not finite",
                self.force
            )));
        }
        Ok(())
    }

    /// The force unit `G = 12 nu0 U / H^2` (lattice units), the pressure gradient of the
    /// nominal fluid's Poiseuille flow: a force of one unit is as strong as what drives
    /// the flow, whatever the channel's size. The unknowns hold the force in this unit, so
    /// that they and the relaxation rates are numbers near one: L-BFGS's first step, a
    /// steepest-descent step moving no parameter by more than `initial_step`, suits both.
    pub fn force_unit(&self, channel: &Channel) -> f64 {
        let h = channel.width();
        12.0 * viscosity(self.omega0) * self.mean_speed / (h * h)
    }

    /// The hidden force in lattice units.
    pub fn hidden_force(&self, channel: &Channel) -> [f64; 2] {
        self.force.map(|f| f * self.force_unit(channel))
    }

    /// The channel: `3 size` by `size` cells.
    pub fn channel(&self) -> lbm_runtime::Result<Channel> {
        Channel::new(3 * self.size, self.size, self.mean_speed)
    }

    /// The step with a relaxation-rate field and a force bound.
    fn step(&self, channel: &Channel, omega: Vec<f64>, force: [f64; 2]) -> Step {
        Step::new(&forced_channel_step::INFO)
            .int_field("tag", channel.tags().to_vec())
            .field("omega", omega)
            .uniform("force", force)
            .field("u_in", channel.poiseuille())
            .uniform("rho_out", [1.0])
    }

    /// The hidden relaxation rate: `omega0`, falling to `omega_thick` at the centre of a
    /// Gaussian blob in the channel's upper half and rising to `omega_thin` at one in its
    /// lower half, further downstream; the seed moves both by up to half a radius.
    pub fn hidden_omega(&self, channel: &Channel) -> Vec<f64> {
        let [nx, ny] = channel.dims();
        let h = channel.width();
        let r = 0.12 * h;
        let mut jitter = super::offsets(self.seed);
        let blobs = [
            (0.35 * nx as f64, 0.5 + 0.78 * h, self.omega_thick),
            (0.62 * nx as f64, 0.5 + 0.22 * h, self.omega_thin),
        ]
        .map(|(x, y, peak)| (x + r * jitter(), y + r * jitter(), peak));
        let grid = channel.grid();
        (0..grid.cells())
            .map(|cell| {
                let [x, y, _] = grid.coords(cell);
                if y == 0 || y == ny - 1 {
                    return self.omega0;
                }
                let mut omega = self.omega0;
                for &(bx, by, peak) in &blobs {
                    let d2 = (x as f64 - bx).powi(2) + (y as f64 - by).powi(2);
                    omega += (peak - self.omega0) * (-0.5 * d2 / (r * r)).exp();
                }
                omega
            })
            .collect()
    }

    /// Develops the flow at the nominal rate, then runs the hidden parameters and observes
    /// the velocity after `steps` steps.
    pub fn observe(&self) -> Result<Observation, IdentifyError> {
        self.check()?;
        let channel = self.channel()?;
        let n = channel.grid().cells();
        let mut sim = Simulation::new(
            channel.grid().clone(),
            &self.step(&channel, vec![self.omega0; n], [0.0; 2]),
            self.precision,
            self.backend,
        )?;
        self.progress.install(&mut sim);
        sim.set_populations(&channel.poiseuille_state()?)?;
        sim.run(self.warmup)?;
        let start = sim.populations()?;
        let (_, start_velocity) = sim.macroscopic()?;
        let omega = self.hidden_omega(&channel);
        sim.set_field("omega", omega.clone())?;
        let force = self.hidden_force(&channel);
        sim.set_uniform("force", force)?;
        sim.set_populations(&start)?;
        sim.run(self.steps)?;
        let (_, observed) = sim.macroscopic()?;
        Ok(Observation {
            channel,
            omega,
            force,
            start,
            start_velocity,
            observed,
        })
    }

    /// The loss of a parameter vector against `obs`, and its gradient (see [`Misfit`]).
    pub fn misfit(&self, obs: &Observation) -> Result<Misfit, IdentifyError> {
        self.check()?;
        let channel = &obs.channel;
        let n = channel.grid().cells();
        let fluid = channel.fluid_cells();
        let scale = 1.0 / (fluid.len() as f64 * self.mean_speed * self.mean_speed);
        let mut sim = Simulation::new(
            channel.grid().clone(),
            &self.step(channel, vec![self.omega0; n], [0.0; 2]),
            self.precision,
            self.backend,
        )?;
        self.progress.install(&mut sim);
        Ok(Misfit {
            sim,
            objective: Objective::new(&ops::velocity_mismatch::INFO)
                .field("target", obs.observed.clone())
                .weights([scale]),
            start: obs.start.clone(),
            omega: vec![self.omega0; n],
            edges: neighbour_pairs(channel),
            force_unit: self.force_unit(channel),
            smoothing: self.smoothing,
            prior: self.prior,
            omega0: self.omega0,
            fluid,
            steps: self.steps,
        })
    }

    /// The starting point of the identification: `omega0` on every fluid cell, no force.
    pub fn start(&self, obs: &Observation) -> Vec<f64> {
        let mut p = vec![self.omega0; obs.channel.fluid_cells().len()];
        p.extend([0.0, 0.0]);
        p
    }

    /// Identifies the relaxation rate and the force from `obs` with at most `iterations`
    /// L-BFGS steps; `progress` sees every iterate and the simulation's MLUPS so far.
    pub fn identify(
        &self,
        obs: &Observation,
        iterations: usize,
        mut progress: impl FnMut(&Iterate<'_>, f64),
    ) -> Result<Identification, IdentifyError> {
        let mut misfit = self.misfit(obs)?;
        let cells = obs.channel.grid().cells();
        let meter = GradientMeter::new(cells, self.steps);
        let loss_and_gradient = |p: &[f64]| meter.evaluate(p.len(), || misfit.evaluate(p));
        let observer = |it: &Iterate<'_>| {
            progress(it, meter.mlups());
            ControlFlow::Continue(())
        };
        let fluid = obs.channel.fluid_cells();
        let (lo, hi) = OMEGA_BOUNDS;
        let mut lower = vec![lo; fluid.len()];
        let mut upper = vec![hi; fluid.len()];
        // The force is free within twenty times the driving pressure gradient, more than a
        // channel flow at these speeds survives: a wild line-search trial is cut short.
        lower.extend([-20.0; 2]);
        upper.extend([20.0; 2]);
        let bounds = Bounds::new(lower, upper)?;
        let start = self.start(obs);
        let minimum = Lbfgs::new()
            .max_iterations(iterations)
            .initial_step(0.1)
            .minimize_with(start.clone(), &bounds, loss_and_gradient, observer)?;
        let (omega, force) = misfit.fields(&minimum.x);
        let truth: Vec<f64> = fluid.iter().map(|&c| obs.omega[c]).collect();
        let recovered = &minimum.x[..fluid.len()];
        let guess = &start[..fluid.len()];
        Ok(Identification {
            omega_error: relative_error(recovered, &truth),
            omega_error_left: distance(recovered, &truth) / distance(guess, &truth).max(1e-300),
            omega_start_error: relative_error(guess, &truth),
            force_error: relative_error(&force, &obs.force),
            omega,
            force,
            minimum,
            gradients: meter.calls(),
            gradient_seconds: meter.seconds(),
            mlups: meter.mlups(),
        })
    }
}

/// Euclidean distance.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// The identification's loss as a function of the parameter vector, with its gradient:
/// one simulation kept for every evaluation, its parameters updated in place.
///
/// The vector holds the relaxation rate of every fluid cell (in the order of
/// [`Channel::fluid_cells`]) and then the force in units of
/// [`IdentifyProblem::force_unit`].
pub struct Misfit {
    sim: Simulation,
    objective: Objective,
    start: Vec<f64>,
    /// The whole relaxation-rate field; the walls keep their value.
    omega: Vec<f64>,
    fluid: Vec<usize>,
    /// The force's unit, lattice units per unit of the parameter.
    force_unit: f64,
    /// Pairs of neighbouring fluid cells, as indices into the parameter vector.
    edges: Vec<(usize, usize)>,
    smoothing: f64,
    prior: f64,
    omega0: f64,
    steps: usize,
}

/// Pairs of fluid cells next to each other along `x` or `y` (not across the periodic
/// seam, which the channel's inlet and outlet cut), as indices into the list of fluid
/// cells.
fn neighbour_pairs(channel: &Channel) -> Vec<(usize, usize)> {
    let grid = channel.grid();
    let fluid = channel.fluid_cells();
    let mut index = vec![usize::MAX; grid.cells()];
    for (k, &cell) in fluid.iter().enumerate() {
        index[cell] = k;
    }
    let [nx, ny] = channel.dims();
    let mut pairs = Vec::new();
    for (k, &cell) in fluid.iter().enumerate() {
        let [x, y, _] = grid.coords(cell);
        if x + 1 < nx && index[cell + 1] != usize::MAX {
            pairs.push((k, index[cell + 1]));
        }
        if y + 1 < ny && index[cell + nx] != usize::MAX {
            pairs.push((k, index[cell + nx]));
        }
    }
    pairs
}

impl Misfit {
    /// Number of parameters: fluid cells and two force components.
    pub fn len(&self) -> usize {
        self.fluid.len() + 2
    }

    /// Whether there are no parameters (never: the force is always there).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The relaxation-rate field (one per cell) and the force of a parameter vector.
    pub fn fields(&self, p: &[f64]) -> (Vec<f64>, [f64; 2]) {
        let mut omega = self.omega.clone();
        for (&cell, &v) in self.fluid.iter().zip(p) {
            omega[cell] = v;
        }
        let k = self.fluid.len();
        let force = [
            p.get(k).copied().unwrap_or(0.0) * self.force_unit,
            p.get(k + 1).copied().unwrap_or(0.0) * self.force_unit,
        ];
        (omega, force)
    }

    /// The loss at the parameter vector `p` and its gradient.
    pub fn evaluate(&mut self, p: &[f64]) -> lbm_runtime::Result<(f64, Vec<f64>)> {
        if p.len() != self.len() {
            return Err(LbmError::ShapeMismatch {
                what: "identification parameters".into(),
                got: p.len(),
                expected: self.len(),
                why: "one relaxation rate per fluid cell and two force components".into(),
            });
        }
        let (omega, force) = self.fields(p);
        self.sim.set_field("omega", omega)?;
        self.sim.set_uniform("force", force)?;
        // Every evaluation starts from the developed state; setting it again also undoes
        // whatever a diverged trial left behind.
        self.sim.set_populations(&self.start)?;
        let g =
            self.sim
                .parameter_gradient(&self.objective, self.steps, Checkpointing::StoreAll)?;
        let missing = |name: &str| LbmError::BadBinding {
            op: forced_channel_step::INFO.name,
            message: format!("the gradient has no field for `{name}`"),
        };
        let Some(GradValue::Field(d_omega)) = g.param("omega") else {
            return Err(missing("omega"));
        };
        let Some(GradValue::Uniform(d_force)) = g.param("force") else {
            return Err(missing("force"));
        };
        let mut grad: Vec<f64> = self.fluid.iter().map(|&c| d_omega[c]).collect();
        grad.extend(d_force.iter().map(|d| d * self.force_unit));
        let r = self.regulariser(p, &mut grad)?;
        Ok((g.loss + r, grad))
    }

    /// The regulariser at `p`, its gradient added to `grad` (both of [`len`](Self::len)
    /// entries):
    /// `alpha / 2 sum_edges (omega_a - omega_b)^2 + beta / (2 N) sum_cells (omega - omega0)^2`
    /// over the fluid cells (the force is not regularised).
    ///
    /// Why a regulariser: a velocity field sees the viscosity only through the stresses it
    /// makes, and some changes of viscosity make none that show.
    /// - In creeping flow with prescribed velocities on the boundary the velocity does not
    ///   depend on a uniform scaling of the viscosity at all, and a body force enters only
    ///   as `F / mu`: scaling both changes only the pressure. Inertia and the transient
    ///   break this, weakly. The second term, a weak prior towards the nominal rate, fixes
    ///   the scale; its weight is small against the data term at the hidden field.
    /// - Where the flow does not shear (the centreline) the viscosity does nothing; linearised
    ///   about a channel flow of shear `u'(y)`, the curl of the momentum balance reads
    ///   `(d_xx - d_yy)(delta_mu u') = data`, a wave equation whose errors run along
    ///   45-degree characteristics. The first term, a penalty on differences between
    ///   neighbours, damps those streaks.
    pub fn regulariser(&self, p: &[f64], grad: &mut [f64]) -> lbm_runtime::Result<f64> {
        for (what, got) in [("parameters", p.len()), ("gradient", grad.len())] {
            if got != self.len() {
                return Err(LbmError::ShapeMismatch {
                    what: format!("identification {what}"),
                    got,
                    expected: self.len(),
                    why: "one relaxation rate per fluid cell and two force components".into(),
                });
            }
        }
        let mut edges = 0.0;
        for &(a, b) in &self.edges {
            let d = p[a] - p[b];
            edges += d * d;
            grad[a] += self.smoothing * d;
            grad[b] -= self.smoothing * d;
        }
        let n = self.fluid.len();
        let beta = self.prior / n as f64;
        let mut prior = 0.0;
        for (v, g) in p[..n].iter().zip(&mut grad[..n]) {
            let d = v - self.omega0;
            prior += d * d;
            *g += beta * d;
        }
        Ok(0.5 * self.smoothing * edges + 0.5 * beta * prior)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbm_runtime::{LatticeKind, D2Q9};

    #[test]
    fn guo_bgk_is_the_library_scheme_with_a_rate_per_cell() {
        // The same scheme written two ways: the library's expanded source and this one.
        let _ = LatticeKind::D2Q9;
        let f: [f64; 9] = [0.44, 0.12, 0.10, 0.11, 0.13, 0.03, 0.025, 0.028, 0.031];
        let (omega, force) = (1.37, [2e-3, -1e-3]);
        let ours = guo_bgk::reference::<D2Q9, 2, 9>(f, omega, force);
        let library = ops::guo_forcing::reference::<D2Q9, 2, 9>(f, omega, force);
        for i in 0..9 {
            assert!(
                (ours[i] - library[i]).abs() < 1e-15,
                "{i}: {ours:?} {library:?}"
            );
        }
    }
}
