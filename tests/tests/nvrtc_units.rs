//! NVRTC on every generated unit: each library operator alone (with its callees), and all of
//! them together, on every lattice in `f32` and `f64`. Each unit gets a small
//! `extern "C" __global__` kernel that calls the forward and the adjoint once through the
//! flat wrappers, so that the device functions are instantiated rather than dropped as
//! unused and NVRTC checks their bodies for real.
//!
//! Needs NVRTC (`source .ci/nvrtc-env.sh`); without it the tests print a notice and pass,
//! unless `LBM_REQUIRE_NVRTC=1`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use lbm_runtime::nvrtc::{self, compile_ptx, nvrtc_for_test};
use lbm_runtime::{codegen, ops, LatticeKind, OperatorInfo, Precision};
use lbm_tests::flat_wrappers_c;

/// NVRTC options. The default virtual architecture of the NVRTC in use is enough: the
/// generated code uses nothing architecture-specific.
const OPTIONS: &[&str] = &["--std=c++17"];

const PRECISIONS: [Precision; 2] = [Precision::F32, Precision::F64];

/// `c_unit(ops)` plus flat wrappers and one kernel per operator in `ops` that calls its
/// forward and adjoint once.
fn unit_with_kernels(
    ops: &[&'static OperatorInfo],
    lattice: LatticeKind,
    precision: Precision,
) -> String {
    let mut src = codegen::c_unit(ops, lattice, precision)
        .unwrap_or_else(|e| panic!("c_unit on {lattice} {}: {e}", precision.name()));
    src.push_str("\n/* ======== test kernels ======== */\n");
    for op in ops {
        src.push_str(&flat_wrappers_c(op, lattice, "__device__"));
        let _ = writeln!(
            src,
            "extern \"C\" __global__ void test_{name}_kernel(const real* reals, \
             const long long* ints, const real* out_bar, real* out, real* reals_bar) {{\n    \
             test_{name}_fwd(reals, ints, out);\n    \
             test_{name}_adj(reals, ints, out_bar, reals_bar);\n}}",
            name = op.name
        );
    }
    src
}

/// Compiles `src`, returning the time NVRTC took, or a description of the failure. The PTX
/// must hold the test kernel of every operator in `ops`.
fn compile(what: &str, src: &str, ops: &[&OperatorInfo]) -> Result<Duration, String> {
    let start = Instant::now();
    let ptx = compile_ptx(src, OPTIONS).map_err(|e| format!("{what}: {e}"))?;
    let elapsed = start.elapsed();
    let text = ptx.to_src();
    for op in ops {
        let entry = format!(".entry test_{}_kernel", op.name);
        if !text.contains(&entry) {
            return Err(format!("{what}: no `{entry}` in the PTX:\n{text}"));
        }
    }
    Ok(elapsed)
}

fn report(
    test: &str,
    failures: &[String],
    units: usize,
    total: Duration,
    slowest: (Duration, &str),
) {
    let version = nvrtc::nvrtc_version().unwrap_or((0, 0));
    eprintln!(
        "{test}: NVRTC {}.{}, {units} units, {:.2} s total, slowest {:.2} s ({})",
        version.0,
        version.1,
        total.as_secs_f64(),
        slowest.0.as_secs_f64(),
        slowest.1
    );
    assert!(
        failures.is_empty(),
        "{} of {units} units failed under NVRTC:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_operator_compiles_alone_under_nvrtc() {
    if !nvrtc_for_test("every_operator_compiles_alone_under_nvrtc") {
        return;
    }
    let mut failures = Vec::new();
    let (mut units, mut total) = (0, Duration::ZERO);
    let mut slowest = (Duration::ZERO, String::new());
    for op in ops::ALL {
        for lattice in LatticeKind::ALL {
            for precision in PRECISIONS {
                let what = format!("{} on {lattice} {}", op.name, precision.name());
                let src = unit_with_kernels(&[op], lattice, precision);
                units += 1;
                match compile(&what, &src, &[op]) {
                    Ok(t) => {
                        total += t;
                        if t > slowest.0 {
                            slowest = (t, what);
                        }
                    }
                    Err(e) => failures.push(e),
                }
            }
        }
    }
    report(
        "every_operator_compiles_alone_under_nvrtc",
        &failures,
        units,
        total,
        (slowest.0, &slowest.1),
    );
}

#[test]
fn all_operators_compile_together_under_nvrtc() {
    if !nvrtc_for_test("all_operators_compile_together_under_nvrtc") {
        return;
    }
    let mut failures = Vec::new();
    let (mut units, mut total) = (0, Duration::ZERO);
    let mut slowest = (Duration::ZERO, String::new());
    for lattice in LatticeKind::ALL {
        for precision in PRECISIONS {
            let what = format!("all operators on {lattice} {}", precision.name());
            let src = unit_with_kernels(ops::ALL, lattice, precision);
            units += 1;
            match compile(&what, &src, ops::ALL) {
                Ok(t) => {
                    total += t;
                    if t > slowest.0 {
                        slowest = (t, what);
                    }
                }
                Err(e) => failures.push(e),
            }
        }
    }
    report(
        "all_operators_compile_together_under_nvrtc",
        &failures,
        units,
        total,
        (slowest.0, &slowest.1),
    );
}
