//! Symbolic sizes of the per-cell tapes: expressions in `Q`, `D` and callee output lengths.
//!
//! The C printer writes them symbolically (the lattice is fixed when the kernel is built);
//! the Rust printer needs one constant for every lattice, so it takes the largest.

use crate::ir::{BinOp, CalleeId, Expr, ExprKind, LatConst, Len, Ty};

/// Largest `Q` of the supported lattices: bound of an output length the callee decides.
const MAX_Q: usize = 27;
/// `(D, Q)` of every supported lattice.
const LATTICES: [(usize, usize); 3] = [(2, 9), (3, 19), (3, 27)];

#[derive(Clone, Debug, PartialEq)]
pub enum Count {
    Lit(usize),
    Q,
    D,
    /// Length of output `k` of a callee.
    Out(CalleeId, usize),
    Add(Box<Count>, Box<Count>),
    Sub(Box<Count>, Box<Count>),
    Mul(Box<Count>, Box<Count>),
    Max(Box<Count>, Box<Count>),
}

impl Count {
    pub fn of_type(ty: Ty) -> Count {
        match ty {
            Ty::Array(Len::Q) => Count::Q,
            Ty::Array(Len::D) => Count::D,
            Ty::Array(Len::Lit(n)) => Count::Lit(n),
            Ty::Opaque { callee, index } => Count::Out(callee, index),
            Ty::Real | Ty::Int(_) | Ty::Bool => Count::Lit(1),
        }
    }

    /// A loop bound (literals, `Q`, `D`, `+ - *`).
    pub fn from_bound(e: &Expr) -> Count {
        match &e.kind {
            ExprKind::IntLit(v) => Count::Lit(*v as usize),
            ExprKind::Lat(LatConst::Q) => Count::Q,
            ExprKind::Lat(LatConst::D) => Count::D,
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (Count::from_bound(a), Count::from_bound(b));
                match op {
                    BinOp::Add => a.add(b),
                    BinOp::Sub => a.sub(b),
                    BinOp::Mul => a.mul(b),
                    _ => unreachable!("loop bounds add, subtract and multiply only"),
                }
            }
            // A silent zero here would size the tape too small: fail loudly instead.
            _ => unreachable!("loop bounds are integer literals, `Q`, `D` and `+ - *` of them"),
        }
    }

    pub fn add(self, o: Count) -> Count {
        match (self, o) {
            (Count::Lit(0), x) | (x, Count::Lit(0)) => x,
            // Saturating: an absurd array length must not panic the macro.
            (Count::Lit(a), Count::Lit(b)) => Count::Lit(a.saturating_add(b)),
            (a, b) => Count::Add(Box::new(a), Box::new(b)),
        }
    }

    pub fn sub(self, o: Count) -> Count {
        match (self, o) {
            (x, Count::Lit(0)) => x,
            (Count::Lit(a), Count::Lit(b)) => Count::Lit(a.saturating_sub(b)),
            (a, b) => Count::Sub(Box::new(a), Box::new(b)),
        }
    }

    pub fn mul(self, o: Count) -> Count {
        match (self, o) {
            (Count::Lit(0), _) | (_, Count::Lit(0)) => Count::Lit(0),
            (Count::Lit(1), x) | (x, Count::Lit(1)) => x,
            (Count::Lit(a), Count::Lit(b)) => Count::Lit(a.saturating_mul(b)),
            (a, b) => Count::Mul(Box::new(a), Box::new(b)),
        }
    }

    pub fn max(self, o: Count) -> Count {
        match (self, o) {
            (Count::Lit(0), x) | (x, Count::Lit(0)) => x,
            (Count::Lit(a), Count::Lit(b)) => Count::Lit(a.max(b)),
            (a, b) if a == b => a,
            (a, b) => Count::Max(Box::new(a), Box::new(b)),
        }
    }

    fn eval(&self, d: usize, q: usize) -> usize {
        match self {
            Count::Lit(n) => *n,
            Count::Q => q,
            Count::D => d,
            Count::Out(..) => MAX_Q,
            Count::Add(a, b) => a.eval(d, q).saturating_add(b.eval(d, q)),
            Count::Sub(a, b) => a.eval(d, q).saturating_sub(b.eval(d, q)),
            Count::Mul(a, b) => a.eval(d, q).saturating_mul(b.eval(d, q)),
            Count::Max(a, b) => a.eval(d, q).max(b.eval(d, q)),
        }
    }

    /// The largest value over the supported lattices (at least one, so arrays are valid).
    pub fn bound(&self) -> usize {
        LATTICES
            .iter()
            .map(|(d, q)| self.eval(*d, *q))
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// A C constant expression; `len` names a callee output's length macro.
    pub fn to_c(&self, len: &dyn Fn(CalleeId, usize) -> String) -> String {
        match self {
            Count::Lit(n) => n.to_string(),
            Count::Q => "Q".into(),
            Count::D => "D".into(),
            Count::Out(c, k) => len(*c, *k),
            Count::Add(a, b) => format!("({} + {})", a.to_c(len), b.to_c(len)),
            Count::Sub(a, b) => format!("({} - {})", a.to_c(len), b.to_c(len)),
            Count::Mul(a, b) => format!("({} * {})", a.to_c(len), b.to_c(len)),
            Count::Max(a, b) => {
                let (a, b) = (a.to_c(len), b.to_c(len));
                format!("({a} > {b} ? {a} : {b})")
            }
        }
    }
}
