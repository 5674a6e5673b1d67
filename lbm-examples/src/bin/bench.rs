//! The benchmark: kernel-level and user-level throughput in one run, as a table on standard
//! output and as JSON.
//!
//! ```text
//! cargo xtask bench [--quick] [--json PATH] [--steps N] [--sweep] [--tune]
//! cargo xtask bench --gpus N [--quick]
//! ```
//!
//! - Kernel level (GPU): forward and adjoint MLUPS of the BGK step from CUDA events around
//!   the launches alone, beside the copy roofline of a device-to-device copy of one state
//!   measured in the same run: `roof MLUPS = bandwidth / (2 Q sizeof(real))`. Without a
//!   GPU, the wall clock around the CPU backend's forward and adjoint steps on states in
//!   memory, beside a parallel host copy (the faster of `memcpy` and one through stores
//!   past the caches).
//! - User level: what a caller of `Simulation` sees, timed on the wall clock around the
//!   public calls: the per-call overhead of `run` and `gradient` (wall time minus the
//!   kernel time of the same steps and minus the one state copy a gradient returns), the
//!   whole gradient's MLUPS (`cells * steps / seconds`) beside the MLUPS its kernels alone
//!   would allow (forward steps times the recompute factor plus adjoint steps), and the
//!   peak device memory (the memory pool's high-water mark).
//! - An optimisation-style loop: gradient calls with a parameter update between them, and
//!   the share of the loop's time spent in kernels.
//!
//! `--quick` runs small sizes on the CPU (CI runs it so the program never rots); user-level
//! figures are then wall-clock only.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use lbm_examples::inverse::channel::Channel;
use lbm_examples::inverse::design::gray_channel_step;
use lbm_runtime::cuda::{autotune, profile};
use lbm_runtime::{
    cpu_profile, ops, Backend, Budget, Checkpointing, Grid, LatticeKind, Objective, Precision,
    Result, Simulation, Step, Storage, Streaming,
};
use rayon::prelude::*;
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Kernel-level and user-level benchmark of the BGK step and its gradient")]
struct Args {
    /// Small sizes on the CPU, in seconds (what CI runs).
    #[arg(long)]
    quick: bool,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "target/bench.json")]
    json: PathBuf,
    /// Forward steps per kernel timing (half as many adjoint steps).
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Also time the step kernels under every forced register cap: of the sweep's cases
    /// (BGK on each lattice, TRT, KBC) those `--case` names, or all of them.
    #[arg(long)]
    sweep: bool,
    /// Before timing each kernel row, time every register bound of its step kernels on
    /// this GPU and record the fastest (the engine compiles those kernels for it from then
    /// on, in every process, until the kernel, the card or the toolchain changes).
    #[arg(long)]
    tune: bool,
    /// Only the kernel-level rows (what a profiler run wants).
    #[arg(long)]
    kernels_only: bool,
    /// Only the kernel rows whose case contains this text (e.g. "D3Q19 128").
    #[arg(long, value_name = "TEXT")]
    case: Option<String>,
    /// Instead of the usual rows, how a simulation split over this many GPUs scales
    /// against one (weak and strong, forward and gradient); with `--quick` or without a
    /// GPU, virtual CPU devices at small sizes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(2..=64))]
    gpus: Option<u16>,
    /// Without a GPU: the sides of the D2Q9 square and the D3Q19 cube of the kernel rows
    /// (grids larger than the last-level cache measure memory rather than cache).
    #[arg(long, value_name = "D2,D3", value_delimiter = ',')]
    cpu_sides: Option<Vec<usize>>,
    /// Without a GPU: also the f64 kernel rows.
    #[arg(long)]
    cpu_f64: bool,
}

/// Kernel-level figures of one grid.
#[derive(Serialize, Debug, Clone)]
struct KernelRow {
    case: String,
    precision: &'static str,
    forward_mlups: f64,
    adjoint_mlups: f64,
    copy_gb_per_s: f64,
    roofline_mlups: f64,
    forward_of_roofline: f64,
    adjoint_over_forward_time: f64,
}

/// User-level figures of one gradient case.
#[derive(Serialize, Debug)]
struct UserRow {
    case: String,
    steps: usize,
    checkpointing: String,
    /// Wall time of `run(1)` minus one forward kernel, milliseconds.
    run_overhead_ms: Option<f64>,
    /// Wall time of a one-step `gradient` minus its kernels and its result's copy, ms.
    gradient_overhead_ms: Option<f64>,
    /// Wall time of one state copy to the host (f64, cell-major), ms.
    state_download_ms: f64,
    gradient_seconds: f64,
    gradient_mlups: f64,
    /// The same with `parameter_gradient` (no initial-state gradient copied out).
    parameter_gradient_mlups: f64,
    /// The MLUPS the kernels alone allow for this schedule.
    kernel_bound_mlups: Option<f64>,
    /// `gradient_mlups / kernel_bound_mlups`.
    of_kernel_bound: Option<f64>,
    recompute_factor: f64,
    /// States held at once by the checkpointing driver, in bytes.
    state_peak_bytes: usize,
    /// High-water mark of device memory during the gradient (GPU).
    device_peak_bytes: Option<u64>,
}

/// The optimisation-style loop.
#[derive(Serialize, Debug)]
struct LoopRow {
    case: String,
    iterations: usize,
    steps: usize,
    seconds: f64,
    seconds_per_iteration: f64,
    gradient_mlups: f64,
    /// Kernel time over wall time (GPU).
    in_kernels: Option<f64>,
}

#[derive(Serialize, Debug)]
struct Report {
    device: String,
    backend: &'static str,
    quick: bool,
    kernels: Vec<KernelRow>,
    user: Vec<UserRow>,
    optimisation_loop: Option<LoopRow>,
    builds: Option<BuildRow>,
}

/// Seconds to get a simulation's kernels: compiled, loaded from the disk cache, or
/// already in the process.
#[derive(Serialize, Debug)]
struct BuildRow {
    case: String,
    /// `Simulation::new` with an empty cache: the forward kernel compiled (twice: once
    /// unbounded to size its register cap).
    cold_forward_s: f64,
    /// The first one-step `parameter_gradient` with an empty cache: the adjoint and the
    /// objective's kernels compiled.
    cold_gradient_s: f64,
    /// The same two from the disk cache, in a process that has not loaded them.
    disk_forward_s: f64,
    /// See `disk_forward_s`.
    disk_gradient_s: f64,
    /// `Simulation::new` again in the same process.
    in_process_forward_s: f64,
}

/// Times the kernel builds of BGK on `grid` against an empty cache folder, then from it.
fn build_row(name: &str, grid: &Grid) -> Result<BuildRow> {
    let dir = tempfile::tempdir().map_err(|e| lbm_runtime::LbmError::Cuda(e.to_string()))?;
    // Single-threaded here: nothing reads the environment concurrently.
    std::env::set_var("LBM_CACHE_DIR", dir.path());
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let f0 = initial(grid)?;
    let timed = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let start = Instant::now();
        f()?;
        Ok(start.elapsed().as_secs_f64())
    };
    let builds = || -> Result<(f64, f64)> {
        let mut sim = None;
        let forward = timed(&mut || {
            sim = Some(Simulation::new(
                grid.clone(),
                &bgk(1.8),
                Precision::F32,
                Backend::Cuda,
            )?);
            Ok(())
        })?;
        let mut sim = sim.expect("built above");
        sim.set_populations(&f0)?;
        let gradient = timed(&mut || {
            sim.parameter_gradient(&objective, 1, Checkpointing::StoreAll)
                .map(|_| ())
        })?;
        Ok((forward, gradient))
    };
    let (cold_forward_s, cold_gradient_s) = builds()?;
    lbm_runtime::cuda::cache::forget_loaded_modules();
    let (disk_forward_s, disk_gradient_s) = builds()?;
    let in_process_forward_s = timed(&mut || {
        Simulation::new(grid.clone(), &bgk(1.8), Precision::F32, Backend::Cuda).map(|_| ())
    })?;
    std::env::remove_var("LBM_CACHE_DIR");
    Ok(BuildRow {
        case: name.to_string(),
        cold_forward_s,
        cold_gradient_s,
        disk_forward_s,
        disk_gradient_s,
        in_process_forward_s,
    })
}

/// An equilibrium with a gentle shear wave.
fn initial(grid: &Grid) -> Result<Vec<f64>> {
    let (n, d) = (grid.cells(), grid.lattice().d());
    let ny = grid.dims()[1] as f64;
    let rho = vec![1.0; n];
    let mut u = vec![0.0; n * d];
    for c in 0..n {
        let y = grid.coords(c)[1] as f64;
        u[c * d] = 0.05 * (2.0 * std::f64::consts::PI * y / ny).sin();
    }
    lbm_runtime::equilibrium_state(grid, &rho, &u)
}

fn bgk(omega: f64) -> Step {
    Step::new(&ops::bgk::INFO).uniform("omega", [omega])
}

fn bytes_of(p: Precision) -> usize {
    match p {
        Precision::F32 => 4,
        Precision::F64 => 8,
    }
}

fn mlups(cells: usize, steps: usize, seconds: f64) -> f64 {
    cells as f64 * steps as f64 / seconds / 1e6
}

/// Seconds per step of the forward and adjoint kernels alone.
#[derive(Clone, Copy, Debug)]
struct KernelTimes {
    forward: f64,
    adjoint: f64,
}

fn kernel_row(
    name: &str,
    grid: &Grid,
    p: Precision,
    run: (usize, bool),
) -> Result<(KernelRow, KernelTimes)> {
    let f0 = initial(grid)?;
    let plain = (p, Storage::Compute, Streaming::TwoStates);
    collision_row(name, grid, &bgk(1.8), plain, run, &f0)
}

/// [`kernel_row`] for any step, storage and streaming, from the state `f0`: `steps`
/// forward steps a timing, and with `tune` every register bound timed first and the
/// fastest recorded (`cuda::autotune`). The roofline counts the stored bytes: two per
/// population with 16-bit storage.
fn collision_row(
    name: &str,
    grid: &Grid,
    step: &Step,
    (p, storage, streaming): (Precision, Storage, Streaming),
    (steps, tune): (usize, bool),
    f0: &[f64],
) -> Result<(KernelRow, KernelTimes)> {
    if tune {
        let measured = autotune::measure_bounds(grid, step, (p, storage), streaming, f0, steps)?;
        for m in measured {
            let timings: Vec<String> = m
                .timings
                .iter()
                .map(|(k, mlups)| {
                    format!(
                        "{}: {mlups:.0} ({}r/{}B)",
                        k.min_blocks, k.registers, k.local_bytes
                    )
                })
                .collect();
            println!(
                "  tuned {name} {}: rule {}, fastest {} [{}]",
                m.kernel,
                m.rule,
                m.fastest,
                timings.join(", ")
            );
        }
    }
    let fwd = profile::time_forward(grid, step, (p, storage), streaming, f0, steps)?;
    let half_steps = (steps / 2).max(1);
    let adj = profile::time_adjoint(grid, step, (p, storage), streaming, f0, half_steps)?;
    let q = grid.lattice().q();
    let bytes = storage.bytes(p);
    let state = grid.cells() * q * bytes;
    let bw = profile::copy_bandwidth(state, 20)?;
    let roof = bw * 1e9 / (2.0 * (q * bytes) as f64) / 1e6;
    let times = KernelTimes {
        forward: fwd.seconds / fwd.steps as f64,
        adjoint: adj.seconds / adj.steps as f64,
    };
    let row = KernelRow {
        case: name.to_string(),
        precision: p.name(),
        forward_mlups: fwd.mlups(),
        adjoint_mlups: adj.mlups(),
        copy_gb_per_s: bw,
        roofline_mlups: roof,
        forward_of_roofline: fwd.mlups() / roof,
        adjoint_over_forward_time: times.adjoint / times.forward,
    };
    Ok((row, times))
}

/// Mean wall seconds of `f` over `reps` calls after one untimed call.
fn wall(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let start = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    Ok(start.elapsed().as_secs_f64() / reps as f64)
}

/// One user-level case: `gradient` over `steps` steps of BGK on `grid`, f32.
fn user_row(
    name: &str,
    grid: &Grid,
    backend: Backend,
    steps: usize,
    (label, checkpointing): (&str, Checkpointing),
    kernels: Option<KernelTimes>,
) -> Result<UserRow> {
    let mut sim = Simulation::new(grid.clone(), &bgk(1.8), Precision::F32, backend)?;
    sim.set_populations(&initial(grid)?)?;
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let gpu = backend == Backend::Cuda;

    let state_download = wall(5, || sim.populations().map(drop))?;
    let run_one = wall(20, || sim.run(1))?;
    let gradient_one = wall(10, || {
        sim.gradient(&objective, 1, Checkpointing::StoreAll)
            .map(drop)
    })?;
    if gpu {
        profile::reset_peak_memory()?;
    }
    let start = Instant::now();
    let g = sim.gradient(&objective, steps, checkpointing)?;
    let seconds = start.elapsed().as_secs_f64();
    let device_peak_bytes = if gpu {
        Some(profile::peak_memory()?)
    } else {
        None
    };
    let start = Instant::now();
    sim.parameter_gradient(&objective, steps, checkpointing)?;
    let parameter_gradient_mlups = mlups(grid.cells(), steps, start.elapsed().as_secs_f64());
    let kernel_bound =
        kernels.map(|k| g.report.forward_steps as f64 * k.forward + steps as f64 * k.adjoint);
    let gradient_mlups = mlups(grid.cells(), steps, seconds);
    let kernel_bound_mlups = kernel_bound.map(|s| mlups(grid.cells(), steps, s));
    Ok(UserRow {
        case: name.to_string(),
        steps,
        checkpointing: label.to_string(),
        run_overhead_ms: kernels.map(|k| 1e3 * (run_one - k.forward)),
        gradient_overhead_ms: kernels
            .map(|k| 1e3 * (gradient_one - k.forward - k.adjoint - state_download)),
        state_download_ms: 1e3 * state_download,
        gradient_seconds: seconds,
        gradient_mlups,
        parameter_gradient_mlups,
        kernel_bound_mlups,
        of_kernel_bound: kernel_bound_mlups.map(|k| gradient_mlups / k),
        recompute_factor: g.report.recompute_factor(),
        state_peak_bytes: g.report.peak_bytes(),
        device_peak_bytes,
    })
}

/// `iterations` gradient calls with an update of omega between them.
fn optimisation_loop(
    name: &str,
    grid: &Grid,
    backend: Backend,
    steps: usize,
    iterations: usize,
    kernels: Option<KernelTimes>,
) -> Result<LoopRow> {
    let mut sim = Simulation::new(grid.clone(), &bgk(1.5), Precision::F32, backend)?;
    sim.set_populations(&initial(grid)?)?;
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let mut omega = 1.5;
    let mut forward_steps = 0;
    let start = Instant::now();
    for _ in 0..iterations {
        let g = sim.parameter_gradient(&objective, steps, Checkpointing::StoreAll)?;
        forward_steps += g.report.forward_steps;
        let d = g.param("omega").map_or(0.0, |v| v.flat()[0]);
        // A small step against the gradient, kept inside (0, 2).
        omega = (omega - 1e-6 * d.signum()).clamp(0.5, 1.95);
        sim.set_uniform("omega", [omega])?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let in_kernels = kernels.map(|k| {
        (forward_steps as f64 * k.forward + (iterations * steps) as f64 * k.adjoint) / seconds
    });
    Ok(LoopRow {
        case: name.to_string(),
        iterations,
        steps,
        seconds,
        seconds_per_iteration: seconds / iterations as f64,
        gradient_mlups: mlups(grid.cells(), steps * iterations, seconds),
        in_kernels,
    })
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn print_report(r: &Report) {
    println!("device: {} ({} backend)", r.device, r.backend);
    if !r.kernels.is_empty() {
        println!(
            "\nkernels (BGK, {}):",
            if r.backend == "cuda" {
                "CUDA events around the launches"
            } else {
                "wall clock of steps on states in memory; roofline from a parallel host copy"
            }
        );
        println!(
            "| case         | real | fwd MLUPS | adj MLUPS | copy GB/s | roof MLUPS | fwd/roof | adj/fwd |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for k in &r.kernels {
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0}% | {:.2} |",
                k.case,
                k.precision,
                k.forward_mlups,
                k.adjoint_mlups,
                k.copy_gb_per_s,
                k.roofline_mlups,
                100.0 * k.forward_of_roofline,
                k.adjoint_over_forward_time
            );
        }
    }
    println!("\nthrough the API (f32 BGK, kinetic-energy loss, wall clock):");
    println!(
        "| case | steps | checkpointing | run ovh ms | grad ovh ms | copy ms | grad s | grad MLUPS | param-only MLUPS | kernel-bound MLUPS | of bound | recompute | state peak GB | device peak GB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for u in &r.user {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.3} | {:.0} | {:.0} | {} | {} | {:.2} | {:.2} | {} |",
            u.case,
            u.steps,
            u.checkpointing,
            fmt(u.run_overhead_ms, 3),
            fmt(u.gradient_overhead_ms, 3),
            u.state_download_ms,
            u.gradient_seconds,
            u.gradient_mlups,
            u.parameter_gradient_mlups,
            fmt(u.kernel_bound_mlups, 0),
            fmt(u.of_kernel_bound.map(|v| 100.0 * v), 0),
            u.recompute_factor,
            u.state_peak_bytes as f64 / 1e9,
            fmt(u.device_peak_bytes.map(|b| b as f64 / 1e9), 2),
        );
    }
    if let Some(b) = &r.builds {
        println!(
            "\nkernel builds, {}: forward {:.2} s cold, {:.3} s from the disk cache, {:.4} s in \
             process; gradient kernels {:.2} s cold, {:.3} s from the disk cache",
            b.case,
            b.cold_forward_s,
            b.disk_forward_s,
            b.in_process_forward_s,
            b.cold_gradient_s,
            b.disk_gradient_s
        );
    }
    if let Some(l) = &r.optimisation_loop {
        println!(
            "\noptimisation loop: {} x gradient over {} steps of {}: {:.2} s ({:.3} s each), {:.0} MLUPS, {} of the time in kernels",
            l.iterations,
            l.steps,
            l.case,
            l.seconds,
            l.seconds_per_iteration,
            l.gradient_mlups,
            l.in_kernels
                .map_or("-".into(), |v| format!("{:.0}%", 100.0 * v))
        );
    }
}

/// Device memory of a running D3Q19 simulation with each way of keeping its state: the
/// high-water mark of a `Simulation` made, set and run.
fn simulation_memory(grid: &Grid, steps: usize) -> Result<()> {
    println!(
        "\ndevice memory of a running simulation ({} cells, f32 BGK):",
        grid.cells()
    );
    for (storage, streaming) in [
        (Storage::Compute, Streaming::TwoStates),
        (Storage::Compute, Streaming::InPlace),
        (Storage::F16, Streaming::TwoStates),
        (Storage::F16, Streaming::InPlace),
    ] {
        profile::reset_peak_memory()?;
        let mut sim = Simulation::new(grid.clone(), &bgk(1.8), Precision::F32, Backend::Cuda)?
            .with_storage(storage)?
            .with_streaming(streaming)?;
        sim.set_populations(&initial(grid)?)?;
        profile::reset_peak_memory()?;
        sim.run(steps)?;
        let peak = profile::peak_memory()?;
        println!(
            "  {storage} storage, {streaming}: {:.2} GB while running",
            peak as f64 / 1e9
        );
    }
    Ok(())
}

/// Forward and adjoint MLUPS with every forced register cap.
fn sweep_caps(grids: &[(&str, &Grid, Step)], steps: usize) -> Result<()> {
    println!("\nregister caps (min blocks per multiprocessor), MLUPS, registers and spill bytes:");
    let describe = |kernels: &[profile::KernelInfo]| {
        kernels
            .iter()
            .map(|k| format!("{} {}r/{}B", k.name, k.registers, k.local_bytes))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, grid, step) in grids {
        let f0 = initial(grid)?;
        let numbers = [
            (Precision::F32, Storage::Compute),
            (Precision::F64, Storage::Compute),
            (Precision::F32, Storage::F16),
        ];
        for (p, storage) in numbers {
            // What the rule in `cuda::tune` picks, then every forced cap.
            for m in [None, Some(1), Some(2), Some(3), Some(4), Some(6)] {
                // Single-threaded here: nothing reads the environment concurrently.
                match m {
                    Some(m) => {
                        std::env::set_var(lbm_runtime::cuda::tune::MIN_BLOCKS_ENV, m.to_string())
                    }
                    None => std::env::remove_var(lbm_runtime::cuda::tune::MIN_BLOCKS_ENV),
                }
                let two = Streaming::TwoStates;
                let fwd = profile::time_forward(grid, step, (p, storage), two, &f0, steps)?;
                let half_steps = (steps / 2).max(1);
                let adj = profile::time_adjoint(grid, step, (p, storage), two, &f0, half_steps)?;
                let kernels = profile::kernel_info(grid, step, p, storage)?;
                let label = m.map_or("the rule's pick".to_string(), |m| format!("min blocks {m}"));
                println!(
                    "  {name} {} {storage} storage {label}: fwd {:.0}, adj {:.0} ({})",
                    p.name(),
                    fwd.mlups(),
                    adj.mlups(),
                    describe(&kernels)
                );
            }
        }
    }
    std::env::remove_var(lbm_runtime::cuda::tune::MIN_BLOCKS_ENV);
    Ok(())
}

const GB: usize = 1 << 30;

fn gpu_report(args: &Args, device: String) -> Result<Report> {
    let d2 = Grid::new_2d(LatticeKind::D2Q9, 1024, 1024)?;
    let d2_loop = Grid::new_2d(LatticeKind::D2Q9, 512, 512)?;
    let d3 = Grid::new_3d(LatticeKind::D3Q19, 128, 128, 128)?;
    let d3_big = Grid::new_3d(LatticeKind::D3Q19, 256, 256, 256)?;
    // The sizes of the kernel-speed issue's table, beside XLB's figures.
    let d2_big = Grid::new_2d(LatticeKind::D2Q9, 4096, 4096)?;
    let d27 = Grid::new_3d(LatticeKind::D3Q27, 192, 192, 192)?;
    // First, before any kernel of these sizes is in the process.
    let builds = (!args.kernels_only && args.case.is_none())
        .then(|| build_row("D3Q19 96^3", &Grid::new_3d(LatticeKind::D3Q19, 96, 96, 96)?))
        .transpose()?;
    let steps = args.steps;
    let cases = [
        ("D2Q9 1024^2", &d2, Precision::F32),
        ("D2Q9 512^2", &d2_loop, Precision::F32),
        ("D2Q9 4096^2", &d2_big, Precision::F32),
        ("D3Q19 128^3", &d3, Precision::F32),
        ("D3Q19 256^3", &d3_big, Precision::F32),
        ("D3Q27 192^3", &d27, Precision::F32),
        ("D2Q9 1024^2", &d2, Precision::F64),
        ("D3Q19 128^3", &d3, Precision::F64),
    ];
    let wanted = |name: &str| args.case.as_deref().is_none_or(|c| name.contains(c));
    let mut kernels = Vec::new();
    let mut times = Vec::new();
    for (name, grid, p) in cases {
        if wanted(name) {
            let (row, t) = kernel_row(name, grid, p, (steps, args.tune))?;
            kernels.push(row);
            times.push((name, p, t));
        }
    }
    // Other collisions on the same grid: the targets hold for them too.
    let others = [
        (
            "D3Q19 128^3 TRT",
            Step::new(&ops::trt::INFO)
                .uniform("omega", [1.8])
                .uniform("magic", [0.25]),
        ),
        (
            "D3Q19 128^3 KBC",
            Step::new(&ops::kbc::INFO).uniform("omega", [1.8]),
        ),
    ];
    for (name, step) in &others {
        if wanted(name) {
            let f0 = initial(&d3)?;
            let numbers = (Precision::F32, Storage::Compute, Streaming::TwoStates);
            kernels.push(collision_row(name, &d3, step, numbers, (steps, args.tune), &f0)?.0);
        }
    }
    // 16-bit storage (f32 arithmetic on states of half the bytes) and in-place streaming
    // (one state instead of two).
    let (two, aa) = (Streaming::TwoStates, Streaming::InPlace);
    let states = [
        ("D2Q9 4096^2 f16 storage", &d2_big, Storage::F16, two),
        ("D3Q19 256^3 f16 storage", &d3_big, Storage::F16, two),
        ("D3Q19 256^3 bf16 storage", &d3_big, Storage::BF16, two),
        ("D3Q27 192^3 f16 storage", &d27, Storage::F16, two),
        ("D2Q9 4096^2 in-place", &d2_big, Storage::Compute, aa),
        ("D3Q19 256^3 in-place", &d3_big, Storage::Compute, aa),
        (
            "D3Q19 256^3 f16 storage in-place",
            &d3_big,
            Storage::F16,
            aa,
        ),
    ];
    for (name, grid, storage, streaming) in states {
        if wanted(name) {
            let f0 = initial(grid)?;
            let numbers = (Precision::F32, storage, streaming);
            kernels.push(collision_row(name, grid, &bgk(1.8), numbers, (steps, args.tune), &f0)?.0);
        }
    }
    // A Zou-He channel with walls and a gray (partial bounce-back) solid field: the step
    // of the design problem, on a large grid.
    let name = "D2Q9 4096x1024 Zou-He channel";
    if wanted(name) {
        let channel = Channel::new(4096, 1024, 0.05)?;
        let step = Step::new(&gray_channel_step::INFO)
            .int_field("tag", channel.tags().to_vec())
            .field("solid", vec![0.0; channel.grid().cells()])
            .uniform("omega", [1.8])
            .field("u_in", channel.poiseuille())
            .uniform("rho_out", [1.0]);
        let f0 = channel.poiseuille_state()?;
        let grid = channel.grid();
        let numbers = (Precision::F32, Storage::Compute, Streaming::TwoStates);
        kernels.push(collision_row(name, grid, &step, numbers, (steps, args.tune), &f0)?.0);
    }
    if wanted("memory") {
        simulation_memory(&d3_big, steps)?;
    }
    if args.sweep {
        let d27 = Grid::new_3d(LatticeKind::D3Q27, 96, 96, 96)?;
        let trt = Step::new(&ops::trt::INFO)
            .uniform("omega", [1.8])
            .uniform("magic", [0.25]);
        let kbc = Step::new(&ops::kbc::INFO).uniform("omega", [1.8]);
        let all = [
            ("D2Q9 1024^2", &d2, bgk(1.8)),
            ("D3Q19 128^3", &d3, bgk(1.8)),
            ("D3Q27 96^3", &d27, bgk(1.8)),
            ("D3Q19 128^3 TRT", &d3, trt),
            ("D3Q19 128^3 KBC", &d3, kbc),
        ];
        // The cases `--case` names, or all when it names none of them (`--case none`).
        let named = all
            .iter()
            .any(|(name, ..)| args.case.is_some() && wanted(name));
        let chosen: Vec<_> = all
            .into_iter()
            .filter(|(name, ..)| !named || wanted(name))
            .collect();
        sweep_caps(&chosen, steps)?;
    }
    if args.kernels_only || args.case.is_some() {
        return Ok(Report {
            device,
            backend: "cuda",
            quick: false,
            kernels,
            user: Vec::new(),
            optimisation_loop: None,
            builds: None,
        });
    }
    let f32_times = |case: &str| {
        times
            .iter()
            .find(|(n, p, _)| *n == case && *p == Precision::F32)
            .map(|(_, _, t)| *t)
    };
    let (t2, t2l, t3, t3b) = (
        f32_times("D2Q9 1024^2"),
        f32_times("D2Q9 512^2"),
        f32_times("D3Q19 128^3"),
        f32_times("D3Q19 256^3"),
    );
    let budget = |gb: usize| {
        let label = if gb == 2 {
            "budget 2 GiB"
        } else {
            "budget 16 GiB"
        };
        (label, Checkpointing::Budget(Budget::bytes(gb * GB)))
    };
    let all = ("store-all", Checkpointing::StoreAll);
    let user = vec![
        user_row("D2Q9 1024^2", &d2, Backend::Cuda, 100, all, t2)?,
        user_row("D3Q19 128^3", &d3, Backend::Cuda, 100, all, t3)?,
        user_row("D3Q19 128^3", &d3, Backend::Cuda, 100, budget(2), t3)?,
        user_row("D3Q19 256^3", &d3_big, Backend::Cuda, 1000, budget(16), t3b)?,
    ];
    let optimisation_loop = Some(optimisation_loop(
        "D2Q9 512^2",
        &d2_loop,
        Backend::Cuda,
        200,
        50,
        t2l,
    )?);
    Ok(Report {
        device,
        backend: "cuda",
        quick: false,
        kernels,
        user,
        optimisation_loop,
        builds,
    })
}

/// Copy bandwidth of host memory in GB/s with the current rayon pool: a buffer far larger
/// than the caches copied in parallel chunks, the best of a few runs, with ordinary copies
/// and, where the CPU has AVX, with stores past the caches (which do not read a line
/// before writing it, so they reach more of the memory's bandwidth than `memcpy` may).
fn host_copy_bandwidth(bytes: usize) -> f64 {
    let n = bytes / 4;
    let src = vec![1.0f32; n];
    let mut dst = vec![0.0f32; n];
    let mut best = |copy: ChunkCopy| {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let start = Instant::now();
            dst.par_chunks_mut(1 << 17)
                .zip(src.par_chunks(1 << 17))
                .for_each(|(d, s)| copy(d, s));
            best = best.min(start.elapsed().as_secs_f64());
        }
        std::hint::black_box(&dst);
        // Each element is read once and written once.
        2.0 * bytes as f64 / best / 1e9
    };
    let cached = best(|d, s| d.copy_from_slice(s));
    match uncached_copy() {
        Some(copy) => cached.max(best(copy)),
        None => cached,
    }
}

/// A copy of a chunk: `(to, from)`, as long as each other.
type ChunkCopy = fn(&mut [f32], &[f32]);

/// A copy through non-temporal stores, where the CPU has AVX.
fn uncached_copy() -> Option<ChunkCopy> {
    #[cfg(target_arch = "x86_64")]
    {
        /// # Safety
        /// Only where the CPU has AVX.
        #[target_feature(enable = "avx")]
        unsafe fn copy(to: &mut [f32], from: &[f32]) {
            use std::arch::x86_64::{_mm256_loadu_ps, _mm256_stream_ps, _mm_sfence};
            // The head up to a register's alignment and the tail go the ordinary way.
            let head = to.as_ptr().align_offset(32).min(to.len());
            to[..head].copy_from_slice(&from[..head]);
            let whole = (to.len() - head) / 8 * 8;
            for k in (head..head + whole).step_by(8) {
                // SAFETY: `k + 8 <= to.len() == from.len()`, and `to[k..]` is aligned to
                // 32 bytes (`head` made it so, and `k - head` is a multiple of 8 floats).
                unsafe {
                    _mm256_stream_ps(
                        to.as_mut_ptr().add(k),
                        _mm256_loadu_ps(from.as_ptr().add(k)),
                    )
                };
            }
            to[head + whole..].copy_from_slice(&from[head + whole..]);
            // Orders the stores before the pool's join (see `lanes::fence_uncached_stores`).
            _mm_sfence();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX.
            return Some(|to: &mut [f32], from: &[f32]| unsafe { copy(to, from) });
        }
    }
    None
}

/// Forward and adjoint throughput of the CPU backend's steps on `grid` with the current
/// rayon pool (states in memory, as the GPU's kernel rows), against the host's copy
/// bandwidth measured the same way.
fn cpu_kernel_row(name: &str, grid: &Grid, p: Precision, steps: usize) -> Result<KernelRow> {
    let f0 = initial(grid)?;
    let times = cpu_profile::time_steps(grid, &bgk(1.8), p, &f0, steps)?;
    let (forward, adjoint) = (times.forward, times.adjoint);
    let q = grid.lattice().q();
    let bw = host_copy_bandwidth(256 << 20);
    let roof = bw * 1e9 / (2.0 * (q * bytes_of(p)) as f64) / 1e6;
    let mlups = |seconds: f64| grid.cells() as f64 / seconds / 1e6;
    Ok(KernelRow {
        case: name.to_string(),
        precision: p.name(),
        forward_mlups: mlups(forward),
        adjoint_mlups: mlups(adjoint),
        copy_gb_per_s: bw,
        roofline_mlups: roof,
        forward_of_roofline: mlups(forward) / roof,
        adjoint_over_forward_time: adjoint / forward,
    })
}

/// [`cpu_kernel_row`] with one thread and with every thread, in each precision asked for.
fn cpu_kernel_rows(
    name: &str,
    grid: &Grid,
    (steps, precisions): (usize, &[Precision]),
    out: &mut Vec<KernelRow>,
) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for &p in precisions {
        for t in [1, threads] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map_err(|e| lbm_runtime::LbmError::BackendUnavailable(e.to_string()))?;
            let label = format!("{name}, {t} thread{}", if t == 1 { "" } else { "s" });
            out.push(pool.install(|| cpu_kernel_row(&label, grid, p, steps))?);
        }
    }
    Ok(())
}

fn cpu_report(args: &Args) -> Result<Report> {
    let quick = args.quick;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scale = if quick { 1 } else { 2 };
    let d2 = Grid::new_2d(LatticeKind::D2Q9, 64 * scale, 64 * scale)?;
    let d3 = Grid::new_3d(LatticeKind::D3Q19, 16 * scale, 16 * scale, 16 * scale)?;
    let state3 = d3.cells() * 19 * 4;
    let budget = (
        "budget 10 states",
        Checkpointing::Budget(Budget::bytes(10 * state3)),
    );
    let all = ("store-all", Checkpointing::StoreAll);
    let (user, optimisation_loop) = if args.kernels_only {
        (Vec::new(), None)
    } else {
        (
            vec![
                user_row("D2Q9", &d2, Backend::Cpu, 20, all, None)?,
                user_row("D3Q19", &d3, Backend::Cpu, 20, all, None)?,
                user_row("D3Q19", &d3, Backend::Cpu, 40, budget, None)?,
            ],
            Some(optimisation_loop("D2Q9", &d2, Backend::Cpu, 20, 5, None)?),
        )
    };
    let mut kernels = Vec::new();
    let (side2, side3, steps) = match (args.cpu_sides.as_deref(), quick) {
        (Some(&[d2, d3]), _) => (d2, d3, 20),
        (_, true) => (d2.dims()[0], d3.dims()[0], 5),
        (_, false) => (512, 64, 20),
    };
    let k2 = Grid::new_2d(LatticeKind::D2Q9, side2, side2)?;
    let k3 = Grid::new_3d(LatticeKind::D3Q19, side3, side3, side3)?;
    let precisions: &[Precision] = if args.cpu_f64 {
        &[Precision::F32, Precision::F64]
    } else {
        &[Precision::F32]
    };
    cpu_kernel_rows(
        &format!("D2Q9 {side2}^2"),
        &k2,
        (steps, precisions),
        &mut kernels,
    )?;
    cpu_kernel_rows(
        &format!("D3Q19 {side3}^3"),
        &k3,
        (steps, precisions),
        &mut kernels,
    )?;
    Ok(Report {
        device: format!("CPU, {threads} threads"),
        backend: "cpu",
        quick,
        kernels,
        user,
        optimisation_loop,
        builds: None,
    })
}

/// Writes `value` as JSON to `path`, creating its folder.
fn write_json(path: &std::path::Path, value: &impl Serialize) -> std::result::Result<(), String> {
    let json = serde_json::to_string_pretty(value).expect("the report serialises");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, json).map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// `--gpus N`: the scaling report.
fn scaling_main(args: &Args, gpus: usize) -> std::process::ExitCode {
    let cpu = args.quick || profile::device_name().is_err();
    if cpu && !args.quick {
        eprintln!("note: no GPU; virtual CPU devices at small sizes");
    }
    match lbm_examples::scaling::scaling(gpus, cpu) {
        Ok(report) => {
            lbm_examples::scaling::print(&report);
            if let Err(e) = write_json(&args.json, &report) {
                eprintln!("bench: {e}");
                return std::process::ExitCode::FAILURE;
            }
            println!("\nwrote {}", args.json.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn main() -> std::process::ExitCode {
    lbm_examples::logging::init();
    let args = Args::parse();
    if args.cpu_sides.as_ref().is_some_and(|s| s.len() != 2) {
        eprintln!("bench: --cpu-sides takes two sides, D2,D3 (e.g. 2048,128)");
        return std::process::ExitCode::FAILURE;
    }
    if let Some(gpus) = args.gpus {
        return scaling_main(&args, gpus as usize);
    }
    // The backend `LBM_BACKEND` names, as a simulation would pick it: `cpu` measures the
    // CPU backend on a machine that also has a GPU (a dedicated host is quieter).
    let device = match Backend::from_env() {
        Ok(Backend::Cpu | Backend::CpuSplit(_)) => Err(lbm_runtime::LbmError::BackendUnavailable(
            "LBM_BACKEND=cpu".into(),
        )),
        Ok(_) => profile::device_name(),
        Err(why) => Err(why),
    };
    let report = match (args.quick, device) {
        (false, Ok(device)) => gpu_report(&args, device),
        (quick, device) => {
            if let (false, Err(why)) = (quick, device) {
                eprintln!(
                    "note: the CPU backend ({why}), at small sizes unless --cpu-sides gives them"
                );
            }
            cpu_report(&args)
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    print_report(&report);
    if let Err(e) = write_json(&args.json, &report) {
        eprintln!("bench: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!("\nwrote {}", args.json.display());
    std::process::ExitCode::SUCCESS
}
