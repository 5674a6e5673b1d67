//! The typed intermediate representation shared by every stage after parsing.
//!
//! An operator is a table of variables and a tree of statements over expressions. Every
//! node keeps the span of the source it came from, so later stages can point at the user's
//! code. Calls to other operators are statements (the parser lifts them out of
//! expressions), since their C forms write results through pointers.

use proc_macro2::Span;

/// Index of a variable in [`Function::vars`].
pub type VarId = usize;
/// Index of a callee in [`Function::callees`].
pub type CalleeId = usize;

/// Integer types the language knows; C sees them all as `int`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntTy {
    I32,
    U32,
    I64,
    Usize,
    /// An unsuffixed literal, typed by rustc from its use.
    Literal,
}

impl IntTy {
    pub fn rust_name(self) -> Option<&'static str> {
        match self {
            IntTy::I32 => Some("i32"),
            IntTy::U32 => Some("u32"),
            IntTy::I64 => Some("i64"),
            IntTy::Usize => Some("usize"),
            IntTy::Literal => None,
        }
    }
}

/// Length of a real array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    Q,
    D,
    Lit(usize),
}

/// Type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Real,
    Int(IntTy),
    Bool,
    Array(Len),
    /// Output `index` of a called operator: a real or a real array whose shape only the
    /// callee knows; the printers declare it through the callee's exported shape.
    Opaque {
        callee: CalleeId,
        index: usize,
    },
}

impl Ty {
    /// Real-valued: carries an adjoint when active.
    pub fn is_real_valued(self) -> bool {
        matches!(self, Ty::Real | Ty::Array(_) | Ty::Opaque { .. })
    }

    pub fn is_int(self) -> bool {
        matches!(self, Ty::Int(_))
    }

    /// Whether values of this type can be used where a scalar real is expected.
    pub fn is_scalar_real(self) -> bool {
        matches!(self, Ty::Real | Ty::Opaque { .. })
    }

    pub fn is_indexable(self) -> bool {
        matches!(self, Ty::Array(_) | Ty::Opaque { .. })
    }
}

/// How a parameter takes part in differentiation (mirrors `lbm_runtime::ParamKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Field,
    Param,
    Data,
    Int,
    Bool,
}

impl ParamKind {
    pub fn is_differentiable(self) -> bool {
        matches!(self, ParamKind::Field | ParamKind::Param)
    }
}

/// What the runtime binds a parameter to by itself (mirrors `lbm_runtime::ParamRole`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BindRole {
    /// Bound by name by the user.
    #[default]
    Named,
    Populations,
    Local,
    Far,
    Links,
}

/// A closed or open interval of reals (mirrors `lbm_runtime::Range`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub lo_open: bool,
    pub hi: f64,
    pub hi_open: bool,
}

/// A parameter's declarations: `#[populations]`, `#[local]`, `#[far]`, `#[links]`,
/// `#[range("(0, 2)")]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParamDecl {
    pub role: BindRole,
    pub range: Option<Interval>,
}

/// What a variable is for; decides how printers declare it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Param(ParamKind),
    /// A `let` binding of the source (or a temporary the parser introduced).
    Local,
    /// A `for` loop counter.
    Loop,
    /// The slot holding output `k`.
    Ret(usize),
    /// The flag set by an early `return`.
    Done,
    /// The adjoint of another variable. Adjoints start (and restart) at `-0.0`, the
    /// additive identity (see [`StmtKind::Zero`]).
    Adjoint(VarId),
}

#[derive(Clone, Debug)]
pub struct Var {
    /// Unique name, valid in both Rust and C.
    pub name: String,
    pub ty: Ty,
    pub role: Role,
    pub span: Span,
}

/// A called operator, by the path written at the call site.
#[derive(Clone, Debug)]
pub struct Callee {
    pub path: syn::Path,
    /// Last segment of the path: the callee's operator name.
    pub name: String,
    /// Number of outputs, known from the destructuring at the call site.
    pub outputs: usize,
    /// Number of arguments at the first call site.
    pub args: usize,
    pub span: Span,
}

/// The lattice constants usable in any operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatConst {
    Q,
    D,
    Cs2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
        )
    }

    pub fn is_logical(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or)
    }

    /// Operations defined on integers only (cell tags and link masks).
    pub fn is_integer_only(self) -> bool {
        matches!(
            self,
            BinOp::Rem | BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::Shl | BinOp::Shr
        )
    }
}

pub use crate::intrinsic::Intrinsic;

/// The length of an array as a loop bound.
pub fn len_expr(len: Len, span: Span) -> Expr {
    match len {
        Len::Q => Expr::new(ExprKind::Lat(LatConst::Q), Ty::Int(IntTy::Usize), span),
        Len::D => Expr::new(ExprKind::Lat(LatConst::D), Ty::Int(IntTy::Usize), span),
        Len::Lit(n) => Expr::int(n as i64, span),
    }
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    RealLit(f64),
    IntLit(i64),
    BoolLit(bool),
    Var(VarId),
    /// `x[i]` on a real array.
    Index(VarId, Box<Expr>),
    Lat(LatConst),
    /// `C[i][a]`, a real.
    LatC(Box<Expr>, Box<Expr>),
    /// `W[i]`, a real.
    LatW(Box<Expr>),
    /// `OPP[i]`, an integer.
    LatOpp(Box<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A method intrinsic; the receiver is the first argument.
    Intrinsic(Intrinsic, Vec<Expr>),
    /// `e as T`; the target is the expression's type.
    Cast(Box<Expr>),
    /// `if c { a } else { b }` on values; only the adjoint creates these.
    Select(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Pops a branch decision or an integer from the control tape (adjoint only).
    PopControl,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    pub span: Span,
}

impl Expr {
    pub fn new(kind: ExprKind, ty: Ty, span: Span) -> Self {
        Expr { kind, ty, span }
    }

    pub fn real(v: f64, span: Span) -> Self {
        Expr::new(ExprKind::RealLit(v), Ty::Real, span)
    }

    pub fn int(v: i64, span: Span) -> Self {
        Expr::new(ExprKind::IntLit(v), Ty::Int(IntTy::Literal), span)
    }

    pub fn boolean(v: bool, span: Span) -> Self {
        Expr::new(ExprKind::BoolLit(v), Ty::Bool, span)
    }

    pub fn var(id: VarId, ty: Ty, span: Span) -> Self {
        Expr::new(ExprKind::Var(id), ty, span)
    }

    pub fn binary(op: BinOp, a: Expr, b: Expr) -> Self {
        let ty = if op.is_comparison() || op.is_logical() {
            Ty::Bool
        } else {
            a.ty
        };
        let span = a.span;
        Expr::new(ExprKind::Binary(op, Box::new(a), Box::new(b)), ty, span)
    }

    pub fn not(a: Expr) -> Self {
        let span = a.span;
        Expr::new(ExprKind::Unary(UnOp::Not, Box::new(a)), Ty::Bool, span)
    }

    pub fn neg(a: Expr) -> Self {
        let (ty, span) = (a.ty, a.span);
        Expr::new(ExprKind::Unary(UnOp::Neg, Box::new(a)), ty, span)
    }

    /// Whether this is a real value known when the operator is generated for a lattice:
    /// literals and `CS2` combined by arithmetic.
    pub fn is_constant_real(&self) -> bool {
        if !self.ty.is_scalar_real() {
            return false;
        }
        match &self.kind {
            ExprKind::RealLit(_) | ExprKind::Lat(LatConst::Cs2) => true,
            ExprKind::Unary(UnOp::Neg, a) => a.is_constant_real(),
            ExprKind::Binary(BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div, a, b) => {
                a.is_constant_real() && b.is_constant_real()
            }
            _ => false,
        }
    }

    /// The divisor of a real division by a constant (see [`Expr::is_constant_real`]):
    /// the emitters write `a / k` as `a * (1 / k)`, with `1 / k` folded by the compiler,
    /// because an IEEE division costs a GPU about ten instructions and a multiplication
    /// one. Both emitters do it, so the C and Rust forms stay bitwise equal; the result
    /// may differ from `a / k` in the last bit.
    pub fn constant_divisor(&self) -> Option<(&Expr, &Expr)> {
        match &self.kind {
            ExprKind::Binary(BinOp::Div, a, b)
                if self.ty.is_scalar_real() && b.is_constant_real() =>
            {
                Some((a, b))
            }
            _ => None,
        }
    }

    /// The factors `(x, c)` of a real product by lattice velocity components `c`
    /// (`C[i][a]`, or a product of them, on either side): the emitters write it as
    /// `times_c(x, c)`, which an unrolled loop folds to `-0.0` where a component is zero,
    /// so that the addition it feeds disappears (IEEE rules keep `x * 0.0`: it is NaN for
    /// an infinite `x`). Both emitters do it, so the C and Rust forms agree; the result
    /// may differ from `x * c` in the sign of a zero, or where `x` is not finite.
    /// [`crate::lattice_factors`] gathers every product's components into one such `c`.
    pub fn lattice_product(&self) -> Option<(&Expr, &Expr)> {
        match &self.kind {
            ExprKind::Binary(BinOp::Mul, a, b) if self.ty.is_scalar_real() => {
                if b.is_lattice_factor() {
                    Some((a, b))
                } else if a.is_lattice_factor() {
                    Some((b, a))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Whether this is a lattice velocity component or a product of them.
    pub fn is_lattice_factor(&self) -> bool {
        match &self.kind {
            ExprKind::LatC(..) => true,
            ExprKind::Binary(BinOp::Mul, a, b) if self.ty.is_scalar_real() => {
                a.is_lattice_factor() && b.is_lattice_factor()
            }
            _ => false,
        }
    }

    /// Calls `f` on every variable the expression reads.
    pub fn for_each_var(&self, f: &mut impl FnMut(VarId)) {
        match &self.kind {
            ExprKind::Var(v) => f(*v),
            ExprKind::Index(v, i) => {
                f(*v);
                i.for_each_var(f);
            }
            ExprKind::LatC(a, b) | ExprKind::Binary(_, a, b) => {
                a.for_each_var(f);
                b.for_each_var(f);
            }
            ExprKind::LatW(a) | ExprKind::LatOpp(a) | ExprKind::Unary(_, a) | ExprKind::Cast(a) => {
                a.for_each_var(f)
            }
            ExprKind::Intrinsic(_, args) => args.iter().for_each(|a| a.for_each_var(f)),
            ExprKind::Select(c, a, b) => {
                c.for_each_var(f);
                a.for_each_var(f);
                b.for_each_var(f);
            }
            ExprKind::RealLit(_)
            | ExprKind::IntLit(_)
            | ExprKind::BoolLit(_)
            | ExprKind::Lat(_)
            | ExprKind::PopControl => {}
        }
    }

    /// The operands of this expression, left to right, for rewriting.
    pub fn operands_mut(&mut self) -> Vec<&mut Expr> {
        match &mut self.kind {
            ExprKind::Index(_, a)
            | ExprKind::LatW(a)
            | ExprKind::LatOpp(a)
            | ExprKind::Unary(_, a)
            | ExprKind::Cast(a) => vec![a],
            ExprKind::LatC(a, b) | ExprKind::Binary(_, a, b) => vec![a, b],
            ExprKind::Intrinsic(_, args) => args.iter_mut().collect(),
            ExprKind::Select(c, a, b) => vec![c, a, b],
            ExprKind::RealLit(_)
            | ExprKind::IntLit(_)
            | ExprKind::BoolLit(_)
            | ExprKind::Var(_)
            | ExprKind::Lat(_)
            | ExprKind::PopControl => Vec::new(),
        }
    }

    /// Calls `f` on this expression and on every expression inside it, each before its
    /// operands, operands left to right.
    pub fn for_each_expr(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Index(_, a)
            | ExprKind::LatW(a)
            | ExprKind::LatOpp(a)
            | ExprKind::Unary(_, a)
            | ExprKind::Cast(a) => a.for_each_expr(f),
            ExprKind::LatC(a, b) | ExprKind::Binary(_, a, b) => {
                a.for_each_expr(f);
                b.for_each_expr(f);
            }
            ExprKind::Intrinsic(_, args) => args.iter().for_each(|a| a.for_each_expr(f)),
            ExprKind::Select(c, a, b) => {
                c.for_each_expr(f);
                a.for_each_expr(f);
                b.for_each_expr(f);
            }
            ExprKind::RealLit(_)
            | ExprKind::IntLit(_)
            | ExprKind::BoolLit(_)
            | ExprKind::Var(_)
            | ExprKind::Lat(_)
            | ExprKind::PopControl => {}
        }
    }
}

/// Where an assignment writes.
#[derive(Clone, Debug)]
pub enum Place {
    Var(VarId),
    Elem(VarId, Expr),
}

impl Place {
    pub fn var(&self) -> VarId {
        match self {
            Place::Var(v) | Place::Elem(v, _) => *v,
        }
    }

    /// The index of an element; `None` for a whole variable.
    pub fn index(&self) -> Option<&Expr> {
        match self {
            Place::Var(_) => None,
            Place::Elem(_, i) => Some(i),
        }
    }

    /// For `place = place op rhs`, the operator and `rhs`, so printers can write
    /// `place op= rhs` (only for indices that are a variable or a literal).
    pub fn compound<'e>(&self, value: &'e Expr) -> Option<(BinOp, &'e Expr)> {
        let ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div), lhs, rhs) =
            &value.kind
        else {
            return None;
        };
        let same_index = |a: &Expr, b: &Expr| match (&a.kind, &b.kind) {
            (ExprKind::Var(x), ExprKind::Var(y)) => x == y,
            (ExprKind::IntLit(x), ExprKind::IntLit(y)) => x == y,
            _ => false,
        };
        let same = match (self, &lhs.kind) {
            (Place::Var(v), ExprKind::Var(w)) => v == w,
            (Place::Elem(v, i), ExprKind::Index(w, j)) => v == w && same_index(i, j),
            _ => false,
        };
        same.then_some((*op, &**rhs))
    }
}

pub type Block = Vec<Stmt>;

/// Which save a [`StmtKind::Save`] or [`StmtKind::Restore`] is: the adjoint numbers each
/// save it writes and gives its restore the same number, so that a later pass can drop
/// both.
pub type SaveSite = usize;

#[derive(Clone, Debug)]
pub struct Arm {
    /// Integer patterns of the arm; `None` for `_`.
    pub pats: Option<Vec<i64>>,
    pub body: Block,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    /// `place = value`; a scalar, or a whole array of the same length.
    Assign {
        place: Place,
        value: Expr,
    },
    /// `outs = callee(args)`; every real-valued argument is a variable.
    Call {
        callee: CalleeId,
        args: Vec<Expr>,
        outs: Vec<VarId>,
    },
    /// `dst = src` for whole real-valued variables of the same number of reals, whatever
    /// their types say of the shape (a call result copied into a declared variable).
    Copy {
        dst: VarId,
        src: VarId,
    },
    /// `into += from` element-wise, for whole real-valued variables of the same number of
    /// reals (the adjoint of [`StmtKind::Copy`]).
    Accumulate {
        into: VarId,
        from: VarId,
    },
    If {
        cond: Expr,
        then_branch: Block,
        else_branch: Block,
    },
    Match {
        scrutinee: Expr,
        arms: Vec<Arm>,
    },
    /// `for var in start..end`, backwards when `reverse`.
    For {
        var: VarId,
        start: Expr,
        end: Expr,
        reverse: bool,
        body: Block,
    },
    /// `return (values)`; removed by lowering.
    Return(Vec<Expr>),
    /// A block-local declaration (adjoint temporaries).
    Let {
        var: VarId,
        value: Expr,
    },
    /// Saves the value at a place (a whole variable: all its reals) on the real tape.
    Save(Place, SaveSite),
    /// Restores what the matching [`StmtKind::Save`] (the one of the same site) saved.
    Restore(Place, SaveSite),
    /// Saves an integer or boolean expression on the control tape.
    SaveControl(Expr),
    /// Pops the control tape into an integer or boolean variable.
    RestoreControl(VarId),
    /// Calls the adjoint of a callee: `arg_bars[k]` receives the adjoint of the k-th
    /// real-valued argument.
    CallAdjoint {
        callee: CalleeId,
        args: Vec<Expr>,
        out_bars: Vec<VarId>,
        arg_bars: Vec<VarId>,
    },
    /// Sets an adjoint (all of it) to zero, written `-0.0`: the additive identity, so
    /// that the first addition into it compiles to nothing (`x + 0.0` is not `x` when `x`
    /// is `-0.0`, `x + -0.0` always is).
    Zero(VarId),
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

impl Stmt {
    pub fn new(kind: StmtKind, span: Span) -> Self {
        Stmt { kind, span }
    }
}

/// A parsed, typed operator.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: syn::Ident,
    pub vis: syn::Visibility,
    /// `#[doc]` and other outer attributes kept for the generated module.
    pub attrs: Vec<syn::Attribute>,
    pub params: Vec<VarId>,
    /// Parameter names as written (variables may be renamed for C; metadata keeps these).
    pub param_names: Vec<String>,
    /// What each parameter declares beyond its type: its role and its range.
    pub param_decls: Vec<ParamDecl>,
    /// Declared output types (one, or a tuple's elements).
    pub outputs: Vec<Ty>,
    /// Whether the source returns a tuple (the Rust forms keep that shape).
    pub returns_tuple: bool,
    pub body: Block,
    pub vars: Vec<Var>,
    pub callees: Vec<Callee>,
    /// Slots of the outputs, filled by lowering.
    pub ret_vars: Vec<VarId>,
}

impl Function {
    /// `for k in 0..len { target[k] = value(k) }` with a fresh counter `k`: how whole
    /// arrays are filled and copied.
    pub fn elementwise(
        &mut self,
        target: VarId,
        len: Len,
        span: Span,
        value: impl FnOnce(Expr) -> Expr,
    ) -> Stmt {
        let k = self.add_var("k", Ty::Int(IntTy::Usize), Role::Loop, span);
        let kk = Expr::var(k, Ty::Int(IntTy::Usize), span);
        let body = vec![Stmt::new(
            StmtKind::Assign {
                place: Place::Elem(target, kk.clone()),
                value: value(kk),
            },
            span,
        )];
        Stmt::new(
            StmtKind::For {
                var: k,
                start: Expr::int(0, span),
                end: len_expr(len, span),
                reverse: false,
                body,
            },
            span,
        )
    }

    /// Adds a variable with a name unique among all variables and reserved words.
    pub fn add_var(&mut self, base: &str, ty: Ty, role: Role, span: Span) -> VarId {
        let name = crate::names::fresh(base, self.vars.iter().map(|v| v.name.as_str()));
        self.vars.push(Var {
            name,
            ty,
            role,
            span,
        });
        self.vars.len() - 1
    }

    pub fn param_kind(&self, id: VarId) -> Option<ParamKind> {
        match self.vars[id].role {
            Role::Param(k) => Some(k),
            _ => None,
        }
    }
}

impl Stmt {
    /// The blocks nested directly in this statement (branches, arms, loop bodies).
    pub fn nested_blocks(&self) -> Vec<&Block> {
        match &self.kind {
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => vec![then_branch, else_branch],
            StmtKind::Match { arms, .. } => arms.iter().map(|a| &a.body).collect(),
            StmtKind::For { body, .. } => vec![body],
            StmtKind::Assign { .. }
            | StmtKind::Call { .. }
            | StmtKind::Copy { .. }
            | StmtKind::Accumulate { .. }
            | StmtKind::Return(_)
            | StmtKind::Let { .. }
            | StmtKind::Save(..)
            | StmtKind::Restore(..)
            | StmtKind::SaveControl(_)
            | StmtKind::RestoreControl(_)
            | StmtKind::CallAdjoint { .. }
            | StmtKind::Zero(_) => Vec::new(),
        }
    }

    /// [`Stmt::nested_blocks`], for rewriting.
    pub fn nested_blocks_mut(&mut self) -> Vec<&mut Block> {
        match &mut self.kind {
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => vec![then_branch, else_branch],
            StmtKind::Match { arms, .. } => arms.iter_mut().map(|a| &mut a.body).collect(),
            StmtKind::For { body, .. } => vec![body],
            StmtKind::Assign { .. }
            | StmtKind::Call { .. }
            | StmtKind::Copy { .. }
            | StmtKind::Accumulate { .. }
            | StmtKind::Return(_)
            | StmtKind::Let { .. }
            | StmtKind::Save(..)
            | StmtKind::Restore(..)
            | StmtKind::SaveControl(_)
            | StmtKind::RestoreControl(_)
            | StmtKind::CallAdjoint { .. }
            | StmtKind::Zero(_) => Vec::new(),
        }
    }

    /// [`Stmt::exprs`], for rewriting.
    pub fn exprs_mut(&mut self) -> Vec<&mut Expr> {
        match &mut self.kind {
            StmtKind::Assign { place, value } => {
                let index = match place {
                    Place::Var(_) => None,
                    Place::Elem(_, i) => Some(i),
                };
                index.into_iter().chain([value]).collect()
            }
            StmtKind::Call { args, .. } | StmtKind::CallAdjoint { args, .. } => {
                args.iter_mut().collect()
            }
            StmtKind::If { cond, .. } => vec![cond],
            StmtKind::Match { scrutinee, .. } => vec![scrutinee],
            StmtKind::For { start, end, .. } => vec![start, end],
            StmtKind::Return(values) => values.iter_mut().collect(),
            StmtKind::Let { value, .. } => vec![value],
            StmtKind::SaveControl(e) => vec![e],
            StmtKind::Save(place, _) | StmtKind::Restore(place, _) => match place {
                Place::Var(_) => Vec::new(),
                Place::Elem(_, i) => vec![i],
            },
            StmtKind::Copy { .. }
            | StmtKind::Accumulate { .. }
            | StmtKind::RestoreControl(_)
            | StmtKind::Zero(_) => Vec::new(),
        }
    }

    /// The expressions this statement itself reads (not those of the statements nested in
    /// it), in source order: an element's index before the value assigned to it, a loop's
    /// bounds, a branch's condition.
    pub fn exprs(&self) -> Vec<&Expr> {
        match &self.kind {
            StmtKind::Assign { place, value } => place.index().into_iter().chain([value]).collect(),
            StmtKind::Call { args, .. } | StmtKind::CallAdjoint { args, .. } => {
                args.iter().collect()
            }
            StmtKind::If { cond, .. } => vec![cond],
            StmtKind::Match { scrutinee, .. } => vec![scrutinee],
            StmtKind::For { start, end, .. } => vec![start, end],
            StmtKind::Return(values) => values.iter().collect(),
            StmtKind::Let { value, .. } => vec![value],
            StmtKind::SaveControl(e) => vec![e],
            StmtKind::Save(place, _) | StmtKind::Restore(place, _) => {
                place.index().into_iter().collect()
            }
            StmtKind::Copy { .. }
            | StmtKind::Accumulate { .. }
            | StmtKind::RestoreControl(_)
            | StmtKind::Zero(_) => Vec::new(),
        }
    }

    /// The variables this statement itself writes, wholly or in part (not counting the
    /// statements nested in it).
    pub fn writes(&self) -> Vec<VarId> {
        match &self.kind {
            StmtKind::Assign { place, .. } => vec![place.var()],
            StmtKind::Call { outs, .. } => outs.clone(),
            StmtKind::Copy { dst, .. } => vec![*dst],
            StmtKind::Accumulate { into, .. } => vec![*into],
            StmtKind::Let { var, .. } => vec![*var],
            StmtKind::Restore(place, _) => vec![place.var()],
            StmtKind::RestoreControl(v) | StmtKind::Zero(v) => vec![*v],
            StmtKind::CallAdjoint { arg_bars, .. } => arg_bars.clone(),
            // A loop writes its counter.
            StmtKind::For { var, .. } => vec![*var],
            StmtKind::If { .. }
            | StmtKind::Match { .. }
            | StmtKind::Return(_)
            | StmtKind::Save(..)
            | StmtKind::SaveControl(_) => Vec::new(),
        }
    }
}

/// Calls `visit(stmt, in_loop)` on every statement of `block`, outer statements before
/// the ones nested in them; `in_loop` says whether the statement sits in a loop body (so
/// it may run more than once).
pub fn walk(block: &Block, in_loop: bool, visit: &mut impl FnMut(&Stmt, bool)) {
    for s in block {
        visit(s, in_loop);
        let nested_in_loop = in_loop || matches!(s.kind, StmtKind::For { .. });
        for b in s.nested_blocks() {
            walk(b, nested_in_loop, visit);
        }
    }
}

/// What a statement of lowered operator code does to values, as the analyses see it. The
/// adjoint's own statements and `return` (gone after lowering) never reach them, so this
/// view is where that is said, once.
pub enum Flow<'a> {
    Assign {
        place: &'a Place,
        value: &'a Expr,
    },
    Call {
        args: &'a [Expr],
        outs: &'a [VarId],
    },
    Copy {
        dst: VarId,
        src: VarId,
    },
    /// `if`, `match`, `for`: conditions and bounds are integers and flags; the nested
    /// statements are visited on their own.
    Control,
}

impl Stmt {
    /// This statement of lowered code as a [`Flow`].
    pub fn flow(&self) -> Flow<'_> {
        match &self.kind {
            StmtKind::Assign { place, value } => Flow::Assign { place, value },
            StmtKind::Call { args, outs, .. } => Flow::Call { args, outs },
            StmtKind::Copy { dst, src } => Flow::Copy {
                dst: *dst,
                src: *src,
            },
            StmtKind::If { .. } | StmtKind::Match { .. } | StmtKind::For { .. } => Flow::Control,
            StmtKind::Return(_) => unreachable!("returns are lowered before the analyses"),
            StmtKind::Accumulate { .. }
            | StmtKind::Let { .. }
            | StmtKind::Save(..)
            | StmtKind::Restore(..)
            | StmtKind::SaveControl(_)
            | StmtKind::RestoreControl(_)
            | StmtKind::CallAdjoint { .. }
            | StmtKind::Zero(_) => unreachable!("only the adjoint creates these"),
        }
    }
}
