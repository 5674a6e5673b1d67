use lbm_runtime::operator;

#[operator]
fn halve(x: Real) -> Real {
    let mut y = x;
    loop {
        y = y * 0.5;
    }
    y
}

fn main() {}
