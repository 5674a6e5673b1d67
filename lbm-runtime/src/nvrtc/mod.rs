//! NVRTC compilation of generated C units to PTX.
//!
//! NVRTC is loaded at run time (cudarc's `dynamic-loading`), so a machine without CUDA can
//! still build and test everything else. cudarc panics when it cannot find the library;
//! `compile` looks for the library first and turns its absence into
//! [`NvrtcError::LibraryNotFound`], with a hint on how to install it.
//!
//! The error type, the hint and [`number_lines`] need no CUDA and are here in every build
//! (`LbmError` carries the error, the native C checks number their sources); loading and
//! compiling (`compile_ptx`, `nvrtc_available`, ...) come with the `cuda` feature.

#[cfg(feature = "cuda")]
mod compile;
#[cfg(feature = "cuda")]
pub(crate) mod program;
#[cfg(feature = "cuda")]
mod report;

#[cfg(feature = "cuda")]
pub use compile::{compile_ptx, nvrtc_available, nvrtc_for_test, nvrtc_version, Ptx, REQUIRE_ENV};
#[cfg(feature = "cuda")]
pub use report::{kernel_resources, KernelResources};

/// How to get NVRTC without a CUDA toolkit; shown when the library is missing.
pub const INSTALL_HINT: &str = "install NVRTC with `source .ci/nvrtc-env.sh` from the \
    repository root (it runs `pip install --target .nvrtc nvidia-cuda-nvrtc==13.0.*` and \
    exports LD_LIBRARY_PATH), or point LD_LIBRARY_PATH at a CUDA 13 toolkit's lib64";

/// An error from NVRTC: loading the library, or compiling a unit (`compile_ptx` and the
/// CUDA backend's kernel cache).
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

/// Prefixes every line with its 1-based number, as NVRTC's log counts them.
pub fn number_lines(source: &str) -> String {
    let width = source.lines().count().max(1).to_string().len();
    source
        .lines()
        .enumerate()
        .map(|(i, line)| format!("{:>width$} | {line}\n", i + 1))
        .collect()
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
}
