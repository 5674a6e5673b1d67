//! Generated C compiled by the system C compiler into a shared library and called through
//! flat wrappers, so the C printer's output can be run beside the Rust forms on the CPU.

use std::path::Path;
use std::process::Command;

use lbm_runtime::{codegen, nvrtc::number_lines, LatticeKind, OperatorInfo, Precision};

use crate::flat_wrappers_c;

type CFwd = unsafe extern "C" fn(*const f64, *const i64, *mut f64);
type CAdj = unsafe extern "C" fn(*const f64, *const i64, *const f64, *mut f64);

/// One f64 C unit of some operators on one lattice, compiled and loaded.
pub struct NativeUnit {
    lib: libloading::Library,
    lattice: LatticeKind,
    /// The numbered source, for failure messages.
    pub source: String,
    // Kept until the library is dropped: it holds the shared object.
    _dir: tempfile::TempDir,
}

impl NativeUnit {
    /// Compiles the C of `ops` (and their callees) in f64 with flat wrappers for each of
    /// `ops`; the error holds the compiler's output and the numbered source.
    pub fn compile(ops: &[&'static OperatorInfo], lattice: LatticeKind) -> Result<Self, String> {
        let src = c_source(ops, lattice)?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let so = compile(&src, dir.path())?;
        // SAFETY: the library is the unit just compiled; its initialisers are the C
        // runtime's only.
        let lib = unsafe { libloading::Library::new(&so) }.map_err(|e| e.to_string())?;
        Ok(NativeUnit {
            lib,
            lattice,
            source: number_lines(&src),
            _dir: dir,
        })
    }

    /// The C forward of `op` on flat buffers (the layout of `lbm_runtime::operator`).
    pub fn forward(&self, op: &OperatorInfo, reals: &[f64], ints: &[i64]) -> Vec<f64> {
        let name = format!("test_{}_fwd", op.name);
        // SAFETY: `flat_wrappers_c` defines the wrapper with exactly this signature.
        let f = unsafe {
            *self
                .lib
                .get::<CFwd>(name.as_bytes())
                .expect("wrapper exists")
        };
        assert_eq!(reals.len(), op.real_inputs_len(self.lattice));
        assert_eq!(ints.len(), op.int_inputs_len());
        let mut out = vec![f64::NAN; op.outputs_len(self.lattice)];
        // SAFETY: the buffers have the lengths the operator's metadata gives.
        unsafe { f(reals.as_ptr(), ints.as_ptr(), out.as_mut_ptr()) };
        out
    }

    /// The C adjoint of `op`, adding into a copy of `bar0`.
    pub fn adjoint(
        &self,
        op: &OperatorInfo,
        reals: &[f64],
        ints: &[i64],
        out_bar: &[f64],
        bar0: &[f64],
    ) -> Vec<f64> {
        let name = format!("test_{}_adj", op.name);
        // SAFETY: as in `forward`.
        let f = unsafe {
            *self
                .lib
                .get::<CAdj>(name.as_bytes())
                .expect("wrapper exists")
        };
        assert_eq!(out_bar.len(), op.outputs_len(self.lattice));
        assert_eq!(bar0.len(), reals.len());
        let mut bar = bar0.to_vec();
        // SAFETY: as in `forward`.
        unsafe {
            f(
                reals.as_ptr(),
                ints.as_ptr(),
                out_bar.as_ptr(),
                bar.as_mut_ptr(),
            )
        };
        bar
    }
}

/// The C unit of `ops` in f64 with prototypes and flat wrappers.
fn c_source(ops: &[&'static OperatorInfo], lattice: LatticeKind) -> Result<String, String> {
    let mut src = codegen::c_unit(ops, lattice, Precision::F64).map_err(|e| e.to_string())?;
    // The prelude turns `__forceinline__` into `inline`, and in C11 a function whose every
    // declaration says `inline` (and not `extern`) has an *inline definition* only: where
    // the compiler does not inline a call, the symbol is left undefined. A prototype with
    // no `inline` makes the definition external (C11 6.7.4p7), and after a `static`
    // definition it keeps internal linkage (6.2.2p4-5), so these prototypes work for either
    // prelude. They also check the calling convention of `lbm_runtime::operator`: a
    // prototype that disagrees with the definition does not compile.
    src.push_str("\n/* ======== prototypes, by the documented convention ======== */\n");
    let mut seen: Vec<&str> = Vec::new();
    for op in ops.iter().flat_map(|op| op.with_callees()) {
        if !seen.contains(&op.c_name) {
            seen.push(op.c_name);
            src.push_str(&c_prototypes(op));
        }
    }
    src.push_str("\n/* ======== flat wrappers for the tests ======== */\n");
    for op in ops {
        src.push_str(&flat_wrappers_c(op, lattice, ""));
    }
    Ok(src)
}

/// Prototypes of `op`'s C forward and adjoint as the calling convention documented in
/// `lbm_runtime::operator` describes them.
pub fn c_prototypes(op: &OperatorInfo) -> String {
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

/// Compiles `src` into `dir/unit.so`.
fn compile(src: &str, dir: &Path) -> Result<std::path::PathBuf, String> {
    let c = dir.join("unit.c");
    let so = dir.join("unit.so");
    std::fs::write(&c, src).map_err(|e| e.to_string())?;
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
        .map_err(|e| format!("the system C compiler `cc` is needed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc rejected the unit:\n{}{}\n--- source ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            number_lines(src)
        ));
    }
    Ok(so)
}
