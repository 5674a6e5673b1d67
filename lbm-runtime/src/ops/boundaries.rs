//! Boundary conditions, as per-cell operators applied after pull streaming.
//!
//! Conventions shared by every operator here:
//!
//! - Streaming pulls: `f[i] = f_post(x - c_i, i)`. Where the upstream neighbour
//!   `x - c_i` is solid, bit `i` of `links` is set and `f[i]` holds nothing useful.
//! - `f_local[i]` is this cell's own post-collision population of the previous step,
//!   `f_far[i] = f_post(x + c_i, OPP[i])` the population of the next fluid cell away
//!   from the wall that moves towards it.
//! - A flat boundary has the inward normal `n = side * e_axis` (`side` is +1 or -1,
//!   `axis` in `0..D`); after streaming the populations with `c_i . n > 0` are unknown,
//!   those with `c_i . n <= 0` are known.

use crate::operator;
use crate::ops::{density, equilibrium};

/// Halfway bounce-back on resting walls: `f_i = f_local[OPP[i]]` on links whose upstream
/// neighbour is solid (bit `i` of `links`), `f_i` elsewhere.
#[operator]
pub fn halfway_bounce_back(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
) -> [Real; Q] {
    let mut out = [0.0; Q];
    for i in 0..Q {
        if (links >> (i as i64)) & 1 == 1 {
            out[i] = f_local[OPP[i]];
        } else {
            out[i] = f[i];
        }
    }
    out
}

/// Halfway bounce-back on a moving wall (Ladd 1994): on wall links
/// `f_i = f_local[OPP[i]] + 2 w_i rho (c_i . u_wall) / cs2`, with `rho` the density of
/// `f_local`; other links keep `f_i`.
#[operator]
pub fn moving_wall_bounce_back(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    u_wall: [Real; D],
) -> [Real; Q] {
    let rho = density(f_local);
    let mut out = [0.0; Q];
    for i in 0..Q {
        if (links >> (i as i64)) & 1 == 1 {
            let mut cu = 0.0;
            for a in 0..D {
                cu += C[i][a] * u_wall[a];
            }
            out[i] = f_local[OPP[i]] + 2.0 * W[i] * rho * cu / CS2;
        } else {
            out[i] = f[i];
        }
    }
    out
}

/// Equilibrium boundary: every population set to the equilibrium of the prescribed
/// density `rho_b` and velocity `u_b`.
#[operator]
pub fn equilibrium_boundary(rho_b: Real, u_b: [Real; D]) -> [Real; Q] {
    let feq = equilibrium(rho_b, u_b);
    feq
}

/// Velocity boundary on a flat wall with inward normal `n = side * e_axis`: Zou-He on
/// D2Q9, its non-equilibrium bounce-back form with transverse momentum correction (Hecht
/// and Harting 2010) on D3Q19 and D3Q27, from one source.
///
/// `rho = (sum_{c.n=0} f + 2 sum_{c.n<0} f) / (1 - u_b.n)`; for every unknown direction
/// (`c_i.n > 0`) `f_i = f_OPP[i] + 2 w_i rho (c_i.u_b) / cs2 - sum_{t != axis} c_it N_t`
/// with `N_t = (sum_{c.n=0} f c_t + sum_{c.n>0} 2 w rho (c.u_b) c_t / cs2 - rho u_bt) /
/// sum_{c.n>0} c_t^2` (D2Q9 and D3Q19: `N_t = 1/2 sum_{c.n=0} f c_t - rho u_bt / 3`).
/// The result's density is `rho` and its velocity `u_b`, exactly.
#[operator]
pub fn zou_he_velocity(
    #[populations] f: [Real; Q],
    u_b: [Real; D],
    axis: i32,
    side: i32,
) -> [Real; Q] {
    let sn = side as Real;
    let un = u_b[axis] * sn;
    // Density from the known populations.
    let mut tangent = 0.0;
    let mut incoming = 0.0;
    for i in 0..Q {
        let cn = C[i][axis] * sn;
        if cn < 0.0 {
            incoming += f[i];
        } else if cn == 0.0 {
            tangent += f[i];
        }
    }
    let rho = (tangent + 2.0 * incoming) / (1.0 - un);
    // Transverse correction: what the bounced-back known populations and the
    // equilibrium terms leave of the tangential momentum, spread over the unknowns.
    let mut corr = [0.0; D];
    for t in 0..D {
        if t as i32 != axis {
            let mut known = 0.0;
            let mut added = 0.0;
            let mut count = 0.0;
            for i in 0..Q {
                let cn = C[i][axis] * sn;
                if cn == 0.0 {
                    known += f[i] * C[i][t];
                } else if cn > 0.0 {
                    let mut cu = 0.0;
                    for a in 0..D {
                        cu += C[i][a] * u_b[a];
                    }
                    added += 2.0 * W[i] * rho * cu / CS2 * C[i][t];
                    count += C[i][t] * C[i][t];
                }
            }
            // No unknown moves along `t` only for an invalid `side` (0): nothing to correct.
            if count > 0.0 {
                corr[t] = (known + added - rho * u_b[t]) / count;
            }
        }
    }
    let mut out = [0.0; Q];
    for i in 0..Q {
        let cn = C[i][axis] * sn;
        if cn > 0.0 {
            let mut cu = 0.0;
            let mut ct = 0.0;
            for a in 0..D {
                cu += C[i][a] * u_b[a];
                ct += C[i][a] * corr[a];
            }
            out[i] = f[OPP[i]] + 2.0 * W[i] * rho * cu / CS2 - ct;
        } else {
            out[i] = f[i];
        }
    }
    out
}

/// Pressure boundary on a flat wall with inward normal `n = side * e_axis`: prescribed
/// density `rho_b`, zero tangential velocity, and the normal velocity from mass balance,
/// `u.n = 1 - (sum_{c.n=0} f + 2 sum_{c.n<0} f) / rho_b`; the unknowns then follow
/// `zou_he_velocity`.
#[operator]
pub fn zou_he_pressure(
    #[populations] f: [Real; Q],
    rho_b: Real,
    axis: i32,
    side: i32,
) -> [Real; Q] {
    let sn = side as Real;
    let mut tangent = 0.0;
    let mut incoming = 0.0;
    for i in 0..Q {
        let cn = C[i][axis] * sn;
        if cn < 0.0 {
            incoming += f[i];
        } else if cn == 0.0 {
            tangent += f[i];
        }
    }
    let un = 1.0 - (tangent + 2.0 * incoming) / rho_b;
    let mut u = [0.0; D];
    u[axis] = un * sn;
    let out = zou_he_velocity(f, u, axis, side);
    out
}

/// Extrapolation outflow (first order): the unknown populations (`c_i.n > 0`, inward
/// normal `n = side * e_axis`) are copied from the interior neighbour `f_neighbor`
/// (the cell at `x + n`); the known ones are kept.
#[operator]
pub fn extrapolation_outflow(
    #[populations] f: [Real; Q],
    f_neighbor: [Real; Q],
    axis: i32,
    side: i32,
) -> [Real; Q] {
    let sn = side as Real;
    let mut out = [0.0; Q];
    for i in 0..Q {
        if C[i][axis] * sn > 0.0 {
            out[i] = f_neighbor[i];
        } else {
            out[i] = f[i];
        }
    }
    out
}

/// Partial bounce-back, gray LBM (Walsh, Burwinkle and Saar 2009):
/// `out_i = (1 - solid) f_post_i + solid f_pre_OPP[i]`, with `f_pre` the populations
/// before collision and `f_post` after; `solid` in `[0, 1]` is a differentiable solid
/// fraction, which makes shapes differentiable.
#[operator]
pub fn partial_bounce_back(
    f_pre: [Real; Q],
    f_post: [Real; Q],
    #[range("[0, 1]")] solid: Real,
) -> [Real; Q] {
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = (1.0 - solid) * f_post[i] + solid * f_pre[OPP[i]];
    }
    out
}

/// Interpolated bounce-back (Bouzidi, Firdaouss and Lallemand 2001) for pull streaming.
///
/// On a wall link (bit `i` of `links`: `x - c_i` is solid) the wall sits at the fraction
/// `q[i]` in `(0, 1]` of the link from `x` towards `x - c_i`. The population that left
/// `x` towards the wall is `f_local[OPP[i]]`, and
/// - `q < 1/2`: `f_i = 2 q f_local[OPP[i]] + (1 - 2 q) f_far[i]`,
/// - `q >= 1/2`: `f_i = f_local[OPP[i]] / (2 q) + (2 q - 1) / (2 q) f_local[i]`,
///
/// where `f_far[i] = f_post(x + c_i, OPP[i])`. Both branches give `f_local[OPP[i]]` at
/// `q = 1/2` (halfway bounce-back), so the result is continuous in `q`. Other links keep
/// `f_i`.
#[operator]
pub fn bouzidi(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[far] f_far: [Real; Q],
    #[range("[0, 1]")] q: [Real; Q],
    #[links] links: i64,
) -> [Real; Q] {
    let mut out = [0.0; Q];
    for i in 0..Q {
        if (links >> (i as i64)) & 1 == 1 {
            let qi = q[i];
            if qi < 0.5 {
                out[i] = 2.0 * qi * f_local[OPP[i]] + (1.0 - 2.0 * qi) * f_far[i];
            } else {
                out[i] = (f_local[OPP[i]] + (2.0 * qi - 1.0) * f_local[i]) / (2.0 * qi);
            }
        } else {
            out[i] = f[i];
        }
    }
    out
}
