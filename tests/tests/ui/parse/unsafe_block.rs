use lbm_runtime::operator;

#[operator]
fn raw(x: Real) -> Real {
    let y = unsafe { x };
    y
}

fn main() {}
