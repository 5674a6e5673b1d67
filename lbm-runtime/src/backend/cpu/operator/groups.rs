//! Running an operator over groups of cells, one cell per lane of the lane types (see
//! [`crate::lanes`]): the inputs of consecutive cells are gathered into the lanes, the
//! lane form runs once for the group, and the outputs are scattered back.
//!
//! Only forwards run in groups: the adjoints' lane forms cost minutes of compilation.
//!
//! A group whose cells differ in an integer input (a link mask, a tag), or whose lanes
//! disagreed on a decision the form takes once for all, runs cell by cell with the scalar
//! form from the inputs already gathered, as do the cells left over at the end of a
//! range. Each lane computes its cell's scalar bits, so which cells ran in a group changes
//! no result.

use std::ops::Range;

use super::{CpuOperator, CpuReal, Scratch};
use crate::backend::cpu::topology::Topology;
use crate::lanes::{self, Group};
use crate::operator::LaneForward;

/// The most lanes of a lane type.
const MAX_LANES: usize = 8;

impl<R: CpuReal> CpuOperator<R> {
    /// [`CpuOperator::forward_cells`] over groups of cells.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_groups(
        &self,
        forward: LaneForward<R::Lanes>,
        topo: &Topology,
        f: &[R],
        cells: Range<usize>,
        out: &mut [R],
        start: usize,
        s: &mut Scratch<R>,
    ) -> Option<usize> {
        let n = R::Lanes::LANES;
        let mut bad = None;
        let mut group = [0usize; MAX_LANES];
        let mut filled = 0;
        topo.for_each_cell(cells, (self.streams, topo.q), |cell, ups| {
            self.gather_lane(topo, cell, ups, f, filled, s);
            group[filled] = cell;
            filled += 1;
            if filled == n {
                filled = 0;
                // SAFETY: a lane forward is chosen only where `lanes::supported()`.
                let ran = self.uniform_ints(s) && unsafe { run_forward(forward, s) };
                if ran {
                    self.scatter_outputs(s, &group[..n], out, start, &mut bad);
                } else {
                    self.forward_singly(s, &group[..n], out, start, &mut bad);
                }
            }
        });
        self.forward_singly(s, &group[..filled], out, start, &mut bad);
        bad
    }

    /// Gathers `cell`'s inputs into lane `lane` of the group buffers.
    #[inline]
    fn gather_lane(
        &self,
        topo: &Topology,
        cell: usize,
        ups: &[usize],
        f: &[R],
        lane: usize,
        s: &mut Scratch<R>,
    ) {
        let (n, il) = (R::Lanes::LANES, self.ints_len);
        let reals = &mut R::Lanes::scalars_mut(&mut s.group_reals)[lane..];
        let ints = &mut s.group_ints[lane * il..(lane + 1) * il];
        self.gather(topo, cell, ups, f, (reals, n), ints);
    }

    /// Whether every cell of the group has lane 0's integer inputs (the lane form takes
    /// them once for all).
    fn uniform_ints(&self, s: &Scratch<R>) -> bool {
        let il = self.ints_len;
        il == 0 || s.group_ints.chunks(il).all(|c| c == &s.group_ints[..il])
    }

    /// Moves lane `lane` of the gathered group inputs into the scalar input buffers.
    fn take_lane(&self, s: &mut Scratch<R>, lane: usize) {
        let (n, il) = (R::Lanes::LANES, self.ints_len);
        let lanes_in = R::Lanes::scalars(&s.group_reals);
        for (j, r) in s.reals.iter_mut().enumerate() {
            *r = lanes_in[j * n + lane];
        }
        s.ints
            .copy_from_slice(&s.group_ints[lane * il..(lane + 1) * il]);
    }

    fn scatter_outputs(
        &self,
        s: &Scratch<R>,
        group: &[usize],
        out: &mut [R],
        start: usize,
        bad: &mut Option<usize>,
    ) {
        let (n, m) = (R::Lanes::LANES, self.outputs_len);
        let lanes_out = R::Lanes::scalars(&s.group_out);
        for (k, &cell) in group.iter().enumerate() {
            let o = &mut out[(cell - start) * m..(cell - start) * m + m];
            for (j, v) in o.iter_mut().enumerate() {
                *v = lanes_out[j * n + k];
            }
        }
        // One pass over the whole group without an early exit, which vectorises; the
        // cells are looked at one by one only when some value is not finite.
        let finite = lanes_out.iter().fold(true, |all, v| all & v.is_finite());
        if bad.is_none() && !finite {
            *bad = group.iter().enumerate().find_map(|(k, &cell)| {
                (0..m)
                    .any(|j| !lanes_out[j * n + k].is_finite())
                    .then_some(cell)
            });
        }
    }

    fn forward_singly(
        &self,
        s: &mut Scratch<R>,
        group: &[usize],
        out: &mut [R],
        start: usize,
        bad: &mut Option<usize>,
    ) {
        let m = self.outputs_len;
        for (k, &cell) in group.iter().enumerate() {
            self.take_lane(s, k);
            let o = &mut out[(cell - start) * m..(cell - start) * m + m];
            self.forward_one(s, o);
            if bad.is_none() && !o.iter().all(|v| v.is_finite()) {
                *bad = Some(cell);
            }
        }
    }
}

/// The lane forward on the gathered group; false when its lanes diverged.
///
/// # Safety
/// Only where `lanes::supported()`.
unsafe fn run_forward<R: CpuReal>(forward: LaneForward<R::Lanes>, s: &mut Scratch<R>) -> bool {
    lanes::reset_divergence();
    let ints = &s.group_ints[..s.ints.len()];
    // SAFETY: the caller's contract.
    unsafe { forward(&s.group_reals, ints, &mut s.group_out) };
    !lanes::diverged()
}
