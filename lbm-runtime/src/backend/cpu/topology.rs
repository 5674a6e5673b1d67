//! Where each cell's streamed populations come from, computed on the fly per row.
//!
//! A table of the upstream cell of every population would be read once per population,
//! as many bytes as an `f32` state itself. Along a row (a run of cells along x) the rows
//! the directions stream from are fixed, so one small table of rows per direction and a
//! wrapped shift along x give every upstream cell for the cost of an add and a compare.

use std::ops::Range;

use crate::error::Result;
use crate::grid::Grid;
use crate::memory::try_filled;

/// The most directions of a supported lattice (D3Q27).
pub(crate) const MAX_Q: usize = 27;

/// Bytes of a page, as far as the placement of planes goes (see [`Topology::plane_len`]).
const PAGE: usize = 4096;

/// Neighbour tables of a grid, row by row.
pub(crate) struct Topology {
    grid: Grid,
    pub q: usize,
    pub cells: usize,
    /// Values from the start of one plane of a direction-major buffer to the next (see
    /// [`Topology::plane_len`]). Every plane the backend keeps (states, adjoints, pass A's
    /// input adjoints, an objective's outputs) is laid out so; the values past `cells` in
    /// each plane are never read as cells.
    pub plane_len: usize,
    /// Cells per row.
    nx: usize,
    /// `[row * Q + i]`: the first cell of the row direction `i` streams from into `row`.
    up_rows: Vec<usize>,
    /// `[i]`: `-c_i` along x, wrapped into `0..nx`, so `x + shift` needs one conditional
    /// subtraction to wrap.
    x_shift: Vec<usize>,
    /// `[i]`: `-c_i` along x.
    x_back: Vec<isize>,
    /// The largest `|c_i|` along x: cells that far from the ends of a row never wrap.
    reach: usize,
    pub opp: Vec<usize>,
    pub links: Vec<i64>,
    /// The cells this engine updates: all of them, or a part's own cells when the grid is
    /// a slab of a split domain whose other cells are halo (see `backend::split`). Cells
    /// outside it are neither stepped nor differentiated, nor counted in an objective.
    pub interior: Range<usize>,
}

impl Topology {
    /// The tables of `grid`, whose planes will hold values of `value_bytes` bytes.
    pub fn new(grid: &Grid, value_bytes: usize) -> Result<Self> {
        let lattice = grid.lattice();
        let (q, cells, nx) = (lattice.q(), grid.cells(), grid.dims()[0]);
        debug_assert!(q <= MAX_Q, "a lattice with more directions than MAX_Q");
        let rows = cells / nx.max(1);
        let mut up_rows: Vec<usize> = try_filled("the upstream rows of the grid", rows * q)?;
        for row in 0..rows {
            for i in 0..q {
                // The upstream cell of the row's first cell, moved back to its row's start.
                let up = grid.upstream(row * nx, i);
                up_rows[row * q + i] = up - up % nx;
            }
        }
        let x_shift = (0..q)
            .map(|i| (-i64::from(lattice.c(i)[0])).rem_euclid(nx.max(1) as i64) as usize)
            .collect();
        Ok(Topology {
            grid: grid.clone(),
            q,
            cells,
            plane_len: Self::plane_len(cells, value_bytes),
            nx,
            up_rows,
            x_shift,
            x_back: (0..q).map(|i| -(lattice.c(i)[0] as isize)).collect(),
            reach: (0..q)
                .map(|i| lattice.c(i)[0].unsigned_abs() as usize)
                .max()
                .unwrap_or(0),
            opp: (0..q).map(|i| lattice.opp(i)).collect(),
            links: (0..cells).map(|c| grid.links(c)).collect(),
            interior: 0..cells,
        })
    }

    /// The length of a plane of `cells` values of `value_bytes` bytes each, padded so that
    /// consecutive planes start an odd number of half pages apart.
    ///
    /// A core compares a load with the stores still in flight by the low 12 bits of their
    /// addresses, and holds a load that seems to overlap one until the store is done. A
    /// step loads runs of its input planes while its stores to the output planes drain:
    /// where planes start at scattered offsets within a page (a plane of 130^3 `f32`
    /// values is 2,080 bytes past a whole number of pages), some run of nearly every group
    /// falsely overlaps a recent store. On this project's 2-core development machine the
    /// D3Q19 BGK forward ran at 24 MLUPS on 130^3 unpadded and 40 padded. Of the paddings
    /// tried (planes a whole number of pages apart, or that plus 64 bytes, 1, 2 or 3 KiB),
    /// half pages were as fast as any on D3Q19 and 15% faster than whole pages on D2Q9.
    pub fn plane_len(cells: usize, value_bytes: usize) -> usize {
        let page = (PAGE / value_bytes.max(1)).max(2);
        let half = page / 2;
        (cells + half).next_multiple_of(page) - half
    }

    /// Bytes of the tables [`Topology::new`] allocates for `grid`, before allocating them.
    pub fn table_bytes(grid: &Grid) -> usize {
        let rows = grid.cells() / grid.dims()[0].max(1);
        let q = grid.lattice().q();
        (rows * q + grid.cells()).saturating_mul(std::mem::size_of::<usize>())
    }

    /// `table[cell]` = the cell at `cell + offset`, periodic.
    pub fn shifted(&self, offset: [i32; 3]) -> Vec<u32> {
        (0..self.cells)
            .map(|c| self.grid.offset(c, offset) as u32)
            .collect()
    }

    /// Calls `visit(cell, ups)` for every cell of `cells` in order, where `ups[i]` is
    /// `stride` times the cell direction `i` streams from into `cell` (so `ups[i] + i`
    /// indexes a cell-major state when `stride` is `Q`); `ups` is empty unless `streams`.
    #[inline]
    pub fn for_each_cell(
        &self,
        cells: Range<usize>,
        (streams, stride): (bool, usize),
        mut visit: impl FnMut(usize, &[usize]),
    ) {
        if !streams {
            cells.for_each(|cell| visit(cell, &[]));
            return;
        }
        let (q, nx) = (self.q, self.nx);
        let mut ups = [0usize; MAX_Q];
        let mut base = [0usize; MAX_Q];
        let mut cell = cells.start;
        while cell < cells.end {
            let (row, x0) = (cell / nx, cell % nx);
            let x1 = nx.min(x0 + (cells.end - cell));
            let rows = &self.up_rows[row * q..row * q + q];
            // Away from the ends of the row nothing wraps along x: the upstream cell is
            // `row start + x - c_i`, and `base` holds `stride * (row start - c_i)`
            // (wrapping, as it may be below zero while `x - c_i` is not).
            for ((b, &start), &back) in base.iter_mut().zip(rows).zip(&self.x_back) {
                *b = start.wrapping_add_signed(back).wrapping_mul(stride);
            }
            let inner = self.reach.min(nx)..nx.saturating_sub(self.reach);
            for x in x0..x1 {
                if inner.contains(&x) {
                    let at = x * stride;
                    for (up, &b) in ups[..q].iter_mut().zip(&base[..q]) {
                        *up = b.wrapping_add(at);
                    }
                } else {
                    self.wrapped(rows, x, stride, &mut ups[..q]);
                }
                visit(row * nx + x, &ups[..q]);
            }
            cell = row * nx + x1;
        }
    }

    /// Cells per row.
    pub fn nx(&self) -> usize {
        self.nx
    }

    /// Where the cells of `first`'s row from `first` on stream from, direction by
    /// direction: `runs[i] = (start, x)` says that the `k`-th of them takes population `i`
    /// from the cell at `(x + k) mod nx` of the row that starts at cell `start`.
    pub fn source_runs(&self, first: usize, runs: &mut [(usize, usize)]) {
        let (row, x0) = (first / self.nx, first % self.nx);
        let rows = &self.up_rows[row * self.q..row * self.q + self.q];
        for ((run, &start), &shift) in runs.iter_mut().zip(rows).zip(&self.x_shift) {
            let x = x0 + shift;
            *run = (start, if x >= self.nx { x - self.nx } else { x });
        }
    }

    /// Where the cells of row `row` stream from: direction `i` streams into the row's cell
    /// `x` from the row that starts at cell `source_rows(row)[i]`, at its cell
    /// `(x + x_backs()[i]) mod nx`.
    pub fn source_rows(&self, row: usize) -> &[usize] {
        &self.up_rows[row * self.q..row * self.q + self.q]
    }

    /// For each direction, how far back along x a cell's upstream cell lies (`-c_x`), the
    /// same in every row; see [`Topology::source_rows`].
    pub fn x_backs(&self) -> &[isize] {
        &self.x_back
    }

    /// `ups` of [`Topology::for_each_cell`], with `stride` 1, for one cell.
    pub fn upstream_of(&self, cell: usize, ups: &mut [usize]) {
        let (row, x) = (cell / self.nx, cell % self.nx);
        self.wrapped(
            &self.up_rows[row * self.q..row * self.q + self.q],
            x,
            1,
            ups,
        );
    }

    /// `ups` of [`Topology::for_each_cell`] for the cell at `x` of the row whose upstream
    /// rows start at `rows`, wrapping along x.
    fn wrapped(&self, rows: &[usize], x: usize, stride: usize, ups: &mut [usize]) {
        for ((up, &start), &shift) in ups.iter_mut().zip(rows).zip(&self.x_shift) {
            let s = x + shift;
            *up = (start + if s >= self.nx { s - self.nx } else { s }) * stride;
        }
    }
}

/// `block` clipped to `interior`: a range within `block`, empty when they do not meet.
pub(crate) fn clip(block: Range<usize>, interior: &Range<usize>) -> Range<usize> {
    let start = block.start.max(interior.start).min(block.end);
    start..block.end.min(interior.end).max(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LatticeKind;

    /// The row tables give what the grid's periodic neighbours give, on grids as thin as
    /// one cell along an axis and on part ranges starting mid-row.
    #[test]
    fn upstream_cells_match_the_grid() {
        let grids = [
            Grid::new_2d(LatticeKind::D2Q9, 5, 3).unwrap(),
            Grid::new_2d(LatticeKind::D2Q9, 1, 4).unwrap(),
            Grid::new_2d(LatticeKind::D2Q9, 2, 1).unwrap(),
            Grid::new_3d(LatticeKind::D3Q19, 3, 4, 2).unwrap(),
            Grid::new_3d(LatticeKind::D3Q27, 4, 1, 3).unwrap(),
        ];
        for grid in &grids {
            let topo = Topology::new(grid, 4).unwrap();
            let cells = grid.cells();
            for range in [0..cells, 1..cells, cells / 2..cells - 1] {
                let mut seen = Vec::new();
                topo.for_each_cell(range.clone(), (true, 3), |cell, ups| {
                    seen.push(cell);
                    for (i, &up) in ups.iter().enumerate() {
                        let want = 3 * grid.upstream(cell, i);
                        assert_eq!(up, want, "{:?} {cell} {i}", grid.dims());
                    }
                });
                assert_eq!(seen, range.collect::<Vec<_>>());
            }
        }
    }

    /// One cell's upstream cells agree with the grid's neighbours.
    #[test]
    fn single_cells_match_the_grid() {
        for grid in [
            Grid::new_2d(LatticeKind::D2Q9, 12, 3).unwrap(),
            Grid::new_3d(LatticeKind::D3Q19, 10, 3, 2).unwrap(),
            Grid::new_2d(LatticeKind::D2Q9, 4, 2).unwrap(),
        ] {
            let topo = Topology::new(&grid, 4).unwrap();
            let mut ups = vec![0; topo.q];
            for cell in 0..grid.cells() {
                topo.upstream_of(cell, &mut ups);
                for (i, &up) in ups.iter().enumerate() {
                    assert_eq!(up, grid.upstream(cell, i));
                }
            }
        }
    }

    /// The runs a stretch of a row streams from give the grid's upstream cells, wrapping
    /// along x, from anywhere in the row.
    #[test]
    fn source_runs_match_the_grid() {
        for grid in [
            Grid::new_2d(LatticeKind::D2Q9, 12, 3).unwrap(),
            Grid::new_3d(LatticeKind::D3Q19, 10, 3, 2).unwrap(),
            Grid::new_3d(LatticeKind::D3Q27, 1, 2, 2).unwrap(),
        ] {
            let topo = Topology::new(&grid, 4).unwrap();
            let nx = grid.dims()[0];
            let mut runs = vec![(0, 0); topo.q];
            for first in 0..grid.cells() {
                topo.source_runs(first, &mut runs);
                for k in 0..nx - first % nx {
                    for (i, &(start, x)) in runs.iter().enumerate() {
                        let want = grid.upstream(first + k, i);
                        assert_eq!(start + (x + k) % nx, want, "cell {first} + {k}, i {i}");
                    }
                }
            }
        }
    }

    /// Planes hold their cells and start an odd number of half pages apart, whatever the
    /// value's size, with less than a page of padding.
    #[test]
    fn planes_start_an_odd_number_of_half_pages_apart() {
        for value_bytes in [2, 4, 8] {
            for cells in [0, 1, 234, 1023, 1024, 2048 * 2048, 130 * 130 * 130] {
                let len = Topology::plane_len(cells, value_bytes);
                let bytes = len * value_bytes;
                assert!(len >= cells, "{cells} cells of {value_bytes} bytes: {len}");
                assert!(bytes - cells * value_bytes < PAGE, "{cells} cells: {len}");
                assert_eq!(
                    bytes % PAGE,
                    PAGE / 2,
                    "{cells} cells of {value_bytes} bytes"
                );
            }
        }
    }

    #[test]
    fn clipping_keeps_the_overlap() {
        assert_eq!(clip(0..10, &(3..20)), 3..10);
        assert_eq!(clip(10..20, &(0..5)), 10..10);
        assert_eq!(clip(0..4, &(6..9)), 4..4);
        assert_eq!(clip(5..9, &(6..7)), 6..7);
    }
}
