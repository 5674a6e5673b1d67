use lbm_runtime::operator;

#[operator]
fn square(x: f64) -> Real {
    x * x
}

fn main() {}
