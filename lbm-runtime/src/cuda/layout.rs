//! Where each parameter of a bound operator lives on the GPU.
//!
//! Every kernel of a module has one fixed signature whatever the binding: uniform reals
//! share one small buffer, per-step reals one buffer of rows (one row per step), per-cell
//! fields one structure-of-arrays buffer, integers one buffer and integer fields another.
//! A [`Layout`] gives each parameter its slot in those buffers, and each differentiable
//! parameter its slot among the gradient accumulators; the kernel text
//! ([`super::skeleton`]) and the host side ([`super::engine`]) both read it, so they agree.

use crate::bind::{Bound, Source};
use crate::grid::Grid;
use crate::lattice::LatticeKind;

/// Where one parameter's value comes from in a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `f(x - c_i, i)`.
    Pulled,
    /// `f(x, i)`.
    Local,
    /// `f(x + c_i, OPP[i])`.
    Far,
    /// `f(x + offset, i)`.
    Neighbor([i32; 3]),
    /// The link mask of the cell.
    Links,
    /// `uni[at + k]`; `grad` is its first index among the uniform gradients.
    Uniform { at: usize, grad: Option<usize> },
    /// `steps[t * step_len + at + k]`; `grad` is its first index in a step's gradient row.
    PerStep { at: usize, grad: Option<usize> },
    /// `fields[(at + k) * cells + cell]`; `grad` is its first row among the field gradients.
    Field { at: usize, grad: Option<usize> },
    /// `ints[at]`.
    Int { at: usize },
    /// `ifields[at * cells + cell]`.
    IntField { at: usize },
}

/// The slots of every parameter of a bound operator, and the sizes of the shared buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// One slot per parameter, in declaration order.
    pub slots: Vec<Slot>,
    /// Number of reals of each parameter (1 for integers).
    pub lens: Vec<usize>,
    /// Reals in the uniform buffer.
    pub uni_len: usize,
    /// Reals in one row of the per-step buffer.
    pub step_len: usize,
    /// Steps with per-step values (rows of the per-step buffer).
    pub step_rows: usize,
    /// Integers in the integer buffer.
    pub int_len: usize,
    /// Rows (of one value per cell) in the field buffer.
    pub field_rows: usize,
    /// Rows in the integer field buffer.
    pub ifield_rows: usize,
    /// Differentiable uniform reals (gradients summed over cells and steps).
    pub grad_uniform: usize,
    /// Differentiable per-step reals in one step (gradients summed over cells, per step).
    pub grad_step: usize,
    /// Rows of per-cell gradients of differentiable fields.
    pub grad_field_rows: usize,
    /// The grid's `[nx, ny, nz]`, compiled into the kernels as constants.
    pub dims: [u32; 3],
    /// The cells `[first, end)` the kernels step and differentiate: every cell, or one
    /// part's own cells when the grid is a slab of a split domain (compiled in too).
    pub interior: [u32; 2],
}

impl Layout {
    /// The same layout for kernels that step only the cells `interior`.
    pub fn with_interior(mut self, interior: &std::ops::Range<usize>) -> Layout {
        // Grids have at most 2^32 cells, so every cell index fits.
        self.interior = [interior.start as u32, interior.end as u32];
        self
    }

    /// The layout of `bound` on `grid`.
    pub fn new(bound: &Bound, grid: &Grid) -> Layout {
        let lattice = grid.lattice();
        let mut l = Layout {
            slots: Vec::new(),
            lens: Vec::new(),
            uni_len: 0,
            step_len: 0,
            step_rows: 0,
            int_len: 0,
            field_rows: 0,
            ifield_rows: 0,
            grad_uniform: 0,
            grad_step: 0,
            grad_field_rows: 0,
            // Grids have at most 2^32 cells, so each dimension fits.
            dims: grid.dims().map(|d| d as u32),
            interior: [0, grid.cells() as u32],
        };
        for (p, source) in bound.op.params.iter().zip(&bound.sources) {
            let len = if p.kind.is_real() {
                p.shape.len(lattice)
            } else {
                1
            };
            let diff = p.kind.is_differentiable();
            let take = |counter: &mut usize| {
                diff.then(|| {
                    let at = *counter;
                    *counter += len;
                    at
                })
            };
            let slot = match source {
                Source::Pulled => Slot::Pulled,
                Source::Local => Slot::Local,
                Source::Far => Slot::Far,
                Source::Neighbor(o) => Slot::Neighbor(*o),
                Source::Links => Slot::Links,
                Source::Uniform(_) => {
                    let at = l.uni_len;
                    l.uni_len += len;
                    Slot::Uniform {
                        at,
                        grad: take(&mut l.grad_uniform),
                    }
                }
                Source::PerStep(v) => {
                    let at = l.step_len;
                    l.step_len += len;
                    l.step_rows = if l.step_rows == 0 {
                        v.len()
                    } else {
                        l.step_rows.min(v.len())
                    };
                    Slot::PerStep {
                        at,
                        grad: take(&mut l.grad_step),
                    }
                }
                Source::Field(_) => {
                    let at = l.field_rows;
                    l.field_rows += len;
                    Slot::Field {
                        at,
                        grad: take(&mut l.grad_field_rows),
                    }
                }
                Source::Int(_) => {
                    l.int_len += 1;
                    Slot::Int { at: l.int_len - 1 }
                }
                Source::IntField(_) => {
                    l.ifield_rows += 1;
                    Slot::IntField {
                        at: l.ifield_rows - 1,
                    }
                }
            };
            l.slots.push(slot);
            l.lens.push(len);
        }
        l
    }

    /// Differentiable reals reduced over cells per step: uniform ones, then per-step ones.
    pub fn grad_reduced(&self) -> usize {
        self.grad_uniform + self.grad_step
    }

    /// Whether the step's adjoint sums its reduced gradients over all steps per block and
    /// reduces them once, at the end of a backward run: when every reduced gradient is of
    /// a uniform parameter (per-step parameters need each step's sum in its own row).
    /// Each block adds its own row in step order, so the sums stay deterministic, and
    /// store-all and revolve (which run adjoint steps in the same order) still agree bit
    /// for bit.
    pub fn reduces_once(&self) -> bool {
        self.grad_reduced() > 0 && self.grad_reduced() == self.grad_uniform
    }

    /// Whether any parameter reads the given slot kind.
    pub fn reads(&self, slot: &Slot) -> bool {
        self.slots.contains(slot)
    }

    /// Population reads whose adjoints another cell than the reader owns (local and
    /// neighbour reads): `(parameter, source cell offset)`, in parameter order. Their
    /// adjoints go through a side buffer of `Q` rows each.
    pub fn side_reads(&self) -> Vec<(usize, [i32; 3])> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, s)| match s {
                Slot::Local => Some((k, [0, 0, 0])),
                Slot::Neighbor(o) => Some((k, *o)),
                _ => None,
            })
            .collect()
    }

    /// Whether kernels generated for `other` are those generated for this layout.
    pub fn same_kernels(&self, other: &Layout) -> bool {
        // The kernel text reads every field but the number of per-step rows.
        Layout {
            step_rows: 0,
            ..self.clone()
        } == Layout {
            step_rows: 0,
            ..other.clone()
        }
    }

    /// Length of the gradient accumulator buffer: the uniform gradients, then one row per
    /// step of per-step gradients.
    pub fn acc_len(&self) -> usize {
        self.grad_uniform + self.step_rows * self.grad_step
    }

    /// The uniform values, the per-step rows, the integers, the fields (rows of one value
    /// per cell) and the integer fields of `bound`, in this layout's order.
    pub fn values(&self, bound: &Bound, cells: usize) -> Values {
        let mut v = Values {
            uni: vec![0.0; self.uni_len],
            steps: vec![0.0; self.step_rows * self.step_len],
            ints: vec![0i64; self.int_len],
            fields: vec![0.0; self.field_rows * cells],
            ifields: vec![0i64; self.ifield_rows * cells],
        };
        for ((slot, source), &len) in self.slots.iter().zip(&bound.sources).zip(&self.lens) {
            match (slot, source) {
                (Slot::Uniform { at, .. }, Source::Uniform(x)) => {
                    v.uni[*at..*at + len].copy_from_slice(x)
                }
                (Slot::PerStep { at, .. }, Source::PerStep(rows)) => {
                    for (t, row) in rows.iter().take(self.step_rows).enumerate() {
                        let base = t * self.step_len + at;
                        v.steps[base..base + len].copy_from_slice(row);
                    }
                }
                (Slot::Field { at, .. }, Source::Field(x)) => {
                    for cell in 0..cells {
                        for k in 0..len {
                            v.fields[(at + k) * cells + cell] = x[cell * len + k];
                        }
                    }
                }
                (Slot::Int { at }, Source::Int(x)) => v.ints[*at] = *x,
                (Slot::IntField { at }, Source::IntField(x)) => {
                    v.ifields[at * cells..(at + 1) * cells].copy_from_slice(x)
                }
                _ => {}
            }
        }
        v
    }
}

/// The host values of a binding, laid out for upload.
pub(crate) struct Values {
    pub uni: Vec<f64>,
    pub steps: Vec<f64>,
    pub ints: Vec<i64>,
    pub fields: Vec<f64>,
    pub ifields: Vec<i64>,
}

/// Offset of a cell's neighbour along one axis: the name of the coordinate variable the
/// kernels define for it (`m` one below, `p` one above, with periodic wrap).
pub(crate) fn axis_suffix(offset: i32) -> &'static str {
    match offset {
        -1 => "m",
        0 => "0",
        1 => "p",
        _ => unreachable!("lattice velocities have components in -1..=1"),
    }
}

/// Whether every lattice velocity moves at most one cell along each axis, which the
/// kernels' neighbour arithmetic assumes.
pub(crate) fn unit_speeds(lattice: LatticeKind) -> bool {
    (0..lattice.q()).all(|i| lattice.c(i).iter().all(|c| c.abs() <= 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ops, Step};

    #[test]
    fn bgk_has_one_uniform_gradient() {
        let grid = Grid::new_2d(LatticeKind::D2Q9, 4, 3).unwrap();
        let bound = Step::new(&ops::bgk::INFO)
            .uniform("omega", [1.5])
            .bind(&grid)
            .unwrap();
        let l = Layout::new(&bound, &grid);
        assert_eq!(
            l.slots,
            vec![
                Slot::Pulled,
                Slot::Uniform {
                    at: 0,
                    grad: Some(0)
                }
            ]
        );
        assert_eq!((l.uni_len, l.grad_uniform, l.acc_len()), (1, 1, 1));
        assert_eq!(l.values(&bound, grid.cells()).uni, vec![1.5]);
        assert!(LatticeKind::ALL.into_iter().all(unit_speeds));
    }
}
