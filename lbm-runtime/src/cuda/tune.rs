//! Register caps of the step kernels.
//!
//! The adjoint of a step holds the gathered inputs, the output adjoints, the input adjoints
//! and the operator's tape at once; unbounded, it takes so many registers that one block
//! fits on a multiprocessor and arithmetic latency goes unhidden. Capping registers with
//! `__launch_bounds__(BLOCK, m)` trades spills for occupancy. `min_blocks` first proposes
//! the largest `m` whose cap keeps at least 50% of the registers the unbounded adjoint
//! uses (75% in `f64`), and 85% of those the unbounded forward step uses; the kernel
//! compiled for it is kept only if it does not spill (an `f32` adjoint may spill 8
//! bytes), else the next smaller `m` is tried. Measured on an H200 (`bench --sweep`: BGK on D2Q9, D3Q19 and D3Q27, f32 and
//! f64, every `m` from 1 to 4, 2026-12-01), spills cost more than any occupancy gains:
//! the D2Q9 f64 adjoint ran at 13,149 MLUPS capped for 3 blocks (48 bytes of spills) and
//! 15,443 for 2 (none), the D3Q27 f32 adjoint at 6,762 for 2 (40 bytes) and 7,771
//! unbounded; where nothing spills, more blocks win (D3Q19 f32: 13,417 for 2 against
//! 10,101 unbounded).
//! `LBM_CUDA_MIN_BLOCKS` forces a value. A bound timed fastest on the device
//! ([`super::autotune`], `bench --tune`) is recorded (`measured`) and taken over the rule.

use std::cell::Cell;
use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaModule};

use super::cache::module;
use super::driver::Device;
use super::measured;
use super::skeleton::BLOCK;
use crate::error::{LbmError, Result};
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::Streaming;

/// The environment variable forcing the minimum resident blocks of the step kernels.
pub const MIN_BLOCKS_ENV: &str = "LBM_CUDA_MIN_BLOCKS";

/// The register cap of a kernel that must fit `m` blocks on a multiprocessor with
/// `regs_per_sm` registers (allocated in units of 8, at most 255).
pub fn cap(m: u32, regs_per_sm: u32) -> u32 {
    (regs_per_sm / (BLOCK * m) / 8 * 8).min(255)
}

/// What a kernel does, which decides how many spills it tolerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A forward step: memory-bound, keeps 85% of its registers.
    Forward,
    /// A forward step on 16-bit states: with half the bytes to move it is bound by its
    /// instructions and their latency, so it takes the most blocks (up to 6) that do not
    /// spill. Measured on an H200 (`bench --sweep`, D3Q19 128^3 binary16): 41,727 MLUPS
    /// for 6 blocks (40 registers) against 39,695 for 4 (56); D3Q27 96^3: 28,076 for 5 (48)
    /// against 27,694 for 3 (64), 6 spilling. The same caps slow `f32` forwards by 2-3%.
    CompactForward,
    /// A forward step on 16-bit states streamed in place: as [`Role::CompactForward`], up
    /// to 4 blocks. Its odd step writes its neighbours' slots, which wants registers to
    /// keep stores in flight: measured on an H200 (D3Q19 256^3 binary16, 2026-12-05),
    /// 37,319 MLUPS for 4 blocks, 36,875 for 3, 34,316-34,332 for 5 and 6 (none spill).
    CompactInPlaceForward,
    /// An adjoint step in `f32`: latency-bound, keeps 50% of its registers, up to 6 blocks,
    /// and takes a bound that spills at most [`ADJOINT_SPILL_ALLOWANCE`] bytes.
    Adjoint,
    /// An adjoint step in `f64`, whose values take two registers each: a cap takes twice
    /// the loads in flight from it, so it keeps 75%. Measured on an H200 (D3Q19 128^3,
    /// 2026-12-05): unbounded (198 registers) 6,605 MLUPS, capped for 2 blocks (128, no
    /// spills) 5,227, where in `f32` the same share (80 of 96 registers, 3 blocks) ran at
    /// 15,251 against 13,191 unbounded.
    WideAdjoint,
}

impl Role {
    /// The role of the forward step of a simulation that keeps its populations as
    /// `storage` and streams them as `streaming`.
    pub fn forward(storage: Storage, streaming: Streaming) -> Role {
        match (storage, streaming) {
            (Storage::Compute, _) => Role::Forward,
            (Storage::F16 | Storage::BF16, Streaming::TwoStates) => Role::CompactForward,
            (Storage::F16 | Storage::BF16, Streaming::InPlace) => Role::CompactInPlaceForward,
        }
    }

    /// The role of the adjoint step of a simulation whose adjoint computes in `precision`.
    pub fn adjoint(precision: Precision) -> Role {
        match precision {
            Precision::F32 => Role::Adjoint,
            Precision::F64 => Role::WideAdjoint,
        }
    }

    /// Percent of the unbounded register count a cap must keep.
    fn keep_percent(self) -> u32 {
        match self {
            Role::Forward => 85,
            // Any share: the search stops at the first cap that does not spill.
            Role::CompactForward | Role::CompactInPlaceForward => 0,
            // Loads issued early hold registers that a cap takes back cheaply: with the
            // output adjoints prefetched, the D3Q19 f32 adjoint uses 138 unbounded and ran
            // at 16,561 MLUPS capped at 80 (58%, no spills), 15,493 at 128 (H200,
            // 2026-12-07); at 60% the cap of 80 was never tried.
            Role::Adjoint => 50,
            Role::WideAdjoint => 75,
        }
    }

    /// Local-memory bytes a bound may add to the unbounded kernel's and still be taken.
    pub(crate) fn spill_allowance(self) -> u32 {
        match self {
            Role::Adjoint => ADJOINT_SPILL_ALLOWANCE,
            _ => 0,
        }
    }

    /// The most blocks a multiprocessor is asked to hold.
    pub fn most_blocks(self) -> u32 {
        match self {
            // Adjoints small enough for 5 or 6 blocks (D2Q9's, 64 registers unbounded)
            // gain from them: the in-place D2Q9 4096^2 adjoint ran at 32,670 MLUPS for 6
            // blocks against 30,797 for 4 (H200, 2026-12-05).
            Role::CompactForward | Role::Adjoint => 6,
            Role::Forward | Role::CompactInPlaceForward | Role::WideAdjoint => 4,
        }
    }
}

/// The spill bytes an `f32` adjoint's bound may cost: two values stored once and loaded
/// once a thread cost less than the occupancy that refusing the bound gives up. Measured
/// on an H200 (D3Q19 128^3 TRT, output adjoints prefetched, 2026-12-07): capped at 128
/// registers with 8 bytes of spills 13,363 MLUPS, unbounded (159) 9,469. Larger spills
/// lost: the D3Q27 f32 adjoint with 40 bytes ran 13% slower than unbounded (2026-12-01).
/// (KBC's adjoint, 20% faster at 128 registers with 256 bytes of spills than unbounded, is
/// left to `bench --tune` (`super::autotune`) or `LBM_CUDA_MIN_BLOCKS=2`: its tape is what
/// spills.)
pub const ADJOINT_SPILL_ALLOWANCE: u32 = 8;

/// The minimum resident blocks to compile a kernel for, given the registers it uses
/// unbounded: the most blocks (up to the role's most) whose cap keeps the share of them
/// its role needs.
pub(crate) fn min_blocks(role: Role, regs: u32, regs_per_sm: u32) -> u32 {
    (1..=role.most_blocks())
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
    /// What it uses (the most of it and its siblings).
    pub resources: Resources,
    /// The key of its measured bound on this device (`measured`): the same for every
    /// bound it is compiled for.
    pub key: u128,
}

/// What a kernel uses per thread: what its bound is decided from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Registers per thread.
    pub registers: u32,
    /// Local memory (stack and spills) per thread, in bytes.
    pub local_bytes: u32,
}

impl Resources {
    /// The most of each that `self` and `other` use.
    pub fn max(self, other: Resources) -> Resources {
        Resources {
            registers: self.registers.max(other.registers),
            local_bytes: self.local_bytes.max(other.local_bytes),
        }
    }
}

thread_local! {
    /// The bound [`with_forced_bound`] imposes on the kernels this thread builds.
    static FORCED: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Runs `f` with every step kernel it builds on this thread compiled for `min_blocks`
/// (as [`MIN_BLOCKS_ENV`] does for the whole process, which wins over it): how
/// `profile::measure_bounds` times each candidate.
pub(crate) fn with_forced_bound<T>(min_blocks: u32, f: impl FnOnce() -> T) -> T {
    /// Puts the previous value back, also when `f` panics.
    struct Restore(Option<u32>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FORCED.with(|c| c.replace(Some(min_blocks))));
    f()
}

/// The bound forced by [`MIN_BLOCKS_ENV`] or [`with_forced_bound`], if any.
fn forced() -> Option<u32> {
    std::env::var(MIN_BLOCKS_ENV)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|m| (1..=32).contains(m))
        .or_else(|| FORCED.with(Cell::get))
}

/// Loads kernel `name` from the module `build(m)`. `m` is the one forced
/// ([`MIN_BLOCKS_ENV`], [`with_forced_bound`]), else the one measured fastest on this
/// device (`measured`), else the rule's ([`choose`]). The kernels named in `siblings`
/// are compiled with the same bound in the same module (the odd-layout variant of an
/// in-place step): the registers and spills that decide the bound are the most any of
/// them uses.
pub(crate) fn tuned(
    dev: &'static Device,
    name: &str,
    siblings: &[String],
    role: Role,
    build: impl Fn(u32) -> Result<String>,
) -> Result<Kernel> {
    let unbounded_source = build(1)?;
    let key = measured::key(dev, name, &unbounded_source);
    let load = |m: u32| -> Result<Kernel> {
        let source = if m == 1 {
            unbounded_source.clone()
        } else {
            build(m)?
        };
        let module = module(dev, &source)?;
        let load_function = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| LbmError::Cuda(format!("kernel `{name}` not found: {e}")))
        };
        let attr = |r: std::result::Result<i32, _>| r.map(|v: i32| v.max(0) as u32).unwrap_or(0);
        let resources_of = |f: &CudaFunction| Resources {
            registers: attr(f.num_regs()),
            local_bytes: attr(f.local_size_bytes()),
        };
        let function = load_function(name)?;
        let mut resources = resources_of(&function);
        for sibling in siblings {
            resources = resources.max(resources_of(&load_function(sibling)?));
        }
        Ok(Kernel {
            resources,
            function,
            module,
            min_blocks: m,
            key,
        })
    };
    if let Some(m) = forced().or_else(|| measured::recorded(key)) {
        return load(m);
    }
    Ok(choose(role, dev.regs_per_sm, load, |k| k.resources)?.1)
}

/// The bound the engine compiles a kernel of `role` for on a multiprocessor of
/// `regs_per_sm` registers, with the kernel `load(m)` gives for it. `load(1)` (no bound)
/// comes first; its registers propose a bound ([`min_blocks`]), and the largest bound
/// from there down that does not spill is taken, else none. `resources` tells what a
/// loaded kernel uses. The engine loads modules on its device; `cuda::bounds` compiles
/// them with NVRTC alone and reads ptxas's report, to show the choice without a GPU.
pub(crate) fn choose<K>(
    role: Role,
    regs_per_sm: u32,
    mut load: impl FnMut(u32) -> Result<K>,
    resources: impl Fn(&K) -> Resources,
) -> Result<(u32, K)> {
    let unbounded = load(1)?;
    let used = resources(&unbounded);
    let m = min_blocks(role, used.registers, regs_per_sm);
    if m == 1 || cap(m, regs_per_sm) >= used.registers {
        // The bound would change nothing.
        return Ok((1, unbounded));
    }
    let allowed_local = used.local_bytes + role.spill_allowance();
    let bounded = largest_without_spills(m, allowed_local, load, |k| resources(k).local_bytes)?;
    Ok(bounded.unwrap_or((1, unbounded)))
}

/// The kernel for the largest number of blocks from `start` down to 2 that uses at most
/// `allowed_local` bytes of local memory (the unbounded kernel's plus the role's spill
/// allowance), with its number of blocks; `None` when every one uses more.
fn largest_without_spills<K>(
    start: u32,
    allowed_local: u32,
    mut load: impl FnMut(u32) -> Result<K>,
    local_bytes: impl Fn(&K) -> u32,
) -> Result<Option<(u32, K)>> {
    for m in (2..=start).rev() {
        let kernel = load(m)?;
        if local_bytes(&kernel) <= allowed_local {
            return Ok(Some((m, kernel)));
        }
    }
    Ok(None)
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
        let adjoint = [99, 207].map(|r| min_blocks(Role::Adjoint, r, regs));
        assert_eq!(adjoint, [4, 2]);
        let wide = [159, 255].map(|r| min_blocks(Role::WideAdjoint, r, regs));
        assert_eq!(wide, [2, 1]);
        // Since the scatter computes its indices again (2026-12-05): D3Q19 f32 at 96
        // registers is proposed 5 blocks (5 and 4 spill, so 3 are taken, the fastest),
        // and f64 at 198 stays unbounded, the fastest.
        assert_eq!(min_blocks(Role::Adjoint, 96, regs), 5);
        // With the output adjoints prefetched (2026-12-07), D3Q19 f32 BGK at 138
        // registers and TRT at 159 are proposed 3 blocks: BGK's 80 registers do not
        // spill and were the fastest; TRT's spill 200 bytes, so 2 are taken.
        let prefetched = [138, 159].map(|r| min_blocks(Role::Adjoint, r, regs));
        assert_eq!(prefetched, [3, 3]);
        assert_eq!(min_blocks(Role::WideAdjoint, 198, regs), 1);
        let forward = [40, 72, 64, 112].map(|r| min_blocks(Role::Forward, r, regs));
        assert_eq!(forward.map(|m| cap(m, regs)), [64, 64, 64, 128]);
        assert!(
            cap(forward[3], regs) >= 112,
            "D3Q19 f64 forward stays unbounded"
        );
    }

    #[test]
    fn forwards_on_sixteen_bit_states_ask_for_the_most_blocks() {
        let regs = 65536;
        // Whatever the registers, 6 blocks are proposed first; spills then back off.
        assert_eq!(min_blocks(Role::CompactForward, 56, regs), 6);
        assert_eq!(min_blocks(Role::CompactForward, 96, regs), 6);
        assert_eq!(cap(6, regs), 40);
        assert_eq!(min_blocks(Role::Forward, 56, regs), 4);
        assert_eq!(min_blocks(Role::CompactInPlaceForward, 56, regs), 4);
    }

    #[test]
    fn a_bound_that_spills_gives_way_to_fewer_blocks() {
        // Spill bytes per bound, measured on an H200 (`bench --sweep`, 2026-12-01).
        let pick_allowing = |start: u32, allowed: u32, spills: &[(u32, u32)]| {
            let mut tried = Vec::new();
            let kernel = largest_without_spills(
                start,
                allowed,
                |m| {
                    tried.push(m);
                    Ok((m, spills.iter().find(|s| s.0 == m).map_or(0, |s| s.1)))
                },
                |k| k.1,
            )
            .unwrap();
            let bound = kernel.map(|(m, k)| {
                assert_eq!(m, k.0, "the bound returned is the kernel's");
                m
            });
            (bound, tried)
        };
        let pick = |start: u32, spills: &[(u32, u32)]| pick_allowing(start, 0, spills);
        // D2Q9 f64 adjoint: 3 blocks spill 48 bytes, 2 none.
        assert_eq!(pick(3, &[(3, 48), (4, 160)]), (Some(2), vec![3, 2]));
        // D3Q27 f32 adjoint: 2 blocks spill 40 bytes; unbounded it is.
        assert_eq!(pick(2, &[(2, 40)]), (None, vec![2]));
        // D3Q19 f32 adjoint: 2 blocks, no spills, taken at once.
        assert_eq!(pick(2, &[(3, 184)]), (Some(2), vec![2]));
        // D3Q19 f32 TRT adjoint, output adjoints prefetched (2026-12-07): 3 blocks spill
        // 200 bytes, 2 blocks 8, within an f32 adjoint's allowance, and were the fastest.
        let trt = [(3, 200), (2, 8)];
        assert_eq!(
            pick_allowing(3, ADJOINT_SPILL_ALLOWANCE, &trt),
            (Some(2), vec![3, 2])
        );
        assert_eq!(Role::Adjoint.spill_allowance(), ADJOINT_SPILL_ALLOWANCE);
        assert_eq!(Role::WideAdjoint.spill_allowance(), 0);
        assert_eq!(Role::Forward.spill_allowance(), 0);
    }

    #[test]
    fn choose_takes_the_rules_bound_with_what_the_compiler_gives() {
        let regs = 65536;
        // What ptxas gave the D3Q19 f32 BGK adjoint with the output adjoints prefetched
        // (xtask bounds, NVRTC 13.0): (blocks, registers, local bytes).
        let d3q19 = [(1, 138, 0), (2, 128, 0), (3, 80, 0), (4, 64, 56)];
        let pick = |role: Role, table: &[(u32, u32, u32)]| {
            let mut tried = Vec::new();
            let (m, kernel) = choose(
                role,
                regs,
                |m| {
                    tried.push(m);
                    let k = *table.iter().find(|k| k.0 == m).unwrap();
                    Ok(k)
                },
                |k| Resources {
                    registers: k.1,
                    local_bytes: k.2,
                },
            )
            .unwrap();
            assert_eq!(m, kernel.0, "the bound returned is the kernel's");
            (m, tried)
        };
        // Half of 138 is 69: 3 blocks (80 registers) is the most that keeps it, and does
        // not spill.
        assert_eq!(pick(Role::Adjoint, &d3q19), (3, vec![1, 3]));
        // Forced to start from 4 (which spills 56 bytes), the search falls back to 3.
        let wider = [(1, 138, 0), (3, 80, 0), (4, 64, 56)];
        let spilled = largest_without_spills(
            4,
            Role::Adjoint.spill_allowance(),
            |m| Ok(*wider.iter().find(|k| k.0 == m).unwrap()),
            |k| k.2,
        );
        assert_eq!(spilled.unwrap().map(|(m, _)| m), Some(3));
        // In f64 the share is 75%: 128 of 138 leaves 2 blocks, taken at once.
        assert_eq!(pick(Role::WideAdjoint, &d3q19), (2, vec![1, 2]));
        // A kernel under every cap it could be asked for is loaded once, unbounded.
        let small = [(1, 40, 0)];
        assert_eq!(pick(Role::Forward, &small), (1, vec![1]));
        // KBC's adjoint: half of 187 proposes 2 blocks, whose 256 bytes of spills on top
        // of the tape pass the allowance: unbounded.
        let kbc = [(1, 187, 400), (2, 128, 656)];
        assert_eq!(pick(Role::Adjoint, &kbc), (1, vec![1, 2]));
    }
}
