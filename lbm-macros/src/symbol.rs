//! Names the operator language gives a meaning to.

/// Parameter attribute: a differentiable parameter uniform over the grid.
pub const PARAM: &str = "param";
/// Parameter attribute: a real value that is not differentiated.
pub const DATA: &str = "data";
/// Parameter attribute: the populations the operator acts on (streamed ones in a step,
/// the cell's state in an objective).
pub const POPULATIONS: &str = "populations";
/// Parameter attribute: the cell's own populations before streaming.
pub const LOCAL: &str = "local";
/// Parameter attribute: the far neighbour's populations.
pub const FAR: &str = "far";
/// Parameter attribute: the mask of directions with a solid upstream cell.
pub const LINKS: &str = "links";
/// Parameter attribute: the interval of values a real parameter accepts.
pub const RANGE: &str = "range";
/// Macro argument: print the IR, the adjoint and the C at compile time.
pub const DEBUG: &str = "debug";
/// Macro argument: the CPU's lane adjoint unrolls every loop, not only those over `D`.
pub const UNROLL_ADJOINT: &str = "unroll_adjoint";

/// The real type of the language.
pub const REAL: &str = "Real";
/// Lattice constants.
pub const Q: &str = "Q";
pub const D: &str = "D";
pub const C: &str = "C";
pub const W: &str = "W";
pub const OPP: &str = "OPP";
pub const CS2: &str = "CS2";

/// Types and functions that allocate on the heap, named in errors.
pub const HEAP: &[&str] = &[
    "Vec", "Box", "String", "Rc", "Arc", "HashMap", "BTreeMap", "VecDeque",
];
