//! A collision model defined in a user crate: its adjoint agrees with finite differences,
//! operator by operator and through a whole run.

use lbm_examples::{shear_thinning_bgk, shear_wave};
use lbm_runtime::{
    ops, Backend, Checkpointing, GradValue, Grid, LatticeKind, Objective, Precision, Simulation,
    Step,
};

#[test]
fn user_collision_gradients_match_finite_differences() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 16, 16).unwrap();
    let f0 = shear_wave(&grid, 0.08).unwrap();
    let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([30, 60]);
    let run = |omega: f64, k: f64| {
        let step = Step::new(&shear_thinning_bgk::INFO)
            .uniform("omega", [omega])
            .uniform("k", [k]);
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
        sim.set_populations(&f0).unwrap();
        sim.gradient(&objective, 60, Checkpointing::Revolve { snapshots: 3 })
            .unwrap()
    };
    let (omega, k) = (1.3, 30.0);
    let g = run(omega, k);
    let h = 1e-4;
    let fd4 =
        |f: &dyn Fn(f64) -> f64| (8.0 * (f(h) - f(-h)) - (f(2.0 * h) - f(-2.0 * h))) / (12.0 * h);
    let d_omega = fd4(&|e| run(omega + e, k).loss);
    let d_k = fd4(&|e| run(omega, k + e).loss);
    for (name, fd) in [("omega", d_omega), ("k", d_k)] {
        let Some(GradValue::Uniform(ad)) = g.param(name) else {
            panic!("no gradient for {name}")
        };
        let rel = (ad[0] - fd).abs() / fd.abs();
        assert!(
            rel < 1e-6,
            "{name}: adjoint {} vs finite difference {fd}: {rel:e}",
            ad[0]
        );
    }
}
