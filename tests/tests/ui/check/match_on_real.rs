use lbm_runtime::operator;

#[operator]
fn select(x: Real) -> Real {
    match x {
        _ => x,
    }
}

fn main() {}
