//! How populations are kept in memory, apart from the precision they are computed in.
//!
//! A 16-bit population halves the bytes a step moves and the memory every state and
//! snapshot takes. Populations sit near their lattice weight `w_i` (a fluid at rest has
//! `f_i = w_i`), so a 16-bit format keeps the deviation `f_i - w_i` rather than `f_i`:
//! the deviation is one to three orders of magnitude smaller, and so is its rounding
//! error. Arithmetic stays in `f32`: a step loads `stored + w_i`, computes, and stores
//! `round(result - w_i)`, both in `f32` before the one rounding to 16 bits.
//!
//! Gradients treat the rounding as the identity (its derivative is zero almost everywhere
//! and useless): the adjoint is that of the `f32` step, evaluated on the stored states.
//! Adjoint states stay in `f32`, whose range and precision their accumulation over many
//! steps needs.

use crate::lattice::LatticeKind;
use crate::real::Precision;

/// The shift of each direction's 16-bit population: its lattice weight as the `f32` the
/// kernels and the CPU's emulation compute with.
pub(crate) fn shifts(lattice: LatticeKind) -> Vec<f32> {
    (0..lattice.q()).map(|i| lattice.w(i) as f32).collect()
}

/// The number format of stored populations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Storage {
    /// The precision the simulation computes in (`f64` for an `f32` forward with an `f64`
    /// adjoint, which keeps `f32` values in it).
    #[default]
    Compute,
    /// IEEE 754 binary16: 11 significant bits, largest finite value 65504. Each
    /// population is kept as its deviation from the lattice weight.
    F16,
    /// bfloat16: 8 significant bits with `f32`'s range. Each population is kept as its
    /// deviation from the lattice weight.
    BF16,
}

impl Storage {
    /// Whether populations are kept in 16 bits.
    pub fn is_half(self) -> bool {
        matches!(self, Storage::F16 | Storage::BF16)
    }

    /// The name used on command lines and in reports (`compute`, `f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Storage::Compute => "compute",
            Storage::F16 => "f16",
            Storage::BF16 => "bf16",
        }
    }

    /// Bytes of one stored population of a simulation computing in `compute`.
    pub fn bytes(self, compute: Precision) -> usize {
        match (self, compute) {
            (Storage::F16 | Storage::BF16, _) => 2,
            (Storage::Compute, Precision::F32) => 4,
            (Storage::Compute, Precision::F64) => 8,
        }
    }

    /// The 16-bit pattern kept for a population `f` of lattice weight `w` (both as the
    /// `f32` the kernels compute with). `None` for [`Storage::Compute`].
    pub fn encode(self, f: f32, w: f32) -> Option<u16> {
        let d = f - w;
        match self {
            Storage::Compute => None,
            Storage::F16 => Some(half::f16::from_f32(d).to_bits()),
            Storage::BF16 => Some(half::bf16::from_f32(d).to_bits()),
        }
    }

    /// The population a 16-bit pattern stands for, `stored + w` in `f32`.
    pub fn decode(self, bits: u16, w: f32) -> f32 {
        let d = match self {
            Storage::Compute => unreachable!("only 16-bit storage is decoded"),
            Storage::F16 => half::f16::from_bits(bits).to_f32(),
            Storage::BF16 => half::bf16::from_bits(bits).to_f32(),
        };
        d + w
    }

    /// `f` as a step would read it back after storing it: unchanged for
    /// [`Storage::Compute`]. The CPU backend keeps populations in `f32` and applies this
    /// after every write, which gives the numbers of 16-bit storage without its savings.
    pub fn round(self, f: f32, w: f32) -> f32 {
        match self.encode(f, w) {
            Some(bits) => self.decode(bits, w),
            None => f,
        }
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Storage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "compute" => Ok(Storage::Compute),
            "f16" => Ok(Storage::F16),
            "bf16" => Ok(Storage::BF16),
            other => Err(format!(
                "unknown storage `{other}`: expected compute, f16 or bf16"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_storage_keeps_the_deviation_from_the_weight() {
        let w = 1.0f32 / 36.0;
        // A population a little off its weight: the deviation, not the value, is rounded.
        let f = w + 1.234_567e-3;
        for (s, bits) in [(Storage::F16, 11), (Storage::BF16, 8)] {
            let err = (s.round(f, w) - f).abs();
            let bound = 1.234_567e-3 * 2f32.powi(-bits);
            assert!(
                err <= bound,
                "{s}: error {err:e} beyond half an ulp {bound:e}"
            );
            // Rounding `f` itself would lose about `w / (f - w)` times more.
            assert!(err < w * 2f32.powi(-bits) / 4.0, "{s}");
        }
        assert_eq!(Storage::Compute.round(f, w), f);
        assert_eq!(Storage::F16.round(w, w), w, "a fluid at rest is exact");
    }

    #[test]
    fn f16_overflow_is_infinite_and_bf16_keeps_the_range() {
        assert!(Storage::F16.round(1.0e5, 0.0).is_infinite());
        assert!(Storage::BF16.round(1.0e5, 0.0).is_finite());
        assert!(Storage::F16.round(f32::NAN, 0.1).is_nan());
        assert!(Storage::BF16.round(f32::NAN, 0.1).is_nan());
    }

    #[test]
    fn names_round_trip() {
        for s in [Storage::Compute, Storage::F16, Storage::BF16] {
            assert_eq!(s.name().parse::<Storage>(), Ok(s));
        }
        assert!("f8".parse::<Storage>().is_err());
    }
}
