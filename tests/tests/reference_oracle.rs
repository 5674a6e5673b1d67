//! The generated forward of every library operator agrees with its reference form: the
//! operator's source as written, compiled by rustc over f64 (`<operator>::reference`),
//! which shares nothing with the macro's stages.

use lbm_runtime::{ops, LatticeKind};
use lbm_tests::gradcheck::{forward_error, sample_inputs, Rng, FORWARD_TOLERANCE};

#[test]
fn generated_forwards_match_the_source_as_written() {
    let mut rng = Rng::new(0x0dac1e);
    let mut worst = (0.0, "");
    for op in ops::ALL {
        for lattice in LatticeKind::ALL {
            for _ in 0..16 {
                let x = sample_inputs(op, lattice, &mut rng);
                let err = forward_error(op, lattice, &x);
                assert!(
                    err <= FORWARD_TOLERANCE,
                    "{} on {lattice}: generated forward differs from the source by {err:.3e} at {x:?}",
                    op.name
                );
                if err > worst.0 {
                    worst = (err, op.name);
                }
            }
        }
    }
    eprintln!("largest difference: {:.3e} ({})", worst.0, worst.1);
}
