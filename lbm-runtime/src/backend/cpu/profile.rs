//! Timings of the CPU backend's steps, for benchmarks: the forward and the adjoint of one
//! step on states already in memory, as the GPU's kernel timings measure its kernels,
//! without the allocations and copies of a whole gradient around them.

use std::time::Instant;

use super::{CpuEngine, CpuReal};
use crate::backend::Engine;
use crate::bind::Step;
use crate::checkpoint::Stepper;
use crate::error::Result;
use crate::grid::Grid;
use crate::real::Precision;

/// Untimed steps before a timing.
const WARMUP: usize = 2;

/// Seconds per step of a step's forward and of its adjoint on the CPU, with the rayon
/// pool the caller runs in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepTimes {
    /// Seconds per forward step.
    pub forward: f64,
    /// Seconds per adjoint step (pass A and pass B, or the pass that writes slots).
    pub adjoint: f64,
}

/// Times `steps` forward steps and `steps` adjoint steps of `step` on `grid` in
/// `precision`, from the populations `initial` (cell-major, as
/// [`crate::Simulation::set_populations`] takes them).
pub fn time_steps(
    grid: &Grid,
    step: &Step,
    precision: Precision,
    initial: &[f64],
    steps: usize,
) -> Result<StepTimes> {
    match precision {
        Precision::F32 => time_typed::<f32>(grid, step, initial, steps),
        Precision::F64 => time_typed::<f64>(grid, step, initial, steps),
    }
}

fn time_typed<R: CpuReal>(
    grid: &Grid,
    step: &Step,
    initial: &[f64],
    steps: usize,
) -> Result<StepTimes> {
    let bound = step.bind(grid)?;
    let mut engine = CpuEngine::<R>::new(grid, &bound, R::PRECISION)?;
    let mut s = engine.alloc()?;
    engine.upload(initial, &mut s)?;
    let mut out = engine.alloc()?;
    let mut forward_step = || {
        engine.forward(0, &s, &mut out)?;
        std::mem::swap(&mut s, &mut out);
        Ok(())
    };
    seconds(WARMUP, &mut forward_step)?;
    let forward = seconds(steps, &mut forward_step)?;
    engine.check_divergence()?;
    // Any adjoint will do: the step is linear in it. The state's values are at hand.
    let mut lambda = engine.alloc_adjoint()?;
    engine.upload(initial, &mut lambda)?;
    let mut scratch = engine.alloc_adjoint()?;
    let mut adjoint_step = || {
        engine.adjoint(0, &s, &lambda, &mut scratch)?;
        std::mem::swap(&mut lambda, &mut scratch);
        Ok(())
    };
    seconds(WARMUP, &mut adjoint_step)?;
    let adjoint = seconds(steps, &mut adjoint_step)?;
    let per_step = |seconds: f64| seconds / steps.max(1) as f64;
    Ok(StepTimes {
        forward: per_step(forward),
        adjoint: per_step(adjoint),
    })
}

/// Seconds that `n` calls of `step` take.
fn seconds(n: usize, step: &mut impl FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..n {
        step()?;
    }
    Ok(start.elapsed().as_secs_f64())
}
