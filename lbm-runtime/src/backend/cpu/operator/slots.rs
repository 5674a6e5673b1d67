//! Pass A writing the adjoints of streamed populations straight into their slots.
//!
//! A step streams each slot `(y, j)` to one cell, `x = y + c_j` (as its pulled `f[j]`,
//! or as its far `f_far[OPP[j]]`), since streaming is a permutation of the slots. That cell
//! can then write the slot's adjoint itself, as the GPU's adjoint kernel does, and pass B
//! (which reads pass A's planes back and adds them into the adjoint state) disappears
//! with its traffic: two of the five state-sized streams of a BGK adjoint step. The
//! planes of the other inputs are written as before: the parameters' for their
//! gradients, and those of reads of a cell's own or a neighbour's populations, whose
//! slots have other readers too, for pass B to add afterwards.
//!
//! Blocks of cells run in parallel and each writes slots all over the state, so the
//! writes go through [`Slots`], whose contract is that one slot has one writer.

use std::marker::PhantomData;

use super::runs::SlotRuns;
use super::{CellInput, CpuOperator, CpuReal, Scratch};
use crate::backend::cpu::topology::Topology;
use crate::lanes::Group;

/// What each slot of a step's population reads gets: the sum, in source order, of the
/// reading cell's input adjoints `planes[j * reads + r]` for direction `j`.
#[derive(Clone, Debug)]
pub(super) struct SlotTerms {
    /// Population reads per slot (pulled and far sources of the step).
    reads: usize,
    planes: Vec<usize>,
    /// The largest of `planes`.
    last_plane: usize,
    /// The input planes that are not streamed populations: written as planes, for the
    /// parameter gradients and for pass B to add own-cell and neighbour reads.
    kept: Vec<usize>,
}

impl SlotTerms {
    /// The terms of a step with inputs `per_cell` and `reals_len` real inputs, if it
    /// streams populations (pulled or far).
    pub(super) fn of(per_cell: &[CellInput], opp: &[usize], reals_len: usize) -> Option<Self> {
        let mut sources = Vec::new();
        for input in per_cell {
            match *input {
                CellInput::Pulled(o) => sources.push((o, false)),
                CellInput::Far(o) => sources.push((o, true)),
                // Slots that other cells stream too: their adjoints stay planes, which
                // pass B adds after the streamed ones are written.
                CellInput::Local(_) | CellInput::Neighbor { .. } => {}
                CellInput::Field { .. } | CellInput::Links(_) | CellInput::IntField { .. } => {}
            }
        }
        if sources.is_empty() {
            return None;
        }
        let q = opp.len();
        // Slot (x - c_j, j) is what cell x pulled as its f[j], and what it read as its
        // f_far[OPP[j]] (the cell x - c_j is x + c_OPP[j]).
        let planes: Vec<usize> = (0..q)
            .flat_map(|j| {
                sources
                    .iter()
                    .map(move |&(o, far)| o + if far { opp[j] } else { j })
            })
            .collect();
        let last_plane = planes.iter().copied().max().unwrap_or(0);
        let kept = (0..reals_len)
            .filter(|k| !sources.iter().any(|&(o, _)| (o..o + q).contains(k)))
            .collect();
        Some(SlotTerms {
            reads: sources.len(),
            planes,
            last_plane,
            kept,
        })
    }

    /// The input planes of direction `j`'s slot, in the order they are added.
    fn of_direction(&self, j: usize) -> &[usize] {
        &self.planes[j * self.reads..(j + 1) * self.reads]
    }

    /// The input planes that stay planes.
    pub(super) fn kept(&self) -> &[usize] {
        &self.kept
    }
}

/// A direction-major adjoint state whose slots the cells of a step write from several
/// threads.
pub(super) struct Slots<'a, R> {
    ptr: *mut R,
    len: usize,
    _state: PhantomData<&'a mut [R]>,
}

// SAFETY: `Slots` hands out writes to distinct slots only (the contract of its methods),
// so sharing it between threads shares no value.
unsafe impl<R: Send> Sync for Slots<'_, R> {}
// SAFETY: as above; it owns nothing.
unsafe impl<R: Send> Send for Slots<'_, R> {}

impl<'a, R: Copy> Slots<'a, R> {
    pub(super) fn new(state: &'a mut [R]) -> Self {
        Slots {
            ptr: state.as_mut_ptr(),
            len: state.len(),
            _state: PhantomData,
        }
    }

    /// Writes `v` to slot `at`.
    ///
    /// # Safety
    /// No other thread reads or writes slot `at` while the `Slots` lives.
    #[inline(always)]
    unsafe fn put(&self, at: usize, v: R) {
        assert!(at < self.len, "slot {at} outside a state of {}", self.len);
        // SAFETY: in bounds (checked), and the caller's contract rules out a race.
        unsafe { self.ptr.add(at).write(v) };
    }

    /// Writes `values` to `start + (x + k) mod nx`, `k = 0, 1, ...`: a run of a row that
    /// starts at slot `start`, wrapping at the row's end (`values` is at most a row long).
    ///
    /// # Safety
    /// No other thread reads or writes these slots while the `Slots` lives.
    #[inline(always)]
    unsafe fn put_run(&self, (start, x): (usize, usize), nx: usize, values: &[R]) {
        assert!(start + nx <= self.len && x < nx && values.len() <= nx);
        let len = values.len();
        // SAFETY: the runs lie in the row (checked above), which lies in the state; the
        // caller's contract rules out a race.
        unsafe {
            let row = self.ptr.add(start);
            if x + len <= nx {
                // The usual case, apart: one copy of a length the caller's inlining makes
                // a constant (a group's lanes), which compiles to moves rather than a call
                // to `memcpy` as the split copies' run-time lengths do.
                std::ptr::copy_nonoverlapping(values.as_ptr(), row.add(x), len);
            } else {
                let first = nx - x;
                std::ptr::copy_nonoverlapping(values.as_ptr(), row.add(x), first);
                std::ptr::copy_nonoverlapping(values[first..].as_ptr(), row, len - first);
            }
        }
    }
}

impl<R: CpuReal> CpuOperator<R> {
    /// Writes the slots that `cell` read, from its input adjoints `bar`; `ups[i]` is the
    /// cell direction `i` streams from.
    ///
    /// # Safety
    /// No other thread writes these slots: every other cell that writes into `slots`
    /// concurrently is a different cell of the same step.
    #[inline]
    pub(super) unsafe fn put_cell_slots(
        &self,
        terms: &SlotTerms,
        topo: &Topology,
        ups: &[usize],
        bar: &[R],
        slots: &Slots<'_, R>,
    ) {
        for (j, &up) in ups.iter().enumerate() {
            let (first, rest) = terms
                .of_direction(j)
                .split_first()
                .expect("a slot has a reader");
            let v = rest.iter().fold(bar[*first], |v, &k| v + bar[k]);
            // SAFETY: slot (up, j) is read by this cell alone (streaming is a
            // permutation), so only this cell writes it; the caller's contract.
            unsafe { slots.put(j * topo.plane_len + up, v) };
        }
    }

    /// Writes the slots that the group of cells from `first` on read, from the group's
    /// input adjoints in `s.group_bars`: at `by_rows` where its row's reads give them,
    /// else at its source runs `runs` ([`Topology::source_runs`]) where it lies in one
    /// row, else slot by slot.
    ///
    /// # Safety
    /// As [`Self::put_cell_slots`], for every cell of the group.
    pub(super) unsafe fn put_group_slots(
        &self,
        terms: &SlotTerms,
        (topo, runs, by_rows): (&Topology, &[(usize, usize)], Option<SlotRuns<'_>>),
        first: usize,
        s: &mut Scratch<R>,
        slots: &Slots<'_, R>,
    ) {
        let (n, q, plane_len, nx) = (R::Lanes::LANES, topo.q, topo.plane_len, topo.nx());
        let lanes = R::Lanes::scalars(&s.group_bars);
        if let Some(rows) = by_rows {
            // SAFETY: the caller's contract.
            unsafe { put_in_row(terms, &rows, &s.group_bars, &mut s.slot_sum, slots) };
            return;
        }
        if first % nx + n > nx {
            // The group straddles two rows: slot by slot.
            let mut ups = [0usize; crate::backend::cpu::topology::MAX_Q];
            let ups = &mut ups[..q];
            let mut bar = std::mem::take(&mut s.bar);
            for lane in 0..n {
                topo.upstream_of(first + lane, ups);
                for (b, k) in bar.iter_mut().zip(0..) {
                    *b = lanes[k * n + lane];
                }
                // SAFETY: the caller's contract, cell by cell.
                unsafe { self.put_cell_slots(terms, topo, ups, &bar, slots) };
            }
            s.bar = bar;
            return;
        }
        let sum = &mut s.slot_sum;
        for (j, &(row, x)) in runs.iter().enumerate() {
            let values = slot_values(terms.of_direction(j), lanes, n, sum);
            // SAFETY: the group's cells read these slots and no other cell does; the
            // caller's contract covers the other threads.
            unsafe { slots.put_run((j * plane_len + row, x), nx, values) };
        }
    }
}

/// The sum of a slot's terms over the lanes of a group (`n` lanes an input), in source
/// order: the one plane itself when there is one term, else its sum in `sum`.
#[inline(always)]
fn slot_values<'a, R: CpuReal>(
    planes: &[usize],
    lanes: &'a [R],
    n: usize,
    sum: &'a mut [R],
) -> &'a [R] {
    let lane_run = |k: usize| &lanes[k * n..k * n + n];
    match planes {
        [k] => lane_run(*k),
        _ => {
            sum[..n].copy_from_slice(lane_run(planes[0]));
            for &k in &planes[1..] {
                sum[..n]
                    .iter_mut()
                    .zip(lane_run(k))
                    .for_each(|(a, b)| *a += *b);
            }
            &sum[..n]
        }
    }
}

/// [`CpuOperator::put_group_slots`] for a group whose slots lie at `rows`' runs, with one
/// bounds check for the group.
///
/// # Safety
/// As [`CpuOperator::put_cell_slots`], for every cell of the group.
#[inline]
unsafe fn put_in_row<R: CpuReal>(
    terms: &SlotTerms,
    rows: &SlotRuns<'_>,
    groups: &[R::Lanes],
    sum: &mut [R],
    slots: &Slots<'_, R>,
) {
    // The lane type's constant rather than `rows.n` (the same value): a copy of a length
    // the compiler knows is a move or two, of any other a call to `memcpy` (19 a group
    // of the D3Q19 adjoint, 50 of its 380 instructions a cell).
    let (n, lanes) = (R::Lanes::LANES, R::Lanes::scalars(groups));
    let directions = rows.directions();
    assert!(
        rows.n == n && rows.state_end <= slots.len,
        "a group's slots beyond the adjoint state"
    );
    if terms.reads == 1 {
        // One term a slot (every pull-only step): each slot run is a run of the lanes
        // as it stands, copied with one check for the group instead of three a run.
        assert!(
            terms.planes.len() == directions && (terms.last_plane + 1) * n <= lanes.len(),
            "a group's slot terms beyond its lanes"
        );
        let (starts, x) = rows.bases();
        // SAFETY: group `k` of `groups` is the lanes' run `k * n..k * n + n`, within
        // `lanes` (`k` is at most `last_plane`, checked above); each slot run ends at most
        // at `state_end <= len` (`SlotRuns`, checked above). The group's cells read these
        // slots and no other cell does; the caller's contract covers the other threads.
        unsafe { R::Lanes::scatter_runs(groups, &terms.planes, slots.ptr, starts, x) };
        return;
    }
    for (j, start) in rows.starts().enumerate() {
        let values = slot_values(terms.of_direction(j), lanes, n, sum);
        // SAFETY: the run `start..start + n` ends at most at `state_end <= len`
        // (`SlotRuns`, checked above) and `values` is `n` long (`slot_values`); the
        // group's cells read these slots and no other cell does, and the caller's
        // contract covers the other threads.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), slots.ptr.add(start), n) };
    }
}

/// Writing slots against the two passes (which the gradient tests hold to finite
/// differences): the same adjoint state and parameter planes, on grids whose rows are not
/// whole groups, with walls, own-population and far reads, and on a part of a grid.
#[cfg(test)]
mod tests {
    use super::super::test_support::{
        grid_with_walls, own_then_pulled, values, walls_then_forced_bgk,
    };
    use super::super::OutBar;
    use super::*;
    use crate::bind::{Bound, Step};
    use crate::grid::Grid;
    use crate::{ops, LatticeKind};

    /// The adjoint state and the kept planes, from pass A then pass B and from writing
    /// slots, both starting from buffers of NaN so that a slot neither way writes shows.
    fn both_ways<R: CpuReal>(op: &CpuOperator<R>, topo: &Topology) -> [(Vec<f64>, Vec<f64>); 2] {
        let (cells, plane_len) = (topo.cells, topo.plane_len);
        let real = |v: Vec<f64>| v.into_iter().map(R::from_f64).collect::<Vec<R>>();
        let f = real(values(topo.q * plane_len, 7, (0.01, 0.2)));
        let out_bar = real(values(op.outputs_len * plane_len, 11, (-1.0, 1.0)));
        let nans = |n: usize| vec![R::from_f64(f64::NAN); n];
        let terms = op.slot_terms.as_ref().expect("a step that streams");
        // The cells' values of planes `planes` of `buf` (the rest of each plane is no
        // cell's, and stays NaN).
        let cells_of = |buf: &[R], planes: &[usize]| -> Vec<f64> {
            let plane = |k: usize| &buf[k * plane_len..k * plane_len + cells];
            planes
                .iter()
                .flat_map(|&k| plane(k).iter().map(|v| v.to_f64()))
                .collect()
        };
        let every: Vec<usize> = (0..topo.q).collect();
        let (mut bars, mut lambda) = (nans(op.reals_len * plane_len), nans(topo.q * plane_len));
        op.adjoint_all(topo, 0, &f, OutBar::PerCell(&out_bar), &mut bars);
        op.scatter_populations(topo, &bars, &mut lambda, true);
        let two_passes = (cells_of(&lambda, &every), cells_of(&bars, terms.kept()));
        let (mut bars, mut lambda) = (nans(op.reals_len * plane_len), nans(topo.q * plane_len));
        op.adjoint_step(topo, 0, &f, &out_bar, &mut bars, &mut lambda);
        [
            two_passes,
            (cells_of(&lambda, &every), cells_of(&bars, terms.kept())),
        ]
    }

    /// Compares the two ways: equal values where each slot adds at most two terms (the
    /// order of a sum of two does not round), else within `tol` of the largest value (a
    /// sum of three may cancel, so its rounding is relative to its terms, not to it).
    fn check<R: CpuReal>(what: &str, op: &CpuOperator<R>, topo: &Topology, tol: f64) {
        let [(want, want_kept), (got, got_kept)] = both_ways(op, topo);
        for (name, want, got) in [
            ("adjoint state", want, got),
            ("kept planes", want_kept, got_kept),
        ] {
            assert_eq!(want.len(), got.len());
            let scale = want.iter().fold(0f64, |m, w| m.max(w.abs()));
            for (k, (w, g)) in want.iter().zip(&got).enumerate() {
                assert!(w.is_finite(), "{what}: two passes left {name}[{k}] = {w}");
                let close = (w - g).abs() <= tol * scale;
                assert!(
                    close,
                    "{what}: {name}[{k}]: {g} written, {w} from two passes"
                );
            }
        }
    }

    /// The operator as the CPU runs it in `f32` (with lanes where this CPU has them, and
    /// without) and in `f64`; `interior` makes it a part of a split grid.
    fn each_way(what: &str, bound: &Bound, grid: &Grid, interior: Option<Range>, tol: [f64; 2]) {
        let mut topo = Topology::new(grid, 4).expect("tables for a small grid");
        if let Some(interior) = interior {
            topo.interior = interior;
        }
        let lattice = grid.lattice();
        let lanes = crate::lanes::supported().then(|| bound.op.cpu.f32_lanes(lattice));
        for lanes in [lanes, None] {
            let mut op = CpuOperator::<f32>::new(bound, grid, &topo);
            op.lanes = lanes;
            let how = if lanes.is_some() { "f32 lanes" } else { "f32" };
            check(&format!("{what}, {how}"), &op, &topo, tol[0]);
        }
        let op = CpuOperator::<f64>::new(bound, grid, &topo);
        check(&format!("{what}, f64"), &op, &topo, tol[1]);
    }

    type Range = std::ops::Range<usize>;

    #[test]
    fn slots_get_what_the_two_passes_give() {
        let exact = [0.0; 2];
        for (lattice, dims) in [
            (LatticeKind::D2Q9, [21, 7, 1]),
            (LatticeKind::D3Q19, [13, 6, 3]),
            (LatticeKind::D3Q27, [11, 5, 3]),
        ] {
            let grid = grid_with_walls(lattice, dims);
            let (d, cells) = (lattice.d(), grid.cells());
            let periodic = if d == 2 {
                Grid::new_2d(lattice, dims[0], dims[1])
            } else {
                Grid::new_3d(lattice, dims[0], dims[1], dims[2])
            }
            .expect("a valid grid");
            let bgk = Step::new(&ops::bgk::INFO)
                .uniform("omega", [1.3])
                .bind(&periodic)
                .expect("a valid binding");
            let name = format!("BGK {lattice:?}");
            each_way(&name, &bgk, &periodic, None, exact);
            // A part whose interior starts and ends inside rows.
            let part = Some(dims[0] + 3..cells - dims[0] - 5);
            each_way(&format!("{name}, part"), &bgk, &periodic, part, exact);
            // Slot `j`'s adjoint from input `Q + j`: own populations read first.
            let own_first = Step::new(&own_then_pulled::INFO)
                .uniform("omega", [0.8])
                .bind(&periodic)
                .expect("a valid binding");
            let name = format!("own then pulled {lattice:?}");
            each_way(&name, &own_first, &periodic, None, exact);
            // Own-population reads, a per-cell field and a parameter.
            let walls = Step::new(&walls_then_forced_bgk::INFO)
                .uniform("omega", [1.7])
                .field("force", values(cells * d, 3, (-1e-3, 1e-3)))
                .bind(&grid)
                .expect("a valid binding");
            let name = format!("walls and force {lattice:?}");
            each_way(&name, &walls, &grid, None, exact);
            // Pulled, own and far reads of one slot: three terms, added in another order.
            // Wall distances that differ from link to link take different branches in the
            // lanes of a group, which then runs cell by cell; with one distance below 1/2
            // everywhere, groups along the wall run their far reads in lanes.
            let q = lattice.q();
            for (how, q) in [
                ("varied", values(cells * q, 5, (0.05, 1.0))),
                ("0.3", vec![0.3; cells * q]),
            ] {
                let bouzidi = Step::new(&ops::bouzidi::INFO)
                    .field("q", q)
                    .bind(&grid)
                    .expect("a valid binding");
                let name = format!("Bouzidi {lattice:?}, wall distances {how}");
                each_way(&name, &bouzidi, &grid, None, [1e-6, 1e-15]);
            }
        }
    }
}
