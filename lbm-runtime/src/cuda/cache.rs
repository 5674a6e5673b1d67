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
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cudarc::driver::CudaModule;
use cudarc::nvrtc::{sys as nvrtc_sys, Ptx};

use super::driver::{guard, Device};
use super::fnv::fnv128;
use crate::error::{LbmError, Result};
use crate::nvrtc::program::{compile_program, Output};
use crate::nvrtc::{nvrtc_available, NvrtcError};

/// The environment variable naming the kernel cache directory.
pub const CACHE_ENV: &str = "LBM_CACHE_DIR";

/// Bumped when the cache's naming changes (the entry format has its own version).
const FORMAT: &str = "lbm-kernel-cache-v2";

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

/// The architectures NVRTC can compile for, as `major * 10 + minor` (empty when NVRTC is
/// missing).
pub(crate) fn supported_archs() -> Vec<i32> {
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
    Ok(compile_program(source, options, output)?.code)
}

/// The NVRTC and driver versions, part of every cache key: a cubin from another compiler
/// or for another driver is another entry, never a stale hit.
pub(crate) fn toolchain_versions() -> String {
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
    let arch = dev.sm() as i32;
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
}
