use lbm_runtime::operator;
use lbm_runtime::ops::{density, equilibrium, momentum};

#[operator]
fn copy(f: [Real; Q], rho: Real, u: [Real; D]) -> Real {
    let mut a = equilibrium(rho, u);
    let b = equilibrium(rho, u);
    a = b;
    density(a)
}

fn main() {}
