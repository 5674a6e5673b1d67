//! Expressions: literals, variables and lattice constants, indexing, operators, method
//! intrinsics, casts, and the constructs outside the language with what to write instead.
//!
//! Takes a `syn::Expr`; returns a typed IR [`Expr`], or `None` after reporting why not.
//! Parts that are statements in the IR (operator calls, value-producing `if` / `match`,
//! array literals) are emitted into the innermost open block first, and the expression
//! reads the temporary they fill. Which operands an operator or a cast accepts, and the
//! conversions between them, are `typing`'s rules; this file reads the syntax and
//! applies them.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::intrinsic::{self, Intrinsic};
use crate::ir::*;
use crate::symbol;

use super::{heap_message, strip_parens, typing, Parser};

impl Parser<'_> {
    pub(super) fn index(&mut self, e: &syn::Expr) -> Option<Expr> {
        let i = self.expr(e)?;
        typing::index(self.cx, i, e)
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
                typing::binary(self.cx, op, (a, b.left.span()), (c, b.right.span()), span)
            }
            syn::Expr::Unary(u) => match u.op {
                syn::UnOp::Neg(_) => {
                    let a = self.expr(&u.expr)?;
                    typing::negate(self.cx, a, e)
                }
                syn::UnOp::Not(_) => {
                    let a = self.expr(&u.expr)?;
                    typing::not(self.cx, a, span)
                }
                _ => {
                    self.err(span, "references are not allowed: operators work on values");
                    None
                }
            },
            syn::Expr::MethodCall(m) => self.method_call(m),
            syn::Expr::Call(call) => {
                let t = self.lift_call(call, span)?;
                Some(Expr::var(t, self.f.vars[t].ty, span))
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
        let mut args = vec![typing::coerce(self.cx, recv, Ty::Real, m.receiver.span())?];
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
                typing::coerce(self.cx, v, Ty::Real, a.span())?
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
        typing::cast(self.cx, inner, to, c)
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
