//! The CUDA backend against the CPU backend (the reference): populations after forward
//! runs, losses and gradients, every parameter source, boundary steps on solid masks,
//! checkpointing determinism, divergence reports.
//!
//! Without a usable GPU each test prints a one-line notice and returns, so CI without a
//! GPU passes; `LBM_REQUIRE_CUDA=1` makes a missing GPU a failure instead (set it on the
//! GPU machine, so the tests cannot silently skip there).

// The CUDA items tested here exist only with the `cuda` feature.
#![cfg(feature = "cuda")]

mod common;

use common::{end_tags, gpu, initial, noise, obstacle, step_bouzidi, step_zou_he};
use lbm_runtime::ops::{bgk, moving_wall_bounce_back};
use lbm_runtime::{
    cuda, operator, ops, AdjointPrecision, Backend, Budget, Checkpointing, GradValue, Gradients,
    Grid, LatticeKind, LbmError, Objective, OperatorInfo, Precision, RunReport, Simulation, Source,
    Step, Storage,
};

/// Every parameter source at once: a moving wall on solid links, a per-step relaxation
/// rate, a per-cell blend with the far and the eastern neighbour's populations, an integer
/// mode and solid cells that keep their populations.
#[operator]
fn step_all(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[far] f_far: [Real; Q],
    f_east: [Real; Q],
    #[links] links: i64,
    mode: i32,
    solid: i32,
    #[param] omega: Real,
    #[param] u_wall: [Real; D],
    blend: Real,
) -> [Real; Q] {
    if solid != 0 {
        return f_local;
    }
    let g = moving_wall_bounce_back(f, f_local, links, u_wall);
    let mut h = [0.0; Q];
    for i in 0..Q {
        h[i] = g[i] + blend * (f_far[i] - f_east[i]);
        if mode == 1 {
            h[i] = h[i] * (1.0 + 0.5 * blend * blend);
        }
    }
    bgk(h, omega)
}

/// `scale * sum_i w_i f_i`: an objective with a uniform and a per-cell parameter.
#[operator]
fn weighted(#[populations] f: [Real; Q], w: [Real; Q], #[param] scale: Real) -> Real {
    let mut s = 0.0;
    for i in 0..Q {
        s += w[i] * f[i];
    }
    scale * s
}

/// BGK whose tagged cells divide by a per-step value: a zero there makes them infinite.
#[operator]
fn step_fragile(
    #[populations] f: [Real; Q],
    tag: i32,
    #[param] omega: Real,
    #[param] divisor: Real,
) -> [Real; Q] {
    let g = bgk(f, omega);
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = g[i];
        if tag == 1 {
            out[i] = g[i] / divisor;
        }
    }
    out
}

fn grids() -> Vec<Grid> {
    vec![
        Grid::new_2d(LatticeKind::D2Q9, 13, 10).unwrap(),
        Grid::new_3d(LatticeKind::D3Q19, 7, 6, 5).unwrap(),
        Grid::new_3d(LatticeKind::D3Q27, 6, 5, 7).unwrap(),
    ]
}

fn simulation(grid: &Grid, step: &Step, p: Precision, backend: Backend, f0: &[f64]) -> Simulation {
    let mut s = Simulation::new(grid.clone(), step, p, backend).unwrap();
    s.set_populations(f0).unwrap();
    s
}

/// `max |a - b| <= tol * max |b|`, with the worst index in the message.
fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    let (k, err) = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .enumerate()
        .fold((0, 0.0f64), |m, (k, e)| if e > m.1 { (k, e) } else { m });
    assert!(
        err <= tol * scale,
        "{what}: |gpu - cpu| = {err:e} at {k} ({} vs {}), {:e} of max |cpu| = {scale:e}",
        a[k],
        b[k],
        err / scale
    );
}

/// The step of `step_all` on `grid` (solid obstacle), with per-step rates for `steps`.
fn all_sources(grid: &Grid, steps: usize) -> (Grid, Step) {
    let (n, d) = (grid.cells(), grid.lattice().d());
    let mask = obstacle(grid);
    let solid: Vec<i64> = mask.iter().map(|&s| s as i64).collect();
    let walled = grid.clone().with_solid(mask).unwrap();
    let omegas: Vec<Vec<f64>> = (0..steps).map(|t| vec![1.3 + 0.02 * t as f64]).collect();
    let step = Step::new(&step_all::INFO)
        .source("f_east", Source::Neighbor([1, 0, 0]))
        .int("mode", 1)
        .int_field("solid", solid)
        .per_step("omega", omegas)
        .uniform("u_wall", vec![0.03; d])
        .field("blend", noise(n, 9).iter().map(|v| 0.02 * v).collect());
    (walled, step)
}

fn compare_gradients(what: &str, gpu: &Gradients, cpu: &Gradients, tol: f64) {
    assert_close(&format!("{what}: loss"), &[gpu.loss], &[cpu.loss], tol);
    assert_close(&format!("{what}: initial"), &gpu.initial, &cpu.initial, tol);
    assert_eq!(gpu.params.len(), cpu.params.len(), "{what}: parameters");
    for (g, c) in gpu.params.iter().zip(&cpu.params) {
        assert_eq!((g.op, g.name), (c.op, c.name), "{what}: parameter order");
        assert_close(
            &format!("{what}: d/d{}.{}", g.op, g.name),
            &g.value.flat(),
            &c.value.flat(),
            tol,
        );
    }
    // The same schedule; a state's bytes are each backend's own (the CPU pads its planes).
    let cpu_schedule = RunReport {
        state_bytes: gpu.report.state_bytes,
        ..cpu.report.clone()
    };
    assert_eq!(gpu.report, cpu_schedule, "{what}: report");
}

#[test]
fn seed_case_loss_and_gradient_norm() {
    if !gpu("seed_case_loss_and_gradient_norm") {
        return;
    }
    let grid = Grid::new_2d(LatticeKind::D2Q9, 32, 32).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.8]);
    let mut sim = Simulation::new(grid, &step, Precision::F32, Backend::Cuda).unwrap();
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
    assert!(matches!(g.param("omega"), Some(GradValue::Uniform(v)) if v.len() == 1));
}

#[test]
fn bgk_forward_matches_cpu_on_every_lattice() {
    if !gpu("bgk_forward_matches_cpu_on_every_lattice") {
        return;
    }
    for grid in grids() {
        let f0 = initial(&grid);
        let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.7]);
        for (p, tol) in [(Precision::F64, 1e-12), (Precision::F32, 1e-5)] {
            let mut g = simulation(&grid, &step, p, Backend::Cuda, &f0);
            let mut c = simulation(&grid, &step, p, Backend::Cpu, &f0);
            g.run(7).unwrap();
            g.run(13).unwrap();
            c.run(20).unwrap();
            assert_close(
                &format!("bgk {} {p:?}", grid.lattice()),
                &g.populations().unwrap(),
                &c.populations().unwrap(),
                tol,
            );
        }
    }
}

#[test]
fn bgk_gradients_match_cpu_on_every_lattice() {
    if !gpu("bgk_gradients_match_cpu_on_every_lattice") {
        return;
    }
    for grid in grids() {
        let f0 = initial(&grid);
        let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.6]);
        let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([4, 9, 9]);
        for (p, tol) in [(Precision::F64, 1e-12), (Precision::F32, 1e-4)] {
            let run = |b| {
                simulation(&grid, &step, p, b, &f0)
                    .gradient(&objective, 9, Checkpointing::StoreAll)
                    .unwrap()
            };
            let what = format!("bgk {} {p:?}", grid.lattice());
            compare_gradients(&what, &run(Backend::Cuda), &run(Backend::Cpu), tol);
        }
    }
}

/// Sums of parameter gradients over many blocks and warps: grids of several blocks with a
/// partial last block and a partial last warp (2,250 and 1,080 cells). Uniform parameters
/// alone (a Zou-He channel) take the partial rows summed across steps and reduced once; a
/// per-step rate takes the per-block sums reduced every step. A row written by the wrong
/// block (a block's sums landing in another block's row) changes these sums and no sum on
/// the one-block grids above.
#[test]
fn parameter_gradients_sum_over_many_blocks_as_on_the_cpu() {
    if !gpu("parameter_gradients_sum_over_many_blocks_as_on_the_cpu") {
        return;
    }
    let steps = 7;
    for grid in [
        Grid::new_2d(LatticeKind::D2Q9, 50, 45).unwrap(),
        Grid::new_3d(LatticeKind::D3Q19, 12, 10, 9).unwrap(),
    ] {
        let f0 = initial(&grid);
        let d = grid.lattice().d();
        let u_in = [0.04, -0.01, 0.005][..d].to_vec();
        let channel = Step::new(&step_zou_he::INFO)
            .int_field("tag", end_tags(&grid))
            .uniform("omega", [1.6])
            .uniform("u_in", u_in)
            .uniform("rho_out", [1.02]);
        let omegas: Vec<Vec<f64>> = (0..steps).map(|t| vec![1.5 + 0.03 * t as f64]).collect();
        let per_step = Step::new(&ops::bgk::INFO).per_step("omega", omegas);
        let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([3, steps]);
        for (name, step) in [("uniform", &channel), ("per-step", &per_step)] {
            for (p, tol) in [(Precision::F64, 1e-12), (Precision::F32, 1e-4)] {
                let run = |b| {
                    simulation(&grid, step, p, b, &f0)
                        .gradient(&objective, steps, Checkpointing::StoreAll)
                        .unwrap()
                };
                let what = format!("{name} {} {p:?}", grid.lattice());
                compare_gradients(&what, &run(Backend::Cuda), &run(Backend::Cpu), tol);
            }
        }
    }
}

/// The library's other collisions, each with its parameters, forward and backward on
/// every lattice: their generated kernels (KBC's branch on the entropic product, the
/// Smagorinsky square roots) run nowhere else on the GPU in the tests.
#[test]
fn library_collisions_match_cpu_forward_and_backward() {
    if !gpu("library_collisions_match_cpu_forward_and_backward") {
        return;
    }
    let collisions: [(&OperatorInfo, &[(&str, f64)]); 5] = [
        (&ops::trt::INFO, &[("omega", 1.7), ("magic", 0.25)]),
        (&ops::regularized_bgk::INFO, &[("omega", 1.6)]),
        (
            &ops::mrt::INFO,
            &[("omega", 1.7), ("omega_bulk", 1.2), ("omega_ghost", 1.1)],
        ),
        (&ops::kbc::INFO, &[("omega", 1.9)]),
        (
            &ops::smagorinsky_bgk::INFO,
            &[("omega", 1.8), ("c_smag", 0.17)],
        ),
    ];
    let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([3, 6]);
    for grid in grids() {
        let f0 = initial(&grid);
        for (op, params) in collisions {
            let step = &params.iter().fold(Step::new(op), |step, &(name, value)| {
                step.uniform(name, [value])
            });
            for (p, tol) in [(Precision::F64, 1e-12), (Precision::F32, 1e-4)] {
                let what = format!("{} {} {p:?}", op.name, grid.lattice());
                let mut g = simulation(&grid, step, p, Backend::Cuda, &f0);
                let mut c = simulation(&grid, step, p, Backend::Cpu, &f0);
                g.run(6).unwrap();
                c.run(6).unwrap();
                assert_close(
                    &format!("{what}: populations"),
                    &g.populations().unwrap(),
                    &c.populations().unwrap(),
                    tol,
                );
                let run = |b| {
                    simulation(&grid, step, p, b, &f0)
                        .gradient(&objective, 6, Checkpointing::StoreAll)
                        .unwrap()
                };
                compare_gradients(&what, &run(Backend::Cuda), &run(Backend::Cpu), tol);
            }
        }
    }
}

#[test]
fn every_source_kind_matches_cpu_forward_and_backward() {
    if !gpu("every_source_kind_matches_cpu_forward_and_backward") {
        return;
    }
    let steps = 8;
    for base in grids() {
        let (grid, step) = all_sources(&base, steps);
        let q = grid.lattice().q();
        let f0 = initial(&grid);
        let objective = Objective::new(&weighted::INFO)
            .field("w", noise(grid.cells() * q, 13))
            .uniform("scale", [0.7])
            .at_steps([0, 3, steps]);
        for (p, tol, gtol) in [(Precision::F64, 1e-12, 1e-12), (Precision::F32, 1e-5, 1e-3)] {
            let what = format!("all sources {} {p:?}", grid.lattice());
            let mut g = simulation(&grid, &step, p, Backend::Cuda, &f0);
            let mut c = simulation(&grid, &step, p, Backend::Cpu, &f0);
            g.run(3).unwrap();
            g.run(steps - 3).unwrap();
            c.run(steps).unwrap();
            assert_close(
                &what,
                &g.populations().unwrap(),
                &c.populations().unwrap(),
                tol,
            );

            let run = |b| {
                simulation(&grid, &step, p, b, &f0)
                    .gradient(&objective, steps, Checkpointing::StoreAll)
                    .unwrap()
            };
            let (gg, cg) = (run(Backend::Cuda), run(Backend::Cpu));
            compare_gradients(&what, &gg, &cg, gtol);
            let names: Vec<&str> = gg.params.iter().map(|p| p.name).collect();
            assert_eq!(names, ["omega", "u_wall", "blend", "w", "scale"]);
        }
    }
}

#[test]
fn resident_state_and_parameter_updates_match_cpu() {
    if !gpu("resident_state_and_parameter_updates_match_cpu") {
        return;
    }
    let steps = 14;
    for base in grids() {
        let (grid, step) = all_sources(&base, steps);
        let (n, q, d) = (grid.cells(), grid.lattice().q(), grid.lattice().d());
        let f0 = initial(&grid);
        let objective = |scale: f64, seed: u64| {
            Objective::new(&weighted::INFO)
                .field("w", noise(n * q, seed))
                .uniform("scale", [scale])
                .at_steps([1, 5])
        };
        let what = format!("resident {}", grid.lattice());
        let mut g = simulation(&grid, &step, Precision::F64, Backend::Cuda, &f0);
        let mut c = simulation(&grid, &step, Precision::F64, Backend::Cpu, &f0);
        let mut both = |f: &mut dyn FnMut(&mut Simulation) -> Gradients| (f(&mut g), f(&mut c));

        // A warm start, then new values of every kind of parameter, then two gradients
        // with objectives whose values differ: each must match the CPU, so no stale
        // buffer and no accumulator left over from the previous call.
        let (gg, cg) = both(&mut |s| {
            s.run(3).unwrap();
            s.set_field("blend", noise(n, 21).iter().map(|v| 0.03 * v).collect())
                .unwrap();
            s.set_uniform("u_wall", vec![-0.02; d]).unwrap();
            s.set_int("mode", 0).unwrap();
            s.gradient(&objective(0.7, 13), 6, Checkpointing::StoreAll)
                .unwrap()
        });
        compare_gradients(&format!("{what}: first"), &gg, &cg, 1e-12);
        let (gg2, cg2) = both(&mut |s| {
            s.gradient(&objective(-1.3, 17), 6, Checkpointing::StoreAll)
                .unwrap()
        });
        compare_gradients(&format!("{what}: second"), &gg2, &cg2, 1e-12);
        // A change of kind rebuilds the kernels on the GPU.
        let (gg3, cg3) = both(&mut |s| {
            s.set_uniform("blend", [0.01]).unwrap();
            s.gradient(&objective(0.7, 13), 6, Checkpointing::StoreAll)
                .unwrap()
        });
        compare_gradients(&format!("{what}: rebuilt"), &gg3, &cg3, 1e-12);
        let t = g.transfers();
        assert_eq!((t.uploads, t.downloads), (1, 3), "{what}: {t:?}");
    }
}

#[test]
fn boundary_steps_match_cpu() {
    if !gpu("boundary_steps_match_cpu") {
        return;
    }
    for base in grids() {
        let (n, d, q) = (base.cells(), base.lattice().d(), base.lattice().q());
        let mask = obstacle(&base);
        let solid: Vec<i64> = mask.iter().map(|&s| s as i64).collect();
        let walled = base.clone().with_solid(mask).unwrap();
        let cases = [
            (
                "Zou-He",
                &base,
                Step::new(&step_zou_he::INFO)
                    .uniform("omega", [1.5])
                    .uniform("u_in", vec![0.04; d])
                    .uniform("rho_out", [1.0])
                    .int_field("tag", end_tags(&base)),
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
                    .int_field("solid", solid.clone()),
            ),
        ];
        let objective = Objective::new(&ops::momentum_exchange_force::INFO)
            .weights(vec![1.0, -0.5, 0.25][..d].to_vec())
            .at_steps([2, 5]);
        for (name, grid, step) in cases {
            let f0 = initial(grid);
            let what = format!("{name} {}", grid.lattice());
            let mut g = simulation(grid, &step, Precision::F64, Backend::Cuda, &f0);
            let mut c = simulation(grid, &step, Precision::F64, Backend::Cpu, &f0);
            g.run(5).unwrap();
            c.run(5).unwrap();
            assert_close(
                &what,
                &g.populations().unwrap(),
                &c.populations().unwrap(),
                1e-12,
            );
            let run = |b| {
                simulation(grid, &step, Precision::F64, b, &f0)
                    .gradient(&objective, 5, Checkpointing::StoreAll)
                    .unwrap()
            };
            compare_gradients(&what, &run(Backend::Cuda), &run(Backend::Cpu), 1e-12);
        }
    }
}

#[test]
fn revolve_and_store_all_are_bitwise_equal() {
    if !gpu("revolve_and_store_all_are_bitwise_equal") {
        return;
    }
    let steps = 23;
    let base = Grid::new_2d(LatticeKind::D2Q9, 14, 11).unwrap();
    let (grid, step) = all_sources(&base, steps);
    let f0 = initial(&grid);
    let objective = Objective::new(&weighted::INFO)
        .field("w", noise(grid.cells() * 9, 17))
        .uniform("scale", [1.1])
        .at_steps([5, steps, steps]);
    for p in [Precision::F32, Precision::F64] {
        let mut sim = simulation(&grid, &step, p, Backend::Cuda, &f0);
        // No snapshots recomputes quadratically, which the default limit refuses.
        sim.set_recompute_limit(f64::INFINITY).unwrap();
        let all = sim
            .gradient(&objective, steps, Checkpointing::StoreAll)
            .unwrap();
        for snapshots in [0, 1, 3, 6] {
            let rev = sim
                .gradient(&objective, steps, Checkpointing::Revolve { snapshots })
                .unwrap();
            assert_eq!(rev.loss.to_bits(), all.loss.to_bits(), "{p:?} {snapshots}");
            assert!(
                rev.initial
                    .iter()
                    .zip(&all.initial)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{p:?} {snapshots}: initial gradients differ"
            );
            assert_eq!(rev.params, all.params, "{p:?} {snapshots}");
            assert!(rev.report.forward_steps > all.report.forward_steps);
        }
        // Snapshots spilled to host memory give the same bits, within the device budget.
        let state = all.report.state_bytes;
        let spilling = Budget::bytes(6 * state).spill_to_host(2 * state);
        let spilled = sim
            .gradient(&objective, steps, Checkpointing::Budget(spilling))
            .unwrap();
        assert_eq!(
            (&spilled.initial, &spilled.params),
            (&all.initial, &all.params),
            "{p:?}: spilled"
        );
        assert!(
            spilled.report.peak_bytes() <= 6 * state,
            "{:?}",
            spilled.report
        );
        assert!(spilled.report.peak_host_states > 0, "{:?}", spilled.report);
        // Run twice: the same bits again.
        let again = sim
            .gradient(&objective, steps, Checkpointing::StoreAll)
            .unwrap();
        assert_eq!(again, all, "{p:?}: repeat");
    }
}

#[test]
fn divergence_names_the_same_step_and_cell_as_the_cpu() {
    if !gpu("divergence_names_the_same_step_and_cell_as_the_cpu") {
        return;
    }
    let grid = Grid::new_2d(LatticeKind::D2Q9, 40, 30).unwrap();
    let mut tags = vec![0i64; grid.cells()];
    tags[777] = 1;
    tags[901] = 1;
    let step = Step::new(&step_fragile::INFO)
        .uniform("omega", [1.2])
        .int_field("tag", tags)
        .per_step(
            "divisor",
            vec![vec![1.0]; 40].into_iter().chain([vec![0.0]]).collect(),
        );
    let f0 = initial(&grid);
    let objective = Objective::new(&ops::rho_squared::INFO);
    for p in [Precision::F32, Precision::F64] {
        for backend in [Backend::Cuda, Backend::Cpu] {
            let err = simulation(&grid, &step, p, backend, &f0)
                .run(41)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    LbmError::Diverged {
                        step: 41,
                        cell: 777
                    }
                ),
                "{backend:?} {p:?}: {err}"
            );
            for checkpointing in [
                Checkpointing::StoreAll,
                Checkpointing::Revolve { snapshots: 2 },
            ] {
                let err = simulation(&grid, &step, p, backend, &f0)
                    .gradient(&objective, 41, checkpointing)
                    .unwrap_err();
                assert!(
                    matches!(
                        err,
                        LbmError::Diverged {
                            step: 41,
                            cell: 777
                        }
                    ),
                    "{backend:?} {p:?} {checkpointing:?}: {err}"
                );
            }
        }
    }
}

#[test]
fn f64_adjoint_of_an_f32_forward_matches_cpu() {
    if !gpu("f64_adjoint_of_an_f32_forward_matches_cpu") {
        return;
    }
    let steps = 8;
    for base in grids() {
        let (grid, step) = all_sources(&base, steps);
        let q = grid.lattice().q();
        let f0 = initial(&grid);
        let objective = Objective::new(&weighted::INFO)
            .field("w", noise(grid.cells() * q, 19))
            .uniform("scale", [0.9])
            .at_steps([2, steps]);
        let run = |b, adjoint| {
            Simulation::new(grid.clone(), &step, Precision::F32, b)
                .unwrap()
                .with_adjoint_precision(adjoint)
                .unwrap()
                .gradient_from(&f0, &objective, steps)
        };
        let what = format!("f64 adjoint of f32 {}", grid.lattice());
        let gpu = run(Backend::Cuda, AdjointPrecision::F64);
        let cpu = run(Backend::Cpu, AdjointPrecision::F64);
        // The f32 forwards differ in rounding (the GPU contracts into fused multiply-adds).
        compare_gradients(&what, &gpu, &cpu, 1e-4);
        let same = run(Backend::Cuda, AdjointPrecision::Same);
        assert_ne!(gpu.initial, same.initial, "{what}: the adjoint ran in f32");
    }
}

/// Gradients of a fresh simulation from `f0`.
trait GradientFrom {
    fn gradient_from(self, f0: &[f64], objective: &Objective, steps: usize) -> Gradients;
}

impl GradientFrom for Simulation {
    fn gradient_from(mut self, f0: &[f64], objective: &Objective, steps: usize) -> Gradients {
        self.set_populations(f0).unwrap();
        self.gradient(objective, steps, Checkpointing::Revolve { snapshots: 2 })
            .unwrap()
    }
}

/// The bounds worked out with NVRTC alone (`cuda::bounds`, what `cargo xtask bounds`
/// prints) are those the engine loads on this GPU, with the registers and local memory
/// the driver reports for them.
#[test]
fn predicted_bounds_are_the_engines() {
    if !gpu("predicted_bounds_are_the_engines") {
        return;
    }
    let arch = cuda::profile::device_arch().unwrap();
    let grid = Grid::new_3d(LatticeKind::D3Q19, 48, 40, 32).unwrap();
    let step = Step::new(&bgk::INFO).uniform("omega", [1.6]);
    let formats = [
        (Precision::F32, Storage::Compute),
        (Precision::F64, Storage::Compute),
        (Precision::F32, Storage::F16),
    ];
    for (precision, storage) in formats {
        let loaded = cuda::profile::kernel_info(&grid, &step, precision, storage).unwrap();
        let format = cuda::StateFormat {
            storage,
            ..cuda::StateFormat::new(precision)
        };
        let predicted = cuda::bounds::predicted_bounds(&step, &grid, format, arch).unwrap();
        assert_eq!(loaded.len(), predicted.len());
        for (engine, p) in loaded.iter().zip(&predicted) {
            let c = &p.candidates[p.chosen as usize - 1].resources;
            assert_eq!(
                (engine.min_blocks, engine.registers, engine.local_bytes),
                (p.chosen, c.registers, c.stack_bytes),
                "{precision:?} {storage:?} {}: {p:?}",
                p.kernel
            );
        }
    }
}

/// Timing every bound records the fastest of each kernel; the engine then compiles the
/// kernel for it, and a simulation's numbers stay what they were, bit for bit (a register
/// cap moves values between registers and local memory, never changes an operation).
#[test]
fn measured_bounds_are_taken_by_the_engine() {
    if !gpu("measured_bounds_are_taken_by_the_engine") {
        return;
    }
    // A grid no other test uses: its records are its own.
    let grid = Grid::new_3d(LatticeKind::D3Q19, 44, 36, 28).unwrap();
    let step = Step::new(&bgk::INFO).uniform("omega", [1.7]);
    let f0 = initial(&grid);
    let run = || {
        let mut sim = simulation(&grid, &step, Precision::F32, Backend::Cuda, &f0);
        sim.run(7).unwrap();
        sim.populations().unwrap()
    };
    let before = run();
    let numbers = (Precision::F32, Storage::Compute);
    let two = lbm_runtime::Streaming::TwoStates;
    let measured = cuda::autotune::measure_bounds(&grid, &step, numbers, two, &f0, 20).unwrap();
    let loaded =
        cuda::profile::kernel_info(&grid, &step, Precision::F32, Storage::Compute).unwrap();
    assert_eq!(measured.len(), 2);
    for (m, k) in measured.iter().zip(&loaded) {
        assert_eq!(m.kernel, k.name);
        let bounds: Vec<u32> = m.timings.iter().map(|t| t.0.min_blocks).collect();
        let most = if k.name.ends_with("fwd") { 4 } else { 6 };
        assert_eq!(bounds, (1..=most).collect::<Vec<_>>(), "{m:?}");
        assert!(
            m.timings.iter().all(|t| t.1.is_finite() && t.1 > 0.0),
            "{m:?}"
        );
        let fastest = m.timings.iter().map(|t| t.1).fold(0.0, f64::max);
        assert_eq!(m.timings[m.fastest as usize - 1].1, fastest, "{m:?}");
        assert_eq!(k.min_blocks, m.fastest, "{m:?} against {k:?}");
    }
    assert_eq!(run(), before);
}

#[test]
fn kernels_are_cached_on_disk() {
    if !gpu("kernels_are_cached_on_disk") {
        return;
    }
    let grid = Grid::new_2d(LatticeKind::D2Q9, 8, 8).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.1]);
    simulation(&grid, &step, Precision::F32, Backend::Cuda, &initial(&grid))
        .run(1)
        .unwrap();
    let dir = cuda::cache::cache_dir();
    let cached = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".cubin") || name.ends_with(".ptx")
        })
        .count();
    assert!(cached > 0, "no kernels in {}", dir.display());
}

#[test]
fn missing_gpu_is_an_error_not_a_panic() {
    let Err(why) = cuda::check_available() else {
        return;
    };
    assert!(matches!(why, LbmError::BackendUnavailable(_)), "{why}");
    let grid = Grid::new_2d(LatticeKind::D2Q9, 4, 4).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.0]);
    let err = Simulation::new(grid, &step, Precision::F32, Backend::Cuda)
        .err()
        .expect("no GPU, no CUDA simulation");
    assert!(err.to_string().contains("backend unavailable"), "{err}");
}

#[test]
fn a_gpu_state_saved_resumes_on_the_cpu_and_reports_progress() {
    // Catches a save that copies a stale or reordered device state, and a CUDA session
    // that drops the progress observer.
    if !gpu("a_gpu_state_saved_resumes_on_the_cpu_and_reports_progress") {
        return;
    }
    use lbm_runtime::{Progress, ProgressObserver};
    use std::sync::{Arc, Mutex};

    let grid = Grid::new_3d(LatticeKind::D3Q19, 10, 8, 6).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.4]);
    let f0 = initial(&grid);
    let mut on_gpu = simulation(&grid, &step, Precision::F64, Backend::Cuda, &f0);
    let last: Arc<Mutex<Option<Progress>>> = Arc::default();
    let sink = last.clone();
    let observer: ProgressObserver = Arc::new(move |p: &Progress| *sink.lock().unwrap() = Some(*p));
    on_gpu.set_progress(Some(observer));
    on_gpu.run(45).unwrap();
    assert_eq!(last.lock().unwrap().map(|p| p.forward_done), Some(45));
    let g = on_gpu
        .gradient(
            &Objective::new(&ops::kinetic_energy::INFO),
            40,
            Checkpointing::Revolve { snapshots: 2 },
        )
        .unwrap();
    let p = last.lock().unwrap().expect("the gradient reported");
    assert_eq!(p.forward_done, g.report.forward_steps as u64);
    assert_eq!(p.adjoint_done, 40);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpu.lbmstate");
    on_gpu.save_state(&path).unwrap();
    on_gpu.run(30).unwrap();
    let mut on_cpu = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu).unwrap();
    on_cpu.load_state(&path).unwrap();
    assert_eq!(on_cpu.time(), 45);
    on_cpu.run(30).unwrap();
    assert_close(
        "populations resumed on the CPU",
        &on_cpu.populations().unwrap(),
        &on_gpu.populations().unwrap(),
        1e-13,
    );
}
