//! The objective module: the loss and seed kernels.

use std::fmt::Write as _;

use super::cells::{coords, Cells};
use super::gradients::{adjoint_accumulators, declare_reduced, parameter_gradients, reduce_block};
use super::populations::population_defines;
use super::reads::{gather, input_args, INPUT_PARAMS};
use super::{module_head, names, States};
use crate::codegen::CodegenError;
use crate::cuda::layout::{Layout, Slot};
use crate::lattice::LatticeKind;
use crate::operator::OperatorInfo;
use crate::real::Precision;
use crate::streaming::Addressing;

/// The C unit and kernels of an objective module: a loss and a seed kernel for each
/// layout the states may have.
pub(crate) fn objective_module(
    op: &'static OperatorInfo,
    layout: &Layout,
    lattice: LatticeKind,
    precision: Precision,
    states: States,
) -> Result<String, CodegenError> {
    let mut s = module_head(op, layout, lattice, precision)?;
    s.push_str(&population_defines(states.storage, "real"));
    for &(addressing, suffix) in states.addressings() {
        objective_kernels(&mut s, op, layout, lattice, addressing, suffix);
    }
    Ok(s)
}

/// The loss and seed kernels of an objective on states laid out as `addressing`.
fn objective_kernels(
    s: &mut String,
    op: &'static OperatorInfo,
    layout: &Layout,
    lattice: LatticeKind,
    addressing: Addressing,
    suffix: &str,
) {
    let d = lattice.d();
    let name = op.c_name;
    let inputs = input_args(layout);
    let out_lens: Vec<usize> = op.outputs.iter().map(|o| o.len(lattice)).collect();

    // Loss: per-block sums of the weighted outputs.
    let _ = write!(
        s,
        "\nextern \"C\" __global__ void __launch_bounds__(LBM_BLOCK) {}{suffix}(\n\
         \x20   const lbm_pop* __restrict__ fin, {INPUT_PARAMS},\n\
         \x20   const double* __restrict__ w, double* __restrict__ part,\n\
         \x20   unsigned lbm_nx, unsigned lbm_ny, unsigned lbm_nz, int t)\n{{\n",
        names::OBJ_LOSS
    );
    s.push_str(&coords(d, layout.dims, Cells::Within(layout.interior)));
    s.push_str("    double v = 0.0;\n    if (active) {\n");
    let mut body = String::new();
    gather(&mut body, layout, lattice, "fin", addressing);
    let mut outs = Vec::new();
    for (j, len) in out_lens.iter().enumerate() {
        let _ = writeln!(body, "    real o{j}[{len}];");
        outs.push(format!("o{j}"));
    }
    let _ = writeln!(
        body,
        "    {name}({}, {});",
        inputs.join(", "),
        outs.join(", ")
    );
    let mut w = 0;
    for (j, len) in out_lens.iter().enumerate() {
        for a in 0..*len {
            let _ = writeln!(body, "    v += (double)o{j}[{a}] * w[{w}];");
            w += 1;
        }
    }
    for line in body.lines() {
        let _ = writeln!(s, "    {line}");
    }
    s.push_str(
        "    }\n    __shared__ double sl[LBM_BLOCK / 32];\n\
         \x20   v = lbm_block_sum(v, sl);\n\
         \x20   if (threadIdx.x == 0) part[blockIdx.x] = v;\n}\n",
    );

    // Seed: the objective's adjoint, added at the cell's own populations.
    let _ = write!(
        s,
        "\nextern \"C\" __global__ void __launch_bounds__(LBM_BLOCK) {}{suffix}(\n\
         \x20   const lbm_pop* __restrict__ fin, real* __restrict__ lam,\n\
         \x20   const real* __restrict__ obar, {INPUT_PARAMS},\n\
         \x20   double* __restrict__ gfields, double* __restrict__ part,\n\
         \x20   unsigned lbm_nx, unsigned lbm_ny, unsigned lbm_nz, int t)\n{{\n",
        names::OBJ_SEED
    );
    s.push_str(&coords(d, layout.dims, Cells::Within(layout.interior)));
    declare_reduced(s, layout);
    s.push_str("    if (active) {\n");
    let mut body = String::new();
    gather(&mut body, layout, lattice, "fin", addressing);
    let mut obs = Vec::new();
    let mut at = 0;
    for (j, len) in out_lens.iter().enumerate() {
        let _ = writeln!(body, "    real ob{j}[{len}];");
        for a in 0..*len {
            let _ = writeln!(body, "    ob{j}[{a}] = obar[{at}];");
            at += 1;
        }
        obs.push(format!("ob{j}"));
    }
    let bars = adjoint_accumulators(&mut body, op, layout);
    let _ = writeln!(
        body,
        "    {name}_adj({}, {}, {});",
        inputs.join(", "),
        obs.join(", "),
        bars.join(", ")
    );
    for (k, slot) in layout.slots.iter().enumerate() {
        if *slot == Slot::Local {
            for i in 0..lattice.q() {
                let _ = writeln!(body, "    lam[{i}ull * n64 + cell] += b{k}[{i}];");
            }
        }
    }
    parameter_gradients(&mut body, layout);
    for line in body.lines() {
        let _ = writeln!(s, "    {line}");
    }
    s.push_str("    }\n");
    // Seeds come at a few steps, each reduced at once.
    reduce_block(s, layout, false);
    s.push_str("}\n");
}
