//! Developer tasks, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask codegen --list`: the library operators, their parameters and summaries.
//! - `cargo xtask codegen <name> [--lattice L] [--precision P] [--rust]`: the C unit (or the
//!   Rust forms) generated for one operator and everything it calls.
//! - `cargo xtask codegen <step> --kernels --grid NXxNY[xNZ] [--min-blocks M]`: the CUDA
//!   modules (forward, then adjoint) the CUDA backend compiles for a step on that grid.
//! - `cargo xtask bounds <step> --grid NXxNY[xNZ] [--precision P] [--storage S]
//!   [--streaming S] [--arch 90]`: the register bounds the CUDA backend would choose for the
//!   step's kernels, with the registers and spills of every candidate, from NVRTC alone.
//! - `cargo xtask gpu-bundle <dir>`: every test binary and example, built here, with a
//!   `run.sh` that runs the tests on a GPU machine that has no Rust toolchain.
//! - `cargo xtask fuzz --seed S --programs N [--rounds R]`: the random-program checks of
//!   `tests/random_programs.rs` on other seeds than CI's (`--show K` prints a program).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

mod bounds;

use clap::{Parser, Subcommand};
use lbm_runtime::codegen::c_unit;
use lbm_runtime::cuda::{step_sources, StateFormat};
use lbm_runtime::{Grid, LatticeKind, OperatorInfo, ParamKind, ParamRole, Precision, Range, Step};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks of the differentiable LBM workspace"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Print the code generated for a library operator (or list the operators).
    Codegen(CodegenArgs),
    /// Print the register bound the CUDA backend would choose for each kernel of a library
    /// operator's step, with the registers and spills of every candidate (needs NVRTC,
    /// not a GPU).
    Bounds(bounds::BoundsArgs),
    /// Build every test binary and example into DIR/bin and write DIR/run.sh, which
    /// runs the tests with LBM_BACKEND=cuda on a machine without a Rust toolchain.
    GpuBundle {
        /// Where to put the bundle (created if missing; its bin/ and lib/ are replaced).
        dir: PathBuf,
    },
    /// Check random operator programs (forward against the source as written, adjoint
    /// against finite differences, C against Rust, f32 against f64) from any seed.
    Fuzz(FuzzArgs),
    /// Run the benchmark (`lbm-examples`' `bench` binary): kernel-level and user-level
    /// MLUPS, per-call overheads and peak memory, as a table and JSON. Arguments after
    /// `bench` go to it (`--quick`, `--json PATH`, `--steps N`, `--sweep`, `--gpus N`).
    Bench {
        /// Passed to the bench binary.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct FuzzArgs {
    /// The first seed (decimal or 0x-hex); round r uses seed + r.
    #[arg(long, default_value = "1", value_parser = parse_seed)]
    seed: u64,
    /// Programs per round (each round compiles them all: about a second each), at most
    /// 400.
    #[arg(long, default_value_t = 400, value_parser = parse_programs)]
    programs: usize,
    /// Rounds, each with the next seed.
    #[arg(long, default_value_t = 1)]
    rounds: u64,
    /// Print program K of the seed instead of checking.
    #[arg(long)]
    show: Option<usize>,
}

/// Programs per round: a round compiles its programs as one test crate, and rustc itself
/// crashed (SIGSEGV) on 600 of them.
const MAX_PROGRAMS: usize = 400;

fn parse_programs(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("not a count: {e}"))?;
    match n {
        0 => Err("at least one program".into()),
        n if n > MAX_PROGRAMS => Err(format!(
            "at most {MAX_PROGRAMS} programs per round (rustc crashes compiling many more as \
             one test crate); use --rounds for more, each round a new seed"
        )),
        n => Ok(n),
    }
}

fn parse_seed(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("not a seed: {e}"))
}

#[derive(clap::Args)]
struct CodegenArgs {
    /// The operator's name, as in `--list`.
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// List the library operators instead.
    #[arg(long, conflicts_with_all = ["name", "rust"])]
    list: bool,
    /// Lattice: d2q9, d3q19 or d3q27.
    #[arg(long, default_value = "d2q9")]
    lattice: LatticeKind,
    /// Precision of `real`: f32 or f64.
    #[arg(long, default_value = "f64")]
    precision: Precision,
    /// Print the Rust forms (forward and adjoint) instead of the C unit.
    #[arg(long)]
    rust: bool,
    /// Print the CUDA modules of the operator bound as a step (forward, then adjoint)
    /// instead of the C unit: `#[param]`s uniform, other reals per-cell fields, integers 0.
    #[arg(long, conflicts_with = "rust", requires = "grid")]
    kernels: bool,
    /// The grid of `--kernels`, `NXxNY` on D2Q9 and `NXxNYxNZ` on D3Q19 and D3Q27 (a module
    /// is built for one grid: its dimensions are literals in the C).
    #[arg(long, value_parser = parse_dims)]
    grid: Option<Dims>,
    /// The resident blocks a multiprocessor `--kernels` declares (`__launch_bounds__`); the
    /// runtime picks it per kernel from register use (`LBM_CUDA_MIN_BLOCKS` forces it).
    #[arg(long, default_value_t = 1)]
    min_blocks: u32,
}

/// Grid sizes as `--grid` gives them, one per axis (a type of its own, so that clap
/// takes the list as one value).
#[derive(Clone, Debug)]
struct Dims(Vec<usize>);

fn parse_dims(s: &str) -> Result<Dims, String> {
    s.split('x')
        .map(|d| match d.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "`{d}` in `{s}` is not a positive size; write e.g. 1024x1024"
            )),
        })
        .collect::<Result<_, _>>()
        .map(Dims)
}

/// A failed task: the message for stderr and the process exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Codegen(args) => codegen(&args, lbm_runtime::ops::ALL).map(|text| print!("{text}")),
        Task::Bounds(args) => {
            bounds::bounds(&args, lbm_runtime::ops::ALL).map(|text| print!("{text}"))
        }
        Task::GpuBundle { dir } => gpu_bundle(&dir),
        Task::Fuzz(args) => fuzz(&args),
        Task::Bench { args } => bench(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// The workspace root, so tasks behave the same from any working directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs the random-program test binary once per round, rebuilt for that round's seed.
fn fuzz(args: &FuzzArgs) -> Result<(), Failure> {
    if let Some(k) = args.show {
        let programs = lbm_opgen::generate(args.seed, k + 1);
        print!("{}", programs[k].source);
        return Ok(());
    }
    for round in 0..args.rounds {
        let seed = args.seed.wrapping_add(round);
        eprintln!(
            "fuzz round {}/{}: seed {seed:#x}, {} programs",
            round + 1,
            args.rounds,
            args.programs
        );
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(project_root())
            .args([
                "test",
                "--release",
                "-p",
                "lbm-tests",
                "--test",
                "random_programs",
            ])
            .args(["--", "--nocapture"])
            .env("LBM_RANDOM_SEED", format!("{seed:#x}"))
            .env("LBM_RANDOM_PROGRAMS", args.programs.to_string())
            .status()
            .map_err(|e| Failure::new(2, format!("cannot run cargo: {e}")))?;
        if !status.success() {
            return Err(Failure::new(
                1,
                format!("seed {seed:#x} fails; `cargo xtask fuzz --seed {seed:#x} --show K` prints program K"),
            ));
        }
    }
    Ok(())
}

/// Runs the bench binary in release mode with `args`.
fn bench(args: &[String]) -> Result<(), Failure> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(project_root())
        .args([
            "run",
            "--release",
            "-p",
            "lbm-examples",
            "--bin",
            "bench",
            "--",
        ])
        .args(args)
        .status()
        .map_err(|e| Failure::new(2, format!("cannot run cargo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::new(1, "the benchmark failed"))
    }
}

/// The text `cargo xtask codegen` prints for `args`, with `ops` as the library.
fn codegen(args: &CodegenArgs, ops: &[&'static OperatorInfo]) -> Result<String, Failure> {
    if args.list {
        return Ok(list(ops));
    }
    let name = args.name.as_deref().unwrap_or_default();
    let op = find_op(ops, name)?;
    if args.rust {
        return Ok(rust_forms(op));
    }
    if args.kernels {
        let Some(Dims(dims)) = &args.grid else {
            return Err(Failure::new(2, "--kernels needs --grid"));
        };
        return step_kernels(op, args, dims);
    }
    c_unit(&[op], args.lattice, args.precision).map_err(|e| Failure::new(1, e.to_string()))
}

/// The forward and adjoint CUDA modules of `op` bound as a step on a grid of `dims`.
fn step_kernels(
    op: &'static OperatorInfo,
    args: &CodegenArgs,
    dims: &[usize],
) -> Result<String, Failure> {
    let usage = |e: lbm_runtime::LbmError| Failure::new(2, e.to_string());
    let grid = grid_of(args.lattice, dims)?;
    let sources = step_sources(
        &any_binding(op, &grid),
        &grid,
        StateFormat::new(args.precision),
        args.min_blocks,
    )
    .map_err(usage)?;
    Ok(format!(
        "/* ==== forward module ==== */\n{}\n/* ==== adjoint module ==== */\n{}",
        sources.forward, sources.adjoint
    ))
}

/// The grid of `lattice` with sizes `dims` (two or three of them).
fn grid_of(lattice: LatticeKind, dims: &[usize]) -> Result<Grid, Failure> {
    match *dims {
        [nx, ny] => Grid::new_2d(lattice, nx, ny),
        [nx, ny, nz] => Grid::new_3d(lattice, nx, ny, nz),
        _ => {
            return Err(Failure::new(
                2,
                format!("--grid has {} sizes; give NXxNY or NXxNYxNZ", dims.len()),
            ))
        }
    }
    .map_err(|e| Failure::new(2, e.to_string()))
}

/// `op` as a step with every parameter it does not bind by itself bound to a value its
/// declared range accepts: `#[param]`s uniform, other reals per-cell fields, integers and
/// flags 0. A module's text depends on how each parameter is bound, not on the values.
fn any_binding(op: &'static OperatorInfo, grid: &Grid) -> Step {
    let lattice = grid.lattice();
    let mut step = Step::new(op);
    for (k, p) in op.params.iter().enumerate() {
        if p.role != ParamRole::Named {
            continue;
        }
        let v = accepted_value(op.range_of(k));
        let len = p.shape.len(lattice);
        step = match p.kind {
            ParamKind::Param => step.uniform(p.name, vec![v; len]),
            ParamKind::Field | ParamKind::Data => step.field(p.name, vec![v; len * grid.cells()]),
            ParamKind::Int | ParamKind::Bool => step.int(p.name, 0),
        };
    }
    step
}

/// A value inside `range`: a small round one where it can, else the middle.
fn accepted_value(range: Option<Range>) -> f64 {
    let Some(r) = range else { return 1.0 };
    [1.0, 0.5, 0.0, -1.0, 2.0, 10.0]
        .into_iter()
        .find(|&v| r.contains(v))
        .unwrap_or(if r.lo.is_finite() && r.hi.is_finite() {
            (r.lo + r.hi) / 2.0
        } else if r.lo.is_finite() {
            r.lo + 1.0
        } else {
            r.hi - 1.0
        })
}

/// Looks an operator up by name; an unknown name is a usage error (exit code 2, like
/// clap's own) that lists what exists.
fn find_op(ops: &[&'static OperatorInfo], name: &str) -> Result<&'static OperatorInfo, Failure> {
    if let Some(op) = ops.iter().find(|op| op.name == name) {
        return Ok(op);
    }
    let available = if ops.is_empty() {
        "none yet".to_string()
    } else {
        ops.iter().map(|op| op.name).collect::<Vec<_>>().join(", ")
    };
    Err(Failure::new(
        2,
        format!("unknown operator `{name}`; available: {available}"),
    ))
}

fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Field => "field",
        ParamKind::Param => "param",
        ParamKind::Data => "data",
        ParamKind::Int => "int",
        ParamKind::Bool => "bool",
    }
}

/// One line per operator: `name(param: kind type, ...) -> outputs  summary`.
fn list(ops: &[&'static OperatorInfo]) -> String {
    let mut out = String::new();
    for op in ops {
        let params: Vec<String> = op
            .params
            .iter()
            .map(|p| {
                if p.kind.is_real() {
                    format!("{}: {} {}", p.name, kind_name(p.kind), p.shape.rust_type())
                } else {
                    format!("{}: {}", p.name, kind_name(p.kind))
                }
            })
            .collect();
        let outputs: Vec<String> = op.outputs.iter().map(|s| s.rust_type()).collect();
        let ret = match outputs.len() {
            1 => outputs[0].clone(),
            _ => format!("({})", outputs.join(", ")),
        };
        let _ = writeln!(
            out,
            "{}({}) -> {}  {}",
            op.name,
            params.join(", "),
            ret,
            op.summary
        );
    }
    out
}

/// The macro stores the Rust forms as unformatted tokens; format them when they parse as a
/// file, and show them raw when not, since raw text still helps more than an error.
fn format_rust(tokens: &str) -> String {
    match syn::parse_file(tokens) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => format!("{tokens}\n"),
    }
}

/// The Rust forward and adjoint of `op` and its callees, callees first.
fn rust_forms(op: &'static OperatorInfo) -> String {
    let mut out = String::new();
    for o in op.with_callees() {
        let _ = writeln!(out, "// ---- operator {}: forward ----", o.name);
        out.push_str(&format_rust(o.rust_forward));
        let _ = writeln!(out, "\n// ---- operator {}: adjoint ----", o.name);
        out.push_str(&format_rust(o.rust_adjoint));
        out.push('\n');
    }
    out
}

/// An executable cargo reported building.
#[derive(Debug, PartialEq)]
struct Artifact {
    /// Path of the executable.
    executable: PathBuf,
    /// Whether it is a test harness (unit or integration tests), as opposed to a program.
    test: bool,
    /// The directory of the package's Cargo.toml: cargo runs tests from there.
    package_dir: PathBuf,
}

/// The executables in cargo's `--message-format=json` output.
fn artifacts(json_lines: &str) -> Vec<Artifact> {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .filter_map(|msg| {
            let executable = PathBuf::from(msg["executable"].as_str()?);
            let manifest = PathBuf::from(msg["manifest_path"].as_str()?);
            Some(Artifact {
                executable,
                test: msg["profile"]["test"].as_bool().unwrap_or(false),
                package_dir: manifest.parent()?.to_path_buf(),
            })
        })
        .collect()
}

/// Runs a cargo command in the workspace root and returns the executables it built.
fn cargo_artifacts(args: &[&str]) -> Result<Vec<Artifact>, Failure> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    eprintln!("running: cargo {}", args.join(" "));
    let out = Command::new(&cargo)
        .args(args)
        .current_dir(project_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::new(1, format!("could not run {cargo}: {e}")))?;
    if !out.status.success() {
        return Err(Failure::new(
            1,
            format!("`cargo {}` failed ({})", args.join(" "), out.status),
        ));
    }
    Ok(artifacts(&String::from_utf8_lossy(&out.stdout)))
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::new(1, format!("{what} {}: {e}", path.display()))
}

/// `cargo xtask gpu-bundle <dir>`.
fn gpu_bundle(dir: &Path) -> Result<(), Failure> {
    let mut all = cargo_artifacts(&[
        "test",
        "--workspace",
        "--release",
        "--no-run",
        "--message-format=json",
    ])?;
    all.extend(cargo_artifacts(&[
        "build",
        "--release",
        "-p",
        "lbm-examples",
        "--examples",
        "--bins",
        "--message-format=json",
    ])?);

    let bin = dir.join("bin");
    for stale in [bin.clone(), dir.join("lib")] {
        if stale.exists() {
            std::fs::remove_dir_all(&stale).map_err(|e| io_err("could not clear", &stale, e))?;
        }
    }
    std::fs::create_dir_all(&bin).map_err(|e| io_err("could not create", &bin, e))?;

    let root = project_root();
    let mut tests = Vec::new();
    let mut copied = std::collections::HashSet::new();
    for a in &all {
        let file_name = a
            .executable
            .file_name()
            .expect("executables have file names");
        // `cargo test --no-run` also builds the workspace's binaries, which the second
        // build reports again; one copy is enough.
        if !copied.insert(file_name.to_owned()) {
            continue;
        }
        let dest = bin.join(file_name);
        std::fs::copy(&a.executable, &dest).map_err(|e| io_err("could not copy", &dest, e))?;
        if a.test {
            let rel = a.package_dir.strip_prefix(&root).unwrap_or(Path::new("."));
            tests.push((file_name.to_string_lossy().into_owned(), rel.to_path_buf()));
        }
    }
    tests.sort();
    copy_rust_std(&dir.join("lib"))?;

    let script = dir.join("run.sh");
    std::fs::write(&script, run_sh(&tests)).map_err(|e| io_err("could not write", &script, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_err("could not make executable", &script, e))?;
    }
    eprintln!(
        "bundle: {} executables ({} test binaries) in {}; run {}",
        copied.len(),
        tests.len(),
        bin.display(),
        script.display()
    );
    Ok(())
}

/// Copies the Rust standard library's shared object into `lib`: test binaries of
/// proc-macro crates link it dynamically, and under cargo it is found through the
/// toolchain, which the GPU machine does not have.
fn copy_rust_std(lib: &Path) -> Result<(), Failure> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(&rustc)
        .args(["--print", "target-libdir"])
        .output()
        .map_err(|e| Failure::new(1, format!("could not run {rustc}: {e}")))?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::create_dir_all(lib).map_err(|e| io_err("could not create", lib, e))?;
    let entries = std::fs::read_dir(&libdir).map_err(|e| io_err("could not read", &libdir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("libstd-") && name.ends_with(".so") {
            let dest = lib.join(&*name);
            std::fs::copy(entry.path(), &dest).map_err(|e| io_err("could not copy", &dest, e))?;
        }
    }
    Ok(())
}

/// The script that runs each test binary `(file name, package dir relative to the
/// workspace root)` of the bundle.
fn run_sh(tests: &[(String, PathBuf)]) -> String {
    let mut list = String::new();
    for (name, dir) in tests {
        let _ = writeln!(list, "    \"{name}|{}\"", dir.display());
    }
    RUN_SH.replace("@TESTS@", list.trim_end())
}

const RUN_SH: &str = r#"#!/usr/bin/env bash
# Generated by `cargo xtask gpu-bundle`: runs every test binary of the bundle with
# LBM_BACKEND=cuda and reports pass/fail per binary. Exits 1 if any failed.
#
#   bash run.sh [ARGS...]      ARGS go to every test binary (a test-name filter, --nocapture)
#   LBM_BUNDLE_ONLY=REGEX      run only the binaries whose file name matches REGEX
#   LBM_REPO=DIR               the workspace checkout (default: the bundle's parent folder);
#                              each binary runs in its package's folder there, as under cargo
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="${LBM_REPO:-$(cd "$HERE/.." && pwd)}"
export LBM_BACKEND=cuda
# The Rust standard library, for the test binaries of proc-macro crates.
export LD_LIBRARY_PATH="$HERE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LBM_REQUIRE_NVRTC="${LBM_REQUIRE_NVRTC:-1}"

# cudarc loads NVRTC by name (libnvrtc.so.13); the GPU image may have it only inside its
# CUDA toolkit or a Python package, off the loader's path.
nvrtc_on_path() {
    ldconfig -p 2>/dev/null | grep -q 'libnvrtc\.so\.13' && return 0
    local d
    IFS=: read -ra dirs <<<"${LD_LIBRARY_PATH:-}"
    for d in "${dirs[@]}"; do
        [[ -n "$d" && -e "$d/libnvrtc.so.13" ]] && return 0
    done
    return 1
}
if ! nvrtc_on_path; then
    found=""
    for d in "$REPO/.nvrtc/nvidia/cu13/lib" /usr/local/cuda/lib64 \
        /usr/local/cuda/targets/x86_64-linux/lib; do
        if [[ -e "$d/libnvrtc.so.13" ]]; then found="$d"; break; fi
    done
    if [[ -z "$found" ]]; then
        found="$(find /usr/local /opt /usr/lib -name 'libnvrtc.so.13' 2>/dev/null | head -n 1)"
        found="${found%/*}"
    fi
    if [[ -n "$found" ]]; then
        export LD_LIBRARY_PATH="$found${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "run.sh: NVRTC from $found"
    else
        echo "run.sh: warning: libnvrtc.so.13 not found"
    fi
fi

TESTS=(
@TESTS@
)

passed=()
failed=()
for entry in "${TESTS[@]}"; do
    name="${entry%%|*}"
    pkg="${entry#*|}"
    if [[ -n "${LBM_BUNDLE_ONLY:-}" && ! "$name" =~ $LBM_BUNDLE_ONLY ]]; then
        continue
    fi
    cwd="$REPO/$pkg"
    [[ -d "$cwd" ]] || cwd="$HERE"
    echo "=== $name (in $cwd)"
    if (cd "$cwd" && "$HERE/bin/$name" "$@"); then
        passed+=("$name")
    else
        failed+=("$name")
    fi
done

echo
echo "=== summary: ${#passed[@]} passed, ${#failed[@]} failed"
for n in "${passed[@]}"; do echo "PASS $n"; done
for n in "${failed[@]}"; do echo "FAIL $n"; done
[[ ${#failed[@]} -eq 0 ]]
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use lbm_runtime::operator::{CpuForms, FlatForms, LaneForms, ParamInfo, ParamRole, Shape};

    #[test]
    fn fuzz_rounds_hold_what_rustc_can_compile() {
        assert_eq!(parse_programs("400"), Ok(400));
        for bad in ["0", "401", "many"] {
            assert!(parse_programs(bad).is_err(), "{bad}");
        }
    }

    fn fwd<R>(_: &[R], _: &[i64], _: &mut [R]) {}
    fn adj<R>(_: &[R], _: &[i64], _: &[R], _: &mut [R]) {}

    #[cfg(target_arch = "x86_64")]
    const fn lane_forms() -> LaneForms<lbm_runtime::lanes::F32x8> {
        LaneForms {
            forward: fwd,
            adjoint: adj,
        }
    }

    const fn forms<R>() -> FlatForms<R> {
        FlatForms {
            forward: fwd::<R>,
            adjoint: adj::<R>,
        }
    }

    static SQUARE: OperatorInfo = OperatorInfo {
        name: "square",
        c_name: "square",
        summary: "The square of a value.",
        params: &[
            ParamInfo {
                name: "x",
                kind: ParamKind::Field,
                shape: Shape::Scalar,
                role: ParamRole::Named,
                range: None,
            },
            ParamInfo {
                name: "tag",
                kind: ParamKind::Int,
                shape: Shape::Scalar,
                role: ParamRole::Named,
                range: None,
            },
        ],
        outputs: &[Shape::Scalar, Shape::Q],
        c_shapes: "#define LBM_LEN_square_0 1\n",
        c_forward: "__device__ void lbm_square(const real* x, int tag, real* out0) { }\n",
        c_adjoint: "__device__ void lbm_square_adj() { }\n",
        rust_forward: "pub fn forward < R : Real > (x : R) -> R { x * x }",
        rust_adjoint: "pub fn adjoint(x: R) -> ( R , ) { not rust (",
        callees: &[],
        forwarded: &[],
        cpu: CpuForms {
            f32: [forms(), forms(), forms()],
            f64: [forms(), forms(), forms()],
            reference: [fwd::<f64>, fwd::<f64>, fwd::<f64>],
            #[cfg(target_arch = "x86_64")]
            f32_lanes: [lane_forms(), lane_forms(), lane_forms()],
        },
    };

    fn args(name: Option<&str>) -> CodegenArgs {
        CodegenArgs {
            name: name.map(str::to_string),
            list: name.is_none(),
            lattice: LatticeKind::D3Q19,
            precision: Precision::F32,
            rust: false,
            kernels: false,
            grid: None,
            min_blocks: 1,
        }
    }

    #[test]
    fn list_shows_name_params_and_summary() {
        let text = codegen(&args(None), &[&SQUARE]).ok().unwrap();
        assert_eq!(
            text,
            "square(x: field Real, tag: int) -> (Real, [Real; Q])  The square of a value.\n"
        );
        assert_eq!(codegen(&args(None), &[]).ok().unwrap(), "");
    }

    /// `--kernels` binds a library step by itself (BGK's `omega` inside its range) and
    /// prints both modules for the grid; a grid of the wrong dimension is a usage error.
    #[test]
    fn kernels_print_both_modules_of_a_library_step() {
        let mut a = args(Some("bgk"));
        a.kernels = true;
        a.grid = Some(Dims(vec![16, 8, 4]));
        a.min_blocks = 3;
        let text = codegen(&a, lbm_runtime::ops::ALL).ok().unwrap();
        let (fwd, adj) = text.split_once("/* ==== adjoint module ==== */").unwrap();
        assert!(fwd.contains("__launch_bounds__(LBM_BLOCK, 3) lbm_k_step_fwd("));
        assert!(adj.contains("__launch_bounds__(LBM_BLOCK, 3) lbm_k_step_adj("));
        assert!(adj.contains("const unsigned nx = 16u, ny = 8u, nz = 4u;"));
        a.grid = Some(Dims(vec![16, 8]));
        let err = codegen(&a, lbm_runtime::ops::ALL).err().unwrap();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("3D lattice"), "{}", err.message);
    }

    #[test]
    fn unknown_operator_exits_with_2_and_lists_names() {
        let err = codegen(&args(Some("cube")), &[&SQUARE]).err().unwrap();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("`cube`") && err.message.contains("square"));
        let err = codegen(&args(Some("cube")), &[]).err().unwrap();
        assert!(err.message.contains("none yet"));
    }

    #[test]
    fn codegen_prints_the_unit() {
        let text = codegen(&args(Some("square")), &[&SQUARE]).ok().unwrap();
        assert!(text.contains("typedef float real;") && text.contains("#define Q 19"));
        assert!(text.contains("/* ---- operator square ---- */"));
    }

    #[test]
    fn rust_forms_are_formatted_when_they_parse() {
        let mut a = args(Some("square"));
        a.rust = true;
        let text = codegen(&a, &[&SQUARE]).ok().unwrap();
        assert!(text.contains("pub fn forward<R: Real>(x: R) -> R {\n    x * x\n}"));
        assert!(text.contains("not rust ("), "raw fallback");
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "xtask",
            "codegen",
            "bgk",
            "--lattice",
            "d3q27",
            "--precision",
            "f64",
        ])
        .unwrap();
        let Task::Codegen(a) = cli.task else { panic!() };
        assert_eq!(a.lattice, LatticeKind::D3Q27);
        assert!(Cli::try_parse_from(["xtask", "codegen"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "codegen", "x", "--lattice", "d1q3"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "bench", "--quick", "--json", "b.json"]).unwrap();
        let Task::Bench { args } = cli.task else {
            panic!()
        };
        assert_eq!(args, ["--quick", "--json", "b.json"]);
    }

    #[test]
    fn artifacts_come_from_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","manifest_path":"/w/lbm-runtime/Cargo.toml","profile":{"test":true},"executable":"/w/target/release/deps/lbm_runtime-abc"}
{"reason":"compiler-artifact","manifest_path":"/w/lbm-runtime/Cargo.toml","profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","manifest_path":"/w/lbm-examples/Cargo.toml","profile":{"test":false},"executable":"/w/target/release/seed"}
{"reason":"build-finished","success":true}
not json"#;
        assert_eq!(
            artifacts(json),
            vec![
                Artifact {
                    executable: "/w/target/release/deps/lbm_runtime-abc".into(),
                    test: true,
                    package_dir: "/w/lbm-runtime".into(),
                },
                Artifact {
                    executable: "/w/target/release/seed".into(),
                    test: false,
                    package_dir: "/w/lbm-examples".into(),
                },
            ]
        );
    }

    #[test]
    fn run_sh_lists_the_tests() {
        let s = run_sh(&[("lbm_runtime-abc".into(), "lbm-runtime".into())]);
        assert!(s.contains("    \"lbm_runtime-abc|lbm-runtime\"\n)"));
        assert!(s.contains("export LBM_BACKEND=cuda"));
    }
}
