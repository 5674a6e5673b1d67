//! The divergence record every engine keeps: the first non-finite population a step
//! writes, encoded so that a minimum over cells and steps names the earliest, and how
//! often a run reads it back.

use crate::error::{LbmError, Result};

/// How often (in steps) a run reads the divergence record back. Engines record the first
/// non-finite population as they write it, so the step reported is exact whatever this is.
pub(crate) const CHECK_EVERY: usize = 32;

/// The divergence record's value while every population written is finite. Engines keep
/// the minimum of [`divergence_code`] over what they write (the CUDA kernels with
/// `atomicMin` on the same encoding), so the record names the first step, then the first
/// cell.
pub(crate) const FINITE: u64 = u64::MAX;

/// The record of a non-finite population written by step `t` at `cell`.
pub(crate) fn divergence_code(t: usize, cell: usize) -> u64 {
    ((t as u64 + 1) << 32) | cell as u64
}

/// The divergence record as a result: `Ok` when nothing was recorded.
pub(crate) fn diverged_error(record: u64) -> Result<()> {
    if record == FINITE {
        return Ok(());
    }
    Err(LbmError::Diverged {
        step: (record >> 32) as usize,
        cell: (record & 0xffff_ffff) as usize,
    })
}

/// Whether the divergence record is read after `done` of `total` steps.
pub(crate) fn divergence_check_due(done: usize, total: usize) -> bool {
    done.is_multiple_of(CHECK_EVERY) || done == total
}
