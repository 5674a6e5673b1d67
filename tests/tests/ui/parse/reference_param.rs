use lbm_runtime::operator;

#[operator]
fn first(f: &[Real; Q]) -> Real {
    f[0]
}

fn main() {}
