//! The intrinsics: method calls on reals with known derivatives.
//!
//! Each intrinsic's forward spelling (Rust method, C function) sits next to its reverse
//! rule, so adding one is one screen of code.

use crate::ir::{BinOp, Expr, ExprKind, Ty};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intrinsic {
    Sqrt,
    Exp,
    Ln,
    Powf,
    Powi,
    Sin,
    Cos,
    Tanh,
    Abs,
    Min,
    Max,
    MulAdd,
}

/// Every intrinsic with its Rust method name, for lookup and for error messages.
pub const ALL: &[(&str, Intrinsic)] = &[
    ("sqrt", Intrinsic::Sqrt),
    ("exp", Intrinsic::Exp),
    ("ln", Intrinsic::Ln),
    ("powf", Intrinsic::Powf),
    ("powi", Intrinsic::Powi),
    ("sin", Intrinsic::Sin),
    ("cos", Intrinsic::Cos),
    ("tanh", Intrinsic::Tanh),
    ("abs", Intrinsic::Abs),
    ("min", Intrinsic::Min),
    ("max", Intrinsic::Max),
    ("mul_add", Intrinsic::MulAdd),
];

impl Intrinsic {
    pub fn from_method(name: &str) -> Option<Intrinsic> {
        ALL.iter().find(|(n, _)| *n == name).map(|(_, i)| *i)
    }

    /// The Rust method name (also the `Real` trait's).
    pub fn method(self) -> &'static str {
        ALL.iter()
            .find(|(_, i)| *i == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// The prelude's C function.
    pub fn c_name(self) -> &'static str {
        match self {
            Intrinsic::Sqrt => "lbm_sqrt",
            Intrinsic::Exp => "lbm_exp",
            Intrinsic::Ln => "lbm_log",
            Intrinsic::Powf => "lbm_pow",
            Intrinsic::Powi => "lbm_powi",
            Intrinsic::Sin => "lbm_sin",
            Intrinsic::Cos => "lbm_cos",
            Intrinsic::Tanh => "lbm_tanh",
            Intrinsic::Abs => "lbm_fabs",
            Intrinsic::Min => "lbm_fmin",
            Intrinsic::Max => "lbm_fmax",
            Intrinsic::MulAdd => "lbm_fma",
        }
    }

    /// Number of arguments after the receiver.
    pub fn extra_args(self) -> usize {
        match self {
            Intrinsic::Powf | Intrinsic::Powi | Intrinsic::Min | Intrinsic::Max => 1,
            Intrinsic::MulAdd => 2,
            _ => 0,
        }
    }

    /// Whether argument `k` (0 = receiver) is an integer rather than a real.
    pub fn arg_is_int(self, k: usize) -> bool {
        self == Intrinsic::Powi && k == 1
    }

    /// The reverse rule: for the call `self(args)` receiving adjoint `seed`, the adjoint
    /// contribution to each real argument, as `(argument index, expression)`. The
    /// expressions read the arguments' values as they were when the call ran forward.
    pub fn reverse(self, args: &[Expr], seed: &Expr) -> Vec<(usize, Expr)> {
        let x = &args[0];
        let call =
            |i: Intrinsic, a: Vec<Expr>| Expr::new(ExprKind::Intrinsic(i, a), Ty::Real, x.span);
        let mul = |a: Expr, b: Expr| Expr::binary(BinOp::Mul, a, b);
        let div = |a: Expr, b: Expr| Expr::binary(BinOp::Div, a, b);
        let lit = |v: f64| Expr::real(v, x.span);
        let select = |c: Expr, a: Expr, b: Expr| {
            Expr::new(
                ExprKind::Select(Box::new(c), Box::new(a), Box::new(b)),
                Ty::Real,
                x.span,
            )
        };
        let s = seed.clone();
        match self {
            // d sqrt(x) = 1 / (2 sqrt(x))
            Intrinsic::Sqrt => vec![(
                0,
                div(mul(s, lit(0.5)), call(Intrinsic::Sqrt, vec![x.clone()])),
            )],
            Intrinsic::Exp => vec![(0, mul(s, call(Intrinsic::Exp, vec![x.clone()])))],
            Intrinsic::Ln => vec![(0, div(s, x.clone()))],
            // d x^y = y x^(y-1) dx + x^y ln(x) dy
            Intrinsic::Powf => {
                let y = &args[1];
                let ym1 = Expr::binary(BinOp::Sub, y.clone(), lit(1.0));
                vec![
                    (
                        0,
                        mul(
                            s.clone(),
                            mul(y.clone(), call(Intrinsic::Powf, vec![x.clone(), ym1])),
                        ),
                    ),
                    (
                        1,
                        mul(
                            s,
                            mul(
                                call(Intrinsic::Powf, vec![x.clone(), y.clone()]),
                                call(Intrinsic::Ln, vec![x.clone()]),
                            ),
                        ),
                    ),
                ]
            }
            // d x^n = n x^(n-1) dx; the exponent is an integer and has no adjoint.
            Intrinsic::Powi => {
                let n = &args[1];
                let n_real = Expr::new(ExprKind::Cast(Box::new(n.clone())), Ty::Real, n.span);
                let nm1 = Expr::binary(BinOp::Sub, n.clone(), Expr::int(1, n.span));
                vec![(
                    0,
                    mul(s, mul(n_real, call(Intrinsic::Powi, vec![x.clone(), nm1]))),
                )]
            }
            Intrinsic::Sin => vec![(0, mul(s, call(Intrinsic::Cos, vec![x.clone()])))],
            Intrinsic::Cos => vec![(0, Expr::neg(mul(s, call(Intrinsic::Sin, vec![x.clone()]))))],
            // d tanh(x) = 1 - tanh(x)^2
            Intrinsic::Tanh => {
                let t = call(Intrinsic::Tanh, vec![x.clone()]);
                vec![(
                    0,
                    mul(s, Expr::binary(BinOp::Sub, lit(1.0), mul(t.clone(), t))),
                )]
            }
            // The derivative at 0 is taken as +1, the right derivative.
            Intrinsic::Abs => {
                let pos = Expr::binary(BinOp::Ge, x.clone(), lit(0.0));
                vec![(0, select(pos, s.clone(), Expr::neg(s)))]
            }
            // Ties send the whole adjoint to the receiver, like the forward's choice in C.
            Intrinsic::Min | Intrinsic::Max => {
                let y = &args[1];
                let op = if self == Intrinsic::Min {
                    BinOp::Le
                } else {
                    BinOp::Ge
                };
                let first = Expr::binary(op, x.clone(), y.clone());
                vec![
                    (0, select(first.clone(), s.clone(), lit(0.0))),
                    (1, select(first, lit(0.0), s)),
                ]
            }
            // x * a + b
            Intrinsic::MulAdd => {
                let (a, b) = (&args[1], &args[2]);
                let _ = b;
                vec![
                    (0, mul(s.clone(), a.clone())),
                    (1, mul(s.clone(), x.clone())),
                    (2, s),
                ]
            }
        }
    }
}
