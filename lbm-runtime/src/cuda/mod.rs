//! The CUDA backend: generated kernels compiled by NVRTC at run time, launched through
//! cudarc on one device.
//!
//! - [`driver`]: the device, found once per process; a missing driver or device is
//!   [`LbmError::BackendUnavailable`], never a panic.
//! - `layout`: where each bound parameter lives in the kernels' buffers; `buffers`: those
//!   buffers on the device, uploads and downloads.
//! - `skeleton`: the kernel text around the operators' C (fused pull step, adjoint step,
//!   reductions, loss and seed).
//! - [`tune`]: register caps of the step kernels, chosen from their register use.
//! - [`cache`]: NVRTC compilation for the device's architecture, cached on disk.
//! - `engine`: device buffers and launches, and the `Stepper` that the store-all and
//!   revolve drivers of [`crate::checkpoint`] run on.
//! - [`profile`]: timings of steps and of device copies, for benchmarks.
//!
//! States on the device are structures of arrays, `f[i * cells + cell]`; the public
//! cell-major layout is converted on upload and download.

mod buffers;
pub mod cache;
pub mod driver;
mod engine;
mod layout;
pub mod profile;
mod skeleton;
pub mod tune;

use crate::bind::{Bound, BoundObjective};
use crate::checkpoint::{backward, Checkpointing};
use crate::error::{LbmError, Result};
use crate::gradients::Gradients;
use crate::grid::Grid;
use crate::nvrtc::{nvrtc_available, INSTALL_HINT};
use crate::real::Precision;

use buffers::GpuReal;
use driver::{device, guard};
use engine::{Engine, Mode, CHECK_EVERY};

/// Whether a CUDA driver, a device and NVRTC are there to run kernels; the error says
/// which is missing ("no CUDA driver (libcuda.so) found", "no CUDA device", ...).
pub fn check_available() -> Result<()> {
    device()?;
    if !nvrtc_available() {
        return Err(LbmError::BackendUnavailable(format!(
            "NVRTC (libnvrtc.so) not found; {INSTALL_HINT}"
        )));
    }
    Ok(())
}

/// Runs `steps` steps from `f` (cell-major), the first being step `t0`, on the GPU.
pub(crate) fn run(
    grid: &Grid,
    step: &Bound,
    precision: Precision,
    f: &[f64],
    t0: usize,
    steps: usize,
) -> Result<Vec<f64>> {
    check_available()?;
    guard("running on the GPU", || match precision {
        Precision::F32 => run_typed::<f32>(grid, step, f, t0, steps),
        Precision::F64 => run_typed::<f64>(grid, step, f, t0, steps),
    })
}

fn run_typed<R: GpuReal>(
    grid: &Grid,
    step: &Bound,
    f: &[f64],
    t0: usize,
    steps: usize,
) -> Result<Vec<f64>> {
    let engine = Engine::<R>::new(device()?, grid, step, None, Mode::Forward)?;
    let mut cur = engine.upload_state(f)?;
    let mut next = engine.upload_state(f)?;
    for k in 0..steps {
        engine.forward_step(t0 + k, &cur, &mut next)?;
        std::mem::swap(&mut cur, &mut next);
        if (k + 1) % CHECK_EVERY == 0 || k + 1 == steps {
            engine.check_flag()?;
        }
    }
    engine.download_state(&cur)
}

/// The loss and its gradients over `steps` steps from `initial` (cell-major), on the GPU,
/// with the same checkpointing drivers and result shapes as the CPU backend.
pub(crate) fn gradient(
    grid: &Grid,
    step: &Bound,
    objective: &BoundObjective,
    precision: Precision,
    initial: &[f64],
    steps: usize,
    checkpointing: Checkpointing,
) -> Result<Gradients> {
    check_available()?;
    let mode = Mode::Gradient;
    guard("computing gradients on the GPU", || match precision {
        Precision::F32 => {
            gradient_with::<f32>(grid, step, objective, initial, steps, checkpointing, mode)
        }
        Precision::F64 => {
            gradient_with::<f64>(grid, step, objective, initial, steps, checkpointing, mode)
        }
    })
}

/// [`gradient`] of an `f32` simulation with the adjoint in `f64`
/// ([`AdjointPrecision::F64`](crate::AdjointPrecision)): every state is the `f32` run's,
/// held in `f64`, and the loss, its seeds and the adjoint run in `f64`.
pub(crate) fn gradient_mixed(
    grid: &Grid,
    step: &Bound,
    objective: &BoundObjective,
    initial: &[f64],
    steps: usize,
    checkpointing: Checkpointing,
) -> Result<Gradients> {
    check_available()?;
    // The initial state is rounded to f32 like every state of the f32 forward.
    let initial: Vec<f64> = initial.iter().map(|v| f64::from(*v as f32)).collect();
    guard("computing gradients on the GPU", || {
        gradient_with::<f64>(
            grid,
            step,
            objective,
            &initial,
            steps,
            checkpointing,
            Mode::MixedGradient,
        )
    })
}

fn gradient_with<R: GpuReal>(
    grid: &Grid,
    step: &Bound,
    objective: &BoundObjective,
    initial: &[f64],
    steps: usize,
    checkpointing: Checkpointing,
    mode: Mode,
) -> Result<Gradients> {
    let mut engine = Engine::<R>::new(device()?, grid, step, Some(objective), mode)?;
    engine.set_run_steps(steps);
    let init = engine.upload_state(initial)?;
    let (loss, lambda, report) = backward(&mut engine, &init, steps, checkpointing)?;
    let initial = engine.download_state(&lambda)?;
    let params = engine.param_gradients()?;
    Ok(Gradients {
        loss,
        initial,
        params,
        report,
    })
}
