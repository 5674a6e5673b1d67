//! Physics of the collision and equilibrium operators, on every lattice through the Rust
//! forward forms: conservation, the limits in which one collision reduces to another, and
//! the moments of the equilibria.

use lbm_runtime::ops::{
    bgk, density, density_velocity, equilibrium, equilibrium_third_order, guo_forcing, kbc,
    momentum, momentum_flux, mrt, regularized_bgk, smagorinsky_bgk, stress_projection, trt,
};
use lbm_runtime::{Lattice, D2Q9, D3Q19, D3Q27};

/// Tolerance for conservation and exact identities (values are of order one).
const TOL: f64 = 1e-13;

/// A small deterministic generator (SplitMix64), uniform in `lo..hi`.
struct Gen(u64);

impl Gen {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        lo + (hi - lo) * (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn rho_u<const D: usize>(g: &mut Gen) -> (f64, [f64; D]) {
    let rho = g.uniform(0.8, 1.2);
    let mut u = [0.0; D];
    for x in &mut u {
        *x = g.uniform(-0.08, 0.08);
    }
    (rho, u)
}

/// Populations near equilibrium: an equilibrium with 5% multiplicative noise.
fn populations<L: Lattice<D, Q>, const D: usize, const Q: usize>(g: &mut Gen) -> [f64; Q] {
    let (rho, u) = rho_u::<D>(g);
    let mut f = equilibrium::forward::<f64, L, D, Q>(rho, u);
    for x in &mut f {
        *x *= 1.0 + g.uniform(-0.05, 0.05);
    }
    f
}

fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol,
            "{what}: entry {k}: {x} vs {y} (tolerance {tol:e})"
        );
    }
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Runs a generic check on D2Q9, D3Q19 and D3Q27.
macro_rules! on_all_lattices {
    ($check:ident) => {
        $check::<D2Q9, 2, 9>();
        $check::<D3Q19, 3, 19>();
        $check::<D3Q27, 3, 27>();
    };
}

/// Every collision, as `(name, post-collision populations)`, with zero force for Guo.
fn all_collisions<L: Lattice<D, Q>, const D: usize, const Q: usize>(
    f: [f64; Q],
    g: &mut Gen,
) -> Vec<(&'static str, [f64; Q])> {
    let omega = g.uniform(0.6, 1.9);
    let o2 = g.uniform(0.6, 1.9);
    let o3 = g.uniform(0.6, 1.9);
    vec![
        ("bgk", bgk::forward::<f64, L, D, Q>(f, omega)),
        ("trt", trt::forward::<f64, L, D, Q>(f, omega, 0.25)),
        (
            "regularized_bgk",
            regularized_bgk::forward::<f64, L, D, Q>(f, omega),
        ),
        ("mrt", mrt::forward::<f64, L, D, Q>(f, omega, o2, o3)),
        ("kbc", kbc::forward::<f64, L, D, Q>(f, omega)),
        (
            "smagorinsky_bgk",
            smagorinsky_bgk::forward::<f64, L, D, Q>(f, omega, 0.17),
        ),
        (
            "guo_forcing",
            guo_forcing::forward::<f64, L, D, Q>(f, omega, [0.0; D]),
        ),
    ]
}

fn conservation<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut g = Gen(1);
    for _ in 0..50 {
        let f = populations::<L, D, Q>(&mut g);
        let rho = density::forward::<f64, L, D, Q>(f);
        let j = momentum::forward::<f64, L, D, Q>(f);
        for (name, out) in all_collisions::<L, D, Q>(f, &mut g) {
            let what = format!("{name} on {}", L::KIND);
            let rho_out = density::forward::<f64, L, D, Q>(out);
            assert!(
                (rho_out - rho).abs() <= TOL,
                "{what}: mass {rho} -> {rho_out}"
            );
            let j_out = momentum::forward::<f64, L, D, Q>(out);
            assert_close(&j_out, &j, TOL, &format!("{what}: momentum"));
        }
    }
}

#[test]
fn collisions_conserve_mass_and_momentum() {
    on_all_lattices!(conservation);
}

fn guo_momentum<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut g = Gen(2);
    for _ in 0..50 {
        let f = populations::<L, D, Q>(&mut g);
        let omega = g.uniform(0.6, 1.9);
        let mut force = [0.0; D];
        for x in &mut force {
            *x = g.uniform(-0.01, 0.01);
        }
        let out = guo_forcing::forward::<f64, L, D, Q>(f, omega, force);
        let what = format!("guo_forcing on {}", L::KIND);
        let rho = density::forward::<f64, L, D, Q>(f);
        let rho_out = density::forward::<f64, L, D, Q>(out);
        assert!(
            (rho_out - rho).abs() <= TOL,
            "{what}: mass {rho} -> {rho_out}"
        );
        let mut expect = momentum::forward::<f64, L, D, Q>(f);
        for a in 0..D {
            expect[a] += force[a];
        }
        let j_out = momentum::forward::<f64, L, D, Q>(out);
        assert_close(
            &j_out,
            &expect,
            TOL,
            &format!("{what}: momentum grows by the force"),
        );
    }
}

#[test]
fn guo_forcing_conserves_mass_and_adds_the_force_to_the_momentum() {
    on_all_lattices!(guo_momentum);
}

fn reductions_to_bgk<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut g = Gen(3);
    for _ in 0..50 {
        let f = populations::<L, D, Q>(&mut g);
        let omega = g.uniform(0.6, 1.9);
        let lattice = L::KIND;
        let reference = bgk::forward::<f64, L, D, Q>(f, omega);

        let magic = (1.0 / omega - 0.5) * (1.0 / omega - 0.5);
        let out = trt::forward::<f64, L, D, Q>(f, omega, magic);
        assert_close(
            &out,
            &reference,
            TOL,
            &format!("trt with omega_minus = omega on {lattice}"),
        );

        let out = smagorinsky_bgk::forward::<f64, L, D, Q>(f, omega, 0.0);
        assert_close(
            &out,
            &reference,
            TOL,
            &format!("smagorinsky with c_smag = 0 on {lattice}"),
        );

        let out = guo_forcing::forward::<f64, L, D, Q>(f, omega, [0.0; D]);
        assert_close(
            &out,
            &reference,
            TOL,
            &format!("guo with zero force on {lattice}"),
        );

        let out = mrt::forward::<f64, L, D, Q>(f, omega, omega, omega);
        assert_close(
            &out,
            &reference,
            TOL,
            &format!("mrt with equal rates on {lattice}"),
        );

        let out = mrt::forward::<f64, L, D, Q>(f, omega, omega, 1.0);
        let regularized = regularized_bgk::forward::<f64, L, D, Q>(f, omega);
        assert_close(
            &out,
            &regularized,
            TOL,
            &format!("mrt with omega_ghost = 1 on {lattice}"),
        );
    }
}

#[test]
fn collisions_reduce_to_bgk_in_their_limits() {
    on_all_lattices!(reductions_to_bgk);
}

fn equilibrium_fixed_points<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut g = Gen(4);
    for _ in 0..50 {
        let lattice = L::KIND;
        let f = populations::<L, D, Q>(&mut g);
        let (rho, u) = density_velocity::forward::<f64, L, D, Q>(f);
        let feq = equilibrium::forward::<f64, L, D, Q>(rho, u);
        let out = regularized_bgk::forward::<f64, L, D, Q>(f, 1.0);
        assert_close(
            &out,
            &feq,
            TOL,
            &format!("regularized_bgk at omega = 1 on {lattice}"),
        );

        let (rho, u) = rho_u::<D>(&mut g);
        let feq = equilibrium::forward::<f64, L, D, Q>(rho, u);
        let omega = g.uniform(0.6, 1.9);
        let out = kbc::forward::<f64, L, D, Q>(feq, omega);
        assert_close(&out, &feq, TOL, &format!("kbc at f = feq on {lattice}"));
    }
}

#[test]
fn regularized_at_unit_rate_and_kbc_at_equilibrium_return_the_equilibrium() {
    on_all_lattices!(equilibrium_fixed_points);
}

fn kbc_stabilizer<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    // Away from equilibrium the stabilizer changes the higher-order relaxation, so KBC
    // differs from BGK while still relaxing the shear part at omega.
    let mut g = Gen(5);
    let f = populations::<L, D, Q>(&mut g);
    let omega = 1.7;
    let out = kbc::forward::<f64, L, D, Q>(f, omega);
    let reference = bgk::forward::<f64, L, D, Q>(f, omega);
    assert!(
        max_abs_diff(&out, &reference) > 1e-8,
        "kbc equals bgk on {}",
        L::KIND
    );
    let (rho, u) = density_velocity::forward::<f64, L, D, Q>(f);
    let feq = equilibrium::forward::<f64, L, D, Q>(rho, u);
    let shear = |p: [f64; 6]| {
        // Deviatoric part of the stress.
        let trace: f64 = p[..D].iter().sum();
        let mut s = p;
        for x in s.iter_mut().take(D) {
            *x -= trace / D as f64;
        }
        s
    };
    let pi_before = shear(momentum_flux::forward::<f64, L, D, Q>(f));
    let pi_eq = shear(momentum_flux::forward::<f64, L, D, Q>(feq));
    let pi_after = shear(momentum_flux::forward::<f64, L, D, Q>(out));
    for k in 0..6 {
        let expect = pi_eq[k] + (1.0 - omega) * (pi_before[k] - pi_eq[k]);
        assert!(
            (pi_after[k] - expect).abs() <= TOL,
            "kbc on {}: shear stress {k}: {} vs {expect}",
            L::KIND,
            pi_after[k]
        );
    }
}

#[test]
fn kbc_relaxes_shear_at_omega_and_departs_from_bgk_elsewhere() {
    on_all_lattices!(kbc_stabilizer);
}

/// KBC as its defining formulas read (Karlin, Boesch and Chikatamarla 2014), on full
/// `D x D` tensors and with every quantity formed from `f - feq`: an oracle for the
/// operator, which arranges the same algebra to keep few values alive on a GPU.
fn kbc_reference<L: Lattice<D, Q>, const D: usize, const Q: usize>(
    f: [f64; Q],
    omega: f64,
) -> [f64; Q] {
    let c = L::C.map(|ci| ci.map(f64::from));
    let cs2 = L::CS2;
    let rho: f64 = f.iter().sum();
    let mut u = [0.0; D];
    for (fi, ci) in f.iter().zip(&c) {
        for a in 0..D {
            u[a] += fi * ci[a] / rho;
        }
    }
    let usq: f64 = u.iter().map(|x| x * x).sum();
    let mut feq = [0.0; Q];
    let mut fneq = [0.0; Q];
    for i in 0..Q {
        let cu: f64 = (0..D).map(|a| c[i][a] * u[a]).sum();
        feq[i] = L::W[i] * rho * (1.0 + cu / cs2 + cu * cu / (2.0 * cs2 * cs2) - usq / (2.0 * cs2));
        fneq[i] = f[i] - feq[i];
    }
    let mut pi = [[0.0; D]; D];
    for i in 0..Q {
        for a in 0..D {
            for b in 0..D {
                pi[a][b] += fneq[i] * c[i][a] * c[i][b];
            }
        }
    }
    let trace: f64 = (0..D).map(|a| pi[a][a]).sum();
    for (a, row) in pi.iter_mut().enumerate() {
        row[a] -= trace / D as f64;
    }
    let mut ds = [0.0; Q];
    let mut dh = [0.0; Q];
    for i in 0..Q {
        let mut h = 0.0;
        for a in 0..D {
            for b in 0..D {
                let delta = if a == b { 1.0 } else { 0.0 };
                h += (c[i][a] * c[i][b] - cs2 * delta) * pi[a][b];
            }
        }
        ds[i] = L::W[i] / (2.0 * cs2 * cs2) * h;
        dh[i] = fneq[i] - ds[i];
    }
    let entropic =
        |x: &[f64; Q], y: &[f64; Q]| -> f64 { (0..Q).map(|i| x[i] * y[i] / feq[i]).sum() };
    let beta = omega / 2.0;
    let hh = entropic(&dh, &dh);
    let gamma = if hh > 0.0 {
        1.0 / beta - (2.0 - 1.0 / beta) * entropic(&ds, &dh) / hh
    } else {
        2.0
    };
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = f[i] - beta * (2.0 * ds[i] + gamma * dh[i]);
    }
    out
}

fn kbc_against_reference<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut g = Gen(11);
    for _ in 0..200 {
        let f = populations::<L, D, Q>(&mut g);
        let omega = g.uniform(0.05, 1.99);
        let out = kbc::forward::<f64, L, D, Q>(f, omega);
        let expect = kbc_reference::<L, D, Q>(f, omega);
        // The populations are of order 0.01-0.3 and both sides round differently: 1e-14
        // is a few hundred units in the last place, far below any wrong term's effect.
        assert_close(
            &out,
            &expect,
            1e-14,
            &format!("kbc against its formulas on {} at omega {omega}", L::KIND),
        );
    }
}

#[test]
fn kbc_matches_its_defining_formulas() {
    on_all_lattices!(kbc_against_reference);
}

fn smagorinsky_at_rest<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    // At rest in equilibrium the stress norm is zero up to rounding (exactly zero for
    // some states): the adjoint must stay finite.
    let feq = equilibrium::forward::<f64, L, D, Q>(1.0, [0.0; D]);
    let (f_bar, omega_bar, c_bar) =
        smagorinsky_bgk::adjoint::<f64, L, D, Q>(feq, 1.2, 0.15, [1.0; Q]);
    assert!(
        f_bar.iter().all(|x| x.is_finite()),
        "f_bar {f_bar:?} on {}",
        L::KIND
    );
    assert!(
        omega_bar.is_finite() && c_bar.is_finite(),
        "{omega_bar} {c_bar}"
    );
}

#[test]
fn smagorinsky_adjoint_is_finite_at_equilibrium() {
    on_all_lattices!(smagorinsky_at_rest);
}

fn third_order_moments<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut g = Gen(6);
    let lattice = L::KIND;
    for _ in 0..50 {
        let (rho, u) = rho_u::<D>(&mut g);
        let f3 = equilibrium_third_order::forward::<f64, L, D, Q>(rho, u);
        let rho3 = density::forward::<f64, L, D, Q>(f3);
        assert!(
            (rho3 - rho).abs() <= TOL,
            "density on {lattice}: {rho3} vs {rho}"
        );
        let j3 = momentum::forward::<f64, L, D, Q>(f3);
        let mut ju = [0.0; D];
        for a in 0..D {
            ju[a] = rho * u[a];
        }
        assert_close(&j3, &ju, TOL, &format!("momentum on {lattice}"));
        // The third-order terms carry no second moment: Pi = rho (u u + cs2 delta).
        let pi = momentum_flux::forward::<f64, L, D, Q>(f3);
        let mut expect = [0.0; 6];
        for a in 0..D {
            expect[a] = rho * (u[a] * u[a] + L::CS2);
            for b in a + 1..D {
                expect[a + b + 2] = rho * u[a] * u[b];
            }
        }
        assert_close(&pi, &expect, TOL, &format!("momentum flux on {lattice}"));
    }
}

#[test]
fn third_order_equilibrium_has_the_moments_of_the_second_order_one() {
    on_all_lattices!(third_order_moments);
}

fn third_order_difference<L: Lattice<D, Q>, const D: usize, const Q: usize>() -> Vec<f64> {
    // |feq3 - feq2| for u and u / 2: the ratio is 8 when the difference is O(u^3).
    let rho = 1.1;
    let mut u = [0.0; D];
    u.copy_from_slice(&[0.07, -0.05, 0.04][..D]);
    let mut half = u;
    for x in &mut half {
        *x *= 0.5;
    }
    let d1 = max_abs_diff(
        &equilibrium_third_order::forward::<f64, L, D, Q>(rho, u),
        &equilibrium::forward::<f64, L, D, Q>(rho, u),
    );
    let d2 = max_abs_diff(
        &equilibrium_third_order::forward::<f64, L, D, Q>(rho, half),
        &equilibrium::forward::<f64, L, D, Q>(rho, half),
    );
    vec![d1, d2]
}

#[test]
fn third_order_equilibrium_differs_by_u_cubed() {
    for d in [
        third_order_difference::<D2Q9, 2, 9>(),
        third_order_difference::<D3Q19, 3, 19>(),
        third_order_difference::<D3Q27, 3, 27>(),
    ] {
        assert!(d[0] > 1e-6, "no third-order correction: {d:?}");
        let ratio = d[0] / d[1];
        assert!(
            (ratio - 8.0).abs() < 1e-9,
            "ratio {ratio}, expected 8 for O(u^3)"
        );
    }
}

#[test]
fn third_order_equilibrium_matches_the_d2q9_closed_form() {
    // D2Q9: feq3 - feq2 = w rho / (2 cs^6) [(cx^2 - cs2) cy ux^2 uy + (cy^2 - cs2) cx ux uy^2].
    let (rho, u) = (0.95, [0.06, -0.04]);
    let f3 = equilibrium_third_order::forward::<f64, D2Q9, 2, 9>(rho, u);
    let f2 = equilibrium::forward::<f64, D2Q9, 2, 9>(rho, u);
    let cs2 = D2Q9::CS2;
    for i in 0..9 {
        let [cx, cy] = D2Q9::C[i].map(f64::from);
        let expect = D2Q9::W[i] * rho / (2.0 * cs2 * cs2 * cs2)
            * ((cx * cx - cs2) * cy * u[0] * u[0] * u[1]
                + (cy * cy - cs2) * cx * u[0] * u[1] * u[1]);
        assert!((f3[i] - f2[i] - expect).abs() < 1e-16, "direction {i}");
    }
}

#[test]
fn third_order_equilibrium_matches_the_d3q27_closed_form() {
    // The mixed H_aab terms plus H_xyz, which only the D3Q27 corners resolve (on D3Q19
    // no velocity has three non-zero components, so the term vanishes there).
    let (rho, u) = (1.0, [0.05, 0.05, 0.05]);
    let f3 = equilibrium_third_order::forward::<f64, D3Q27, 3, 27>(rho, u);
    let f2 = equilibrium::forward::<f64, D3Q27, 3, 27>(rho, u);
    let cs2 = D3Q27::CS2;
    let cs6 = cs2 * cs2 * cs2;
    for i in 0..27 {
        let c = D3Q27::C[i].map(f64::from);
        let mut third = 0.0;
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    third += (c[a] * c[a] - cs2) * c[b] * u[a] * u[a] * u[b] / (2.0 * cs6);
                }
            }
        }
        third += c[0] * c[1] * c[2] * u[0] * u[1] * u[2] / cs6;
        let expect = D3Q27::W[i] * rho * third;
        assert!((f3[i] - f2[i] - expect).abs() < 1e-16, "direction {i}");
    }
}

fn momentum_flux_and_projection<L: Lattice<D, Q>, const D: usize, const Q: usize>() {
    let mut g = Gen(7);
    let lattice = L::KIND;
    for _ in 0..20 {
        let f = populations::<L, D, Q>(&mut g);
        let pi = momentum_flux::forward::<f64, L, D, Q>(f);
        let mut expect = [0.0; 6];
        for (fi, ci) in f.iter().zip(L::C) {
            let c = ci.map(f64::from);
            for a in 0..D {
                expect[a] += fi * c[a] * c[a];
                for b in a + 1..D {
                    expect[a + b + 2] += fi * c[a] * c[b];
                }
            }
        }
        assert_close(&pi, &expect, TOL, &format!("momentum_flux on {lattice}"));
        if D == 2 {
            assert_eq!([pi[2], pi[4], pi[5]], [0.0; 3], "2D entries naming z");
        }
        // The projection rebuilds populations whose second moment is the tensor it was
        // given, with no mass and no momentum.
        let mut p = [0.0; 6];
        for x in &mut p {
            *x = g.uniform(-0.1, 0.1);
        }
        if D == 2 {
            p[2] = 0.0;
            p[4] = 0.0;
            p[5] = 0.0;
        }
        let h = stress_projection::forward::<f64, L, D, Q>(p);
        assert!(density::forward::<f64, L, D, Q>(h).abs() <= TOL);
        assert_close(
            &momentum::forward::<f64, L, D, Q>(h),
            &[0.0; D],
            TOL,
            "projection momentum",
        );
        let back = momentum_flux::forward::<f64, L, D, Q>(h);
        assert_close(
            &back,
            &p,
            TOL,
            &format!("stress_projection round trip on {lattice}"),
        );
    }
}

#[test]
fn momentum_flux_and_stress_projection_are_inverse() {
    on_all_lattices!(momentum_flux_and_projection);
}
