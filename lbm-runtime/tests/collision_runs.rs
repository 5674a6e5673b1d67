//! Every collision of the library through whole runs with boundaries: a channel with a
//! Zou-He velocity inlet, a Zou-He pressure outlet, halfway bounce-back on solid walls and
//! an obstacle, on D2Q9, D3Q19 and D3Q27, for tens of steps. The directional derivative of
//! the loss with respect to the initial populations and to every differentiable parameter
//! (relaxation rates, the Smagorinsky constant, the force, the boundary values) must agree
//! with a fourth-order central difference. All in f64 on the CPU backend.
//!
//! Per-operator checks (`tests/tests/adjoint_fd.rs`) see one call on random inputs; these
//! see the collisions' adjoints composed with boundaries inside a step, chained over many
//! steps, with parameter gradients summed over cells and steps by the runtime.

mod common;

use common::{dot, fd4, initial, noise};
use lbm_runtime::ops::{
    bgk, guo_forcing, halfway_bounce_back, kbc, mrt, regularized_bgk, smagorinsky_bgk, trt,
    zou_he_pressure, zou_he_velocity,
};
use lbm_runtime::{
    operator, ops, Backend, Checkpointing, Gradients, Grid, LatticeKind, Objective, OperatorInfo,
    Precision, Simulation, Step,
};

/// The boundaries of the channel, by tag, before the collision: bounce-back from solid
/// neighbours everywhere (inlet and outlet cells touch the walls too), then Zou-He on the
/// inlet and outlet planes.
#[operator]
pub fn channel_boundaries(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    u_in: [Real; D],
    rho_out: Real,
) -> [Real; Q] {
    let g = halfway_bounce_back(f, f_local, links);
    match tag {
        1 => zou_he_velocity(g, u_in, 0, 1),
        2 => zou_he_pressure(g, rho_out, 0, -1),
        _ => g,
    }
}

/// The channel with BGK.
#[operator]
pub fn channel_bgk(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
    #[param] omega: Real,
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    bgk(
        channel_boundaries(f, f_local, links, tag, u_in, rho_out),
        omega,
    )
}

/// The channel with TRT.
#[operator]
pub fn channel_trt(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
    #[param] omega: Real,
    #[param] magic: Real,
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    trt(
        channel_boundaries(f, f_local, links, tag, u_in, rho_out),
        omega,
        magic,
    )
}

/// The channel with regularized BGK.
#[operator]
pub fn channel_regularized_bgk(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
    #[param] omega: Real,
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    regularized_bgk(
        channel_boundaries(f, f_local, links, tag, u_in, rho_out),
        omega,
    )
}

/// The channel with the Hermite MRT.
#[operator]
pub fn channel_mrt(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
    #[param] omega: Real,
    #[param] omega_bulk: Real,
    #[param] omega_ghost: Real,
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    mrt(
        channel_boundaries(f, f_local, links, tag, u_in, rho_out),
        omega,
        omega_bulk,
        omega_ghost,
    )
}

/// The channel with KBC.
#[operator]
pub fn channel_kbc(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
    #[param] omega: Real,
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    kbc(
        channel_boundaries(f, f_local, links, tag, u_in, rho_out),
        omega,
    )
}

/// The channel with Smagorinsky BGK.
#[operator]
pub fn channel_smagorinsky_bgk(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
    #[param] omega: Real,
    #[param] c_smag: Real,
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    smagorinsky_bgk(
        channel_boundaries(f, f_local, links, tag, u_in, rho_out),
        omega,
        c_smag,
    )
}

/// The channel with Guo forcing; the force is a per-cell value, bound either to a field or
/// to one value for every cell.
#[operator]
pub fn channel_guo_forcing(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
    #[param] omega: Real,
    force: [Real; D],
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    guo_forcing(
        channel_boundaries(f, f_local, links, tag, u_in, rho_out),
        omega,
        force,
    )
}

/// Steps of every run: tens of steps, so that perturbations cross the channel's boundaries.
const STEPS: usize = 24;

/// Relative tolerance of the adjoint against the fourth-order central difference. In f64
/// the difference's truncation (~h^4) and rounding (~1e-16 L / h) errors are near 1e-10
/// here; a wrong adjoint is off by far more.
const TOL: f64 = 1e-7;

/// Step of the central differences, relative to the direction (which is of order one, or
/// relative to each population for the initial state).
const H: f64 = 1e-4;

/// The channel of every case: walls, and an obstacle of squared radius 2.
fn channel(grid: Grid) -> (Grid, Vec<i64>) {
    common::channel(grid, 2.0)
}

/// A differentiable parameter of a case and how it is bound.
#[derive(Clone, Debug)]
struct Param {
    name: &'static str,
    value: Vec<f64>,
    /// A per-cell field rather than one value for every cell.
    field: bool,
}

fn uniform(name: &'static str, value: &[f64]) -> Param {
    Param {
        name,
        value: value.to_vec(),
        field: false,
    }
}

/// A direction of order one in every component, so that no component's gradient is
/// weighted down to nothing.
fn direction(len: usize, seed: u64) -> Vec<f64> {
    noise(len, seed)
        .iter()
        .map(|v| v + 0.5 * v.signum())
        .collect()
}

/// Checks one step operator on one channel: the loss's derivative along a direction of
/// the initial populations and along a direction of every parameter, each separately, so
/// that a small parameter's error cannot hide under a large one's.
fn check_whole_run(op: &'static OperatorInfo, grid: &Grid, tags: &[i64], params: &[Param]) {
    let what = format!("{} on {}", op.name, grid.lattice());
    let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([STEPS / 2, STEPS]);
    let run = |f0: &[f64], params: &[Param]| -> Gradients {
        let mut step = Step::new(op).int_field("tag", tags.to_vec());
        for p in params {
            step = if p.field {
                step.field(p.name, p.value.clone())
            } else {
                step.uniform(p.name, p.value.clone())
            };
        }
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
        sim.set_populations(f0).unwrap();
        sim.gradient(&objective, STEPS, Checkpointing::StoreAll)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    let f0 = initial(grid);
    let g = run(&f0, params);
    assert!(
        g.loss.is_finite() && g.loss > 0.0,
        "{what}: loss {}",
        g.loss
    );

    // Relative perturbations of the populations keep the small ones of the 3D lattices
    // positive, so the difference measures the derivative, not a change of regime.
    let v: Vec<f64> = noise(f0.len(), 41)
        .iter()
        .zip(&f0)
        .map(|(e, f)| e * f)
        .collect();
    let fd = fd4(
        &|e| {
            let f: Vec<f64> = f0.iter().zip(&v).map(|(a, d)| a + e * d).collect();
            run(&f, params).loss
        },
        H,
    );
    assert_agrees(
        &format!("{what}, initial populations"),
        dot(&g.initial, &v),
        fd,
    );

    for (k, p) in params.iter().enumerate() {
        let dir = direction(p.value.len(), 50 + k as u64);
        let grad = g
            .param(p.name)
            .unwrap_or_else(|| panic!("{what}: no gradient for `{}`", p.name))
            .flat();
        assert_eq!(grad.len(), dir.len(), "{what}: `{}`", p.name);
        let fd = fd4(
            &|e| {
                let mut moved = params.to_vec();
                moved[k].value = p.value.iter().zip(&dir).map(|(a, d)| a + e * d).collect();
                run(&f0, &moved).loss
            },
            H,
        );
        assert_agrees(&format!("{what}, `{}`", p.name), dot(&grad, &dir), fd);
    }
}

/// The adjoint's directional derivative against the central difference, relative.
fn assert_agrees(what: &str, ad: f64, fd: f64) {
    let rel = (ad - fd).abs() / fd.abs().max(ad.abs());
    assert!(
        rel <= TOL,
        "{what}: adjoint {ad:e} vs finite difference {fd:e} (relative {rel:.2e} > {TOL:e})"
    );
    // The loss must depend on what is checked, or agreement would say nothing.
    assert!(
        fd.abs() > 1e-9,
        "{what}: derivative {fd:e} too small to test"
    );
}

/// The channels: D2Q9, D3Q19 and D3Q27.
fn channels() -> Vec<(Grid, Vec<i64>)> {
    vec![
        channel(Grid::new_2d(LatticeKind::D2Q9, 12, 8).unwrap()),
        channel(Grid::new_3d(LatticeKind::D3Q19, 8, 6, 4).unwrap()),
        channel(Grid::new_3d(LatticeKind::D3Q27, 7, 6, 4).unwrap()),
    ]
}

/// The boundary values every channel binds, followed by the collision's own parameters.
fn with_boundaries(grid: &Grid, rest: Vec<Param>) -> Vec<Param> {
    let u_in = [0.05, 0.01, -0.005];
    let mut params = vec![
        uniform("u_in", &u_in[..grid.lattice().d()]),
        uniform("rho_out", &[1.01]),
    ];
    params.extend(rest);
    params
}

#[test]
fn bgk_channel_gradients_match_finite_differences() {
    for (grid, tags) in channels() {
        let params = with_boundaries(&grid, vec![uniform("omega", &[1.6])]);
        check_whole_run(&channel_bgk::INFO, &grid, &tags, &params);
    }
}

#[test]
fn trt_channel_gradients_match_finite_differences() {
    for (grid, tags) in channels() {
        let params = with_boundaries(
            &grid,
            vec![uniform("omega", &[1.7]), uniform("magic", &[0.2])],
        );
        check_whole_run(&channel_trt::INFO, &grid, &tags, &params);
    }
}

#[test]
fn regularized_bgk_channel_gradients_match_finite_differences() {
    for (grid, tags) in channels() {
        let params = with_boundaries(&grid, vec![uniform("omega", &[1.5])]);
        check_whole_run(&channel_regularized_bgk::INFO, &grid, &tags, &params);
    }
}

#[test]
fn mrt_channel_gradients_match_finite_differences() {
    for (grid, tags) in channels() {
        let params = with_boundaries(
            &grid,
            vec![
                uniform("omega", &[1.6]),
                uniform("omega_bulk", &[1.2]),
                uniform("omega_ghost", &[1.1]),
            ],
        );
        check_whole_run(&channel_mrt::INFO, &grid, &tags, &params);
    }
}

#[test]
fn kbc_channel_gradients_match_finite_differences() {
    for (grid, tags) in channels() {
        let params = with_boundaries(&grid, vec![uniform("omega", &[1.8])]);
        check_whole_run(&channel_kbc::INFO, &grid, &tags, &params);
    }
}

#[test]
fn smagorinsky_bgk_channel_gradients_match_finite_differences() {
    for (grid, tags) in channels() {
        let params = with_boundaries(
            &grid,
            vec![uniform("omega", &[1.7]), uniform("c_smag", &[0.17])],
        );
        check_whole_run(&channel_smagorinsky_bgk::INFO, &grid, &tags, &params);
    }
}

#[test]
fn guo_forcing_channel_gradients_match_finite_differences() {
    for (grid, tags) in channels() {
        let d = grid.lattice().d();
        // One force for every cell, summed over cells by the runtime, and a force field
        // with a gradient per cell.
        let uniform_force = uniform("force", &[2e-3, -1e-3, 5e-4][..d]);
        let field_force = Param {
            name: "force",
            value: noise(grid.cells() * d, 61)
                .iter()
                .map(|v| 4e-3 * v)
                .collect(),
            field: true,
        };
        for force in [uniform_force, field_force] {
            let params = with_boundaries(&grid, vec![uniform("omega", &[1.4]), force]);
            check_whole_run(&channel_guo_forcing::INFO, &grid, &tags, &params);
        }
    }
}
