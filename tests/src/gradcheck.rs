//! Adjoint checks against central finite differences, generic over any operator's flat
//! forms, so every library operator on every lattice goes through the same check.

use lbm_runtime::{LatticeKind, OperatorInfo, ParamKind, Shape};

/// Relative error allowed between an adjoint and central differences in f64.
pub const FD_TOLERANCE: f64 = 1e-7;
/// Relative difference allowed between the generated f64 forward and the reference form.
/// The generated forward performs the source's operations in the source's order, so only
/// a contraction or reassociation by the optimiser could separate them.
pub const FORWARD_TOLERANCE: f64 = 1e-13;
/// Relative error allowed between an f32 adjoint and central differences of the f64
/// forward: f32 rounding (~6e-8) amplified by the cancellations of `f - feq`, with a wide
/// margin; a wrong f32 form is off by far more.
pub const F32_TOLERANCE: f64 = 1e-3;
/// Relative error allowed between the f32 and the f64 forward (see [`F32Errors`]).
pub const F32_FORWARD_TOLERANCE: f64 = 1e-5;
/// Step of the fourth-order central difference: truncation ~h^4, rounding ~1e-16/h, and
/// small enough that a random input rarely sits within a step of a branch switch.
const STEP: f64 = 1e-4;

/// The generator of the workspace tests.
pub type Rng = crate::SplitMix64;

/// Uniform integer in `lo..hi`.
fn int_in(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    lo + rng.below((hi - lo) as u64) as i64
}

/// Inputs of one operator call in the flat layout of `lbm_runtime::operator`.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Real-valued parameters, concatenated.
    pub reals: Vec<f64>,
    /// Integer and boolean parameters.
    pub ints: Vec<i64>,
}

/// Populations near equilibrium: a random density and a small velocity, plus noise,
/// so moments, equilibria and collisions see physical states.
pub fn near_equilibrium(lattice: LatticeKind, rng: &mut Rng) -> Vec<f64> {
    let rho = rng.uniform(0.8, 1.2);
    let u: Vec<f64> = (0..3).map(|_| rng.uniform(-0.08, 0.08)).collect();
    let usq: f64 = u[..lattice.d()].iter().map(|x| x * x).sum();
    (0..lattice.q())
        .map(|i| {
            let c = lattice.c(i);
            let cu: f64 = (0..lattice.d()).map(|a| c[a] as f64 * u[a]).sum();
            let feq = lattice.w(i) * rho * (1.0 + 3.0 * cu + 4.5 * cu * cu - 1.5 * usq);
            feq * (1.0 + rng.uniform(-0.05, 0.05))
        })
        .collect()
}

/// How to draw one parameter: by shape, refined by the parameter's name where the
/// library's naming says what it means.
pub fn sample_param(
    name: &str,
    kind: ParamKind,
    shape: Shape,
    lattice: LatticeKind,
    rng: &mut Rng,
) -> Vec<f64> {
    let _ = kind;
    match shape {
        // Per-link wall distances (Bouzidi): fractions of a link on both sides of 1/2, kept
        // off the kink at 1/2 (continuous, but the two branches' slopes differ there).
        Shape::Q if name.starts_with('q') => (0..lattice.q())
            .map(|_| {
                let q = rng.uniform(0.1, 0.88);
                if q < 0.49 {
                    q
                } else {
                    q + 0.02
                }
            })
            .collect(),
        Shape::Q => near_equilibrium(lattice, rng),
        Shape::D => (0..lattice.d()).map(|_| rng.uniform(-0.1, 0.1)).collect(),
        Shape::Fixed(n) => (0..n).map(|_| rng.uniform(0.5, 1.5)).collect(),
        Shape::Scalar => {
            let v = if name.contains("omega") {
                rng.uniform(0.6, 1.9)
            } else if name.contains("smag") {
                // Smagorinsky constants: the usual 0.1 to 0.2.
                rng.uniform(0.1, 0.2)
            } else if name.contains("fraction")
                || name.starts_with('q')
                || name.contains("dist")
                || name.contains("solid")
            {
                rng.uniform(0.1, 0.9)
            } else if name.starts_with('u')
                || name.contains("vel")
                || name.starts_with("force")
                || name.starts_with('g')
            {
                rng.uniform(-0.1, 0.1)
            } else {
                rng.uniform(0.7, 1.3)
            };
            vec![v]
        }
    }
}

/// The meaningful values of an integer parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntRange {
    /// One of these values.
    Values(Vec<i64>),
    /// A bit mask over this many bits, every combination meaningful.
    Mask(u32),
}

/// Tags select among the arms of a `match` or an `if` chain: 0 to 3 reach the explicit
/// arms of the library's and the tests' step operators, -1 and 4 their default arms.
const TAGS: std::ops::RangeInclusive<i64> = -1..=4;

/// The whole meaningful range of an integer parameter, by the library's naming: directions
/// over the lattice, axes over its dimensions, the sides of a wall, the link mask over every
/// direction, tags over every arm.
pub fn int_range(name: &str, lattice: LatticeKind) -> IntRange {
    match name {
        "i" | "dir" | "direction" => IntRange::Values((0..lattice.q() as i64).collect()),
        "axis" => IntRange::Values((0..lattice.d() as i64).collect()),
        "side" | "sign" => IntRange::Values(vec![-1, 1]),
        // A bit per direction: which upstream neighbours are walls (bit 0, the rest
        // direction, is the cell itself).
        "links" => IntRange::Mask(lattice.q() as u32),
        _ => IntRange::Values(TAGS.collect()),
    }
}

/// A random integer parameter over its whole meaningful range (see [`int_range`]).
pub fn sample_int(name: &str, lattice: LatticeKind, rng: &mut Rng) -> i64 {
    match int_range(name, lattice) {
        IntRange::Values(v) => v[rng.below(v.len() as u64) as usize],
        IntRange::Mask(bits) => rng.below(1u64 << bits) as i64,
    }
}

/// Random inputs for an operator.
pub fn sample_inputs(op: &OperatorInfo, lattice: LatticeKind, rng: &mut Rng) -> Inputs {
    let mut reals = Vec::new();
    let mut ints = Vec::new();
    for p in op.params {
        if p.kind.is_real() {
            reals.extend(sample_param(p.name, p.kind, p.shape, lattice, rng));
        } else if p.kind == ParamKind::Bool {
            ints.push(int_in(rng, 0, 2));
        } else {
            ints.push(sample_int(p.name, lattice, rng));
        }
    }
    Inputs { reals, ints }
}

/// Which entries of the flat real buffer belong to differentiable parameters.
pub fn differentiable_mask(op: &OperatorInfo, lattice: LatticeKind) -> Vec<bool> {
    op.params
        .iter()
        .filter(|p| p.kind.is_real())
        .flat_map(|p| std::iter::repeat_n(p.kind.is_differentiable(), p.shape.len(lattice)))
        .collect()
}

/// Forward form on flat buffers, f64.
pub fn forward(op: &OperatorInfo, lattice: LatticeKind, x: &Inputs) -> Vec<f64> {
    let mut out = vec![0.0; op.outputs_len(lattice)];
    (op.cpu.f64(lattice).forward)(&x.reals, &x.ints, &mut out);
    out
}

/// The reference form on flat buffers: the operator's source as written, compiled by
/// rustc over f64, independent of the macro's stages (the oracle of every check here).
pub fn reference(op: &OperatorInfo, lattice: LatticeKind, x: &Inputs) -> Vec<f64> {
    let mut out = vec![0.0; op.outputs_len(lattice)];
    (op.cpu.reference(lattice))(&x.reals, &x.ints, &mut out);
    out
}

/// Relative distance between the generated f64 forward and the reference form at `x`:
/// the largest difference over outputs, relative to the largest output magnitude (at
/// least one).
pub fn forward_error(op: &OperatorInfo, lattice: LatticeKind, x: &Inputs) -> f64 {
    let (got, want) = (forward(op, lattice, x), reference(op, lattice, x));
    let scale = want.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(&want)
        .map(|(a, b)| if a == b { 0.0 } else { (a - b).abs() / scale })
        .fold(0.0, f64::max)
}

/// Adjoint form on flat buffers, f64.
pub fn adjoint(op: &OperatorInfo, lattice: LatticeKind, x: &Inputs, out_bar: &[f64]) -> Vec<f64> {
    let mut bar = vec![0.0; x.reals.len()];
    (op.cpu.f64(lattice).adjoint)(&x.reals, &x.ints, out_bar, &mut bar);
    bar
}

/// Forward form on flat buffers, f32: the inputs are rounded to f32, the outputs widened.
pub fn forward_f32(op: &OperatorInfo, lattice: LatticeKind, x: &Inputs) -> Vec<f64> {
    let reals: Vec<f32> = x.reals.iter().map(|&v| v as f32).collect();
    let mut out = vec![0.0f32; op.outputs_len(lattice)];
    (op.cpu.f32(lattice).forward)(&reals, &x.ints, &mut out);
    out.into_iter().map(f64::from).collect()
}

/// Adjoint form on flat buffers, f32: inputs and output adjoints rounded to f32, the input
/// adjoints widened.
pub fn adjoint_f32(
    op: &OperatorInfo,
    lattice: LatticeKind,
    x: &Inputs,
    out_bar: &[f64],
) -> Vec<f64> {
    let reals: Vec<f32> = x.reals.iter().map(|&v| v as f32).collect();
    let out_bar: Vec<f32> = out_bar.iter().map(|&v| v as f32).collect();
    let mut bar = vec![0.0f32; reals.len()];
    (op.cpu.f32(lattice).adjoint)(&reals, &x.ints, &out_bar, &mut bar);
    bar.into_iter().map(f64::from).collect()
}

/// The inputs with every real rounded to the nearest f32, so that an f32 form and the f64
/// reference see the same values.
pub fn rounded_to_f32(x: &Inputs) -> Inputs {
    Inputs {
        reals: x.reals.iter().map(|&v| f64::from(v as f32)).collect(),
        ints: x.ints.clone(),
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A random direction `v` over the differentiable inputs and random output weights `w`.
fn random_direction(
    op: &OperatorInfo,
    lattice: LatticeKind,
    rng: &mut Rng,
) -> (Vec<f64>, Vec<f64>) {
    let v = differentiable_mask(op, lattice)
        .iter()
        .map(|&m| if m { rng.uniform(-1.0, 1.0) } else { 0.0 })
        .collect();
    let w = (0..op.outputs_len(lattice))
        .map(|_| rng.uniform(-1.0, 1.0))
        .collect();
    (v, w)
}

/// `<w, J v>` by a fourth-order central difference of the reference form with step `h`.
fn central_difference(
    op: &OperatorInfo,
    lattice: LatticeKind,
    x: &Inputs,
    (v, w): (&[f64], &[f64]),
    h: f64,
) -> f64 {
    let along = |k: f64| {
        let moved = Inputs {
            reals: x.reals.iter().zip(v).map(|(a, d)| a + k * h * d).collect(),
            ints: x.ints.clone(),
        };
        // Differences of the reference, not of the generated forward: a compiler bug
        // shared by the generated forward and adjoint must not cancel out.
        dot(&reference(op, lattice, &moved), w)
    };
    (8.0 * (along(1.0) - along(-1.0)) - (along(2.0) - along(-2.0))) / (12.0 * h)
}

/// The relative error of the adjoint's `ad = <J^T w, v>` against central differences of the
/// f64 forward, the best over a few steps.
///
/// Operators that depend on the direction of `f - feq` (an entropic stabilizer, a stress
/// norm) vary on the scale of the non-equilibrium part, ~1e-4 for the smallest D3Q27
/// weights: comparable to STEP. Smaller steps resolve them where rounding would spoil
/// smooth operators, so the best of a few steps is compared; a wrong adjoint is off at
/// every step.
fn error_against_differences(
    op: &OperatorInfo,
    lattice: LatticeKind,
    x: &Inputs,
    (v, w): (&[f64], &[f64]),
    ad: f64,
    tolerance: f64,
) -> Result<f64, String> {
    let fd = central_difference(op, lattice, x, (v, w), STEP);
    if !fd.is_finite() || !ad.is_finite() {
        return Err(format!("non-finite: fd = {fd}, adjoint = {ad}"));
    }
    let rel = |fd: f64| (fd - ad).abs() / fd.abs().max(ad.abs()).max(1e-6);
    let mut err = rel(fd);
    // Down to 1e-7: an input may sit within 1e-6 of a kink by chance (seed 0xc0fff1 drew
    // a `max` whose arguments differed by 4.7e-7), and a step that straddles it measures
    // neither side. Rounding at 1e-7 is still near 1e-9, inside the tolerance.
    for h in [STEP / 10.0, STEP / 100.0, STEP / 1000.0] {
        if err <= tolerance {
            break;
        }
        let fd = central_difference(op, lattice, x, (v, w), h);
        if fd.is_finite() {
            err = err.min(rel(fd));
        }
    }
    Ok(err)
}

/// Compares `<w, J v>` by central differences of the reference form with `<J^T w, v>` by
/// the generated adjoint, for a random direction `v` over the differentiable inputs and
/// random output weights `w`. Returns the relative error, or a description of the failure
/// (also when the generated forward differs from the reference by more than
/// [`FORWARD_TOLERANCE`]).
pub fn directional_error(
    op: &OperatorInfo,
    lattice: LatticeKind,
    x: &Inputs,
    rng: &mut Rng,
) -> Result<f64, String> {
    let forward_err = forward_error(op, lattice, x);
    if forward_err > FORWARD_TOLERANCE {
        return Err(format!(
            "the generated forward differs from the reference form by {forward_err:.3e}"
        ));
    }
    let (v, w) = random_direction(op, lattice, rng);
    let ad = dot(&adjoint(op, lattice, x, &w), &v);
    error_against_differences(op, lattice, x, (&v, &w), ad, FD_TOLERANCE)
}

/// How far an operator's f32 forms are from the f64 reference on one input.
#[derive(Clone, Copy, Debug)]
pub struct F32Errors {
    /// The largest difference between the f32 and the f64 forward's outputs, relative to
    /// the largest output.
    pub forward: f64,
    /// The f32 adjoint's `<J^T w, v>` against central differences of the f64 forward,
    /// relative (as [`directional_error`]).
    pub adjoint: f64,
}

/// Checks the f32 forms of `op` against the f64 forward on `x` rounded to f32: the forward
/// directly, the adjoint against central differences along a random direction.
pub fn f32_errors(
    op: &OperatorInfo,
    lattice: LatticeKind,
    x: &Inputs,
    rng: &mut Rng,
) -> Result<F32Errors, String> {
    let x = rounded_to_f32(x);
    let reference = reference(op, lattice, &x);
    let single = forward_f32(op, lattice, &x);
    let scale = reference.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    let forward = reference
        .iter()
        .zip(&single)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f64::max);
    if !forward.is_finite() {
        return Err(format!("non-finite f32 forward: {single:?}"));
    }
    let (v, w) = random_direction(op, lattice, rng);
    let ad = dot(&adjoint_f32(op, lattice, &x, &w), &v);
    let adjoint = error_against_differences(op, lattice, &x, (&v, &w), ad, F32_TOLERANCE)?;
    Ok(F32Errors { forward, adjoint })
}

/// Checks `op` on every lattice at `cases` random inputs drawn from `seed`: the generated
/// forward against the reference form, the adjoint against finite differences of it
/// (within [`FD_TOLERANCE`]). Panics with the operator, lattice and inputs of a failure.
pub fn assert_operator_gradients(op: &OperatorInfo, cases: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    for lattice in LatticeKind::ALL {
        for _ in 0..cases {
            let x = sample_inputs(op, lattice, &mut rng);
            let err = directional_error(op, lattice, &x, &mut rng)
                .unwrap_or_else(|e| panic!("{} on {lattice}: {e} at {x:?}", op.name));
            assert!(
                err <= FD_TOLERANCE,
                "{} on {lattice}: relative error {err:.3e} at {x:?}",
                op.name
            );
        }
    }
}
