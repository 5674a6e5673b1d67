use lbm_runtime::operator;

#[operator]
fn positive(x: Real) -> Real {
    if x > 0.0 {
        return x;
    }
}

fn main() {}
