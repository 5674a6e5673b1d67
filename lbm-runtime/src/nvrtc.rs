//! NVRTC compilation of generated C units to PTX.
//!
//! NVRTC is loaded at run time (cudarc's `dynamic-loading`), so a machine without CUDA can
//! still build and test everything else. cudarc panics when it cannot find the library;
//! this module looks for the library first and turns its absence into
//! [`NvrtcError::LibraryNotFound`], with a hint on how to install it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use cudarc::nvrtc::{CompileError, CompileOptions};

/// Compiled PTX, ready for `cudarc::driver::CudaContext::load_module`.
pub use cudarc::nvrtc::Ptx;

/// How to get NVRTC without a CUDA toolkit; shown when the library is missing.
pub const INSTALL_HINT: &str = "install NVRTC with `source .ci/nvrtc-env.sh` from the \
    repository root (it runs `pip install --target .nvrtc nvidia-cuda-nvrtc==13.0.*` and \
    exports LD_LIBRARY_PATH), or point LD_LIBRARY_PATH at a CUDA 13 toolkit's lib64";

/// The program name NVRTC uses in its diagnostics (`lbm_unit.cu(12): error: ...`).
const PROGRAM_NAME: &str = "lbm_unit.cu";

/// An error from [`compile_ptx`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum NvrtcError {
    /// No NVRTC shared library could be loaded.
    #[error("NVRTC is not available: none of {searched:?} could be loaded; {hint}")]
    LibraryNotFound {
        /// The library names tried, in order (found through the dynamic loader's search path).
        searched: Vec<String>,
        /// How to make the library available.
        hint: &'static str,
    },
    /// NVRTC rejected the source.
    #[error(
        "NVRTC could not compile the unit (options {options:?}):\n{log}\n\
         --- source ---\n{source_with_line_numbers}"
    )]
    Compile {
        /// NVRTC's compilation log.
        log: String,
        /// The options the compilation ran with.
        options: Vec<String>,
        /// The source, each line prefixed with its number, to read the log against.
        source_with_line_numbers: String,
    },
    /// The source holds a NUL byte, which NVRTC's C API cannot take.
    #[error("the source holds a NUL byte at offset {offset}")]
    NulInSource {
        /// Byte offset of the first NUL.
        offset: usize,
    },
    /// An NVRTC call other than the compilation itself failed.
    #[error("NVRTC failed: {0}")]
    Api(String),
    /// cudarc panicked inside NVRTC (for example, a symbol missing from an old library).
    #[error("NVRTC panicked: {0}")]
    Panicked(String),
}

/// The library names cudarc tries, in its order, without its repeats.
fn candidates() -> Vec<String> {
    let mut names = cudarc::get_lib_name_candidates("nvrtc");
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
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
    let missing = NvrtcError::LibraryNotFound {
        searched: candidates(),
        hint: INSTALL_HINT,
    };
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{test}: {REQUIRE_ENV}=1 but {missing}");
    }
    eprintln!("notice: skipping {test}: {missing}");
    false
}

/// Prefixes every line with its 1-based number, as NVRTC's log counts them.
pub fn number_lines(source: &str) -> String {
    let width = source.lines().count().max(1).to_string().len();
    source
        .lines()
        .enumerate()
        .map(|(i, line)| format!("{:>width$} | {line}\n", i + 1))
        .collect()
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
        return Err(NvrtcError::LibraryNotFound {
            searched: candidates(),
            hint: INSTALL_HINT,
        });
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
    fn numbers_lines_from_one() {
        assert_eq!(number_lines("a\nb"), "1 | a\n2 | b\n");
        let ten = "x\n".repeat(10);
        assert!(number_lines(&ten).starts_with(" 1 | x\n"));
        assert!(number_lines(&ten).ends_with("10 | x\n"));
    }

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
