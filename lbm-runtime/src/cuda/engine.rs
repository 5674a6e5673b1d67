//! One simulation on the GPU: its kernels, their launches, and the [`Stepper`] the
//! backward driver runs on.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, PushKernelArg};

use super::buffers::{download, function, launch_config, upload, zeros, GpuReal, OpBuffers};
use super::cache::module;
use super::driver::{cuda_err, Device};
use super::layout::{unit_speeds, Layout, Slot};
use super::skeleton::{adjoint_module, forward_module, names, objective_module};
use super::tune::{tuned, Kernel, Role};
use crate::bind::{Bound, BoundObjective};
use crate::checkpoint::Stepper;
use crate::error::{LbmError, Result};
use crate::gradients::ParamGradient;
use crate::grid::Grid;
use crate::real::Precision;

/// How often (in steps) a forward run reads the divergence flag back; a diverging run is
/// still reported at the exact first step, since the flag records it.
pub(crate) const CHECK_EVERY: usize = 32;

/// The flag value meaning "every population is finite so far".
const FINITE: u64 = u64::MAX;

/// The step's kernels and buffers.
struct StepKernels<R> {
    buf: OpBuffers<R>,
    fwd: Kernel,
    /// The adjoint, when gradients were asked for.
    adjoint: Option<AdjointKernels<R>>,
}

/// The adjoint kernels of a step.
struct AdjointKernels<R> {
    adj: Kernel,
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
    /// The output weights, for the loss.
    weights: CudaSlice<f64>,
    /// The output adjoints (weights times multiplicity) of the current seed.
    obar: CudaSlice<R>,
    /// Per-block partial losses.
    part: CudaSlice<f64>,
}

/// Which kernels an engine builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The forward step only.
    Forward,
    /// The forward step and its adjoint, in the engine's precision.
    Gradient,
    /// An `f32` forward step on the engine's (`f64`) states, which hold `f32` values, and
    /// the adjoint in the engine's precision.
    MixedGradient,
}

/// A simulation on the GPU: a grid, a bound step and optionally an objective.
pub(crate) struct Engine<R: GpuReal> {
    stream: Arc<CudaStream>,
    grid: Grid,
    dims: [u32; 3],
    cells: usize,
    q: usize,
    links: CudaSlice<u32>,
    /// `(step << 32) | cell` of the first non-finite population, or [`FINITE`].
    flag: CudaSlice<u64>,
    /// A one-element buffer standing in for absent optional buffers.
    dummy: CudaSlice<R>,
    step: StepKernels<R>,
    objective: Option<ObjectiveKernels<R>>,
    /// The last forward step run, for the divergence checks of a backward run.
    last_step: Option<usize>,
    /// Steps of the backward run (its last forward step is always checked).
    run_steps: usize,
}

impl<R: GpuReal> Engine<R> {
    /// Builds (or loads) the kernels of `step` that `mode` needs and those of `objective`,
    /// and uploads their inputs.
    pub fn new(
        dev: &'static Device,
        grid: &Grid,
        step: &Bound,
        objective: Option<&BoundObjective>,
        mode: Mode,
    ) -> Result<Self> {
        let lattice = grid.lattice();
        if !unit_speeds(lattice) {
            return Err(LbmError::BackendUnavailable(format!(
                "the CUDA kernels need lattice speeds of at most one cell; {lattice} has more"
            )));
        }
        let precision = R::PRECISION;
        let stream = dev.stream.clone();
        let [nx, ny, nz] = grid.dims();
        let cells = grid.cells();
        let q = lattice.q();

        let layout = Layout::new(step, grid);
        let compute = match mode {
            Mode::MixedGradient => Precision::F32,
            Mode::Forward | Mode::Gradient => precision,
        };
        let fwd = tuned(dev, names::STEP_FWD, Role::Forward, |m| {
            Ok(forward_module(
                step.op, &layout, lattice, compute, precision, m,
            )?)
        })?;
        let (adjoint, reduce) = if mode != Mode::Forward {
            let adj = tuned(dev, names::STEP_ADJ, Role::Adjoint, |m| {
                Ok(adjoint_module(step.op, &layout, lattice, precision, m)?)
            })?;
            let sides = layout.side_reads().len();
            let side = if sides > 0 {
                Some((
                    zeros(&stream, sides * q * cells)?,
                    function(&adj.module, names::STEP_SIDE)?,
                ))
            } else {
                None
            };
            let reduce = function(&adj.module, names::REDUCE)?;
            (Some(AdjointKernels { adj, side }), Some(reduce))
        } else {
            (None, None)
        };
        let step_kernels = StepKernels {
            buf: OpBuffers::new(&stream, step, grid, reduce)?,
            fwd,
            adjoint,
        };

        let objective = match objective {
            None => None,
            Some(obj) => {
                let layout = Layout::new(&obj.bound, grid);
                if layout.step_len > 0 {
                    if let Some(&t) = obj.at.iter().find(|&&t| t >= layout.step_rows) {
                        return Err(LbmError::BadBinding {
                            op: obj.bound.op.name,
                            message: format!(
                                "evaluated after step {t}, but a per-step parameter has \
                                 values for {} steps",
                                layout.step_rows
                            ),
                        });
                    }
                }
                let m = module(
                    dev,
                    &objective_module(obj.bound.op, &layout, lattice, precision)?,
                )?;
                let outputs = obj.weights.len();
                Some(ObjectiveKernels {
                    buf: OpBuffers::new(
                        &stream,
                        &obj.bound,
                        grid,
                        Some(function(&m, names::REDUCE)?),
                    )?,
                    objective: obj.clone(),
                    loss: function(&m, names::OBJ_LOSS)?,
                    seed: function(&m, names::OBJ_SEED)?,
                    weights: upload(&stream, &obj.weights)?,
                    obar: zeros(&stream, outputs)?,
                    part: zeros(&stream, launch_config(cells).grid_dim.0 as usize)?,
                })
            }
        };

        let reads_links = step_kernels.buf.layout.reads(&Slot::Links)
            || objective
                .as_ref()
                .is_some_and(|o| o.buf.layout.reads(&Slot::Links));
        let links: Vec<u32> = if reads_links {
            (0..cells).map(|c| grid.links(c) as u32).collect()
        } else {
            Vec::new()
        };
        Ok(Engine {
            links: upload(&stream, &links)?,
            flag: upload(&stream, &[FINITE])?,
            dummy: zeros(&stream, 1)?,
            dims: [nx as u32, ny as u32, nz as u32],
            grid: grid.clone(),
            cells,
            q,
            step: step_kernels,
            objective,
            stream,
            last_step: None,
            run_steps: 0,
        })
    }

    fn blocks(&self) -> u32 {
        launch_config(self.cells).grid_dim.0
    }

    /// Uploads a state given cell-major (`[cell * Q + i]`), as the kernels' structure of
    /// arrays (`[i * cells + cell]`).
    pub fn upload_state(&self, f: &[f64]) -> Result<CudaSlice<R>> {
        let (q, n) = (self.q, self.cells);
        let mut soa = vec![R::default(); q * n];
        for cell in 0..n {
            for i in 0..q {
                soa[i * n + cell] = R::from_f64(f[cell * q + i]);
            }
        }
        upload(&self.stream, &soa)
    }

    /// Downloads a state, cell-major.
    pub fn download_state(&self, s: &CudaSlice<R>) -> Result<Vec<f64>> {
        let (q, n) = (self.q, self.cells);
        let soa = download(&self.stream, s)?;
        let mut f = vec![0.0; q * n];
        for cell in 0..n {
            for i in 0..q {
                f[cell * q + i] = soa[i * n + cell].to_f64();
            }
        }
        Ok(f)
    }

    /// Sets how many steps the backward run has, so its last forward step is checked.
    pub fn set_run_steps(&mut self, steps: usize) {
        self.run_steps = steps;
    }

    /// Errors with the first non-finite population recorded by the forward kernel.
    pub fn check_flag(&self) -> Result<()> {
        let flag = download(&self.stream, &self.flag)?[0];
        if flag == FINITE {
            return Ok(());
        }
        Err(LbmError::Diverged {
            step: (flag >> 32) as usize,
            cell: (flag & 0xffff_ffff) as usize,
        })
    }

    /// One forward step (step index `t`) from `s` into `out`.
    pub fn forward_step(&self, t: usize, s: &CudaSlice<R>, out: &mut CudaSlice<R>) -> Result<()> {
        let [nx, ny, nz] = self.dims;
        let t = step_index(t)?;
        let mut b = self.stream.launch_builder(&self.step.fwd.function);
        b.arg(s).arg(&*out);
        self.step.buf.push_inputs(&mut b, &self.links);
        b.arg(&nx).arg(&ny).arg(&nz).arg(&t).arg(&self.flag);
        // SAFETY: the arguments match `lbm_k_step_fwd`'s parameters in order and type;
        // `s` and `out` hold Q * cells reals, and the input buffers were sized by the
        // layout the kernel text was generated from.
        unsafe { b.launch(launch_config(self.cells)) }
            .map_err(cuda_err("launching the forward step"))?;
        Ok(())
    }

    /// The adjoint of step `t`: `lambda_in` from the state `s` before it and `lambda_out`;
    /// parameter gradients accumulate on the device.
    pub fn adjoint_step(
        &self,
        t: usize,
        s: &CudaSlice<R>,
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
        let side = adj.side.as_ref().map_or(&self.dummy, |(s, _)| s);
        let mut b = self.stream.launch_builder(&adj.adj.function);
        b.arg(s).arg(lambda_out).arg(&*lambda_in).arg(side);
        st.buf.push_inputs(&mut b, &self.links);
        b.arg(&st.buf.gfields)
            .arg(&st.buf.part)
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
        st.buf.reduce(&self.stream, self.blocks(), t)
    }

    /// The objective's value on `s`, the state after `t` steps.
    fn objective_loss(&self, t: usize, s: &CudaSlice<R>) -> Result<f64> {
        let Some(o) = &self.objective else {
            return Ok(0.0);
        };
        let times = o.objective.multiplicity(t);
        if times == 0 {
            return Ok(0.0);
        }
        let [nx, ny, nz] = self.dims;
        let ti = step_index(t)?;
        let mut b = self.stream.launch_builder(&o.loss);
        b.arg(s);
        o.buf.push_inputs(&mut b, &self.links);
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
    fn objective_seed(&mut self, t: usize, s: &CudaSlice<R>, lambda: &CudaSlice<R>) -> Result<()> {
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
        let [nx, ny, nz] = self.dims;
        let ti = step_index(t)?;
        let mut b = self.stream.launch_builder(&o.seed);
        b.arg(s).arg(lambda).arg(&o.obar);
        o.buf.push_inputs(&mut b, &self.links);
        b.arg(&o.buf.gfields)
            .arg(&o.buf.part)
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
    pub fn param_gradients(&self) -> Result<Vec<ParamGradient>> {
        let mut out = self.step.buf.gradients(&self.stream, &self.grid)?;
        if let Some(o) = &self.objective {
            out.extend(o.buf.gradients(&self.stream, &self.grid)?);
        }
        Ok(out)
    }

    /// The step's kernels: `(name, min blocks, registers, local bytes)`.
    pub fn kernels(&self) -> Vec<(&'static str, u32, u32, u32)> {
        let k = |name, k: &Kernel| (name, k.min_blocks, k.registers, k.local_bytes);
        let mut out = vec![k(names::STEP_FWD, &self.step.fwd)];
        if let Some(a) = &self.step.adjoint {
            out.push(k(names::STEP_ADJ, &a.adj));
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

impl<R: GpuReal> Stepper for Engine<R> {
    type State = CudaSlice<R>;

    fn alloc(&mut self) -> Result<CudaSlice<R>> {
        self.stream
            .alloc_zeros::<R>(self.q * self.cells)
            .map_err(cuda_err("allocating a state on the GPU"))
    }

    fn copy(&mut self, src: &CudaSlice<R>, dst: &mut CudaSlice<R>) -> Result<()> {
        self.stream
            .memcpy_dtod(src, dst)
            .map_err(cuda_err("copying a state on the GPU"))
    }

    fn forward(&mut self, t: usize, s: &CudaSlice<R>, out: &mut CudaSlice<R>) -> Result<()> {
        self.forward_step(t, s, out)?;
        self.last_step = Some(t);
        Ok(())
    }

    fn adjoint(
        &mut self,
        t: usize,
        s: &CudaSlice<R>,
        lambda_out: &CudaSlice<R>,
        lambda_in: &mut CudaSlice<R>,
    ) -> Result<()> {
        self.adjoint_step(t, s, lambda_out, lambda_in)
    }

    fn loss(&mut self, t: usize, s: &CudaSlice<R>) -> Result<f64> {
        self.objective_loss(t, s)
    }

    fn seed(&mut self, t: usize, s: &CudaSlice<R>, lambda: &mut CudaSlice<R>) -> Result<()> {
        self.objective_seed(t, s, lambda)
    }

    /// The forward kernel records divergence itself; this reads the record every
    /// [`CHECK_EVERY`] steps and after the run's last step, and reports the exact first
    /// step and cell as [`LbmError::Diverged`].
    fn first_non_finite(&mut self, _s: &CudaSlice<R>) -> Result<Option<usize>> {
        if let Some(t) = self.last_step {
            if (t + 1) % CHECK_EVERY == 0 || t + 1 >= self.run_steps {
                self.check_flag()?;
            }
        }
        Ok(None)
    }

    fn state_bytes(&self) -> usize {
        self.q * self.cells * std::mem::size_of::<R>()
    }

    type Host = Vec<R>;

    fn offload(&mut self, s: &CudaSlice<R>) -> Result<Vec<R>> {
        self.stream
            .clone_dtoh(s)
            .map_err(cuda_err("copying a snapshot to host memory"))
    }

    fn reload(&mut self, h: &Vec<R>, dst: &mut CudaSlice<R>) -> Result<()> {
        self.stream
            .memcpy_htod(h, dst)
            .map_err(cuda_err("copying a snapshot back to the GPU"))
    }
}
