//! The adjoint module of a step: the adjoint kernel, the side gather and the reduction.

use std::fmt::Write as _;

use super::cells::{coords, far_neighbour, neighbour, recomputed_coords, Cells};
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

/// The adjoint module of a step: the adjoint kernel (compiled for at least `min_blocks`
/// resident blocks per multiprocessor), the side gather and the reduction.
pub(crate) fn adjoint_module(
    op: &'static OperatorInfo,
    layout: &Layout,
    lattice: LatticeKind,
    precision: Precision,
    states: States,
    min_blocks: u32,
) -> Result<String, CodegenError> {
    let mut s = module_head(op, layout, lattice, precision)?;
    s.push_str(&population_defines(states.storage, "real"));
    let staged = stages_output_adjoints(lattice.q(), precision, layout);
    for &kind in states.addressings() {
        adjoint_kernel(&mut s, op, layout, lattice, kind, min_blocks, staged);
    }
    side_kernel(&mut s, layout, lattice);
    Ok(s)
}

/// The adjoint kernel of a step whose states are laid out as `addressing`, named with
/// `suffix`; `staged` as [`stages_output_adjoints`] says. Adjoint states are always in
/// the natural layout.
fn adjoint_kernel(
    s: &mut String,
    op: &'static OperatorInfo,
    layout: &Layout,
    lattice: LatticeKind,
    (addressing, suffix): (Addressing, &str),
    min_blocks: u32,
    staged: bool,
) {
    let (d, q) = (lattice.d(), lattice.q());
    let name = op.c_name;
    let inputs = input_args(layout);
    let _ = write!(
        s,
        "\nextern \"C\" __global__ void __launch_bounds__(LBM_BLOCK, {min_blocks}) {}{suffix}(\n\
         \x20   const lbm_pop* __restrict__ fin, const real* __restrict__ lout,\n\
         \x20   real* __restrict__ lin, real* __restrict__ side,\n\
         \x20   {INPUT_PARAMS},\n\
         \x20   double* __restrict__ gfields, double* __restrict__ part,\n\
         \x20   unsigned lbm_nx, unsigned lbm_ny, unsigned lbm_nz, int t)\n{{\n",
        names::STEP_ADJ
    );
    s.push_str(&coords(d, layout.dims, Cells::Within(layout.interior)));
    declare_reduced(s, layout);
    let ob = OutputAdjointLoads::new(q, staged);
    s.push_str(&ob.shared);
    s.push_str("    if (active) {\n");
    let mut body = ob.issue;
    gather(&mut body, layout, lattice, "fin", addressing);
    body.push_str(&ob.read);
    let bars = adjoint_accumulators(&mut body, op, layout);
    let _ = writeln!(
        body,
        "    {name}_adj({}, ob, {});",
        inputs.join(", "),
        bars.join(", ")
    );
    // Each slot (x - c_j, j) gets what this cell read from it: the pulled f[j] and the far
    // f_far[OPP[j]], in parameter order.
    body.push_str(&recomputed_coords(d));
    for j in 0..q {
        let c = lattice.c(j);
        let terms: Vec<String> = layout
            .slots
            .iter()
            .enumerate()
            .filter_map(|(k, slot)| match slot {
                Slot::Pulled => Some(format!("b{k}[{j}]")),
                Slot::Far => Some(format!("b{k}[{}]", lattice.opp(j))),
                _ => None,
            })
            .collect();
        let _ = writeln!(
            body,
            "    lin[{j}ull * n64 + ({})] = {};",
            neighbour(d, [-c[0], -c[1], -c[2]]),
            terms.join(" + ")
        );
    }
    body.push_str("    }\n");
    for (p, (k, _)) in layout.side_reads().into_iter().enumerate() {
        for i in 0..q {
            let _ = writeln!(body, "    side[{}ull * n64 + cell] = b{k}[{i}];", p * q + i);
        }
    }
    parameter_gradients(&mut body, layout);
    for line in body.lines() {
        let _ = writeln!(s, "    {line}");
    }
    s.push_str("    }\n");
    reduce_block(s, layout, layout.reduces_once());
    s.push_str("}\n");
}

/// The C that reads the adjoint kernel's output adjoints `ob[Q]` from `lout`, in three
/// parts: declarations at the kernel's top, what goes before the gather of the inputs and
/// what goes after it. Staged ([`stages_output_adjoints`]), the loads are issued before
/// the gather as asynchronous copies into shared memory and read from there after it;
/// each thread reads back only the values it copied, so waiting for its own copies is
/// enough. Architectures before sm_80 read `lout` directly.
struct OutputAdjointLoads {
    shared: String,
    issue: String,
    read: String,
}

impl OutputAdjointLoads {
    fn new(q: usize, staged: bool) -> Self {
        let direct: String = (0..q)
            .map(|i| format!("    ob[{i}] = lbm_ld_pull(&lout[{i}ull * n64 + cell]);\n"))
            .collect();
        let declare = format!("    real ob[{q}];\n");
        if !staged {
            return OutputAdjointLoads {
                shared: String::new(),
                issue: String::new(),
                read: declare + &direct,
            };
        }
        let slot = |i: usize| format!("lbm_ob_s[{i} * LBM_BLOCK + threadIdx.x]");
        let copies: String = (0..q)
            .map(|i| {
                format!(
                    "    lbm_cp_async(&{}, &lout[{i}ull * n64 + cell]);\n",
                    slot(i)
                )
            })
            .collect();
        let reads: String = (0..q)
            .map(|i| format!("    ob[{i}] = {};\n", slot(i)))
            .collect();
        OutputAdjointLoads {
            shared: format!(
                "#if __CUDA_ARCH__ >= 800\n    __shared__ real lbm_ob_s[{q} * LBM_BLOCK];\n#endif\n"
            ),
            issue: format!(
                "#if __CUDA_ARCH__ >= 800\n{copies}    \
                 asm volatile(\"cp.async.commit_group;\\n\" ::: \"memory\");\n#endif\n"
            ),
            read: format!(
                "{declare}#if __CUDA_ARCH__ >= 800\n    \
                 asm volatile(\"cp.async.wait_all;\\n\" ::: \"memory\");\n{reads}#else\n{direct}#endif\n"
            ),
        }
    }
}

/// Whether the adjoint kernel stages its output adjoints through shared memory with
/// asynchronous copies (sm_80 on): they are in flight while the forward is recomputed
/// without holding registers.
///
/// Measured on an H200 (adjoint over forward time, the kernels before and staged
/// alternating): f32 BGK on D2Q9 gains, 4096^2 1.73 -> 1.64, 1024^2 1.72 -> 1.63, in
/// place 1.59 -> 1.52, with 16-bit storage 2.66 -> 2.56. Every adjoint that holds more
/// in registers loses: D3Q19 1.60 -> 1.71, TRT 2.09 -> 2.24, KBC 3.20 -> 3.58, D2Q9 in
/// `f64` 1.69 -> 1.73, and the Zou-He channel's D2Q9 step (which also reads its own
/// populations and three fields) 3.66 -> 3.82; those keep their loads in flight in
/// registers already and pay for the shared-memory reads and the smaller L1. So only
/// `f32` steps on lattices of at most nine directions that read nothing but pulled
/// populations and uniform values stage, the kind that was measured to gain.
pub(super) fn stages_output_adjoints(q: usize, precision: Precision, layout: &Layout) -> bool {
    let lean = layout
        .slots
        .iter()
        .all(|slot| matches!(slot, Slot::Pulled | Slot::Uniform { .. }));
    q <= 9 && precision == Precision::F32 && lean
}

/// The side gather: slot (y, j) gets what cell y - offset read from it, in parameter
/// order (only when the step has local or neighbour reads).
fn side_kernel(s: &mut String, layout: &Layout, lattice: LatticeKind) {
    let (d, q) = (lattice.d(), lattice.q());
    let sides = layout.side_reads();
    if sides.is_empty() {
        return;
    }
    let _ = write!(
        s,
        "\nextern \"C\" __global__ void __launch_bounds__(LBM_BLOCK) {}(\n\
         \x20   real* __restrict__ lin, const real* __restrict__ side,\n\
         \x20   unsigned lbm_nx, unsigned lbm_ny, unsigned lbm_nz)\n{{\n",
        names::STEP_SIDE
    );
    s.push_str(&coords(d, layout.dims, Cells::All));
    s.push_str("    if (!active) return;\n");
    for (p, (_, o)) in sides.iter().enumerate() {
        let src = if *o == [0, 0, 0] {
            "cell".to_string()
        } else {
            far_neighbour(d, [-o[0], -o[1], -o[2]])
        };
        let _ = writeln!(s, "    const unsigned src{p} = {src};");
    }
    for j in 0..q {
        let _ = writeln!(s, "    {{\n        real v = lin[{j}ull * n64 + cell];");
        for p in 0..sides.len() {
            let _ = writeln!(s, "        v += side[{}ull * n64 + src{p}];", p * q + j);
        }
        let _ = writeln!(s, "        lin[{j}ull * n64 + cell] = v;\n    }}");
    }
    s.push_str("}\n");
}
