//! 16-bit population storage (`Storage::F16`, `Storage::BF16`): what the states hold, how
//! far the gradients move from the f64 reference at omega 1.0, 1.8 and 1.95 over 1,000
//! steps (the bounds are stated here and in docs/PERFORMANCE.md), what is refused, and the
//! GPU against the CPU's emulation of the same storage.
//!
//! The GPU tests print a notice and return without a GPU, unless `LBM_REQUIRE_CUDA=1`.

mod common;

use common::relative_error;

use lbm_runtime::{
    ops, AdjointPrecision, Backend, Checkpointing, GradValue, Gradients, Grid, LatticeKind,
    LbmError, Objective, Precision, Simulation, Step, Storage,
};

/// `d` rounded to the nearest value with `bits` significant bits whose exponent is at
/// least `min_exp` (below it, multiples of `2^(min_exp - bits + 1)`: subnormals). Written
/// from the formats' definitions, apart from the library's conversions; ties do not
/// matter here.
fn nearest(d: f64, bits: i32, min_exp: i32) -> f64 {
    if d == 0.0 {
        return 0.0;
    }
    let exp = (d.abs().log2().floor() as i32).max(min_exp);
    let quantum = 2f64.powi(exp - bits + 1);
    (d / quantum).round() * quantum
}

/// Whether every population `p` of `f` (cell-major) is what a kernel loads from a 16-bit
/// value `h`: `p = h + w` rounded to `f32`, `w` its direction's weight.
fn every_population_fits(grid: &Grid, f: &[f64], storage: Storage) -> bool {
    let lattice = grid.lattice();
    let q = lattice.q();
    f.iter().enumerate().all(|(k, v)| {
        let (p, w) = (*v as f32, lattice.w(k % q) as f32);
        let d = f64::from(p - w);
        let h = match storage {
            Storage::F16 if d.abs() >= 65520.0 => return false,
            Storage::F16 => nearest(d, 11, -14),
            Storage::BF16 => nearest(d, 8, -126),
            Storage::Compute => return true,
        };
        h as f32 + w == p
    })
}

/// A decaying shear wave with a density ripple.
fn shear_wave(grid: &Grid) -> Vec<f64> {
    let [nx, ny, _] = grid.dims();
    let mut rho = Vec::new();
    let mut u = Vec::new();
    for cell in 0..grid.cells() {
        let [x, y, _] = grid.coords(cell);
        let (x, y) = (x as f64 / nx as f64, y as f64 / ny as f64);
        rho.push(1.0 + 0.01 * (2.0 * std::f64::consts::PI * x).cos());
        u.push(0.05 * (2.0 * std::f64::consts::PI * y).sin());
        u.push(0.02 * (2.0 * std::f64::consts::PI * x).cos());
    }
    lbm_runtime::equilibrium_state(grid, &rho, &u).unwrap()
}

fn omega_gradient(g: &Gradients) -> f64 {
    match g.param("omega") {
        Some(GradValue::Uniform(v)) => v[0],
        other => panic!("no omega gradient: {other:?}"),
    }
}

fn simulation(grid: &Grid, omega: f64, precision: Precision, storage: Storage) -> Simulation {
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [omega]);
    let sim = Simulation::new(grid.clone(), &step, precision, Backend::Cpu).unwrap();
    let mut sim = sim.with_storage(storage).unwrap();
    sim.set_populations(&shear_wave(grid)).unwrap();
    sim
}

#[test]
fn sixteen_bit_states_hold_what_the_format_holds() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 24, 16).unwrap();
    for storage in [Storage::F16, Storage::BF16] {
        let mut sim = simulation(&grid, 1.7, Precision::F32, storage);
        assert_eq!(sim.storage(), storage);
        // Set populations are rounded as the storage keeps them, and so is every step.
        assert!(every_population_fits(
            &grid,
            &sim.populations().unwrap(),
            storage
        ));
        sim.run(7).unwrap();
        let f = sim.populations().unwrap();
        assert!(every_population_fits(&grid, &f, storage), "{storage}");
        // Not trivially: an f32 run's populations are not 16-bit values.
        let mut plain = simulation(&grid, 1.7, Precision::F32, Storage::Compute);
        plain.run(7).unwrap();
        assert!(!every_population_fits(
            &grid,
            &plain.populations().unwrap(),
            storage
        ));
        // Rounding the deviation from the weight, not the population: the state stays
        // within a fraction of a 16-bit ulp of the population's own magnitude.
        let worst = f
            .iter()
            .zip(plain.populations().unwrap())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let ulp_of_a_population = match storage {
            Storage::F16 => 0.4 * 2f64.powi(-11),
            _ => 0.4 * 2f64.powi(-8),
        };
        assert!(worst < 0.1 * ulp_of_a_population, "{storage}: {worst:e}");
    }
}

#[test]
fn switching_storage_carries_the_populations_over_rounded() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 16, 8).unwrap();
    let mut sim = simulation(&grid, 1.2, Precision::F32, Storage::Compute);
    sim.run(3).unwrap();
    let before = sim.populations().unwrap();
    let sim = sim.with_storage(Storage::F16).unwrap();
    assert_eq!(sim.time(), 3);
    let after = sim.populations().unwrap();
    assert!(every_population_fits(&grid, &after, Storage::F16));
    for (a, b) in after.iter().zip(&before) {
        // Half an ulp of a deviation below 2^-4 (these are about 1e-3).
        assert!((a - b).abs() <= 2f64.powi(-4 - 11), "{a} {b}");
    }
}

#[test]
fn sixteen_bit_gradients_against_f64_over_1000_steps() {
    // Long waves, so that at omega 1.0 the flow is still there after 1,000 steps.
    let grid = Grid::new_2d(LatticeKind::D2Q9, 64, 64).unwrap();
    let objective = Objective::new(&ops::kinetic_energy::INFO);
    let steps = 1000;
    let gradient = |omega, precision, storage| {
        simulation(&grid, omega, precision, storage)
            .gradient(&objective, steps, Checkpointing::Revolve { snapshots: 30 })
            .unwrap()
    };
    // Measured on this problem (relative 2-norm of the initial-state gradient; relative
    // error of the omega gradient), 2026-12-01:
    //   omega 1.0:   f32 1.0e-5, 9.6e-6;  f16 1.3e-3, 2.3e-4;  bf16 2.6e-2, 3.3e-2
    //   omega 1.8:   f32 1.6e-5, 2.0e-5;  f16 2.8e-4, 2.2e-4;  bf16 3.9e-3, 5.1e-3
    //   omega 1.95:  f32 1.6e-5, 1.9e-5;  f16 5.1e-4, 5.0e-4;  bf16 6.3e-3, 7.0e-3
    // The bounds are three to eight times the worst; an adjoint that missed a step or a
    // storage that rounded whole populations is off by far more.
    let bounds = [
        (Storage::Compute, 1e-4),
        (Storage::F16, 1e-2),
        (Storage::BF16, 0.1),
    ];
    let mut table = Vec::new();
    for omega in [1.0, 1.8, 1.95] {
        let reference = gradient(omega, Precision::F64, Storage::Compute);
        for (storage, bound) in bounds {
            let g = gradient(omega, Precision::F32, storage);
            let e_init = relative_error(&g.initial, &reference.initial);
            let e_omega = ((omega_gradient(&g) - omega_gradient(&reference))
                / omega_gradient(&reference))
            .abs();
            let e_loss = ((g.loss - reference.loss) / reference.loss).abs();
            println!(
                "omega {omega}, {steps} steps, f32 compute, {storage} storage: loss {e_loss:.1e}, \
                 initial-state gradient {e_init:.1e}, omega gradient {e_omega:.1e}"
            );
            table.push((omega, storage, e_init, e_omega, bound));
        }
    }
    for (omega, storage, e_init, e_omega, bound) in &table {
        assert!(
            e_init < bound && e_omega < bound,
            "omega {omega}, {storage}: {e_init:e}, {e_omega:e} beyond {bound:e}"
        );
    }
}

#[test]
fn sixteen_bit_storage_refuses_what_it_cannot_do() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 8, 4).unwrap();
    let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.0]);
    let new = |precision, backend| Simulation::new(grid.clone(), &step, precision, backend);
    let refused = |r: lbm_runtime::Result<Simulation>, says: &str| match r {
        Err(LbmError::BackendUnavailable(why)) => assert!(why.contains(says), "{why}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted"),
    };
    refused(
        new(Precision::F64, Backend::Cpu)
            .unwrap()
            .with_storage(Storage::F16),
        "computes in f32",
    );
    refused(
        new(Precision::F32, Backend::Cpu)
            .unwrap()
            .with_adjoint_precision(AdjointPrecision::F64)
            .unwrap()
            .with_storage(Storage::BF16),
        "f32 adjoint",
    );
    refused(
        new(Precision::F32, Backend::CpuSplit(2))
            .unwrap()
            .with_storage(Storage::F16),
        "split",
    );
    // A population beyond binary16's range is an error, not an infinity in the state.
    let mut sim = new(Precision::F32, Backend::Cpu)
        .unwrap()
        .with_storage(Storage::F16)
        .unwrap();
    let mut f = vec![0.1; grid.cells() * 9];
    f[13] = 7.0e4;
    match sim.set_populations(&f) {
        Err(LbmError::NonFinite { index: 13, .. }) => {}
        other => panic!("{other:?}"),
    }
    // bfloat16 has f32's range.
    let mut sim = sim.with_storage(Storage::BF16).unwrap();
    sim.set_populations(&f).unwrap();
    // A step that overflows binary16 is reported as a divergence at its step and cell:
    // populations of 6e4 fit, their equilibrium at rest (4/9 of 5.4e5) does not.
    let mut sim = new(Precision::F32, Backend::Cpu)
        .unwrap()
        .with_storage(Storage::F16)
        .unwrap();
    sim.set_populations(&vec![6.0e4; grid.cells() * 9]).unwrap();
    let err = sim.run(3).unwrap_err();
    assert!(
        matches!(err, LbmError::Diverged { step: 1, cell: 0 }),
        "{err}"
    );
}

/// The GPU's 16-bit kernels against the CPU's emulation of the same storage.
#[cfg(feature = "cuda")]
mod gpu {
    use super::common::{gpu, initial, step_zou_he, zou_he_ends};
    use super::*;

    /// Significant bits of a format's deviations.
    fn bits(storage: Storage) -> i32 {
        match storage {
            Storage::F16 => 11,
            _ => 8,
        }
    }

    /// A Zou-He channel (velocity inlet, pressure outlet, periodic across) on `lattice`.
    fn channel(lattice: LatticeKind) -> (Grid, Step) {
        let grid = match lattice.d() {
            2 => Grid::new_2d(lattice, 24, 12).unwrap(),
            _ => Grid::new_3d(lattice, 12, 8, 6).unwrap(),
        };
        let step = zou_he_ends(Step::new(&step_zou_he::INFO).uniform("omega", [1.6]), &grid);
        (grid, step)
    }

    fn simulation(grid: &Grid, step: &Step, backend: Backend, storage: Storage) -> Simulation {
        let mut sim = Simulation::new(grid.clone(), step, Precision::F32, backend)
            .unwrap()
            .with_storage(storage)
            .unwrap();
        sim.set_populations(&initial(grid)).unwrap();
        sim
    }

    /// The step between neighbouring values of `storage` at the deviation `d`.
    fn format_step(d: f64, storage: Storage) -> f64 {
        let exp = (d.abs().log2().floor() as i32).max(-14);
        2f64.powi(exp - bits(storage) + 1)
    }

    #[test]
    fn gpu_sixteen_bit_states_match_the_cpu_emulation() {
        if !gpu("gpu_sixteen_bit_states_match_the_cpu_emulation") {
            return;
        }
        for lattice in [LatticeKind::D2Q9, LatticeKind::D3Q19, LatticeKind::D3Q27] {
            let (grid, step) = channel(lattice);
            let q = lattice.q();
            for storage in [Storage::F16, Storage::BF16] {
                let mut g = simulation(&grid, &step, Backend::Cuda, storage);
                let mut c = simulation(&grid, &step, Backend::Cpu, storage);
                // Uploads round the same way on both.
                assert_eq!(g.populations().unwrap(), c.populations().unwrap());
                // One step from the same state: f32 arithmetic differs in its last bits
                // between the two (fused multiply-adds), which moves a rounding to the
                // neighbouring 16-bit value now and then; anything else is a bug (a wrong
                // shift, format or rounding mode moves most populations).
                g.run(1).unwrap();
                c.run(1).unwrap();
                let (fg, fc) = (g.populations().unwrap(), c.populations().unwrap());
                assert!(
                    every_population_fits(&grid, &fg, storage),
                    "{lattice} {storage}"
                );
                let mut moved = 0;
                for (k, (a, b)) in fg.iter().zip(&fc).enumerate() {
                    if a != b {
                        moved += 1;
                        let d = b - lattice.w(k % q);
                        let apart = (a - b).abs() / format_step(d, storage);
                        assert!(apart <= 1.0 + 1e-6, "{lattice} {storage} {k}: {a} {b}");
                    }
                }
                println!(
                    "{lattice} {storage}: one step, {moved} of {} differ",
                    fg.len()
                );
                assert!(
                    moved * 100 <= fg.len(),
                    "{lattice} {storage}: {moved} differ"
                );
                // Forty more: the differences stay at the format's resolution.
                g.run(40).unwrap();
                c.run(40).unwrap();
                let (fg, fc) = (g.populations().unwrap(), c.populations().unwrap());
                assert!(
                    every_population_fits(&grid, &fg, storage),
                    "{lattice} {storage}"
                );
                let deviation = |k: usize, v: f64| (v - lattice.w(k % q)).abs();
                let largest = fc
                    .iter()
                    .enumerate()
                    .map(|(k, v)| deviation(k, *v))
                    .fold(0.0, f64::max);
                let worst = fg
                    .iter()
                    .zip(&fc)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                let resolution = format_step(largest, storage);
                println!(
                    "{lattice} {storage}: 41 steps, GPU vs CPU within {:.2} steps of the \
                     largest deviation's",
                    worst / resolution
                );
                assert!(worst <= 4.0 * resolution, "{lattice} {storage}: {worst:e}");
            }
        }
    }

    #[test]
    fn gpu_sixteen_bit_gradients_match_the_cpu_emulation() {
        if !gpu("gpu_sixteen_bit_gradients_match_the_cpu_emulation") {
            return;
        }
        let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([10, 30]);
        for lattice in [LatticeKind::D2Q9, LatticeKind::D3Q19] {
            let (grid, step) = channel(lattice);
            for storage in [Storage::F16, Storage::BF16] {
                let gradient = |backend| {
                    simulation(&grid, &step, backend, storage)
                        .gradient(&objective, 30, Checkpointing::Revolve { snapshots: 4 })
                        .unwrap()
                };
                let (g, c) = (gradient(Backend::Cuda), gradient(Backend::Cpu));
                let e_init = relative_error(&g.initial, &c.initial);
                let e_omega =
                    ((omega_gradient(&g) - omega_gradient(&c)) / omega_gradient(&c)).abs();
                let e_loss = ((g.loss - c.loss) / c.loss).abs();
                println!(
                    "{lattice} {storage}: GPU vs CPU loss {e_loss:.1e}, initial {e_init:.1e}, \
                     omega {e_omega:.1e}"
                );
                // The two differ only where a rounding to 16 bits went the other way.
                let bound = 2f64.powi(-bits(storage) + 3);
                assert!(
                    e_loss < bound && e_init < bound && e_omega < bound,
                    "{lattice} {storage}: {e_loss:e} {e_init:e} {e_omega:e} beyond {bound:e}"
                );
            }
        }
    }

    #[test]
    fn gpu_sixteen_bit_gradients_against_f64_over_1000_steps() {
        if !gpu("gpu_sixteen_bit_gradients_against_f64_over_1000_steps") {
            return;
        }
        let grid = Grid::new_2d(LatticeKind::D2Q9, 64, 64).unwrap();
        let objective = Objective::new(&ops::kinetic_energy::INFO);
        for omega in [1.0, 1.8, 1.95] {
            let step = Step::new(&ops::bgk::INFO).uniform("omega", [omega]);
            let run = |precision, storage| {
                let mut sim = Simulation::new(grid.clone(), &step, precision, Backend::Cuda)
                    .unwrap()
                    .with_storage(storage)
                    .unwrap();
                sim.set_populations(&shear_wave(&grid)).unwrap();
                sim.gradient(&objective, 1000, Checkpointing::StoreAll)
                    .unwrap()
            };
            let reference = run(Precision::F64, Storage::Compute);
            // The CPU test's bounds (see `sixteen_bit_gradients_against_f64_over_1000_steps`).
            for (storage, bound) in [(Storage::F16, 1e-2), (Storage::BF16, 0.1)] {
                let g = run(Precision::F32, storage);
                let e_init = relative_error(&g.initial, &reference.initial);
                let e_omega = ((omega_gradient(&g) - omega_gradient(&reference))
                    / omega_gradient(&reference))
                .abs();
                println!(
                    "GPU omega {omega}, 1000 steps, {storage}: initial-state gradient \
                     {e_init:.1e}, omega gradient {e_omega:.1e}"
                );
                assert!(e_init < bound && e_omega < bound, "{omega} {storage}");
            }
        }
    }

    #[test]
    fn gpu_sixteen_bit_divergence_names_the_step_and_cell() {
        if !gpu("gpu_sixteen_bit_divergence_names_the_step_and_cell") {
            return;
        }
        let grid = Grid::new_2d(LatticeKind::D2Q9, 8, 4).unwrap();
        let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.0]);
        let mut sim = Simulation::new(grid.clone(), &step, Precision::F32, Backend::Cuda)
            .unwrap()
            .with_storage(Storage::F16)
            .unwrap();
        // Populations of 6e4 fit binary16; their equilibrium at rest does not.
        sim.set_populations(&vec![6.0e4; grid.cells() * 9]).unwrap();
        let err = sim.run(3).unwrap_err();
        assert!(
            matches!(err, LbmError::Diverged { step: 1, cell: 0 }),
            "{err}"
        );
    }
}
