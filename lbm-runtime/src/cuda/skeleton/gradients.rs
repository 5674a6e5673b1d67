//! The adjoint's gradients: accumulators for the operator's adjoint, field gradients
//! added per cell, and reduced gradients summed over a block.

use std::fmt::Write as _;

use super::reads::is_real;
use crate::cuda::layout::{Layout, Slot};
use crate::operator::OperatorInfo;

/// Declares the zeroed adjoint accumulators `b<k>` and returns the adjoint call's arguments
/// after the output adjoints. They start at `-0.0`, the additive identity, as the
/// operators' own adjoints do, so that the first addition into each compiles to nothing.
pub(super) fn adjoint_accumulators(
    s: &mut String,
    op: &OperatorInfo,
    layout: &Layout,
) -> Vec<String> {
    let mut args = Vec::new();
    for k in 0..layout.slots.len() {
        if is_real(op, k) {
            let zeros = vec!["-(real)0"; layout.lens[k]].join(", ");
            let _ = writeln!(s, "    real b{k}[{}] = {{{zeros}}};", layout.lens[k]);
            args.push(format!("b{k}"));
        }
    }
    args
}

/// Accumulates field gradients into `gfields` and loads reduced gradients into `g<j>`
/// (declared before the `active` block).
pub(super) fn parameter_gradients(s: &mut String, layout: &Layout) {
    for (k, (slot, &len)) in layout.slots.iter().zip(&layout.lens).enumerate() {
        match slot {
            Slot::Field { grad: Some(g), .. } => {
                for j in 0..len {
                    let _ = writeln!(
                        s,
                        "    gfields[{}ull * n64 + cell] += (double)b{k}[{j}];",
                        g + j
                    );
                }
            }
            Slot::Uniform { grad: Some(g), .. } => {
                for j in 0..len {
                    let _ = writeln!(s, "    g{} = (double)b{k}[{j}];", g + j);
                }
            }
            Slot::PerStep { grad: Some(g), .. } => {
                for j in 0..len {
                    let _ = writeln!(
                        s,
                        "    g{} = (double)b{k}[{j}];",
                        layout.grad_uniform + g + j
                    );
                }
            }
            _ => {}
        }
    }
}

/// Declares the reduced gradients `g<j>`, zero for inactive threads.
pub(super) fn declare_reduced(s: &mut String, layout: &Layout) {
    for j in 0..layout.grad_reduced() {
        let _ = writeln!(s, "    double g{j} = 0.0;");
    }
}

/// Sums every `g<j>` over the block into `part[block * U + j]`.
///
/// With `across_steps`, each block adds to its row instead: the rows then hold sums over
/// every step since they were zeroed, and one reduction at the end replaces one per step
/// (see [`Layout::reduces_once`]).
pub(super) fn reduce_block(s: &mut String, layout: &Layout, across_steps: bool) {
    let u = layout.grad_reduced();
    if u == 0 {
        return;
    }
    let op = if across_steps { "+=" } else { "=" };
    s.push_str("    __shared__ double sm[LBM_BLOCK / 32];\n");
    for j in 0..u {
        let _ = writeln!(
            s,
            "    g{j} = lbm_block_sum(g{j}, sm);\n\
             \x20   if (threadIdx.x == 0) part[(lbm_u64)blockIdx.x * {u} + {j}] {op} g{j};"
        );
    }
}
