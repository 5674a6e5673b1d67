use lbm_runtime::operator;

#[operator]
fn sum(f: [Real; Q]) -> Real {
    let v = Vec::new();
    f[0]
}

fn main() {}
