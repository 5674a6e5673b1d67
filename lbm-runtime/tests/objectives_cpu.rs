//! Objectives on the CPU backend: weights of several outputs, positive and negative,
//! evaluation at chosen steps (the initial state, a step repeated, not the last step),
//! objectives that read wall links and per-cell data. Each loss is checked against the one
//! computed by hand from the populations of forward runs, and its gradient with respect to
//! the initial populations and to the step's parameters against central differences of
//! whole runs. All in f64.
//!
//! Both checks are needed: a weight whose sign is lost in the loss and in its seed alike
//! gives a consistent (wrong) gradient that only the loss by hand sees; a sign lost in the
//! seed alone is seen by the central differences.

mod common;

use common::{dot, fd4, initial, noise, obstacle};
use lbm_runtime::ops::{moving_wall_bounce_back, trt};
use lbm_runtime::{
    operator, ops, Backend, Checkpointing, Gradients, Grid, LatticeKind, Objective, Precision,
    Simulation, Step,
};

/// A box with moving walls (every solid link sees the wall velocity) and TRT.
#[operator]
fn step_moving_box(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    solid: i32,
    #[param] omega: Real,
    #[param] magic: Real,
    #[param] u_wall: [Real; D],
) -> [Real; Q] {
    if solid != 0 {
        return f_local;
    }
    trt(
        moving_wall_bounce_back(f, f_local, links, u_wall),
        omega,
        magic,
    )
}

/// Steps of every run.
const STEPS: usize = 12;
/// Adjoint against fourth-order central differences in f64, relative.
const FD_TOL: f64 = 1e-7;
/// The loss against the loss by hand: the same terms summed in another order.
const SUM_TOL: f64 = 1e-12;

/// Walls on the planes y = 0 and y = ny - 1 and an obstacle; the solid mask and tags.
fn walled(grid: Grid) -> (Grid, Vec<i64>) {
    let ny = grid.dims()[1];
    let disc = obstacle(&grid);
    let solid: Vec<bool> = (0..grid.cells())
        .map(|c| {
            let y = grid.coords(c)[1];
            y == 0 || y == ny - 1 || disc[c]
        })
        .collect();
    let tags = solid.iter().map(|&s| s as i64).collect();
    (grid.with_solid(solid).unwrap(), tags)
}

fn grids() -> Vec<(Grid, Vec<i64>)> {
    vec![
        walled(Grid::new_2d(LatticeKind::D2Q9, 14, 10).unwrap()),
        walled(Grid::new_3d(LatticeKind::D3Q27, 7, 6, 5).unwrap()),
    ]
}

/// The step's parameters in order: omega, magic, u_wall.
fn box_step(grid: &Grid, solid: &[i64], params: &[Vec<f64>]) -> Step {
    Step::new(&step_moving_box::INFO)
        .int_field("solid", solid.to_vec())
        .uniform("omega", params[0].clone())
        .uniform("magic", params[1].clone())
        .uniform("u_wall", params[2][..grid.lattice().d()].to_vec())
}

fn box_params() -> Vec<Vec<f64>> {
    vec![vec![1.7], vec![0.19], vec![0.03, -0.02, 0.01]]
}

/// The loss by hand: forward runs to each step in `at` (each counted as often as it is
/// listed), `outputs(cell, populations)` on every cell, weighted and summed.
fn loss_by_hand(
    grid: &Grid,
    step: &Step,
    f0: &[f64],
    at: &[usize],
    weights: &[f64],
    outputs: &dyn Fn(usize, &[f64]) -> Vec<f64>,
) -> f64 {
    let q = grid.lattice().q();
    let mut times: Vec<usize> = at.to_vec();
    times.sort_unstable();
    let mut sim = Simulation::new(grid.clone(), step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_populations(f0).unwrap();
    let mut loss = 0.0;
    for t in times {
        sim.run(t - sim.time()).unwrap();
        for (cell, f) in sim.populations().unwrap().chunks(q).enumerate() {
            loss += dot(&outputs(cell, f), weights);
        }
    }
    loss
}

/// The gradient of `objective` over a run of `step` from `f0`.
fn gradient(grid: &Grid, step: &Step, objective: &Objective, f0: &[f64]) -> Gradients {
    let mut sim = Simulation::new(grid.clone(), step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_populations(f0).unwrap();
    sim.gradient(objective, STEPS, Checkpointing::StoreAll)
        .unwrap()
}

fn assert_relative(what: &str, a: f64, b: f64, tol: f64) {
    let rel = (a - b).abs() / a.abs().max(b.abs());
    assert!(
        rel <= tol,
        "{what}: {a:e} vs {b:e} (relative {rel:.2e} > {tol:e})"
    );
}

/// The loss's derivative along the initial populations and along each step parameter,
/// adjoint against central differences.
fn check_gradients(what: &str, grid: &Grid, solid: &[i64], objective: &Objective) {
    let f0 = initial(grid);
    let params = box_params();
    let g = gradient(grid, &box_step(grid, solid, &params), objective, &f0);
    let v: Vec<f64> = noise(f0.len(), 71)
        .iter()
        .zip(&f0)
        .map(|(e, f)| e * f)
        .collect();
    let fd = fd4(
        &|e| {
            let f: Vec<f64> = f0.iter().zip(&v).map(|(a, d)| a + e * d).collect();
            gradient(grid, &box_step(grid, solid, &params), objective, &f).loss
        },
        1e-4,
    );
    assert_relative(
        &format!("{what}: initial populations"),
        dot(&g.initial, &v),
        fd,
        FD_TOL,
    );
    for (k, name) in ["omega", "magic", "u_wall"].into_iter().enumerate() {
        let d = grid.lattice().d();
        let len = params[k].len().min(d);
        let dir: Vec<f64> = noise(len, 80 + k as u64)
            .iter()
            .map(|x| x + 0.5 * x.signum())
            .collect();
        let grad = g.param(name).unwrap().flat();
        let fd = fd4(
            &|e| {
                let mut moved = params.clone();
                for (p, d) in moved[k].iter_mut().zip(&dir) {
                    *p += e * d;
                }
                gradient(grid, &box_step(grid, solid, &moved), objective, &f0).loss
            },
            1e-4,
        );
        assert_relative(&format!("{what}: `{name}`"), dot(&grad, &dir), fd, FD_TOL);
    }
}

#[test]
fn weighted_wall_force_at_chosen_steps() {
    for (grid, solid) in grids() {
        let lattice = grid.lattice();
        let d = lattice.d();
        // Positive and negative weights: a lost sign changes the loss. The state after
        // step 0 is the initial one; step 8 counts twice; the last step (12) not at all.
        let weights = vec![1.0, -0.5, 0.25][..d].to_vec();
        let at = [8, 0, 3, 8];
        let objective = Objective::new(&ops::momentum_exchange_force::INFO)
            .weights(weights.clone())
            .at_steps(at);
        let what = format!("weighted wall force on {lattice}");

        let f0 = initial(&grid);
        let step = box_step(&grid, &solid, &box_params());
        let force = ops::momentum_exchange_force::INFO.cpu.f64(lattice).forward;
        let by_hand = loss_by_hand(&grid, &step, &f0, &at, &weights, &|cell, f| {
            let mut out = vec![0.0; d];
            force(f, &[grid.links(cell)], &mut out);
            out
        });
        let g = gradient(&grid, &step, &objective, &f0);
        assert_relative(&format!("{what}: loss by hand"), g.loss, by_hand, SUM_TOL);

        check_gradients(&what, &grid, &solid, &objective);
    }
}

#[test]
fn sums_cover_every_reduction_chunk() {
    // More cells than one reduction chunk (1,024) and three outputs per cell, whose
    // chunks must hold whole cells: catches a loss or parameter gradient summed over part
    // of the grid, or over chunks that split a cell's outputs from their weights.
    let (grid, solid) = walled(Grid::new_3d(LatticeKind::D3Q27, 13, 12, 10).unwrap());
    assert!(grid.cells() > 1024);
    let weights = vec![1.0, -0.5, 0.25];
    let at = [5, STEPS];
    let objective = Objective::new(&ops::momentum_exchange_force::INFO)
        .weights(weights.clone())
        .at_steps(at);
    let f0 = initial(&grid);
    let params = box_params();
    let step = box_step(&grid, &solid, &params);
    let force = ops::momentum_exchange_force::INFO
        .cpu
        .f64(grid.lattice())
        .forward;
    let by_hand = loss_by_hand(&grid, &step, &f0, &at, &weights, &|cell, f| {
        let mut out = vec![0.0; 3];
        force(f, &[grid.links(cell)], &mut out);
        out
    });
    let g = gradient(&grid, &step, &objective, &f0);
    assert_relative("loss over every chunk", g.loss, by_hand, SUM_TOL);
    let Some(lbm_runtime::GradValue::Uniform(d)) = g.param("omega") else {
        panic!("no omega gradient");
    };
    let fd = fd4(
        &|e| {
            let mut moved = params.clone();
            moved[0][0] += e;
            gradient(&grid, &box_step(&grid, &solid, &moved), &objective, &f0).loss
        },
        1e-4,
    );
    assert_relative("omega over every chunk", d[0], fd, FD_TOL);
}

#[test]
fn velocity_mismatch_with_a_negative_weight() {
    for (grid, solid) in grids() {
        let lattice = grid.lattice();
        let d = lattice.d();
        // A per-cell target velocity (data, not differentiated), weighed negatively.
        let target: Vec<f64> = noise(grid.cells() * d, 91)
            .iter()
            .map(|v| 0.1 * v)
            .collect();
        let at = [2, 7, STEPS];
        let objective = Objective::new(&ops::velocity_mismatch::INFO)
            .field("target", target.clone())
            .weights([-0.7])
            .at_steps(at);
        let what = format!("velocity mismatch on {lattice}");

        let f0 = initial(&grid);
        let step = box_step(&grid, &solid, &box_params());
        let mismatch = ops::velocity_mismatch::INFO.cpu.f64(lattice).forward;
        let by_hand = loss_by_hand(&grid, &step, &f0, &at, &[-0.7], &|cell, f| {
            let mut reals = f.to_vec();
            reals.extend_from_slice(&target[cell * d..cell * d + d]);
            let mut out = [0.0];
            mismatch(&reals, &[], &mut out);
            out.to_vec()
        });
        let g = gradient(&grid, &step, &objective, &f0);
        assert_relative(&format!("{what}: loss by hand"), g.loss, by_hand, SUM_TOL);
        assert!(
            g.loss < 0.0,
            "{what}: a negative weight gives a negative loss"
        );
        // The target is data: it gets no gradient.
        assert!(g.param("target").is_none(), "{what}: gradient for data");

        check_gradients(&what, &grid, &solid, &objective);
    }
}
