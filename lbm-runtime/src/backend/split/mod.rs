//! One simulation split over several parts (GPUs, or "virtual devices" on the CPU): a
//! [`SplitEngine`] is an [`Engine`] made of one engine per slab of the grid, so
//! [`Resident`](super::Resident), the checkpointing driver and the simulation see one
//! engine and operators do not change.
//!
//! - Each part holds a slab ([`slab`]): its own layers along the slowest axis and a halo of
//!   its neighbours' layers on each side, and steps only its own cells. After every
//!   forward step the halos are filled from their owners ([`Slabs::halo_fills`]), so each
//!   own cell reads exactly what it reads in the whole grid and the populations are
//!   bitwise those of one engine.
//! - The adjoint of that fill is a scatter-add: after an adjoint step each
//!   halo holds what the part's own cells sent to its neighbours' cells, which goes back
//!   to them and is added ([`Slabs::halo_returns`]); the halo is then zeroed. Between
//!   calls every adjoint state has zero halos.
//! - Losses and parameter gradients are summed part after part, in part order, so results
//!   do not depend on timing.
//!
//! What moves layers between parts is the part engine's business ([`PartEngine`]): slice
//! copies on the CPU, NCCL on GPUs.

pub(crate) mod slab;

use std::ops::Range;

use super::host::{convert_out, HostVec, StateLayout, TransferCounter, Transfers};
use super::Engine;
use crate::bind::{Bound, BoundObjective, Source};
use crate::checkpoint::Stepper;
use crate::error::{LbmError, Result};
use crate::gradients::{GradValue, ParamGradient};
use crate::grid::Grid;
use crate::lattice::LatticeKind;
pub(crate) use slab::{LayerMove, Slabs};

/// Whether layers moved between parts replace what the receiver holds or are added to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MoveMode {
    /// The receiver's layers become the sender's (filling halos with populations).
    Replace,
    /// The sender's layers are added to the receiver's (returning halo adjoints).
    Add,
}

/// An engine that can hold one slab of a split grid. Its adjoint states are of its state
/// type, so one exchange serves both (16-bit storage is not split).
pub(crate) trait PartEngine:
    Engine<Host = Vec<Self::Elem>, State = Self::Buffer, Adjoint = Self::Buffer> + Sized
{
    /// A state or adjoint state of one part.
    type Buffer;
    /// The element type of a state, as copied to the host.
    type Elem: bytemuck::Pod + Send;

    /// Whether every part draws on one pool of memory (the host's, for CPU parts) rather
    /// than on a memory of its own (a GPU's).
    const SHARED_MEMORY: bool;

    /// Moves whole layers between the parts' states (`states[p]` is part `p`'s), all
    /// moves as one exchange: no move reads layers another move of the same call writes.
    fn exchange(
        parts: &mut [Self],
        states: &mut [Self::State],
        layer_cells: usize,
        moves: &[LayerMove],
        mode: MoveMode,
    ) -> Result<()>;

    /// Sets the populations of `cells` of `state` to zero.
    fn zero_cells(&mut self, state: &mut Self::State, cells: Range<usize>) -> Result<()>;
}

/// A simulation split into slabs, one [`PartEngine`] each.
pub(crate) struct SplitEngine<E: PartEngine> {
    slabs: Slabs,
    parts: Vec<E>,
    lattice: LatticeKind,
    /// The layer moves that fill the halos after a forward step, and their reverse for
    /// adjoints: fixed by the slabs and the step's reads, so made once per binding.
    fills: Vec<LayerMove>,
    returns: Vec<LayerMove>,
    /// Cells and directions of the whole grid.
    cells: usize,
    q: usize,
    transfers: TransferCounter,
}

impl<E: PartEngine> SplitEngine<E> {
    /// Splits `grid` into `parts` slabs and opens an engine on each with `open(part, slab
    /// grid, slab's step, own cells)`.
    pub fn new(
        grid: &Grid,
        step: &Bound,
        parts: usize,
        mut open: impl FnMut(usize, &Grid, &Bound, Range<usize>) -> Result<E>,
    ) -> Result<Self> {
        let slabs = Slabs::new(grid, parts, slab::halo_of(step, grid.lattice()))?;
        let parts = (0..parts)
            .map(|p| {
                let slab_grid = slabs.grid(p, grid)?;
                open(
                    p,
                    &slab_grid,
                    &slabs.bound(p, step, grid.cells()),
                    slabs.interior(p),
                )
            })
            .collect::<Result<Vec<E>>>()?;
        let (fills, returns) = halo_moves(&slabs, grid.lattice(), step);
        Ok(SplitEngine {
            slabs,
            parts,
            lattice: grid.lattice(),
            fills,
            returns,
            cells: grid.cells(),
            q: grid.lattice().q(),
            transfers: TransferCounter::default(),
        })
    }

    /// The part engines, in slab order (the CUDA session gives each its communicator).
    #[cfg(feature = "cuda")]
    pub fn parts_mut(&mut self) -> &mut [E] {
        &mut self.parts
    }

    /// Fills every halo of `states` from its owner.
    fn fill_halos(&mut self, states: &mut [E::State]) -> Result<()> {
        E::exchange(
            &mut self.parts,
            states,
            self.slabs.layer_cells,
            &self.fills,
            MoveMode::Replace,
        )
    }

    /// Adds what every halo of the adjoint `states` gathered to its owner's cells, then
    /// zeroes the halos.
    fn return_halos(&mut self, states: &mut [E::State]) -> Result<()> {
        E::exchange(
            &mut self.parts,
            states,
            self.slabs.layer_cells,
            &self.returns,
            MoveMode::Add,
        )?;
        for (p, (part, state)) in self.parts.iter_mut().zip(states.iter_mut()).enumerate() {
            for cells in self.slabs.halo_cells(p) {
                part.zero_cells(state, cells)?;
            }
        }
        Ok(())
    }

    /// Bytes of the whole grid's populations, which an upload or a download moves.
    fn moved_bytes(&self) -> usize {
        self.cells * self.q * std::mem::size_of::<E::Elem>()
    }

    /// A whole-grid state, cell-major in `f64`, from the parts' own cells.
    fn gather(&self, states: &[E::State]) -> Result<Vec<f64>> {
        let mut whole = vec![0.0; self.cells * self.q];
        for (p, (part, state)) in self.parts.iter().zip(states).enumerate() {
            let mut slab = Vec::new();
            part.download(state, HostVec::F64(&mut slab), StateLayout::CellMajor)?;
            self.slabs.paste(p, &slab, &mut whole, self.q);
        }
        Ok(whole)
    }

    /// The whole grid's cell of a divergence a part recorded in its own numbering.
    fn global_divergence(&self, p: usize, e: LbmError) -> LbmError {
        match e {
            LbmError::Diverged { step, cell } => LbmError::Diverged {
                step,
                cell: self.slabs.global_cell(p, cell),
            },
            other => other,
        }
    }
}

/// Parameter gradients of the parts combined into the whole grid's: fields pasted from
/// each part's own cells, uniform and per-step values summed in part order.
fn combine_gradients(
    slabs: &Slabs,
    cells: usize,
    per_part: Vec<Vec<ParamGradient>>,
) -> Vec<ParamGradient> {
    let mut parts = per_part.into_iter().enumerate();
    let Some((_, first)) = parts.next() else {
        return Vec::new();
    };
    // Start from part 0's values, with fields widened to the whole grid.
    let mut total: Vec<ParamGradient> = first
        .into_iter()
        .map(|g| {
            let value = match g.value {
                GradValue::Field(v) => {
                    let per_cell = v.len() / slabs.slab_cells(0);
                    let mut whole = vec![0.0; cells * per_cell];
                    slabs.paste(0, &v, &mut whole, per_cell);
                    GradValue::Field(whole)
                }
                other => other,
            };
            ParamGradient { value, ..g }
        })
        .collect();
    for (p, grads) in parts {
        debug_assert_eq!(grads.len(), total.len(), "parts bind the same parameters");
        for (into, g) in total.iter_mut().zip(grads) {
            match (&mut into.value, g.value) {
                (GradValue::Field(whole), GradValue::Field(v)) => {
                    let per_cell = v.len() / slabs.slab_cells(p);
                    slabs.paste(p, &v, whole, per_cell);
                }
                (GradValue::Uniform(sum), GradValue::Uniform(v)) => {
                    sum.iter_mut().zip(v).for_each(|(s, v)| *s += v);
                }
                (GradValue::PerStep(sum), GradValue::PerStep(v)) => {
                    for (s, v) in sum.iter_mut().zip(v) {
                        s.iter_mut().zip(v).for_each(|(s, v)| *s += v);
                    }
                }
                _ => unreachable!("every part binds a parameter the same way"),
            }
        }
    }
    total
}

impl<E: PartEngine> Stepper for SplitEngine<E> {
    type State = Vec<E::Buffer>;
    type Adjoint = Vec<E::Buffer>;
    type Host = Vec<E::Elem>;

    fn alloc(&mut self) -> Result<Self::State> {
        self.parts.iter_mut().map(|p| p.alloc()).collect()
    }

    fn alloc_adjoint(&mut self) -> Result<Self::Adjoint> {
        self.parts.iter_mut().map(|p| p.alloc_adjoint()).collect()
    }

    fn copy(&mut self, src: &Self::State, dst: &mut Self::State) -> Result<()> {
        for ((part, s), d) in self.parts.iter_mut().zip(src).zip(dst.iter_mut()) {
            part.copy(s, d)?;
        }
        Ok(())
    }

    fn forward(&mut self, t: usize, s: &Self::State, out: &mut Self::State) -> Result<()> {
        for ((part, s), o) in self.parts.iter_mut().zip(s).zip(out.iter_mut()) {
            part.forward(t, s, o)?;
        }
        self.fill_halos(out)
    }

    fn adjoint(
        &mut self,
        t: usize,
        s: &Self::State,
        lambda_out: &Self::State,
        lambda_in: &mut Self::State,
    ) -> Result<()> {
        for (((part, s), lo), li) in self
            .parts
            .iter_mut()
            .zip(s)
            .zip(lambda_out)
            .zip(lambda_in.iter_mut())
        {
            part.adjoint(t, s, lo, li)?;
        }
        self.return_halos(lambda_in)
    }

    fn loss(&mut self, t: usize, s: &Self::State) -> Result<f64> {
        let mut total = 0.0;
        for (part, s) in self.parts.iter_mut().zip(s) {
            total += part.loss(t, s)?;
        }
        Ok(total)
    }

    fn seed(&mut self, t: usize, s: &Self::State, lambda: &mut Self::State) -> Result<()> {
        for ((part, s), l) in self.parts.iter_mut().zip(s).zip(lambda.iter_mut()) {
            part.seed(t, s, l)?;
        }
        // Objectives read only their own cell's populations (binding refuses any other
        // source), so a part's seed stays in its own cells and nothing crosses a cut.
        Ok(())
    }

    fn check_divergence(&mut self) -> Result<()> {
        // Every part is asked, so the earliest divergence is reported, not the first part's.
        let mut first: Option<(usize, usize, LbmError)> = None;
        for p in 0..self.parts.len() {
            if let Err(e) = self.parts[p].check_divergence() {
                let e = self.global_divergence(p, e);
                let key = match &e {
                    LbmError::Diverged { step, cell } => (*step, *cell),
                    _ => return Err(e),
                };
                if first.as_ref().is_none_or(|f| key < (f.0, f.1)) {
                    first = Some((key.0, key.1, e));
                }
            }
        }
        match first {
            Some((_, _, e)) => Err(e),
            None => Ok(()),
        }
    }

    fn state_bytes(&self) -> usize {
        self.parts.iter().map(|p| p.state_bytes()).sum()
    }

    fn offload(&mut self, s: &Self::State) -> Result<Self::Host> {
        let mut host = Vec::new();
        for (part, s) in self.parts.iter_mut().zip(s) {
            host.extend(part.offload(s)?);
        }
        Ok(host)
    }

    fn reload(&mut self, h: &Self::Host, dst: &mut Self::State) -> Result<()> {
        let mut at = 0;
        for (part, d) in self.parts.iter_mut().zip(dst.iter_mut()) {
            let len = part.state_bytes() / std::mem::size_of::<E::Elem>();
            part.reload(&h[at..at + len].to_vec(), d)?;
            at += len;
        }
        Ok(())
    }
}

impl<E: PartEngine> Engine for SplitEngine<E> {
    fn upload(&mut self, f: &[f64], dst: &mut Self::State) -> Result<()> {
        super::host::check_state(f, self.cells * self.q)?;
        for (p, (part, d)) in self.parts.iter_mut().zip(dst.iter_mut()).enumerate() {
            part.upload(&self.slabs.cut(p, f, self.q), d)?;
        }
        self.transfers.upload(self.moved_bytes());
        Ok(())
    }

    fn download(&self, s: &Self::State, out: HostVec<'_>, layout: StateLayout) -> Result<()> {
        let whole = self.gather(s)?;
        convert_out(
            &whole,
            StateLayout::CellMajor,
            out,
            layout,
            self.q,
            self.cells,
        );
        self.transfers.download(self.moved_bytes());
        Ok(())
    }

    fn download_adjoint(
        &self,
        s: &Self::Adjoint,
        out: HostVec<'_>,
        layout: StateLayout,
    ) -> Result<()> {
        // Parts keep adjoints as they keep states (see `PartEngine`).
        self.download(s, out, layout)
    }

    fn rebind_step(&mut self, step: &Bound) -> Result<()> {
        let needed = slab::halo_of(step, self.lattice);
        if needed > self.slabs.halo {
            return Err(halo_error(step.op.name, needed, self.slabs.halo));
        }
        for (p, part) in self.parts.iter_mut().enumerate() {
            part.rebind_step(&self.slabs.bound(p, step, self.cells))?;
        }
        (self.fills, self.returns) = halo_moves(&self.slabs, self.lattice, step);
        Ok(())
    }

    fn prepare_gradient(&mut self, objective: &BoundObjective) -> Result<()> {
        for (p, part) in self.parts.iter_mut().enumerate() {
            part.prepare_gradient(&self.slabs.objective(p, objective, self.cells))?;
        }
        Ok(())
    }

    fn take_gradients(&mut self) -> Result<Vec<ParamGradient>> {
        let per_part = self
            .parts
            .iter_mut()
            .map(|p| p.take_gradients())
            .collect::<Result<Vec<_>>>()?;
        Ok(combine_gradients(&self.slabs, self.cells, per_part))
    }

    fn reset_divergence(&mut self) -> Result<()> {
        self.parts.iter_mut().try_for_each(|p| p.reset_divergence())
    }

    fn transfers(&self) -> Transfers {
        self.transfers.get()
    }

    fn memory_available(&self) -> Result<Option<usize>> {
        if E::SHARED_MEMORY {
            // One pool: what any part reports is what all of them share.
            return match self.parts.first() {
                Some(part) => part.memory_available(),
                None => Ok(None),
            };
        }
        // A memory per part: states are split like the grid, so the part with the least
        // room for its share decides how many whole states fit.
        let mut states = f64::INFINITY;
        for part in &self.parts {
            let Some(free) = part.memory_available()? else {
                return Ok(None);
            };
            let per_state = part.state_bytes().max(1) as f64;
            let scratch = part.gradient_scratch_bytes() as f64;
            states = states.min((free as f64 - scratch).max(0.0) / per_state);
        }
        let whole = states * self.state_bytes() as f64 + self.gradient_scratch_bytes() as f64;
        Ok(Some(whole.min(usize::MAX as f64) as usize))
    }

    fn gradient_scratch_bytes(&self) -> usize {
        self.parts.iter().map(|p| p.gradient_scratch_bytes()).sum()
    }
}

/// The halo fills and returns of `step`: every direction when it reads whole neighbouring
/// cells (`Source::Neighbor`), else only what streams across a cut.
fn halo_moves(
    slabs: &Slabs,
    lattice: LatticeKind,
    step: &Bound,
) -> (Vec<LayerMove>, Vec<LayerMove>) {
    let whole_cells = step
        .sources
        .iter()
        .any(|s| matches!(s, Source::Neighbor(_)));
    (
        slabs.halo_fills(lattice, whole_cells),
        slabs.halo_returns(lattice, whole_cells),
    )
}

/// An operator reading farther than the split's halo.
fn halo_error(op: &'static str, needed: usize, halo: usize) -> LbmError {
    LbmError::BadBinding {
        op,
        message: format!(
            "it reads populations {needed} layers away along the split axis, but the domain \
             was split with a halo of {halo} (set by the step the simulation was made with)"
        ),
    }
}
