//! Equilibrium distributions.

use crate::operator;
use crate::ops::density_velocity;

/// Second-order equilibrium:
/// `f_i = w_i rho (1 + c.u / cs2 + (c.u)^2 / (2 cs2^2) - u.u / (2 cs2))`.
#[operator]
pub fn equilibrium(rho: Real, u: [Real; D]) -> [Real; Q] {
    let mut usq = 0.0;
    for a in 0..D {
        usq += u[a] * u[a];
    }
    let mut feq = [0.0; Q];
    for i in 0..Q {
        let mut cu = 0.0;
        for a in 0..D {
            cu += C[i][a] * u[a];
        }
        feq[i] = W[i] * rho * (1.0 + cu / CS2 + cu * cu / (2.0 * CS2 * CS2) - usq / (2.0 * CS2));
    }
    feq
}

/// Third-order Hermite equilibrium: [`equilibrium`] plus the third-order terms the
/// lattice resolves.
///
/// `f_i = feq2_i + w_i rho [ sum_{a != b} H_iaab u_a^2 u_b / (2 cs^6)
/// + H_ixyz u_x u_y u_z / cs^6 ]` with `H_iaab = c_ia^2 c_ib - cs^2 c_ib` and
/// `H_ixyz = c_ix c_iy c_iz`. The mixed `H_aab` (`a != b`) are resolved by D2Q9, D3Q19
/// and D3Q27; `H_xyz` only by D3Q27 (`Q == 27`); `H_aaa` by none, so it is left out.
/// Density and momentum are exactly those of [`equilibrium`].
#[operator]
pub fn equilibrium_third_order(rho: Real, u: [Real; D]) -> [Real; Q] {
    let feq2 = equilibrium(rho, u);
    let cs6 = CS2 * CS2 * CS2;
    let mut uprod = 1.0;
    for a in 0..D {
        uprod *= u[a];
    }
    let mut feq = [0.0; Q];
    for i in 0..Q {
        let mut third = 0.0;
        for a in 0..D {
            for b in 0..D {
                if a != b {
                    let h = (C[i][a] * C[i][a] - CS2) * C[i][b];
                    third += h * u[a] * u[a] * u[b] / (2.0 * cs6);
                }
            }
        }
        if Q == 27 {
            let mut cprod = 1.0;
            for a in 0..D {
                cprod *= C[i][a];
            }
            third += cprod * uprod / cs6;
        }
        feq[i] = feq2[i] + W[i] * rho * third;
    }
    feq
}

/// A state's equilibrium and non-equilibrium parts: `(rho, feq, f - feq)`, the common
/// start of the collisions that treat the non-equilibrium part moment by moment.
#[operator]
pub fn equilibrium_split(#[populations] f: [Real; Q]) -> (Real, [Real; Q], [Real; Q]) {
    let (rho, u) = density_velocity(f);
    let feq = equilibrium(rho, u);
    let mut fneq = [0.0; Q];
    for i in 0..Q {
        fneq[i] = f[i] - feq[i];
    }
    (rho, feq, fneq)
}
