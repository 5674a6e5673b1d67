//! The CUDA engine behind the backend interface: [`Engine`](crate::cuda) of the `cuda`
//! module seen as a [`super::Engine`], and the sessions that hold one.

use cudarc::driver::CudaSlice;

use super::host::{HostVec, StateLayout, Transfers};
use super::{Engine, GradientRequest, Resident, Session};
use crate::bind::{Bound, BoundObjective};

use super::in_place::InPlace;
use super::split::{LayerMove, MoveMode, PartEngine, SplitEngine};
use crate::checkpoint::Stepper;
use crate::cuda::buffers::GpuReal;
use crate::cuda::driver::{cuda_err, device, device_at, guard};
use crate::cuda::engine::Engine as CudaEngine;
use crate::cuda::engine::PartComm;
use crate::cuda::halo_parts::PartSync;
use crate::cuda::stored::{Bf16Bits, F16Bits, GpuStore};
use crate::error::LbmError;
use crate::error::Result;
use crate::gradients::{Gradients, ParamGradient};
use crate::grid::Grid;
use crate::progress::ProgressObserver;
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::Streaming;
use cudarc::nccl::Comm;
use std::ops::Range;

/// A session on the GPU with `buffers` values (parameters, adjoints; states too unless
/// `storage` is a 16-bit format) whose forward computes in `compute`.
pub(crate) fn session(
    grid: &Grid,
    step: &Bound,
    compute: Precision,
    (buffers, storage): (Precision, Storage),
    streaming: Streaming,
) -> Result<Box<dyn Session>> {
    let go = (grid, step, compute, streaming);
    match (storage, buffers) {
        (Storage::Compute, Precision::F64) => session_of::<f64, f64>(go),
        (Storage::Compute, Precision::F32) => session_of::<f32, f32>(go),
        (Storage::F16, Precision::F32) => session_of::<f32, F16Bits>(go),
        (Storage::BF16, Precision::F32) => session_of::<f32, Bf16Bits>(go),
        (_, Precision::F64) => Err(LbmError::BackendUnavailable(
            "16-bit storage computes in f32: it has no f64 adjoint".into(),
        )),
    }
}

/// A session split over several GPUs, one slab each, with `buffers` values whose
/// forward computes in `compute`.
pub(crate) fn split_session(
    grid: &Grid,
    step: &Bound,
    compute: Precision,
    buffers: Precision,
    devices: crate::Devices,
) -> Result<Box<dyn Session>> {
    match buffers {
        Precision::F64 => split_session_of::<f64>(grid, step, compute, devices),
        Precision::F32 => split_session_of::<f32>(grid, step, compute, devices),
    }
}

/// Whether the NCCL library can be loaded.
fn nccl_present() -> bool {
    // SAFETY: as for the driver: only `dlopen`s the candidate names.
    std::panic::catch_unwind(|| unsafe { cudarc::nccl::sys::is_culib_present() }).unwrap_or(false)
}

fn split_session_of<R: GpuReal>(
    grid: &Grid,
    step: &Bound,
    compute: Precision,
    devices: crate::Devices,
) -> Result<Box<dyn Session>> {
    crate::cuda::check_available()?;
    if !nccl_present() {
        return Err(LbmError::BackendUnavailable(format!(
            "splitting a simulation over GPUs {devices} needs NCCL (libnccl.so), which could \
             not be loaded"
        )));
    }
    guard("setting up a simulation split over GPUs", || {
        let devs = devices.iter().map(device_at).collect::<Result<Vec<_>>>()?;
        let mut engine = SplitEngine::new(grid, step, devs.len(), |p, slab, bound, interior| {
            CudaEngine::<R>::new_part(devs[p], slab, bound, compute, interior)
        })?;
        // Each part exchanges on a stream of its own, so exchanges overlap its kernels.
        let syncs = devs
            .iter()
            .map(|&d| PartSync::new(d))
            .collect::<Result<Vec<_>>>()?;
        let streams = syncs.iter().map(|s| s.comm_stream.clone()).collect();
        let comms = Comm::from_devices(streams)
            .map_err(|e| LbmError::Cuda(format!("creating NCCL communicators: {e:?}")))?;
        for ((part, comm), sync) in engine.parts_mut().iter_mut().zip(comms).zip(syncs) {
            part.comm = Some(PartComm(comm));
            part.sync = Some(sync);
        }
        Ok(Box::new(Guarded(Resident::new(engine)?)) as Box<dyn Session>)
    })
}

impl<R: GpuReal> PartEngine for CudaEngine<R> {
    type Buffer = CudaSlice<R>;
    type Elem = R;
    const SHARED_MEMORY: bool = false;

    fn exchange(
        parts: &mut [Self],
        states: &mut [CudaSlice<R>],
        layer_cells: usize,
        moves: &[LayerMove],
        mode: MoveMode,
    ) -> Result<()> {
        crate::cuda::halo::exchange(parts, states, layer_cells, moves, mode)
    }

    fn zero_cells(&mut self, state: &mut CudaSlice<R>, cells: Range<usize>) -> Result<()> {
        CudaEngine::zero_cells(self, state, cells)
    }
}

/// A session on the GPU with `R` buffers and `S` states whose forward computes in
/// `compute`, streaming as `streaming` says.
fn session_of<R: GpuReal, S: GpuStore>(
    (grid, step, compute, streaming): (&Grid, &Bound, Precision, Streaming),
) -> Result<Box<dyn Session>> {
    crate::cuda::check_available()?;
    guard("setting up a simulation on the GPU", || {
        let engine = CudaEngine::<R, S>::with_streaming(device()?, grid, step, compute, streaming)?;
        Ok(match streaming {
            Streaming::TwoStates => Box::new(Guarded(Resident::new(engine)?)) as Box<dyn Session>,
            Streaming::InPlace => Box::new(Guarded(Resident::new(InPlace::new(engine, grid))?)),
        })
    })
}

impl<R: GpuReal, S: GpuStore> Stepper for CudaEngine<R, S> {
    type State = CudaSlice<S>;
    type Adjoint = CudaSlice<R>;
    type Host = Vec<S>;

    fn alloc(&mut self) -> Result<CudaSlice<S>> {
        self.alloc_state()
    }

    fn alloc_scratch(&mut self) -> Result<CudaSlice<S>> {
        self.alloc_state_for_output()
    }

    fn alloc_adjoint(&mut self) -> Result<CudaSlice<R>> {
        CudaEngine::alloc_adjoint(self)
    }

    fn copy(&mut self, src: &CudaSlice<S>, dst: &mut CudaSlice<S>) -> Result<()> {
        self.stream()
            .memcpy_dtod(src, dst)
            .map_err(cuda_err("copying a state on the GPU"))
    }

    fn forward(&mut self, t: usize, s: &CudaSlice<S>, out: &mut CudaSlice<S>) -> Result<()> {
        self.forward_step(t, s, out)
    }

    fn adjoint(
        &mut self,
        t: usize,
        s: &CudaSlice<S>,
        lambda_out: &CudaSlice<R>,
        lambda_in: &mut CudaSlice<R>,
    ) -> Result<()> {
        self.adjoint_step(t, false, s, lambda_out, lambda_in)
    }

    fn loss(&mut self, t: usize, s: &CudaSlice<S>) -> Result<f64> {
        self.objective_loss(t, false, s)
    }

    fn seed(&mut self, t: usize, s: &CudaSlice<S>, lambda: &mut CudaSlice<R>) -> Result<()> {
        self.objective_seed(t, false, s, lambda)
    }

    fn check_divergence(&mut self) -> Result<()> {
        self.check_flag()
    }

    fn state_bytes(&self) -> usize {
        CudaEngine::state_bytes(self)
    }

    fn adjoint_bytes(&self) -> usize {
        CudaEngine::adjoint_bytes(self)
    }

    fn offload(&mut self, s: &CudaSlice<S>) -> Result<Vec<S>> {
        self.stream()
            .clone_dtoh(s)
            .map_err(cuda_err("copying a snapshot to host memory"))
    }

    fn reload(&mut self, h: &Vec<S>, dst: &mut CudaSlice<S>) -> Result<()> {
        self.stream()
            .memcpy_htod(h, dst)
            .map_err(cuda_err("copying a snapshot back to the GPU"))
    }
}

impl<R: GpuReal, S: GpuStore> Engine for CudaEngine<R, S> {
    fn upload(&mut self, f: &[f64], dst: &mut CudaSlice<S>) -> Result<()> {
        super::host::check_state(f, self.state_len())?;
        self.upload_state(f, dst)
    }

    fn download(&self, s: &CudaSlice<S>, out: HostVec<'_>, layout: StateLayout) -> Result<()> {
        self.download_state(s, out, layout)
    }

    fn download_adjoint(
        &self,
        s: &CudaSlice<R>,
        out: HostVec<'_>,
        layout: StateLayout,
    ) -> Result<()> {
        CudaEngine::download_adjoint(self, s, out, layout)
    }

    fn rebind_step(&mut self, step: &Bound) -> Result<()> {
        CudaEngine::rebind_step(self, step)
    }

    fn prepare_gradient(&mut self, objective: &BoundObjective) -> Result<()> {
        CudaEngine::prepare_gradient(self, objective)
    }

    fn take_gradients(&mut self) -> Result<Vec<ParamGradient>> {
        self.param_gradients()
    }

    fn reset_divergence(&mut self) -> Result<()> {
        self.reset_flag()
    }

    fn transfers(&self) -> Transfers {
        self.transfers.get()
    }

    fn memory_available(&self) -> Result<Option<usize>> {
        crate::cuda::driver::free_memory(self.device()).map(Some)
    }

    fn gradient_scratch_bytes(&self) -> usize {
        self.adjoint_scratch_bytes()
    }
}

/// A session whose every call turns a panic inside the CUDA library into an error.
struct Guarded<S>(S);

impl<S: Session> Session for Guarded<S> {
    fn run(&mut self, t0: usize, steps: usize, progress: Option<&ProgressObserver>) -> Result<()> {
        guard("running on the GPU", || self.0.run(t0, steps, progress))
    }

    fn gradient(&mut self, request: &GradientRequest<'_>) -> Result<Gradients> {
        guard("computing gradients on the GPU", || {
            self.0.gradient(request)
        })
    }

    fn set_populations(&mut self, f: &[f64]) -> Result<()> {
        guard("uploading populations", || self.0.set_populations(f))
    }

    fn populations(&self, out: HostVec<'_>, layout: StateLayout) -> Result<()> {
        guard("downloading populations", || {
            self.0.populations(out, layout)
        })
    }

    fn rebind_step(&mut self, step: &Bound) -> Result<()> {
        guard("updating parameters on the GPU", || {
            self.0.rebind_step(step)
        })
    }

    fn transfers(&self) -> Transfers {
        self.0.transfers()
    }
}
