//! Problem 3, design, at sizes the CPU runs in seconds: the gradient of its loss against
//! central differences, and a design that lowers the pressure drop at the target volume.

use lbm_examples::inverse::design::{DensityFilter, DesignProblem};
use lbm_runtime::{Backend, Precision, Simulation};

fn problem(size: usize, steps: usize) -> DesignProblem {
    DesignProblem {
        size,
        steps,
        warmup: 400,
        precision: Precision::F64,
        ..DesignProblem::for_backend(Backend::Cpu)
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

#[test]
fn the_loss_gradient_matches_central_differences_at_the_start() {
    // Catches a solid-fraction gradient read from the wrong cells, a pressure-drop
    // objective whose weights or evaluation steps disagree between the value and the
    // gradient, a wrong derivative of the augmented-Lagrangian terms (a nonzero
    // multiplier and violation make both terms count) and a filter whose transpose is
    // not the adjoint of its application.
    let p = problem(12, 80);
    let setup = p.setup().unwrap();
    let s0 = p.initial_design(&setup);
    // The state a round starts from: the flow developed around the starting design.
    let mut sim = Simulation::new(
        setup.channel.grid().clone(),
        &p.step_for(&setup, &s0),
        p.precision,
        p.backend,
    )
    .unwrap();
    sim.set_populations(&setup.channel.poiseuille_state().unwrap())
        .unwrap();
    sim.run(p.warmup).unwrap();
    // A filter wider than a cell, so that its transpose is part of the check.
    let filter = DensityFilter::new(&setup, 2.5);
    let mut loss = p
        .loss(&setup, sim.populations().unwrap(), -1.5, filter)
        .unwrap();
    // Less solid than the target, so the penalty's derivative is not zero either.
    let x0: Vec<f64> = s0.iter().map(|s| 0.9 * s).collect();
    let at = loss.evaluate(&x0).unwrap();
    assert!(at.violation.abs() > 0.05, "violation {}", at.violation);
    let dir = direction(x0.len(), 11);
    let mut along = |h: f64| {
        let x: Vec<f64> = x0.iter().zip(&dir).map(|(a, d)| a + h * d).collect();
        loss.evaluate(&x).unwrap().loss
    };
    let h = 1e-5;
    let fd = (along(h) - along(-h)) / (2.0 * h);
    let ad: f64 = at.gradient.iter().zip(&dir).map(|(g, d)| g * d).sum();
    let rel = (ad - fd).abs() / fd.abs();
    eprintln!("adjoint {ad:e}, central difference {fd:e}, relative {rel:e}");
    assert!(
        rel <= 1e-6,
        "adjoint {ad:e}, central difference {fd:e}, relative {rel:e}"
    );
}

#[test]
fn design_lowers_the_pressure_drop_at_the_target_volume() {
    // Catches an optimiser that does not descend, a volume constraint that does not
    // hold (a multiplier of the wrong sign lets the solid vanish) and a design written
    // back to the wrong cells (the developed drop would not follow the loss).
    let p = DesignProblem {
        rounds: 4,
        ..problem(14, 200)
    };
    let mut seen = 0;
    let d = p.design(40, |_| seen += 1).unwrap();
    eprintln!(
        "developed drop {:.3} -> {:.3}, volume / target {:.4} ({:?}, multiplier {:.3}, {} steps)",
        d.initial_drop,
        d.final_drop,
        d.volume,
        d.terminations,
        d.multiplier,
        d.history.len()
    );
    assert!(seen >= 40, "{seen} iterates reported");
    assert!(
        d.final_drop < 0.6 * d.initial_drop,
        "developed drop {:.3} -> {:.3}",
        d.initial_drop,
        d.final_drop
    );
    // Ten iterations a round leave the multiplier short of converged (about 5% off here);
    // a multiplier of the wrong sign or a lost penalty gradient misses by far more.
    assert!(
        (d.volume - 1.0).abs() < 0.1,
        "volume / target {:.3}",
        d.volume
    );
}
