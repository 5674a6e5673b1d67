//! Poiseuille flow: a channel between two resting walls, driven by a uniform body force,
//! periodic along the channel.
//!
//! The grid is `4 x (H + 2)` D2Q9 cells: rows `y = 0` and `y = H + 1` are solid, the `H`
//! rows between are fluid. Halfway bounce-back puts the walls at `y = 1/2` and
//! `y = H + 1/2`, so the channel is `H` wide and the steady profile is
//! `u(y) = F / (2 rho nu) (y - 1/2) (H + 1/2 - y)`, whose maximum is `F H^2 / (8 rho nu)`.
//! At a fixed `omega` the force is chosen per width so that this maximum is the same
//! lattice velocity `u_max` at every width (the Mach number stays fixed).
//!
//! The force enters by Guo's scheme, so the fluid velocity of a step is the momentum
//! half way through the force, `u = (j + F / 2) / rho` with `j` the momentum streamed in.
//! The state a simulation holds is the one after collision, whose momentum already has the
//! whole force added, so the velocity is `(j_post - F / 2) / rho`. Taking `j_post / rho`
//! would add a uniform `F / 2` (a relative error of `4 nu / H^2` of the peak), itself of
//! second order: the order check would not see it, the error check does.
//!
//! Measured: the relative L2 error of the steady profile at each width, and the order of
//! convergence, minus the slope of `log error` against `log H` by least squares. BGK with
//! halfway bounce-back gives the parabola shifted by a uniform slip
//! `u_s = F (16 L - 3) / (24 nu)` with `L = (1/omega - 1/2)^2` (measured here to four
//! digits at seven omegas; the TRT analysis of Ginzburg and d'Humieres 2003 has the same
//! `16 L = 3` zero), so it is exact at `omega = 1 / (1/2 + sqrt(3/16))`, about 1.072, and
//! elsewhere its relative error falls as `1 / H^2`, which is what the order checks. A wall
//! at the wrong place (a node instead of half a cell out) makes it first order.

use lbm_runtime::{Backend, Step};
use serde::Serialize;

use super::numerics::{fit_line, relative_l2, run_to_steady, solid_tags, walled_channel, Steady};
use super::plot::LinePlot;
use super::steps::wall_step;
use super::ValidationError;
use super::{check_mach, check_omega, viscosity_of, Check, Result, Size};

/// Cells along the (periodic) channel: the flow does not vary along it.
const LENGTH: usize = 4;

/// How the case is run.
#[derive(Clone, Debug, Serialize)]
pub struct PoiseuilleConfig {
    /// Fluid nodes across the channel, one simulation each (at least two, increasing).
    pub widths: Vec<usize>,
    /// BGK relaxation rate.
    pub omega: f64,
    /// Peak velocity of the analytic profile, in lattice units.
    pub u_max: f64,
    /// The steady-state test: the largest velocity change over a check interval, over
    /// `u_max`.
    pub steady_tolerance: f64,
    /// Tolerance on the L2 error at the finest width.
    pub l2_tolerance: f64,
    /// Largest accepted distance of the order of convergence from 2.
    pub order_tolerance: f64,
    /// The numbers the simulations compute with (`f64` unless set).
    pub numbers: super::Numbers,
}

impl PoiseuilleConfig {
    /// The configuration of a size: widths 8, 16, 32 (quick) or 16, 32, 64 (full).
    pub fn new(size: Size) -> Self {
        let widths = match size {
            Size::Quick => vec![8, 16, 32],
            Size::Full => vec![16, 32, 64],
        };
        PoiseuilleConfig {
            widths,
            // Near, but not at, the omega where BGK is exact (about 1.072), so the error is
            // small and still measurable.
            omega: 1.0,
            u_max: 0.05,
            steady_tolerance: 1e-10,
            // About twice the slip's error at the finest width: 4.5e-4 at H 32, 1.1e-4 at
            // H 64.
            l2_tolerance: match size {
                Size::Quick => 1e-3,
                Size::Full => 2.5e-4,
            },
            order_tolerance: 0.3,
            numbers: super::Numbers::F64,
        }
    }
}

/// The steady profile at one width.
#[derive(Clone, Debug, Serialize)]
pub struct PoiseuilleLevel {
    /// Fluid nodes across the channel.
    pub width: usize,
    /// The body force.
    pub force: f64,
    /// How the run to a steady state ended.
    pub steady: Steady,
    /// `||u - u_exact|| / ||u_exact||` over the fluid nodes.
    pub l2_error: f64,
    /// `max |u - u_exact| / u_max`.
    pub max_error: f64,
    /// Node positions `y` (lattice units, walls at 1/2 and H + 1/2).
    pub y: Vec<f64>,
    /// The measured velocity along the channel at each node.
    pub u: Vec<f64>,
    /// The analytic velocity at each node.
    pub u_exact: Vec<f64>,
}

/// The case's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct PoiseuilleResult {
    /// The configuration run.
    pub config: PoiseuilleConfig,
    /// The kinematic viscosity, `(1/omega - 1/2) / 3`.
    pub nu: f64,
    /// One entry per width.
    pub levels: Vec<PoiseuilleLevel>,
    /// Order of convergence of the L2 error, fitted over all widths.
    pub order: f64,
    /// Orders between consecutive widths.
    pub pairwise_orders: Vec<f64>,
}

const CASE: &str = "poiseuille";

/// Runs the channel at every width of `config`.
pub fn run(config: &PoiseuilleConfig, backend: Backend) -> Result<PoiseuilleResult> {
    check_omega(CASE, config.omega)?;
    check_mach(CASE, config.u_max)?;
    if config.widths.len() < 2 || config.widths.windows(2).any(|w| w[1] <= w[0]) {
        return Err(ValidationError::Config {
            case: CASE,
            message: format!(
                "widths {:?}: give at least two, increasing, for an order",
                config.widths
            ),
        });
    }
    if config.widths[0] < 4 {
        return Err(ValidationError::Config {
            case: CASE,
            message: format!("width {} is below 4 nodes", config.widths[0]),
        });
    }
    let nu = viscosity_of(config.omega);
    let levels = config
        .widths
        .iter()
        .map(|&h| run_width(config, nu, h, backend))
        .collect::<Result<Vec<_>>>()?;
    let log_h: Vec<f64> = levels.iter().map(|l| (l.width as f64).ln()).collect();
    let log_e: Vec<f64> = levels.iter().map(|l| l.l2_error.ln()).collect();
    let order = -fit_line(&log_h, &log_e).0;
    let pairwise_orders = levels
        .windows(2)
        .map(|w| {
            (w[0].l2_error / w[1].l2_error).ln() / (w[1].width as f64 / w[0].width as f64).ln()
        })
        .collect();
    Ok(PoiseuilleResult {
        config: config.clone(),
        nu,
        levels,
        order,
        pairwise_orders,
    })
}

fn run_width(
    config: &PoiseuilleConfig,
    nu: f64,
    h: usize,
    backend: Backend,
) -> Result<PoiseuilleLevel> {
    let (grid, mask) = walled_channel(LENGTH, h)?;
    let tags = solid_tags(&mask);
    let hf = h as f64;
    let force = 8.0 * nu * config.u_max / (hf * hf);
    let step = Step::new(&wall_step::INFO)
        .int("moving", 0)
        .int_field("tag", tags)
        .uniform("omega", [config.omega])
        .uniform("force", [force, 0.0])
        .uniform("u_wall", [0.0, 0.0]);
    let mut sim = config.numbers.simulation(grid.clone(), &step, backend)?;
    let cells = grid.cells();
    sim.set_equilibrium(&vec![1.0; cells], &vec![0.0; 2 * cells])?;
    // The slowest mode decays over H^2 / (pi^2 nu) steps: check ten times per decay time
    // and stop after a hundred of them at most (from rest, about 25 reach 1e-10).
    let decay = hf * hf / (std::f64::consts::PI.powi(2) * nu);
    let every = (decay / 10.0).ceil() as usize;
    let steady = run_to_steady(
        &mut sim,
        every,
        config.steady_tolerance,
        (100.0 * decay) as usize,
        config.u_max,
    )?;
    if !steady.converged {
        return Err(ValidationError::Measurement {
            case: CASE,
            message: format!(
                "width {h}: not steady after {} steps (change {:.2e})",
                steady.steps, steady.change
            ),
        });
    }
    let (rho, u) = sim.macroscopic()?;
    // One column: the flow is uniform along the channel.
    let (mut ys, mut us, mut exact) = (Vec::new(), Vec::new(), Vec::new());
    for j in 1..=h {
        let cell = grid.index([0, j, 0]);
        let y = j as f64;
        ys.push(y);
        us.push(u[2 * cell] - 0.5 * force / rho[cell]);
        exact.push(force / (2.0 * nu) * (y - 0.5) * (hf + 0.5 - y));
    }
    let max_error = us
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / config.u_max;
    Ok(PoiseuilleLevel {
        width: h,
        force,
        steady,
        l2_error: relative_l2(&us, &exact),
        max_error,
        y: ys,
        u: us,
        u_exact: exact,
    })
}

impl PoiseuilleResult {
    /// The rows of the validation table: the L2 error at the finest width, and the order.
    pub fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        if let Some(fine) = self.levels.last() {
            checks.push(Check::error_norm(
                format!("poiseuille (H {})", fine.width),
                "L2 error vs parabola",
                fine.l2_error,
                self.config.l2_tolerance,
            ));
        }
        let widths: Vec<String> = self.levels.iter().map(|l| l.width.to_string()).collect();
        checks.push(Check::absolute(
            format!("poiseuille (H {})", widths.join("/")),
            "order of convergence",
            self.order,
            2.0,
            self.config.order_tolerance,
        ));
        checks
    }
}

impl PoiseuilleResult {
    /// Figure panels: the profiles against the parabola, and the error against the width
    /// on log-log axes with a slope-2 guide.
    pub fn figure(&self) -> Vec<LinePlot> {
        let mut profiles =
            LinePlot::new("Poiseuille: steady profiles").labels("(y - 1/2) / H", "u / u_max");
        let exact: Vec<(f64, f64)> = (0..=100)
            .map(|k| {
                let s = k as f64 / 100.0;
                (s, 4.0 * s * (1.0 - s))
            })
            .collect();
        profiles = profiles.dashed("analytic", exact);
        for l in &self.levels {
            let h = l.width as f64;
            let points =
                l.y.iter()
                    .zip(&l.u)
                    .map(|(y, u)| ((y - 0.5) / h, u / self.config.u_max))
                    .collect();
            profiles = profiles.markers(format!("H = {}", l.width), points);
        }
        let measured: Vec<(f64, f64)> = self
            .levels
            .iter()
            .map(|l| ((l.width as f64).log10(), l.l2_error.log10()))
            .collect();
        let guide = match measured.first() {
            Some(&(x0, y0)) => measured
                .iter()
                .map(|&(x, _)| (x, y0 - 2.0 * (x - x0)))
                .collect(),
            None => Vec::new(),
        };
        let convergence = LinePlot::new(format!("Poiseuille: L2 error, order {:.3}", self.order))
            .labels("log10 H", "log10 relative L2 error")
            .dashed("slope -2", guide)
            .markers("measured", measured);
        vec![profiles, convergence]
    }
}
