//! The per-cell tape of the generated Rust adjoints.
//!
//! An adjoint first re-runs its operator forward, saving every value that an assignment
//! overwrites and every branch it takes; the reverse sweep then pops them in the opposite
//! order, so at each reversed statement the variables hold exactly what they held before
//! that statement ran forward. Both stacks have a capacity the macro computes from the
//! operator (bounded with the largest lattice), so they live on the stack, not the heap.

use std::mem::MaybeUninit;

use crate::real::Real;

/// Saved real values.
///
/// The slots start uninitialised: a tape is made for every cell an adjoint runs on, and
/// its capacity is bounded with the largest lattice, so zeroing it cost more than the
/// pushes on small lattices. Every slot below `top` has been written by a push (a push
/// writes slot `top` before raising it, a pop lowers it), so a pop reads a written slot.
pub struct Tape<R, const N: usize> {
    values: [MaybeUninit<R>; N],
    top: usize,
}

impl<R: Real, const N: usize> Tape<R, N> {
    /// An empty tape.
    #[inline(always)]
    pub fn new() -> Self {
        Tape {
            values: [const { MaybeUninit::uninit() }; N],
            top: 0,
        }
    }

    /// Saves one value.
    #[inline(always)]
    pub fn push(&mut self, v: R) {
        self.values[self.top] = MaybeUninit::new(v);
        self.top += 1;
    }

    /// Returns the value saved last.
    ///
    /// # Panics
    /// If nothing is saved: the adjoints the macro prints pop only what they pushed.
    #[inline(always)]
    pub fn pop(&mut self) -> R {
        self.top = self.top.checked_sub(1).expect("a pop follows its push");
        // SAFETY: slots below the old `top` were written (see the type's docs).
        unsafe { self.values[self.top].assume_init() }
    }
}

impl<R: Real, const N: usize> Default for Tape<R, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Saved integers, booleans and branch decisions.
pub struct ControlTape<const N: usize> {
    values: [i64; N],
    top: usize,
}

impl<const N: usize> ControlTape<N> {
    /// An empty tape.
    #[inline(always)]
    pub fn new() -> Self {
        ControlTape {
            values: [0; N],
            top: 0,
        }
    }

    /// Saves one integer.
    #[inline(always)]
    pub fn push(&mut self, v: i64) {
        self.values[self.top] = v;
        self.top += 1;
    }

    /// Returns the integer saved last.
    #[inline(always)]
    pub fn pop(&mut self) -> i64 {
        self.top -= 1;
        self.values[self.top]
    }
}

impl<const N: usize> Default for ControlTape<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A real-valued value of the operator language: a scalar or an array of reals.
///
/// The generated adjoints use it where the macro does not know a value's shape, such as
/// the result of a call to another operator: zero adjoints, accumulation, saving.
pub trait Value<R: Real>: Copy {
    /// Number of reals.
    const LEN: usize;
    /// The zero value.
    fn zero() -> Self;
    /// Zero as the additive identity, `-0.0`, which the generated adjoints start their
    /// accumulators from: adding `x` to it gives `x` exactly, so a compiler drops the
    /// first addition (it may not drop `0.0 + x`, which is `0.0` for `x = -0.0`).
    fn additive_zero() -> Self;
    /// Adds `other` to `self` element-wise.
    fn accumulate(&mut self, other: Self);
    /// Saves every element on the tape.
    fn save<const N: usize>(&self, tape: &mut Tape<R, N>);
    /// Restores every element from the tape, in the opposite order of [`Value::save`].
    fn restore<const N: usize>(&mut self, tape: &mut Tape<R, N>);
    /// Appends the elements to a flat buffer at `*at`, advancing it.
    fn write_flat(&self, buf: &mut [R], at: &mut usize);
    /// Reads the elements from a flat buffer at `*at`, advancing it.
    fn read_flat(buf: &[R], at: &mut usize) -> Self;
    /// Adds the elements into a flat buffer at `*at`, advancing it: in place, because a
    /// lane adjoint's arrays are hundreds of bytes, which a read, an accumulation and a
    /// write would copy twice.
    fn add_to_flat(&self, buf: &mut [R], at: &mut usize);
}

impl<R: Real> Value<R> for R {
    const LEN: usize = 1;
    #[inline(always)]
    fn zero() -> Self {
        R::default()
    }
    #[inline(always)]
    fn additive_zero() -> Self {
        R::from_f64(-0.0)
    }
    #[inline(always)]
    fn accumulate(&mut self, other: Self) {
        *self += other;
    }
    #[inline(always)]
    fn save<const N: usize>(&self, tape: &mut Tape<R, N>) {
        tape.push(*self);
    }
    #[inline(always)]
    fn restore<const N: usize>(&mut self, tape: &mut Tape<R, N>) {
        *self = tape.pop();
    }
    #[inline(always)]
    fn write_flat(&self, buf: &mut [R], at: &mut usize) {
        buf[*at] = *self;
        *at += 1;
    }
    #[inline(always)]
    fn read_flat(buf: &[R], at: &mut usize) -> Self {
        *at += 1;
        buf[*at - 1]
    }
    #[inline(always)]
    fn add_to_flat(&self, buf: &mut [R], at: &mut usize) {
        buf[*at] += *self;
        *at += 1;
    }
}

impl<R: Real, const M: usize> Value<R> for [R; M] {
    const LEN: usize = M;
    #[inline(always)]
    fn zero() -> Self {
        [R::default(); M]
    }
    #[inline(always)]
    fn additive_zero() -> Self {
        [R::from_f64(-0.0); M]
    }
    #[inline(always)]
    fn accumulate(&mut self, other: Self) {
        // Unrolled and by index: iterating `other` by value moves the whole array into
        // the iterator, a copy LLVM keeps (a `memcpy` call) for lane arrays, and a loop
        // (see `add_to_flat`) counts and checks around every addition.
        crate::unroll::up::<M, R>(0, |k| self[k] += other[k]);
    }
    #[inline(always)]
    fn save<const N: usize>(&self, tape: &mut Tape<R, N>) {
        for v in self {
            tape.push(*v);
        }
    }
    #[inline(always)]
    fn restore<const N: usize>(&mut self, tape: &mut Tape<R, N>) {
        for v in self.iter_mut().rev() {
            *v = tape.pop();
        }
    }
    #[inline(always)]
    fn write_flat(&self, buf: &mut [R], at: &mut usize) {
        buf[*at..*at + M].copy_from_slice(self);
        *at += M;
    }
    #[inline(always)]
    fn read_flat(buf: &[R], at: &mut usize) -> Self {
        let mut v = [R::default(); M];
        v.copy_from_slice(&buf[*at..*at + M]);
        *at += M;
        v
    }
    #[inline(always)]
    fn add_to_flat(&self, buf: &mut [R], at: &mut usize) {
        let to = &mut buf[*at..*at + M];
        // Unrolled: as a loop (rustc does not unroll 19 trips), each lane value's
        // addition carried the loop's own counting and checks, 17 instructions a cell of
        // a D3Q19 BGK adjoint step.
        crate::unroll::up::<M, R>(0, |k| to[k] += self[k]);
        *at += M;
    }
}

/// Conversion back from a control-tape entry to the integer or boolean type it came from.
pub trait FromControl {
    /// The value that was saved as `v`.
    fn from_control(v: i64) -> Self;
}

macro_rules! impl_from_control {
    ($($t:ty),*) => {
        $(impl FromControl for $t {
            #[inline(always)]
            fn from_control(v: i64) -> Self {
                v as $t
            }
        })*
    };
}

impl_from_control!(i32, u32, i64, usize);

impl FromControl for bool {
    #[inline(always)]
    fn from_control(v: i64) -> Self {
        v != 0
    }
}
