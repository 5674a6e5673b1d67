//! What the stage tests share: operators read from the project's sources, lowered and
//! analysed as `expand` does up to the adjoint.

use crate::activity::Activity;
use crate::ctxt::Ctxt;
use crate::ir::Function;

/// The function `name` of a Rust source file (an operator as the library or a test
/// writes it).
pub fn operator(source: &str, name: &str) -> syn::ItemFn {
    let file = syn::parse_file(source).expect("the source parses");
    file.items
        .into_iter()
        .find_map(|item| match item {
            syn::Item::Fn(f) if f.sig.ident == name => Some(f),
            _ => None,
        })
        .expect("the operator is in the source")
}

/// `item` parsed, checked and lowered, with its activity.
pub fn lowered(item: &syn::ItemFn) -> (Function, Activity) {
    let cx = Ctxt::new();
    let parsed = crate::parse::parse(item, &cx);
    cx.check().expect("the operator is valid");
    let mut f = parsed.expect("the operator parses");
    crate::lower::lower_returns(&mut f);
    crate::lattice_factors::gather(&mut f);
    let act = Activity::analyse(&f);
    (f, act)
}
