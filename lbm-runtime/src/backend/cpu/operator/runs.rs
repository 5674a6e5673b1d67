//! The gather of a group whose inputs are all population reads, as one flat list of
//! copies.
//!
//! Most steps (a collision on a periodic grid, any operator whose per-cell inputs are its
//! cell's streamed, own or far populations) read nothing per cell but runs of the state's
//! planes. For them the operator's inputs are resolved once, when it is built, into
//! [`RunRead`]s (which lanes to fill, from which plane, following which direction), and
//! once per row of cells into [`RowReads`] (where each read's run starts in the state).
//! A group away from its row's ends then gathers each input with one copy, with no
//! dispatch on the kind of input and no per-group work on the topology.

use std::ops::Range;

use super::CellInput;
use crate::backend::cpu::topology::Topology;
use crate::lanes::Group;

/// One population read of a group of cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RunRead {
    /// The input's first scalar among the group's lanes (`input * LANES`).
    lanes: usize,
    /// Where the plane read starts in the state (`plane * plane_len`).
    plane: usize,
    /// The direction whose upstream cells it reads, or `None` for the cells' own.
    along: Option<usize>,
}

/// Population `i` of an input, from the lattice's opposite directions: the plane it is
/// read from, and the direction whose upstream cells it reads (`None`: the cells' own).
type Population = fn(usize, &[usize]) -> (usize, Option<usize>);

/// Every per-cell input of an operator, as reads of runs of the state; see the module's
/// docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RunReads {
    reads: Vec<RunRead>,
    /// For each direction `j`, the read of slot `(x - c_j, j)` (plane `j`, upstream along
    /// `j`): where the adjoint of what the group pulled goes. Empty unless every direction
    /// has such a read.
    slot_reads: Vec<usize>,
}

impl RunReads {
    /// The reads of `per_cell` for groups of `lanes` cells on a state whose planes are
    /// `plane_len` values apart (`opp` the lattice's opposite directions), or `None` when
    /// some input is not a population run (a field, a neighbour's populations, an integer
    /// input).
    pub fn of(
        per_cell: &[CellInput],
        opp: &[usize],
        plane_len: usize,
        lanes: usize,
    ) -> Option<Self> {
        let mut reads = Vec::new();
        for &input in per_cell {
            let (at, population): (usize, Population) = match input {
                CellInput::Pulled(at) => (at, |i, _| (i, Some(i))),
                CellInput::Local(at) => (at, |i, _| (i, None)),
                // `f(x + c_i, OPP[i])`: the cell that `OPP[i]` streams from.
                CellInput::Far(at) => (at, |i, opp| (opp[i], Some(opp[i]))),
                _ => return None,
            };
            reads.extend((0..opp.len()).map(|i| {
                let (plane, along) = population(i, opp);
                RunRead {
                    lanes: (at + i) * lanes,
                    plane: plane * plane_len,
                    along,
                }
            }));
        }
        let slot_reads = (0..opp.len())
            .map(|j| {
                reads
                    .iter()
                    .position(|r| r.plane == j * plane_len && r.along == Some(j))
            })
            .collect::<Option<Vec<usize>>>()
            .unwrap_or_default();
        Some(RunReads { reads, slot_reads })
    }

    /// Makes `rows` the reads of row `row` of `topo` for groups of `n` cells.
    ///
    /// What does not depend on the row (each read's lanes and shift along x, which groups
    /// stay within their row) is worked out when `rows` first serves these reads on this
    /// topology; a later row only moves each read's start, once a row instead of once a
    /// group.
    pub fn of_row(&self, topo: &Topology, row: usize, n: usize, rows: &mut RowReads) {
        let nx = topo.nx();
        if (rows.n, rows.nx, rows.reads.len()) != (n, nx, self.reads.len()) {
            self.shape_rows(topo, n, rows);
        }
        let (sources, own) = (topo.source_rows(row), row * nx);
        let mut last_row = 0;
        for ((row_read, read), inner) in
            rows.reads.iter_mut().zip(&self.reads).zip(&mut rows.inners)
        {
            let start = read.plane + read.along.map_or(own, |i| sources[i]);
            row_read.start = start;
            row_read.inner = start.wrapping_add_signed(row_read.back);
            *inner = row_read.inner;
            last_row = last_row.max(start);
        }
        rows.state_end = last_row + nx;
        for (slot, &k) in rows.slots.iter_mut().zip(&self.slot_reads) {
            *slot = rows.reads[k].inner;
        }
        rows.row = Some(row);
    }

    /// The row-independent part of [`Self::of_row`].
    fn shape_rows(&self, topo: &Topology, n: usize, rows: &mut RowReads) {
        let (nx, backs) = (topo.nx(), topo.x_backs());
        rows.reads.clear();
        rows.reads.extend(self.reads.iter().map(|read| RowRead {
            lanes: read.lanes,
            inner: 0,
            start: 0,
            back: read.along.map_or(0, |i| backs[i]),
        }));
        // The groups whose every read lies within its row: `x + back` in `0..=nx - n`.
        let before = rows.reads.iter().map(|r| -r.back).max().unwrap_or(0).max(0);
        let after = rows.reads.iter().map(|r| r.back).max().unwrap_or(0).max(0);
        rows.inner = before as usize..(nx + 1).saturating_sub(n + after as usize);
        rows.lanes_end = rows.reads.iter().map(|r| r.lanes + n).max().unwrap_or(0);
        rows.inners.clear();
        rows.inners.resize(rows.reads.len(), 0);
        rows.in_order = rows.reads.iter().enumerate().all(|(k, r)| r.lanes == k * n);
        rows.slots.clear();
        rows.slots.resize(self.slot_reads.len(), 0);
        (rows.n, rows.nx) = (n, nx);
        rows.row = None;
    }
}

/// One read of [`RunReads`] for the groups of one row.
#[derive(Clone, Copy, Debug)]
struct RowRead {
    /// As [`RunRead::lanes`].
    lanes: usize,
    /// Where in the state the read of cell `x` of the row is, at `inner + x`, for the
    /// groups in [`RowReads::inner`] (a wrapping sum: it may be below zero where
    /// `x + back` is not).
    inner: usize,
    /// Where in the state the row it reads starts.
    start: usize,
    /// Cell `x` reads cell `(x + back) mod nx` of that row.
    back: isize,
}

/// The reads of the groups of one row; see [`RunReads::of_row`]. One `RowReads` serves one
/// [`RunReads`] on one topology (an operator's scratch space keeps one): the part of the
/// reads that does not depend on the row is kept from row to row.
#[derive(Debug, Default)]
pub(super) struct RowReads {
    row: Option<usize>,
    reads: Vec<RowRead>,
    /// The first cells of the groups whose reads all lie within their rows.
    inner: Range<usize>,
    /// The least state length and lanes length that hold every read.
    state_end: usize,
    lanes_end: usize,
    /// Cells a group, and cells a row, as the bounds above were worked out for.
    n: usize,
    nx: usize,
    /// [`RowRead::inner`] of every read, in order: all that a group in
    /// [`RowReads::inner`] needs of a read whose lanes follow the previous read's.
    inners: Vec<usize>,
    /// Whether read `k` fills lanes `k * n..(k + 1) * n` for every `k`, with `n` the lane
    /// types' group size (a collision's inputs are its populations, in order).
    in_order: bool,
    /// [`RowRead::inner`] of the reads of [`RunReads::slot_reads`].
    slots: Vec<usize>,
}

/// Where a group whose reads lie within its row writes the adjoints of the slots it
/// pulled; see [`RowReads::slot_runs`].
pub(super) struct SlotRuns<'a> {
    /// Direction `j`'s run starts at `starts[j] + x`.
    starts: &'a [usize],
    x: usize,
    /// The least state length that holds every run.
    pub state_end: usize,
    /// Cells a group: the length of every run.
    pub n: usize,
}

impl SlotRuns<'_> {
    /// Directions with a run.
    pub fn directions(&self) -> usize {
        self.starts.len()
    }

    /// Where each direction's run starts in the state, as `starts[j] + x` (a wrapping
    /// sum) for direction `j`.
    pub fn bases(&self) -> (&[usize], usize) {
        (self.starts, self.x)
    }

    /// Where each direction's run starts in the state, in order of directions; each
    /// ends `n` values later, at most at `state_end`.
    pub fn starts(&self) -> impl Iterator<Item = usize> + '_ {
        self.starts.iter().map(|s| s.wrapping_add(self.x))
    }
}

impl RowReads {
    /// The row these are the reads of.
    pub fn row(&self) -> Option<usize> {
        self.row
    }

    /// Where the group from cell `x` on of the row writes the adjoints of the slots it
    /// pulled, run by run, if its reads lie within the row and every direction has a
    /// pulled read (else the caller works them out from the topology).
    pub fn slot_runs(&self, x: usize) -> Option<SlotRuns<'_>> {
        (self.inner.contains(&x) && !self.slots.is_empty()).then_some(SlotRuns {
            starts: &self.slots,
            x,
            state_end: self.state_end,
            n: self.n,
        })
    }

    /// Fills `groups` (groups of `n` lanes, `n` as given to [`RunReads::of_row`]) for the
    /// group of cells from cell `x` on of the row, from the state `f`.
    #[inline]
    pub fn gather<G: Group>(&self, f: &[G::Scalar], x: usize, groups: &mut [G]) {
        if self.in_order
            && self.n == G::LANES
            && self.inner.contains(&x)
            && f.len() >= self.state_end
            && groups.len() >= self.inners.len()
        {
            // Where the reads fill the groups in order (a collision's populations), each
            // read is a start and one move of a group.
            // SAFETY: `x` is in `inner`, so each run `inner + x..inner + x + n` lies within
            // its row, which ends at most at `state_end <= f.len()` (see
            // `gather_any_order`); read `k` fills group `k`.
            unsafe { G::gather_runs(f.as_ptr(), &self.inners, x, groups) };
            return;
        }
        let lanes = G::scalars_mut(groups);
        if self.inner.contains(&x) && f.len() >= self.state_end && lanes.len() >= self.lanes_end {
            // SAFETY: just checked.
            unsafe {
                match self.n {
                    // A copy of a length known here is a move or two; of any other, a call
                    // to `memcpy` for each read (27 of the D3Q19 forward's 174
                    // instructions a cell).
                    8 => self.gather_any_order(f, x, lanes, 8),
                    n => self.gather_any_order(f, x, lanes, n),
                }
            }
        } else {
            self.gather_wrapping(f, x, lanes);
        }
    }

    /// [`Self::gather`] for a group in [`RowReads::inner`] of `n` cells; always inlined,
    /// so that a constant `n` reaches the copies.
    ///
    /// # Safety
    /// `x` is in `self.inner`, `f.len() >= self.state_end`, `lanes.len() >= self.lanes_end`
    /// and `n == self.n`.
    #[inline(always)]
    unsafe fn gather_any_order<R: Copy>(&self, f: &[R], x: usize, lanes: &mut [R], n: usize) {
        for read in &self.reads {
            // SAFETY: `x` is in `inner`, so the run `inner + x..inner + x + n` is
            // `start + x + back..` with `x + back` in `0..=nx - n`, within the row, which
            // ends at most at `state_end <= f.len()`; the lanes end at most at
            // `lanes_end <= lanes.len()`. One check a group instead of two a read.
            unsafe {
                let from = f.as_ptr().add(read.inner.wrapping_add(x));
                let to = lanes.as_mut_ptr().add(read.lanes);
                std::ptr::copy_nonoverlapping(from, to, n);
            }
        }
    }

    /// [`Self::gather`] for a group near the ends of its row, whose reads along x may
    /// wrap around the row.
    fn gather_wrapping<R: Copy>(&self, f: &[R], x: usize, lanes: &mut [R]) {
        match self.n {
            8 => self.gather_wrapping_inner(f, x, lanes, 8),
            n => self.gather_wrapping_inner(f, x, lanes, n),
        }
    }

    /// [`Self::gather_wrapping`] for groups of `n` cells; always inlined, so that a
    /// constant `n` reaches the copies. Most reads of a group at a row's end do not wrap
    /// (only those of the directions that cross the end), so each read that stays within
    /// its row is one copy.
    #[inline(always)]
    fn gather_wrapping_inner<R: Copy>(&self, f: &[R], x: usize, lanes: &mut [R], n: usize) {
        let nx = self.nx;
        for read in &self.reads {
            let row = &f[read.start..read.start + nx];
            let lanes = &mut lanes[read.lanes..read.lanes + n];
            let first = wrap_along_row(x, read.back, nx);
            match row.get(first..first + n) {
                Some(run) => lanes.copy_from_slice(run),
                None => copy_wrapping(row, first, lanes),
            }
        }
    }
}

/// `(x + back) mod nx`, without a division where `x + back` is in the row or the one
/// before it (the lattices' shifts are at most one cell, and group starts never pass the
/// row's end).
fn wrap_along_row(x: usize, back: isize, nx: usize) -> usize {
    let (at, nx) = (x as isize + back, nx as isize);
    let wrapped = match at {
        at if (0..nx).contains(&at) => at,
        at if (-nx..0).contains(&at) => at + nx,
        at => at.rem_euclid(nx),
    };
    wrapped as usize
}

/// Fills `lanes` from `row`, from its value `first` on, wrapping around its end (as
/// often as `lanes` is longer): one contiguous copy for each pass over the row, where a
/// value at a time cost a group at each end of a row as much as the rest of the row.
pub(crate) fn copy_wrapping<R: Copy>(row: &[R], first: usize, lanes: &mut [R]) {
    let (head, rest) = lanes.split_at_mut((row.len() - first).min(lanes.len()));
    head.copy_from_slice(&row[first..first + head.len()]);
    for pass in rest.chunks_mut(row.len()) {
        pass.copy_from_slice(&row[..pass.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::{copy_wrapping, wrap_along_row};

    #[test]
    fn shifts_along_a_row_wrap_as_the_remainder_does() {
        for nx in 1..10 {
            for x in 0..nx {
                for back in -12..=12 {
                    let want = (x as isize + back).rem_euclid(nx as isize) as usize;
                    assert_eq!(wrap_along_row(x, back, nx), want, "{x} + {back} in {nx}");
                }
            }
        }
    }

    #[test]
    fn wrapping_copies_take_the_row_cyclically() {
        for nx in 1..12 {
            let row: Vec<usize> = (100..100 + nx).collect();
            for first in 0..nx {
                for n in 0..3 * nx + 2 {
                    let mut lanes = vec![0; n];
                    copy_wrapping(&row, first, &mut lanes);
                    let want: Vec<usize> = (0..n).map(|k| row[(first + k) % nx]).collect();
                    assert_eq!(lanes, want, "row of {nx}, from {first}, {n} lanes");
                }
            }
        }
    }
}
