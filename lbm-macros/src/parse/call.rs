//! Calls to other operators: the checks at a call site, and the lifting of calls out of
//! expressions.
//!
//! Takes a `syn::ExprCall`; registers the callee in [`Function::callees`] and returns it
//! with the IR arguments, real-valued ones bound to variables since the C calling
//! convention passes them by address. In the IR a call is a statement, never part of an
//! expression (its C form writes its results through pointers), so every call's results
//! land in variables: the names a `let` declares (`let (a, b) = op(...)`, see `stmt`),
//! or fresh temporaries that [`Parser::lift_call`] and [`Parser::call_into_temps`]
//! emit before the statement that reads them (a call inside an expression, assigned to
//! an existing variable, or returned).
//!
//! Lifting stays in the parser rather than in a pass of its own in `lower`. A later pass
//! would need a call expression in the IR that every other stage must then rule out; it
//! would create the temporaries in another order, and their order decides their fresh
//! names and the order in which the printers declare them, so the generated code would
//! change; and a call's result type comes from the call site's syntax (how many names
//! destructure it, whether a `let` is annotated), which only the parser sees.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::intrinsic;
use crate::ir::*;
use crate::symbol;

use super::{heap_message, strip_parens, typing, Parser};

impl Parser<'_> {
    /// Lifts a call with one result out of an expression: emits it with its result in a
    /// fresh temporary `<callee>_val`, and returns that temporary.
    pub(super) fn lift_call(&mut self, call: &syn::ExprCall, span: Span) -> Option<VarId> {
        Some(self.call_into_temps(call, 1, None, span)?[0])
    }

    /// Emits a call with `outputs` results, each in a fresh temporary named `base` (or
    /// `<callee>_val`) typed as the callee's output; returns the temporaries.
    pub(super) fn call_into_temps(
        &mut self,
        call: &syn::ExprCall,
        outputs: usize,
        base: Option<&str>,
        span: Span,
    ) -> Option<Vec<VarId>> {
        let (callee, args) = self.call(call, outputs)?;
        let base = match base {
            Some(b) => b.to_string(),
            None => format!("{}_val", self.f.callees[callee].name),
        };
        let outs: Vec<VarId> = (0..outputs)
            .map(|index| self.temp(&base, Ty::Opaque { callee, index }, span))
            .collect();
        self.emit(
            StmtKind::Call {
                callee,
                args,
                outs: outs.clone(),
            },
            span,
        );
        Some(outs)
    }

    /// Parses an operator call with `outputs` results: checks the callee's path, binds the
    /// arguments, registers the callee.
    pub(super) fn call(
        &mut self,
        call: &syn::ExprCall,
        outputs: usize,
    ) -> Option<(CalleeId, Vec<Expr>)> {
        let (path, last) = self.callee_path(call)?;
        let args = self.call_args(call)?;
        let id = self.register_callee(call, path, last, outputs);
        Some((id, args))
    }

    /// The path of an operator, with its last segment; anything else called like a function
    /// (intrinsics, associated functions, recursion) is reported with what to write.
    fn callee_path<'c>(&self, call: &'c syn::ExprCall) -> Option<(&'c syn::Path, String)> {
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
        Some((path, last))
    }

    /// The arguments; real-valued ones that are not variables are bound to temporaries
    /// `arg`, as the calling convention passes them by address.
    fn call_args(&mut self, call: &syn::ExprCall) -> Option<Vec<Expr>> {
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
        Some(args)
    }

    /// The callee's index in [`Function::callees`], added at its first call.
    fn register_callee(
        &mut self,
        call: &syn::ExprCall,
        path: &syn::Path,
        last: String,
        outputs: usize,
    ) -> CalleeId {
        match self.f.callees.iter().position(|c| c.path == *path) {
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
        }
    }
}
