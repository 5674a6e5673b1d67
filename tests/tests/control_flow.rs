//! Operators with the control flow that defeats tape-based tools: early returns under an
//! integer mask, branches on cell tags, loops that overwrite what they read, calls in
//! branches. Each one's adjoint must agree with central finite differences (never a
//! silent zero).

use lbm_runtime::ops::{density, density_velocity, equilibrium};
use lbm_runtime::{operator, LatticeKind, OperatorInfo};
use lbm_tests::gradcheck::{
    adjoint, assert_operator_gradients, directional_error, sample_inputs, Inputs, Rng, FD_TOLERANCE,
};

/// The seed's failure: solid cells return early, a tag selects the collision.
#[operator]
fn masked_step(
    #[populations] f: [Real; Q],
    #[param] omega: Real,
    mask: i32,
    tag: i32,
) -> [Real; Q] {
    if mask == 0 {
        return f;
    }
    let (rho, u) = density_velocity(f);
    let feq = equilibrium(rho, u);
    let mut out = [0.0; Q];
    for i in 0..Q {
        if tag == 1 {
            out[i] = f[i] - omega * (f[i] - feq[i]);
        } else {
            out[i] = feq[i];
        }
    }
    out
}

/// A loop that overwrites the values its own derivative needs, plus match and intrinsics.
#[operator]
fn overwrite_loop(#[populations] f: [Real; Q], #[param] s: Real, kind: i32) -> Real {
    let mut x = density(f);
    for i in 0..Q {
        x = x * (1.0 + s * f[i]);
        x = x.sqrt() + 0.1 * x;
    }
    let y = match kind {
        0 => x.exp() * 0.01,
        1 | 2 => x.powi(3) - x.tanh(),
        _ => x.ln().max(s),
    };
    if y > 1.0 {
        return y.mul_add(s, x.abs());
    }
    let mut acc = 0.0;
    for i in 0..Q {
        // Real-valued branch whose switch point sits far from the sampled states, so
        // finite differences never straddle it.
        if f[i] > 0.25 * W[i] && C[i][0] >= 0.0 {
            acc += f[i].powf(s) * C[i][0];
        } else {
            acc -= (f[i] * CS2).sin().min(f[i].cos());
        }
    }
    acc + y
}

/// Early return from inside a loop.
#[operator]
fn first_above(#[populations] f: [Real; Q], #[param] threshold: Real) -> Real {
    let mut total = 0.0;
    for i in 0..Q {
        total += f[i];
        if total > threshold {
            return total * threshold;
        }
    }
    total
}

/// Early returns from match arms, with statements after the match that a returning arm
/// must skip.
#[operator]
fn match_arm_return(#[populations] f: [Real; Q], #[param] s: Real, kind: i32) -> Real {
    let x = density(f) * s;
    match kind {
        0 => {
            return x * x;
        }
        1 => {}
        _ => {
            return x + s;
        }
    }
    let y = x.sqrt();
    y * s
}

/// A dependency carried backwards through a loop: `a` reads `b` before the statement that
/// makes `b` depend on `s`, so activity needs a second pass over the body to see it.
#[operator]
fn loop_carried(#[data] g: [Real; Q], #[param] s: Real) -> Real {
    let mut a = 0.0;
    let mut b = 0.0;
    for i in 0..Q {
        a = a + b * g[i];
        b = s * g[i];
    }
    a
}

/// Loop temporaries the reverse sweep computes again instead of saving (an index and the
/// values built from it, as in TRT) beside ones it must restore: one whose value reads a
/// variable the body assigns after it, one read in the next iteration before it is
/// assigned again.
#[operator]
fn loop_temporaries(#[populations] f: [Real; Q], #[param] s: Real) -> Real {
    let mut acc = 0.0;
    let mut prev = 0.0;
    for i in 0..Q {
        let j = OPP[i];
        let sym = 0.5 * (f[i] + f[j]) * s;
        let lagged = acc * f[i];
        acc = acc + sym * sym + lagged * s;
        let carried = prev * f[j];
        prev = sym.sin() + f[i] * s;
        acc += carried * 0.5 + (sym * f[j]).exp() * 0.1;
    }
    acc
}

fn check_all(op: &OperatorInfo, cases: usize) {
    assert_operator_gradients(op, cases, 42);
}

#[test]
fn masked_step_gradient_is_exact_on_fluid_and_solid_cells() {
    check_all(&masked_step::INFO, 16);
    // On a fluid BGK cell the gradient with respect to omega is not zero: it is
    // sum_i w_i (feq_i - f_i), which the adjoint reproduces.
    let lattice = LatticeKind::D2Q9;
    let mut rng = Rng::new(1);
    let mut x = sample_inputs(&masked_step::INFO, lattice, &mut rng);
    x.ints = vec![1, 1];
    let f = &x.reals[..9];
    let feq = lbm_tests::gradcheck::forward(&equilibrium::INFO, lattice, &{
        let rho: f64 = f.iter().sum();
        let mut j = [0.0; 2];
        for (i, fi) in f.iter().enumerate() {
            for (a, ja) in j.iter_mut().enumerate() {
                *ja += fi * lattice.c(i)[a] as f64;
            }
        }
        Inputs {
            reals: vec![rho, j[0] / rho, j[1] / rho],
            ints: vec![],
        }
    });
    let w: Vec<f64> = (0..9).map(|i| 1.0 + i as f64).collect();
    let bar = adjoint(&masked_step::INFO, lattice, &x, &w);
    let expected: f64 = (0..9).map(|i| w[i] * (feq[i] - f[i])).sum();
    assert!(
        (bar[9] - expected).abs() < 1e-12 * expected.abs().max(1.0),
        "{} vs {expected}",
        bar[9]
    );
    assert!(expected.abs() > 1e-3);
}

#[test]
fn solid_cells_pass_the_adjoint_through() {
    let lattice = LatticeKind::D3Q19;
    let mut rng = Rng::new(5);
    let mut x = sample_inputs(&masked_step::INFO, lattice, &mut rng);
    x.ints = vec![0, 1];
    let w: Vec<f64> = (0..19).map(|i| i as f64 - 4.0).collect();
    let bar = adjoint(&masked_step::INFO, lattice, &x, &w);
    assert_eq!(&bar[..19], &w[..], "identity on solid cells");
    assert_eq!(bar[19], 0.0, "omega does not act on solid cells");
}

#[test]
fn overwriting_loops_and_branches_are_exact() {
    check_all(&overwrite_loop::INFO, 24);
}

#[test]
fn early_return_inside_a_loop_is_exact() {
    let mut rng = Rng::new(9);
    for lattice in LatticeKind::ALL {
        // Rest and face directions carry the large populations: the partial sums step by
        // far more than a finite-difference step moves them.
        for k in 0..2 * lattice.d() {
            let mut x = sample_inputs(&first_above::INFO, lattice, &mut rng);
            let q = lattice.q();
            // Put the threshold halfway between two partial sums, so the loop returns
            // early at direction k + 1 and no finite-difference step moves the switch.
            let partial = |n: usize| x.reals[..=n].iter().sum::<f64>();
            x.reals[q] = 0.5 * (partial(k) + partial(k + 1));
            let err = directional_error(&first_above::INFO, lattice, &x, &mut rng).unwrap();
            assert!(
                err <= FD_TOLERANCE,
                "first_above on {lattice}, k = {k}: {err:.3e}"
            );
        }
    }
    check_all(&first_above::INFO, 8);
}

#[test]
fn dependencies_carried_backwards_through_loops_are_active() {
    check_all(&loop_carried::INFO, 8);
}

#[test]
fn loop_temporaries_computed_again_or_restored_are_exact() {
    check_all(&loop_temporaries::INFO, 16);
}

#[test]
fn returns_from_match_arms_skip_what_follows_the_match() {
    let lattice = LatticeKind::D2Q9;
    let mut rng = Rng::new(11);
    let mut x = sample_inputs(&match_arm_return::INFO, lattice, &mut rng);
    let (rho, s) = (x.reals[..9].iter().sum::<f64>(), x.reals[9]);
    let d = rho * s;
    // What each arm returns, written out by hand.
    for (kind, expected) in [(0, d * d), (1, d.sqrt() * s), (2, d + s), (7, d + s)] {
        x.ints = vec![kind];
        let got = lbm_tests::gradcheck::forward(&match_arm_return::INFO, lattice, &x)[0];
        assert!(
            (got - expected).abs() <= 1e-14 * expected.abs(),
            "kind {kind}: {got} vs {expected}"
        );
    }
    check_all(&match_arm_return::INFO, 12);
}
