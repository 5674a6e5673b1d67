//! Checks that span several statements: every path returns, and no value flows from a
//! differentiable real into an integer (which would cut the gradient silently).

use crate::activity::Activity;
use crate::ctxt::Ctxt;
use crate::ir::*;

/// Runs on the parsed function, before lowering.
pub fn check_returns(f: &Function, cx: &Ctxt) {
    if !always_returns(&f.body) {
        cx.error(
            f.name.span(),
            "not every path through this operator returns a value: end it with the result \
             (or `return` on every branch)",
        );
    }
}

fn always_returns(block: &Block) -> bool {
    block.iter().any(|s| match &s.kind {
        StmtKind::Return(_) => true,
        StmtKind::If {
            then_branch,
            else_branch,
            ..
        } => always_returns(then_branch) && always_returns(else_branch),
        StmtKind::Match { arms, .. } => {
            arms.iter().any(|a| a.pats.is_none()) && arms.iter().all(|a| always_returns(&a.body))
        }
        _ => false,
    })
}

/// Runs after activity analysis: a cast of a differentiable real to an integer has a zero
/// derivative everywhere, so a gradient through it would be silently wrong.
pub fn check_casts(f: &Function, act: &Activity, cx: &Ctxt) {
    visit_exprs(&f.body, &mut |e| check_expr(e, act, cx));
}

fn check_expr(e: &Expr, act: &Activity, cx: &Ctxt) {
    if let ExprKind::Cast(inner) = &e.kind {
        if e.ty.is_int() && inner.ty.is_scalar_real() && act.expr_active(inner) {
            cx.error(
                e.span,
                "a float-to-integer cast of a differentiable value cuts its gradient to zero: \
                 branch on a comparison (`if x > 0.5 { .. }`) or keep the value real",
            );
        }
    }
    match &e.kind {
        ExprKind::Index(_, a)
        | ExprKind::LatW(a)
        | ExprKind::LatOpp(a)
        | ExprKind::Unary(_, a)
        | ExprKind::Cast(a) => check_expr(a, act, cx),
        ExprKind::LatC(a, b) | ExprKind::Binary(_, a, b) => {
            check_expr(a, act, cx);
            check_expr(b, act, cx);
        }
        ExprKind::Intrinsic(_, args) => args.iter().for_each(|a| check_expr(a, act, cx)),
        ExprKind::Select(c, a, b) => {
            check_expr(c, act, cx);
            check_expr(a, act, cx);
            check_expr(b, act, cx);
        }
        _ => {}
    }
}

/// Calls `f` on every top-level expression of every statement.
pub fn visit_exprs(block: &Block, f: &mut impl FnMut(&Expr)) {
    for s in block {
        match &s.kind {
            StmtKind::Assign { place, value } => {
                if let Place::Elem(_, i) = place {
                    f(i);
                }
                f(value);
            }
            StmtKind::Call { args, .. } | StmtKind::CallAdjoint { args, .. } => {
                args.iter().for_each(&mut *f)
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                f(cond);
                visit_exprs(then_branch, f);
                visit_exprs(else_branch, f);
            }
            StmtKind::Match { scrutinee, arms } => {
                f(scrutinee);
                arms.iter().for_each(|a| visit_exprs(&a.body, f));
            }
            StmtKind::For {
                start, end, body, ..
            } => {
                f(start);
                f(end);
                visit_exprs(body, f);
            }
            StmtKind::Return(values) => values.iter().for_each(&mut *f),
            StmtKind::Let { value, .. } => f(value),
            StmtKind::SaveControl(e) => f(e),
            StmtKind::Save(Place::Elem(_, i)) | StmtKind::Restore(Place::Elem(_, i)) => f(i),
            _ => {}
        }
    }
}
