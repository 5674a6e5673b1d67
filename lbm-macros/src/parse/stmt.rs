//! Statements: `let`, assignment and compound assignment, `if`, `match`, `for` and
//! `return`.
//!
//! Takes `syn::Stmt` and the statement-like expressions; emits IR statements into the
//! innermost open block of the parser (after the statements of any calls lifted out of
//! them) and returns nothing. Array literals and value-producing `if` / `match` become
//! temporaries filled by statements, so expressions stay scalar. What an assignment
//! means for the types on both sides (a whole copy or a converted scalar) and the type a
//! `let` gives its name are `typing`'s rules.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::ir::*;
use crate::symbol;

use super::typing::{self, Store};
use super::{strip_parens, Parser};

impl Parser<'_> {
    pub(super) fn fn_body(&mut self, block: &syn::Block) {
        let n = block.stmts.len();
        for (i, stmt) in block.stmts.iter().enumerate() {
            match stmt {
                syn::Stmt::Expr(e, None) if i + 1 == n && !is_statement_like(e) => {
                    self.return_value(e, e.span())
                }
                _ => self.stmt(stmt),
            }
        }
    }

    fn stmt(&mut self, stmt: &syn::Stmt) {
        match stmt {
            syn::Stmt::Local(local) => self.local(local),
            syn::Stmt::Item(item) => self.err_at(
                &item,
                "items cannot be declared inside an operator: define another `#[operator]` \
                 function at module level and call it",
            ),
            syn::Stmt::Macro(m) => self.macro_error(&m.mac),
            syn::Stmt::Expr(e, semi) => {
                if semi.is_none() && !is_block_like(e) {
                    self.err_at(&e,
                        "a value here is unused: end the statement with `;`, or return it with `return`",
                    );
                    return;
                }
                self.expr_stmt(e);
            }
        }
    }

    fn local(&mut self, local: &syn::Local) {
        let Some(init) = &local.init else {
            self.err_at(&local, "declare with a value: `let x = 0.0;`");
            return;
        };
        if let Some((else_token, _)) = &init.diverge {
            self.err_at(&else_token, "`let ... else` is not allowed; use `if`");
        }
        let (pat, annotated) = match &local.pat {
            syn::Pat::Type(pt) => (&*pt.pat, self.parse_type(&pt.ty).map(Some).unwrap_or(None)),
            p => (p, None),
        };
        match pat {
            syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                let mutable = pi.mutability.is_some();
                self.let_single(&pi.ident, mutable, annotated, &init.expr);
            }
            syn::Pat::Tuple(t) => {
                let mut names = Vec::new();
                for p in &t.elems {
                    match p {
                        syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                            names.push((pi.ident.clone(), pi.mutability.is_some()))
                        }
                        other => self.err_at(
                            &other,
                            "destructure into plain names: `let (a, b) = op(...)`",
                        ),
                    }
                }
                let syn::Expr::Call(call) = strip_parens(&init.expr) else {
                    self.err_at(&init.expr,
                        "only the results of an operator call can be destructured: `let (a, b) = op(...)`",
                    );
                    return;
                };
                let Some((callee, args)) = self.call(call, names.len()) else {
                    return;
                };
                let outs: Vec<VarId> = names
                    .iter()
                    .enumerate()
                    .map(|(k, (name, m))| {
                        self.declare(name, Ty::Opaque { callee, index: k }, Role::Local, *m)
                    })
                    .collect();
                self.emit(StmtKind::Call { callee, args, outs }, call.span());
            }
            other => self.err_at(
                &other,
                "bind a plain name: `let x = ...` or `let (a, b) = op(...)`",
            ),
        }
    }

    fn let_single(
        &mut self,
        name: &syn::Ident,
        mutable: bool,
        annotated: Option<Ty>,
        init: &syn::Expr,
    ) {
        self.bind_let(name, mutable, annotated, init);
        let declared = self
            .scopes
            .last()
            .is_some_and(|s| s.contains_key(&name.to_string()));
        if !declared {
            self.poisoned.insert(name.to_string());
        }
    }

    fn bind_let(
        &mut self,
        name: &syn::Ident,
        mutable: bool,
        annotated: Option<Ty>,
        init: &syn::Expr,
    ) {
        // Calls bind their result directly, so arrays come back without a copy.
        if let syn::Expr::Call(call) = strip_parens(init) {
            if let Some((callee, args)) = self.call(call, 1) {
                let ty = annotated.unwrap_or(Ty::Opaque { callee, index: 0 });
                let id = self.declare(name, ty, Role::Local, mutable);
                self.emit(
                    StmtKind::Call {
                        callee,
                        args,
                        outs: vec![id],
                    },
                    call.span(),
                );
            }
            return;
        }
        // `let x = [v; N]` fills `x` directly, without a temporary array.
        if let syn::Expr::Repeat(r) = strip_parens(init) {
            let Some(elem) = self.expr(&r.expr) else {
                return;
            };
            let Some(elem) = typing::coerce(self.cx, elem, Ty::Real, r.expr.span()) else {
                return;
            };
            let Some(len) = self.array_len(&r.len) else {
                return;
            };
            if annotated.is_some_and(|t| t != Ty::Array(len)) {
                self.err_at(r, "the array's length differs from the declared type");
                return;
            }
            let id = self.declare(name, Ty::Array(len), Role::Local, mutable);
            self.fill(id, len, elem, r.span());
            return;
        }
        let Some(value) = self.value(init, annotated) else {
            return;
        };
        let ty = typing::binding(annotated, &value);
        let id = self.declare(name, ty, Role::Local, mutable);
        self.assign_value(Place::Var(id), value, init.span());
    }

    /// Parses the value of a `let` or an assignment; array literals and copies become
    /// element-wise loops, so only scalars and array variables come back.
    pub(super) fn value(&mut self, e: &syn::Expr, expect: Option<Ty>) -> Option<Expr> {
        match strip_parens(e) {
            syn::Expr::Repeat(r) => {
                let elem = self.expr(&r.expr)?;
                let elem = typing::coerce(self.cx, elem, Ty::Real, r.expr.span())?;
                let len = self.array_len(&r.len)?;
                let tmp = self.temp("arr", Ty::Array(len), r.span());
                self.fill(tmp, len, elem, r.span());
                Some(Expr::var(tmp, Ty::Array(len), r.span()))
            }
            syn::Expr::Array(a) => {
                let n = a.elems.len();
                let len = match expect {
                    Some(Ty::Array(l)) => l,
                    _ => Len::Lit(n),
                };
                let tmp = self.temp("arr", Ty::Array(len), a.span());
                for (k, el) in a.elems.iter().enumerate() {
                    let v = self.expr(el)?;
                    let v = typing::coerce(self.cx, v, Ty::Real, el.span())?;
                    let idx = Expr::int(k as i64, el.span());
                    self.emit(
                        StmtKind::Assign {
                            place: Place::Elem(tmp, idx),
                            value: v,
                        },
                        el.span(),
                    );
                }
                Some(Expr::var(tmp, Ty::Array(len), a.span()))
            }
            // A value-producing `if` or `match` with a known type assigns it in each branch.
            syn::Expr::If(i) if expect.is_some() => {
                let ty = expect?;
                let t = self.temp("sel", ty, i.span());
                self.if_stmt(i, Some(t));
                Some(Expr::var(t, ty, i.span()))
            }
            syn::Expr::Match(m) if expect.is_some() => {
                let ty = expect?;
                let t = self.temp("sel", ty, m.span());
                self.match_stmt(m, Some(t));
                Some(Expr::var(t, ty, m.span()))
            }
            _ => self.expr(e),
        }
    }

    /// `var[k] = value` for every `k`.
    fn fill(&mut self, var: VarId, len: Len, value: Expr, span: Span) {
        let stmt = self.f.elementwise(var, len, span, |_| value);
        self.mutable.resize(self.f.vars.len(), false);
        self.blocks.last_mut().expect("a block is open").push(stmt);
    }

    /// Assigns a value to a place; whole arrays and call results are copied as a whole.
    fn assign_value(&mut self, place: Place, value: Expr, span: Span) {
        let target = match &place {
            Place::Var(v) => self.f.vars[*v].ty,
            Place::Elem(..) => Ty::Real,
        };
        match typing::store(self.cx, &place, target, value, span) {
            Some(Store::Copy(src)) => {
                let dst = place.var();
                self.emit(StmtKind::Copy { dst, src }, span);
            }
            Some(Store::Value(value)) => self.emit(StmtKind::Assign { place, value }, span),
            None => {}
        }
    }

    fn expr_stmt(&mut self, e: &syn::Expr) {
        match e {
            syn::Expr::Assign(a) => self.assignment(&a.left, None, &a.right, a.span()),
            syn::Expr::Binary(b) => {
                let op = match b.op {
                    syn::BinOp::AddAssign(_) => BinOp::Add,
                    syn::BinOp::SubAssign(_) => BinOp::Sub,
                    syn::BinOp::MulAssign(_) => BinOp::Mul,
                    syn::BinOp::DivAssign(_) => BinOp::Div,
                    syn::BinOp::RemAssign(_) => BinOp::Rem,
                    _ => {
                        self.err_at(&b, "this value is unused; assign it to a variable");
                        return;
                    }
                };
                self.assignment(&b.left, Some(op), &b.right, b.span());
            }
            syn::Expr::ForLoop(f) => self.for_loop(f),
            syn::Expr::If(i) => self.if_stmt(i, None),
            syn::Expr::Match(m) => self.match_stmt(m, None),
            syn::Expr::Return(r) => match &r.expr {
                Some(v) => self.return_value(v, r.span()),
                None => self.err_at(&r, "return the operator's result: `return value;`"),
            },
            syn::Expr::Block(b) if b.label.is_some() => {
                self.err_at(
                    &b.label,
                    "labelled blocks are not allowed: use `if` to skip code",
                );
            }
            syn::Expr::Block(b) => {
                let block = self.scoped(|p| {
                    for s in &b.block.stmts {
                        p.stmt(s);
                    }
                });
                self.blocks.last_mut().expect("open").extend(block);
            }
            syn::Expr::Call(c) => self.err_at(
                &c,
                "the result of this call is unused; bind it: `let x = op(...);`",
            ),
            other => {
                if self.unsupported(other) {
                    return;
                }
                self.err_at(&other, "this statement has no effect");
            }
        }
    }

    fn assignment(&mut self, left: &syn::Expr, op: Option<BinOp>, right: &syn::Expr, span: Span) {
        let Some(place) = self.place(left) else {
            return;
        };
        let var = place.var();
        if !self.mutable.get(var).copied().unwrap_or(false) {
            self.err_at(
                &left,
                format!(
                    "`{}` is not mutable: declare it with `let mut`",
                    self.f.vars[var].name
                ),
            );
            return;
        }
        // A call's results land in a fresh temporary, then are copied: writing them
        // straight into `v` would alias an output with an argument (`g = bgk(g, omega)`),
        // and the reverse sweep would clear the argument's adjoint as the output's.
        if let (None, syn::Expr::Call(call), Place::Var(v)) = (op, strip_parens(right), &place) {
            if let Some(result) = self.lift_call(call, span) {
                self.emit(
                    StmtKind::Copy {
                        dst: *v,
                        src: result,
                    },
                    span,
                );
            }
            return;
        }
        let target_ty = match &place {
            Place::Var(v) => self.f.vars[*v].ty,
            Place::Elem(..) => Ty::Real,
        };
        let Some(rhs) = self.value(right, Some(target_ty)) else {
            return;
        };
        let value = match op {
            None => rhs,
            Some(op) => {
                let current = match &place {
                    Place::Var(v) => Expr::var(*v, target_ty, left.span()),
                    Place::Elem(v, i) => Expr::new(
                        ExprKind::Index(*v, Box::new(i.clone())),
                        Ty::Real,
                        left.span(),
                    ),
                };
                let Some(v) = typing::arith(self.cx, op, current, rhs, span) else {
                    return;
                };
                v
            }
        };
        self.assign_value(place, value, span);
    }

    fn place(&mut self, e: &syn::Expr) -> Option<Place> {
        match strip_parens(e) {
            syn::Expr::Path(p) => {
                let Some(ident) = p.path.get_ident() else {
                    self.err_at(&p, "assign to a local variable");
                    return None;
                };
                let Some(id) = self.lookup(&ident.to_string()) else {
                    self.unknown_variable(ident);
                    return None;
                };
                if self.f.vars[id].role == Role::Loop {
                    self.err_at(&ident, "a loop counter cannot be assigned");
                    return None;
                }
                Some(Place::Var(id))
            }
            syn::Expr::Index(ix) => {
                let syn::Expr::Path(p) = strip_parens(&ix.expr) else {
                    self.err_at(
                        &ix.expr,
                        "assign to an element of a local array: `x[i] = ...`",
                    );
                    return None;
                };
                let ident = p.path.get_ident()?;
                let Some(id) = self.lookup(&ident.to_string()) else {
                    self.unknown_variable(ident);
                    return None;
                };
                if !self.f.vars[id].ty.is_indexable() {
                    self.err_at(&ix.expr, "only arrays can be indexed");
                    return None;
                }
                let idx = self.index(&ix.index)?;
                Some(Place::Elem(id, idx))
            }
            syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                self.err_at(&u, "references are not allowed: assign to a local variable");
                None
            }
            other => {
                self.err_at(&other, "assign to a variable or an array element");
                None
            }
        }
    }

    fn for_loop(&mut self, f: &syn::ExprForLoop) {
        if let Some(l) = &f.label {
            self.err_at(&l, "loop labels are not allowed");
        }
        let name = match &*f.pat {
            syn::Pat::Ident(pi) if pi.subpat.is_none() && pi.mutability.is_none() => {
                pi.ident.clone()
            }
            syn::Pat::Wild(w) => syn::Ident::new("i", w.span()),
            other => {
                self.err_at(&other, "the loop counter is a plain name: `for i in 0..Q`");
                return;
            }
        };
        let syn::Expr::Range(range) = strip_parens(&f.expr) else {
            self.err_at(
                &f.expr,
                "`for` runs over a constant range only: write `for i in 0..Q` (or `0..D`, `0..3`)",
            );
            return;
        };
        let (Some(start), Some(end)) = (&range.start, &range.end) else {
            self.err_at(&range, "a loop range needs both bounds: `0..Q`");
            return;
        };
        let Some(start) = self.const_bound(start) else {
            return;
        };
        let Some(mut end) = self.const_bound(end) else {
            return;
        };
        if let syn::RangeLimits::Closed(_) = range.limits {
            end = Expr::binary(BinOp::Add, end, Expr::int(1, range.span()));
        }
        let body = self.scoped(|p| {
            let var = p.declare(&name, Ty::Int(IntTy::Usize), Role::Loop, false);
            p.blocks.push(Vec::new());
            for s in &f.body.stmts {
                p.stmt(s);
            }
            let body = p.blocks.pop().unwrap_or_default();
            p.emit(
                StmtKind::For {
                    var,
                    start,
                    end,
                    reverse: false,
                    body,
                },
                f.span(),
            );
        });
        self.blocks.last_mut().expect("open").extend(body);
    }

    /// A loop bound: integer literals, `Q`, `D` and `+ - *` of them, so trip counts are
    /// known for every lattice and the tape has a fixed size.
    fn const_bound(&mut self, e: &syn::Expr) -> Option<Expr> {
        match strip_parens(e) {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => Some(Expr::int(i.base10_parse().ok()?, i.span())),
            syn::Expr::Path(p) if p.path.is_ident(symbol::Q) => Some(Expr::new(
                ExprKind::Lat(LatConst::Q),
                Ty::Int(IntTy::Usize),
                p.span(),
            )),
            syn::Expr::Path(p) if p.path.is_ident(symbol::D) => Some(Expr::new(
                ExprKind::Lat(LatConst::D),
                Ty::Int(IntTy::Usize),
                p.span(),
            )),
            syn::Expr::Binary(b)
                if matches!(
                    b.op,
                    syn::BinOp::Add(_) | syn::BinOp::Sub(_) | syn::BinOp::Mul(_)
                ) =>
            {
                let l = self.const_bound(&b.left)?;
                let r = self.const_bound(&b.right)?;
                let op = match b.op {
                    syn::BinOp::Add(_) => BinOp::Add,
                    syn::BinOp::Sub(_) => BinOp::Sub,
                    _ => BinOp::Mul,
                };
                Some(Expr::binary(op, l, r))
            }
            other => {
                self.err_at(
                    &other,
                    "loop bounds must be constant (integer literals, `Q`, `D`): the adjoint \
                     replays loops backwards and needs their trip count",
                );
                None
            }
        }
    }

    /// An `if` statement; with `target`, each branch's tail value is assigned to it.
    pub(super) fn if_stmt(&mut self, i: &syn::ExprIf, target: Option<VarId>) {
        let Some(cond) = self.expr(&i.cond) else {
            return;
        };
        let Some(cond) = typing::coerce(self.cx, cond, Ty::Bool, i.cond.span()) else {
            return;
        };
        let then_branch = self.branch(&i.then_branch, target);
        let else_branch = match &i.else_branch {
            None => {
                if target.is_some() {
                    self.err_at(&i, "an `if` used as a value needs an `else` branch");
                }
                Vec::new()
            }
            Some((_, e)) => match &**e {
                syn::Expr::Block(b) => self.branch(&b.block, target),
                syn::Expr::If(nested) => self.scoped(|p| p.if_stmt(nested, target)),
                other => {
                    self.err_at(&other, "expected a block");
                    Vec::new()
                }
            },
        };
        self.emit(
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            },
            i.span(),
        );
    }

    /// A branch body; with `target`, its tail expression is assigned to the target.
    fn branch(&mut self, block: &syn::Block, target: Option<VarId>) -> Block {
        self.scoped(|p| {
            let n = block.stmts.len();
            for (k, s) in block.stmts.iter().enumerate() {
                match (s, target) {
                    (syn::Stmt::Expr(e, None), Some(t)) if k + 1 == n => {
                        if let Some(v) = p.value(e, Some(p.f.vars[t].ty)) {
                            p.assign_value(Place::Var(t), v, e.span());
                        }
                    }
                    _ => p.stmt(s),
                }
            }
            if target.is_some() && !matches!(block.stmts.last(), Some(syn::Stmt::Expr(_, None))) {
                let returns = matches!(
                    block.stmts.last(),
                    Some(syn::Stmt::Expr(syn::Expr::Return(_), _))
                );
                if !returns {
                    p.err_at(&block, "this branch must end with a value");
                }
            }
        })
    }

    pub(super) fn match_stmt(&mut self, m: &syn::ExprMatch, target: Option<VarId>) {
        let Some(scrutinee) = self.expr(&m.expr) else {
            return;
        };
        if !scrutinee.ty.is_int() {
            self.err_at(
                &m.expr,
                "`match` is on integers (cell tags, directions); use `if` for reals",
            );
            return;
        }
        // Integers have more values than any list of arms: a catch-all arm keeps every
        // cell covered (rustc would otherwise reject the generated code far from here).
        if !m.arms.iter().any(|a| matches!(a.pat, syn::Pat::Wild(_))) {
            self.err_at(
                &m.match_token,
                "`match` on an integer needs a catch-all arm: add `_ => ...` as the last arm",
            );
            return;
        }
        let mut arms = Vec::new();
        for arm in &m.arms {
            if let Some((if_token, _)) = &arm.guard {
                self.err_at(
                    &if_token,
                    "match guards are not allowed; use `if` inside the arm",
                );
            }
            let pats = self.match_pats(&arm.pat);
            let body = self.scoped(|p| match (&*arm.body, target) {
                (syn::Expr::Block(b), _) => {
                    p.blocks.push(Vec::new());
                    let inner = p.branch(&b.block, target);
                    p.blocks.pop();
                    p.blocks.last_mut().expect("open").extend(inner);
                }
                (e, Some(t)) => {
                    if let Some(v) = p.value(e, Some(p.f.vars[t].ty)) {
                        p.assign_value(Place::Var(t), v, e.span());
                    }
                }
                (e, None) => p.expr_stmt(e),
            });
            arms.push(Arm { pats, body });
        }
        self.emit(StmtKind::Match { scrutinee, arms }, m.span());
    }

    fn match_pats(&mut self, pat: &syn::Pat) -> Option<Vec<i64>> {
        match pat {
            syn::Pat::Wild(_) => None,
            syn::Pat::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => Some(vec![i.base10_parse().unwrap_or(0)]),
            syn::Pat::Or(o) => {
                let mut all = Vec::new();
                for c in &o.cases {
                    match self.match_pats(c) {
                        Some(v) => all.extend(v),
                        None => return None,
                    }
                }
                Some(all)
            }
            other => {
                self.err_at(&other, "match arms are integer literals, `a | b`, or `_`");
                Some(Vec::new())
            }
        }
    }

    fn return_value(&mut self, e: &syn::Expr, span: Span) {
        let n = self.f.outputs.len();
        if n == 0 {
            // The signature's error already says what to return.
            return;
        }
        let e = strip_parens(e);
        if let syn::Expr::Call(call) = e {
            if let Some(outs) = self.call_into_temps(call, n, Some("res"), call.span()) {
                let values = outs
                    .iter()
                    .map(|&t| Expr::var(t, self.f.vars[t].ty, call.span()))
                    .collect();
                self.emit(StmtKind::Return(values), span);
            }
            return;
        }
        let elems: Vec<&syn::Expr> = match e {
            syn::Expr::Tuple(t) => t.elems.iter().collect(),
            other => vec![other],
        };
        if elems.len() != n {
            self.err_at(
                &e,
                format!(
                    "the operator returns {n} value(s); this returns {}",
                    elems.len()
                ),
            );
            return;
        }
        let mut values = Vec::new();
        for (k, el) in elems.into_iter().enumerate() {
            let ty = self.f.outputs[k];
            let Some(v) = self.value(el, Some(ty)) else {
                return;
            };
            let v = match ty {
                // Arrays are returned as variables holding them (lowering copies them
                // element by element).
                Ty::Array(_) => match (&v.kind, v.ty) {
                    (ExprKind::Var(_), Ty::Array(_) | Ty::Opaque { .. }) => v,
                    _ => {
                        self.err_at(
                            el,
                            "this output is an array: return a variable holding one, or a \
                             call's array result",
                        );
                        return;
                    }
                },
                _ => match typing::coerce(self.cx, v, ty, el.span()) {
                    Some(v) => v,
                    None => return,
                },
            };
            values.push(v);
        }
        self.emit(StmtKind::Return(values), span);
    }
}

/// A trailing expression that yields no value: `if` without `else`, loops, blocks.
fn is_statement_like(e: &syn::Expr) -> bool {
    match e {
        syn::Expr::If(i) => i.else_branch.is_none(),
        syn::Expr::ForLoop(_) | syn::Expr::While(_) | syn::Expr::Loop(_) => true,
        _ => false,
    }
}

fn is_block_like(e: &syn::Expr) -> bool {
    matches!(
        e,
        syn::Expr::If(_)
            | syn::Expr::ForLoop(_)
            | syn::Expr::Match(_)
            | syn::Expr::Block(_)
            | syn::Expr::While(_)
            | syn::Expr::Loop(_)
            | syn::Expr::Unsafe(_)
    )
}
