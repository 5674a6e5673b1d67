use lbm_runtime::operator;

#[operator]
fn twice(f: [Real; Q], x: Real) -> Real {
    let rho = lbm_runtime::ops::density(f, x);
    2.0 * rho
}

fn main() {}
