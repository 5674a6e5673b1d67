//! Physics of the boundary and objective operators, through their generated Rust forward
//! forms, on D2Q9, D3Q19 and D3Q27: the moments a boundary prescribes are reproduced
//! exactly, the classic formulas come out where they should, equilibria are fixed points.

// Index loops over directions and axes read like the formulas they check.
#![allow(clippy::needless_range_loop)]

use lbm_runtime::ops::{
    bouzidi, density, density_velocity, equilibrium, equilibrium_boundary, extrapolation_outflow,
    halfway_bounce_back, kinetic_energy, momentum_exchange_force, moving_wall_bounce_back,
    partial_bounce_back, rho_squared, ux_squared, velocity_mismatch, zou_he_pressure,
    zou_he_velocity,
};
use lbm_runtime::{Lattice, D2Q9, D3Q19, D3Q27};

/// Exactness of prescribed moments.
const EXACT: f64 = 1e-13;
/// Random states per check.
const CASES: usize = 200;

/// SplitMix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn vector<const N: usize>(&mut self, lo: f64, hi: f64) -> [f64; N] {
        std::array::from_fn(|_| self.uniform(lo, hi))
    }

    /// Populations near an equilibrium with density in [0.8, 1.2] and |u_a| < 0.08.
    fn populations<L: Lattice<D, Q>, const D: usize, const Q: usize>(&mut self) -> [f64; Q] {
        let rho = self.uniform(0.8, 1.2);
        let u = self.vector::<D>(-0.08, 0.08);
        let feq = equilibrium::forward::<f64, L, D, Q>(rho, u);
        feq.map(|x| x * (1.0 + self.uniform(-0.05, 0.05)))
    }
}

fn c<L: Lattice<D, Q>, const D: usize, const Q: usize>(i: usize, a: usize) -> f64 {
    L::C[i][a] as f64
}

/// `c_i . n` for the inward normal `n = side * e_axis`.
fn cn<L: Lattice<D, Q>, const D: usize, const Q: usize>(i: usize, axis: usize, side: i32) -> i32 {
    L::C[i][axis] * side
}

fn moments<L: Lattice<D, Q>, const D: usize, const Q: usize>(f: [f64; Q]) -> (f64, [f64; D]) {
    density_velocity::forward::<f64, L, D, Q>(f)
}

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1.0),
        "{what}: {a} vs {b} (diff {:.3e})",
        (a - b).abs()
    );
}

/// Runs a lattice-generic check on every lattice.
macro_rules! on_every_lattice {
    ($check:ident) => {
        $check::<D2Q9, 2, 9>();
        $check::<D3Q19, 3, 19>();
        $check::<D3Q27, 3, 27>();
    };
}

// ------------------------------------------------------------------ bounce-back

fn halfway_bounce_back_reflects_flagged_links<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(1);
    for _ in 0..CASES {
        let f = rng.populations::<L, D, Q>();
        let f_local = rng.populations::<L, D, Q>();
        let links = (rng.next() & ((1u64 << Q) - 2)) as i64;
        let out = halfway_bounce_back::forward::<f64, L, D, Q>(f, f_local, links);
        for i in 0..Q {
            let expected = if links >> i & 1 == 1 {
                f_local[L::OPP[i]]
            } else {
                f[i]
            };
            assert_eq!(out[i], expected, "direction {i}");
        }
    }
}

#[test]
fn halfway_bounce_back_reflects_flagged_links_only() {
    on_every_lattice!(halfway_bounce_back_reflects_flagged_links);
}

fn moving_wall_checks<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(2);
    let all = ((1u64 << Q) - 2) as i64;
    for _ in 0..CASES {
        let f = rng.populations::<L, D, Q>();
        let f_local = rng.populations::<L, D, Q>();
        let links = (rng.next() & ((1u64 << Q) - 2)) as i64;
        // A resting wall is halfway bounce-back.
        let resting = moving_wall_bounce_back::forward::<f64, L, D, Q>(f, f_local, links, [0.0; D]);
        let halfway = halfway_bounce_back::forward::<f64, L, D, Q>(f, f_local, links);
        assert_eq!(resting, halfway);
        // An equilibrium moving with the wall is a fixed point: feq_i - feq_OPP[i] is the
        // wall term 2 w_i rho c_i.u / cs2.
        let rho = rng.uniform(0.8, 1.2);
        let u_wall = rng.vector::<D>(-0.1, 0.1);
        let feq = equilibrium::forward::<f64, L, D, Q>(rho, u_wall);
        let out = moving_wall_bounce_back::forward::<f64, L, D, Q>(f, feq, all, u_wall);
        for i in 1..Q {
            assert_close(out[i], feq[i], EXACT, "moving wall on its own equilibrium");
        }
    }
}

#[test]
fn moving_wall_reduces_to_halfway_and_keeps_the_wall_equilibrium() {
    on_every_lattice!(moving_wall_checks);
}

// ------------------------------------------------------------------ prescribed states

fn equilibrium_boundary_moments<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(3);
    for _ in 0..CASES {
        let rho_b = rng.uniform(0.7, 1.3);
        let u_b = rng.vector::<D>(-0.1, 0.1);
        let out = equilibrium_boundary::forward::<f64, L, D, Q>(rho_b, u_b);
        let (rho, u) = moments::<L, D, Q>(out);
        assert_close(rho, rho_b, EXACT, "density");
        for a in 0..D {
            assert_close(u[a], u_b[a], EXACT, "velocity");
        }
    }
}

#[test]
fn equilibrium_boundary_has_the_prescribed_moments() {
    on_every_lattice!(equilibrium_boundary_moments);
}

fn zou_he_velocity_moments<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(4);
    for axis in 0..D {
        for side in [-1, 1] {
            for _ in 0..CASES {
                let f = rng.populations::<L, D, Q>();
                let u_b = rng.vector::<D>(-0.1, 0.1);
                let out = zou_he_velocity::forward::<f64, L, D, Q>(f, u_b, axis as i32, side);
                // Density from the known populations.
                let (mut tangent, mut incoming) = (0.0, 0.0);
                for i in 0..Q {
                    match cn::<L, D, Q>(i, axis, side) {
                        0 => tangent += f[i],
                        n if n < 0 => incoming += f[i],
                        _ => assert_ne!(out[i], f[i], "unknown {i} left as it was"),
                    }
                    if cn::<L, D, Q>(i, axis, side) <= 0 {
                        assert_eq!(out[i], f[i], "known {i} changed");
                    }
                }
                let rho_expected = (tangent + 2.0 * incoming) / (1.0 - side as f64 * u_b[axis]);
                let (rho, u) = moments::<L, D, Q>(out);
                let what = format!("axis {axis} side {side}");
                assert_close(rho, rho_expected, EXACT, &format!("density, {what}"));
                for a in 0..D {
                    assert_close(u[a], u_b[a], EXACT, &format!("velocity {a}, {what}"));
                }
            }
        }
    }
}

#[test]
fn zou_he_velocity_reproduces_density_and_velocity_exactly() {
    on_every_lattice!(zou_he_velocity_moments);
}

fn zou_he_velocity_keeps_equilibria<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(5);
    for axis in 0..D {
        for side in [-1, 1] {
            for _ in 0..CASES / 4 {
                let rho = rng.uniform(0.8, 1.2);
                let u = rng.vector::<D>(-0.1, 0.1);
                let feq = equilibrium::forward::<f64, L, D, Q>(rho, u);
                let mut f = feq;
                // Garbage where the streaming left nothing.
                for (i, fi) in f.iter_mut().enumerate() {
                    if cn::<L, D, Q>(i, axis, side) > 0 {
                        *fi = rng.uniform(-1.0, 1.0);
                    }
                }
                let out = zou_he_velocity::forward::<f64, L, D, Q>(f, u, axis as i32, side);
                for i in 0..Q {
                    assert_close(out[i], feq[i], EXACT, "equilibrium fixed point");
                }
            }
        }
    }
}

#[test]
fn zou_he_velocity_restores_an_equilibrium_from_its_known_half() {
    on_every_lattice!(zou_he_velocity_keeps_equilibria);
}

#[test]
fn zou_he_velocity_on_d2q9_is_the_classic_zou_he() {
    // Left wall (inward normal +x); directions 1 (1,0), 5 (1,1), 7 (1,-1) are unknown.
    let mut rng = Rng(6);
    for _ in 0..CASES {
        let f = rng.populations::<D2Q9, 2, 9>();
        let u = rng.vector::<2>(-0.1, 0.1);
        let out = zou_he_velocity::forward::<f64, D2Q9, 2, 9>(f, u, 0, 1);
        let rho = (f[0] + f[3] + f[4] + 2.0 * (f[2] + f[6] + f[8])) / (1.0 - u[0]);
        let f1 = f[2] + 2.0 / 3.0 * rho * u[0];
        let f5 = f[6] - 0.5 * (f[3] - f[4]) + rho * u[0] / 6.0 + 0.5 * rho * u[1];
        let f7 = f[8] + 0.5 * (f[3] - f[4]) + rho * u[0] / 6.0 - 0.5 * rho * u[1];
        assert_close(out[1], f1, EXACT, "f1");
        assert_close(out[5], f5, EXACT, "f5");
        assert_close(out[7], f7, EXACT, "f7");
    }
}

#[test]
fn zou_he_velocity_on_d3q19_is_hecht_harting() {
    // Bottom wall (inward normal +z), Hecht and Harting 2010, eq. (11)-(13):
    // f_i = f_OPP[i] + rho (c_i.u) w_i/ (cs2/2) - c_i.N with
    // N_t = 1/2 sum_j f_j c_jt (1 - |c_jz|) - rho u_t / 3.
    let mut rng = Rng(7);
    for _ in 0..CASES {
        let f = rng.populations::<D3Q19, 3, 19>();
        let u = rng.vector::<3>(-0.1, 0.1);
        let out = zou_he_velocity::forward::<f64, D3Q19, 3, 19>(f, u, 2, 1);
        let (mut tangent, mut incoming) = (0.0, 0.0);
        for i in 0..19 {
            match D3Q19::C[i][2] {
                0 => tangent += f[i],
                -1 => incoming += f[i],
                _ => {}
            }
        }
        let rho = (tangent + 2.0 * incoming) / (1.0 - u[2]);
        let mut n = [0.0; 2];
        for (t, nt) in n.iter_mut().enumerate() {
            let mut s = 0.0;
            for i in 0..19 {
                s += f[i] * c::<D3Q19, 3, 19>(i, t) * (1.0 - c::<D3Q19, 3, 19>(i, 2).abs());
            }
            *nt = 0.5 * s - rho * u[t] / 3.0;
        }
        for i in 0..19 {
            if D3Q19::C[i][2] != 1 {
                continue;
            }
            let ci = |a| c::<D3Q19, 3, 19>(i, a);
            let cu = ci(0) * u[0] + ci(1) * u[1] + ci(2) * u[2];
            // Face: rho u_z / 3; edges: rho c.u / 6.
            let coef = if ci(0) == 0.0 && ci(1) == 0.0 {
                1.0 / 3.0
            } else {
                1.0 / 6.0
            };
            let expected = f[D3Q19::OPP[i]] + coef * rho * cu - ci(0) * n[0] - ci(1) * n[1];
            assert_close(out[i], expected, EXACT, &format!("f{i}"));
        }
    }
}

fn zou_he_pressure_moments<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(8);
    for axis in 0..D {
        for side in [-1, 1] {
            for _ in 0..CASES {
                let f = rng.populations::<L, D, Q>();
                let rho_b = rng.uniform(0.9, 1.1);
                let out = zou_he_pressure::forward::<f64, L, D, Q>(f, rho_b, axis as i32, side);
                let (mut tangent, mut incoming) = (0.0, 0.0);
                for i in 0..Q {
                    match cn::<L, D, Q>(i, axis, side) {
                        0 => tangent += f[i],
                        n if n < 0 => incoming += f[i],
                        _ => {}
                    }
                }
                let un = 1.0 - (tangent + 2.0 * incoming) / rho_b;
                let (rho, u) = moments::<L, D, Q>(out);
                let what = format!("axis {axis} side {side}");
                assert_close(rho, rho_b, EXACT, &format!("density, {what}"));
                for a in 0..D {
                    let expected = if a == axis { side as f64 * un } else { 0.0 };
                    assert_close(u[a], expected, EXACT, &format!("velocity {a}, {what}"));
                }
            }
        }
    }
}

#[test]
fn zou_he_pressure_prescribes_density_and_no_tangential_velocity() {
    on_every_lattice!(zou_he_pressure_moments);
}

fn extrapolation_copies_unknowns<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(9);
    for axis in 0..D {
        for side in [-1, 1] {
            let f = rng.populations::<L, D, Q>();
            let f_neighbor = rng.populations::<L, D, Q>();
            let out =
                extrapolation_outflow::forward::<f64, L, D, Q>(f, f_neighbor, axis as i32, side);
            for i in 0..Q {
                let expected = if cn::<L, D, Q>(i, axis, side) > 0 {
                    f_neighbor[i]
                } else {
                    f[i]
                };
                assert_eq!(out[i], expected);
            }
        }
    }
}

#[test]
fn extrapolation_outflow_copies_the_unknowns_from_the_interior() {
    on_every_lattice!(extrapolation_copies_unknowns);
}

// ------------------------------------------------------------------ gray and curved walls

fn partial_bounce_back_limits<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(10);
    for _ in 0..CASES {
        let f_pre = rng.populations::<L, D, Q>();
        let f_post = rng.populations::<L, D, Q>();
        let fluid = partial_bounce_back::forward::<f64, L, D, Q>(f_pre, f_post, 0.0);
        let solid = partial_bounce_back::forward::<f64, L, D, Q>(f_pre, f_post, 1.0);
        let s = rng.uniform(0.0, 1.0);
        let gray = partial_bounce_back::forward::<f64, L, D, Q>(f_pre, f_post, s);
        for i in 0..Q {
            assert_eq!(fluid[i], f_post[i]);
            assert_eq!(solid[i], f_pre[L::OPP[i]]);
            assert_close(gray[i], (1.0 - s) * fluid[i] + s * solid[i], EXACT, "gray");
        }
        // Mass: a blend of the pre- and post-collision masses.
        let mass = density::forward::<f64, L, D, Q>;
        assert_close(
            mass(gray),
            (1.0 - s) * mass(f_post) + s * mass(f_pre),
            EXACT,
            "mass",
        );
        // A fully solid cell reverses the momentum of the pre-collision state.
        let (_, u_pre) = moments::<L, D, Q>(f_pre);
        let (_, u_solid) = moments::<L, D, Q>(solid);
        for a in 0..D {
            assert_close(u_solid[a], -u_pre[a], EXACT, "reversed momentum");
        }
    }
}

#[test]
fn partial_bounce_back_blends_fluid_and_full_bounce_back() {
    on_every_lattice!(partial_bounce_back_limits);
}

fn bouzidi_checks<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(11);
    for _ in 0..CASES {
        let f = rng.populations::<L, D, Q>();
        let f_local = rng.populations::<L, D, Q>();
        let f_far = rng.populations::<L, D, Q>();
        let links = (rng.next() & ((1u64 << Q) - 2)) as i64;
        // q = 1/2 is halfway bounce-back.
        let half = bouzidi::forward::<f64, L, D, Q>(f, f_local, f_far, [0.5; Q], links);
        let halfway = halfway_bounce_back::forward::<f64, L, D, Q>(f, f_local, links);
        for i in 0..Q {
            assert_close(half[i], halfway[i], EXACT, "q = 1/2");
        }
        // Continuous across q = 1/2, and the two branches' formulas elsewhere.
        let eps = 1e-9;
        let below = bouzidi::forward::<f64, L, D, Q>(f, f_local, f_far, [0.5 - eps; Q], links);
        let above = bouzidi::forward::<f64, L, D, Q>(f, f_local, f_far, [0.5 + eps; Q], links);
        let q: [f64; Q] = rng.vector(0.05, 1.0);
        let out = bouzidi::forward::<f64, L, D, Q>(f, f_local, f_far, q, links);
        for i in 0..Q {
            assert!((below[i] - above[i]).abs() < 1e-8, "jump at q = 1/2");
            let o = L::OPP[i];
            let expected = if links >> i & 1 == 0 {
                f[i]
            } else if q[i] < 0.5 {
                2.0 * q[i] * f_local[o] + (1.0 - 2.0 * q[i]) * f_far[i]
            } else {
                f_local[o] / (2.0 * q[i]) + (2.0 * q[i] - 1.0) / (2.0 * q[i]) * f_local[i]
            };
            assert_close(out[i], expected, EXACT, "Bouzidi");
        }
        // A uniform state stays uniform, whatever the wall distances.
        let feq = equilibrium::forward::<f64, L, D, Q>(1.0, [0.0; D]);
        let rest = bouzidi::forward::<f64, L, D, Q>(feq, feq, feq, q, links);
        for i in 0..Q {
            assert_close(rest[i], feq[i], EXACT, "fluid at rest");
        }
    }
}

#[test]
fn bouzidi_is_halfway_bounce_back_at_half_a_link_and_continuous() {
    on_every_lattice!(bouzidi_checks);
}

// ------------------------------------------------------------------ objectives

fn objectives_match_the_moments<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(12);
    for _ in 0..CASES {
        let f = rng.populations::<L, D, Q>();
        let target = rng.vector::<D>(-0.1, 0.1);
        let (rho, u) = moments::<L, D, Q>(f);
        let usq: f64 = u.iter().map(|x| x * x).sum();
        let mismatch: f64 = u.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum();
        assert_close(
            rho_squared::forward::<f64, L, D, Q>(f),
            rho * rho,
            EXACT,
            "rho^2",
        );
        assert_close(
            kinetic_energy::forward::<f64, L, D, Q>(f),
            0.5 * rho * usq,
            EXACT,
            "kinetic energy",
        );
        assert_close(
            ux_squared::forward::<f64, L, D, Q>(f),
            u[0] * u[0],
            EXACT,
            "ux^2",
        );
        assert_close(
            velocity_mismatch::forward::<f64, L, D, Q>(f, target),
            mismatch,
            EXACT,
            "mismatch",
        );
    }
}

#[test]
fn objectives_match_the_moments_they_name() {
    on_every_lattice!(objectives_match_the_moments);
}

fn pressure_on_a_flat_wall<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut rng = Rng(13);
    for axis in 0..D {
        for side in [-1, 1] {
            // The wall lies on the -n side: x - c_i is solid where c_i . n > 0.
            let mut links = 0i64;
            for i in 0..Q {
                if cn::<L, D, Q>(i, axis, side) > 0 {
                    links |= 1 << i;
                }
            }
            let rho = rng.uniform(0.8, 1.2);
            let feq = equilibrium::forward::<f64, L, D, Q>(rho, [0.0; D]);
            let force = momentum_exchange_force::forward::<f64, L, D, Q>(feq, links);
            // A fluid at rest pushes the wall with its pressure rho cs2, into the wall
            // (along -n).
            for a in 0..D {
                let expected = if a == axis {
                    -(side as f64) * rho * L::CS2
                } else {
                    0.0
                };
                assert_close(force[a], expected, EXACT, "force of a fluid at rest");
            }
        }
    }
}

#[test]
fn momentum_exchange_gives_the_pressure_on_a_flat_wall() {
    on_every_lattice!(pressure_on_a_flat_wall);
}

fn force_balances_the_bounced_momentum<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    // Momentum is conserved through bounce-back: what the fluid cell's populations on wall
    // links lose, the solid gains.
    let mut rng = Rng(14);
    for _ in 0..CASES {
        let f_local = rng.populations::<L, D, Q>();
        let links = (rng.next() & ((1u64 << Q) - 2)) as i64;
        let force = momentum_exchange_force::forward::<f64, L, D, Q>(f_local, links);
        let bounced = halfway_bounce_back::forward::<f64, L, D, Q>([0.0; Q], f_local, links);
        for a in 0..D {
            // Sent towards the wall: f_local[OPP[i]] c_OPP[i]; received back: bounced[i] c_i.
            let mut sent = 0.0;
            let mut received = 0.0;
            for i in 0..Q {
                if links >> i & 1 == 1 {
                    sent += f_local[L::OPP[i]] * c::<L, D, Q>(L::OPP[i], a);
                    received += bounced[i] * c::<L, D, Q>(i, a);
                }
            }
            assert_close(force[a], sent - received, EXACT, "momentum balance");
        }
    }
}

#[test]
fn momentum_exchange_force_is_the_momentum_the_wall_takes() {
    on_every_lattice!(force_balances_the_bounced_momentum);
}
