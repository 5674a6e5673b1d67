use lbm_runtime::operator;

#[operator]
fn total(f: [Real; Q]) -> Real {
    let s = f.iter();
    f[0]
}

fn main() {}
