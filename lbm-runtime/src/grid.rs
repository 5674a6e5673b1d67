//! The lattice grid: dimensions, cell indexing, periodic neighbours and the solid mask.

use crate::error::{LbmError, Result};
use crate::lattice::LatticeKind;

/// A box of lattice cells, periodic in every direction; walls and obstacles are cells
/// marked solid, whose links the boundary operators see.
///
/// Cells are numbered `x + nx * (y + ny * z)`.
#[derive(Clone, Debug)]
pub struct Grid {
    lattice: LatticeKind,
    dims: [usize; 3],
    solid: Vec<bool>,
}

impl Grid {
    /// A 2D grid of `nx * ny` cells on `lattice` (which must be two-dimensional).
    pub fn new_2d(lattice: LatticeKind, nx: usize, ny: usize) -> Result<Grid> {
        if lattice.d() != 2 {
            return Err(LbmError::BadGrid(format!(
                "{lattice} is a 3D lattice; use Grid::new_3d"
            )));
        }
        Grid::new(lattice, [nx, ny, 1])
    }

    /// A 3D grid of `nx * ny * nz` cells on `lattice` (which must be three-dimensional).
    pub fn new_3d(lattice: LatticeKind, nx: usize, ny: usize, nz: usize) -> Result<Grid> {
        if lattice.d() != 3 {
            return Err(LbmError::BadGrid(format!(
                "{lattice} is a 2D lattice; use Grid::new_2d"
            )));
        }
        Grid::new(lattice, [nx, ny, nz])
    }

    fn new(lattice: LatticeKind, dims: [usize; 3]) -> Result<Grid> {
        if dims.contains(&0) {
            return Err(LbmError::BadGrid(format!(
                "dimensions {dims:?} include zero"
            )));
        }
        let cells = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let Some(cells) = cells.filter(|&c| c <= u32::MAX as usize) else {
            return Err(LbmError::BadGrid(format!(
                "{dims:?} has more than 2^32 cells"
            )));
        };
        Ok(Grid {
            lattice,
            dims,
            solid: vec![false; cells],
        })
    }

    /// Marks cells solid (`true`) or fluid; `mask` has one entry per cell.
    pub fn with_solid(mut self, mask: Vec<bool>) -> Result<Grid> {
        if mask.len() != self.cells() {
            return Err(LbmError::ShapeMismatch {
                what: "solid mask".into(),
                got: mask.len(),
                expected: self.cells(),
                why: format!("one per cell of {:?}", self.dims),
            });
        }
        self.solid = mask;
        Ok(self)
    }

    /// The lattice.
    pub fn lattice(&self) -> LatticeKind {
        self.lattice
    }

    /// `[nx, ny, nz]` (`nz == 1` in 2D).
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.dims.iter().product()
    }

    /// The solid mask.
    pub fn solid(&self) -> &[bool] {
        &self.solid
    }

    /// Coordinates of a cell.
    pub fn coords(&self, cell: usize) -> [usize; 3] {
        let [nx, ny, _] = self.dims;
        [cell % nx, (cell / nx) % ny, cell / (nx * ny)]
    }

    /// The cell at `coords`.
    pub fn index(&self, [x, y, z]: [usize; 3]) -> usize {
        let [nx, ny, _] = self.dims;
        x + nx * (y + ny * z)
    }

    /// The cell `offset` away from `cell`, wrapping periodically.
    pub fn offset(&self, cell: usize, offset: [i32; 3]) -> usize {
        let c = self.coords(cell);
        let mut out = [0; 3];
        for a in 0..3 {
            let n = self.dims[a] as i64;
            out[a] = (c[a] as i64 + offset[a] as i64).rem_euclid(n) as usize;
        }
        self.index(out)
    }

    /// The cell a population of direction `i` arrives from when streaming into `cell`.
    pub fn upstream(&self, cell: usize, i: usize) -> usize {
        let c = self.lattice.c(i);
        self.offset(cell, [-c[0], -c[1], -c[2]])
    }

    /// The cell a population of direction `i` leaving `cell` arrives at.
    pub fn downstream(&self, cell: usize, i: usize) -> usize {
        self.offset(cell, self.lattice.c(i))
    }

    /// Bit `i` is set when the cell that direction `i` streams from is solid.
    pub fn links(&self, cell: usize) -> i64 {
        (0..self.lattice.q())
            .filter(|&i| self.solid[self.upstream(cell, i)])
            .fold(0i64, |m, i| m | (1 << i))
    }

    /// Upstream neighbour of every cell for every direction, `[i * cells + cell]`.
    pub fn upstream_table(&self) -> Vec<u32> {
        let n = self.cells();
        let mut t = vec![0u32; self.lattice.q() * n];
        for i in 0..self.lattice.q() {
            for cell in 0..n {
                t[i * n + cell] = self.upstream(cell, i) as u32;
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_wraps_and_inverts() {
        let g = Grid::new_3d(LatticeKind::D3Q19, 4, 3, 5).unwrap();
        for cell in 0..g.cells() {
            for i in 0..19 {
                assert_eq!(g.downstream(g.upstream(cell, i), i), cell);
            }
        }
        assert_eq!(g.offset(0, [-1, 0, 0]), 3);
    }

    #[test]
    fn links_mark_solid_upstream_cells() {
        let mut mask = vec![false; 9];
        mask[4] = true;
        let g = Grid::new_2d(LatticeKind::D2Q9, 3, 3)
            .unwrap()
            .with_solid(mask)
            .unwrap();
        // Cell (2,1) receives direction 1 (+x) from (1,1), the solid one.
        assert_eq!(g.links(g.index([2, 1, 0])), 1 << 1);
    }

    #[test]
    fn wrong_lattice_dimension_is_an_error() {
        assert!(Grid::new_2d(LatticeKind::D3Q19, 4, 4).is_err());
        assert!(Grid::new_3d(LatticeKind::D2Q9, 4, 4, 4).is_err());
        assert!(Grid::new_2d(LatticeKind::D2Q9, 0, 4).is_err());
    }
}
