use lbm_runtime::operator;

#[operator]
fn total(f: [Real; Q]) -> Real {
    let mut s = 0.0;
    for mut i in 0..Q {
        s += f[i];
    }
    s
}

fn main() {}
