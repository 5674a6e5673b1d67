//! The register bounds the engine would choose for a step's kernels on a GPU of some
//! architecture, worked out without one: every candidate module is compiled with NVRTC
//! for that architecture, ptxas reports what each kernel uses, and the engine's own rule
//! ([`super::tune`]) picks from those figures. They are the figures the driver reports
//! for the same cubins, so a change to the kernels or to the rule can be checked here
//! before it is timed (`cargo xtask bounds`).

use super::cache::supported_archs;
use super::skeleton::names;
use super::sources::{step_sources, StateFormat, StepSources};
use super::tune::{cap, choose, Resources, Role};
use crate::bind::Step;
use crate::error::{LbmError, Result};
use crate::grid::Grid;
use crate::nvrtc::{kernel_resources, KernelResources};
use crate::streaming::Streaming;

/// Registers of one multiprocessor on every architecture from `sm_50` to `sm_120`.
pub const REGISTERS_PER_SM: u32 = 65536;

/// One bound a kernel was compiled for, and what it then uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The `__launch_bounds__` minimum blocks (1: no bound).
    pub min_blocks: u32,
    /// The register cap that bound sets for a block of the engine's size.
    pub cap: u32,
    /// What ptxas reports, the most of the kernel and its siblings (the odd-layout
    /// kernel of an in-place step).
    pub resources: KernelResources,
}

/// A step kernel's candidates and the engine's choice among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelBounds {
    /// `forward` or `adjoint`.
    pub kernel: &'static str,
    /// The role the engine gives it.
    pub role: Role,
    /// Every bound from 1 (none) to the role's most blocks.
    pub candidates: Vec<Candidate>,
    /// The bound the engine would compile it for.
    pub chosen: u32,
}

/// The candidates and choices for the forward and adjoint kernels of `step` on `grid`,
/// with populations kept as `format` says, compiled for `sm_{arch}`. Fails when NVRTC is
/// missing or does not know the architecture, or when the step does not bind.
pub fn predicted_bounds(
    step: &Step,
    grid: &Grid,
    format: StateFormat,
    arch: u32,
) -> Result<Vec<KernelBounds>> {
    let known = supported_archs();
    if !known.is_empty() && !known.contains(&(arch as i32)) {
        let names: Vec<String> = known.iter().map(|a| format!("sm_{a}")).collect();
        return Err(LbmError::Cuda(format!(
            "this NVRTC does not compile for sm_{arch}; it knows {}",
            names.join(", ")
        )));
    }
    type Module = fn(&StepSources) -> &str;
    let kernels: [(&str, &str, Role, Module); 2] = [
        (
            "forward",
            names::STEP_FWD,
            Role::forward(format.storage, format.streaming),
            |s| &s.forward,
        ),
        (
            "adjoint",
            names::STEP_ADJ,
            Role::adjoint(format.precision),
            |s| &s.adjoint,
        ),
    ];
    let most = kernels.iter().map(|k| k.2.most_blocks()).max().unwrap_or(1);
    let sources = (1..=most)
        .map(|m| step_sources(step, grid, format, m))
        .collect::<Result<Vec<_>>>()?;
    kernels
        .into_iter()
        .map(|(kernel, name, role, module)| {
            let texts: Vec<&str> = sources[..role.most_blocks() as usize]
                .iter()
                .map(module)
                .collect();
            let candidates = compile_all(&texts, name, format.streaming, arch)?;
            let (chosen, _) = choose(
                role,
                REGISTERS_PER_SM,
                |m| Ok(&candidates[m as usize - 1]),
                |c| Resources {
                    registers: c.resources.registers,
                    local_bytes: c.resources.stack_bytes,
                },
            )?;
            Ok(KernelBounds {
                kernel,
                role,
                chosen,
                candidates,
            })
        })
        .collect()
}

/// Compiles the module for each bound (`texts[m - 1]`), NVRTC's programs side by side,
/// and reads kernel `name`'s resources (with its odd-layout sibling's, in place).
fn compile_all(
    texts: &[&str],
    name: &str,
    streaming: Streaming,
    arch: u32,
) -> Result<Vec<Candidate>> {
    let odd = format!("{name}{}", names::ODD);
    let wanted =
        |k: &KernelResources| k.name == name || (streaming == Streaming::InPlace && k.name == odd);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = texts
            .iter()
            .map(|text| scope.spawn(move || kernel_resources(text, arch)))
            .collect();
        jobs.into_iter()
            .zip(1u32..)
            .map(|(job, m)| {
                let kernels = job
                    .join()
                    .map_err(|_| LbmError::Cuda("an NVRTC compilation panicked".into()))??;
                let resources = kernels
                    .into_iter()
                    .filter(wanted)
                    .reduce(|a, b| KernelResources {
                        name: a.name,
                        registers: a.registers.max(b.registers),
                        stack_bytes: a.stack_bytes.max(b.stack_bytes),
                        spill_store_bytes: a.spill_store_bytes.max(b.spill_store_bytes),
                        spill_load_bytes: a.spill_load_bytes.max(b.spill_load_bytes),
                    })
                    .ok_or_else(|| {
                        LbmError::Cuda(format!("kernel `{name}` missing from its module"))
                    })?;
                Ok(Candidate {
                    min_blocks: m,
                    cap: cap(m, REGISTERS_PER_SM),
                    resources,
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::LatticeKind;
    use crate::nvrtc::nvrtc_for_test;
    use crate::ops;
    use crate::real::Precision;
    use crate::storage::Storage;

    fn bgk() -> Step {
        Step::new(&ops::bgk::INFO).uniform("omega", [1.6])
    }

    /// Whatever the kernels, the choice follows the rule from the compiled figures: each
    /// candidate is capped as its bound says, and the chosen one uses no more local memory
    /// than the unbounded kernel and its role's allowance.
    #[test]
    fn choices_respect_caps_and_spills() {
        if !nvrtc_for_test("choices_respect_caps_and_spills") {
            return;
        }
        let grid = Grid::new_3d(LatticeKind::D3Q19, 32, 24, 16).unwrap();
        let formats = [
            StateFormat::new(Precision::F32),
            StateFormat {
                storage: Storage::F16,
                streaming: Streaming::InPlace,
                ..StateFormat::new(Precision::F32)
            },
        ];
        for format in formats {
            let bounds = predicted_bounds(&bgk(), &grid, format, 90).unwrap();
            assert_eq!(bounds.len(), 2);
            for b in &bounds {
                assert_eq!(b.candidates.len() as u32, b.role.most_blocks());
                for c in &b.candidates {
                    assert!(c.resources.registers <= c.cap, "{b:?}");
                }
                let unbounded = &b.candidates[0].resources;
                let chosen = &b.candidates[b.chosen as usize - 1].resources;
                let allowed = unbounded.stack_bytes + b.role.spill_allowance();
                assert!(chosen.stack_bytes <= allowed, "{b:?}");
            }
            assert_eq!(
                bounds[0].role,
                Role::forward(format.storage, format.streaming)
            );
        }
    }
}
