use lbm_runtime::operator;

#[operator]
fn root(x: Real) -> Real {
    f64::sqrt(x)
}

fn main() {}
