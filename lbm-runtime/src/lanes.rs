//! Real types that hold one value for each of several cells, so that the CPU backend
//! runs an operator's generated Rust form over a group of cells at once, in SIMD
//! registers, instead of one cell at a time.
//!
//! Every arithmetic operation is the scalar one applied lane by lane (the transcendental
//! functions call the scalar ones), so each lane computes exactly the bits a scalar run of
//! its cell would. The generated forms are written for one cell, though: a comparison, a
//! conversion to an integer or a finiteness test must give one answer for the whole
//! group. When the lanes agree it is theirs; when they disagree the group has no single
//! path through the operator, so the result is lane 0's (which keeps indices and loop
//! bounds those of a valid scalar run) and the group is marked [`diverged`]: its outputs
//! are not to be used, and the caller runs its cells one by one instead.
//!
//! There are two lane types over the same eight `f32` lanes, which differ only in how far
//! the generated forms unroll their loops over the lattice ([`Real::UNROLLED_TRIPS`]):
//! [`F32x8`], for the forwards, unrolls them all, so lattice tables fold into constants;
//! [`RolledF32x8`], for the adjoints, only those over `D`, since an adjoint unrolled over
//! `Q` takes several times as long to compile. Operators that run long ask for their
//! adjoint on [`F32x8`] with `#[operator(unroll_adjoint)]` (the library's BGK and TRT:
//! the D3Q19 BGK lane adjoint 68.7 -> 31.2 ns a cell).
//!
//! The lane types are built on AVX2 and FMA, which the CPU backend detects at run time:
//! the generated lane forms are compiled with those features enabled (the macro wraps
//! them in `#[target_feature]` functions), and the backend calls them only where the CPU
//! has both. Elsewhere, and on other architectures, it runs the scalar forms.

use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;

use crate::real::Real;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

#[cfg(target_arch = "x86_64")]
pub use avx::{as_rolled, as_rolled_mut, F32x8, RolledF32x8};

thread_local! {
    /// Set when a group's lanes disagreed on a decision the form takes once for all.
    static DIVERGED: Cell<bool> = const { Cell::new(false) };
}

/// Clears the divergence mark of this thread before running a lane form.
#[inline]
pub fn reset_divergence() {
    DIVERGED.with(|d| d.set(false));
}

/// Whether a decision in the lane forms run since [`reset_divergence`] on this thread
/// differed between lanes (their outputs are then not those of a scalar run).
#[inline]
pub fn diverged() -> bool {
    DIVERGED.with(Cell::get)
}

/// Inlined, though rarely taken: a call to it could write any memory as far as the
/// compiler knows, so every constant made after it would load [`FOUND`] again.
#[inline(always)]
fn mark_diverged() {
    DIVERGED.with(|d| d.set(true));
}

thread_local! {
    /// Set on this thread once [`supported`] has found AVX2 and FMA in this process; the
    /// lane types' constructors read it, which keeps every operation on them sound.
    ///
    /// A thread-local `Cell` rather than a process-wide atomic: the compiler may not merge
    /// atomic loads, and a lane form makes a lane value of every constant it uses (hundreds
    /// in an unrolled D3Q19 forward), so an atomic flag cost one load and one branch per
    /// constant, half the time of the forward. A plain load of a thread's own flag is
    /// merged into one per form (see [`assert_supported`]). The flag starts unset on every
    /// thread and is set only after detection succeeded, never cleared: a CPU does not
    /// lose features while a process runs, so a set flag is true for the whole process.
    static FOUND: Cell<bool> = const { Cell::new(false) };
}

/// Whether this CPU runs the lane types (AVX2 and FMA).
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    let found = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let found = false;
    if found {
        FOUND.with(|f| f.set(true));
    }
    found
}

/// Panics unless this CPU has AVX2 and FMA: the check a lane value's construction makes.
///
/// Once per thread it runs the detection; after that it is one load of this thread's flag,
/// which the compiler merges over a whole form: the flag is read again after detection
/// (instead of trusting its answer) so that every path leaving here has loaded it as set,
/// and nothing a form does in between writes memory the flag could be in (divergence is
/// marked by an inlined store to another thread-local, not by a call).
#[inline(always)]
fn assert_supported() {
    if !FOUND.with(Cell::get) {
        detect();
        if !FOUND.with(Cell::get) {
            unsupported();
        }
    }
}

/// [`supported`] off the hot path: the first lane value a thread makes.
#[cold]
#[inline(never)]
fn detect() {
    supported();
}

#[cold]
#[inline(never)]
fn unsupported() -> ! {
    panic!("lane types need AVX2 and FMA, which this CPU lacks: check `lanes::supported()` first")
}

/// Lane 0's answer, marking the group diverged when another lane answers differently.
#[inline(always)]
fn agreed<A: PartialEq + Copy, const N: usize>(answers: [A; N]) -> A {
    let first = answers[0];
    if answers.iter().any(|a| *a != first) {
        mark_diverged();
    }
    first
}

/// Lane 0's bit of a comparison's lane mask (`all` has every lane's bit set), marking
/// the group diverged when the lanes' bits differ.
#[inline(always)]
fn agreed_mask(bits: i32, all: i32) -> bool {
    if bits != 0 && bits != all {
        mark_diverged();
    }
    bits & 1 != 0
}

/// A real type holding one value per cell of a group: the lane types, or a scalar type as
/// a group of one.
pub trait Group: Real {
    /// The real type of one lane.
    type Scalar: Real;
    /// Number of lanes.
    const LANES: usize;
    /// The lanes of consecutive groups as one slice: lane `k` of group `j` at `j * LANES + k`.
    fn scalars(groups: &[Self]) -> &[Self::Scalar];
    /// [`Group::scalars`], to write lanes.
    fn scalars_mut(groups: &mut [Self]) -> &mut [Self::Scalar];
    /// Whether every lane of every group is finite: one pass without an early exit,
    /// in the lanes' own instructions, for the outputs of every group a step computes.
    fn all_finite(groups: &[Self]) -> bool;
    /// Writes group `j` of `groups` to `planes[j]`, its `LANES` scalars from `at` on.
    ///
    /// # Safety
    /// `at + LANES <= planes[j].len()` for every `j < groups.len()`.
    unsafe fn store_groups(groups: &[Self], planes: &mut [&mut [Self::Scalar]], at: usize);
    /// Writes group `j` of `first` and then of `second` to `planes[j]`, `2 * LANES`
    /// scalars from `at` on, past the caches (non-temporal stores) where those scalars are
    /// one whole cache line: a line written in parts from a dozen planes at once would
    /// leave the core's write-combining buffers partly filled, each costing memory a read
    /// and a write. A thread that stored past the caches runs [`fence_uncached_stores`]
    /// before another reads what it wrote.
    ///
    /// # Safety
    /// `at + 2 * LANES <= planes[j].len()` for every `j < first.len()`, and `second` is as
    /// long as `first`.
    unsafe fn store_pairs_uncached(
        first: &[Self],
        second: &[Self],
        planes: &mut [&mut [Self::Scalar]],
        at: usize,
    );
}

/// Orders this thread's stores past the caches before its later stores, so that a thread
/// that synchronises with it afterwards (a pool's join) sees them.
#[inline]
pub fn fence_uncached_stores() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

macro_rules! group_of_one {
    ($($t:ty),*) => {$(
        impl Group for $t {
            type Scalar = $t;
            const LANES: usize = 1;
            #[inline(always)]
            fn scalars(groups: &[Self]) -> &[$t] {
                groups
            }
            #[inline(always)]
            fn scalars_mut(groups: &mut [Self]) -> &mut [$t] {
                groups
            }
            #[inline(always)]
            fn all_finite(groups: &[Self]) -> bool {
                groups.iter().fold(true, |all, v| all & v.is_finite())
            }
            #[inline(always)]
            unsafe fn store_groups(groups: &[Self], planes: &mut [&mut [$t]], at: usize) {
                for (plane, v) in planes.iter_mut().zip(groups) {
                    // SAFETY: `at < plane.len()` (the caller's contract).
                    unsafe { *plane.get_unchecked_mut(at) = *v };
                }
            }
            #[inline(always)]
            unsafe fn store_pairs_uncached(
                first: &[Self],
                second: &[Self],
                planes: &mut [&mut [$t]],
                at: usize,
            ) {
                // Two values are no cache line: ordinary stores.
                // SAFETY: `at + 1 < plane.len()` (the caller's contract).
                unsafe {
                    Self::store_groups(first, planes, at);
                    Self::store_groups(second, planes, at + 1);
                }
            }
        }
    )*};
}

group_of_one!(f32, f64);

#[cfg(target_arch = "x86_64")]
mod avx {
    //! Soundness: the intrinsics below need AVX2 and FMA. Every value of these types is
    //! made by a constructor that checks that the CPU has them ([`super::assert_supported`],
    //! which panics otherwise) or from another value (which was so made), so an operation
    //! on a value runs on a CPU that has them.

    use super::*;
    use crate::real::Precision;
    use std::arch::x86_64::*;

    /// Bytes of a cache line.
    const LINE: usize = 64;

    macro_rules! lanes {
        ($(#[$doc:meta])* $name:ident, $unrolled:expr, $t:ty, $v:ty, $n:literal,
         $set1:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $sqrt:ident,
         $xor:ident, $andnot:ident, $cmp:ident, $movemask:ident, $fmadd:ident, $storeu:ident, $stream:ident) => {
            $(#[$doc])*
            #[derive(Clone, Copy)]
            #[repr(transparent)]
            pub struct $name($v);

            impl Group for $name {
                type Scalar = $t;
                const LANES: usize = $n;
                #[inline(always)]
                fn scalars(groups: &[Self]) -> &[$t] {
                    // SAFETY: `$n` floats without padding; reading them needs no AVX.
                    unsafe { std::slice::from_raw_parts(groups.as_ptr().cast(), groups.len() * $n) }
                }
                #[inline(always)]
                fn scalars_mut(groups: &mut [Self]) -> &mut [$t] {
                    // SAFETY: as above; any float is a valid lane, and the groups exist, so
                    // the CPU has AVX2 and FMA (see the module docs).
                    unsafe {
                        std::slice::from_raw_parts_mut(groups.as_mut_ptr().cast(), groups.len() * $n)
                    }
                }
                #[inline(always)]
                fn all_finite(groups: &[Self]) -> bool {
                    // SAFETY: the groups exist, so the CPU has AVX2 and FMA (see the module docs).
                    unsafe { Self::all_finite_simd(groups) }
                }
                #[inline(always)]
                unsafe fn store_groups(groups: &[Self], planes: &mut [&mut [$t]], at: usize) {
                    // SAFETY: the caller's contract; the groups exist, so the CPU has AVX2
                    // and FMA (see the module docs).
                    unsafe { Self::store_groups_simd(groups, planes, at) }
                }
                #[inline(always)]
                unsafe fn store_pairs_uncached(
                    first: &[Self],
                    second: &[Self],
                    planes: &mut [&mut [$t]],
                    at: usize,
                ) {
                    // SAFETY: as in `store_groups`.
                    unsafe { Self::store_pairs_simd(first, second, planes, at) }
                }
            }

            impl $name {
                const ALL: i32 = (1 << $n) - 1;

                /// [`Group::all_finite`]: `v * 0` is zero unless `v` is infinite or NaN,
                /// and a NaN stays in a sum, so a sum of them is ordered (not NaN) only
                /// where every value is finite. One fused `v * 0 + sum` a group, into
                /// four sums so that the additions do not wait on each other. Compiled
                /// with the lanes' features, unlike the callers in the backend, so that
                /// the loop runs in their instructions rather than calls to them.
                ///
                /// # Safety
                /// Only where the CPU has AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn all_finite_simd(groups: &[Self]) -> bool {
                    let zero = $set1(0.0);
                    let mut sums = [zero; 4];
                    let mut quads = groups.chunks_exact(4);
                    for quad in &mut quads {
                        for (sum, v) in sums.iter_mut().zip(quad) {
                            *sum = $fmadd(v.0, zero, *sum);
                        }
                    }
                    for (sum, v) in sums.iter_mut().zip(quads.remainder()) {
                        *sum = $fmadd(v.0, zero, *sum);
                    }
                    let sum = $add($add(sums[0], sums[1]), $add(sums[2], sums[3]));
                    $movemask($cmp::<_CMP_ORD_Q>(sum, sum)) == Self::ALL
                }

                /// [`Group::store_groups`], in the lanes' instructions.
                ///
                /// # Safety
                /// [`Group::store_groups`]'s contract, where the CPU has AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn store_groups_simd(groups: &[Self], planes: &mut [&mut [$t]], at: usize) {
                    for (plane, v) in planes.iter_mut().zip(groups) {
                        // SAFETY: `at + $n <= plane.len()` (the caller's contract).
                        unsafe { $storeu(plane.as_mut_ptr().add(at), v.0) };
                    }
                }

                /// [`Group::store_pairs_uncached`], in the lanes' instructions.
                ///
                /// # Safety
                /// [`Group::store_pairs_uncached`]'s contract, where the CPU has AVX2 and
                /// FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn store_pairs_simd(
                    first: &[Self],
                    second: &[Self],
                    planes: &mut [&mut [$t]],
                    at: usize,
                ) {
                    for ((plane, a), b) in planes.iter_mut().zip(first).zip(second) {
                        // SAFETY: `at + 2 * $n <= plane.len()` (the caller's contract).
                        let to = unsafe { plane.as_mut_ptr().add(at) };
                        if to.addr().is_multiple_of(LINE) {
                            // SAFETY: as above; `to` and `to + $n` are aligned for a
                            // register (a line's start and middle).
                            unsafe {
                                $stream(to, a.0);
                                $stream(to.add($n), b.0);
                            }
                        } else {
                            // SAFETY: as above.
                            unsafe {
                                $storeu(to, a.0);
                                $storeu(to.add($n), b.0);
                            }
                        }
                    }
                }

                /// A group from its lanes. Panics on a CPU without AVX2 and FMA (see
                /// [`supported`](super::supported)).
                #[inline(always)]
                pub fn from_array(a: [$t; $n]) -> Self {
                    assert_supported();
                    // SAFETY: same size, every bit pattern valid.
                    $name(unsafe { std::mem::transmute::<[$t; $n], $v>(a) })
                }

                /// The lanes, from lane 0 on.
                #[inline(always)]
                pub fn to_array(self) -> [$t; $n] {
                    // SAFETY: same size, every bit pattern valid.
                    unsafe { std::mem::transmute::<$v, [$t; $n]>(self.0) }
                }

                /// The scalar function on every lane: the functions whose SIMD versions
                /// would not give the scalar bits.
                #[inline(always)]
                fn map(self, f: impl Fn($t) -> $t) -> Self {
                    $name(unsafe { std::mem::transmute::<[$t; $n], $v>(self.to_array().map(f)) })
                }

                #[inline(always)]
                fn zip(self, o: Self, f: impl Fn($t, $t) -> $t) -> Self {
                    let (a, b) = (self.to_array(), o.to_array());
                    let r: [$t; $n] = std::array::from_fn(|k| f(a[k], b[k]));
                    $name(unsafe { std::mem::transmute::<[$t; $n], $v>(r) })
                }

                #[inline(always)]
                fn decide<const P: i32>(self, o: Self) -> bool {
                    // SAFETY: `self` exists, so the CPU has AVX2 (see the module docs).
                    let bits = unsafe { $movemask($cmp::<P>(self.0, o.0)) };
                    agreed_mask(bits, Self::ALL)
                }
            }

            impl Default for $name {
                #[inline(always)]
                fn default() -> Self {
                    Self::from_array([0.0; $n])
                }
            }

            impl fmt::Debug for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "{:?}", self.to_array())
                }
            }

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "{:?}", self.to_array())
                }
            }

            // Ordered, quiet predicates: false when either lane is NaN, as in scalar code.
            impl PartialEq for $name {
                #[inline(always)]
                fn eq(&self, o: &Self) -> bool {
                    self.decide::<_CMP_EQ_OQ>(*o)
                }
            }

            impl PartialOrd for $name {
                #[inline(always)]
                fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
                    let (a, b) = (self.to_array(), o.to_array());
                    agreed(std::array::from_fn::<_, $n, _>(|k| a[k].partial_cmp(&b[k])))
                }
                #[inline(always)]
                fn lt(&self, o: &Self) -> bool {
                    self.decide::<_CMP_LT_OQ>(*o)
                }
                #[inline(always)]
                fn le(&self, o: &Self) -> bool {
                    self.decide::<_CMP_LE_OQ>(*o)
                }
                #[inline(always)]
                fn gt(&self, o: &Self) -> bool {
                    self.decide::<_CMP_GT_OQ>(*o)
                }
                #[inline(always)]
                fn ge(&self, o: &Self) -> bool {
                    self.decide::<_CMP_GE_OQ>(*o)
                }
            }

            lanes!(@binary $name, Add, add, AddAssign, add_assign, $add);
            lanes!(@binary $name, Sub, sub, SubAssign, sub_assign, $sub);
            lanes!(@binary $name, Mul, mul, MulAssign, mul_assign, $mul);
            lanes!(@binary $name, Div, div, DivAssign, div_assign, $div);

            impl Neg for $name {
                type Output = Self;
                #[inline(always)]
                fn neg(self) -> Self {
                    // Flips the sign bit, as scalar negation does (NaNs included).
                    // SAFETY: see the module docs.
                    $name(unsafe { $xor(self.0, $set1(-0.0)) })
                }
            }

            impl Real for $name {
                const PRECISION: Precision = <$t as Real>::PRECISION;
                const UNROLLED_TRIPS: usize = $unrolled;
                #[inline(always)]
                fn from_f64(v: f64) -> Self {
                    assert_supported();
                    // SAFETY: checked just above.
                    $name(unsafe { $set1(v as $t) })
                }
                /// Lane 0's value; a group whose lanes hold different values is marked
                /// diverged, since the form needs one value (an index, a loop bound).
                #[inline(always)]
                fn to_f64(self) -> f64 {
                    let a = self.to_array();
                    // NaN counts as equal to NaN: every lane takes the same decision then.
                    agreed(a.map(|v| if v.is_nan() { <$t>::NAN.to_bits() } else { v.to_bits() }));
                    f64::from(a[0])
                }
                #[inline(always)]
                fn sqrt(self) -> Self {
                    // Correctly rounded, in SIMD as in scalar code.
                    // SAFETY: see the module docs.
                    $name(unsafe { $sqrt(self.0) })
                }
                #[inline(always)]
                fn exp(self) -> Self {
                    self.map(<$t>::exp)
                }
                #[inline(always)]
                fn ln(self) -> Self {
                    self.map(<$t>::ln)
                }
                #[inline(always)]
                fn powf(self, e: Self) -> Self {
                    self.zip(e, <$t>::powf)
                }
                #[inline(always)]
                fn powi(self, n: i32) -> Self {
                    self.map(|a| a.powi(n))
                }
                #[inline(always)]
                fn sin(self) -> Self {
                    self.map(<$t>::sin)
                }
                #[inline(always)]
                fn cos(self) -> Self {
                    self.map(<$t>::cos)
                }
                #[inline(always)]
                fn tanh(self) -> Self {
                    self.map(<$t>::tanh)
                }
                #[inline(always)]
                fn abs(self) -> Self {
                    // SAFETY: see the module docs.
                    $name(unsafe { $andnot($set1(-0.0), self.0) })
                }
                #[inline(always)]
                fn min(self, o: Self) -> Self {
                    // The scalar rule for NaN (the other operand wins), lane by lane.
                    self.zip(o, <$t>::min)
                }
                #[inline(always)]
                fn max(self, o: Self) -> Self {
                    self.zip(o, <$t>::max)
                }
                #[inline(always)]
                fn mul_add(self, a: Self, b: Self) -> Self {
                    // One rounding, as the scalar `mul_add`.
                    // SAFETY: see the module docs.
                    $name(unsafe { $fmadd(self.0, a.0, b.0) })
                }
                #[inline(always)]
                fn is_finite(self) -> bool {
                    agreed(self.to_array().map(<$t>::is_finite))
                }
            }
        };
        (@binary $name:ident, $trait:ident, $method:ident, $assign:ident, $assign_method:ident, $op:ident) => {
            impl $trait for $name {
                type Output = Self;
                #[inline(always)]
                fn $method(self, o: Self) -> Self {
                    // SAFETY: see the module docs.
                    $name(unsafe { $op(self.0, o.0) })
                }
            }
            impl $assign for $name {
                #[inline(always)]
                fn $assign_method(&mut self, o: Self) {
                    *self = $trait::$method(*self, o);
                }
            }
        };
    }

    lanes!(
        /// Eight `f32` lanes in one AVX register, whose forms unroll every loop over the
        /// lattice: the lane forwards.
        F32x8, crate::unroll::MAX_UNROLLED, f32, __m256, 8, _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps,
        _mm256_mul_ps, _mm256_div_ps, _mm256_sqrt_ps, _mm256_xor_ps, _mm256_andnot_ps,
        _mm256_cmp_ps, _mm256_movemask_ps, _mm256_fmadd_ps, _mm256_storeu_ps, _mm256_stream_ps
    );
    lanes!(
        /// [`F32x8`] for the lane adjoints, whose forms unroll only their loops over `D`:
        /// with their loops over `Q` unrolled too, the adjoints of forty random operators
        /// took seven minutes to compile instead of one, for a few times their speed.
        RolledF32x8, 3, f32, __m256, 8, _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps,
        _mm256_mul_ps, _mm256_div_ps, _mm256_sqrt_ps, _mm256_xor_ps, _mm256_andnot_ps,
        _mm256_cmp_ps, _mm256_movemask_ps, _mm256_fmadd_ps, _mm256_storeu_ps, _mm256_stream_ps
    );

    /// The same lanes seen as [`RolledF32x8`], to run a lane adjoint on [`F32x8`] groups.
    #[inline(always)]
    pub fn as_rolled(groups: &[F32x8]) -> &[RolledF32x8] {
        // SAFETY: both are `repr(transparent)` over `__m256`, and a value of either was
        // made where the CPU has AVX2 and FMA (see the module docs).
        unsafe { std::slice::from_raw_parts(groups.as_ptr().cast(), groups.len()) }
    }

    /// [`as_rolled`], to write lanes.
    #[inline(always)]
    pub fn as_rolled_mut(groups: &mut [F32x8]) -> &mut [RolledF32x8] {
        // SAFETY: as in `as_rolled`.
        unsafe { std::slice::from_raw_parts_mut(groups.as_mut_ptr().cast(), groups.len()) }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// A thread that never asked [`supported`] (a pool's worker, say) still makes lane
    /// values: its first constructor runs the detection itself.
    #[test]
    fn a_fresh_thread_detects_on_its_first_lane_value() {
        if !supported() {
            return;
        }
        let lanes = std::thread::spawn(|| {
            assert!(!FOUND.with(Cell::get));
            let v = F32x8::from_f64(1.5) * F32x8::from_array([2.0; 8]);
            assert!(FOUND.with(Cell::get));
            v.to_array()
        })
        .join()
        .expect("the thread does not panic");
        assert_eq!(lanes, [3.0; 8]);
    }

    /// Every group count (whole sets of four sums and remainders), every position of a
    /// single non-finite value, and finite values whose plain sum would overflow.
    #[test]
    fn all_finite_finds_any_non_finite_value() {
        if !supported() {
            return;
        }
        for len in 0..11 {
            let groups = vec![F32x8::from_array([f32::MAX; 8]); len];
            assert!(F32x8::all_finite(&groups), "{len} groups of f32::MAX");
            for at in 0..len * 8 {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut lanes = vec![-1.5f32; len * 8];
                    lanes[at] = bad;
                    let groups: Vec<F32x8> = lanes
                        .chunks_exact(8)
                        .map(|c| F32x8::from_array(c.try_into().expect("eight lanes")))
                        .collect();
                    assert!(!F32x8::all_finite(&groups), "{bad} at {at} of {len} groups");
                }
            }
        }
    }

    /// The flag's merged loads must not merge away a divergence mark.
    #[test]
    fn divergence_is_still_marked() {
        if !supported() {
            return;
        }
        let ramp = F32x8::from_array(std::array::from_fn(|k| k as f32));
        reset_divergence();
        assert!(ramp < F32x8::from_f64(1.0));
        assert!(diverged());
        reset_divergence();
        assert!(ramp < F32x8::from_f64(8.0));
        assert!(!diverged());
    }
}
