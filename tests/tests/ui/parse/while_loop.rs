use lbm_runtime::operator;

#[operator]
fn halve(x: Real) -> Real {
    let mut y = x;
    while y > 1.0 {
        y = y * 0.5;
    }
    y
}

fn main() {}
