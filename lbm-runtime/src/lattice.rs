//! Velocity sets: D2Q9, D3Q19 and D3Q27.
//!
//! Operators are written once for any lattice; the generated Rust forms take the lattice as
//! a type implementing [`Lattice`], and the generated C reads the same constants from the
//! prelude that [`LatticeKind`] describes. Directions come in opposite pairs after the rest
//! direction (`OPP[2k+1] == 2k+2`), which keeps bounce-back tables readable.

/// A discrete velocity set with `D` dimensions and `Q` directions.
///
/// The associated constants are the operator language's lattice constants `C`, `W`, `OPP`
/// and `CS2`; `D` and `Q` are the trait's const parameters.
pub trait Lattice<const D: usize, const Q: usize>: Copy + Send + Sync + 'static {
    /// The run-time description of this lattice.
    const KIND: LatticeKind;
    /// Integer lattice velocities `c_i`.
    const C: [[i32; D]; Q];
    /// Quadrature weights `w_i`, summing to one.
    const W: [f64; Q];
    /// Index of the direction opposite to each direction.
    const OPP: [usize; Q];
    /// Squared lattice speed of sound.
    const CS2: f64 = 1.0 / 3.0;
}

/// The velocities `c_i` of `L` as reals, `C[i][a]` of the operator language.
pub fn real_velocities<L: Lattice<D, Q>, const D: usize, const Q: usize>() -> [[f64; D]; Q] {
    L::C.map(|c| c.map(f64::from))
}

/// The D2Q9 lattice.
#[derive(Clone, Copy, Debug, Default)]
pub struct D2Q9;
/// The D3Q19 lattice.
#[derive(Clone, Copy, Debug, Default)]
pub struct D3Q19;
/// The D3Q27 lattice.
#[derive(Clone, Copy, Debug, Default)]
pub struct D3Q27;

const W9_0: f64 = 4.0 / 9.0;
const W9_1: f64 = 1.0 / 9.0;
const W9_2: f64 = 1.0 / 36.0;

impl Lattice<2, 9> for D2Q9 {
    const KIND: LatticeKind = LatticeKind::D2Q9;
    const C: [[i32; 2]; 9] = [
        [0, 0],
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
        [1, 1],
        [-1, -1],
        [1, -1],
        [-1, 1],
    ];
    const W: [f64; 9] = [W9_0, W9_1, W9_1, W9_1, W9_1, W9_2, W9_2, W9_2, W9_2];
    const OPP: [usize; 9] = [0, 2, 1, 4, 3, 6, 5, 8, 7];
}

const C3: [[i32; 3]; 27] = [
    [0, 0, 0],
    [1, 0, 0],
    [-1, 0, 0],
    [0, 1, 0],
    [0, -1, 0],
    [0, 0, 1],
    [0, 0, -1],
    [1, 1, 0],
    [-1, -1, 0],
    [1, -1, 0],
    [-1, 1, 0],
    [1, 0, 1],
    [-1, 0, -1],
    [1, 0, -1],
    [-1, 0, 1],
    [0, 1, 1],
    [0, -1, -1],
    [0, 1, -1],
    [0, -1, 1],
    [1, 1, 1],
    [-1, -1, -1],
    [1, 1, -1],
    [-1, -1, 1],
    [1, -1, 1],
    [-1, 1, -1],
    [-1, 1, 1],
    [1, -1, -1],
];

/// Opposite directions of the paired ordering: rest stays, then 1<->2, 3<->4, ...
const fn paired_opposites<const Q: usize>() -> [usize; Q] {
    let mut opp = [0; Q];
    let mut i = 1;
    while i < Q {
        opp[i] = i + 1;
        opp[i + 1] = i;
        i += 2;
    }
    opp
}

const fn first_velocities<const Q: usize>() -> [[i32; 3]; Q] {
    let mut c = [[0; 3]; Q];
    let mut i = 0;
    while i < Q {
        c[i] = C3[i];
        i += 1;
    }
    c
}

/// Weights of a 3D lattice by the squared length of each velocity.
const fn weights_3d<const Q: usize>(by_norm2: [f64; 4]) -> [f64; Q] {
    let mut w = [0.0; Q];
    let mut i = 0;
    while i < Q {
        let c = C3[i];
        let n2 = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]) as usize;
        w[i] = by_norm2[n2];
        i += 1;
    }
    w
}

impl Lattice<3, 19> for D3Q19 {
    const KIND: LatticeKind = LatticeKind::D3Q19;
    const C: [[i32; 3]; 19] = first_velocities::<19>();
    const W: [f64; 19] = weights_3d::<19>([1.0 / 3.0, 1.0 / 18.0, 1.0 / 36.0, 0.0]);
    const OPP: [usize; 19] = paired_opposites::<19>();
}

impl Lattice<3, 27> for D3Q27 {
    const KIND: LatticeKind = LatticeKind::D3Q27;
    const C: [[i32; 3]; 27] = C3;
    const W: [f64; 27] = weights_3d::<27>([8.0 / 27.0, 2.0 / 27.0, 1.0 / 54.0, 1.0 / 216.0]);
    const OPP: [usize; 27] = paired_opposites::<27>();
}

/// A lattice chosen at run time; gives the same constants as the [`Lattice`] types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LatticeKind {
    /// Two dimensions, nine velocities.
    D2Q9,
    /// Three dimensions, nineteen velocities.
    D3Q19,
    /// Three dimensions, twenty-seven velocities.
    D3Q27,
}

impl LatticeKind {
    /// Every supported lattice.
    pub const ALL: [LatticeKind; 3] = [LatticeKind::D2Q9, LatticeKind::D3Q19, LatticeKind::D3Q27];

    /// Lower-case name (`d2q9`, `d3q19`, `d3q27`).
    pub fn name(self) -> &'static str {
        match self {
            LatticeKind::D2Q9 => "d2q9",
            LatticeKind::D3Q19 => "d3q19",
            LatticeKind::D3Q27 => "d3q27",
        }
    }

    /// Number of spatial dimensions.
    pub fn d(self) -> usize {
        match self {
            LatticeKind::D2Q9 => 2,
            LatticeKind::D3Q19 | LatticeKind::D3Q27 => 3,
        }
    }

    /// Number of discrete velocities.
    pub fn q(self) -> usize {
        match self {
            LatticeKind::D2Q9 => 9,
            LatticeKind::D3Q19 => 19,
            LatticeKind::D3Q27 => 27,
        }
    }

    /// Velocity `i`, padded with zeros to three components.
    pub fn c(self, i: usize) -> [i32; 3] {
        match self {
            LatticeKind::D2Q9 => {
                let [x, y] = D2Q9::C[i];
                [x, y, 0]
            }
            LatticeKind::D3Q19 => D3Q19::C[i],
            LatticeKind::D3Q27 => D3Q27::C[i],
        }
    }

    /// Weight of velocity `i`.
    pub fn w(self, i: usize) -> f64 {
        match self {
            LatticeKind::D2Q9 => D2Q9::W[i],
            LatticeKind::D3Q19 => D3Q19::W[i],
            LatticeKind::D3Q27 => D3Q27::W[i],
        }
    }

    /// Direction opposite to `i`.
    pub fn opp(self, i: usize) -> usize {
        match self {
            LatticeKind::D2Q9 => D2Q9::OPP[i],
            LatticeKind::D3Q19 => D3Q19::OPP[i],
            LatticeKind::D3Q27 => D3Q27::OPP[i],
        }
    }

    /// Squared lattice speed of sound.
    pub fn cs2(self) -> f64 {
        1.0 / 3.0
    }
}

impl std::str::FromStr for LatticeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LatticeKind::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown lattice `{s}`: expected d2q9, d3q19 or d3q27"))
    }
}

impl std::fmt::Display for LatticeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the isotropy conditions a second-order LBM lattice must satisfy.
    fn check(l: LatticeKind) {
        let (d, q) = (l.d(), l.q());
        let sum_w: f64 = (0..q).map(|i| l.w(i)).sum();
        assert!((sum_w - 1.0).abs() < 1e-15, "{l}: weights sum to {sum_w}");
        for a in 0..d {
            let first: f64 = (0..q).map(|i| l.w(i) * l.c(i)[a] as f64).sum();
            assert!(first.abs() < 1e-15);
            for b in 0..d {
                let second: f64 = (0..q)
                    .map(|i| l.w(i) * (l.c(i)[a] * l.c(i)[b]) as f64)
                    .sum();
                let expect = if a == b { l.cs2() } else { 0.0 };
                assert!((second - expect).abs() < 1e-15, "{l}: second moment {a}{b}");
            }
        }
        for i in 0..q {
            let o = l.opp(i);
            assert_eq!(l.opp(o), i);
            for a in 0..3 {
                assert_eq!(l.c(o)[a], -l.c(i)[a], "{l}: opposite of {i}");
            }
        }
    }

    #[test]
    fn lattices_are_isotropic_and_paired() {
        for l in LatticeKind::ALL {
            check(l);
        }
    }
}
