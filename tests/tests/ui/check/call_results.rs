use lbm_runtime::operator;

#[operator]
fn speed(f: [Real; Q]) -> Real {
    let r = lbm_runtime::ops::density_velocity(f);
    r
}

fn main() {}
