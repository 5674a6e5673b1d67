//! The kernel text around the generated operators: gathers, stores, reductions.
//!
//! A module is the C unit of an operator ([`codegen::c_unit`]) followed by the kernels this
//! file writes for one binding ([`Layout`]) and lattice. Populations are stored as a
//! structure of arrays, `f[i * cells + cell]`, so a warp's loads and stores of one
//! direction are contiguous. Neighbours come from coordinates with periodic wrap (every
//! lattice velocity has components in `-1..=1`), never from tables.
//!
//! Step forward module (`lbm_k_*`):
//! - `step_fwd`: one fused pull step. Gathers every input, calls `lbm_<step>`, stores
//!   `f_out(x, i)`, and records the first non-finite output as `(step << 32) | cell` with an
//!   `atomicMin`, so a diverging run costs no extra pass over the state.
//!
//! Step adjoint module (built only for gradients; both step kernels get the register cap
//! [`super::tune`] picks):
//! - `step_adj`: the adjoint of one step. Re-gathers the inputs from the saved state,
//!   calls `lbm_<step>_adj` with `lambda_out(x, :)`, and writes each pulled population's
//!   adjoint to the slot it came from, `lambda_in(x - c_i, i)`; a far read's adjoint goes to
//!   the same slot (it is the same reader), so every slot has exactly one writer. Adjoints of
//!   local and neighbour reads, whose slots other cells also write, go to a side buffer.
//!   Uniform and per-step parameter gradients are summed per block in `double` into
//!   `part[block * U + j]`.
//! - `step_side`: adds the side buffer into `lambda_in`, each slot gathering from the cells
//!   that read it (only when the step has local or neighbour reads).
//! - `reduce`: one block sums the per-block partials in a fixed order and adds them to the
//!   accumulators, so gradients do not depend on scheduling.
//!
//! Objective module: `obj_loss` (per-block partial sums of the weighted outputs), `obj_seed`
//! (adds the objective's adjoint to `lambda` at the cell's own populations) and `reduce`.

use std::fmt::Write as _;

use super::layout::{axis_suffix, Layout, Slot};
use crate::codegen::{c_unit, CodegenError};
use crate::lattice::LatticeKind;
use crate::operator::OperatorInfo;
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::{Addressing, Streaming};

/// Threads per block of every kernel.
pub(crate) const BLOCK: u32 = 256;

/// Kernel names of a step module.
pub(crate) mod names {
    /// The fused forward step.
    pub const STEP_FWD: &str = "lbm_k_step_fwd";
    /// The adjoint of a step.
    pub const STEP_ADJ: &str = "lbm_k_step_adj";
    /// Adds the adjoints of local and neighbour reads.
    pub const STEP_SIDE: &str = "lbm_k_step_side";
    /// Block partials to accumulators.
    pub const REDUCE: &str = "lbm_k_reduce";
    /// Per-block sums of the objective.
    pub const OBJ_LOSS: &str = "lbm_k_obj_loss";
    /// The objective's adjoint added to `lambda`.
    pub const OBJ_SEED: &str = "lbm_k_obj_seed";
    /// Appended to the name of a kernel that reads states in the odd AA layout (in-place
    /// streaming); the kernel without it reads the even one.
    pub const ODD: &str = "_odd";
}

/// Helpers every module starts with, after the operators.
const HELPERS: &str = r#"
/* ---- kernels (lbm_runtime::cuda::skeleton) ---- */
#define LBM_BLOCK @BLOCK@
typedef unsigned long long lbm_u64;

/* One value from global to shared memory, asynchronously (sm_80 on). */
#if __CUDA_ARCH__ >= 800
static __device__ __forceinline__ void lbm_cp_async(void* dst, const void* src) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" :: "r"(s), "l"(src), "n"(sizeof(real)) : "memory");
}
#endif

/* Coordinate v + o wrapped into [0, n). */
static __device__ __forceinline__ unsigned lbm_wrap(unsigned v, int o, unsigned n) {
    const long long r = ((long long)v + o) % (long long)n;
    return (unsigned)(r < 0 ? r + (long long)n : r);
}

/* Sum over a warp, into lane 0, always in the same order. */
static __device__ __forceinline__ double lbm_warp_sum(double v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over the block, into thread 0, in a fixed order; every thread must call it. */
static __device__ __forceinline__ double lbm_block_sum(double v, double* sm) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = lbm_warp_sum(v);
    if (lane == 0) sm[warp] = v;
    __syncthreads();
    v = threadIdx.x < LBM_BLOCK / 32 ? sm[lane] : 0.0;
    if (warp == 0) v = lbm_warp_sum(v);
    __syncthreads();
    return v;
}

/* Block partials part[b * LBM_U + j] summed over b in a fixed order, added to the uniform
   accumulators acc[j] (j < LBM_U_UNI) and to step t's row of per-step ones. One block. */
extern "C" __global__ void __launch_bounds__(LBM_BLOCK) lbm_k_reduce(
    const double* __restrict__ part, unsigned nblocks, double* __restrict__ acc, int t)
{
    __shared__ double sm[LBM_BLOCK / 32];
    for (int j = 0; j < LBM_U; ++j) {
        double s = 0.0;
        for (unsigned b = threadIdx.x; b < nblocks; b += LBM_BLOCK) s += part[(lbm_u64)b * LBM_U + j];
        s = lbm_block_sum(s, sm);
        if (threadIdx.x == 0) {
            if (j < LBM_U_UNI) acc[j] += s;
            else acc[LBM_U_UNI + (lbm_u64)t * (LBM_U - LBM_U_UNI) + (j - LBM_U_UNI)] += s;
        }
    }
}
"#;

/// The parameters every gathering kernel takes after its own, in this order.
const INPUT_PARAMS: &str = "const real* __restrict__ uni, const real* __restrict__ steps, \
    const int* __restrict__ ints, const real* __restrict__ fields, \
    const int* __restrict__ ifields, const unsigned* __restrict__ links";

/// [`INPUT_PARAMS`] with the real buffers stored as `lbm_store`.
const STORED_INPUT_PARAMS: &str = "const lbm_store* __restrict__ uni, \
    const lbm_store* __restrict__ steps, const int* __restrict__ ints, \
    const lbm_store* __restrict__ fields, const int* __restrict__ ifields, \
    const unsigned* __restrict__ links";

/// Cell index, coordinates and the wrapped neighbour coordinates. Defines `n`, `n64`,
/// `cell`, `active`, and `x?`, `y?`, `z?` (`?` in `m0p`), `y?`/`z?` already scaled to
/// row and plane offsets. Which cells are `active` is `cells`'s to say.
///
/// The grid's dimensions are compile-time constants (a module is built for one grid):
/// divisions by them become multiplications and every `i * n` offset a literal. The
/// launch still passes them (as `lbm_n?`, unused), so the launch code is the same for
/// every grid.
fn coords(d: usize, dims: [u32; 3], cells: Cells) -> String {
    let [nx, ny, nz] = dims;
    let mut s = format!(
        "    (void)lbm_nx; (void)lbm_ny; (void)lbm_nz;\n\
         \x20   const unsigned nx = {nx}u, ny = {ny}u, nz = {nz}u;\n"
    );
    s.push_str(
        "    const unsigned n = nx * ny * nz;\n\
         \x20   const lbm_u64 n64 = n;\n",
    );
    let full = [0, nx * ny * nz];
    match cells {
        Cells::Launched => s.push_str(
            "    const unsigned cell = lbm_first + blockIdx.x * LBM_BLOCK + threadIdx.x;\n\
             \x20   const bool active = cell < lbm_end;\n",
        ),
        // A part of a split domain: its halo cells are neither stepped nor differentiated.
        Cells::Within([first, end]) if [first, end] != full => {
            let _ = writeln!(
                s,
                "    const unsigned cell = blockIdx.x * LBM_BLOCK + threadIdx.x;\n\
                 \x20   const bool active = cell >= {first}u && cell < {end}u;"
            );
        }
        Cells::Within(_) | Cells::All => s.push_str(
            "    const unsigned cell = blockIdx.x * LBM_BLOCK + threadIdx.x;\n\
             \x20   const bool active = cell < n;\n",
        ),
    }
    s.push_str(&coordinates_of(d, "cell"));
    s
}

/// The coordinates of the cell `cell` (an expression) and its wrapped neighbours', as
/// [`coords`] defines them.
fn coordinates_of(d: usize, cell: &str) -> String {
    let mut s = format!(
        "    const unsigned x = active ? {cell} % nx : 0u;\n\
         \x20   const unsigned y = active ? ({cell} / nx) % ny : 0u;\n\
         \x20   const unsigned xm = x == 0u ? nx - 1u : x - 1u, x0 = x, xp = x + 1u == nx ? 0u : x + 1u;\n\
         \x20   const unsigned ym = (y == 0u ? ny - 1u : y - 1u) * nx, y0 = y * nx,\n\
         \x20       yp = (y + 1u == ny ? 0u : y + 1u) * nx;\n",
    );
    if d == 3 {
        let _ = write!(
            s,
            "    const unsigned nxy = nx * ny;\n\
             \x20   const unsigned z = active ? {cell} / nxy : 0u;\n\
             \x20   const unsigned zm = (z == 0u ? nz - 1u : z - 1u) * nxy, z0 = z * nxy,\n\
             \x20       zp = (z + 1u == nz ? 0u : z + 1u) * nxy;\n",
        );
    }
    s.push_str("    (void)xm; (void)x0; (void)xp; (void)ym; (void)y0; (void)yp;\n");
    if d == 3 {
        s.push_str("    (void)zm; (void)z0; (void)zp;\n");
    }
    s
}

/// Opens a block in which the coordinates of [`coords`] are computed again, from a copy
/// of `cell` the compiler cannot see through. A kernel that writes to its neighbours'
/// slots after a long computation (the adjoint's scatter) would otherwise keep the
/// addresses of its gather, one 64-bit address per direction, alive across the whole
/// computation: measured with ptxas on the D3Q19 BGK adjoint, 139 registers against 96
/// with the indices computed again (a dozen integer instructions), and 184 bytes of
/// spills against none when capped for three blocks a multiprocessor. Close it with `}`.
fn recomputed_coords(d: usize) -> String {
    let mut s = String::from(
        "    {\n\
         \x20   unsigned lbm_cell_again = cell;\n\
         \x20   asm volatile(\"\" : \"+r\"(lbm_cell_again));\n",
    );
    s.push_str(&coordinates_of(d, "lbm_cell_again"));
    s
}

/// The cells a kernel's threads step.
#[derive(Clone, Copy)]
enum Cells {
    /// Every cell of the grid, one thread each.
    All,
    /// The cells `[first, end)` (compiled in) of a launch over the whole grid.
    Within([u32; 2]),
    /// The cells `[lbm_first, lbm_end)`, kernel parameters, one thread each from the
    /// launch's first: a launch may step any run of cells (the forward of a split
    /// domain's part steps the layers next to its halos apart from the rest).
    Launched,
}

/// The index of the cell at `offset` from the current one.
fn neighbour(d: usize, offset: [i32; 3]) -> String {
    let mut s = format!("x{} + y{}", axis_suffix(offset[0]), axis_suffix(offset[1]));
    if d == 3 {
        let _ = write!(s, " + z{}", axis_suffix(offset[2]));
    }
    s
}

/// The index of the cell at an arbitrary `offset` from the current one, wrapped.
fn far_neighbour(d: usize, o: [i32; 3]) -> String {
    let mut s = format!("lbm_wrap(x, {}, nx) + nx * lbm_wrap(y, {}, ny)", o[0], o[1]);
    if d == 3 {
        let _ = write!(s, " + nx * ny * lbm_wrap(z, {}, nz)", o[2]);
    }
    s
}

/// The index, in a state laid out as `addressing` says, of `natural[x + offset][i]`
/// (the population of the cell at `offset` from this thread's leaving in direction `i`).
fn population_at(
    lattice: LatticeKind,
    addressing: Addressing,
    i: usize,
    offset: [i32; 3],
) -> String {
    let (dir, at) = addressing.locate(i, offset, |j| lattice.c(j), |j| lattice.opp(j));
    let d = lattice.d();
    let cell = if at == [0, 0, 0] {
        "cell".to_string()
    } else if at.iter().all(|a| a.abs() <= 1) {
        neighbour(d, at)
    } else {
        far_neighbour(d, at)
    };
    format!("{dir}ull * n64 + ({cell})")
}

/// Declares `a<k>` for every parameter and fills it for the current cell from the
/// populations `pop` (laid out as `addressing` says) and the input buffers.
///
/// An in-place step's state pointers may alias, so the compiler cannot prove its loads
/// read-only; they are (each slot is read and then written by the one thread that owns
/// it), so the AA layouts load through the read-only cache with `__ldg`.
fn gather(
    s: &mut String,
    layout: &Layout,
    lattice: LatticeKind,
    pop: &str,
    addressing: Addressing,
) {
    let read = |at: &str| match addressing {
        Addressing::Natural => format!("{pop}[{at}]"),
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
fn input_args(layout: &Layout) -> Vec<String> {
    (0..layout.slots.len()).map(|k| format!("a{k}")).collect()
}

/// Whether parameter `k` is real-valued (and so has an adjoint accumulator `b<k>`).
fn is_real(op: &OperatorInfo, k: usize) -> bool {
    op.params[k].kind.is_real()
}

/// Declares the zeroed adjoint accumulators `b<k>` and returns the adjoint call's arguments
/// after the output adjoints. They start at `-0.0`, the additive identity, as the
/// operators' own adjoints do, so that the first addition into each compiles to nothing.
fn adjoint_accumulators(s: &mut String, op: &OperatorInfo, layout: &Layout) -> Vec<String> {
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
fn parameter_gradients(s: &mut String, layout: &Layout) {
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
fn declare_reduced(s: &mut String, layout: &Layout) {
    for j in 0..layout.grad_reduced() {
        let _ = writeln!(s, "    double g{j} = 0.0;");
    }
}

/// Sums every `g<j>` over the block into `part[block * U + j]`.
///
/// With `across_steps`, each block adds to its row instead: the rows then hold sums over
/// every step since they were zeroed, and one reduction at the end replaces one per step
/// (see [`Layout::reduces_once`]).
fn reduce_block(s: &mut String, layout: &Layout, across_steps: bool) {
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

/// The defines the shared helpers read.
fn reduce_defines(layout: &Layout) -> String {
    format!(
        "#define LBM_U {}\n#define LBM_U_UNI {}\n",
        layout.grad_reduced().max(1),
        layout.grad_uniform
    )
}

fn helpers() -> String {
    HELPERS.replace("@BLOCK@", &BLOCK.to_string())
}

/// Stored populations (`lbm_pop`) and how a kernel reads and writes them:
/// `LBM_LOAD(i, v)` is direction `i`'s stored `v` as a `real`, `LBM_SAVE(i, v)` the
/// stored form of `v`, and `LBM_BAD(i, v)` whether storing `v` gives a value that is
/// not finite. With [`Storage::Compute`] populations are kept as `wide` (a C type
/// defined before); 16-bit formats keep `f - w_i` (see [`crate::storage`]) and round
/// to nearest even, as `half` does on the host.
fn population_defines(storage: Storage, wide: &str) -> String {
    match storage {
        Storage::Compute => format!(
            "typedef {wide} lbm_pop;\n\
             #define LBM_LOAD(i, v) ((real)(v))\n\
             #define LBM_SAVE(i, v) ((lbm_pop)(v))\n\
             #define LBM_BAD(i, v) (!isfinite(v))\n"
        ),
        Storage::F16 => HALF_F16.to_string(),
        Storage::BF16 => HALF_BF16.to_string(),
    }
}

/// Binary16 populations, converted by the hardware's `cvt` instructions.
const HALF_F16: &str = r#"typedef unsigned short lbm_pop;
static __device__ __forceinline__ float lbm_f16_load(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
static __device__ __forceinline__ unsigned short lbm_f16_save(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
#define LBM_LOAD(i, v) (lbm_f16_load(v) + LBM_W[i])
#define LBM_SAVE(i, v) lbm_f16_save((v) - LBM_W[i])
/* Deviations from 65520 up round to infinity. */
#define LBM_BAD(i, v) (!(fabsf((v) - LBM_W[i]) < 65520.0f))
"#;

/// bfloat16 populations: the upper half of an `f32`, rounded to nearest even (what
/// `half::bf16::from_f32` does for every number), by the `cvt` instruction where the
/// architecture has it (sm_80 on) and by integer arithmetic before.
const HALF_BF16: &str = r#"typedef unsigned short lbm_pop;
static __device__ __forceinline__ float lbm_bf16_load(unsigned short h) {
    return __uint_as_float((unsigned)h << 16);
}
static __device__ __forceinline__ unsigned short lbm_bf16_save(float f) {
#if __CUDA_ARCH__ >= 800
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
#else
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
#endif
}
#define LBM_LOAD(i, v) (lbm_bf16_load(v) + LBM_W[i])
#define LBM_SAVE(i, v) lbm_bf16_save((v) - LBM_W[i])
/* Deviations from the midpoint between bfloat16's largest value and the next power of
   two up round to infinity. */
#define LBM_BAD(i, v) (!(fabsf((v) - LBM_W[i]) < 3.3961775e38f))
"#;

/// The start of every module: the operator's C unit and the helpers.
fn module_head(
    op: &'static OperatorInfo,
    layout: &Layout,
    lattice: LatticeKind,
    precision: Precision,
) -> Result<String, CodegenError> {
    let mut s = c_unit(&[op], lattice, precision)?;
    s.push_str(&reduce_defines(layout));
    s.push_str(&helpers());
    Ok(s)
}

/// How a module's kernels keep populations and find them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct States {
    /// The number format of stored populations.
    pub storage: Storage,
    /// Two states, or one in place with the AA pattern.
    pub streaming: Streaming,
}

impl States {
    /// The layouts a module's state-reading kernels are built for, each with the suffix
    /// of its kernels' names: the natural layout, or both AA layouts.
    fn addressings(self) -> &'static [(Addressing, &'static str)] {
        match self.streaming {
            Streaming::TwoStates => &[(Addressing::Natural, "")],
            Streaming::InPlace => &[(Addressing::AaEven, ""), (Addressing::AaOdd, names::ODD)],
        }
    }

    /// The qualifier of state pointers: in place, input and output are one buffer.
    fn restrict(self) -> &'static str {
        match self.streaming {
            Streaming::TwoStates => "__restrict__ ",
            Streaming::InPlace => "",
        }
    }
}

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
            .map(|i| format!("    ob[{i}] = lout[{i}ull * n64 + cell];\n"))
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
fn stages_output_adjoints(q: usize, precision: Precision, layout: &Layout) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::{Objective, Step};
    use crate::grid::Grid;
    use crate::nvrtc::{compile_ptx, nvrtc_for_test};
    use crate::ops;

    /// A grid of a few cells of `lattice`, with rows of unequal sides.
    fn small_grid(lattice: LatticeKind) -> Grid {
        match lattice.d() {
            2 => Grid::new_2d(lattice, 4, 3).unwrap(),
            _ => Grid::new_3d(lattice, 4, 3, 2).unwrap(),
        }
    }

    fn modules(lattice: LatticeKind, precision: Precision) -> Vec<String> {
        let grid = small_grid(lattice);
        let bgk = Step::new(&ops::bgk::INFO)
            .uniform("omega", [1.2])
            .bind(&grid)
            .unwrap();
        let bouzidi = Step::new(&ops::bouzidi::INFO)
            .field("q", vec![0.5; grid.cells() * lattice.q()])
            .bind(&grid)
            .unwrap();
        let ke = Objective::new(&ops::kinetic_energy::INFO)
            .bind(&grid, 1)
            .unwrap()
            .bound;
        let force = Objective::new(&ops::momentum_exchange_force::INFO)
            .weights(vec![1.0; lattice.d()])
            .bind(&grid, 1)
            .unwrap()
            .bound;
        let mut out = Vec::new();
        let plain = States::default();
        for b in [&bgk, &bouzidi] {
            let l = Layout::new(b, &grid);
            out.push(forward_module(b.op, &l, lattice, precision, precision, plain, 1).unwrap());
            let f64s = Precision::F64;
            out.push(forward_module(b.op, &l, lattice, Precision::F32, f64s, plain, 1).unwrap());
            out.push(adjoint_module(b.op, &l, lattice, precision, plain, 2).unwrap());
        }
        for b in [&ke, &force] {
            let l = Layout::new(b, &grid);
            out.push(objective_module(b.op, &l, lattice, precision, plain).unwrap());
        }
        // 16-bit storage: every kernel that reads or writes states.
        if precision == Precision::F32 {
            for storage in [Storage::F16, Storage::BF16] {
                let storage = States {
                    storage,
                    ..States::default()
                };
                let (l, f32s) = (Layout::new(&bouzidi, &grid), Precision::F32);
                let op = bouzidi.op;
                out.push(forward_module(op, &l, lattice, f32s, f32s, storage, 1).unwrap());
                out.push(adjoint_module(op, &l, lattice, f32s, storage, 2).unwrap());
                let l = Layout::new(&ke, &grid);
                out.push(objective_module(ke.op, &l, lattice, f32s, storage).unwrap());
            }
        }
        // In-place streaming: both AA layouts in every module.
        let aa = States {
            storage: Storage::Compute,
            streaming: Streaming::InPlace,
        };
        let l = Layout::new(&bgk, &grid);
        out.push(forward_module(bgk.op, &l, lattice, precision, precision, aa, 1).unwrap());
        out.push(adjoint_module(bgk.op, &l, lattice, precision, aa, 2).unwrap());
        let l = Layout::new(&ke, &grid);
        out.push(objective_module(ke.op, &l, lattice, precision, aa).unwrap());
        out
    }

    /// Staging is a measured choice (see `stages_output_adjoints`): only the kind of step
    /// that gained stages, and only where it says so does the kernel hold shared memory.
    #[test]
    fn only_lean_f32_d2q9_adjoints_stage_their_output_adjoints() {
        let bgk = || Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
        let d2q9_links = small_grid(LatticeKind::D2Q9).cells() * 9;
        let bouzidi = Step::new(&ops::bouzidi::INFO).field("q", vec![0.5; d2q9_links]);
        let cases = [
            (LatticeKind::D2Q9, bgk(), Precision::F32, true),
            (LatticeKind::D2Q9, bgk(), Precision::F64, false),
            (LatticeKind::D3Q19, bgk(), Precision::F32, false),
            (LatticeKind::D2Q9, bouzidi, Precision::F32, false),
        ];
        for (lattice, step, precision, staged) in cases {
            let grid = small_grid(lattice);
            let bound = step.bind(&grid).unwrap();
            let (op, l) = (bound.op, Layout::new(&bound, &grid));
            assert_eq!(stages_output_adjoints(lattice.q(), precision, &l), staged);
            let m = adjoint_module(op, &l, lattice, precision, States::default(), 2).unwrap();
            assert_eq!(
                m.contains("__shared__ real lbm_ob_s"),
                staged,
                "{lattice:?}"
            );
        }
    }

    #[test]
    fn kernels_name_every_neighbour_once() {
        let m = modules(LatticeKind::D2Q9, Precision::F32);
        // Direction 1 moves +x: pulled from x - 1, adjoint written back there.
        assert!(m[0].contains("a0[1] = LBM_LOAD(1, fin[1ull * n64 + (xm + y0)]);"));
        assert!(m[0].contains("typedef float lbm_store;"));
        assert!(m[0].contains("typedef lbm_store lbm_pop;"));
        assert!(m[0].contains("fout[1ull * n64 + (cell)] = LBM_SAVE(1, o[1]);"));
        assert!(m[1].contains("typedef double lbm_store;") && m[1].contains("typedef float real;"));
        assert!(m[2].contains("lin[1ull * n64 + (xm + y0)] = b0[1];"));
        assert!(m[2].contains("g0 = (double)b1[0];"));
        assert!(m[2].contains("__launch_bounds__(LBM_BLOCK, 2) lbm_k_step_adj"));
        // Bouzidi's far read goes back with the pulled one, its local read through the side.
        assert!(m[5].contains("lin[1ull * n64 + (xm + y0)] = b0[1] + b2[2];"));
        assert!(m[5].contains(names::STEP_SIDE));
        assert!(!m[2].contains(names::STEP_SIDE));
        // 16-bit states: forward, adjoint and objective read them through the shift.
        // In place, without `__restrict__`: even steps read and write their own cell,
        // odd ones pull from the neighbours' opposite slots and push.
        let aa = &m[m.len() - 3..];
        assert!(aa[0].contains("const lbm_pop* fin, lbm_pop* fout"));
        assert!(aa[0].contains("a0[1] = LBM_LOAD(1, __ldg(&fin[1ull * n64 + (cell)]));"));
        // D2Q9's direction 2 is opposite 1.
        assert!(aa[0].contains("fout[2ull * n64 + (cell)] = LBM_SAVE(1, o[1]);"));
        let odd = &aa[0][aa[0].find("lbm_k_step_fwd_odd").expect("an odd kernel")..];
        assert!(odd.contains("a0[1] = LBM_LOAD(1, __ldg(&fin[2ull * n64 + (xm + y0)]));"));
        assert!(odd.contains("fout[1ull * n64 + (xp + y0)] = LBM_SAVE(1, o[1]);"));
        assert!(aa[1].contains("lbm_k_step_adj_odd") && aa[2].contains("lbm_k_obj_seed_odd"));
        for (k, storage) in [(8, "cvt.rn.f16.f32"), (11, "lbm_bf16_save")] {
            for kernel in &m[k..k + 3] {
                assert!(kernel.contains("typedef unsigned short lbm_pop;"));
                assert!(kernel.contains("const lbm_pop* __restrict__ fin"));
                assert!(kernel.contains(storage));
                assert!(kernel.contains("(lbm_f16_load(v) + LBM_W[i])") == (k == 8));
            }
        }
    }

    #[test]
    fn modules_compile_with_nvrtc() {
        if !nvrtc_for_test("cuda::skeleton::modules_compile_with_nvrtc") {
            return;
        }
        for lattice in LatticeKind::ALL {
            for precision in [Precision::F32, Precision::F64] {
                for m in modules(lattice, precision) {
                    if let Err(e) = compile_ptx(&m, &["--gpu-architecture=compute_90"]) {
                        panic!("{lattice} {precision:?}: {e}");
                    }
                    // Before sm_80, bfloat16 rounds without its `cvt` instruction.
                    if m.contains("lbm_bf16_save") {
                        if let Err(e) = compile_ptx(&m, &["--gpu-architecture=compute_75"]) {
                            panic!("{lattice} {precision:?}, compute_75: {e}");
                        }
                    }
                }
            }
        }
    }
}
