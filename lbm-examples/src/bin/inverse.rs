//! Inverse problems solved through a differentiable fluid simulation.
//!
//! ```text
//! cargo run --release -p lbm-examples --bin inverse -- initial-state [--size N] [--steps T] ...
//! cargo run --release -p lbm-examples --bin inverse -- identify [--size N] [--steps T] ...
//! cargo run --release -p lbm-examples --bin inverse -- design [--size N] [--volume V] ...
//! ```
//!
//! Each subcommand runs on the GPU when there is one (`LBM_BACKEND=cpu|cuda` or
//! `--backend` choose), at a reduced size on the CPU, shows a progress bar, prints a
//! summary table and leaves PNG images, a loss plot and VTK files in `--out`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use lbm_examples::inverse::channel;
use lbm_examples::inverse::design::DesignProblem;
use lbm_examples::inverse::fields::{layer_xy, speed, vorticity};
use lbm_examples::inverse::identify::IdentifyProblem;
use lbm_examples::inverse::image_field;
use lbm_examples::inverse::initial_state::{HiddenPattern, InitialStateProblem};
use lbm_examples::output::{Centering, ColorMap, ColorRange, Figure, LossPlot, Panel, VtkImage};
use lbm_examples::progress::OptimisationBars;
use lbm_runtime::{
    Backend, Budget, Checkpointing, Grid, LatticeKind, Precision, Storage, Streaming,
};

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
    /// Identify a per-cell viscosity (relaxation-rate) field and a uniform body force in a
    /// channel from its velocity field (the hidden field: a blob of higher viscosity and
    /// one of lower).
    Identify(IdentifyArgs),
    /// Shape an obstacle of given area in a channel for the least pressure drop (a solid
    /// fraction per cell, partial bounce-back).
    Design(DesignArgs),
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
    /// Seed of the hidden field (of the starting design's jitter for `design`).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
struct InitialStateArgs {
    #[command(flatten)]
    common: Common,
    /// The lattice: d2q9 (a square) or d3q19 / d3q27 (a cube of vortex tubes, recovered
    /// with checkpointing under `--budget-gib`).
    #[arg(long, default_value = "d2q9")]
    lattice: LatticeKind,
    /// Cells along each side (default: 256 on a GPU and 64 on the CPU in 2D; 96 and 24 in
    /// 3D).
    #[arg(long)]
    size: Option<usize>,
    /// Steps between the initial state and the observation (default: 800 on a GPU and 300
    /// on the CPU in 2D; 500 and 200 in 3D).
    #[arg(long)]
    steps: Option<usize>,
    /// Memory for the states of each backward sweep, in GiB (default: store-all in 2D; 4
    /// on a GPU and 0.25 on the CPU in 3D).
    #[arg(long)]
    budget_gib: Option<f64>,
    /// L-BFGS iterations.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// BGK relaxation rate, in (0, 2).
    #[arg(long, default_value_t = 1.9)]
    omega: f64,
    /// A picture (PNG or JPEG) to hide instead of the vortex face: its brightness is the
    /// hidden flow's stream function, so the flow runs along its outlines.
    #[arg(long, value_name = "FILE")]
    hidden_image: Option<PathBuf>,
    /// Width of the blur that smooths the picture's edges, in cells (default: a 64th of
    /// the grid, at least 1.5).
    #[arg(long)]
    image_blur: Option<f64>,
    /// How populations are kept: compute (in `--precision`), f16 or bf16 (16 bits, with
    /// `--precision f32`).
    #[arg(long, default_value = "compute")]
    storage: Storage,
    /// Stream in place (one state instead of two for a running simulation).
    #[arg(long)]
    in_place: bool,
}

#[derive(clap::Args)]
struct IdentifyArgs {
    #[command(flatten)]
    common: Common,
    /// Cells across the channel, walls included; the channel is three times as long
    /// (default: 130 on a GPU, 34 on the CPU).
    #[arg(long)]
    size: Option<usize>,
    /// Steps from the developed flow to the observation (default: 2000 on a GPU, 400 on
    /// the CPU).
    #[arg(long)]
    steps: Option<usize>,
    /// L-BFGS iterations.
    #[arg(long, default_value_t = 100)]
    iterations: usize,
}

#[derive(clap::Args)]
struct DesignArgs {
    #[command(flatten)]
    common: Common,
    /// Cells across the channel, walls included; the channel is three times as long
    /// (default: 98 on a GPU, 34 on the CPU).
    #[arg(long)]
    size: Option<usize>,
    /// Steps of each gradient run (default: 5000 on a GPU, 600 on the CPU).
    #[arg(long)]
    steps: Option<usize>,
    /// L-BFGS iterations, shared by the rounds of the augmented Lagrangian (default: 160
    /// on a GPU, 80 on the CPU).
    #[arg(long)]
    iterations: Option<usize>,
    /// Solid volume to place, as a fraction of the design region.
    #[arg(long, default_value_t = 0.2)]
    volume: f64,
    /// Rounds of the augmented Lagrangian.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
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

fn create_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("could not create the output folder {}: {e}", dir.display()).into())
}

fn initial_state(args: &InitialStateArgs) -> Result<(), Failure> {
    let backend = backend(args.common.backend)?;
    let three_d = args.lattice.d() == 3;
    let mut problem = if three_d {
        InitialStateProblem::for_backend_3d(backend)
    } else {
        InitialStateProblem::for_backend(backend)
    };
    problem.lattice = args.lattice;
    problem.size = args.size.unwrap_or(problem.size);
    problem.steps = args.steps.unwrap_or(problem.steps);
    problem.omega = args.omega;
    problem.seed = args.common.seed;
    problem.precision = args.common.precision;
    problem.storage = args.storage;
    if args.in_place {
        problem.streaming = Streaming::InPlace;
    }
    if let Some(path) = &args.hidden_image {
        let n = problem.size;
        let blur = args.image_blur.unwrap_or((n as f64 / 64.0).max(1.5));
        if !(blur.is_finite() && blur > 0.0) {
            return Err(format!("--image-blur {blur}: give a positive width in cells").into());
        }
        problem.hidden =
            HiddenPattern::StreamFunction(image_field::stream_function(path, n, n, blur)?);
    }
    if let Some(gib) = args.budget_gib {
        if !(gib.is_finite() && gib > 0.0) {
            return Err(format!("--budget-gib {gib}: give a positive number of GiB").into());
        }
        problem.checkpointing =
            Checkpointing::Budget(Budget::bytes((gib * (1u64 << 30) as f64) as usize));
    }
    let out = &args.common.out;
    create_dir(out)?;
    let n = problem.size;
    println!(
        "initial-state recovery: {} {} periodic, BGK omega {}, {} steps to the observation, \
         {} on the {}, backward sweeps with {:?}",
        args.lattice,
        if three_d {
            format!("{n}x{n}x{n}")
        } else {
            format!("{n}x{n}")
        },
        problem.omega,
        problem.steps,
        match problem.storage {
            Storage::Compute => problem.precision.name().to_string(),
            storage => format!("{} with {storage} states", problem.precision.name()),
        },
        backend.name(),
        problem.checkpointing
    );

    let started = Instant::now();
    let obs = problem.observe()?;
    let bars = OptimisationBars::new(args.iterations);
    problem.progress = bars.step_progress();
    let bar = &bars.iterations;
    let recovery = problem.recover(&obs, args.iterations, |it, mlups| {
        bar.set_position(it.iteration as u64);
        bar.set_message(format!(
            "loss {:.3e}  |grad| {:.2e}  {mlups:.0} MLUPS",
            it.loss, it.gradient_norm
        ));
    })?;
    bars.finish();
    let seconds = started.elapsed().as_secs_f64();

    // In 3D, the pictures show the layer z = 0, where the tubes are strongest.
    let grid = &obs.grid;
    let plane = Grid::new_2d(LatticeKind::D2Q9, n, n)?;
    let layer = |u: &[f64]| {
        if three_d {
            layer_xy(grid, u, 0)
        } else {
            u.to_vec()
        }
    };
    let (w_true, w_obs, w_rec) = (
        vorticity(&plane, &layer(&obs.truth)),
        vorticity(&plane, &layer(&obs.observed)),
        vorticity(&plane, &layer(&recovery.recovered)),
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
            "vorticity{}: hidden initial field, its observation after {} steps, the recovered \
             initial field (relative error {:.1}%), and the recovery's error",
            if three_d {
                " (z component, layer z = 0)"
            } else {
                ""
            },
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
    let d = args.lattice.d();
    let image_data = VtkImage::new(grid.dims(), Centering::Cell)?
        .vector("u_hidden", &obs.truth, d)?
        .vector("u_observed", &obs.observed, d)?
        .vector("u_recovered", &recovery.recovered, d)?
        .scalar("speed_recovered", &speed(&recovery.recovered, d))?;
    let image_data = if three_d {
        image_data
    } else {
        image_data
            .scalar("vorticity_hidden", &w_true)?
            .scalar("vorticity_recovered", &w_rec)?
    };
    image_data.write(&vtk)?;

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
    print_effort(&Effort {
        iterations: recovery.minimum.iterations,
        gradients: recovery.gradients,
        stopped: format!("{:?}", recovery.minimum.termination),
        gradient_seconds: recovery.gradient_seconds,
        seconds,
        mlups: recovery.mlups,
    });
    print_written(&[&image, &loss_png, &vtk]);
    Ok(())
}

fn identify(args: &IdentifyArgs) -> Result<(), Failure> {
    let backend = backend(args.common.backend)?;
    let mut problem = IdentifyProblem::for_backend(backend);
    problem.size = args.size.unwrap_or(problem.size);
    problem.steps = args.steps.unwrap_or(problem.steps);
    problem.seed = args.common.seed;
    problem.precision = args.common.precision;
    let out = &args.common.out;
    create_dir(out)?;
    println!(
        "parameter identification: D2Q9 channel {}x{}, Zou-He inlet (mean speed {}) and \
         outlet, nominal omega {}, {} steps from the developed flow to the observation, {} \
         on the {}",
        3 * problem.size,
        problem.size,
        problem.mean_speed,
        problem.omega0,
        problem.steps,
        problem.precision.name(),
        backend.name()
    );

    let started = Instant::now();
    let obs = problem.observe()?;
    let bars = OptimisationBars::new(args.iterations);
    problem.progress = bars.step_progress();
    let bar = &bars.iterations;
    let found = problem.identify(&obs, args.iterations, |it, mlups| {
        bar.set_position(it.iteration as u64);
        bar.set_message(format!(
            "loss {:.3e}  |grad| {:.2e}  {mlups:.0} MLUPS",
            it.loss, it.gradient_norm
        ));
    })?;
    bars.finish();
    let seconds = started.elapsed().as_secs_f64();

    let ch = &obs.channel;
    let [nx, ny] = ch.dims();
    let walls = ch.solid();
    let error: Vec<f64> = found
        .omega
        .iter()
        .zip(&obs.omega)
        .map(|(a, b)| a - b)
        .collect();
    let range = ColorRange::covering(&[&obs.omega, &found.omega], ColorMap::Viridis);
    let omega_panel = |title: &str, values| {
        let p = Panel::new(title, values, nx, ny).mask(walls);
        match range {
            Some(r) => p.range(r),
            None => p,
        }
    };
    // What the identification sees: how far the hidden parameters moved the developed
    // flow (the observation itself is nearly the Poiseuille profile).
    let change: Vec<f64> = obs
        .observed
        .iter()
        .zip(&obs.start_velocity)
        .map(|(a, b)| a - b)
        .collect();
    let change_speed = speed(&change, 2);
    let image = out.join("identify.png");
    Figure::new()
        .title(format!(
            "relaxation rate omega: hidden, recovered from the velocity after {} steps \
             ({:.1}% of the starting error left), and the error; force error {:.1}%",
            problem.steps,
            100.0 * found.omega_error_left,
            100.0 * found.force_error
        ))
        .panel(
            Panel::new(
                format!("|u_obs - u_start|, step {}", problem.steps),
                &change_speed,
                nx,
                ny,
            )
            .mask(walls),
        )
        .panel(omega_panel("hidden omega", &obs.omega))
        .panel(omega_panel("recovered omega", &found.omega))
        .panel(
            Panel::new("recovered - hidden (own scale)", &error, nx, ny)
                .color_map(ColorMap::Diverging)
                .mask(walls),
        )
        .write_png(&image)?;
    let loss_png = out.join("identify_loss.png");
    LossPlot::new("parameter identification: loss per L-BFGS iteration")
        .series("velocity mismatch + regularisation", &found.minimum.history)
        .labels("iteration", "loss")
        .write_png(&loss_png)?;
    let vtk = out.join("identify.vti");
    VtkImage::new([nx, ny, 1], Centering::Cell)?
        .scalar("omega_hidden", &obs.omega)?
        .scalar("omega_recovered", &found.omega)?
        .scalar("omega_error", &error)?
        .vector("u_start", &obs.start_velocity, 2)?
        .vector("u_observed", &obs.observed, 2)?
        .scalar("vorticity_observed", &channel::vorticity(ch, &obs.observed))?
        .write(&vtk)?;

    println!();
    println!("| quantity | value |");
    println!("|---|---|");
    println!(
        "| relative error of omega, recovered / starting guess | {:.2}% / {:.2}% |",
        100.0 * found.omega_error,
        100.0 * found.omega_start_error
    );
    println!(
        "| omega: share of the starting error left | {:.1}% |",
        100.0 * found.omega_error_left
    );
    println!(
        "| force, hidden -> recovered | ({:.3e}, {:.3e}) -> ({:.3e}, {:.3e}) |",
        obs.force[0], obs.force[1], found.force[0], found.force[1]
    );
    println!(
        "| relative error of the force | {:.2}% |",
        100.0 * found.force_error
    );
    let history = &found.minimum.history;
    let first = history.first().copied().unwrap_or(f64::NAN);
    println!(
        "| loss, first -> last (reduction) | {:.3e} -> {:.3e} ({:.0}x) |",
        first,
        found.minimum.loss,
        first / found.minimum.loss
    );
    print_effort(&Effort {
        iterations: found.minimum.iterations,
        gradients: found.gradients,
        stopped: format!("{:?}", found.minimum.termination),
        gradient_seconds: found.gradient_seconds,
        seconds,
        mlups: found.mlups,
    });
    print_written(&[&image, &loss_png, &vtk]);
    Ok(())
}

fn design(args: &DesignArgs) -> Result<(), Failure> {
    let backend = backend(args.common.backend)?;
    let mut problem = DesignProblem::for_backend(backend);
    problem.size = args.size.unwrap_or(problem.size);
    if let Some(steps) = args.steps {
        // The rounds' warm-ups develop the flow over the same time scale as the
        // gradients' runs: they scale together.
        problem.warmup = problem.warmup * steps / problem.steps.max(1);
        problem.steps = steps;
    }
    problem.volume = args.volume;
    problem.rounds = args.rounds;
    problem.seed = args.common.seed;
    problem.precision = args.common.precision;
    let out = &args.common.out;
    create_dir(out)?;
    println!(
        "design: D2Q9 channel {}x{}, Zou-He inlet (mean speed {}) and outlet, BGK omega {}, \
         solid {:.0}% of the design region, {}-step gradients, {} on the {}",
        3 * problem.size,
        problem.size,
        problem.mean_speed,
        problem.omega,
        100.0 * problem.volume,
        problem.steps,
        problem.precision.name(),
        backend.name()
    );

    let started = Instant::now();
    let setup = problem.setup()?;
    let disc = problem.disc(&setup);
    let (disc_drop, disc_velocity, _) = problem.developed(&setup, &disc)?;
    let iterations = args
        .iterations
        .unwrap_or(DesignProblem::iterations_for(backend));
    let bars = OptimisationBars::new(iterations);
    problem.progress = bars.step_progress();
    let bar = &bars.iterations;
    let design = problem.design(iterations, |p| {
        bar.set_position(p.iteration as u64);
        bar.set_message(format!(
            "round {}  loss {:.4e}  drop {:.3}  volume {:.3}  {:.0} MLUPS",
            p.round + 1,
            p.iterate.loss,
            p.pressure_drop,
            p.volume,
            p.mlups
        ));
    })?;
    bars.finish();
    let seconds = started.elapsed().as_secs_f64();

    let ch = &design.setup.channel;
    let [nx, ny] = ch.dims();
    let walls = ch.solid();
    let flow = speed(&design.velocity, 2);
    let disc_flow = speed(&disc_velocity, 2);
    // Inside a solid the populations bounce to and fro and their velocity means nothing:
    // the speed panels grey out the walls and every cell more solid than fluid.
    let mostly_solid =
        |s: &[f64]| -> Vec<bool> { walls.iter().zip(s).map(|(&w, &s)| w || s > 0.5).collect() };
    let (obstacle, disc_obstacle) = (
        mostly_solid(&design.solid),
        mostly_solid(&problem.field(&design.setup, &disc)),
    );
    let solid_range = ColorRange::Fixed { min: 0.0, max: 1.0 };
    let speed_range = ColorRange::covering(&[&flow, &disc_flow], ColorMap::Viridis);
    let speed_panel = |title: String, values, mask| {
        let p = Panel::new(title, values, nx, ny).mask(mask);
        match speed_range {
            Some(r) => p.range(r),
            None => p,
        }
    };
    let image = out.join("design.png");
    Figure::new()
        .title(format!(
            "solid fraction and speed: the optimised obstacle drops {:.3} of the empty \
             channel's pressure drop, a disc of the same area {:.3}",
            design.final_drop, disc_drop
        ))
        .panel(
            Panel::new("starting design", &design.initial, nx, ny)
                .range(solid_range)
                .mask(walls),
        )
        .panel(
            Panel::new("optimised solid fraction", &design.solid, nx, ny)
                .range(solid_range)
                .mask(walls),
        )
        .panel(speed_panel(
            format!("speed, optimised (drop {:.3})", design.final_drop),
            &flow,
            &obstacle,
        ))
        .panel(speed_panel(
            format!("speed, disc of the same area (drop {disc_drop:.3})"),
            &disc_flow,
            &disc_obstacle,
        ))
        .write_png(&image)?;
    let loss_png = out.join("design_loss.png");
    // The starting design holds the target volume to rounding (1e-16), which would
    // stretch the log axis over ten empty decades: such points are left out.
    let volume_error: Vec<f64> = design
        .volume_history
        .iter()
        .map(|&v| if v > 1e-9 { v } else { f64::NAN })
        .collect();
    LossPlot::new("design: loss per L-BFGS iteration (augmented Lagrangian rounds in a row)")
        .series("augmented Lagrangian", &design.history)
        .series("pressure drop / empty channel's", &design.drop_history)
        .series("|volume / target - 1|", &volume_error)
        .labels("iteration", "value")
        .write_png(&loss_png)?;
    let vtk = out.join("design.vti");
    let region: Vec<f64> = design
        .setup
        .in_region
        .iter()
        .map(|&b| b as u8 as f64)
        .collect();
    VtkImage::new([nx, ny, 1], Centering::Cell)?
        .scalar("solid", &design.solid)?
        .scalar("solid_initial", &design.initial)?
        .scalar("design_region", &region)?
        .vector("velocity", &design.velocity, 2)?
        .scalar("speed", &flow)?
        .scalar(
            "pressure",
            &design.density.iter().map(|r| r / 3.0).collect::<Vec<_>>(),
        )?
        .scalar("vorticity", &channel::vorticity(ch, &design.velocity))?
        .vector("velocity_disc", &disc_velocity, 2)?
        .write(&vtk)?;

    println!();
    println!("| quantity | value |");
    println!("|---|---|");
    println!(
        "| pressure drop over the empty channel's: starting design, disc, optimised | {:.3}, \
         {:.3}, {:.3} |",
        design.initial_drop, disc_drop, design.final_drop
    );
    println!(
        "| solid volume over the target | {:.4} (multiplier {:.3}) |",
        design.volume, design.multiplier
    );
    println!(
        "| design cells neither solid nor fluid (0.05 < s < 0.95) | {:.1}% |",
        100.0 * design.gray_share
    );
    let first = design.history.first().copied().unwrap_or(f64::NAN);
    let last = design.history.last().copied().unwrap_or(f64::NAN);
    println!("| loss, first -> last | {first:.4e} -> {last:.4e} |");
    print_effort(&Effort {
        iterations: design.history.len().saturating_sub(1),
        gradients: design.gradients,
        stopped: format!("{:?}", design.terminations),
        gradient_seconds: design.gradient_seconds,
        seconds,
        mlups: design.mlups,
    });
    print_written(&[&image, &loss_png, &vtk]);
    Ok(())
}

/// What a problem's optimisation cost, for the last rows of its table.
struct Effort {
    iterations: usize,
    gradients: usize,
    /// Why L-BFGS stopped (each round's reason, for a design in rounds).
    stopped: String,
    gradient_seconds: f64,
    seconds: f64,
    mlups: f64,
}

/// The rows every problem's table ends with: the optimiser's effort, where the time went,
/// and the simulation's throughput.
fn print_effort(effort: &Effort) {
    println!(
        "| L-BFGS iterations, gradient evaluations | {}, {} ({}) |",
        effort.iterations, effort.gradients, effort.stopped
    );
    println!(
        "| time in gradients, whole run | {:.1} s, {:.1} s |",
        effort.gradient_seconds, effort.seconds
    );
    println!("| simulation throughput | {:.0} MLUPS |", effort.mlups);
    println!();
}

/// The files a problem wrote, after its table.
fn print_written(paths: &[&Path]) {
    for path in paths {
        println!("wrote {}", path.display());
    }
}

fn main() -> ExitCode {
    lbm_examples::logging::init();
    let cli = Cli::parse();
    let result = match &cli.problem {
        Problem::InitialState(args) => initial_state(args),
        Problem::Identify(args) => identify(args),
        Problem::Design(args) => design(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
