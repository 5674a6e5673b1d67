//! The signature: parameters, their markers (`#[param]`, `#[data]`) and the output types,
//! and the types the language allows.
//!
//! Takes `syn::Signature` and `syn::Type` nodes; declares each parameter in the outer
//! scope and records the outputs in the [`Function`] being built, and returns the IR
//! [`Ty`] of a written type (also for `let` annotations and casts).

use crate::ir::*;
use crate::symbol;

use super::{heap_message, Parser};

const ALLOWED_TYPES: &str =
    "allowed: Real, [Real; Q], [Real; D], [Real; N], i32, u32, i64, usize, bool";

impl Parser<'_> {
    pub(super) fn signature(&mut self, sig: &syn::Signature) {
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
        let mut decl = ParamDecl::default();
        for attr in &pt.attrs {
            let path = attr.path();
            let role = [
                (symbol::POPULATIONS, BindRole::Populations),
                (symbol::LOCAL, BindRole::Local),
                (symbol::FAR, BindRole::Far),
                (symbol::LINKS, BindRole::Links),
            ]
            .into_iter()
            .find(|(name, _)| path.is_ident(name));
            if path.is_ident(symbol::PARAM) || path.is_ident(symbol::DATA) {
                if marker.is_some() {
                    self.err_at(
                        &attr,
                        "a parameter is either `#[param]` or `#[data]`, not both",
                    );
                }
                marker = Some(path.is_ident(symbol::PARAM));
            } else if let Some((_, role)) = role {
                if decl.role != BindRole::Named {
                    self.err_at(&attr, "a parameter has one role");
                }
                decl.role = role;
            } else if path.is_ident(symbol::RANGE) {
                decl.range = self.range(attr);
            } else {
                self.err_at(
                    &attr,
                    "unknown parameter attribute: use `#[param]` for a differentiable parameter \
                     uniform over the grid, `#[data]` for a real that is not differentiated, \
                     `#[range(\"(0, 2)\")]` for the values it accepts, or a role the runtime \
                     binds: `#[populations]`, `#[local]`, `#[far]`, `#[links]`",
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
        self.check_decl(pt, ty, kind, &decl);
        let id = self.declare(&name, ty, Role::Param(kind), mutable);
        self.f.params.push(id);
        self.f.param_names.push(name.to_string());
        self.f.param_decls.push(decl);
    }

    /// A role fits one type: populations `[Real; Q]` that take a derivative, a link mask
    /// an integer; a range fits reals.
    fn check_decl(&mut self, pt: &syn::PatType, ty: Ty, kind: ParamKind, decl: &ParamDecl) {
        match decl.role {
            BindRole::Populations | BindRole::Local | BindRole::Far => {
                if ty != Ty::Array(Len::Q) || kind != ParamKind::Field {
                    self.err_at(
                        &pt,
                        "populations are `[Real; Q]` without `#[param]` or `#[data]`",
                    );
                }
            }
            BindRole::Links => {
                if !ty.is_int() {
                    self.err_at(&pt, "a link mask is an integer, such as `links: i64`");
                }
            }
            BindRole::Named => {}
        }
        if decl.range.is_some() && !ty.is_real_valued() {
            self.err_at(&pt, "`#[range]` bounds real values; integers take none");
        }
    }

    /// `#[range("(0, 2)")]`: an interval in the usual notation, `(` or `[` at each end,
    /// ends that are numbers or `inf`.
    fn range(&mut self, attr: &syn::Attribute) -> Option<Interval> {
        const FORM: &str = "write the interval as a string: `#[range(\"(0, 2)\")]`, \
                            `#[range(\"[0, 1]\")]`, `#[range(\"(0, inf)\")]`";
        let Ok(lit) = attr.parse_args::<syn::LitStr>() else {
            self.err_at(attr, FORM);
            return None;
        };
        let text = lit.value();
        let text = text.trim();
        let parsed = (|| {
            let lo_open = match text.chars().next()? {
                '(' => true,
                '[' => false,
                _ => return None,
            };
            let hi_open = match text.chars().last()? {
                ')' => true,
                ']' => false,
                _ => return None,
            };
            let (lo, hi) = text.get(1..text.len() - 1)?.split_once(',')?;
            let end = |s: &str| match s.trim() {
                "inf" | "+inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                v => v.parse::<f64>().ok().filter(|v| v.is_finite()),
            };
            Some(Interval {
                lo: end(lo)?,
                lo_open,
                hi: end(hi)?,
                hi_open,
            })
        })();
        match parsed {
            Some(r) if r.lo < r.hi => Some(r),
            Some(_) => {
                self.err_at(
                    &lit,
                    "the interval is empty: its lower end must be below its upper end",
                );
                None
            }
            None => {
                self.err_at(&lit, FORM);
                None
            }
        }
    }

    pub(super) fn parse_type(&mut self, ty: &syn::Type) -> Option<Ty> {
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

    pub(super) fn array_len(&mut self, e: &syn::Expr) -> Option<Len> {
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
}
