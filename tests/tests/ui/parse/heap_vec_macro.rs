use lbm_runtime::operator;

#[operator]
fn sum(f: [Real; Q]) -> Real {
    let v = vec![0.0; 3];
    f[0]
}

fn main() {}
