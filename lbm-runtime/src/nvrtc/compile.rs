//! Loading NVRTC and compiling a unit with it (the `cuda` feature): the library is looked
//! for before cudarc touches it, so its absence is an error and not a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use cudarc::nvrtc::{CompileError, CompileOptions};

use super::{number_lines, NvrtcError, INSTALL_HINT};

/// Compiled PTX, ready for `cudarc::driver::CudaContext::load_module`.
pub use cudarc::nvrtc::Ptx;

/// The program name NVRTC uses in its diagnostics (`lbm_unit.cu(12): error: ...`).
const PROGRAM_NAME: &str = "lbm_unit.cu";

/// The error for a missing library: the names cudarc tries, in its order, without its
/// repeats, and how to install one.
pub(crate) fn library_not_found() -> NvrtcError {
    let mut searched = cudarc::get_lib_name_candidates("nvrtc");
    let mut seen = std::collections::HashSet::new();
    searched.retain(|n| seen.insert(n.clone()));
    NvrtcError::LibraryNotFound {
        searched,
        hint: INSTALL_HINT,
    }
}

/// Whether the NVRTC library can be loaded. Checked once per process, because the dynamic
/// loader reads `LD_LIBRARY_PATH` only at start-up anyway.
pub fn nvrtc_available() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: `is_culib_present` only tries to `dlopen` the candidate names and closes them
    // again; loading libnvrtc runs no initialisers with preconditions.
    *PRESENT.get_or_init(|| unsafe { cudarc::nvrtc::sys::is_culib_present() })
}

/// The NVRTC version as `(major, minor)`, or `None` when NVRTC is not available.
pub fn nvrtc_version() -> Option<(i32, i32)> {
    if !nvrtc_available() {
        return None;
    }
    catch_unwind(|| {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: both pointers are valid for writes for the duration of the call.
        let rc = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
        (rc == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS).then_some((major, minor))
    })
    .ok()
    .flatten()
}

/// The environment variable that turns a missing NVRTC from a skipped test into a failure.
/// CI sets it (`.ci/run`), so NVRTC checks cannot silently stop running there.
pub const REQUIRE_ENV: &str = "LBM_REQUIRE_NVRTC";

/// For tests that need NVRTC: `true` when it is available; otherwise fails the test if
/// [`REQUIRE_ENV`] is `1`, and else prints a notice naming `test` and returns `false`, so the
/// caller returns early. Developers without NVRTC can still run the rest of the tests.
pub fn nvrtc_for_test(test: &str) -> bool {
    if nvrtc_available() {
        return true;
    }
    let missing = library_not_found();
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{test}: {REQUIRE_ENV}=1 but {missing}");
    }
    eprintln!("notice: skipping {test}: {missing}");
    false
}

/// Compiles a CUDA C unit to PTX with the given NVRTC `options` (for example
/// `--gpu-architecture=compute_90`, `-default-device`, `--std=c++17`).
///
/// Never panics for a missing library: returns [`NvrtcError::LibraryNotFound`] instead.
pub fn compile_ptx(source: &str, options: &[&str]) -> Result<Ptx, NvrtcError> {
    if let Some(offset) = source.find('\0') {
        return Err(NvrtcError::NulInSource { offset });
    }
    if !nvrtc_available() {
        return Err(library_not_found());
    }
    let opts = CompileOptions {
        options: options.iter().map(|s| s.to_string()).collect(),
        name: Some(PROGRAM_NAME.to_string()),
        ..Default::default()
    };
    // The library was found, so cudarc should not panic; but a library missing a symbol
    // cudarc expects still would, and a panic must not take down a caller that can fall back
    // to the CPU.
    let result = catch_unwind(AssertUnwindSafe(|| {
        cudarc::nvrtc::compile_ptx_with_opts(source, opts)
    }))
    .map_err(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string());
        NvrtcError::Panicked(msg)
    })?;
    result.map_err(|e| match e {
        CompileError::CompileError { log, options, .. } => NvrtcError::Compile {
            log: log.to_string_lossy().trim_end().to_string(),
            options,
            source_with_line_numbers: number_lines(source),
        },
        other => NvrtcError::Api(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_rejected_before_nvrtc() {
        assert!(matches!(
            compile_ptx("int x;\0", &[]),
            Err(NvrtcError::NulInSource { offset: 6 })
        ));
    }

    #[test]
    fn missing_library_is_an_error_not_a_panic() {
        if nvrtc_available() {
            return;
        }
        let err = compile_ptx("__global__ void k() {}", &[]).unwrap_err();
        assert!(matches!(err, NvrtcError::LibraryNotFound { .. }));
        assert!(err.to_string().contains("libnvrtc.so"), "{err}");
    }
}
