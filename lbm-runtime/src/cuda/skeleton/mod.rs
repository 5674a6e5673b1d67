//! The kernel text around the generated operators: gathers, stores, reductions.
//!
//! A module is the C unit of an operator ([`c_unit`]) followed by the kernels written
//! here for one binding ([`Layout`]) and lattice. Populations are stored as a structure
//! of arrays, `f[i * cells + cell]`, so a warp's loads and stores of one direction are
//! contiguous. Neighbours come from coordinates with periodic wrap (every lattice
//! velocity has components in `-1..=1`), never from tables.
//!
//! One file a job: `cells` (a thread's cell and its neighbours), `reads` (the gather of an
//! operator's inputs), `gradients` (the adjoint's accumulators and block sums),
//! `populations` (stored number formats), and one file for each kind of module,
//! `forward`, `adjoint` and `objective`; this file holds what every module shares.
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

use super::layout::Layout;
use crate::codegen::{c_unit, CodegenError};
use crate::lattice::LatticeKind;
use crate::operator::OperatorInfo;
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::{Addressing, Streaming};

mod adjoint;
mod cells;
mod forward;
mod gradients;
mod objective;
mod populations;
mod reads;

pub(crate) use adjoint::adjoint_module;
pub(crate) use forward::forward_module;
pub(crate) use objective::objective_module;

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

/* A pulled population or an output adjoint, read with a 256-byte L2 prefetch (sm_80
   on): the neighbouring warps read the rest of those bytes next, and asking DRAM for
   them at once rather than 32 bytes at a time made the f32 forward steps 1% faster on an
   H100, and 6-7% with 16-bit storage on D3Q19 and D3Q27 (docs/PERFORMANCE.md, "256-byte
   L2 prefetch"). The asynchronous copies below prefetch the same way. */
#if __CUDA_ARCH__ >= 800
#define LBM_LD_PULL(T, PTX, C) \
    static __device__ __forceinline__ T lbm_ld_pull(const T* p) { \
        T v; \
        asm volatile("ld.global.nc.L2::256B." PTX " %0, [%1];" : "=" C(v) : "l"(p)); \
        return v; \
    }
#else
#define LBM_LD_PULL(T, PTX, C) \
    static __device__ __forceinline__ T lbm_ld_pull(const T* p) { return __ldg(p); }
#endif
LBM_LD_PULL(float, "f32", "f")
LBM_LD_PULL(double, "f64", "d")
LBM_LD_PULL(unsigned short, "b16", "h")

/* One value from global to shared memory, asynchronously (sm_80 on). */
#if __CUDA_ARCH__ >= 800
static __device__ __forceinline__ void lbm_cp_async(void* dst, const void* src) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global.L2::256B [%0], [%1], %2;\n" :: "r"(s), "l"(src), "n"(sizeof(real)) : "memory");
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

#[cfg(test)]
mod tests {
    use super::adjoint::stages_output_adjoints;
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
        assert!(m[0].contains("a0[1] = LBM_LOAD(1, lbm_ld_pull(&fin[1ull * n64 + (xm + y0)]));"));
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
