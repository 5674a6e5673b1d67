//! Timings on the GPU, for benchmarks: forward and adjoint steps without host transfers,
//! and the device's copy bandwidth. Times come from CUDA events around the timed launches,
//! after a warm-up.

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaEvent, CudaSlice};

use super::buffers::GpuReal;
use super::driver::{cuda_err, device, guard, Device};
use super::engine::Engine;
use super::stored::{Bf16Bits, F16Bits, GpuStore};
use super::tune::Kernel;
use crate::bind::Step;
use crate::error::{LbmError, Result};
use crate::grid::Grid;
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::Streaming;

/// Untimed steps before a timing.
const WARMUP: usize = 10;

/// Runs `$f::<R, S>(args)` for the real type of `$precision` and the stored type of
/// `$storage`, or errors for a pair no simulation uses.
macro_rules! typed {
    ($f:ident, $precision:expr, $storage:expr, $($arg:expr),*) => {
        match ($precision, $storage) {
            (Precision::F32, Storage::Compute) => $f::<f32, f32>($($arg),*),
            (Precision::F64, Storage::Compute) => $f::<f64, f64>($($arg),*),
            (Precision::F32, Storage::F16) => $f::<f32, F16Bits>($($arg),*),
            (Precision::F32, Storage::BF16) => $f::<f32, Bf16Bits>($($arg),*),
            (Precision::F64, storage) => Err(LbmError::BackendUnavailable(format!(
                "{storage} storage computes in f32"
            ))),
        }
    };
}

/// The time of repeated steps on a grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Cells of the grid.
    pub cells: usize,
    /// Steps timed.
    pub steps: usize,
    /// Seconds for all of them.
    pub seconds: f64,
}

impl Timing {
    /// Million lattice-cell updates per second.
    pub fn mlups(&self) -> f64 {
        self.cells as f64 * self.steps as f64 / self.seconds / 1e6
    }
}

/// What a step kernel was compiled for and what it uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelInfo {
    /// The kernel's name.
    pub name: &'static str,
    /// The minimum resident blocks per multiprocessor it was compiled for
    /// (see [`super::tune`]).
    pub min_blocks: u32,
    /// Registers per thread.
    pub registers: u32,
    /// Local memory (stack and register spills) per thread, in bytes.
    pub local_bytes: u32,
}

/// The forward and adjoint kernels of `step` on `grid`, compiled (or loaded) as a
/// simulation computing in `precision` with states kept as `storage` would.
pub fn kernel_info(
    grid: &Grid,
    step: &Step,
    precision: Precision,
    storage: Storage,
) -> Result<Vec<KernelInfo>> {
    let kernels = kernels(grid, step, (precision, storage), Streaming::TwoStates)?;
    Ok(kernels.into_iter().map(|(info, _)| info).collect())
}

/// The step's kernels, each with the key of its measured bound (`super::measured`), as
/// a simulation streaming as `streaming` says would build them.
pub(crate) fn kernels(
    grid: &Grid,
    step: &Step,
    (precision, storage): (Precision, Storage),
    streaming: Streaming,
) -> Result<Vec<(KernelInfo, u128)>> {
    super::check_available()?;
    guard("inspecting kernels", || {
        typed!(kernels_typed, precision, storage, grid, step, streaming)
    })
}

fn kernels_typed<R: GpuReal, S: GpuStore>(
    grid: &Grid,
    step: &Step,
    streaming: Streaming,
) -> Result<Vec<(KernelInfo, u128)>> {
    let step = step.bind(grid)?;
    let mut engine =
        Engine::<R, S>::with_streaming(device()?, grid, &step, R::PRECISION, streaming)?;
    engine.ensure_adjoint()?;
    let info = |(name, k): (&'static str, &Kernel)| {
        let info = KernelInfo {
            name,
            min_blocks: k.min_blocks,
            registers: k.resources.registers,
            local_bytes: k.resources.local_bytes,
        };
        (info, k.key)
    };
    Ok(engine.kernels().into_iter().map(info).collect())
}

/// The device's name and compute capability, as `"NVIDIA H100 (sm_90)"`.
pub fn device_name() -> Result<String> {
    let dev = device()?;
    Ok(format!("{} (sm_{}{})", dev.name, dev.arch.0, dev.arch.1))
}

/// The device's compute capability as one number, `90` for `sm_90`: the architecture its
/// kernels are compiled for (and [`super::bounds::predicted_bounds`] takes).
pub fn device_arch() -> Result<u32> {
    Ok(device()?.sm())
}

fn timing_event(dev: &Device) -> Result<CudaEvent> {
    dev.ctx
        .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
        .map_err(cuda_err("creating a timing event"))
}

/// Seconds taken by the work `f` submits, measured with events on the backend's stream.
fn time(dev: &Device, f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let (start, end) = (timing_event(dev)?, timing_event(dev)?);
    start
        .record(&dev.stream)
        .map_err(cuda_err("recording an event"))?;
    f()?;
    end.record(&dev.stream)
        .map_err(cuda_err("recording an event"))?;
    let ms = start
        .elapsed_ms(&end)
        .map_err(cuda_err("reading an event"))?;
    Ok(f64::from(ms) / 1e3)
}

/// Times `steps` forward steps of `step` on `grid` from `initial` (cell-major), computing
/// in `precision` with states kept as `storage` and streamed as `streaming` says (in
/// place, one state).
pub fn time_forward(
    grid: &Grid,
    step: &Step,
    (precision, storage): (Precision, Storage),
    streaming: Streaming,
    initial: &[f64],
    steps: usize,
) -> Result<Timing> {
    super::check_available()?;
    guard("timing forward steps", || {
        typed!(
            forward_typed,
            precision,
            storage,
            grid,
            step,
            streaming,
            initial,
            steps
        )
    })
}

fn forward_typed<R: GpuReal, S: GpuStore>(
    grid: &Grid,
    step: &Step,
    streaming: Streaming,
    initial: &[f64],
    steps: usize,
) -> Result<Timing> {
    let dev = device()?;
    let bound = step.bind(grid)?;
    let engine = Engine::<R, S>::with_streaming(dev, grid, &bound, R::PRECISION, streaming)?;
    let mut a = engine.alloc_state()?;
    let mut b = engine.alloc_state()?;
    // In place the layout differs, which the timing does not see.
    engine.upload_state(initial, &mut a)?;
    let run = |n: usize, a: &mut CudaSlice<S>, b: &mut CudaSlice<S>| -> Result<()> {
        for t in 0..n {
            match streaming {
                Streaming::TwoStates => {
                    engine.forward_step(t, a, b)?;
                    std::mem::swap(a, b);
                }
                Streaming::InPlace => engine.forward_step_aa(t, t % 2 == 1, a, a)?,
            }
        }
        Ok(())
    };
    run(WARMUP, &mut a, &mut b)?;
    engine.synchronize()?;
    let seconds = time(dev, || run(steps, &mut a, &mut b))?;
    engine.check_flag()?;
    Ok(Timing {
        cells: grid.cells(),
        steps,
        seconds,
    })
}

/// Times `steps` adjoint steps of `step` on `grid` around the state `initial`, computing
/// in `precision` with states kept as `storage` and streamed as `streaming` says.
pub fn time_adjoint(
    grid: &Grid,
    step: &Step,
    (precision, storage): (Precision, Storage),
    streaming: Streaming,
    initial: &[f64],
    steps: usize,
) -> Result<Timing> {
    super::check_available()?;
    guard("timing adjoint steps", || {
        typed!(
            adjoint_typed,
            precision,
            storage,
            grid,
            step,
            streaming,
            initial,
            steps
        )
    })
}

fn adjoint_typed<R: GpuReal, S: GpuStore>(
    grid: &Grid,
    step: &Step,
    streaming: Streaming,
    initial: &[f64],
    steps: usize,
) -> Result<Timing> {
    let dev = device()?;
    let bound = step.bind(grid)?;
    let mut engine = Engine::<R, S>::with_streaming(dev, grid, &bound, R::PRECISION, streaming)?;
    engine.ensure_adjoint()?;
    let mut s = engine.alloc_state()?;
    engine.upload_state(initial, &mut s)?;
    // Any adjoint will do: the step is linear in it. The state's values are at hand.
    let mut lambda = engine.alloc_adjoint()?;
    engine.upload_adjoint(initial, &mut lambda)?;
    let mut scratch = engine.alloc_adjoint()?;
    let run = |n: usize, lambda: &mut CudaSlice<R>, scratch: &mut CudaSlice<R>| {
        for k in 0..n {
            // Step 0 each time: a per-step binding need not cover the timed steps. In
            // place, the state is read in both layouts in turn, as a backward run does.
            let odd = streaming == Streaming::InPlace && k % 2 == 1;
            engine.adjoint_step(0, odd, &s, lambda, scratch)?;
            std::mem::swap(lambda, scratch);
        }
        Ok(())
    };
    run(WARMUP, &mut lambda, &mut scratch)?;
    engine.synchronize()?;
    let seconds = time(dev, || run(steps, &mut lambda, &mut scratch))?;
    Ok(Timing {
        cells: grid.cells(),
        steps,
        seconds,
    })
}

/// Device-to-device copy bandwidth in GB/s (bytes read plus bytes written, per second),
/// from `reps` copies of a `bytes`-byte buffer.
pub fn copy_bandwidth(bytes: usize, reps: usize) -> Result<f64> {
    super::check_available()?;
    guard("timing device copies", || {
        let dev = device()?;
        let src = dev
            .stream
            .alloc_zeros::<u8>(bytes.max(1))
            .map_err(cuda_err("allocating GPU memory"))?;
        let mut dst = dev
            .stream
            .alloc_zeros::<u8>(bytes.max(1))
            .map_err(cuda_err("allocating GPU memory"))?;
        let mut copy = |n: usize| -> Result<()> {
            for _ in 0..n {
                dev.stream
                    .memcpy_dtod(&src, &mut dst)
                    .map_err(cuda_err("copying on the GPU"))?;
            }
            Ok(())
        };
        copy(3)?;
        let seconds = time(dev, || copy(reps))?;
        Ok(2.0 * bytes as f64 * reps as f64 / seconds / 1e9)
    })
}

/// The device's default stream-ordered memory pool, from which every state, snapshot and
/// buffer of this backend is allocated.
fn memory_pool(dev: &Device) -> Result<cudarc::driver::sys::CUmemoryPool> {
    // SAFETY: the device comes from a live context.
    unsafe { cudarc::driver::result::device::get_default_mem_pool(dev.ctx.cu_device()) }
        .map_err(cuda_err("finding the device's memory pool"))
}

/// Starts a new measurement of [`peak_memory`].
pub fn reset_peak_memory() -> Result<()> {
    super::check_available()?;
    let dev = device()?;
    dev.stream
        .synchronize()
        .map_err(cuda_err("waiting for the GPU"))?;
    let mut zero = 0u64;
    // SAFETY: the high-water mark attribute takes a `cuuint64_t`, and only zero resets it.
    unsafe {
        cudarc::driver::result::mem_pool::set_attribute(
            memory_pool(dev)?,
            cudarc::driver::sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH,
            (&mut zero as *mut u64).cast(),
        )
    }
    .map_err(cuda_err("resetting the memory high-water mark"))
}

/// The most device memory this backend's allocations held at once since the last
/// [`reset_peak_memory`]: states, snapshots, adjoints and parameter buffers (kernel code
/// and page-locked host memory are not in it).
pub fn peak_memory() -> Result<u64> {
    super::check_available()?;
    let dev = device()?;
    dev.stream
        .synchronize()
        .map_err(cuda_err("waiting for the GPU"))?;
    let mut high = 0u64;
    // SAFETY: the high-water mark attribute is a `cuuint64_t`, which `high` is.
    unsafe {
        cudarc::driver::result::mem_pool::get_attribute(
            memory_pool(dev)?,
            cudarc::driver::sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH,
            (&mut high as *mut u64).cast(),
        )
    }
    .map_err(cuda_err("reading the memory high-water mark"))?;
    Ok(high)
}
