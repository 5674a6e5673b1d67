//! In-place streaming on the GPU: the CUDA engine seen through states that carry their
//! AA layout (see [`crate::streaming`]).
//!
//! A state knows whether it has taken an even or an odd number of steps since it was set,
//! so every kernel reads it with the right addressing wherever it comes from: the
//! simulation's own state, a snapshot restored by the checkpointing driver, or one
//! spilled to the host and back. Uploads and downloads convert between the public layout
//! and the state's on the host; adjoint states keep the natural layout.

use std::io::{Read, Write};

use cudarc::driver::CudaSlice;
use rayon::prelude::*;

use super::host::{convert_out, HostVec, StateLayout, Transfers};
use super::Engine;
use crate::bind::{Bound, BoundObjective};
use crate::checkpoint::Stepper;
use crate::cuda::buffers::GpuReal;
use crate::cuda::driver::cuda_err;
use crate::cuda::engine::Engine as CudaEngine;
use crate::cuda::stored::GpuStore;
use crate::error::Result;
use crate::gradients::ParamGradient;
use crate::grid::Grid;
use crate::spill::SpillBytes;

/// A state of in-place streaming: its populations and which AA layout they are in.
pub(crate) struct AaState<S> {
    buf: CudaSlice<S>,
    odd: bool,
}

/// An [`AaState`] copied to the host.
pub(crate) struct AaHost<S> {
    values: Vec<S>,
    odd: bool,
}

impl<S: bytemuck::Pod> SpillBytes for AaHost<S> {
    fn write_bytes(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(&[u8::from(self.odd)])?;
        self.values.write_bytes(out)
    }

    fn read_bytes(input: &mut dyn Read, len: usize) -> std::io::Result<Self> {
        let mut odd = [0u8];
        input.read_exact(&mut odd)?;
        Ok(AaHost {
            odd: odd[0] != 0,
            values: Vec::read_bytes(input, len)?,
        })
    }

    fn elements(&self) -> usize {
        self.values.len()
    }
}

/// The CUDA engine stepping one state in place.
pub(crate) struct InPlace<R: GpuReal, S: GpuStore> {
    inner: CudaEngine<R, S>,
    grid: Grid,
}

impl<R: GpuReal, S: GpuStore> InPlace<R, S> {
    /// `inner` must have been built with `Streaming::InPlace`.
    pub fn new(inner: CudaEngine<R, S>, grid: &Grid) -> Self {
        InPlace {
            inner,
            grid: grid.clone(),
        }
    }
}

/// Cell-major populations from the natural layout into the layout of a state that has
/// taken no step: slot `(y, i)` holds `natural[y - c_i][i]`.
fn natural_to_even(grid: &Grid, f: &[f64]) -> Vec<f64> {
    let q = grid.lattice().q();
    let mut out = vec![0.0; f.len()];
    out.par_chunks_mut(q).enumerate().for_each(|(y, slots)| {
        for (i, v) in slots.iter_mut().enumerate() {
            *v = f[grid.upstream(y, i) * q + i];
        }
    });
    out
}

/// Cell-major populations of a state in the `odd` or even AA layout, in the natural one.
fn aa_to_natural(grid: &Grid, a: &[f64], odd: bool) -> Vec<f64> {
    let lattice = grid.lattice();
    let q = lattice.q();
    let mut out = vec![0.0; a.len()];
    out.par_chunks_mut(q).enumerate().for_each(|(x, pops)| {
        for (i, v) in pops.iter_mut().enumerate() {
            *v = if odd {
                a[x * q + lattice.opp(i)]
            } else {
                a[grid.downstream(x, i) * q + i]
            };
        }
    });
    out
}

impl<R: GpuReal, S: GpuStore> Stepper for InPlace<R, S> {
    type State = AaState<S>;
    type Adjoint = CudaSlice<R>;
    type Host = AaHost<S>;

    fn alloc(&mut self) -> Result<AaState<S>> {
        Ok(AaState {
            buf: self.inner.alloc_state()?,
            odd: false,
        })
    }

    fn alloc_scratch(&mut self) -> Result<AaState<S>> {
        Ok(AaState {
            buf: self.inner.alloc_state_for_output()?,
            odd: false,
        })
    }

    fn alloc_adjoint(&mut self) -> Result<CudaSlice<R>> {
        self.inner.alloc_adjoint()
    }

    fn copy(&mut self, src: &AaState<S>, dst: &mut AaState<S>) -> Result<()> {
        self.inner
            .stream()
            .memcpy_dtod(&src.buf, &mut dst.buf)
            .map_err(cuda_err("copying a state on the GPU"))?;
        dst.odd = src.odd;
        Ok(())
    }

    fn forward(&mut self, t: usize, s: &AaState<S>, out: &mut AaState<S>) -> Result<()> {
        self.inner.forward_step_aa(t, s.odd, &s.buf, &out.buf)?;
        out.odd = !s.odd;
        Ok(())
    }

    fn adjoint(
        &mut self,
        t: usize,
        s: &AaState<S>,
        lambda_out: &CudaSlice<R>,
        lambda_in: &mut CudaSlice<R>,
    ) -> Result<()> {
        self.inner
            .adjoint_step(t, s.odd, &s.buf, lambda_out, lambda_in)
    }

    fn loss(&mut self, t: usize, s: &AaState<S>) -> Result<f64> {
        self.inner.objective_loss(t, s.odd, &s.buf)
    }

    fn seed(&mut self, t: usize, s: &AaState<S>, lambda: &mut CudaSlice<R>) -> Result<()> {
        self.inner.objective_seed(t, s.odd, &s.buf, lambda)
    }

    fn check_divergence(&mut self) -> Result<()> {
        Stepper::check_divergence(&mut self.inner)
    }

    fn state_bytes(&self) -> usize {
        Stepper::state_bytes(&self.inner)
    }

    fn adjoint_bytes(&self) -> usize {
        Stepper::adjoint_bytes(&self.inner)
    }

    fn offload(&mut self, s: &AaState<S>) -> Result<AaHost<S>> {
        let values = self
            .inner
            .stream()
            .clone_dtoh(&s.buf)
            .map_err(cuda_err("copying a snapshot to host memory"))?;
        Ok(AaHost { values, odd: s.odd })
    }

    fn reload(&mut self, h: &AaHost<S>, dst: &mut AaState<S>) -> Result<()> {
        self.inner
            .stream()
            .memcpy_htod(&h.values, &mut dst.buf)
            .map_err(cuda_err("copying a snapshot back to the GPU"))?;
        dst.odd = h.odd;
        Ok(())
    }
}

impl<R: GpuReal, S: GpuStore> Engine for InPlace<R, S> {
    fn upload(&mut self, f: &[f64], dst: &mut AaState<S>) -> Result<()> {
        super::host::check_state(f, self.inner.state_len())?;
        self.inner
            .upload_state(&natural_to_even(&self.grid, f), &mut dst.buf)?;
        dst.odd = false;
        Ok(())
    }

    fn download(&self, s: &AaState<S>, out: HostVec<'_>, layout: StateLayout) -> Result<()> {
        let mut raw = Vec::new();
        self.inner
            .download_state(&s.buf, HostVec::F64(&mut raw), StateLayout::CellMajor)?;
        let natural = aa_to_natural(&self.grid, &raw, s.odd);
        let (q, cells) = (self.grid.lattice().q(), self.grid.cells());
        convert_out(&natural, StateLayout::CellMajor, out, layout, q, cells);
        Ok(())
    }

    fn download_adjoint(
        &self,
        s: &CudaSlice<R>,
        out: HostVec<'_>,
        layout: StateLayout,
    ) -> Result<()> {
        self.inner.download_adjoint(s, out, layout)
    }

    fn rebind_step(&mut self, step: &Bound) -> Result<()> {
        self.inner.rebind_step(step)
    }

    fn prepare_gradient(&mut self, objective: &BoundObjective) -> Result<()> {
        self.inner.prepare_gradient(objective)
    }

    // What does not depend on the layout is the CUDA engine's own (`backend::cuda`).
    fn take_gradients(&mut self) -> Result<Vec<ParamGradient>> {
        Engine::take_gradients(&mut self.inner)
    }

    fn reset_divergence(&mut self) -> Result<()> {
        Engine::reset_divergence(&mut self.inner)
    }

    fn transfers(&self) -> Transfers {
        Engine::transfers(&self.inner)
    }

    fn memory_available(&self) -> Result<Option<usize>> {
        Engine::memory_available(&self.inner)
    }

    fn gradient_scratch_bytes(&self) -> usize {
        Engine::gradient_scratch_bytes(&self.inner)
    }

    fn steps_in_place(&self) -> bool {
        true
    }

    fn forward_in_place(&mut self, t: usize, s: &mut AaState<S>) -> Result<()> {
        self.inner.forward_step_aa(t, s.odd, &s.buf, &s.buf)?;
        s.odd = !s.odd;
        Ok(())
    }
}
