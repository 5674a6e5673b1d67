use lbm_runtime::operator;

#[operator]
fn borrow(x: Real) -> Real {
    let r = &x;
    x
}

fn main() {}
