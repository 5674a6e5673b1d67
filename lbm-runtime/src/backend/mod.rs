//! Backends behind a [`Simulation`](crate::Simulation): what each must provide, and the
//! one run loop and one gradient driver that every backend shares.
//!
//! - `Engine` is the interface a backend implements: its own state type (host vectors
//!   on the CPU, device buffers on the GPU), upload and download of a state, the forward
//!   and adjoint steps, the loss and its seed, parameter updates and parameter gradients.
//!   It extends `Stepper`, the part that the checkpointing driver needs.
//! - `Resident` holds an engine and its current state for a simulation's whole life, and
//!   runs the loop, the gradient (over `checkpoint::backward`) and the
//!   divergence policy the same way for every engine. `Session` is its object-safe face,
//!   so the simulation holds any backend at any precision as one boxed value.
//! - `cpu` and `cuda` are the two engines; `host` the layouts and conversions of states
//!   on the host.
//!
//! Nothing here assumes one device: an engine's state may be split however the engine
//! likes, as long as upload and download speak whole-grid host layouts.

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
#[cfg(feature = "cuda")]
pub(crate) mod in_place;
// Without the `cuda` feature, a stand-in whose `session` refuses with the reason.
#[cfg(not(feature = "cuda"))]
#[path = "cuda_stub.rs"]
pub(crate) mod cuda;
pub(crate) mod divergence;
pub mod host;
pub mod plan;
pub(crate) mod split;

use rayon::prelude::*;

use crate::bind::{Bound, BoundObjective};
use crate::checkpoint::{backward, Checkpointing, Stepper};
use crate::error::LbmError;
use crate::error::Result;
use crate::gradients::{Gradients, ParamGradient};
use crate::progress::{Meter, ProgressObserver, Sweep};
use divergence::divergence_check_due;
use host::{HostVec, StateLayout, Transfers};
use plan::{plan, Limits};

/// What a backward run is asked for.
pub(crate) struct GradientRequest<'a> {
    /// The simulation's time at the run's first step.
    pub t0: usize,
    /// The loss.
    pub objective: &'a BoundObjective,
    /// Steps of the run.
    pub steps: usize,
    /// The schedule asked for (resolved against memory by [`plan()`](plan::plan)).
    pub checkpointing: Checkpointing,
    /// Whether the gradient with respect to the initial state is copied out.
    pub initial: bool,
    /// Memory and recomputation limits.
    pub limits: Limits,
    /// Who is told how far the run has come.
    pub progress: Option<&'a ProgressObserver>,
}

/// What a backend implements beyond the checkpointing driver's [`Stepper`].
pub(crate) trait Engine: Stepper {
    /// Populations `[cell * Q + i]` into `dst`, rounded as the engine's forward computes.
    fn upload(&mut self, f: &[f64], dst: &mut Self::State) -> Result<()>;
    /// A state into a host buffer of the caller's precision and layout.
    fn download(&self, s: &Self::State, out: HostVec<'_>, layout: StateLayout) -> Result<()>;
    /// An adjoint state into a host buffer of the caller's precision and layout.
    fn download_adjoint(
        &self,
        s: &Self::Adjoint,
        out: HostVec<'_>,
        layout: StateLayout,
    ) -> Result<()>;
    /// The step with new parameter values (same operator); kernels are rebuilt only when
    /// the new binding changes how parameters are laid out.
    fn rebind_step(&mut self, step: &Bound) -> Result<()>;
    /// Readies a backward run of `objective`: adjoint kernels, the objective's inputs,
    /// parameter gradients set to zero.
    fn prepare_gradient(&mut self, objective: &BoundObjective) -> Result<()>;
    /// The parameter gradients accumulated since [`Engine::prepare_gradient`], step
    /// operator first.
    fn take_gradients(&mut self) -> Result<Vec<ParamGradient>>;
    /// Forgets a recorded divergence (a new state was set).
    fn reset_divergence(&mut self) -> Result<()>;
    /// State copies between host and engine so far.
    fn transfers(&self) -> Transfers;
    /// Bytes the engine's memory (the device's, on a GPU) can still give to new states,
    /// when known.
    fn memory_available(&self) -> Result<Option<usize>>;
    /// Bytes a backward run allocates besides its states.
    fn gradient_scratch_bytes(&self) -> usize;
    /// Whether a step can update a state in place ([`Engine::forward_in_place`]), so a
    /// running simulation needs no second state.
    fn steps_in_place(&self) -> bool {
        false
    }
    /// One step forward of `s` (the state after `t` steps), in place. Only engines that
    /// [`Engine::steps_in_place`] have it.
    fn forward_in_place(&mut self, t: usize, s: &mut Self::State) -> Result<()> {
        let _ = (t, s);
        Err(LbmError::BackendUnavailable(
            "this engine steps from one state into another, not in place".into(),
        ))
    }
}

/// A simulation's backend with its state, at any precision: what [`Simulation`] holds.
///
/// [`Simulation`]: crate::Simulation
pub(crate) trait Session: Send {
    /// Runs `steps` steps, the first being step `t0`, telling `progress` as it goes.
    fn run(&mut self, t0: usize, steps: usize, progress: Option<&ProgressObserver>) -> Result<()>;
    /// The loss and gradients of a run from the current state, which is left as it was.
    /// Without `request.initial`, the gradient with respect to the initial state stays in
    /// the backend (and `Gradients::initial` is empty).
    fn gradient(&mut self, request: &GradientRequest<'_>) -> Result<Gradients>;
    /// Sets the state from populations `[cell * Q + i]`.
    fn set_populations(&mut self, f: &[f64]) -> Result<()>;
    /// Copies the state into `out`.
    fn populations(&self, out: HostVec<'_>, layout: StateLayout) -> Result<()>;
    /// See [`Engine::rebind_step`].
    fn rebind_step(&mut self, step: &Bound) -> Result<()>;
    /// See [`Engine::transfers`].
    fn transfers(&self) -> Transfers;
}

/// An engine, its current state and a scratch state of the same size.
pub(crate) struct Resident<E: Engine> {
    engine: E,
    state: E::State,
    /// The state a step writes before the swap; released while a gradient runs, so the
    /// gradient's budget is all the memory it takes beyond the state. Engines that step
    /// in place have none.
    scratch: Option<E::State>,
}

impl<E: Engine> Resident<E> {
    /// An engine holding a zero state.
    pub fn new(mut engine: E) -> Result<Self> {
        let state = engine.alloc()?;
        let scratch = if engine.steps_in_place() {
            None
        } else {
            Some(engine.alloc_scratch()?)
        };
        Ok(Resident {
            engine,
            state,
            scratch,
        })
    }
}

impl<E: Engine + Send> Session for Resident<E>
where
    E::State: Send,
{
    fn run(&mut self, t0: usize, steps: usize, progress: Option<&ProgressObserver>) -> Result<()> {
        if self.engine.steps_in_place() {
            return self.run_in_place(t0, steps, progress);
        }
        let mut scratch = match self.scratch.take() {
            Some(s) => s,
            None => self.engine.alloc_scratch()?,
        };
        let mut meter = Meter::new(progress, Sweep::Run, steps as u64, 0);
        let mut result = Ok(());
        for k in 0..steps {
            result = self.engine.forward(t0 + k, &self.state, &mut scratch);
            if result.is_err() {
                break;
            }
            meter.forward();
            std::mem::swap(&mut self.state, &mut scratch);
            if divergence_check_due(k + 1, steps) {
                result = self.engine.check_divergence();
                if result.is_err() {
                    break;
                }
            }
        }
        self.scratch = Some(scratch);
        result
    }

    fn gradient(&mut self, request: &GradientRequest<'_>) -> Result<Gradients> {
        let steps = request.steps;
        let strategy = plan(
            request.checkpointing,
            steps,
            self.engine.state_bytes(),
            crate::checkpoint::adjoint_excess(&self.engine),
            self.engine.gradient_scratch_bytes(),
            self.engine.memory_available()?,
            request.limits,
        )?;
        // `plan` returns a resolved schedule, so its cost is known without resolving again.
        let forward_total = strategy.forward_steps(steps);
        self.engine.prepare_gradient(request.objective)?;
        // The run's working states replace the scratch state while it lasts.
        self.scratch = None;
        let mut window = Window {
            engine: &mut self.engine,
            t0: request.t0,
            meter: Meter::new(
                request.progress,
                Sweep::Gradient,
                u64::try_from(forward_total).unwrap_or(u64::MAX),
                steps as u64,
            ),
        };
        let (loss, lambda, report) = backward(&mut window, &self.state, steps, strategy)?;
        let mut initial = Vec::new();
        if request.initial {
            self.engine.download_adjoint(
                &lambda,
                HostVec::F64(&mut initial),
                StateLayout::CellMajor,
            )?;
        }
        let gradients = Gradients {
            loss,
            initial,
            params: self.engine.take_gradients()?,
            report,
        };
        check_results(&gradients)?;
        Ok(gradients)
    }

    fn set_populations(&mut self, f: &[f64]) -> Result<()> {
        self.engine.upload(f, &mut self.state)?;
        self.engine.reset_divergence()
    }

    fn populations(&self, out: HostVec<'_>, layout: StateLayout) -> Result<()> {
        self.engine.download(&self.state, out, layout)
    }

    fn rebind_step(&mut self, step: &Bound) -> Result<()> {
        self.engine.rebind_step(step)
    }

    fn transfers(&self) -> Transfers {
        self.engine.transfers()
    }
}

impl<E: Engine> Resident<E> {
    /// [`Session::run`] for an engine that steps its one state in place.
    fn run_in_place(
        &mut self,
        t0: usize,
        steps: usize,
        progress: Option<&ProgressObserver>,
    ) -> Result<()> {
        let mut meter = Meter::new(progress, Sweep::Run, steps as u64, 0);
        for k in 0..steps {
            self.engine.forward_in_place(t0 + k, &mut self.state)?;
            meter.forward();
            if divergence_check_due(k + 1, steps) {
                self.engine.check_divergence()?;
            }
        }
        Ok(())
    }
}

/// An engine seen from a backward run that starts at simulation time `t0`: the step's
/// indices (per-step parameters, their gradients, divergence records) are the simulation's
/// times; the objective's (its evaluation steps, its own per-step values) count from the
/// run's start.
struct Window<'a, E> {
    engine: &'a mut E,
    t0: usize,
    meter: Meter<'a>,
}

impl<E: Engine> Stepper for Window<'_, E> {
    type State = E::State;
    type Adjoint = E::Adjoint;
    type Host = E::Host;

    fn alloc(&mut self) -> Result<E::State> {
        self.engine.alloc()
    }

    fn alloc_scratch(&mut self) -> Result<E::State> {
        self.engine.alloc_scratch()
    }

    fn alloc_adjoint(&mut self) -> Result<E::Adjoint> {
        self.engine.alloc_adjoint()
    }

    fn copy(&mut self, src: &E::State, dst: &mut E::State) -> Result<()> {
        self.engine.copy(src, dst)
    }

    fn forward(&mut self, t: usize, s: &E::State, out: &mut E::State) -> Result<()> {
        self.engine.forward(self.t0 + t, s, out)?;
        self.meter.forward();
        Ok(())
    }

    fn adjoint(
        &mut self,
        t: usize,
        s: &E::State,
        lambda_out: &E::Adjoint,
        lambda_in: &mut E::Adjoint,
    ) -> Result<()> {
        self.engine.adjoint(self.t0 + t, s, lambda_out, lambda_in)?;
        self.meter.adjoint();
        Ok(())
    }

    fn loss(&mut self, t: usize, s: &E::State) -> Result<f64> {
        self.engine.loss(t, s)
    }

    fn seed(&mut self, t: usize, s: &E::State, lambda: &mut E::Adjoint) -> Result<()> {
        self.engine.seed(t, s, lambda)
    }

    fn check_divergence(&mut self) -> Result<()> {
        self.engine.check_divergence()
    }

    fn state_bytes(&self) -> usize {
        self.engine.state_bytes()
    }

    fn adjoint_bytes(&self) -> usize {
        self.engine.adjoint_bytes()
    }

    fn offload(&mut self, s: &E::State) -> Result<E::Host> {
        self.engine.offload(s)
    }

    fn reload(&mut self, h: &E::Host, dst: &mut E::State) -> Result<()> {
        self.engine.reload(h, dst)
    }
}

/// A loss or gradient that is not finite although every state was: an objective weight or
/// value that overflows, an operator whose derivative is infinite where it was evaluated.
fn check_results(g: &Gradients) -> Result<()> {
    let hint = "every state was finite, so look at the objective's weights and values, or at \
                an operator whose derivative is infinite there (a square root or logarithm at 0)";
    let bad = |what: String, value: f64| LbmError::NonFiniteResult {
        what,
        value,
        hint: hint.into(),
    };
    if !g.loss.is_finite() {
        return Err(bad("the loss".into(), g.loss));
    }
    // A state-sized scan: in parallel, so it costs a fraction of the copy before it.
    if let Some(v) = g.initial.par_iter().find_any(|v| !v.is_finite()) {
        return Err(bad(
            "the gradient with respect to the initial populations".into(),
            *v,
        ));
    }
    for p in &g.params {
        if let Some(v) = p.value.flat().into_iter().find(|v| !v.is_finite()) {
            return Err(bad(
                format!("the gradient with respect to `{}.{}`", p.op, p.name),
                v,
            ));
        }
    }
    Ok(())
}
