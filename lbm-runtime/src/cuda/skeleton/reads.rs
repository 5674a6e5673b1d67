//! What a kernel reads for an operator's call: the input buffers' parameters and the
//! gather of every parameter of the current cell.

use std::fmt::Write as _;

use super::cells::population_at;
use crate::cuda::layout::{Layout, Slot};
use crate::lattice::LatticeKind;
use crate::operator::OperatorInfo;
use crate::streaming::Addressing;

/// The parameters every gathering kernel takes after its own, in this order.
pub(super) const INPUT_PARAMS: &str =
    "const real* __restrict__ uni, const real* __restrict__ steps, \
    const int* __restrict__ ints, const real* __restrict__ fields, \
    const int* __restrict__ ifields, const unsigned* __restrict__ links";

/// [`INPUT_PARAMS`] with the real buffers stored as `lbm_store`.
pub(super) const STORED_INPUT_PARAMS: &str = "const lbm_store* __restrict__ uni, \
    const lbm_store* __restrict__ steps, const int* __restrict__ ints, \
    const lbm_store* __restrict__ fields, const int* __restrict__ ifields, \
    const unsigned* __restrict__ links";

/// Declares `a<k>` for every parameter and fills it for the current cell from the
/// populations `pop` (laid out as `addressing` says) and the input buffers.
///
/// An in-place step's state pointers may alias, so the compiler cannot prove its loads
/// read-only; they are (each slot is read and then written by the one thread that owns
/// it), so the AA layouts load through the read-only cache with `__ldg`.
pub(super) fn gather(
    s: &mut String,
    layout: &Layout,
    lattice: LatticeKind,
    pop: &str,
    addressing: Addressing,
) {
    let read = |at: &str| match addressing {
        Addressing::Natural => format!("lbm_ld_pull(&{pop}[{at}])"),
        Addressing::AaEven | Addressing::AaOdd => format!("__ldg(&{pop}[{at}])"),
    };
    let q = lattice.q();
    for (k, (slot, &len)) in layout.slots.iter().zip(&layout.lens).enumerate() {
        match slot {
            Slot::Pulled | Slot::Local | Slot::Far | Slot::Neighbor(_) => {
                let _ = writeln!(s, "    real a{k}[{q}];");
                for i in 0..q {
                    let c = lattice.c(i);
                    // What the operator calls its `i`th value: direction and cell.
                    let (dir, offset) = match slot {
                        Slot::Pulled => (i, [-c[0], -c[1], -c[2]]),
                        Slot::Local => (i, [0; 3]),
                        Slot::Far => (lattice.opp(i), c),
                        Slot::Neighbor(o) => (i, *o),
                        _ => unreachable!("population slots only"),
                    };
                    let at = population_at(lattice, addressing, dir, offset);
                    let _ = writeln!(s, "    a{k}[{i}] = LBM_LOAD({dir}, {});", read(&at));
                }
            }
            Slot::Uniform { at, .. } => {
                let _ = writeln!(s, "    real a{k}[{len}];");
                for j in 0..len {
                    let _ = writeln!(s, "    a{k}[{j}] = uni[{}];", at + j);
                }
            }
            Slot::PerStep { at, .. } => {
                let _ = writeln!(s, "    real a{k}[{len}];");
                for j in 0..len {
                    let _ = writeln!(
                        s,
                        "    a{k}[{j}] = steps[(lbm_u64)t * {} + {}];",
                        layout.step_len,
                        at + j
                    );
                }
            }
            Slot::Field { at, .. } => {
                let _ = writeln!(s, "    real a{k}[{len}];");
                for j in 0..len {
                    let _ = writeln!(s, "    a{k}[{j}] = fields[{}ull * n64 + cell];", at + j);
                }
            }
            Slot::Int { at } => {
                let _ = writeln!(s, "    const int a{k} = ints[{at}];");
            }
            Slot::IntField { at } => {
                let _ = writeln!(s, "    const int a{k} = ifields[{at}ull * n64 + cell];");
            }
            Slot::Links => {
                let _ = writeln!(s, "    const int a{k} = (int)links[cell];");
            }
        }
    }
}

/// `a0, a1, ...`: the inputs of a call.
pub(super) fn input_args(layout: &Layout) -> Vec<String> {
    (0..layout.slots.len()).map(|k| format!("a{k}")).collect()
}

/// Whether parameter `k` is real-valued (and so has an adjoint accumulator `b<k>`).
pub(super) fn is_real(op: &OperatorInfo, k: usize) -> bool {
    op.params[k].kind.is_real()
}
