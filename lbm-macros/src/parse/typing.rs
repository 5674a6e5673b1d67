//! The typing rules: which values may meet in an operator, an index, a cast or an
//! assignment, and the implicit conversions between them.
//!
//! Takes IR expressions that are already typed, with the span (or the source node) a
//! mismatch is reported at; returns the typed result, or `None` after reporting the
//! mismatch to the [`Ctxt`]. Nothing here reads syntax: the parser decides which rule
//! applies where, this module decides what the rule says, so the rules of the language
//! sit on one screen.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::ir::*;

/// Converts `e` to type `to` where the language allows it implicitly (integer literals
/// to reals, call results to reals), or reports the mismatch.
pub fn coerce(cx: &Ctxt, e: Expr, to: Ty, span: Span) -> Option<Expr> {
    // A catch-all over pairs of types: every pair not listed is a mismatch.
    match (e.ty, to) {
        (a, b) if a == b => Some(e),
        (Ty::Int(a), Ty::Int(b)) => {
            same_int_kind(cx, a, b, span)?;
            Some(e)
        }
        (Ty::Int(IntTy::Literal), Ty::Real) => match e.kind {
            ExprKind::IntLit(v) => Some(Expr::real(v as f64, e.span)),
            _ => Some(Expr::new(ExprKind::Cast(Box::new(e)), Ty::Real, span)),
        },
        (Ty::Opaque { .. }, Ty::Real) => Some(Expr { ty: Ty::Real, ..e }),
        (Ty::Int(_), Ty::Real) => {
            cx.error(
                span,
                "an integer where a Real is expected: convert with `as Real`",
            );
            None
        }
        (Ty::Real, Ty::Int(_)) => {
            cx.error(span, "a Real where an integer is expected");
            None
        }
        (_, Ty::Bool) => {
            cx.error(span, "a condition must be a bool, such as `x > 0.0`");
            None
        }
        (Ty::Array(_), _) | (_, Ty::Array(_)) => {
            cx.error(
                span,
                "whole arrays cannot be used here: index them (`x[i]`) inside a `for` loop",
            );
            None
        }
        _ => {
            cx.error(span, "mismatched types");
            None
        }
    }
}

/// Integers of two different Rust types meet only through an explicit `as`, as in
/// Rust; unsuffixed literals take the other side's type.
pub fn same_int_kind(cx: &Ctxt, a: IntTy, b: IntTy, span: Span) -> Option<()> {
    if a == b || a == IntTy::Literal || b == IntTy::Literal {
        return Some(());
    }
    let (a, b) = (a.rust_name().unwrap_or("?"), b.rust_name().unwrap_or("?"));
    cx.error(
        span,
        format!("mixing `{a}` and `{b}`: convert one with `as` (loop counters and `OPP[i]` are `usize`)"),
    );
    None
}

/// The type of `let x = value` (with `let x: annotated`): as annotated, else the value's.
/// A scalar computed from a call result is a `Real`; a copy of a call result keeps the
/// result's type, whose shape only the callee knows.
pub fn binding(annotated: Option<Ty>, value: &Expr) -> Ty {
    match (annotated, value.ty) {
        (Some(t), _) => t,
        (None, Ty::Opaque { .. }) if !matches!(value.kind, ExprKind::Var(_)) => Ty::Real,
        (None, t) => t,
    }
}

/// How a value lands in a place.
pub enum Store {
    /// Every real of a whole variable is copied: arrays and call results.
    Copy(VarId),
    /// The value, converted to the place's type, is assigned.
    Value(Expr),
}

/// Assigning `value` to `place`, whose type is `target`: a whole array or call result is
/// copied from a variable of the same length, anything else is a scalar converted to the
/// place's type.
pub fn store(cx: &Ctxt, place: &Place, target: Ty, value: Expr, span: Span) -> Option<Store> {
    let is_whole = |t: Ty| matches!(t, Ty::Array(_) | Ty::Opaque { .. });
    if is_whole(target) || is_whole(value.ty) {
        if let (Place::Var(_), ExprKind::Var(src)) = (place, &value.kind) {
            if let (Ty::Array(a), Ty::Array(b)) = (target, value.ty) {
                if a != b {
                    cx.error(span, "array lengths differ");
                    return None;
                }
            }
            // Only the callees know the shapes of call results: rustc checks them in
            // the Rust form, and the C form copies the destination's length.
            if target.is_real_valued() && value.ty.is_real_valued() {
                return Some(Store::Copy(*src));
            }
        }
        if let Ty::Array(_) = target {
            cx.error(
                span,
                "an array is assigned an array variable of the same length",
            );
            return None;
        }
    }
    // A scalar assigned to a call result: the result is a scalar too (rustc checks
    // that against the callee's output type in the Rust form).
    let target = match target {
        Ty::Opaque { .. } => Ty::Real,
        t => t,
    };
    coerce(cx, value, target, span).map(Store::Value)
}

/// A binary operator on `a` and `b`: logical operators take bools, comparisons two reals
/// or two values of one kind, the rest is [`arith`]. A conversion of one side is reported
/// at that side's span (`left`, `right`), a mismatch between the sides at `span`.
pub fn binary(
    cx: &Ctxt,
    op: BinOp,
    (a, left): (Expr, Span),
    (b, right): (Expr, Span),
    span: Span,
) -> Option<Expr> {
    if op.is_logical() {
        let a = coerce(cx, a, Ty::Bool, left)?;
        let b = coerce(cx, b, Ty::Bool, right)?;
        return Some(Expr::binary(op, a, b));
    }
    if op.is_comparison() {
        let real = a.ty.is_scalar_real() || b.ty.is_scalar_real();
        let (a, b) = if real {
            (
                coerce(cx, a, Ty::Real, left)?,
                coerce(cx, b, Ty::Real, right)?,
            )
        } else if let (Ty::Int(x), Ty::Int(y)) = (a.ty, b.ty) {
            same_int_kind(cx, x, y, span)?;
            (a, b)
        } else if a.ty == b.ty {
            (a, b)
        } else {
            cx.error(span, "comparison of values of different kinds");
            return None;
        };
        return Some(Expr::binary(op, a, b));
    }
    arith(cx, op, a, b, span)
}

/// An arithmetic or bit operator: two reals (integer literals and call results convert),
/// or two integers of one kind; bit operators and `%` on integers only.
pub fn arith(cx: &Ctxt, op: BinOp, a: Expr, b: Expr, span: Span) -> Option<Expr> {
    let is_real = |t: Ty| t.is_scalar_real();
    let (a, b) = match (a.ty, b.ty) {
        (Ty::Array(_), _) | (_, Ty::Array(_)) => {
            cx.error(
                span,
                "arithmetic on whole arrays is not supported: loop over the elements (`for i in 0..Q`)",
            );
            return None;
        }
        (x, y) if is_real(x) && is_real(y) => (
            coerce(cx, a, Ty::Real, span)?,
            coerce(cx, b, Ty::Real, span)?,
        ),
        (x, Ty::Int(IntTy::Literal)) if is_real(x) => (
            coerce(cx, a, Ty::Real, span)?,
            coerce(cx, b, Ty::Real, span)?,
        ),
        (Ty::Int(IntTy::Literal), y) if is_real(y) => (
            coerce(cx, a, Ty::Real, span)?,
            coerce(cx, b, Ty::Real, span)?,
        ),
        (Ty::Int(x), Ty::Int(y)) => {
            same_int_kind(cx, x, y, span)?;
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
            cx.error(
                span,
                "mixing an integer and a Real: convert the integer with `as Real`",
            );
            return None;
        }
        _ => {
            cx.error(span, "arithmetic needs two numbers of the same kind");
            return None;
        }
    };
    if op.is_integer_only() {
        cx.error(
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

/// `-a`, for `node` (the whole negation): reals and signed integers.
pub fn negate(cx: &Ctxt, a: Expr, node: &impl ToTokens) -> Option<Expr> {
    let span = node.span();
    if matches!(a.ty, Ty::Array(_) | Ty::Bool) {
        cx.error(span, "negate numbers, not arrays or flags");
        return None;
    }
    if matches!(a.ty, Ty::Int(IntTy::Usize | IntTy::U32)) {
        cx.error_spanned(
            node,
            "an unsigned integer cannot be negated: cast it first (`-(n as i32)`)",
        );
        return None;
    }
    let a = if matches!(a.ty, Ty::Opaque { .. }) {
        coerce(cx, a, Ty::Real, span)?
    } else {
        a
    };
    Some(Expr::neg(a))
}

/// `!a`, for a bool `a`; `span` covers the whole negation.
pub fn not(cx: &Ctxt, a: Expr, span: Span) -> Option<Expr> {
    let a = coerce(cx, a, Ty::Bool, span)?;
    Some(Expr::not(a))
}

/// `e as to`, for `node` (the whole cast): between numbers only; a cast to the type `e`
/// already has disappears.
pub fn cast(cx: &Ctxt, e: Expr, to: Ty, node: &impl ToTokens) -> Option<Expr> {
    let span = node.span();
    match (e.ty, to) {
        (_, Ty::Bool) => {
            cx.error_spanned(
                node,
                "nothing casts to `bool`: compare instead (`x != 0`, `x > 0.0`)",
            );
            None
        }
        (Ty::Bool, Ty::Real) => {
            cx.error_spanned(
                node,
                "a `bool` does not cast to `Real`: select with `if b { 1.0 } else { 0.0 }`",
            );
            None
        }
        (Ty::Array(_), _) | (_, Ty::Array(_)) => {
            cx.error_spanned(
                node,
                "arrays cannot be cast: convert the elements in a loop",
            );
            None
        }
        (Ty::Opaque { .. }, _) => {
            let e = coerce(cx, e, Ty::Real, span)?;
            Some(Expr::new(ExprKind::Cast(Box::new(e)), to, span))
        }
        (from, to) if from == to => Some(e),
        _ => Some(Expr::new(ExprKind::Cast(Box::new(e)), to, span)),
    }
}

/// An index, for `node` (the index as written): an integer of any kind.
pub fn index(cx: &Ctxt, i: Expr, node: &impl ToTokens) -> Option<Expr> {
    if !i.ty.is_int() {
        cx.error_spanned(node, "indices are integers");
        return None;
    }
    Some(i)
}
