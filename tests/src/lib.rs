//! Shared helpers of the workspace-level tests.

pub mod gradcheck;
pub mod native;

use std::fmt::Write as _;

use lbm_runtime::{LatticeKind, OperatorInfo};

/// SplitMix64: a tiny deterministic generator, so that every test run sees the same inputs
/// and a failure can be reproduced from its seed alone.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform `f64` in `[0, 1)`, from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform `f64` in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// A uniform integer in `0..n` (`n > 0`), without modulo bias worth caring about in
    /// tests (`n` is tiny next to 2^64).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// C definitions of `test_<name>_fwd` and `test_<name>_adj`, which call an operator's C
/// forward and adjoint through the flat buffers of `lbm_runtime::operator`:
///
/// ```c
/// void test_<name>_fwd(const real* reals, const long long* ints, real* out);
/// void test_<name>_adj(const real* reals, const long long* ints,
///                      const real* out_bar, real* reals_bar);
/// ```
///
/// Real-valued parameters are passed as pointers at their offsets into `reals`, integers
/// and booleans as `(int)ints[k]`, then one pointer per output (or output adjoint) at its
/// offset into `out` (`out_bar`), and for the adjoint one accumulator per real-valued
/// parameter at its offset into `reals_bar`. Offsets are numbers for `lattice`.
///
/// `qualifier` goes before each definition: empty for the system C compiler (the symbols
/// are then exported from a shared library), `__device__` for NVRTC.
pub fn flat_wrappers_c(op: &OperatorInfo, lattice: LatticeKind, qualifier: &str) -> String {
    let mut params = Vec::new();
    let mut bars = Vec::new();
    let (mut real_off, mut int_idx) = (0, 0);
    for p in op.params {
        if p.kind.is_real() {
            params.push(format!("reals + {real_off}"));
            bars.push(format!("reals_bar + {real_off}"));
            real_off += p.shape.len(lattice);
        } else {
            params.push(format!("(int)ints[{int_idx}]"));
            int_idx += 1;
        }
    }
    let mut outs = Vec::new();
    let mut out_bars = Vec::new();
    let mut out_off = 0;
    for s in op.outputs {
        outs.push(format!("out + {out_off}"));
        out_bars.push(format!("out_bar + {out_off}"));
        out_off += s.len(lattice);
    }
    let q = if qualifier.is_empty() {
        String::new()
    } else {
        format!("{qualifier} ")
    };
    let (name, c) = (op.name, op.c_name);
    let fwd_args: Vec<String> = params.iter().chain(&outs).cloned().collect();
    let adj_args: Vec<String> = params
        .iter()
        .chain(&out_bars)
        .chain(&bars)
        .cloned()
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "/* ---- flat wrappers of {name} ---- */");
    let _ = writeln!(
        s,
        "{q}void test_{name}_fwd(const real* reals, const long long* ints, real* out) {{"
    );
    let _ = writeln!(s, "    (void)reals; (void)ints; (void)out;");
    let _ = writeln!(s, "    {c}({});", fwd_args.join(", "));
    let _ = writeln!(s, "}}");
    let _ = writeln!(
        s,
        "{q}void test_{name}_adj(const real* reals, const long long* ints, \
         const real* out_bar, real* reals_bar) {{"
    );
    let _ = writeln!(
        s,
        "    (void)reals; (void)ints; (void)out_bar; (void)reals_bar;"
    );
    let _ = writeln!(s, "    {c}_adj({});", adj_args.join(", "));
    let _ = writeln!(s, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // First outputs for seed 1234567, from the reference implementation.
        let mut rng = SplitMix64::new(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..10_000 {
            let x = rng.uniform(0.5, 1.5);
            assert!((0.5..1.5).contains(&x));
            assert!(rng.below(9) < 9);
        }
    }
}
