//! How a grid is cut into slabs along its slowest axis (z in 3D, y in 2D), one per part,
//! each with `halo` layers of its neighbours' cells on either side; and how whole-grid
//! data (solid masks, per-cell fields, cell tags, populations) is cut the same way.
//!
//! A layer is the cells of one coordinate on the slowest axis. Cell numbering puts that
//! axis last, so a layer is a contiguous run of cells, in the whole grid and in a slab.

use std::ops::Range;

use crate::bind::{Bound, BoundObjective, Source};
use crate::error::{LbmError, Result};
use crate::grid::Grid;
use crate::lattice::LatticeKind;

/// One part's slab: `halo` layers below, `layers` of its own, `halo` above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slab {
    /// The whole grid's layer that is the slab's first own layer.
    pub first: usize,
    /// Own layers.
    pub layers: usize,
}

/// The cut of a grid into slabs.
#[derive(Clone, Debug)]
pub(crate) struct Slabs {
    /// Layers of the whole grid.
    pub total_layers: usize,
    /// Cells per layer.
    pub layer_cells: usize,
    /// Halo layers on each side of a slab.
    pub halo: usize,
    /// The slabs, in order along the axis.
    pub parts: Vec<Slab>,
}

/// The index of the slowest axis of a grid on a `d`-dimensional lattice.
pub(crate) fn slow_axis(d: usize) -> usize {
    d - 1
}

/// The halo a step needs: the farthest any population it reads comes from along the
/// slowest axis (at least one layer, which streaming needs).
pub(crate) fn halo_of(bound: &Bound, lattice: LatticeKind) -> usize {
    let axis = slow_axis(lattice.d());
    let streaming = (0..lattice.q())
        .map(|i| lattice.c(i)[axis].unsigned_abs() as usize)
        .max()
        .unwrap_or(0);
    bound
        .sources
        .iter()
        .filter_map(|s| match s {
            Source::Neighbor(o) => Some(o[axis].unsigned_abs() as usize),
            _ => None,
        })
        .fold(streaming.max(1), usize::max)
}

impl Slabs {
    /// Cuts `grid` into `parts` slabs of as equal a number of layers as may be (the first
    /// slabs take one more when they do not divide evenly), each with `halo` layers.
    pub fn new(grid: &Grid, parts: usize, halo: usize) -> Result<Slabs> {
        let dims = grid.dims();
        let axis = slow_axis(grid.lattice().d());
        let total_layers = dims[axis];
        let axis_name = ["x", "y", "z"][axis];
        if parts < 2 {
            return Err(LbmError::BadGrid(format!(
                "a split needs at least two parts, not {parts}"
            )));
        }
        // A halo comes from the one neighbouring slab, so every slab must be that thick.
        if total_layers / parts < halo {
            return Err(LbmError::BadGrid(format!(
                "{total_layers} layers along {axis_name} cannot be split into {parts} parts of \
                 at least {halo} layers (the halo the step's reads need); use at most {} parts",
                (total_layers / halo).max(1)
            )));
        }
        let (base, extra) = (total_layers / parts, total_layers % parts);
        let mut first = 0;
        let parts = (0..parts)
            .map(|p| {
                let layers = base + usize::from(p < extra);
                let slab = Slab { first, layers };
                first += layers;
                slab
            })
            .collect();
        Ok(Slabs {
            total_layers,
            layer_cells: grid.cells() / total_layers,
            halo,
            parts,
        })
    }

    /// Layers of part `p`'s slab, halos included.
    pub fn slab_layers(&self, p: usize) -> usize {
        self.parts[p].layers + 2 * self.halo
    }

    /// Cells of part `p`'s slab, halos included.
    pub fn slab_cells(&self, p: usize) -> usize {
        self.slab_layers(p) * self.layer_cells
    }

    /// The slab's own cells, in its numbering.
    pub fn interior(&self, p: usize) -> Range<usize> {
        let start = self.halo * self.layer_cells;
        start..start + self.parts[p].layers * self.layer_cells
    }

    /// The whole grid's layer that the slab's layer `local` holds (halo layers wrap
    /// around the periodic ends).
    pub fn global_layer(&self, p: usize, local: usize) -> usize {
        (self.parts[p].first + self.total_layers + local - self.halo) % self.total_layers
    }

    /// The whole grid's cell that the slab's cell `local` holds.
    pub fn global_cell(&self, p: usize, local: usize) -> usize {
        let (layer, within) = (local / self.layer_cells, local % self.layer_cells);
        self.global_layer(p, layer) * self.layer_cells + within
    }

    /// Per-cell values of the whole grid (`per_cell` each) cut to part `p`'s slab.
    pub fn cut<T: Clone>(&self, p: usize, whole: &[T], per_cell: usize) -> Vec<T> {
        let run = self.layer_cells * per_cell;
        let mut out = Vec::with_capacity(self.slab_cells(p) * per_cell);
        for local in 0..self.slab_layers(p) {
            let g = self.global_layer(p, local);
            out.extend_from_slice(&whole[g * run..(g + 1) * run]);
        }
        out
    }

    /// Writes part `p`'s own cells (`per_cell` values each) into their places in `whole`.
    pub fn paste<T: Copy>(&self, p: usize, slab: &[T], whole: &mut [T], per_cell: usize) {
        let run = self.layer_cells * per_cell;
        let own = self.parts[p].first * run..(self.parts[p].first + self.parts[p].layers) * run;
        let from = self.interior(p);
        whole[own].copy_from_slice(&slab[from.start * per_cell..from.end * per_cell]);
    }

    /// Part `p`'s slab as a grid of its own, with its cut of the solid mask.
    pub fn grid(&self, p: usize, whole: &Grid) -> Result<Grid> {
        let lattice = whole.lattice();
        let [nx, ny, _] = whole.dims();
        let layers = self.slab_layers(p);
        let grid = match lattice.d() {
            2 => Grid::new_2d(lattice, nx, layers)?,
            _ => Grid::new_3d(lattice, nx, ny, layers)?,
        };
        grid.with_solid(self.cut(p, whole.solid(), 1))
    }

    /// A bound operator with its per-cell sources cut to part `p`'s slab.
    pub fn bound(&self, p: usize, bound: &Bound, cells: usize) -> Bound {
        let sources = bound
            .sources
            .iter()
            .map(|s| match s {
                Source::Field(v) => Source::Field(self.cut(p, v, v.len() / cells)),
                Source::IntField(v) => Source::IntField(self.cut(p, v, 1)),
                other => other.clone(),
            })
            .collect();
        Bound {
            op: bound.op,
            sources,
        }
    }

    /// An objective with its per-cell sources cut to part `p`'s slab.
    pub fn objective(&self, p: usize, objective: &BoundObjective, cells: usize) -> BoundObjective {
        BoundObjective {
            bound: self.bound(p, &objective.bound, cells),
            ..objective.clone()
        }
    }

    /// Which layers move after a forward step so that every halo holds its owner's values:
    /// each slab's lowest own layers fill the halo above the slab below it, and its highest
    /// own layers the halo below the slab above it (the ends wrap periodically).
    ///
    /// A move carries the populations its receiver's own cells read: those streaming
    /// across the cut into them (pulled, and far reads, which reach the same slots), or
    /// every direction when `every_direction` (a step reading whole neighbouring cells).
    pub fn halo_fills(&self, lattice: LatticeKind, every_direction: bool) -> Vec<LayerMove> {
        let axis = slow_axis(lattice.d());
        let crossing = |sign: i32| -> Vec<usize> {
            (0..lattice.q())
                .filter(|&i| every_direction || lattice.c(i)[axis].signum() == sign)
                .collect()
        };
        let (rising, falling) = (crossing(1), crossing(-1));
        let n = self.parts.len();
        let h = self.halo;
        let mut moves = Vec::with_capacity(2 * n);
        for p in 0..n {
            let (below, above) = ((p + n - 1) % n, (p + 1) % n);
            // The part below's highest own layers into this slab's lower halo: what
            // streams up into this slab.
            moves.push(LayerMove {
                from: (below, self.parts[below].layers),
                to: (p, 0),
                layers: h,
                directions: rising.clone(),
            });
            // The part above's lowest own layers into this slab's upper halo.
            moves.push(LayerMove {
                from: (above, h),
                to: (p, h + self.parts[p].layers),
                layers: h,
                directions: falling.clone(),
            });
        }
        moves
    }

    /// The reverse of [`Slabs::halo_fills`] for adjoints: what each halo gathered goes
    /// back to the layers it was filled from (to be added there), in the same directions.
    pub fn halo_returns(&self, lattice: LatticeKind, every_direction: bool) -> Vec<LayerMove> {
        self.halo_fills(lattice, every_direction)
            .into_iter()
            .map(|m| LayerMove {
                from: m.to,
                to: m.from,
                ..m
            })
            .collect()
    }

    /// Part `p`'s halo layers, as cell ranges of its slab.
    pub fn halo_cells(&self, p: usize) -> [Range<usize>; 2] {
        let run = self.halo * self.layer_cells;
        let top = (self.halo + self.parts[p].layers) * self.layer_cells;
        [0..run, top..top + run]
    }
}

/// Layers moving from one part's slab to another's: `(part, first layer)` each, and the
/// directions of the populations moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayerMove {
    /// The sending part and its first layer sent.
    pub from: (usize, usize),
    /// The receiving part and its first layer received.
    pub to: (usize, usize),
    /// Layers moved.
    pub layers: usize,
    /// The directions moved, in increasing order.
    pub directions: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slabs(layers: usize, parts: usize, halo: usize) -> (Grid, Slabs) {
        let grid = Grid::new_3d(LatticeKind::D3Q19, 3, 2, layers).unwrap();
        let slabs = Slabs::new(&grid, parts, halo).unwrap();
        (grid, slabs)
    }

    #[test]
    fn slabs_cover_every_layer_once_and_halos_wrap() {
        let (grid, s) = slabs(7, 3, 1);
        assert_eq!(
            s.parts,
            vec![
                Slab {
                    first: 0,
                    layers: 3
                },
                Slab {
                    first: 3,
                    layers: 2
                },
                Slab {
                    first: 5,
                    layers: 2
                }
            ]
        );
        // Part 0's lower halo is the grid's last layer, its upper one layer 3.
        assert_eq!(s.global_layer(0, 0), 6);
        assert_eq!(s.global_layer(0, 4), 3);
        assert_eq!(s.global_layer(2, 3), 0);
        // Pasting every part's cut gives back the whole.
        let whole: Vec<usize> = (0..grid.cells() * 2).collect();
        let mut back = vec![0; whole.len()];
        for p in 0..3 {
            let cut = s.cut(p, &whole, 2);
            assert_eq!(cut.len(), s.slab_cells(p) * 2);
            for local in 0..s.slab_cells(p) {
                assert_eq!(cut[local * 2 + 1], s.global_cell(p, local) * 2 + 1);
            }
            s.paste(p, &cut, &mut back, 2);
        }
        assert_eq!(back, whole);
    }

    #[test]
    fn halo_fills_bring_each_halo_its_owners_values() {
        for (layers, parts, halo) in [(7, 3, 1), (8, 2, 2), (9, 4, 2)] {
            let (_, s) = slabs(layers, parts, halo);
            let mut filled = std::collections::HashSet::new();
            for m in s.halo_fills(LatticeKind::D3Q19, true) {
                for k in 0..m.layers {
                    // The layer sent is the very layer of the grid the halo stands for.
                    assert_eq!(
                        s.global_layer(m.from.0, m.from.1 + k),
                        s.global_layer(m.to.0, m.to.1 + k)
                    );
                    // It is an own layer of the sender.
                    assert!(s
                        .interior(m.from.0)
                        .contains(&((m.from.1 + k) * s.layer_cells)));
                    assert!(filled.insert((m.to.0, m.to.1 + k)), "filled twice");
                }
            }
            for p in 0..parts {
                for l in 0..s.slab_layers(p) {
                    let halo_layer = l < halo || l >= halo + s.parts[p].layers;
                    assert_eq!(filled.contains(&(p, l)), halo_layer, "part {p} layer {l}");
                }
            }
        }
    }

    #[test]
    fn halos_carry_what_streams_across_the_cut() {
        let (_, s) = slabs(8, 2, 1);
        for m in s.halo_fills(LatticeKind::D3Q19, false) {
            // Into a lower halo (layer 0) go the five directions rising along z.
            let sign = if m.to.1 == 0 { 1 } else { -1 };
            assert_eq!(m.directions.len(), 5, "{m:?}");
            for &i in &m.directions {
                assert_eq!(LatticeKind::D3Q19.c(i)[2], sign, "{m:?}");
            }
        }
        assert!(s
            .halo_fills(LatticeKind::D3Q19, true)
            .iter()
            .all(|m| m.directions.len() == 19));
        let returns = s.halo_returns(LatticeKind::D3Q19, false);
        for (f, r) in s.halo_fills(LatticeKind::D3Q19, false).iter().zip(&returns) {
            assert_eq!((r.from, r.to, &r.directions), (f.to, f.from, &f.directions));
        }
    }

    #[test]
    fn a_split_thinner_than_the_halo_is_refused() {
        let grid = Grid::new_3d(LatticeKind::D3Q19, 3, 2, 5).unwrap();
        let err = Slabs::new(&grid, 3, 2).unwrap_err().to_string();
        assert!(err.contains("at most 2 parts"), "{err}");
        assert!(Slabs::new(&grid, 1, 1).is_err());
    }
}
