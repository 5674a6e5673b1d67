//! Metadata that every `#[operator]` exports, so the runtime and `cargo xtask codegen` can
//! assemble kernels and call the CPU forms without knowing the operator at compile time.
//!
//! # The calling conventions
//!
//! **C.** Every operator `name` becomes `lbm_<name>` (forward) and `lbm_<name>_adj`
//! (adjoint). Real-valued parameters, scalars included, are passed as `const real*`
//! (scalars point at one value); integer and boolean parameters as `int`. The forward then
//! takes one `real*` per output. The adjoint takes the same parameters, then one
//! `const real*` adjoint per output, then one `real*` accumulator per real-valued parameter,
//! to which it *adds* that parameter's adjoint. Each operator also defines
//! `LBM_LEN_<name>_<k>`, the number of reals of output `k`, so callers in C can declare
//! storage for results whose shape only the callee knows.
//!
//! **Flat Rust.** [`FlatForward`] and [`FlatAdjoint`] take every real-valued parameter
//! concatenated in declaration order, every integer/boolean parameter as `i64`, and every
//! output concatenated. The adjoint adds into `reals_bar`, laid out like `reals`.

use crate::lattice::LatticeKind;

/// How a parameter of an operator takes part in differentiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A differentiable per-cell value (populations, a velocity, a per-cell field).
    Field,
    /// A differentiable parameter uniform over the grid (`#[param]`); its gradient is the
    /// sum of the per-cell adjoints.
    Param,
    /// A real value that is not differentiated (`#[data]`): a target, a constant.
    Data,
    /// An integer: a cell tag, a direction, a mask. Never differentiated.
    Int,
    /// A boolean flag. Never differentiated.
    Bool,
}

impl ParamKind {
    /// Whether the value is real-valued (and so has a slot in the real buffers and the C
    /// pointers), whether or not it is differentiated.
    pub fn is_real(self) -> bool {
        matches!(self, ParamKind::Field | ParamKind::Param | ParamKind::Data)
    }

    /// Whether gradients flow to this parameter.
    pub fn is_differentiable(self) -> bool {
        matches!(self, ParamKind::Field | ParamKind::Param)
    }
}

/// Shape of a real-valued parameter or output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// One real.
    Scalar,
    /// One real per lattice direction (`[Real; Q]`).
    Q,
    /// One real per dimension (`[Real; D]`).
    D,
    /// A fixed number of reals (`[Real; 3]`).
    Fixed(usize),
}

impl Shape {
    /// Number of reals on a lattice.
    pub fn len(self, lattice: LatticeKind) -> usize {
        match self {
            Shape::Scalar => 1,
            Shape::Q => lattice.q(),
            Shape::D => lattice.d(),
            Shape::Fixed(n) => n,
        }
    }

    /// The operator-language spelling of the type.
    pub fn rust_type(self) -> String {
        match self {
            Shape::Scalar => "Real".into(),
            Shape::Q => "[Real; Q]".into(),
            Shape::D => "[Real; D]".into(),
            Shape::Fixed(n) => format!("[Real; {n}]"),
        }
    }
}

/// One parameter of an operator.
#[derive(Debug)]
pub struct ParamInfo {
    /// Name in the operator's source.
    pub name: &'static str,
    /// How it takes part in differentiation.
    pub kind: ParamKind,
    /// Its shape; `Shape::Scalar` for integers and booleans.
    pub shape: Shape,
    /// What the runtime binds it to when the user does not (declared in the signature).
    pub role: ParamRole,
    /// The values it accepts, declared with `#[range("(0, 2)")]`; binding checks them (and
    /// the ranges of the callee parameters it is passed to, see [`OperatorInfo::range_of`]).
    pub range: Option<Range>,
}

/// What the runtime binds a parameter to by itself, declared by an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamRole {
    /// Nothing: the user binds it by name (`.uniform`, `.field`, `.int`, ...).
    Named,
    /// `#[populations]`: the populations the operator acts on, the streamed (pulled) ones in
    /// a step, the cell's state in an objective.
    Populations,
    /// `#[local]`: the cell's own populations before streaming.
    Local,
    /// `#[far]`: the populations of the far neighbour (interpolated bounce-back).
    Far,
    /// `#[links]`: the mask of directions whose upstream cell is solid.
    Links,
}

/// An interval of reals; each end open or closed, possibly infinite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Lower end (`f64::NEG_INFINITY` for none).
    pub lo: f64,
    /// Whether `lo` itself is excluded.
    pub lo_open: bool,
    /// Upper end (`f64::INFINITY` for none).
    pub hi: f64,
    /// Whether `hi` itself is excluded.
    pub hi_open: bool,
}

impl Range {
    /// Whether `v` lies in the interval (a NaN never does).
    pub fn contains(&self, v: f64) -> bool {
        let above = if self.lo_open {
            v > self.lo
        } else {
            v >= self.lo
        };
        let below = if self.hi_open {
            v < self.hi
        } else {
            v <= self.hi
        };
        above && below
    }

    /// The values in both intervals.
    pub fn intersect(self, other: Range) -> Range {
        let (lo, lo_open) = match self.lo.partial_cmp(&other.lo) {
            Some(std::cmp::Ordering::Greater) => (self.lo, self.lo_open),
            Some(std::cmp::Ordering::Less) => (other.lo, other.lo_open),
            _ => (self.lo, self.lo_open || other.lo_open),
        };
        let (hi, hi_open) = match self.hi.partial_cmp(&other.hi) {
            Some(std::cmp::Ordering::Less) => (self.hi, self.hi_open),
            Some(std::cmp::Ordering::Greater) => (other.hi, other.hi_open),
            _ => (self.hi, self.hi_open || other.hi_open),
        };
        Range {
            lo,
            lo_open,
            hi,
            hi_open,
        }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = |v: f64| {
            if v.is_infinite() {
                if v > 0.0 {
                    "inf".to_string()
                } else {
                    "-inf".to_string()
                }
            } else {
                format!("{v}")
            }
        };
        write!(
            f,
            "{}{}, {}{}",
            if self.lo_open { '(' } else { '[' },
            end(self.lo),
            end(self.hi),
            if self.hi_open { ')' } else { ']' }
        )
    }
}

/// A parameter an operator passes unchanged to a parameter of an operator it calls, so
/// the callee's declared range constrains it too.
#[derive(Debug)]
pub struct Forwarded {
    /// Index of the caller's parameter.
    pub param: usize,
    /// The callee.
    pub callee: &'static OperatorInfo,
    /// Index of the callee's parameter.
    pub callee_param: usize,
}

/// Forward Rust form with flat buffers (see the module docs for the layout).
pub type FlatForward<R> = fn(reals: &[R], ints: &[i64], out: &mut [R]);
/// Adjoint Rust form with flat buffers; adds into `reals_bar`.
pub type FlatAdjoint<R> = fn(reals: &[R], ints: &[i64], out_bar: &[R], reals_bar: &mut [R]);

/// The flat forward and adjoint of one operator for one lattice and one real type.
pub struct FlatForms<R> {
    /// Forward.
    pub forward: FlatForward<R>,
    /// Adjoint.
    pub adjoint: FlatAdjoint<R>,
}

/// Forward lane form: the flat forward over a group of cells, one per lane (see
/// [`crate::lanes`]), compiled with the features the lane types need.
///
/// # Safety
/// Callable only where [`crate::lanes::supported`] is true.
pub type LaneForward<V> = unsafe fn(reals: &[V], ints: &[i64], out: &mut [V]);
/// Adjoint lane form: the flat adjoint over a group of cells, as [`LaneForward`] is the
/// flat forward; adds into `reals_bar`.
///
/// # Safety
/// Callable only where [`crate::lanes::supported`] is true.
pub type LaneAdjoint<V> = unsafe fn(reals: &[V], ints: &[i64], out_bar: &[V], reals_bar: &mut [V]);

/// The lane forward and adjoint of one operator for one lattice.
pub struct LaneForms<V> {
    /// Forward.
    pub forward: LaneForward<V>,
    /// Adjoint.
    pub adjoint: LaneAdjoint<V>,
}

/// The flat Rust forms of an operator for every lattice, in [`LatticeKind::ALL`] order.
pub struct CpuForms {
    /// `f32` forms.
    pub f32: [FlatForms<f32>; 3],
    /// `f64` forms.
    pub f64: [FlatForms<f64>; 3],
    /// The reference forward: the operator's source as written, compiled by rustc over
    /// `f64` (`<operator>::reference`), independent of the macro's compiler stages. Checks
    /// compare the generated forms with it.
    pub reference: [FlatForward<f64>; 3],
    /// Lane forms over eight `f32` cells. Only `f32` has lane forms: each costs compile
    /// time in every crate that defines operators, and `f32` is what runs long.
    #[cfg(target_arch = "x86_64")]
    pub f32_lanes: [LaneForms<crate::lanes::F32x8>; 3],
}

fn lattice_index(lattice: LatticeKind) -> usize {
    LatticeKind::ALL
        .iter()
        .position(|&l| l == lattice)
        .expect("ALL lists every lattice")
}

impl CpuForms {
    /// The `f64` forms for a lattice.
    pub fn f64(&self, lattice: LatticeKind) -> &FlatForms<f64> {
        &self.f64[lattice_index(lattice)]
    }

    /// The reference forward for a lattice (see [`CpuForms::reference`]).
    pub fn reference(&self, lattice: LatticeKind) -> FlatForward<f64> {
        self.reference[lattice_index(lattice)]
    }

    /// The `f32` lane forms for a lattice.
    #[cfg(target_arch = "x86_64")]
    pub fn f32_lanes(&self, lattice: LatticeKind) -> &LaneForms<crate::lanes::F32x8> {
        &self.f32_lanes[lattice_index(lattice)]
    }

    /// The `f32` forms for a lattice.
    pub fn f32(&self, lattice: LatticeKind) -> &FlatForms<f32> {
        &self.f32[lattice_index(lattice)]
    }
}

/// Everything the `#[operator]` macro generates for one operator, reachable at run time
/// as `<operator>::INFO`.
pub struct OperatorInfo {
    /// The operator's name (its Rust function name).
    pub name: &'static str,
    /// The C function name of the forward form; the adjoint appends `_adj`.
    pub c_name: &'static str,
    /// First line of the operator's documentation.
    pub summary: &'static str,
    /// Parameters in declaration order.
    pub params: &'static [ParamInfo],
    /// Real-valued outputs in order (a tuple return has several).
    pub outputs: &'static [Shape],
    /// `#define LBM_LEN_<name>_<k> ...` lines giving each output's length in C.
    pub c_shapes: &'static str,
    /// C definition of the forward function.
    pub c_forward: &'static str,
    /// C definition of the adjoint function.
    pub c_adjoint: &'static str,
    /// Rust source of the forward form (unformatted tokens).
    pub rust_forward: &'static str,
    /// Rust source of the adjoint form (unformatted tokens).
    pub rust_adjoint: &'static str,
    /// Operators this one calls, directly.
    pub callees: &'static [&'static OperatorInfo],
    /// Parameters passed unchanged to callees (for [`OperatorInfo::range_of`]).
    pub forwarded: &'static [Forwarded],
    /// The flat Rust forms for every lattice and precision.
    pub cpu: CpuForms,
}

impl OperatorInfo {
    /// Total number of reals taken by the real-valued parameters on a lattice.
    pub fn real_inputs_len(&self, lattice: LatticeKind) -> usize {
        self.params
            .iter()
            .filter(|p| p.kind.is_real())
            .map(|p| p.shape.len(lattice))
            .sum()
    }

    /// The values parameter `param` accepts: its declared range, narrowed by the declared
    /// ranges of every callee parameter it is passed to unchanged (a step's `omega` handed
    /// to `bgk` must lie in `bgk`'s `(0, 2)`), or `None` when nothing is declared.
    pub fn range_of(&self, param: usize) -> Option<Range> {
        let own = self.params[param].range;
        self.forwarded
            .iter()
            .filter(|f| f.param == param)
            .filter_map(|f| f.callee.range_of(f.callee_param))
            .fold(own, |acc, r| Some(acc.map_or(r, |a| a.intersect(r))))
    }

    /// Number of integer and boolean parameters (the flat `ints` buffer).
    pub fn int_inputs_len(&self) -> usize {
        self.params.iter().filter(|p| !p.kind.is_real()).count()
    }

    /// Total number of reals of all outputs on a lattice.
    pub fn outputs_len(&self, lattice: LatticeKind) -> usize {
        self.outputs.iter().map(|s| s.len(lattice)).sum()
    }

    /// This operator and everything it calls, callees before callers, each once.
    pub fn with_callees(&'static self) -> Vec<&'static OperatorInfo> {
        fn visit(op: &'static OperatorInfo, out: &mut Vec<&'static OperatorInfo>) {
            if out.iter().any(|o| std::ptr::eq(*o, op)) {
                return;
            }
            for callee in op.callees {
                visit(callee, out);
            }
            out.push(op);
        }
        let mut out = Vec::new();
        visit(self, &mut out);
        out
    }
}

impl std::fmt::Debug for OperatorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorInfo")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// Marks the parameter types of an operator (`<operator>::Arg<k>`) that take a derivative:
/// plain real parameters and `#[param]`, not `#[data]`.
///
/// A call that passes a value carrying a derivative into a `#[data]` parameter would drop
/// that derivative without a trace; the macro asks rustc to prove this trait for every
/// such argument, so the mistake is a compile error at the argument.
#[diagnostic::on_unimplemented(
    message = "this argument carries a derivative, but `{Self}` is a `#[data]` parameter, which takes none",
    label = "depends on a differentiable input; its gradient would be dropped here",
    note = "drop `#[data]` from the callee's parameter so that it is differentiated, or pass a value that does not depend on differentiable inputs"
)]
pub trait Differentiated {}

/// Compiles only when `T` is a differentiated parameter (see [`Differentiated`]).
#[inline(always)]
pub fn require_differentiated<T: Differentiated>() {}
