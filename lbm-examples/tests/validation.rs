//! Physics validation at sizes the CPU runs in CI (about 30 s in all, release mode, two
//! cores): each test runs a case of `lbm_examples::validation` and asserts its measured
//! quantity against the analytic or published value within a stated tolerance. The
//! comment on each says which bug it exists to catch; `docs/VALIDATION.md` has the
//! numbers and the full-size runs.

use lbm_examples::validation::{
    cavity, couette, cylinder, poiseuille, taylor_green, Size, ValidationError,
};
use lbm_runtime::{Backend, LatticeKind};

// Catches a wall in the wrong place (at a node rather than half a cell beyond it: the
// error becomes first order), a wrong force term (Guo's half-force velocity shift, a
// force of the wrong size: the error stops falling as 1/H^2) and a viscosity formula off
// by a factor (the parabola's height is F H^2 / (8 nu)).
#[test]
fn poiseuille_is_second_order_with_halfway_walls() {
    let config = poiseuille::PoiseuilleConfig::new(Size::Quick);
    let r = poiseuille::run(&config, Backend::Cpu).unwrap();
    let fine = r.levels.last().unwrap();
    assert_eq!(fine.width, 32);
    assert!(
        fine.l2_error < 1e-3,
        "L2 error {:.3e} at H {} (expected 4.5e-4)",
        fine.l2_error,
        fine.width
    );
    assert!(
        (1.7..=2.3).contains(&r.order),
        "order {:.3} over widths {:?} (errors {:?})",
        r.order,
        config.widths,
        r.levels.iter().map(|l| l.l2_error).collect::<Vec<_>>()
    );
    assert!(r.checks().iter().all(|c| c.pass));
}

// Catches a wrong moving-wall term (its sign, its factor 2 w rho / cs^2, the density it
// takes) and moving links applied to the resting wall: the linear profile is exact for
// halfway bounce-back, so anything above the steady-state tolerance is a bug.
#[test]
fn couette_profile_is_linear_to_rounding() {
    let r = couette::run(&couette::CouetteConfig::new(Size::Quick), Backend::Cpu).unwrap();
    assert!(r.l2_error < 1e-7, "L2 error {:.3e}", r.l2_error);
}

fn viscosity(lattice: LatticeKind, tolerance: f64) {
    let config = taylor_green::TaylorGreenConfig::new(Size::Quick, lattice);
    let r = taylor_green::run(&config, Backend::Cpu).unwrap();
    for run in &r.runs {
        assert!(
            run.relative_error < tolerance,
            "{lattice} {}: omega {} gives nu {:.6}, expected {:.6} ({:.2}%)",
            config.size,
            run.omega,
            run.nu_measured,
            run.nu_theory,
            100.0 * run.relative_error
        );
    }
}

// Catches a wrong viscosity-omega relation (nu = 1/omega - 1/2 without the 1/3, or tau
// for 1/omega), wrong D2Q9 weights or speed of sound: at omega 1 and 1.7 the measured
// viscosity must be within 1% of (1/omega - 1/2)/3.
#[test]
fn taylor_green_viscosity_d2q9() {
    viscosity(LatticeKind::D2Q9, 0.01);
}

// The same on the 3D lattices, whose vortex spans all three directions (a wrong weight
// or velocity in any direction changes its decay), within 2% at 32^3 (the lattice's own
// k^2 error is about 1% at omega 1.7).
#[test]
fn taylor_green_viscosity_d3q19() {
    viscosity(LatticeKind::D3Q19, 0.02);
}

#[test]
fn taylor_green_viscosity_d3q27() {
    viscosity(LatticeKind::D3Q27, 0.02);
}

// Catches a lid that moves the wrong way or drives the side walls, a cavity whose walls
// sit a cell off (a 5% larger box shifts the vortex), and a Reynolds number built from
// the wrong length or viscosity: the centrelines at Re 100 on 32^2 must lie within 0.01 U
// of Ghia et al. everywhere (0.006 measured) and within 0.005 U on average (0.0023).
#[test]
fn cavity_re100_matches_ghia() {
    let config = cavity::CavityConfig::new(Size::Quick, 100.0);
    assert_eq!(config.size, 32);
    let r = cavity::run(&config, Backend::Cpu).unwrap();
    assert!(r.steady.converged);
    assert!(
        r.max_deviation < 0.01 && r.rms_deviation < 0.005,
        "max {:.4}, rms {:.4}; u {:?}; v {:?}",
        r.max_deviation,
        r.rms_deviation,
        r.u_deviation,
        r.v_deviation
    );
}

// Catches a force of the wrong sign or size (momentum exchange counting each link once,
// the channel walls included, the wrong population), a wrong inflow (mean instead of
// peak, a profile between the wrong walls), and coefficients scaled by the wrong velocity
// or length: the Schaefer-Turek 2D-1 drag on a staircase cylinder of d = 10 within 5% of
// 5.57-5.59 (3.9% above measured), the lift within 20% of 0.0104-0.0110 (15% above).
#[test]
fn cylinder_2d1_drag_and_lift_at_d10() {
    let config = cylinder::CylinderConfig::new(Size::Quick, cylinder::Benchmark::Steady);
    assert_eq!(config.diameter, 10);
    let r = cylinder::run(&config, Backend::Cpu).unwrap();
    let cd = cylinder::reference::CD.relative_error(r.cd);
    assert!(
        cd < 0.05,
        "cd {:.4} is {:.1}% from 5.57-5.59",
        r.cd,
        100.0 * cd
    );
    let cl = cylinder::reference::CL.relative_error(r.cl);
    assert!(
        cl < 0.20,
        "cl {:.5} is {:.1}% from 0.0104-0.0110",
        r.cl,
        100.0 * cl
    );
}

// Catches bad input that panics instead of failing with a typed error.
#[test]
fn bad_configurations_are_errors() {
    let mut p = poiseuille::PoiseuilleConfig::new(Size::Quick);
    p.widths = vec![16, 8];
    assert!(matches!(
        poiseuille::run(&p, Backend::Cpu),
        Err(ValidationError::Config { .. })
    ));
    let mut c = couette::CouetteConfig::new(Size::Quick);
    c.u_wall = 0.2;
    assert!(matches!(
        couette::run(&c, Backend::Cpu),
        Err(ValidationError::Config { .. })
    ));
    let mut t = taylor_green::TaylorGreenConfig::new(Size::Quick, LatticeKind::D2Q9);
    t.omegas = vec![2.5];
    assert!(matches!(
        taylor_green::run(&t, Backend::Cpu),
        Err(ValidationError::Config { .. })
    ));
    let cav = cavity::CavityConfig::new(Size::Quick, 400.0);
    assert!(matches!(
        cavity::run(&cav, Backend::Cpu),
        Err(ValidationError::Config { .. })
    ));
    let mut cyl = cylinder::CylinderConfig::new(Size::Quick, cylinder::Benchmark::Steady);
    cyl.diameter = 15;
    assert!(matches!(
        cylinder::run(&cyl, Backend::Cpu),
        Err(ValidationError::Config { .. })
    ));
}
