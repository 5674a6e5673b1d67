//! The 2D channel of problems 2 and 3: solid walls along the top and bottom rows
//! (halfway bounce-back), a Zou-He velocity inlet with a parabolic profile on the left
//! column and a Zou-He pressure outlet on the right column; cells carry a tag that the
//! step operators match on.
//!
//! The walls sit halfway between the solid rows and the first fluid rows, so the channel's
//! width is `H = ny - 2` and the Poiseuille profile of mean speed `U` is
//! `u(y) = 6 U s (H - s) / H^2` with `s = y - 1/2` the distance from the lower wall.

use lbm_runtime::{equilibrium_state, Grid, LatticeKind, LbmError};

/// Tag of a fluid cell in the interior.
pub const FLUID: i64 = 0;
/// Tag of a cell of the inlet column (velocity prescribed, inward normal `+x`).
pub const INLET: i64 = 1;
/// Tag of a cell of the outlet column (density prescribed, inward normal `-x`).
pub const OUTLET: i64 = 2;
/// Tag of a solid wall cell: it keeps its populations, which no fluid cell reads.
pub const WALL: i64 = 3;

/// A channel of `nx` by `ny` cells on D2Q9, walls on rows `0` and `ny - 1`.
#[derive(Clone, Debug)]
pub struct Channel {
    grid: Grid,
    tags: Vec<i64>,
    mean_speed: f64,
}

impl Channel {
    /// The channel of `nx` by `ny` cells whose inlet profile has mean speed `mean_speed`.
    ///
    /// It needs at least four columns (inlet, outlet and fluid between) and three fluid
    /// rows between the walls; the mean speed must be finite with `|U| < 0.3`, where the
    /// lattice is still nearly incompressible.
    pub fn new(nx: usize, ny: usize, mean_speed: f64) -> lbm_runtime::Result<Channel> {
        if nx < 4 || ny < 5 {
            return Err(LbmError::BadGrid(format!(
                "a channel needs at least 4 x 5 cells (inlet, outlet, walls and three fluid \
                 rows), not {nx} x {ny}"
            )));
        }
        if !(mean_speed.is_finite() && mean_speed.abs() < 0.3) {
            return Err(LbmError::BadGrid(format!(
                "the inlet's mean speed {mean_speed} is not a finite value below 0.3 in \
                 lattice units"
            )));
        }
        let grid = Grid::new_2d(LatticeKind::D2Q9, nx, ny)?;
        let tags: Vec<i64> = (0..grid.cells())
            .map(|cell| {
                let [x, y, _] = grid.coords(cell);
                if y == 0 || y == ny - 1 {
                    WALL
                } else if x == 0 {
                    INLET
                } else if x == nx - 1 {
                    OUTLET
                } else {
                    FLUID
                }
            })
            .collect();
        let solid = tags.iter().map(|&t| t == WALL).collect();
        let grid = grid.with_solid(solid)?;
        Ok(Channel {
            grid,
            tags,
            mean_speed,
        })
    }

    /// The grid, with the wall rows marked solid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// `[nx, ny]`.
    pub fn dims(&self) -> [usize; 2] {
        let [nx, ny, _] = self.grid.dims();
        [nx, ny]
    }

    /// One tag per cell: [`FLUID`], [`INLET`], [`OUTLET`] or [`WALL`].
    pub fn tags(&self) -> &[i64] {
        &self.tags
    }

    /// Whether each cell is a wall (what images mask).
    pub fn solid(&self) -> &[bool] {
        self.grid.solid()
    }

    /// The cells that are not walls, in increasing order.
    pub fn fluid_cells(&self) -> Vec<usize> {
        (0..self.grid.cells())
            .filter(|&c| self.tags[c] != WALL)
            .collect()
    }

    /// The inlet's mean speed `U`.
    pub fn mean_speed(&self) -> f64 {
        self.mean_speed
    }

    /// The channel's width between the halfway walls, `ny - 2`.
    pub fn width(&self) -> f64 {
        (self.dims()[1] - 2) as f64
    }

    /// The Poiseuille speed at row `y` (zero on the wall rows).
    pub fn profile(&self, y: usize) -> f64 {
        let [_, ny] = self.dims();
        if y == 0 || y >= ny - 1 {
            return 0.0;
        }
        let h = self.width();
        let s = y as f64 - 0.5;
        6.0 * self.mean_speed * s * (h - s) / (h * h)
    }

    /// The Poiseuille velocity field, `[cell * 2 + a]`: the prescribed inlet velocity on
    /// the inlet column, the fully developed flow of an empty channel elsewhere, zero in
    /// the walls.
    pub fn poiseuille(&self) -> Vec<f64> {
        let mut u = vec![0.0; 2 * self.grid.cells()];
        for cell in 0..self.grid.cells() {
            u[2 * cell] = self.profile(self.grid.coords(cell)[1]);
        }
        u
    }

    /// The equilibrium populations of the Poiseuille flow at unit density, `[cell * 9 + i]`:
    /// the state every run of problems 2 and 3 starts from, or develops from.
    pub fn poiseuille_state(&self) -> lbm_runtime::Result<Vec<f64>> {
        equilibrium_state(
            &self.grid,
            &vec![1.0; self.grid.cells()],
            &self.poiseuille(),
        )
    }

    /// The pressure drop of the developed Poiseuille flow between the inlet and outlet
    /// columns at kinematic viscosity `nu`: `12 nu U L / H^2` (unit density), with
    /// `L = nx - 1` the distance between the two columns.
    pub fn poiseuille_drop(&self, nu: f64) -> f64 {
        let h = self.width();
        12.0 * nu * self.mean_speed * (self.dims()[0] - 1) as f64 / (h * h)
    }
}

/// Kinematic viscosity of the relaxation rate `omega` in lattice units,
/// `nu = (1/omega - 1/2) / 3`.
pub fn viscosity(omega: f64) -> f64 {
    (1.0 / omega - 0.5) / 3.0
}

/// Vorticity `d u_y / dx - d u_x / dy` of a velocity field on a channel, by central
/// differences inside and one-sided ones on the inlet and outlet columns; zero in the
/// walls.
pub fn vorticity(channel: &Channel, u: &[f64]) -> Vec<f64> {
    let grid = channel.grid();
    let [nx, ny] = channel.dims();
    let at = |x: usize, y: usize, a: usize| u[grid.index([x, y, 0]) * 2 + a];
    (0..grid.cells())
        .map(|cell| {
            let [x, y, _] = grid.coords(cell);
            if y == 0 || y == ny - 1 {
                return 0.0;
            }
            let (xl, xr) = (x.saturating_sub(1), (x + 1).min(nx - 1));
            let duy_dx = (at(xr, y, 1) - at(xl, y, 1)) / (xr - xl) as f64;
            // The walls' rows hold zero velocity one cell away, where the halfway wall is
            // half a cell away: fine for a picture.
            let dux_dy = 0.5 * (at(x, y + 1, 0) - at(x, y - 1, 0));
            duy_dx - dux_dy
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_mark_walls_inlet_and_outlet() {
        let c = Channel::new(6, 5, 0.05).unwrap();
        let g = c.grid();
        assert_eq!(c.tags()[g.index([0, 0, 0])], WALL);
        assert_eq!(c.tags()[g.index([0, 2, 0])], INLET);
        assert_eq!(c.tags()[g.index([5, 3, 0])], OUTLET);
        assert_eq!(c.tags()[g.index([3, 2, 0])], FLUID);
        assert_eq!(c.tags()[g.index([3, 4, 0])], WALL);
        assert_eq!(c.fluid_cells().len(), 6 * 3);
        assert!(Channel::new(3, 5, 0.05).is_err());
        assert!(Channel::new(8, 8, f64::NAN).is_err());
    }

    #[test]
    fn the_profile_has_the_mean_speed_asked_for() {
        // The mean over the fluid rows of the parabola sampled at cell centres is U up to
        // the midpoint rule's error: U (1 + 1 / (2 H^2)).
        let c = Channel::new(8, 34, 0.04).unwrap();
        let h = c.width();
        let mean: f64 = (1..33).map(|y| c.profile(y)).sum::<f64>() / h;
        assert!(
            (mean - 0.04 * (1.0 + 0.5 / (h * h))).abs() < 1e-12,
            "{mean}"
        );
        assert_eq!(c.profile(0), 0.0);
    }
}
