//! Macroscopic moments of the populations.

use crate::operator;

/// Density: the zeroth moment, `rho = sum_i f_i`.
#[operator]
pub fn density(#[populations] f: [Real; Q]) -> Real {
    let mut rho = 0.0;
    for i in 0..Q {
        rho += f[i];
    }
    rho
}

/// Momentum density: the first moment, `j_a = sum_i f_i c_ia`.
#[operator]
pub fn momentum(#[populations] f: [Real; Q]) -> [Real; D] {
    let mut j = [0.0; D];
    for a in 0..D {
        for i in 0..Q {
            j[a] += f[i] * C[i][a];
        }
    }
    j
}

/// Density and velocity `u = j / rho` in one pass.
///
/// One division, by `rho`, then multiplications: a division costs a GPU about ten
/// instructions, and the adjoint differentiates what is written here.
#[operator]
pub fn density_velocity(#[populations] f: [Real; Q]) -> (Real, [Real; D]) {
    let rho = density(f);
    let j = momentum(f);
    let inv_rho = 1.0 / rho;
    let mut u = [0.0; D];
    for a in 0..D {
        u[a] = j[a] * inv_rho;
    }
    (rho, u)
}

/// Momentum flux: the second moment `Pi_ab = sum_i f_i c_ia c_ib`, stored symmetric.
///
/// The six entries are, in this order, `[xx, yy, zz, xy, xz, yz]`: entry `a` is the
/// diagonal `Pi_aa` and the off-diagonal `Pi_ab` (`a < b`) sits at `a + b + 2`. On a 2D
/// lattice the entries naming `z` (`zz`, `xz`, `yz`) are zero.
#[operator]
pub fn momentum_flux(#[populations] f: [Real; Q]) -> [Real; 6] {
    let mut pi = [0.0; 6];
    for a in 0..D {
        for b in 0..D {
            if a == b {
                for i in 0..Q {
                    pi[a] += f[i] * C[i][a] * C[i][a];
                }
            }
            if a < b {
                for i in 0..Q {
                    pi[a + b + 2] += f[i] * C[i][a] * C[i][b];
                }
            }
        }
    }
    pi
}

/// Populations of a second-order Hermite moment: `g_i = w_i / (2 cs^4) H_iab pi_ab`.
///
/// `H_iab = c_ia c_ib - cs^2 delta_ab` is the second Hermite polynomial and `pi` is a
/// symmetric tensor stored as in [`momentum_flux`] (`[xx, yy, zz, xy, xz, yz]`). The
/// result has zero density and momentum and second moment `pi` on every lattice, so it
/// rebuilds a non-equilibrium stress as populations (regularized collisions).
#[operator]
pub fn stress_projection(pi: [Real; 6]) -> [Real; Q] {
    let mut g = [0.0; Q];
    for i in 0..Q {
        let mut h = 0.0;
        for a in 0..D {
            for b in 0..D {
                if a == b {
                    h += (C[i][a] * C[i][a] - CS2) * pi[a];
                }
                if a < b {
                    h += 2.0 * C[i][a] * C[i][b] * pi[a + b + 2];
                }
            }
        }
        g[i] = W[i] / (2.0 * CS2 * CS2) * h;
    }
    g
}

/// Deviatoric (traceless) part of a stress in the storage of [`momentum_flux`]:
/// `pi_ab - delta_ab tr(pi) / D`. The trace is over the lattice's `D` dimensions.
#[operator]
pub fn deviatoric_stress(pi: [Real; 6]) -> [Real; 6] {
    let mut trace = 0.0;
    for a in 0..D {
        trace += pi[a];
    }
    let mut dev = pi;
    for a in 0..D {
        dev[a] = pi[a] - trace / (D as Real);
    }
    dev
}
