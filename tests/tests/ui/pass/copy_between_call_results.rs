use lbm_runtime::operator;
use lbm_runtime::ops::{density, equilibrium};

// Whole call results copy into each other and into new bindings; rustc checks the shapes.
#[operator]
fn copy(f: [Real; Q], rho: Real, u: [Real; D]) -> Real {
    let mut a = equilibrium(rho, u);
    let b = equilibrium(rho, u);
    a = b;
    let c = a;
    density(c) + density(f)
}

fn main() {}
