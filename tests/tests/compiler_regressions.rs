//! Programs a compiler once got wrong. Each must give the same values through every form
//! of the operator: the typed forward, the flat forward the CPU backend runs, and the
//! reference form compiled as written.
//!
//! `miscompiled_at_o3` came from `cargo xtask fuzz --seed 0x1` (random programs 71 and
//! 79, minimised): with rustc 1.95 (LLVM 22) at `opt-level = 3`, the flat forward of
//! `lbm-tests` returned 0.89443 where the typed forward and the reference return 0.89774
//! (debug builds and `opt-level = 2` are right; the code is safe Rust). The workspace's
//! release profile uses `opt-level = 2` since; this test fails if that changes while the
//! compiler still gets it wrong.

use lbm_runtime::ops::{density_velocity, equilibrium};
use lbm_runtime::{operator, LatticeKind, D3Q19};
use lbm_tests::gradcheck::{forward, reference, Inputs};

/// A tanh recurrence, a sub-cycled BGK, a tag match and an early return that reads both.
#[operator]
pub fn miscompiled_at_o3(
    f: [Real; Q],
    #[param] s: Real,
    x: Real,
    #[data] k: Real,
    links: i64,
    tag: i32,
) -> (Real, [Real; Q]) {
    let mut a0 = x * s + k;
    let mut p0 = f;
    let a1: Real = f[1];
    for i in 0..Q {
        a0 = (a0 + W[i] * 0.25).tanh();
    }
    for _n in 0..2 {
        let (rho, u) = density_velocity(p0);
        let feq = equilibrium(rho, u);
        for i in 0..Q {
            p0[i] = p0[i] - 0.5 * s * (p0[i] - feq[i]);
        }
    }
    let a4: Real = match tag {
        0 => a0.mul_add(x, 0.25) - (p0[1] * p0[1] + 0.5).powf(0.5 + 0.25 * s),
        1 => C[1][0] * 0.5,
        _ => a1 * s,
    };
    if (links >> 2) & 1 == 0 {
        return (a4 * 0.5 + x.tanh() + p0[0], f);
    }
    (x * 0.5 + x.tanh() + f[0], p0)
}

#[test]
fn every_form_of_a_once_miscompiled_program_agrees() {
    // The inputs the fuzzer found it with (D3Q19: 19 populations, s, x, k).
    let reals = vec![
        0.27486026643124634,
        0.038357371077117924,
        0.04983660943765263,
        0.04223410762606549,
        0.048228919521395845,
        0.0505253884973271,
        0.03898528008179233,
        0.017911612890917833,
        0.026966822550515048,
        0.01948683124564237,
        0.02490203823902236,
        0.02231940513622211,
        0.02312085508767117,
        0.018082243099161965,
        0.02871303719243218,
        0.02425484669049502,
        0.021544316390138547,
        0.018834326436880607,
        0.027157320053369256,
        1.2317200455684407,
        0.7920758900271064,
        1.1278881596642123,
    ];
    let x = Inputs {
        reals: reals.clone(),
        ints: vec![40642, 0],
    };
    let f: [f64; 19] = reals[..19].try_into().unwrap();
    let typed = miscompiled_at_o3::forward::<f64, D3Q19, 3, 19>(
        f, reals[19], reals[20], reals[21], 40642, 0,
    );
    let flat = forward(&miscompiled_at_o3::INFO, LatticeKind::D3Q19, &x);
    let oracle = reference(&miscompiled_at_o3::INFO, LatticeKind::D3Q19, &x);
    assert_eq!(flat[0], typed.0, "flat against typed forward");
    assert_eq!(flat[0], oracle[0], "flat forward against the reference");
    // Written out: a4 * 0.5 + tanh(x) + p0[0], from the values the forms agree on.
    assert!(
        (oracle[0] - 0.8977358177896069).abs() < 1e-12,
        "{}",
        oracle[0]
    );
}
