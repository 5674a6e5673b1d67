use lbm_runtime::operator;

#[operator]
fn root(x: Real) -> Real {
    sqrt(x)
}

fn main() {}
