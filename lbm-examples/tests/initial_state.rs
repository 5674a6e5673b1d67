//! Problem 1, initial-state recovery, at sizes the CPU runs in seconds: its gradient
//! against finite differences of its loss, and a recovery that finds the hidden field.

use lbm_examples::inverse::initial_state::InitialStateProblem;
use lbm_runtime::{Backend, Precision};

fn problem(size: usize, steps: usize) -> InitialStateProblem {
    InitialStateProblem {
        size,
        steps,
        precision: Precision::F64,
        ..InitialStateProblem::for_backend(Backend::Cpu)
    }
}

#[test]
fn the_misfit_gradient_matches_central_differences() {
    // Catches a wrong chain through the equilibrium (density instead of velocity, a
    // missing weight) or a gradient taken at the wrong state.
    let p = problem(16, 40);
    let obs = p.observe().unwrap();
    let mut misfit = p.misfit(&obs).unwrap();
    // A point away from both the truth and rest, and a direction over every component.
    let u0: Vec<f64> = obs
        .truth
        .iter()
        .enumerate()
        .map(|(k, v)| 0.6 * v + 0.004 * ((k * 7919 % 13) as f64 - 6.0) / 6.0)
        .collect();
    let dir: Vec<f64> = (0..u0.len())
        .map(|k| ((k * 104_729 % 17) as f64 - 8.0) / 8.0)
        .collect();
    let (_, grad) = misfit.evaluate(&u0).unwrap();
    let mut along = |h: f64| {
        let u: Vec<f64> = u0.iter().zip(&dir).map(|(a, d)| a + h * d).collect();
        misfit.evaluate(&u).unwrap().0
    };
    let h = 1e-5;
    // Fourth-order central differences: the truncation error stays far below the tolerance.
    let (p1, m1, p2, m2) = (along(h), along(-h), along(2.0 * h), along(-2.0 * h));
    let fd = (8.0 * (p1 - m1) - (p2 - m2)) / (12.0 * h);
    let ad: f64 = grad.iter().zip(&dir).map(|(g, d)| g * d).sum();
    assert!(
        (ad - fd).abs() <= 1e-7 * fd.abs().max(1e-12),
        "adjoint {ad:e}, finite difference {fd:e}"
    );
}

#[test]
fn recovery_finds_the_hidden_field_far_better_than_the_observation() {
    // Catches an optimiser that does not descend, a loss that does not see the initial
    // field, and a recovered field returned in the wrong layout.
    let p = problem(48, 200);
    let obs = p.observe().unwrap();
    let mut seen = 0;
    let r = p.recover(&obs, 60, |_, _| seen += 1).unwrap();
    let history = &r.minimum.history;
    assert!(seen >= 60, "{seen} iterates reported");
    assert!(
        r.minimum.loss < 1e-3 * history[0],
        "loss {:e} -> {:e}",
        history[0],
        r.minimum.loss
    );
    assert!(
        r.relative_error < 0.4 * r.observation_error && r.relative_error < 0.25,
        "recovered {:.3}, observation {:.3}",
        r.relative_error,
        r.observation_error
    );
}

#[test]
fn the_3d_misfit_gradient_through_checkpointing_matches_central_differences() {
    // The 3D problem's chain (D3Q19, revolve within a budget of a few states) against
    // finite differences: catches a gradient lost in the recomputation or a 3D field
    // mapped with 2D strides.
    let mut p = InitialStateProblem::for_backend_3d(Backend::Cpu);
    p.size = 8;
    p.steps = 24;
    p.precision = Precision::F64;
    let state = 8 * 8 * 8 * 19 * 8;
    p.checkpointing = lbm_runtime::Checkpointing::Budget(lbm_runtime::Budget::bytes(9 * state));
    let obs = p.observe().unwrap();
    let mut misfit = p.misfit(&obs).unwrap();
    let u0: Vec<f64> = obs.truth.iter().map(|v| 0.5 * v).collect();
    let dir: Vec<f64> = (0..u0.len())
        .map(|k| ((k * 104_729 % 17) as f64 - 8.0) / 8.0)
        .collect();
    let (_, grad) = misfit.evaluate(&u0).unwrap();
    let mut along = |h: f64| {
        let u: Vec<f64> = u0.iter().zip(&dir).map(|(a, d)| a + h * d).collect();
        misfit.evaluate(&u).unwrap().0
    };
    let h = 1e-5;
    // Fourth-order central differences: the truncation error stays far below the tolerance.
    let (p1, m1, p2, m2) = (along(h), along(-h), along(2.0 * h), along(-2.0 * h));
    let fd = (8.0 * (p1 - m1) - (p2 - m2)) / (12.0 * h);
    let ad: f64 = grad.iter().zip(&dir).map(|(g, d)| g * d).sum();
    assert!(
        (ad - fd).abs() <= 1e-7 * fd.abs().max(1e-12),
        "adjoint {ad:e}, finite difference {fd:e}"
    );
}
