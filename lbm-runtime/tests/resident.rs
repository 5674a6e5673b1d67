//! A simulation keeps its state and parameters in the backend between calls: no copies
//! between steps, parameter updates equal to a fresh simulation, gradients that start at
//! the simulation's time, and divergence named at its first step whenever it is read.

mod common;

use common::{initial, noise};
use lbm_runtime::ops::{bgk, partial_bounce_back};
use lbm_runtime::{
    operator, ops, Backend, Checkpointing, GradValue, Gradients, Grid, LatticeKind, LbmError,
    Objective, Precision, Simulation, StateLayout, Step,
};

/// Gray BGK: a per-cell solid fraction, then collision.
#[operator]
pub fn gray_bgk(
    #[populations] f: [Real; Q],
    #[range("[0, 1]")] solid: Real,
    #[param]
    #[range("(0, 2)")]
    omega: Real,
) -> [Real; Q] {
    bgk(partial_bounce_back(f, f, solid), omega)
}

fn grid() -> Grid {
    Grid::new_2d(LatticeKind::D2Q9, 12, 9).unwrap()
}

fn solid(grid: &Grid, seed: u64) -> Vec<f64> {
    noise(grid.cells(), seed)
        .iter()
        .map(|v| 0.05 + 0.1 * v.abs())
        .collect()
}

fn gradient(sim: &mut Simulation, steps: usize) -> Gradients {
    sim.gradient(
        &Objective::new(&ops::kinetic_energy::INFO),
        steps,
        Checkpointing::StoreAll,
    )
    .unwrap()
}

fn fresh(step: &Step, f0: &[f64]) -> Simulation {
    let mut sim = Simulation::new(grid(), step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_populations(f0).unwrap();
    sim
}

#[test]
fn populations_cross_to_the_host_only_when_asked() {
    let grid = grid();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.3]);
    let mut sim = Simulation::new(grid.clone(), &step, Precision::F32, Backend::Cpu).unwrap();
    let f0 = initial(&grid);
    sim.set_populations(&f0).unwrap();
    sim.run(40).unwrap();
    sim.run(25).unwrap();
    sim.set_uniform("omega", [1.4]).unwrap();
    sim.run(3).unwrap();
    let state_bytes = grid.cells() * 9 * 4;
    let t = sim.transfers();
    assert_eq!((t.uploads, t.downloads), (1, 0), "{t:?}");
    assert_eq!(t.bytes_uploaded, state_bytes);
    gradient(&mut sim, 10);
    // The gradient with respect to the initial state is the one copy a gradient makes.
    assert_eq!(sim.transfers().downloads, 1);
    sim.populations().unwrap();
    let t = sim.transfers();
    assert_eq!((t.uploads, t.downloads), (1, 2), "{t:?}");
    assert_eq!(t.bytes_downloaded, 2 * state_bytes);

    // Parameters only: the same parameter gradients, and no state-sized copy.
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let full = sim
        .gradient(&objective, 10, Checkpointing::StoreAll)
        .unwrap();
    let params = sim
        .parameter_gradient(&objective, 10, Checkpointing::StoreAll)
        .unwrap();
    assert_eq!((params.loss, &params.params), (full.loss, &full.params));
    assert!(params.initial.is_empty());
    assert_eq!(sim.transfers().downloads, 3);
}

#[test]
fn populations_come_out_in_the_layout_and_precision_asked_for() {
    let grid = grid();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.3]);
    let mut sim = Simulation::new(grid.clone(), &step, Precision::F32, Backend::Cpu).unwrap();
    sim.set_populations(&initial(&grid)).unwrap();
    sim.run(7).unwrap();
    let cell_major = sim.populations().unwrap();
    let soa: Vec<f32> = sim.populations_as(StateLayout::DirectionMajor).unwrap();
    let n = grid.cells();
    for cell in 0..n {
        for i in 0..9 {
            // An f32 state widened to f64 and back is the same f32.
            assert_eq!(soa[i * n + cell], cell_major[cell * 9 + i] as f32);
        }
    }
}

#[test]
fn updated_parameters_give_a_fresh_simulations_gradient() {
    let grid = grid();
    let f0 = initial(&grid);
    let (s1, s2) = (solid(&grid, 1), solid(&grid, 2));
    let step = |solid: Vec<f64>, omega: f64| {
        Step::new(&gray_bgk::INFO)
            .field("solid", solid)
            .uniform("omega", [omega])
    };
    let mut sim = fresh(&step(s1.clone(), 1.2), &f0);
    let before = gradient(&mut sim, 6);

    // New values of the same kinds: buffers change, kernels stay.
    sim.set_field("solid", s2.clone()).unwrap();
    sim.set_uniform("omega", [1.7]).unwrap();
    assert_eq!(
        gradient(&mut sim, 6),
        gradient(&mut fresh(&step(s2, 1.7), &f0), 6)
    );

    // A change of kind (per-cell to uniform) rebuilds the step.
    sim.set_uniform("solid", [0.2]).unwrap();
    let uniform = Step::new(&gray_bgk::INFO)
        .uniform("solid", [0.2])
        .uniform("omega", [1.7]);
    assert_eq!(
        gradient(&mut sim, 6),
        gradient(&mut fresh(&uniform, &f0), 6)
    );

    // And back: the first simulation's gradient again, bit for bit.
    sim.set_field("solid", s1).unwrap();
    sim.set_uniform("omega", [1.2]).unwrap();
    assert_eq!(gradient(&mut sim, 6), before);
}

#[test]
fn a_rejected_update_keeps_the_previous_binding() {
    let grid = grid();
    let f0 = initial(&grid);
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
    let mut sim = fresh(&step, &f0);
    let before = gradient(&mut sim, 4);
    let err = sim.set_uniform("omega", [2.5]).unwrap_err();
    assert!(matches!(err, LbmError::OutOfRange { .. }), "{err}");
    let err = sim.set_uniform("omega", [1.0, 2.0]).unwrap_err();
    assert!(err.to_string().contains("omega"), "{err}");
    assert!(sim.set_uniform("no_such", [1.0]).is_err());
    assert_eq!(gradient(&mut sim, 4), before);
}

#[test]
fn a_gradient_after_a_run_starts_at_the_simulation_time() {
    let grid = grid();
    let f0 = initial(&grid);
    let omegas: Vec<Vec<f64>> = (0..12).map(|t| vec![1.1 + 0.05 * t as f64]).collect();
    let step = |rows: Vec<Vec<f64>>| Step::new(&ops::bgk::INFO).per_step("omega", rows);
    let mut warm = fresh(&step(omegas.clone()), &f0);
    warm.run(4).unwrap();
    let g = gradient(&mut warm, 5);
    assert_eq!(warm.time(), 4, "a gradient leaves the time as it was");

    // The same window from a fresh simulation: its state is the warm one's, its per-step
    // table starts four rows later.
    let mut cold = fresh(&step(omegas[4..].to_vec()), &warm.populations().unwrap());
    let c = gradient(&mut cold, 5);
    assert_eq!((g.loss, &g.initial), (c.loss, &c.initial));
    let (Some(GradValue::PerStep(gw)), Some(GradValue::PerStep(gc))) =
        (g.param("omega"), c.param("omega"))
    else {
        panic!("per-step gradients expected");
    };
    assert!(gw[..4].iter().all(|r| r == &[0.0]), "{gw:?}");
    assert_eq!(&gw[4..9], &gc[..5]);
    assert!(gw[4..9].iter().all(|r| r[0] != 0.0));

    // Past the end of the per-step table is an error, not a read out of bounds.
    let err = warm
        .gradient(
            &Objective::new(&ops::kinetic_energy::INFO),
            9,
            Checkpointing::StoreAll,
        )
        .unwrap_err();
    assert!(err.to_string().contains("12 steps"), "{err}");
}

#[test]
fn divergence_is_named_at_its_first_step_however_often_it_is_read() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 8, 8).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.99]);
    let mut u = vec![0.0; 128];
    for (k, v) in u.iter_mut().enumerate() {
        *v = if k % 3 == 0 { 0.9 } else { -0.9 };
    }
    let start = |sim: &mut Simulation| sim.set_equilibrium(&vec![1.0; 64], &u).unwrap();
    let mut sim = Simulation::new(grid, &step, Precision::F64, Backend::Cpu).unwrap();

    // One step at a time: the record is read after every step.
    start(&mut sim);
    let one_by_one = (0..5000)
        .find_map(|_| sim.run(1).err())
        .expect("this flow diverges");
    // In one call: the record is read every few dozen steps.
    start(&mut sim);
    let at_once = sim.run(5000).unwrap_err();
    assert_eq!(one_by_one.to_string(), at_once.to_string());
    let LbmError::Diverged { step, .. } = at_once else {
        panic!("{at_once}");
    };
    assert!(
        step % 32 != 0,
        "the first step, not the step of the check: {step}"
    );

    // A new state clears the record.
    start(&mut sim);
    sim.run(1).unwrap();
}

#[test]
fn macroscopic_fields_are_the_moments_of_the_state() {
    let grid = Grid::new_3d(LatticeKind::D3Q19, 4, 3, 5).unwrap();
    let n = grid.cells();
    let rho: Vec<f64> = (0..n).map(|c| 1.0 + 0.01 * (c % 7) as f64).collect();
    let u: Vec<f64> = (0..3 * n).map(|k| 0.02 * ((k % 5) as f64 - 2.0)).collect();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.0]);
    let mut sim = Simulation::new(grid, &step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_equilibrium(&rho, &u).unwrap();
    let (r, v) = sim.macroscopic().unwrap();
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-14);
    assert!(close(&r, &rho) && close(&v, &u));
}

#[test]
fn equilibrium_gradient_checks_every_field() {
    let grid = grid();
    let n = grid.cells();
    let (rho, u) = (vec![1.0; n], vec![0.0; 2 * n]);
    let short = vec![0.0; 9 * n - 1];
    let err = lbm_runtime::equilibrium_gradient(&grid, &rho, &u, &short).unwrap_err();
    assert!(matches!(err, LbmError::ShapeMismatch { .. }), "{err}");
    let mut nan = vec![0.0; 9 * n];
    nan[5] = f64::NAN;
    let err = lbm_runtime::equilibrium_gradient(&grid, &rho, &u, &nan).unwrap_err();
    assert!(matches!(err, LbmError::NonFinite { .. }), "{err}");
}

#[test]
fn a_gradient_that_does_not_fit_is_refused_before_it_allocates() {
    let grid = grid();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
    let mut sim = fresh(&step, &initial(&grid));
    let all = gradient(&mut sim, 60);
    // A state as the backend keeps it: Q planes of at least one value per cell.
    let state = all.report.state_bytes;
    assert!(state >= grid.cells() * 9 * 8, "{state}");
    // Room for 20 more states: store-all over 60 steps needs 62.
    sim.set_memory_limit(Some(20 * state));
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let err = sim
        .gradient(&objective, 60, Checkpointing::StoreAll)
        .unwrap_err();
    let LbmError::OutOfMemory {
        needed, available, ..
    } = &err
    else {
        panic!("{err}");
    };
    // The need is every new state (62) and the adjoint's per-cell buffers: one plane of
    // the step's real inputs (Q populations and omega) for the step, and as many for the
    // objective, each plane a ninth of a state.
    let buffers = 2 * (9 + 1) * state / 9;
    assert_eq!(*needed, 62 * state + buffers, "{err}");
    assert_eq!(*available, Some(20 * state), "{err}");
    assert!(err.to_string().contains("fits: revolve with"), "{err}");
    // Automatic checkpointing takes what the limit allows, and gives the same gradient.
    let auto = sim.gradient(&objective, 60, Checkpointing::Auto).unwrap();
    assert_eq!((auto.loss, &auto.initial), (all.loss, &all.initial));
    assert!(auto.report.peak_states <= 21, "{:?}", auto.report);
    assert!(auto.report.recompute_factor() > 1.0);
    // Without a limit, the budget comes from the host's free memory, which Linux reports.
    if cfg!(target_os = "linux") {
        sim.set_memory_limit(None);
        let free = sim.gradient(&objective, 60, Checkpointing::Auto).unwrap();
        assert_eq!((free.loss, &free.initial), (all.loss, &all.initial));
        assert_eq!(free.report.recompute_factor(), 1.0, "{:?}", free.report);
    }
}

#[test]
fn quadratic_recomputation_is_refused_unless_allowed() {
    let grid = grid();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
    let mut sim = fresh(&step, &initial(&grid));
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let state = gradient(&mut sim, 1).report.state_bytes;
    let five = Checkpointing::Budget(lbm_runtime::Budget::bytes(5 * state));
    let err = sim.gradient(&objective, 2000, five).unwrap_err();
    assert!(
        err.to_string().contains("1000.5 forward steps per step"),
        "{err}"
    );
    // Steps at the edge of the counter: refused as a plan, not overflowed or run.
    let err = sim.gradient(&objective, usize::MAX, five).unwrap_err();
    assert!(matches!(err, LbmError::Checkpoint(_)), "{err}");
    // After a run, the same request would take the time past the counter: said as such.
    sim.run(10).unwrap();
    let err = sim.gradient(&objective, usize::MAX, five).unwrap_err();
    assert!(
        matches!(err, LbmError::StepOverflow { time: 10, .. }),
        "{err}"
    );
    sim.set_populations(&initial(&grid)).unwrap();
    sim.set_recompute_limit(f64::INFINITY).unwrap();
    let g = sim.gradient(&objective, 30, five).unwrap();
    assert_eq!(g.report.forward_steps, 30 + 30 * 29 / 2);
    assert!(sim.set_recompute_limit(0.5).is_err());
}

#[test]
fn a_loss_that_overflows_is_an_error_naming_it() {
    let grid = grid();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
    let mut sim = fresh(&step, &initial(&grid));
    let objective = Objective::new(&ops::rho_squared::INFO).weights([1e307]);
    let err = sim
        .gradient(&objective, 3, Checkpointing::StoreAll)
        .unwrap_err();
    assert!(matches!(err, LbmError::NonFiniteResult { .. }), "{err}");
    assert!(err.to_string().contains("the loss"), "{err}");
}

#[test]
fn populations_beyond_f32_are_refused_at_upload_not_reported_as_divergence() {
    let grid = grid();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
    let mut f = initial(&grid);
    f[7] = 1e300;
    let mut f32_sim = Simulation::new(grid.clone(), &step, Precision::F32, Backend::Cpu).unwrap();
    let err = f32_sim.set_populations(&f).unwrap_err();
    assert!(
        matches!(err, LbmError::NonFinite { index: 7, .. }) && err.to_string().contains("f32"),
        "{err}"
    );
    // The f64 adjoint of an f32 forward stores f64 but computes the forward in f32.
    let mut mixed = Simulation::new(grid.clone(), &step, Precision::F32, Backend::Cpu)
        .unwrap()
        .with_adjoint_precision(lbm_runtime::AdjointPrecision::F64)
        .unwrap();
    assert!(mixed.set_populations(&f).is_err());
    // In f64 the same value is representable: the upload is the user's to make.
    let mut f64_sim = fresh(&step, &initial(&grid));
    f64_sim.set_populations(&f).unwrap();
}

#[test]
fn a_grid_beyond_memory_is_an_error_not_an_abort() {
    if lbm_runtime::memory::host_available().is_none() {
        eprintln!("notice: this system does not report its free memory");
        return;
    }
    // 2^30 cells of D3Q27: hundreds of GB of states and tables.
    let grid = Grid::new_3d(LatticeKind::D3Q27, 1024, 1024, 1024).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.2]);
    let err = Simulation::new(grid, &step, Precision::F32, Backend::Cpu)
        .err()
        .expect("refused");
    assert!(matches!(err, LbmError::OutOfMemory { .. }), "{err}");
}

#[test]
fn progress_counts_every_step_a_call_runs() {
    use lbm_runtime::{Progress, ProgressObserver, Sweep};
    use std::sync::{Arc, Mutex};

    let grid = grid();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.3]);
    let mut sim = fresh(&step, &initial(&grid));
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = seen.clone();
    let observer: ProgressObserver = Arc::new(move |p: &Progress| sink.lock().unwrap().push(*p));
    sim.set_progress(Some(observer));

    sim.run(70).unwrap();
    let runs = std::mem::take(&mut *seen.lock().unwrap());
    let done: Vec<u64> = runs.iter().map(|p| p.forward_done).collect();
    assert_eq!(done, [32, 64, 70]);
    assert!(runs
        .iter()
        .all(|p| p.sweep == Sweep::Run && p.forward_total == 70));

    // A revolve schedule recomputes: the totals announced up front are what it runs.
    let steps = 100;
    let g = sim
        .gradient(
            &Objective::new(&ops::kinetic_energy::INFO),
            steps,
            Checkpointing::Revolve { snapshots: 3 },
        )
        .unwrap();
    let reports = seen.lock().unwrap().clone();
    let last = reports.last().expect("a gradient reports");
    assert_eq!(last.sweep, Sweep::Gradient);
    assert_eq!(last.forward_total, g.report.forward_steps as u64);
    assert_eq!(last.forward_done, last.forward_total);
    assert_eq!((last.adjoint_done, last.adjoint_total), (100, 100));
    assert!(g.report.forward_steps > steps, "revolve recomputes");
    let fractions: Vec<f64> = reports.iter().map(|p| p.fraction(2.0)).collect();
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");

    sim.set_progress(None);
    seen.lock().unwrap().clear();
    sim.run(40).unwrap();
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn a_saved_state_resumes_where_it_stopped() {
    let grid = grid();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.3]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half-way.lbmstate");

    let mut whole = fresh(&step, &initial(&grid));
    whole.run(30).unwrap();
    whole.save_state(&path).unwrap();
    whole.run(20).unwrap();

    let mut resumed = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
    resumed.load_state(&path).unwrap();
    assert_eq!(resumed.time(), 30);
    resumed.run(20).unwrap();
    assert_eq!(resumed.time(), whole.time());
    let (a, b) = (whole.populations().unwrap(), resumed.populations().unwrap());
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));

    // A state of another geometry is refused and the simulation keeps its own.
    let walls = (0..grid.cells()).map(|c| c < grid.dims()[0]).collect();
    let walled = grid.clone().with_solid(walls).unwrap();
    let mut other = Simulation::new(walled, &step, Precision::F64, Backend::Cpu).unwrap();
    other.set_populations(&initial(&grid)).unwrap();
    other.run(3).unwrap();
    let before = other.populations().unwrap();
    let err = other.load_state(&path).unwrap_err();
    assert!(matches!(err, LbmError::StateFile { .. }), "{err}");
    assert_eq!(other.populations().unwrap(), before);
    assert_eq!(other.time(), 3);
}

/// BGK plus a per-cell push along each direction, switched by a uniform integer mode.
#[operator]
pub fn pushed_bgk(
    #[populations] f: [Real; Q],
    mode: i32,
    push: [Real; D],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
) -> [Real; Q] {
    let mut out = bgk(f, omega);
    if mode == 1 {
        for i in 0..Q {
            let mut cp = 0.0;
            for a in 0..D {
                cp += C[i][a] * push[a];
            }
            out[i] += W[i] * cp;
        }
    }
    out
}

#[test]
fn integer_and_vector_field_sources_reach_the_right_cell() {
    // A push at one cell, through a uniform integer switch: after one step it shows at
    // that cell's populations, as w_i (c_i . push), and nowhere else. Catches a CPU gather
    // that drops uniform integers or reads a vector field with the wrong stride.
    let grid = Grid::new_3d(LatticeKind::D3Q19, 5, 4, 3).unwrap();
    let (d, q, cells) = (3, 19, grid.cells());
    let target = 37;
    let push_at = [0.02, -0.01, 0.005];
    let mut push = vec![0.0; cells * d];
    push[target * d..target * d + d].copy_from_slice(&push_at);
    let f0 = initial(&grid);
    let one_step = |mode: i64| {
        let step = Step::new(&pushed_bgk::INFO)
            .int("mode", mode)
            .field("push", push.clone())
            .uniform("omega", [1.3]);
        let mut sim = fresh_on(&grid, &step, &f0);
        sim.run(1).unwrap();
        sim.populations().unwrap()
    };
    let (on, off) = (one_step(1), one_step(0));
    let lattice = LatticeKind::D3Q19;
    for cell in 0..cells {
        for i in 0..q {
            let diff = on[cell * q + i] - off[cell * q + i];
            let expected = if cell == target {
                let c = lattice.c(i);
                lattice.w(i) * (0..d).map(|a| c[a] as f64 * push_at[a]).sum::<f64>()
            } else {
                0.0
            };
            assert!(
                (diff - expected).abs() < 1e-15,
                "cell {cell}, direction {i}: {diff:e} vs {expected:e}"
            );
        }
    }
}

fn fresh_on(grid: &Grid, step: &Step, f0: &[f64]) -> Simulation {
    let mut sim = Simulation::new(grid.clone(), step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_populations(f0).unwrap();
    sim
}
