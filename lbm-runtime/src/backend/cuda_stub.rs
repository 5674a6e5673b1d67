//! The CUDA sessions' stand-in in a build without the `cuda` feature: asking for one is
//! refused with the reason, as a machine without a GPU refuses it.

use super::Session;
use crate::bind::Bound;
use crate::error::Result;
use crate::grid::Grid;
use crate::real::Precision;
use crate::storage::Storage;
use crate::streaming::Streaming;

/// Never a session: the error names the missing `cuda` feature.
pub(crate) fn session(
    _grid: &Grid,
    _step: &Bound,
    _compute: Precision,
    _numbers: (Precision, Storage),
    _streaming: Streaming,
) -> Result<Box<dyn Session>> {
    Err(crate::cuda::missing_feature())
}

/// Never a session: the error names the missing `cuda` feature.
pub(crate) fn split_session(
    _grid: &Grid,
    _step: &Bound,
    _compute: Precision,
    _storage: Precision,
    _devices: crate::Devices,
) -> Result<Box<dyn Session>> {
    Err(crate::cuda::missing_feature())
}
