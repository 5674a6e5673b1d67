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
    /// Fills group `k` of `groups` with the `LANES` scalars from `from + starts[k] + x` on,
    /// for every `k < starts.len()`: a group's population runs, gathered.
    ///
    /// # Safety
    /// `groups.len() >= starts.len()`, and each run `from + starts[k] + x..` of `LANES`
    /// scalars lies in one allocation `from` points into.
    unsafe fn gather_runs(
        from: *const Self::Scalar,
        starts: &[usize],
        x: usize,
        groups: &mut [Self],
    );
    /// Fills group `k` of `groups` with the `LANES` scalars from `from + k * stride` on, for
    /// every group: a run of each plane of a direction-major state.
    ///
    /// # Safety
    /// Each run `from + k * stride..` of `LANES` scalars, `k < groups.len()`, lies in one
    /// allocation `from` points into.
    unsafe fn gather_strided(from: *const Self::Scalar, stride: usize, groups: &mut [Self]);
    /// Writes group `order[k]` of `groups` to the `LANES` scalars from `to + starts[k] + x`
    /// on, for every `k < starts.len()`: a group's values, scattered to runs.
    ///
    /// # Safety
    /// `order.len() >= starts.len()`, every `order[k] < groups.len()`, and each run
    /// `to + starts[k] + x..` of `LANES` scalars lies in one allocation `to` points into,
    /// which nothing else reads or writes meanwhile.
    unsafe fn scatter_runs(
        groups: &[Self],
        order: &[usize],
        to: *mut Self::Scalar,
        starts: &[usize],
        x: usize,
    );
    /// Writes group `j` of `groups` to `planes[j]`, its `LANES` scalars from `at` on, and
    /// says whether every value written is finite: the check a step makes of every output,
    /// in the same pass as the stores and without an early exit.
    ///
    /// # Safety
    /// `at + LANES <= planes[j].len()` for every `j < groups.len()`.
    unsafe fn store_checked(groups: &[Self], planes: &mut [&mut [Self::Scalar]], at: usize)
        -> bool;
    /// Writes group `j` of `first` and then of `second` to `planes[j]`, `2 * LANES`
    /// scalars from `at` on, past the caches (non-temporal stores) where those scalars are
    /// one whole cache line, and says whether every value written is finite, as
    /// [`Group::store_checked`] does. A line written in parts from a dozen planes at once
    /// would leave the core's write-combining buffers partly filled, each costing memory a
    /// read and a write. A thread that stored past the caches runs
    /// [`fence_uncached_stores`] before another reads what it wrote.
    ///
    /// # Safety
    /// `at + 2 * LANES <= planes[j].len()` for every `j < first.len()`, and `second` is as
    /// long as `first`.
    unsafe fn store_pairs_uncached_checked(
        first: &[Self],
        second: &[Self],
        planes: &mut [&mut [Self::Scalar]],
        at: usize,
    ) -> bool;
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
            unsafe fn gather_runs(from: *const $t, starts: &[usize], x: usize, groups: &mut [Self]) {
                for (group, &start) in groups.iter_mut().zip(starts) {
                    // SAFETY: the caller's contract.
                    *group = unsafe { *from.add(start.wrapping_add(x)) };
                }
            }
            #[inline(always)]
            unsafe fn gather_strided(from: *const $t, stride: usize, groups: &mut [Self]) {
                for (k, group) in groups.iter_mut().enumerate() {
                    // SAFETY: the caller's contract.
                    *group = unsafe { *from.add(k * stride) };
                }
            }
            #[inline(always)]
            unsafe fn scatter_runs(groups: &[Self], order: &[usize], to: *mut $t, starts: &[usize], x: usize) {
                for (&start, &k) in starts.iter().zip(order) {
                    // SAFETY: the caller's contract.
                    unsafe { *to.add(start.wrapping_add(x)) = groups[k] };
                }
            }
            #[inline(always)]
            unsafe fn store_checked(groups: &[Self], planes: &mut [&mut [$t]], at: usize) -> bool {
                let mut finite = true;
                for (plane, v) in planes.iter_mut().zip(groups) {
                    // SAFETY: `at < plane.len()` (the caller's contract).
                    unsafe { *plane.get_unchecked_mut(at) = *v };
                    finite &= v.is_finite();
                }
                finite
            }
            #[inline(always)]
            unsafe fn store_pairs_uncached_checked(
                first: &[Self],
                second: &[Self],
                planes: &mut [&mut [$t]],
                at: usize,
            ) -> bool {
                // Two values are no cache line: ordinary stores.
                // SAFETY: `at + 1 < plane.len()` (the caller's contract).
                unsafe {
                    Self::store_checked(first, planes, at) & Self::store_checked(second, planes, at + 1)
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

    /// `f::<N>(args)` with `N` the count when it is the `Q` of a lattice (the forms behind
    /// it unrolled for that many groups), else `f::<0>(args)` (a loop).
    macro_rules! by_direction_count {
        ($count:expr, Self::$f:ident($($arg:expr),*)) => {
            match $count {
                9 => Self::$f::<9>($($arg),*),
                19 => Self::$f::<19>($($arg),*),
                27 => Self::$f::<27>($($arg),*),
                _ => Self::$f::<0>($($arg),*),
            }
        };
    }

    macro_rules! lanes {
        ($(#[$doc:meta])* $name:ident, $unrolled:expr, $t:ty, $v:ty, $n:literal,
         $set1:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $sqrt:ident,
         $xor:ident, $andnot:ident, $cmp:ident, $movemask:ident, $fmadd:ident, $loadu:ident, $storeu:ident, $stream:ident) => {
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
                unsafe fn gather_runs(from: *const $t, starts: &[usize], x: usize, groups: &mut [Self]) {
                    // SAFETY: the caller's contract; the groups exist, so the CPU has AVX2
                    // and FMA (see the module docs).
                    unsafe { Self::gather_runs_simd(from, starts, x, groups) }
                }
                #[inline(always)]
                unsafe fn gather_strided(from: *const $t, stride: usize, groups: &mut [Self]) {
                    // SAFETY: as in `gather_runs`.
                    unsafe { Self::gather_strided_simd(from, stride, groups) }
                }
                #[inline(always)]
                unsafe fn scatter_runs(groups: &[Self], order: &[usize], to: *mut $t, starts: &[usize], x: usize) {
                    // SAFETY: as in `gather_runs`.
                    unsafe { Self::scatter_runs_simd(groups, order, to, starts, x) }
                }
                #[inline(always)]
                unsafe fn store_checked(groups: &[Self], planes: &mut [&mut [$t]], at: usize) -> bool {
                    // SAFETY: the caller's contract; the groups exist, so the CPU has AVX2
                    // and FMA (see the module docs).
                    unsafe { Self::store_checked_simd(groups, planes, at) }
                }
                #[inline(always)]
                unsafe fn store_pairs_uncached_checked(
                    first: &[Self],
                    second: &[Self],
                    planes: &mut [&mut [$t]],
                    at: usize,
                ) -> bool {
                    // SAFETY: as in `store_checked`.
                    unsafe { Self::store_pairs_checked_simd(first, second, planes, at) }
                }
            }

            impl $name {
                const ALL: i32 = (1 << $n) - 1;

                /// `body(j)` for every `j < len`: unrolled when `TRIPS` is not zero (and
                /// then `len`), else a loop.
                #[inline(always)]
                fn each_output<const TRIPS: usize>(len: usize, body: impl FnMut(usize)) {
                    if TRIPS == 0 {
                        (0..len).for_each(body);
                    } else {
                        crate::unroll::each::<TRIPS>(body);
                    }
                }

                /// Whether the checks [`Self::add_to_check`] summed into `sums` saw only
                /// finite values.
                #[inline(always)]
                fn check_passed(sums: [$v; 4]) -> bool {
                    // SAFETY: the sums exist as lane values, so the CPU has AVX2 and FMA.
                    unsafe {
                        let sum = $add($add(sums[0], sums[1]), $add(sums[2], sums[3]));
                        $movemask($cmp::<_CMP_ORD_Q>(sum, sum)) == Self::ALL
                    }
                }

                /// Adds `v` to the finite check of output `j`: `v * 0` is zero unless `v`
                /// is infinite or NaN, and a NaN stays in a sum, so a sum of them is
                /// ordered (not NaN) only where every value is finite. One fused
                /// `v * 0 + sum` a group, into four sums so that the additions do not
                /// wait on each other.
                #[inline(always)]
                fn add_to_check(sums: &mut [$v; 4], j: usize, v: $v) {
                    // SAFETY: as in `check_passed`.
                    unsafe { sums[j % 4] = $fmadd(v, $set1(0.0), sums[j % 4]) };
                }

                /// [`Group::gather_runs`], in the lanes' instructions (a copy of a group
                /// in the backend's own code is two SSE moves each way), unrolled where
                /// there are as many runs as a lattice has directions.
                ///
                /// # Safety
                /// [`Group::gather_runs`]'s contract, where the CPU has AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn gather_runs_simd(from: *const $t, starts: &[usize], x: usize, groups: &mut [Self]) {
                    // SAFETY: the caller's contract.
                    unsafe {
                        by_direction_count!(starts.len(), Self::gather_runs_of(from, starts, x, groups))
                    }
                }

                /// [`Self::gather_runs_simd`] for `TRIPS` runs, or any number where
                /// `TRIPS` is zero; see [`Self::store_checked_of`].
                ///
                /// # Safety
                /// As [`Self::gather_runs_simd`], and `TRIPS` is zero or `starts.len()`.
                #[target_feature(enable = "avx2,fma")]
                #[inline(never)]
                unsafe fn gather_runs_of<const TRIPS: usize>(
                    from: *const $t,
                    starts: &[usize],
                    x: usize,
                    groups: &mut [Self],
                ) {
                    let groups = &mut groups[..starts.len()];
                    Self::each_output::<TRIPS>(starts.len(), |k| {
                        // SAFETY: the caller's contract.
                        groups[k] = $name(unsafe { $loadu(from.add(starts[k].wrapping_add(x))) });
                    });
                }

                /// [`Group::gather_strided`], in the lanes' instructions, unrolled as
                /// [`Self::gather_runs_simd`] is.
                ///
                /// # Safety
                /// [`Group::gather_strided`]'s contract, where the CPU has AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn gather_strided_simd(from: *const $t, stride: usize, groups: &mut [Self]) {
                    // SAFETY: the caller's contract.
                    unsafe {
                        by_direction_count!(groups.len(), Self::gather_strided_of(from, stride, groups))
                    }
                }

                /// [`Self::gather_strided_simd`] for `TRIPS` groups, or any number where
                /// `TRIPS` is zero; see [`Self::store_checked_of`].
                ///
                /// # Safety
                /// As [`Self::gather_strided_simd`], and `TRIPS` is zero or `groups.len()`.
                #[target_feature(enable = "avx2,fma")]
                #[inline(never)]
                unsafe fn gather_strided_of<const TRIPS: usize>(
                    from: *const $t,
                    stride: usize,
                    groups: &mut [Self],
                ) {
                    Self::each_output::<TRIPS>(groups.len(), |k| {
                        // SAFETY: the caller's contract.
                        groups[k] = $name(unsafe { $loadu(from.add(k * stride)) });
                    });
                }

                /// [`Group::scatter_runs`], in the lanes' instructions, unrolled as
                /// [`Self::gather_runs_simd`] is.
                ///
                /// # Safety
                /// [`Group::scatter_runs`]'s contract, where the CPU has AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn scatter_runs_simd(
                    groups: &[Self],
                    order: &[usize],
                    to: *mut $t,
                    starts: &[usize],
                    x: usize,
                ) {
                    // SAFETY: the caller's contract.
                    unsafe {
                        by_direction_count!(starts.len(), Self::scatter_runs_of(groups, order, to, starts, x))
                    }
                }

                /// [`Self::scatter_runs_simd`] for `TRIPS` runs, or any number where
                /// `TRIPS` is zero; see [`Self::store_checked_of`].
                ///
                /// # Safety
                /// As [`Self::scatter_runs_simd`], and `TRIPS` is zero or `starts.len()`.
                #[target_feature(enable = "avx2,fma")]
                #[inline(never)]
                unsafe fn scatter_runs_of<const TRIPS: usize>(
                    groups: &[Self],
                    order: &[usize],
                    to: *mut $t,
                    starts: &[usize],
                    x: usize,
                ) {
                    let order = &order[..starts.len()];
                    Self::each_output::<TRIPS>(starts.len(), |k| {
                        // SAFETY: the caller's contract (`order[k] < groups.len()`).
                        unsafe {
                            let v = groups.get_unchecked(order[k]).0;
                            $storeu(to.add(starts[k].wrapping_add(x)), v)
                        };
                    });
                }

                /// [`Group::store_checked`], in the lanes' instructions: unrolled where
                /// there are as many groups as a lattice has directions (the outputs of a
                /// collision), since a loop of a length the compiler cannot see costs a
                /// counter, a bound and the planes' lengths every trip, as much as the
                /// stores themselves.
                ///
                /// # Safety
                /// [`Group::store_checked`]'s contract, where the CPU has AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn store_checked_simd(groups: &[Self], planes: &mut [&mut [$t]], at: usize) -> bool {
                    // SAFETY: the caller's contract.
                    unsafe {
                        by_direction_count!(groups.len(), Self::store_checked_of(groups, planes, at))
                    }
                }

                /// [`Self::store_checked_simd`] for `TRIPS` groups, or any number of them
                /// where `TRIPS` is zero. Compiled with the lanes' features, unlike the
                /// callers in the backend, so that the stores and checks run in their
                /// instructions rather than calls to them; never inlined, so that the
                /// compiler keeps each length's unrolled stores apart and its sums in
                /// registers instead of merging them into one sequence entered at a
                /// jump.
                ///
                /// # Safety
                /// As [`Self::store_checked_simd`], and `TRIPS` is zero or `groups.len()`.
                #[target_feature(enable = "avx2,fma")]
                #[inline(never)]
                unsafe fn store_checked_of<const TRIPS: usize>(
                    groups: &[Self],
                    planes: &mut [&mut [$t]],
                    at: usize,
                ) -> bool {
                    let planes = &mut planes[..groups.len()];
                    let mut sums = [$set1(0.0); 4];
                    Self::each_output::<TRIPS>(groups.len(), |j| {
                        let v = groups[j].0;
                        // SAFETY: `at + $n <= planes[j].len()` (the caller's contract).
                        unsafe { $storeu(planes[j].as_mut_ptr().add(at), v) };
                        Self::add_to_check(&mut sums, j, v);
                    });
                    Self::check_passed(sums)
                }

                /// [`Group::store_pairs_uncached_checked`], in the lanes' instructions,
                /// unrolled as [`Self::store_checked_simd`] is.
                ///
                /// # Safety
                /// [`Group::store_pairs_uncached_checked`]'s contract, where the CPU has
                /// AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn store_pairs_checked_simd(
                    first: &[Self],
                    second: &[Self],
                    planes: &mut [&mut [$t]],
                    at: usize,
                ) -> bool {
                    // SAFETY: the caller's contract.
                    unsafe {
                        by_direction_count!(first.len(), Self::store_pairs_checked_of(first, second, planes, at))
                    }
                }

                /// [`Self::store_pairs_checked_simd`] for `TRIPS` groups, or any number
                /// where `TRIPS` is zero; see [`Self::store_checked_of`].
                ///
                /// # Safety
                /// As [`Self::store_pairs_checked_simd`], and `TRIPS` is zero or
                /// `first.len()`.
                #[target_feature(enable = "avx2,fma")]
                #[inline(never)]
                unsafe fn store_pairs_checked_of<const TRIPS: usize>(
                    first: &[Self],
                    second: &[Self],
                    planes: &mut [&mut [$t]],
                    at: usize,
                ) -> bool {
                    let (planes, second) = (&mut planes[..first.len()], &second[..first.len()]);
                    let mut sums = [$set1(0.0); 4];
                    Self::each_output::<TRIPS>(first.len(), |j| {
                        let (a, b) = (first[j].0, second[j].0);
                        // SAFETY: `at + 2 * $n <= plane.len()` (the caller's contract).
                        let to = unsafe { planes[j].as_mut_ptr().add(at) };
                        if to.addr().is_multiple_of(LINE) {
                            // SAFETY: as above; `to` and `to + $n` are aligned for a
                            // register (a line's start and middle).
                            unsafe {
                                $stream(to, a);
                                $stream(to.add($n), b);
                            }
                        } else {
                            // SAFETY: as above.
                            unsafe {
                                $storeu(to, a);
                                $storeu(to.add($n), b);
                            }
                        }
                        Self::add_to_check(&mut sums, j, a);
                        Self::add_to_check(&mut sums, j + 2, b);
                    });
                    Self::check_passed(sums)
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
        _mm256_cmp_ps, _mm256_movemask_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_stream_ps
    );
    lanes!(
        /// [`F32x8`] for the lane adjoints, whose forms unroll only their loops over `D`:
        /// with their loops over `Q` unrolled too, the adjoints of forty random operators
        /// took seven minutes to compile instead of one, for a few times their speed.
        RolledF32x8, 3, f32, __m256, 8, _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps,
        _mm256_mul_ps, _mm256_div_ps, _mm256_sqrt_ps, _mm256_xor_ps, _mm256_andnot_ps,
        _mm256_cmp_ps, _mm256_movemask_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_stream_ps
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

    /// Groups of `lanes`, eight at a time.
    fn groups_of(lanes: &[f32]) -> Vec<F32x8> {
        lanes
            .chunks_exact(8)
            .map(|c| F32x8::from_array(c.try_into().expect("eight lanes")))
            .collect()
    }

    /// Stores `first` (and `second`, as a pair past the caches, when given) into planes of
    /// 16 values from `at` on; returns the planes and what the store said of finiteness.
    fn store(first: &[F32x8], second: Option<&[F32x8]>, at: usize) -> (Vec<[f32; 32]>, bool) {
        // Planes of 16 values starting on a cache line, in a buffer of whole lines.
        #[repr(align(64))]
        #[derive(Clone, Copy)]
        struct Lines([f32; 32]);
        let mut buffers = vec![Lines([f32::NAN; 32]); first.len()];
        let mut planes: Vec<&mut [f32]> = buffers.iter_mut().map(|b| &mut b.0[..]).collect();
        // SAFETY: `at + 16 <= 32`.
        let finite = unsafe {
            match second {
                None => F32x8::store_checked(first, &mut planes, at),
                Some(second) => F32x8::store_pairs_uncached_checked(first, second, &mut planes, at),
            }
        };
        (buffers.iter().map(|b| b.0).collect(), finite)
    }

    /// Every group count (the unrolled lengths 9, 19 and 27 and the others, whole sets of
    /// four sums and remainders), every position of a single non-finite value, and finite
    /// values whose plain sum would overflow: the stores write every value where it
    /// belongs, and the check finds any non-finite one.
    #[test]
    fn stores_write_every_value_and_find_any_non_finite_one() {
        if !supported() {
            return;
        }
        for len in 0..29 {
            let big = groups_of(&vec![f32::MAX; len * 8]);
            let ramp: Vec<f32> = (0..len * 8).map(|k| k as f32 - 7.5).collect();
            let (after, before) = (ramp.iter().map(|v| v * 3.0).collect::<Vec<_>>(), ramp);
            for at in [0, 8, 16, 5] {
                let (planes, finite) = store(&big, None, at.min(16));
                assert!(finite, "{len} groups of f32::MAX");
                assert!(planes
                    .iter()
                    .all(|p| p[at.min(16)..at.min(16) + 8] == [f32::MAX; 8]));
                if at > 16 - 8 {
                    continue;
                }
                let (planes, finite) = store(&groups_of(&before), Some(&groups_of(&after)), at);
                assert!(finite, "{len} pairs at {at}");
                for (j, plane) in planes.iter().enumerate() {
                    assert_eq!(
                        plane[at..at + 8],
                        before[j * 8..j * 8 + 8],
                        "plane {j} at {at}"
                    );
                    assert_eq!(
                        plane[at + 8..at + 16],
                        after[j * 8..j * 8 + 8],
                        "plane {j} at {at}"
                    );
                    assert!(plane[..at]
                        .iter()
                        .chain(&plane[at + 16..])
                        .all(|v| v.is_nan()));
                }
            }
            for at in 0..len * 8 {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut lanes = vec![-1.5f32; len * 8];
                    lanes[at] = bad;
                    let (groups, fine) = (groups_of(&lanes), groups_of(&vec![2.0; len * 8]));
                    assert!(!store(&groups, None, 0).1, "{bad} at {at} of {len} groups");
                    assert!(
                        !store(&groups, Some(&fine), 0).1,
                        "{bad} first, {at} of {len}"
                    );
                    assert!(
                        !store(&fine, Some(&groups), 0).1,
                        "{bad} second, {at} of {len}"
                    );
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
