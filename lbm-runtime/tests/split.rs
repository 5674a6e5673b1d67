//! A simulation split into slabs against the same simulation in one piece: on the CPU as
//! "virtual devices" (`Backend::CpuSplit`), which tests the multi-GPU code path (the cut,
//! the halos, their exchange after every step, the scatter-add of halo adjoints, the sums
//! across parts) without GPUs; and over the GPUs of the host through NCCL
//! (`Backend::MultiGpu`) against one GPU, where two are present.
//!
//! The cases are channels with a Zou-He inlet and outlet, bounce-back walls and an obstacle
//! that the cuts go through, on D2Q9, D3Q19 and D3Q27; the cuts run along the slowest axis,
//! across the walls and the obstacle. Populations must be bitwise equal; gradients equal
//! to rounding (losses and uniform parameters are summed part by part, so in another
//! order), and the split's own gradient is checked against a central difference.

mod common;

use common::{dot, fd4, initial, noise};
use lbm_runtime::ops::{guo_forcing, halfway_bounce_back, zou_he_pressure, zou_he_velocity};
use lbm_runtime::{
    operator, ops, Backend, Budget, Checkpointing, Devices, Gradients, Grid, LatticeKind, LbmError,
    Objective, Precision, Simulation, Source, Step,
};

/// A channel along x: bounce-back from solid neighbours, Zou-He velocity inlet (tag 1) and
/// pressure outlet (tag 2), solid cells (tag 3) kept as they are, Guo forcing with a force
/// per cell. A share `mix` of each population is taken from the cell `below` (bound to a
/// neighbour across the cut), so reads of other cells' own populations cross it too.
#[operator]
pub fn split_channel(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    f_below: [Real; Q],
    #[links] links: i64,
    tag: i32,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
    #[param] omega: Real,
    #[param] mix: Real,
    #[param] force: [Real; D],
) -> [Real; Q] {
    if tag == 3 {
        return f_local;
    }
    let g = halfway_bounce_back(f, f_local, links);
    let h: [Real; Q] = match tag {
        1 => zou_he_velocity(g, u_in, 0, 1),
        2 => zou_he_pressure(g, rho_out, 0, -1),
        _ => g,
    };
    let c = guo_forcing(h, omega, force);
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = (1.0 - mix) * c[i] + mix * f_below[i];
    }
    out
}

/// A channel with walls on the lowest and highest planes of y and a ball (a disc in 2D)
/// in the middle, which the cuts along the slowest axis go through.
fn channel(grid: Grid) -> (Grid, Vec<i64>) {
    common::channel(grid, 3.0)
}

/// The channels: the slowest axis (y in 2D, z in 3D) is cut.
fn channels() -> Vec<(Grid, Vec<i64>)> {
    vec![
        channel(Grid::new_2d(LatticeKind::D2Q9, 14, 11).unwrap()),
        channel(Grid::new_3d(LatticeKind::D3Q19, 8, 7, 7).unwrap()),
        channel(Grid::new_3d(LatticeKind::D3Q27, 7, 6, 6).unwrap()),
    ]
}

/// Every channel, with a step that reads the neighbour below across the cuts (reach 1)
/// and with one that does not (reach 0).
fn reaches() -> Vec<((Grid, Vec<i64>), i32)> {
    channels()
        .into_iter()
        .flat_map(|c| [(c.clone(), 0), (c, 1)])
        .collect()
}

/// The neighbour `layers` below along the slowest axis; the cell itself for 0 (a step
/// reading no other cell's own populations, whose halos carry only what streams across
/// the cuts).
fn below(grid: &Grid, layers: i32) -> Source {
    match (layers, grid.lattice().d()) {
        (0, _) => Source::Local,
        (_, 2) => Source::Neighbor([0, -layers, 0]),
        _ => Source::Neighbor([0, 0, -layers]),
    }
}

/// The step of a channel, with a force field and the cross-cut neighbour `reach` below.
fn step(grid: &Grid, tags: &[i64], omega: f64, force: &[f64], reach: i32) -> Step {
    let d = grid.lattice().d();
    let u_in = [0.05, 0.01, -0.005];
    Step::new(&split_channel::INFO)
        .int_field("tag", tags.to_vec())
        .source("f_below", below(grid, reach))
        .uniform("u_in", u_in[..d].to_vec())
        .uniform("rho_out", [1.01])
        .uniform("omega", [omega])
        .uniform("mix", [0.03])
        .field("force", force.to_vec())
}

fn force_field(grid: &Grid) -> Vec<f64> {
    let d = grid.lattice().d();
    noise(grid.cells() * d, 77)
        .iter()
        .map(|v| 1e-4 * v)
        .collect()
}

/// Steps of every run.
const STEPS: usize = 16;

fn simulation(grid: &Grid, step: &Step, precision: Precision, backend: Backend) -> Simulation {
    let mut sim = Simulation::new(grid.clone(), step, precision, backend)
        .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
    sim.set_populations(&initial(grid)).unwrap();
    sim
}

#[test]
fn split_populations_equal_the_whole_run_bit_for_bit() {
    for ((grid, tags), reach) in reaches() {
        let step = step(&grid, &tags, 1.7, &force_field(&grid), reach);
        for precision in [Precision::F64, Precision::F32] {
            let mut whole = simulation(&grid, &step, precision, Backend::Cpu);
            whole.run(STEPS).unwrap();
            let expected = whole.populations().unwrap();
            for parts in [2, 3] {
                let mut split = simulation(&grid, &step, precision, Backend::CpuSplit(parts));
                split.run(STEPS).unwrap();
                assert_bitwise(
                    &split.populations().unwrap(),
                    &expected,
                    &format!(
                        "{} {precision:?} in {parts} parts, reach {reach}",
                        grid.lattice()
                    ),
                );
            }
        }
    }
}

/// Losses over cells on both sides of every cut: the velocity's distance to a target
/// field at two steps, and the momentum exchange on the walls and the obstacle, weighted.
fn objectives(grid: &Grid) -> Vec<Objective> {
    let d = grid.lattice().d();
    let target: Vec<f64> = noise(grid.cells() * d, 91)
        .iter()
        .map(|v| 0.02 * v)
        .collect();
    vec![
        Objective::new(&ops::velocity_mismatch::INFO)
            .field("target", target)
            .at_steps([STEPS / 2, STEPS]),
        Objective::new(&ops::momentum_exchange_force::INFO)
            .weights(vec![1.0, -0.5, 0.25][..d].to_vec())
            .at_steps([STEPS]),
    ]
}

fn gradient(
    sim: &mut Simulation,
    objective: &Objective,
    checkpointing: Checkpointing,
) -> Gradients {
    sim.gradient(objective, STEPS, checkpointing)
        .unwrap_or_else(|e| panic!("{:?}: {e}", sim.backend()))
}

/// Largest difference relative to the largest magnitude of `expected`.
fn relative_difference(got: &[f64], expected: &[f64]) -> f64 {
    assert_eq!(got.len(), expected.len());
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "an all-zero gradient tests nothing");
    got.iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale
}

/// Asserts populations equal bit for bit, naming the first that differs.
fn assert_bitwise(got: &[f64], expected: &[f64], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}");
    let first_difference = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    if let Some(k) = first_difference {
        panic!(
            "{what}: population {k} is {} against {}",
            got[k], expected[k]
        );
    }
}

/// Asserts a gradient equal to another to `tol` relative: the loss, the initial state
/// (against its largest value) and every parameter, in the same order. Sums run in
/// another grouping on a split, so only bit for bit by chance.
fn assert_same_gradients(g: &Gradients, expected: &Gradients, tol: f64, what: &str) {
    assert!(
        (g.loss - expected.loss).abs() <= tol * expected.loss.abs(),
        "{what}: loss {} vs {}",
        g.loss,
        expected.loss
    );
    let initial = relative_difference(&g.initial, &expected.initial);
    assert!(initial <= tol, "{what}: initial state off by {initial:e}");
    assert_eq!(g.params.len(), expected.params.len(), "{what}");
    for (p, e) in g.params.iter().zip(&expected.params) {
        assert_eq!((p.op, p.name), (e.op, e.name), "{what}");
        let off = relative_difference(&p.value.flat(), &e.value.flat());
        assert!(off <= 10.0 * tol, "{what}: `{}` off by {off:e}", p.name);
    }
}

#[test]
fn split_gradients_equal_the_whole_run_to_rounding() {
    for ((grid, tags), reach) in reaches() {
        let step = step(&grid, &tags, 1.7, &force_field(&grid), reach);
        for objective in objectives(&grid) {
            let mut whole = simulation(&grid, &step, Precision::F64, Backend::Cpu);
            let expected = gradient(&mut whole, &objective, Checkpointing::StoreAll);
            // Store-all, and revolve with six snapshots and the rest spilled to the host
            // (copies, offloads and reloads of split states).
            let store_all = gradient(
                &mut simulation(&grid, &step, Precision::F64, Backend::CpuSplit(3)),
                &objective,
                Checkpointing::StoreAll,
            );
            let split_state = store_all.report.state_bytes;
            let schedules = [
                Checkpointing::StoreAll,
                Checkpointing::Budget(Budget::bytes(6 * split_state).spill_to_host(1 << 30)),
            ];
            for (parts, checkpointing) in [(2, schedules[0]), (3, schedules[1])] {
                let mut split = simulation(&grid, &step, Precision::F64, Backend::CpuSplit(parts));
                let g = gradient(&mut split, &objective, checkpointing);
                let what = format!("{} in {parts} parts, reach {reach}", grid.lattice());
                assert_same_gradients(&g, &expected, 1e-13, &what);
            }
        }
    }
}

/// The split's gradient along one direction of the initial state and of the force field
/// against a fourth-order central difference of the split's own loss: not only equal to the
/// whole run, but right.
#[test]
fn split_gradient_matches_finite_differences() {
    let (grid, tags) = channel(Grid::new_3d(LatticeKind::D3Q19, 7, 6, 6).unwrap());
    let force = force_field(&grid);
    let objective = objectives(&grid).remove(0);
    let backend = Backend::CpuSplit(3);
    let loss = |f0: &[f64], force: &[f64]| {
        let mut sim = Simulation::new(
            grid.clone(),
            &step(&grid, &tags, 1.7, force, 1),
            Precision::F64,
            backend,
        )
        .unwrap();
        sim.set_populations(f0).unwrap();
        sim.parameter_gradient(&objective, STEPS, Checkpointing::StoreAll)
            .unwrap()
            .loss
    };
    let f0 = initial(&grid);
    let mut sim = simulation(
        &grid,
        &step(&grid, &tags, 1.7, &force, 1),
        Precision::F64,
        backend,
    );
    let g = gradient(&mut sim, &objective, Checkpointing::StoreAll);

    let v: Vec<f64> = noise(f0.len(), 5)
        .iter()
        .zip(&f0)
        .map(|(e, f)| e * f)
        .collect();
    let fd = fd4(
        &|e| {
            let f: Vec<f64> = f0.iter().zip(&v).map(|(a, d)| a + e * d).collect();
            loss(&f, &force)
        },
        1e-4,
    );
    assert_close("initial state", dot(&g.initial, &v), fd);

    let dir = noise(force.len(), 6);
    let fd = fd4(
        &|e| {
            let moved: Vec<f64> = force.iter().zip(&dir).map(|(a, d)| a + e * d).collect();
            loss(&f0, &moved)
        },
        1e-3,
    );
    let grad = g.param("force").expect("a force gradient").flat();
    assert_close("force field", dot(&grad, &dir), fd);
}

fn assert_close(what: &str, ad: f64, fd: f64) {
    let rel = (ad - fd).abs() / fd.abs().max(ad.abs());
    assert!(rel <= 1e-7, "{what}: adjoint {ad:e}, difference {fd:e}");
    assert!(
        fd.abs() > 1e-10,
        "{what}: derivative {fd:e} too small to test"
    );
}

#[test]
fn a_halo_of_two_layers_carries_reads_two_layers_away() {
    let (grid, tags) = channel(Grid::new_2d(LatticeKind::D2Q9, 10, 12).unwrap());
    let step = step(&grid, &tags, 1.6, &force_field(&grid), 2);
    let objective = objectives(&grid).remove(0);
    let mut whole = simulation(&grid, &step, Precision::F64, Backend::Cpu);
    let expected = gradient(&mut whole, &objective, Checkpointing::StoreAll);
    let mut split = simulation(&grid, &step, Precision::F64, Backend::CpuSplit(4));
    let g = gradient(&mut split, &objective, Checkpointing::StoreAll);
    assert!(relative_difference(&g.initial, &expected.initial) <= 1e-13);
    split.run(STEPS).unwrap();
    whole.run(STEPS).unwrap();
    assert_eq!(split.populations().unwrap(), whole.populations().unwrap());
    // Six parts of two layers each are the thinnest that two-layer reads allow.
    assert!(Simulation::new(grid.clone(), &step, Precision::F64, Backend::CpuSplit(6)).is_ok());
    let err = Simulation::new(grid, &step, Precision::F64, Backend::CpuSplit(7))
        .err()
        .expect("parts thinner than the halo are refused");
    assert!(err.to_string().contains("at most 6 parts"), "{err}");
}

#[test]
fn a_divergence_names_the_same_step_and_cell_as_the_whole_run() {
    let (grid, tags) = channel(Grid::new_3d(LatticeKind::D3Q19, 8, 7, 7).unwrap());
    let step = step(&grid, &tags, 1.7, &force_field(&grid), 1);
    let mut f0 = initial(&grid);
    // A huge population in a fluid cell of the last part's slab overflows in a few steps.
    let q = grid.lattice().q();
    let cell = grid.index([3, 2, 6]);
    f0[cell * q + 1] = 1e300;
    let diverged = |backend: Backend| {
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, backend).unwrap();
        sim.set_populations(&f0).unwrap();
        match sim.run(STEPS) {
            Err(LbmError::Diverged { step, cell }) => (step, cell),
            other => panic!("{backend:?}: {other:?}"),
        }
    };
    assert_eq!(diverged(Backend::CpuSplit(3)), diverged(Backend::Cpu));
}

#[test]
fn parameters_set_after_the_split_reach_every_part() {
    let (grid, tags) = channel(Grid::new_3d(LatticeKind::D3Q27, 7, 6, 6).unwrap());
    let step = step(&grid, &tags, 1.7, &force_field(&grid), 1);
    let mut whole = simulation(&grid, &step, Precision::F64, Backend::Cpu);
    let mut split = simulation(&grid, &step, Precision::F64, Backend::CpuSplit(2));
    let force: Vec<f64> = force_field(&grid).iter().map(|v| -3.0 * v).collect();
    for sim in [&mut whole, &mut split] {
        sim.set_field("force", force.clone()).unwrap();
        sim.set_uniform("omega", [1.3]).unwrap();
        sim.run(STEPS).unwrap();
    }
    assert_eq!(split.populations().unwrap(), whole.populations().unwrap());
    // A read farther than the halo the split was made with is refused, naming it.
    let err = split
        .set_parameter("f_below", below(&grid, 2))
        .expect_err("a read beyond the halo");
    assert!(err.to_string().contains("halo of 1"), "{err}");
}

/// Whether the host has two GPUs to split over; prints why not (or fails under
/// `LBM_REQUIRE_MULTI_GPU=1`, set on a two-GPU machine so the tests cannot silently skip).
fn two_gpus(test: &str) -> bool {
    let why = match lbm_runtime::cuda::check_available() {
        Err(why) => why.to_string(),
        Ok(()) => match Simulation::new(
            Grid::new_2d(LatticeKind::D2Q9, 4, 4).unwrap(),
            &Step::new(&ops::bgk::INFO).uniform("omega", [1.0]),
            Precision::F32,
            Backend::MultiGpu(Devices::first(2).unwrap()),
        ) {
            Ok(_) => return true,
            Err(e) => e.to_string(),
        },
    };
    if std::env::var("LBM_REQUIRE_MULTI_GPU").as_deref() == Ok("1") {
        panic!("{test}: LBM_REQUIRE_MULTI_GPU=1 but {why}");
    }
    eprintln!("notice: skipping {test}: {why}");
    false
}

#[test]
fn two_gpus_give_one_gpus_populations_bit_for_bit() {
    if !two_gpus("two_gpus_give_one_gpus_populations_bit_for_bit") {
        return;
    }
    let two = Backend::MultiGpu(Devices::first(2).unwrap());
    for ((grid, tags), reach) in reaches() {
        let step = step(&grid, &tags, 1.7, &force_field(&grid), reach);
        for precision in [Precision::F64, Precision::F32] {
            let mut one = simulation(&grid, &step, precision, Backend::Cuda);
            let mut split = simulation(&grid, &step, precision, two);
            one.run(STEPS).unwrap();
            split.run(STEPS).unwrap();
            assert_bitwise(
                &split.populations().unwrap(),
                &one.populations().unwrap(),
                &format!("{} {precision:?}, reach {reach}", grid.lattice()),
            );
        }
    }
}

#[test]
fn two_gpus_give_one_gpus_gradients_to_rounding() {
    if !two_gpus("two_gpus_give_one_gpus_gradients_to_rounding") {
        return;
    }
    let two = Backend::MultiGpu(Devices::first(2).unwrap());
    for ((grid, tags), reach) in reaches() {
        let step = step(&grid, &tags, 1.7, &force_field(&grid), reach);
        let whole_state = grid.cells() * grid.lattice().q() * 8;
        for objective in objectives(&grid) {
            let mut one = simulation(&grid, &step, Precision::F64, Backend::Cuda);
            let expected = gradient(&mut one, &objective, Checkpointing::StoreAll);
            for checkpointing in [
                Checkpointing::StoreAll,
                Checkpointing::Budget(Budget::bytes(12 * whole_state).spill_to_host(1 << 30)),
            ] {
                let mut split = simulation(&grid, &step, Precision::F64, two);
                let g = gradient(&mut split, &objective, checkpointing);
                let what = format!(
                    "{} on two GPUs, reach {reach}, {checkpointing:?}",
                    grid.lattice()
                );
                assert_same_gradients(&g, &expected, 1e-12, &what);
            }
        }
    }
}

#[test]
fn virtual_devices_share_the_hosts_memory() {
    // A store-all gradient far beyond any host: the refusal names the memory the backend
    // has. The parts of a CPU split all draw on the host's memory, so they have what one
    // engine has, not that once per part.
    let (grid, tags) = channel(Grid::new_2d(LatticeKind::D2Q9, 14, 11).unwrap());
    let step = step(&grid, &tags, 1.7, &force_field(&grid), 1);
    let objective = objectives(&grid).remove(0);
    let available = |backend: Backend| {
        let mut sim = simulation(&grid, &step, Precision::F64, backend);
        match sim.gradient(&objective, 1 << 40, Checkpointing::StoreAll) {
            Err(LbmError::OutOfMemory {
                available: Some(a), ..
            }) => a as f64,
            other => panic!("{backend:?}: {other:?}"),
        }
    };
    let (whole, split) = (available(Backend::Cpu), available(Backend::CpuSplit(3)));
    assert!(
        split < 1.5 * whole && split > 0.5 * whole,
        "{split} bytes on three virtual devices, {whole} on one engine"
    );
}
