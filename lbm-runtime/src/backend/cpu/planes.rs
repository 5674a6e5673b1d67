//! Direction-major buffers, cut into blocks of cells for parallel writes.
//!
//! The CPU backend keeps states direction-major (`[i * plane_len + cell]`: one plane
//! per direction), so that population `i` of consecutive cells is one contiguous run, which
//! a group of cells loads into SIMD lanes in one move. A task that updates a block of
//! cells then writes a slice of every plane; cutting the planes up front hands each task
//! its own slices, with no shared writes and no unsafe code.

/// The first `cells` values of each of the `planes` planes of `plane_len` values in
/// `buf`, cut into blocks of `block` cells: block `b` is
/// `result[b * planes..(b + 1) * planes]`, its slice of each plane in order (the last
/// block may be shorter). The rest of each plane is in no block.
pub(crate) fn cut_into_blocks<R>(
    buf: &mut [R],
    planes: usize,
    (cells, plane_len): (usize, usize),
    block: usize,
) -> Vec<&mut [R]> {
    debug_assert_eq!(buf.len(), planes * plane_len, "a buffer of whole planes");
    debug_assert!(cells <= plane_len, "cells beyond their plane");
    if planes == 0 || cells == 0 {
        return Vec::new();
    }
    let mut per_plane: Vec<_> = buf
        .chunks_mut(plane_len)
        .map(|plane| plane[..cells].chunks_mut(block))
        .collect();
    let blocks = cells.div_ceil(block);
    let mut cut = Vec::with_capacity(blocks * planes);
    for _ in 0..blocks {
        for plane in &mut per_plane {
            cut.extend(plane.next());
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cell's value lands in exactly one block slice, at the cell and plane it
    /// belongs to, and no value past a plane's cells lands in any.
    #[test]
    fn blocks_hold_each_plane_slice_of_their_cells() {
        let (planes, cells, plane_len, block) = (3, 10, 13, 4);
        let mut buf: Vec<usize> = (0..planes * plane_len).collect();
        let cut = cut_into_blocks(&mut buf, planes, (cells, plane_len), block);
        assert_eq!(cut.len(), 3 * planes);
        for (b, slices) in cut.chunks(planes).enumerate() {
            for (j, slice) in slices.iter().enumerate() {
                let first = b * block;
                let want: Vec<usize> = (first..cells.min(first + block))
                    .map(|cell| j * plane_len + cell)
                    .collect();
                assert_eq!(slice.to_vec(), want, "block {b}, plane {j}");
            }
        }
    }

    #[test]
    fn nothing_to_cut() {
        assert!(cut_into_blocks::<f32>(&mut [], 0, (5, 5), 4).is_empty());
        assert!(cut_into_blocks::<f32>(&mut [], 3, (0, 0), 4).is_empty());
    }
}
