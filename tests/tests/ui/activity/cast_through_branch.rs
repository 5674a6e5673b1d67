use lbm_runtime::operator;

#[operator]
fn lookup(f: [Real; Q], x: Real) -> Real {
    let y = if x > 0.0 { x } else { 0.0 };
    let k = y as usize;
    f[k]
}

fn main() {}
