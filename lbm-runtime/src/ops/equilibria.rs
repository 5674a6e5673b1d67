//! Equilibrium distributions.

use crate::operator;

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
