//! Glue: runs the stages in order and assembles the generated module.
//!
//! Takes the attribute arguments and the annotated function; returns the module `name`
//! holding the Rust forms, the output types and `INFO`, or every error found.

use proc_macro2::TokenStream;
use quote::quote;

use crate::activity::Activity;
use crate::ctxt::Ctxt;
use crate::emit_rust::path_from_module;
use crate::ir::*;
use crate::recompute::Recompute;
use crate::{
    adjoint, check, contract, emit_c, emit_reference, emit_rust, lattice_factors, lower, parse,
    symbol,
};

pub fn expand(attr: TokenStream, item: syn::ItemFn) -> syn::Result<TokenStream> {
    let Args {
        debug,
        unroll_adjoint,
    } = parse_args(attr)?;
    let cx = Ctxt::new();
    let parsed = parse::parse(&item, &cx);
    let Some(mut f) = parsed else {
        cx.check()?;
        return Err(syn::Error::new(
            item.sig.ident.span(),
            "this operator could not be parsed",
        ));
    };
    check::check_returns(&f, &cx);
    cx.check()?;
    lower::lower_returns(&mut f);
    lattice_factors::gather(&mut f);
    let act = Activity::analyse(&f);
    check::check_casts(&f, &act, &cx);
    cx.check()?;
    let into_data = contract::differentiated_arguments(&f, &act);
    let forwarded = contract::forwarded_params(&f);
    let recompute = Recompute::analyse(&f, &act);
    let adj = adjoint::transform(&mut f, &act, &recompute);
    let c = emit_c::emit(&f, &adj);
    let rust = emit_rust::emit(&f, &adj);
    let reference = emit_reference::emit(&item);
    if debug {
        eprintln!("==== IR of `{}` (lowered) ====\n{:#?}", f.name, f.body);
        eprintln!("==== forward sweep ====\n{:#?}", adj.forward);
        eprintln!("==== reverse sweep ====\n{:#?}", adj.reverse);
        eprintln!("==== C ====\n{}{}\n{}", c.shapes, c.forward, c.adjoint);
    }
    let lane_adjoint = emit_rust::lane_adjoint(unroll_adjoint);
    Ok(module(
        &f,
        &c,
        &rust,
        &reference,
        &into_data,
        &forwarded,
        lane_adjoint,
    ))
}

/// The arguments of `#[operator(..)]`.
#[derive(Default)]
struct Args {
    /// `debug`: print the IR, the sweeps and the C while compiling.
    debug: bool,
    /// `unroll_adjoint`: the CPU's lane adjoint unrolls every loop (see
    /// [`emit_rust::lane_adjoint`]).
    unroll_adjoint: bool,
}

fn parse_args(attr: TokenStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let idents = syn::parse::Parser::parse2(
        syn::punctuated::Punctuated::<syn::Ident, syn::Token![,]>::parse_terminated,
        attr.clone(),
    )
    .map_err(|_| syn::Error::new_spanned(&attr, ARGUMENTS))?;
    for ident in idents {
        if ident == symbol::DEBUG {
            args.debug = true;
        } else if ident == symbol::UNROLL_ADJOINT {
            args.unroll_adjoint = true;
        } else {
            return Err(syn::Error::new(ident.span(), ARGUMENTS));
        }
    }
    Ok(args)
}

/// What `#[operator(..)]` accepts, for its errors.
const ARGUMENTS: &str = "the arguments of `#[operator]` are `debug` and `unroll_adjoint`";

fn shape_tokens(ty: Ty) -> TokenStream {
    match ty {
        Ty::Array(Len::Q) => quote!(::lbm_runtime::Shape::Q),
        Ty::Array(Len::D) => quote!(::lbm_runtime::Shape::D),
        Ty::Array(Len::Lit(n)) => quote!(::lbm_runtime::Shape::Fixed(#n)),
        _ => quote!(::lbm_runtime::Shape::Scalar),
    }
}

fn summary(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn module(
    f: &Function,
    c: &emit_c::CText,
    rust: &emit_rust::RustForms,
    reference: &TokenStream,
    into_data: &TokenStream,
    forwarded: &[TokenStream],
    lane_adjoint: TokenStream,
) -> TokenStream {
    let name = &f.name;
    let vis = &f.vis;
    let attrs = &f.attrs;
    let name_str = name.to_string();
    let c_name = emit_c::c_name(&name_str);
    let summary = summary(attrs);
    let params: Vec<TokenStream> = f
        .params
        .iter()
        .zip(&f.param_names)
        .zip(&f.param_decls)
        .map(|((&p, pname), decl)| {
            let var = &f.vars[p];
            let kind = match f.param_kind(p).expect("parameters have kinds") {
                ParamKind::Field => quote!(Field),
                ParamKind::Param => quote!(Param),
                ParamKind::Data => quote!(Data),
                ParamKind::Int => quote!(Int),
                ParamKind::Bool => quote!(Bool),
            };
            let shape = shape_tokens(var.ty);
            let role = match decl.role {
                BindRole::Named => quote!(Named),
                BindRole::Populations => quote!(Populations),
                BindRole::Local => quote!(Local),
                BindRole::Far => quote!(Far),
                BindRole::Links => quote!(Links),
            };
            let range = match decl.range {
                None => quote!(None),
                Some(Interval { lo, lo_open, hi, hi_open }) => {
                    let end = |v: f64| if v.is_infinite() {
                        if v > 0.0 { quote!(f64::INFINITY) } else { quote!(f64::NEG_INFINITY) }
                    } else {
                        let v = proc_macro2::Literal::f64_suffixed(v);
                        quote!(#v)
                    };
                    let (lo, hi) = (end(lo), end(hi));
                    quote!(Some(::lbm_runtime::Range { lo: #lo, lo_open: #lo_open, hi: #hi, hi_open: #hi_open }))
                }
            };
            quote!(::lbm_runtime::ParamInfo {
                name: #pname,
                kind: ::lbm_runtime::ParamKind::#kind,
                shape: #shape,
                role: ::lbm_runtime::ParamRole::#role,
                range: #range,
            })
        })
        .collect();
    let outputs: Vec<TokenStream> = f.outputs.iter().map(|t| shape_tokens(*t)).collect();
    let callees: Vec<TokenStream> = f
        .callees
        .iter()
        .map(|c| {
            let p = path_from_module(&c.path);
            quote!(&#p::INFO)
        })
        .collect();
    let emit_rust::RustForms {
        forward,
        adjoint,
        forward_flat,
        adjoint_flat,
        reference_flat,
        output_types,
    } = rust;
    let lane_forward = crate::emit_rust::lane_forward();
    let rust_forward = forward.to_string();
    let rust_adjoint = adjoint.to_string();
    let (c_shapes, c_forward, c_adjoint) = (&c.shapes, &c.forward, &c.adjoint);
    let forms = |real: TokenStream| {
        let lattices = [
            (quote!(::lbm_runtime::D2Q9), 2usize, 9usize),
            (quote!(::lbm_runtime::D3Q19), 3, 19),
            (quote!(::lbm_runtime::D3Q27), 3, 27),
        ];
        let items = lattices.iter().map(|(l, d, q)| {
            quote! {
                ::lbm_runtime::operator::FlatForms {
                    forward: forward_flat::<#real, #l, #d, #q>,
                    adjoint: adjoint_flat::<#real, #l, #d, #q>,
                }
            }
        });
        quote!([#(#items),*])
    };
    let (f32_forms, f64_forms) = (forms(quote!(f32)), forms(quote!(f64)));
    let lane_forms = |lanes: TokenStream| {
        let lattices = [
            (quote!(::lbm_runtime::D2Q9), 2usize, 9usize),
            (quote!(::lbm_runtime::D3Q19), 3, 19),
            (quote!(::lbm_runtime::D3Q27), 3, 27),
        ];
        let items = lattices.iter().map(|(l, d, q)| {
            quote! {
                ::lbm_runtime::operator::LaneForms {
                    forward: forward_lanes::<#lanes, #l, #d, #q>,
                    adjoint: adjoint_lanes::<#l, #d, #q>,
                }
            }
        });
        quote!([#(#items),*])
    };
    let f32_lanes = lane_forms(quote!(::lbm_runtime::lanes::F32x8));
    let reference_forms = quote!([
        reference_flat::<::lbm_runtime::D2Q9, 2, 9>,
        reference_flat::<::lbm_runtime::D3Q19, 3, 19>,
        reference_flat::<::lbm_runtime::D3Q27, 3, 27>,
    ]);
    let argument_types = contract::argument_types(f);
    let arity = f.params.len();
    let n_outputs = f.outputs.len();
    let info_doc = format!("Metadata and generated code of the operator `{name_str}`.");
    quote! {
        #(#attrs)*
        #[allow(non_snake_case, non_camel_case_types)]
        #vis mod #name {
            #[allow(unused_imports)]
            use super::*;

            /// Number of parameters.
            pub const ARITY: usize = #arity;
            /// Number of results (elements of a returned tuple).
            pub const OUTPUTS: usize = #n_outputs;
            #output_types
            #argument_types
            #into_data
            #forward
            #adjoint
            #forward_flat
            #adjoint_flat
            #lane_forward
            #lane_adjoint
            #reference
            #reference_flat

            #[doc = #info_doc]
            pub static INFO: ::lbm_runtime::OperatorInfo = ::lbm_runtime::OperatorInfo {
                name: #name_str,
                c_name: #c_name,
                summary: #summary,
                params: &[#(#params),*],
                outputs: &[#(#outputs),*],
                c_shapes: #c_shapes,
                c_forward: #c_forward,
                c_adjoint: #c_adjoint,
                rust_forward: #rust_forward,
                rust_adjoint: #rust_adjoint,
                callees: &[#(#callees),*],
                forwarded: &[#(#forwarded),*],
                cpu: ::lbm_runtime::operator::CpuForms {
                    f32: #f32_forms,
                    f64: #f64_forms,
                    reference: #reference_forms,
                    #[cfg(target_arch = "x86_64")]
                    f32_lanes: #f32_lanes,
                },
            };
        }
    }
}
