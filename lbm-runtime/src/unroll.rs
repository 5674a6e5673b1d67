//! Loops over the lattice that the generated Rust forms unroll.
//!
//! An operator's loops run over `0..Q` or `0..D` (or a small literal range), and their
//! bodies index the lattice's tables: unrolled, `C[i][a]` and `W[i]` become constants, the
//! products by `1` and `-1` fold and no table is loaded. rustc's `opt-level = 2` does not
//! unroll loops of 19 or 27 trips by itself, so the printer calls these instead of writing
//! a `for` loop. Only for trip counts up to the real type's [`Real::UNROLLED_TRIPS`] (and
//! [`MAX_UNROLLED`]); otherwise they run as ordinary loops, and the branch not taken is
//! gone at monomorphisation.

/// The longest loop that is unrolled (`Q` of D3Q27).
pub const MAX_UNROLLED: usize = 27;

use crate::real::Real;

macro_rules! unrolled {
    ($body:ident, $start:ident, $end:ident, $($k:literal)*) => {
        $(if $k >= $start && $k < $end {
            $body($k);
        })*
    };
}

/// `for i in start..END { body(i) }`, unrolled when `END <= R::UNROLLED_TRIPS` and
/// `END <= MAX_UNROLLED`.
#[inline(always)]
pub fn up<const END: usize, R: Real>(start: usize, mut body: impl FnMut(usize)) {
    if END > R::UNROLLED_TRIPS || END > MAX_UNROLLED {
        // A `while` loop, not an iterator adaptor: a lane form's target features reach
        // only what is inlined into it, and `for_each` is not always inlined.
        let mut i = start;
        while i < END {
            body(i);
            i += 1;
        }
        return;
    }
    unrolled!(body, start, END, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26);
}

/// `for i in 0..END { body(i) }`, unrolled for any type up to [`MAX_UNROLLED`] trips: the
/// runtime's own loops over a lattice's directions (gathers and stores of a group of
/// cells), whose bodies are a few instructions each.
#[inline(always)]
pub fn each<const END: usize>(mut body: impl FnMut(usize)) {
    if END > MAX_UNROLLED {
        (0..END).for_each(body);
        return;
    }
    let start = 0;
    unrolled!(body, start, END, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26);
}

/// `for i in (start..END).rev() { body(i) }`, unrolled as [`up`] is.
#[inline(always)]
pub fn down<const END: usize, R: Real>(start: usize, mut body: impl FnMut(usize)) {
    if END > R::UNROLLED_TRIPS || END > MAX_UNROLLED {
        let mut i = END;
        while i > start {
            i -= 1;
            body(i);
        }
        return;
    }
    unrolled!(body, start, END, 26 25 24 23 22 21 20 19 18 17 16 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visits<const END: usize, const UNROLL: bool>(reverse: bool, start: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        // The loops make no value of the type, so the lane type serves without AVX2.
        match (reverse, UNROLL) {
            (true, true) => down::<END, Unrolling>(start, |i| seen.push(i)),
            (false, true) => up::<END, Unrolling>(start, |i| seen.push(i)),
            (true, false) => down::<END, f64>(start, |i| seen.push(i)),
            (false, false) => up::<END, f64>(start, |i| seen.push(i)),
        }
        seen
    }

    #[cfg(target_arch = "x86_64")]
    type Unrolling = crate::lanes::F32x8;
    #[cfg(not(target_arch = "x86_64"))]
    type Unrolling = f64;

    /// Unrolled or not, short or long, from zero or not: the loop's visits in order.
    #[test]
    fn loops_visit_the_range_in_order() {
        for start in [0, 3, 5] {
            let (short_up, long_up) = (
                (start..19).collect::<Vec<_>>(),
                (start..40).collect::<Vec<_>>(),
            );
            let short_down: Vec<usize> = short_up.iter().rev().copied().collect();
            let long_down: Vec<usize> = long_up.iter().rev().copied().collect();
            assert_eq!(visits::<19, true>(false, start), short_up);
            assert_eq!(visits::<19, false>(false, start), short_up);
            assert_eq!(visits::<19, true>(true, start), short_down);
            assert_eq!(visits::<19, false>(true, start), short_down);
            assert_eq!(visits::<40, true>(false, start), long_up);
            assert_eq!(visits::<40, true>(true, start), long_down);
            assert_eq!(
                visits::<27, true>(false, start),
                (start..27).collect::<Vec<_>>()
            );
        }
        let each = |f: fn(&mut dyn FnMut(usize))| {
            let mut seen = Vec::new();
            f(&mut |i| seen.push(i));
            seen
        };
        assert_eq!(each(|b| super::each::<19>(b)), (0..19).collect::<Vec<_>>());
        assert_eq!(each(|b| super::each::<40>(b)), (0..40).collect::<Vec<_>>());
        assert_eq!(each(|b| super::each::<0>(b)), Vec::<usize>::new());
        #[cfg(target_arch = "x86_64")]
        const {
            assert!(
                <Unrolling as Real>::UNROLLED_TRIPS == MAX_UNROLLED
                    && <f64 as Real>::UNROLLED_TRIPS == 0
            )
        };
    }
}
