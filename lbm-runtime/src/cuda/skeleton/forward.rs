//! The forward module of a step.

use std::fmt::Write as _;

use super::cells::{coords, population_at, recomputed_coords, Cells};
use super::populations::population_defines;
use super::reads::{gather, input_args, STORED_INPUT_PARAMS};
use super::{module_head, names, States};
use crate::codegen::CodegenError;
use crate::cuda::layout::Layout;
use crate::lattice::LatticeKind;
use crate::operator::OperatorInfo;
use crate::real::Precision;
use crate::streaming::Addressing;

/// The forward module of a step: the fused step kernel, compiled for at least
/// `min_blocks` resident blocks per multiprocessor (which caps its registers).
///
/// It computes in `precision` and reads real inputs as `buffers` (`lbm_store`), and
/// states as `states.storage` of that: an `f32` step on `f64` buffers holding `f32`
/// values gives exactly the `f32` run's states, for an `f64` adjoint of an `f32` forward.
/// In-place streaming has one kernel per AA layout (the odd one named with
/// [`names::ODD`]).
pub(crate) fn forward_module(
    op: &'static OperatorInfo,
    layout: &Layout,
    lattice: LatticeKind,
    precision: Precision,
    buffers: Precision,
    states: States,
    min_blocks: u32,
) -> Result<String, CodegenError> {
    let mut s = module_head(op, layout, lattice, precision)?;
    let _ = writeln!(s, "typedef {} lbm_store;", buffers.c_type());
    s.push_str(&population_defines(states.storage, "lbm_store"));
    for &(addressing, suffix) in states.addressings() {
        forward_kernel(
            &mut s,
            op,
            layout,
            lattice,
            (states, addressing),
            suffix,
            min_blocks,
        );
    }
    Ok(s)
}

/// One forward kernel, reading states laid out as `addressing`.
fn forward_kernel(
    s: &mut String,
    op: &'static OperatorInfo,
    layout: &Layout,
    lattice: LatticeKind,
    (states, addressing): (States, Addressing),
    suffix: &str,
    min_blocks: u32,
) {
    let (d, q) = (lattice.d(), lattice.q());
    let name = op.c_name;
    let inputs = input_args(layout);
    let restrict = states.restrict();
    let _ = write!(
        s,
        "\nextern \"C\" __global__ void __launch_bounds__(LBM_BLOCK, {min_blocks}) {}{suffix}(\n\
         \x20   const lbm_pop* {restrict}fin, lbm_pop* {restrict}fout,\n\
         \x20   {STORED_INPUT_PARAMS},\n\
         \x20   unsigned lbm_nx, unsigned lbm_ny, unsigned lbm_nz, int t, lbm_u64* __restrict__ flag,\n\
         \x20   unsigned lbm_first, unsigned lbm_end)\n{{\n",
        names::STEP_FWD
    );
    s.push_str(&coords(d, layout.dims, Cells::Launched));
    s.push_str("    if (!active) return;\n");
    gather(s, layout, lattice, "fin", addressing);
    let _ = writeln!(s, "    real o[{q}];");
    let _ = writeln!(s, "    {name}({}, o);", inputs.join(", "));
    s.push_str("    bool bad = false;\n");
    // The odd step of in-place streaming writes its neighbours' slots (96 registers
    // against 56 for D3Q19 BGK without the block, measured with ptxas).
    let after = addressing.after();
    let scatters = (0..q).any(|i| {
        let (_, at) = after.locate(i, [0; 3], |j| lattice.c(j), |j| lattice.opp(j));
        at != [0; 3]
    });
    if scatters {
        s.push_str(&recomputed_coords(d));
    }
    for i in 0..q {
        let at = population_at(lattice, after, i, [0; 3]);
        let _ = writeln!(
            s,
            "    fout[{at}] = LBM_SAVE({i}, o[{i}]); bad |= LBM_BAD({i}, o[{i}]);"
        );
    }
    if scatters {
        s.push_str("    }\n");
    }
    s.push_str(
        "    if (bad) atomicMin(flag, ((lbm_u64)(unsigned)(t + 1) << 32) | (lbm_u64)cell);\n}\n",
    );
}
