//! The reference form: the operator's body compiled by rustc as written, in `f64`.
//!
//! Takes the annotated function as the user wrote it (not the IR) and returns
//! `pub fn reference<L, D, Q>(..)`. It is the oracle of the project's checks: the generated
//! forward is compared with it and the generated adjoint with its finite differences. It
//! must therefore share nothing with the compiler's stages, only rustc's reading of the
//! same source. Four rewrites make the source a plain Rust function, none of which
//! changes what it computes:
//!
//! - `Real` is `f64`, and unsuffixed float literals get the `f64` suffix (rustc cannot
//!   call a method on a literal of unknown float type);
//! - the lattice constants `C W OPP CS2` are locals read from the lattice type `L`
//!   (`Q` and `D` are its const parameters), `C` converted to reals;
//! - a call `op(args)` calls `op::reference::<L, D, Q>(args)`, the callee's own oracle;
//! - an index of any integer type is converted to `usize`, as the language allows
//!   indexing by cell tags and axes of any integer type.

use proc_macro2::TokenStream;
use quote::quote;
use syn::visit_mut::VisitMut;

use crate::emit_rust::path_from_module;
use crate::symbol;

/// `pub fn reference<L, D, Q>(...)`: the source as written, over `f64`.
pub fn emit(item: &syn::ItemFn) -> TokenStream {
    let mut sig = item.sig.clone();
    sig.ident = syn::Ident::new("reference", sig.ident.span());
    for input in &mut sig.inputs {
        if let syn::FnArg::Typed(pt) = input {
            // `#[param]` and `#[data]` only matter to the adjoint.
            pt.attrs.clear();
        }
    }
    RealIsF64.visit_signature_mut(&mut sig);
    let mut body = (*item.block).clone();
    AsPlainRust.visit_block_mut(&mut body);
    let stmts = &body.stmts;
    let inputs = &sig.inputs;
    let output = &sig.output;
    quote! {
        /// The operator's body as written, compiled by rustc over `f64`: the oracle the
        /// generated forms are checked against.
        #[allow(unused_mut, unused_variables, unused_assignments, unused_parens, non_snake_case,
                clippy::all, clippy::pedantic)]
        pub fn reference<L: ::lbm_runtime::Lattice<D, Q>, const D: usize, const Q: usize>(
            #inputs
        ) #output {
            #[allow(dead_code)]
            type Real = f64;
            let C: [[f64; D]; Q] = ::lbm_runtime::lattice::real_velocities::<L, D, Q>();
            let W: [f64; Q] = L::W;
            let OPP: [usize; Q] = L::OPP;
            let CS2: f64 = L::CS2;
            #(#stmts)*
        }
    }
}

/// Rewrites the type `Real` to `f64` (the signature cannot see the body's alias).
struct RealIsF64;

impl VisitMut for RealIsF64 {
    fn visit_type_path_mut(&mut self, tp: &mut syn::TypePath) {
        if tp.qself.is_none() && tp.path.is_ident(symbol::REAL) {
            let span = tp.path.segments[0].ident.span();
            tp.path = syn::Ident::new("f64", span).into();
            return;
        }
        syn::visit_mut::visit_type_path_mut(self, tp);
    }
}

/// Suffixes float literals, converts indices and sends operator calls to the callees'
/// reference forms.
struct AsPlainRust;

impl VisitMut for AsPlainRust {
    fn visit_lit_float_mut(&mut self, lit: &mut syn::LitFloat) {
        if lit.suffix().is_empty() {
            *lit = syn::LitFloat::new(&format!("{}f64", lit.base10_digits()), lit.span());
        }
    }

    fn visit_expr_index_mut(&mut self, ix: &mut syn::ExprIndex) {
        syn::visit_mut::visit_expr_index_mut(self, ix);
        let index = &ix.index;
        *ix.index = syn::parse_quote!((#index) as usize);
    }

    fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
        syn::visit_mut::visit_expr_call_mut(self, call);
        if let syn::Expr::Path(p) = &*call.func {
            let path = path_from_module(&p.path);
            *call.func = syn::parse_quote!(#path::reference::<L, D, Q>);
        }
    }
}
