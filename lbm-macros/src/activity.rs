//! Activity analysis: which variables carry derivatives to the outputs, which values the
//! reverse sweep reads, and which of those an assignment overwrites (so the forward sweep
//! must save them).
//!
//! Takes the lowered function; returns per-variable facts. A variable is active when it
//! is both *varied* (depends on a differentiable parameter) and *useful* (an output
//! depends on it). Usefulness matters for more than speed: the reverse sweep of a value
//! no output reads would send a zero adjoint through its partials, and a partial that
//! overflowed in the forward run (`exp` of a large dead value) turns `0 * inf` into a NaN
//! gradient. Both analyses are flow-insensitive (a variable is varied if any assignment
//! to it is, useful if any read of it is), which is exact enough for per-cell code and
//! never misses a dependency.

use crate::ir::*;

/// What the adjoint needs to know about each variable.
pub struct Activity {
    /// Depends on a differentiable parameter (varied).
    active: Vec<bool>,
    /// Some output depends on it.
    useful: Vec<bool>,
    /// Read by the reverse sweep (operands of nonlinear operations, call arguments,
    /// indices): must hold, at each reversed statement, its value from the forward run.
    needed: Vec<bool>,
    /// Assigned more than once on some run (several sites, a site in a loop, or a `mut`
    /// parameter assigned again): overwrites destroy values the reverse sweep may need.
    overwritten: Vec<bool>,
}

impl Activity {
    pub fn analyse(f: &Function) -> Activity {
        let n = f.vars.len();
        let mut active = vec![false; n];
        for &p in &f.params {
            if f.param_kind(p).is_some_and(ParamKind::is_differentiable) {
                active[p] = true;
            }
        }
        let mut act = Activity {
            active,
            useful: vec![false; n],
            needed: vec![false; n],
            overwritten: vec![false; n],
        };
        // Propagate until nothing changes; each round can only add active variables.
        loop {
            let before = act.active.iter().filter(|a| **a).count();
            act.propagate(&f.body);
            if act.active.iter().filter(|a| **a).count() == before {
                break;
            }
        }
        for &r in &f.ret_vars {
            act.useful[r] = true;
        }
        // Backwards from the outputs until nothing changes, as above.
        loop {
            let before = act.useful.iter().filter(|u| **u).count();
            act.propagate_useful(&f.body);
            if act.useful.iter().filter(|u| **u).count() == before {
                break;
            }
        }
        let mut sites = vec![0usize; n];
        for &p in &f.params {
            sites[p] = 1;
        }
        Activity::count_sites(&f.body, &mut sites);
        for (v, s) in sites.iter().enumerate() {
            if *s > 1 {
                act.overwritten[v] = true;
            }
        }
        act.mark_needed(&f.body, f);
        act
    }

    /// Varied and useful: the variable's adjoint is worth computing.
    pub fn is_active(&self, v: VarId) -> bool {
        self.active[v] && self.useful[v]
    }

    /// Whether an assignment to `v` must save the old value for the reverse sweep.
    pub fn must_save(&self, v: VarId) -> bool {
        self.needed[v] && self.overwritten[v]
    }

    /// Whether the reverse sweep reads `v` (see the field).
    pub fn needed(&self, v: VarId) -> bool {
        self.needed[v]
    }

    /// Whether `v` may be assigned more than once on some run (see the field).
    pub fn overwritten(&self, v: VarId) -> bool {
        self.overwritten[v]
    }

    /// Whether a real-valued expression depends on a differentiable parameter.
    pub fn expr_active(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Var(v) | ExprKind::Index(v, _) => self.active[*v],
            ExprKind::Unary(UnOp::Neg, a) => self.expr_active(a),
            ExprKind::Binary(op, a, b) => {
                !op.is_comparison()
                    && !op.is_logical()
                    && e.ty.is_scalar_real()
                    && (self.expr_active(a) || self.expr_active(b))
            }
            ExprKind::Intrinsic(_, args) => args
                .iter()
                .any(|a| a.ty.is_scalar_real() && self.expr_active(a)),
            ExprKind::Cast(a) => {
                e.ty.is_scalar_real() && a.ty.is_scalar_real() && self.expr_active(a)
            }
            ExprKind::Select(_, a, b) => self.expr_active(a) || self.expr_active(b),
            // Constants, lattice tables, flags and integers carry no derivative.
            ExprKind::RealLit(_)
            | ExprKind::IntLit(_)
            | ExprKind::BoolLit(_)
            | ExprKind::Lat(_)
            | ExprKind::LatC(..)
            | ExprKind::LatW(_)
            | ExprKind::LatOpp(_)
            | ExprKind::Unary(UnOp::Not, _)
            | ExprKind::PopControl => false,
        }
    }

    fn propagate(&mut self, block: &Block) {
        walk(block, false, &mut |s, _| match s.flow() {
            Flow::Assign { place, value } => {
                if self.expr_active(value) {
                    self.active[place.var()] = true;
                }
            }
            Flow::Call { args, outs } => {
                let any = args
                    .iter()
                    .any(|a| a.ty.is_real_valued() && self.expr_active(a));
                if any {
                    outs.iter().for_each(|o| self.active[*o] = true);
                }
            }
            Flow::Copy { dst, src } => {
                if self.active[src] {
                    self.active[dst] = true;
                }
            }
            Flow::Control => {}
        });
    }

    /// Marks as useful everything a useful variable is computed from.
    fn propagate_useful(&mut self, block: &Block) {
        walk(block, false, &mut |s, _| match s.flow() {
            Flow::Assign { place, value } => {
                if self.useful[place.var()] {
                    value.for_each_var(&mut |v| self.useful[v] = true);
                }
            }
            Flow::Call { args, outs } => {
                if outs.iter().any(|o| self.useful[*o]) {
                    args.iter()
                        .for_each(|a| a.for_each_var(&mut |v| self.useful[v] = true));
                }
            }
            Flow::Copy { dst, src } => {
                if self.useful[dst] {
                    self.useful[src] = true;
                }
            }
            Flow::Control => {}
        });
    }

    /// Counts, per variable, the assignments that may run: a site in a loop counts twice.
    fn count_sites(block: &Block, sites: &mut [usize]) {
        walk(block, false, &mut |s, in_loop| {
            let weight = if in_loop { 2 } else { 1 };
            match s.flow() {
                Flow::Assign { .. } | Flow::Call { .. } | Flow::Copy { .. } => {
                    s.writes().into_iter().for_each(|v| sites[v] += weight)
                }
                Flow::Control => {}
            }
        });
    }

    fn mark_needed(&mut self, block: &Block, f: &Function) {
        walk(block, false, &mut |s, _| match s.flow() {
            Flow::Assign { place, value } => {
                if self.is_active(place.var()) && f.vars[place.var()].ty.is_real_valued() {
                    if let Place::Elem(_, i) = place {
                        self.mark_all(i);
                    }
                    self.mark_partials(value);
                }
            }
            Flow::Call { args, outs } => {
                if outs.iter().any(|o| self.is_active(*o)) {
                    args.iter().for_each(|a| self.mark_all(a));
                }
            }
            // A copy is linear: its reverse reads no values.
            Flow::Copy { .. } => {}
            // Branch conditions and loop bounds are replayed from the control tape or
            // constants, not re-evaluated.
            Flow::Control => {}
        });
    }

    /// Marks the variables whose values the derivative of `e` reads.
    fn mark_partials(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Index(_, i) => self.mark_all(i),
            ExprKind::Unary(_, a) | ExprKind::Cast(a) => self.mark_partials(a),
            ExprKind::Binary(BinOp::Add | BinOp::Sub, a, b) => {
                self.mark_partials(a);
                self.mark_partials(b);
            }
            // d(ab) = b da + a db: the reverse sweep reads `b` only to send a derivative to
            // an active `a`, and `a` only for an active `b` (it skips inactive operands).
            // So `w_i * h` with a constant `w_i` needs no saved `h`.
            ExprKind::Binary(BinOp::Mul, a, b) => {
                if self.expr_active(a) {
                    self.mark_all(b);
                    self.mark_partials(a);
                }
                if self.expr_active(b) {
                    self.mark_all(a);
                    self.mark_partials(b);
                }
            }
            // d(a/b) = da / b - a db / b^2.
            ExprKind::Binary(BinOp::Div, a, b) => {
                if self.expr_active(a) {
                    self.mark_all(b);
                    self.mark_partials(a);
                }
                if self.expr_active(b) {
                    self.mark_all(a);
                    self.mark_all(b);
                    self.mark_partials(b);
                }
            }
            ExprKind::Binary(..) | ExprKind::Intrinsic(..) | ExprKind::Select(..) => {
                self.mark_all(e)
            }
            // A variable's partial is one; constants have none.
            ExprKind::Var(_)
            | ExprKind::RealLit(_)
            | ExprKind::IntLit(_)
            | ExprKind::BoolLit(_)
            | ExprKind::Lat(_)
            | ExprKind::LatC(..)
            | ExprKind::LatW(_)
            | ExprKind::LatOpp(_)
            | ExprKind::PopControl => {}
        }
    }

    fn mark_all(&mut self, e: &Expr) {
        e.for_each_var(&mut |v| self.needed[v] = true);
    }
}
