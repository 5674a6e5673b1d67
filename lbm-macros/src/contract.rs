//! The contract between an operator and the operators that call it, which the macro
//! cannot check alone because it never sees another operator's signature.
//!
//! Takes the parsed (and analysed) function; returns tokens for the generated module: its
//! parameters as types (`Arg<k>`, marked `Differentiated` when they take a derivative),
//! the compile-time requirements its own calls place on their callees (a value carrying a
//! derivative must not go into a `#[data]` parameter), and the parameters it forwards
//! unchanged to callees (so the runtime narrows their ranges by the callees' declared ones).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use crate::activity::Activity;
use crate::emit_rust::path_from_module;
use crate::ir::*;

/// For every argument that carries a derivative into a call, a compile-time requirement
/// that the callee differentiates that parameter (see `lbm_runtime::operator::Differentiated`):
/// the macro cannot see the callee's signature, rustc can.
pub fn differentiated_arguments(f: &Function, act: &Activity) -> TokenStream {
    let mut checks = Vec::new();
    walk(&f.body, false, &mut |s, _| {
        if let StmtKind::Call { callee, args, .. } = &s.kind {
            let path = path_from_module(&f.callees[*callee].path);
            for (k, a) in args.iter().enumerate() {
                if a.ty.is_real_valued() && act.expr_active(a) {
                    // Every token carries the argument's span, so rustc points there.
                    let span = a.span;
                    let arg = format_ident!("Arg{}", k, span = span);
                    checks.push(quote_spanned!(span=>
                        ::lbm_runtime::operator::require_differentiated::<#path::#arg>();
                    ));
                }
            }
        }
    });
    quote! {
        #[allow(dead_code)]
        fn lbm_differentiated_arguments() {
            #(#checks)*
        }
    }
}

/// Every parameter passed unchanged (never assigned) as an argument of a call, with the
/// callee and its parameter: the runtime narrows the parameter's range by the callee's.
pub fn forwarded_params(f: &Function) -> Vec<TokenStream> {
    let mut written = std::collections::HashSet::new();
    walk(&f.body, false, &mut |s, _| written.extend(s.writes()));
    let mut out = Vec::new();
    walk(&f.body, false, &mut |s, _| {
        if let StmtKind::Call { callee, args, .. } = &s.kind {
            let path = path_from_module(&f.callees[*callee].path);
            for (k, a) in args.iter().enumerate() {
                let ExprKind::Var(v) = a.kind else { continue };
                let Some(param) = f.params.iter().position(|&p| p == v) else {
                    continue;
                };
                if !written.contains(&v) {
                    out.push(quote!(::lbm_runtime::operator::Forwarded {
                        param: #param,
                        callee: &#path::INFO,
                        callee_param: #k,
                    }));
                }
            }
        }
    });
    out
}

/// One type per parameter, `Arg<k>`, named after the parameter and marked
/// `Differentiated` when it takes a derivative, for the checks of callers.
pub fn argument_types(f: &Function) -> TokenStream {
    let mut aliases = Vec::new();
    let mut markers = Vec::new();
    for (k, (&p, pname)) in f.params.iter().zip(&f.param_names).enumerate() {
        let name = syn::Ident::new(pname, f.vars[p].span);
        let alias = format_ident!("Arg{}", k);
        aliases.push(quote!(#[doc(hidden)] pub type #alias = parameters::#name;));
        let differentiated = f
            .param_kind(p)
            .is_some_and(ParamKind::is_differentiable)
            .then(|| quote!(impl ::lbm_runtime::operator::Differentiated for #name {}));
        markers.push(quote!(pub struct #name; #differentiated));
    }
    quote! {
        #(#aliases)*
        /// The parameters as types, for the checks of calling operators.
        #[doc(hidden)]
        pub mod parameters {
            #(#markers)*
        }
    }
}
