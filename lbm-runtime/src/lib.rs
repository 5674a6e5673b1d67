//! `lbm-runtime`: the crate a user of the differentiable lattice Boltzmann engine depends on.
//!
//! It holds the lattices, the real-number abstraction shared by the generated Rust forms,
//! the metadata every `#[operator]` exports ([`OperatorInfo`]), the assembly of generated
//! CUDA C into self-contained compilation units, NVRTC compilation, and the standard
//! operator library ([`ops`]).
//!
//! The CUDA backend and NVRTC come with the `cuda` feature, on by default. Without it the
//! crate builds without cudarc and runs on the CPU: [`Backend::Cuda`] is then refused with
//! [`LbmError::BackendUnavailable`], and [`Backend::from_env`] picks the CPU.

// The `#[operator]` macro emits absolute `::lbm_runtime::...` paths; this alias makes
// those paths resolve inside this crate too, where the standard library operators live.
extern crate self as lbm_runtime;

pub mod backend;
pub mod bind;
mod bytes;
pub mod checkpoint;
pub mod codegen;
#[cfg(feature = "cuda")]
pub mod cuda;
// Without the `cuda` feature (no cudarc), a stand-in keeps `cuda::check_available`, which
// names the missing feature, so callers that probe for a GPU need no cfg of their own.
#[cfg(not(feature = "cuda"))]
#[path = "cuda_stub.rs"]
pub mod cuda;
pub mod devices;
pub mod error;
pub mod gradients;
pub mod grid;
pub mod lanes;
pub mod lattice;
pub mod memory;
pub mod nvrtc;
pub mod operator;
pub mod progress;
pub mod real;
pub mod simulation;
pub mod spill;
pub mod state_file;
pub mod storage;
pub mod streaming;
pub mod tape;
pub mod unroll;

pub mod ops;

/// Timings of the CPU backend's steps, for benchmarks.
pub use backend::cpu::profile as cpu_profile;
pub use backend::host::{StateLayout, StateReal, Transfers};
pub use backend::plan::Limits;
pub use bind::{Objective, Source, Step};
pub use checkpoint::{Budget, Checkpointing};
pub use devices::Devices;
pub use error::{LbmError, Result};
pub use gradients::{GradValue, Gradients, ParamGradient, RunReport};
pub use grid::Grid;
pub use lattice::{Lattice, LatticeKind, D2Q9, D3Q19, D3Q27};
pub use lbm_macros::operator;
pub use operator::{OperatorInfo, ParamInfo, ParamKind, ParamRole, Range, Shape};
pub use progress::{Progress, ProgressObserver, Sweep};
pub use real::{Precision, Real};
pub use simulation::{
    equilibrium_gradient, equilibrium_state, macroscopic_fields, AdjointPrecision, Backend,
    Simulation,
};
pub use storage::Storage;
pub use streaming::Streaming;
