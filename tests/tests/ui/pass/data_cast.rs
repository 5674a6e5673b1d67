use lbm_runtime::operator;

/// A `#[data]` real is not differentiated, so casting it to an index cuts no gradient.
#[operator]
pub fn pick(f: [Real; Q], #[data] x: Real, n: usize) -> Real {
    let k = (x * 3.0) as usize;
    f[k] * x.powi(n as i32)
}

fn main() {
    let f = [1.0_f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let v = pick::forward::<f64, lbm_runtime::D2Q9, 2, 9>(f, 0.5, 0);
    assert_eq!(v, 2.0);
}
