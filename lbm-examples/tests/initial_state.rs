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

#[test]
fn a_picture_is_hidden_recovered_and_its_steps_reported() {
    // The user's own pattern: a bright ring drawn in a PNG becomes the hidden field, the
    // recovery finds it, and the step observer sees every gradient's sweeps. Catches a
    // picture read upside down or transposed against the grid (the hidden field would not
    // be the ring's flow), and an observer left off the problem's simulations.
    use lbm_examples::inverse::image_field;
    use lbm_examples::inverse::initial_state::HiddenPattern;
    use lbm_examples::inverse::StepProgress;
    use lbm_runtime::{Progress, ProgressObserver, Sweep};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.png");
    // A ring in the upper-left quarter of a wide picture: its flow must appear in the
    // upper-left of the grid (large y, small x).
    image::GrayImage::from_fn(64, 48, |x, y| {
        let r = ((x as f64 - 18.0).powi(2) + (y as f64 - 14.0).powi(2)).sqrt();
        image::Luma([if (6.0..10.0).contains(&r) { 255 } else { 0 }])
    })
    .save(&path)
    .unwrap();

    let n = 32;
    let mut p = problem(n, 80);
    p.hidden =
        HiddenPattern::StreamFunction(image_field::stream_function(&path, n, n, 1.0).unwrap());
    let gradients: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = gradients.clone();
    let observer: ProgressObserver = Arc::new(move |r: &Progress| {
        if r.sweep == Sweep::Gradient && r.finished() {
            sink.lock().unwrap().push(*r);
        }
    });
    p.progress = StepProgress(Some(observer));

    let obs = p.observe().unwrap();
    let energy = |x0: usize, y0: usize| -> f64 {
        let mut e = 0.0;
        for y in y0..y0 + n / 2 {
            for x in x0..x0 + n / 2 {
                let c = x + n * y;
                e += obs.truth[2 * c].powi(2) + obs.truth[2 * c + 1].powi(2);
            }
        }
        e
    };
    let (upper_left, lower_right) = (energy(0, n / 2), energy(n / 2, 0));
    assert!(
        upper_left > 20.0 * lower_right,
        "{upper_left:e} vs {lower_right:e}"
    );

    let r = p.recover(&obs, 30, |_, _| {}).unwrap();
    assert!(
        r.relative_error < 0.5 * r.observation_error,
        "recovered {:.3}, observation {:.3}",
        r.relative_error,
        r.observation_error
    );
    let finished = gradients.lock().unwrap();
    assert_eq!(
        finished.len(),
        r.gradients,
        "one finished report per gradient call"
    );
    assert!(finished.iter().all(|g| g.adjoint_total == 80));
}
