//! The host side of a resident state: the layouts a caller may ask for, conversions
//! between them (parallel, in the precision asked for), and a count of the state copies
//! between host and backend.

use std::cell::Cell;

use rayon::prelude::*;

use crate::error::{check_finite, LbmError, Result};
use crate::grid::Grid;
use crate::real::{Precision, Real};
use crate::storage::Storage;

/// How a whole-grid state is laid out in a flat buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateLayout {
    /// `[cell * Q + i]`: each cell's populations together (the public default).
    CellMajor,
    /// `[i * cells + cell]`: one row per direction (the GPU's structure of arrays).
    DirectionMajor,
}

/// A host buffer of either precision, for downloads in the caller's type.
pub enum HostVec<'a> {
    /// Single precision.
    F32(&'a mut Vec<f32>),
    /// Double precision.
    F64(&'a mut Vec<f64>),
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A real type the populations can be copied out in (`f32` or `f64`).
pub trait StateReal: Real + sealed::Sealed {
    /// The buffer as a [`HostVec`].
    fn host_vec(v: &mut Vec<Self>) -> HostVec<'_>;
}

impl StateReal for f32 {
    fn host_vec(v: &mut Vec<f32>) -> HostVec<'_> {
        HostVec::F32(v)
    }
}

impl StateReal for f64 {
    fn host_vec(v: &mut Vec<f64>) -> HostVec<'_> {
        HostVec::F64(v)
    }
}

/// Cells per parallel task: large enough that a task's reads and writes stream, small
/// enough to spread a grid over every core.
const CELLS_PER_TASK: usize = 4096;

/// Converts `src` (layout `from`) into `dst` (layout `to`), element by element, in
/// parallel. Transpositions walk blocks of cells so that one side is read or written in
/// contiguous runs and no index is divided.
#[cfg(any(feature = "cuda", test))]
pub(crate) fn convert<S: Real, D: Real>(
    src: &[S],
    from: StateLayout,
    dst: &mut [D],
    to: StateLayout,
    q: usize,
    cells: usize,
) {
    convert_planes(src, (from, cells), dst, (to, cells), q, cells);
}

/// [`convert`] between buffers whose direction-major planes start `plane_len` values
/// apart (given beside each layout, at least `cells`; ignored for a cell-major side):
/// the values past a plane's `cells` are neither read nor written.
pub(crate) fn convert_planes<S: Real, D: Real>(
    src: &[S],
    (from, src_plane): (StateLayout, usize),
    dst: &mut [D],
    (to, dst_plane): (StateLayout, usize),
    q: usize,
    cells: usize,
) {
    let len = |layout, plane_len: usize| match layout {
        StateLayout::CellMajor => q * cells,
        StateLayout::DirectionMajor => q * plane_len,
    };
    debug_assert_eq!(src.len(), len(from, src_plane));
    debug_assert_eq!(dst.len(), len(to, dst_plane));
    let cast = |v: &S| D::from_f64(v.to_f64());
    match (from, to) {
        (StateLayout::CellMajor, StateLayout::CellMajor) => dst
            .par_chunks_mut(CELLS_PER_TASK * q)
            .zip(src.par_chunks(CELLS_PER_TASK * q))
            .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d = cast(s))),
        (StateLayout::DirectionMajor, StateLayout::DirectionMajor) => dst
            .par_chunks_mut(dst_plane)
            .zip(src.par_chunks(src_plane))
            .for_each(|(d, s)| {
                d[..cells]
                    .par_chunks_mut(CELLS_PER_TASK)
                    .zip(s[..cells].par_chunks(CELLS_PER_TASK))
                    .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d = cast(s)))
            }),
        (StateLayout::DirectionMajor, StateLayout::CellMajor) => dst
            .par_chunks_mut(CELLS_PER_TASK * q)
            .enumerate()
            .for_each(|(block, d)| {
                let first = block * CELLS_PER_TASK;
                let n = d.len() / q;
                for i in 0..q {
                    let row = &src[i * src_plane + first..i * src_plane + first + n];
                    for (k, v) in row.iter().enumerate() {
                        d[k * q + i] = cast(v);
                    }
                }
            }),
        (StateLayout::CellMajor, StateLayout::DirectionMajor) => dst
            .par_chunks_mut(dst_plane)
            .enumerate()
            .for_each(|(i, row)| {
                row[..cells]
                    .par_chunks_mut(CELLS_PER_TASK)
                    .enumerate()
                    .for_each(|(block, d)| {
                        let first = block * CELLS_PER_TASK;
                        for (k, v) in d.iter_mut().enumerate() {
                            *v = cast(&src[(first + k) * q + i]);
                        }
                    })
            }),
    }
}

#[cfg(feature = "cuda")]
/// Fills the direction-major `dst` from the cell-major `src` through `encode(i, value)`
/// (the 16-bit form of a direction-`i` population), in parallel.
pub(crate) fn encode_direction_major<T: Send>(
    src: &[f64],
    dst: &mut [T],
    q: usize,
    cells: usize,
    encode: impl Fn(usize, f64) -> T + Sync,
) {
    debug_assert_eq!(src.len(), q * cells);
    debug_assert_eq!(dst.len(), q * cells);
    dst.par_chunks_mut(cells).enumerate().for_each(|(i, row)| {
        row.par_chunks_mut(CELLS_PER_TASK)
            .enumerate()
            .for_each(|(block, d)| {
                let first = block * CELLS_PER_TASK;
                for (k, v) in d.iter_mut().enumerate() {
                    *v = encode(i, src[(first + k) * q + i]);
                }
            })
    });
}

#[cfg(feature = "cuda")]
/// The direction-major `src` decoded through `decode(i, stored)`, in parallel.
pub(crate) fn decode_direction_major<T: Copy + Sync>(
    src: &[T],
    q: usize,
    cells: usize,
    decode: impl Fn(usize, T) -> f32 + Sync,
) -> Vec<f32> {
    debug_assert_eq!(src.len(), q * cells);
    let mut out = vec![0f32; q * cells];
    out.par_chunks_mut(cells)
        .zip(src.par_chunks(cells))
        .enumerate()
        .for_each(|(i, (row, stored))| {
            row.par_chunks_mut(CELLS_PER_TASK)
                .zip(stored.par_chunks(CELLS_PER_TASK))
                .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d = decode(i, *s)))
        });
    out
}

/// Makes `v` `len` zeros long. A new buffer comes from the allocator already zeroed
/// (untouched pages), so the parallel conversion that overwrites it also takes its page
/// faults in parallel, instead of one thread filling it first.
fn fresh_zeroed<T: Real>(v: &mut Vec<T>, len: usize) {
    if v.len() != len {
        *v = vec![T::default(); len];
    }
}

/// Converts into a caller's buffer of either precision, resizing it.
pub(crate) fn convert_out<S: Real>(
    src: &[S],
    from: StateLayout,
    out: HostVec<'_>,
    to: StateLayout,
    q: usize,
    cells: usize,
) {
    convert_planes_out(src, (from, cells), out, to, q, cells);
}

/// [`convert_out`] from a buffer whose direction-major planes start `plane_len` values
/// apart (see [`convert_planes`]).
pub(crate) fn convert_planes_out<S: Real>(
    src: &[S],
    from: (StateLayout, usize),
    out: HostVec<'_>,
    to: StateLayout,
    q: usize,
    cells: usize,
) {
    match out {
        HostVec::F32(v) => {
            fresh_zeroed(v, q * cells);
            convert_planes(src, from, v, (to, cells), q, cells);
        }
        HostVec::F64(v) => {
            fresh_zeroed(v, q * cells);
            convert_planes(src, from, v, (to, cells), q, cells);
        }
    }
}

/// Checks a state given by a caller: its length and that every value is finite.
pub(crate) fn check_state(values: &[f64], expected: usize) -> Result<()> {
    if values.len() != expected {
        return Err(LbmError::ShapeMismatch {
            what: "populations".into(),
            got: values.len(),
            expected,
            why: "Q populations per cell, cell-major".into(),
        });
    }
    check_finite("populations", values)
}

/// Checks that populations survive rounding to the precision the forward computes in: a
/// value beyond `f32`'s range would become infinite on upload and be reported later as
/// a divergence at step 1, which would send the user looking at the physics.
pub(crate) fn check_representable(values: &[f64], precision: Precision) -> Result<()> {
    if precision != Precision::F32 {
        return Ok(());
    }
    match values.iter().position(|v| v.abs() > f32::MAX as f64) {
        None => Ok(()),
        Some(index) => Err(LbmError::NonFinite {
            what: "populations, rounded to f32 (the simulation's precision)".into(),
            index,
            value: values[index] as f32 as f64,
        }),
    }
}

/// Errors if a population of `values` (`[cell * Q + i]` on `grid`) is beyond what
/// `storage` keeps finite.
pub(crate) fn check_storable(grid: &Grid, values: &[f64], storage: Storage) -> Result<()> {
    if !storage.is_half() {
        return Ok(());
    }
    let q = grid.lattice().q();
    let weights = crate::storage::shifts(grid.lattice());
    let bad = values
        .par_iter()
        .enumerate()
        .find_first(|(k, v)| !storage.round(**v as f32, weights[k % q]).is_finite());
    match bad {
        None => Ok(()),
        Some((index, value)) => Err(LbmError::NonFinite {
            what: format!(
                "populations, kept as {storage} deviations from the lattice weights (the \
                 simulation's storage)"
            ),
            index,
            value: *value,
        }),
    }
}

/// Whole-state copies between the host and a backend's memory since a simulation began.
///
/// On the CPU backend "the backend's memory" is its own state buffer, so the counts say
/// the same thing on both backends: how often populations crossed the API boundary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    /// States copied in (`set_populations`, `set_equilibrium`).
    pub uploads: usize,
    /// States copied out (`populations`, the gradient with respect to the initial state).
    pub downloads: usize,
    /// Bytes copied in.
    pub bytes_uploaded: usize,
    /// Bytes copied out.
    pub bytes_downloaded: usize,
}

/// A [`Transfers`] that `&self` methods (downloads) can update.
#[derive(Debug, Default)]
pub(crate) struct TransferCounter(Cell<Transfers>);

impl TransferCounter {
    /// Counts one state copied in.
    pub fn upload(&self, bytes: usize) {
        let mut t = self.0.get();
        t.uploads += 1;
        t.bytes_uploaded += bytes;
        self.0.set(t);
    }

    /// Counts one state copied out.
    pub fn download(&self, bytes: usize) {
        let mut t = self.0.get();
        t.downloads += 1;
        t.bytes_downloaded += bytes;
        self.0.set(t);
    }

    /// The counts so far.
    pub fn get(&self) -> Transfers {
        self.0.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_convert_both_ways_over_several_tasks() {
        let (q, cells) = (3, 2 * CELLS_PER_TASK + 5);
        let cell_major: Vec<f64> = (0..q * cells).map(|k| k as f64).collect();
        let mut soa = vec![0.0f32; q * cells];
        convert(
            &cell_major,
            StateLayout::CellMajor,
            &mut soa,
            StateLayout::DirectionMajor,
            q,
            cells,
        );
        for cell in [0, 1, CELLS_PER_TASK, cells - 1] {
            for i in 0..q {
                assert_eq!(soa[i * cells + cell], (cell * q + i) as f32);
            }
        }
        let mut back = Vec::new();
        convert_out(
            &soa,
            StateLayout::DirectionMajor,
            HostVec::F64(&mut back),
            StateLayout::CellMajor,
            q,
            cells,
        );
        assert_eq!(back, cell_major);
    }

    /// Planes longer than the cells: every cell's value lands in its plane, the values
    /// past the cells are neither written (the NaN stay) nor read (they never come out).
    #[test]
    fn padded_planes_convert_both_ways() {
        let (q, cells, plane_len) = (3, CELLS_PER_TASK + 5, CELLS_PER_TASK + 12);
        let cell_major: Vec<f64> = (0..q * cells).map(|k| k as f64).collect();
        let mut padded = vec![f64::NAN; q * plane_len];
        let (dm, cm) = (StateLayout::DirectionMajor, StateLayout::CellMajor);
        convert_planes(
            &cell_major,
            (cm, cells),
            &mut padded,
            (dm, plane_len),
            q,
            cells,
        );
        for i in 0..q {
            for cell in 0..plane_len {
                let v = padded[i * plane_len + cell];
                if cell < cells {
                    assert_eq!(v, (cell * q + i) as f64, "plane {i}, cell {cell}");
                } else {
                    assert!(v.is_nan(), "plane {i}: padding {cell} written");
                }
            }
        }
        for (layout, want) in [
            (cm, cell_major.clone()),
            (dm, {
                let mut packed = vec![0.0; q * cells];
                convert(&cell_major, cm, &mut packed, dm, q, cells);
                packed
            }),
        ] {
            let mut out = Vec::new();
            let from = (dm, plane_len);
            convert_planes_out(&padded, from, HostVec::F64(&mut out), layout, q, cells);
            assert_eq!(out, want, "{layout:?}");
        }
    }
}
