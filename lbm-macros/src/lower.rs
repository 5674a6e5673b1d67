//! Lowering: early returns to a single exit.
//!
//! Takes the parsed function, whose `Return` statements may sit anywhere, and returns it
//! with every `return v` replaced by assignments to the output slots. Where a return is
//! followed by more code (or sits in a loop), a `done` flag is set and the code after it
//! runs under `if !done`, so the forward sweep of the adjoint, which must replay exactly the
//! statements that ran, stays structured: branches and constant-trip loops only.

use proc_macro2::Span;

use crate::ir::*;

pub fn lower_returns(f: &mut Function) {
    let outputs = f.outputs.clone();
    f.ret_vars = outputs
        .iter()
        .enumerate()
        .map(|(k, ty)| {
            let base = if outputs.len() == 1 {
                "ret".to_string()
            } else {
                format!("ret{k}")
            };
            f.add_var(&base, *ty, Role::Ret(k), Span::call_site())
        })
        .collect();
    let body = std::mem::take(&mut f.body);
    let done = if needs_done_flag(&body, true) {
        Some(f.add_var("done", Ty::Bool, Role::Done, Span::call_site()))
    } else {
        None
    };
    let mut lowering = Lowering { f, done };
    let (body, _) = lowering.block(body);
    f.body = body;
}

/// Whether some `return` is followed by code that must be skipped.
fn needs_done_flag(block: &Block, tail: bool) -> bool {
    block.iter().enumerate().any(|(i, s)| {
        let is_tail = tail && i + 1 == block.len();
        match &s.kind {
            StmtKind::Return(_) => !is_tail,
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => needs_done_flag(then_branch, is_tail) || needs_done_flag(else_branch, is_tail),
            StmtKind::Match { arms, .. } => arms.iter().any(|a| needs_done_flag(&a.body, is_tail)),
            // A return in a loop skips the iterations after it.
            StmtKind::For { body, .. } => contains_return(body),
            StmtKind::Assign { .. } | StmtKind::Call { .. } | StmtKind::Copy { .. } => false,
            StmtKind::Accumulate { .. }
            | StmtKind::Let { .. }
            | StmtKind::Save(..)
            | StmtKind::Restore(..)
            | StmtKind::SaveControl(_)
            | StmtKind::RestoreControl(_)
            | StmtKind::CallAdjoint { .. }
            | StmtKind::Zero(_) => unreachable!("only the adjoint creates these"),
        }
    })
}

fn contains_return(block: &Block) -> bool {
    let mut found = false;
    walk(block, false, &mut |s, _| {
        found |= matches!(s.kind, StmtKind::Return(_));
    });
    found
}

struct Lowering<'a> {
    f: &'a mut Function,
    done: Option<VarId>,
}

impl Lowering<'_> {
    /// Lowers a block; the flag says whether it may return.
    fn block(&mut self, stmts: Block) -> (Block, bool) {
        let mut out = Vec::new();
        let mut may_return = false;
        let mut rest = stmts.into_iter();
        while let Some(s) = rest.next() {
            let (lowered, returns) = self.stmt(s);
            out.extend(lowered);
            if returns {
                may_return = true;
                let remaining: Block = rest.by_ref().collect();
                if let (Some(done), false) = (self.done, remaining.is_empty()) {
                    let span = remaining[0].span;
                    let (guarded, _) = self.block(remaining);
                    out.push(Stmt::new(
                        StmtKind::If {
                            cond: self.not_done(done, span),
                            then_branch: guarded,
                            else_branch: Vec::new(),
                        },
                        span,
                    ));
                }
                break;
            }
        }
        (out, may_return)
    }

    fn not_done(&self, done: VarId, span: Span) -> Expr {
        Expr::not(Expr::var(done, Ty::Bool, span))
    }

    fn stmt(&mut self, s: Stmt) -> (Block, bool) {
        let span = s.span;
        match s.kind {
            StmtKind::Return(values) => {
                let mut out = Vec::new();
                for (k, v) in values.into_iter().enumerate() {
                    let slot = self.f.ret_vars[k];
                    out.extend(self.assign_whole(slot, v, span));
                }
                if let Some(done) = self.done {
                    out.push(Stmt::new(
                        StmtKind::Assign {
                            place: Place::Var(done),
                            value: Expr::boolean(true, span),
                        },
                        span,
                    ));
                }
                (out, true)
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let (then_branch, r1) = self.block(then_branch);
                let (else_branch, r2) = self.block(else_branch);
                let s = StmtKind::If {
                    cond,
                    then_branch,
                    else_branch,
                };
                (vec![Stmt::new(s, span)], r1 || r2)
            }
            StmtKind::Match { scrutinee, arms } => {
                let mut any = false;
                let arms = arms
                    .into_iter()
                    .map(|a| {
                        let (body, r) = self.block(a.body);
                        any |= r;
                        Arm { pats: a.pats, body }
                    })
                    .collect();
                (
                    vec![Stmt::new(StmtKind::Match { scrutinee, arms }, span)],
                    any,
                )
            }
            StmtKind::For {
                var,
                start,
                end,
                reverse,
                body,
            } => {
                let (mut body, returns) = self.block(body);
                if let (true, Some(done)) = (returns, self.done) {
                    body = vec![Stmt::new(
                        StmtKind::If {
                            cond: self.not_done(done, span),
                            then_branch: body,
                            else_branch: Vec::new(),
                        },
                        span,
                    )];
                }
                let s = StmtKind::For {
                    var,
                    start,
                    end,
                    reverse,
                    body,
                };
                (vec![Stmt::new(s, span)], returns)
            }
            kind @ (StmtKind::Assign { .. } | StmtKind::Call { .. } | StmtKind::Copy { .. }) => {
                (vec![Stmt::new(kind, span)], false)
            }
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

    /// `slot = value`, element by element for arrays.
    fn assign_whole(&mut self, slot: VarId, value: Expr, span: Span) -> Block {
        let slot_ty = self.f.vars[slot].ty;
        let Ty::Array(len) = slot_ty else {
            let value = Expr {
                ty: slot_ty,
                ..value
            };
            return vec![Stmt::new(
                StmtKind::Assign {
                    place: Place::Var(slot),
                    value,
                },
                span,
            )];
        };
        let ExprKind::Var(src) = value.kind else {
            unreachable!("the parser binds array results to variables")
        };
        vec![self.f.elementwise(slot, len, span, |k| {
            Expr::new(ExprKind::Index(src, Box::new(k)), Ty::Real, span)
        })]
    }
}
