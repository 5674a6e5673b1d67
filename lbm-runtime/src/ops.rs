//! The standard operator library.

use crate::OperatorInfo;

/// Every library operator, for listing and for whole-library checks.
pub static ALL: &[&OperatorInfo] = &[];
