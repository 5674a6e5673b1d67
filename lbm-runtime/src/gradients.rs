//! What a backward run returns: the loss, the gradient with respect to the initial
//! populations and to every differentiable parameter, and what the run cost.

use crate::bind::{Bound, Source};
use crate::grid::Grid;

/// Gradient of the loss with respect to one parameter, in the shape it was bound with.
#[derive(Clone, Debug, PartialEq)]
pub enum GradValue {
    /// A uniform parameter: summed over cells and steps.
    Uniform(Vec<f64>),
    /// A parameter bound per step: one gradient per step.
    PerStep(Vec<Vec<f64>>),
    /// A per-cell field: one gradient per cell, `[cell * len + k]`.
    Field(Vec<f64>),
}

impl GradValue {
    /// The values, flattened (per-step gradients step after step).
    pub fn flat(&self) -> Vec<f64> {
        match self {
            GradValue::Uniform(v) | GradValue::Field(v) => v.clone(),
            GradValue::PerStep(v) => v.concat(),
        }
    }
}

/// Gradient of the loss with respect to a named parameter of the step or objective.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamGradient {
    /// The operator the parameter belongs to.
    pub op: &'static str,
    /// The parameter.
    pub name: &'static str,
    /// The gradient.
    pub value: GradValue,
}

/// What checkpointing cost in a backward run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// Steps of the simulation.
    pub steps: usize,
    /// Forward steps run in all, the first sweep included.
    pub forward_steps: usize,
    /// Most states (populations of the whole grid) held at once.
    pub peak_states: usize,
    /// Most snapshots held in host memory at once (spilled by a budget).
    pub peak_host_states: usize,
    /// Most snapshots held on disk at once (spilled by a budget).
    pub peak_disk_states: usize,
    /// Bytes of one state.
    pub state_bytes: usize,
}

impl RunReport {
    /// Forward steps run per simulated step: 1 for store-all, more when recomputing.
    pub fn recompute_factor(&self) -> f64 {
        self.forward_steps as f64 / self.steps.max(1) as f64
    }

    /// Peak bytes of states held at once.
    pub fn peak_bytes(&self) -> usize {
        self.peak_states * self.state_bytes
    }
}

/// The result of a backward run.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    /// The loss.
    pub loss: f64,
    /// Gradient with respect to the initial populations, `[cell * Q + i]`.
    pub initial: Vec<f64>,
    /// Gradients with respect to the differentiable parameters of the step and the
    /// objective that were bound to values.
    pub params: Vec<ParamGradient>,
    /// Cost of the run.
    pub report: RunReport,
}

impl Gradients {
    /// The gradient of a parameter by name (step parameters first, then objective ones).
    pub fn param(&self, name: &str) -> Option<&GradValue> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }
}

/// Accumulates parameter gradients of one bound operator over a run.
#[derive(Clone, Debug)]
pub(crate) struct ParamAccumulator {
    pub entries: Vec<(usize, &'static str, GradValue)>,
}

impl ParamAccumulator {
    /// Zero gradients for every differentiable parameter bound to a value.
    pub fn new(bound: &Bound, grid: &Grid) -> Self {
        let entries = bound
            .op
            .params
            .iter()
            .zip(&bound.sources)
            .enumerate()
            .filter(|(_, (p, _))| p.kind.is_differentiable())
            .filter_map(|(k, (p, s))| {
                let len = p.shape.len(grid.lattice());
                let value = match s {
                    Source::Uniform(_) => GradValue::Uniform(vec![0.0; len]),
                    Source::PerStep(v) => GradValue::PerStep(vec![vec![0.0; len]; v.len()]),
                    Source::Field(_) => GradValue::Field(vec![0.0; len * grid.cells()]),
                    _ => return None,
                };
                Some((k, p.name, value))
            })
            .collect();
        ParamAccumulator { entries }
    }

    pub fn into_gradients(self, op: &'static str) -> Vec<ParamGradient> {
        self.entries
            .into_iter()
            .map(|(_, name, value)| ParamGradient { op, name, value })
            .collect()
    }
}
