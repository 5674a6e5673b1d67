//! The standard operator library: one source per operator, for every lattice.

pub mod boundaries;
pub mod collision;
pub mod equilibria;
pub mod moments;
pub mod objectives;

pub use boundaries::*;
pub use collision::*;
pub use equilibria::*;
pub use moments::*;
pub use objectives::*;

use crate::OperatorInfo;

/// Every library operator, for listing and for whole-library checks.
pub static ALL: &[&OperatorInfo] = &[
    &density::INFO,
    &momentum::INFO,
    &density_velocity::INFO,
    &equilibrium::INFO,
    &bgk::INFO,
    &momentum_flux::INFO,
    &stress_projection::INFO,
    &deviatoric_stress::INFO,
    &equilibrium_split::INFO,
    &equilibrium_third_order::INFO,
    &trt::INFO,
    &regularized_bgk::INFO,
    &mrt::INFO,
    &kbc::INFO,
    &smagorinsky_bgk::INFO,
    &guo_forcing::INFO,
    &halfway_bounce_back::INFO,
    &moving_wall_bounce_back::INFO,
    &equilibrium_boundary::INFO,
    &zou_he_velocity::INFO,
    &zou_he_pressure::INFO,
    &extrapolation_outflow::INFO,
    &partial_bounce_back::INFO,
    &bouzidi::INFO,
    &rho_squared::INFO,
    &kinetic_energy::INFO,
    &ux_squared::INFO,
    &velocity_mismatch::INFO,
    &momentum_exchange_force::INFO,
];
