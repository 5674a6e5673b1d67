use lbm_runtime::operator;

#[operator]
fn noisy(x: Real) -> Real {
    println!("{}", x);
    x
}

fn main() {}
