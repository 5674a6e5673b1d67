//! One bound operator on the CPU: gathering its inputs from a direction-major state, its
//! forward over every cell, and the two passes of its adjoint.
//!
//! The adjoint runs in two passes: every cell computes the adjoints of all its inputs, one
//! plane per input value (pass A), then every population slot gathers what its readers
//! sent it (pass B): streaming is a permutation, so each slot has a fixed set of readers
//! and no write is shared. A step whose only population reads are streamed ones has one
//! reader per slot, and its pass A writes the slots itself (see `slots`). Sums over cells
//! use a fixed chunking, so results do not depend on thread scheduling.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::backend::divergence::divergence_code;
use crate::bind::{Bound, Source};
use crate::gradients::{GradValue, ParamAccumulator};
use crate::grid::Grid;
use crate::lanes::Group;
use crate::operator::{CpuForms, FlatForms, LaneForms};
use crate::real::Real;

use super::planes::cut_into_blocks;
use super::topology::{clip, Topology, MAX_Q};
use super::uncached::{self, Stores};

mod groups;
mod runs;
mod slots;
#[cfg(test)]
mod test_support;

use runs::{RowReads, RunReads};
use slots::{SlotTerms, Slots};

/// Cells per chunk of a deterministic parallel sum.
pub(crate) const CHUNK: usize = 1024;

/// A real type with flat CPU forms.
pub trait CpuReal: Real + bytemuck::Pod {
    /// The lane type whose forms run groups of cells at once (see [`crate::lanes`]).
    type Lanes: Group<Scalar = Self>;
    /// The forms of an operator for this type.
    fn forms(cpu: &CpuForms, lattice: crate::LatticeKind) -> &FlatForms<Self>;
    /// Its lane forms, where this CPU runs them.
    fn lane_forms(
        cpu: &'static CpuForms,
        lattice: crate::LatticeKind,
    ) -> Option<&'static LaneForms<Self::Lanes>>;
}

impl CpuReal for f32 {
    #[cfg(target_arch = "x86_64")]
    type Lanes = crate::lanes::F32x8;
    #[cfg(not(target_arch = "x86_64"))]
    type Lanes = f32;
    fn forms(cpu: &CpuForms, lattice: crate::LatticeKind) -> &FlatForms<f32> {
        cpu.f32(lattice)
    }
    fn lane_forms(
        cpu: &'static CpuForms,
        lattice: crate::LatticeKind,
    ) -> Option<&'static LaneForms<Self::Lanes>> {
        #[cfg(target_arch = "x86_64")]
        {
            lanes_enabled().then(|| cpu.f32_lanes(lattice))
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (cpu, lattice);
            None
        }
    }
}

impl CpuReal for f64 {
    /// `f64` has no lane forms (see [`CpuForms::f32_lanes`]).
    type Lanes = f64;
    fn forms(cpu: &CpuForms, lattice: crate::LatticeKind) -> &FlatForms<f64> {
        cpu.f64(lattice)
    }
    fn lane_forms(_: &'static CpuForms, _: crate::LatticeKind) -> Option<&'static LaneForms<f64>> {
        None
    }
}

/// Whether operators run over groups of cells: where the CPU has the lane types'
/// features, unless `LBM_CPU_LANES=0` asks for one cell at a time (to compare the two).
fn lanes_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        crate::lanes::supported() && std::env::var("LBM_CPU_LANES").map_or(true, |v| v != "0")
    })
}

/// Cells per parallel task: large enough that splitting and per-task setup vanish, small
/// enough that two threads share a small grid evenly. Each cell's result does not depend
/// on it.
const BLOCK: usize = 1024;

/// An input gathered anew for every cell (the others are the same for every cell of a
/// step and are written once per task, see [`CpuOperator::constants`]).
#[derive(Clone, Copy, Debug)]
enum CellInput {
    /// Streamed populations, at this offset of the real inputs.
    Pulled(usize),
    /// The cell's own populations.
    Local(usize),
    /// `f(x + c_i, OPP[i])`.
    Far(usize),
    /// A neighbour's populations, through `neighbors[k]`.
    Neighbor { at: usize, k: usize },
    /// `len` values of the per-cell field of source `k`.
    Field { at: usize, len: usize, k: usize },
    /// The link mask, at this offset of the integer inputs.
    Links(usize),
    /// The integer field of source `k`.
    IntField { at: usize, k: usize },
}

impl CellInput {
    fn streams(self) -> bool {
        matches!(self, CellInput::Pulled(_) | CellInput::Far(_))
    }
}

/// Where a cell's output adjoints come from in pass A.
#[derive(Clone, Copy)]
pub(crate) enum OutBar<'a, R> {
    /// `values[j * plane_len + cell]` for output `j`: the adjoint state of the step's
    /// result, direction-major as the states.
    PerCell(&'a [R]),
    /// The same for every cell (an objective's weights).
    Uniform(&'a [R]),
}

impl<'a, R: Copy> OutBar<'a, R> {
    /// The output adjoints of `cell` (planes `plane_len` values apart), gathered into
    /// `buf` where they are not already one slice.
    #[inline]
    fn of<'b>(&self, cell: usize, plane_len: usize, buf: &'b mut [R]) -> &'b [R]
    where
        'a: 'b,
    {
        match *self {
            OutBar::PerCell(v) => {
                for (j, b) in buf.iter_mut().enumerate() {
                    *b = v[j * plane_len + cell];
                }
                buf
            }
            OutBar::Uniform(v) => v,
        }
    }
}

/// Where pass A puts the adjoints of the populations a cell read.
#[derive(Clone, Copy)]
enum PopulationBars<'s, 'a, R> {
    /// In their planes, like every other input's, for pass B.
    Planes,
    /// Straight into their slots of the adjoint state.
    Slots(&'s SlotTerms, &'s Slots<'a, R>),
}

/// One task's input buffers, the constants of its step already in place.
struct Scratch<R: CpuReal> {
    reals: Vec<R>,
    ints: Vec<i64>,
    /// A group's inputs, lane `k` of input `j` at scalar `j * LANES + k` (empty without
    /// lane forms).
    group_reals: Vec<R::Lanes>,
    /// A group's integer inputs, cell after cell.
    group_ints: Vec<i64>,
    /// A group's outputs.
    group_out: Vec<R::Lanes>,
    /// The outputs of a group held back until the next completes their cache lines (stores
    /// past the caches).
    held_out: Vec<R::Lanes>,
    /// A group's output adjoints, for a lane adjoint.
    group_out_bar: Vec<R::Lanes>,
    /// A group's input adjoints.
    group_bars: Vec<R::Lanes>,
    /// One cell's outputs, before they go to their planes.
    out: Vec<R>,
    /// One cell's input adjoints, before they go to their planes.
    bar: Vec<R>,
    /// One slot's sum over its readers, lane by lane, when a slot has several.
    slot_sum: Vec<R>,
    /// Inputs and outputs in `f32`, for a forward computed in `f32` on wider storage.
    narrow: Vec<f32>,
    narrow_out: Vec<f32>,
    /// The population reads of the current row of groups, kept from one block of cells
    /// to the next: a scratch serves one pass of one operator, so their row-independent
    /// part is worked out once per scratch instead of once per block (with allocations).
    rows: RowReads,
}

/// An operator prepared to run on the CPU: its sources with their flat offsets.
pub(crate) struct CpuOperator<R: CpuReal> {
    pub bound: Bound,
    lattice: crate::LatticeKind,
    forms: &'static FlatForms<R>,
    offsets: Vec<Option<usize>>,
    lens: Vec<usize>,
    pub reals_len: usize,
    ints_len: usize,
    pub outputs_len: usize,
    /// The inputs that differ from cell to cell, in source order.
    per_cell: Vec<CellInput>,
    /// Whether any input reads streamed populations (so cells need their upstream cells).
    streams: bool,
    /// For each `Neighbor` source: the neighbour of every cell, and the reverse map.
    neighbors: Vec<Option<(Vec<u32>, Vec<u32>)>>,
    /// The `f32` forward form, when this operator computes its forward in `f32` on wider
    /// storage (an `f32` simulation with an `f64` adjoint).
    forward_f32: Option<&'static FlatForms<f32>>,
    /// The lane forms, where this CPU runs them.
    lanes: Option<&'static LaneForms<R::Lanes>>,
    /// How pass A can write population adjoints into their slots, when it can.
    slot_terms: Option<SlotTerms>,
    /// The per-cell inputs as reads of runs of the state, when they all are (see
    /// `runs`); groups of cells gather them so.
    run_reads: Option<RunReads>,
}

impl<R: CpuReal> CpuOperator<R> {
    pub fn new(bound: &Bound, grid: &Grid, topo: &Topology) -> Self {
        let op = bound.op;
        let lattice = grid.lattice();
        let neighbors = bound
            .sources
            .iter()
            .map(|s| match s {
                Source::Neighbor(o) => {
                    Some((topo.shifted(*o), topo.shifted([-o[0], -o[1], -o[2]])))
                }
                _ => None,
            })
            .collect();
        let offsets = bound.real_offsets(grid);
        let lens: Vec<usize> = op.params.iter().map(|p| p.shape.len(lattice)).collect();
        let per_cell = per_cell_inputs(&bound.sources, &offsets, &lens);
        let reals_len = op.real_inputs_len(lattice);
        let run_reads = RunReads::of(&per_cell, &topo.opp, topo.plane_len, R::Lanes::LANES);
        CpuOperator {
            lattice,
            neighbors,
            slot_terms: SlotTerms::of(&per_cell, &topo.opp, reals_len),
            bound: bound.clone(),
            forms: R::forms(&op.cpu, lattice),
            streams: per_cell.iter().any(|c| c.streams()),
            per_cell,
            offsets,
            lens,
            reals_len,
            ints_len: op.int_inputs_len(),
            outputs_len: op.outputs_len(lattice),
            forward_f32: None,
            lanes: R::lane_forms(&op.cpu, lattice),
            run_reads,
        }
    }

    /// Computes the forward in `f32` (see [`CpuOperator::forward_f32`]).
    pub fn with_f32_forward(mut self) -> Self {
        let op = self.bound.op;
        self.forward_f32 = Some(<f32 as CpuReal>::forms(&op.cpu, self.lattice));
        // Lanes would compute in the storage's type.
        self.lanes = None;
        self
    }

    /// Input buffers holding the inputs that are the same for every cell at step `t`.
    fn scratch(&self, t: usize) -> Scratch<R> {
        let mut s = Scratch {
            reals: vec![R::default(); self.reals_len],
            ints: vec![0i64; self.ints_len],
            group_reals: Vec::new(),
            group_ints: Vec::new(),
            group_out: Vec::new(),
            held_out: Vec::new(),
            group_out_bar: Vec::new(),
            group_bars: Vec::new(),
            out: vec![R::default(); self.outputs_len],
            bar: vec![R::default(); self.reals_len],
            slot_sum: vec![R::default(); R::Lanes::LANES],
            narrow: Vec::new(),
            narrow_out: Vec::new(),
            rows: RowReads::default(),
        };
        if self.forward_f32.is_some() {
            s.narrow = vec![0f32; self.reals_len];
            s.narrow_out = vec![0f32; self.outputs_len];
        }
        self.constants(t, &mut s.reals, &mut s.ints);
        if self.lanes.is_some() {
            let n = R::Lanes::LANES;
            s.group_reals = vec![R::Lanes::default(); self.reals_len];
            // The constants in every lane; the per-cell inputs are written per group.
            for (j, lanes) in R::Lanes::scalars_mut(&mut s.group_reals)
                .chunks_mut(n)
                .enumerate()
            {
                lanes.fill(s.reals[j]);
            }
            s.group_ints = s.ints.repeat(n);
            s.group_out = vec![R::Lanes::default(); self.outputs_len];
            s.held_out = vec![R::Lanes::default(); self.outputs_len];
            s.group_out_bar = vec![R::Lanes::default(); self.outputs_len];
            s.group_bars = vec![R::Lanes::default(); self.reals_len];
        }
        s
    }

    /// Writes the inputs that are the same for every cell at step `t`.
    fn constants(&self, t: usize, reals: &mut [R], ints: &mut [i64]) {
        let mut int_at = 0;
        for (k, source) in self.bound.sources.iter().enumerate() {
            let Some(o) = self.offsets[k] else {
                if let Source::Int(v) = source {
                    ints[int_at] = *v;
                }
                int_at += 1;
                continue;
            };
            let dst = &mut reals[o..o + self.lens[k]];
            let values = match source {
                Source::Uniform(v) => v,
                Source::PerStep(v) => &v[t],
                _ => continue,
            };
            dst.iter_mut()
                .zip(values)
                .for_each(|(d, v)| *d = R::from_f64(*v));
        }
        debug_assert_eq!(int_at, self.ints_len);
    }

    /// Fills the inputs of `cell` that differ from cell to cell, from the state `f`;
    /// `ups[i]` is the cell direction `i` streams from. Real input `j` goes to
    /// `reals[j * stride]` (a lane of a group when `stride` is the lane count).
    #[inline]
    fn gather(
        &self,
        topo: &Topology,
        cell: usize,
        ups: &[usize],
        f: &[R],
        (reals, stride): (&mut [R], usize),
        ints: &mut [i64],
    ) {
        for &input in &self.per_cell {
            self.gather_input(input, topo, cell, ups, f, (reals, stride), ints);
        }
    }

    /// One input of [`Self::gather`].
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn gather_input(
        &self,
        input: CellInput,
        topo: &Topology,
        cell: usize,
        ups: &[usize],
        f: &[R],
        (reals, stride): (&mut [R], usize),
        ints: &mut [i64],
    ) {
        let (q, plane) = (topo.q, topo.plane_len);
        match input {
            CellInput::Pulled(o) => {
                put_strided(
                    reals,
                    stride,
                    o,
                    ups.iter().enumerate().map(|(i, &up)| f[i * plane + up]),
                );
            }
            CellInput::Local(o) => {
                put_strided(reals, stride, o, (0..q).map(|i| f[i * plane + cell]))
            }
            CellInput::Far(o) => {
                // The cell `x + c_i` is the one `OPP[i]` streams from.
                put_strided(
                    reals,
                    stride,
                    o,
                    topo.opp.iter().map(|&j| f[j * plane + ups[j]]),
                );
            }
            CellInput::Neighbor { at, k } => {
                let nb = self.neighbor_tables(k).0[cell] as usize;
                put_strided(reals, stride, at, (0..q).map(|i| f[i * plane + nb]));
            }
            CellInput::Field { at, len, k } => {
                let Source::Field(v) = &self.bound.sources[k] else {
                    unreachable!("a field input is bound to a field");
                };
                put_strided(
                    reals,
                    stride,
                    at,
                    v[cell * len..cell * len + len]
                        .iter()
                        .map(|v| R::from_f64(*v)),
                );
            }
            CellInput::Links(at) => ints[at] = topo.links[cell],
            CellInput::IntField { at, k } => {
                let Source::IntField(v) = &self.bound.sources[k] else {
                    unreachable!("an integer field input is bound to one");
                };
                ints[at] = v[cell];
            }
        }
    }

    fn neighbor_tables(&self, k: usize) -> &(Vec<u32>, Vec<u32>) {
        self.neighbors[k]
            .as_ref()
            .expect("tables for every neighbour source")
    }

    /// Runs the forward form on every interior cell; `out` gets `outputs_len` planes of
    /// one value per cell (those of other cells are left as they were).
    pub fn forward_all(&self, topo: &Topology, t: usize, f: &[R], out: &mut [R]) {
        self.forward_recording(topo, t, f, out, None);
    }

    /// [`Self::forward_all`], also recording in `record` the first non-finite output as
    /// `(t + 1) << 32 | cell` (the minimum over cells, so the first in cell order).
    pub fn forward_recording(
        &self,
        topo: &Topology,
        t: usize,
        f: &[R],
        out: &mut [R],
        record: Option<&AtomicU64>,
    ) {
        let stores = uncached::for_state(std::mem::size_of_val(out));
        self.forward_storing(topo, t, f, (out, stores), record);
    }

    /// [`Self::forward_recording`], storing its outputs as `stores` says.
    fn forward_storing(
        &self,
        topo: &Topology,
        t: usize,
        f: &[R],
        (out, stores): (&mut [R], Stores),
        record: Option<&AtomicU64>,
    ) {
        let m = self.outputs_len;
        if m == 0 {
            return;
        }
        let mut blocks = cut_into_blocks(out, m, (topo.cells, topo.plane_len), BLOCK);
        blocks.par_chunks_mut(m).enumerate().for_each_init(
            || self.scratch(t),
            |s, (b, planes)| {
                let start = b * BLOCK;
                let cells = clip(start..start + planes[0].len(), &topo.interior);
                let bad = self.forward_cells(topo, f, cells, (planes, stores), start, s);
                if let (Some(record), Some(cell)) = (record, bad) {
                    record.fetch_min(divergence_code(t, cell), Ordering::Relaxed);
                }
            },
        );
    }

    /// The forward of `cells`, whose outputs go to `out` (the block's slice of each output
    /// plane, from cell `start` on) as `stores` says; returns the first cell with a
    /// non-finite output.
    fn forward_cells(
        &self,
        topo: &Topology,
        f: &[R],
        cells: Range<usize>,
        (out, stores): (&mut [&mut [R]], Stores),
        start: usize,
        s: &mut Scratch<R>,
    ) -> Option<usize> {
        if let Some(lanes) = self.lanes {
            return self.forward_groups(lanes.forward, topo, f, cells, (out, stores), start, s);
        }
        let mut bad = None;
        topo.for_each_cell(cells, (self.streams, 1), |cell, ups| {
            self.gather(topo, cell, ups, f, (&mut s.reals, 1), &mut s.ints);
            self.forward_one(s);
            store_cell(s, out, cell - start, cell, &mut bad);
        });
        bad
    }

    /// The forward form on gathered inputs, in `f32` when so asked: the storage then
    /// holds `f32` values in a wider type, so rounding the inputs, computing in `f32` and
    /// widening the results leaves every state the `f32` run's bit for bit.
    /// The outputs go to `s.out`.
    fn forward_one(&self, s: &mut Scratch<R>) {
        let out = &mut s.out;
        let Some(forms) = self.forward_f32 else {
            (self.forms.forward)(&s.reals, &s.ints, out);
            return;
        };
        s.narrow
            .iter_mut()
            .zip(&s.reals)
            .for_each(|(n, r)| *n = r.to_f64() as f32);
        (forms.forward)(&s.narrow, &s.ints, &mut s.narrow_out);
        out.iter_mut()
            .zip(&s.narrow_out)
            .for_each(|(o, n)| *o = R::from_f64(f64::from(*n)));
    }

    /// Pass A of the adjoint: every interior cell's input adjoints, in `reals_len` planes
    /// of one value per cell (`[k * cells + cell]`), zero for the other cells, which send
    /// nothing in pass B.
    pub fn adjoint_all(
        &self,
        topo: &Topology,
        t: usize,
        f: &[R],
        out_bar: OutBar<'_, R>,
        bars: &mut [R],
    ) {
        self.adjoint_blocks(topo, t, f, out_bar, bars, PopulationBars::Planes);
    }

    /// The adjoint of a step: `lambda` (direction-major) gets every slot's adjoint from
    /// `out_bar`, the adjoint state of the step's result (zero where no interior cell read
    /// the slot), and `bars` every input's planes as from [`Self::adjoint_all`] (those of
    /// streamed populations only when the step does not stream).
    ///
    /// A step that streams writes the adjoints of its streamed populations straight into
    /// their slots (see `slots`), then adds those of its own or a neighbour's populations
    /// as pass B would; any other runs pass A, then pass B.
    pub fn adjoint_step(
        &self,
        topo: &Topology,
        t: usize,
        f: &[R],
        out_bar: &[R],
        bars: &mut [R],
        lambda: &mut [R],
    ) {
        let Some(terms) = &self.slot_terms else {
            self.adjoint_all(topo, t, f, OutBar::PerCell(out_bar), bars);
            self.scatter_populations(topo, bars, lambda, true);
            return;
        };
        if topo.interior != (0..topo.cells) {
            // A part of a split domain: the slots its halo cells read get nothing below.
            lambda.par_iter_mut().for_each(|l| *l = R::default());
        }
        let slots = Slots::new(lambda);
        let pops = PopulationBars::Slots(terms, &slots);
        self.adjoint_blocks(topo, t, f, OutBar::PerCell(out_bar), bars, pops);
        self.scatter_reads(topo, bars, lambda, false, |c| {
            matches!(c, CellInput::Local(_) | CellInput::Neighbor { .. })
        });
    }

    /// Pass A over blocks of cells in parallel.
    fn adjoint_blocks(
        &self,
        topo: &Topology,
        t: usize,
        f: &[R],
        out_bar: OutBar<'_, R>,
        bars: &mut [R],
        pops: PopulationBars<'_, '_, R>,
    ) {
        let n = self.reals_len;
        if n == 0 {
            return;
        }
        let mut blocks = cut_into_blocks(bars, n, (topo.cells, topo.plane_len), BLOCK);
        blocks.par_chunks_mut(n).enumerate().for_each_init(
            || self.scratch(t),
            |s, (b, planes)| {
                let start = b * BLOCK;
                let cells = clip(start..start + planes[0].len(), &topo.interior);
                for plane in planes.iter_mut() {
                    plane[..cells.start - start].fill(R::default());
                    plane[cells.end - start..].fill(R::default());
                }
                if let Some(lanes) = self.lanes {
                    let adjoint = lanes.adjoint;
                    self.adjoint_groups(adjoint, topo, f, cells, out_bar, planes, start, pops, s);
                    return;
                }
                topo.for_each_cell(cells, (self.streams, 1), |cell, ups| {
                    self.gather(topo, cell, ups, f, (&mut s.reals, 1), &mut s.ints);
                    self.adjoint_one(s, cell, topo, ups, out_bar, planes, start, pops);
                });
            },
        );
    }

    /// The scalar adjoint of `cell`, whose inputs are gathered in `s`: its input adjoints
    /// go to `planes`, the block's slices of the input adjoint planes from cell `start` on,
    /// or as `pops` says; `ups[i]` is the cell direction `i` streams from.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn adjoint_one(
        &self,
        s: &mut Scratch<R>,
        cell: usize,
        topo: &Topology,
        ups: &[usize],
        out_bar: OutBar<'_, R>,
        planes: &mut [&mut [R]],
        start: usize,
        pops: PopulationBars<'_, '_, R>,
    ) {
        let ob = out_bar.of(cell, topo.plane_len, &mut s.out);
        s.bar.fill(R::default());
        (self.forms.adjoint)(&s.reals, &s.ints, ob, &mut s.bar);
        match pops {
            PopulationBars::Planes => {
                for (plane, b) in planes.iter_mut().zip(&s.bar) {
                    plane[cell - start] = *b;
                }
            }
            PopulationBars::Slots(terms, slots) => {
                for &k in terms.kept() {
                    planes[k][cell - start] = s.bar[k];
                }
                // SAFETY: every cell of the step writes only the slots it read, and no
                // two cells read one slot (`adjoint_step`).
                unsafe { self.put_cell_slots(terms, topo, ups, &s.bar, slots) };
            }
        }
    }

    /// Pass B: adds into `lambda` (direction-major) what every population reader sent
    /// each slot, or with `fresh` writes it there (from zero, as adding into a zeroed
    /// state would, without a pass of its own over the state).
    ///
    /// Row by row: the cells of a stretch of a row that read one slot each are a run of
    /// cells (the run the stretch streams from, in the opposite direction), so every
    /// plane of `lambda` adds runs of the planes of pass A.
    pub fn scatter_populations(&self, topo: &Topology, bars: &[R], lambda: &mut [R], fresh: bool) {
        self.scatter_reads(topo, bars, lambda, fresh, |c| {
            matches!(
                c,
                CellInput::Pulled(_)
                    | CellInput::Local(_)
                    | CellInput::Far(_)
                    | CellInput::Neighbor { .. }
            )
        });
    }

    /// [`Self::scatter_populations`] of the population reads that `keep` keeps.
    fn scatter_reads(
        &self,
        topo: &Topology,
        bars: &[R],
        lambda: &mut [R],
        fresh: bool,
        keep: impl Fn(&CellInput) -> bool,
    ) {
        let (q, plane_len, nx) = (topo.q, topo.plane_len, topo.nx());
        let reads: Vec<CellInput> = self.per_cell.iter().copied().filter(keep).collect();
        if reads.is_empty() {
            if fresh {
                lambda.fill(R::default());
            }
            return;
        }
        let plane = |k: usize| &bars[k * plane_len..(k + 1) * plane_len];
        let opp = &topo.opp;
        let mut blocks = cut_into_blocks(lambda, q, (topo.cells, plane_len), BLOCK);
        blocks.par_chunks_mut(q).enumerate().for_each(|(b, lam)| {
            let start = b * BLOCK;
            let end = start + lam[0].len();
            if fresh {
                // Block by block, so the zeros are still in cache when the reads add.
                lam.iter_mut().for_each(|l| l.fill(R::default()));
            }
            let mut runs = [(0usize, 0usize); MAX_Q];
            let runs = &mut runs[..q];
            let mut y = start;
            while y < end {
                let stretch = y..end.min(y - y % nx + nx);
                let at = y - start..stretch.end - start;
                if self.streams {
                    topo.source_runs(y, runs);
                }
                // Every slot adds its readers in source order, as it always has, so the
                // sums round the same way.
                for read in &reads {
                    match *read {
                        // Cell y + c_j (the one OPP[j] streams from) pulled slot j as its
                        // f[j].
                        CellInput::Pulled(o) => {
                            for (j, lam) in lam.iter_mut().enumerate() {
                                add_run(&mut lam[at.clone()], plane(o + j), runs[opp[j]], nx);
                            }
                        }
                        CellInput::Local(o) => {
                            for (j, lam) in lam.iter_mut().enumerate() {
                                add(&mut lam[at.clone()], &plane(o + j)[stretch.clone()]);
                            }
                        }
                        // Cell y + c_j read it as its f_far[OPP[j]].
                        CellInput::Far(o) => {
                            for (j, lam) in lam.iter_mut().enumerate() {
                                let from = plane(o + opp[j]);
                                add_run(&mut lam[at.clone()], from, runs[opp[j]], nx);
                            }
                        }
                        // Cell y - offset read this cell's populations.
                        CellInput::Neighbor { at: o, k } => {
                            let readers = &self.neighbor_tables(k).1[stretch.clone()];
                            for (j, lam) in lam.iter_mut().enumerate() {
                                let from = plane(o + j);
                                for (l, &r) in lam[at.clone()].iter_mut().zip(readers) {
                                    *l += from[r as usize];
                                }
                            }
                        }
                        _ => unreachable!("only population reads are kept"),
                    }
                }
                y = stretch.end;
            }
        });
    }

    /// Adds the parameter adjoints of pass A to the accumulators.
    pub fn accumulate_params(
        &self,
        topo: &Topology,
        t: usize,
        bars: &[R],
        acc: &mut ParamAccumulator,
    ) {
        let (cells, plane_len) = (topo.cells, topo.plane_len);
        for (k, _, value) in &mut acc.entries {
            let (o, len) = (self.offsets[*k].expect("real parameter"), self.lens[*k]);
            let planes = &bars[o * plane_len..(o + len) * plane_len];
            match value {
                GradValue::Field(g) => {
                    g.par_chunks_mut(len).enumerate().for_each(|(cell, g)| {
                        for (a, gk) in g.iter_mut().enumerate() {
                            *gk += planes[a * plane_len + cell].to_f64();
                        }
                    });
                }
                GradValue::Uniform(g) => add(g, &sum_over_cells(planes, (cells, plane_len))),
                GradValue::PerStep(g) => {
                    add(&mut g[t], &sum_over_cells(planes, (cells, plane_len)))
                }
            }
        }
    }
}

/// Moves one cell's outputs from `s.out` to `at` of each of the block's output planes
/// `out`, recording `cell` in `bad` when an output is not finite.
#[inline(always)]
fn store_cell<R: CpuReal>(
    s: &Scratch<R>,
    out: &mut [&mut [R]],
    at: usize,
    cell: usize,
    bad: &mut Option<usize>,
) {
    let mut finite = true;
    for (plane, v) in out.iter_mut().zip(&s.out) {
        plane[at] = *v;
        finite &= v.is_finite();
    }
    if !finite {
        note_bad(bad, cell);
    }
}

/// Records `cell` as one with a non-finite output in `bad`, which keeps the first such
/// cell: groups held back for their cache lines are checked after later cells.
#[inline]
fn note_bad(bad: &mut Option<usize>, cell: usize) {
    *bad = Some(bad.map_or(cell, |b| b.min(cell)));
}

/// Writes `values` to `reals[(at + k) * stride]`, `k = 0, 1, ...`.
#[inline(always)]
fn put_strided<R>(reals: &mut [R], stride: usize, at: usize, values: impl Iterator<Item = R>) {
    for (k, v) in values.enumerate() {
        reals[(at + k) * stride] = v;
    }
}

/// `into[k] += v[k]`.
#[inline]
fn add<T: Copy + std::ops::AddAssign>(into: &mut [T], v: &[T]) {
    into.iter_mut().zip(v).for_each(|(a, b)| *a += *b);
}

/// The sum over the `cells` cells of each plane of `planes` (`plane_len` values each),
/// in a fixed order: chunks of [`CHUNK`] cells, then the chunks' sums in order.
fn sum_over_cells<R: Real>(planes: &[R], (cells, plane_len): (usize, usize)) -> Vec<f64> {
    planes
        .chunks(plane_len.max(1))
        .map(|plane| {
            let partials: Vec<f64> = plane[..cells]
                .par_chunks(CHUNK)
                .map(|chunk| chunk.iter().fold(0.0, |s, v| s + v.to_f64()))
                .collect();
            partials.iter().fold(0.0, |s, p| s + p)
        })
        .collect()
}

/// `dst[k] += plane[start + (x + k) mod nx]`: a run of the row of `plane` that starts at
/// cell `start`, from its cell `x` on, wrapping (`dst` is at most a row long).
#[inline]
fn add_run<R: Real>(dst: &mut [R], plane: &[R], (start, x): (usize, usize), nx: usize) {
    let row = &plane[start..start + nx];
    let first = dst.len().min(nx - x);
    let (head, tail) = dst.split_at_mut(first);
    add(head, &row[x..x + first]);
    add(tail, &row[..tail.len()]);
}

/// The inputs of `sources` that differ from cell to cell, with their offsets.
fn per_cell_inputs(
    sources: &[Source],
    offsets: &[Option<usize>],
    lens: &[usize],
) -> Vec<CellInput> {
    let mut int_at = 0;
    let mut inputs = Vec::new();
    for (k, source) in sources.iter().enumerate() {
        let at = offsets[k];
        let input = match source {
            Source::Pulled => at.map(CellInput::Pulled),
            Source::Local => at.map(CellInput::Local),
            Source::Far => at.map(CellInput::Far),
            Source::Neighbor(_) => at.map(|at| CellInput::Neighbor { at, k }),
            Source::Field(_) => at.map(|at| CellInput::Field {
                at,
                len: lens[k],
                k,
            }),
            Source::Links => Some(CellInput::Links(int_at)),
            Source::IntField(_) => Some(CellInput::IntField { at: int_at, k }),
            // The same for every cell: see `CpuOperator::constants`.
            Source::Uniform(_) | Source::PerStep(_) | Source::Int(_) => None,
        };
        if at.is_none() {
            int_at += 1;
        }
        inputs.extend(input);
    }
    inputs
}
