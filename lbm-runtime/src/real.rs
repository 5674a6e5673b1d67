//! The real-number type of the generated Rust forms: operators are generic over it, and a
//! kernel picks `f32` or `f64` when it is built.

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// Floating-point precision of a kernel: the `real` type of the generated C.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// 32-bit IEEE floats (`float`).
    F32,
    /// 64-bit IEEE floats (`double`).
    F64,
}

impl Precision {
    /// The C type name that `real` is defined to.
    pub fn c_type(self) -> &'static str {
        match self {
            Precision::F32 => "float",
            Precision::F64 => "double",
        }
    }

    /// The lower-case name used on command lines and in file names (`f32`, `f64`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            other => Err(format!("unknown precision `{other}`: expected f32 or f64")),
        }
    }
}

/// Scalar type of the generated Rust forms (`f32` or `f64`).
///
/// The operator language's intrinsics are the methods of this trait, with the meaning
/// and names of the inherent methods of `f64`, so operator source reads as plain Rust.
pub trait Real:
    Copy
    + Default
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    /// The precision this type stands for.
    const PRECISION: Precision;
    /// The longest loop over the lattice that the generated forms unroll for this type
    /// (see [`crate::unroll`]): every one for the lane type of the forwards, whose
    /// arithmetic dwarfs the cost of compiling the larger code; those over `D` for the
    /// lane type of the adjoints, which unrolled further took minutes to compile; none
    /// for scalars, whose forms stay loops.
    const UNROLLED_TRIPS: usize = 0;
    /// Converts from `f64`, rounding to nearest for `f32`.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Exponential.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `self` raised to a real power.
    fn powf(self, e: Self) -> Self;
    /// `self` raised to an integer power.
    fn powi(self, n: i32) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// The smaller of two values.
    fn min(self, o: Self) -> Self;
    /// The larger of two values.
    fn max(self, o: Self) -> Self;
    /// `self * a + b` with one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `true` when neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// `self` times the lattice velocity component `c` (an integer), as the generated
    /// forms write every such product: a zero component gives `-0.0`, which any addition
    /// drops exactly, where IEEE arithmetic keeps `self * 0.0` (NaN for an infinite
    /// `self`, a zero of `self`'s sign otherwise) and with it a multiplication and an
    /// addition per zero component of every unrolled loop over the directions. For
    /// finite values the two differ at most in the sign of a zero.
    #[inline(always)]
    fn times_c(self, c: f64) -> Self {
        if c == 0.0 {
            Self::from_f64(-0.0)
        } else {
            self * Self::from_f64(c)
        }
    }
}

macro_rules! impl_real {
    ($t:ty, $p:expr) => {
        impl Real for $t {
            const PRECISION: Precision = $p;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn min(self, o: Self) -> Self {
                <$t>::min(self, o)
            }
            #[inline(always)]
            fn max(self, o: Self) -> Self {
                <$t>::max(self, o)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}

impl_real!(f32, Precision::F32);
impl_real!(f64, Precision::F64);

#[cfg(test)]
mod tests {
    use super::Real;

    /// What the generated forms rely on: a zero component gives the additive identity
    /// (which any addition drops, infinite or NaN factors included), the others the exact
    /// product.
    #[test]
    fn lattice_products_are_exact_and_a_zero_component_adds_nothing() {
        for x in [1.5f64, -2.25, 0.0, -0.0, f64::INFINITY, f64::NAN] {
            let zero = x.times_c(0.0);
            assert_eq!(zero.to_bits(), (-0.0f64).to_bits(), "{x} times 0");
            for y in [3.0f64, -0.0, 0.0] {
                assert_eq!((y + zero).to_bits(), y.to_bits());
            }
            for c in [1.0, -1.0, 2.0] {
                let (got, want) = (x.times_c(c), x * c);
                assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()));
                let (got, want) = ((x as f32).times_c(c), x as f32 * c as f32);
                assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()));
            }
            assert_eq!((x as f32).times_c(0.0).to_bits(), (-0.0f32).to_bits());
        }
    }
}
