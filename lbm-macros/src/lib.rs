//! `#[operator]`: per-cell lattice Boltzmann operators, written once in a restricted subset
//! of Rust, compiled to forward and reverse-mode adjoint code in CUDA C and in Rust.
//!
//! The stages, one module each: `parse` (syn -> typed IR; a folder split by construct,
//! with the typing rules in `parse/typing.rs`), `check` (checks spanning several
//! statements), `lower` (single exit), `activity` (what carries derivatives), `recompute`
//! (what the reverse sweep computes again instead of saving), `adjoint` (forward and
//! reverse sweeps, with `dead_saves` dropping the saves nothing reads back), `emit_c` and
//! `emit_rust` (printers). `expand` runs them and assembles the generated module.

// Statement visitors match on the statement kind first and test conditions inside the
// arm; folding the tests into match guards would make the kinds harder to scan.
#![allow(clippy::collapsible_match)]

mod activity;
mod adjoint;
mod check;
mod contract;
mod count;
mod ctxt;
mod dead_saves;
mod emit_c;
mod emit_reference;
mod emit_rust;
mod expand;
#[cfg(test)]
mod fuzz_tests;
mod intrinsic;
mod ir;
mod lattice_factors;
mod lower;
mod names;
mod parse;
mod recompute;
mod symbol;
#[cfg(test)]
mod test_support;

use proc_macro::TokenStream;

/// Turns a per-cell function into an operator: a module of the same name holding
/// `forward`, `adjoint`, their flat forms, the output types `Out0..` and `INFO`
/// (`lbm_runtime::OperatorInfo`, with the generated CUDA C).
///
/// Parameters are `Real`, `[Real; Q]`, `[Real; D]`, `[Real; N]` (differentiable per-cell
/// values unless marked `#[param]`, a differentiable parameter uniform over the grid, or
/// `#[data]`, not differentiated), integers and `bool` (never differentiated). The body
/// may use `let`, assignment, `for` over constant ranges, `if`, `match` on integers,
/// early `return`, calls to other operators, the lattice constants `Q D C W OPP CS2` and
/// the intrinsics `sqrt exp ln powf powi sin cos tanh abs min max mul_add`. Anything else
/// is a compile error pointing at it. `#[operator(debug)]` prints the IR, the sweeps and
/// the C while compiling; `#[operator(unroll_adjoint)]` unrolls every loop of the CPU's
/// adjoint over groups of cells (not only those over `D`): about twice as fast on D3Q19,
/// for a few seconds more of compile time per operator, worth it for operators that run
/// long.
#[proc_macro_attribute]
pub fn operator(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    expand::expand(attr.into(), item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
