//! Binding an operator's parameters to values: the populations a cell gathers, uniform
//! parameters, per-cell fields, cell tags. A [`Step`] binds the per-cell step operator, an
//! [`Objective`] the operator whose sum over cells (and chosen steps) is the loss.
//!
//! Parameters whose signature declares a role (`#[populations]`, `#[local]`, `#[far]`,
//! `#[links]`: see [`ParamRole`]) bind themselves; every other parameter is bound by name.
//! Binding checks shapes, finiteness and the ranges operators declare
//! ([`OperatorInfo::range_of`]) up front.

use crate::error::{check_finite, LbmError, Result};
use crate::grid::Grid;
use crate::operator::{OperatorInfo, ParamInfo, ParamKind, ParamRole, Range, Shape};

/// Where a parameter's value comes from, for each cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The populations streamed into the cell: `f(x - c_i, i)`.
    Pulled,
    /// The cell's own populations, as the previous step left them.
    Local,
    /// `f(x + c_i, OPP[i])`: the next cell away from a wall along each link.
    Far,
    /// The populations of the cell at `x + offset`, as the previous step left them (the
    /// interior neighbour an outflow boundary extrapolates from).
    Neighbor([i32; 3]),
    /// Bit `i` set when the cell direction `i` streams from is solid.
    Links,
    /// One value (of the parameter's shape) for every cell and step.
    Uniform(Vec<f64>),
    /// One value per step: `values[t]` at step `t`.
    PerStep(Vec<Vec<f64>>),
    /// One value per cell: `values[cell * len + k]`.
    Field(Vec<f64>),
    /// One integer for every cell.
    Int(i64),
    /// One integer per cell (cell tags, masks).
    IntField(Vec<i64>),
}

impl Source {
    fn describe(&self) -> &'static str {
        match self {
            Source::Pulled => "the streamed populations",
            Source::Local => "the cell's own populations",
            Source::Far => "the far-neighbour populations",
            Source::Neighbor(_) => "a neighbour's populations",
            Source::Links => "the link mask",
            Source::Uniform(_) => "a uniform value",
            Source::PerStep(_) => "a value per step",
            Source::Field(_) => "a per-cell field",
            Source::Int(_) => "an integer",
            Source::IntField(_) => "an integer per cell",
        }
    }

    /// Whether the value is gathered from the populations (and so part of the state).
    pub fn is_population(&self) -> bool {
        matches!(
            self,
            Source::Pulled | Source::Local | Source::Far | Source::Neighbor(_)
        )
    }
}

/// An operator with every parameter bound, checked against a grid.
#[derive(Clone, Debug)]
pub struct Bound {
    /// The operator.
    pub op: &'static OperatorInfo,
    /// One source per parameter, in declaration order.
    pub sources: Vec<Source>,
}

impl Bound {
    /// Offsets of the real-valued parameters in the flat real buffer (`None` for integers).
    pub fn real_offsets(&self, grid: &Grid) -> Vec<Option<usize>> {
        let mut at = 0;
        self.op
            .params
            .iter()
            .map(|p| {
                p.kind.is_real().then(|| {
                    let o = at;
                    at += p.shape.len(grid.lattice());
                    o
                })
            })
            .collect()
    }

    /// Whether any parameter reads the given population source.
    pub fn reads(&self, source: &Source) -> bool {
        self.sources.contains(source)
    }

    /// Number of steps a per-step binding covers, if any (the run may not be longer).
    pub fn steps_covered(&self) -> Option<usize> {
        self.sources
            .iter()
            .filter_map(|s| match s {
                Source::PerStep(v) => Some(v.len()),
                _ => None,
            })
            .min()
    }
}

/// Parameters bound by name, before checking.
#[derive(Clone, Debug)]
struct Bindings {
    op: &'static OperatorInfo,
    given: Vec<(String, Source)>,
}

impl Bindings {
    fn set(&mut self, name: &str, source: Source) {
        self.given.push((name.to_string(), source));
    }

    /// Binds `name` to `source`, replacing an earlier binding of it.
    fn replace(&mut self, name: &str, source: Source) {
        match self.given.iter_mut().find(|(n, _)| n == name) {
            Some((_, s)) => *s = source,
            None => self.set(name, source),
        }
    }

    fn bind(&self, grid: &Grid, default_f: Source) -> Result<Bound> {
        let op = self.op;
        for (i, (name, _)) in self.given.iter().enumerate() {
            if !op.params.iter().any(|p| p.name == name) {
                let names: Vec<&str> = op.params.iter().map(|p| p.name).collect();
                return Err(LbmError::BadBinding {
                    op: op.name,
                    message: format!(
                        "it has no parameter `{name}` (its parameters: {})",
                        names.join(", ")
                    ),
                });
            }
            if self.given[..i].iter().any(|(n, _)| n == name) {
                return Err(LbmError::BadBinding {
                    op: op.name,
                    message: format!("parameter `{name}` is bound twice"),
                });
            }
        }
        let mut sources = Vec::new();
        for (index, p) in op.params.iter().enumerate() {
            let given = self
                .given
                .iter()
                .find(|(n, _)| n == p.name)
                .map(|(_, s)| s.clone());
            let source = match (given, p.role) {
                (Some(s), _) => s,
                (None, ParamRole::Populations) => default_f.clone(),
                (None, ParamRole::Local) => Source::Local,
                (None, ParamRole::Far) => Source::Far,
                (None, ParamRole::Links) => Source::Links,
                (None, ParamRole::Named) => {
                    let hint = match p.kind {
                        ParamKind::Int | ParamKind::Bool => {
                            format!(".int(\"{}\", value) or .int_field(...)", p.name)
                        }
                        ParamKind::Param => format!(".uniform(\"{}\", value)", p.name),
                        _ if p.shape == Shape::Q => format!(
                            ".field(\"{0}\", ...) or .source(\"{0}\", ...), or declare its \
                             role in the operator (`#[populations]`, `#[local]`, `#[far]`)",
                            p.name
                        ),
                        _ => format!(".uniform(\"{0}\", ...) or .field(\"{0}\", ...)", p.name),
                    };
                    return Err(LbmError::Unbound {
                        op: op.name,
                        param: p.name,
                        hint: format!("bind it with {hint}"),
                    });
                }
            };
            check_source(op, p, op.range_of(index), &source, grid)?;
            sources.push(source);
        }
        Ok(Bound { op, sources })
    }
}

fn check_source(
    op: &'static OperatorInfo,
    param: &ParamInfo,
    range: Option<Range>,
    source: &Source,
    grid: &Grid,
) -> Result<()> {
    let (name, kind, shape) = (param.name, param.kind, param.shape);
    let lattice = grid.lattice();
    let len = shape.len(lattice);
    let bad = |why: String| LbmError::BadBinding {
        op: op.name,
        message: format!(
            "parameter `{name}` ({}) cannot take {}: {why}",
            shape.rust_type(),
            source.describe()
        ),
    };
    let length = |what: String, got: usize, expected: usize, why: String| {
        if got == expected {
            Ok(())
        } else {
            Err(LbmError::ShapeMismatch {
                what,
                got,
                expected,
                why,
            })
        }
    };
    let in_range = |values: &[f64]| -> Result<()> {
        let Some(range) = range else {
            return Ok(());
        };
        match values.iter().find(|v| !range.contains(**v)) {
            Some(&value) => Err(LbmError::OutOfRange {
                op: op.name,
                name: name.to_string(),
                value,
                range,
            }),
            None => Ok(()),
        }
    };
    let what = format!("{}.{name}", op.name);
    match source {
        Source::Pulled | Source::Local | Source::Far | Source::Neighbor(_) => {
            if !kind.is_real() || shape != Shape::Q {
                return Err(bad("populations go to `[Real; Q]` parameters".into()));
            }
        }
        Source::Links | Source::Int(_) | Source::IntField(_) => {
            if kind.is_real() {
                return Err(bad("integers go to integer parameters".into()));
            }
            if let Source::IntField(v) = source {
                length(what, v.len(), grid.cells(), "one per cell".into())?;
            }
        }
        Source::Uniform(_) | Source::PerStep(_) | Source::Field(_) => {
            if !kind.is_real() {
                return Err(bad("reals go to real parameters".into()));
            }
            let per_value = format!("the length of {} on {lattice}", shape.rust_type());
            let values: Vec<(String, &[f64], usize, String)> = match source {
                Source::Uniform(v) => vec![(what.clone(), v, len, per_value)],
                Source::PerStep(steps) => steps
                    .iter()
                    .enumerate()
                    .map(|(t, v)| (format!("{what}[step {t}]"), &v[..], len, per_value.clone()))
                    .collect(),
                Source::Field(v) => {
                    let why = format!("{len} per cell, {} cells", grid.cells());
                    vec![(what.clone(), v, grid.cells() * len, why)]
                }
                _ => unreachable!("matched above"),
            };
            for (what, v, expected, why) in values {
                length(what.clone(), v.len(), expected, why)?;
                check_finite(&what, v)?;
                in_range(v)?;
            }
        }
    }
    Ok(())
}

macro_rules! binding_methods {
    () => {
        /// Binds a real parameter to one value for every cell (a scalar is a one-element slice).
        pub fn uniform(mut self, name: &str, value: impl Into<Vec<f64>>) -> Self {
            self.bindings.set(name, Source::Uniform(value.into()));
            self
        }

        /// Binds a real parameter to a value per step (`values[t]` at step `t`), such as an
        /// inlet velocity varying in time; its gradient comes per step too.
        pub fn per_step(mut self, name: &str, values: Vec<Vec<f64>>) -> Self {
            self.bindings.set(name, Source::PerStep(values));
            self
        }

        /// Binds a real parameter to a per-cell field, `values[cell * len + k]`.
        pub fn field(mut self, name: &str, values: Vec<f64>) -> Self {
            self.bindings.set(name, Source::Field(values));
            self
        }

        /// Binds an integer or boolean parameter to one value for every cell.
        pub fn int(mut self, name: &str, value: i64) -> Self {
            self.bindings.set(name, Source::Int(value));
            self
        }

        /// Binds an integer or boolean parameter to a value per cell (cell tags).
        pub fn int_field(mut self, name: &str, values: Vec<i64>) -> Self {
            self.bindings.set(name, Source::IntField(values));
            self
        }

        /// Binds a parameter to an explicit source.
        pub fn source(mut self, name: &str, source: Source) -> Self {
            self.bindings.set(name, source);
            self
        }
    };
}

/// The per-cell step: an operator returning the cell's new populations, `[Real; Q]`.
///
/// ```
/// use lbm_runtime::{ops, Grid, LatticeKind, Step};
/// let grid = Grid::new_2d(LatticeKind::D2Q9, 8, 8).unwrap();
/// let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.8]).bind(&grid).unwrap();
/// assert_eq!(step.op.name, "bgk");
/// ```
#[derive(Clone, Debug)]
pub struct Step {
    bindings: Bindings,
}

impl Step {
    /// A step running `op`, whose parameter `f` receives the streamed populations.
    pub fn new(op: &'static OperatorInfo) -> Step {
        Step {
            bindings: Bindings {
                op,
                given: Vec::new(),
            },
        }
    }

    binding_methods!();

    /// The step with `name` bound to `source`, replacing an earlier binding of it (how a
    /// simulation updates one parameter).
    pub fn rebound(&self, name: &str, source: Source) -> Step {
        let mut step = self.clone();
        step.bindings.replace(name, source);
        step
    }

    /// Checks every binding against the grid.
    pub fn bind(&self, grid: &Grid) -> Result<Bound> {
        let op = self.bindings.op;
        if op.outputs != [Shape::Q] {
            return Err(LbmError::BadBinding {
                op: op.name,
                message: "a step returns the cell's new populations, `[Real; Q]`".into(),
            });
        }
        let bound = self.bindings.bind(grid, Source::Pulled)?;
        if !bound.reads(&Source::Pulled) {
            return Err(LbmError::BadBinding {
                op: op.name,
                message: "a step streams: one `[Real; Q]` parameter (named `f`, or bound with \
                          .source(name, Source::Pulled)) receives the streamed populations"
                    .into(),
            });
        }
        Ok(bound)
    }
}

/// A loss term: an operator summed over all cells at chosen steps.
#[derive(Clone, Debug)]
pub struct Objective {
    bindings: Bindings,
    steps: Option<Vec<usize>>,
    weights: Option<Vec<f64>>,
}

impl Objective {
    /// The objective `op`, whose parameter `f` receives each cell's populations; by
    /// default evaluated after the last step.
    pub fn new(op: &'static OperatorInfo) -> Objective {
        Objective {
            bindings: Bindings {
                op,
                given: Vec::new(),
            },
            steps: None,
            weights: None,
        }
    }

    binding_methods!();

    /// Evaluates the objective on the states after these steps (0 is the initial state)
    /// and sums them.
    pub fn at_steps(mut self, steps: impl Into<Vec<usize>>) -> Self {
        self.steps = Some(steps.into());
        self
    }

    /// Weights of the operator's outputs in the loss (needed when it has several values,
    /// such as a force vector; the default weighs a single output by one).
    pub fn weights(mut self, weights: impl Into<Vec<f64>>) -> Self {
        self.weights = Some(weights.into());
        self
    }

    /// Checks the bindings against the grid for a run of `steps` steps.
    pub fn bind(&self, grid: &Grid, steps: usize) -> Result<BoundObjective> {
        let op = self.bindings.op;
        let bound = self.bindings.bind(grid, Source::Local)?;
        if bound
            .sources
            .iter()
            .any(|s| matches!(s, Source::Pulled | Source::Far | Source::Neighbor(_)))
        {
            return Err(LbmError::BadBinding {
                op: op.name,
                message: "an objective reads each cell's own populations (`f`), not streamed ones"
                    .into(),
            });
        }
        let outputs = op.outputs_len(grid.lattice());
        let weights = match &self.weights {
            Some(w) => {
                if w.len() != outputs {
                    return Err(LbmError::ShapeMismatch {
                        what: format!("weights of objective `{}`", op.name),
                        got: w.len(),
                        expected: outputs,
                        why: "one per output value".into(),
                    });
                }
                check_finite("objective weights", w)?;
                w.clone()
            }
            None if outputs == 1 => vec![1.0],
            None => {
                return Err(LbmError::BadBinding {
                    op: op.name,
                    message: format!(
                        "it has {outputs} output values: give their weights with .weights(...)"
                    ),
                })
            }
        };
        let at = self.steps.clone().unwrap_or_else(|| vec![steps]);
        if let Some(&t) = at.iter().find(|&&t| t > steps) {
            return Err(LbmError::BadBinding {
                op: op.name,
                message: format!("evaluated at step {t}, but the run has {steps} steps"),
            });
        }
        Ok(BoundObjective { bound, at, weights })
    }
}

/// A checked objective.
#[derive(Clone, Debug)]
pub struct BoundObjective {
    /// The operator and its sources.
    pub bound: Bound,
    /// Steps after which it is evaluated.
    pub at: Vec<usize>,
    /// Weights of its outputs.
    pub weights: Vec<f64>,
}

impl BoundObjective {
    /// How many times the objective counts at step `t`.
    pub fn multiplicity(&self, t: usize) -> usize {
        self.at.iter().filter(|&&s| s == t).count()
    }
}
