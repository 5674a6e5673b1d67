//! Throughput of BGK steps: forward and adjoint MLUPS on the GPU for D2Q9 1024^2 and
//! D3Q19 128^3, the device's copy bandwidth and the forward roofline it implies, and the
//! CPU backend on smaller grids.
//!
//! ```text
//! cargo run --release -p lbm-examples --example bench [-- --steps N] [--sweep]
//! ```
//!
//! `--sweep` also times the f32 and f64 steps with every forced register cap
//! (`LBM_CUDA_MIN_BLOCKS` = 1 to 4, see `lbm_runtime::cuda::tune`).
//!
//! GPU times come from CUDA events around `N` steps (default 200 forward, N/2 adjoint) after
//! a warm-up; no host transfers are timed. The roofline assumes one read and one write of
//! every population per step: `MLUPS = bandwidth / (2 Q sizeof(real))`, with the bandwidth
//! of a device-to-device copy of a buffer the size of the populations (read + write bytes).

use std::time::Instant;

use lbm_runtime::cuda::profile;
use lbm_runtime::{ops, Backend, Grid, LatticeKind, Precision, Simulation, Step};

/// An equilibrium with a gentle shear wave.
fn initial(grid: &Grid) -> Vec<f64> {
    let (n, d) = (grid.cells(), grid.lattice().d());
    let ny = grid.dims()[1] as f64;
    let rho = vec![1.0; n];
    let mut u = vec![0.0; n * d];
    for c in 0..n {
        let y = grid.coords(c)[1] as f64;
        u[c * d] = 0.05 * (2.0 * std::f64::consts::PI * y / ny).sin();
    }
    lbm_runtime::equilibrium_state(grid, &rho, &u).expect("valid fields")
}

fn bgk() -> Step {
    Step::new(&ops::bgk::INFO).uniform("omega", [1.8])
}

fn bytes_of(p: Precision) -> usize {
    match p {
        Precision::F32 => 4,
        Precision::F64 => 8,
    }
}

/// One line of the table.
fn row(cells: [&str; 7]) {
    let [a, b, c, d, e, f, g] = cells;
    println!("| {a:<12} | {b:<4} | {c:>9} | {d:>9} | {e:>9} | {f:>10} | {g:>8} |");
}

fn header() {
    row([
        "case",
        "real",
        "fwd MLUPS",
        "adj MLUPS",
        "copy GB/s",
        "roof MLUPS",
        "fwd/roof",
    ]);
    println!("|--------------|------|-----------|-----------|-----------|------------|----------|");
}

/// One GPU row of the table.
fn gpu_row(name: &str, grid: &Grid, p: Precision, steps: usize) -> lbm_runtime::Result<()> {
    let f0 = initial(grid);
    let fwd = profile::time_forward(grid, &bgk(), p, &f0, steps)?;
    let adj = profile::time_adjoint(grid, &bgk(), p, &f0, (steps / 2).max(1))?;
    let q = grid.lattice().q();
    let state = grid.cells() * q * bytes_of(p);
    let bw = profile::copy_bandwidth(state, 20)?;
    let roof = bw * 1e9 / (2.0 * (q * bytes_of(p)) as f64) / 1e6;
    row([
        name,
        p.name(),
        &format!("{:.0}", fwd.mlups()),
        &format!("{:.0}", adj.mlups()),
        &format!("{bw:.0}"),
        &format!("{roof:.0}"),
        &format!("{:.0}%", 100.0 * fwd.mlups() / roof),
    ]);
    Ok(())
}

/// MLUPS of the CPU backend's `Simulation::run` (host conversions included, negligible
/// over the steps run).
fn cpu_row(name: &str, grid: &Grid, p: Precision, steps: usize) -> lbm_runtime::Result<()> {
    let mut sim = Simulation::new(grid.clone(), &bgk(), p, Backend::Cpu)?;
    sim.set_populations(&initial(grid))?;
    sim.run(2)?;
    let start = Instant::now();
    sim.run(steps)?;
    let s = start.elapsed().as_secs_f64();
    let mlups = grid.cells() as f64 * steps as f64 / s / 1e6;
    row([name, p.name(), &format!("{mlups:.1}"), "-", "-", "-", "-"]);
    Ok(())
}

/// Forward and adjoint MLUPS with every forced register cap.
fn sweep_caps(grids: &[(&str, &Grid)], steps: usize) -> lbm_runtime::Result<()> {
    println!("\nRegister caps (min blocks per multiprocessor), MLUPS:");
    for (name, grid) in grids {
        let f0 = initial(grid);
        for p in [Precision::F32, Precision::F64] {
            for m in 1..=4 {
                // Single-threaded here: nothing reads the environment concurrently.
                std::env::set_var(lbm_runtime::cuda::tune::MIN_BLOCKS_ENV, m.to_string());
                let fwd = profile::time_forward(grid, &bgk(), p, &f0, steps)?;
                let adj = profile::time_adjoint(grid, &bgk(), p, &f0, (steps / 2).max(1))?;
                println!(
                    "  {name} {} min blocks {m}: fwd {:.0}, adj {:.0}",
                    p.name(),
                    fwd.mlups(),
                    adj.mlups()
                );
            }
        }
    }
    std::env::remove_var(lbm_runtime::cuda::tune::MIN_BLOCKS_ENV);
    Ok(())
}

fn main() -> lbm_runtime::Result<()> {
    let mut steps = 200;
    let mut sweep = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--steps" => {
                steps = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--steps takes a number")
            }
            "--sweep" => sweep = true,
            _ => {
                eprintln!("usage: bench [--steps N] [--sweep]");
                std::process::exit(2);
            }
        }
    }
    let d2 = Grid::new_2d(LatticeKind::D2Q9, 1024, 1024)?;
    let d3 = Grid::new_3d(LatticeKind::D3Q19, 128, 128, 128)?;
    match profile::device_name() {
        Ok(name) => {
            println!(
                "GPU: {name}, BGK, {steps} forward / {} adjoint steps",
                steps / 2
            );
            header();
            gpu_row("D2Q9 1024^2", &d2, Precision::F32, steps)?;
            gpu_row("D3Q19 128^3", &d3, Precision::F32, steps)?;
            gpu_row("D2Q9 1024^2", &d2, Precision::F64, steps)?;
            gpu_row("D3Q19 128^3", &d3, Precision::F64, steps)?;
            println!("\nKernels (launch-bounds minimum blocks, registers, local bytes):");
            for (name, grid) in [("D2Q9", &d2), ("D3Q19", &d3)] {
                for p in [Precision::F32, Precision::F64] {
                    for k in profile::kernel_info(grid, &bgk(), p)? {
                        println!(
                            "  {name} {} {}: min blocks {}, {} registers, {} local bytes",
                            p.name(),
                            k.name,
                            k.min_blocks,
                            k.registers,
                            k.local_bytes
                        );
                    }
                }
            }
        }
        Err(why) => println!("GPU: none ({why})"),
    }
    if sweep && profile::device_name().is_ok() {
        sweep_caps(&[("D2Q9 1024^2", &d2), ("D3Q19 128^3", &d3)], steps)?;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("\nCPU backend ({threads} threads), BGK forward, 20 steps");
    header();
    cpu_row(
        "D2Q9 256^2",
        &Grid::new_2d(LatticeKind::D2Q9, 256, 256)?,
        Precision::F32,
        20,
    )?;
    cpu_row(
        "D3Q19 48^3",
        &Grid::new_3d(LatticeKind::D3Q19, 48, 48, 48)?,
        Precision::F32,
        20,
    )?;
    Ok(())
}
