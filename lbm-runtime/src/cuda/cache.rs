//! Kernel modules: NVRTC compilation for the device's architecture, an on-disk cache of
//! the results, and the modules loaded in this process.
//!
//! A module is compiled to a cubin for the device's exact architecture (`sm_XY`), so
//! loading it needs no JIT; when NVRTC does not know the architecture, or the driver does
//! not take the cubin, it falls back to PTX for the newest virtual architecture that fits.
//! Results are stored under [`cache_dir`], named by a hash of the source, the options, the
//! architecture and the NVRTC and driver versions, each in an entry whose header is checked
//! before the driver sees it (`entry`): a second run loads them without compiling, a
//! damaged entry is removed and rebuilt, and nothing is printed either way.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cudarc::driver::CudaModule;
use cudarc::nvrtc::{result as nvrtc_result, sys as nvrtc_sys, Ptx};

use super::driver::{guard, Device};
use super::fnv::fnv128;
use crate::error::{LbmError, Result};
use crate::nvrtc::{library_not_found, number_lines, nvrtc_available, NvrtcError};

/// The environment variable naming the kernel cache directory.
pub const CACHE_ENV: &str = "LBM_CACHE_DIR";

/// Bumped when the cache's naming changes (the entry format has its own version).
const FORMAT: &str = "lbm-kernel-cache-v2";

/// The program name NVRTC uses in its diagnostics.
const PROGRAM_NAME: &str = "lbm_module.cu";

/// Where compiled modules are kept: `$LBM_CACHE_DIR`, else `lbm/kernels` in the
/// platform's cache folder (`dirs::cache_dir`: `$XDG_CACHE_HOME` or `~/.cache` on Linux,
/// `~/Library/Caches` on macOS, the local application data on Windows), else a folder in
/// the system's temporary directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    match dirs::cache_dir() {
        Some(dir) => dir.join("lbm").join("kernels"),
        // No home folder to cache in (a service account, a bare container): the cache
        // then lasts as long as the temporary directory does.
        None => std::env::temp_dir().join("lbm-kernels"),
    }
}

/// What NVRTC produces for a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// Machine code for one architecture (`sm_XY`).
    Cubin,
    /// PTX for a virtual architecture (`compute_XY`), compiled by the driver when loaded.
    Ptx,
}

/// The architectures NVRTC can compile for, as `major * 10 + minor` (empty when NVRTC is
/// missing).
fn supported_archs() -> Vec<i32> {
    if !nvrtc_available() {
        return Vec::new();
    }
    let mut n = 0;
    // SAFETY: `n` is valid for writes during the call.
    if unsafe { nvrtc_sys::nvrtcGetNumSupportedArchs(&mut n) }
        .result()
        .is_err()
        || n <= 0
    {
        return Vec::new();
    }
    let mut archs = vec![0i32; n as usize];
    // SAFETY: `archs` has room for the `n` values NVRTC reported.
    if unsafe { nvrtc_sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) }
        .result()
        .is_err()
    {
        return Vec::new();
    }
    archs
}

/// Compiles `source` with `options` and returns the cubin or the PTX.
fn compile(source: &str, options: &[String], output: Output) -> Result<Vec<u8>> {
    if !nvrtc_available() {
        return Err(library_not_found().into());
    }
    let src = CString::new(source).map_err(|e| NvrtcError::NulInSource {
        offset: e.nul_position(),
    })?;
    let name = CString::new(PROGRAM_NAME).expect("no NUL in the program name");
    let api = |e: nvrtc_result::NvrtcError| LbmError::from(NvrtcError::Api(e.to_string()));
    let prog = nvrtc_result::create_program(&src, Some(&name)).map_err(api)?;
    // SAFETY: `prog` was just created and is destroyed once, below, after its last use;
    // `src` and `name` outlive it.
    let result = unsafe { nvrtc_result::compile_program(prog, options) };
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
        .map_err(api),
        Err(_) => {
            // SAFETY: `prog` is a live program whose compilation was attempted.
            let log = unsafe { nvrtc_result::get_program_log(prog) }
                .map(|l| {
                    let bytes: Vec<u8> = l.into_iter().map(|c| c as u8).collect();
                    String::from_utf8_lossy(&bytes)
                        .trim_end_matches('\0')
                        .trim_end()
                        .to_string()
                })
                .unwrap_or_default();
            Err(NvrtcError::Compile {
                log,
                options: options.to_vec(),
                source_with_line_numbers: number_lines(source),
            }
            .into())
        }
    };
    // SAFETY: `prog` is live and not used after this.
    let _ = unsafe { nvrtc_result::destroy_program(prog) };
    out
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

/// The NVRTC and driver versions, part of every cache key: a cubin from another compiler
/// or for another driver is another entry, never a stale hit.
fn toolchain_versions() -> String {
    static VERSIONS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSIONS
        .get_or_init(|| {
            let (mut major, mut minor, mut driver) = (0, 0, 0);
            if nvrtc_available() {
                // SAFETY: both pointers are valid for writes during the call.
                let _ = unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) };
            }
            // SAFETY: `driver` is valid for writes; the driver was loaded to find the device.
            let _ = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver) };
            format!("nvrtc {major}.{minor}, driver {driver}")
        })
        .clone()
}

/// Modules loaded in this process, by cache key and device ordinal.
type Loaded = Mutex<HashMap<(u128, usize), Arc<CudaModule>>>;

/// Modules already loaded in this process, by cache key and device ordinal.
fn loaded() -> &'static Loaded {
    static LOADED: std::sync::OnceLock<Loaded> = std::sync::OnceLock::new();
    LOADED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Forgets the modules this process has loaded, so the next build of each reads the disk
/// cache (or compiles): what a benchmark of cache loads needs. Kernels already handed to
/// simulations stay loaded.
pub fn forget_loaded_modules() {
    loaded().lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// How one module is built: the output kind and the NVRTC options.
fn plans(dev: &Device) -> Vec<(Output, Vec<String>)> {
    let arch = dev.arch.0 * 10 + dev.arch.1;
    let archs = supported_archs();
    let mut plans = Vec::new();
    if archs.is_empty() || archs.contains(&arch) {
        plans.push((Output::Cubin, vec![format!("--gpu-architecture=sm_{arch}")]));
    }
    // PTX for the newest architecture NVRTC knows that the device can run.
    let virt = archs
        .iter()
        .copied()
        .filter(|&a| a <= arch)
        .max()
        .unwrap_or(arch);
    plans.push((
        Output::Ptx,
        vec![format!("--gpu-architecture=compute_{virt}")],
    ));
    plans
}

/// The module compiled from `source` for the device: from this process's modules, from
/// the disk cache, or compiled now (and stored).
pub(crate) fn module(dev: &'static Device, source: &str) -> Result<Arc<CudaModule>> {
    guard("loading kernels", || {
        let arch = format!("{}.{}", dev.arch.0, dev.arch.1);
        let mut errors = Vec::new();
        for (output, options) in plans(dev) {
            let key = fnv128(&[
                FORMAT.as_bytes(),
                source.as_bytes(),
                options.join(" ").as_bytes(),
                arch.as_bytes(),
                toolchain_versions().as_bytes(),
            ]);
            // Holding the lock while compiling keeps two threads from compiling the same
            // module at once.
            let mut map = loaded().lock().unwrap_or_else(|p| p.into_inner());
            // A module is loaded into one device's context: the key names the device.
            if let Some(m) = map.get(&(key, dev.ordinal)) {
                return Ok(m.clone());
            }
            match load(dev, key, source, &options, output) {
                Ok(m) => {
                    map.insert((key, dev.ordinal), m.clone());
                    return Ok(m);
                }
                // A source NVRTC rejects fails the same way for every plan.
                Err(e @ LbmError::Nvrtc(NvrtcError::Compile { .. })) => return Err(e),
                Err(e @ LbmError::Nvrtc(NvrtcError::LibraryNotFound { .. })) => return Err(e),
                Err(e) => errors.push(format!("{output:?} ({}): {e}", options.join(" "))),
            }
        }
        Err(LbmError::Cuda(format!(
            "no kernel image could be loaded on {} (compute capability {arch}): {}",
            dev.name,
            errors.join("; ")
        )))
    })
}

/// Loads the module with cache key `key` from disk, or compiles and stores it.
fn load(
    dev: &Device,
    key: u128,
    source: &str,
    options: &[String],
    output: Output,
) -> Result<Arc<CudaModule>> {
    let ext = match output {
        Output::Cubin => "cubin",
        Output::Ptx => "ptx",
    };
    let dir = cache_dir();
    let path = dir.join(format!("{key:032x}.{ext}"));
    let image = |bytes: Vec<u8>| match output {
        Output::Cubin => Ptx::from_binary(bytes),
        Output::Ptx => Ptx::from_src(String::from_utf8_lossy(&bytes).into_owned()),
    };
    if let Some(bytes) = super::entry::read(&path, key) {
        // A PTX payload becomes a C string for the driver: one with a NUL inside would
        // pass the hash only if it was stored that way, so it is refused here too.
        let usable = output == Output::Cubin || !bytes.contains(&0);
        if usable {
            if let Ok(m) = dev.ctx.load_module(image(bytes)) {
                return Ok(m);
            }
        }
        // Intact but not loadable (a driver that changed under it): compile again and
        // replace it.
        let _ = std::fs::remove_file(&path);
    }
    let bytes = compile(source, options, output)?;
    super::entry::write(&path, key, &bytes);
    dev.ctx
        .load_module(image(bytes))
        .map_err(|e| LbmError::Cuda(format!("loading a {ext} module: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_follows_the_environment_variable() {
        // Only read here: setting variables would race with other tests.
        if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
            assert_eq!(cache_dir(), PathBuf::from(dir));
        } else if let Some(platform) = dirs::cache_dir() {
            assert_eq!(cache_dir(), platform.join("lbm").join("kernels"));
        } else {
            assert_eq!(cache_dir(), std::env::temp_dir().join("lbm-kernels"));
        }
    }

    #[test]
    fn compile_errors_carry_the_log() {
        if !nvrtc_available() {
            return;
        }
        let err = compile(
            "this is not C",
            &["--gpu-architecture=compute_90".to_string()],
            Output::Ptx,
        )
        .unwrap_err();
        assert!(
            matches!(err, LbmError::Nvrtc(NvrtcError::Compile { .. })),
            "{err}"
        );
        let ptx = compile(
            "extern \"C\" __global__ void k(float* x) { x[0] = 1.0f; }",
            &["--gpu-architecture=compute_90".to_string()],
            Output::Ptx,
        )
        .unwrap();
        assert!(String::from_utf8_lossy(&ptx).contains(".entry k"));
        let cubin = compile(
            "extern \"C\" __global__ void k(float* x) { x[0] = 1.0f; }",
            &["--gpu-architecture=sm_90".to_string()],
            Output::Cubin,
        )
        .unwrap();
        assert_eq!(&cubin[..4], b"\x7fELF");
    }
}
