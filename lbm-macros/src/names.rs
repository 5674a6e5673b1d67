//! Unique names for generated variables, valid in Rust and in C.

/// Words a variable may not be called in the generated C (C and C++ keywords, the
/// prelude's names) or Rust forms (the generic parameters).
const RESERVED: &[&str] = &[
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "bool",
    "true",
    "false",
    "class",
    "new",
    "delete",
    "this",
    "template",
    "typename",
    "namespace",
    "operator",
    "private",
    "public",
    "protected",
    "virtual",
    "friend",
    "try",
    "catch",
    "throw",
    "real",
    "Q",
    "D",
    "R",
    "L",
];

/// `base`, or `base_1`, `base_2`, ... : the first that is neither reserved nor taken.
pub fn fresh<'a>(base: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    let free =
        |n: &str| !RESERVED.contains(&n) && !n.starts_with("lbm_") && taken.clone().all(|t| t != n);
    let base = base.trim_start_matches('_');
    let base = if base.is_empty() { "v" } else { base };
    if free(base) {
        return base.to_string();
    }
    (1..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| free(n))
        .expect("some suffix is free")
}
