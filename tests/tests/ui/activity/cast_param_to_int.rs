use lbm_runtime::operator;

#[operator]
fn bucket(f: [Real; Q], #[param] x: Real) -> Real {
    let k = (x * 10.0) as i32;
    f[0] * k as Real
}

fn main() {}
