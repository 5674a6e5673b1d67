//! The f32 Rust forms of every library operator on every lattice, which the runtime runs
//! for `Precision::F32`: the forward against the f64 forward, the adjoint against central
//! finite differences of the f64 forward, on random inputs near physical states rounded to
//! f32. Tolerances are `F32_FORWARD_TOLERANCE` and `F32_TOLERANCE` in `gradcheck`.

use lbm_runtime::{ops, LatticeKind};
use lbm_tests::gradcheck::{f32_errors, sample_inputs, Rng, F32_FORWARD_TOLERANCE, F32_TOLERANCE};

/// Random inputs per operator and lattice.
const CASES: usize = 24;

#[test]
fn f32_forms_match_the_f64_forward_and_its_differences() {
    let mut failures = Vec::new();
    let mut worst = (0.0f64, 0.0f64);
    for (n, op) in ops::ALL.iter().enumerate() {
        for lattice in LatticeKind::ALL {
            let mut rng = Rng::new(0xF32 ^ ((n as u64) << 8) ^ lattice.q() as u64);
            for case in 0..CASES {
                let x = sample_inputs(op, lattice, &mut rng);
                let what = format!("{} on {lattice}, case {case}", op.name);
                match f32_errors(op, lattice, &x, &mut rng) {
                    Err(e) => failures.push(format!("{what}: {e}")),
                    Ok(e) => {
                        worst = (worst.0.max(e.forward), worst.1.max(e.adjoint));
                        if e.forward > F32_FORWARD_TOLERANCE || e.adjoint > F32_TOLERANCE {
                            failures.push(format!(
                                "{what}: forward {:.2e}, adjoint {:.2e} at {x:?}",
                                e.forward, e.adjoint
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} f32 checks fail (forward > {F32_FORWARD_TOLERANCE:e} or adjoint > \
         {F32_TOLERANCE:e}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "f32 forms: worst forward error {:.2e}, worst adjoint error {:.2e}",
        worst.0, worst.1
    );
}
