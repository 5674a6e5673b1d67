//! Gradients of whole runs on the CPU backend, checked against finite differences.

use lbm_runtime::{
    ops, Backend, Budget, Checkpointing, GradValue, Grid, LatticeKind, Objective, Precision,
    Simulation, Step,
};

/// A smooth, non-uniform initial state: density and velocity waves.
fn wavy_state(grid: &Grid) -> Vec<f64> {
    let [nx, ny, nz] = grid.dims();
    let d = grid.lattice().d();
    let mut rho = Vec::new();
    let mut u = Vec::new();
    for cell in 0..grid.cells() {
        let [x, y, z] = grid.coords(cell);
        let (sx, sy, sz) = (
            (2.0 * std::f64::consts::PI * x as f64 / nx as f64).sin(),
            (2.0 * std::f64::consts::PI * y as f64 / ny as f64).cos(),
            (2.0 * std::f64::consts::PI * z as f64 / nz as f64).sin(),
        );
        rho.push(1.0 + 0.05 * sx * sy);
        u.push(0.04 * sy);
        u.push(0.03 * sx);
        if d == 3 {
            u.push(0.02 * sz);
        }
    }
    lbm_runtime::equilibrium_state(grid, &rho, &u).unwrap()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn seed_case_loss_and_gradient_norm() {
    // The XLB issue #161 case: 32x32 D2Q9 at rest, BGK at omega 1.8, f32, one step,
    // loss = sum of rho^2: every population's gradient is 2.
    let grid = Grid::new_2d(LatticeKind::D2Q9, 32, 32).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.8]);
    let mut sim = Simulation::new(grid, &step, Precision::F32, Backend::Cpu).unwrap();
    sim.set_equilibrium(&vec![1.0; 1024], &vec![0.0; 2048])
        .unwrap();
    let g = sim
        .gradient(
            &Objective::new(&ops::rho_squared::INFO),
            1,
            Checkpointing::StoreAll,
        )
        .unwrap();
    assert!((g.loss - 1024.0).abs() < 1e-3, "{}", g.loss);
    let norm = g.initial.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norm - 192.0).abs() < 1e-3, "{norm}");
    assert!(g.initial.iter().all(|v| (v - 2.0).abs() < 1e-5));
}

/// The loss along `direction` from `f0`, by a fourth-order central difference.
fn directional_fd(loss: &dyn Fn(&[f64]) -> f64, f0: &[f64], direction: &[f64], h: f64) -> f64 {
    let at = |k: f64| {
        let f: Vec<f64> = f0
            .iter()
            .zip(direction)
            .map(|(a, d)| a + k * h * d)
            .collect();
        loss(&f)
    };
    (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * h)
}

#[test]
fn hundred_steps_directional_derivative_matches_finite_differences() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 12, 10).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.4]);
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let f0 = wavy_state(&grid);
    let direction: Vec<f64> = (0..f0.len())
        .map(|k| ((k * 7919) % 13) as f64 / 13.0 - 0.5)
        .collect();
    let steps = 120;
    let loss = |f: &[f64]| {
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
        sim.set_populations(f).unwrap();
        // Quadratic recomputation on purpose: the loss of the longest recomputed chains.
        sim.set_recompute_limit(f64::INFINITY).unwrap();
        sim.gradient(&objective, steps, Checkpointing::Revolve { snapshots: 0 })
            .map(|g| g.loss)
            .unwrap()
    };
    let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_populations(&f0).unwrap();
    let g = sim
        .gradient(&objective, steps, Checkpointing::StoreAll)
        .unwrap();
    let ad = dot(&g.initial, &direction);
    let fd = directional_fd(&loss, &f0, &direction, 1e-4);
    let rel = (ad - fd).abs() / fd.abs().max(1e-12);
    assert!(
        rel < 1e-6,
        "adjoint {ad:e} vs finite differences {fd:e}: {rel:e}"
    );
}

#[test]
fn omega_gradient_matches_finite_differences() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 10, 8).unwrap();
    let f0 = wavy_state(&grid);
    let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([10, 20]);
    let loss_at = |omega: f64| {
        let step = Step::new(&ops::bgk::INFO).uniform("omega", [omega]);
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
        sim.set_populations(&f0).unwrap();
        sim.gradient(&objective, 20, Checkpointing::StoreAll)
            .unwrap()
    };
    let g = loss_at(1.3);
    let Some(GradValue::Uniform(d)) = g.param("omega") else {
        panic!("no omega gradient")
    };
    let h = 1e-4;
    let fd = (8.0 * (loss_at(1.3 + h).loss - loss_at(1.3 - h).loss)
        - (loss_at(1.3 + 2.0 * h).loss - loss_at(1.3 - 2.0 * h).loss))
        / (12.0 * h);
    assert!((d[0] - fd).abs() < 1e-7 * fd.abs(), "{} vs {fd}", d[0]);
}

#[test]
fn revolve_is_bitwise_equal_to_store_all_within_budget() {
    let grid = Grid::new_3d(LatticeKind::D3Q19, 6, 5, 4).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.6]);
    let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([5, 17, 40]);
    let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
    sim.set_populations(&wavy_state(&grid)).unwrap();
    // Five states (no snapshots) recompute quadratically, which the default limit refuses.
    sim.set_recompute_limit(f64::INFINITY).unwrap();
    let all = sim
        .gradient(&objective, 40, Checkpointing::StoreAll)
        .unwrap();
    let state = all.report.state_bytes;
    for states in [5, 6, 9, 14] {
        let budget = Budget::bytes(states * state);
        let g = sim
            .gradient(&objective, 40, Checkpointing::Budget(budget))
            .unwrap();
        assert_eq!(g.initial, all.initial, "budget of {states} states");
        assert_eq!(g.params, all.params);
        assert_eq!(g.loss, all.loss);
        assert!(g.report.peak_bytes() <= states * state, "{:?}", g.report);
        assert!(g.report.recompute_factor() > 1.0);
    }
    // Snapshots beyond the backend budget spill to host memory: same gradients, backend
    // peak within its budget.
    let spilling = Budget::bytes(6 * state).spill_to_host(3 * state);
    let g = sim
        .gradient(&objective, 40, Checkpointing::Budget(spilling))
        .unwrap();
    assert_eq!(
        (&g.initial, &g.params, g.loss),
        (&all.initial, &all.params, all.loss)
    );
    assert!(g.report.peak_bytes() <= 6 * state, "{:?}", g.report);
    assert!(
        (1..=3).contains(&g.report.peak_host_states),
        "{:?}",
        g.report
    );
    // And beyond the host budget, to disk: the third tier, still bitwise equal, with
    // fewer recomputations than the same backend budget alone.
    let to_disk = Budget::bytes(6 * state)
        .spill_to_host(state)
        .spill_to_disk(4 * state);
    let g = sim
        .gradient(&objective, 40, Checkpointing::Budget(to_disk))
        .unwrap();
    assert_eq!(
        (&g.initial, &g.params, g.loss),
        (&all.initial, &all.params, all.loss)
    );
    assert!(g.report.peak_bytes() <= 6 * state, "{:?}", g.report);
    assert_eq!(g.report.peak_host_states, 1, "{:?}", g.report);
    assert!(
        (1..=4).contains(&g.report.peak_disk_states),
        "{:?}",
        g.report
    );
    let device_only = sim
        .gradient(
            &objective,
            40,
            Checkpointing::Budget(Budget::bytes(6 * state)),
        )
        .unwrap();
    assert!(g.report.forward_steps < device_only.report.forward_steps);
    let err = sim
        .gradient(
            &objective,
            40,
            Checkpointing::Budget(Budget::bytes(4 * state)),
        )
        .unwrap_err();
    assert!(err.to_string().contains("at least"), "{err}");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 4, 4).unwrap();
    let bad_omega = Step::new(&ops::bgk::INFO).uniform("omega", [2.0]);
    let err = Simulation::new(grid.clone(), &bad_omega, Precision::F64, Backend::Cpu)
        .err()
        .unwrap();
    assert!(err.to_string().contains("outside (0, 2)"), "{err}");
    let unbound = Step::new(&ops::bgk::INFO);
    let err = Simulation::new(grid.clone(), &unbound, Precision::F64, Backend::Cpu)
        .err()
        .unwrap();
    assert!(err.to_string().contains("omega"), "{err}");
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.0]);
    let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
    let err = sim.set_populations(&[1.0; 10]).unwrap_err();
    assert!(err.to_string().contains("expected 144"), "{err}");
    let mut nan = vec![0.1; 144];
    nan[7] = f64::NAN;
    let err = sim.set_populations(&nan).unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
    let wrong = Step::new(&ops::bgk::INFO)
        .uniform("omega", [1.0])
        .uniform("omgea", [1.0]);
    assert!(Simulation::new(grid, &wrong, Precision::F64, Backend::Cpu).is_err());
}

/// Passes its rate to `bgk` unchanged: it inherits `bgk`'s declared range.
#[lbm_runtime::operator]
fn wrapped_bgk(#[populations] f: [Real; Q], #[param] omega: Real) -> [Real; Q] {
    lbm_runtime::ops::bgk(f, omega)
}

/// Its populations carry no role: the runtime cannot know what to bind them to.
#[lbm_runtime::operator]
fn roleless_bgk(f: [Real; Q], #[param] omega: Real) -> [Real; Q] {
    lbm_runtime::ops::bgk(f, omega)
}

#[test]
fn declared_ranges_and_roles_decide_binding() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 4, 4).unwrap();
    let new = |step: &Step| Simulation::new(grid.clone(), step, Precision::F64, Backend::Cpu);
    // A range declared by the operator itself, not inferred from a name.
    let magic = Step::new(&ops::trt::INFO)
        .uniform("omega", [1.0])
        .uniform("magic", [-5.0]);
    let err = new(&magic).err().unwrap();
    assert!(
        err.to_string()
            .contains("`trt.magic` = -5 is outside (0, inf)"),
        "{err}"
    );
    let good = Step::new(&ops::trt::INFO)
        .uniform("omega", [1.0])
        .uniform("magic", [0.25]);
    assert!(new(&good).is_ok());
    // A range inherited from the callee the parameter is passed to.
    let wrapped = Step::new(&wrapped_bgk::INFO).uniform("omega", [2.5]);
    let err = new(&wrapped).err().unwrap();
    assert!(
        err.to_string()
            .contains("`wrapped_bgk.omega` = 2.5 is outside (0, 2)"),
        "{err}"
    );
    assert!(new(&Step::new(&wrapped_bgk::INFO).uniform("omega", [1.9])).is_ok());
    // A per-cell field is checked cell by cell.
    let fraction = vec![0.5; 15].into_iter().chain([1.5]).collect::<Vec<_>>();
    let gray = Step::new(&ops::partial_bounce_back::INFO)
        .field("solid", fraction)
        .source("f_pre", lbm_runtime::Source::Pulled)
        .source("f_post", lbm_runtime::Source::Pulled);
    let err = new(&gray).err().unwrap();
    assert!(err.to_string().contains("outside [0, 1]"), "{err}");
    // Populations without a declared role are not guessed from the name `f`.
    let roleless = Step::new(&roleless_bgk::INFO).uniform("omega", [1.0]);
    let err = new(&roleless).err().unwrap();
    assert!(err.to_string().contains("#[populations]"), "{err}");
}

#[test]
fn divergence_reports_the_step() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 8, 8).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.99]);
    let mut sim = Simulation::new(grid, &step, Precision::F64, Backend::Cpu).unwrap();
    let mut u = vec![0.0; 128];
    for (k, v) in u.iter_mut().enumerate() {
        *v = if k % 3 == 0 { 0.9 } else { -0.9 };
    }
    sim.set_equilibrium(&vec![1.0; 64], &u).unwrap();
    let err = sim.run(5000).unwrap_err();
    assert!(
        matches!(err, lbm_runtime::LbmError::Diverged { .. }),
        "{err}"
    );
}

#[test]
fn macroscopic_initial_field_gradients_match_finite_differences() {
    let grid = Grid::new_3d(LatticeKind::D3Q27, 5, 4, 4).unwrap();
    let n = grid.cells();
    let rho: Vec<f64> = (0..n).map(|c| 1.0 + 0.02 * ((c * 7) % 5) as f64).collect();
    let u: Vec<f64> = (0..3 * n)
        .map(|k| 0.01 * ((k * 3) % 7) as f64 - 0.03)
        .collect();
    let step = Step::new(&ops::trt::INFO)
        .uniform("omega", [1.5])
        .uniform("magic", [0.25]);
    let objective = Objective::new(&ops::ux_squared::INFO).at_steps([3, 8]);
    let loss = |rho: &[f64], u: &[f64]| {
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
        sim.set_equilibrium(rho, u).unwrap();
        sim.gradient(&objective, 8, Checkpointing::StoreAll)
            .unwrap()
    };
    let g = loss(&rho, &u);
    let (d_rho, d_u) = lbm_runtime::equilibrium_gradient(&grid, &rho, &u, &g.initial).unwrap();
    let (v_rho, v_u): (Vec<f64>, Vec<f64>) = (
        (0..n).map(|c| ((c * 5) % 3) as f64 - 1.0).collect(),
        (0..3 * n).map(|k| ((k * 11) % 4) as f64 - 1.5).collect(),
    );
    let along = |h: f64| {
        let r: Vec<f64> = rho.iter().zip(&v_rho).map(|(a, d)| a + h * d).collect();
        let w: Vec<f64> = u.iter().zip(&v_u).map(|(a, d)| a + h * d).collect();
        loss(&r, &w).loss
    };
    let h = 1e-4;
    let fd = (8.0 * (along(h) - along(-h)) - (along(2.0 * h) - along(-2.0 * h))) / (12.0 * h);
    let ad = dot(&d_rho, &v_rho) + dot(&d_u, &v_u);
    assert!(
        (ad - fd).abs() < 1e-7 * fd.abs(),
        "adjoint {ad:e} vs finite differences {fd:e}"
    );
}

/// BGK with its parameters in another order: the populations after the rate.
#[lbm_runtime::operator]
pub fn bgk_rate_first(
    #[param]
    #[range("(0, 2)")]
    omega: Real,
    #[populations] f: [Real; Q],
) -> [Real; Q] {
    ops::bgk(f, omega)
}

#[test]
fn parameter_order_does_not_change_a_gradient() {
    // The populations need not be an operator's first parameter. Catches a CPU adjoint
    // that finds a pulled population's adjoint at the wrong offset in the per-cell
    // buffer when other inputs come first.
    let grid = Grid::new_2d(LatticeKind::D2Q9, 9, 7).unwrap();
    let f0 = wavy_state(&grid);
    let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([4, 9]);
    let gradient = |step: Step| {
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
        sim.set_populations(&f0).unwrap();
        sim.gradient(&objective, 9, Checkpointing::StoreAll)
            .unwrap()
    };
    let usual = gradient(Step::new(&ops::bgk::INFO).uniform("omega", [1.4]));
    let swapped = gradient(Step::new(&bgk_rate_first::INFO).uniform("omega", [1.4]));
    assert_eq!(swapped.loss, usual.loss);
    assert_eq!(swapped.initial, usual.initial);
    assert_eq!(
        swapped.param("omega").unwrap().flat(),
        usual.param("omega").unwrap().flat()
    );
}
