//! Running an operator over groups of cells, one cell per lane of the lane types (see
//! [`crate::lanes`]): the inputs of consecutive cells are gathered into the lanes, the
//! lane form runs once for the group, and the outputs are stored back.
//!
//! States are direction-major, so where the group's cells lie in one row each
//! population of the group is one contiguous run of the state (two where the row wraps),
//! copied into its lanes in one move; the outputs go back the same way. A group that
//! straddles two rows is gathered cell by cell into the lanes.
//!
//! Pass A of the adjoint runs in groups the same way: the group's output adjoints are runs
//! of the adjoint state's planes, and its input adjoints runs of the pass's planes.
//!
//! A group whose cells differ in an integer input (a link mask, a tag), or whose lanes
//! disagreed on a decision the form takes once for all, runs cell by cell with the scalar
//! form from the inputs already gathered, as do the cells left over at the end of a
//! range. Each lane computes its cell's scalar bits, so which cells ran in a group changes
//! no result.

use std::ops::Range;

use super::runs::{copy_wrapping, RowReads, SlotRuns};
use super::{
    note_bad, store_cell, CellInput, CpuOperator, CpuReal, OutBar, PopulationBars, Scratch,
};
use crate::backend::cpu::topology::{Topology, MAX_Q};
use crate::backend::cpu::uncached::Stores;
use crate::lanes::{self, Group};
use crate::operator::{LaneAdjoint, LaneForward};

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
        (out, stores): (&mut [&mut [R]], Stores),
        start: usize,
        s: &mut Scratch<R>,
    ) -> Option<usize> {
        let n = R::Lanes::LANES;
        // Stores past the caches pair the groups that start a cache line with the next.
        let mut held = (stores == Stores::Uncached).then_some(None);
        let mut bad = None;
        let mut ups = [0usize; MAX_Q];
        let ups = &mut ups[..topo.q];
        // Set up once, not per group: an array this size is a call to `memset`.
        let mut runs = [(0usize, 0usize); MAX_Q];
        let runs = &mut runs[..topo.q];
        let mut rows = std::mem::take(&mut s.rows);
        let shortest = out.iter().map(|plane| plane.len()).min().unwrap_or(0);
        let mut first = cells.start;
        while first + n <= cells.end {
            self.gather_group(topo, first, f, (ups, runs, &mut rows), false, s);
            // SAFETY: a lane forward is chosen only where `lanes::supported()`.
            let ran = self.uniform_ints(s) && unsafe { run_forward(forward, s) };
            if ran {
                self.store_group(s, first, (out, shortest), start, held.as_mut(), &mut bad);
            } else {
                self.forward_singly(s, first..first + n, out, start, &mut bad);
            }
            first += n;
        }
        s.rows = rows;
        release_held(s, out, start, held.as_mut(), &mut bad);
        // The cells left over, one at a time.
        for cell in first..cells.end {
            if self.streams {
                topo.upstream_of(cell, ups);
            }
            self.gather(topo, cell, ups, f, (&mut s.reals, 1), &mut s.ints);
            self.forward_one(s);
            store_cell(s, out, cell - start, cell, &mut bad);
        }
        if held.is_some() {
            lanes::fence_uncached_stores();
        }
        bad
    }

    /// Pass A ([`CpuOperator::adjoint_all`]) of `cells` over groups of cells; `planes` are
    /// the block's slices of the input adjoint planes, from cell `start` on.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn adjoint_groups(
        &self,
        adjoint: LaneAdjoint<R::Lanes>,
        topo: &Topology,
        f: &[R],
        cells: Range<usize>,
        out_bar: OutBar<'_, R>,
        planes: &mut [&mut [R]],
        start: usize,
        pops: PopulationBars<'_, '_, R>,
        s: &mut Scratch<R>,
    ) {
        let n = R::Lanes::LANES;
        let mut ups = [0usize; MAX_Q];
        let ups = &mut ups[..topo.q];
        // Set up once, not per group: an array this size is a call to `memset`.
        let mut runs = [(0usize, 0usize); MAX_Q];
        let runs = &mut runs[..topo.q];
        let mut rows = std::mem::take(&mut s.rows);
        let mut first = cells.start;
        while first + n <= cells.end {
            self.gather_group(topo, first, f, (ups, runs, &mut rows), true, s);
            self.gather_out_bar(out_bar, topo.plane_len, first, s);
            // SAFETY: a lane adjoint is chosen only where `lanes::supported()`.
            let ran = self.uniform_ints(s) && unsafe { run_adjoint(adjoint, s) };
            if ran {
                let (nx, row) = (topo.nx(), Some(first / topo.nx()));
                let by_rows = (rows.row() == row).then(|| rows.slot_runs(first % nx));
                let sources = (topo, &*runs, by_rows.flatten());
                self.store_group_bars(s, first, planes, start, sources, pops);
            } else {
                for (lane, cell) in (first..first + n).enumerate() {
                    self.take_lane(s, lane);
                    if self.streams {
                        topo.upstream_of(cell, ups);
                    }
                    self.adjoint_one(s, cell, topo, ups, out_bar, planes, start, pops);
                }
            }
            first += n;
        }
        s.rows = rows;
        for cell in first..cells.end {
            if self.streams {
                topo.upstream_of(cell, ups);
            }
            self.gather(topo, cell, ups, f, (&mut s.reals, 1), &mut s.ints);
            self.adjoint_one(s, cell, topo, ups, out_bar, planes, start, pops);
        }
    }

    /// Gathers the inputs of the group of cells from `first` on into the lanes: by runs
    /// when they lie in one row, else cell by cell (`ups` is scratch space). Where all
    /// inputs are runs of the state (see `runs`), from `rows`, the reads of the group's
    /// row (made anew when the row changes). Where the group lies in one row of a step
    /// that streams, leaves its source runs ([`Topology::source_runs`]) in `runs` when
    /// the gather needs them or `for_slots` asks for them (the slots of its adjoints) and
    /// the row's reads do not give them.
    fn gather_group(
        &self,
        topo: &Topology,
        first: usize,
        f: &[R],
        (ups, runs, rows): (&mut [usize], &mut [(usize, usize)], &mut RowReads),
        for_slots: bool,
        s: &mut Scratch<R>,
    ) {
        let (n, nx) = (R::Lanes::LANES, topo.nx());
        let (row, x) = (first / nx, first % nx);
        if x + n > nx {
            for lane in 0..n {
                topo.upstream_of(first + lane, ups);
                self.gather_lane(topo, first + lane, ups, f, lane, s);
            }
            return;
        }
        let Some(reads) = self.run_reads.as_ref() else {
            if self.streams {
                topo.source_runs(first, runs);
            }
            self.gather_in_row(topo, first, f, runs, s);
            return;
        };
        if rows.row() != Some(row) {
            reads.of_row(topo, row, n, rows);
        }
        if self.streams && for_slots && rows.slot_runs(x).is_none() {
            topo.source_runs(first, runs);
        }
        rows.gather(f, x, &mut s.group_reals);
    }

    /// The output adjoints of the group of cells from `first` on, into the lanes: a run
    /// of each plane of the adjoint state, or the same values in every lane.
    fn gather_out_bar(
        &self,
        out_bar: OutBar<'_, R>,
        plane_len: usize,
        first: usize,
        s: &mut Scratch<R>,
    ) {
        let n = R::Lanes::LANES;
        match out_bar {
            OutBar::PerCell(v) => {
                // One check for the group instead of one a plane: the last plane's run
                // ends furthest into `v`.
                let planes = s.group_out_bar.len();
                assert!(
                    planes == 0 || (planes - 1) * plane_len + first + n <= v.len(),
                    "a group beyond the adjoint state"
                );
                // SAFETY: `j * plane_len + first + n <= v.len()` (checked above for the
                // largest `j`).
                unsafe {
                    R::Lanes::gather_strided(v.as_ptr().add(first), plane_len, &mut s.group_out_bar)
                };
            }
            OutBar::Uniform(v) => {
                let lanes = R::Lanes::scalars_mut(&mut s.group_out_bar);
                for (lanes, v) in lanes.chunks_exact_mut(n).zip(v) {
                    lanes.fill(*v);
                }
            }
        }
    }

    /// Writes the input adjoints of the group of cells from `first` on to `planes` (the
    /// block's slices of the planes, from cell `start` on), a run of each, or as `pops`
    /// says; `sources` are the group's source runs as [`Self::gather_group`] left them
    /// and its slot runs if its row's reads give them.
    fn store_group_bars(
        &self,
        s: &mut Scratch<R>,
        first: usize,
        planes: &mut [&mut [R]],
        start: usize,
        sources: (&Topology, &[(usize, usize)], Option<SlotRuns<'_>>),
        pops: PopulationBars<'_, '_, R>,
    ) {
        let (n, at) = (R::Lanes::LANES, first - start);
        let lanes = R::Lanes::scalars(&s.group_bars);
        match pops {
            PopulationBars::Planes => {
                for (plane, lanes) in planes.iter_mut().zip(lanes.chunks_exact(n)) {
                    plane[at..at + n].copy_from_slice(lanes);
                }
            }
            PopulationBars::Slots(terms, slots) => {
                for &k in terms.kept() {
                    planes[k][at..at + n].copy_from_slice(&lanes[k * n..k * n + n]);
                }
                // SAFETY: every cell of the step writes only the slots it read, and no
                // two cells read one slot (`adjoint_step`).
                unsafe { self.put_group_slots(terms, sources, first, s, slots) };
            }
        }
    }

    /// Gathers the inputs of the group of cells from `first` on, which lie in one row:
    /// population by population, from the run of its plane the row streams from
    /// (`sources`, as [`Topology::source_runs`] gives them where the step streams), in one
    /// move unless the run wraps at the row's end.
    fn gather_in_row(
        &self,
        topo: &Topology,
        first: usize,
        f: &[R],
        sources: &[(usize, usize)],
        s: &mut Scratch<R>,
    ) {
        let (n, plane_len, nx, il) = (R::Lanes::LANES, topo.plane_len, topo.nx(), self.ints_len);
        let lanes = R::Lanes::scalars_mut(&mut s.group_reals);
        let ints = &mut s.group_ints;
        // Input `input` of every lane, from plane `plane` of the row that starts at cell
        // `row`, from its cell `x` on, wrapping.
        let copy_run = |lanes: &mut [R], input: usize, plane: usize, (row, x): (usize, usize)| {
            let row = &f[plane * plane_len + row..plane * plane_len + row + nx];
            let lanes = &mut lanes[input * n..input * n + n];
            if x + n <= nx {
                lanes.copy_from_slice(&row[x..x + n]);
                prefetch(row.as_ptr().wrapping_add(x + PREFETCH_AHEAD));
            } else {
                copy_wrapping(row, x, lanes);
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
    /// plane at a time; `shortest` is the length of the shortest of the planes `out`.
    /// With `held` (stores past the caches), a group that starts a cache line waits in
    /// `s.held_out` for the next group, which completes the line, and the two go out
    /// together ([`Group::store_pairs_uncached_checked`]); `held` is the first cell of the
    /// group waiting, if one is. Every group's outputs are checked as they are stored, a
    /// non-finite one recorded in `bad`.
    fn store_group(
        &self,
        s: &mut Scratch<R>,
        first: usize,
        (out, shortest): (&mut [&mut [R]], usize),
        start: usize,
        held: Option<&mut Option<usize>>,
        bad: &mut Option<usize>,
    ) {
        let n = R::Lanes::LANES;
        let at = first - start;
        // One check for the group instead of one a plane.
        assert!(at + n <= shortest, "a group beyond its block's planes");
        let Some(held) = held else {
            // SAFETY: `at + n <= shortest <= plane.len()` for every plane.
            let finite = unsafe { R::Lanes::store_checked(&s.group_out, out, at) };
            note_group(finite, &s.group_out, first, bad);
            return;
        };
        match held.take() {
            Some(h) if h + n == first => {
                // SAFETY: the held group's `h - start + n` is `at`, and `at + n` fits.
                let finite = unsafe {
                    R::Lanes::store_pairs_uncached_checked(
                        &s.held_out,
                        &s.group_out,
                        out,
                        h - start,
                    )
                };
                if !finite {
                    note_group(false, &s.held_out, h, bad);
                    note_group(false, &s.group_out, first, bad);
                }
            }
            other => {
                if let Some(h) = other {
                    // SAFETY: checked as this group was, when it was held.
                    let finite = unsafe { R::Lanes::store_checked(&s.held_out, out, h - start) };
                    note_group(finite, &s.held_out, h, bad);
                }
                if at.is_multiple_of(2 * n) {
                    // The buffers have the same length: the next group overwrites the
                    // old held one.
                    std::mem::swap(&mut s.held_out, &mut s.group_out);
                    *held = Some(first);
                } else {
                    // SAFETY: as for the cached stores.
                    let finite = unsafe { R::Lanes::store_checked(&s.group_out, out, at) };
                    note_group(finite, &s.group_out, first, bad);
                }
            }
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

/// Stores the group held back for its cache line's other half (see
/// [`CpuOperator::store_group`]), if one is, through the caches, and forgets it.
fn release_held<R: CpuReal>(
    s: &Scratch<R>,
    out: &mut [&mut [R]],
    start: usize,
    held: Option<&mut Option<usize>>,
    bad: &mut Option<usize>,
) {
    if let Some(h) = held.and_then(Option::take) {
        // SAFETY: `store_group` checked that the held group fits every plane.
        let finite = unsafe { R::Lanes::store_checked(&s.held_out, out, h - start) };
        note_group(finite, &s.held_out, h, bad);
    }
}

/// Records in `bad` the first cell of the group of cells from `first` on (`outputs`, its
/// lanes) with a non-finite output, unless `finite` says none is; looked at lane by lane
/// only then.
fn note_group<G: Group>(finite: bool, outputs: &[G], first: usize, bad: &mut Option<usize>) {
    if finite {
        return;
    }
    let (n, lanes) = (G::LANES, G::scalars(outputs));
    let lane = (0..n).find(|&k| {
        lanes
            .iter()
            .skip(k)
            .step_by(n)
            .any(|&v| !crate::real::Real::is_finite(v))
    });
    if let Some(lane) = lane {
        note_bad(bad, first + lane);
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

/// The lane adjoint on the gathered group, into `s.group_bars`; false when its lanes
/// diverged.
///
/// # Safety
/// Only where `lanes::supported()`.
unsafe fn run_adjoint<R: CpuReal>(adjoint: LaneAdjoint<R::Lanes>, s: &mut Scratch<R>) -> bool {
    lanes::reset_divergence();
    let ints = &s.group_ints[..s.ints.len()];
    s.group_bars.fill(R::Lanes::default());
    // SAFETY: the caller's contract.
    unsafe { adjoint(&s.group_reals, ints, &s.group_out_bar, &mut s.group_bars) };
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

/// The groups against the oracle of the cell-by-cell path (which the gradient tests hold
/// to finite differences): forward outputs and pass A's input adjoints, bit for bit, on
/// grids whose rows are not whole groups (so groups straddle rows and wrap) and whose
/// walls give neighbouring cells different link masks (so some groups fall back).
#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::test_support::{grid_with_walls, values, walls_then_forced_bgk};
    use super::*;
    use crate::bind::{Bound, Objective, Step};
    use crate::grid::Grid;
    use crate::{ops, LatticeKind};
    use std::sync::atomic::AtomicU64;

    /// Whether this CPU runs the lane forms these tests compare; says so when it does not.
    fn lane_forms_run_here() -> bool {
        let supported = lanes::supported();
        if !supported {
            eprintln!("this CPU lacks AVX2 or FMA: the backend runs no lane forms here");
        }
        supported
    }

    /// The operator with and without lane forms.
    fn both(bound: &Bound, grid: &Grid, topo: &Topology) -> [CpuOperator<f32>; 2] {
        let mut grouped = CpuOperator::<f32>::new(bound, grid, topo);
        grouped.lanes = Some(bound.op.cpu.f32_lanes(grid.lattice()));
        let mut single = CpuOperator::<f32>::new(bound, grid, topo);
        single.lanes = None;
        [grouped, single]
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Runs the forward and pass A both ways and compares them.
    fn check(bound: &Bound, grid: &Grid, out_bar: impl Fn(usize) -> Vec<f32>) {
        let topo = Topology::new(grid, 4).expect("tables for a small grid");
        let ops = both(bound, grid, &topo);
        let plane_len = topo.plane_len;
        let f: Vec<f32> = values(topo.q * plane_len, 7, (0.01, 0.2))
            .iter()
            .map(|&v| v as f32)
            .collect();
        let [outputs, bar_len] = [ops[0].outputs_len, ops[0].reals_len].map(|m| m * plane_len);
        let out_bar = out_bar(outputs);
        let run = |op: &CpuOperator<f32>| {
            let mut out = vec![0f32; outputs];
            op.forward_all(&topo, 0, &f, &mut out);
            let mut bars = vec![f32::NAN; bar_len];
            let out_bar = if out_bar.len() == outputs {
                OutBar::PerCell(&out_bar)
            } else {
                OutBar::Uniform(&out_bar)
            };
            op.adjoint_all(&topo, 0, &f, out_bar, &mut bars);
            (out, bars)
        };
        let ((out, bars), (want_out, want_bars)) = (run(&ops[0]), run(&ops[1]));
        let name = bound.op.name;
        assert_eq!(
            bits(&out),
            bits(&want_out),
            "{name} forward on {:?}",
            grid.dims()
        );
        assert_eq!(
            bits(&bars),
            bits(&want_bars),
            "{name} adjoint on {:?}",
            grid.dims()
        );
    }

    /// The D3Q19 grid with walls, its tables, a forced step on it and populations, for the
    /// tests of the stores: 75 groups, the last of which starts a cache line and has no
    /// partner.
    fn walled_forced_step() -> (Grid, Topology, Bound, Vec<f32>) {
        let grid = grid_with_walls(LatticeKind::D3Q19, [40, 5, 3]);
        let topo = Topology::new(&grid, 4).expect("tables for a small grid");
        let force = values(grid.cells() * 3, 3, (-1e-3, 1e-3));
        let step = Step::new(&walls_then_forced_bgk::INFO)
            .uniform("omega", [1.7])
            .field("force", force)
            .bind(&grid)
            .expect("a valid binding");
        let f = values(topo.q * topo.plane_len, 5, (0.01, 0.2))
            .iter()
            .map(|&v| v as f32)
            .collect();
        (grid, topo, step, f)
    }

    /// Outputs stored past the caches are those stored through them, whether the planes
    /// start on a cache line (pairs of groups go out past the caches), half a line or a
    /// few values on (every store an ordinary one), on a grid whose walls send some
    /// groups cell by cell (so that a held group's partner never comes).
    #[test]
    fn uncached_stores_write_what_cached_ones_do() {
        if !lane_forms_run_here() {
            return;
        }
        let (grid, topo, step, f) = walled_forced_step();
        let [op, _] = both(&step, &grid, &topo);
        let outputs = op.outputs_len * topo.plane_len;
        let run = |stores: Stores, skew: usize| {
            // Room to start the planes on a cache line, then `skew` values on.
            let mut buffer = vec![f32::NAN; outputs + 32];
            let aligned = buffer.as_ptr().align_offset(64);
            let out = &mut buffer[aligned + skew..aligned + skew + outputs];
            op.forward_storing(&topo, 0, &f, (out, stores), None);
            bits(out)
        };
        let want = run(Stores::Cached, 0);
        assert!(
            topo.plane_len.is_multiple_of(16),
            "every plane starts on a line"
        );
        for skew in [0, 8, 4, 1] {
            assert_eq!(run(Stores::Uncached, skew), want, "planes {skew} values on");
        }
    }

    /// The first cell with a non-finite output is the one reported, whether its group
    /// went out at once, waited for its cache line's other half or was that other half,
    /// or ran cell by cell: against the cell-by-cell path, with a NaN planted in each cell
    /// in turn, then in two cells a few apart.
    #[test]
    fn the_first_non_finite_output_is_reported_however_its_group_was_stored() {
        if !lane_forms_run_here() {
            return;
        }
        let (grid, topo, step, clean) = walled_forced_step();
        let [grouped, single] = both(&step, &grid, &topo);
        let outputs = grouped.outputs_len * topo.plane_len;
        let reported = |op: &CpuOperator<f32>, f: &[f32], stores: Stores| {
            let record = AtomicU64::new(crate::backend::divergence::FINITE);
            let mut out = vec![0f32; outputs];
            op.forward_storing(&topo, 2, f, (&mut out, stores), Some(&record));
            record.into_inner()
        };
        // One NaN in every cell, then two, a few cells apart: in a held group and its
        // partner, in a held group and a group after it that ran cell by cell, ...
        let cells = grid.cells();
        let plantings = (0..cells).map(|c| vec![c]).chain(
            [7, 9, 15]
                .into_iter()
                .flat_map(|d| (0..cells - d).map(move |c| vec![c + d, c])),
        );
        let mut seen = 0;
        for planted in plantings {
            let mut f = clean.clone();
            for &cell in &planted {
                // The rest population, which only its own cell reads.
                f[cell] = f32::NAN;
            }
            let want = reported(&single, &f, Stores::Cached);
            seen += usize::from(want != crate::backend::divergence::FINITE);
            for stores in [Stores::Cached, Stores::Uncached] {
                assert_eq!(
                    reported(&grouped, &f, stores),
                    want,
                    "{stores:?}, NaNs at {planted:?}"
                );
            }
        }
        // Solid cells compute nothing from their populations; every other is seen.
        assert!(seen > 2 * cells, "{seen} plantings seen");
    }

    #[test]
    fn groups_give_the_bits_of_cell_by_cell() {
        if !lane_forms_run_here() {
            return;
        }
        for (lattice, dims) in [
            (LatticeKind::D2Q9, [21, 7, 1]),
            (LatticeKind::D3Q19, [13, 6, 3]),
        ] {
            let grid = grid_with_walls(lattice, dims);
            let d = lattice.d();
            let force = values(grid.cells() * d, 3, (-1e-3, 1e-3));
            let step = Step::new(&walls_then_forced_bgk::INFO)
                .uniform("omega", [1.7])
                .field("force", force)
                .bind(&grid)
                .expect("a valid binding");
            let per_cell = |n| {
                values(n, 11, (-1.0, 1.0))
                    .iter()
                    .map(|&v| v as f32)
                    .collect()
            };
            check(&step, &grid, per_cell);
            // An objective's adjoint: the same output weights for every cell.
            let objective = Objective::new(&ops::velocity_mismatch::INFO)
                .uniform("target", [0.01, -0.02, 0.005][..d].to_vec())
                .bind(&grid, 1)
                .expect("a valid binding");
            check(&objective.bound, &grid, |_| vec![0.75]);
            // Library collisions whose lane adjoints unroll every loop (`unroll_adjoint`),
            // where the others keep their loops over `Q`.
            let collisions = [
                Step::new(&ops::bgk::INFO).uniform("omega", [1.7]),
                Step::new(&ops::trt::INFO)
                    .uniform("omega", [1.7])
                    .uniform("magic", [0.25]),
            ];
            for step in collisions {
                check(&step.bind(&grid).expect("a valid binding"), &grid, per_cell);
            }
        }
    }
}
