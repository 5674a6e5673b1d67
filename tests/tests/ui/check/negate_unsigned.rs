use lbm_runtime::operator;

#[operator]
fn back(f: [Real; Q]) -> Real {
    let k = -Q;
    f[0]
}

fn main() {}
