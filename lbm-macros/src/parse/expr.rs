//! Expressions: literals, variables and lattice constants, indexing, operators, method
//! intrinsics, casts, and the constructs outside the language with what to write instead.
//!
//! Takes a `syn::Expr`; returns a typed IR [`Expr`], or `None` after reporting why not.
//! Parts that are statements in the IR (operator calls, value-producing `if` / `match`,
//! array literals) are emitted into the innermost open block first, and the expression
//! reads the temporary they fill.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::intrinsic::{self, Intrinsic};
use crate::ir::*;
use crate::symbol;

use super::{heap_message, strip_parens, Parser};

impl Parser<'_> {
    pub(super) fn index(&mut self, e: &syn::Expr) -> Option<Expr> {
        let i = self.expr(e)?;
        if !i.ty.is_int() {
            self.err_at(&e, "indices are integers");
            return None;
        }
        Some(i)
    }

    /// Converts `e` to type `to` where the language allows it implicitly (integer literals
    /// to reals, call results to reals), or reports the mismatch.
    pub(super) fn coerce(&mut self, e: Expr, to: Ty, span: Span) -> Option<Expr> {
        match (e.ty, to) {
            (a, b) if a == b => Some(e),
            (Ty::Int(a), Ty::Int(b)) => {
                self.same_int_kind(a, b, span)?;
                Some(e)
            }
            (Ty::Int(IntTy::Literal), Ty::Real) => match e.kind {
                ExprKind::IntLit(v) => Some(Expr::real(v as f64, e.span)),
                _ => Some(Expr::new(ExprKind::Cast(Box::new(e)), Ty::Real, span)),
            },
            (Ty::Opaque { .. }, Ty::Real) => Some(Expr { ty: Ty::Real, ..e }),
            (Ty::Int(_), Ty::Real) => {
                self.err(
                    span,
                    "an integer where a Real is expected: convert with `as Real`",
                );
                None
            }
            (Ty::Real, Ty::Int(_)) => {
                self.err(span, "a Real where an integer is expected");
                None
            }
            (_, Ty::Bool) => {
                self.err(span, "a condition must be a bool, such as `x > 0.0`");
                None
            }
            (Ty::Array(_), _) | (_, Ty::Array(_)) => {
                self.err(
                    span,
                    "whole arrays cannot be used here: index them (`x[i]`) inside a `for` loop",
                );
                None
            }
            _ => {
                self.err(span, "mismatched types");
                None
            }
        }
    }

    /// Integers of two different Rust types meet only through an explicit `as`, as in
    /// Rust; unsuffixed literals take the other side's type.
    fn same_int_kind(&self, a: IntTy, b: IntTy, span: Span) -> Option<()> {
        if a == b || a == IntTy::Literal || b == IntTy::Literal {
            return Some(());
        }
        let (a, b) = (a.rust_name().unwrap_or("?"), b.rust_name().unwrap_or("?"));
        self.err(
            span,
            format!("mixing `{a}` and `{b}`: convert one with `as` (loop counters and `OPP[i]` are `usize`)"),
        );
        None
    }

    pub(super) fn arith(&mut self, op: BinOp, a: Expr, b: Expr, span: Span) -> Option<Expr> {
        let is_real = |t: Ty| t.is_scalar_real();
        let (a, b) = match (a.ty, b.ty) {
            (Ty::Array(_), _) | (_, Ty::Array(_)) => {
                self.err(
                    span,
                    "arithmetic on whole arrays is not supported: loop over the elements (`for i in 0..Q`)",
                );
                return None;
            }
            (x, y) if is_real(x) && is_real(y) => (
                self.coerce(a, Ty::Real, span)?,
                self.coerce(b, Ty::Real, span)?,
            ),
            (x, Ty::Int(IntTy::Literal)) if is_real(x) => (
                self.coerce(a, Ty::Real, span)?,
                self.coerce(b, Ty::Real, span)?,
            ),
            (Ty::Int(IntTy::Literal), y) if is_real(y) => (
                self.coerce(a, Ty::Real, span)?,
                self.coerce(b, Ty::Real, span)?,
            ),
            (Ty::Int(x), Ty::Int(y)) => {
                self.same_int_kind(x, y, span)?;
                let ty = match (a.ty, b.ty) {
                    (Ty::Int(IntTy::Literal), t) => t,
                    (t, _) => t,
                };
                let mut e = Expr::binary(op, a, b);
                e.ty = ty;
                e.span = span;
                return Some(e);
            }
            (x, y) if (is_real(x) && y.is_int()) || (x.is_int() && is_real(y)) => {
                self.err(
                    span,
                    "mixing an integer and a Real: convert the integer with `as Real`",
                );
                return None;
            }
            _ => {
                self.err(span, "arithmetic needs two numbers of the same kind");
                return None;
            }
        };
        if op.is_integer_only() {
            self.err(
                span,
                format!(
                    "`{}` is defined on integers only (cell tags, link masks)",
                    op.symbol()
                ),
            );
            return None;
        }
        let mut e = Expr::binary(op, a, b);
        e.span = span;
        Some(e)
    }

    pub(super) fn expr(&mut self, e: &syn::Expr) -> Option<Expr> {
        let span = e.span();
        match e {
            syn::Expr::Paren(p) => self.expr(&p.expr),
            syn::Expr::Group(g) => self.expr(&g.expr),
            syn::Expr::Lit(l) => self.literal(&l.lit),
            syn::Expr::Path(p) => self.path_expr(p),
            syn::Expr::Index(ix) => self.index_expr(ix),
            syn::Expr::Binary(b) => {
                let a = self.expr(&b.left)?;
                let c = self.expr(&b.right)?;
                let op = match b.op {
                    syn::BinOp::Add(_) => BinOp::Add,
                    syn::BinOp::Sub(_) => BinOp::Sub,
                    syn::BinOp::Mul(_) => BinOp::Mul,
                    syn::BinOp::Div(_) => BinOp::Div,
                    syn::BinOp::Rem(_) => BinOp::Rem,
                    syn::BinOp::Lt(_) => BinOp::Lt,
                    syn::BinOp::Le(_) => BinOp::Le,
                    syn::BinOp::Gt(_) => BinOp::Gt,
                    syn::BinOp::Ge(_) => BinOp::Ge,
                    syn::BinOp::Eq(_) => BinOp::Eq,
                    syn::BinOp::Ne(_) => BinOp::Ne,
                    syn::BinOp::And(_) => BinOp::And,
                    syn::BinOp::Or(_) => BinOp::Or,
                    syn::BinOp::BitAnd(_) => BinOp::BitAnd,
                    syn::BinOp::BitOr(_) => BinOp::BitOr,
                    syn::BinOp::BitXor(_) => BinOp::BitXor,
                    syn::BinOp::Shl(_) => BinOp::Shl,
                    syn::BinOp::Shr(_) => BinOp::Shr,
                    _ => {
                        self.err_at(&b.op, "compound assignment is a statement: `x += y;`");
                        return None;
                    }
                };
                if op.is_logical() {
                    let a = self.coerce(a, Ty::Bool, b.left.span())?;
                    let c = self.coerce(c, Ty::Bool, b.right.span())?;
                    return Some(Expr::binary(op, a, c));
                }
                if op.is_comparison() {
                    let real = a.ty.is_scalar_real() || c.ty.is_scalar_real();
                    let (a, c) = if real {
                        (
                            self.coerce(a, Ty::Real, b.left.span())?,
                            self.coerce(c, Ty::Real, b.right.span())?,
                        )
                    } else if let (Ty::Int(x), Ty::Int(y)) = (a.ty, c.ty) {
                        self.same_int_kind(x, y, span)?;
                        (a, c)
                    } else if a.ty == c.ty {
                        (a, c)
                    } else {
                        self.err(span, "comparison of values of different kinds");
                        return None;
                    };
                    return Some(Expr::binary(op, a, c));
                }
                self.arith(op, a, c, span)
            }
            syn::Expr::Unary(u) => match u.op {
                syn::UnOp::Neg(_) => {
                    let a = self.expr(&u.expr)?;
                    if matches!(a.ty, Ty::Array(_) | Ty::Bool) {
                        self.err(span, "negate numbers, not arrays or flags");
                        return None;
                    }
                    if matches!(a.ty, Ty::Int(IntTy::Usize | IntTy::U32)) {
                        self.err_at(
                            e,
                            "an unsigned integer cannot be negated: cast it first (`-(n as i32)`)",
                        );
                        return None;
                    }
                    let a = if matches!(a.ty, Ty::Opaque { .. }) {
                        self.coerce(a, Ty::Real, span)?
                    } else {
                        a
                    };
                    Some(Expr::neg(a))
                }
                syn::UnOp::Not(_) => {
                    let a = self.expr(&u.expr)?;
                    let a = self.coerce(a, Ty::Bool, span)?;
                    Some(Expr::not(a))
                }
                _ => {
                    self.err(span, "references are not allowed: operators work on values");
                    None
                }
            },
            syn::Expr::MethodCall(m) => self.method_call(m),
            syn::Expr::Call(call) => {
                let (callee, args) = self.call(call, 1)?;
                let t = self.temp(
                    &format!("{}_val", self.f.callees[callee].name),
                    Ty::Opaque { callee, index: 0 },
                    span,
                );
                self.emit(
                    StmtKind::Call {
                        callee,
                        args,
                        outs: vec![t],
                    },
                    span,
                );
                Some(Expr::var(t, Ty::Opaque { callee, index: 0 }, span))
            }
            syn::Expr::Cast(c) => self.cast(c),
            syn::Expr::If(i) => {
                let ty = self.branch_type(&i.then_branch)?;
                let t = self.temp("sel", ty, span);
                self.if_stmt(i, Some(t));
                Some(Expr::var(t, ty, span))
            }
            syn::Expr::Match(m) => {
                let Some(first) = m.arms.first() else {
                    self.err_at(
                        &m.match_token,
                        "`match` needs arms, the last one `_ => ...`",
                    );
                    return None;
                };
                let ty = match &*first.body {
                    syn::Expr::Block(b) => self.branch_type(&b.block)?,
                    e => self.guess_type(e)?,
                };
                let t = self.temp("sel", ty, span);
                self.match_stmt(m, Some(t));
                Some(Expr::var(t, ty, span))
            }
            syn::Expr::Repeat(_) | syn::Expr::Array(_) => self.value(e, None),
            other => {
                if !self.unsupported(other) {
                    self.err(span, "this expression is not part of the operator language");
                }
                None
            }
        }
    }

    /// The type a value-producing branch yields, found by typing its tail in isolation.
    fn branch_type(&mut self, block: &syn::Block) -> Option<Ty> {
        match block.stmts.last() {
            Some(syn::Stmt::Expr(e, None)) => self.guess_type(e),
            _ => {
                self.err_at(&block, "this branch must end with a value");
                None
            }
        }
    }

    /// Types an expression without keeping its statements (only literals, variables and
    /// simple arithmetic need this; anything else falls back to Real).
    fn guess_type(&mut self, e: &syn::Expr) -> Option<Ty> {
        // Speculative: the statements, variables and errors it makes are dropped; the
        // real parse of the branch comes later.
        let saved_vars = self.f.vars.len();
        let saved_callees = self.f.callees.len();
        let saved_errors = self.cx.len();
        self.blocks.push(Vec::new());
        let ty = self.expr(e).map(|x| x.ty);
        self.blocks.pop();
        self.f.vars.truncate(saved_vars);
        self.mutable.truncate(saved_vars);
        self.f.callees.truncate(saved_callees);
        self.cx.truncate(saved_errors);
        match ty? {
            Ty::Opaque { .. } => {
                self.err_at(
                    e,
                    "the type of this value comes from another operator: annotate the binding \
                     (`let x: [Real; Q] = ...` or `let x: Real = ...`)",
                );
                None
            }
            t => Some(t),
        }
    }

    fn literal(&mut self, lit: &syn::Lit) -> Option<Expr> {
        match lit {
            syn::Lit::Float(f) => {
                if !matches!(f.suffix(), "" | "f64" | "f32") {
                    self.err_at(&f, "unsupported literal suffix");
                }
                Some(Expr::real(f.base10_parse().ok()?, f.span()))
            }
            syn::Lit::Int(i) => {
                let ty = match i.suffix() {
                    "" => IntTy::Literal,
                    "i32" => IntTy::I32,
                    "u32" => IntTy::U32,
                    "i64" => IntTy::I64,
                    "usize" => IntTy::Usize,
                    "f64" | "f32" => return Some(Expr::real(i.base10_parse().ok()?, i.span())),
                    _ => {
                        self.err_at(&i, "unsupported integer type: use i32, u32, i64 or usize");
                        return None;
                    }
                };
                Some(Expr::new(
                    ExprKind::IntLit(i.base10_parse().ok()?),
                    Ty::Int(ty),
                    i.span(),
                ))
            }
            syn::Lit::Bool(b) => Some(Expr::boolean(b.value, b.span())),
            other => {
                self.err_at(&other, "only numbers and booleans are allowed as literals");
                None
            }
        }
    }

    fn path_expr(&mut self, p: &syn::ExprPath) -> Option<Expr> {
        let span = p.span();
        let Some(ident) = p.path.get_ident() else {
            self.err(
                span,
                "use a local variable or a lattice constant (Q, D, C, W, OPP, CS2)",
            );
            return None;
        };
        let name = ident.to_string();
        if let Some(id) = self.lookup(&name) {
            return Some(Expr::var(id, self.f.vars[id].ty, span));
        }
        match name.as_str() {
            symbol::Q => Some(Expr::new(
                ExprKind::Lat(LatConst::Q),
                Ty::Int(IntTy::Usize),
                span,
            )),
            symbol::D => Some(Expr::new(
                ExprKind::Lat(LatConst::D),
                Ty::Int(IntTy::Usize),
                span,
            )),
            symbol::CS2 => Some(Expr::new(ExprKind::Lat(LatConst::Cs2), Ty::Real, span)),
            symbol::C | symbol::W | symbol::OPP => {
                self.err(
                    span,
                    format!(
                        "index the lattice table: `{}`",
                        match name.as_str() {
                            symbol::C => "C[i][a]",
                            symbol::W => "W[i]",
                            _ => "OPP[i]",
                        }
                    ),
                );
                None
            }
            _ => {
                self.unknown_variable(ident);
                None
            }
        }
    }

    fn index_expr(&mut self, ix: &syn::ExprIndex) -> Option<Expr> {
        let span = ix.span();
        // C[i][a]
        if let syn::Expr::Index(inner) = strip_parens(&ix.expr) {
            if let syn::Expr::Path(p) = strip_parens(&inner.expr) {
                if p.path.is_ident(symbol::C) && self.lookup(symbol::C).is_none() {
                    let i = self.index(&inner.index)?;
                    let a = self.index(&ix.index)?;
                    return Some(Expr::new(
                        ExprKind::LatC(Box::new(i), Box::new(a)),
                        Ty::Real,
                        span,
                    ));
                }
            }
            self.err(span, "only the lattice table `C[i][a]` has two indices");
            return None;
        }
        let syn::Expr::Path(p) = strip_parens(&ix.expr) else {
            self.err_at(&ix.expr, "index a variable: `x[i]`");
            return None;
        };
        let Some(ident) = p.path.get_ident() else {
            self.err_at(&p, "index a variable: `x[i]`");
            return None;
        };
        let name = ident.to_string();
        if let Some(id) = self.lookup(&name) {
            if !self.f.vars[id].ty.is_indexable() {
                self.err_at(&ix.expr, format!("`{name}` is not an array"));
                return None;
            }
            let i = self.index(&ix.index)?;
            return Some(Expr::new(ExprKind::Index(id, Box::new(i)), Ty::Real, span));
        }
        match name.as_str() {
            symbol::W => {
                let i = self.index(&ix.index)?;
                Some(Expr::new(ExprKind::LatW(Box::new(i)), Ty::Real, span))
            }
            symbol::OPP => {
                let i = self.index(&ix.index)?;
                Some(Expr::new(
                    ExprKind::LatOpp(Box::new(i)),
                    Ty::Int(IntTy::Usize),
                    span,
                ))
            }
            symbol::C => {
                self.err(span, "`C` has two indices: `C[i][a]`");
                None
            }
            _ => {
                self.unknown_variable(ident);
                None
            }
        }
    }

    fn method_call(&mut self, m: &syn::ExprMethodCall) -> Option<Expr> {
        let name = m.method.to_string();
        if let Some(t) = &m.turbofish {
            self.err_at(&t, "method calls take no generic arguments");
            return None;
        }
        let Some(intr) = Intrinsic::from_method(&name) else {
            let known: Vec<&str> = intrinsic::ALL.iter().map(|(n, _)| *n).collect();
            let hint = if ["iter", "iter_mut", "into_iter", "len", "map", "sum", "fold"]
                .contains(&name.as_str())
            {
                " (iterate with `for i in 0..Q` instead)"
            } else {
                ""
            };
            self.err_at(&m.method,
                format!(
                    "unsupported method `{name}`: the intrinsics with known derivatives are {}{hint}",
                    known.join(", ")
                ),
            );
            return None;
        };
        if m.args.len() != intr.extra_args() {
            let usage = match intr.extra_args() {
                0 => format!("x.{name}()"),
                1 => format!("x.{name}(y)"),
                _ => format!("x.{name}(a, b)"),
            };
            self.err_at(
                &m.method,
                format!(
                    "`{name}` takes {} argument(s) besides the receiver: write `{usage}`",
                    intr.extra_args()
                ),
            );
            return None;
        }
        let recv = self.expr(&m.receiver)?;
        let mut args = vec![self.coerce(recv, Ty::Real, m.receiver.span())?];
        for (k, a) in m.args.iter().enumerate() {
            let v = self.expr(a)?;
            let v = if intr.arg_is_int(k + 1) {
                if !v.ty.is_int() {
                    self.err_at(
                        &a,
                        "`powi` takes an integer exponent; use `powf` for a real one",
                    );
                    return None;
                }
                v
            } else {
                self.coerce(v, Ty::Real, a.span())?
            };
            args.push(v);
        }
        Some(Expr::new(
            ExprKind::Intrinsic(intr, args),
            Ty::Real,
            m.span(),
        ))
    }

    fn cast(&mut self, c: &syn::ExprCast) -> Option<Expr> {
        let inner = self.expr(&c.expr)?;
        let to = match &*c.ty {
            syn::Type::Path(tp) if tp.path.is_ident("f64") || tp.path.is_ident("f32") => {
                self.err_at(
                    &c.ty,
                    "cast to `Real`: the precision is chosen when a kernel is built",
                );
                return None;
            }
            t => self.parse_type(t)?,
        };
        match (inner.ty, to) {
            (_, Ty::Bool) => {
                self.err_at(
                    &c,
                    "nothing casts to `bool`: compare instead (`x != 0`, `x > 0.0`)",
                );
                None
            }
            (Ty::Bool, Ty::Real) => {
                self.err_at(
                    &c,
                    "a `bool` does not cast to `Real`: select with `if b { 1.0 } else { 0.0 }`",
                );
                None
            }
            (Ty::Array(_), _) | (_, Ty::Array(_)) => {
                self.err_at(&c, "arrays cannot be cast: convert the elements in a loop");
                None
            }
            (Ty::Opaque { .. }, _) => {
                let inner = self.coerce(inner, Ty::Real, c.span())?;
                Some(Expr::new(ExprKind::Cast(Box::new(inner)), to, c.span()))
            }
            (from, to) if from == to => Some(inner),
            _ => Some(Expr::new(ExprKind::Cast(Box::new(inner)), to, c.span())),
        }
    }

    /// Reports constructs outside the language with what to write instead; returns whether
    /// it reported one.
    pub(super) fn unsupported(&mut self, e: &syn::Expr) -> bool {
        let (span, msg): (Span, String) = match e {
            syn::Expr::While(w) => (
                w.while_token.span(),
                "`while` loops have no fixed trip count, which the adjoint needs: write `for i in 0..N` with a constant N".into(),
            ),
            syn::Expr::Loop(l) => (
                l.loop_token.span(),
                "unbounded `loop` is not allowed: write `for i in 0..N` with a constant N".into(),
            ),
            syn::Expr::Closure(c) => (
                c.span(),
                "closures are not allowed: write another `#[operator]` function and call it".into(),
            ),
            syn::Expr::Unsafe(u) => (u.unsafe_token.span(), "`unsafe` code is not allowed in operators".into()),
            syn::Expr::Reference(r) => (
                r.and_token.span(),
                "references are not allowed: operators take and return values; pass `x` instead of `&x`".into(),
            ),
            syn::Expr::Macro(m) => {
                self.macro_error(&m.mac);
                return true;
            }
            syn::Expr::Break(b) => (b.span(), "`break` is not allowed: guard the rest of the loop body with `if`".into()),
            syn::Expr::Continue(c) => (c.span(), "`continue` is not allowed: guard the rest of the loop body with `if`".into()),
            syn::Expr::Try(t) => (t.question_token.span(), "the `?` operator is not allowed: operators cannot fail".into()),
            syn::Expr::Async(a) => (a.span(), "`async` is not allowed in operators".into()),
            syn::Expr::Await(a) => (a.span(), "`.await` is not allowed in operators".into()),
            syn::Expr::Struct(s) => (s.span(), "structs are not allowed: use reals, arrays and tuples of results".into()),
            syn::Expr::Field(f) => (f.span(), "field access is not allowed: destructure results with `let (a, b) = op(...)`".into()),
            syn::Expr::Range(r) => (r.span(), "ranges are only allowed as `for` loop bounds".into()),
            syn::Expr::Tuple(t) => (t.span(), "tuples are only allowed as an operator's result".into()),
            syn::Expr::Let(l) => (l.span(), "`if let` / `while let` are not allowed; use `if` or `match` on integers".into()),
            syn::Expr::Yield(y) => (y.span(), "`yield` is not allowed".into()),
            _ => return false,
        };
        self.err(span, msg);
        true
    }

    pub(super) fn macro_error(&mut self, mac: &syn::Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let msg = match name.as_str() {
            "vec" => heap_message("Vec"),
            "println" | "print" | "eprintln" | "dbg" | "format" => format!(
                "`{name}!` is not allowed: operators run on the GPU; inspect values with the \
                 CPU form in a test instead"
            ),
            "panic" | "assert" | "assert_eq" | "unreachable" | "todo" | "unimplemented" => format!(
                "`{name}!` is not allowed: operators cannot fail; clamp or select values instead"
            ),
            _ => format!("macros are not allowed in operators (`{name}!`): write the code out"),
        };
        self.err_at(&mac.path, msg);
    }
}
