//! NVRTC accepts the prelude, and kernels written against it, for every lattice and
//! precision. Skipped with a notice when NVRTC is missing, unless `LBM_REQUIRE_NVRTC=1`.

// The CUDA items tested here exist only with the `cuda` feature.
#![cfg(feature = "cuda")]

use lbm_runtime::codegen::c_prelude;
use lbm_runtime::nvrtc::{compile_ptx, nvrtc_for_test, nvrtc_version, NvrtcError};
use lbm_runtime::{LatticeKind, Precision};

const PRECISIONS: [Precision; 2] = [Precision::F32, Precision::F64];

/// A kernel touching every prelude symbol, so a wrong type or missing name fails here and
/// not in the first generated operator that happens to use it.
const KERNEL: &str = r#"
extern "C" __global__ void lbm_prelude_check(real* out, const int* tags, int n) {
    int cell = blockIdx.x * blockDim.x + threadIdx.x;
    if (cell >= n) return;
    real acc = (real)0;
    for (int i = 0; i < Q; ++i) {
        real cu = (real)0;
        for (int a = 0; a < D; ++a) cu += LBM_C[i][a] * out[cell * Q + a % Q];
        real feq = LBM_W[i] * (1 + cu / LBM_CS2 + lbm_powi(cu, 2) / (2 * LBM_CS2 * LBM_CS2));
        int o = LBM_OPP[i];
        acc += feq + lbm_sqrt(lbm_fabs(feq)) + lbm_exp(-feq) + lbm_log((real)1 + lbm_fabs(feq))
             + lbm_pow(lbm_fabs(cu), (real)1.5) + lbm_sin(cu) * lbm_cos(cu) + lbm_tanh(cu)
             + lbm_fmin(cu, feq) + lbm_fmax(cu, feq) + lbm_fma(cu, feq, (real)o)
             + lbm_powi(feq, -3 + tags[cell]);
    }
    out[cell * Q] = acc;
}
"#;

#[test]
fn prelude_and_a_kernel_compile_for_every_lattice_and_precision() {
    if !nvrtc_for_test("prelude_and_a_kernel_compile_for_every_lattice_and_precision") {
        return;
    }
    eprintln!("NVRTC version {:?}", nvrtc_version());
    for lattice in LatticeKind::ALL {
        for precision in PRECISIONS {
            let prelude = c_prelude(lattice, precision);
            compile_ptx(&prelude, &[]).unwrap_or_else(|e| panic!("{lattice} {precision:?}: {e}"));

            let unit = format!("{prelude}\n{KERNEL}");
            let ptx = compile_ptx(&unit, &["--gpu-architecture=compute_80"])
                .unwrap_or_else(|e| panic!("{lattice} {precision:?}: {e}"))
                .to_src();
            assert!(ptx.contains(".entry lbm_prelude_check"), "{ptx}");
            assert!(
                ptx.contains("LBM_W"),
                "weights live in constant memory: {ptx}"
            );
            let float_op = match precision {
                Precision::F32 => ".f32",
                Precision::F64 => ".f64",
            };
            assert!(ptx.contains(float_op), "{lattice} {precision:?}");
        }
    }
}

#[test]
fn a_compile_error_carries_the_log_and_numbered_source() {
    if !nvrtc_for_test("a_compile_error_carries_the_log_and_numbered_source") {
        return;
    }
    let unit = format!(
        "{}\n__device__ real broken(real x) {{ return x + undefined_name; }}\n",
        c_prelude(LatticeKind::D2Q9, Precision::F32)
    );
    let err = compile_ptx(&unit, &[]).unwrap_err();
    let NvrtcError::Compile {
        log,
        source_with_line_numbers,
        ..
    } = &err
    else {
        panic!("expected a compile error, got {err}");
    };
    assert!(log.contains("undefined_name"), "{log}");
    assert!(source_with_line_numbers.contains("| __device__ real broken"));
    let shown = err.to_string();
    assert!(shown.contains(log.as_str()) && shown.contains("--- source ---"));
}
