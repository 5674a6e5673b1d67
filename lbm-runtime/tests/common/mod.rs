//! Fixtures shared by the runtime's integration tests: reproducible noise, perturbed
//! initial states, an obstacle, boundary tags, and step operators with boundaries.

#![allow(dead_code)]

use lbm_runtime::ops::{bgk, bouzidi, zou_he_pressure, zou_he_velocity};
use lbm_runtime::{operator, Grid};

/// Tag 1: velocity inlet facing +x; tag 2: pressure outlet facing -x; tag 0: BGK.
#[operator]
pub fn step_zou_he(
    #[populations] f: [Real; Q],
    tag: i32,
    #[param] omega: Real,
    #[param] u_in: [Real; D],
    #[param] rho_out: Real,
) -> [Real; Q] {
    match tag {
        1 => bgk(zou_he_velocity(f, u_in, 0, 1), omega),
        2 => bgk(zou_he_pressure(f, rho_out, 0, -1), omega),
        _ => bgk(f, omega),
    }
}

/// Interpolated bounce-back with a differentiable wall distance per link.
#[operator]
pub fn step_bouzidi(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[far] f_far: [Real; Q],
    q_wall: [Real; Q],
    #[links] links: i64,
    solid: i32,
    #[param] omega: Real,
) -> [Real; Q] {
    if solid != 0 {
        return f_local;
    }
    bgk(bouzidi(f, f_local, f_far, q_wall, links), omega)
}

/// Deterministic pseudo-random values in `[-0.5, 0.5)`.
pub fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

/// The dot product.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A perturbed equilibrium at rest with a small flow.
pub fn initial(grid: &Grid) -> Vec<f64> {
    let n = grid.cells();
    let d = grid.lattice().d();
    let rho: Vec<f64> = noise(n, 3).iter().map(|v| 1.0 + 0.05 * v).collect();
    let u: Vec<f64> = noise(n * d, 4).iter().map(|v| 0.1 * v).collect();
    let f = lbm_runtime::equilibrium_state(grid, &rho, &u).unwrap();
    f.iter()
        .zip(noise(f.len(), 5))
        .map(|(f, e)| f * (1.0 + 0.02 * e))
        .collect()
}

/// Solid cells: a disc in the middle of the box (a ball in 3D).
pub fn obstacle(grid: &Grid) -> Vec<bool> {
    let [nx, ny, nz] = grid.dims();
    (0..grid.cells())
        .map(|c| {
            let [x, y, z] = grid.coords(c);
            let dx = x as f64 - nx as f64 / 2.0;
            let dy = y as f64 - ny as f64 / 2.0;
            let dz = if nz > 1 {
                z as f64 - nz as f64 / 2.0
            } else {
                0.0
            };
            dx * dx + dy * dy + dz * dz < 4.5
        })
        .collect()
}

/// Tags: 1 on the plane x = 0, 2 on x = nx - 1.
pub fn end_tags(grid: &Grid) -> Vec<i64> {
    let nx = grid.dims()[0];
    (0..grid.cells())
        .map(|c| match grid.coords(c)[0] {
            0 => 1,
            x if x == nx - 1 => 2,
            _ => 0,
        })
        .collect()
}

/// Cell tags of a channel along x: interior fluid.
pub const FLUID: i64 = 0;
/// Velocity inlet on the plane x = 0 (inward normal +x).
pub const INLET: i64 = 1;
/// Pressure outlet on the plane x = nx - 1 (inward normal -x).
pub const OUTLET: i64 = 2;
/// Solid: the walls and the obstacle, whose populations stay as they are.
pub const SOLID: i64 = 3;

/// A channel along x: walls on the planes y = 0 and y = ny - 1 and a disc (a ball in 3D)
/// of squared radius `radius2` in the middle; its solid mask set on the grid and the
/// cell tags (`FLUID`, `INLET`, `OUTLET`, `SOLID`).
pub fn channel(grid: Grid, radius2: f64) -> (Grid, Vec<i64>) {
    let [nx, ny, nz] = grid.dims();
    let (cx, cy, cz) = (nx as f64 / 2.0, ny as f64 / 2.0, nz as f64 / 2.0);
    let mut solid = Vec::new();
    let mut tags = Vec::new();
    for cell in 0..grid.cells() {
        let [x, y, z] = grid.coords(cell);
        let (dx, dy) = (x as f64 - cx, y as f64 - cy);
        let dz = if nz > 1 { z as f64 - cz } else { 0.0 };
        let is_solid = y == 0 || y == ny - 1 || dx * dx + dy * dy + dz * dz < radius2;
        solid.push(is_solid);
        tags.push(match x {
            _ if is_solid => SOLID,
            0 => INLET,
            x if x == nx - 1 => OUTLET,
            _ => FLUID,
        });
    }
    (grid.with_solid(solid).unwrap(), tags)
}

/// Cell tags from a solid mask: 1 for solid.
pub fn solid_ints(mask: &[bool]) -> Vec<i64> {
    mask.iter().map(|&s| s as i64).collect()
}

/// Fourth-order central difference of `loss` at zero: `loss(e)` is the loss moved `e` along
/// a direction, `h` the step.
pub fn fd4(loss: &dyn Fn(f64) -> f64, h: f64) -> f64 {
    (8.0 * (loss(h) - loss(-h)) - (loss(2.0 * h) - loss(-2.0 * h))) / (12.0 * h)
}

/// `|a - reference| / |reference|` in the 2-norm.
pub fn relative_error(a: &[f64], reference: &[f64]) -> f64 {
    let diff = a
        .iter()
        .zip(reference)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    diff / reference.iter().map(|y| y * y).sum::<f64>().sqrt()
}

/// Whether the GPU tests can run; prints why not (or fails under `LBM_REQUIRE_CUDA=1`, set
/// on the GPU machine so that they cannot skip there).
#[cfg(feature = "cuda")]
pub fn gpu(test: &str) -> bool {
    match lbm_runtime::cuda::check_available() {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("LBM_REQUIRE_CUDA").as_deref() == Ok("1") {
                panic!("{test}: LBM_REQUIRE_CUDA=1 but {why}");
            }
            eprintln!("notice: skipping {test}: {why}");
            false
        }
    }
}

/// `step_zou_he` with its inlet (0.04 along every axis), outlet (density 1) and end tags
/// bound on `grid`; `omega` is the caller's, bound in `step` already.
pub fn zou_he_ends(step: lbm_runtime::Step, grid: &Grid) -> lbm_runtime::Step {
    step.uniform("u_in", vec![0.04; grid.lattice().d()])
        .uniform("rho_out", [1.0])
        .int_field("tag", end_tags(grid))
}
