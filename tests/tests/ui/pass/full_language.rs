use lbm_runtime::operator;

/// A per-cell operator touching every construct of the language: a library call,
/// an early return, `match` on an integer tag, `if`/`else` as statement and value,
/// `for` loops over lattice ranges, lattice tables and intrinsics.
#[operator]
pub fn relax(
    f: [Real; Q],
    #[param] omega: Real,
    #[data] floor: Real,
    tag: i32,
    wall: bool,
) -> (Real, [Real; Q]) {
    let rho = lbm_runtime::ops::density(f);
    let mut out = [0.0; Q];
    if wall {
        for i in 0..Q {
            out[i] = f[OPP[i]];
        }
        return (rho, out);
    }
    let scale = match tag {
        0 => 1.0,
        1 | 2 => omega.exp(),
        _ => omega.tanh().abs().max(floor),
    };
    for i in 0..Q {
        let mut cu = 0.0;
        for a in 0..D {
            cu += C[i][a] * f[i];
        }
        let feq = W[i] * rho * (1.0 + cu / CS2).max(0.0).sqrt();
        if f[i] > feq {
            out[i] = f[i] - scale * (f[i] - feq);
        } else {
            out[i] = feq.mul_add(scale, -floor) + cu.powi(2) * 0.0;
        }
    }
    let total = if rho > 0.0 { rho.ln().cos() } else { rho.sin() };
    (total.min(rho.powf(1.0)), out)
}

fn main() {
    let f = [0.1_f64; 9];
    let (rho, out) = relax::forward::<f64, lbm_runtime::D2Q9, 2, 9>(f, 1.0, 0.0, 0, true);
    assert!(rho.is_finite());
    assert_eq!(out, f);
    assert_eq!(relax::INFO.name, "relax");
}
