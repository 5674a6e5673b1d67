use lbm_runtime::operator;

#[operator]
fn partial(f: [Real; Q], n: usize) -> Real {
    let mut s = 0.0;
    for i in 0..n {
        s += f[i];
    }
    s
}

fn main() {}
