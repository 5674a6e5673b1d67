//! One NVRTC program, through NVRTC's C API: compiled to a cubin or to PTX, with the
//! compiler's log kept on success as well as on failure (`ptxas -v` reports registers and
//! spills there, which [`super::report`] reads).

use std::ffi::CString;

use cudarc::nvrtc::{result as nvrtc_result, sys as nvrtc_sys};

use super::compile::library_not_found;
use super::{number_lines, nvrtc_available, NvrtcError};

/// The program name NVRTC uses in its diagnostics.
const PROGRAM_NAME: &str = "lbm_module.cu";

/// What NVRTC produces for a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Machine code for one architecture (`sm_XY`).
    Cubin,
    /// PTX for a virtual architecture (`compute_XY`), compiled by the driver when loaded.
    Ptx,
}

/// A compiled program.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    /// The cubin, or the PTX without its closing NUL.
    pub code: Vec<u8>,
    /// NVRTC's log (warnings, and with `--ptxas-options=-v` the resources of each kernel).
    pub log: String,
}

/// Compiles `source` with `options` into `output`.
pub(crate) fn compile_program(
    source: &str,
    options: &[String],
    output: Output,
) -> Result<Compiled, NvrtcError> {
    if !nvrtc_available() {
        return Err(library_not_found());
    }
    let src = CString::new(source).map_err(|e| NvrtcError::NulInSource {
        offset: e.nul_position(),
    })?;
    let name = CString::new(PROGRAM_NAME).expect("no NUL in the program name");
    let api = |e: nvrtc_result::NvrtcError| NvrtcError::Api(e.to_string());
    let prog = nvrtc_result::create_program(&src, Some(&name)).map_err(api)?;
    // SAFETY: `prog` was just created and is destroyed once, below, after its last use;
    // `src` and `name` outlive it.
    let result = unsafe { nvrtc_result::compile_program(prog, options) };
    // SAFETY: `prog` is a live program whose compilation was attempted.
    let log = unsafe { program_log(prog) };
    let out = match result {
        Ok(()) => match output {
            // SAFETY: `prog` is a live, compiled program.
            Output::Cubin => unsafe { cubin(prog) },
            // SAFETY: as above.
            Output::Ptx => unsafe { nvrtc_result::get_ptx(prog) }.map(|p| {
                p.into_iter()
                    .map(|c| c as u8)
                    .take_while(|&b| b != 0)
                    .collect()
            }),
        }
        .map(|code| Compiled { code, log })
        .map_err(api),
        Err(_) => Err(NvrtcError::Compile {
            log,
            options: options.to_vec(),
            source_with_line_numbers: number_lines(source),
        }),
    };
    // SAFETY: `prog` is live and not used after this.
    let _ = unsafe { nvrtc_result::destroy_program(prog) };
    out
}

/// The program's log, without its closing NUL and trailing blanks (empty if NVRTC cannot
/// give it).
///
/// # Safety
///
/// `prog` must be a live program whose compilation was attempted.
unsafe fn program_log(prog: nvrtc_sys::nvrtcProgram) -> String {
    // SAFETY: the caller guarantees `prog`.
    unsafe { nvrtc_result::get_program_log(prog) }
        .map(|l| {
            let bytes: Vec<u8> = l.into_iter().map(|c| c as u8).collect();
            String::from_utf8_lossy(&bytes)
                .trim_end_matches('\0')
                .trim_end()
                .to_string()
        })
        .unwrap_or_default()
}

/// The cubin of a compiled program.
///
/// # Safety
///
/// `prog` must be a live program that compiled successfully for a real architecture.
unsafe fn cubin(
    prog: nvrtc_sys::nvrtcProgram,
) -> std::result::Result<Vec<u8>, nvrtc_result::NvrtcError> {
    let mut size = 0usize;
    // SAFETY: the caller guarantees `prog`; `size` is valid for writes.
    unsafe { nvrtc_sys::nvrtcGetCUBINSize(prog, &mut size) }.result()?;
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` has the `size` bytes NVRTC asked for.
    unsafe { nvrtc_sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr().cast()) }.result()?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL: &str = "extern \"C\" __global__ void k(float* x) { x[0] = 1.0f; }";

    #[test]
    fn compile_errors_carry_the_log() {
        if !crate::nvrtc::nvrtc_for_test("compile_errors_carry_the_log") {
            return;
        }
        let err = compile_program(
            "this is not C",
            &["--gpu-architecture=compute_90".to_string()],
            Output::Ptx,
        )
        .unwrap_err();
        assert!(
            matches!(&err, NvrtcError::Compile { log, .. } if log.contains("error")),
            "{err}"
        );
        let ptx = compile_program(
            KERNEL,
            &["--gpu-architecture=compute_90".to_string()],
            Output::Ptx,
        )
        .unwrap();
        assert!(String::from_utf8_lossy(&ptx.code).contains(".entry k"));
        let cubin = compile_program(
            KERNEL,
            &["--gpu-architecture=sm_90".to_string()],
            Output::Cubin,
        )
        .unwrap();
        assert_eq!(&cubin.code[..4], b"\x7fELF");
    }

    #[test]
    fn a_successful_compilation_keeps_the_ptxas_report() {
        if !crate::nvrtc::nvrtc_for_test("a_successful_compilation_keeps_the_ptxas_report") {
            return;
        }
        let options = ["--gpu-architecture=sm_90", "--ptxas-options=-v"].map(String::from);
        let compiled = compile_program(KERNEL, &options, Output::Cubin).unwrap();
        assert!(
            compiled
                .log
                .contains("Compiling entry function 'k' for 'sm_90'"),
            "{}",
            compiled.log
        );
    }
}
