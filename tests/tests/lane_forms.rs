//! The lane forms the CPU backend runs over groups of cells (`lbm_runtime::lanes`): each
//! lane must hold exactly the bits the scalar form gives its cell, forward and adjoint,
//! for every library operator on every lattice (`f32`, the only type with lane forms),
//! and a group whose lanes take different branches must be reported as diverged rather
//! than computed along one lane's path. The oracle is the scalar form of the same
//! operator, which the rest of the suite holds to finite differences and to the
//! reference form.
//!
//! The lane types need AVX2 and FMA; on a CPU without them the backend never runs lane
//! forms and these tests have nothing to check (they say so). CI's machines have both.

#![cfg(target_arch = "x86_64")]

use lbm_runtime::lanes::{self, F32x8, Group};
use lbm_runtime::operator::{FlatForms, FlatForward, LaneForms, LaneForward};
use lbm_runtime::{operator, ops, LatticeKind, OperatorInfo, Real};
use lbm_tests::gradcheck::{sample_inputs, Inputs, Rng};

/// Groups per operator and lattice.
const GROUPS: usize = 12;

/// Operators whose forwards branch on a real value, so lanes of a random group may take
/// different paths (they must then be reported diverged, never wrong).
const BRANCHING_ON_REALS: &[&str] = &["kbc", "smagorinsky_bgk", "bouzidi"];

/// Packs the real inputs of `cells` into groups of lanes: lane `k` of input `j` at
/// scalar `j * LANES + k`.
fn pack<V: Group>(cells: &[Vec<V::Scalar>]) -> Vec<V> {
    let len = cells[0].len();
    let mut groups = vec![V::default(); len];
    let lanes = V::scalars_mut(&mut groups);
    for (k, cell) in cells.iter().enumerate() {
        for (j, v) in cell.iter().enumerate() {
            lanes[j * V::LANES + k] = *v;
        }
    }
    groups
}

/// Runs the lane forward on the cells' inputs; `None` when the lanes diverged, else
/// every cell's outputs.
fn lane_outputs<V: Group>(
    forward: LaneForward<V>,
    cells: &[Vec<V::Scalar>],
    ints: &[i64],
    outputs: usize,
) -> Option<Vec<Vec<V::Scalar>>> {
    let reals = pack::<V>(cells);
    let mut out = vec![V::default(); outputs];
    lanes::reset_divergence();
    // SAFETY: the callers check `lanes::supported()` first.
    unsafe { forward(&reals, ints, &mut out) };
    if lanes::diverged() {
        return None;
    }
    let flat = V::scalars(&out);
    Some(
        (0..V::LANES)
            .map(|k| (0..outputs).map(|j| flat[j * V::LANES + k]).collect())
            .collect(),
    )
}

/// The bits of a value, so NaNs and signed zeros compare as the forms produce them.
fn bits<R: Real>(v: &[R]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

/// Compares one group's lane outputs with the scalar forward; returns whether it ran
/// (did not diverge), or a failure.
fn check_group<V: Group>(
    op: &OperatorInfo,
    lattice: LatticeKind,
    (scalar, lane): (FlatForward<V::Scalar>, LaneForward<V>),
    cells: &[Vec<V::Scalar>],
    ints: &[i64],
) -> Result<bool, String> {
    let outputs = op.outputs_len(lattice);
    let Some(got) = lane_outputs(lane, cells, ints, outputs) else {
        return Ok(false);
    };
    for (k, cell) in cells.iter().enumerate() {
        let mut want = vec![V::Scalar::default(); outputs];
        scalar(cell, ints, &mut want);
        if bits(&got[k]) != bits(&want) {
            return Err(format!(
                "{} on {lattice}, lane {k} of {}: {:?} against the scalar {:?}",
                op.name,
                V::LANES,
                got[k],
                want
            ));
        }
    }
    Ok(true)
}

/// Unpacks groups of lanes into one vector per lane (the inverse of [`pack`]).
fn unpack<V: Group>(groups: &[V]) -> Vec<Vec<V::Scalar>> {
    let flat = V::scalars(groups);
    (0..V::LANES)
        .map(|k| flat.iter().skip(k).step_by(V::LANES).copied().collect())
        .collect()
}

/// Compares one group's lane adjoint with the scalar adjoint of each cell, every lane
/// with its own output adjoints; returns whether it ran (did not diverge), or a failure.
fn check_adjoint_group<V: Group>(
    op: &OperatorInfo,
    lattice: LatticeKind,
    (scalar, lane): (&FlatForms<V::Scalar>, &LaneForms<V>),
    cells: &[Vec<V::Scalar>],
    out_bars: &[Vec<V::Scalar>],
    ints: &[i64],
) -> Result<bool, String> {
    let reals = pack::<V>(cells);
    let out_bar = pack::<V>(out_bars);
    let mut bars = vec![V::default(); reals.len()];
    lanes::reset_divergence();
    // SAFETY: the callers check `lanes::supported()` first.
    unsafe { (lane.adjoint)(&reals, ints, &out_bar, &mut bars) };
    if lanes::diverged() {
        return Ok(false);
    }
    for (k, got) in unpack(&bars).iter().enumerate() {
        let mut want = vec![V::Scalar::default(); cells[k].len()];
        (scalar.adjoint)(&cells[k], ints, &out_bars[k], &mut want);
        if bits(got) != bits(&want) {
            return Err(format!(
                "adjoint of {} on {lattice}, lane {k} of {}: {got:?} against the scalar {want:?}",
                op.name,
                V::LANES,
            ));
        }
    }
    Ok(true)
}

/// Random cells sharing one set of integer inputs (groups only run such cells).
fn random_cells(
    op: &OperatorInfo,
    lattice: LatticeKind,
    n: usize,
    rng: &mut Rng,
) -> (Vec<Inputs>, Vec<i64>) {
    let first = sample_inputs(op, lattice, rng);
    let ints = first.ints.clone();
    let mut cells = vec![first];
    cells.extend((1..n).map(|_| sample_inputs(op, lattice, rng)));
    (cells, ints)
}

fn check_all<V: Group>(
    forms: impl Fn(&OperatorInfo, LatticeKind) -> (FlatForward<V::Scalar>, LaneForward<V>),
    convert: impl Fn(f64) -> V::Scalar,
) {
    let mut failures = Vec::new();
    for (n, op) in ops::ALL.iter().enumerate() {
        for lattice in LatticeKind::ALL {
            let mut rng = Rng::new(0x1A7E ^ ((n as u64) << 8) ^ lattice.q() as u64);
            let mut ran = 0;
            for _ in 0..GROUPS {
                let (cells, ints) = random_cells(op, lattice, V::LANES, &mut rng);
                let reals: Vec<Vec<V::Scalar>> = cells
                    .iter()
                    .map(|c| c.reals.iter().map(|&v| convert(v)).collect())
                    .collect();
                match check_group::<V>(op, lattice, forms(op, lattice), &reals, &ints) {
                    Ok(true) => ran += 1,
                    Ok(false) => {}
                    Err(e) => failures.push(e),
                }
                // The same cell in every lane: nothing can diverge.
                let same = vec![reals[0].clone(); V::LANES];
                match check_group::<V>(op, lattice, forms(op, lattice), &same, &ints) {
                    Ok(true) => {}
                    Ok(false) => failures.push(format!(
                        "{} on {lattice}: identical lanes reported diverged",
                        op.name
                    )),
                    Err(e) => failures.push(e),
                }
            }
            if ran < GROUPS && !BRANCHING_ON_REALS.contains(&op.name) {
                failures.push(format!(
                    "{} on {lattice}: {} of {GROUPS} random groups diverged, though its \
                     forward takes no branch on a real value",
                    op.name,
                    GROUPS - ran
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every library operator's lane adjoint on random groups, each lane with its own output
/// adjoints, against the scalar adjoint; as for the forwards, only operators that
/// branch on a real value may diverge on random groups.
#[test]
fn lane_adjoints_give_the_scalar_bits() {
    if !lanes::supported() {
        eprintln!("this CPU lacks AVX2 or FMA: the backend runs no lane forms here");
        return;
    }
    let mut failures = Vec::new();
    for (n, op) in ops::ALL.iter().enumerate() {
        for lattice in LatticeKind::ALL {
            let mut rng = Rng::new(0xAD70 ^ ((n as u64) << 8) ^ lattice.q() as u64);
            let forms = (op.cpu.f32(lattice), op.cpu.f32_lanes(lattice));
            let outputs = op.outputs_len(lattice);
            let mut ran = 0;
            for _ in 0..GROUPS {
                let (cells, ints) = random_cells(op, lattice, F32x8::LANES, &mut rng);
                let reals: Vec<Vec<f32>> = cells
                    .iter()
                    .map(|c| c.reals.iter().map(|&v| v as f32).collect())
                    .collect();
                let out_bars: Vec<Vec<f32>> = (0..F32x8::LANES)
                    .map(|_| {
                        (0..outputs)
                            .map(|_| rng.uniform(-1.0, 1.0) as f32)
                            .collect()
                    })
                    .collect();
                match check_adjoint_group::<F32x8>(op, lattice, forms, &reals, &out_bars, &ints) {
                    Ok(true) => ran += 1,
                    Ok(false) => {}
                    Err(e) => failures.push(e),
                }
            }
            if ran < GROUPS && !BRANCHING_ON_REALS.contains(&op.name) {
                failures.push(format!(
                    "adjoint of {} on {lattice}: {} of {GROUPS} random groups diverged",
                    op.name,
                    GROUPS - ran
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lane_forwards_give_the_scalar_bits() {
    if !lanes::supported() {
        eprintln!("this CPU lacks AVX2 or FMA: the backend runs no lane forms here");
        return;
    }
    check_all::<F32x8>(
        |op, l| (op.cpu.f32(l).forward, op.cpu.f32_lanes(l).forward),
        |v| v as f32,
    );
}

/// A branch on a real value: lanes on both sides of it cannot share one path.
#[operator]
fn rectify(x: Real) -> Real {
    if x > 0.0 {
        x * 2.0
    } else {
        -x
    }
}

#[test]
fn lanes_that_branch_apart_are_reported() {
    if !lanes::supported() {
        eprintln!("this CPU lacks AVX2 or FMA: the backend runs no lane forms here");
        return;
    }
    let l = LatticeKind::D2Q9;
    let forms = (
        rectify::INFO.cpu.f32(l).forward,
        rectify::INFO.cpu.f32_lanes(l).forward,
    );
    let cells = |xs: [f32; 8]| xs.map(|x| vec![x]).to_vec();
    let positive = cells([0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert_eq!(
        check_group::<F32x8>(&rectify::INFO, l, forms, &positive, &[]),
        Ok(true)
    );
    let negative = cells([-0.5, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0]);
    assert_eq!(
        check_group::<F32x8>(&rectify::INFO, l, forms, &negative, &[]),
        Ok(true)
    );
    let adjoint_forms = (rectify::INFO.cpu.f32(l), rectify::INFO.cpu.f32_lanes(l));
    let out_bars = cells([1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0]);
    for same_side in [&positive, &negative] {
        assert_eq!(
            check_adjoint_group::<F32x8>(
                &rectify::INFO,
                l,
                adjoint_forms,
                same_side,
                &out_bars,
                &[]
            ),
            Ok(true)
        );
    }
    // Lane 0 alone on the other side, then the last lane alone.
    for mixed in [
        [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -7.0],
    ] {
        assert_eq!(
            check_group::<F32x8>(&rectify::INFO, l, forms, &cells(mixed), &[]),
            Ok(false)
        );
        assert_eq!(
            check_adjoint_group::<F32x8>(
                &rectify::INFO,
                l,
                adjoint_forms,
                &cells(mixed),
                &out_bars,
                &[]
            ),
            Ok(false)
        );
    }
}
