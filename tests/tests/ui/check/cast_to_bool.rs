use lbm_runtime::operator;

#[operator]
fn flag(x: Real) -> Real {
    let b = x as bool;
    x
}

fn main() {}
