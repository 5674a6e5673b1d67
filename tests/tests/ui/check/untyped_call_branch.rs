use lbm_runtime::operator;
use lbm_runtime::ops::{density, equilibrium, momentum};

#[operator]
fn pick(f: [Real; Q], tag: i32) -> Real {
    let m = if tag == 0 { momentum(f) } else { momentum(f) };
    density(f) + m[0]
}

fn main() {}
