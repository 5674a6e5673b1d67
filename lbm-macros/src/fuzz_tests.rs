//! The macro never panics: mutated operators (tokens deleted, repeated, swapped or
//! replaced) must each give either generated code or a compile error.
//!
//! The seeds are every operator of the standard library and of the examples, as written;
//! mutations come from a fixed SplitMix64 sequence, for `LBM_MACRO_FUZZ_SECONDS` seconds
//! (default 20) or `LBM_MACRO_FUZZ_CASES` cases, whichever ends first. A panic prints the
//! mutated source, so the case can be replayed by hand.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Sources holding `#[operator]` functions.
const SEEDS: &[&str] = &[
    include_str!("../../lbm-runtime/src/ops/collision.rs"),
    include_str!("../../lbm-runtime/src/ops/boundaries.rs"),
    include_str!("../../lbm-runtime/src/ops/equilibria.rs"),
    include_str!("../../lbm-runtime/src/ops/moments.rs"),
    include_str!("../../lbm-runtime/src/ops/objectives.rs"),
    include_str!("../../lbm-examples/src/lib.rs"),
];

/// Identifiers a replacement draws from: the language's names and things outside it.
const IDENTS: &[&str] = &[
    "f",
    "u",
    "rho",
    "omega",
    "i",
    "a",
    "Q",
    "D",
    "C",
    "W",
    "OPP",
    "CS2",
    "Real",
    "sqrt",
    "ln",
    "exp",
    "min",
    "max",
    "powi",
    "bgk",
    "equilibrium",
    "density_velocity",
    "let",
    "mut",
    "for",
    "in",
    "if",
    "else",
    "match",
    "return",
    "while",
    "loop",
    "break",
    "continue",
    "as",
    "i32",
    "i64",
    "usize",
    "f64",
    "bool",
    "true",
    "false",
    "Vec",
    "self",
    "unsafe",
    "fn",
    "_",
];

/// Punctuation a replacement draws from.
const PUNCTS: &[char] = &[
    '+', '-', '*', '/', '%', '=', '<', '>', '!', '&', '|', ';', ',', '.', ':',
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The `#[operator]` functions of a source file.
fn operators(source: &str) -> Vec<syn::ItemFn> {
    let file = syn::parse_file(source).expect("seed sources parse");
    file.items
        .into_iter()
        .filter_map(|item| match item {
            syn::Item::Fn(f) if f.attrs.iter().any(|a| a.path().is_ident("operator")) => Some(f),
            _ => None,
        })
        .collect()
}

/// A token that could stand in for another.
fn random_token(rng: &mut Rng) -> TokenTree {
    match rng.below(5) {
        0 | 1 => Ident::new(IDENTS[rng.below(IDENTS.len())], Span::call_site()).into(),
        2 => Punct::new(PUNCTS[rng.below(PUNCTS.len())], Spacing::Alone).into(),
        3 => match rng.below(4) {
            0 => Literal::f64_unsuffixed(rng.below(5) as f64 * 0.5).into(),
            1 => Literal::i64_unsuffixed(rng.below(40) as i64 - 3).into(),
            2 => Literal::usize_unsuffixed(usize::MAX).into(),
            _ => Literal::string("x").into(),
        },
        _ => {
            let delimiter =
                [Delimiter::Parenthesis, Delimiter::Bracket, Delimiter::Brace][rng.below(3)];
            Group::new(delimiter, TokenStream::new()).into()
        }
    }
}

/// One mutation somewhere in `tokens`, descending into groups at random; at the top level
/// (`depth` 0) always into a group (the parameters or the body), since a mutated `fn`
/// header rarely parses as a function at all.
fn mutate(tokens: TokenStream, rng: &mut Rng, depth: usize) -> TokenStream {
    let mut list: Vec<TokenTree> = tokens.into_iter().collect();
    let groups: Vec<usize> = (0..list.len())
        .filter(|&k| matches!(list[k], TokenTree::Group(_)))
        .collect();
    if !groups.is_empty() && (depth == 0 || rng.below(3) != 0) {
        let k = groups[rng.below(groups.len())];
        if let TokenTree::Group(g) = &list[k] {
            let mut inner = Group::new(g.delimiter(), mutate(g.stream(), rng, depth + 1));
            inner.set_span(g.span());
            list[k] = inner.into();
        }
        return list.into_iter().collect();
    }
    let n = list.len();
    // Half the time a token becomes another of its kind, which keeps the syntax valid
    // more often and so reaches the stages after parsing.
    if n > 0 && rng.below(2) == 0 {
        let k = rng.below(n);
        let replacement = loop {
            let t = random_token(rng);
            let same_kind = matches!(
                (&list[k], &t),
                (TokenTree::Ident(_), TokenTree::Ident(_))
                    | (TokenTree::Punct(_), TokenTree::Punct(_))
                    | (TokenTree::Literal(_), TokenTree::Literal(_))
                    | (TokenTree::Group(_), TokenTree::Group(_))
            );
            if same_kind {
                break t;
            }
        };
        list[k] = replacement;
        return list.into_iter().collect();
    }
    match rng.below(4) {
        0 if n > 0 => {
            list.remove(rng.below(n));
        }
        1 if n > 0 => {
            let k = rng.below(n);
            list.insert(k, list[k].clone());
        }
        2 if n > 1 => {
            let k = rng.below(n - 1);
            list.swap(k, k + 1);
        }
        _ => {
            let token = random_token(rng);
            if n > 0 && rng.below(2) == 0 {
                let k = rng.below(n);
                list[k] = token;
            } else {
                list.insert(rng.below(n + 1), token);
            }
        }
    }
    list.into_iter().collect()
}

#[test]
fn mutated_operators_give_code_or_errors_never_a_panic() {
    let seconds: u64 = std::env::var("LBM_MACRO_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let cases: usize = std::env::var("LBM_MACRO_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let seeds: Vec<syn::ItemFn> = SEEDS.iter().flat_map(|s| operators(s)).collect();
    assert!(seeds.len() > 20, "{} seed operators", seeds.len());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rng = Rng(0x5eed_f022);
    let (mut tried, mut expanded, mut refused) = (0usize, 0usize, 0usize);
    while tried < cases && Instant::now() < deadline {
        let seed = &seeds[rng.below(seeds.len())];
        // The function without its attributes (doc comments, `#[operator]`), mutated.
        let mut bare = seed.clone();
        bare.attrs.clear();
        let mut tokens = quote::quote!(#bare);
        for _ in 0..=rng.below(3) {
            tokens = mutate(tokens, &mut rng, 0);
        }
        tried += 1;
        // What rustc would hand the macro: an item that parses as a function.
        let Ok(item) = syn::parse2::<syn::ItemFn>(tokens.clone()) else {
            continue;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            crate::expand::expand(TokenStream::new(), item.clone())
        }));
        match outcome {
            Ok(Ok(_)) => expanded += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("the macro panicked on:\n{tokens}"),
        }
    }
    eprintln!(
        "macro fuzz: {tried} mutants, {expanded} expanded, {refused} refused, the rest not a \
         function"
    );
    assert!(
        expanded > 0 && refused > 0,
        "{expanded} expanded, {refused} refused"
    );
}
