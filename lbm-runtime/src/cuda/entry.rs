//! The file format of one kernel-cache entry: a header that says what the entry is and
//! lets a reader prove the payload intact before the driver sees it.
//!
//! `magic (8) | format version (u32) | cache key (u128) | payload length (u64) |
//! payload hash (u128) | payload`, little-endian. A file that fails any check (another
//! format, another key, a truncated or altered payload) is a miss: the caller removes it
//! and compiles again, so a damaged cache never fails a run twice. No GPU is needed to
//! exercise any of this.

use std::path::Path;

/// The first bytes of every entry.
const MAGIC: &[u8; 8] = b"LBMKRNL\0";
/// Bumped whenever the header or the meaning of a payload changes.
pub(crate) const ENTRY_VERSION: u32 = 2;
/// Bytes before the payload.
const HEADER: usize = 8 + 4 + 16 + 8 + 16;

/// Why an entry was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Shorter than a header, or not starting with the magic bytes.
    NotAnEntry,
    /// Written by another version of this format.
    Version(u32),
    /// The entry of another module (a hash collision of names, or a renamed file).
    Key,
    /// The payload is not as long as the header says (a truncated write).
    Length,
    /// The payload's bytes changed.
    Hash,
}

/// An entry holding `payload` for `key`.
pub(crate) fn encode(key: u128, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&ENTRY_VERSION.to_le_bytes());
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&super::fnv::fnv128(&[payload]).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of an entry for `key`, if every check passes.
pub(crate) fn decode(bytes: &[u8], key: u128) -> Result<&[u8], Fault> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(Fault::NotAnEntry);
    }
    let field = |at: usize, len: usize| &bytes[at..at + len];
    let version = u32::from_le_bytes(field(8, 4).try_into().expect("4 bytes"));
    if version != ENTRY_VERSION {
        return Err(Fault::Version(version));
    }
    if u128::from_le_bytes(field(12, 16).try_into().expect("16 bytes")) != key {
        return Err(Fault::Key);
    }
    let len = u64::from_le_bytes(field(28, 8).try_into().expect("8 bytes"));
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != len {
        return Err(Fault::Length);
    }
    let hash = u128::from_le_bytes(field(36, 16).try_into().expect("16 bytes"));
    if super::fnv::fnv128(&[payload]) != hash {
        return Err(Fault::Hash);
    }
    Ok(payload)
}

/// The payload stored at `path` for `key`, or `None`; a file that is there but fails a
/// check is removed, so the caller's rebuild replaces it.
pub(crate) fn read(path: &Path, key: u128) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    match decode(&bytes, key) {
        Ok(payload) => Some(payload.to_vec()),
        Err(_) => {
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Stores `payload` for `key` at `path` through a temporary file renamed into place, so a
/// reader never sees half an entry. Best effort: a cache that cannot be written only
/// costs a compilation next time, and the run goes on.
pub(crate) fn write(path: &Path, key: u128, payload: &[u8]) {
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    if std::fs::write(&tmp, encode(key, payload)).is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: u128 = 0x1234_5678_9abc_def0_0fed_cba9_8765_4321;

    #[test]
    fn an_entry_round_trips() {
        let payload = b"\x7fELF cubin bytes";
        assert_eq!(decode(&encode(KEY, payload), KEY), Ok(&payload[..]));
        assert_eq!(decode(&encode(KEY, b""), KEY), Ok(&b""[..]));
    }

    #[test]
    fn damaged_entries_are_refused_for_what_is_wrong() {
        let good = encode(KEY, b".version 8.0\n.target sm_90\n");
        // Truncated: the write stopped early.
        assert_eq!(decode(&good[..good.len() - 3], KEY), Err(Fault::Length));
        assert_eq!(decode(&good[..10], KEY), Err(Fault::NotAnEntry));
        // One byte of the payload changed, e.g. to a NUL.
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() = 0;
        assert_eq!(decode(&flipped, KEY), Err(Fault::Hash));
        // Another version of the format, another module, not an entry at all.
        let mut old = good.clone();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(decode(&old, KEY), Err(Fault::Version(1)));
        assert_eq!(decode(&good, KEY + 1), Err(Fault::Key));
        assert_eq!(
            decode(b"//\n// Generated by NVIDIA NVVM Compiler\n", KEY),
            Err(Fault::NotAnEntry)
        );
    }

    #[test]
    fn a_bad_file_is_removed_and_a_good_one_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.cubin");
        write(&path, KEY, b"payload");
        assert_eq!(read(&path, KEY).as_deref(), Some(&b"payload"[..]));
        // A truncated file (the old format's failure: a short cubin passed on) is a miss
        // and is gone afterwards, so the rebuild's entry replaces it.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(read(&path, KEY), None);
        assert!(!path.exists());
        // An unwritable cache folder is not an error.
        write(Path::new("/proc/no/such/dir/k.cubin"), KEY, b"x");
    }
}
