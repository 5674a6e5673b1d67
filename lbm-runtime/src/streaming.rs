//! How a step's streaming uses memory: two states, or one state updated in place with
//! the AA pattern.
//!
//! With two states, a step reads one and writes the other, and the state always holds the
//! populations leaving each cell (post-collision, before streaming): `natural[x][i]`.
//!
//! The AA pattern (Bailey et al., 2009) keeps one state and alternates between two
//! layouts. Before an even step, slot `(x, i)` holds what cell `x` pulls in direction `i`,
//! `natural[x - c_i][i]`; an even step reads its populations from its own cell and writes
//! the results back there, in the opposite slots: `A[x][opp i] = out_i`. Before an odd
//! step, `A[x][opp i] = natural[x][i]`; an odd step pulls from its neighbours' opposite
//! slots and writes each result where the cell it moves to will pull it from,
//! `A[x + c_i][i]`. Either way each cell writes exactly the slots it read, so a step can
//! run in place with no other state: a simulation needs half the memory. The arithmetic
//! is the same as with two states, so the numbers are too, bit for bit.
//!
//! In place, a cell must read no slot that another cell writes: a step may read its
//! pulled and far populations, not its own unstreamed (`#[local]`) or a neighbour's
//! populations. Such steps are refused with [`Streaming::InPlace`].

/// How a simulation's step streams populations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Streaming {
    /// Two states: each step reads one and writes the other.
    #[default]
    TwoStates,
    /// One state, updated in place with the AA pattern: half the memory of a running
    /// simulation, the same numbers. Gradients work as with two states (their snapshots
    /// and adjoint states are whole states either way).
    InPlace,
}

impl Streaming {
    /// The name used on command lines and in reports (`two-states`, `in-place`).
    pub fn name(self) -> &'static str {
        match self {
            Streaming::TwoStates => "two-states",
            Streaming::InPlace => "in-place",
        }
    }
}

impl std::fmt::Display for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Streaming {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "two-states" => Ok(Streaming::TwoStates),
            "in-place" => Ok(Streaming::InPlace),
            other => Err(format!(
                "unknown streaming `{other}`: expected two-states or in-place"
            )),
        }
    }
}

/// Where a state keeps the population `natural[x + offset][i]`. (The kernels' concern:
/// without the `cuda` feature only the tests use it.)
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Addressing {
    /// Two states: where it is.
    Natural,
    /// The AA pattern before an even step: `natural[y][i]` at `A[y + c_i][i]`.
    AaEven,
    /// The AA pattern before an odd step: `natural[y][i]` at `A[y][opp i]`.
    AaOdd,
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
impl Addressing {
    /// The addressing of the state a step writes when it reads `self`.
    pub fn after(self) -> Addressing {
        match self {
            Addressing::Natural => Addressing::Natural,
            Addressing::AaEven => Addressing::AaOdd,
            Addressing::AaOdd => Addressing::AaEven,
        }
    }

    /// The slot `(direction, cell offset)` holding `natural[x + offset][i]`, on a lattice
    /// with velocities `c` and opposites `opp`.
    pub fn locate(
        self,
        i: usize,
        offset: [i32; 3],
        c: impl Fn(usize) -> [i32; 3],
        opp: impl Fn(usize) -> usize,
    ) -> (usize, [i32; 3]) {
        match self {
            Addressing::Natural => (i, offset),
            Addressing::AaEven => {
                let ci = c(i);
                (i, [offset[0] + ci[0], offset[1] + ci[1], offset[2] + ci[2]])
            }
            Addressing::AaOdd => (opp(i), offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::LatticeKind;

    /// Every slot a cell reads in an AA step (its pulled and far populations) is one it
    /// writes, and no two cells write the same slot: the in-place step has no race.
    #[test]
    fn an_aa_step_writes_exactly_the_slots_it_reads() {
        for lattice in LatticeKind::ALL {
            let (q, c, opp) = (lattice.q(), |i| lattice.c(i), |i| lattice.opp(i));
            for before in [Addressing::AaEven, Addressing::AaOdd] {
                let mut read = Vec::new();
                let mut written = Vec::new();
                for i in 0..q {
                    let ci = c(i);
                    // Pulled, far, and the result.
                    read.push(before.locate(i, [-ci[0], -ci[1], -ci[2]], c, opp));
                    read.push(before.locate(opp(i), ci, c, opp));
                    written.push(before.after().locate(i, [0; 3], c, opp));
                }
                read.sort_unstable();
                read.dedup();
                written.sort_unstable();
                assert_eq!(
                    written.len(),
                    q,
                    "{lattice} {before:?}: a slot written twice"
                );
                assert_eq!(read, written, "{lattice} {before:?}");
            }
        }
    }

    #[test]
    fn layouts_alternate_with_the_step() {
        assert_eq!(Addressing::AaEven.after(), Addressing::AaOdd);
        assert_eq!(Addressing::AaOdd.after(), Addressing::AaEven);
        assert_eq!(Addressing::Natural.after(), Addressing::Natural);
    }
}
