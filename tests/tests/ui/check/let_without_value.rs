use lbm_runtime::operator;

#[operator]
fn later(x: Real) -> Real {
    let y;
    x
}

fn main() {}
