//! Register bounds measured on a device: the fastest bound of a kernel, timed by
//! [`super::profile::measure_bounds`], kept on disk beside the kernel cache, and taken by
//! the engine over its rule ([`super::tune`]) whenever it compiles that kernel again.
//!
//! The rule is fitted to sweeps on an H100 and an H200 and cannot see the card it runs
//! on: the same adjoint is fastest at 3 blocks on one and at 2 on the other, and KBC's
//! runs 20% faster at a cap that spills, which no spill rule takes. A record is keyed by
//! the kernel's unbounded source, the device's name and architecture and the NVRTC and
//! driver versions, so a changed kernel, another card or another compiler is a miss and
//! the rule decides again. Each record is a kernel-cache entry (`entry`): a damaged one
//! is removed and ignored.

use std::path::PathBuf;

use super::cache::{cache_dir, toolchain_versions};
use super::driver::Device;
use super::fnv::fnv128;

/// Bumped when what a record means changes.
const FORMAT: &str = "lbm-measured-bound-v1";

/// The key of the records of the kernel `name` whose unbounded module is `source`.
pub(crate) fn key(dev: &Device, name: &str, source: &str) -> u128 {
    fnv128(&[
        FORMAT.as_bytes(),
        name.as_bytes(),
        source.as_bytes(),
        dev.name.as_bytes(),
        format!("{}.{}", dev.arch.0, dev.arch.1).as_bytes(),
        toolchain_versions().as_bytes(),
    ])
}

fn path(key: u128) -> PathBuf {
    cache_dir().join(format!("{key:032x}.bound"))
}

/// The bound recorded for `key`, if any (and if it is intact and in range).
pub(crate) fn recorded(key: u128) -> Option<u32> {
    let payload = super::entry::read(&path(key), key)?;
    let m = u32::from_le_bytes(payload.try_into().ok()?);
    (1..=32).contains(&m).then_some(m)
}

/// Records `min_blocks` for `key` (best effort, as the kernel cache: a record that cannot
/// be written leaves the rule in charge).
pub(crate) fn record(key: u128, min_blocks: u32) {
    super::entry::write(&path(key), key, &min_blocks.to_le_bytes());
}

/// Removes the record of `key`, so the rule decides again.
pub(crate) fn forget(key: u128) {
    let _ = std::fs::remove_file(path(key));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_a_damaged_one_is_ignored() {
        // A key no kernel has: the test touches only its own file.
        let key = fnv128(&[b"measured-bound-test", &std::process::id().to_le_bytes()]);
        assert_eq!(recorded(key), None);
        record(key, 3);
        assert_eq!(recorded(key), Some(3));
        record(key, 2);
        assert_eq!(recorded(key), Some(2), "a new measurement replaces the old");
        // Out of range: written by hand, refused.
        super::super::entry::write(&path(key), key, &40u32.to_le_bytes());
        assert_eq!(recorded(key), None);
        // Truncated: removed on reading.
        record(key, 4);
        let bytes = std::fs::read(path(key)).unwrap();
        std::fs::write(path(key), &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(recorded(key), None);
        assert!(!path(key).exists());
        record(key, 4);
        forget(key);
        assert_eq!(recorded(key), None);
    }
}
