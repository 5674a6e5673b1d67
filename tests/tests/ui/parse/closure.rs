use lbm_runtime::operator;

#[operator]
fn twice(x: Real) -> Real {
    let g = |a: Real| a * 2.0;
    x
}

fn main() {}
