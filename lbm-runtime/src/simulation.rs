//! The user-facing simulation: a grid, a bound step, a precision and a backend; forward
//! runs and gradients of a loss through every step.

use crate::bind::{Bound, Objective, Step};
use crate::checkpoint::{backward, Checkpointing, Stepper};
use crate::cpu::{first_non_finite, state_from_f64, CpuEngine, CpuReal};
use crate::error::{LbmError, Result};
use crate::gradients::Gradients;
use crate::grid::Grid;
use crate::ops;
use crate::real::Precision;

/// Where kernels run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The Rust forms of the operators, parallel over cells.
    Cpu,
    /// Generated CUDA C compiled by NVRTC.
    Cuda,
}

impl Backend {
    /// The backend named by `LBM_BACKEND` (`cpu` or `cuda`), or CUDA when a GPU is usable
    /// and the CPU otherwise (with a one-line notice on standard error).
    pub fn from_env() -> Result<Backend> {
        match std::env::var("LBM_BACKEND").ok().as_deref() {
            Some("cpu") => Ok(Backend::Cpu),
            Some("cuda") => {
                crate::cuda::check_available()?;
                Ok(Backend::Cuda)
            }
            Some(other) => Err(LbmError::BackendUnavailable(format!(
                "LBM_BACKEND={other} is not a backend: use `cpu` or `cuda`"
            ))),
            None => match crate::cuda::check_available() {
                Ok(()) => Ok(Backend::Cuda),
                Err(why) => {
                    eprintln!("note: running on the CPU ({why})");
                    Ok(Backend::Cpu)
                }
            },
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }
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
/// ```
/// use lbm_runtime::{ops, Backend, Grid, LatticeKind, Precision, Simulation, Step};
/// let grid = Grid::new_2d(LatticeKind::D2Q9, 16, 8).unwrap();
/// let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
/// let mut sim = Simulation::new(grid, &step, Precision::F64, Backend::Cpu).unwrap();
/// sim.set_equilibrium(&vec![1.0; 128], &vec![0.0; 256]).unwrap();
/// sim.run(10).unwrap();
/// let mass: f64 = sim.populations().iter().sum();
/// assert!((mass - 128.0).abs() < 1e-9);
/// ```
pub struct Simulation {
    grid: Grid,
    step: Bound,
    precision: Precision,
    backend: Backend,
    populations: Vec<f64>,
    time: usize,
    adjoint_precision: AdjointPrecision,
}

impl Simulation {
    /// A simulation of `step` on `grid`, starting from zero populations.
    pub fn new(
        grid: Grid,
        step: &Step,
        precision: Precision,
        backend: Backend,
    ) -> Result<Simulation> {
        let step = step.bind(&grid)?;
        if backend == Backend::Cuda {
            crate::cuda::check_available()?;
        }
        let n = grid.cells() * grid.lattice().q();
        Ok(Simulation {
            grid,
            step,
            precision,
            backend,
            populations: vec![0.0; n],
            time: 0,
            adjoint_precision: AdjointPrecision::Same,
        })
    }

    /// Sets the precision of the backward sweep (see [`AdjointPrecision`]).
    pub fn with_adjoint_precision(mut self, precision: AdjointPrecision) -> Simulation {
        self.adjoint_precision = precision;
        self
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Steps run since the populations were last set.
    pub fn time(&self) -> usize {
        self.time
    }

    /// The populations, `[cell * Q + i]`.
    pub fn populations(&self) -> &[f64] {
        &self.populations
    }

    /// Sets the populations, `[cell * Q + i]`.
    pub fn set_populations(&mut self, f: &[f64]) -> Result<()> {
        let expected = self.populations.len();
        let f: Vec<f64> = state_from_f64("populations", f, expected)?;
        self.populations = f;
        self.time = 0;
        Ok(())
    }

    /// Sets the populations to the equilibrium of a density field `rho` (one per cell) and
    /// a velocity field `u` (`D` per cell).
    pub fn set_equilibrium(&mut self, rho: &[f64], u: &[f64]) -> Result<()> {
        let f = equilibrium_state(&self.grid, rho, u)?;
        self.set_populations(&f)
    }

    /// Runs `steps` steps; a state that stops being finite is an error naming the step.
    pub fn run(&mut self, steps: usize) -> Result<()> {
        self.check_steps(steps)?;
        let f = match (self.backend, self.precision) {
            (Backend::Cpu, Precision::F64) => {
                run_cpu::<f64>(&self.grid, &self.step, &self.populations, self.time, steps)?
            }
            (Backend::Cpu, Precision::F32) => {
                run_cpu::<f32>(&self.grid, &self.step, &self.populations, self.time, steps)?
            }
            (Backend::Cuda, p) => crate::cuda::run(
                &self.grid,
                &self.step,
                p,
                &self.populations,
                self.time,
                steps,
            )?,
        };
        self.populations = f;
        self.time += steps;
        Ok(())
    }

    fn check_steps(&self, steps: usize) -> Result<()> {
        if let Some(covered) = self.step.steps_covered() {
            if self.time + steps > covered {
                return Err(LbmError::BadBinding {
                    op: self.step.op.name,
                    message: format!(
                        "a per-step parameter has values for {covered} steps; the run needs {}",
                        self.time + steps
                    ),
                });
            }
        }
        Ok(())
    }

    /// The loss `objective` over `steps` steps from the current populations, and its
    /// gradient with respect to those populations and every bound parameter.
    pub fn gradient(
        &self,
        objective: &Objective,
        steps: usize,
        checkpointing: Checkpointing,
    ) -> Result<Gradients> {
        if self.time != 0 {
            return Err(LbmError::BadBinding {
                op: self.step.op.name,
                message: "gradients start from the populations last set; set them again first"
                    .into(),
            });
        }
        self.check_steps(steps)?;
        let objective = objective.bind(&self.grid, steps)?;
        match (self.backend, self.precision) {
            (Backend::Cpu, Precision::F64) => {
                let mut engine = CpuEngine::<f64>::new(&self.grid, &self.step, Some(&objective));
                gradient_cpu(&mut engine, &self.populations, steps, checkpointing)
            }
            (Backend::Cpu, Precision::F32) if self.adjoint_precision == AdjointPrecision::F64 => {
                let mut engine = MixedCpu::new(&self.grid, &self.step, &objective);
                gradient_mixed(&mut engine, &self.populations, steps, checkpointing)
            }
            (Backend::Cpu, Precision::F32) => {
                let mut engine = CpuEngine::<f32>::new(&self.grid, &self.step, Some(&objective));
                gradient_cpu(&mut engine, &self.populations, steps, checkpointing)
            }
            (Backend::Cuda, Precision::F32) if self.adjoint_precision == AdjointPrecision::F64 => {
                crate::cuda::gradient_mixed(
                    &self.grid,
                    &self.step,
                    &objective,
                    &self.populations,
                    steps,
                    checkpointing,
                )
            }
            (Backend::Cuda, p) => crate::cuda::gradient(
                &self.grid,
                &self.step,
                &objective,
                p,
                &self.populations,
                steps,
                checkpointing,
            ),
        }
    }
}

/// The equilibrium populations of density and velocity fields, `[cell * Q + i]`.
pub fn equilibrium_state(grid: &Grid, rho: &[f64], u: &[f64]) -> Result<Vec<f64>> {
    let (n, d, q) = (grid.cells(), grid.lattice().d(), grid.lattice().q());
    let fields = [
        ("rho", rho, n, "one per cell"),
        ("u", u, n * d, "D per cell"),
    ];
    for (what, v, expected, why) in fields {
        if v.len() != expected {
            return Err(LbmError::ShapeMismatch {
                what: what.into(),
                got: v.len(),
                expected,
                why: why.into(),
            });
        }
        crate::error::check_finite(what, v)?;
    }
    let forward = ops::equilibrium::INFO.cpu.f64(grid.lattice()).forward;
    let mut f = vec![0.0; n * q];
    let mut reals = vec![0.0; 1 + d];
    for cell in 0..n {
        reals[0] = rho[cell];
        reals[1..].copy_from_slice(&u[cell * d..cell * d + d]);
        forward(&reals, &[], &mut f[cell * q..cell * q + q]);
    }
    Ok(f)
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
    equilibrium_state(grid, rho, u)?;
    let adjoint = ops::equilibrium::INFO.cpu.f64(grid.lattice()).adjoint;
    let (mut d_rho, mut d_u) = (vec![0.0; n], vec![0.0; n * d]);
    let mut reals = vec![0.0; 1 + d];
    let mut bar = vec![0.0; 1 + d];
    for cell in 0..n {
        reals[0] = rho[cell];
        reals[1..].copy_from_slice(&u[cell * d..cell * d + d]);
        bar.iter_mut().for_each(|b| *b = 0.0);
        adjoint(
            &reals,
            &[],
            &d_populations[cell * q..cell * q + q],
            &mut bar,
        );
        d_rho[cell] = bar[0];
        d_u[cell * d..cell * d + d].copy_from_slice(&bar[1..]);
    }
    Ok((d_rho, d_u))
}

fn run_cpu<R: CpuReal>(
    grid: &Grid,
    step: &Bound,
    f: &[f64],
    t0: usize,
    steps: usize,
) -> Result<Vec<f64>> {
    let engine = CpuEngine::<R>::new(grid, step, None);
    let q = grid.lattice().q();
    let mut cur: Vec<R> = f.iter().map(|v| R::from_f64(*v)).collect();
    let mut next = cur.clone();
    for t in t0..t0 + steps {
        engine.forward(t, &cur, &mut next);
        std::mem::swap(&mut cur, &mut next);
        if let Some(cell) = first_non_finite(&cur, q) {
            return Err(LbmError::Diverged { step: t + 1, cell });
        }
    }
    Ok(cur.iter().map(|v| v.to_f64()).collect())
}

impl<R: CpuReal> Stepper for CpuEngine<R> {
    type State = Vec<R>;

    fn alloc(&mut self) -> Result<Vec<R>> {
        Ok(vec![R::default(); self.topo.cells * self.topo.q])
    }

    fn copy(&mut self, src: &Vec<R>, dst: &mut Vec<R>) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }

    fn forward(&mut self, t: usize, s: &Vec<R>, out: &mut Vec<R>) -> Result<()> {
        CpuEngine::forward(self, t, s, out);
        Ok(())
    }

    fn adjoint(
        &mut self,
        t: usize,
        s: &Vec<R>,
        lambda_out: &Vec<R>,
        lambda_in: &mut Vec<R>,
    ) -> Result<()> {
        CpuEngine::adjoint(self, t, s, lambda_out, lambda_in);
        Ok(())
    }

    fn loss(&mut self, t: usize, s: &Vec<R>) -> Result<f64> {
        Ok(CpuEngine::loss(self, t, s))
    }

    fn seed(&mut self, t: usize, s: &Vec<R>, lambda: &mut Vec<R>) -> Result<()> {
        CpuEngine::seed(self, t, s, lambda);
        Ok(())
    }

    fn first_non_finite(&mut self, s: &Vec<R>) -> Result<Option<usize>> {
        Ok(first_non_finite(s, self.topo.q))
    }

    fn state_bytes(&self) -> usize {
        self.topo.cells * self.topo.q * std::mem::size_of::<R>()
    }

    type Host = Vec<R>;

    fn offload(&mut self, s: &Vec<R>) -> Result<Vec<R>> {
        Ok(s.clone())
    }

    fn reload(&mut self, h: &Vec<R>, dst: &mut Vec<R>) -> Result<()> {
        dst.copy_from_slice(h);
        Ok(())
    }
}

fn gradient_cpu<R: CpuReal>(
    engine: &mut CpuEngine<R>,
    initial: &[f64],
    steps: usize,
    checkpointing: Checkpointing,
) -> Result<Gradients> {
    let initial: Vec<R> = initial.iter().map(|v| R::from_f64(*v)).collect();
    let (loss, lambda, report) = backward(engine, &initial, steps, checkpointing)?;
    let params = take_params(engine);
    Ok(Gradients {
        loss,
        initial: lambda.iter().map(|v| v.to_f64()).collect(),
        params,
        report,
    })
}

/// An `f32` forward with an `f64` adjoint on the CPU. States are kept as `f64` holding
/// `f32` values, so every forward step sees exactly the `f32` run's state.
struct MixedCpu {
    forward: CpuEngine<f32>,
    adjoint: CpuEngine<f64>,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl MixedCpu {
    fn new(grid: &Grid, step: &Bound, objective: &crate::bind::BoundObjective) -> MixedCpu {
        let n = grid.cells() * grid.lattice().q();
        MixedCpu {
            forward: CpuEngine::new(grid, step, None),
            adjoint: CpuEngine::new(grid, step, Some(objective)),
            input: vec![0.0; n],
            output: vec![0.0; n],
        }
    }
}

impl Stepper for MixedCpu {
    type State = Vec<f64>;

    fn alloc(&mut self) -> Result<Vec<f64>> {
        self.adjoint.alloc()
    }

    fn copy(&mut self, src: &Vec<f64>, dst: &mut Vec<f64>) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }

    fn forward(&mut self, t: usize, s: &Vec<f64>, out: &mut Vec<f64>) -> Result<()> {
        self.input
            .iter_mut()
            .zip(s)
            .for_each(|(a, b)| *a = *b as f32);
        self.forward.forward(t, &self.input, &mut self.output);
        out.iter_mut()
            .zip(&self.output)
            .for_each(|(a, b)| *a = f64::from(*b));
        Ok(())
    }

    fn adjoint(
        &mut self,
        t: usize,
        s: &Vec<f64>,
        lambda_out: &Vec<f64>,
        lambda_in: &mut Vec<f64>,
    ) -> Result<()> {
        Stepper::adjoint(&mut self.adjoint, t, s, lambda_out, lambda_in)
    }

    fn loss(&mut self, t: usize, s: &Vec<f64>) -> Result<f64> {
        Stepper::loss(&mut self.adjoint, t, s)
    }

    fn seed(&mut self, t: usize, s: &Vec<f64>, lambda: &mut Vec<f64>) -> Result<()> {
        Stepper::seed(&mut self.adjoint, t, s, lambda)
    }

    fn first_non_finite(&mut self, s: &Vec<f64>) -> Result<Option<usize>> {
        Stepper::first_non_finite(&mut self.adjoint, s)
    }

    fn state_bytes(&self) -> usize {
        self.adjoint.state_bytes()
    }

    type Host = Vec<f64>;

    fn offload(&mut self, s: &Vec<f64>) -> Result<Vec<f64>> {
        Ok(s.clone())
    }

    fn reload(&mut self, h: &Vec<f64>, dst: &mut Vec<f64>) -> Result<()> {
        dst.copy_from_slice(h);
        Ok(())
    }
}

fn gradient_mixed(
    engine: &mut MixedCpu,
    initial: &[f64],
    steps: usize,
    checkpointing: Checkpointing,
) -> Result<Gradients> {
    // The initial state is rounded to f32 like every state of the f32 forward.
    let initial: Vec<f64> = initial.iter().map(|v| f64::from(*v as f32)).collect();
    let (loss, lambda, report) = backward(engine, &initial, steps, checkpointing)?;
    let params = take_params(&mut engine.adjoint);
    Ok(Gradients {
        loss,
        initial: lambda,
        params,
        report,
    })
}

/// The parameter gradients a CPU engine accumulated, step operator first.
fn take_params<R: CpuReal>(engine: &mut CpuEngine<R>) -> Vec<crate::gradients::ParamGradient> {
    let empty = crate::gradients::ParamAccumulator {
        entries: Vec::new(),
    };
    let step = std::mem::replace(&mut engine.step_grads, empty);
    let mut params = step.into_gradients(engine.step.bound.op.name);
    if let (Some(acc), Some((op, _))) = (engine.objective_grads.take(), &engine.objective) {
        params.extend(acc.into_gradients(op.bound.op.name));
    }
    params
}
