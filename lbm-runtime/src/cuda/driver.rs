//! The CUDA devices of the process: each found once, shared by every simulation on it.
//!
//! cudarc loads `libcuda` lazily and panics when it is missing or lacks a symbol, so the
//! library is looked for first and every driver call that could reach such a panic runs
//! under `guard`, which turns a panic into an error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use cudarc::driver::{CudaContext, CudaStream, DriverError};

use crate::error::{LbmError, Result};

/// The environment variable choosing the device ordinal (default 0).
pub const DEVICE_ENV: &str = "LBM_CUDA_DEVICE";

/// A CUDA device with its primary context and the stream every kernel runs on.
pub(crate) struct Device {
    /// The device's ordinal.
    pub ordinal: usize,
    /// The primary context.
    pub ctx: Arc<CudaContext>,
    /// The context's default stream: all work of this backend is ordered on it.
    pub stream: Arc<CudaStream>,
    /// Compute capability `(major, minor)`.
    pub arch: (i32, i32),
    /// The device's name.
    pub name: String,
    /// 32-bit registers per multiprocessor.
    pub regs_per_sm: u32,
}

impl Device {
    /// The compute capability as one number, `90` for `sm_90`: the architecture NVRTC
    /// compiles the device's kernels for.
    pub fn sm(&self) -> u32 {
        (self.arch.0 * 10 + self.arch.1) as u32
    }
}

/// Whether the CUDA driver library can be loaded.
fn driver_present() -> bool {
    // SAFETY: `is_culib_present` only `dlopen`s the candidate names and closes them again;
    // loading libcuda runs no initialisers with preconditions.
    catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() }).unwrap_or(false)
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Runs `f`, turning a panic inside cudarc into [`LbmError::Cuda`].
pub(crate) fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(LbmError::Cuda(format!(
            "{what}: the CUDA library panicked: {}",
            panic_message(payload.as_ref())
        )))
    })
}

/// A driver error as a runtime error, saying what was being done.
pub(crate) fn cuda_err(what: &str) -> impl Fn(DriverError) -> LbmError + '_ {
    move |e| LbmError::Cuda(format!("{what}: {e}"))
}

/// Lets the device's stream-ordered memory pool keep what is freed instead of returning
/// it to the driver at every synchronisation: a backward run frees and allocates states
/// of the same size on every call, which is then a pool hit rather than a new mapping.
/// Best effort: without a pool (or on failure) allocations are only slower.
fn keep_freed_memory(ctx: &CudaContext) {
    use cudarc::driver::{result, sys};
    let mut threshold = u64::MAX;
    // SAFETY: the device comes from a live context; the release threshold attribute takes
    // a `cuuint64_t`, which `threshold` is.
    unsafe {
        if let Ok(pool) = result::device::get_default_mem_pool(ctx.cu_device()) {
            let _ = result::mem_pool::set_attribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            );
        }
    }
}

/// Bytes the device can still give to new allocations: what the driver has free plus what
/// the stream-ordered pool holds but no buffer uses (see [`keep_freed_memory`]).
pub(crate) fn free_memory(dev: &Device) -> Result<usize> {
    use cudarc::driver::{result, sys};
    dev.ctx
        .bind_to_thread()
        .map_err(cuda_err("binding the CUDA context"))?;
    let (free, _total) = result::mem_get_info().map_err(cuda_err("reading free memory"))?;
    let attribute = |attr| -> Option<u64> {
        let mut v = 0u64;
        // SAFETY: the device comes from a live context; the pool attributes read here are
        // `cuuint64_t`, which `v` is.
        unsafe {
            let pool = result::device::get_default_mem_pool(dev.ctx.cu_device()).ok()?;
            result::mem_pool::get_attribute(pool, attr, (&mut v as *mut u64).cast()).ok()?;
        }
        Some(v)
    };
    let reserved = attribute(sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT);
    let used = attribute(sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_CURRENT);
    let idle = match (reserved, used) {
        (Some(r), Some(u)) => r.saturating_sub(u) as usize,
        _ => 0,
    };
    Ok(free.saturating_add(idle))
}

/// The ordinal `LBM_CUDA_DEVICE` names (default 0).
fn ordinal_from_env() -> std::result::Result<usize, String> {
    match std::env::var(DEVICE_ENV) {
        Ok(v) => v
            .parse::<usize>()
            .map_err(|_| format!("{DEVICE_ENV}={v} is not a device ordinal")),
        Err(_) => Ok(0),
    }
}

fn init(ordinal: usize) -> std::result::Result<Device, String> {
    if !driver_present() {
        let mut names = cudarc::get_lib_name_candidates("cuda");
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        return Err(format!(
            "no CUDA driver (libcuda.so) found: none of {names:?} could be loaded"
        ));
    }
    let found = catch_unwind(move || {
        let count = CudaContext::device_count().map_err(|e| match e.0 {
            cudarc::driver::sys::CUresult::CUDA_ERROR_NO_DEVICE => "no CUDA device".to_string(),
            _ => format!("the CUDA driver failed to start: {e}"),
        })?;
        if count <= 0 {
            return Err("no CUDA device".to_string());
        }
        if ordinal >= count as usize {
            return Err(format!(
                "CUDA device {ordinal} was asked for, but there are {count} CUDA devices"
            ));
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| format!("could not create a context on CUDA device {ordinal}: {e}"))?;
        // SAFETY: this backend submits all work to the context's default stream, so no
        // buffer is ever used on two streams and cudarc's per-buffer events are not needed.
        unsafe { ctx.disable_event_tracking() };
        keep_freed_memory(&ctx);
        let arch = ctx
            .compute_capability()
            .map_err(|e| format!("could not query the device: {e}"))?;
        let name = ctx.name().unwrap_or_else(|_| "unknown device".to_string());
        let regs_per_sm = ctx
            .attribute(
                cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR,
            )
            .map_or(65536, |r| r.max(1) as u32);
        let stream = ctx.default_stream();
        Ok(Device {
            ordinal,
            ctx,
            stream,
            arch,
            name,
            regs_per_sm,
        })
    });
    found.unwrap_or_else(|payload| {
        Err(format!(
            "the CUDA driver could not be used: {}",
            panic_message(payload.as_ref())
        ))
    })
}

/// Devices a process may open (the ordinals a [`crate::Devices`] set can name).
const MAX_DEVICES: usize = 64;

/// The process's CUDA device (`LBM_CUDA_DEVICE`, default 0), set up on first use.
pub(crate) fn device() -> Result<&'static Device> {
    let ordinal = ordinal_from_env().map_err(LbmError::BackendUnavailable)?;
    device_at(ordinal)
}

/// The CUDA device `ordinal`, set up on first use.
pub(crate) fn device_at(ordinal: usize) -> Result<&'static Device> {
    static DEVICES: [OnceLock<std::result::Result<Device, String>>; MAX_DEVICES] =
        [const { OnceLock::new() }; MAX_DEVICES];
    let Some(slot) = DEVICES.get(ordinal) else {
        return Err(LbmError::BackendUnavailable(format!(
            "CUDA device {ordinal} is beyond the {MAX_DEVICES} this backend can open"
        )));
    };
    slot.get_or_init(|| init(ordinal))
        .as_ref()
        .map_err(|why| LbmError::BackendUnavailable(why.clone()))
}
