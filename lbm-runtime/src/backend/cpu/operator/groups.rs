//! Running an operator over groups of cells, one cell per lane of the lane types (see
//! [`crate::lanes`]): the inputs of consecutive cells are gathered into the lanes, the
//! lane form runs once for the group, and the outputs are stored back.
//!
//! States are direction-major, so where the group's cells lie in one row each
//! population of the group is one contiguous run of the state (two where the row wraps),
//! copied into its lanes in one move; the outputs go back the same way. A group that
//! straddles two rows is gathered cell by cell into the lanes.
//!
//! Only forwards run in groups: the adjoints' lane forms cost minutes of compilation.
//!
//! A group whose cells differ in an integer input (a link mask, a tag), or whose lanes
//! disagreed on a decision the form takes once for all, runs cell by cell with the scalar
//! form from the inputs already gathered, as do the cells left over at the end of a
//! range. Each lane computes its cell's scalar bits, so which cells ran in a group changes
//! no result.

use std::ops::Range;

use super::{store_cell, CellInput, CpuOperator, CpuReal, Scratch};
use crate::backend::cpu::topology::{Topology, MAX_Q};
use crate::lanes::{self, Group};
use crate::operator::LaneForward;

/// How far ahead of a group's run of a plane the plane's next values are prefetched:
/// the hardware prefetchers follow only so many of a step's dozens of streams.
const PREFETCH_AHEAD: usize = 1024;

impl<R: CpuReal> CpuOperator<R> {
    /// [`CpuOperator::forward_cells`] over groups of cells.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_groups(
        &self,
        forward: LaneForward<R::Lanes>,
        topo: &Topology,
        f: &[R],
        cells: Range<usize>,
        out: &mut [&mut [R]],
        start: usize,
        s: &mut Scratch<R>,
    ) -> Option<usize> {
        let n = R::Lanes::LANES;
        let mut bad = None;
        let mut ups = [0usize; MAX_Q];
        let ups = &mut ups[..topo.q];
        let mut first = cells.start;
        while first + n <= cells.end {
            if first % topo.nx() + n <= topo.nx() {
                self.gather_in_row(topo, first, f, s);
            } else {
                for lane in 0..n {
                    topo.upstream_of(first + lane, ups);
                    self.gather_lane(topo, first + lane, ups, f, lane, s);
                }
            }
            // SAFETY: a lane forward is chosen only where `lanes::supported()`.
            let ran = self.uniform_ints(s) && unsafe { run_forward(forward, s) };
            if ran {
                self.store_group(s, first, out, start, &mut bad);
            } else {
                self.forward_singly(s, first..first + n, out, start, &mut bad);
            }
            first += n;
        }
        // The cells left over, one at a time.
        for cell in first..cells.end {
            if self.streams {
                topo.upstream_of(cell, ups);
            }
            self.gather(topo, cell, ups, f, (&mut s.reals, 1), &mut s.ints);
            self.forward_one(s);
            store_cell(s, out, cell - start, cell, &mut bad);
        }
        bad
    }

    /// Gathers the inputs of the group of cells from `first` on, which lie in one row:
    /// population by population, from the run of its plane the row streams from (see
    /// [`Topology::source_runs`]), in one move unless the run wraps at the row's end.
    fn gather_in_row(&self, topo: &Topology, first: usize, f: &[R], s: &mut Scratch<R>) {
        let (n, cells, nx, il) = (R::Lanes::LANES, topo.cells, topo.nx(), self.ints_len);
        let mut sources = [(0usize, 0usize); MAX_Q];
        let sources = &mut sources[..topo.q];
        if self.streams {
            topo.source_runs(first, sources);
        }
        let lanes = R::Lanes::scalars_mut(&mut s.group_reals);
        let ints = &mut s.group_ints;
        // Input `input` of every lane, from plane `plane` of the row that starts at cell
        // `row`, from its cell `x` on, wrapping.
        let copy_run = |lanes: &mut [R], input: usize, plane: usize, (row, x): (usize, usize)| {
            let row = &f[plane * cells + row..plane * cells + row + nx];
            let lanes = &mut lanes[input * n..input * n + n];
            if x + n <= nx {
                lanes.copy_from_slice(&row[x..x + n]);
                prefetch(row.as_ptr().wrapping_add(x + PREFETCH_AHEAD));
            } else {
                for (k, lane) in lanes.iter_mut().enumerate() {
                    let at = x + k;
                    *lane = row[if at >= nx { at - nx } else { at }];
                }
            }
        };
        let row_start = first - first % nx;
        for &input in &self.per_cell {
            match input {
                CellInput::Pulled(o) => {
                    for (i, &run) in sources.iter().enumerate() {
                        copy_run(lanes, o + i, i, run);
                    }
                }
                CellInput::Local(o) => {
                    for i in 0..topo.q {
                        copy_run(lanes, o + i, i, (row_start, first - row_start));
                    }
                }
                // The cell `x + c_i` is the one `OPP[i]` streams from.
                CellInput::Far(o) => {
                    for (i, &j) in topo.opp.iter().enumerate() {
                        copy_run(lanes, o + i, j, sources[j]);
                    }
                }
                // Inputs indexed cell by cell, which read no streamed population.
                _ => {
                    for lane in 0..n {
                        let reals = (&mut lanes[lane..], n);
                        let ints = &mut ints[lane * il..(lane + 1) * il];
                        self.gather_input(input, topo, first + lane, &[], f, reals, ints);
                    }
                }
            }
        }
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

    /// Stores the outputs of the group of cells from `first` on, a run of each output
    /// plane at a time.
    fn store_group(
        &self,
        s: &Scratch<R>,
        first: usize,
        out: &mut [&mut [R]],
        start: usize,
        bad: &mut Option<usize>,
    ) {
        let n = R::Lanes::LANES;
        let lanes_out = R::Lanes::scalars(&s.group_out);
        let at = first - start;
        for (plane, lanes) in out.iter_mut().zip(lanes_out.chunks_exact(n)) {
            plane[at..at + n].copy_from_slice(lanes);
        }
        // One pass over the whole group without an early exit, which vectorises; the
        // cells are looked at one by one only when some value is not finite.
        let finite = lanes_out.iter().fold(true, |all, v| all & v.is_finite());
        if bad.is_none() && !finite {
            *bad = (0..n)
                .find(|&k| lanes_out.iter().skip(k).step_by(n).any(|v| !v.is_finite()))
                .map(|k| first + k);
        }
    }

    fn forward_singly(
        &self,
        s: &mut Scratch<R>,
        group: Range<usize>,
        out: &mut [&mut [R]],
        start: usize,
        bad: &mut Option<usize>,
    ) {
        for (k, cell) in group.enumerate() {
            self.take_lane(s, k);
            self.forward_one(s);
            store_cell(s, out, cell - start, cell, bad);
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

/// Asks for the cache line at `at` ahead of its use; `at` may point anywhere.
#[inline(always)]
fn prefetch<R>(at: *const R) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints, and does not fault on any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
