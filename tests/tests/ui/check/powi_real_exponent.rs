use lbm_runtime::operator;

#[operator]
fn cube(x: Real) -> Real {
    x.powi(3.0)
}

fn main() {}
