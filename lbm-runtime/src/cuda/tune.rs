//! Register caps of the step kernels.
//!
//! The adjoint of a step holds the gathered inputs, the output adjoints, the input adjoints
//! and the operator's tape at once; unbounded, it takes so many registers that one block
//! fits on a multiprocessor and arithmetic latency goes unhidden. Capping registers with
//! `__launch_bounds__(BLOCK, m)` trades spills for occupancy. Measured on an H200 (BGK,
//! D2Q9 and D3Q19, f32 and f64, every `m` from 1 to 4), the best `m` is the largest whose
//! cap keeps at least 60% of the registers the unbounded adjoint uses, and 85% of those the
//! unbounded forward step uses (a memory-bound kernel pays for spills in bandwidth).
//! `min_blocks` applies that rule to each kernel after compiling it unbounded once;
//! `LBM_CUDA_MIN_BLOCKS` forces a value.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaModule};

use super::cache::module;
use super::driver::Device;
use super::skeleton::BLOCK;
use crate::error::{LbmError, Result};

/// The environment variable forcing the minimum resident blocks of the step kernels.
pub const MIN_BLOCKS_ENV: &str = "LBM_CUDA_MIN_BLOCKS";

/// The register cap of a kernel that must fit `m` blocks on a multiprocessor with
/// `regs_per_sm` registers (allocated in units of 8, at most 255).
fn cap(m: u32, regs_per_sm: u32) -> u32 {
    (regs_per_sm / (BLOCK * m) / 8 * 8).min(255)
}

/// What a kernel does, which decides how many spills it tolerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A forward step: memory-bound, keeps 85% of its registers.
    Forward,
    /// An adjoint step: latency-bound, keeps 60% of its registers.
    Adjoint,
}

impl Role {
    /// Percent of the unbounded register count a cap must keep.
    fn keep_percent(self) -> u32 {
        match self {
            Role::Forward => 85,
            Role::Adjoint => 60,
        }
    }
}

/// The minimum resident blocks to compile a kernel for, given the registers it uses
/// unbounded: the most blocks (up to 4) whose cap keeps the share of them its role needs.
pub(crate) fn min_blocks(role: Role, regs: u32, regs_per_sm: u32) -> u32 {
    (1..=4u32)
        .rev()
        .find(|&m| 100 * cap(m, regs_per_sm) >= role.keep_percent() * regs)
        .unwrap_or(1)
}

/// A kernel with what it was compiled for and what it uses.
#[derive(Clone, Debug)]
pub(crate) struct Kernel {
    /// The loaded function.
    pub function: CudaFunction,
    /// Its module (kept alive with it, and holding the module's other kernels).
    pub module: Arc<CudaModule>,
    /// The `__launch_bounds__` minimum blocks it was compiled with.
    pub min_blocks: u32,
    /// Registers per thread.
    pub registers: u32,
    /// Local memory (stack and spills) per thread, in bytes.
    pub local_bytes: u32,
}

/// Loads kernel `name` from the module `build(m)`, with `m` from [`min_blocks`] (or
/// [`MIN_BLOCKS_ENV`]).
pub(crate) fn tuned(
    dev: &'static Device,
    name: &str,
    role: Role,
    build: impl Fn(u32) -> Result<String>,
) -> Result<Kernel> {
    let load = |m: u32| -> Result<Kernel> {
        let module = module(dev, &build(m)?)?;
        let function = module
            .load_function(name)
            .map_err(|e| LbmError::Cuda(format!("kernel `{name}` not found: {e}")))?;
        let attr = |r: std::result::Result<i32, _>| r.map(|v: i32| v.max(0) as u32).unwrap_or(0);
        Ok(Kernel {
            registers: attr(function.num_regs()),
            local_bytes: attr(function.local_size_bytes()),
            function,
            module,
            min_blocks: m,
        })
    };
    if let Some(m) = std::env::var(MIN_BLOCKS_ENV)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|m| (1..=32).contains(m))
    {
        return load(m);
    }
    let unbounded = load(1)?;
    let m = min_blocks(role, unbounded.registers, dev.regs_per_sm);
    if m == 1 || cap(m, dev.regs_per_sm) >= unbounded.registers {
        // The bound would change nothing.
        return Ok(unbounded);
    }
    load(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_measurements() {
        let regs = 65536;
        assert_eq!([1, 2, 3, 4].map(|m| cap(m, regs)), [255, 128, 80, 64]);
        // Registers of the unbounded BGK kernels (D2Q9 f32, f64; D3Q19 f32, f64) and the
        // best bounds measured for them on an H200 (4 where 3 and 4 tied; a bound at or
        // above the registers used changes nothing).
        let adjoint = [99, 159, 207, 255].map(|r| min_blocks(Role::Adjoint, r, regs));
        assert_eq!(adjoint, [4, 2, 2, 1]);
        let forward = [40, 72, 64, 112].map(|r| min_blocks(Role::Forward, r, regs));
        assert_eq!(forward.map(|m| cap(m, regs)), [64, 64, 64, 128]);
        assert!(
            cap(forward[3], regs) >= 112,
            "D3Q19 f64 forward stays unbounded"
        );
    }
}
