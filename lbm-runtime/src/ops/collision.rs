//! Collision operators.

use crate::operator;
use crate::ops::{
    density, density_velocity, deviatoric_stress, equilibrium, equilibrium_split, momentum,
    momentum_flux, stress_projection,
};

/// BGK collision: relax every population towards equilibrium at rate `omega`.
#[operator(unroll_adjoint)]
pub fn bgk(
    #[populations] f: [Real; Q],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
) -> [Real; Q] {
    let (rho, u) = density_velocity(f);
    let feq = equilibrium(rho, u);
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = f[i] - omega * (f[i] - feq[i]);
    }
    out
}

/// Two-relaxation-time (TRT) collision: symmetric parts relax at `omega`, antisymmetric
/// parts at the rate fixed by the magic parameter `magic`.
///
/// With `f+_i = (f_i + f_opp(i)) / 2` and `f-_i = (f_i - f_opp(i)) / 2` (the same for the
/// equilibrium), `f_i' = f_i - omega (f+_i - feq+_i) - omega_minus (f-_i - feq-_i)`, where
/// `omega_minus` solves `magic = (1/omega - 1/2) (1/omega_minus - 1/2)`. `magic = 1/4`
/// puts bounce-back walls halfway between nodes; `magic = (1/omega - 1/2)^2` gives BGK.
#[operator(unroll_adjoint)]
pub fn trt(
    #[populations] f: [Real; Q],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
    #[param]
    #[range("(0, inf)")]
    magic: Real,
) -> [Real; Q] {
    let (rho, u) = density_velocity(f);
    let feq = equilibrium(rho, u);
    let omega_minus = 1.0 / (0.5 + magic / (1.0 / omega - 0.5));
    let mut out = [0.0; Q];
    for i in 0..Q {
        let j = OPP[i];
        let sym = 0.5 * (f[i] + f[j] - feq[i] - feq[j]);
        let anti = 0.5 * (f[i] - f[j] - feq[i] + feq[j]);
        out[i] = f[i] - omega * sym - omega_minus * anti;
    }
    out
}

/// Regularized BGK: the non-equilibrium part is replaced by its second-order Hermite
/// projection before relaxing.
///
/// `f_i' = feq_i + (1 - omega) w_i / (2 cs^4) (c_ia c_ib - cs^2 delta_ab) Pi^neq_ab`
/// with `Pi^neq` the momentum flux of `f - feq`; the higher-order (ghost) content of
/// `f - feq` is dropped, which damps it at every `omega`. At `omega = 1` the result is
/// the equilibrium.
#[operator]
pub fn regularized_bgk(
    #[populations] f: [Real; Q],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
) -> [Real; Q] {
    let (rho, feq, fneq) = equilibrium_split(f);
    let pi_neq = momentum_flux(fneq);
    let g = stress_projection(pi_neq);
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = feq[i] + (1.0 - omega) * g[i];
    }
    out
}

/// Multiple-relaxation-time collision in Hermite moment space: shear stress at `omega`,
/// bulk (trace of the stress) at `omega_bulk`, all higher-order (ghost) moments at
/// `omega_ghost`.
///
/// `f - feq` is split into three parts that are orthogonal in the scalar product
/// `sum_i g_i h_i / w_i`: the Hermite projection of the deviatoric (traceless)
/// non-equilibrium stress, that of its trace `delta_ab tr(Pi^neq) / D`, and the rest
/// (everything above second order). Each relaxes at its own rate:
/// `f' = feq + (1 - omega) s + (1 - omega_bulk) b + (1 - omega_ghost) h`.
///
/// Why this basis rather than a lattice's own moment matrix (Lallemand-Luo, d'Humieres):
/// the Hermite moments up to second order and their orthogonal complement are defined the
/// same way on every lattice, so one source serves D2Q9, D3Q19 and D3Q27 without a
/// per-lattice transformation matrix, and the physically meaningful rates (viscosity,
/// bulk viscosity) are named. The ghost moments, whose number and basis differ per
/// lattice, share one rate. `omega_bulk = omega_ghost = omega` is BGK; `omega_bulk =
/// omega`, `omega_ghost = 1` is the regularized BGK.
#[operator]
pub fn mrt(
    #[populations] f: [Real; Q],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
    #[param]
    #[range("(0, 2)")]
    omega_bulk: Real,
    #[param]
    #[range("(0, 2)")]
    omega_ghost: Real,
) -> [Real; Q] {
    let (rho, feq, fneq) = equilibrium_split(f);
    let pi_neq = momentum_flux(fneq);
    let dev = deviatoric_stress(pi_neq);
    let mut iso = [0.0; 6];
    for k in 0..6 {
        iso[k] = pi_neq[k] - dev[k];
    }
    let s = stress_projection(dev);
    let b = stress_projection(iso);
    let mut out = [0.0; Q];
    for i in 0..Q {
        let h = fneq[i] - s[i] - b[i];
        out[i] =
            feq[i] + (1.0 - omega) * s[i] + (1.0 - omega_bulk) * b[i] + (1.0 - omega_ghost) * h;
    }
    out
}

/// KBC entropic collision: shear relaxes at `omega`, higher-order moments at a rate set
/// per cell by the entropic stabilizer.
///
/// `f - feq = ds + dh` (the conserved part `k` has no deviation): `ds` is the Hermite
/// projection of the deviatoric non-equilibrium stress, `dh` the rest (trace of the
/// stress and all higher moments). With `beta = omega / 2`,
/// `f' = f - beta (2 ds + gamma dh)` and
/// `gamma = 1/beta - (2 - 1/beta) <ds|dh> / <dh|dh>`, where `<x|y> = sum_i x_i y_i / feq_i`
/// is the entropic scalar product. `<dh|dh> == 0` falls back to `gamma = 2` (BGK).
#[operator]
pub fn kbc(
    #[populations] f: [Real; Q],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
) -> [Real; Q] {
    let (rho, u) = density_velocity(f);
    // The equilibrium's momentum flux is `rho (cs2 delta + u u)` on lattices whose
    // weights are isotropic to fourth order (D2Q9, D3Q19, D3Q27), and the isotropic part
    // has no deviator: the shear stress of `f - feq` comes from `f`'s own second moment.
    // Forming `f - feq` first kept Q more values alive on a GPU, whose forward then ran at
    // two blocks a multiprocessor (96 registers) instead of three (80).
    let pi = momentum_flux(f);
    let mut pi_neq = [0.0; 6];
    for a in 0..D {
        for b in 0..D {
            if a == b {
                pi_neq[a] = pi[a] - rho * u[a] * u[a];
            }
            if a < b {
                pi_neq[a + b + 2] = pi[a + b + 2] - rho * u[a] * u[b];
            }
        }
    }
    let shear = deviatoric_stress(pi_neq);
    let feq = equilibrium(rho, u);
    let ds = stress_projection(shear);
    let mut sh = 0.0;
    let mut hh = 0.0;
    for i in 0..Q {
        let dh = f[i] - feq[i] - ds[i];
        // One division per direction, shared by both products: divisions dominate the
        // cost of this collision on a GPU.
        let dh_over_feq = dh / feq[i];
        sh += ds[i] * dh_over_feq;
        hh += dh * dh_over_feq;
    }
    let beta = 0.5 * omega;
    let mut gamma = 2.0;
    if hh > 0.0 {
        let inv_beta = 1.0 / beta;
        gamma = inv_beta - (2.0 - inv_beta) * sh / hh;
    }
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = f[i] - beta * (2.0 * ds[i] + gamma * (f[i] - feq[i] - ds[i]));
    }
    out
}

/// Smagorinsky large-eddy BGK: BGK with a relaxation time raised by the local
/// non-equilibrium stress.
///
/// `tau_eff = (tau0 + sqrt(tau0^2 + 18 sqrt(2) c_smag^2 |Pi^neq| / rho)) / 2` with
/// `tau0 = 1 / omega` and `|Pi^neq| = sqrt(Pi^neq_ab Pi^neq_ab)` (Hou et al. 1996, lattice
/// units, filter width one cell); then `f' = f - (f - feq) / tau_eff`. `c_smag = 0` is
/// BGK. The norm's derivative is taken as zero where the stress vanishes exactly.
#[operator]
pub fn smagorinsky_bgk(
    #[populations] f: [Real; Q],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
    #[param]
    #[range("[0, inf)")]
    c_smag: Real,
) -> [Real; Q] {
    let (rho, feq, fneq) = equilibrium_split(f);
    let p = momentum_flux(fneq);
    let norm2 =
        p[0] * p[0] + p[1] * p[1] + p[2] * p[2] + 2.0 * (p[3] * p[3] + p[4] * p[4] + p[5] * p[5]);
    let mut norm = 0.0;
    if norm2 > 0.0 {
        norm = norm2.sqrt();
    }
    let tau0 = 1.0 / omega;
    let tau = 0.5
        * (tau0
            + (tau0 * tau0 + 18.0 * (2.0 as Real).sqrt() * c_smag * c_smag * norm / rho).sqrt());
    let omega_eff = 1.0 / tau;
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = f[i] - omega_eff * fneq[i];
    }
    out
}

/// BGK with Guo's forcing: a body force `force` (per unit volume) acting for one step.
///
/// The equilibrium uses the shifted velocity `u = (j + force / 2) / rho`, and the source
/// `S_i = (1 - omega/2) w_i [ (c_i - u) / cs^2 + (c_i . u) c_i / cs^4 ] . force` is added:
/// `f_i' = f_i - omega (f_i - feq_i) + S_i`. Mass is conserved and the momentum grows by
/// `force`; the velocity of the step is the shifted `u` (Guo, Zheng and Shi 2002).
#[operator]
pub fn guo_forcing(
    #[populations] f: [Real; Q],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
    force: [Real; D],
) -> [Real; Q] {
    let rho = density(f);
    let j = momentum(f);
    let mut u = [0.0; D];
    for a in 0..D {
        u[a] = (j[a] + 0.5 * force[a]) / rho;
    }
    let feq = equilibrium(rho, u);
    let mut out = [0.0; Q];
    for i in 0..Q {
        let mut cu = 0.0;
        for a in 0..D {
            cu += C[i][a] * u[a];
        }
        let mut s = 0.0;
        for a in 0..D {
            s += ((C[i][a] - u[a]) / CS2 + cu * C[i][a] / (CS2 * CS2)) * force[a];
        }
        out[i] = f[i] - omega * (f[i] - feq[i]) + (1.0 - 0.5 * omega) * W[i] * s;
    }
    out
}
