//! In-place (AA) streaming: the same numbers as two states, bit for bit, forward and
//! backward (snapshots in device memory, on the host and on disk), with 16-bit storage
//! too; what is refused.
//!
//! The GPU tests print a notice and return without a GPU, unless `LBM_REQUIRE_CUDA=1`.

mod common;

use common::{initial, obstacle, solid_ints, step_bouzidi, step_zou_he, zou_he_ends};
use lbm_runtime::{
    ops, Backend, Grid, LatticeKind, LbmError, Precision, Simulation, Source, Step, Streaming,
};

/// A Zou-He channel (velocity inlet, pressure outlet, periodic across) on `lattice`.
fn channel(lattice: LatticeKind) -> (Grid, Step) {
    let grid = match lattice.d() {
        2 => Grid::new_2d(lattice, 20, 12).unwrap(),
        _ => Grid::new_3d(lattice, 10, 8, 6).unwrap(),
    };
    let step = zou_he_ends(Step::new(&step_zou_he::INFO).uniform("omega", [1.6]), &grid);
    (grid, step)
}

fn simulation(
    grid: &Grid,
    step: &Step,
    (precision, backend): (Precision, Backend),
    streaming: Streaming,
) -> Simulation {
    let mut sim = Simulation::new(grid.clone(), step, precision, backend)
        .unwrap()
        .with_streaming(streaming)
        .unwrap();
    sim.set_populations(&initial(grid)).unwrap();
    sim
}

#[test]
fn in_place_refuses_steps_that_read_what_others_overwrite() {
    let plain = Grid::new_2d(LatticeKind::D2Q9, 12, 8).unwrap();
    let grid = plain.clone().with_solid(obstacle(&plain)).unwrap();
    let q = grid.lattice().q();
    let bouzidi = Step::new(&step_bouzidi::INFO)
        .uniform("omega", [1.5])
        .field("q_wall", vec![0.5; grid.cells() * q])
        .int_field("solid", solid_ints(&obstacle(&grid)));
    let sim = Simulation::new(grid.clone(), &bouzidi, Precision::F64, Backend::Cpu).unwrap();
    match sim.with_streaming(Streaming::InPlace) {
        Err(LbmError::BadBinding { op, message }) => {
            assert_eq!(op, "step_bouzidi");
            assert!(message.contains("`f_local`"), "{message}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted a #[local] read in place"),
    }
    let bgk = Step::new(&ops::bgk::INFO).uniform("omega", [1.0]);
    let split = Simulation::new(grid.clone(), &bgk, Precision::F64, Backend::CpuSplit(2));
    match split.unwrap().with_streaming(Streaming::InPlace) {
        Err(LbmError::BackendUnavailable(why)) => assert!(why.contains("split"), "{why}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted on a split simulation"),
    }
}

#[test]
fn a_neighbour_read_bound_later_is_refused_in_place() {
    let grid = Grid::new_2d(LatticeKind::D2Q9, 12, 8).unwrap();
    let step = Step::new(&blend_step::INFO)
        .uniform("omega", [1.2])
        .uniform("blend", [0.0])
        .field("other", vec![0.1; grid.cells() * 9]);
    let mut sim = Simulation::new(grid.clone(), &step, Precision::F64, Backend::Cpu)
        .unwrap()
        .with_streaming(Streaming::InPlace)
        .unwrap();
    sim.set_populations(&initial(&grid)).unwrap();
    let err = sim
        .set_parameter("other", Source::Neighbor([1, 0, 0]))
        .unwrap_err();
    assert!(matches!(err, LbmError::BadBinding { .. }), "{err}");
    // The simulation keeps its binding and still runs.
    sim.run(2).unwrap();
}

/// BGK blended with another set of populations, which may be bound to a neighbour's.
#[lbm_runtime::operator]
pub fn blend_step(
    #[populations] f: [Real; Q],
    other: [Real; Q],
    #[param] omega: Real,
    #[param] blend: Real,
) -> [Real; Q] {
    let g = lbm_runtime::ops::bgk(f, omega);
    let mut h = [0.0; Q];
    for i in 0..Q {
        h[i] = g[i] + blend * other[i];
    }
    h
}

#[test]
fn in_place_on_the_cpu_gives_the_two_state_numbers() {
    let (grid, step) = channel(LatticeKind::D2Q9);
    let at = (Precision::F64, Backend::Cpu);
    let mut a = simulation(&grid, &step, at, Streaming::InPlace);
    let mut b = simulation(&grid, &step, at, Streaming::TwoStates);
    assert_eq!(a.streaming(), Streaming::InPlace);
    a.run(5).unwrap();
    b.run(5).unwrap();
    assert_eq!(a.populations().unwrap(), b.populations().unwrap());
}

#[cfg(feature = "cuda")]
mod gpu {
    use super::common::{gpu, noise};
    use super::*;
    use lbm_runtime::{Checkpointing, GradValue, Objective, Storage};

    #[test]
    fn gpu_in_place_states_equal_two_states_bit_for_bit() {
        if !gpu("gpu_in_place_states_equal_two_states_bit_for_bit") {
            return;
        }
        for lattice in LatticeKind::ALL {
            let (grid, step) = channel(lattice);
            for (precision, storage) in [
                (Precision::F64, Storage::Compute),
                (Precision::F32, Storage::Compute),
                (Precision::F32, Storage::F16),
            ] {
                let on = (precision, Backend::Cuda);
                let with = |streaming| {
                    simulation(&grid, &step, on, streaming)
                        .with_storage(storage)
                        .unwrap()
                };
                let (mut a, mut b) = (with(Streaming::InPlace), with(Streaming::TwoStates));
                let what = format!("{lattice} {precision:?} {storage}");
                assert_eq!(a.populations().unwrap(), b.populations().unwrap(), "{what}");
                // Odd and even step counts: both layouts are read back.
                for steps in [1, 1, 3, 6] {
                    a.run(steps).unwrap();
                    b.run(steps).unwrap();
                    let (fa, fb) = (a.populations().unwrap(), b.populations().unwrap());
                    assert!(fa == fb, "{what}: after {} steps", a.time());
                }
                // A state set at an odd time is read in the layout it was set in.
                let f = initial(&grid);
                a.set_populations(&f).unwrap();
                b.set_populations(&f).unwrap();
                a.run(2).unwrap();
                b.run(2).unwrap();
                assert!(
                    a.populations().unwrap() == b.populations().unwrap(),
                    "{what}"
                );
            }
        }
    }

    #[test]
    fn gpu_in_place_gradients_equal_two_states_bit_for_bit() {
        if !gpu("gpu_in_place_gradients_equal_two_states_bit_for_bit") {
            return;
        }
        let objective = Objective::new(&ops::kinetic_energy::INFO).at_steps([3, 8, 13]);
        let spilling = Checkpointing::RevolveSpilling {
            device: 1,
            host: 1,
            disk: 1,
        };
        for lattice in [LatticeKind::D2Q9, LatticeKind::D3Q19] {
            let (grid, _) = channel(lattice);
            let omega_field = noise(grid.cells(), 7)
                .iter()
                .map(|v| 1.5 + 0.2 * v)
                .collect::<Vec<_>>();
            let omega = Step::new(&step_zou_he::INFO).field("omega", omega_field);
            let step = zou_he_ends(omega, &grid);
            for checkpointing in [
                Checkpointing::StoreAll,
                Checkpointing::Revolve { snapshots: 2 },
                spilling,
            ] {
                let on = (Precision::F64, Backend::Cuda);
                let gradient = |streaming| {
                    let mut sim = simulation(&grid, &step, on, streaming);
                    // Start from an odd time, so the run begins in the odd layout.
                    sim.run(1).unwrap();
                    sim.gradient(&objective, 13, checkpointing)
                };
                let a = gradient(Streaming::InPlace).unwrap();
                let b = gradient(Streaming::TwoStates).unwrap();
                let what = format!("{lattice} {checkpointing:?}");
                assert_eq!(a.loss.to_bits(), b.loss.to_bits(), "{what}");
                assert!(a.initial == b.initial, "{what}: initial-state gradient");
                let field = |g: &lbm_runtime::Gradients| match g.param("omega") {
                    Some(GradValue::Field(v)) => v.clone(),
                    other => panic!("{other:?}"),
                };
                assert!(field(&a) == field(&b), "{what}: omega field gradient");
                assert_eq!(a.report.forward_steps, b.report.forward_steps, "{what}");
            }
        }
    }
}
