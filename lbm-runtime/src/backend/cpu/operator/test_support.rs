//! Operators, grids and values that the CPU operator's tests share.

use crate::grid::Grid;
use crate::operator;
use crate::ops::{guo_forcing, halfway_bounce_back};
use crate::LatticeKind;

/// Bounce-back, then a forced collision whose force is a per-cell field: population,
/// own-population, link-mask, uniform and field inputs at once.
#[operator]
pub(crate) fn walls_then_forced_bgk(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[links] links: i64,
    #[param] omega: Real,
    force: [Real; D],
) -> [Real; Q] {
    let g = halfway_bounce_back(f, f_local, links);
    guo_forcing(g, omega, force)
}

/// A step whose streamed populations are not its first inputs (its own populations come
/// first), so that the adjoint of slot `j` is not the `j`-th of the group's input
/// adjoints.
#[operator]
pub(crate) fn own_then_pulled(
    #[local] f_local: [Real; Q],
    #[populations] f: [Real; Q],
    #[param] omega: Real,
) -> [Real; Q] {
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = f[i] - omega * (f[i] - f_local[i]) * f[i];
    }
    out
}

/// A small deterministic generator: the values only need to differ from cell to cell.
pub(crate) fn values(n: usize, seed: u64, (lo, hi): (f64, f64)) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((x >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// A grid of `dims` with a wall at y = 0 and a solid block, so masks vary along rows.
pub(crate) fn grid_with_walls(lattice: LatticeKind, [nx, ny, nz]: [usize; 3]) -> Grid {
    let grid = if nz == 1 {
        Grid::new_2d(lattice, nx, ny)
    } else {
        Grid::new_3d(lattice, nx, ny, nz)
    }
    .expect("a valid grid");
    let solid = (0..grid.cells())
        .map(|c| {
            let [x, y, _] = grid.coords(c);
            y == 0 || (5..9).contains(&x) && (2..4).contains(&y)
        })
        .collect();
    grid.with_solid(solid).expect("a valid mask")
}
