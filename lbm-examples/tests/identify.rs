//! Problem 2, parameter identification, at sizes the CPU runs in seconds: the gradient of
//! its loss against central differences, and an identification that finds the force and
//! moves the relaxation rate towards the hidden field.

use lbm_examples::inverse::identify::{IdentifyProblem, Misfit};
use lbm_runtime::{Backend, Precision};

fn problem(size: usize, steps: usize) -> IdentifyProblem {
    IdentifyProblem {
        size,
        steps,
        warmup: 300,
        precision: Precision::F64,
        ..IdentifyProblem::for_backend(Backend::Cpu)
    }
}

/// Deterministic pseudo-random values in `[-1, 1)`.
fn direction(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            2.0 * ((s >> 11) as f64 / (1u64 << 53) as f64) - 1.0
        })
        .collect()
}

/// Checks the gradient of the identification's loss at `x0` against central
/// differences: along a direction over all parameters, and along each force component.
fn check_gradient(misfit: &mut Misfit, x0: &[f64], at: &str) {
    let (_, grad) = misfit.evaluate(x0).unwrap();
    let n = x0.len();
    let mut check = |name: &str, dir: Vec<f64>| {
        let mut along = |h: f64| {
            let x: Vec<f64> = x0.iter().zip(&dir).map(|(a, d)| a + h * d).collect();
            misfit.evaluate(&x).unwrap().0
        };
        let h = 1e-5;
        let fd = (along(h) - along(-h)) / (2.0 * h);
        let ad: f64 = grad.iter().zip(&dir).map(|(g, d)| g * d).sum();
        let rel = (ad - fd).abs() / fd.abs().max(1e-300);
        eprintln!("{at}, {name}: adjoint {ad:e}, central difference {fd:e}, relative {rel:e}");
        assert!(
            rel <= 1e-6,
            "{at}, {name}: adjoint {ad:e}, central difference {fd:e}, relative {rel:e}"
        );
        assert!(
            fd.abs() > 1e-9,
            "{at}, {name}: a flat direction tests nothing ({fd:e})"
        );
    };
    check("all parameters", direction(n, 7));
    for k in [n - 2, n - 1] {
        let mut e = vec![0.0; n];
        e[k] = 1.0;
        check(&format!("force component {}", k + 2 - n), e);
    }
}

#[test]
fn the_loss_gradient_matches_central_differences_at_the_start() {
    // Catches a relaxation-rate gradient taken from the wrong cells (the fluid list and
    // the grid disagreeing), a force gradient dropped or not scaled by its unit, and (at
    // the second point, where the field is not uniform and the regulariser not flat) a
    // regulariser whose gradient disagrees with its value: each changes the directional
    // derivative along a direction over all parameters, or the force's own.
    let p = problem(12, 60);
    let obs = p.observe().unwrap();
    let mut misfit = p.misfit(&obs).unwrap();
    let x0 = p.start(&obs);
    check_gradient(&mut misfit, &x0, "at the start");
    let n = x0.len();
    let off: Vec<f64> = x0
        .iter()
        .zip(direction(n, 3))
        .enumerate()
        .map(|(k, (x, d))| if k < n - 2 { x + 0.05 * d } else { 0.4 * d })
        .collect();
    // The regulariser is weak by design (a few parts in a million of the gradient here):
    // raised, so that an error in its gradient shows above the tolerance.
    let strong = IdentifyProblem {
        smoothing: 1e-3,
        prior: 1.0,
        ..p
    };
    let mut misfit = strong.misfit(&obs).unwrap();
    check_gradient(&mut misfit, &off, "off the start, strong regulariser");
}

#[test]
fn identification_finds_the_force_and_moves_omega_towards_the_hidden_field() {
    // Catches an optimiser that does not descend, parameters written back to the wrong
    // cells, and a force that the loss does not see.
    let p = problem(16, 150);
    let obs = p.observe().unwrap();
    let mut seen = 0;
    let r = p.identify(&obs, 60, |_, _| seen += 1).unwrap();
    let history = &r.minimum.history;
    eprintln!(
        "loss {:e} -> {:e}, force error {:.4}, omega error left {:.3}",
        history[0], r.minimum.loss, r.force_error, r.omega_error_left
    );
    assert_eq!(
        seen,
        r.minimum.iterations + 1,
        "every iterate reported once"
    );
    assert!(
        r.minimum.loss < 1e-2 * history[0],
        "loss {:e} -> {:e}",
        history[0],
        r.minimum.loss
    );
    // The start has no force (relative error 1); the run gets within about 0.6%.
    assert!(r.force_error < 0.05, "force error {:.3}", r.force_error);
    // About 40% of the starting error in omega is left (the centreline and the columns
    // through the blobs are nearly invisible to a velocity field; see the regulariser).
    assert!(
        r.omega_error_left < 0.6,
        "{:.3} of the starting error in omega left",
        r.omega_error_left
    );
}
