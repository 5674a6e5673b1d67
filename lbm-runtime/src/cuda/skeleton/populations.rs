//! How stored populations are read and written: in the computing type, or as 16-bit
//! deviations from the lattice weights.

use crate::storage::Storage;

/// Stored populations (`lbm_pop`) and how a kernel reads and writes them:
/// `LBM_LOAD(i, v)` is direction `i`'s stored `v` as a `real`, `LBM_SAVE(i, v)` the
/// stored form of `v`, and `LBM_BAD(i, v)` whether storing `v` gives a value that is
/// not finite. With [`Storage::Compute`] populations are kept as `wide` (a C type
/// defined before); 16-bit formats keep `f - w_i` (see [`crate::storage`]) and round
/// to nearest even, as `half` does on the host.
pub(super) fn population_defines(storage: Storage, wide: &str) -> String {
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
