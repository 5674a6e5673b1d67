//! Inverse problems solved through a differentiable fluid simulation.
//!
//! ```text
//! cargo run --release -p lbm-examples --bin inverse -- initial-state [--size N] [--steps T] ...
//! ```
//!
//! Each subcommand runs on the GPU when there is one (`LBM_BACKEND=cpu|cuda` or
//! `--backend` choose), at a reduced size on the CPU, shows a progress bar, prints a
//! summary table and leaves PNG images, a loss plot and VTK files in `--out`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use lbm_examples::inverse::fields::{speed, vorticity};
use lbm_examples::inverse::initial_state::InitialStateProblem;
use lbm_examples::output::{Centering, ColorMap, ColorRange, Figure, LossPlot, Panel, VtkImage};
use lbm_runtime::{Backend, Precision};

#[derive(Parser)]
#[command(about = "Inverse problems through a differentiable lattice Boltzmann simulation")]
struct Cli {
    #[command(subcommand)]
    problem: Problem,
}

#[derive(Subcommand)]
enum Problem {
    /// Recover the initial velocity field of a decaying 2D flow from its velocity T steps
    /// later (the hidden field: vortices drawing a face).
    InitialState(InitialStateArgs),
}

/// Where the simulation runs.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    /// The GPU when there is one, otherwise the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The GPU (an error without one).
    Cuda,
}

#[derive(clap::Args)]
struct Common {
    /// Where the simulation runs.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Precision of the simulation: f32 or f64.
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Folder for images, plots and VTK files (created if missing).
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Seed of the hidden field.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
struct InitialStateArgs {
    #[command(flatten)]
    common: Common,
    /// Cells along each side (default: 256 on a GPU, 64 on the CPU).
    #[arg(long)]
    size: Option<usize>,
    /// Steps between the initial state and the observation (default: 800 on a GPU, 300
    /// on the CPU).
    #[arg(long)]
    steps: Option<usize>,
    /// L-BFGS iterations.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// BGK relaxation rate, in (0, 2).
    #[arg(long, default_value_t = 1.9)]
    omega: f64,
}

type Failure = Box<dyn std::error::Error>;

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

fn progress_bar(iterations: usize) -> ProgressBar {
    let bar = ProgressBar::new(iterations as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} iterations  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("could not create the output folder {}: {e}", dir.display()).into())
}

fn initial_state(args: &InitialStateArgs) -> Result<(), Failure> {
    let backend = backend(args.common.backend)?;
    let mut problem = InitialStateProblem::for_backend(backend);
    problem.size = args.size.unwrap_or(problem.size);
    problem.steps = args.steps.unwrap_or(problem.steps);
    problem.omega = args.omega;
    problem.seed = args.common.seed;
    problem.precision = args.common.precision;
    let out = &args.common.out;
    create_dir(out)?;
    println!(
        "initial-state recovery: D2Q9 {0}x{0} periodic, BGK omega {1}, {2} steps to the \
         observation, {3} on the {4}",
        problem.size,
        problem.omega,
        problem.steps,
        problem.precision.name(),
        backend.name()
    );

    let started = Instant::now();
    let obs = problem.observe()?;
    let bar = progress_bar(args.iterations);
    let recovery = problem.recover(&obs, args.iterations, |it, mlups| {
        bar.set_position(it.iteration as u64);
        bar.set_message(format!(
            "loss {:.3e}  |grad| {:.2e}  {mlups:.0} MLUPS",
            it.loss, it.gradient_norm
        ));
    })?;
    bar.finish();
    let seconds = started.elapsed().as_secs_f64();

    let grid = &obs.grid;
    let n = problem.size;
    let (w_true, w_obs, w_rec) = (
        vorticity(grid, &obs.truth),
        vorticity(grid, &obs.observed),
        vorticity(grid, &recovery.recovered),
    );
    let w_err: Vec<f64> = w_rec.iter().zip(&w_true).map(|(a, b)| a - b).collect();
    let range = ColorRange::covering(&[&w_true, &w_obs, &w_rec], ColorMap::Diverging);
    let panel = |title: &str, values| {
        let p = Panel::new(title, values, n, n).color_map(ColorMap::Diverging);
        match range {
            Some(r) => p.range(r),
            None => p,
        }
    };
    let image = out.join("initial_state.png");
    Figure::new()
        .title(format!(
            "vorticity: hidden initial field, its observation after {} steps, the recovered \
             initial field (relative error {:.1}%), and the recovery's error",
            problem.steps,
            100.0 * recovery.relative_error
        ))
        .panel(panel("hidden initial", &w_true))
        .panel(panel(&format!("observed, step {}", problem.steps), &w_obs))
        .panel(panel("recovered initial", &w_rec))
        .panel(
            Panel::new("recovered - hidden (own scale)", &w_err, n, n)
                .color_map(ColorMap::Diverging),
        )
        .write_png(&image)?;
    let loss_png = out.join("initial_state_loss.png");
    LossPlot::new("initial-state recovery: loss per L-BFGS iteration")
        .series("velocity mismatch", &recovery.minimum.history)
        .labels("iteration", "loss")
        .write_png(&loss_png)?;
    let vtk = out.join("initial_state.vti");
    VtkImage::new([n, n, 1], Centering::Cell)?
        .vector("u_hidden", &obs.truth, 2)?
        .vector("u_observed", &obs.observed, 2)?
        .vector("u_recovered", &recovery.recovered, 2)?
        .scalar("vorticity_hidden", &w_true)?
        .scalar("vorticity_recovered", &w_rec)?
        .scalar("speed_recovered", &speed(&recovery.recovered, 2))?
        .write(&vtk)?;

    println!();
    println!("| quantity | value |");
    println!("|---|---|");
    println!(
        "| relative error of the recovered initial velocity | {:.2}% |",
        100.0 * recovery.relative_error
    );
    println!(
        "| the same for the observation taken as the initial field | {:.2}% |",
        100.0 * recovery.observation_error
    );
    let history = &recovery.minimum.history;
    println!(
        "| loss, first -> last | {:.3e} -> {:.3e} |",
        history.first().copied().unwrap_or(f64::NAN),
        recovery.minimum.loss
    );
    println!(
        "| L-BFGS iterations, gradient evaluations | {}, {} ({:?}) |",
        recovery.minimum.iterations, recovery.gradients, recovery.minimum.termination
    );
    println!(
        "| time in gradients, whole run | {:.1} s, {:.1} s |",
        recovery.gradient_seconds, seconds
    );
    println!("| simulation throughput | {:.0} MLUPS |", recovery.mlups);
    println!();
    for path in [&image, &loss_png, &vtk] {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.problem {
        Problem::InitialState(args) => initial_state(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
