//! The CUDA C of a step's kernels as text, without a device: for reading what the engine
//! compiles (`cargo xtask codegen <op> --kernels`) and for timing changes to it by hand
//! outside the engine.

use super::layout::Layout;
use super::skeleton::{adjoint_module, forward_module, States};
use crate::bind::Step;
use crate::error::{LbmError, Result};
use crate::grid::Grid;
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::Streaming;

/// The two modules the CUDA backend compiles for one step on one grid.
#[derive(Clone, Debug)]
pub struct StepSources {
    /// The fused forward step kernel, after the operator's C unit.
    pub forward: String,
    /// The adjoint step kernel, the side gather when the step reads local or neighbour
    /// populations, and the reduction of the parameter gradients.
    pub adjoint: String,
}

/// How a simulation keeps and streams its populations: what a step's modules are built
/// for, besides the step and the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateFormat {
    /// The precision the step computes in, and the simulation's real type.
    pub precision: Precision,
    /// How populations are stored.
    pub storage: Storage,
    /// How they are streamed.
    pub streaming: Streaming,
}

impl StateFormat {
    /// Two states stored in `precision`.
    pub fn new(precision: Precision) -> Self {
        StateFormat {
            precision,
            storage: Storage::Compute,
            streaming: Streaming::TwoStates,
        }
    }
}

/// The modules for `step` on `grid`, with populations kept as `format` says, each kernel
/// declared for `min_blocks` resident blocks a multiprocessor (`__launch_bounds__`). The
/// engine picks that number per kernel from the registers it uses ([`super::tune`],
/// [`super::bounds`]); a text compiled for another number differs only in its bounds.
pub fn step_sources(
    step: &Step,
    grid: &Grid,
    format: StateFormat,
    min_blocks: u32,
) -> Result<StepSources> {
    if !(1..=32).contains(&min_blocks) {
        return Err(LbmError::Cuda(format!(
            "min_blocks {min_blocks}: a multiprocessor holds 1 to 32 blocks"
        )));
    }
    let bound = step.bind(grid)?;
    // The whole grid, as a simulation on one device steps it.
    let layout = Layout::new(&bound, grid).with_interior(&(0..grid.cells()));
    let lattice = grid.lattice();
    let states = States {
        storage: format.storage,
        streaming: format.streaming,
    };
    let precision = format.precision;
    let forward = forward_module(
        bound.op, &layout, lattice, precision, precision, states, min_blocks,
    )?;
    let adjoint = adjoint_module(bound.op, &layout, lattice, precision, states, min_blocks)?;
    Ok(StepSources { forward, adjoint })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::LatticeKind;
    use crate::nvrtc::{compile_ptx, nvrtc_for_test};
    use crate::ops;

    fn bgk() -> Step {
        Step::new(&ops::bgk::INFO).uniform("omega", [1.6])
    }

    /// The texts are built for the grid and the bounds asked for, and NVRTC compiles both:
    /// what the engine would load for a D3Q19 BGK step on 24 x 20 x 18, but for the bounds.
    #[test]
    fn modules_are_built_for_the_grid_and_compile() {
        let grid = Grid::new_3d(LatticeKind::D3Q19, 24, 20, 18).unwrap();
        let s = step_sources(&bgk(), &grid, StateFormat::new(Precision::F32), 6).unwrap();
        for text in [&s.forward, &s.adjoint] {
            assert!(text.contains("const unsigned nx = 24u, ny = 20u, nz = 18u;"));
            assert!(text.contains("typedef float real;") && text.contains("#define Q 19"));
        }
        assert!(s
            .forward
            .contains("__launch_bounds__(LBM_BLOCK, 6) lbm_k_step_fwd("));
        assert!(s
            .adjoint
            .contains("__launch_bounds__(LBM_BLOCK, 6) lbm_k_step_adj("));
        assert!(!s.forward.contains("lbm_k_step_adj("));
        if !nvrtc_for_test("modules_are_built_for_the_grid_and_compile") {
            return;
        }
        for text in [&s.forward, &s.adjoint] {
            compile_ptx(text, &["--gpu-architecture=compute_90"]).unwrap();
        }
    }

    #[test]
    fn bad_bounds_and_bindings_are_errors() {
        let grid = Grid::new_2d(LatticeKind::D2Q9, 8, 8).unwrap();
        for m in [0, 33] {
            let err = step_sources(&bgk(), &grid, StateFormat::new(Precision::F64), m).unwrap_err();
            assert!(err.to_string().contains("1 to 32 blocks"), "{err}");
        }
        let unbound = Step::new(&ops::bgk::INFO);
        let err = step_sources(&unbound, &grid, StateFormat::new(Precision::F64), 1).unwrap_err();
        assert!(err.to_string().contains("omega"), "{err}");
    }
}
