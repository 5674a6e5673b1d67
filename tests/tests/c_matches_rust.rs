//! The C printer against the Rust printer: for every lattice, one C unit of every library
//! operator plus flat wrappers is compiled by the system C compiler into a shared library,
//! and every operator's C forward and adjoint must agree with its Rust flat forms
//! (`op.cpu.f64(lattice)`) to 1e-12 relative, on physical real inputs and integer inputs
//! over their whole range: both sides of a wall, every axis, every bit of a link mask (see
//! [`case_inputs`]).

use std::fmt::Write as _;

use lbm_runtime::{ops, LatticeKind, OperatorInfo, ParamInfo, ParamKind};
use lbm_tests::gradcheck::{int_range, sample_param, IntRange};
use lbm_tests::native::NativeUnit;
use lbm_tests::SplitMix64;

/// Cases per operator and lattice, at least (see [`cases_for`]).
const CASES: usize = 8;
/// Relative tolerance, against `max(|a|, |b|, 1)`.
const TOL: f64 = 1e-12;

/// Cases for `op`: at least [`CASES`], and enough for every combination of the values of
/// its integer parameters that take a few values (axis and side of a wall, tags).
fn cases_for(op: &OperatorInfo, lattice: LatticeKind) -> usize {
    let combinations: usize = op
        .params
        .iter()
        .filter(|p| !p.kind.is_real())
        .map(|p| match int_values(p, lattice) {
            IntRange::Values(v) => v.len(),
            IntRange::Mask(_) => 1,
        })
        .product();
    CASES.max(combinations)
}

fn int_values(p: &ParamInfo, lattice: LatticeKind) -> IntRange {
    if p.kind == ParamKind::Bool {
        IntRange::Values(vec![0, 1])
    } else {
        int_range(p.name, lattice)
    }
}

/// Inputs of case `case` of `op` on `lattice`.
///
/// Reals as the gradient checks draw them (`gradcheck::sample_param`): populations near
/// equilibrium, wall distances on both sides of 1/2, relaxation rates in (0.6, 1.9), small
/// velocities. Integers over their whole range (`gradcheck::int_range`): parameters with a
/// few values (axis, side, tags) are enumerated, so that every combination comes up within
/// [`cases_for`] cases; link masks have every bit set in case 0, none in case 1, and random
/// bits after that.
fn case_inputs(
    op: &OperatorInfo,
    lattice: LatticeKind,
    case: usize,
    rng: &mut SplitMix64,
) -> (Vec<f64>, Vec<i64>) {
    let (mut reals, mut ints) = (Vec::new(), Vec::new());
    // The case number in a mixed radix over the enumerated parameters.
    let mut digits = case;
    for p in op.params {
        if p.kind.is_real() {
            reals.extend(sample_param(p.name, p.kind, p.shape, lattice, rng));
            continue;
        }
        ints.push(match int_values(p, lattice) {
            IntRange::Values(v) => {
                let value = v[digits % v.len()];
                digits /= v.len();
                value
            }
            IntRange::Mask(bits) => match case {
                0 => (1i64 << bits) - 1,
                1 => 0,
                _ => rng.below(1u64 << bits) as i64,
            },
        });
    }
    (reals, ints)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * a.abs().max(b.abs()).max(1.0)
}

/// Describes every index where `c` and `rust` differ, or `None` when they agree.
fn compare(c: &[f64], rust: &[f64]) -> Option<String> {
    let mut s = String::new();
    for (k, (&a, &b)) in c.iter().zip(rust).enumerate() {
        if !close(a, b) {
            let _ = write!(s, "\n      [{k}] C {a:e} vs Rust {b:e} (diff {:e})", a - b);
        }
    }
    (!s.is_empty()).then_some(s)
}

#[test]
fn c_forward_and_adjoint_match_rust_flat_forms() {
    let mut failures = Vec::new();
    let mut checks = 0;
    for lattice in LatticeKind::ALL {
        let unit =
            NativeUnit::compile(ops::ALL, lattice).unwrap_or_else(|e| panic!("{lattice}: {e}"));
        for (n, op) in ops::ALL.iter().enumerate() {
            let rust = op.cpu.f64(lattice);
            let n_out = op.outputs_len(lattice);
            let n_real = op.real_inputs_len(lattice);
            let seed = 0xC0FF_EE00 ^ ((n as u64) << 8) ^ lattice.q() as u64;
            let mut rng = SplitMix64::new(seed);
            for case in 0..cases_for(op, lattice) {
                let (reals, ints) = case_inputs(op, lattice, case, &mut rng);
                assert_eq!(reals.len(), n_real);
                assert_eq!(ints.len(), op.int_inputs_len());
                let out_bar: Vec<f64> = (0..n_out).map(|_| rng.uniform(-1.0, 1.0)).collect();
                // Both adjoints must *add* into `reals_bar`: start from the same junk.
                let bar0: Vec<f64> = (0..n_real).map(|_| rng.uniform(-1.0, 1.0)).collect();

                let out_c = unit.forward(op, &reals, &ints);
                let mut out_r = vec![f64::NAN; n_out];
                (rust.forward)(&reals, &ints, &mut out_r);
                let bar_c = unit.adjoint(op, &reals, &ints, &out_bar, &bar0);
                let mut bar_r = bar0.clone();
                (rust.adjoint)(&reals, &ints, &out_bar, &mut bar_r);

                let context = || {
                    format!(
                        "{} on {lattice}, case {case} (seed {seed:#x}):\n    reals {reals:?}\n    \
                         ints {ints:?}\n    out_bar {out_bar:?}\n    reals_bar before {bar0:?}",
                        op.name
                    )
                };
                if let Some(d) = compare(&out_c, &out_r) {
                    failures.push(format!("forward of {}{d}", context()));
                }
                if let Some(d) = compare(&bar_c, &bar_r) {
                    failures.push(format!("adjoint of {}{d}", context()));
                }
                checks += 2;
            }
        }
        if failures
            .iter()
            .any(|f| f.contains(&format!(" on {lattice},")))
        {
            eprintln!("--- C source for {lattice} ---\n{}", unit.source);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks (forward, adjoint) disagree between C and Rust:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "c_matches_rust: {} operators x {} lattices, {checks} checks agree",
        ops::ALL.len(),
        LatticeKind::ALL.len()
    );
}
