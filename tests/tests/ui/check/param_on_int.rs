use lbm_runtime::operator;

#[operator]
fn scaled(x: Real, #[param] n: i32) -> Real {
    x.powi(n)
}

fn main() {}
