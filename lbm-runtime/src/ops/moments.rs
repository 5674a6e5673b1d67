//! Macroscopic moments of the populations.

use crate::operator;

/// Density: the zeroth moment, `rho = sum_i f_i`.
#[operator]
pub fn density(f: [Real; Q]) -> Real {
    let mut rho = 0.0;
    for i in 0..Q {
        rho += f[i];
    }
    rho
}

/// Momentum density: the first moment, `j_a = sum_i f_i c_ia`.
#[operator]
pub fn momentum(f: [Real; Q]) -> [Real; D] {
    let mut j = [0.0; D];
    for a in 0..D {
        for i in 0..Q {
            j[a] += f[i] * C[i][a];
        }
    }
    j
}

/// Density and velocity `u = j / rho` in one pass.
#[operator]
pub fn density_velocity(f: [Real; Q]) -> (Real, [Real; D]) {
    let rho = density(f);
    let j = momentum(f);
    let mut u = [0.0; D];
    for a in 0..D {
        u[a] = j[a] / rho;
    }
    (rho, u)
}
