//! Writes the random operator programs that `tests/random_programs.rs` checks.
//!
//! `LBM_RANDOM_SEED` (hex or decimal) and `LBM_RANDOM_PROGRAMS` choose them; CI uses the
//! defaults, a fixed seed, so a failure names a program every machine can rebuild.
//! `cargo xtask fuzz` sets both for long runs.

use std::path::PathBuf;

/// The seed CI checks.
const DEFAULT_SEED: u64 = 0x5eed_0001;
/// Programs CI checks: enough to cover every construct in many combinations, few enough
/// to compile in a couple of minutes on two cores.
const DEFAULT_PROGRAMS: usize = 240;

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() {
    println!("cargo::rerun-if-env-changed=LBM_RANDOM_SEED");
    println!("cargo::rerun-if-env-changed=LBM_RANDOM_PROGRAMS");
    let seed = std::env::var("LBM_RANDOM_SEED")
        .ok()
        .map(|s| parse_u64(&s).expect("LBM_RANDOM_SEED is a number (decimal or 0x-hex)"))
        .unwrap_or(DEFAULT_SEED);
    let count = std::env::var("LBM_RANDOM_PROGRAMS")
        .ok()
        .map(|s| s.parse().expect("LBM_RANDOM_PROGRAMS is a count"))
        .unwrap_or(DEFAULT_PROGRAMS);
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = lbm_opgen::module_source(seed, count);
    std::fs::write(out.join("random_programs.rs"), source).expect("OUT_DIR is writable");
    println!("cargo::rustc-env=LBM_RANDOM_SEED_USED={seed:#x}");
    println!("cargo::rustc-env=LBM_RANDOM_PROGRAMS_USED={count}");
}
