//! The fused step with every boundary kind: the dot-product test `<w, J v> = <J^T w, v>`
//! for one step, and gradients of multi-step losses with respect to per-cell fields and
//! boundary values against finite differences. All in f64 on the CPU backend.
//!
//! `J v` comes from a fourth-order central difference, `J^T w` from the generated adjoint
//! (the gradient of the loss `sum_x w(x) . f(x)` after one step).

mod common;

use common::{dot, end_tags, fd4, initial, noise, obstacle, solid_ints, step_bouzidi, step_zou_he};
use lbm_runtime::ops::{
    bgk, equilibrium_boundary, extrapolation_outflow, halfway_bounce_back, moving_wall_bounce_back,
    partial_bounce_back,
};
use lbm_runtime::{
    operator, ops, Backend, Checkpointing, GradValue, Grid, LatticeKind, Objective, Precision,
    Simulation, Source, Step,
};

/// `sum_i w_i f_i`: with `w` a per-cell field, the adjoint of a step applied to `w`.
#[operator]
fn weighted(#[populations] f: [Real; Q], #[data] w: [Real; Q]) -> Real {
    let mut s = 0.0;
    for i in 0..Q {
        s += w[i] * f[i];
    }
    s
}

/// Solid cells keep their populations; fluid cells bounce back from solid links, collide.
#[operator]
fn step_halfway(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    solid: i32,
    #[param] omega: Real,
) -> [Real; Q] {
    if solid != 0 {
        return f_local;
    }
    bgk(halfway_bounce_back(f, f_local, links), omega)
}

/// A lid: links to solid cells see a wall moving at `u_wall`.
#[operator]
fn step_moving_wall(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    solid: i32,
    #[param] omega: Real,
    #[param] u_wall: [Real; D],
) -> [Real; Q] {
    if solid != 0 {
        return f_local;
    }
    bgk(moving_wall_bounce_back(f, f_local, links, u_wall), omega)
}

/// Tag 1: equilibrium at the prescribed density and velocity; tag 0: BGK.
#[operator]
fn step_equilibrium(
    #[populations] f: [Real; Q],
    tag: i32,
    #[param] omega: Real,
    #[param] rho_b: Real,
    #[param] u_b: [Real; D],
) -> [Real; Q] {
    match tag {
        1 => equilibrium_boundary(rho_b, u_b),
        _ => bgk(f, omega),
    }
}

/// Tag 1: outflow facing -x, extrapolated from the cell at x - 1.
#[operator]
fn step_outflow(
    #[populations] f: [Real; Q],
    f_west: [Real; Q],
    tag: i32,
    #[param] omega: Real,
) -> [Real; Q] {
    if tag == 1 {
        return bgk(extrapolation_outflow(f, f_west, 0, -1), omega);
    }
    bgk(f, omega)
}

/// Gray LBM: a differentiable solid fraction per cell.
#[operator]
fn step_gray(#[populations] f: [Real; Q], solid_fraction: Real, #[param] omega: Real) -> [Real; Q] {
    partial_bounce_back(f, bgk(f, omega), solid_fraction)
}

fn sim(grid: &Grid, step: &Step, f0: &[f64]) -> Simulation {
    let mut s = Simulation::new(grid.clone(), step, Precision::F64, Backend::Cpu).unwrap();
    s.set_populations(f0).unwrap();
    s
}

/// `<w, J v>` by central differences against `<J^T w, v>` by the adjoint, for one step.
fn dot_product_test(name: &str, grid: &Grid, step: &Step) {
    let f0 = initial(grid);
    // Relative perturbations: the small populations of D3Q27 would otherwise change sign
    // and the difference would measure curvature, not the derivative.
    let v: Vec<f64> = noise(f0.len(), 11)
        .iter()
        .zip(&f0)
        .map(|(e, f)| e * f)
        .collect();
    let w = noise(f0.len(), 12);
    let objective = Objective::new(&weighted::INFO).field("w", w.clone());
    let adjoint = sim(grid, step, &f0)
        .gradient(&objective, 1, Checkpointing::StoreAll)
        .unwrap();
    let jt_w_v = dot(&adjoint.initial, &v);
    let after = |k: f64| {
        let f: Vec<f64> = f0.iter().zip(&v).map(|(a, d)| a + k * d).collect();
        let mut s = sim(grid, step, &f);
        s.run(1).unwrap();
        dot(&s.populations().unwrap(), &w)
    };
    let h = 1e-3;
    let w_j_v = (8.0 * (after(h) - after(-h)) - (after(2.0 * h) - after(-2.0 * h))) / (12.0 * h);
    let rel = (w_j_v - jt_w_v).abs() / w_j_v.abs().max(jt_w_v.abs());
    assert!(
        rel <= 1e-10,
        "{name}: <w, Jv> = {w_j_v:e}, <J^T w, v> = {jt_w_v:e}, relative {rel:e}"
    );
    assert!(
        jt_w_v.abs() > 1e-3,
        "{name}: a vanishing product tests nothing"
    );
}

fn grids() -> Vec<Grid> {
    vec![
        Grid::new_2d(LatticeKind::D2Q9, 10, 9).unwrap(),
        Grid::new_3d(LatticeKind::D3Q19, 6, 5, 5).unwrap(),
        Grid::new_3d(LatticeKind::D3Q27, 5, 6, 5).unwrap(),
    ]
}

#[test]
fn dot_product_test_for_every_boundary_kind() {
    for base in grids() {
        let d = base.lattice().d();
        let q = base.lattice().q();
        let mask = obstacle(&base);
        let walled = base.clone().with_solid(mask.clone()).unwrap();
        let n = base.cells();
        let cases: Vec<(&str, &Grid, Step)> = vec![
            (
                "periodic bgk",
                &base,
                Step::new(&ops::bgk::INFO).uniform("omega", [1.7]),
            ),
            (
                "halfway bounce-back",
                &walled,
                Step::new(&step_halfway::INFO)
                    .uniform("omega", [1.6])
                    .int_field("solid", solid_ints(&mask)),
            ),
            (
                "moving wall",
                &walled,
                Step::new(&step_moving_wall::INFO)
                    .uniform("omega", [1.6])
                    .uniform("u_wall", vec![0.05; d])
                    .int_field("solid", solid_ints(&mask)),
            ),
            (
                "equilibrium boundary",
                &base,
                Step::new(&step_equilibrium::INFO)
                    .uniform("omega", [1.5])
                    .uniform("rho_b", [1.02])
                    .uniform("u_b", vec![0.03; d])
                    .int_field("tag", end_tags(&base)),
            ),
            (
                "Zou-He velocity and pressure",
                &base,
                Step::new(&step_zou_he::INFO)
                    .uniform("omega", [1.5])
                    .uniform("u_in", vec![0.04; d])
                    .uniform("rho_out", [1.0])
                    .int_field("tag", end_tags(&base)),
            ),
            (
                "extrapolation outflow",
                &base,
                Step::new(&step_outflow::INFO)
                    .uniform("omega", [1.5])
                    .source("f_west", Source::Neighbor([-1, 0, 0]))
                    .int_field(
                        "tag",
                        end_tags(&base).iter().map(|&t| (t == 2) as i64).collect(),
                    ),
            ),
            (
                "partial bounce-back",
                &base,
                Step::new(&step_gray::INFO).uniform("omega", [1.5]).field(
                    "solid_fraction",
                    noise(n, 21).iter().map(|v| 0.5 + 0.8 * v).collect(),
                ),
            ),
            (
                "Bouzidi",
                &walled,
                Step::new(&step_bouzidi::INFO)
                    .uniform("omega", [1.5])
                    .field(
                        "q_wall",
                        noise(n * q, 22).iter().map(|v| 0.5 + 0.9 * v).collect(),
                    )
                    .int_field("solid", solid_ints(&mask)),
            ),
        ];
        for (name, grid, step) in cases {
            dot_product_test(&format!("{name} on {}", grid.lattice()), grid, &step);
        }
    }
}

fn check(name: &str, ad: f64, fd: f64, tol: f64) {
    let rel = (ad - fd).abs() / fd.abs().max(1e-300);
    assert!(
        rel <= tol,
        "{name}: adjoint {ad:e} vs finite difference {fd:e} ({rel:e})"
    );
}

#[test]
fn field_and_boundary_value_gradients_match_finite_differences() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 12, 8).unwrap();
    let (n, q) = (grid.cells(), 9);
    let f0 = initial(&grid);
    let steps = 25;
    let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([10, 25]);
    let gradient = |step: &Step| {
        sim(&grid, step, &f0)
            .gradient(&objective, steps, Checkpointing::StoreAll)
            .unwrap()
    };

    // A per-cell solid fraction, perturbed along a random direction.
    let fraction: Vec<f64> = noise(n, 31).iter().map(|v| 0.3 + 0.4 * v).collect();
    let direction = noise(n, 32);
    let gray = |e: f64| {
        let s: Vec<f64> = fraction
            .iter()
            .zip(&direction)
            .map(|(a, d)| a + e * d)
            .collect();
        Step::new(&step_gray::INFO)
            .uniform("omega", [1.4])
            .field("solid_fraction", s)
    };
    let Some(GradValue::Field(g)) = gradient(&gray(0.0)).param("solid_fraction").cloned() else {
        panic!("no field gradient")
    };
    check(
        "solid fraction",
        dot(&g, &direction),
        fd4(&|e| gradient(&gray(e)).loss, 1e-4),
        1e-7,
    );

    // Bouzidi wall distances near an obstacle.
    let mask = obstacle(&grid);
    let walled = grid.clone().with_solid(mask.clone()).unwrap();
    let qs: Vec<f64> = noise(n * q, 33).iter().map(|v| 0.5 + 0.8 * v).collect();
    let dq = noise(n * q, 34);
    let bouzidi_step = |e: f64| {
        let q_wall: Vec<f64> = qs.iter().zip(&dq).map(|(a, d)| a + e * d).collect();
        Step::new(&step_bouzidi::INFO)
            .uniform("omega", [1.4])
            .field("q_wall", q_wall)
            .int_field("solid", solid_ints(&mask))
    };
    let walled_gradient = |step: &Step| {
        sim(&walled, step, &f0)
            .gradient(&objective, steps, Checkpointing::StoreAll)
            .unwrap()
    };
    let Some(GradValue::Field(g)) = walled_gradient(&bouzidi_step(0.0)).param("q_wall").cloned()
    else {
        panic!("no wall-distance gradient")
    };
    check(
        "Bouzidi wall distance",
        dot(&g, &dq),
        fd4(&|e| walled_gradient(&bouzidi_step(e)).loss, 1e-5),
        1e-6,
    );

    // An inlet velocity varying in time: one gradient per step.
    let tags = end_tags(&grid);
    let u_in: Vec<Vec<f64>> = (0..steps)
        .map(|t| vec![0.02 + 0.001 * t as f64, 0.0])
        .collect();
    let du: Vec<Vec<f64>> = (0..steps)
        .map(|t| vec![((t * 37) % 11) as f64 / 11.0, 0.3])
        .collect();
    let inlet = |e: f64| {
        let u: Vec<Vec<f64>> = u_in
            .iter()
            .zip(&du)
            .map(|(u, d)| u.iter().zip(d).map(|(a, b)| a + e * b).collect())
            .collect();
        Step::new(&step_zou_he::INFO)
            .uniform("omega", [1.4])
            .per_step("u_in", u)
            .uniform("rho_out", [1.0])
            .int_field("tag", tags.clone())
    };
    let Some(GradValue::PerStep(g)) = gradient(&inlet(0.0)).param("u_in").cloned() else {
        panic!("no per-step gradient")
    };
    let ad: f64 = g.iter().zip(&du).map(|(g, d)| dot(g, d)).sum();
    check(
        "time-varying inlet velocity",
        ad,
        fd4(&|e| gradient(&inlet(e)).loss, 1e-4),
        1e-7,
    );

    // The wall velocity of a lid, uniform.
    let lid = |e: f64| {
        Step::new(&step_moving_wall::INFO)
            .uniform("omega", [1.4])
            .uniform("u_wall", [0.05 + e, 0.0])
            .int_field("solid", solid_ints(&mask))
    };
    let Some(GradValue::Uniform(g)) = walled_gradient(&lid(0.0)).param("u_wall").cloned() else {
        panic!("no wall-velocity gradient")
    };
    check(
        "wall velocity",
        g[0],
        fd4(&|e| walled_gradient(&lid(e)).loss, 1e-4),
        1e-7,
    );
}
