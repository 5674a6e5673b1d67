//! The CUDA backend: generated kernels compiled by NVRTC at run time, launched through
//! cudarc on one device.
//!
//! - [`driver`]: the device, found once per process; a missing driver or device is
//!   [`LbmError::BackendUnavailable`], never a panic.
//! - `layout`: where each bound parameter lives in the kernels' buffers; `buffers`: those
//!   buffers on the device, uploads and downloads.
//! - `skeleton`: the kernel text around the operators' C (fused pull step, adjoint step,
//!   reductions, loss and seed).
//! - [`tune`]: register caps of the step kernels, chosen from their register use;
//!   [`bounds`]: the same choice worked out with NVRTC alone, for any architecture;
//!   [`autotune`]: each candidate timed on the device, the fastest recorded (`measured`)
//!   and taken over the rule from then on.
//! - [`cache`]: NVRTC compilation for the device's architecture, cached on disk.
//! - `engine`: device buffers and launches; `crate::backend::cuda` puts it behind the
//!   backend interface that simulations and the checkpointing drivers use.
//! - [`profile`]: timings of steps and of device copies, for benchmarks.
//! - [`step_sources`]: the C of a step's modules as text, without a device.
//!
//! States on the device are structures of arrays, `f[i * cells + cell]`; the public
//! cell-major layout is converted on upload and download.

pub mod autotune;
pub mod bounds;
pub(crate) mod buffers;
pub mod cache;
pub mod driver;
pub(crate) mod engine;
mod entry;
mod fnv;
pub(crate) mod halo;
pub(crate) mod halo_parts;
mod layout;
mod measured;
pub mod profile;
mod skeleton;
mod sources;
pub(crate) mod stored;
pub mod tune;

use crate::error::{LbmError, Result};
use crate::nvrtc::{nvrtc_available, INSTALL_HINT};

use driver::device;
pub use sources::{step_sources, StateFormat, StepSources};

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
