//! Operators and helpers shared by the example programs.
//!
//! [`shear_thinning_bgk`] shows how a user defines a collision model of their own: an
//! annotated function in this crate, calling library operators from `lbm-runtime`, gets a
//! forward and an adjoint on the CPU and in CUDA C like any library operator.
//!
//! [`output`] writes what a program shows a person (field images, loss curves, VTK files);
//! [`optim`] holds the optimisers of the inverse problems (Adam and a bound-constrained
//! L-BFGS over a flat parameter vector); [`progress`] the bars over iterations and over
//! the steps of long simulation calls; [`logging`] shows the runtime's notices.

/// The README's tour, compiled and run by `cargo test` so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeTour;

pub mod inverse;
pub mod logging;
pub mod optim;
pub mod output;
pub mod progress;
pub mod scaling;
pub mod validation;

use lbm_runtime::operator;
use lbm_runtime::ops::{density_velocity, equilibrium};

/// BGK whose relaxation rate falls with the local speed, a toy shear-thinning fluid:
/// `omega_eff = omega / (1 + k |u|^2)`.
#[operator]
pub fn shear_thinning_bgk(
    #[populations] f: [Real; Q],
    #[param]
    #[range("(0, 2)")]
    omega: Real,
    #[param]
    #[range("[0, inf)")]
    k: Real,
) -> [Real; Q] {
    let (rho, u) = density_velocity(f);
    let feq = equilibrium(rho, u);
    let mut usq = 0.0;
    for a in 0..D {
        usq += u[a] * u[a];
    }
    let omega_eff = omega / (1.0 + k * usq);
    let mut out = [0.0; Q];
    for i in 0..Q {
        out[i] = f[i] - omega_eff * (f[i] - feq[i]);
    }
    out
}

/// A decaying shear wave on a periodic grid: `u_x = amplitude * sin(2 pi y / ny)`.
pub fn shear_wave(grid: &lbm_runtime::Grid, amplitude: f64) -> lbm_runtime::Result<Vec<f64>> {
    let [_, ny, _] = grid.dims();
    let d = grid.lattice().d();
    let mut u = vec![0.0; grid.cells() * d];
    for cell in 0..grid.cells() {
        let y = grid.coords(cell)[1] as f64;
        u[cell * d] = amplitude * (2.0 * std::f64::consts::PI * y / ny as f64).sin();
    }
    lbm_runtime::equilibrium_state(grid, &vec![1.0; grid.cells()], &u)
}
