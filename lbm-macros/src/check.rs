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
        // Rust does not count on a loop's body running, so neither do we: the Rust form
        // of the operator must compile too.
        StmtKind::For { .. } => false,
        StmtKind::Assign { .. } | StmtKind::Call { .. } | StmtKind::Copy { .. } => false,
        StmtKind::Accumulate { .. }
        | StmtKind::Let { .. }
        | StmtKind::Save(..)
        | StmtKind::Restore(..)
        | StmtKind::SaveControl(_)
        | StmtKind::RestoreControl(_)
        | StmtKind::CallAdjoint { .. }
        | StmtKind::Zero(_) => unreachable!("only the adjoint creates these"),
    })
}

/// Runs after activity analysis: a cast of a differentiable real to an integer has a zero
/// derivative everywhere, so a gradient through it would be silently wrong.
pub fn check_casts(f: &Function, act: &Activity, cx: &Ctxt) {
    walk(&f.body, false, &mut |s, _| {
        for e in s.exprs() {
            e.for_each_expr(&mut |e| check_cast(e, act, cx));
        }
    });
}

fn check_cast(e: &Expr, act: &Activity, cx: &Ctxt) {
    if let ExprKind::Cast(inner) = &e.kind {
        if e.ty.is_int() && inner.ty.is_scalar_real() && act.expr_active(inner) {
            cx.error(
                e.span,
                "a float-to-integer cast of a differentiable value cuts its gradient to zero: \
                 branch on a comparison (`if x > 0.5 { .. }`) or keep the value real",
            );
        }
    }
}
