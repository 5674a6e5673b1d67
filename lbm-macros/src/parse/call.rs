//! Calls to other operators and the checks at a call site.
//!
//! Takes a `syn::ExprCall`; registers the callee in [`Function::callees`] and returns it
//! with the IR arguments, real-valued ones bound to variables since the C calling
//! convention passes them by address.

use syn::spanned::Spanned;

use crate::intrinsic;
use crate::ir::*;
use crate::symbol;

use super::{heap_message, strip_parens, typing, Parser};

impl Parser<'_> {
    /// Parses an operator call with `outputs` results. Real-valued arguments are bound to
    /// variables, as the calling convention passes them by address.
    pub(super) fn call(
        &mut self,
        call: &syn::ExprCall,
        outputs: usize,
    ) -> Option<(CalleeId, Vec<Expr>)> {
        let syn::Expr::Path(fp) = strip_parens(&call.func) else {
            self.err_at(&call.func, "call operators by name: `density(f)`");
            return None;
        };
        let path = &fp.path;
        let last = path.segments.last()?.ident.to_string();
        if path.segments.len() == 1 && intrinsic::Intrinsic::from_method(&last).is_some() {
            self.err_at(
                &path,
                format!(
                    "intrinsics are methods: write `x.{last}(...)` instead of `{last}(x, ...)`"
                ),
            );
            return None;
        }
        let first = path
            .segments
            .first()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if (first == "f64" || first == "f32") && path.segments.len() == 2 {
            self.err_at(
                path,
                format!("write the intrinsic as a method on `Real`: `x.{last}(...)` instead of `{first}::{last}(x, ...)`"),
            );
            return None;
        }
        if let Some(seg) = path
            .segments
            .iter()
            .find(|s| symbol::HEAP.contains(&s.ident.to_string().as_str()))
        {
            self.err_at(&path, heap_message(&seg.ident.to_string()));
            return None;
        }
        if path.segments.len() >= 2 {
            let parent = path.segments[path.segments.len() - 2].ident.to_string();
            if parent.chars().next().is_some_and(|c| c.is_uppercase()) {
                self.err_at(
                    &path,
                    format!(
                        "`{parent}::{last}` is not an operator: call `#[operator]` functions or \
                         use the intrinsics (x.sqrt(), x.exp(), ...)"
                    ),
                );
                return None;
            }
        }
        if path.segments.len() == 1 && self.f.name == last {
            self.err_at(
                &path,
                "operators cannot call themselves: recursion has no fixed trip count; write a loop",
            );
            return None;
        }
        if path.segments.iter().any(|s| !s.arguments.is_none()) {
            self.err_at(&path, "operator calls take no generic arguments");
            return None;
        }
        let mut args = Vec::new();
        for a in &call.args {
            let v = self.value(a, None)?;
            let v = if v.ty.is_real_valued() && !matches!(v.kind, ExprKind::Var(_)) {
                let t = self.temp("arg", Ty::Real, a.span());
                let v = typing::coerce(self.cx, v, Ty::Real, a.span())?;
                self.emit(
                    StmtKind::Assign {
                        place: Place::Var(t),
                        value: v,
                    },
                    a.span(),
                );
                Expr::var(t, Ty::Real, a.span())
            } else {
                v
            };
            args.push(v);
        }
        let id = match self.f.callees.iter().position(|c| c.path == *path) {
            Some(id) => {
                if self.f.callees[id].outputs != outputs {
                    self.err_at(
                        &call,
                        "this operator is used with different numbers of results",
                    );
                }
                id
            }
            None => {
                self.f.callees.push(Callee {
                    path: path.clone(),
                    name: last,
                    outputs,
                    args: call.args.len(),
                    span: path.span(),
                });
                self.f.callees.len() - 1
            }
        };
        Some((id, args))
    }
}
