//! Names the operator language gives a meaning to.

/// Parameter attribute: a differentiable parameter uniform over the grid.
pub const PARAM: &str = "param";
/// Parameter attribute: a real value that is not differentiated.
pub const DATA: &str = "data";
/// Macro argument: print the IR, the adjoint and the C at compile time.
pub const DEBUG: &str = "debug";

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
