//! Per-cell objectives: the runtime sums them over the chosen cells and steps.

use crate::operator;
use crate::ops::{density, density_velocity};

/// Squared density, `rho^2`.
#[operator]
pub fn rho_squared(#[populations] f: [Real; Q]) -> Real {
    let rho = density(f);
    rho * rho
}

/// Kinetic energy density, `rho |u|^2 / 2`.
#[operator]
pub fn kinetic_energy(#[populations] f: [Real; Q]) -> Real {
    let (rho, u) = density_velocity(f);
    let mut usq = 0.0;
    for a in 0..D {
        usq += u[a] * u[a];
    }
    0.5 * rho * usq
}

/// Squared first velocity component, `u_x^2`.
#[operator]
pub fn ux_squared(#[populations] f: [Real; Q]) -> Real {
    let (rho, u) = density_velocity(f);
    u[0] * u[0]
}

/// Squared distance of the velocity to a target, `|u - target|^2`.
#[operator]
pub fn velocity_mismatch(#[populations] f: [Real; Q], #[data] target: [Real; D]) -> Real {
    let (rho, u) = density_velocity(f);
    let mut err = 0.0;
    for a in 0..D {
        let d = u[a] - target[a];
        err += d * d;
    }
    err
}

/// Force on the solid through the wall links of one fluid cell, by momentum exchange for
/// halfway bounce-back on a resting wall: `F = sum_{i in links} 2 f_local[OPP[i]] c_OPP[i]`
/// `= -2 sum_{i in links} f_local[OPP[i]] c_i`.
///
/// On a wall link (bit `i`: `x - c_i` is solid) the population `f_local[OPP[i]]` moves
/// towards the wall with velocity `c_OPP[i] = -c_i` and comes back unchanged with `c_i`;
/// the solid receives the difference, `2 f_local[OPP[i]] c_OPP[i]`, which points from
/// the fluid into the wall (a fluid at rest pushes the wall away from itself). Lattice
/// units, per time step.
#[operator]
pub fn momentum_exchange_force(#[local] f_local: [Real; Q], #[links] links: i64) -> [Real; D] {
    let mut force = [0.0; D];
    for i in 0..Q {
        if (links >> (i as i64)) & 1 == 1 {
            for a in 0..D {
                force[a] -= 2.0 * f_local[OPP[i]] * C[i][a];
            }
        }
    }
    force
}
