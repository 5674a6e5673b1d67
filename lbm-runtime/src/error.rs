//! The runtime's error type: every way a simulation or a gradient can be refused, each
//! naming what is wrong.

use crate::codegen::CodegenError;
use crate::nvrtc::NvrtcError;

/// An error from building or running a simulation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LbmError {
    /// An array does not have the length the grid and the lattice require.
    #[error("`{what}` has {got} values, expected {expected} ({why})")]
    ShapeMismatch {
        /// What was passed.
        what: String,
        /// Its length.
        got: usize,
        /// The length required.
        expected: usize,
        /// How the required length comes about.
        why: String,
    },
    /// A value outside the range its parameter declares (or the range of a callee
    /// parameter it is passed to), such as a relaxation rate outside (0, 2).
    #[error(
        "`{op}.{name}` = {value} is outside {range}, the range the operator declares for it \
         (or for a callee parameter it is passed to)"
    )]
    OutOfRange {
        /// The operator.
        op: &'static str,
        /// The parameter's name.
        name: String,
        /// The first value outside.
        value: f64,
        /// The range the operator declares (narrowed by its callees').
        range: crate::operator::Range,
    },
    /// A NaN or an infinity in an input.
    #[error("`{what}` holds a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// What was passed.
        what: String,
        /// The first bad index.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// A NaN or an infinity appeared while running.
    #[error("the populations became non-finite at step {step} (cell {cell}); the run is unstable (lower the velocity or raise the resolution)")]
    Diverged {
        /// The step after which the state was first non-finite.
        step: usize,
        /// The first non-finite cell.
        cell: usize,
    },
    /// An operator parameter with no value.
    #[error("parameter `{param}` of operator `{op}` is not bound; {hint}")]
    Unbound {
        /// The operator.
        op: &'static str,
        /// The parameter.
        param: &'static str,
        /// How to bind it.
        hint: String,
    },
    /// A binding for a parameter the operator does not have, or of the wrong kind.
    #[error("operator `{op}`: {message}")]
    BadBinding {
        /// The operator.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A number of steps that takes the simulation's time past `usize::MAX`.
    #[error("{steps} steps after step {time} overflow the simulation's step counter")]
    StepOverflow {
        /// The simulation's time.
        time: usize,
        /// The steps asked for.
        steps: usize,
    },
    /// A grid that cannot hold a simulation.
    #[error("invalid grid: {0}")]
    BadGrid(String),
    /// A checkpointing request that cannot be served.
    #[error("{0}")]
    Checkpoint(String),
    /// More memory than the machine has (or than the stated limit allows).
    #[error(
        "{what} needs {} but {}; {hint}",
        crate::bytes::format_bytes(*needed),
        match available {
            Some(a) => format!("only {} is available", crate::bytes::format_bytes(*a)),
            None => "the allocation was refused".to_string(),
        }
    )]
    OutOfMemory {
        /// What would have been allocated.
        what: String,
        /// Bytes it needs.
        needed: usize,
        /// Bytes available (device or host, or the stated limit), when known.
        available: Option<usize>,
        /// What would fit instead.
        hint: String,
    },
    /// A loss or gradient that is NaN or infinite although every state was finite.
    #[error("{what} is not finite ({value}); {hint}")]
    NonFiniteResult {
        /// Which result: the loss, the gradient of a named parameter, ...
        what: String,
        /// The first non-finite value.
        value: f64,
        /// Where to look.
        hint: String,
    },
    /// A state file that cannot be written, read or used here.
    #[error("state file {}: {problem}", path.display())]
    StateFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The requested backend cannot run here.
    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),
    /// A CUDA driver call failed.
    #[error("CUDA error: {0}")]
    Cuda(String),
    /// Kernel compilation failed.
    #[error(transparent)]
    Nvrtc(#[from] NvrtcError),
    /// Kernel assembly failed.
    #[error(transparent)]
    Codegen(#[from] CodegenError),
}

/// Result of runtime operations.
pub type Result<T> = std::result::Result<T, LbmError>;

/// Checks that every value is finite.
pub fn check_finite(what: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(LbmError::NonFinite {
            what: what.to_string(),
            index,
            value: values[index],
        }),
    }
}
