use lbm_runtime::operator;

#[operator]
fn first_positive(f: [Real; Q]) -> Real {
    let mut y = 0.0;
    for i in 0..Q {
        if f[i] > 0.0 {
            y = f[i];
            break;
        }
    }
    y
}

fn main() {}
