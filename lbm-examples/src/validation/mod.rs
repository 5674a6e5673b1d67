//! Physics validation: flows with known answers, run through the public runtime API and
//! compared with analytic solutions and published benchmarks.
//!
//! Each case is a module with a configuration (`quick()` sizes for the CPU and CI,
//! `full()` sizes for a GPU), a `run(&config, backend)` function and a result struct that
//! holds what was measured, the reference values and the errors, and turns them into
//! [`Check`]s (measured, reference, error, tolerance, pass) for the `validate` binary.
//!
//! - [`poiseuille`]: a force-driven channel between halfway bounce-back walls; the L2
//!   error against the parabola and its order of convergence over three widths.
//! - [`couette`]: a channel under a moving wall; the error against the linear profile.
//! - [`taylor_green`]: the decay of a Taylor-Green vortex on D2Q9, D3Q19 and D3Q27; the
//!   measured kinematic viscosity against `(1/omega - 1/2) / 3`.
//! - [`cavity`]: the lid-driven cavity at Re 100 and 1000 against the centreline velocities
//!   of Ghia, Ghia and Shin (1982) ([`ghia`]).
//! - [`cylinder`]: the flow past a cylinder in a channel, the Schaefer-Turek benchmarks
//!   2D-1 (Re 20, steady) and 2D-2 (Re 100, periodic): drag, lift, Strouhal number.
//!
//! Everything is in lattice units: the cell size and the time step are 1, the reference
//! density is 1, `cs^2 = 1/3`, and a BGK (or TRT symmetric) rate `omega` gives the
//! kinematic viscosity `nu = (1/omega - 1/2) / 3`. A case given a Reynolds number and a
//! resolution picks its lattice velocity `U` (Mach `U / cs` below 0.1) and derives
//! `nu = U L / Re` and `omega = 1 / (3 nu + 1/2)` from them ([`omega_for`]). Walls are
//! halfway bounce-back: a wall lies half a cell beyond the last fluid node.

pub mod cavity;
pub mod couette;
pub mod cylinder;
pub mod ghia;
pub mod plot;
pub mod poiseuille;
pub mod steps;
pub mod taylor_green;

mod numerics;

use lbm_runtime::{Backend, Grid, LbmError, Precision, Simulation, Step, Storage};
use serde::Serialize;

use crate::output::OutputError;

/// The numbers a case computes with: `f64` (what the tolerances are set for), or `f32`
/// with populations kept in `f32` or in 16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbers {
    /// The precision the steps compute in.
    pub precision: Precision,
    /// How populations are kept.
    pub storage: Storage,
}

impl Numbers {
    /// Double precision throughout.
    pub const F64: Numbers = Numbers {
        precision: Precision::F64,
        storage: Storage::Compute,
    };

    /// `f32` arithmetic on populations kept as `storage`.
    pub fn f32(storage: Storage) -> Numbers {
        Numbers {
            precision: Precision::F32,
            storage,
        }
    }

    /// A simulation of `step` on `grid` with these numbers.
    pub fn simulation(self, grid: Grid, step: &Step, backend: Backend) -> Result<Simulation> {
        Ok(Simulation::new(grid, step, self.precision, backend)?.with_storage(self.storage)?)
    }

    /// `f64`, `f32`, or `f32 with f16 storage`.
    pub fn label(self) -> String {
        match self.storage {
            Storage::Compute => self.precision.name().to_string(),
            s => format!("{} with {s} storage", self.precision.name()),
        }
    }
}

impl Default for Numbers {
    fn default() -> Self {
        Numbers::F64
    }
}

impl Serialize for Numbers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

/// The lattice speed of sound, `1 / sqrt(3)`.
pub const CS: f64 = 0.577_350_269_189_625_8;

/// What can stop a validation case.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// The engine refused or failed (a bad binding, a diverged run, no GPU).
    #[error(transparent)]
    Engine(#[from] LbmError),
    /// A figure could not be drawn or written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A configuration that cannot make a meaningful case (too small a grid, a Mach
    /// number above the limit, a viscosity outside what BGK can take).
    #[error("{case}: {message}")]
    Config {
        /// The case.
        case: &'static str,
        /// What is wrong, with the value given.
        message: String,
    },
    /// A run that ended without the behaviour its measurement needs (a flow that did not
    /// become steady, a wake that did not shed vortices).
    #[error("{case}: {message}")]
    Measurement {
        /// The case.
        case: &'static str,
        /// What was missing.
        message: String,
    },
}

/// Shorthand for results of this module.
pub type Result<T, E = ValidationError> = std::result::Result<T, E>;

/// How big a case is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Size {
    /// Small grids and few steps: seconds to a minute on the CPU.
    Quick,
    /// The sizes behind the published figures: minutes on a GPU.
    Full,
}

/// A reference value: a number, or a published interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Reference {
    /// An exact or analytic value.
    Value(f64),
    /// A published interval `[lo, hi]`.
    Range(f64, f64),
}

impl Reference {
    /// The relative distance of `measured` from the reference: `|m - v| / |v|` for a
    /// value, zero inside an interval and the distance to the nearer end over that end
    /// outside it.
    pub fn relative_error(self, measured: f64) -> f64 {
        match self {
            Reference::Value(v) => (measured - v).abs() / v.abs(),
            Reference::Range(lo, hi) => {
                if measured < lo {
                    (lo - measured) / lo.abs()
                } else if measured > hi {
                    (measured - hi) / hi.abs()
                } else {
                    0.0
                }
            }
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Value(v) => write!(f, "{}", format_number(*v)),
            Reference::Range(lo, hi) => {
                write!(f, "{}-{}", format_number(*lo), format_number(*hi))
            }
        }
    }
}

/// One measured quantity against its reference: a row of the validation table.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The case and its variant, e.g. `cavity Re 100 (N 64)`.
    pub case: String,
    /// What was measured, e.g. `max |u - Ghia| / U`.
    pub quantity: String,
    /// The measured value.
    pub measured: f64,
    /// What it is compared with.
    pub reference: Reference,
    /// The error as the tolerance reads it (see `error_kind`).
    pub error: f64,
    /// How `error` is defined: `relative`, `absolute` or `value` (the measured quantity is
    /// itself an error, such as an L2 norm against an analytic profile).
    pub error_kind: &'static str,
    /// The largest `error` that passes.
    pub tolerance: f64,
    /// `error <= tolerance` (and finite).
    pub pass: bool,
}

impl Check {
    /// A check whose error is the measured value's relative distance from `reference`.
    pub fn relative(
        case: impl Into<String>,
        quantity: impl Into<String>,
        measured: f64,
        reference: Reference,
        tolerance: f64,
    ) -> Check {
        let error = reference.relative_error(measured);
        Check::new(
            case, quantity, measured, reference, error, "relative", tolerance,
        )
    }

    /// A check whose error is `|measured - reference|`.
    pub fn absolute(
        case: impl Into<String>,
        quantity: impl Into<String>,
        measured: f64,
        reference: f64,
        tolerance: f64,
    ) -> Check {
        let error = (measured - reference).abs();
        let reference = Reference::Value(reference);
        Check::new(
            case, quantity, measured, reference, error, "absolute", tolerance,
        )
    }

    /// A check of a quantity that is itself an error (its reference is zero).
    pub fn error_norm(
        case: impl Into<String>,
        quantity: impl Into<String>,
        measured: f64,
        tolerance: f64,
    ) -> Check {
        let reference = Reference::Value(0.0);
        Check::new(
            case, quantity, measured, reference, measured, "value", tolerance,
        )
    }

    fn new(
        case: impl Into<String>,
        quantity: impl Into<String>,
        measured: f64,
        reference: Reference,
        error: f64,
        error_kind: &'static str,
        tolerance: f64,
    ) -> Check {
        Check {
            case: case.into(),
            quantity: quantity.into(),
            measured,
            reference,
            error,
            error_kind,
            tolerance,
            // A NaN error fails: `NaN <= x` is false.
            pass: error <= tolerance,
        }
    }
}

/// The BGK relaxation rate of a kinematic viscosity, `1 / (3 nu + 1/2)`.
pub fn omega_for(nu: f64) -> f64 {
    1.0 / (3.0 * nu + 0.5)
}

/// The kinematic viscosity of a BGK relaxation rate, `(1/omega - 1/2) / 3`.
pub fn viscosity_of(omega: f64) -> f64 {
    (1.0 / omega - 0.5) / 3.0
}

/// A number in a table: four significant digits, scientific below 1e-3.
pub fn format_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        format!("{v}")
    } else if v.abs() < 1e-3 || v.abs() >= 1e5 {
        format!("{v:.3e}")
    } else {
        let digits = (3 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    }
}

/// Refuses a lattice velocity whose Mach number `u / cs` is 0.1 or more: the equilibrium's
/// compressibility error grows as its square, and the benchmarks are incompressible.
pub(crate) fn check_mach(case: &'static str, u: f64) -> Result<()> {
    let mach = u.abs() / CS;
    if !(mach.is_finite() && mach < 0.1) {
        return Err(ValidationError::Config {
            case,
            message: format!("lattice velocity {u} is Mach {mach:.3}; keep it below 0.1"),
        });
    }
    Ok(())
}

/// Refuses a relaxation rate outside `(0, 2)` (a negative or infinite viscosity).
pub(crate) fn check_omega(case: &'static str, omega: f64) -> Result<()> {
    if !(omega > 0.0 && omega < 2.0) {
        return Err(ValidationError::Config {
            case,
            message: format!(
                "relaxation rate {omega} is outside (0, 2): lower the Reynolds number or raise \
                 the resolution or the lattice velocity"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catches a range error that is not zero inside or not relative outside.
    #[test]
    fn reference_errors() {
        let r = Reference::Range(2.0, 4.0);
        assert_eq!(r.relative_error(3.0), 0.0);
        assert!((r.relative_error(1.0) - 0.5).abs() < 1e-15);
        assert!((r.relative_error(5.0) - 0.25).abs() < 1e-15);
        assert!((Reference::Value(-2.0).relative_error(-1.0) - 0.5).abs() < 1e-15);
        assert!(!Check::error_norm("c", "q", f64::NAN, 1.0).pass);
    }

    // Catches an inverted viscosity formula.
    #[test]
    fn omega_and_viscosity_invert() {
        assert!((viscosity_of(1.0) - 1.0 / 6.0).abs() < 1e-15);
        for nu in [0.001, 0.05, 0.3] {
            assert!((viscosity_of(omega_for(nu)) - nu).abs() < 1e-15);
        }
    }
}
