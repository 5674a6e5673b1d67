use lbm_runtime::operator;

#[operator]
fn square(x: Real) {
    let y = x * x;
}

fn main() {}
