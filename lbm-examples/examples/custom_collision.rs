//! Defining a collision model by annotation, end to end: `shear_thinning_bgk` (in this
//! crate's lib.rs) runs a decaying shear wave, and the gradient of its final kinetic energy
//! with respect to the model's two parameters comes from the generated adjoint, checked
//! here against central finite differences.
//!
//! `cargo run --release -p lbm-examples --example custom_collision`

use lbm_examples::{shear_thinning_bgk, shear_wave};
use lbm_runtime::{
    ops, Backend, Checkpointing, GradValue, Grid, LatticeKind, Objective, Precision, Simulation,
    Step,
};

/// A user-defined collision (shear-thinning BGK) run for 200 steps; its parameter
/// gradients against central finite differences. `LBM_BACKEND=cpu|cuda` picks the backend.
#[derive(clap::Parser)]
#[command(name = "custom_collision")]
struct Args {}

fn main() -> lbm_runtime::Result<()> {
    <Args as clap::Parser>::parse();
    let backend = Backend::from_env()?;
    let grid = Grid::new_2d(LatticeKind::D2Q9, 32, 32)?;
    let f0 = shear_wave(&grid, 0.08)?;
    let steps = 200;
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let gradient = |omega: f64, k: f64| -> lbm_runtime::Result<lbm_runtime::Gradients> {
        let step = Step::new(&shear_thinning_bgk::INFO)
            .uniform("omega", [omega])
            .uniform("k", [k]);
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, backend)?;
        sim.set_populations(&f0)?;
        sim.gradient(&objective, steps, Checkpointing::StoreAll)
    };
    let (omega, k) = (1.2, 40.0);
    let g = gradient(omega, k)?;
    println!("{}", shear_thinning_bgk::INFO.summary);
    println!(
        "backend {}, {steps} steps, kinetic energy after the run: {:.6e}",
        backend.name(),
        g.loss
    );
    println!();
    println!("| parameter | adjoint        | finite difference | relative error |");
    println!("|-----------|----------------|-------------------|----------------|");
    let h = 1e-5;
    for (name, fd) in [
        (
            "omega",
            (gradient(omega + h, k)?.loss - gradient(omega - h, k)?.loss) / (2.0 * h),
        ),
        (
            "k",
            (gradient(omega, k + h)?.loss - gradient(omega, k - h)?.loss) / (2.0 * h),
        ),
    ] {
        let Some(GradValue::Uniform(ad)) = g.param(name) else {
            unreachable!("uniform parameters have uniform gradients")
        };
        println!(
            "| {name:<9} | {:>14.6e} | {fd:>17.6e} | {:>14.2e} |",
            ad[0],
            (ad[0] - fd).abs() / fd.abs()
        );
    }
    Ok(())
}
