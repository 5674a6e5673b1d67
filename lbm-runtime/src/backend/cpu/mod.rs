//! The CPU backend: the flat Rust forms of the same operators, parallel over cells.
//!
//! States are direction-major (`[i * plane_len + cell]`), as on the GPU: population `i`
//! of consecutive cells is one contiguous run, so a group of cells loads it into SIMD
//! lanes in one move, and a block of cells writes one slice of each plane (see `planes`),
//! so blocks run in parallel without sharing writes. Planes are a little longer than the
//! grid has cells, so that they start an odd number of half pages apart (see
//! `Topology::plane_len`). `operator` gathers, runs and differentiates one bound
//! operator, in blocks of cells; `topology` says where each cell's streamed populations
//! come from, row by row; this module holds a whole
//! simulation (the step, the objective, their gradients) and implements the backend
//! interface.

mod operator;
mod planes;
pub mod profile;
mod state;
mod topology;
mod uncached;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::divergence::{diverged_error, divergence_code, FINITE};
use super::host::{
    check_state, convert_planes, convert_planes_out, HostVec, StateLayout, TransferCounter,
    Transfers,
};
use super::split::{LayerMove, MoveMode, PartEngine};
use super::Engine;
use crate::bind::{Bound, BoundObjective};
use crate::checkpoint::Stepper;
use crate::error::Result;
use crate::gradients::{ParamAccumulator, ParamGradient};
use crate::grid::Grid;
use crate::memory::{bytes_of, check_host_fits, try_zeroed};
use crate::real::Precision;
use crate::storage::Storage;
pub(crate) use operator::CpuReal;
use operator::{CpuOperator, OutBar, CHUNK};
use state::{CpuState, Placement};
use topology::Topology;

/// How the CPU backend lays out its states (see the module docs).
const LAYOUT: StateLayout = StateLayout::DirectionMajor;

/// One simulation on the CPU: the step, the objective and the grid's tables.
pub(crate) struct CpuEngine<R: CpuReal> {
    grid: Grid,
    topo: Topology,
    /// The precision the step's forward computes in (`f32` on `f64` storage for an `f32`
    /// simulation with an `f64` adjoint).
    compute: Precision,
    step: CpuOperator<R>,
    objective: Option<(CpuOperator<R>, BoundObjective)>,
    step_grads: ParamAccumulator,
    objective_grads: Option<ParamAccumulator>,
    /// How states are kept: 16-bit formats are emulated by rounding every population the
    /// forward writes (see [`Storage::round`]), in `f32` memory.
    storage: Storage,
    /// Pass A's per-cell input adjoints, allocated by the first adjoint step.
    bars: Vec<R>,
    /// The objective's per-cell outputs (for its loss) and input adjoints (for its seed),
    /// kept across the evaluations of one backward run and released at its end.
    objective_scratch: (Vec<R>, Vec<R>),
    /// The first non-finite population written, as `(step << 32) | cell`, or [`FINITE`].
    diverged: AtomicU64,
    transfers: TransferCounter,
    /// Where the next state allocated starts within its page: consecutive states alternate
    /// (see `state`).
    next_placement: Placement,
}

impl<R: CpuReal> CpuEngine<R> {
    /// An engine for `step` on `grid` whose forward computes in `compute` (which must be
    /// `R`'s precision or `f32`).
    pub fn new(grid: &Grid, step: &Bound, compute: Precision) -> Result<Self> {
        Self::new_part(grid, step, compute, 0..grid.cells())
    }

    /// An engine that steps only the cells `interior` of `grid` (one part of a split
    /// domain, whose other cells are its halo).
    pub fn new_part(
        grid: &Grid,
        step: &Bound,
        compute: Precision,
        interior: Range<usize>,
    ) -> Result<Self> {
        let (q, cells) = (grid.lattice().q(), grid.cells());
        // Two states and the neighbour tables, before any of them is allocated.
        let state = bytes_of(
            "a state",
            q * Topology::plane_len(cells, std::mem::size_of::<R>()),
            std::mem::size_of::<R>(),
        )?;
        let tables = Topology::table_bytes(grid);
        check_host_fits(
            &format!("a simulation of {cells} cells on the CPU"),
            state.saturating_mul(2).saturating_add(tables),
        )?;
        let mut topo = Topology::new(grid, std::mem::size_of::<R>())?;
        topo.interior = interior;
        Ok(CpuEngine {
            step: Self::step_operator(step, grid, &topo, compute),
            step_grads: ParamAccumulator::new(step, grid),
            objective: None,
            objective_grads: None,
            grid: grid.clone(),
            topo,
            compute,
            storage: Storage::Compute,
            bars: Vec::new(),
            objective_scratch: (Vec::new(), Vec::new()),
            diverged: AtomicU64::new(FINITE),
            transfers: TransferCounter::default(),
            next_placement: Placement::PageStart,
        })
    }

    /// Keeps states as `storage` would (numbers only: the memory stays `R`). A 16-bit
    /// format needs an `f32` engine computing in `f32`.
    pub fn with_storage(mut self, storage: Storage) -> Result<Self> {
        if storage.is_half() && (R::PRECISION != Precision::F32 || self.compute != Precision::F32) {
            return Err(crate::error::LbmError::BackendUnavailable(format!(
                "{storage} storage computes in f32, with an f32 adjoint"
            )));
        }
        self.storage = storage;
        Ok(self)
    }

    /// Rounds every population of `f` as 16-bit storage keeps it, and records the first
    /// that rounds to a value that is not finite (as written by step `t`).
    fn round_to_storage(&self, t: usize, f: &mut [R]) {
        let diverged = &self.diverged;
        self.round_cells(f, |cell| {
            diverged.fetch_min(divergence_code(t, cell), Ordering::Relaxed);
        });
    }

    /// Rounds every population of `f` as 16-bit storage keeps it (nothing without it),
    /// calling `not_finite` with each cell where one rounds to a value that is not finite.
    fn round_cells(&self, f: &mut [R], not_finite: impl Fn(usize) + Sync) {
        let storage = self.storage;
        if !storage.is_half() {
            return;
        }
        let shifts = crate::storage::shifts(self.grid.lattice());
        let cells = self.topo.cells;
        f.par_chunks_mut(self.topo.plane_len)
            .zip(&shifts)
            .for_each(|(plane, w)| {
                plane[..cells]
                    .par_chunks_mut(CHUNK)
                    .enumerate()
                    .for_each(|(b, values)| {
                        for (k, v) in values.iter_mut().enumerate() {
                            let r = storage.round(v.to_f64() as f32, *w);
                            if !r.is_finite() {
                                not_finite(b * CHUNK + k);
                            }
                            *v = R::from_f64(f64::from(r));
                        }
                    })
            });
    }

    fn step_operator(
        step: &Bound,
        grid: &Grid,
        topo: &Topology,
        compute: Precision,
    ) -> CpuOperator<R> {
        let op = CpuOperator::new(step, grid, topo);
        if compute == R::PRECISION {
            op
        } else {
            op.with_f32_forward()
        }
    }

    /// The adjoint of one step: `lambda_in` from the state before it and `lambda_out`;
    /// parameter gradients accumulate.
    fn adjoint_step(
        &mut self,
        t: usize,
        f_in: &[R],
        lambda_out: &[R],
        lambda_in: &mut [R],
    ) -> Result<()> {
        let mut bars = std::mem::take(&mut self.bars);
        if bars.is_empty() {
            bars = try_zeroed("the adjoint's per-cell inputs", self.bars_len())?;
        }
        self.step
            .adjoint_step(&self.topo, t, f_in, lambda_out, &mut bars, lambda_in);
        self.step
            .accumulate_params(&self.topo, t, &bars, &mut self.step_grads);
        self.bars = bars;
        Ok(())
    }

    /// Length of pass A's buffer of per-cell input adjoints.
    fn bars_len(&self) -> usize {
        self.step.reals_len * self.topo.plane_len
    }

    /// The objective's value on state `f` after step `t` (zero if it is not evaluated there).
    fn objective_loss(&mut self, t: usize, f: &[R]) -> f64 {
        let Some((op, obj)) = &self.objective else {
            return 0.0;
        };
        let times = obj.multiplicity(t);
        if times == 0 {
            return 0.0;
        }
        // Cells outside the interior are never written, so they stay zero across reuses.
        let (cells, plane_len) = (self.topo.cells, self.topo.plane_len);
        let out = &mut self.objective_scratch.0;
        out.resize(op.outputs_len * plane_len, R::default());
        op.forward_all(&self.topo, t, f, out);
        let out = &*out;
        // Each cell's weighted outputs, summed over a fixed chunking of the cells.
        let partials: Vec<f64> = (0..cells.div_ceil(CHUNK))
            .into_par_iter()
            .map(|chunk| {
                (chunk * CHUNK..cells.min(chunk * CHUNK + CHUNK))
                    .map(|cell| {
                        obj.weights
                            .iter()
                            .enumerate()
                            .map(|(j, w)| out[j * plane_len + cell].to_f64() * w)
                            .sum::<f64>()
                    })
                    .sum()
            })
            .collect();
        times as f64 * partials.iter().sum::<f64>()
    }

    /// Adds the objective's adjoint at step `t` to `lambda`.
    fn objective_seed(&mut self, t: usize, f: &[R], lambda: &mut [R]) {
        let Some((op, obj)) = &self.objective else {
            return;
        };
        let times = obj.multiplicity(t);
        if times == 0 {
            return;
        }
        let weights: Vec<R> = obj
            .weights
            .iter()
            .map(|w| R::from_f64(w * times as f64))
            .collect();
        // Pass A writes every input adjoint it reads back, so a reused buffer is fine.
        let bars = &mut self.objective_scratch.1;
        bars.resize(op.reals_len * self.topo.plane_len, R::default());
        op.adjoint_all(&self.topo, t, f, OutBar::Uniform(&weights), bars);
        op.scatter_populations(&self.topo, bars, lambda, false);
        if let Some(acc) = &mut self.objective_grads {
            op.accumulate_params(&self.topo, t, bars, acc);
        }
    }

    /// Populations of a state as a caller holds it.
    fn state_len(&self) -> usize {
        self.topo.cells * self.topo.q
    }

    /// Values of a state as this backend keeps it, every plane padded.
    fn buffer_len(&self) -> usize {
        self.topo.plane_len * self.topo.q
    }

    /// A zeroed state (or adjoint) of [`Self::buffer_len`] values, placed where the state
    /// allocated before it is not.
    fn zeroed_state(&mut self, what: &str) -> Result<CpuState<R>> {
        let placement = self.next_placement;
        self.next_placement = placement.other();
        CpuState::zeroed(what, self.buffer_len(), placement)
    }

    /// Bytes of a state's populations, which an upload or a download moves.
    fn moved_bytes(&self) -> usize {
        self.state_len() * std::mem::size_of::<R>()
    }
}

impl<R: CpuReal> Stepper for CpuEngine<R> {
    type State = CpuState<R>;
    type Adjoint = CpuState<R>;
    type Host = Vec<R>;

    fn alloc(&mut self) -> Result<CpuState<R>> {
        let mut state = self.zeroed_state("a state")?;
        if self.storage.is_half() {
            // The zero of 16-bit storage is the deviation from the weights (as on the GPU).
            let shifts = crate::storage::shifts(self.grid.lattice());
            state
                .par_chunks_mut(self.topo.plane_len)
                .zip(&shifts)
                .for_each(|(plane, w)| plane.fill(R::from_f64(f64::from(*w))));
        }
        Ok(state)
    }

    fn alloc_adjoint(&mut self) -> Result<CpuState<R>> {
        self.zeroed_state("an adjoint state")
    }

    fn copy(&mut self, src: &CpuState<R>, dst: &mut CpuState<R>) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }

    fn forward(&mut self, t: usize, s: &CpuState<R>, out: &mut CpuState<R>) -> Result<()> {
        self.step
            .forward_recording(&self.topo, t, s, out, Some(&self.diverged));
        self.round_to_storage(t, out);
        Ok(())
    }

    fn adjoint(
        &mut self,
        t: usize,
        s: &CpuState<R>,
        lambda_out: &CpuState<R>,
        lambda_in: &mut CpuState<R>,
    ) -> Result<()> {
        self.adjoint_step(t, s, lambda_out, lambda_in)
    }

    fn loss(&mut self, t: usize, s: &CpuState<R>) -> Result<f64> {
        Ok(self.objective_loss(t, s))
    }

    fn seed(&mut self, t: usize, s: &CpuState<R>, lambda: &mut CpuState<R>) -> Result<()> {
        self.objective_seed(t, s, lambda);
        Ok(())
    }

    fn check_divergence(&mut self) -> Result<()> {
        diverged_error(self.diverged.load(Ordering::Relaxed))
    }

    fn state_bytes(&self) -> usize {
        self.buffer_len() * std::mem::size_of::<R>()
    }

    fn offload(&mut self, s: &CpuState<R>) -> Result<Vec<R>> {
        Ok(s.to_vec())
    }

    fn reload(&mut self, h: &Vec<R>, dst: &mut CpuState<R>) -> Result<()> {
        dst.copy_from_slice(h);
        Ok(())
    }
}

impl<R: CpuReal> Engine for CpuEngine<R> {
    fn upload(&mut self, f: &[f64], dst: &mut CpuState<R>) -> Result<()> {
        check_state(f, self.state_len())?;
        let (q, cells) = (self.topo.q, self.topo.cells);
        let (from, to) = (
            (StateLayout::CellMajor, cells),
            (LAYOUT, self.topo.plane_len),
        );
        if self.compute == Precision::F32 {
            // Round as the f32 forward would have left the state.
            let narrow: Vec<f32> = f.par_iter().map(|v| *v as f32).collect();
            convert_planes(&narrow, from, dst, to, q, cells);
        } else {
            convert_planes(f, from, dst, to, q, cells);
        }
        // The simulation refused populations that 16-bit storage cannot hold finite.
        self.round_cells(dst, |_| {});
        self.transfers.upload(self.moved_bytes());
        Ok(())
    }

    fn download(&self, s: &CpuState<R>, out: HostVec<'_>, layout: StateLayout) -> Result<()> {
        let (q, cells) = (self.topo.q, self.topo.cells);
        let from = (LAYOUT, self.topo.plane_len);
        convert_planes_out(s, from, out, layout, q, cells);
        self.transfers.download(self.moved_bytes());
        Ok(())
    }

    fn download_adjoint(
        &self,
        s: &CpuState<R>,
        out: HostVec<'_>,
        layout: StateLayout,
    ) -> Result<()> {
        self.download(s, out, layout)
    }

    fn rebind_step(&mut self, step: &Bound) -> Result<()> {
        self.step = Self::step_operator(step, &self.grid, &self.topo, self.compute);
        self.step_grads = ParamAccumulator::new(step, &self.grid);
        // The number of inputs per cell may have changed.
        self.bars = Vec::new();
        Ok(())
    }

    fn prepare_gradient(&mut self, objective: &BoundObjective) -> Result<()> {
        // Scratch of an earlier objective (or of a run that failed) lays cells out its way.
        self.objective_scratch = (Vec::new(), Vec::new());
        self.step_grads = ParamAccumulator::new(&self.step.bound, &self.grid);
        self.objective_grads = Some(ParamAccumulator::new(&objective.bound, &self.grid));
        self.objective = Some((
            CpuOperator::new(&objective.bound, &self.grid, &self.topo),
            objective.clone(),
        ));
        Ok(())
    }

    fn take_gradients(&mut self) -> Result<Vec<ParamGradient>> {
        // The backward run is over.
        self.objective_scratch = (Vec::new(), Vec::new());
        let step = std::mem::replace(
            &mut self.step_grads,
            ParamAccumulator::new(&self.step.bound, &self.grid),
        );
        let mut params = step.into_gradients(self.step.bound.op.name);
        if let (Some(acc), Some((op, _))) = (self.objective_grads.take(), &self.objective) {
            params.extend(acc.into_gradients(op.bound.op.name));
        }
        Ok(params)
    }

    fn reset_divergence(&mut self) -> Result<()> {
        self.diverged.store(FINITE, Ordering::Relaxed);
        Ok(())
    }

    fn transfers(&self) -> Transfers {
        self.transfers.get()
    }

    fn memory_available(&self) -> Result<Option<usize>> {
        Ok(crate::memory::host_available())
    }

    fn gradient_scratch_bytes(&self) -> usize {
        // Pass A's buffer for the step and, at most, one for the objective.
        let reals = self.bars_len() + self.step.reals_len.max(1) * self.topo.plane_len;
        reals.saturating_mul(std::mem::size_of::<R>())
    }
}

impl<R: CpuReal> PartEngine for CpuEngine<R> {
    type Buffer = CpuState<R>;
    type Elem = R;
    const SHARED_MEMORY: bool = true;

    fn exchange(
        parts: &mut [Self],
        states: &mut [CpuState<R>],
        layer_cells: usize,
        moves: &[LayerMove],
        mode: MoveMode,
    ) -> Result<()> {
        for m in moves {
            let (from, to) = (m.from.0, m.to.0);
            let (from_len, to_len) = (parts[from].topo.plane_len, parts[to].topo.plane_len);
            debug_assert_ne!(from, to, "a split has at least two parts");
            // Two distinct states, borrowed at once.
            let (src, dst) = if from < to {
                let (lo, hi) = states.split_at_mut(to);
                (&lo[from], &mut hi[0])
            } else {
                let (lo, hi) = states.split_at_mut(from);
                (&hi[0], &mut lo[to])
            };
            let run = m.layers * layer_cells;
            // Only the directions moved: what the GPUs move, so these tests see the same
            // choice of directions.
            for &i in &m.directions {
                let s = i * from_len + m.from.1 * layer_cells;
                let d = i * to_len + m.to.1 * layer_cells;
                let (src, dst) = (&src[s..s + run], &mut dst[d..d + run]);
                match mode {
                    MoveMode::Replace => dst.copy_from_slice(src),
                    MoveMode::Add => dst.iter_mut().zip(src).for_each(|(d, s)| *d += *s),
                }
            }
        }
        Ok(())
    }

    fn zero_cells(&mut self, state: &mut CpuState<R>, cells: Range<usize>) -> Result<()> {
        for plane in state.chunks_mut(self.topo.plane_len) {
            plane[cells.clone()].fill(R::default());
        }
        Ok(())
    }
}
