//! Centreline velocities of the lid-driven cavity from Ghia, Ghia and Shin (1982).
//!
//! U. Ghia, K. N. Ghia and C. T. Shin, "High-Re solutions for incompressible flow using the
//! Navier-Stokes equations and a multigrid method", Journal of Computational Physics 48
//! (1982) 387-411: Table I (the horizontal velocity `u` along the vertical line through
//! the cavity's centre) and Table II (the vertical velocity `v` along the horizontal line
//! through it), for Re 100 and Re 1000, computed on a 129 x 129 grid. Coordinates and
//! velocities are scaled by the cavity's side and the lid's speed; the lid is at `y = 1`
//! and moves towards `+x`. The values are typed from the published tables (and checked
//! against several independent transcriptions; Re 1000 has `v = 0.27485` at
//! `x = 0.0625`). The first and last rows are the boundary values.

/// A published centreline: positions and velocities, as in the table (from the lid or the
/// right wall inwards).
#[derive(Clone, Copy, Debug)]
pub struct Centreline {
    /// Positions along the line, scaled by the side.
    pub position: &'static [f64],
    /// Velocities, scaled by the lid speed.
    pub velocity: &'static [f64],
}

/// The two centrelines of one Reynolds number.
#[derive(Clone, Copy, Debug)]
pub struct GhiaData {
    /// The Reynolds number, `U L / nu`.
    pub reynolds: f64,
    /// `u(y)` along the vertical centreline `x = 1/2` (Table I).
    pub u: Centreline,
    /// `v(x)` along the horizontal centreline `y = 1/2` (Table II).
    pub v: Centreline,
}

/// Table I's `y` column (grid points 129 down to 1).
const Y: [f64; 17] = [
    1.0000, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5000, 0.4531, 0.2813, 0.1719,
    0.1016, 0.0703, 0.0625, 0.0547, 0.0000,
];

/// Table II's `x` column (grid points 129 down to 1).
const X: [f64; 17] = [
    1.0000, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5000, 0.2344, 0.2266, 0.1563,
    0.0938, 0.0781, 0.0703, 0.0625, 0.0000,
];

/// Re 100.
pub const RE_100: GhiaData = GhiaData {
    reynolds: 100.0,
    u: Centreline {
        position: &Y,
        velocity: &[
            1.00000, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581,
            -0.21090, -0.15662, -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.00000,
        ],
    },
    v: Centreline {
        position: &X,
        velocity: &[
            0.00000, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454,
            0.17527, 0.17507, 0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.00000,
        ],
    },
};

/// Re 1000.
pub const RE_1000: GhiaData = GhiaData {
    reynolds: 1000.0,
    u: Centreline {
        position: &Y,
        velocity: &[
            1.00000, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702, -0.06080,
            -0.10648, -0.27805, -0.38289, -0.29730, -0.22220, -0.20196, -0.18109, 0.00000,
        ],
    },
    v: Centreline {
        position: &X,
        velocity: &[
            0.00000, -0.21388, -0.27669, -0.33714, -0.39188, -0.51550, -0.42665, -0.31966, 0.02526,
            0.32235, 0.33075, 0.37095, 0.32627, 0.30353, 0.29012, 0.27485, 0.00000,
        ],
    },
};

/// The table of a Reynolds number, if Ghia et al. give one here (100 or 1000).
pub fn table(reynolds: f64) -> Option<GhiaData> {
    [RE_100, RE_1000]
        .into_iter()
        .find(|t| (t.reynolds - reynolds).abs() < 1e-9)
}
