//! Where a kernel's thread is: its cell, its coordinates and its neighbours' indices.

use std::fmt::Write as _;

use crate::cuda::layout::axis_suffix;
use crate::lattice::LatticeKind;
use crate::streaming::Addressing;

/// Cell index, coordinates and the wrapped neighbour coordinates. Defines `n`, `n64`,
/// `cell`, `active`, and `x?`, `y?`, `z?` (`?` in `m0p`), `y?`/`z?` already scaled to
/// row and plane offsets. Which cells are `active` is `cells`'s to say.
///
/// The grid's dimensions are compile-time constants (a module is built for one grid):
/// divisions by them become multiplications and every `i * n` offset a literal. The
/// launch still passes them (as `lbm_n?`, unused), so the launch code is the same for
/// every grid.
pub(super) fn coords(d: usize, dims: [u32; 3], cells: Cells) -> String {
    let [nx, ny, nz] = dims;
    let mut s = format!(
        "    (void)lbm_nx; (void)lbm_ny; (void)lbm_nz;\n\
         \x20   const unsigned nx = {nx}u, ny = {ny}u, nz = {nz}u;\n"
    );
    s.push_str(
        "    const unsigned n = nx * ny * nz;\n\
         \x20   const lbm_u64 n64 = n;\n",
    );
    let full = [0, nx * ny * nz];
    match cells {
        Cells::Launched => s.push_str(
            "    const unsigned cell = lbm_first + blockIdx.x * LBM_BLOCK + threadIdx.x;\n\
             \x20   const bool active = cell < lbm_end;\n",
        ),
        // A part of a split domain: its halo cells are neither stepped nor differentiated.
        Cells::Within([first, end]) if [first, end] != full => {
            let _ = writeln!(
                s,
                "    const unsigned cell = blockIdx.x * LBM_BLOCK + threadIdx.x;\n\
                 \x20   const bool active = cell >= {first}u && cell < {end}u;"
            );
        }
        Cells::Within(_) | Cells::All => s.push_str(
            "    const unsigned cell = blockIdx.x * LBM_BLOCK + threadIdx.x;\n\
             \x20   const bool active = cell < n;\n",
        ),
    }
    s.push_str(&coordinates_of(d, "cell"));
    s
}

/// The coordinates of the cell `cell` (an expression) and its wrapped neighbours', as
/// [`coords`] defines them.
fn coordinates_of(d: usize, cell: &str) -> String {
    let mut s = format!(
        "    const unsigned x = active ? {cell} % nx : 0u;\n\
         \x20   const unsigned y = active ? ({cell} / nx) % ny : 0u;\n\
         \x20   const unsigned xm = x == 0u ? nx - 1u : x - 1u, x0 = x, xp = x + 1u == nx ? 0u : x + 1u;\n\
         \x20   const unsigned ym = (y == 0u ? ny - 1u : y - 1u) * nx, y0 = y * nx,\n\
         \x20       yp = (y + 1u == ny ? 0u : y + 1u) * nx;\n",
    );
    if d == 3 {
        let _ = write!(
            s,
            "    const unsigned nxy = nx * ny;\n\
             \x20   const unsigned z = active ? {cell} / nxy : 0u;\n\
             \x20   const unsigned zm = (z == 0u ? nz - 1u : z - 1u) * nxy, z0 = z * nxy,\n\
             \x20       zp = (z + 1u == nz ? 0u : z + 1u) * nxy;\n",
        );
    }
    s.push_str("    (void)xm; (void)x0; (void)xp; (void)ym; (void)y0; (void)yp;\n");
    if d == 3 {
        s.push_str("    (void)zm; (void)z0; (void)zp;\n");
    }
    s
}

/// Opens a block in which the coordinates of [`coords`] are computed again, from a copy
/// of `cell` the compiler cannot see through. A kernel that writes to its neighbours'
/// slots after a long computation (the adjoint's scatter) would otherwise keep the
/// addresses of its gather, one 64-bit address per direction, alive across the whole
/// computation: measured with ptxas on the D3Q19 BGK adjoint, 139 registers against 96
/// with the indices computed again (a dozen integer instructions), and 184 bytes of
/// spills against none when capped for three blocks a multiprocessor. Close it with `}`.
pub(super) fn recomputed_coords(d: usize) -> String {
    let mut s = String::from(
        "    {\n\
         \x20   unsigned lbm_cell_again = cell;\n\
         \x20   asm volatile(\"\" : \"+r\"(lbm_cell_again));\n",
    );
    s.push_str(&coordinates_of(d, "lbm_cell_again"));
    s
}

/// The cells a kernel's threads step.
#[derive(Clone, Copy)]
pub(super) enum Cells {
    /// Every cell of the grid, one thread each.
    All,
    /// The cells `[first, end)` (compiled in) of a launch over the whole grid.
    Within([u32; 2]),
    /// The cells `[lbm_first, lbm_end)`, kernel parameters, one thread each from the
    /// launch's first: a launch may step any run of cells (the forward of a split
    /// domain's part steps the layers next to its halos apart from the rest).
    Launched,
}

/// The index of the cell at `offset` from the current one.
pub(super) fn neighbour(d: usize, offset: [i32; 3]) -> String {
    let mut s = format!("x{} + y{}", axis_suffix(offset[0]), axis_suffix(offset[1]));
    if d == 3 {
        let _ = write!(s, " + z{}", axis_suffix(offset[2]));
    }
    s
}

/// The index of the cell at an arbitrary `offset` from the current one, wrapped.
pub(super) fn far_neighbour(d: usize, o: [i32; 3]) -> String {
    let mut s = format!("lbm_wrap(x, {}, nx) + nx * lbm_wrap(y, {}, ny)", o[0], o[1]);
    if d == 3 {
        let _ = write!(s, " + nx * ny * lbm_wrap(z, {}, nz)", o[2]);
    }
    s
}

/// The index, in a state laid out as `addressing` says, of `natural[x + offset][i]`
/// (the population of the cell at `offset` from this thread's leaving in direction `i`).
pub(super) fn population_at(
    lattice: LatticeKind,
    addressing: Addressing,
    i: usize,
    offset: [i32; 3],
) -> String {
    let (dir, at) = addressing.locate(i, offset, |j| lattice.c(j), |j| lattice.opp(j));
    let d = lattice.d();
    let cell = if at == [0, 0, 0] {
        "cell".to_string()
    } else if at.iter().all(|a| a.abs() <= 1) {
        neighbour(d, at)
    } else {
        far_neighbour(d, at)
    };
    format!("{dir}ull * n64 + ({cell})")
}
