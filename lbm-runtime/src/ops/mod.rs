//! The standard operator library: one source per operator, for every lattice.

pub mod collision;
pub mod equilibria;
pub mod moments;

pub use collision::*;
pub use equilibria::*;
pub use moments::*;

use crate::OperatorInfo;

/// Every library operator, for listing and for whole-library checks.
pub static ALL: &[&OperatorInfo] = &[
    &density::INFO,
    &momentum::INFO,
    &density_velocity::INFO,
    &equilibrium::INFO,
    &bgk::INFO,
];
