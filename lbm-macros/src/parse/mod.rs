//! Parsing: a `syn::ItemFn` to the typed IR.
//!
//! Takes the annotated function, returns a [`Function`] whose statements are typed and
//! whose calls to other operators are lifted out of expressions into statements. Anything
//! outside the operator language is reported at its span with what to write instead; the
//! parser keeps going after an error so every mistake is reported in one build.
//!
//! One recursive descent over syn's tree, split by construct: `signature` (parameters,
//! their markers, types), `stmt` (statements), `expr` (expressions), `call` (operator
//! calls and their lifting out of expressions). Typing happens as the descent builds each
//! node, but its rules live apart in `typing`, which sees IR expressions and no syntax.
//! This file holds the state the parts share: the function being built, the scopes of
//! names, and the statement buffers that lifted calls are emitted into.

use std::collections::HashMap;

use proc_macro2::Span;

use crate::ctxt::Ctxt;
use crate::ir::*;

mod call;
mod expr;
mod signature;
mod stmt;
mod typing;

pub fn parse(item: &syn::ItemFn, cx: &Ctxt) -> Option<Function> {
    let mut p = Parser {
        cx,
        f: Function {
            name: item.sig.ident.clone(),
            vis: item.vis.clone(),
            attrs: item.attrs.clone(),
            params: Vec::new(),
            param_names: Vec::new(),
            param_decls: Vec::new(),
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
