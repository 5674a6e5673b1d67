use lbm_runtime::operator;

#[operator]
fn grad(#[grad] x: Real) -> Real {
    x
}

fn main() {}
