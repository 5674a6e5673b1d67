//! How a simulation split over several devices scales against one device: the
//! `bench --gpus N` rows.
//!
//! - Weak scaling: the same grid per device (D3Q19 256^3 on a GPU), so `N` devices step
//!   `N` times the cells; the speedup is the split's MLUPS over one device's, ideally `N`.
//! - Strong scaling: one grid (D3Q19 384^3) on one device and on `N`.
//! - Both for the forward (`run`) and for a whole gradient (`parameter_gradient`: forward
//!   sweep, adjoint sweep, parameter sums), on the wall clock around the public calls.
//! - A gradient whose states do not fit one device, refused there and computed on `N`.
//!
//! The same code runs on the CPU (one engine against `CpuSplit(N)` virtual devices at
//! small sizes), so CI keeps it working.

use std::time::Instant;

use lbm_runtime::{
    ops, Backend, Checkpointing, Devices, Grid, LatticeKind, Objective, Precision, Result,
    Simulation, Step,
};
use serde::Serialize;

/// One scaling figure: a workload on one device and on several.
#[derive(Serialize, Debug, Clone)]
pub struct ScalingRow {
    /// What is scaled: "weak" or "strong", "forward" or "gradient".
    pub kind: String,
    /// The grid on one device.
    pub one: String,
    /// The grid on all devices.
    pub many: String,
    /// Steps per call.
    pub steps: usize,
    /// Million cell updates per second on one device.
    pub one_mlups: f64,
    /// The same on all devices.
    pub many_mlups: f64,
    /// `many_mlups / one_mlups`.
    pub speedup: f64,
}

/// A gradient too large for one device.
#[derive(Serialize, Debug, Clone)]
pub struct LargeGradient {
    /// The grid and run.
    pub case: String,
    /// Bytes of the states a store-all gradient holds.
    pub state_bytes: usize,
    /// What one device answered.
    pub one_device: String,
    /// Seconds on all devices.
    pub many_seconds: f64,
    /// Million cell updates per second (forward and adjoint steps over wall time).
    pub many_mlups: f64,
}

/// The scaling report.
#[derive(Serialize, Debug, Clone)]
pub struct ScalingReport {
    /// Devices split over.
    pub devices: usize,
    /// The backends compared.
    pub one_backend: String,
    /// See `one_backend`.
    pub many_backend: String,
    /// The scaling rows.
    pub rows: Vec<ScalingRow>,
    /// The gradient too large for one device, when the devices are GPUs.
    pub large_gradient: Option<LargeGradient>,
}

/// Sizes of a scaling run.
struct Sizes {
    /// Cells along each axis of the weak-scaling grid on one device.
    weak: usize,
    /// Cells along each axis of the strong-scaling grid.
    strong: usize,
    forward_steps: usize,
    /// Steps of the weak and of the strong gradient (store-all on one device).
    gradient_steps: [usize; 2],
    /// The too-large gradient: cells along each axis and steps.
    large: Option<(usize, usize)>,
}

fn d3q19(nx: usize, ny: usize, nz: usize) -> Result<Grid> {
    Grid::new_3d(LatticeKind::D3Q19, nx, ny, nz)
}

fn describe(grid: &Grid) -> String {
    let [nx, ny, nz] = grid.dims();
    format!("{} {nx}x{ny}x{nz}", grid.lattice())
}

fn bgk() -> Step {
    Step::new(&ops::bgk::INFO).uniform("omega", [1.8])
}

/// A simulation of BGK on `grid` from a shear wave, f32.
fn simulation(grid: &Grid, backend: Backend) -> Result<Simulation> {
    let (n, d) = (grid.cells(), grid.lattice().d());
    let ny = grid.dims()[1] as f64;
    let mut u = vec![0.0; n * d];
    for (c, u) in u.chunks_mut(d).enumerate() {
        let y = grid.coords(c)[1] as f64;
        u[0] = 0.05 * (2.0 * std::f64::consts::PI * y / ny).sin();
    }
    let mut sim = Simulation::new(grid.clone(), &bgk(), Precision::F32, backend)?;
    sim.set_equilibrium(&vec![1.0; n], &u)?;
    Ok(sim)
}

fn mlups(cells: usize, steps: usize, seconds: f64) -> f64 {
    cells as f64 * steps as f64 / seconds / 1e6
}

/// Wall seconds of the second of two calls of `f` (the first builds kernels).
fn timed(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

/// Forward MLUPS of `steps` steps on `grid`.
fn forward_mlups(grid: &Grid, backend: Backend, steps: usize) -> Result<f64> {
    let mut sim = simulation(grid, backend)?;
    let seconds = timed(|| sim.run(steps))?;
    Ok(mlups(grid.cells(), steps, seconds))
}

/// Whole-gradient MLUPS (simulated steps over wall time) of `steps` steps on `grid`,
/// storing every state.
fn gradient_mlups(grid: &Grid, backend: Backend, steps: usize) -> Result<f64> {
    let mut sim = simulation(grid, backend)?;
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let seconds = timed(|| {
        sim.parameter_gradient(&objective, steps, Checkpointing::StoreAll)
            .map(|_| ())
    })?;
    Ok(mlups(grid.cells(), steps, seconds))
}

fn row(kind: &str, one: &Grid, many: &Grid, steps: usize, a: f64, b: f64) -> ScalingRow {
    ScalingRow {
        kind: kind.to_string(),
        one: describe(one),
        many: describe(many),
        steps,
        one_mlups: a,
        many_mlups: b,
        speedup: b / a,
    }
}

/// Scaling of a split over `devices` GPUs against one GPU (or, with `cpu`, of `devices`
/// virtual CPU devices against the unsplit CPU backend, at small sizes).
pub fn scaling(devices: usize, cpu: bool) -> Result<ScalingReport> {
    let (one, many, sizes) = if cpu {
        let sizes = Sizes {
            weak: 16,
            strong: 24,
            forward_steps: 10,
            gradient_steps: [6, 4],
            large: None,
        };
        (Backend::Cpu, Backend::CpuSplit(devices), sizes)
    } else {
        let sizes = Sizes {
            weak: 256,
            strong: 384,
            forward_steps: 200,
            // 41 states of 256^3 (52 GB) and 21 of 384^3 (90 GB) fit one H200.
            gradient_steps: [40, 20],
            large: Some((320, 90)),
        };
        (
            Backend::Cuda,
            Backend::MultiGpu(Devices::first(devices)?),
            sizes,
        )
    };
    let w = sizes.weak;
    let (weak_one, weak_many) = (d3q19(w, w, w)?, d3q19(w, w, w * devices)?);
    let s = sizes.strong;
    let strong = d3q19(s, s, s)?;
    let fs = sizes.forward_steps;
    let mut rows = Vec::new();
    for (kind, a, b, gs) in [
        ("weak", &weak_one, &weak_many, sizes.gradient_steps[0]),
        ("strong", &strong, &strong, sizes.gradient_steps[1]),
    ] {
        let (fa, fb) = (forward_mlups(a, one, fs)?, forward_mlups(b, many, fs)?);
        rows.push(row(&format!("{kind} forward"), a, b, fs, fa, fb));
        let (ga, gb) = (gradient_mlups(a, one, gs)?, gradient_mlups(b, many, gs)?);
        rows.push(row(&format!("{kind} gradient"), a, b, gs, ga, gb));
    }
    let large_gradient = match sizes.large {
        Some((n, steps)) => Some(large_gradient(n, steps, one, many)?),
        None => None,
    };
    Ok(ScalingReport {
        devices,
        one_backend: format!("{one:?}"),
        many_backend: format!("{many:?}"),
        rows,
        large_gradient,
    })
}

/// A store-all gradient of D3Q19 `n^3` over `steps` steps: refused on one device, run on
/// all.
fn large_gradient(n: usize, steps: usize, one: Backend, many: Backend) -> Result<LargeGradient> {
    let grid = d3q19(n, n, n)?;
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let state_bytes = grid.cells() * grid.lattice().q() * 4 * (steps + 1);
    let one_device = match simulation(&grid, one)?.parameter_gradient(
        &objective,
        steps,
        Checkpointing::StoreAll,
    ) {
        Ok(_) => "computed (it fit)".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    let mut sim = simulation(&grid, many)?;
    let start = Instant::now();
    sim.parameter_gradient(&objective, steps, Checkpointing::StoreAll)?;
    let many_seconds = start.elapsed().as_secs_f64();
    Ok(LargeGradient {
        case: format!("{}, {steps} steps, f32, store-all", describe(&grid)),
        state_bytes,
        one_device,
        many_seconds,
        many_mlups: mlups(grid.cells(), steps, many_seconds),
    })
}

/// The report as a table.
pub fn print(r: &ScalingReport) {
    println!(
        "\nScaling over {} devices ({} against {})",
        r.devices, r.many_backend, r.one_backend
    );
    println!(
        "{:<16} {:<22} {:<22} {:>6} {:>12} {:>12} {:>8}",
        "kind", "one device", "all devices", "steps", "one MLUPS", "all MLUPS", "speedup"
    );
    for row in &r.rows {
        println!(
            "{:<16} {:<22} {:<22} {:>6} {:>12.0} {:>12.0} {:>7.2}x",
            row.kind, row.one, row.many, row.steps, row.one_mlups, row.many_mlups, row.speedup
        );
    }
    if let Some(l) = &r.large_gradient {
        println!(
            "\nlarge gradient: {} ({:.0} GB of states)\n  one device: {}\n  all devices: \
             {:.2} s, {:.0} MLUPS",
            l.case,
            l.state_bytes as f64 / 1e9,
            l.one_device,
            l.many_seconds,
            l.many_mlups
        );
    }
}
