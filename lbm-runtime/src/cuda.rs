//! The CUDA backend: generated kernels compiled by NVRTC, launched through cudarc.
//!
//! Not implemented yet: every entry point returns [`LbmError::BackendUnavailable`], and
//! [`Backend::from_env`](crate::Backend::from_env) falls back to the CPU.

use crate::bind::{Bound, BoundObjective};
use crate::checkpoint::Checkpointing;
use crate::error::{LbmError, Result};
use crate::gradients::Gradients;
use crate::grid::Grid;
use crate::real::Precision;

fn unavailable() -> LbmError {
    LbmError::BackendUnavailable("the CUDA backend is not implemented yet".into())
}

/// Whether a CUDA driver and device can run kernels here.
pub fn check_available() -> Result<()> {
    Err(unavailable())
}

/// Runs `steps` steps on the GPU.
pub(crate) fn run(
    _grid: &Grid,
    _step: &Bound,
    _p: Precision,
    _f: &[f64],
    _t0: usize,
    _steps: usize,
) -> Result<Vec<f64>> {
    Err(unavailable())
}

/// A backward run on the GPU.
pub(crate) fn gradient(
    _grid: &Grid,
    _step: &Bound,
    _objective: &BoundObjective,
    _p: Precision,
    _initial: &[f64],
    _steps: usize,
    _checkpointing: Checkpointing,
) -> Result<Gradients> {
    Err(unavailable())
}
