//! Nanoseconds per cell of the `f32` lane forms (`lbm_runtime::lanes`) against the scalar
//! forms, forward and adjoint, for BGK and TRT on D2Q9 and D3Q19: one group's inputs
//! reused over many calls, so the inputs stay in cache and only the form itself is timed.
//!
//! A measurement, not a check, so it is ignored by default (CI does not time anything);
//! run it with
//! `cargo test --release -p lbm-tests --test lane_bench -- --ignored --nocapture`.

#![cfg(target_arch = "x86_64")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use lbm_runtime::lanes::{self, F32x8, Group};
use lbm_runtime::{ops, LatticeKind, OperatorInfo, Real};
use lbm_tests::gradcheck::{sample_inputs, Rng};

/// Timed runs per form; the fastest counts, as the one least disturbed by the machine.
const RUNS: usize = 15;

/// Calls per timed run, enough for each run to take a few milliseconds.
const CALLS: usize = 200_000;

/// The fastest of [`RUNS`] runs of `CALLS` calls of `call`.
fn fastest(mut call: impl FnMut()) -> Duration {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CALLS {
                call();
            }
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

/// Nanoseconds per cell of one operator's forms on one lattice.
struct Timings {
    scalar_forward: f64,
    lane_forward: f64,
    scalar_adjoint: f64,
    lane_adjoint: f64,
}

/// Times the scalar and the lane forms, forward and adjoint, of `op` on `lattice`.
fn ns_per_cell(op: &OperatorInfo, lattice: LatticeKind) -> Timings {
    let mut rng = Rng::new(0xBE4C);
    let cells: Vec<_> = (0..F32x8::LANES)
        .map(|_| sample_inputs(op, lattice, &mut rng))
        .collect();
    // Every cell shares the first one's integer inputs, as in a group the backend runs.
    let ints = cells[0].ints.clone();
    let outputs = op.outputs_len(lattice);
    let per_cell = |t: Duration, cells: usize| t.as_secs_f64() * 1e9 / (CALLS * cells) as f64;

    let scalar = op.cpu.f32(lattice);
    let reals: Vec<f32> = cells[0].reals.iter().map(|&v| v as f32).collect();
    let mut out = vec![0.0f32; outputs];
    let scalar_forward =
        fastest(|| (scalar.forward)(black_box(&reals), black_box(&ints), black_box(&mut out)));
    let out_bar: Vec<f32> = (0..outputs).map(|k| 0.1 * k as f32 - 0.3).collect();
    let mut reals_bar = vec![0.0f32; reals.len()];
    let scalar_adjoint = fastest(|| {
        (scalar.adjoint)(
            black_box(&reals),
            black_box(&ints),
            black_box(&out_bar),
            black_box(&mut reals_bar),
        )
    });

    let lane = op.cpu.f32_lanes(lattice);
    let mut groups = vec![F32x8::default(); cells[0].reals.len()];
    let flat = F32x8::scalars_mut(&mut groups);
    for (k, cell) in cells.iter().enumerate() {
        for (j, v) in cell.reals.iter().enumerate() {
            flat[j * F32x8::LANES + k] = *v as f32;
        }
    }
    let mut out = vec![F32x8::default(); outputs];
    let group_out_bar: Vec<F32x8> = out_bar.iter().map(|&v| F32x8::from_f64(v.into())).collect();
    let mut group_bars = vec![F32x8::default(); groups.len()];
    lanes::reset_divergence();
    let lane_forward = fastest(|| {
        // SAFETY: the caller checked `lanes::supported()`.
        unsafe { (lane.forward)(black_box(&groups), black_box(&ints), black_box(&mut out)) }
    });
    let lane_adjoint = fastest(|| {
        // SAFETY: as above.
        unsafe {
            (lane.adjoint)(
                black_box(&groups),
                black_box(&ints),
                black_box(&group_out_bar),
                black_box(&mut group_bars),
            )
        }
    });
    // A diverged group would have been timed on a path the backend never keeps.
    assert!(!lanes::diverged(), "{} on {lattice} diverged", op.name);

    Timings {
        scalar_forward: per_cell(scalar_forward, 1),
        lane_forward: per_cell(lane_forward, F32x8::LANES),
        scalar_adjoint: per_cell(scalar_adjoint, 1),
        lane_adjoint: per_cell(lane_adjoint, F32x8::LANES),
    }
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn lane_forms_ns_per_cell() {
    if !lanes::supported() {
        eprintln!("this CPU lacks AVX2 or FMA: there are no lane forms to time");
        return;
    }
    println!("operator  lattice  forward: scalar  lanes  | adjoint: scalar  lanes | lane adj/fwd");
    for op in [&ops::bgk::INFO, &ops::trt::INFO] {
        for lattice in [LatticeKind::D2Q9, LatticeKind::D3Q19] {
            let t = ns_per_cell(op, lattice);
            println!(
                "{:<9} {:<8} {:>15.2} {:>6.2} | {:>15.2} {:>6.2} | {:>12.2}",
                op.name,
                lattice.to_string(),
                t.scalar_forward,
                t.lane_forward,
                t.scalar_adjoint,
                t.lane_adjoint,
                t.lane_adjoint / t.lane_forward
            );
        }
    }
}
