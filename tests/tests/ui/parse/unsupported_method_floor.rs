use lbm_runtime::operator;

#[operator]
fn floor(x: Real) -> Real {
    x.floor()
}

fn main() {}
