//! Physics validation: flows with known answers against analytic solutions and published
//! benchmarks (see `docs/VALIDATION.md`).
//!
//! ```text
//! cargo run --release -p lbm-examples --bin validate -- [CASE ...] [--quick] [--out DIR]
//!     [--numbers f64|f32|f16|bf16]
//! ```
//!
//! Cases: `poiseuille`, `couette`, `taylor-green`, `cavity`, `cylinder` (all by default).
//! Full sizes by default on a GPU, quick sizes on the CPU or with `--quick`. Prints a table
//! (case, quantity, measured, reference, error, tolerance, pass) and the same as Markdown,
//! and writes PNG figures, `summary.json` and `summary.md` to `--out`
//! (`out/validation`). The exit status is 0 when every check passes, 1 when one fails or a
//! case cannot run, 2 for bad arguments.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use lbm_examples::output::OutputError;
use lbm_examples::validation::plot::{write_png, LinePlot};
use lbm_examples::validation::{
    cavity, couette, cylinder, format_number, poiseuille, taylor_green, Check, Numbers, Size,
    ValidationError,
};
use lbm_runtime::{Backend, LatticeKind, Storage};
use serde::Serialize;

#[derive(Parser)]
#[command(
    about = "Physics validation of the lattice Boltzmann engine against analytic \
                   solutions and published benchmarks"
)]
struct Cli {
    /// Cases to run (all when none is named).
    #[arg(value_enum)]
    cases: Vec<CaseArg>,
    /// Small sizes (seconds to minutes on the CPU); the default on the CPU.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Full sizes (the published figures); the default on a GPU.
    #[arg(long)]
    full: bool,
    /// Where the simulations run.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// The numbers the simulations compute with. The tolerances are set for f64; the
    /// others show what f32 arithmetic and 16-bit population storage cost in accuracy.
    #[arg(long, value_enum, default_value = "f64")]
    numbers: NumbersArg,
    /// Folder for figures and the JSON and Markdown summaries (created if missing).
    #[arg(long, default_value = "out/validation")]
    out: PathBuf,
}

/// A validation case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CaseArg {
    /// Poiseuille flow: error and order of convergence.
    Poiseuille,
    /// Couette flow under a moving wall.
    Couette,
    /// Taylor-Green vortex decay on D2Q9, D3Q19 and D3Q27.
    TaylorGreen,
    /// Lid-driven cavity at Re 100 and 1000 against Ghia et al.
    Cavity,
    /// Flow past a cylinder, Schaefer-Turek 2D-1 and 2D-2.
    Cylinder,
}

const ALL: [CaseArg; 5] = [
    CaseArg::Poiseuille,
    CaseArg::Couette,
    CaseArg::TaylorGreen,
    CaseArg::Cavity,
    CaseArg::Cylinder,
];

/// The numbers the simulations compute with.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum NumbersArg {
    /// Double precision throughout.
    F64,
    /// Single precision.
    F32,
    /// Single-precision arithmetic on populations kept in binary16.
    F16,
    /// Single-precision arithmetic on populations kept in bfloat16.
    Bf16,
}

impl NumbersArg {
    fn numbers(self) -> Numbers {
        match self {
            NumbersArg::F64 => Numbers::F64,
            NumbersArg::F32 => Numbers::f32(Storage::Compute),
            NumbersArg::F16 => Numbers::f32(Storage::F16),
            NumbersArg::Bf16 => Numbers::f32(Storage::BF16),
        }
    }
}

/// Where the simulations run.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    /// The GPU when there is one, otherwise the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The GPU (an error without one).
    Cuda,
}

/// What stops the program before or between cases.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Engine(#[from] lbm_runtime::LbmError),
    #[error("could not create the output folder {path}: {source}")]
    OutDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not encode the JSON summary: {0}")]
    Json(#[from] serde_json::Error),
}

/// One case's outcome in the JSON summary.
#[derive(Serialize)]
struct CaseReport {
    name: String,
    seconds: f64,
    /// The case's result struct, or null when it failed.
    result: serde_json::Value,
    /// Why it could not run, if it could not.
    error: Option<String>,
    figures: Vec<String>,
}

#[derive(Serialize)]
struct Summary {
    backend: &'static str,
    size: Size,
    numbers: Numbers,
    seconds: f64,
    passed: usize,
    failed: usize,
    errors: usize,
    checks: Vec<Check>,
    cases: Vec<CaseReport>,
}

fn main() -> ExitCode {
    lbm_examples::logging::init();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn backend(arg: BackendArg) -> Result<Backend, Failure> {
    Ok(match arg {
        BackendArg::Auto => Backend::from_env()?,
        BackendArg::Cpu => Backend::Cpu,
        BackendArg::Cuda => {
            lbm_runtime::cuda::check_available()?;
            Backend::Cuda
        }
    })
}

/// Runs the chosen cases; `Ok(true)` when every check passed and every case ran.
fn run(cli: &Cli) -> Result<bool, Failure> {
    let backend = backend(cli.backend)?;
    let size = if cli.quick {
        Size::Quick
    } else if cli.full {
        Size::Full
    } else {
        if backend.is_gpu() {
            Size::Full
        } else {
            eprintln!("note: quick sizes on the CPU (--full for the published sizes)");
            Size::Quick
        }
    };
    std::fs::create_dir_all(&cli.out).map_err(|source| Failure::OutDir {
        path: cli.out.clone(),
        source,
    })?;
    let cases: Vec<CaseArg> = if cli.cases.is_empty() {
        ALL.to_vec()
    } else {
        ALL.iter()
            .copied()
            .filter(|c| cli.cases.contains(c))
            .collect()
    };
    let numbers = cli.numbers.numbers();
    println!(
        "validation: {} sizes on the {}, {}",
        match size {
            Size::Quick => "quick",
            Size::Full => "full",
        },
        backend.name(),
        numbers.label()
    );

    let started = Instant::now();
    let mut reports = Vec::new();
    let mut checks = Vec::new();
    for case in cases {
        for job in jobs(case, size, numbers) {
            let t = Instant::now();
            eprintln!("running {} ...", job.name);
            let outcome = (job.run)(backend);
            let seconds = t.elapsed().as_secs_f64();
            match outcome {
                Ok(done) => {
                    eprintln!("  done in {seconds:.1} s");
                    let mut figures = Vec::new();
                    let mut error = None;
                    for (file, panels) in &done.figures {
                        let path = cli.out.join(file);
                        match write_figure(&path, panels) {
                            Ok(()) => figures.push(file.clone()),
                            Err(e) => error = Some(format!("figure {file}: {e}")),
                        }
                    }
                    checks.extend(done.checks);
                    reports.push(CaseReport {
                        name: job.name,
                        seconds,
                        result: done.result,
                        error,
                        figures,
                    });
                }
                Err(e) => {
                    eprintln!("  failed after {seconds:.1} s: {e}");
                    reports.push(CaseReport {
                        name: job.name,
                        seconds,
                        result: serde_json::Value::Null,
                        error: Some(e.to_string()),
                        figures: Vec::new(),
                    });
                }
            }
        }
    }
    let passed = checks.iter().filter(|c| c.pass).count();
    let errors = reports.iter().filter(|r| r.error.is_some()).count();
    let summary = Summary {
        backend: backend.name(),
        size,
        numbers,
        seconds: started.elapsed().as_secs_f64(),
        passed,
        failed: checks.len() - passed,
        errors,
        checks,
        cases: reports,
    };

    println!();
    print!("{}", plain_table(&summary.checks));
    let markdown = markdown_table(&summary);
    println!();
    println!("Markdown, for docs/VALIDATION.md:");
    println!();
    print!("{markdown}");
    for r in summary.cases.iter().filter(|r| r.error.is_some()) {
        println!("\n{}: {}", r.name, r.error.as_deref().unwrap_or_default());
    }
    println!(
        "\n{} of {} checks passed, {} case(s) with errors, {:.0} s; figures and summaries in {}",
        summary.passed,
        summary.checks.len(),
        summary.errors,
        summary.seconds,
        cli.out.display()
    );
    write_file(&cli.out.join("summary.md"), markdown.as_bytes())?;
    let json = serde_json::to_vec_pretty(&summary)?;
    write_file(&cli.out.join("summary.json"), &json)?;
    Ok(summary.failed == 0 && summary.errors == 0)
}

/// What a finished case hands back: its checks, its result as JSON and its figures.
struct Done {
    checks: Vec<Check>,
    result: serde_json::Value,
    figures: Vec<(String, Vec<LinePlot>)>,
}

type Runner = Box<dyn Fn(Backend) -> Result<Done, ValidationError>>;

/// One simulation campaign of a case.
struct Job {
    name: String,
    run: Runner,
}

fn done<T: Serialize>(
    result: &T,
    checks: Vec<Check>,
    figures: Vec<(String, Vec<LinePlot>)>,
) -> Done {
    Done {
        checks,
        // Serialising plain numbers and strings cannot fail; a NaN becomes null.
        result: serde_json::to_value(result).unwrap_or(serde_json::Value::Null),
        figures,
    }
}

fn jobs(case: CaseArg, size: Size, numbers: Numbers) -> Vec<Job> {
    match case {
        CaseArg::Poiseuille => vec![Job {
            name: "poiseuille".into(),
            run: Box::new(move |b| {
                let config = poiseuille::PoiseuilleConfig {
                    numbers,
                    ..poiseuille::PoiseuilleConfig::new(size)
                };
                let r = poiseuille::run(&config, b)?;
                Ok(done(
                    &r,
                    r.checks(),
                    vec![("poiseuille.png".into(), r.figure())],
                ))
            }),
        }],
        CaseArg::Couette => vec![Job {
            name: "couette".into(),
            run: Box::new(move |b| {
                let config = couette::CouetteConfig {
                    numbers,
                    ..couette::CouetteConfig::new(size)
                };
                let r = couette::run(&config, b)?;
                Ok(done(
                    &r,
                    r.checks(),
                    vec![("couette.png".into(), r.figure())],
                ))
            }),
        }],
        CaseArg::TaylorGreen => [LatticeKind::D2Q9, LatticeKind::D3Q19, LatticeKind::D3Q27]
            .into_iter()
            .map(|lattice| Job {
                name: format!("taylor-green {lattice}"),
                run: Box::new(move |b| {
                    let config = taylor_green::TaylorGreenConfig {
                        numbers,
                        ..taylor_green::TaylorGreenConfig::new(size, lattice)
                    };
                    let r = taylor_green::run(&config, b)?;
                    let file = format!("taylor_green_{lattice}.png");
                    Ok(done(&r, r.checks(), vec![(file, vec![r.figure()])]))
                }),
            })
            .collect(),
        CaseArg::Cavity => [100.0, 1000.0]
            .into_iter()
            .map(|re| Job {
                name: format!("cavity Re {re}"),
                run: Box::new(move |b| {
                    let config = cavity::CavityConfig {
                        numbers,
                        ..cavity::CavityConfig::new(size, re)
                    };
                    let r = cavity::run(&config, b)?;
                    let file = format!("cavity_re{re}.png");
                    Ok(done(&r, r.checks(), vec![(file, r.figure())]))
                }),
            })
            .collect(),
        CaseArg::Cylinder => [cylinder::Benchmark::Steady, cylinder::Benchmark::Periodic]
            .into_iter()
            .map(|benchmark| Job {
                name: format!("cylinder {}", benchmark.name()),
                run: Box::new(move |b| {
                    let config = cylinder::CylinderConfig {
                        numbers,
                        ..cylinder::CylinderConfig::new(size, benchmark)
                    };
                    let r = cylinder::run(&config, b)?;
                    let file = format!("cylinder_{}.png", benchmark.name().to_lowercase());
                    Ok(done(&r, r.checks(), vec![(file, r.figure())]))
                }),
            })
            .collect(),
    }
}

fn write_figure(path: &Path, panels: &[LinePlot]) -> Result<(), OutputError> {
    write_png(path, panels, (640, 480))
}

/// Writes `bytes` to a temporary file next to `path` and renames it into place, so an
/// earlier summary stays whole until the new one is.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let fail = |source| Failure::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".lbm-validation-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    // tempfile creates 0600 files; a summary is for others to read too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(fail)?;
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

fn row(c: &Check) -> [String; 7] {
    [
        c.case.clone(),
        c.quantity.clone(),
        format_number(c.measured),
        c.reference.to_string(),
        format!("{} ({})", format_number(c.error), c.error_kind),
        short(c.tolerance),
        if c.pass { "pass" } else { "FAIL" }.to_string(),
    ]
}

/// A tolerance as written: `0.02`, `1e-7`.
fn short(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

const HEADER: [&str; 7] = [
    "case",
    "quantity",
    "measured",
    "reference",
    "error",
    "tolerance",
    "pass",
];

/// The checks as an aligned text table.
fn plain_table(checks: &[Check]) -> String {
    let rows: Vec<[String; 7]> = checks.iter().map(row).collect();
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(HEADER.to_vec());
    for r in &rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

/// The checks as a Markdown table, headed by the backend and the size.
fn markdown_table(summary: &Summary) -> String {
    let mut out = format!(
        "Backend {}, {} sizes, f64, {:.0} s in all.\n\n| {} |\n|{}\n",
        summary.backend,
        match summary.size {
            Size::Quick => "quick",
            Size::Full => "full",
        },
        summary.seconds,
        HEADER.join(" | "),
        "---|".repeat(HEADER.len())
    );
    for c in &summary.checks {
        // A bar inside a cell would end it.
        let cells: Vec<String> = row(c).iter().map(|c| c.replace('|', "\\|")).collect();
        out += &format!("| {} |\n", cells.join(" | "));
    }
    for r in &summary.cases {
        if let Some(e) = &r.error {
            out += &format!("\n{}: {e}\n", r.name);
        }
    }
    out
}
