//! Nanoseconds per cell of the `f32` lane forwards (`lbm_runtime::lanes`) against the
//! scalar forwards, for BGK and TRT on D2Q9 and D3Q19: one group's inputs reused over
//! many calls, so the inputs stay in cache and only the forward itself is timed.
//!
//! A measurement, not a check, so it is ignored by default (CI does not time anything);
//! run it with
//! `cargo test --release -p lbm-tests --test lane_bench -- --ignored --nocapture`.

#![cfg(target_arch = "x86_64")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use lbm_runtime::lanes::{self, F32x8, Group};
use lbm_runtime::{ops, LatticeKind, OperatorInfo};
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

/// Nanoseconds per cell of the scalar and the lane forward of `op` on `lattice`.
fn ns_per_cell(op: &OperatorInfo, lattice: LatticeKind) -> (f64, f64) {
    let mut rng = Rng::new(0xBE4C);
    let cells: Vec<_> = (0..F32x8::LANES)
        .map(|_| sample_inputs(op, lattice, &mut rng))
        .collect();
    // Every cell shares the first one's integer inputs, as in a group the backend runs.
    let ints = cells[0].ints.clone();
    let outputs = op.outputs_len(lattice);

    let scalar = op.cpu.f32(lattice).forward;
    let reals: Vec<f32> = cells[0].reals.iter().map(|&v| v as f32).collect();
    let mut out = vec![0.0f32; outputs];
    let scalar_time = fastest(|| scalar(black_box(&reals), black_box(&ints), black_box(&mut out)));
    let adjoint = op.cpu.f32(lattice).adjoint;
    let out_bar: Vec<f32> = (0..outputs).map(|k| 0.1 * k as f32 - 0.3).collect();
    let mut reals_bar = vec![0.0f32; reals.len()];
    let adjoint_time = fastest(|| {
        adjoint(
            black_box(&reals),
            black_box(&ints),
            black_box(&out_bar),
            black_box(&mut reals_bar),
        )
    });
    println!(
        "  scalar adjoint {} {lattice}: {:.2} ns/cell",
        op.name,
        adjoint_time.as_secs_f64() * 1e9 / CALLS as f64
    );

    let lane = op.cpu.f32_lanes(lattice);
    let mut groups = vec![F32x8::default(); cells[0].reals.len()];
    let flat = F32x8::scalars_mut(&mut groups);
    for (k, cell) in cells.iter().enumerate() {
        for (j, v) in cell.reals.iter().enumerate() {
            flat[j * F32x8::LANES + k] = *v as f32;
        }
    }
    let mut out = vec![F32x8::default(); outputs];
    lanes::reset_divergence();
    let lane_time = fastest(|| {
        // SAFETY: the caller checked `lanes::supported()`.
        unsafe { lane(black_box(&groups), black_box(&ints), black_box(&mut out)) }
    });
    // A diverged group would have been timed on a path the backend never keeps.
    assert!(!lanes::diverged(), "{} on {lattice} diverged", op.name);

    let per_call = |t: Duration| t.as_secs_f64() * 1e9 / CALLS as f64;
    (
        per_call(scalar_time),
        per_call(lane_time) / F32x8::LANES as f64,
    )
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn lane_forward_ns_per_cell() {
    if !lanes::supported() {
        eprintln!("this CPU lacks AVX2 or FMA: there are no lane forms to time");
        return;
    }
    println!("operator  lattice  scalar ns/cell  lanes ns/cell  speed-up");
    for op in [&ops::bgk::INFO, &ops::trt::INFO] {
        for lattice in [LatticeKind::D2Q9, LatticeKind::D3Q19] {
            let (scalar, lane) = ns_per_cell(op, lattice);
            println!(
                "{:<9} {:<8} {scalar:>14.2} {lane:>14.2} {:>9.2}",
                op.name,
                lattice.to_string(),
                scalar / lane
            );
        }
    }
}
