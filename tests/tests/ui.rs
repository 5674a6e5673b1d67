//! Compile-fail tests pinning the `#[operator]` macro's error messages, and operators that
//! must compile and run.
//!
//! Cases live in `tests/ui/<category>/<name>.rs`: `parse` (constructs outside the operator
//! language), `check` (types, signatures and rules spanning statements), `activity`
//! (values that would silently cut a gradient), `pass` (valid operators). Each compile-fail
//! case holds one mistake, except `parse/several_errors.rs`, which shows that the macro
//! reports every error of an operator in one build.
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p lbm-tests --test ui` and read every `.stderr` diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/*.rs");
    // Matches files the glob above also matched: trybuild keeps the last expectation.
    t.pass("tests/ui/pass/*.rs");
}
