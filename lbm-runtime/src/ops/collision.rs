//! Collision operators.

use crate::operator;
use crate::ops::{density_velocity, equilibrium};

/// BGK collision: relax every population towards equilibrium at rate `omega`.
#[operator]
pub fn bgk(f: [Real; Q], #[param] omega: Real) -> [Real; Q] {
    let (rho, u) = density_velocity(f);
    let feq = equilibrium(rho, u);
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = f[i] - omega * (f[i] - feq[i]);
    }
    out
}
