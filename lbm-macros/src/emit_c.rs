//! The CUDA C printer: the lowered function and its adjoint sweeps to C text.
//!
//! The text is lattice- and precision-independent: it uses `real`, `Q`, `D`, `LBM_C`,
//! `LBM_W`, `LBM_OPP`, `LBM_CS2` and the `lbm_*` math functions, which the runtime's
//! prelude defines for one lattice and precision. Real-valued parameters are passed by
//! address (see `lbm_runtime::operator` for the calling convention). Names the printer
//! invents start with `lbm_`, which the language reserves, so they never clash with the
//! operator's own variables.
//!
//! Every statement and expression kind has its own arm, so a new kind does not compile
//! until it is printed. Matches on a variable's type keep a catch-all where the printer
//! only asks "a scalar `real`, or an array of reals?": arrays and call results (whatever
//! their shape) print alike, and listing them would repeat that at every site.

use std::collections::HashSet;
use std::fmt::Write;

use crate::adjoint::Adjoint;
use crate::ir::*;

/// The C texts of one operator.
pub struct CText {
    /// `#define LBM_LEN_<name>_<k>` for every output.
    pub shapes: String,
    pub forward: String,
    pub adjoint: String,
}

pub fn c_name(op: &str) -> String {
    format!("lbm_{op}")
}

pub fn len_macro(op: &str, k: usize) -> String {
    format!("LBM_LEN_{op}_{k}")
}

pub fn emit(f: &Function, adj: &Adjoint) -> CText {
    let name = f.name.to_string();
    let mut shapes = String::new();
    for (k, ty) in f.outputs.iter().enumerate() {
        let _ = writeln!(
            shapes,
            "#define {} {}",
            len_macro(&name, k),
            type_len(f, *ty)
        );
    }
    CText {
        shapes,
        forward: Printer::new(f).forward(),
        adjoint: Printer::new(f).adjoint(adj),
    }
}

/// Number of reals of a type, as a C constant expression.
fn type_len(f: &Function, ty: Ty) -> String {
    match ty {
        Ty::Array(Len::Q) => "Q".into(),
        Ty::Array(Len::D) => "D".into(),
        Ty::Array(Len::Lit(n)) => n.to_string(),
        Ty::Opaque { callee, index } => len_macro(&f.callees[callee].name, index),
        Ty::Real | Ty::Int(_) | Ty::Bool => "1".into(),
    }
}

struct Printer<'a> {
    f: &'a Function,
    out: String,
    indent: usize,
    /// Parameters assigned in the body: copied into locals on entry.
    mutated_params: HashSet<VarId>,
}

impl<'a> Printer<'a> {
    fn new(f: &'a Function) -> Self {
        let mut mutated_params = HashSet::new();
        collect_assigned(&f.body, &mut mutated_params);
        mutated_params.retain(|v| f.params.contains(v));
        Printer {
            f,
            out: String::new(),
            indent: 0,
            mutated_params,
        }
    }

    fn line(&mut self, text: impl AsRef<str>) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn name(&self, v: VarId) -> &str {
        &self.f.vars[v].name
    }

    fn ty(&self, v: VarId) -> Ty {
        self.f.vars[v].ty
    }

    /// Name of the pointer through which a real parameter arrives.
    fn param_pointer(&self, p: VarId) -> String {
        let ty = self.ty(p);
        if matches!(ty, Ty::Array(_)) && !self.mutated_params.contains(&p) {
            return self.name(p).to_string();
        }
        let base = format!("{}_in", self.name(p));
        if self.f.vars.iter().any(|v| v.name == base) {
            format!("lbm_{base}")
        } else {
            base
        }
    }

    fn params_c(&self) -> Vec<String> {
        self.f
            .params
            .iter()
            .map(|&p| {
                if self.ty(p).is_real_valued() {
                    format!("const real* {}", self.param_pointer(p))
                } else {
                    format!("int {}", self.name(p))
                }
            })
            .collect()
    }

    /// Copies of parameters that arrive by address and are read as locals.
    fn param_copies(&mut self) {
        for &p in &self.f.params {
            let ty = self.ty(p);
            let ptr = self.param_pointer(p);
            match ty {
                Ty::Real => self.line(format!("real {} = *{};", self.name(p), ptr)),
                Ty::Array(_) if self.mutated_params.contains(&p) => {
                    let n = type_len(self.f, ty);
                    let name = self.name(p).to_string();
                    self.line(format!("real {name}[{n}];"));
                    self.line(format!(
                        "for (int lbm_k = 0; lbm_k < {n}; ++lbm_k) {name}[lbm_k] = {ptr}[lbm_k];"
                    ));
                }
                // Arrays the body only reads are read through the pointer; integers and
                // flags arrive by value; parameters are never call results.
                Ty::Array(_) | Ty::Int(_) | Ty::Bool | Ty::Opaque { .. } => {}
            }
        }
    }

    /// Declares, zeroed, every variable the blocks use that is not a parameter, a loop
    /// counter or a block-local `let`.
    fn declarations(&mut self, blocks: &[&Block]) {
        for v in hoisted_vars(self.f, blocks) {
            let var = &self.f.vars[v];
            // Adjoints start at the additive identity (`StmtKind::Zero`).
            let adjoint = matches!(var.role, Role::Adjoint(_));
            let decl = match var.ty {
                Ty::Real if adjoint => format!("real {} = -(real)0;", var.name),
                Ty::Real => format!("real {} = 0;", var.name),
                Ty::Int(_) | Ty::Bool => format!("int {} = 0;", var.name),
                ty if adjoint => {
                    let n = type_len(self.f, ty);
                    format!(
                        "real {0}[{n}]; for (int lbm_k = 0; lbm_k < {n}; ++lbm_k) {0}[lbm_k] = -(real)0;",
                        var.name
                    )
                }
                ty => format!("real {}[{}] = {{0}};", var.name, type_len(self.f, ty)),
            };
            self.line(decl);
        }
    }

    fn forward(mut self) -> String {
        let f = self.f;
        let name = f.name.to_string();
        let mut params = self.params_c();
        params.extend((0..f.outputs.len()).map(|k| format!("real* lbm_out{k}")));
        self.line(format!("/* operator `{name}`: forward */"));
        self.line(format!(
            "__device__ __forceinline__ void {}({})",
            c_name(&name),
            params.join(", ")
        ));
        self.line("{");
        self.indent += 1;
        self.param_copies();
        let mut ret_block: Block = Vec::new();
        for &r in &f.ret_vars {
            ret_block.push(Stmt::new(StmtKind::Zero(r), f.vars[r].span));
        }
        self.declarations(&[&f.body, &ret_block]);
        self.block(&f.body);
        for (k, &r) in f.ret_vars.iter().enumerate() {
            self.copy_out(&format!("lbm_out{k}"), r, "=");
        }
        self.indent -= 1;
        self.line("}");
        self.out
    }

    /// `dst[k] op src[k]` for every real of `src`.
    fn copy_out(&mut self, dst: &str, src: VarId, op: &str) {
        let name = self.name(src).to_string();
        match self.ty(src) {
            Ty::Real => self.line(format!("*{dst} {op} {name};")),
            ty => {
                let n = type_len(self.f, ty);
                self.line(format!(
                    "for (int lbm_k = 0; lbm_k < {n}; ++lbm_k) {dst}[lbm_k] {op} {name}[lbm_k];"
                ));
            }
        }
    }

    fn adjoint(mut self, adj: &Adjoint) -> String {
        let f = self.f;
        let name = f.name.to_string();
        let bar = |v: VarId| adj.bars[v].expect("real-valued variables have adjoints");
        let mut params = self.params_c();
        params.extend((0..f.outputs.len()).map(|k| format!("const real* lbm_out{k}_bar")));
        let real_params: Vec<VarId> = f
            .params
            .iter()
            .copied()
            .filter(|&p| self.ty(p).is_real_valued())
            .collect();
        params.extend(
            real_params
                .iter()
                .map(|&p| format!("real* lbm_{}_bar", self.name(p))),
        );
        self.line(format!(
            "/* operator `{name}`: adjoint (forward sweep, then reverse sweep) */"
        ));
        self.line(format!(
            "__device__ __forceinline__ void {}_adj({})",
            c_name(&name),
            params.join(", ")
        ));
        self.line("{");
        self.indent += 1;
        self.param_copies();
        let mut extra: Block = Vec::new();
        for &r in &f.ret_vars {
            extra.push(Stmt::new(StmtKind::Zero(bar(r)), f.vars[r].span));
            extra.push(Stmt::new(StmtKind::Zero(r), f.vars[r].span));
        }
        for &p in &real_params {
            extra.push(Stmt::new(StmtKind::Zero(bar(p)), f.vars[p].span));
        }
        self.declarations(&[&adj.forward, &adj.reverse, &extra]);
        let len_of = |c: CalleeId, k: usize| len_macro(&f.callees[c].name, k);
        if adj.tape_len != crate::count::Count::Lit(0) {
            self.line(format!("real lbm_tape[{}];", adj.tape_len.to_c(&len_of)));
            self.line("int lbm_tp = 0;");
        }
        if adj.control_len != crate::count::Count::Lit(0) {
            self.line(format!("int lbm_ctl[{}];", adj.control_len.to_c(&len_of)));
            self.line("int lbm_cp = 0;");
        }
        self.line("/* forward sweep */");
        self.block(&adj.forward);
        self.line("/* reverse sweep */");
        for (k, &r) in f.ret_vars.iter().enumerate() {
            let b = self.name(bar(r)).to_string();
            match self.ty(r) {
                Ty::Real => self.line(format!("{b} = *lbm_out{k}_bar;")),
                ty => {
                    let n = type_len(f, ty);
                    self.line(format!("for (int lbm_k = 0; lbm_k < {n}; ++lbm_k) {b}[lbm_k] = lbm_out{k}_bar[lbm_k];"));
                }
            }
        }
        self.block(&adj.reverse);
        for &p in &real_params {
            if f.param_kind(p).is_some_and(ParamKind::is_differentiable) {
                let dst = format!("lbm_{}_bar", self.name(p));
                self.copy_out(&dst, bar(p), "+=");
            }
        }
        self.indent -= 1;
        self.line("}");
        self.out
    }

    fn block(&mut self, block: &Block) {
        for s in block {
            self.stmt(s);
        }
    }

    fn braced(&mut self, header: String, body: &Block) {
        self.line(format!("{header} {{"));
        self.indent += 1;
        self.block(body);
        self.indent -= 1;
    }

    fn place(&self, p: &Place) -> String {
        match p {
            Place::Var(v) if matches!(self.ty(*v), Ty::Opaque { .. }) => {
                format!("{}[0]", self.name(*v))
            }
            Place::Var(v) => self.name(*v).to_string(),
            Place::Elem(v, i) => format!("{}[{}]", self.name(*v), self.expr(i)),
        }
    }

    /// A real-valued variable passed by address: a scalar's address, or an array, which C
    /// passes as a pointer already (a call result is an array, even of one real).
    fn by_address(&self, v: VarId) -> String {
        match self.ty(v) {
            Ty::Real => format!("&{}", self.name(v)),
            _ => self.name(v).to_string(),
        }
    }

    /// Integers and flags by value, real-valued arguments by address.
    fn call_args(&self, args: &[Expr]) -> Vec<String> {
        args.iter()
            .map(|a| {
                if !a.ty.is_real_valued() {
                    return self.expr(a);
                }
                let ExprKind::Var(v) = a.kind else {
                    unreachable!("the parser binds real arguments to variables")
                };
                self.by_address(v)
            })
            .collect()
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Assign { place, value } => {
                let line = match place.compound(value) {
                    Some((op, rhs)) => {
                        let rhs = self.expr_prec(rhs, precedence(op) + 1);
                        format!("{} {}= {};", self.place(place), op.symbol(), rhs)
                    }
                    None => format!("{} = {};", self.place(place), self.expr(value)),
                };
                self.line(line);
            }
            StmtKind::Call { callee, args, outs } => {
                let mut a = self.call_args(args);
                a.extend(outs.iter().map(|o| self.by_address(*o)));
                let line = format!(
                    "{}({});",
                    c_name(&self.f.callees[*callee].name),
                    a.join(", ")
                );
                self.line(line);
            }
            StmtKind::Copy { dst, src } => self.whole_value(*dst, *src, "="),
            StmtKind::Accumulate { into, from } => self.whole_value(*into, *from, "+="),
            StmtKind::CallAdjoint {
                callee,
                args,
                out_bars,
                arg_bars,
            } => {
                let mut a = self.call_args(args);
                a.extend(out_bars.iter().map(|o| self.by_address(*o)));
                a.extend(arg_bars.iter().map(|o| self.by_address(*o)));
                let line = format!(
                    "{}_adj({});",
                    c_name(&self.f.callees[*callee].name),
                    a.join(", ")
                );
                self.line(line);
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let c = self.expr(cond);
                self.braced(format!("if ({c})"), then_branch);
                if else_branch.is_empty() {
                    self.line("}");
                } else {
                    self.line("} else {");
                    self.indent += 1;
                    self.block(else_branch);
                    self.indent -= 1;
                    self.line("}");
                }
            }
            StmtKind::Match { scrutinee, arms } => {
                let s = self.expr(scrutinee);
                for (k, arm) in arms.iter().enumerate() {
                    let cond = match &arm.pats {
                        None => None,
                        Some(p) if p.is_empty() => Some("0".to_string()),
                        Some(p) => Some(
                            p.iter()
                                .map(|v| format!("{s} == {v}"))
                                .collect::<Vec<_>>()
                                .join(" || "),
                        ),
                    };
                    let header = match (k, cond) {
                        (0, Some(c)) => format!("if ({c})"),
                        (0, None) => "if (1)".to_string(),
                        (_, Some(c)) => format!("}} else if ({c})"),
                        (_, None) => "} else".to_string(),
                    };
                    self.braced(header, &arm.body);
                }
                if !arms.is_empty() {
                    self.line("}");
                }
            }
            StmtKind::For {
                var,
                start,
                end,
                reverse,
                body,
            } => {
                let (i, a, b) = (
                    self.name(*var).to_string(),
                    self.expr(start),
                    self.expr(end),
                );
                self.line("#pragma unroll");
                let header = if *reverse {
                    format!("for (int {i} = {b} - 1; {i} >= {a}; --{i})")
                } else {
                    format!("for (int {i} = {a}; {i} < {b}; ++{i})")
                };
                self.braced(header, body);
                self.line("}");
            }
            StmtKind::Let { var, value } => {
                let ty = if self.ty(*var).is_int() || self.ty(*var) == Ty::Bool {
                    "int"
                } else {
                    "real"
                };
                let line = format!("const {ty} {} = {};", self.name(*var), self.expr(value));
                self.line(line);
            }
            StmtKind::Save(place, _) => self.save_restore(place, true),
            StmtKind::Restore(place, _) => self.save_restore(place, false),
            StmtKind::SaveControl(e) => {
                let line = format!("lbm_ctl[lbm_cp++] = (int)({});", self.expr(e));
                self.line(line);
            }
            StmtKind::RestoreControl(v) => {
                let line = format!("{} = lbm_ctl[--lbm_cp];", self.name(*v));
                self.line(line);
            }
            StmtKind::Zero(v) => {
                let name = self.name(*v).to_string();
                match self.ty(*v) {
                    Ty::Real => self.line(format!("{name} = -(real)0;")),
                    ty => {
                        let n = type_len(self.f, ty);
                        self.line(format!(
                            "for (int lbm_k = 0; lbm_k < {n}; ++lbm_k) {name}[lbm_k] = -(real)0;"
                        ));
                    }
                }
            }
            StmtKind::Return(_) => unreachable!("returns are lowered before printing"),
        }
    }

    /// `dst op src` over every real of two whole variables; a `Real` variable is a plain
    /// C scalar, anything else an array (a scalar call result is an array of one).
    fn whole_value(&mut self, dst: VarId, src: VarId, op: &str) {
        let (d, s) = (self.name(dst).to_string(), self.name(src).to_string());
        let (dt, st) = (self.ty(dst), self.ty(src));
        if dt == Ty::Real && st == Ty::Real {
            self.line(format!("{d} {op} {s};"));
            return;
        }
        let elem = |name: &str, ty: Ty| match ty {
            Ty::Real => name.to_string(),
            _ => format!("{name}[lbm_k]"),
        };
        let n = type_len(self.f, if dt == Ty::Real { st } else { dt });
        let line = format!(
            "for (int lbm_k = 0; lbm_k < {n}; ++lbm_k) {} {op} {};",
            elem(&d, dt),
            elem(&s, st)
        );
        self.line(line);
    }

    fn save_restore(&mut self, place: &Place, save: bool) {
        let whole_array = matches!(place, Place::Var(v) if !matches!(self.ty(*v), Ty::Real));
        if !whole_array {
            let p = match place {
                Place::Var(v) => self.name(*v).to_string(),
                Place::Elem(..) => self.place(place),
            };
            let line = if save {
                format!("lbm_tape[lbm_tp++] = {p};")
            } else {
                format!("{p} = lbm_tape[--lbm_tp];")
            };
            self.line(line);
            return;
        }
        let v = place.var();
        let (name, n) = (self.name(v).to_string(), type_len(self.f, self.ty(v)));
        let line = if save {
            format!("for (int lbm_k = 0; lbm_k < {n}; ++lbm_k) lbm_tape[lbm_tp++] = {name}[lbm_k];")
        } else {
            format!("for (int lbm_k = {n} - 1; lbm_k >= 0; --lbm_k) {name}[lbm_k] = lbm_tape[--lbm_tp];")
        };
        self.line(line);
    }

    fn expr(&self, e: &Expr) -> String {
        self.expr_prec(e, 0)
    }

    /// Prints `e`, parenthesised if it binds looser than `outer`.
    fn expr_prec(&self, e: &Expr, outer: u8) -> String {
        let (text, prec) = match &e.kind {
            ExprKind::RealLit(v) => (format!("(real){}", real_literal(*v)), 13),
            ExprKind::IntLit(v) => (v.to_string(), 13),
            ExprKind::BoolLit(b) => ((*b as i32).to_string(), 13),
            ExprKind::Var(v) => match self.ty(*v) {
                Ty::Opaque { .. } => (format!("{}[0]", self.name(*v)), 13),
                _ => (self.name(*v).to_string(), 13),
            },
            ExprKind::Index(v, i) => (format!("{}[{}]", self.name(*v), self.expr(i)), 13),
            ExprKind::Lat(LatConst::Q) => ("Q".into(), 13),
            ExprKind::Lat(LatConst::D) => ("D".into(), 13),
            ExprKind::Lat(LatConst::Cs2) => ("LBM_CS2".into(), 13),
            ExprKind::LatC(i, a) => (format!("LBM_C[{}][{}]", self.expr(i), self.expr(a)), 13),
            ExprKind::LatW(i) => (format!("LBM_W[{}]", self.expr(i)), 13),
            ExprKind::LatOpp(i) => (format!("LBM_OPP[{}]", self.expr(i)), 13),
            ExprKind::Unary(UnOp::Neg, a) => (format!("-{}", self.expr_prec(a, 13)), 12),
            ExprKind::Unary(UnOp::Not, a) => (format!("!{}", self.expr_prec(a, 13)), 12),
            ExprKind::Binary(..) if e.lattice_product().is_some() => {
                let (x, c) = e.lattice_product().expect("checked by the guard");
                (
                    format!("lbm_times_c({}, {})", self.expr(x), self.expr(c)),
                    13,
                )
            }
            ExprKind::Binary(..) if e.constant_divisor().is_some() => {
                let (a, k) = e.constant_divisor().expect("checked by the guard");
                let p = precedence(BinOp::Mul);
                (
                    format!(
                        "{} * ((real)1.0 / {})",
                        self.expr_prec(a, p),
                        self.expr_prec(k, p + 1)
                    ),
                    p,
                )
            }
            ExprKind::Binary(op, a, b) => {
                let p = precedence(*op);
                (
                    format!(
                        "{} {} {}",
                        self.expr_prec(a, p),
                        op.symbol(),
                        self.expr_prec(b, p + 1)
                    ),
                    p,
                )
            }
            ExprKind::Intrinsic(i, args) => {
                let a: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                (format!("{}({})", i.c_name(), a.join(", ")), 13)
            }
            ExprKind::Cast(a) => {
                let target = if e.ty.is_scalar_real() { "real" } else { "int" };
                (format!("({target}){}", self.expr_prec(a, 12)), 12)
            }
            ExprKind::Select(c, a, b) => (
                format!(
                    "{} ? {} : {}",
                    self.expr_prec(c, 2),
                    self.expr_prec(a, 2),
                    self.expr_prec(b, 1)
                ),
                1,
            ),
            ExprKind::PopControl => ("lbm_ctl[--lbm_cp]".into(), 13),
        };
        if prec < outer {
            format!("({text})")
        } else {
            text
        }
    }
}

/// C's precedence (higher binds tighter); it differs from Rust's for the bit operators,
/// which is why the printer decides parentheses itself.
fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 2,
        BinOp::And => 3,
        BinOp::BitOr => 4,
        BinOp::BitXor => 5,
        BinOp::BitAnd => 6,
        BinOp::Eq | BinOp::Ne => 7,
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 8,
        BinOp::Shl | BinOp::Shr => 9,
        BinOp::Add | BinOp::Sub => 10,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 11,
    }
}

/// A C double literal that reads back to exactly `v`.
pub fn real_literal(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

fn collect_assigned(block: &Block, out: &mut HashSet<VarId>) {
    walk(block, false, &mut |s, _| out.extend(s.writes()));
}

/// The variables the blocks use that a function declares at its top: all but parameters,
/// loop counters and block-local `let`s, each once, in first-mention order.
pub fn hoisted_vars(f: &Function, blocks: &[&Block]) -> Vec<VarId> {
    let mut used = Vec::new();
    let mut lets = HashSet::new();
    for b in blocks {
        collect_vars(b, &mut used, &mut lets);
    }
    let mut seen = HashSet::new();
    used.into_iter()
        .filter(|v| seen.insert(*v) && !lets.contains(v))
        .filter(|v| !matches!(f.vars[*v].role, Role::Param(_) | Role::Loop))
        .collect()
}

/// Every variable a block mentions, in first-mention order; `lets` gets the block-local ones.
pub fn collect_vars(block: &Block, used: &mut Vec<VarId>, lets: &mut HashSet<VarId>) {
    let push_expr = |e: &Expr, used: &mut Vec<VarId>| e.for_each_var(&mut |v| used.push(v));
    for s in block {
        match &s.kind {
            StmtKind::Assign { place, value } => {
                used.push(place.var());
                if let Place::Elem(_, i) = place {
                    push_expr(i, used);
                }
                push_expr(value, used);
            }
            StmtKind::Call { args, outs, .. } => {
                args.iter().for_each(|a| push_expr(a, used));
                used.extend(outs);
            }
            StmtKind::Copy { dst, src } => used.extend([*dst, *src]),
            StmtKind::Accumulate { into, from } => used.extend([*into, *from]),
            StmtKind::CallAdjoint {
                args,
                out_bars,
                arg_bars,
                ..
            } => {
                args.iter().for_each(|a| push_expr(a, used));
                used.extend(out_bars);
                used.extend(arg_bars);
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                push_expr(cond, used);
                collect_vars(then_branch, used, lets);
                collect_vars(else_branch, used, lets);
            }
            StmtKind::Match { scrutinee, arms } => {
                push_expr(scrutinee, used);
                arms.iter().for_each(|a| collect_vars(&a.body, used, lets));
            }
            StmtKind::For { var, body, .. } => {
                lets.insert(*var);
                collect_vars(body, used, lets);
            }
            StmtKind::Let { var, value } => {
                lets.insert(*var);
                push_expr(value, used);
            }
            StmtKind::Save(p, _) | StmtKind::Restore(p, _) => {
                used.push(p.var());
                if let Place::Elem(_, i) = p {
                    push_expr(i, used);
                }
            }
            StmtKind::SaveControl(e) => push_expr(e, used),
            StmtKind::RestoreControl(v) | StmtKind::Zero(v) => used.push(*v),
            StmtKind::Return(values) => values.iter().for_each(|v| push_expr(v, used)),
        }
    }
}
