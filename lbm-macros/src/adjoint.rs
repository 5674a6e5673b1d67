//! The adjoint transformation: the lowered function to a forward sweep and a reverse sweep.
//!
//! The forward sweep is the function itself plus `Save`s of values an assignment is about
//! to overwrite (when the reverse sweep reads them) and the index of every branch taken.
//! The reverse sweep visits statements in the opposite order; before reversing a statement
//! it restores what that statement overwrote, so every variable holds its value from just
//! before the statement ran forward, and partial derivatives can be computed from the
//! variables directly. Loops run backwards, branches replay the branch taken, calls to
//! operators call their adjoints. Integers and booleans carry no adjoint. Loop temporaries
//! that `recompute` picks are not saved: each reversed iteration starts by computing them
//! again, which gives the same invariant. Saves whose restored value the reverse sweep
//! overwrites before reading it are dropped afterwards, with their restores (`dead_saves`).

use proc_macro2::Span;

use crate::activity::Activity;
use crate::count::Count;
use crate::dead_saves;
use crate::ir::*;
use crate::recompute::Recompute;

/// The two sweeps and what printers need to declare for them.
pub struct Adjoint {
    pub forward: Block,
    pub reverse: Block,
    /// The adjoint variable of each real-valued variable of the original function.
    pub bars: Vec<Option<VarId>>,
    /// Reals the forward sweep saves, at most.
    pub tape_len: Count,
    /// Branch decisions and integers it saves, at most.
    pub control_len: Count,
}

pub fn transform(f: &mut Function, act: &Activity, recompute: &Recompute) -> Adjoint {
    let originals = f.vars.len();
    let mut bars = vec![None; originals];
    for (v, bar) in bars.iter_mut().enumerate() {
        let var = &f.vars[v];
        if var.ty.is_real_valued() && var.role != Role::Loop {
            let name = format!("{}_bar", var.name);
            let (ty, span) = (var.ty, var.span);
            *bar = Some(f.add_var(&name, ty, Role::Adjoint(v), span));
        }
    }
    let body = f.body.clone();
    let mut t = Transformer {
        f,
        act,
        recompute,
        bars,
        sites: 0,
    };
    let (mut forward, mut reverse) = t.block(&body);
    let dead = dead_saves::find(&reverse, t.f);
    dead_saves::remove(&mut forward, &dead);
    dead_saves::remove(&mut reverse, &dead);
    let tape_len = tape_len(&forward, t.f);
    let control_len = control_len(&forward);
    Adjoint {
        forward,
        reverse,
        bars: t.bars,
        tape_len,
        control_len,
    }
}

struct Transformer<'a> {
    f: &'a mut Function,
    act: &'a Activity,
    recompute: &'a Recompute,
    bars: Vec<Option<VarId>>,
    /// Saves numbered so far.
    sites: SaveSite,
}

impl Transformer<'_> {
    /// Whether an assignment to `v` saves the old value: the reverse sweep reads it, and
    /// neither leaves it in place nor computes it again.
    fn must_save(&self, v: VarId) -> bool {
        self.act.must_save(v) && !self.recompute.is_recomputed(v)
    }

    /// A number for the next save and its restore.
    fn site(&mut self) -> SaveSite {
        self.sites += 1;
        self.sites - 1
    }

    /// Saves of `places` for the forward sweep and their restores for the reverse sweep.
    /// The tape is last-in, first-out, so the restores run in the opposite order of the
    /// saves.
    fn save_restore(&mut self, places: &[Place], span: Span) -> (Block, Block) {
        let sites: Vec<SaveSite> = places.iter().map(|_| self.site()).collect();
        let saves = places
            .iter()
            .zip(&sites)
            .map(|(p, &k)| Stmt::new(StmtKind::Save(p.clone(), k), span))
            .collect();
        let restores = places
            .iter()
            .zip(&sites)
            .rev()
            .map(|(p, &k)| Stmt::new(StmtKind::Restore(p.clone(), k), span))
            .collect();
        (saves, restores)
    }

    fn bar(&self, v: VarId) -> VarId {
        self.bars[v].expect("real-valued variables have adjoints")
    }

    /// Forward and reverse sweeps of a block; the reverse lists statements backwards.
    fn block(&mut self, block: &Block) -> (Block, Block) {
        let mut forward = Vec::new();
        let mut reverse_parts = Vec::new();
        for s in block {
            let (fw, rv) = self.stmt(s);
            forward.extend(fw);
            reverse_parts.push(rv);
        }
        (forward, reverse_parts.into_iter().rev().flatten().collect())
    }

    fn stmt(&mut self, s: &Stmt) -> (Block, Block) {
        let span = s.span;
        let mk = |kind| Stmt::new(kind, span);
        match &s.kind {
            StmtKind::Assign { place, value } => {
                let v = place.var();
                let mut fw = Vec::new();
                let mut rv = Vec::new();
                let real = self.f.vars[v].ty.is_real_valued();
                if self.must_save(v) {
                    if real {
                        let (save, restore) = self.save_restore(std::slice::from_ref(place), span);
                        fw.extend(save);
                        rv.extend(restore);
                    } else {
                        fw.push(mk(StmtKind::SaveControl(Expr::var(
                            v,
                            self.f.vars[v].ty,
                            span,
                        ))));
                        rv.push(mk(StmtKind::RestoreControl(v)));
                    }
                }
                fw.push(s.clone());
                if real && self.act.is_active(v) {
                    self.assign_adjoint(place, value, span, &mut rv);
                }
                (fw, rv)
            }
            StmtKind::Call { callee, args, outs } => {
                let saved: Vec<Place> = outs
                    .iter()
                    .filter(|o| self.must_save(**o))
                    .map(|o| Place::Var(*o))
                    .collect();
                let (mut fw, mut rv) = self.save_restore(&saved, span);
                fw.push(s.clone());
                if outs.iter().any(|o| self.act.is_active(*o)) {
                    let arg_bars = args
                        .iter()
                        .filter(|a| a.ty.is_real_valued())
                        .map(|a| match a.kind {
                            ExprKind::Var(v) => self.bar(v),
                            _ => unreachable!("the parser binds real arguments to variables"),
                        })
                        .collect();
                    let out_bars: Vec<VarId> = outs.iter().map(|o| self.bar(*o)).collect();
                    rv.push(mk(StmtKind::CallAdjoint {
                        callee: *callee,
                        args: args.clone(),
                        out_bars: out_bars.clone(),
                        arg_bars,
                    }));
                    rv.extend(out_bars.into_iter().map(|b| mk(StmtKind::Zero(b))));
                }
                (fw, rv)
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let (f_then, r_then) = self.block(then_branch);
                let (f_else, r_else) = self.block(else_branch);
                if r_then.is_empty() && r_else.is_empty() {
                    let fw = StmtKind::If {
                        cond: cond.clone(),
                        then_branch: f_then,
                        else_branch: f_else,
                    };
                    return (vec![mk(fw)], Vec::new());
                }
                // The decision is saved after the branch's own saves: the reverse sweep pops
                // it first.
                let taken = |k: i64| mk(StmtKind::SaveControl(Expr::int(k, span)));
                let fw = StmtKind::If {
                    cond: cond.clone(),
                    then_branch: f_then
                        .into_iter()
                        .chain(std::iter::once(taken(1)))
                        .collect(),
                    else_branch: f_else
                        .into_iter()
                        .chain(std::iter::once(taken(0)))
                        .collect(),
                };
                let (branch, pop) = self.pop_branch(span);
                let rv = vec![
                    pop,
                    mk(StmtKind::If {
                        cond: Expr::binary(BinOp::Ne, branch, Expr::int(0, span)),
                        then_branch: r_then,
                        else_branch: r_else,
                    }),
                ];
                (vec![mk(fw)], rv)
            }
            StmtKind::Match { scrutinee, arms } => {
                let sweeps: Vec<(Block, Block)> =
                    arms.iter().map(|a| self.block(&a.body)).collect();
                if sweeps.iter().all(|(_, r)| r.is_empty()) {
                    let arms = arms
                        .iter()
                        .zip(sweeps)
                        .map(|(a, (fw, _))| Arm {
                            pats: a.pats.clone(),
                            body: fw,
                        })
                        .collect();
                    return (
                        vec![mk(StmtKind::Match {
                            scrutinee: scrutinee.clone(),
                            arms,
                        })],
                        Vec::new(),
                    );
                }
                let mut fw_arms = Vec::new();
                let mut rv_arms = Vec::new();
                for (k, (a, (fw, rv))) in arms.iter().zip(sweeps).enumerate() {
                    let taken = mk(StmtKind::SaveControl(Expr::int(k as i64, span)));
                    fw_arms.push(Arm {
                        pats: a.pats.clone(),
                        body: fw.into_iter().chain(std::iter::once(taken)).collect(),
                    });
                    rv_arms.push(Arm {
                        pats: Some(vec![k as i64]),
                        body: rv,
                    });
                }
                if let Some(last) = rv_arms.last_mut() {
                    last.pats = None;
                }
                let (branch, pop) = self.pop_branch(span);
                let rv = vec![
                    pop,
                    mk(StmtKind::Match {
                        scrutinee: branch,
                        arms: rv_arms,
                    }),
                ];
                (
                    vec![mk(StmtKind::Match {
                        scrutinee: scrutinee.clone(),
                        arms: fw_arms,
                    })],
                    rv,
                )
            }
            StmtKind::For {
                var,
                start,
                end,
                reverse,
                body,
            } => {
                let (fw_body, rv_body) = self.block(body);
                let fw = mk(StmtKind::For {
                    var: *var,
                    start: start.clone(),
                    end: end.clone(),
                    reverse: *reverse,
                    body: fw_body,
                });
                if rv_body.is_empty() {
                    return (vec![fw], Vec::new());
                }
                // Each reversed iteration first computes again the temporaries its
                // forward iteration did not save.
                let mut rv_body_full = self.recompute.statements(body);
                rv_body_full.extend(rv_body);
                let rv = mk(StmtKind::For {
                    var: *var,
                    start: start.clone(),
                    end: end.clone(),
                    reverse: !*reverse,
                    body: rv_body_full,
                });
                (vec![fw], vec![rv])
            }
            StmtKind::Copy { dst, src } => {
                let saved: Vec<Place> = if self.must_save(*dst) {
                    vec![Place::Var(*dst)]
                } else {
                    Vec::new()
                };
                let (mut fw, mut rv) = self.save_restore(&saved, span);
                fw.push(s.clone());
                if self.act.is_active(*dst) {
                    let dst_bar = self.bar(*dst);
                    if self.act.is_active(*src) {
                        rv.push(mk(StmtKind::Accumulate {
                            into: self.bar(*src),
                            from: dst_bar,
                        }));
                    }
                    rv.push(mk(StmtKind::Zero(dst_bar)));
                }
                (fw, rv)
            }
            StmtKind::Return(_) => unreachable!("returns are lowered before the adjoint"),
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

    /// `let branch = <pop>;` and an expression reading it.
    fn pop_branch(&mut self, span: Span) -> (Expr, Stmt) {
        let ty = Ty::Int(IntTy::I64);
        let b = self.f.add_var("branch", ty, Role::Local, span);
        let pop = Stmt::new(
            StmtKind::Let {
                var: b,
                value: Expr::new(ExprKind::PopControl, ty, span),
            },
            span,
        );
        (Expr::var(b, ty, span), pop)
    }

    /// Reverse of `place = value`: take the place's adjoint as the seed, clear it, and
    /// send the seed through the value's partial derivatives.
    fn assign_adjoint(&mut self, place: &Place, value: &Expr, span: Span, out: &mut Block) {
        let bar = self.bar(place.var());
        let bar_place = match place {
            Place::Var(_) => Place::Var(bar),
            Place::Elem(_, i) => Place::Elem(bar, i.clone()),
        };
        // `-0.0`, the additive identity, as everywhere an adjoint restarts
        // (`StmtKind::Zero`).
        let clear = Stmt::new(
            StmtKind::Assign {
                place: bar_place.clone(),
                value: Expr::real(-0.0, span),
            },
            span,
        );
        // The old value was overwritten, so its adjoint restarts from zero; only an
        // active right-hand side has adjoints to receive the seed.
        if !self.act.expr_active(value) {
            out.push(clear);
            return;
        }
        let seed = self.local("d", read(&bar_place, self.f.vars[bar].ty, span), span, out);
        out.push(clear);
        self.accumulate(value, seed, out);
    }

    /// `let name = value;` in the reverse sweep; returns the variable as an expression.
    fn local(&mut self, base: &str, value: Expr, span: Span, out: &mut Block) -> Expr {
        let v = self.f.add_var(base, Ty::Real, Role::Local, span);
        out.push(Stmt::new(StmtKind::Let { var: v, value }, span));
        Expr::var(v, Ty::Real, span)
    }

    /// Adds `seed * d(e)/d(x)` to the adjoint of every active `x` that `e` reads.
    fn accumulate(&mut self, e: &Expr, seed: Expr, out: &mut Block) {
        if !self.act.expr_active(e) {
            return;
        }
        let span = e.span;
        // A seed that is cheap to repeat, or used once, stays inline; any other is bound
        // once to a local (always correct, whatever the kinds: only the text differs).
        let seed = match (&e.kind, &seed.kind) {
            (ExprKind::Var(_) | ExprKind::Index(..), _)
            | (_, ExprKind::Var(_) | ExprKind::RealLit(_)) => seed,
            _ => self.local("d", seed, span, out),
        };
        let add = |place: Place, ty: Ty, amount: Expr| {
            let current = read(&place, ty, span);
            Stmt::new(
                StmtKind::Assign {
                    place,
                    value: Expr::binary(BinOp::Add, current, amount),
                },
                span,
            )
        };
        match &e.kind {
            ExprKind::Var(v) => {
                let bar = self.bar(*v);
                out.push(add(Place::Var(bar), self.f.vars[bar].ty, seed));
            }
            ExprKind::Index(v, i) => {
                let bar = self.bar(*v);
                out.push(add(Place::Elem(bar, (**i).clone()), Ty::Real, seed));
            }
            ExprKind::Unary(UnOp::Neg, a) => self.accumulate(a, Expr::neg(seed), out),
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (&**a, &**b);
                match op {
                    BinOp::Add => {
                        self.accumulate(a, seed.clone(), out);
                        self.accumulate(b, seed, out);
                    }
                    BinOp::Sub => {
                        self.accumulate(a, seed.clone(), out);
                        self.accumulate(b, Expr::neg(seed), out);
                    }
                    // d(ab) = b da + a db
                    BinOp::Mul => {
                        self.accumulate(a, Expr::binary(BinOp::Mul, seed.clone(), b.clone()), out);
                        self.accumulate(b, Expr::binary(BinOp::Mul, seed, a.clone()), out);
                    }
                    // d(a/b) = da / b - a db / b^2
                    BinOp::Div => {
                        self.accumulate(a, Expr::binary(BinOp::Div, seed.clone(), b.clone()), out);
                        let b2 = Expr::binary(BinOp::Mul, b.clone(), b.clone());
                        let db =
                            Expr::binary(BinOp::Div, Expr::binary(BinOp::Mul, seed, a.clone()), b2);
                        self.accumulate(b, Expr::neg(db), out);
                    }
                    // Comparisons, logic and integer operations yield no real value, so
                    // an active expression is never one of them.
                    BinOp::Rem
                    | BinOp::Lt
                    | BinOp::Le
                    | BinOp::Gt
                    | BinOp::Ge
                    | BinOp::Eq
                    | BinOp::Ne
                    | BinOp::And
                    | BinOp::Or
                    | BinOp::BitAnd
                    | BinOp::BitOr
                    | BinOp::BitXor
                    | BinOp::Shl
                    | BinOp::Shr => unreachable!("`{}` on reals is not active", op.symbol()),
                }
            }
            ExprKind::Intrinsic(intr, args) => {
                for (k, contribution) in intr.reverse(args, &seed) {
                    self.accumulate(&args[k], contribution, out);
                }
            }
            ExprKind::Cast(a) => {
                if a.ty.is_scalar_real() {
                    self.accumulate(a, seed, out);
                }
            }
            ExprKind::Select(c, a, b) => {
                let zero = Expr::real(0.0, span);
                let sel = |x: Expr, y: Expr| {
                    Expr::new(
                        ExprKind::Select(c.clone(), Box::new(x), Box::new(y)),
                        Ty::Real,
                        span,
                    )
                };
                self.accumulate(a, sel(seed.clone(), zero.clone()), out);
                self.accumulate(b, sel(zero, seed), out);
            }
            ExprKind::RealLit(_)
            | ExprKind::IntLit(_)
            | ExprKind::BoolLit(_)
            | ExprKind::Lat(_)
            | ExprKind::LatC(..)
            | ExprKind::LatW(_)
            | ExprKind::LatOpp(_)
            | ExprKind::Unary(UnOp::Not, _)
            | ExprKind::PopControl => unreachable!("inactive expressions return early"),
        }
    }
}

/// The value at a place, as an expression.
fn read(place: &Place, var_ty: Ty, span: Span) -> Expr {
    match place {
        Place::Var(v) => Expr::var(*v, var_ty, span),
        Place::Elem(v, i) => Expr::new(ExprKind::Index(*v, Box::new(i.clone())), Ty::Real, span),
    }
}

/// Upper bound of reals saved by a forward sweep.
fn tape_len(block: &Block, f: &Function) -> Count {
    sum_over(block, &mut |s| match &s.kind {
        StmtKind::Save(Place::Elem(..), _) => Some(Count::Lit(1)),
        StmtKind::Save(Place::Var(v), _) => Some(Count::of_type(f.vars[*v].ty)),
        _ => None,
    })
}

/// Upper bound of control entries saved by a forward sweep.
fn control_len(block: &Block) -> Count {
    sum_over(block, &mut |s| match &s.kind {
        StmtKind::SaveControl(_) => Some(Count::Lit(1)),
        _ => None,
    })
}

fn sum_over(block: &Block, leaf: &mut impl FnMut(&Stmt) -> Option<Count>) -> Count {
    let mut total = Count::Lit(0);
    for s in block {
        if let Some(c) = leaf(s) {
            total = total.add(c);
            continue;
        }
        let c = match &s.kind {
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => sum_over(then_branch, leaf).max(sum_over(else_branch, leaf)),
            StmtKind::Match { arms, .. } => arms
                .iter()
                .map(|a| sum_over(&a.body, leaf))
                .fold(Count::Lit(0), Count::max),
            StmtKind::For {
                start, end, body, ..
            } => {
                let trip = Count::from_bound(end).sub(Count::from_bound(start));
                trip.mul(sum_over(body, leaf))
            }
            // No nested statements: only what `leaf` counts (above) adds to the total.
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
            | StmtKind::Zero(_) => Count::Lit(0),
        };
        total = total.add(c);
    }
    total
}
