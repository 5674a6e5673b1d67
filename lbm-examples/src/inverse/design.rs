//! Problem 3, design: the shape of an obstacle of given area in a channel that costs the
//! least pressure drop.
//!
//! The channel ([`Channel`]) has walls, a parabolic Zou-He velocity inlet and a Zou-He
//! pressure outlet. In a box in its middle (the design region) every cell has a solid
//! fraction `s` in `[0, 1]` that acts by partial bounce-back (gray LBM, Walsh, Burwinkle
//! and Saar 2009: `f_i <- (1 - s) f_post_i + s f_pre_opp(i)`); outside it `s = 0`. The
//! design must hold a solid volume `V = volume * |region|`; the cheapest place for solid
//! is where the flow does not go, so the optimum is a streamlined body.
//!
//! The loss is the pressure drop between the inlet and outlet columns,
//! `dp = cs^2 (mean rho_in - mean rho_out)`, averaged over the second half of a run of `T`
//! steps and divided by the drop of the empty channel's Poiseuille flow,
//! `dp0 = 12 nu U L / H^2`. The volume constraint `g(s) = sum s / V - 1 = 0` enters by an
//! augmented Lagrangian (Nocedal and Wright, section 17.3),
//! `L(s) = dp / dp0 + lambda g + mu / 2 g^2`, minimised by projected L-BFGS within
//! `[0, 1]` for a few iterations per round; between rounds the multiplier takes the step
//! `lambda <- lambda + mu g`, so the constraint holds at convergence without an
//! ever-growing penalty.
//!
//! Each round starts from the flow developed around the design as the round begins (a
//! forward run of `warmup` steps from the previous round's state): the `T` steps of a
//! gradient then see the flow respond to the round's changes of shape, not develop from
//! rest. The reported drops come from forward runs to a developed flow, independent of
//! the horizon `T`.

use std::cell::Cell;
use std::ops::ControlFlow;

use lbm_runtime::ops::{
    bgk, density, halfway_bounce_back, partial_bounce_back, zou_he_pressure, zou_he_velocity,
};
use lbm_runtime::{
    operator, Backend, Checkpointing, GradValue, LbmError, Objective, Precision, Simulation, Step,
};

use super::channel::{viscosity, Channel, INLET, OUTLET};
use super::{GradientMeter, StepProgress};
use crate::optim::{Bounds, Iterate, Lbfgs, Termination};

/// One step of the gray channel: walls keep their populations; fluid cells bounce back
/// from wall links; the inlet (tag 1) and outlet (tag 2) columns complete their unknown
/// populations by Zou-He and collide; every other cell collides by BGK and then bounces
/// back the fraction `solid` of its populations (partial bounce-back).
#[operator]
pub fn gray_channel_step(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[range("[0, 1]")] solid: Real,
    #[data] omega: Real,
    #[data] u_in: [Real; D],
    #[data] rho_out: Real,
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    let g = halfway_bounce_back(f, f_local, links);
    match tag {
        1 => bgk(zou_he_velocity(g, u_in, 0, 1), omega),
        2 => bgk(zou_he_pressure(g, rho_out, 0, -1), omega),
        _ => partial_bounce_back(g, bgk(g, omega), solid),
    }
}

/// A cell's share of a weighted density sum: `weight * rho`. With weights `+1/n` on the
/// inlet column and `-1/n` on the outlet column, its sum over cells is the difference of
/// their mean densities.
#[operator]
pub fn weighted_density(#[populations] f: [Real; Q], #[data] weight: Real) -> Real {
    weight * density(f)
}

/// What to design and how.
#[derive(Clone, Debug)]
pub struct DesignProblem {
    /// Cells across the channel, walls included; the channel is three times as long.
    pub size: usize,
    /// Steps of each gradient run.
    pub steps: usize,
    /// Steps that develop the flow around the design before each round, and before each
    /// reported pressure drop.
    pub warmup: usize,
    /// Mean speed of the parabolic inlet profile (lattice units).
    pub mean_speed: f64,
    /// BGK relaxation rate.
    pub omega: f64,
    /// The solid volume to place, as a fraction of the design region.
    pub volume: f64,
    /// Rounds of the augmented Lagrangian (the multiplier changes between rounds).
    pub rounds: usize,
    /// The penalty weight `mu` of the augmented Lagrangian.
    pub penalty: f64,
    /// Radius of the density filter in the first round, as a fraction of the channel's
    /// width; it shrinks linearly to one cell (no filtering) in the last round (see
    /// [`DensityFilter`]).
    pub filter: f64,
    /// Perturbs the uniform starting design, so that nothing but the physics picks a
    /// symmetric shape.
    pub seed: u64,
    /// Precision of the simulation.
    pub precision: Precision,
    /// Where it runs.
    pub backend: Backend,
    /// Who is told how far each simulation call has come.
    pub progress: StepProgress,
}

/// The channel with its design region.
#[derive(Clone, Debug)]
pub struct DesignSetup {
    /// The channel.
    pub channel: Channel,
    /// The cells of the design region, in increasing order.
    pub region: Vec<usize>,
    /// Whether each cell is in the design region (for images).
    pub in_region: Vec<bool>,
}

/// How one iterate of the design stands, for a progress report.
#[derive(Clone, Copy, Debug)]
pub struct DesignProgress<'a> {
    /// The augmented-Lagrangian round, from 0.
    pub round: usize,
    /// L-BFGS steps so far, over all rounds.
    pub iteration: usize,
    /// The optimiser's iterate within its round.
    pub iterate: &'a Iterate<'a>,
    /// The pressure drop over the run, divided by the empty channel's.
    pub pressure_drop: f64,
    /// Solid volume over the target, `sum s / V`.
    pub volume: f64,
    /// Lattice updates per second of the gradient runs so far, in millions.
    pub mlups: f64,
}

/// What the design found.
#[derive(Clone, Debug)]
pub struct Design {
    /// The channel and its design region.
    pub setup: DesignSetup,
    /// The starting solid fraction, one per cell.
    pub initial: Vec<f64>,
    /// The final solid fraction, one per cell.
    pub solid: Vec<f64>,
    /// The developed velocity around the final design, `[cell * 2 + a]`.
    pub velocity: Vec<f64>,
    /// The developed density around the final design, one per cell.
    pub density: Vec<f64>,
    /// Developed pressure drop of the starting design, over the empty channel's.
    pub initial_drop: f64,
    /// Developed pressure drop of the final design, over the empty channel's.
    pub final_drop: f64,
    /// Solid volume of the final design over the target, `sum s / V`.
    pub volume: f64,
    /// Share of the design region's cells with `0.05 < s < 0.95`.
    pub gray_share: f64,
    /// The augmented-Lagrangian loss after every L-BFGS step (rounds one after another;
    /// it jumps where the multiplier changes).
    pub history: Vec<f64>,
    /// The pressure-drop part of the loss after every step.
    pub drop_history: Vec<f64>,
    /// `|sum s / V - 1|` after every step.
    pub volume_history: Vec<f64>,
    /// How each round's L-BFGS run ended.
    pub terminations: Vec<Termination>,
    /// The multiplier after the last round.
    pub multiplier: f64,
    /// Gradient evaluations.
    pub gradients: usize,
    /// Seconds in the simulation's gradient calls.
    pub gradient_seconds: f64,
    /// Lattice updates per second over the gradient calls, forward and backward steps
    /// counted once each, in millions.
    pub mlups: f64,
}

/// Errors of the design: the engine's, the optimiser's or a bad setting.
pub type DesignError = super::ProblemError;

impl DesignProblem {
    /// The default problem for a backend: a channel 98 cells wide with 5000-step
    /// gradients on a GPU, 34 cells wide with 600-step gradients on the CPU. The steps
    /// follow the time viscosity needs to cross the obstacle, which grows as its size
    /// squared.
    pub fn for_backend(backend: Backend) -> Self {
        let (size, steps, warmup) = if backend.is_gpu() {
            (98, 5000, 16000)
        } else {
            (34, 600, 2000)
        };
        DesignProblem {
            size,
            steps,
            warmup,
            mean_speed: 0.05,
            omega: 1.0,
            volume: 0.2,
            rounds: 4,
            penalty: 100.0,
            filter: 0.1,
            seed: 1,
            precision: Precision::F32,
            backend,
            progress: StepProgress::default(),
        }
    }

    /// The default number of L-BFGS iterations for a backend: 160 on a GPU, 80 on the
    /// CPU. The finer GPU grid has more cells to move from the gray start to a crisp
    /// shape; at 80 its design is still gray inside.
    pub fn iterations_for(backend: Backend) -> usize {
        if backend.is_gpu() {
            160
        } else {
            80
        }
    }

    /// Checks the settings that no later call would name clearly.
    fn check(&self) -> Result<(), DesignError> {
        let bad = |what: String| Err(DesignError::Setting(what));
        if !(self.volume > 0.0 && self.volume < 1.0) {
            return bad(format!(
                "the solid volume {} is not a fraction of the region strictly between 0 and 1",
                self.volume
            ));
        }
        if !(self.omega > 0.0 && self.omega < 2.0) {
            return bad(format!("omega = {} is outside (0, 2)", self.omega));
        }
        if !(self.penalty.is_finite() && self.penalty > 0.0) {
            return bad(format!("the penalty {} is not positive", self.penalty));
        }
        if self.steps < 2 || self.rounds == 0 {
            return bad(format!(
                "{} steps and {} rounds: a design needs at least 2 steps and 1 round",
                self.steps, self.rounds
            ));
        }
        if !(self.filter.is_finite() && self.filter >= 0.0) {
            return bad(format!("the filter radius {} is not a width", self.filter));
        }
        if self.size < 10 {
            return bad(format!(
                "a channel {} cells wide leaves no room for a design region (at least 10)",
                self.size
            ));
        }
        Ok(())
    }

    /// The channel, `3 size` by `size` cells, and its design region: a box half the
    /// channel's width high, centred across it, as long as the channel is wide, starting
    /// one width downstream of the inlet.
    pub fn setup(&self) -> Result<DesignSetup, DesignError> {
        self.check()?;
        let channel = Channel::new(3 * self.size, self.size, self.mean_speed)?;
        let h = channel.width();
        let (x0, x1) = (h * 0.75, h * 1.75);
        let (y0, y1) = (0.5 + 0.25 * h, 0.5 + 0.75 * h);
        let grid = channel.grid();
        let in_region: Vec<bool> = (0..grid.cells())
            .map(|c| {
                let [x, y, _] = grid.coords(c);
                let (x, y) = (x as f64 + 0.5, y as f64);
                (x0..x1).contains(&x) && (y0..y1).contains(&y)
            })
            .collect();
        let region = (0..grid.cells()).filter(|&c| in_region[c]).collect();
        Ok(DesignSetup {
            channel,
            region,
            in_region,
        })
    }

    /// The step of a design given by its region's solid fractions.
    pub fn step_for(&self, setup: &DesignSetup, design: &[f64]) -> Step {
        self.step(setup, self.field(setup, design))
    }

    fn step(&self, setup: &DesignSetup, solid: Vec<f64>) -> Step {
        let channel = &setup.channel;
        Step::new(&gray_channel_step::INFO)
            .int_field("tag", channel.tags().to_vec())
            .field("solid", solid)
            .uniform("omega", [self.omega])
            .field("u_in", channel.poiseuille())
            .uniform("rho_out", [1.0])
    }

    /// The pressure drop of the empty channel's Poiseuille flow, the loss's unit.
    pub fn unit_drop(&self, setup: &DesignSetup) -> f64 {
        setup.channel.poiseuille_drop(viscosity(self.omega))
    }

    /// The starting design: the target volume spread evenly over the region, each cell
    /// moved by up to 0.02 by the seed (the mean kept).
    pub fn initial_design(&self, setup: &DesignSetup) -> Vec<f64> {
        let mut noise = super::offsets(self.seed);
        let jitter: Vec<f64> = setup.region.iter().map(|_| 0.04 * noise()).collect();
        let mean = jitter.iter().sum::<f64>() / jitter.len().max(1) as f64;
        jitter
            .iter()
            .map(|j| (self.volume + j - mean).clamp(0.0, 1.0))
            .collect()
    }

    /// A disc of the target volume at the region's centre, solid inside (for comparison).
    pub fn disc(&self, setup: &DesignSetup) -> Vec<f64> {
        let grid = setup.channel.grid();
        let coords: Vec<[f64; 2]> = setup
            .region
            .iter()
            .map(|&c| {
                let [x, y, _] = grid.coords(c);
                [x as f64, y as f64]
            })
            .collect();
        let n = coords.len().max(1) as f64;
        let cx = coords.iter().map(|c| c[0]).sum::<f64>() / n;
        let cy = coords.iter().map(|c| c[1]).sum::<f64>() / n;
        let r2 = self.volume * n / std::f64::consts::PI;
        coords
            .iter()
            .map(|c| {
                let d2 = (c[0] - cx).powi(2) + (c[1] - cy).powi(2);
                if d2 <= r2 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The solid fraction of every cell from the region's values.
    pub fn field(&self, setup: &DesignSetup, region_values: &[f64]) -> Vec<f64> {
        let mut s = vec![0.0; setup.channel.grid().cells()];
        for (&cell, &v) in setup.region.iter().zip(region_values) {
            s[cell] = v;
        }
        s
    }

    /// Develops the flow around a design (region values) from the Poiseuille state and
    /// returns the developed pressure drop over the empty channel's, the velocity and the
    /// density.
    pub fn developed(
        &self,
        setup: &DesignSetup,
        design: &[f64],
    ) -> Result<(f64, Vec<f64>, Vec<f64>), DesignError> {
        let mut sim = Simulation::new(
            setup.channel.grid().clone(),
            &self.step(setup, self.field(setup, design)),
            self.precision,
            self.backend,
        )?;
        self.progress.install(&mut sim);
        sim.set_populations(&setup.channel.poiseuille_state()?)?;
        // Twice the rounds' warm-up: a report should not depend on how far a round's
        // flow had come.
        sim.run(2 * self.warmup)?;
        let (rho, u) = sim.macroscopic()?;
        let drop = density_drop(&setup.channel, &rho) / 3.0 / self.unit_drop(setup);
        Ok((drop, u, rho))
    }

    /// The pressure-drop objective over a run of `steps`: the weighted density sum at ten
    /// steps of the run's second half, weighted to their mean drop over the unit drop.
    fn objective(&self, setup: &DesignSetup) -> Objective {
        let samples = 10.min(self.steps / 2).max(1);
        let at: Vec<usize> = (0..samples)
            .map(|k| self.steps - k * (self.steps / 2) / samples)
            .collect();
        let channel = &setup.channel;
        let tags = channel.tags();
        let count = |tag| tags.iter().filter(|&&t| t == tag).count() as f64;
        let (n_in, n_out) = (count(INLET), count(OUTLET));
        // dp = cs^2 drho with cs^2 = 1/3.
        let unit = 1.0 / (3.0 * self.unit_drop(setup) * samples as f64);
        let weight: Vec<f64> = tags
            .iter()
            .map(|&t| match t {
                INLET => unit / n_in,
                OUTLET => -unit / n_out,
                _ => 0.0,
            })
            .collect();
        Objective::new(&weighted_density::INFO)
            .field("weight", weight)
            .at_steps(at)
    }

    /// The pressure drop over a run from `start` (populations) and its gradient with
    /// respect to the region's solid fractions, as a reusable evaluator.
    pub fn drop_evaluator(
        &self,
        setup: &DesignSetup,
        start: Vec<f64>,
    ) -> Result<DropEvaluator, DesignError> {
        let mut sim = Simulation::new(
            setup.channel.grid().clone(),
            &self.step(setup, vec![0.0; setup.channel.grid().cells()]),
            self.precision,
            self.backend,
        )?;
        self.progress.install(&mut sim);
        Ok(DropEvaluator {
            sim,
            objective: self.objective(setup),
            start,
            region: setup.region.clone(),
            cells: setup.channel.grid().cells(),
            steps: self.steps,
        })
    }

    /// The density filter of round `round` (of [`rounds`](Self::rounds)): radius
    /// `filter * H` in the first, shrinking linearly to one cell in the last.
    pub fn filter_for(&self, setup: &DesignSetup, round: usize) -> DensityFilter {
        let first = self.filter * setup.channel.width();
        let left = match self.rounds {
            0 | 1 => 0.0,
            r => (r - 1).saturating_sub(round) as f64 / (r - 1) as f64,
        };
        DensityFilter::new(setup, (first * left).max(1.0))
    }

    /// The augmented-Lagrangian loss of a round that starts from `start` (populations)
    /// with the multiplier `multiplier`, over design variables mapped to solid fractions
    /// by `filter`.
    pub fn loss(
        &self,
        setup: &DesignSetup,
        start: Vec<f64>,
        multiplier: f64,
        filter: DensityFilter,
    ) -> Result<DesignLoss, DesignError> {
        Ok(DesignLoss {
            evaluator: self.drop_evaluator(setup, start)?,
            filter,
            target: self.volume * setup.region.len() as f64,
            multiplier,
            penalty: self.penalty,
        })
    }

    /// Optimises the design with at most `iterations` L-BFGS steps in all, shared evenly
    /// by the rounds; `progress` sees every iterate.
    pub fn design(
        &self,
        iterations: usize,
        mut progress: impl FnMut(&DesignProgress<'_>),
    ) -> Result<Design, DesignError> {
        let setup = self.setup()?;
        let cells = setup.channel.grid().cells();
        let target = self.volume * setup.region.len() as f64;
        // The design variables: the target volume spread evenly, jittered by the seed.
        let mut theta = self.initial_design(&setup);
        let initial = self.filter_for(&setup, 0).apply(&theta)?;
        let (initial_drop, _, _) = self.developed(&setup, &initial)?;

        // The flow every round starts from: developed around the design of the moment.
        let mut develop = Simulation::new(
            setup.channel.grid().clone(),
            &self.step(&setup, self.field(&setup, &initial)),
            self.precision,
            self.backend,
        )?;
        self.progress.install(&mut develop);
        develop.set_populations(&setup.channel.poiseuille_state()?)?;

        let bounds = Bounds::uniform(setup.region.len(), 0.0, 1.0)?;
        let per_round = iterations.div_ceil(self.rounds);
        let meter = GradientMeter::new(cells, self.steps);
        let mut solid = initial.clone();
        let mut lambda = 0.0;
        let (mut history, mut drop_history, mut volume_history) = (vec![], vec![], vec![]);
        let mut terminations = Vec::new();
        let mut done = 0;
        for round in 0..self.rounds {
            let budget = per_round.min(iterations - done);
            // The first round runs even with no iterations: it evaluates the start, so
            // that a run of zero iterations still reports a loss.
            if budget == 0 && round > 0 {
                break;
            }
            develop.set_field("solid", self.field(&setup, &solid))?;
            develop.run(self.warmup)?;
            let start = develop.populations()?;
            let filter = self.filter_for(&setup, round);
            let mut loss = self.loss(&setup, start, lambda, filter.clone())?;
            // The parts of the last evaluation, for the progress report.
            let last = Cell::new((f64::NAN, f64::NAN));
            let loss_and_gradient = |p: &[f64]| {
                meter.evaluate(p.len(), || {
                    loss.evaluate(p).map(|v| {
                        last.set((v.drop, v.violation + 1.0));
                        (v.loss, v.gradient)
                    })
                })
            };
            let observer = |it: &Iterate<'_>| {
                // The last evaluation is the accepted iterate's: L-BFGS reports a point
                // right after the line search evaluated it.
                let (drop, volume) = last.get();
                // Iterate 0 of a later round is the previous round's last point, already
                // recorded (its loss differs by the new multiplier and filter).
                if it.iteration > 0 || round == 0 {
                    history.push(it.loss);
                    drop_history.push(drop);
                    volume_history.push((volume - 1.0).abs());
                }
                progress(&DesignProgress {
                    round,
                    iteration: done + it.iteration,
                    iterate: it,
                    pressure_drop: drop,
                    volume,
                    mlups: meter.mlups(),
                });
                ControlFlow::Continue(())
            };
            let minimum = Lbfgs::new()
                .max_iterations(budget)
                .initial_step(0.2)
                .minimize_with(theta, &bounds, loss_and_gradient, observer)?;
            done += minimum.iterations;
            terminations.push(minimum.termination);
            theta = minimum.x;
            solid = filter.apply(&theta)?;
            let g = solid.iter().sum::<f64>() / target - 1.0;
            lambda += self.penalty * g;
        }

        let (final_drop, velocity, density) = self.developed(&setup, &solid)?;
        let gray = solid.iter().filter(|&&v| v > 0.05 && v < 0.95).count();
        Ok(Design {
            initial: self.field(&setup, &initial),
            solid: self.field(&setup, &solid),
            velocity,
            density,
            initial_drop,
            final_drop,
            volume: solid.iter().sum::<f64>() / target,
            gray_share: gray as f64 / solid.len().max(1) as f64,
            history,
            drop_history,
            volume_history,
            terminations,
            multiplier: lambda,
            gradients: meter.calls(),
            gradient_seconds: meter.seconds(),
            mlups: meter.mlups(),
            setup,
        })
    }
}

/// The augmented-Lagrangian loss of one round,
/// `L = dp(s) / dp0 + lambda g(s) + mu / 2 g(s)^2` with `g(s) = sum s / V - 1`, as a
/// function of the design variables `theta`, which the round's filter maps to the solid
/// fractions `s = F theta`.
pub struct DesignLoss {
    evaluator: DropEvaluator,
    filter: DensityFilter,
    /// `V`, in cells.
    target: f64,
    multiplier: f64,
    penalty: f64,
}

/// The loss of a design and its parts.
#[derive(Clone, Debug)]
pub struct DesignValue {
    /// The augmented-Lagrangian loss.
    pub loss: f64,
    /// The solid fractions of the region, `s = F theta`.
    pub solid: Vec<f64>,
    /// Its pressure-drop part, over the empty channel's drop.
    pub drop: f64,
    /// `g(s) = sum s / V - 1`.
    pub violation: f64,
    /// The gradient of the loss with respect to the design variables.
    pub gradient: Vec<f64>,
}

impl DesignLoss {
    /// The loss at the design variables `theta`, its parts and its gradient.
    pub fn evaluate(&mut self, theta: &[f64]) -> lbm_runtime::Result<DesignValue> {
        let solid = self.filter.apply(theta)?;
        let (drop, mut d_solid) = self.evaluator.evaluate(&solid)?;
        let g = solid.iter().sum::<f64>() / self.target - 1.0;
        // d/ds_i of lambda g + mu/2 g^2 is (lambda + mu g) / V, the same for every cell.
        let push = (self.multiplier + self.penalty * g) / self.target;
        d_solid.iter_mut().for_each(|v| *v += push);
        Ok(DesignValue {
            loss: drop + self.multiplier * g + 0.5 * self.penalty * g * g,
            gradient: self.filter.transpose(&d_solid)?,
            solid,
            drop,
            violation: g,
        })
    }

    /// The round's filter.
    pub fn filter(&self) -> &DensityFilter {
        &self.filter
    }
}

/// A density filter over the design region (Bruns and Tortorelli 2001): the solid
/// fraction of a cell is a weighted mean of the design variables of the region's cells
/// within `radius`, with weights `radius - d` falling linearly with the distance `d`.
///
/// Why: partial bounce-back stops a flow within a cell or two, so the pressure drop's
/// gradient lives in a thin layer at the edge of any solid and an optimiser peels a large
/// gray start layer by layer, one per iteration, more iterations the finer the grid. The
/// filter spreads each variable's influence over `radius` cells, so a step moves whole
/// patches, and it keeps checkerboards out. Its price is an edge as wide as the radius,
/// which is why the rounds shrink it to one cell (the identity) by the last.
#[derive(Clone, Debug)]
pub struct DensityFilter {
    /// For each region cell, its neighbours (indices into the region) and their
    /// normalised weights.
    rows: Vec<Vec<(usize, f64)>>,
}

impl DensityFilter {
    /// The filter of `radius` cells over the design region of `setup`; a radius of one
    /// cell or less is the identity.
    pub fn new(setup: &DesignSetup, radius: f64) -> DensityFilter {
        let grid = setup.channel.grid();
        let [nx, ny] = setup.channel.dims();
        let mut index = vec![usize::MAX; grid.cells()];
        for (k, &cell) in setup.region.iter().enumerate() {
            index[cell] = k;
        }
        let reach = radius.max(0.0).ceil() as i64;
        let rows = setup
            .region
            .iter()
            .map(|&cell| {
                let [x, y, _] = grid.coords(cell);
                let mut row = Vec::new();
                for dy in -reach..=reach {
                    for dx in -reach..=reach {
                        let (xj, yj) = (x as i64 + dx, y as i64 + dy);
                        if xj < 0 || yj < 0 || xj >= nx as i64 || yj >= ny as i64 {
                            continue;
                        }
                        let j = index[grid.index([xj as usize, yj as usize, 0])];
                        // At one cell or less only the cell itself keeps a weight.
                        let w = radius.max(1.0) - ((dx * dx + dy * dy) as f64).sqrt();
                        if j != usize::MAX && w > 0.0 {
                            row.push((j, w));
                        }
                    }
                }
                let total: f64 = row.iter().map(|(_, w)| w).sum();
                row.iter_mut().for_each(|(_, w)| *w /= total);
                row
            })
            .collect();
        DensityFilter { rows }
    }

    fn check(&self, v: &[f64]) -> lbm_runtime::Result<()> {
        if v.len() == self.rows.len() {
            Ok(())
        } else {
            Err(LbmError::ShapeMismatch {
                what: "design variables".into(),
                got: v.len(),
                expected: self.rows.len(),
                why: "one per cell of the design region".into(),
            })
        }
    }

    /// `s = F theta`. A mean of values in `[0, 1]` lies in `[0, 1]` but for rounding
    /// (`1 + 2e-16`), which the solid fraction's declared range would refuse: the result
    /// is clamped, a change below the gradient's precision.
    pub fn apply(&self, theta: &[f64]) -> lbm_runtime::Result<Vec<f64>> {
        self.check(theta)?;
        Ok(self
            .rows
            .iter()
            .map(|row| {
                let s: f64 = row.iter().map(|&(j, w)| w * theta[j]).sum();
                s.clamp(0.0, 1.0)
            })
            .collect())
    }

    /// `F^T d`: a gradient with respect to `s` as one with respect to `theta`.
    pub fn transpose(&self, d: &[f64]) -> lbm_runtime::Result<Vec<f64>> {
        self.check(d)?;
        let mut out = vec![0.0; d.len()];
        for (row, &di) in self.rows.iter().zip(d) {
            for &(j, w) in row {
                out[j] += w * di;
            }
        }
        Ok(out)
    }
}

/// The mean density of the inlet column minus that of the outlet column.
pub fn density_drop(channel: &Channel, rho: &[f64]) -> f64 {
    let mean = |tag| {
        let (sum, n) = channel
            .tags()
            .iter()
            .zip(rho)
            .filter(|(&t, _)| t == tag)
            .fold((0.0, 0usize), |(s, n), (_, r)| (s + r, n + 1));
        sum / n.max(1) as f64
    };
    mean(INLET) - mean(OUTLET)
}

/// The pressure drop of a run as a function of the design region's solid fractions, with
/// its gradient: one simulation kept for every evaluation, the design updated in place.
pub struct DropEvaluator {
    sim: Simulation,
    objective: Objective,
    start: Vec<f64>,
    region: Vec<usize>,
    cells: usize,
    steps: usize,
}

impl DropEvaluator {
    /// The pressure drop (over the empty channel's) for the region's solid fractions
    /// `design`, and its gradient.
    pub fn evaluate(&mut self, design: &[f64]) -> lbm_runtime::Result<(f64, Vec<f64>)> {
        if design.len() != self.region.len() {
            return Err(LbmError::ShapeMismatch {
                what: "design".into(),
                got: design.len(),
                expected: self.region.len(),
                why: "one solid fraction per cell of the design region".into(),
            });
        }
        let mut s = vec![0.0; self.cells];
        for (&cell, &v) in self.region.iter().zip(design) {
            s[cell] = v;
        }
        self.sim.set_field("solid", s)?;
        // Every evaluation starts from the round's developed state; setting it again also
        // undoes whatever a diverged trial left behind.
        self.sim.set_populations(&self.start)?;
        let g =
            self.sim
                .parameter_gradient(&self.objective, self.steps, Checkpointing::StoreAll)?;
        let Some(GradValue::Field(d_solid)) = g.param("solid") else {
            return Err(LbmError::BadBinding {
                op: gray_channel_step::INFO.name,
                message: "the gradient has no field for `solid`".into(),
            });
        };
        Ok((g.loss, self.region.iter().map(|&c| d_solid[c]).collect()))
    }
}
