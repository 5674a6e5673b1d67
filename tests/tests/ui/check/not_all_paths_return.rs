use lbm_runtime::operator;

#[operator]
fn positive(x: Real) -> Real {
    let mut y = x;
    if x > 0.0 {
        return y;
    }
    y = -y;
}

fn main() {}
