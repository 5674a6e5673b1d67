//! A CPU state placed at a chosen offset within its pages.
//!
//! A step reads one state and writes another, eight cells of a plane at a time. The core
//! holds back a load whose address matches, in its low 12 bits, a store still in flight
//! (it cannot yet tell the two apart), and a group's loads of the directions with
//! `c_x = 1` read values that lie, modulo 4 KiB, inside the previous group's stores
//! whenever the input and output planes start at the same offset within their pages. Large
//! allocations all start at the same offset within a page, so without a placement every
//! plane of the output aliases a plane of the input. Planes already start an odd number of
//! half pages apart within a state (see `Topology::plane_len`), so a state's planes occupy
//! two page offsets half a page apart; a state placed a quarter page further occupies the
//! other two, and no load of one aliases a store to the other. The engine alternates the
//! two placements as it allocates, so the states a step reads and writes (allocated one
//! after the other by every driver) sit apart.

use std::ops::{Deref, DerefMut};

use crate::error::Result;
use crate::memory::try_zeroed;

/// Bytes of a page, as far as the core's store-to-load aliasing goes.
const PAGE: usize = 4096;

/// Where a state's first value sits within its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// At the start of a page.
    PageStart,
    /// A quarter page in.
    QuarterPage,
}

impl Placement {
    /// The first value's byte offset within its page.
    fn offset(self) -> usize {
        match self {
            Placement::PageStart => 0,
            Placement::QuarterPage => PAGE / 4,
        }
    }

    /// The other placement.
    pub fn other(self) -> Self {
        match self {
            Placement::PageStart => Placement::QuarterPage,
            Placement::QuarterPage => Placement::PageStart,
        }
    }
}

/// `len` zeroed values of a state, starting at a given offset within a page. It reads and
/// writes as the slice of those values.
pub(crate) struct CpuState<R> {
    buffer: Vec<R>,
    start: usize,
    len: usize,
}

impl<R: bytemuck::Zeroable> CpuState<R> {
    /// `len` zeros placed at `placement`; `what` names the state in an out-of-memory error.
    pub fn zeroed(what: &str, len: usize, placement: Placement) -> Result<Self> {
        let value = std::mem::size_of::<R>();
        // A page of slack holds any start: the allocator aligns to `value`, which divides
        // every placement's offset.
        let slack = PAGE.checked_div(value).unwrap_or(0);
        let buffer: Vec<R> = try_zeroed(what, len.saturating_add(slack))?;
        let address = buffer.as_ptr() as usize;
        let bytes_in = (placement.offset() + PAGE - address % PAGE) % PAGE;
        let start = bytes_in.checked_div(value).unwrap_or(0);
        Ok(CpuState { buffer, start, len })
    }
}

impl<R> Deref for CpuState<R> {
    type Target = [R];

    fn deref(&self) -> &[R] {
        &self.buffer[self.start..self.start + self.len]
    }
}

impl<R> DerefMut for CpuState<R> {
    fn deref_mut(&mut self) -> &mut [R] {
        &mut self.buffer[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_start_where_they_are_placed_and_hold_their_length() {
        for placement in [Placement::PageStart, Placement::QuarterPage] {
            for len in [0, 1, 1023, 4097, 1 << 20] {
                let f32s = CpuState::<f32>::zeroed("a state", len, placement).unwrap();
                let f64s = CpuState::<f64>::zeroed("a state", len, placement).unwrap();
                assert_eq!((f32s.len(), f64s.len()), (len, len));
                assert!(f32s.iter().all(|v| *v == 0.0) && f64s.iter().all(|v| *v == 0.0));
                if len > 0 {
                    assert_eq!(f32s.as_ptr() as usize % PAGE, placement.offset());
                    assert_eq!(f64s.as_ptr() as usize % PAGE, placement.offset());
                }
            }
        }
    }

    #[test]
    fn the_two_placements_alternate() {
        let p = Placement::PageStart;
        assert_eq!(p.other(), Placement::QuarterPage);
        assert_eq!(p.other().other(), p);
    }
}
