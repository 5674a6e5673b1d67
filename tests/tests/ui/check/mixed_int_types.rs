use lbm_runtime::operator;

#[operator]
fn first_n(f: [Real; Q], n: i32) -> Real {
    let mut s = 0.0;
    for i in 0..Q {
        if i < n {
            s += f[i];
        }
    }
    s
}

fn main() {}
