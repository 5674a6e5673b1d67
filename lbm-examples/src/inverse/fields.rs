//! Flow fields on a periodic 2D grid: a recognisable pattern of vortices to hide, vorticity
//! to show, and the norms the programs report.

use lbm_runtime::Grid;

/// A Gaussian (Taylor) vortex: core radius `r0`, peak speed `peak`, centred at `(x, y)`.
#[derive(Clone, Copy, Debug)]
pub struct Vortex {
    /// Centre, in cells.
    pub x: f64,
    /// Centre, in cells.
    pub y: f64,
    /// Core radius, in cells.
    pub r0: f64,
    /// Peak azimuthal speed (lattice units), signed: positive is counter-clockwise.
    pub peak: f64,
}

/// Shortest periodic displacement from `a` to `b` on a ring of length `n`.
fn periodic(a: f64, b: f64, n: f64) -> f64 {
    let d = b - a;
    d - n * (d / n).round()
}

/// The velocity field of a sum of vortices on a periodic grid, `D` components per cell.
///
/// On a 2D grid, the vortices below. On a 3D grid, the same in every `z` layer, with a
/// strength modulated along `z` by `1 + cos(2 pi z / nz) / 2` and no `z` component: vortex
/// tubes that are thicker in the middle of the box than at its ends.
pub fn vortex_field_nd(grid: &Grid, vortices: &[Vortex]) -> Vec<f64> {
    let [nx, ny, _] = grid.dims();
    let layer = Grid::new_2d(lbm_runtime::LatticeKind::D2Q9, nx, ny)
        .expect("a layer of a valid grid is a valid grid");
    extrude(grid, &vortex_field(&layer, vortices))
}

/// A planar field (`[cell * 2 + a]` over an `nx x ny` layer) on a grid of either
/// dimension: itself in 2D; in 3D, the same in every `z` layer, with a strength modulated
/// along `z` by `1 + cos(2 pi z / nz) / 2` and no `z` component.
pub fn extrude(grid: &Grid, plane: &[f64]) -> Vec<f64> {
    let [nx, _, nz] = grid.dims();
    let d = grid.lattice().d();
    if d == 2 {
        return plane.to_vec();
    }
    let mut u = vec![0.0; grid.cells() * d];
    for cell in 0..grid.cells() {
        let [x, y, z] = grid.coords(cell);
        let m = 1.0 + 0.5 * (2.0 * std::f64::consts::PI * z as f64 / nz as f64).cos();
        let p = x + nx * y;
        u[cell * d] = m * plane[p * 2];
        u[cell * d + 1] = m * plane[p * 2 + 1];
    }
    u
}

/// The `x` and `y` components of the layer `z` of a field with `D` components per cell,
/// as a 2D field (`[cell * 2 + a]` over the layer).
pub fn layer_xy(grid: &Grid, u: &[f64], z: usize) -> Vec<f64> {
    let [nx, ny, _] = grid.dims();
    let d = grid.lattice().d();
    let mut out = Vec::with_capacity(nx * ny * 2);
    for y in 0..ny {
        for x in 0..nx {
            let c = grid.index([x, y, z]);
            out.push(u[c * d]);
            out.push(u[c * d + 1]);
        }
    }
    out
}

/// The velocity field (`[cell * 2 + a]`) of a sum of vortices on a periodic 2D grid.
///
/// Each vortex is a Gaussian (Taylor) vortex, `u_theta = peak (r / r0) exp((1 - r^2 / r0^2)
/// / 2)`, whose maximum is `peak` at `r = r0`. Its net circulation is zero and its speed
/// falls off like a Gaussian, so the field is smooth across the periodic boundaries as long
/// as vortices sit a few core radii from the edges.
pub fn vortex_field(grid: &Grid, vortices: &[Vortex]) -> Vec<f64> {
    let [nx, ny, _] = grid.dims();
    let mut u = vec![0.0; grid.cells() * 2];
    for cell in 0..grid.cells() {
        let [x, y, _] = grid.coords(cell);
        for v in vortices {
            let dx = periodic(v.x, x as f64, nx as f64);
            let dy = periodic(v.y, y as f64, ny as f64);
            let r2 = dx * dx + dy * dy;
            // u_theta / r, so that (u_x, u_y) = (-dy, dx) * u_theta / r.
            let s = v.peak / v.r0 * (0.5 * (1.0 - r2 / (v.r0 * v.r0))).exp();
            u[cell * 2] -= s * dy;
            u[cell * 2 + 1] += s * dx;
        }
    }
    u
}

/// The hidden pattern of the initial-state recovery: a smiling face drawn with vortices
/// (two eyes, a mouth of alternating vortices), scaled to the grid.
pub fn smiley(grid: &Grid, peak: f64) -> Vec<Vortex> {
    let [nx, ny, _] = grid.dims();
    let (w, h) = (nx as f64, ny as f64);
    let r0 = 0.05 * w.min(h);
    let mut v = vec![
        Vortex {
            x: 0.33 * w,
            y: 0.68 * h,
            r0,
            peak,
        },
        Vortex {
            x: 0.67 * w,
            y: 0.68 * h,
            r0,
            peak: -peak,
        },
    ];
    let mouth = 7;
    for k in 0..mouth {
        let a = std::f64::consts::PI * (1.15 + 0.7 * k as f64 / (mouth - 1) as f64);
        v.push(Vortex {
            x: 0.5 * w + 0.3 * w * a.cos(),
            y: 0.62 * h + 0.3 * h * a.sin(),
            r0: 0.8 * r0,
            peak: if k % 2 == 0 { 0.8 * peak } else { -0.8 * peak },
        });
    }
    v
}

/// Vorticity `d u_y / dx - d u_x / dy` of a 2D velocity field by central differences,
/// periodic; one value per cell.
pub fn vorticity(grid: &Grid, u: &[f64]) -> Vec<f64> {
    let [nx, ny, _] = grid.dims();
    let at = |x: usize, y: usize, a: usize| u[grid.index([x % nx, y % ny, 0]) * 2 + a];
    (0..grid.cells())
        .map(|cell| {
            let [x, y, _] = grid.coords(cell);
            let duy_dx = 0.5 * (at(x + 1, y, 1) - at(x + nx - 1, y, 1));
            let dux_dy = 0.5 * (at(x, y + 1, 0) - at(x, y + ny - 1, 0));
            duy_dx - dux_dy
        })
        .collect()
}

/// Speed `|u|` per cell of a field with `d` components per cell.
pub fn speed(u: &[f64], d: usize) -> Vec<f64> {
    u.chunks(d)
        .map(|c| c.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect()
}

/// `||a - b|| / ||b||` in the Euclidean norm.
pub fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbm_runtime::LatticeKind;

    #[test]
    fn a_vortex_peaks_at_its_core_and_turns_the_right_way() {
        let grid = Grid::new_2d(LatticeKind::D2Q9, 64, 64).unwrap();
        let v = Vortex {
            x: 32.0,
            y: 32.0,
            r0: 4.0,
            peak: 0.05,
        };
        let u = vortex_field(&grid, &[v]);
        let s = speed(&u, 2);
        // Peak at r = r0 = 4 cells, to within the lattice's resolution.
        let peak_cell = (0..grid.cells())
            .max_by(|&a, &b| s[a].total_cmp(&s[b]))
            .unwrap();
        let [x, y, _] = grid.coords(peak_cell);
        let r = ((x as f64 - 32.0).powi(2) + (y as f64 - 32.0).powi(2)).sqrt();
        assert!((r - 4.0).abs() < 0.6, "{r}");
        assert!((s[peak_cell] - 0.05).abs() < 0.002, "{}", s[peak_cell]);
        // Counter-clockwise: above the centre the flow goes to -x; positive vorticity.
        assert!(u[grid.index([32, 36, 0]) * 2] < 0.0);
        assert!(vorticity(&grid, &u)[grid.index([32, 32, 0])] > 0.0);
    }

    #[test]
    fn relative_error_is_zero_on_equal_fields_and_one_against_zero() {
        assert_eq!(relative_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert_eq!(relative_error(&[0.0, 0.0], &[1.0, 2.0]), 1.0);
    }
}
