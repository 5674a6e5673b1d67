use lbm_runtime::operator;

#[operator]
fn square<T>(x: Real) -> Real {
    x * x
}

fn main() {}
