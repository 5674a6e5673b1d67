use lbm_runtime::operator;

#[operator(fast)]
fn identity(x: Real) -> Real {
    x
}

fn main() {}
