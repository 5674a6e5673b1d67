//! The user-facing simulation: a grid, a bound step, a precision and a backend; forward
//! runs and gradients of a loss through every step.
//!
//! A simulation is a thin facade over a backend session (`crate::backend`): the state
//! lives in the backend's memory (the GPU's, with CUDA) from the first `set_populations`
//! to the last call, and the host sees a copy only when it asks for one.

use std::path::Path;

use rayon::prelude::*;

use crate::backend::cpu::CpuEngine;
use crate::backend::host::{
    check_representable, check_storable, StateLayout, StateReal, Transfers,
};
use crate::backend::plan::Limits;
use crate::backend::split::SplitEngine;
use crate::backend::{GradientRequest, Resident, Session};
use crate::bind::{Bound, Objective, Source, Step};
use crate::checkpoint::Checkpointing;
use crate::devices::{Devices, DEVICES_ENV};
use crate::error::{LbmError, Result};
use crate::gradients::Gradients;
use crate::grid::Grid;
use crate::ops;
use crate::progress::ProgressObserver;
use crate::real::Precision;
use crate::state_file;
use crate::storage::Storage;
use crate::streaming::Streaming;

/// Where kernels run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The Rust forms of the operators, parallel over cells.
    Cpu,
    /// Generated CUDA C compiled by NVRTC, on one GPU.
    Cuda,
    /// The CPU backend with the grid split into this many slabs ("virtual devices") that
    /// exchange halos as GPUs of a split simulation do: the multi-GPU code path, on any
    /// machine. Results equal [`Backend::Cpu`]'s (populations bit for bit).
    CpuSplit(usize),
    /// One simulation split over several GPUs of this host, one slab of the grid per
    /// device (the lowest ordinal holds the lowest layers), exchanging halos through NCCL.
    MultiGpu(Devices),
}

/// The environment variable splitting a CPU simulation into virtual devices.
pub const CPU_PARTS_ENV: &str = "LBM_CPU_PARTS";

impl Backend {
    /// The backend named by `LBM_BACKEND` (`cpu` or `cuda`), or CUDA when a GPU is usable
    /// and the CPU otherwise, saying why through the `log` crate at `info` level (a build
    /// without the `cuda` feature always picks the CPU). On the GPU, `LBM_CUDA_DEVICES`
    /// listing several devices (`0,1`) splits each simulation over them; on the CPU,
    /// `LBM_CPU_PARTS=n` splits it into `n` virtual devices.
    pub fn from_env() -> Result<Backend> {
        match std::env::var("LBM_BACKEND").ok().as_deref() {
            Some("cpu") => cpu_from_env(),
            Some("cuda") => {
                crate::cuda::check_available()?;
                cuda_from_env()
            }
            Some(other) => Err(LbmError::BackendUnavailable(format!(
                "LBM_BACKEND={other} is not a backend: use `cpu` or `cuda`"
            ))),
            None => match crate::cuda::check_available() {
                Ok(()) => cuda_from_env(),
                Err(why) => {
                    // A notice, not a warning: a machine without a GPU (or a CPU-only
                    // build) is a normal place to run, but the user should learn why
                    // the GPU they may expect is not used.
                    log::info!("running on the CPU ({why})");
                    cpu_from_env()
                }
            },
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
            Backend::CpuSplit(_) => "cpu-split",
            Backend::MultiGpu(_) => "multi-gpu",
        }
    }

    /// Whether kernels run on GPUs.
    pub fn is_gpu(self) -> bool {
        matches!(self, Backend::Cuda | Backend::MultiGpu(_))
    }
}

/// The CPU backend, split when `LBM_CPU_PARTS` asks for several parts.
fn cpu_from_env() -> Result<Backend> {
    match std::env::var(CPU_PARTS_ENV).ok().as_deref() {
        None | Some("1") => Ok(Backend::Cpu),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n >= 2 => Ok(Backend::CpuSplit(n)),
            _ => Err(LbmError::BackendUnavailable(format!(
                "{CPU_PARTS_ENV}={text} is not a number of parts (1 or more)"
            ))),
        },
    }
}

/// The CUDA backend, split when `LBM_CUDA_DEVICES` lists several devices.
fn cuda_from_env() -> Result<Backend> {
    let Ok(list) = std::env::var(DEVICES_ENV) else {
        return Ok(Backend::Cuda);
    };
    let devices = Devices::parse(&list)?;
    if devices.len() == 1 {
        return Err(LbmError::BackendUnavailable(format!(
            "{DEVICES_ENV}={list} lists one device: choose a single GPU with \
             LBM_CUDA_DEVICE={list}, and list several to split a simulation over them"
        )));
    }
    Ok(Backend::MultiGpu(devices))
}

/// Precision of the backward sweep of an `f32` simulation.
///
/// The adjoint of a step reads the forward state's linearisation; near `omega = 2` the
/// step is close to a reflection and `f32` adjoints lose digits over many steps. `F64`
/// keeps the forward in `f32` (the same states bit for bit) and runs the adjoint in `f64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdjointPrecision {
    /// The adjoint in the forward's precision.
    Same,
    /// The adjoint in `f64`, whatever the forward's precision.
    F64,
}

/// A simulation ready to run: populations on a grid advanced by a bound step.
///
/// The populations live in the backend's memory between calls: `run` and `gradient` start
/// from them without copies, `set_uniform` and its siblings change parameters in place
/// (kernels are rebuilt only when a parameter changes kind, e.g. uniform to per-cell), and
/// [`Simulation::populations`] copies the state out when asked.
///
/// ```
/// use lbm_runtime::{ops, Backend, Grid, LatticeKind, Precision, Simulation, Step};
/// let grid = Grid::new_2d(LatticeKind::D2Q9, 16, 8).unwrap();
/// let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
/// let mut sim = Simulation::new(grid, &step, Precision::F64, Backend::Cpu).unwrap();
/// sim.set_equilibrium(&vec![1.0; 128], &vec![0.0; 256]).unwrap();
/// sim.run(10).unwrap();
/// let mass: f64 = sim.populations().unwrap().iter().sum();
/// assert!((mass - 128.0).abs() < 1e-9);
/// ```
pub struct Simulation {
    grid: Grid,
    /// The step as the caller bound it, so one parameter can be replaced.
    spec: Step,
    step: Bound,
    precision: Precision,
    backend: Backend,
    adjoint_precision: AdjointPrecision,
    storage: Storage,
    streaming: Streaming,
    session: Box<dyn Session>,
    time: usize,
    limits: Limits,
    progress: Option<ProgressObserver>,
}

/// The backend session for a simulation: buffers are in the adjoint's precision (an `f32`
/// run with an `f64` adjoint keeps `f32` values in `f64`), the forward computes in the
/// simulation's precision, and states are kept as `storage` says.
fn open_session(
    grid: &Grid,
    step: &Bound,
    backend: Backend,
    (precision, adjoint): (Precision, AdjointPrecision),
    (storage, streaming): (Storage, Streaming),
) -> Result<Box<dyn Session>> {
    check_storage(storage, precision, adjoint, backend)?;
    check_streaming(streaming, step, backend)?;
    let buffers = match (precision, adjoint) {
        (Precision::F32, AdjointPrecision::F64) => Precision::F64,
        (p, _) => p,
    };
    Ok(match (backend, buffers) {
        (Backend::Cpu, Precision::F64) => Box::new(Resident::new(CpuEngine::<f64>::new(
            grid, step, precision,
        )?)?),
        (Backend::Cpu, Precision::F32) => Box::new(Resident::new(
            CpuEngine::<f32>::new(grid, step, precision)?.with_storage(storage)?,
        )?),
        // The CPU steps two states whatever the streaming: the same numbers.
        (Backend::Cuda, buffers) => {
            crate::backend::cuda::session(grid, step, precision, (buffers, storage), streaming)?
        }
        (Backend::CpuSplit(parts), Precision::F64) => Box::new(Resident::new(split_cpu::<f64>(
            grid, step, precision, parts,
        )?)?),
        (Backend::CpuSplit(parts), Precision::F32) => Box::new(Resident::new(split_cpu::<f32>(
            grid, step, precision, parts,
        )?)?),
        (Backend::MultiGpu(devices), storage) => {
            crate::backend::cuda::split_session(grid, step, precision, storage, devices)?
        }
    })
}

/// Refuses a 16-bit storage that the other choices rule out.
fn check_storage(
    storage: Storage,
    precision: Precision,
    adjoint: AdjointPrecision,
    backend: Backend,
) -> Result<()> {
    if !storage.is_half() {
        return Ok(());
    }
    let why = if precision != Precision::F32 || adjoint != AdjointPrecision::Same {
        "computes in f32 with an f32 adjoint; choose Precision::F32 and AdjointPrecision::Same"
    } else if matches!(backend, Backend::CpuSplit(_) | Backend::MultiGpu(_)) {
        "is not available on a simulation split over several devices yet"
    } else {
        return Ok(());
    };
    Err(LbmError::BackendUnavailable(format!(
        "{storage} storage {why}"
    )))
}

/// Refuses in-place streaming where it cannot run: a step that reads slots other cells
/// write in place, or a split simulation.
fn check_streaming(streaming: Streaming, step: &Bound, backend: Backend) -> Result<()> {
    if streaming == Streaming::TwoStates {
        return Ok(());
    }
    if matches!(backend, Backend::CpuSplit(_) | Backend::MultiGpu(_)) {
        return Err(LbmError::BackendUnavailable(
            "in-place streaming is not available on a simulation split over several devices yet"
                .into(),
        ));
    }
    let clash = step.op.params.iter().zip(&step.sources).find(|(_, s)| {
        matches!(
            s,
            crate::bind::Source::Local | crate::bind::Source::Neighbor(_)
        )
    });
    match clash {
        None => Ok(()),
        Some((param, _)) => Err(LbmError::BadBinding {
            op: step.op.name,
            message: format!(
                "`{}` reads populations that other cells overwrite in place (its own before \
                 streaming, or a neighbour's); in-place streaming reads only pulled and far \
                 populations: use Streaming::TwoStates for this step",
                param.name
            ),
        }),
    }
}

/// The CPU backend over `parts` virtual devices.
fn split_cpu<R: crate::backend::cpu::CpuReal>(
    grid: &Grid,
    step: &Bound,
    compute: Precision,
    parts: usize,
) -> Result<SplitEngine<CpuEngine<R>>> {
    SplitEngine::new(grid, step, parts, |_, slab, bound, interior| {
        CpuEngine::new_part(slab, bound, compute, interior)
    })
}

impl Simulation {
    /// A simulation of `step` on `grid`, starting from zero populations. With CUDA, this
    /// builds (or loads from the cache) the forward kernel and allocates the state.
    pub fn new(
        grid: Grid,
        step: &Step,
        precision: Precision,
        backend: Backend,
    ) -> Result<Simulation> {
        let bound = step.bind(&grid)?;
        let adjoint_precision = AdjointPrecision::Same;
        let (storage, streaming) = (Storage::Compute, Streaming::TwoStates);
        let session = open_session(
            &grid,
            &bound,
            backend,
            (precision, adjoint_precision),
            (storage, streaming),
        )?;
        Ok(Simulation {
            grid,
            spec: step.clone(),
            step: bound,
            precision,
            backend,
            adjoint_precision,
            storage,
            streaming,
            session,
            time: 0,
            limits: Limits::default(),
            progress: None,
        })
    }

    /// Sets the precision of the backward sweep (see [`AdjointPrecision`]). An `f32`
    /// simulation with an `f64` adjoint keeps its (`f32`-valued) states in `f64`, so the
    /// session is rebuilt and the current populations carried over.
    pub fn with_adjoint_precision(self, precision: AdjointPrecision) -> Result<Simulation> {
        if precision == self.adjoint_precision {
            return Ok(self);
        }
        let states = (self.storage, self.streaming);
        self.reopen(precision, states)
    }

    /// Keeps the populations as `storage` (see [`Storage`]): 16-bit storage halves the
    /// memory of every state and snapshot and the bytes a step moves, and computes in
    /// `f32`. The session is rebuilt and the current populations carried over, rounded to
    /// the new storage.
    ///
    /// Errors unless the simulation computes in `f32` with an `f32` adjoint, on one device.
    /// The CPU backend gives the same numbers without the savings: it rounds `f32`
    /// populations as the storage would keep them.
    pub fn with_storage(self, storage: Storage) -> Result<Simulation> {
        if storage == self.storage {
            return Ok(self);
        }
        let (adjoint, streaming) = (self.adjoint_precision, self.streaming);
        self.reopen(adjoint, (storage, streaming))
    }

    /// How the populations are kept.
    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// Streams as `streaming` says (see [`Streaming`]): in place, a running simulation
    /// holds one state instead of two, with the same numbers. The session is rebuilt and
    /// the current populations carried over.
    ///
    /// Errors for a step that reads its own unstreamed populations (`#[local]`) or a
    /// neighbour's, which other cells overwrite in place, and on a split simulation. The
    /// CPU backend accepts it and steps two states, which gives the same numbers.
    pub fn with_streaming(self, streaming: Streaming) -> Result<Simulation> {
        if streaming == self.streaming {
            return Ok(self);
        }
        let (adjoint, storage) = (self.adjoint_precision, self.storage);
        self.reopen(adjoint, (storage, streaming))
    }

    /// How the step streams.
    pub fn streaming(&self) -> Streaming {
        self.streaming
    }

    /// The session rebuilt for a new adjoint precision, storage or streaming, with the
    /// current populations and time.
    fn reopen(
        mut self,
        adjoint: AdjointPrecision,
        (storage, streaming): (Storage, Streaming),
    ) -> Result<Simulation> {
        check_storage(storage, self.precision, adjoint, self.backend)?;
        check_streaming(streaming, &self.step, self.backend)?;
        let state = self.populations()?;
        check_storable(&self.grid, &state, storage)?;
        self.session = open_session(
            &self.grid,
            &self.step,
            self.backend,
            (self.precision, adjoint),
            (storage, streaming),
        )?;
        self.adjoint_precision = adjoint;
        self.storage = storage;
        self.streaming = streaming;
        let time = self.time;
        self.session.set_populations(&state)?;
        self.time = time;
        Ok(self)
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The precision of the forward steps.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Steps run since the populations were last set.
    pub fn time(&self) -> usize {
        self.time
    }

    /// A copy of the populations, `[cell * Q + i]`.
    pub fn populations(&self) -> Result<Vec<f64>> {
        self.populations_as(StateLayout::CellMajor)
    }

    /// A copy of the populations in the precision and layout asked for; an `f32`
    /// simulation copies `f32` out without widening.
    pub fn populations_as<T: StateReal>(&self, layout: StateLayout) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.session.populations(T::host_vec(&mut out), layout)?;
        Ok(out)
    }

    /// The density (one per cell) and velocity (`D` per cell) fields of the current state,
    /// computed on the host from a copy of the populations.
    pub fn macroscopic(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        macroscopic_fields(&self.grid, &self.populations()?)
    }

    /// Sets the populations, `[cell * Q + i]`, and the time to zero.
    pub fn set_populations(&mut self, f: &[f64]) -> Result<()> {
        self.upload(f)?;
        self.time = 0;
        Ok(())
    }

    fn upload(&mut self, f: &[f64]) -> Result<()> {
        check_representable(f, self.precision)?;
        check_storable(&self.grid, f, self.storage)?;
        self.session.set_populations(f)
    }

    /// Sets the populations to the equilibrium of a density field `rho` (one per cell) and
    /// a velocity field `u` (`D` per cell).
    pub fn set_equilibrium(&mut self, rho: &[f64], u: &[f64]) -> Result<()> {
        let f = equilibrium_state(&self.grid, rho, u)?;
        self.set_populations(&f)
    }

    /// State copies between the host and the backend since the simulation was made: none
    /// happen between steps, only when populations are set or asked for.
    pub fn transfers(&self) -> Transfers {
        self.session.transfers()
    }

    /// Runs `steps` steps; a state that stops being finite is an error naming the first
    /// step and cell where it happened (the populations are then those of the last
    /// step run).
    pub fn run(&mut self, steps: usize) -> Result<()> {
        self.check_steps(steps)?;
        self.session.run(self.time, steps, self.progress.as_ref())?;
        self.time += steps;
        Ok(())
    }

    fn check_steps(&self, steps: usize) -> Result<()> {
        let end = self.time.checked_add(steps).ok_or(LbmError::StepOverflow {
            time: self.time,
            steps,
        })?;
        if let Some(covered) = self.step.steps_covered() {
            if end > covered {
                return Err(LbmError::BadBinding {
                    op: self.step.op.name,
                    message: format!(
                        "a per-step parameter has values for {covered} steps; the run needs {end}"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The loss `objective` over the next `steps` steps from the current populations, and
    /// its gradient with respect to those populations and every bound parameter. The
    /// populations and the time are left as they were.
    ///
    /// The step's per-step parameters are read at the simulation's time (a gradient after
    /// `run(100)` starts at row 100); the objective's evaluation steps count from the
    /// gradient's start.
    pub fn gradient(
        &mut self,
        objective: &Objective,
        steps: usize,
        checkpointing: Checkpointing,
    ) -> Result<Gradients> {
        self.backward(objective, steps, checkpointing, true)
    }

    /// [`Simulation::gradient`] without the gradient with respect to the populations
    /// (`Gradients::initial` is empty): what an optimisation of parameters needs, without
    /// copying a state-sized gradient to the host on every call.
    pub fn parameter_gradient(
        &mut self,
        objective: &Objective,
        steps: usize,
        checkpointing: Checkpointing,
    ) -> Result<Gradients> {
        self.backward(objective, steps, checkpointing, false)
    }

    fn backward(
        &mut self,
        objective: &Objective,
        steps: usize,
        checkpointing: Checkpointing,
        initial: bool,
    ) -> Result<Gradients> {
        self.check_steps(steps)?;
        let objective = objective.bind(&self.grid, steps)?;
        self.session.gradient(&GradientRequest {
            t0: self.time,
            objective: &objective,
            steps,
            checkpointing,
            initial,
            limits: self.limits,
            progress: self.progress.as_ref(),
        })
    }

    /// Saves the populations and the time to `path` (see [`crate::state_file`]
    /// for the format). The file is complete or absent: it is written under a temporary
    /// name and renamed.
    pub fn save_state(&self, path: impl AsRef<Path>) -> Result<()> {
        let populations = self.populations()?;
        state_file::write(
            path.as_ref(),
            &self.grid,
            self.time,
            self.precision,
            &populations,
        )
    }

    /// Sets the populations and the time from a file written by [`Simulation::save_state`]
    /// for a simulation on the same grid (lattice, dimensions and solid cells are checked;
    /// parameters are the program's). The state is unchanged if the file is refused.
    pub fn load_state(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let saved = state_file::read(path)?;
        saved.check_fits(path, &self.grid)?;
        self.upload(&saved.populations)?;
        self.time = saved.header.time;
        Ok(())
    }

    /// Installs (or, with `None`, removes) an observer told every few dozen steps how far
    /// `run` and the gradients have come: what a progress bar over a long sweep needs.
    pub fn set_progress(&mut self, observer: Option<ProgressObserver>) {
        self.progress = observer;
    }

    /// Caps the memory a gradient may allocate (besides the simulation's own state) at
    /// `bytes`, below what the backend has free; `None` removes the cap. A schedule that
    /// does not fit is refused before anything is allocated, naming what would fit.
    pub fn set_memory_limit(&mut self, bytes: Option<usize>) {
        self.limits.memory = bytes;
    }

    /// Refuses schedules that run more than `factor` forward steps per simulated step
    /// (recomputation included); 10 by default.
    pub fn set_recompute_limit(&mut self, factor: f64) -> Result<()> {
        if factor.is_nan() || factor < 1.0 {
            return Err(LbmError::Checkpoint(format!(
                "a recompute limit of {factor} is below one forward step per step"
            )));
        }
        self.limits.recompute = factor;
        Ok(())
    }

    /// Binds the step's parameter `name` to `source`, replacing its value; checked like
    /// the original binding, and kept if the check fails.
    pub fn set_parameter(&mut self, name: &str, source: Source) -> Result<()> {
        let spec = self.spec.rebound(name, source);
        let bound = spec.bind(&self.grid)?;
        check_streaming(self.streaming, &bound, self.backend)?;
        self.session.rebind_step(&bound)?;
        self.spec = spec;
        self.step = bound;
        Ok(())
    }

    /// Sets a real parameter to one value for every cell (see [`Step::uniform`]).
    pub fn set_uniform(&mut self, name: &str, value: impl Into<Vec<f64>>) -> Result<()> {
        self.set_parameter(name, Source::Uniform(value.into()))
    }

    /// Sets a real parameter to a value per step (see [`Step::per_step`]).
    pub fn set_per_step(&mut self, name: &str, values: Vec<Vec<f64>>) -> Result<()> {
        self.set_parameter(name, Source::PerStep(values))
    }

    /// Sets a real parameter to a per-cell field (see [`Step::field`]).
    pub fn set_field(&mut self, name: &str, values: Vec<f64>) -> Result<()> {
        self.set_parameter(name, Source::Field(values))
    }

    /// Sets an integer parameter to one value for every cell (see [`Step::int`]).
    pub fn set_int(&mut self, name: &str, value: i64) -> Result<()> {
        self.set_parameter(name, Source::Int(value))
    }

    /// Sets an integer parameter to a value per cell (see [`Step::int_field`]).
    pub fn set_int_field(&mut self, name: &str, values: Vec<i64>) -> Result<()> {
        self.set_parameter(name, Source::IntField(values))
    }
}

/// The equilibrium populations of density and velocity fields, `[cell * Q + i]`.
pub fn equilibrium_state(grid: &Grid, rho: &[f64], u: &[f64]) -> Result<Vec<f64>> {
    let (n, d, q) = (grid.cells(), grid.lattice().d(), grid.lattice().q());
    check_fields(grid, &[("rho", rho, 1), ("u", u, d)])?;
    let forward = ops::equilibrium::INFO.cpu.f64(grid.lattice()).forward;
    let mut f = vec![0.0; n * q];
    f.par_chunks_mut(q).enumerate().for_each_init(
        || vec![0.0; 1 + d],
        |reals, (cell, f)| {
            reals[0] = rho[cell];
            reals[1..].copy_from_slice(&u[cell * d..cell * d + d]);
            forward(reals, &[], f);
        },
    );
    Ok(f)
}

/// Checks per-cell fields given as `(name, values, values per cell)`: lengths and finiteness.
fn check_fields(grid: &Grid, fields: &[(&str, &[f64], usize)]) -> Result<()> {
    for &(what, v, per_cell) in fields {
        let expected = grid.cells() * per_cell;
        if v.len() != expected {
            return Err(LbmError::ShapeMismatch {
                what: what.into(),
                got: v.len(),
                expected,
                why: format!("{per_cell} per cell"),
            });
        }
        crate::error::check_finite(what, v)?;
    }
    Ok(())
}

/// The density (one per cell) and velocity (`D` per cell) fields of populations
/// `[cell * Q + i]`: the moments `rho = sum_i f_i`, `u = sum_i f_i c_i / rho`.
pub fn macroscopic_fields(grid: &Grid, f: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, d, q) = (grid.cells(), grid.lattice().d(), grid.lattice().q());
    crate::backend::host::check_state(f, n * q)?;
    let forward = ops::density_velocity::INFO.cpu.f64(grid.lattice()).forward;
    let (mut rho, mut u) = (vec![0.0; n], vec![0.0; n * d]);
    let mut out = vec![0.0; 1 + d];
    for cell in 0..n {
        forward(&f[cell * q..cell * q + q], &[], &mut out);
        rho[cell] = out[0];
        u[cell * d..cell * d + d].copy_from_slice(&out[1..]);
    }
    Ok((rho, u))
}

/// Gradients with respect to the density and velocity fields an initial equilibrium was
/// built from, given the gradient with respect to its populations.
pub fn equilibrium_gradient(
    grid: &Grid,
    rho: &[f64],
    u: &[f64],
    d_populations: &[f64],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, d, q) = (grid.cells(), grid.lattice().d(), grid.lattice().q());
    check_fields(
        grid,
        &[
            ("rho", rho, 1),
            ("u", u, d),
            ("d_populations", d_populations, q),
        ],
    )?;
    let adjoint = ops::equilibrium::INFO.cpu.f64(grid.lattice()).adjoint;
    let mut bars = vec![0.0; n * (1 + d)];
    bars.par_chunks_mut(1 + d).enumerate().for_each_init(
        || vec![0.0; 1 + d],
        |reals, (cell, bar)| {
            reals[0] = rho[cell];
            reals[1..].copy_from_slice(&u[cell * d..cell * d + d]);
            adjoint(reals, &[], &d_populations[cell * q..cell * q + q], bar);
        },
    );
    let d_rho = bars.iter().step_by(1 + d).copied().collect();
    let d_u = bars
        .chunks(1 + d)
        .flat_map(|b| b[1..].iter().copied())
        .collect();
    Ok((d_rho, d_u))
}
