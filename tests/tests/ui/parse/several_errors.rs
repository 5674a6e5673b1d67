use lbm_runtime::operator;

#[operator]
fn messy(x: f64, f: &[Real; Q]) -> Real {
    let v = vec![x];
    let mut y = 1.0;
    while y < x {
        y = y * 2.0;
    }
    y.floor()
}

fn main() {}
