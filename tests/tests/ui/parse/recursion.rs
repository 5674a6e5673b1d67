use lbm_runtime::operator;

#[operator]
fn again(x: Real) -> Real {
    let y = again(x);
    y
}

fn main() {}
