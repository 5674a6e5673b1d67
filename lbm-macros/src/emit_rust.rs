//! The Rust printer: the lowered function and its adjoint sweeps to Rust functions generic
//! over the real type `R` and the lattice `L` (with its `D` and `Q` as const parameters).
//!
//! Tokens carry the spans of the source they come from, so a type error in the generated
//! code points into the operator. Invented names start with `lbm_`, which the language
//! reserves.
//!
//! Every statement and expression kind has its own arm, so a new kind does not compile
//! until it is printed; matches on types keep a catch-all only where one case is singled
//! out and the rest print alike.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::adjoint::Adjoint;
use crate::ir::*;

pub struct RustForms {
    pub forward: TokenStream,
    pub adjoint: TokenStream,
    pub forward_flat: TokenStream,
    pub adjoint_flat: TokenStream,
    /// `reference_flat`: the reference form (`emit_reference`) on flat buffers.
    pub reference_flat: TokenStream,
    /// `pub type Out<k><R, const D: usize, const Q: usize> = ...;` per output.
    pub output_types: TokenStream,
}

pub fn emit(f: &Function, adj: &Adjoint) -> RustForms {
    let p = Printer {
        f,
        unrolled: std::cell::Cell::new(1),
    };
    RustForms {
        forward: p.forward(),
        adjoint: p.adjoint(adj),
        forward_flat: p.forward_flat(),
        adjoint_flat: p.adjoint_flat(),
        reference_flat: p.reference_flat(),
        output_types: p.output_types(),
    }
}

/// The generic parameters of every generated function.
fn generics() -> TokenStream {
    quote! {
        <R: ::lbm_runtime::Real, L: ::lbm_runtime::Lattice<D, Q>, const D: usize, const Q: usize>
    }
}

fn allow() -> TokenStream {
    quote! {
        #[allow(unused_mut, unused_variables, unused_assignments, unused_parens, non_snake_case,
                clippy::all, clippy::pedantic)]
    }
}

/// The flat forward compiled with the features of the CPU backend's lane types
/// (`lbm_runtime::lanes`): every form it calls is inlined into it, so the lane types'
/// SIMD operations compile to single instructions.
pub fn lane_forward() -> TokenStream {
    let (generics, allow) = (generics(), allow());
    quote! {
        /// [`forward_flat`] over groups of cells, with AVX2 and FMA enabled.
        ///
        /// # Safety
        /// Only where `lbm_runtime::lanes::supported()` is true.
        #[doc(hidden)]
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        #allow
        pub unsafe fn forward_lanes #generics (reals: &[R], ints: &[i64], out: &mut [R]) {
            forward_flat::<R, L, D, Q>(reals, ints, out)
        }
    }
}

/// The flat adjoint over groups of eight `f32` cells, compiled with the lane types'
/// features as [`lane_forward`] is: the adjoint and every form it calls are inlined into
/// it. It runs them on `RolledF32x8`, the lanes whose forms keep their loops over `Q`
/// (see `lbm_runtime::lanes`), which is what keeps its compile time near the forward's;
/// with `unrolled` (`#[operator(unroll_adjoint)]`), on `F32x8`, whose forms unroll every
/// loop: faster, for operators that run long, at several times the compile time.
pub fn lane_adjoint(unrolled: bool) -> TokenStream {
    let allow = allow();
    let call = if unrolled {
        quote! {
            adjoint_flat::<::lbm_runtime::lanes::F32x8, L, D, Q>(reals, ints, out_bar, reals_bar)
        }
    } else {
        quote! {
            use ::lbm_runtime::lanes::{as_rolled, as_rolled_mut, RolledF32x8};
            adjoint_flat::<RolledF32x8, L, D, Q>(
                as_rolled(reals),
                ints,
                as_rolled(out_bar),
                as_rolled_mut(reals_bar),
            )
        }
    };
    quote! {
        /// [`adjoint_flat`] over groups of cells, with AVX2 and FMA enabled.
        ///
        /// # Safety
        /// Only where `lbm_runtime::lanes::supported()` is true.
        #[doc(hidden)]
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        #allow
        pub unsafe fn adjoint_lanes<L: ::lbm_runtime::Lattice<D, Q>, const D: usize, const Q: usize>(
            reals: &[::lbm_runtime::lanes::F32x8],
            ints: &[i64],
            out_bar: &[::lbm_runtime::lanes::F32x8],
            reals_bar: &mut [::lbm_runtime::lanes::F32x8],
        ) {
            #call
        }
    }
}

/// A callee path as seen from inside the generated module (one level below the operator).
pub fn path_from_module(path: &syn::Path) -> TokenStream {
    let first = path.segments.first().map(|s| s.ident.to_string());
    match first.as_deref() {
        Some("super") if path.leading_colon.is_none() => quote!(super::#path),
        Some("self") if path.leading_colon.is_none() => {
            let rest = path.segments.iter().skip(1);
            quote!(super #(:: #rest)*)
        }
        _ => quote!(#path),
    }
}

struct Printer<'a> {
    f: &'a Function,
    /// The copies of a statement that the unrolled loops around it make, at most (see
    /// [`UNROLL_BUDGET`]).
    unrolled: std::cell::Cell<usize>,
}

/// The most copies of a loop body that nested unrolled loops may make: a loop is unrolled
/// only while the product of the longest trip counts of the unrolled loops around it and
/// its own stays within it. `Q` with `D` inside (27 x 3) fits; `Q` inside `Q` does not,
/// and would multiply compile times for no measured gain.
const UNROLL_BUDGET: usize = 81;

impl Printer<'_> {
    fn ident(&self, v: VarId) -> syn::Ident {
        let var = &self.f.vars[v];
        syn::Ident::new(&var.name, var.span)
    }

    fn callee_path(&self, c: CalleeId) -> TokenStream {
        let callee = &self.f.callees[c];
        let path = path_from_module(&callee.path);
        let span = callee.span;
        quote_spanned!(span=> #path)
    }

    fn rust_type(&self, ty: Ty) -> TokenStream {
        match ty {
            Ty::Real => quote!(R),
            Ty::Array(Len::Q) => quote!([R; Q]),
            Ty::Array(Len::D) => quote!([R; D]),
            Ty::Array(Len::Lit(n)) => quote!([R; #n]),
            Ty::Opaque { callee, index } => {
                let path = self.callee_path(callee);
                let out = format_ident!("Out{}", index);
                quote!(#path::#out<R, D, Q>)
            }
            Ty::Int(k) => {
                let name = syn::Ident::new(k.rust_name().unwrap_or("i32"), Span::call_site());
                quote!(#name)
            }
            Ty::Bool => quote!(bool),
        }
    }

    /// The value an adjoint starts from: `-0.0` (see `StmtKind::Zero`).
    fn additive_zero(&self, ty: Ty) -> TokenStream {
        let t = self.rust_type(ty);
        quote!(<#t as ::lbm_runtime::tape::Value<R>>::additive_zero())
    }

    fn zero(&self, ty: Ty) -> TokenStream {
        match ty {
            Ty::Int(_) => quote!(0),
            Ty::Bool => quote!(false),
            Ty::Real | Ty::Array(_) | Ty::Opaque { .. } => {
                let t = self.rust_type(ty);
                quote!(<#t as ::lbm_runtime::tape::Value<R>>::zero())
            }
        }
    }

    fn ret_type(&self) -> TokenStream {
        let tys: Vec<TokenStream> = self.f.outputs.iter().map(|t| self.rust_type(*t)).collect();
        if self.f.returns_tuple {
            quote!((#(#tys),*))
        } else {
            quote!(#(#tys)*)
        }
    }

    fn params(&self) -> Vec<TokenStream> {
        self.f
            .params
            .iter()
            .map(|&p| {
                let (name, ty) = (self.ident(p), self.rust_type(self.f.vars[p].ty));
                // `mut` in the signature, so that the body may assign a parameter
                // without first moving it into a local of its own (`let mut f = f;`).
                quote!(mut #name: #ty)
            })
            .collect()
    }

    fn declarations(&self, blocks: &[&Block]) -> TokenStream {
        let mut out = TokenStream::new();
        for v in crate::emit_c::hoisted_vars(self.f, blocks) {
            let var = &self.f.vars[v];
            let zero = if matches!(var.role, Role::Adjoint(_)) {
                self.additive_zero(var.ty)
            } else {
                self.zero(var.ty)
            };
            let (name, ty) = (self.ident(v), self.rust_type(var.ty));
            out.extend(quote!(let mut #name: #ty = #zero;));
        }
        out
    }

    fn ret_value(&self) -> TokenStream {
        let names: Vec<syn::Ident> = self.f.ret_vars.iter().map(|&r| self.ident(r)).collect();
        if self.f.returns_tuple {
            quote!((#(#names),*))
        } else {
            quote!(#(#names)*)
        }
    }

    fn forward(&self) -> TokenStream {
        let (generics, allow, params, ret) = (generics(), allow(), self.params(), self.ret_type());
        let rets: Block = self
            .f
            .ret_vars
            .iter()
            .map(|&r| Stmt::new(StmtKind::Zero(r), Span::call_site()))
            .collect();
        let decls = self.declarations(&[&self.f.body, &rets]);
        let body = self.block(&self.f.body);
        let value = self.ret_value();
        let signature_checks = self.signature_checks();
        quote! {
            /// The operator's forward form. Always inlined: the lane forward
            /// (`forward_lanes`) must compile all of it with its own target features.
            #[inline(always)]
            #allow
            pub fn forward #generics (#(#params),*) -> #ret {
                #signature_checks
                #decls
                #body
                #value
            }
        }
    }

    /// Compile-time checks that each call matches the callee's signature, so a wrong
    /// number of arguments or results is reported at the call in words, not as a type
    /// error inside generated code.
    fn signature_checks(&self) -> TokenStream {
        self.f
            .callees
            .iter()
            .enumerate()
            .map(|(c, callee)| {
                let path = self.callee_path(c);
                let (args, outs, span) = (callee.args, callee.outputs, callee.span);
                let args_msg = format!("operator `{}` is called with the wrong number of arguments", callee.name);
                let outs_msg = format!(
                    "operator `{}` returns a different number of results: bind them all, `let (a, b) = {}(..)`",
                    callee.name, callee.name
                );
                quote_spanned! {span=>
                    const _: () = ::core::assert!(#path::ARITY == #args, #args_msg);
                    const _: () = ::core::assert!(#path::OUTPUTS == #outs, #outs_msg);
                }
            })
            .collect()
    }

    fn adjoint(&self, adj: &Adjoint) -> TokenStream {
        let f = self.f;
        let (generics, allow, mut params, ret) =
            (generics(), allow(), self.params(), self.ret_type());
        params.push(quote!(lbm_out_bar: #ret));
        let bar = |v: VarId| adj.bars[v].expect("real-valued variables have adjoints");
        let real_params: Vec<VarId> = f
            .params
            .iter()
            .copied()
            .filter(|&p| f.vars[p].ty.is_real_valued())
            .collect();
        let grad_types: Vec<TokenStream> = real_params
            .iter()
            .map(|&p| self.rust_type(f.vars[p].ty))
            .collect();
        let mut extra: Block = Vec::new();
        for &r in &f.ret_vars {
            extra.push(Stmt::new(StmtKind::Zero(bar(r)), Span::call_site()));
            extra.push(Stmt::new(StmtKind::Zero(r), Span::call_site()));
        }
        for &p in &real_params {
            extra.push(Stmt::new(StmtKind::Zero(bar(p)), Span::call_site()));
        }
        let decls = self.declarations(&[&adj.forward, &adj.reverse, &extra]);
        let tape = adj.tape_len.bound();
        let control = adj.control_len.bound();
        let forward = self.block(&adj.forward);
        let reverse = self.block(&adj.reverse);
        let ret_bars: Vec<syn::Ident> = f.ret_vars.iter().map(|&r| self.ident(bar(r))).collect();
        let seed = if f.returns_tuple {
            quote!((#(#ret_bars),*) = lbm_out_bar;)
        } else {
            quote!(#(#ret_bars)* = lbm_out_bar;)
        };
        let grads: Vec<TokenStream> = real_params
            .iter()
            .map(|&p| {
                if f.param_kind(p).is_some_and(ParamKind::is_differentiable) {
                    let b = self.ident(bar(p));
                    quote!(#b)
                } else {
                    self.zero(f.vars[p].ty)
                }
            })
            .collect();
        quote! {
            /// The operator's adjoint: given the inputs and the adjoints of the outputs,
            /// the adjoints of the real-valued inputs, in order (zero for `#[data]`).
            /// Always inlined, for the lane adjoint (`adjoint_lanes`) as the forward is.
            #[inline(always)]
            #allow
            pub fn adjoint #generics (#(#params),*) -> (#(#grad_types,)*) {
                #decls
                let mut lbm_tape = ::lbm_runtime::tape::Tape::<R, #tape>::new();
                let mut lbm_ctl = ::lbm_runtime::tape::ControlTape::<#control>::new();
                #forward
                #seed
                #reverse
                (#(#grads,)*)
            }
        }
    }

    /// Statements reading every parameter from the flat buffers.
    fn read_flat_params(&self) -> (TokenStream, Vec<syn::Ident>) {
        let mut out = TokenStream::new();
        let mut names = Vec::new();
        let mut int_index = 0usize;
        for &p in &self.f.params {
            let var = &self.f.vars[p];
            let name = self.ident(p);
            let ty = self.rust_type(var.ty);
            out.extend(match var.ty {
                Ty::Bool => {
                    let k = int_index;
                    int_index += 1;
                    quote!(let #name: bool = ints[#k] != 0;)
                }
                Ty::Int(_) => {
                    let k = int_index;
                    int_index += 1;
                    quote!(let #name: #ty = ints[#k] as #ty;)
                }
                Ty::Real | Ty::Array(_) | Ty::Opaque { .. } => quote!(let #name: #ty = <#ty as ::lbm_runtime::tape::Value<R>>::read_flat(reals, &mut lbm_at);),
            });
            names.push(name);
        }
        (out, names)
    }

    /// Reads the parameters from flat buffers, calls `call(params)` and writes its results
    /// to `out`: the body of `forward_flat` and `reference_flat`.
    fn flat_call(&self, call: TokenStream) -> TokenStream {
        let (read, names) = self.read_flat_params();
        let outs: Vec<syn::Ident> = (0..self.f.outputs.len())
            .map(|k| format_ident!("lbm_res{}", k))
            .collect();
        let bind = if self.f.returns_tuple {
            quote!((#(#outs),*))
        } else {
            quote!(#(#outs)*)
        };
        let types: Vec<TokenStream> = self.f.outputs.iter().map(|t| self.rust_type(*t)).collect();
        quote! {
            let mut lbm_at = 0usize;
            #read
            let #bind = #call(#(#names),*);
            let mut lbm_at = 0usize;
            #(<#types as ::lbm_runtime::tape::Value<R>>::write_flat(&#outs, out, &mut lbm_at);)*
        }
    }

    fn forward_flat(&self) -> TokenStream {
        let (generics, allow) = (generics(), allow());
        let body = self.flat_call(quote!(forward::<R, L, D, Q>));
        quote! {
            /// The forward form on flat buffers (see `lbm_runtime::operator`); inlined
            /// into `forward_lanes` for the same reason as `forward`.
            #[inline(always)]
            #allow
            pub fn forward_flat #generics (reals: &[R], ints: &[i64], out: &mut [R]) {
                #body
            }
        }
    }

    /// `reference_flat`, reading and writing flat buffers as `forward_flat` does, with
    /// the real type fixed to `f64`.
    fn reference_flat(&self) -> TokenStream {
        let allow = allow();
        let body = self.flat_call(quote!(reference::<L, D, Q>));
        quote! {
            /// The reference form on flat buffers (see `lbm_runtime::operator`).
            #allow
            pub fn reference_flat<L: ::lbm_runtime::Lattice<D, Q>, const D: usize, const Q: usize>(
                reals: &[f64],
                ints: &[i64],
                out: &mut [f64],
            ) {
                // The types the printer writes name `R`: here it is `f64`.
                type R = f64;
                #body
            }
        }
    }

    fn adjoint_flat(&self) -> TokenStream {
        let f = self.f;
        let (generics, allow) = (generics(), allow());
        let (read, names) = self.read_flat_params();
        let types: Vec<TokenStream> = f.outputs.iter().map(|t| self.rust_type(*t)).collect();
        let out_bars: Vec<syn::Ident> = (0..f.outputs.len())
            .map(|k| format_ident!("lbm_out_bar{}", k))
            .collect();
        let out_bar = if f.returns_tuple {
            quote!((#(#out_bars),*))
        } else {
            quote!(#(#out_bars)*)
        };
        let real_params: Vec<VarId> = f
            .params
            .iter()
            .copied()
            .filter(|&p| f.vars[p].ty.is_real_valued())
            .collect();
        let grads: Vec<syn::Ident> = (0..real_params.len())
            .map(|k| format_ident!("lbm_grad{}", k))
            .collect();
        let grad_types: Vec<TokenStream> = real_params
            .iter()
            .map(|&p| self.rust_type(f.vars[p].ty))
            .collect();
        quote! {
            /// The adjoint form on flat buffers; adds into `reals_bar`. Inlined into
            /// `adjoint_lanes` for the same reason as `adjoint`.
            #[inline(always)]
            #allow
            pub fn adjoint_flat #generics (reals: &[R], ints: &[i64], out_bar: &[R], reals_bar: &mut [R]) {
                let mut lbm_at = 0usize;
                #read
                let mut lbm_at = 0usize;
                #(let #out_bars = <#types as ::lbm_runtime::tape::Value<R>>::read_flat(out_bar, &mut lbm_at);)*
                let (#(#grads,)*) = adjoint::<R, L, D, Q>(#(#names,)* #out_bar);
                let mut lbm_at = 0usize;
                #(<#grad_types as ::lbm_runtime::tape::Value<R>>::add_to_flat(&#grads, reals_bar, &mut lbm_at);)*
            }
        }
    }

    fn output_types(&self) -> TokenStream {
        let mut out = TokenStream::new();
        for (k, ty) in self.f.outputs.iter().enumerate() {
            let name = format_ident!("Out{}", k);
            let t = self.rust_type(*ty);
            let doc = format!("The Rust type of output {k}.");
            out.extend(quote! {
                #[doc = #doc]
                pub type #name<R, const D: usize, const Q: usize> = #t;
            });
        }
        out
    }

    // ------------------------------------------------------------ statements

    fn block(&self, block: &Block) -> TokenStream {
        block.iter().map(|s| self.stmt(s)).collect()
    }

    fn place(&self, p: &Place) -> TokenStream {
        match p {
            Place::Var(v) => {
                let n = self.ident(*v);
                quote!(#n)
            }
            Place::Elem(v, i) => {
                let (n, i) = (self.ident(*v), self.expr(i));
                quote!(#n[(#i) as usize])
            }
        }
    }

    /// A variable by the name it was declared with; any other argument (an integer or a
    /// flag: the parser binds real ones to variables) as the expression printer writes it,
    /// so this arm needs no case of its own for a new kind of expression.
    fn call_args(&self, args: &[Expr]) -> Vec<TokenStream> {
        args.iter()
            .map(|a| match &a.kind {
                ExprKind::Var(v) => {
                    let n = self.ident(*v);
                    quote!(#n)
                }
                _ => self.expr(a),
            })
            .collect()
    }

    fn stmt(&self, s: &Stmt) -> TokenStream {
        let span = s.span;
        match &s.kind {
            StmtKind::Assign { place, value } => {
                let p = self.place(place);
                match place.compound(value) {
                    Some((op, rhs)) => {
                        let v = self.expr(rhs);
                        let op: TokenStream = format!("{}=", op.symbol())
                            .parse()
                            .expect("compound operators are tokens");
                        quote_spanned!(span=> #p #op #v;)
                    }
                    None => {
                        let v = self.expr(value);
                        quote_spanned!(span=> #p = #v;)
                    }
                }
            }
            StmtKind::Call { callee, args, outs } => {
                let path = self.callee_path(*callee);
                let args = self.call_args(args);
                let outs: Vec<syn::Ident> = outs.iter().map(|o| self.ident(*o)).collect();
                let target = if outs.len() == 1 {
                    quote!(#(#outs)*)
                } else {
                    quote!((#(#outs),*))
                };
                quote_spanned!(span=> #target = #path::forward::<R, L, D, Q>(#(#args),*);)
            }
            StmtKind::Copy { dst, src } => {
                let (d, s) = (self.ident(*dst), self.ident(*src));
                quote_spanned!(span=> #d = #s;)
            }
            StmtKind::Accumulate { into, from } => {
                let (i, f) = (self.ident(*into), self.ident(*from));
                quote_spanned!(span=> ::lbm_runtime::tape::Value::<R>::accumulate(&mut #i, #f);)
            }
            StmtKind::CallAdjoint {
                callee,
                args,
                out_bars,
                arg_bars,
            } => {
                let path = self.callee_path(*callee);
                let args = self.call_args(args);
                let bars: Vec<syn::Ident> = out_bars.iter().map(|o| self.ident(*o)).collect();
                let out_bar = if bars.len() == 1 {
                    quote!(#(#bars)*)
                } else {
                    quote!((#(#bars),*))
                };
                let grads: Vec<syn::Ident> = (0..arg_bars.len())
                    .map(|k| format_ident!("lbm_g{}", k))
                    .collect();
                let targets: Vec<syn::Ident> = arg_bars.iter().map(|b| self.ident(*b)).collect();
                quote_spanned! {span=>
                    {
                        let (#(#grads,)*) = #path::adjoint::<R, L, D, Q>(#(#args,)* #out_bar);
                        #(::lbm_runtime::tape::Value::<R>::accumulate(&mut #targets, #grads);)*
                    }
                }
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let (c, t) = (self.expr(cond), self.block(then_branch));
                if else_branch.is_empty() {
                    quote!(if #c { #t })
                } else {
                    let e = self.block(else_branch);
                    quote!(if #c { #t } else { #e })
                }
            }
            StmtKind::Match { scrutinee, arms } => {
                let s = self.expr(scrutinee);
                let arms: Vec<TokenStream> = arms
                    .iter()
                    .map(|a| {
                        let body = self.block(&a.body);
                        match &a.pats {
                            None => quote!(_ => { #body }),
                            Some(p) => {
                                let lits =
                                    p.iter().map(|v| proc_macro2::Literal::i64_unsuffixed(*v));
                                quote!(#(#lits)|* => { #body })
                            }
                        }
                    })
                    .collect();
                quote!(match #s { #(#arms)* })
            }
            StmtKind::For {
                var,
                start,
                end,
                reverse,
                body,
            } => {
                let (i, a, b) = (self.ident(*var), self.expr(start), self.expr(end));
                let outer = self.unrolled.get();
                let unrolled = self
                    .unrollable_end(end)
                    .filter(|(_, trips)| outer.saturating_mul(*trips) <= UNROLL_BUDGET);
                let body = match &unrolled {
                    Some((_, trips)) => {
                        self.unrolled.set(outer * trips);
                        let body = self.block(body);
                        self.unrolled.set(outer);
                        body
                    }
                    None => self.block(body),
                };
                match (unrolled, reverse) {
                    (Some((end, _)), false) => {
                        quote!(::lbm_runtime::unroll::up::<#end, R>((#a) as usize, #[inline(always)] |#i: usize| { #body });)
                    }
                    (Some((end, _)), true) => {
                        quote!(::lbm_runtime::unroll::down::<#end, R>((#a) as usize, #[inline(always)] |#i: usize| { #body });)
                    }
                    (None, true) => {
                        quote!(for #i in ((#a) as usize..(#b) as usize).rev() { #body })
                    }
                    (None, false) => quote!(for #i in (#a) as usize..(#b) as usize { #body }),
                }
            }
            StmtKind::Let { var, value } => {
                let (n, v) = (self.ident(*var), self.expr(value));
                let ty = self.rust_type(self.f.vars[*var].ty);
                quote!(let #n: #ty = #v;)
            }
            StmtKind::Save(place, _) => self.save_restore(place, true),
            StmtKind::Restore(place, _) => self.save_restore(place, false),
            StmtKind::SaveControl(e) => {
                let v = self.expr(e);
                quote!(lbm_ctl.push((#v) as i64);)
            }
            StmtKind::RestoreControl(v) => {
                let n = self.ident(*v);
                quote!(#n = ::lbm_runtime::tape::FromControl::from_control(lbm_ctl.pop());)
            }
            StmtKind::Zero(v) => {
                let (n, z) = (self.ident(*v), self.additive_zero(self.f.vars[*v].ty));
                quote!(#n = #z;)
            }
            StmtKind::Return(_) => unreachable!("returns are lowered before printing"),
        }
    }

    /// The end of a loop over the lattice (`Q`, `D` or a literal), as a constant the
    /// runtime's unrolled loops take, with the most trips it can make (on D3Q27); `None`
    /// for any other end, which stays a `for` loop.
    fn unrollable_end(&self, end: &Expr) -> Option<(TokenStream, usize)> {
        match end.kind {
            ExprKind::Lat(LatConst::Q) => Some((quote!(Q), 27)),
            ExprKind::Lat(LatConst::D) => Some((quote!(D), 3)),
            ExprKind::IntLit(n) => usize::try_from(n).ok().map(|n| {
                let lit = proc_macro2::Literal::usize_unsuffixed(n);
                (quote!(#lit), n)
            }),
            _ => None,
        }
    }

    fn save_restore(&self, place: &Place, save: bool) -> TokenStream {
        let p = self.place(place);
        let ty = match place {
            Place::Var(v) => self.rust_type(self.f.vars[*v].ty),
            Place::Elem(..) => quote!(R),
        };
        if save {
            quote!(<#ty as ::lbm_runtime::tape::Value<R>>::save(&#p, &mut lbm_tape);)
        } else {
            quote!(<#ty as ::lbm_runtime::tape::Value<R>>::restore(&mut #p, &mut lbm_tape);)
        }
    }

    // ------------------------------------------------------------ expressions

    /// A lattice factor (see [`Expr::is_lattice_factor`]) as the `f64` that
    /// `Real::times_c` takes: a product of components, each `-1`, `0` or `1`, so exact.
    fn lattice_factor(&self, c: &Expr) -> TokenStream {
        let span = c.span;
        match &c.kind {
            ExprKind::LatC(i, a) => {
                let (i, a) = (self.expr(i), self.expr(a));
                quote_spanned!(span=> (L::C[(#i) as usize][(#a) as usize] as f64))
            }
            ExprKind::Binary(BinOp::Mul, a, b) => {
                let (a, b) = (self.lattice_factor(a), self.lattice_factor(b));
                quote_spanned!(span=> (#a * #b))
            }
            _ => unreachable!("`lattice_product` gives components and their products"),
        }
    }

    fn expr(&self, e: &Expr) -> TokenStream {
        let span = e.span;
        let real = quote!(<R as ::lbm_runtime::Real>);
        match &e.kind {
            ExprKind::RealLit(v) => {
                let lit = proc_macro2::Literal::f64_unsuffixed(*v);
                quote_spanned!(span=> #real::from_f64(#lit))
            }
            ExprKind::IntLit(v) => {
                let lit = match e.ty {
                    Ty::Int(IntTy::I32) => proc_macro2::Literal::i32_suffixed(*v as i32),
                    Ty::Int(IntTy::U32) => proc_macro2::Literal::u32_suffixed(*v as u32),
                    Ty::Int(IntTy::I64) => proc_macro2::Literal::i64_suffixed(*v),
                    Ty::Int(IntTy::Usize) => proc_macro2::Literal::usize_suffixed(*v as usize),
                    // `IntTy::Literal`: rustc types it from its use.
                    _ => proc_macro2::Literal::i64_unsuffixed(*v),
                };
                quote_spanned!(span=> #lit)
            }
            ExprKind::BoolLit(b) => quote_spanned!(span=> #b),
            ExprKind::Var(v) => {
                // The use's span, so rustc's errors point where the variable is read.
                let n = syn::Ident::new(&self.f.vars[*v].name, span);
                quote!(#n)
            }
            ExprKind::Index(v, i) => {
                let (n, i) = (self.ident(*v), self.expr(i));
                quote_spanned!(span=> #n[(#i) as usize])
            }
            ExprKind::Lat(LatConst::Q) => quote_spanned!(span=> Q),
            ExprKind::Lat(LatConst::D) => quote_spanned!(span=> D),
            ExprKind::Lat(LatConst::Cs2) => quote_spanned!(span=> #real::from_f64(L::CS2)),
            ExprKind::LatC(i, a) => {
                let (i, a) = (self.expr(i), self.expr(a));
                quote_spanned!(span=> #real::from_f64(L::C[(#i) as usize][(#a) as usize] as f64))
            }
            ExprKind::LatW(i) => {
                let i = self.expr(i);
                quote_spanned!(span=> #real::from_f64(L::W[(#i) as usize]))
            }
            ExprKind::LatOpp(i) => {
                let i = self.expr(i);
                quote_spanned!(span=> L::OPP[(#i) as usize])
            }
            ExprKind::Unary(UnOp::Neg, a) => {
                let a = self.expr(a);
                quote_spanned!(span=> (-(#a)))
            }
            ExprKind::Unary(UnOp::Not, a) => {
                let a = self.expr(a);
                quote_spanned!(span=> (!(#a)))
            }
            ExprKind::Binary(..) if e.lattice_product().is_some() => {
                let (x, c) = e.lattice_product().expect("checked by the guard");
                let (x, c) = (self.expr(x), self.lattice_factor(c));
                quote_spanned!(span=> #real::times_c(#x, #c))
            }
            ExprKind::Binary(..) if e.constant_divisor().is_some() => {
                let (a, k) = e.constant_divisor().expect("checked by the guard");
                let (a, k) = (self.expr(a), self.expr(k));
                quote_spanned!(span=> (#a * (#real::from_f64(1.0) / #k)))
            }
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                let op: TokenStream = op.symbol().parse().expect("operators are valid tokens");
                quote_spanned!(span=> (#a #op #b))
            }
            ExprKind::Intrinsic(i, args) => {
                let m = syn::Ident::new(i.method(), span);
                let args: Vec<TokenStream> = args
                    .iter()
                    .enumerate()
                    .map(|(k, a)| {
                        let t = self.expr(a);
                        if i.arg_is_int(k) {
                            quote!((#t) as i32)
                        } else {
                            t
                        }
                    })
                    .collect();
                quote_spanned!(span=> #real::#m(#(#args),*))
            }
            ExprKind::Cast(a) => {
                let inner = self.expr(a);
                match (a.ty.is_scalar_real(), e.ty) {
                    (false, Ty::Real) => quote_spanned!(span=> #real::from_f64((#inner) as f64)),
                    (true, Ty::Real) => inner,
                    (true, t) => {
                        let t = self.rust_type(t);
                        quote_spanned!(span=> (#real::to_f64(#inner) as #t))
                    }
                    (false, t) => {
                        let t = self.rust_type(t);
                        quote_spanned!(span=> ((#inner) as #t))
                    }
                }
            }
            ExprKind::Select(c, a, b) => {
                let (c, a, b) = (self.expr(c), self.expr(a), self.expr(b));
                quote_spanned!(span=> (if #c { #a } else { #b }))
            }
            ExprKind::PopControl => quote!(lbm_ctl.pop()),
        }
    }
}
