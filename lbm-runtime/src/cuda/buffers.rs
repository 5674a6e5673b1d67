//! Device buffers: uploads and downloads, and the inputs and gradient accumulators of one
//! bound operator laid out as its kernels read them.

use std::sync::Arc;

use cudarc::driver::{
    CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchArgs, LaunchConfig,
    PushKernelArg, ValidAsZeroBits,
};

use super::driver::cuda_err;
use super::layout::{Layout, Slot};
use super::skeleton::BLOCK;
use crate::bind::Bound;
use crate::error::{LbmError, Result};
use crate::gradients::{GradValue, ParamAccumulator, ParamGradient};
use crate::grid::Grid;
use crate::real::Real;

/// A real type the kernels can be built for.
pub(crate) trait GpuReal: Real + super::stored::GpuStore + cudarc::nccl::NcclType {}
impl GpuReal for f32 {}
impl GpuReal for f64 {}

/// Copies `data` to a new device buffer (one zero element when `data` is empty, so every
/// kernel parameter points somewhere).
pub(crate) fn upload<T: DeviceRepr + ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    data: &[T],
) -> Result<CudaSlice<T>> {
    let r = if data.is_empty() {
        stream.alloc_zeros::<T>(1)
    } else {
        stream.clone_htod(data)
    };
    r.map_err(cuda_err("uploading to the GPU"))
}

/// A zeroed device buffer of at least one element.
pub(crate) fn zeros<T: DeviceRepr + ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    len: usize,
) -> Result<CudaSlice<T>> {
    stream
        .alloc_zeros::<T>(len.max(1))
        .map_err(cuda_err("allocating GPU memory"))
}

/// Copies a device buffer back, waiting for it.
pub(crate) fn download<T: DeviceRepr>(
    stream: &Arc<CudaStream>,
    buf: &CudaSlice<T>,
) -> Result<Vec<T>> {
    let v = stream
        .clone_dtoh(buf)
        .map_err(cuda_err("downloading from the GPU"))?;
    stream
        .synchronize()
        .map_err(cuda_err("waiting for the GPU"))?;
    Ok(v)
}

/// Integers as the C `int` the operators take.
fn to_i32(what: &str, values: &[i64]) -> Result<Vec<i32>> {
    values
        .iter()
        .map(|&v| {
            i32::try_from(v).map_err(|_| LbmError::BadBinding {
                op: "cuda",
                message: format!("{what}: {v} does not fit the C `int` the kernels take"),
            })
        })
        .collect()
}

/// A one-dimensional launch of `threads` threads in blocks of [`BLOCK`].
pub(crate) fn launch_config(threads: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (threads.div_ceil(BLOCK as usize).max(1) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Kernel `name` of module `m`.
pub(crate) fn function(m: &Arc<CudaModule>, name: &str) -> Result<CudaFunction> {
    m.load_function(name)
        .map_err(|e| LbmError::Cuda(format!("kernel `{name}` not found: {e}")))
}

/// The device inputs of one bound operator and, once gradients are asked for, its
/// gradient accumulators.
pub(crate) struct OpBuffers<R> {
    pub bound: Bound,
    pub layout: Layout,
    pub uni: CudaSlice<R>,
    pub steps: CudaSlice<R>,
    pub ints: CudaSlice<i32>,
    pub fields: CudaSlice<R>,
    pub ifields: CudaSlice<i32>,
    pub grads: Option<GradBuffers>,
}

/// The gradient accumulators of one bound operator.
pub(crate) struct GradBuffers {
    /// Per-cell field gradients, `[row * cells + cell]`.
    pub gfields: CudaSlice<f64>,
    /// Per-block partial sums of the reduced gradients, `[block * U + j]`.
    pub part: CudaSlice<f64>,
    /// Uniform gradients, then one row of per-step gradients per step.
    pub acc: CudaSlice<f64>,
    /// The kernel summing `part` into `acc`.
    pub reduce: CudaFunction,
}

/// The host values of a binding, converted to what the kernels read.
struct DeviceValues<R> {
    uni: Vec<R>,
    steps: Vec<R>,
    ints: Vec<i32>,
    fields: Vec<R>,
    ifields: Vec<i32>,
}

impl<R: GpuReal> DeviceValues<R> {
    fn new(bound: &Bound, layout: &Layout, cells: usize) -> Result<Self> {
        let values = layout.values(bound, cells);
        let reals = |v: &[f64]| v.iter().map(|x| R::from_f64(*x)).collect::<Vec<R>>();
        let what = format!("integer parameters of `{}`", bound.op.name);
        Ok(DeviceValues {
            uni: reals(&values.uni),
            steps: reals(&values.steps),
            ints: to_i32(&what, &values.ints)?,
            fields: reals(&values.fields),
            ifields: to_i32(&what, &values.ifields)?,
        })
    }
}

/// Writes `data` into `buf`, reallocating only when the length changed.
fn refill<T: DeviceRepr + ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    buf: &mut CudaSlice<T>,
    data: &[T],
) -> Result<()> {
    if data.len() == buf.len() {
        stream
            .memcpy_htod(data, buf)
            .map_err(cuda_err("updating parameters on the GPU"))
    } else if data.is_empty() {
        Ok(())
    } else {
        *buf = upload(stream, data)?;
        Ok(())
    }
}

impl<R: GpuReal> OpBuffers<R> {
    /// Uploads the inputs of `bound`, laid out as `layout` (its layout on `grid`).
    pub fn new(
        stream: &Arc<CudaStream>,
        bound: &Bound,
        grid: &Grid,
        layout: Layout,
    ) -> Result<Self> {
        let v = DeviceValues::<R>::new(bound, &layout, grid.cells())?;
        Ok(OpBuffers {
            uni: upload(stream, &v.uni)?,
            steps: upload(stream, &v.steps)?,
            ints: upload(stream, &v.ints)?,
            fields: upload(stream, &v.fields)?,
            ifields: upload(stream, &v.ifields)?,
            grads: None,
            bound: bound.clone(),
            layout,
        })
    }

    /// New values for the same layout of parameters (the caller checks the layout): the
    /// kernels stay, the buffers are overwritten. Gradient accumulators are resized for
    /// a new number of per-step rows.
    pub fn set_values(
        &mut self,
        stream: &Arc<CudaStream>,
        bound: &Bound,
        grid: &Grid,
        layout: Layout,
    ) -> Result<()> {
        let v = DeviceValues::<R>::new(bound, &layout, grid.cells())?;
        refill(stream, &mut self.uni, &v.uni)?;
        refill(stream, &mut self.steps, &v.steps)?;
        refill(stream, &mut self.ints, &v.ints)?;
        refill(stream, &mut self.fields, &v.fields)?;
        refill(stream, &mut self.ifields, &v.ifields)?;
        let rows_changed = layout.acc_len() != self.layout.acc_len();
        self.bound = bound.clone();
        self.layout = layout;
        if rows_changed {
            if let Some(g) = self.grads.take() {
                self.enable_gradients(stream, grid, g.reduce)?;
            }
        }
        Ok(())
    }

    /// Allocates zeroed gradient accumulators, summed by `reduce`.
    pub fn enable_gradients(
        &mut self,
        stream: &Arc<CudaStream>,
        grid: &Grid,
        reduce: CudaFunction,
    ) -> Result<()> {
        let cells = grid.cells();
        let blocks = launch_config(cells).grid_dim.0 as usize;
        let l = &self.layout;
        self.grads = Some(GradBuffers {
            gfields: zeros(stream, l.grad_field_rows * cells)?,
            part: zeros(stream, blocks * l.grad_reduced())?,
            acc: zeros(stream, l.acc_len())?,
            reduce,
        });
        Ok(())
    }

    /// Sets the gradient accumulators (and the block partials, which a step that
    /// [`Layout::reduces_once`] adds to) to zero.
    pub fn zero_gradients(&mut self, stream: &Arc<CudaStream>) -> Result<()> {
        let Some(g) = &mut self.grads else {
            return Ok(());
        };
        stream
            .memset_zeros(&mut g.gfields)
            .and_then(|()| stream.memset_zeros(&mut g.acc))
            .and_then(|()| stream.memset_zeros(&mut g.part))
            .map_err(cuda_err("clearing gradients on the GPU"))
    }

    /// For a step that [`Layout::reduces_once`]: adds the block partials summed over the
    /// run's steps to the accumulators, and zeroes them so a second call adds nothing.
    pub fn flush_partials(&mut self, stream: &Arc<CudaStream>, blocks: u32) -> Result<()> {
        if !self.layout.reduces_once() || self.grads.is_none() {
            return Ok(());
        }
        self.reduce(stream, blocks, 0)?;
        let g = self.grads.as_mut().expect("checked above");
        stream
            .memset_zeros(&mut g.part)
            .map_err(cuda_err("clearing gradient partials on the GPU"))
    }

    /// The gradient buffers, which the adjoint and seed kernels need.
    pub fn gradient_buffers(&self) -> Result<&GradBuffers> {
        self.grads.as_ref().ok_or_else(|| {
            LbmError::Cuda(format!(
                "the gradient buffers of `{}` were not allocated",
                self.bound.op.name
            ))
        })
    }

    /// Pushes the input buffers every gathering kernel takes (see the skeleton).
    pub fn push_inputs<'a>(&'a self, b: &mut LaunchArgs<'a>, links: &'a CudaSlice<u32>) {
        b.arg(&self.uni)
            .arg(&self.steps)
            .arg(&self.ints)
            .arg(&self.fields)
            .arg(&self.ifields)
            .arg(links);
    }

    /// Sums this step's block partials into the accumulators.
    pub fn reduce(&self, stream: &CudaStream, blocks: u32, t: i32) -> Result<()> {
        let Some(g) = &self.grads else {
            return Ok(());
        };
        if self.layout.grad_reduced() == 0 {
            return Ok(());
        }
        let mut b = stream.launch_builder(&g.reduce);
        b.arg(&g.part).arg(&blocks).arg(&g.acc).arg(&t);
        let cfg = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments match `lbm_k_reduce`'s parameters; `part` holds `blocks`
        // rows of `U` values and `acc` the accumulators the layout sized.
        unsafe { b.launch(cfg) }.map_err(cuda_err("launching the gradient reduction"))?;
        Ok(())
    }

    /// The accumulated gradients, shaped as the CPU backend returns them.
    pub fn gradients(&self, stream: &Arc<CudaStream>, grid: &Grid) -> Result<Vec<ParamGradient>> {
        let mut acc = ParamAccumulator::new(&self.bound, grid);
        if acc.entries.is_empty() {
            return Ok(Vec::new());
        }
        let g = self.gradient_buffers()?;
        let l = &self.layout;
        let sums = download(stream, &g.acc)?;
        let fields = if l.grad_field_rows > 0 {
            download(stream, &g.gfields)?
        } else {
            Vec::new()
        };
        let cells = grid.cells();
        for (k, _, value) in &mut acc.entries {
            let len = l.lens[*k];
            match (&l.slots[*k], value) {
                (Slot::Uniform { grad: Some(g), .. }, GradValue::Uniform(v)) => {
                    v.copy_from_slice(&sums[*g..*g + len]);
                }
                (Slot::PerStep { grad: Some(g), .. }, GradValue::PerStep(rows)) => {
                    for (t, row) in rows.iter_mut().enumerate().take(l.step_rows) {
                        let at = l.grad_uniform + t * l.grad_step + g;
                        row.copy_from_slice(&sums[at..at + len]);
                    }
                }
                (Slot::Field { grad: Some(g), .. }, GradValue::Field(v)) => {
                    for cell in 0..cells {
                        for a in 0..len {
                            v[cell * len + a] = fields[(g + a) * cells + cell];
                        }
                    }
                }
                (slot, _) => unreachable!("accumulator entry for {slot:?}"),
            }
        }
        Ok(acc.into_gradients(self.bound.op.name))
    }
}
