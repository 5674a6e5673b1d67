//! Sums over cells on grids larger than one reduction chunk.
//!
//! The CPU backend sums the loss and the gradients of uniform parameters over fixed chunks
//! of 1,024 cells (`CHUNK` in `src/cpu/mod.rs`) so that the result does not depend on
//! thread scheduling. These grids have two or more chunks and a partial last one, and every
//! sum is checked against one the test computes independently: the loss by hand from the
//! populations of forward runs, a uniform parameter's gradient against the sum of the
//! per-cell gradients the same parameter gets when bound as a field, and against central
//! differences. All in f64 on the CPU backend.

mod common;

use common::{end_tags, fd4, initial, step_zou_he};
use lbm_runtime::ops::kinetic_energy;
use lbm_runtime::{
    operator, Backend, Checkpointing, GradValue, Gradients, Grid, LatticeKind, Objective,
    Precision, Simulation, Step,
};

/// Cells per chunk of the CPU backend's sums (`CHUNK` in `src/cpu/mod.rs`).
const CHUNK: usize = 1024;

/// `scale` times the kinetic energy: an objective with a uniform parameter, whose gradient
/// is summed over cells like the step's.
#[operator]
fn scaled_energy(#[populations] f: [Real; Q], #[param] scale: Real) -> Real {
    scale * kinetic_energy(f)
}

/// The loss is evaluated after these steps; the run has `STEPS`.
const AT: [usize; 2] = [4, 10];
/// Steps of every run.
const STEPS: usize = 10;
/// Scale of the objective.
const SCALE: f64 = 1.7;

/// Agreement of two ways of summing the same numbers in a different order.
const SUM_TOL: f64 = 1e-11;
/// Agreement of an adjoint with a fourth-order central difference in f64.
const FD_TOL: f64 = 1e-7;

/// Grids of several chunks with a partial last one: 2,250 and 1,080 cells.
fn grids() -> Vec<Grid> {
    let grids = vec![
        Grid::new_2d(LatticeKind::D2Q9, 50, 45).unwrap(),
        Grid::new_3d(LatticeKind::D3Q19, 12, 10, 9).unwrap(),
    ];
    for g in &grids {
        assert!(
            g.cells() > CHUNK && g.cells() % CHUNK != 0,
            "{:?}",
            g.dims()
        );
    }
    grids
}

/// A Zou-He channel step on `grid`; `as_field` binds the uniform values as per-cell fields
/// with the same value in every cell instead.
fn step(grid: &Grid, omega: f64, as_field: bool) -> Step {
    let d = grid.lattice().d();
    let n = grid.cells();
    let u_in = vec![0.04, -0.01, 0.005][..d].to_vec();
    let step = Step::new(&step_zou_he::INFO).int_field("tag", end_tags(grid));
    if as_field {
        step.field("omega", vec![omega; n])
            .field("u_in", u_in.repeat(n))
            .field("rho_out", vec![1.02; n])
    } else {
        step.uniform("omega", [omega])
            .uniform("u_in", u_in)
            .uniform("rho_out", [1.02])
    }
}

fn gradient(grid: &Grid, step: &Step) -> Gradients {
    let objective = Objective::new(&scaled_energy::INFO)
        .uniform("scale", [SCALE])
        .at_steps(AT);
    let mut sim = Simulation::new(grid.clone(), step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_populations(&initial(grid)).unwrap();
    sim.gradient(&objective, STEPS, Checkpointing::StoreAll)
        .unwrap()
}

/// The loss by hand: forward runs to each evaluation step, the objective's forward form on
/// every cell, summed in cell order.
fn loss_by_hand(grid: &Grid, step: &Step) -> f64 {
    let lattice = grid.lattice();
    let q = lattice.q();
    let energy = kinetic_energy::INFO.cpu.f64(lattice).forward;
    let mut sim = Simulation::new(grid.clone(), step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_populations(&initial(grid)).unwrap();
    let mut loss = 0.0;
    for t in AT {
        sim.run(t - sim.time()).unwrap();
        let mut out = [0.0];
        for cell in sim.populations().unwrap().chunks(q) {
            energy(cell, &[], &mut out);
            loss += SCALE * out[0];
        }
    }
    loss
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs())
}

fn uniform_gradient(g: &Gradients, name: &str) -> Vec<f64> {
    match g.param(name) {
        Some(GradValue::Uniform(v)) => v.clone(),
        other => panic!("`{name}`: expected a uniform gradient, got {other:?}"),
    }
}

/// Sum over cells of a per-cell gradient of `len` values per cell.
fn field_sum(g: &Gradients, name: &str, len: usize) -> Vec<f64> {
    let Some(GradValue::Field(v)) = g.param(name) else {
        panic!("`{name}`: expected a field gradient")
    };
    let mut sum = vec![0.0; len];
    for cell in v.chunks(len) {
        for (s, x) in sum.iter_mut().zip(cell) {
            *s += x;
        }
    }
    sum
}

#[test]
fn loss_sums_every_chunk() {
    for grid in grids() {
        let step = step(&grid, 1.6, false);
        let g = gradient(&grid, &step);
        let by_hand = loss_by_hand(&grid, &step);
        let rel = relative(g.loss, by_hand);
        assert!(
            rel <= SUM_TOL,
            "{}: loss {} vs {by_hand} by hand ({rel:.2e})",
            grid.lattice(),
            g.loss
        );
        // The objective is linear in its scale: its gradient is the loss over the scale.
        let d_scale = uniform_gradient(&g, "scale")[0];
        let rel = relative(d_scale, by_hand / SCALE);
        assert!(
            rel <= SUM_TOL,
            "{}: d loss / d scale {d_scale} vs {} ({rel:.2e})",
            grid.lattice(),
            by_hand / SCALE
        );
    }
}

#[test]
fn uniform_parameter_gradients_sum_every_chunk() {
    for grid in grids() {
        let d = grid.lattice().d();
        let uniform = gradient(&grid, &step(&grid, 1.6, false));
        let field = gradient(&grid, &step(&grid, 1.6, true));
        assert_eq!(uniform.loss, field.loss, "same forward either way");
        for (name, len) in [("omega", 1), ("u_in", d), ("rho_out", 1)] {
            let summed = uniform_gradient(&uniform, name);
            let by_cell = field_sum(&field, name, len);
            for (a, b) in summed.iter().zip(&by_cell) {
                let rel = relative(*a, *b);
                assert!(
                    rel <= SUM_TOL,
                    "{} `{name}`: uniform gradient {summed:?} vs per-cell sum {by_cell:?} \
                     ({rel:.2e})",
                    grid.lattice()
                );
            }
        }
        // And the relaxation rate's gradient against central differences of the loss.
        let fd = fd4(
            &|e| gradient(&grid, &step(&grid, 1.6 + e, false)).loss,
            1e-4,
        );
        let ad = uniform_gradient(&uniform, "omega")[0];
        let rel = relative(ad, fd);
        assert!(
            rel <= FD_TOL,
            "{} omega: adjoint {ad:e} vs finite difference {fd:e} ({rel:.2e})",
            grid.lattice()
        );
    }
}
