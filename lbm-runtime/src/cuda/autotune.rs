//! Register bounds chosen by timing them: every candidate bound of a step's forward and
//! adjoint kernels is timed on this device, and the fastest of each is recorded, so
//! every later simulation of the same step on the same grid (in this process or another)
//! compiles its kernels for it instead of the rule's pick (`super::measured`).

use super::measured;
use super::profile::{self, KernelInfo, Timing};
use super::tune::{with_forced_bound, Role};
use crate::bind::Step;
use crate::error::{LbmError, Result};
use crate::grid::Grid;
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::Streaming;

/// A step kernel's bounds, timed on this device.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasuredBounds {
    /// The kernel's name.
    pub kernel: &'static str,
    /// The bound the rule picks (what the kernel was compiled for before).
    pub rule: u32,
    /// Each bound timed, from 1 (none) to its role's most blocks, with its MLUPS and
    /// what the kernel then uses.
    pub timings: Vec<(KernelInfo, f64)>,
    /// The fastest bound: recorded, so the engine compiles the kernel for it from now on.
    pub fastest: u32,
}

/// Times `steps` forward and `steps / 2` adjoint steps (at least one) of `step` on
/// `grid`, from the cell-major state `initial`, for every bound of each kernel, and
/// records the fastest of each for this device; returns what was timed. The simulation
/// computes in `precision`, keeps its states as `storage` and streams as `streaming`.
/// Before timing, any bound recorded earlier is forgotten, so `rule` is the rule's.
pub fn measure_bounds(
    grid: &Grid,
    step: &Step,
    numbers: (Precision, Storage),
    streaming: Streaming,
    initial: &[f64],
    steps: usize,
) -> Result<Vec<MeasuredBounds>> {
    let (precision, storage) = numbers;
    let roles = [Role::forward(storage, streaming), Role::adjoint(precision)];
    let before = profile::kernels(grid, step, numbers, streaming)?;
    for (_, key) in &before {
        measured::forget(*key);
    }
    let rule = profile::kernels(grid, step, numbers, streaming)?;
    let adjoint_steps = (steps / 2).max(1);
    let mut out = Vec::new();
    for (k, ((info, key), role)) in rule.iter().zip(roles).enumerate() {
        let mut timings = Vec::new();
        for m in 1..=role.most_blocks() {
            let timed = with_forced_bound(m, || -> Result<(KernelInfo, Timing)> {
                let timing = if k == 0 {
                    profile::time_forward(grid, step, numbers, streaming, initial, steps)?
                } else {
                    let s = adjoint_steps;
                    profile::time_adjoint(grid, step, numbers, streaming, initial, s)?
                };
                let kernels = profile::kernels(grid, step, numbers, streaming)?;
                Ok((kernels[k].0.clone(), timing))
            })?;
            if timed.0.min_blocks != m {
                return Err(LbmError::Cuda(format!(
                    "{} was compiled for {} blocks where {m} were forced ({} is set?)",
                    info.name,
                    timed.0.min_blocks,
                    super::tune::MIN_BLOCKS_ENV
                )));
            }
            timings.push((timed.0, timed.1.mlups()));
        }
        let fastest = timings
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(info.min_blocks, |t| t.0.min_blocks);
        measured::record(*key, fastest);
        out.push(MeasuredBounds {
            kernel: info.name,
            rule: info.min_blocks,
            timings,
            fastest,
        });
    }
    Ok(out)
}
