use lbm_runtime::operator;

#[operator]
fn accumulate(f: [Real; Q]) -> Real {
    let rho = 0.0;
    for i in 0..Q {
        rho = rho + f[i];
    }
    rho
}

fn main() {}
