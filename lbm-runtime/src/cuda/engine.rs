//! One simulation on the GPU: its kernels, device buffers and launches.
//!
//! Kernels are built when first needed: the forward step with the engine, the adjoint with
//! the first gradient, an objective's kernels with the first gradient of that objective
//! (and kept while later objectives lay their parameters out the same way). New
//! parameter values overwrite the buffers in place.

use std::any::Any;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::{
    CudaFunction, CudaSlice, CudaStream, DeviceRepr, PinnedHostSlice, PushKernelArg,
    ValidAsZeroBits,
};
use cudarc::nccl::Comm;
use rayon::prelude::*;

use super::buffers::{download, function, launch_config, upload, zeros, GpuReal, OpBuffers};
use super::cache::module;
use super::driver::{cuda_err, Device};
use super::layout::{unit_speeds, Layout, Slot};
use super::skeleton::{adjoint_module, forward_module, names, objective_module, States};
use super::stored::GpuStore;
use super::tune::{tuned, Kernel, Role};
use crate::backend::divergence::{diverged_error, FINITE};
use crate::backend::host::{
    convert, convert_out, decode_direction_major, encode_direction_major, HostVec, StateLayout,
    TransferCounter,
};
use crate::bind::{Bound, BoundObjective};
use crate::error::{LbmError, Result};
use crate::gradients::ParamGradient;
use crate::grid::Grid;
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::Streaming;

/// The step's kernels and buffers.
struct StepKernels<R> {
    buf: OpBuffers<R>,
    fwd: Kernel,
    /// The forward on states in the odd AA layout (in-place streaming).
    fwd_odd: Option<CudaFunction>,
    /// The adjoint, once gradients were asked for.
    adjoint: Option<AdjointKernels<R>>,
}

/// The adjoint kernels of a step.
struct AdjointKernels<R> {
    adj: Kernel,
    /// The adjoint on states in the odd AA layout (in-place streaming).
    adj_odd: Option<CudaFunction>,
    /// Adjoints of local and neighbour reads (`Q` rows each) and the kernel that adds them
    /// into `lambda_in`, when the step has such reads.
    side: Option<(CudaSlice<R>, CudaFunction)>,
}

/// The objective's kernels and buffers.
struct ObjectiveKernels<R> {
    buf: OpBuffers<R>,
    objective: BoundObjective,
    loss: CudaFunction,
    seed: CudaFunction,
    /// The loss and seed on states in the odd AA layout (in-place streaming).
    odd: Option<(CudaFunction, CudaFunction)>,
    /// The output weights, for the loss.
    weights: CudaSlice<f64>,
    /// The output adjoints (weights times multiplicity) of the current seed.
    obar: CudaSlice<R>,
    /// Per-block partial losses.
    part: CudaSlice<f64>,
}

/// An NCCL communicator owned by one part engine.
pub(crate) struct PartComm(pub Comm);

// SAFETY: NCCL allows a communicator to be used from any thread, one call at a time. A
// part engine owns its communicator and every call on it goes through `&mut` access to
// the split engine holding all parts, so calls never overlap.
unsafe impl Send for PartComm {}

/// A simulation on the GPU: a grid, a bound step and, for gradients, an objective.
///
/// Parameters, adjoint states and gradients are `R`; states are kept as `S`, which is
/// `R` itself or a 16-bit format of [`Storage`].
pub(crate) struct Engine<R: GpuReal, S: GpuStore = R> {
    dev: &'static Device,
    stream: Arc<CudaStream>,
    grid: Grid,
    dims: [u32; 3],
    cells: usize,
    q: usize,
    /// The precision the forward step computes in (`f32` on `f64` storage for an `f32`
    /// simulation with an `f64` adjoint).
    compute: Precision,
    /// How states are kept and streamed.
    states: States,
    /// The link masks, uploaded once some bound operator reads them.
    links: Option<CudaSlice<u32>>,
    /// `(step << 32) | cell` of the first non-finite population, or [`FINITE`].
    flag: CudaSlice<u64>,
    /// A one-element buffer standing in for absent optional buffers.
    dummy: CudaSlice<R>,
    dummy_links: CudaSlice<u32>,
    step: StepKernels<R>,
    objective: Option<ObjectiveKernels<R>>,
    /// The cells this engine steps: all, or one part's own cells when the grid is a slab
    /// of a split domain (see `backend::split`).
    interior: Range<usize>,
    /// The communicator of a split domain's parts, rank = part, when this engine is one.
    pub(crate) comm: Option<PartComm>,
    /// On one part of a split domain, the kernels and buffers of halo exchanges.
    pub(crate) halo: Option<super::halo_parts::HaloScratch<R>>,
    /// On one part of a split domain, the stream and events of its exchanges.
    pub(crate) sync: Option<super::halo_parts::PartSync>,
    /// Page-locked host memory for state copies (a `PinnedHostSlice` of states or of
    /// adjoint states), allocated by the first copy and replaced when a copy of the
    /// other type comes (only when they differ, with 16-bit states).
    staging: RefCell<Option<Box<dyn Any + Send>>>,
    pub(crate) transfers: TransferCounter,
    _stored: std::marker::PhantomData<S>,
}

impl<R: GpuReal, S: GpuStore> Engine<R, S> {
    /// Builds (or loads from the cache) the forward kernel of `step`, computing in
    /// `compute` and streaming as `streaming` says, and uploads its inputs. In-place streaming
    /// builds a kernel for each AA layout, and every state method takes the layout of the
    /// state it is given (`odd`).
    pub fn with_streaming(
        dev: &'static Device,
        grid: &Grid,
        step: &Bound,
        compute: Precision,
        streaming: Streaming,
    ) -> Result<Self> {
        Self::build(dev, grid, step, compute, 0..grid.cells(), streaming)
    }

    /// An engine that steps only the cells `interior` of `grid`: one part of a split
    /// domain, whose other cells are its halo.
    pub fn new_part(
        dev: &'static Device,
        grid: &Grid,
        step: &Bound,
        compute: Precision,
        interior: Range<usize>,
    ) -> Result<Self> {
        Self::build(dev, grid, step, compute, interior, Streaming::TwoStates)
    }

    fn build(
        dev: &'static Device,
        grid: &Grid,
        step: &Bound,
        compute: Precision,
        interior: Range<usize>,
        streaming: Streaming,
    ) -> Result<Self> {
        let lattice = grid.lattice();
        let states = States {
            storage: S::STORAGE,
            streaming,
        };
        if !unit_speeds(lattice) {
            return Err(LbmError::BackendUnavailable(format!(
                "the CUDA kernels need lattice speeds of at most one cell; {lattice} has more"
            )));
        }
        let stream = dev.stream.clone();
        let [nx, ny, nz] = grid.dims();
        let mut engine = Engine {
            step: Self::step_kernels(dev, grid, step, (compute, states), &interior)?,
            halo: if interior == (0..grid.cells()) {
                None
            } else {
                Some(super::halo_parts::HaloScratch::new(dev)?)
            },
            interior,
            comm: None,
            sync: None,
            links: None,
            flag: upload(&stream, &[FINITE])?,
            dummy: zeros(&stream, 1)?,
            dummy_links: zeros(&stream, 1)?,
            dims: [nx as u32, ny as u32, nz as u32],
            grid: grid.clone(),
            cells: grid.cells(),
            q: lattice.q(),
            compute,
            states,
            objective: None,
            staging: RefCell::new(None),
            transfers: TransferCounter::default(),
            _stored: std::marker::PhantomData,
            stream,
            dev,
        };
        engine.ensure_links()?;
        Ok(engine)
    }

    fn step_kernels(
        dev: &'static Device,
        grid: &Grid,
        step: &Bound,
        (compute, states): (Precision, States),
        interior: &Range<usize>,
    ) -> Result<StepKernels<R>> {
        let layout = Layout::new(step, grid).with_interior(interior);
        let role = Role::forward(states.storage, states.streaming);
        let fwd = tuned(
            dev,
            names::STEP_FWD,
            &odd_names(names::STEP_FWD, states),
            role,
            |m| {
                Ok(forward_module(
                    step.op,
                    &layout,
                    grid.lattice(),
                    compute,
                    R::PRECISION,
                    states,
                    m,
                )?)
            },
        )?;
        Ok(StepKernels {
            buf: OpBuffers::new(&dev.stream, step, grid, layout)?,
            fwd_odd: odd_function(&fwd.module, names::STEP_FWD, states)?,
            fwd,
            adjoint: None,
        })
    }

    /// Builds the step's adjoint kernels and gradient accumulators, once.
    pub fn ensure_adjoint(&mut self) -> Result<()> {
        if self.step.adjoint.is_some() {
            return Ok(());
        }
        let (grid, layout) = (&self.grid, &self.step.buf.layout);
        let op = self.step.buf.bound.op;
        let odd = odd_names(names::STEP_ADJ, self.states);
        let role = Role::adjoint(R::PRECISION);
        let adj = tuned(self.dev, names::STEP_ADJ, &odd, role, |m| {
            Ok(adjoint_module(
                op,
                layout,
                grid.lattice(),
                R::PRECISION,
                self.states,
                m,
            )?)
        })?;
        let adj_odd = odd_function(&adj.module, names::STEP_ADJ, self.states)?;
        let sides = layout.side_reads().len();
        let side = if sides > 0 {
            Some((
                zeros(&self.stream, sides * self.q * self.cells)?,
                function(&adj.module, names::STEP_SIDE)?,
            ))
        } else {
            None
        };
        let reduce = function(&adj.module, names::REDUCE)?;
        self.step
            .buf
            .enable_gradients(&self.stream, &self.grid, reduce)?;
        self.step.adjoint = Some(AdjointKernels { adj, adj_odd, side });
        Ok(())
    }

    /// Uploads the link masks if a bound operator reads them and they are not there yet.
    fn ensure_links(&mut self) -> Result<()> {
        let reads = self.step.buf.layout.reads(&Slot::Links)
            || self
                .objective
                .as_ref()
                .is_some_and(|o| o.buf.layout.reads(&Slot::Links));
        if reads && self.links.is_none() {
            let links: Vec<u32> = (0..self.cells)
                .into_par_iter()
                .map(|c| self.grid.links(c) as u32)
                .collect();
            self.links = Some(upload(&self.stream, &links)?);
        }
        Ok(())
    }

    fn links(&self) -> &CudaSlice<u32> {
        self.links.as_ref().unwrap_or(&self.dummy_links)
    }

    /// New parameter values for the step: buffers are overwritten when the layout of the
    /// parameters is unchanged, kernels rebuilt (or loaded from the cache) otherwise.
    pub fn rebind_step(&mut self, step: &Bound) -> Result<()> {
        let layout = self.layout_of(step);
        if layout.same_kernels(&self.step.buf.layout) {
            self.step
                .buf
                .set_values(&self.stream, step, &self.grid, layout)?;
        } else {
            let had_adjoint = self.step.adjoint.is_some();
            let numbers = (self.compute, self.states);
            self.step = Self::step_kernels(self.dev, &self.grid, step, numbers, &self.interior)?;
            if had_adjoint {
                self.ensure_adjoint()?;
            }
        }
        self.ensure_links()
    }

    /// Readies the kernels and buffers of a backward run of `objective`.
    pub fn prepare_gradient(&mut self, objective: &BoundObjective) -> Result<()> {
        self.ensure_adjoint()?;
        self.step.buf.zero_gradients(&self.stream)?;
        self.set_objective(objective)?;
        self.ensure_links()
    }

    fn set_objective(&mut self, obj: &BoundObjective) -> Result<()> {
        let layout = self.layout_of(&obj.bound);
        if layout.step_len > 0 {
            if let Some(&t) = obj.at.iter().find(|&&t| t >= layout.step_rows) {
                return Err(LbmError::BadBinding {
                    op: obj.bound.op.name,
                    message: format!(
                        "evaluated after step {t}, but a per-step parameter has values for {} \
                         steps",
                        layout.step_rows
                    ),
                });
            }
        }
        if let Some(o) = &mut self.objective {
            let same_op = std::ptr::eq(o.buf.bound.op, obj.bound.op);
            if same_op && o.buf.layout.same_kernels(&layout) && o.weights.len() == obj.weights.len()
            {
                if o.buf.bound.sources != obj.bound.sources {
                    o.buf
                        .set_values(&self.stream, &obj.bound, &self.grid, layout)?;
                }
                if o.objective.weights != obj.weights {
                    self.stream
                        .memcpy_htod(&obj.weights, &mut o.weights)
                        .map_err(cuda_err("uploading the objective's weights"))?;
                }
                o.objective = obj.clone();
                return o.buf.zero_gradients(&self.stream);
            }
        }
        let m = module(
            self.dev,
            &objective_module(
                obj.bound.op,
                &layout,
                self.grid.lattice(),
                R::PRECISION,
                self.states,
            )?,
        )?;
        let mut buf = OpBuffers::new(&self.stream, &obj.bound, &self.grid, layout)?;
        buf.enable_gradients(&self.stream, &self.grid, function(&m, names::REDUCE)?)?;
        self.objective = Some(ObjectiveKernels {
            buf,
            objective: obj.clone(),
            loss: function(&m, names::OBJ_LOSS)?,
            seed: function(&m, names::OBJ_SEED)?,
            odd: match self.states.streaming {
                Streaming::TwoStates => None,
                Streaming::InPlace => Some((
                    function(&m, &format!("{}{}", names::OBJ_LOSS, names::ODD))?,
                    function(&m, &format!("{}{}", names::OBJ_SEED, names::ODD))?,
                )),
            },
            weights: upload(&self.stream, &obj.weights)?,
            obar: zeros(&self.stream, obj.weights.len())?,
            part: zeros(&self.stream, self.blocks() as usize)?,
        });
        Ok(())
    }

    /// The layout of `bound` on this engine's grid and cells.
    fn layout_of(&self, bound: &Bound) -> Layout {
        Layout::new(bound, &self.grid).with_interior(&self.interior)
    }

    fn blocks(&self) -> u32 {
        launch_config(self.cells).grid_dim.0
    }

    /// Runs `f` on a page-locked staging buffer of one state's length in `T`, allocating
    /// it on first use (or when the last copy was of another element type).
    fn with_staging<T: DeviceRepr + 'static, U>(
        &self,
        f: impl FnOnce(&mut PinnedHostSlice<T>) -> Result<U>,
    ) -> Result<U> {
        let mut staging = self.staging.borrow_mut();
        let fits = staging
            .as_ref()
            .is_some_and(|b| b.is::<PinnedHostSlice<T>>());
        if !fits {
            // Freed first: two staging buffers never coexist.
            *staging = None;
            // SAFETY: the buffer is only read after a copy into it has completed: every
            // access goes through `as_slice`/`as_mut_slice`, which wait for the copies
            // recorded on it. Default flags: it is read back too, which write-combined
            // memory makes slow.
            let pinned = unsafe {
                self.dev
                    .ctx
                    .alloc_pinned_with_flags::<T>(self.q * self.cells, 0)
            }
            .map_err(cuda_err("allocating page-locked host memory"))?;
            *staging = Some(Box::new(pinned));
        }
        let pinned = staging
            .as_mut()
            .and_then(|b| b.downcast_mut::<PinnedHostSlice<T>>())
            .expect("allocated above");
        f(pinned)
    }

    /// Fills page-locked memory with `fill` and copies it into `dst`, waiting for the
    /// copy (the staging buffer is reused, and cudarc's own events are off, see `driver`).
    fn stage_to_device<T: DeviceRepr + ValidAsZeroBits + 'static>(
        &self,
        dst: &mut CudaSlice<T>,
        what: &'static str,
        fill: impl FnOnce(&mut [T]) -> Result<()>,
    ) -> Result<()> {
        self.with_staging(|pinned: &mut PinnedHostSlice<T>| {
            fill(
                pinned
                    .as_mut_slice()
                    .map_err(cuda_err("writing page-locked memory"))?,
            )?;
            self.stream
                .memcpy_htod(&*pinned, dst)
                .map_err(cuda_err(what))?;
            self.synchronize()
        })
    }

    /// Copies `src` to page-locked memory, waits for the copy, and hands it to `read`.
    fn stage_from_device<T: DeviceRepr + ValidAsZeroBits + 'static>(
        &self,
        src: &CudaSlice<T>,
        what: &'static str,
        read: impl FnOnce(&[T]) -> Result<()>,
    ) -> Result<()> {
        self.with_staging(|pinned: &mut PinnedHostSlice<T>| {
            self.stream
                .memcpy_dtoh(src, pinned)
                .map_err(cuda_err(what))?;
            self.synchronize()?;
            read(
                pinned
                    .as_slice()
                    .map_err(cuda_err("reading page-locked memory"))?,
            )
        })
    }

    /// Uploads populations given cell-major into `dst` (structure of arrays), rounded as
    /// the forward computes and stores them.
    pub fn upload_state(&self, f: &[f64], dst: &mut CudaSlice<S>) -> Result<()> {
        let (q, n) = (self.q, self.cells);
        let narrow = self.compute == Precision::F32 && R::PRECISION != Precision::F32;
        self.stage_to_device(dst, "uploading a state", |host| {
            match S::STORAGE {
                Storage::Compute if narrow => {
                    let narrow: Vec<f32> = f.par_iter().map(|v| *v as f32).collect();
                    let host: &mut [R] = same_type(host)?;
                    convert(
                        &narrow,
                        StateLayout::CellMajor,
                        host,
                        StateLayout::DirectionMajor,
                        q,
                        n,
                    );
                }
                Storage::Compute => {
                    let host: &mut [R] = same_type(host)?;
                    convert(
                        f,
                        StateLayout::CellMajor,
                        host,
                        StateLayout::DirectionMajor,
                        q,
                        n,
                    );
                }
                storage => {
                    let shifts = crate::storage::shifts(self.grid.lattice());
                    let host: &mut [u16] = bytemuck::cast_slice_mut(host);
                    encode_direction_major(f, host, q, n, |i, v| {
                        storage
                            .encode(v as f32, shifts[i])
                            .expect("16-bit storage encodes")
                    });
                }
            }
            Ok(())
        })?;
        self.transfers.upload(self.state_bytes());
        Ok(())
    }

    /// Downloads a state into `out`, in `layout`.
    pub fn download_state(
        &self,
        s: &CudaSlice<S>,
        out: HostVec<'_>,
        layout: StateLayout,
    ) -> Result<()> {
        let (q, n) = (self.q, self.cells);
        self.stage_from_device(s, "downloading a state", |host| {
            match S::STORAGE {
                Storage::Compute => {
                    let host: &[R] = same_type_ref(host)?;
                    convert_out(host, StateLayout::DirectionMajor, out, layout, q, n);
                }
                storage => {
                    let shifts = crate::storage::shifts(self.grid.lattice());
                    let bits: &[u16] = bytemuck::cast_slice(host);
                    let wide =
                        decode_direction_major(bits, q, n, |i, b| storage.decode(b, shifts[i]));
                    convert_out(&wide, StateLayout::DirectionMajor, out, layout, q, n);
                }
            }
            Ok(())
        })?;
        self.transfers.download(self.state_bytes());
        Ok(())
    }

    /// Uploads populations given cell-major into the adjoint state `dst`.
    pub fn upload_adjoint(&self, f: &[f64], dst: &mut CudaSlice<R>) -> Result<()> {
        let (q, n) = (self.q, self.cells);
        self.stage_to_device(dst, "uploading an adjoint state", |host| {
            convert(
                f,
                StateLayout::CellMajor,
                host,
                StateLayout::DirectionMajor,
                q,
                n,
            );
            Ok(())
        })
    }

    /// Downloads an adjoint state into `out`, in `layout`.
    pub fn download_adjoint(
        &self,
        s: &CudaSlice<R>,
        out: HostVec<'_>,
        layout: StateLayout,
    ) -> Result<()> {
        let (q, n) = (self.q, self.cells);
        self.stage_from_device(s, "downloading an adjoint state", |host| {
            convert_out(host, StateLayout::DirectionMajor, out, layout, q, n);
            Ok(())
        })?;
        self.transfers.download(self.adjoint_bytes());
        Ok(())
    }

    /// The device this engine runs on.
    pub fn device(&self) -> &'static Device {
        self.dev
    }

    /// Bytes the adjoint kernels need besides states: the adjoints of local and
    /// neighbour reads, a state's worth each.
    pub fn adjoint_scratch_bytes(&self) -> usize {
        self.step
            .buf
            .layout
            .side_reads()
            .len()
            .saturating_mul(self.state_bytes())
    }

    /// The stream all of this engine's work is ordered on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Directions of the lattice.
    pub fn q(&self) -> usize {
        self.q
    }

    /// Cells of the grid (of the slab, for one part of a split domain).
    pub fn cells(&self) -> usize {
        self.cells
    }

    /// Populations in one state.
    pub fn state_len(&self) -> usize {
        self.q * self.cells
    }

    /// Bytes of one state.
    pub fn state_bytes(&self) -> usize {
        self.q * self.cells * std::mem::size_of::<S>()
    }

    /// Bytes of one adjoint state.
    pub fn adjoint_bytes(&self) -> usize {
        self.q * self.cells * std::mem::size_of::<R>()
    }

    /// A zeroed state (populations at their weights with 16-bit storage, whose zero is
    /// the deviation from them).
    pub fn alloc_state(&self) -> Result<CudaSlice<S>> {
        self.stream
            .alloc_zeros::<S>(self.q * self.cells)
            .map_err(cuda_err("allocating a state on the GPU"))
    }

    /// A state whose contents are undefined until written: for the outputs of steps and
    /// copies, which write every population. Zeroed like [`Engine::alloc_state`] on one
    /// part of a split domain, whose steps leave the halo's other directions unwritten.
    pub fn alloc_state_for_output(&self) -> Result<CudaSlice<S>> {
        if self.halo.is_some() {
            return self.alloc_state();
        }
        // SAFETY: `S` is plain data (`GpuStore: Pod`), so any bits are a value; callers
        // write every population before reading one (a step's kernel writes every cell,
        // a copy or reload the whole buffer).
        unsafe { self.stream.alloc::<S>(self.q * self.cells) }
            .map_err(cuda_err("allocating a state on the GPU"))
    }

    /// A zeroed adjoint state.
    pub fn alloc_adjoint(&self) -> Result<CudaSlice<R>> {
        self.stream
            .alloc_zeros::<R>(self.q * self.cells)
            .map_err(cuda_err("allocating an adjoint state on the GPU"))
    }

    /// Errors with the first non-finite population recorded by the forward kernel.
    pub fn check_flag(&self) -> Result<()> {
        let flag = download(&self.stream, &self.flag)?[0];
        diverged_error(flag)
    }

    /// Forgets a recorded divergence.
    pub fn reset_flag(&mut self) -> Result<()> {
        self.stream
            .memcpy_htod(&[FINITE], &mut self.flag)
            .map_err(cuda_err("resetting the divergence flag"))
    }

    /// One forward step (step index `t`) from `s` into `out`.
    ///
    /// On one part of a split domain exchanging on its own stream, the layers next to the
    /// halos go first and are marked ready, so that the exchange of the layers they send
    /// runs while the rest of the part steps.
    pub fn forward_step(&self, t: usize, s: &CudaSlice<S>, out: &mut CudaSlice<S>) -> Result<()> {
        match (&self.sync, self.edges_and_inner()) {
            (Some(sync), Some([low, high, inner])) => {
                self.launch_forward(t, false, s, out, low)?;
                self.launch_forward(t, false, s, out, high)?;
                sync.mark_ready(&self.stream)?;
                self.launch_forward(t, false, s, out, inner)
            }
            _ => self.launch_forward(t, false, s, out, self.interior.clone()),
        }
    }

    /// One forward step of in-place streaming from `s`, in the odd AA layout if `odd`,
    /// into `out` (which may be `s` itself: each cell writes only the slots it read).
    pub fn forward_step_aa(
        &self,
        t: usize,
        odd: bool,
        s: &CudaSlice<S>,
        out: &CudaSlice<S>,
    ) -> Result<()> {
        self.launch_forward(t, odd, s, out, self.interior.clone())
    }

    /// A part's own cells split into the layers next to each halo (as deep as the halo)
    /// and the rest; `None` when the part is too thin to have a rest.
    fn edges_and_inner(&self) -> Option<[Range<usize>; 3]> {
        let d = self.grid.lattice().d();
        let layer = self.cells / self.grid.dims()[d - 1];
        let depth = self.interior.start;
        let (first, end) = (self.interior.start, self.interior.end);
        (depth > 0 && end - first > 2 * depth).then(|| {
            debug_assert_eq!(depth % layer, 0, "halos are whole layers");
            [
                first..first + depth,
                end - depth..end,
                first + depth..end - depth,
            ]
        })
    }

    /// Launches the forward kernel (the odd AA layout's if `odd`) on the cells `cells`.
    fn launch_forward(
        &self,
        t: usize,
        odd: bool,
        s: &CudaSlice<S>,
        out: &CudaSlice<S>,
        cells: Range<usize>,
    ) -> Result<()> {
        let [nx, ny, nz] = self.dims;
        let t = step_index(t)?;
        // Grids have at most 2^32 cells.
        let (first, end) = (cells.start as u32, cells.end as u32);
        let function = pick(&self.step.fwd.function, self.step.fwd_odd.as_ref(), odd)?;
        let mut b = self.stream.launch_builder(function);
        b.arg(s).arg(out);
        self.step.buf.push_inputs(&mut b, self.links());
        b.arg(&nx).arg(&ny).arg(&nz).arg(&t).arg(&self.flag);
        b.arg(&first).arg(&end);
        // SAFETY: the arguments match `lbm_k_step_fwd`'s parameters in order and type;
        // `s` and `out` hold Q * cells populations (they are one buffer only for in-place
        // kernels, whose state pointers are not `__restrict__`), the input buffers were sized by the layout the
        // kernel text was generated from, and `cells` lies within the grid.
        unsafe { b.launch(launch_config(cells.len())) }
            .map_err(cuda_err("launching the forward step"))?;
        Ok(())
    }

    /// The adjoint of step `t`: `lambda_in` from the state `s` before it and `lambda_out`;
    /// parameter gradients accumulate on the device.
    pub fn adjoint_step(
        &self,
        t: usize,
        odd: bool,
        s: &CudaSlice<S>,
        lambda_out: &CudaSlice<R>,
        lambda_in: &mut CudaSlice<R>,
    ) -> Result<()> {
        let [nx, ny, nz] = self.dims;
        let t = step_index(t)?;
        let st = &self.step;
        let Some(adj) = &st.adjoint else {
            return Err(LbmError::Cuda(
                "the engine was built without the adjoint kernels".into(),
            ));
        };
        let grads = st.buf.gradient_buffers()?;
        self.clear_unwritten_adjoints(lambda_in)?;
        let side = adj.side.as_ref().map_or(&self.dummy, |(s, _)| s);
        let function = pick(&adj.adj.function, adj.adj_odd.as_ref(), odd)?;
        let mut b = self.stream.launch_builder(function);
        b.arg(s).arg(lambda_out).arg(&*lambda_in).arg(side);
        st.buf.push_inputs(&mut b, self.links());
        b.arg(&grads.gfields)
            .arg(&grads.part)
            .arg(&nx)
            .arg(&ny)
            .arg(&nz)
            .arg(&t);
        // SAFETY: the arguments match `lbm_k_step_adj`'s parameters; every state holds
        // Q * cells reals, `side` too when the step reads local populations (the only case
        // the kernel writes it), and `part` has a row per block.
        unsafe { b.launch(launch_config(self.cells)) }
            .map_err(cuda_err("launching the adjoint step"))?;
        if let Some((side, kernel)) = &adj.side {
            let mut b = self.stream.launch_builder(kernel);
            b.arg(&*lambda_in).arg(side).arg(&nx).arg(&ny).arg(&nz);
            // SAFETY: the arguments match `lbm_k_step_side`'s parameters; `lambda_in` holds
            // Q * cells reals and `side` Q * cells per local or neighbour read.
            unsafe { b.launch(launch_config(self.cells)) }
                .map_err(cuda_err("launching the side adjoint gather"))?;
        }
        if st.buf.layout.reduces_once() {
            // Summed per block across steps; `param_gradients` reduces once.
            return Ok(());
        }
        st.buf.reduce(&self.stream, self.blocks(), t)
    }

    /// Sets `cells` of every direction of `state` (an adjoint state, or a state kept in
    /// its computing type) to zero, in one launch; only a part of a split can.
    pub(crate) fn zero_cells(&self, state: &CudaSlice<R>, cells: Range<usize>) -> Result<()> {
        self.halo_scratch()?
            .zero_cells(self.stream(), state, (self.cells, self.q()), cells)
    }

    /// On one part of a split domain, its halo kernels and buffers.
    pub(crate) fn halo_scratch(&self) -> Result<&super::halo_parts::HaloScratch<R>> {
        self.halo.as_ref().ok_or_else(super::halo_parts::not_a_part)
    }

    /// On one part of a split domain, zeroes the adjoint slots the adjoint kernel will not
    /// write: the kernel writes each slot from the cell that read it, and halo cells do not
    /// run, so the halo layers and as many own layers next to them (whose readers may be
    /// halo cells) would keep stale values. Slots they miss are the other parts' to fill.
    fn clear_unwritten_adjoints(&self, lambda_in: &mut CudaSlice<R>) -> Result<()> {
        let (first, end) = (self.interior.start, self.interior.end);
        if first == 0 && end == self.cells {
            return Ok(());
        }
        let (below, above) = (first, self.cells - end);
        self.zero_cells(lambda_in, 0..2 * below)?;
        self.zero_cells(lambda_in, end - above..self.cells)
    }

    /// The objective's value on `s`, the state after `t` steps.
    pub fn objective_loss(&self, t: usize, odd: bool, s: &CudaSlice<S>) -> Result<f64> {
        let Some(o) = &self.objective else {
            return Ok(0.0);
        };
        let times = o.objective.multiplicity(t);
        if times == 0 {
            return Ok(0.0);
        }
        let [nx, ny, nz] = self.dims;
        let ti = step_index(t)?;
        let loss = pick(&o.loss, o.odd.as_ref().map(|(l, _)| l), odd)?;
        let mut b = self.stream.launch_builder(loss);
        b.arg(s);
        o.buf.push_inputs(&mut b, self.links());
        b.arg(&o.weights)
            .arg(&o.part)
            .arg(&nx)
            .arg(&ny)
            .arg(&nz)
            .arg(&ti);
        // SAFETY: the arguments match `lbm_k_obj_loss`'s parameters; `weights` holds one
        // value per output and `part` one per block.
        unsafe { b.launch(launch_config(self.cells)) }
            .map_err(cuda_err("launching the loss kernel"))?;
        let part = download(&self.stream, &o.part)?;
        Ok(times as f64 * part.iter().sum::<f64>())
    }

    /// Adds the objective's adjoint at step `t` (on the state `s`) to `lambda`.
    pub fn objective_seed(
        &mut self,
        t: usize,
        odd: bool,
        s: &CudaSlice<S>,
        lambda: &CudaSlice<R>,
    ) -> Result<()> {
        let Some(o) = &mut self.objective else {
            return Ok(());
        };
        let times = o.objective.multiplicity(t);
        if times == 0 {
            return Ok(());
        }
        let obar: Vec<R> = o
            .objective
            .weights
            .iter()
            .map(|w| R::from_f64(w * times as f64))
            .collect();
        self.stream
            .memcpy_htod(&obar, &mut o.obar)
            .map_err(cuda_err("uploading the objective's weights"))?;
        let o = self.objective.as_ref().expect("checked above");
        let grads = o.buf.gradient_buffers()?;
        let [nx, ny, nz] = self.dims;
        let ti = step_index(t)?;
        let seed = pick(&o.seed, o.odd.as_ref().map(|(_, s)| s), odd)?;
        let mut b = self.stream.launch_builder(seed);
        b.arg(s).arg(lambda).arg(&o.obar);
        o.buf.push_inputs(&mut b, self.links());
        b.arg(&grads.gfields)
            .arg(&grads.part)
            .arg(&nx)
            .arg(&ny)
            .arg(&nz)
            .arg(&ti);
        // SAFETY: the arguments match `lbm_k_obj_seed`'s parameters; `lambda` holds
        // Q * cells reals, written only at each thread's own cell.
        unsafe { b.launch(launch_config(self.cells)) }
            .map_err(cuda_err("launching the seed kernel"))?;
        o.buf.reduce(&self.stream, self.blocks(), ti)
    }

    /// The gradients of the step's parameters, then the objective's.
    pub fn param_gradients(&mut self) -> Result<Vec<ParamGradient>> {
        let blocks = self.blocks();
        self.step.buf.flush_partials(&self.stream, blocks)?;
        let mut out = self.step.buf.gradients(&self.stream, &self.grid)?;
        if let Some(o) = &self.objective {
            out.extend(o.buf.gradients(&self.stream, &self.grid)?);
        }
        Ok(out)
    }

    /// The step's kernels (the adjoint once built), by name.
    pub fn kernels(&self) -> Vec<(&'static str, &Kernel)> {
        let mut out = vec![(names::STEP_FWD, &self.step.fwd)];
        if let Some(a) = &self.step.adjoint {
            out.push((names::STEP_ADJ, &a.adj));
        }
        out
    }

    /// Waits for every launched kernel.
    pub fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(cuda_err("waiting for the GPU"))
    }
}

/// A step index as the kernels' `int`.
fn step_index(t: usize) -> Result<i32> {
    i32::try_from(t)
        .ok()
        .filter(|t| *t < i32::MAX)
        .ok_or_else(|| LbmError::Cuda(format!("step {t} is beyond the kernels' step counter")))
}

/// `values` as the real type they are when states are kept in it ([`Storage::Compute`]).
fn same_type<S: GpuStore, R: GpuReal>(values: &mut [S]) -> Result<&mut [R]> {
    bytemuck::try_cast_slice_mut(values)
        .map_err(|e| LbmError::Cuda(format!("states kept in the computing type: {e}")))
}

/// [`same_type`] for a shared slice.
fn same_type_ref<S: GpuStore, R: GpuReal>(values: &[S]) -> Result<&[R]> {
    bytemuck::try_cast_slice(values)
        .map_err(|e| LbmError::Cuda(format!("states kept in the computing type: {e}")))
}

/// The name of kernel `name`'s odd-layout variant, when the module has one.
fn odd_names(name: &str, states: States) -> Vec<String> {
    match states.streaming {
        Streaming::TwoStates => Vec::new(),
        Streaming::InPlace => vec![format!("{name}{}", names::ODD)],
    }
}

/// The kernel for the odd AA layout, when the module has one.
fn odd_function(
    module: &Arc<cudarc::driver::CudaModule>,
    name: &str,
    states: States,
) -> Result<Option<CudaFunction>> {
    odd_names(name, states)
        .first()
        .map(|odd| function(module, odd))
        .transpose()
}

/// `base`, or `odd` for a state in the odd AA layout.
fn pick<'a>(
    base: &'a CudaFunction,
    odd: Option<&'a CudaFunction>,
    is_odd: bool,
) -> Result<&'a CudaFunction> {
    match (is_odd, odd) {
        (false, _) => Ok(base),
        (true, Some(f)) => Ok(f),
        (true, None) => Err(LbmError::Cuda(
            "a state in the AA layout given to kernels built for two states".into(),
        )),
    }
}
