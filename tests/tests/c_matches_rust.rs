//! The C printer against the Rust printer: for every lattice, one C unit of every library
//! operator plus flat wrappers is compiled by the system C compiler into a shared library,
//! and every operator's C forward and adjoint must agree with its Rust flat forms
//! (`op.cpu.f64(lattice)`) to 1e-12 relative, on physical real inputs and integer inputs
//! over their whole range: both sides of a wall, every axis, every bit of a link mask (see
//! [`case_inputs`]).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use lbm_runtime::{
    codegen, nvrtc::number_lines, ops, LatticeKind, OperatorInfo, ParamInfo, ParamKind, Precision,
};
use lbm_tests::gradcheck::{int_range, sample_param, IntRange};
use lbm_tests::{flat_wrappers_c, SplitMix64};

/// Cases per operator and lattice, at least (see [`cases_for`]).
const CASES: usize = 8;
/// Relative tolerance, against `max(|a|, |b|, 1)`.
const TOL: f64 = 1e-12;

type CFwd = unsafe extern "C" fn(*const f64, *const i64, *mut f64);
type CAdj = unsafe extern "C" fn(*const f64, *const i64, *const f64, *mut f64);

/// The C unit of every library operator on `lattice` in `f64`, with flat wrappers.
fn c_source(lattice: LatticeKind) -> String {
    let mut src = codegen::c_unit(ops::ALL, lattice, Precision::F64)
        .unwrap_or_else(|e| panic!("c_unit on {lattice}: {e}"));
    // The prelude turns `__forceinline__` into `inline`, and in C11 a function whose every
    // declaration says `inline` (and not `extern`) has an *inline definition* only: where
    // the compiler does not inline a call, the symbol is left undefined. A prototype with
    // no `inline` makes the definition external (C11 6.7.4p7), and after a `static`
    // definition it keeps internal linkage (6.2.2p4-5), so these prototypes work for either
    // prelude. They also check the calling convention of `lbm_runtime::operator`: a
    // prototype that disagrees with the definition does not compile.
    src.push_str("\n/* ======== prototypes, by the documented convention ======== */\n");
    let mut seen: Vec<&str> = Vec::new();
    for op in ops::ALL.iter().flat_map(|op| op.with_callees()) {
        if !seen.contains(&op.c_name) {
            seen.push(op.c_name);
            src.push_str(&c_prototypes(op));
        }
    }
    src.push_str("\n/* ======== flat wrappers for the tests ======== */\n");
    for op in ops::ALL {
        src.push_str(&flat_wrappers_c(op, lattice, ""));
    }
    src
}

/// Prototypes of `op`'s C forward and adjoint as the calling convention documented in
/// `lbm_runtime::operator` describes them.
fn c_prototypes(op: &OperatorInfo) -> String {
    let params: Vec<&str> = op
        .params
        .iter()
        .map(|p| {
            if p.kind.is_real() {
                "const real*"
            } else {
                "int"
            }
        })
        .collect();
    let outs = vec!["real*"; op.outputs.len()];
    let out_bars = vec!["const real*"; op.outputs.len()];
    let bars = vec!["real*"; op.params.iter().filter(|p| p.kind.is_real()).count()];
    let fwd: Vec<&str> = params.iter().chain(&outs).copied().collect();
    let adj: Vec<&str> = params
        .iter()
        .chain(&out_bars)
        .chain(&bars)
        .copied()
        .collect();
    format!(
        "void {c}({});\nvoid {c}_adj({});\n",
        fwd.join(", "),
        adj.join(", "),
        c = op.c_name
    )
}

/// Compiles `src` into `dir/lib.so`, failing with the compiler's output and the numbered
/// source if the compiler rejects it.
fn compile(src: &str, dir: &Path, lattice: LatticeKind) -> std::path::PathBuf {
    let c = dir.join(format!("unit_{lattice}.c"));
    let so = dir.join(format!("unit_{lattice}.so"));
    std::fs::write(&c, src).unwrap();
    // `-Wl,--no-undefined`: a function the unit calls but never defines (for example an
    // `inline` definition that C11 does not emit) must fail here, not at call time.
    let out = Command::new("cc")
        .args([
            "-std=c11",
            "-O1",
            "-shared",
            "-fPIC",
            "-Wl,--no-undefined",
            "-o",
        ])
        .arg(&so)
        .arg(&c)
        .arg("-lm")
        .output()
        .expect("the system C compiler `cc` is needed by this test");
    assert!(
        out.status.success(),
        "cc rejected the {lattice} unit:\n{}{}\n--- source ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        number_lines(src)
    );
    so
}

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
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut checks = 0;
    for lattice in LatticeKind::ALL {
        let src = c_source(lattice);
        let so = compile(&src, dir.path(), lattice);
        // SAFETY: the library is the unit just compiled; its initialisers are the C
        // runtime's only.
        let lib = unsafe { libloading::Library::new(&so) }.unwrap();
        for (n, op) in ops::ALL.iter().enumerate() {
            // SAFETY: the wrappers are defined above with exactly these signatures.
            let (c_fwd, c_adj) = unsafe {
                let fwd = format!("test_{}_fwd", op.name);
                let adj = format!("test_{}_adj", op.name);
                (
                    *lib.get::<CFwd>(fwd.as_bytes()).unwrap(),
                    *lib.get::<CAdj>(adj.as_bytes()).unwrap(),
                )
            };
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

                let mut out_c = vec![f64::NAN; n_out];
                let mut out_r = vec![f64::NAN; n_out];
                // SAFETY: buffers have the lengths the operator's metadata gives.
                unsafe { c_fwd(reals.as_ptr(), ints.as_ptr(), out_c.as_mut_ptr()) };
                (rust.forward)(&reals, &ints, &mut out_r);

                let mut bar_c = bar0.clone();
                let mut bar_r = bar0.clone();
                // SAFETY: as above.
                unsafe {
                    c_adj(
                        reals.as_ptr(),
                        ints.as_ptr(),
                        out_bar.as_ptr(),
                        bar_c.as_mut_ptr(),
                    )
                };
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
        drop(lib);
        if failures
            .iter()
            .any(|f| f.contains(&format!(" on {lattice},")))
        {
            eprintln!("--- C source for {lattice} ---\n{}", number_lines(&src));
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
