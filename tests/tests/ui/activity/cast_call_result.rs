use lbm_runtime::operator;

#[operator]
fn bucket(f: [Real; Q]) -> Real {
    let rho = lbm_runtime::ops::density(f);
    let k = rho as i32;
    rho * k as Real
}

fn main() {}
