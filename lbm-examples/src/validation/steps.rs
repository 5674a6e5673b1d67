//! The step operators of the validation cases: library boundaries and collisions composed
//! per cell, selected by an integer tag.
//!
//! [`wall_step`] (BGK) serves the channel flows, whose point is BGK's viscosity and wall;
//! [`trt_step`] the cavity and the cylinder.
//!
//! Cell tags shared by both steps: [`FLUID`] cells run the boundaries their links need
//! and collide, [`SOLID`] cells keep their populations (they hold an equilibrium at rest
//! that nothing reads: every fluid link into them is bounced back).

use lbm_runtime::operator;
use lbm_runtime::ops::{
    density, guo_forcing, halfway_bounce_back, moving_wall_bounce_back, trt, zou_he_velocity,
};

/// Tag of a fluid cell.
pub const FLUID: i64 = 0;
/// Tag of a solid cell.
pub const SOLID: i64 = 1;
/// Tag of a velocity-inlet cell on the plane `x = 0` (inward normal `+x`).
pub const INLET: i64 = 2;
/// Tag of an outflow cell on the plane `x = nx - 1` (inward normal `-x`), see
/// [`rescaled_outflow`].
pub const OUTLET: i64 = 3;

/// Walls at rest and moving, a body force, BGK: the step of Poiseuille and Couette flow.
///
/// Every wall link is bounced back halfway; the links in `moving` (a subset of `links`:
/// those whose solid cell belongs to a wall moving at `u_wall`) then get Ladd's momentum
/// correction. Why a separate mask rather than a moving-wall tag per cell: a fluid cell in
/// the corner under a lid has links into the lid and into the side wall, and only the
/// former move. The collision is BGK with Guo's forcing, which is plain BGK for a zero
/// `force`.
#[operator]
pub fn wall_step(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    moving: i64,
    tag: i32,
    #[param] omega: Real,
    #[param] force: [Real; D],
    #[param] u_wall: [Real; D],
) -> [Real; Q] {
    // Tag 1 is SOLID.
    if tag == 1 {
        return f_local;
    }
    let resting = halfway_bounce_back(f, f_local, links);
    let walls = moving_wall_bounce_back(resting, f_local, moving, u_wall);
    guo_forcing(walls, omega, force)
}

/// Walls at rest and moving, a velocity inlet and an outflow, TRT: the step of the
/// lid-driven cavity and the flow past a cylinder.
///
/// Every wall link is bounced back halfway, the links in `moving` get Ladd's correction
/// for a wall moving at `u_wall` (as in [`wall_step`]); cells tagged [`INLET`] then get a
/// Zou-He velocity inlet facing `+x` (velocity `u_in`, per cell), cells tagged [`OUTLET`]
/// an outflow facing `-x` that holds the density at `rho_out` ([`rescaled_outflow`], from
/// `f_west`, the populations of the cell at `x - 1`: bind it to
/// `Source::Neighbor([-1, 0, 0])`). Bounce-back comes first, so an inlet or outlet cell in
/// a corner has its wall links before the inlet or outlet replaces its unknowns.
///
/// TRT rather than BGK: its magic parameter fixes where a bounce-back wall sits
/// independently of the viscosity (BGK's wall moves with `omega`, which matters at the
/// small viscosities of Re 100 to 1000), and `magic = 1/4` is its most stable choice. On
/// the cavity at Re 1000 and 64 cells a side, BGK diverged within 8,000 steps where TRT
/// settled; at Re 100 and 32 cells TRT's largest deviation from Ghia was 0.006 against
/// BGK's 0.011 (measured here).
#[operator]
pub fn trt_step(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    moving: i64,
    tag: i32,
    #[param] omega: Real,
    #[param] magic: Real,
    #[param] u_wall: [Real; D],
    u_in: [Real; D],
    #[param] rho_out: Real,
    f_west: [Real; Q],
) -> [Real; Q] {
    // Tag 1 is SOLID.
    if tag == 1 {
        return f_local;
    }
    let resting = halfway_bounce_back(f, f_local, links);
    let g = moving_wall_bounce_back(resting, f_local, moving, u_wall);
    // Tags 2 and 3 are INLET and OUTLET.
    match tag {
        2 => trt(zou_he_velocity(g, u_in, 0, 1), omega, magic),
        3 => trt(rescaled_outflow(g, f_west, rho_out, 0, -1), omega, magic),
        _ => trt(g, omega, magic),
    }
}

/// Outflow on a flat boundary with inward normal `n = side * e_axis` that holds the
/// density: the unknown populations (`c_i . n > 0`) are those of the interior neighbour
/// `f_neighbor` (the cell at `x + n`, as in `ops::extrapolation_outflow`), scaled by
/// `rho_b / rho_neighbor`; the known ones are kept.
///
/// Why not the library's outlets: on the cylinder at Re 100 and `d = 10`, the Zou-He
/// pressure outlet diverged in an outlet cell once the wake had begun to shed (step
/// 13,937), and so did a Zou-He outlet taking its tangential velocity from the neighbour;
/// plain extrapolation, which fixes no pressure, let the mean density creep up by 5% over
/// 40,000 steps (the drag with it). Scaling the extrapolated populations pulls the
/// outlet's density back to `rho_b` every step: the mean density stayed within 1e-3 of 1
/// and the run stayed stable (measured).
#[operator]
pub fn rescaled_outflow(
    #[populations] f: [Real; Q],
    f_neighbor: [Real; Q],
    rho_b: Real,
    axis: i32,
    side: i32,
) -> [Real; Q] {
    let sn = side as Real;
    let rho_n = density(f_neighbor);
    let scale = rho_b / rho_n;
    let mut out = [0.0; Q];
    for i in 0..Q {
        if C[i][axis] * sn > 0.0 {
            out[i] = scale * f_neighbor[i];
        } else {
            out[i] = f[i];
        }
    }
    out
}
