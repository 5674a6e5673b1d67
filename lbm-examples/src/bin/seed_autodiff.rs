//! The case from XLB issue #161, where a tape-based GPU backend returned a gradient of
//! exactly zero: a 32x32 D2Q9 periodic box at rest (rho = 1), one BGK step at omega 1.8
//! in f32, loss = sum over cells of rho^2, gradient with respect to the input populations.
//!
//! Every population's gradient is 2 (mass is conserved cell by cell and rho = 1), so the
//! loss is 1024 and the gradient norm sqrt(32 * 32 * 9 * 4) = 192. Runs on the GPU when
//! there is one, otherwise on the CPU; `LBM_BACKEND=cpu|cuda` chooses.

use std::process::ExitCode;

use clap::Parser;
use lbm_runtime::{
    ops, Backend, Checkpointing, Grid, LatticeKind, Objective, Precision, Simulation, Step,
};

/// The XLB issue #161 case: loss and gradient of one BGK step (expected: loss 1024.00,
/// gradient norm 192.00). `LBM_BACKEND=cpu|cuda` picks the backend.
#[derive(Parser)]
#[command(name = "seed_autodiff")]
struct Args {}

fn main() -> ExitCode {
    lbm_examples::logging::init();
    Args::parse();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> lbm_runtime::Result<()> {
    let backend = Backend::from_env()?;
    let grid = Grid::new_2d(LatticeKind::D2Q9, 32, 32)?;
    let cells = grid.cells();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.8]);
    let mut sim = Simulation::new(grid, &step, Precision::F32, backend)?;
    sim.set_equilibrium(&vec![1.0; cells], &vec![0.0; 2 * cells])?;
    let objective = Objective::new(&ops::rho_squared::INFO);
    let g = sim.gradient(&objective, 1, Checkpointing::StoreAll)?;
    let norm = g.initial.iter().map(|v| v * v).sum::<f64>().sqrt();
    let zeros = g.initial.iter().filter(|v| **v == 0.0).count();
    println!("32x32 D2Q9, periodic, BGK omega = 1.8, f32, one step, loss = sum(rho^2)");
    println!();
    println!("| backend | loss     | grad norm | zero entries |");
    println!("|---------|----------|-----------|--------------|");
    println!(
        "| {:<7} | {:>8.2} | {:>9.2} | {:>12} |",
        backend.name(),
        g.loss,
        norm,
        zeros
    );
    println!();
    println!("expected: loss 1024.00, grad norm 192.00, no zero entries");
    Ok(())
}
