//! Error collection: every stage pushes spanned errors and keeps going, so a user sees
//! all mistakes of an operator in one build.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::Span;

#[derive(Default)]
pub struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Ctxt::default()
    }

    /// Records an error at `span`.
    pub fn error(&self, span: Span, msg: impl Display) {
        self.errors.borrow_mut().push(syn::Error::new(span, msg));
    }

    /// Records an error covering all of `node`'s tokens.
    pub fn error_spanned(&self, node: &impl quote::ToTokens, msg: impl Display) {
        self.errors
            .borrow_mut()
            .push(syn::Error::new_spanned(node, msg));
    }

    /// Number of errors so far (to undo speculative work with [`Ctxt::truncate`]).
    pub fn len(&self) -> usize {
        self.errors.borrow().len()
    }

    /// Forgets errors recorded after the first `n`.
    pub fn truncate(&self, n: usize) {
        self.errors.borrow_mut().truncate(n);
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    /// All errors merged into one, or `Ok` when there were none.
    pub fn check(&self) -> syn::Result<()> {
        let mut errors = std::mem::take(&mut *self.errors.borrow_mut()).into_iter();
        let Some(mut first) = errors.next() else {
            return Ok(());
        };
        for e in errors {
            first.combine(e);
        }
        Err(first)
    }
}
