use lbm_runtime::operator;

#[operator]
fn boxed(x: Real) -> Real {
    let b = Box::new(x);
    x
}

fn main() {}
