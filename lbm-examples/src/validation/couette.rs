//! Couette flow: a channel between a resting wall and a wall moving along it.
//!
//! The grid is `4 x (H + 2)` D2Q9 cells, periodic along `x`: row `y = 0` is a resting
//! wall, row `y = H + 1` a wall moving at `U` along `x` (Ladd's moving bounce-back on the
//! links into it), the `H` rows between are fluid. Halfway bounce-back puts the walls at
//! `y = 1/2` and `y = H + 1/2`, so the steady profile is `u(y) = U (y - 1/2) / H`.
//!
//! A linear profile has no second derivative, so the bounce-back slip that Poiseuille
//! flow shows (proportional to the force, that is to `u''`) vanishes: the lattice
//! solution is exact up to rounding and the steady-state tolerance. The check is then a
//! sharp one on the moving-wall term: a wrong sign, a missing factor 2 or a wall half a
//! cell off all give errors of order one percent or more.

use lbm_runtime::{Backend, Step};
use serde::Serialize;

use super::numerics::{links_into, relative_l2, run_to_steady, solid_tags, walled_channel, Steady};
use super::plot::LinePlot;
use super::steps::wall_step;
use super::{check_mach, check_omega, viscosity_of, Check, Result, Size, ValidationError};

/// Cells along the (periodic) channel: the flow does not vary along it.
const LENGTH: usize = 4;

const CASE: &str = "couette";

/// How the case is run.
#[derive(Clone, Debug, Serialize)]
pub struct CouetteConfig {
    /// Fluid nodes across the channel.
    pub width: usize,
    /// BGK relaxation rate.
    pub omega: f64,
    /// Velocity of the moving wall, lattice units.
    pub u_wall: f64,
    /// The steady-state test: the largest velocity change over a check interval, over
    /// `u_wall`.
    pub steady_tolerance: f64,
    /// Tolerance on the relative L2 error.
    pub l2_tolerance: f64,
    /// The numbers the simulations compute with (`f64` unless set).
    pub numbers: super::Numbers,
}

impl CouetteConfig {
    /// The configuration of a size: 16 nodes across (quick) or 64 (full).
    pub fn new(size: Size) -> Self {
        CouetteConfig {
            width: match size {
                Size::Quick => 16,
                Size::Full => 64,
            },
            omega: 1.2,
            u_wall: 0.05,
            steady_tolerance: 1e-11,
            // The steady-state tolerance leaves about 1e-9; a wrong wall term gives 1e-2.
            l2_tolerance: 1e-7,
            numbers: super::Numbers::F64,
        }
    }
}

/// The case's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct CouetteResult {
    /// The configuration run.
    pub config: CouetteConfig,
    /// How the run to a steady state ended.
    pub steady: Steady,
    /// `||u - u_exact|| / ||u_exact||` over the fluid nodes.
    pub l2_error: f64,
    /// `max |u - u_exact| / U`.
    pub max_error: f64,
    /// Node positions `y` (walls at 1/2 and H + 1/2).
    pub y: Vec<f64>,
    /// The measured velocity along the channel at each node.
    pub u: Vec<f64>,
    /// The analytic velocity at each node.
    pub u_exact: Vec<f64>,
}

/// Runs the channel to its steady state.
pub fn run(config: &CouetteConfig, backend: Backend) -> Result<CouetteResult> {
    check_omega(CASE, config.omega)?;
    check_mach(CASE, config.u_wall)?;
    let h = config.width;
    if h < 2 {
        return Err(ValidationError::Config {
            case: CASE,
            message: format!("width {h} is below 2 nodes"),
        });
    }
    let (grid, mask) = walled_channel(LENGTH, h)?;
    let lid: Vec<bool> = (0..grid.cells())
        .map(|c| grid.coords(c)[1] == h + 1)
        .collect();
    let step = Step::new(&wall_step::INFO)
        .int_field("moving", links_into(&grid, &lid))
        .int_field("tag", solid_tags(&mask))
        .uniform("omega", [config.omega])
        .uniform("force", [0.0, 0.0])
        .uniform("u_wall", [config.u_wall, 0.0]);
    let mut sim = config.numbers.simulation(grid.clone(), &step, backend)?;
    let cells = grid.cells();
    sim.set_equilibrium(&vec![1.0; cells], &vec![0.0; 2 * cells])?;
    let nu = viscosity_of(config.omega);
    let hf = h as f64;
    let decay = hf * hf / (std::f64::consts::PI.powi(2) * nu);
    let steady = run_to_steady(
        &mut sim,
        (decay / 10.0).ceil() as usize,
        config.steady_tolerance,
        (100.0 * decay) as usize,
        config.u_wall,
    )?;
    if !steady.converged {
        return Err(ValidationError::Measurement {
            case: CASE,
            message: format!(
                "not steady after {} steps (change {:.2e})",
                steady.steps, steady.change
            ),
        });
    }
    let (_, u) = sim.macroscopic()?;
    let y: Vec<f64> = (1..=h).map(|j| j as f64).collect();
    let measured: Vec<f64> = (1..=h).map(|j| u[2 * grid.index([0, j, 0])]).collect();
    let exact: Vec<f64> = y.iter().map(|y| config.u_wall * (y - 0.5) / hf).collect();
    let max_error = measured
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / config.u_wall;
    Ok(CouetteResult {
        config: config.clone(),
        steady,
        l2_error: relative_l2(&measured, &exact),
        max_error,
        y,
        u: measured,
        u_exact: exact,
    })
}

impl CouetteResult {
    /// The row of the validation table: the L2 error against the linear profile.
    pub fn checks(&self) -> Vec<Check> {
        vec![Check::error_norm(
            format!("couette (H {})", self.config.width),
            "L2 error vs linear profile",
            self.l2_error,
            self.config.l2_tolerance,
        )]
    }
}

impl CouetteResult {
    /// Figure panel: the profile against the line.
    pub fn figure(&self) -> Vec<LinePlot> {
        let h = self.config.width as f64;
        let u = self.config.u_wall;
        let points = self
            .y
            .iter()
            .zip(&self.u)
            .map(|(y, v)| ((y - 0.5) / h, v / u))
            .collect();
        vec![LinePlot::new(format!(
            "Couette: steady profile (L2 error {:.1e})",
            self.l2_error
        ))
        .labels("(y - 1/2) / H", "u / U")
        .dashed("analytic", vec![(0.0, 0.0), (1.0, 1.0)])
        .markers(format!("H = {}", self.config.width), points)]
    }
}
