//! Parsing: a `syn::ItemFn` to the typed IR.
//!
//! Takes the annotated function, returns a [`Function`] whose statements are typed and
//! whose calls to other operators are lifted out of expressions into statements. Anything
//! outside the operator language is reported at its span with what to write instead; the
//! parser keeps going after an error so every mistake is reported in one build.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::intrinsic::{self, Intrinsic};
use crate::ir::*;
use crate::symbol;

const ALLOWED_TYPES: &str =
    "allowed: Real, [Real; Q], [Real; D], [Real; N], i32, u32, i64, usize, bool";

pub fn parse(item: &syn::ItemFn, cx: &Ctxt) -> Option<Function> {
    let mut p = Parser {
        cx,
        f: Function {
            name: item.sig.ident.clone(),
            vis: item.vis.clone(),
            attrs: item.attrs.clone(),
            params: Vec::new(),
            param_names: Vec::new(),
            outputs: Vec::new(),
            returns_tuple: false,
            body: Vec::new(),
            vars: Vec::new(),
            callees: Vec::new(),
            ret_vars: Vec::new(),
        },
        scopes: vec![HashMap::new()],
        blocks: vec![Vec::new()],
        mutable: Vec::new(),
        poisoned: Default::default(),
    };
    p.signature(&item.sig);
    p.fn_body(&item.block);
    let body = p.blocks.pop().unwrap_or_default();
    p.f.body = body;
    if cx.has_errors() {
        None
    } else {
        Some(p.f)
    }
}

struct Parser<'a> {
    cx: &'a Ctxt,
    f: Function,
    scopes: Vec<HashMap<String, VarId>>,
    /// Statement buffers: the innermost receives statements, lifted calls included.
    blocks: Vec<Block>,
    /// Whether each variable was declared `mut`.
    mutable: Vec<bool>,
    /// Names whose declaration was rejected: later uses stay quiet, since the error at
    /// the declaration already says what is wrong.
    poisoned: std::collections::HashSet<String>,
}

impl Parser<'_> {
    fn err(&self, span: Span, msg: impl std::fmt::Display) {
        self.cx.error(span, msg);
    }

    /// Reports an error covering all of `node`'s tokens.
    fn err_at(&self, node: &impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.cx.error_spanned(node, msg);
    }

    // ---------------------------------------------------------------- variables

    fn declare(&mut self, name: &syn::Ident, ty: Ty, role: Role, mutable: bool) -> VarId {
        let id = self.f.add_var(&name.to_string(), ty, role, name.span());
        self.mutable.resize(self.f.vars.len(), false);
        self.mutable[id] = mutable;
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .insert(name.to_string(), id);
        id
    }

    fn temp(&mut self, base: &str, ty: Ty, span: Span) -> VarId {
        let id = self.f.add_var(base, ty, Role::Local, span);
        self.mutable.resize(self.f.vars.len(), true);
        id
    }

    fn lookup(&self, name: &str) -> Option<VarId> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    /// Reports an unknown variable, unless its declaration was already reported.
    fn unknown_variable(&self, ident: &syn::Ident) {
        if !self.poisoned.contains(&ident.to_string()) {
            self.err_at(ident, format!("unknown variable `{ident}`"));
        }
    }

    fn emit(&mut self, kind: StmtKind, span: Span) {
        self.blocks
            .last_mut()
            .expect("a block is open")
            .push(Stmt::new(kind, span));
    }

    /// Runs `f` with a fresh scope and statement buffer; returns the statements.
    fn scoped(&mut self, f: impl FnOnce(&mut Self)) -> Block {
        self.scopes.push(HashMap::new());
        self.blocks.push(Vec::new());
        f(self);
        self.scopes.pop();
        self.blocks.pop().unwrap_or_default()
    }

    // ---------------------------------------------------------------- signature

    fn signature(&mut self, sig: &syn::Signature) {
        if let Some(c) = &sig.constness {
            self.err_at(&c, "operators cannot be `const fn`; remove `const`");
        }
        if let Some(a) = &sig.asyncness {
            self.err_at(&a, "operators cannot be `async`; remove `async`");
        }
        if let Some(u) = &sig.unsafety {
            self.err_at(&u, "operators cannot be `unsafe`; remove `unsafe`");
        }
        if let Some(abi) = &sig.abi {
            self.err_at(&abi, "operators cannot declare an ABI; remove it");
        }
        if !sig.generics.params.is_empty() {
            self.err_at(
                &sig.generics,
                "operators cannot have generic parameters: they are generic over `Real` and \
                 the lattice already; remove `<...>`",
            );
        }
        if let Some(v) = &sig.variadic {
            self.err_at(&v, "operators cannot be variadic");
        }
        for arg in &sig.inputs {
            match arg {
                syn::FnArg::Receiver(r) => self.err_at(
                    &r,
                    "operators are free functions: remove `self` and pass values as parameters",
                ),
                syn::FnArg::Typed(pt) => self.param(pt),
            }
        }
        match &sig.output {
            syn::ReturnType::Default => self.err_at(
                &sig.ident,
                "an operator returns its results: add `-> Real`, `-> [Real; Q]` or a tuple of them",
            ),
            syn::ReturnType::Type(_, ty) => {
                if let syn::Type::Tuple(t) = &**ty {
                    self.f.returns_tuple = true;
                    if t.elems.len() < 2 {
                        self.err_at(&t, "return a tuple of two or more values, or one value");
                    }
                    for e in &t.elems {
                        if let Some(ty) = self.output_type(e) {
                            self.f.outputs.push(ty);
                        }
                    }
                } else if let Some(ty) = self.output_type(ty) {
                    self.f.outputs.push(ty);
                }
            }
        }
    }

    fn output_type(&mut self, ty: &syn::Type) -> Option<Ty> {
        let t = self.parse_type(ty)?;
        if !t.is_real_valued() {
            self.err_at(
                &ty,
                "operators return reals: `Real`, `[Real; Q]`, `[Real; D]`, `[Real; N]` or a tuple \
                 of them; pass integers and flags as parameters instead",
            );
            return None;
        }
        Some(t)
    }

    fn param(&mut self, pt: &syn::PatType) {
        let (name, mutable) = match &*pt.pat {
            syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                (pi.ident.clone(), pi.mutability.is_some())
            }
            other => {
                self.err_at(&other, "parameters are plain names: write `name: Type`");
                return;
            }
        };
        let mut marker = None;
        for attr in &pt.attrs {
            let path = attr.path();
            if path.is_ident(symbol::PARAM) || path.is_ident(symbol::DATA) {
                if marker.is_some() {
                    self.err_at(
                        &attr,
                        "a parameter is either `#[param]` or `#[data]`, not both",
                    );
                }
                marker = Some(path.is_ident(symbol::PARAM));
            } else {
                self.err_at(
                    &attr,
                    "unknown parameter attribute: use `#[param]` for a differentiable parameter \
                     uniform over the grid or `#[data]` for a real that is not differentiated",
                );
            }
        }
        let Some(ty) = self.parse_type(&pt.ty) else {
            self.poisoned.insert(name.to_string());
            return;
        };
        let kind = match (ty, marker) {
            (Ty::Int(_), None) => ParamKind::Int,
            (Ty::Bool, None) => ParamKind::Bool,
            (Ty::Int(_) | Ty::Bool, Some(_)) => {
                self.err_at(
                    &pt,
                    "`#[param]` and `#[data]` mark real parameters; integers and booleans are \
                     never differentiated: remove the attribute",
                );
                self.poisoned.insert(name.to_string());
                return;
            }
            (_, Some(true)) => ParamKind::Param,
            (_, Some(false)) => ParamKind::Data,
            (_, None) => ParamKind::Field,
        };
        let id = self.declare(&name, ty, Role::Param(kind), mutable);
        self.f.params.push(id);
        self.f.param_names.push(name.to_string());
    }

    fn parse_type(&mut self, ty: &syn::Type) -> Option<Ty> {
        match ty {
            syn::Type::Path(tp) if tp.qself.is_none() => {
                let Some(ident) = tp.path.get_ident() else {
                    self.err_at(&ty, format!("unsupported type; {ALLOWED_TYPES}"));
                    return None;
                };
                match ident.to_string().as_str() {
                    symbol::REAL => Some(Ty::Real),
                    "i32" => Some(Ty::Int(IntTy::I32)),
                    "u32" => Some(Ty::Int(IntTy::U32)),
                    "i64" => Some(Ty::Int(IntTy::I64)),
                    "usize" => Some(Ty::Int(IntTy::Usize)),
                    "bool" => Some(Ty::Bool),
                    "f32" | "f64" => {
                        self.err_at(&ty,
                            "write `Real`: the precision (f32 or f64) is chosen when a kernel is built",
                        );
                        None
                    }
                    s if symbol::HEAP.contains(&s) => {
                        self.err_at(&ty, heap_message(s));
                        None
                    }
                    _ => {
                        self.err_at(&ty, format!("unsupported type; {ALLOWED_TYPES}"));
                        None
                    }
                }
            }
            syn::Type::Array(arr) => {
                let elem = self.parse_type(&arr.elem)?;
                if elem != Ty::Real {
                    self.err_at(&arr.elem, "arrays hold reals: write `[Real; N]`");
                    return None;
                }
                let len = self.array_len(&arr.len)?;
                Some(Ty::Array(len))
            }
            syn::Type::Reference(r) => {
                self.err_at(
                    &r,
                    "references are not allowed: operators take and return values (arrays are \
                     copied); write the type without `&`",
                );
                None
            }
            syn::Type::Ptr(p) => {
                self.err_at(&p, "raw pointers are not allowed; pass values");
                None
            }
            syn::Type::Slice(s) => {
                self.err_at(
                    &s,
                    "slices have no fixed length: write `[Real; Q]` or `[Real; D]`",
                );
                None
            }
            syn::Type::Paren(p) => self.parse_type(&p.elem),
            other => {
                self.err_at(&other, format!("unsupported type; {ALLOWED_TYPES}"));
                None
            }
        }
    }

    fn array_len(&mut self, e: &syn::Expr) -> Option<Len> {
        match e {
            syn::Expr::Path(p) if p.path.is_ident(symbol::Q) => Some(Len::Q),
            syn::Expr::Path(p) if p.path.is_ident(symbol::D) => Some(Len::D),
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => match i.base10_parse::<usize>() {
                Ok(n) if n > 0 => Some(Len::Lit(n)),
                _ => {
                    self.err_at(&i, "array length must be a positive integer");
                    None
                }
            },
            other => {
                self.err_at(
                    &other,
                    "array length must be `Q`, `D` or an integer literal",
                );
                None
            }
        }
    }

    // ---------------------------------------------------------------- statements

    fn fn_body(&mut self, block: &syn::Block) {
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
            let Some(elem) = self.coerce(elem, Ty::Real, r.expr.span()) else {
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
        let ty = match (annotated, value.ty) {
            (Some(t), _) => t,
            (None, Ty::Int(IntTy::Literal)) => Ty::Int(IntTy::Literal),
            (None, Ty::Opaque { .. }) if !matches!(value.kind, ExprKind::Var(_)) => Ty::Real,
            // A copy of a call result has the result's type.
            (None, t @ Ty::Opaque { .. }) => t,
            (None, t) => t,
        };
        let id = self.declare(name, ty, Role::Local, mutable);
        self.assign_value(Place::Var(id), value, init.span());
    }

    /// Parses the value of a `let` or an assignment; array literals and copies become
    /// element-wise loops, so only scalars and array variables come back.
    fn value(&mut self, e: &syn::Expr, expect: Option<Ty>) -> Option<Expr> {
        match strip_parens(e) {
            syn::Expr::Repeat(r) => {
                let elem = self.expr(&r.expr)?;
                let elem = self.coerce(elem, Ty::Real, r.expr.span())?;
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
                    let v = self.coerce(v, Ty::Real, el.span())?;
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
        let target_ty = match &place {
            Place::Var(v) => self.f.vars[*v].ty,
            Place::Elem(..) => Ty::Real,
        };
        let is_whole = |t: Ty| matches!(t, Ty::Array(_) | Ty::Opaque { .. });
        if is_whole(target_ty) || is_whole(value.ty) {
            if let (Place::Var(dst), ExprKind::Var(src)) = (&place, &value.kind) {
                if let (Ty::Array(a), Ty::Array(b)) = (target_ty, value.ty) {
                    if a != b {
                        self.err(span, "array lengths differ");
                        return;
                    }
                }
                // Only the callees know the shapes of call results: rustc checks them in
                // the Rust form, and the C form copies the destination's length.
                if target_ty.is_real_valued() && value.ty.is_real_valued() {
                    self.emit(
                        StmtKind::Copy {
                            dst: *dst,
                            src: *src,
                        },
                        span,
                    );
                    return;
                }
            }
            if let Ty::Array(_) = target_ty {
                self.err(
                    span,
                    "an array is assigned an array variable of the same length",
                );
                return;
            }
        }
        // A scalar assigned to a call result: the result is a scalar too (rustc checks
        // that against the callee's output type in the Rust form).
        let target_ty = match target_ty {
            Ty::Opaque { .. } => Ty::Real,
            t => t,
        };
        let Some(value) = self.coerce(value, target_ty, span) else {
            return;
        };
        self.emit(StmtKind::Assign { place, value }, span);
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
            if let Some((callee, args)) = self.call(call, 1) {
                let ty = Ty::Opaque { callee, index: 0 };
                let result = self.temp(&format!("{}_val", self.f.callees[callee].name), ty, span);
                self.emit(
                    StmtKind::Call {
                        callee,
                        args,
                        outs: vec![result],
                    },
                    span,
                );
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
                let Some(v) = self.arith(op, current, rhs, span) else {
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
    fn if_stmt(&mut self, i: &syn::ExprIf, target: Option<VarId>) {
        let Some(cond) = self.expr(&i.cond) else {
            return;
        };
        let Some(cond) = self.coerce(cond, Ty::Bool, i.cond.span()) else {
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

    fn match_stmt(&mut self, m: &syn::ExprMatch, target: Option<VarId>) {
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
            if let Some((callee, args)) = self.call(call, n) {
                let values = (0..n)
                    .map(|k| {
                        let t = self.temp("res", Ty::Opaque { callee, index: k }, call.span());
                        Expr::var(t, Ty::Opaque { callee, index: k }, call.span())
                    })
                    .collect::<Vec<_>>();
                let outs = values
                    .iter()
                    .map(|v| match v.kind {
                        ExprKind::Var(id) => id,
                        _ => unreachable!("temporaries are variables"),
                    })
                    .collect();
                self.emit(StmtKind::Call { callee, args, outs }, call.span());
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
                Ty::Array(_) => v,
                _ => match self.coerce(v, ty, el.span()) {
                    Some(v) => v,
                    None => return,
                },
            };
            values.push(v);
        }
        self.emit(StmtKind::Return(values), span);
    }

    // ---------------------------------------------------------------- calls

    /// Parses an operator call with `outputs` results. Real-valued arguments are bound to
    /// variables, as the calling convention passes them by address.
    fn call(&mut self, call: &syn::ExprCall, outputs: usize) -> Option<(CalleeId, Vec<Expr>)> {
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
                let v = self.coerce(v, Ty::Real, a.span())?;
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

    // ---------------------------------------------------------------- expressions

    fn index(&mut self, e: &syn::Expr) -> Option<Expr> {
        let i = self.expr(e)?;
        if !i.ty.is_int() {
            self.err_at(&e, "indices are integers");
            return None;
        }
        Some(i)
    }

    /// Converts `e` to type `to` where the language allows it implicitly (integer literals
    /// to reals, call results to reals), or reports the mismatch.
    fn coerce(&mut self, e: Expr, to: Ty, span: Span) -> Option<Expr> {
        match (e.ty, to) {
            (a, b) if a == b => Some(e),
            (Ty::Int(a), Ty::Int(b)) => {
                self.same_int_kind(a, b, span)?;
                Some(e)
            }
            (Ty::Int(IntTy::Literal), Ty::Real) => match e.kind {
                ExprKind::IntLit(v) => Some(Expr::real(v as f64, e.span)),
                _ => Some(Expr::new(ExprKind::Cast(Box::new(e)), Ty::Real, span)),
            },
            (Ty::Opaque { .. }, Ty::Real) => Some(Expr { ty: Ty::Real, ..e }),
            (Ty::Int(_), Ty::Real) => {
                self.err(
                    span,
                    "an integer where a Real is expected: convert with `as Real`",
                );
                None
            }
            (Ty::Real, Ty::Int(_)) => {
                self.err(span, "a Real where an integer is expected");
                None
            }
            (_, Ty::Bool) => {
                self.err(span, "a condition must be a bool, such as `x > 0.0`");
                None
            }
            (Ty::Array(_), _) | (_, Ty::Array(_)) => {
                self.err(
                    span,
                    "whole arrays cannot be used here: index them (`x[i]`) inside a `for` loop",
                );
                None
            }
            _ => {
                self.err(span, "mismatched types");
                None
            }
        }
    }

    /// Integers of two different Rust types meet only through an explicit `as`, as in
    /// Rust; unsuffixed literals take the other side's type.
    fn same_int_kind(&self, a: IntTy, b: IntTy, span: Span) -> Option<()> {
        if a == b || a == IntTy::Literal || b == IntTy::Literal {
            return Some(());
        }
        let (a, b) = (a.rust_name().unwrap_or("?"), b.rust_name().unwrap_or("?"));
        self.err(
            span,
            format!("mixing `{a}` and `{b}`: convert one with `as` (loop counters and `OPP[i]` are `usize`)"),
        );
        None
    }

    fn arith(&mut self, op: BinOp, a: Expr, b: Expr, span: Span) -> Option<Expr> {
        let is_real = |t: Ty| t.is_scalar_real();
        let (a, b) = match (a.ty, b.ty) {
            (Ty::Array(_), _) | (_, Ty::Array(_)) => {
                self.err(
                    span,
                    "arithmetic on whole arrays is not supported: loop over the elements (`for i in 0..Q`)",
                );
                return None;
            }
            (x, y) if is_real(x) && is_real(y) => (
                self.coerce(a, Ty::Real, span)?,
                self.coerce(b, Ty::Real, span)?,
            ),
            (x, Ty::Int(IntTy::Literal)) if is_real(x) => (
                self.coerce(a, Ty::Real, span)?,
                self.coerce(b, Ty::Real, span)?,
            ),
            (Ty::Int(IntTy::Literal), y) if is_real(y) => (
                self.coerce(a, Ty::Real, span)?,
                self.coerce(b, Ty::Real, span)?,
            ),
            (Ty::Int(x), Ty::Int(y)) => {
                self.same_int_kind(x, y, span)?;
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
                self.err(
                    span,
                    "mixing an integer and a Real: convert the integer with `as Real`",
                );
                return None;
            }
            _ => {
                self.err(span, "arithmetic needs two numbers of the same kind");
                return None;
            }
        };
        if op.is_integer_only() {
            self.err(
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

    fn expr(&mut self, e: &syn::Expr) -> Option<Expr> {
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
                if op.is_logical() {
                    let a = self.coerce(a, Ty::Bool, b.left.span())?;
                    let c = self.coerce(c, Ty::Bool, b.right.span())?;
                    return Some(Expr::binary(op, a, c));
                }
                if op.is_comparison() {
                    let real = a.ty.is_scalar_real() || c.ty.is_scalar_real();
                    let (a, c) = if real {
                        (
                            self.coerce(a, Ty::Real, b.left.span())?,
                            self.coerce(c, Ty::Real, b.right.span())?,
                        )
                    } else if let (Ty::Int(x), Ty::Int(y)) = (a.ty, c.ty) {
                        self.same_int_kind(x, y, span)?;
                        (a, c)
                    } else if a.ty == c.ty {
                        (a, c)
                    } else {
                        self.err(span, "comparison of values of different kinds");
                        return None;
                    };
                    return Some(Expr::binary(op, a, c));
                }
                self.arith(op, a, c, span)
            }
            syn::Expr::Unary(u) => match u.op {
                syn::UnOp::Neg(_) => {
                    let a = self.expr(&u.expr)?;
                    if matches!(a.ty, Ty::Array(_) | Ty::Bool) {
                        self.err(span, "negate numbers, not arrays or flags");
                        return None;
                    }
                    if matches!(a.ty, Ty::Int(IntTy::Usize | IntTy::U32)) {
                        self.err_at(
                            e,
                            "an unsigned integer cannot be negated: cast it first (`-(n as i32)`)",
                        );
                        return None;
                    }
                    let a = if matches!(a.ty, Ty::Opaque { .. }) {
                        self.coerce(a, Ty::Real, span)?
                    } else {
                        a
                    };
                    Some(Expr::neg(a))
                }
                syn::UnOp::Not(_) => {
                    let a = self.expr(&u.expr)?;
                    let a = self.coerce(a, Ty::Bool, span)?;
                    Some(Expr::not(a))
                }
                _ => {
                    self.err(span, "references are not allowed: operators work on values");
                    None
                }
            },
            syn::Expr::MethodCall(m) => self.method_call(m),
            syn::Expr::Call(call) => {
                let (callee, args) = self.call(call, 1)?;
                let t = self.temp(
                    &format!("{}_val", self.f.callees[callee].name),
                    Ty::Opaque { callee, index: 0 },
                    span,
                );
                self.emit(
                    StmtKind::Call {
                        callee,
                        args,
                        outs: vec![t],
                    },
                    span,
                );
                Some(Expr::var(t, Ty::Opaque { callee, index: 0 }, span))
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
        let mut args = vec![self.coerce(recv, Ty::Real, m.receiver.span())?];
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
                self.coerce(v, Ty::Real, a.span())?
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
        match (inner.ty, to) {
            (_, Ty::Bool) => {
                self.err_at(
                    &c,
                    "nothing casts to `bool`: compare instead (`x != 0`, `x > 0.0`)",
                );
                None
            }
            (Ty::Bool, Ty::Real) => {
                self.err_at(
                    &c,
                    "a `bool` does not cast to `Real`: select with `if b { 1.0 } else { 0.0 }`",
                );
                None
            }
            (Ty::Array(_), _) | (_, Ty::Array(_)) => {
                self.err_at(&c, "arrays cannot be cast: convert the elements in a loop");
                None
            }
            (Ty::Opaque { .. }, _) => {
                let inner = self.coerce(inner, Ty::Real, c.span())?;
                Some(Expr::new(ExprKind::Cast(Box::new(inner)), to, c.span()))
            }
            (from, to) if from == to => Some(inner),
            _ => Some(Expr::new(ExprKind::Cast(Box::new(inner)), to, c.span())),
        }
    }

    /// Reports constructs outside the language with what to write instead; returns whether
    /// it reported one.
    fn unsupported(&mut self, e: &syn::Expr) -> bool {
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

    fn macro_error(&mut self, mac: &syn::Macro) {
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

fn heap_message(what: &str) -> String {
    format!(
        "heap allocation (`{what}`) is not allowed: operators run per cell on the GPU; use a \
         fixed-size array such as `[Real; Q]`"
    )
}

fn strip_parens(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Paren(p) => strip_parens(&p.expr),
        syn::Expr::Group(g) => strip_parens(&g.expr),
        e => e,
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
