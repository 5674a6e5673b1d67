//! Snapshots on disk: the third tier of a backward run's memory, after the backend's and
//! the host's, for horizons whose snapshots fit neither.
//!
//! A snapshot spilled to disk is one unnamed temporary file in the spill folder
//! (`$LBM_SPILL_DIR`, else the system's temporary folder): the operating system removes
//! it when the run drops it, or when the process ends however it ends, so a killed run
//! leaves nothing behind. Files hold the engine's host copy of a state byte for byte
//! (native endianness: they never outlive the process that wrote them).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{LbmError, Result};

/// The folder spilled snapshots go to: `$LBM_SPILL_DIR`, else the system's temporary
/// folder (`$TMPDIR` on Unix).
pub fn spill_dir() -> PathBuf {
    match std::env::var_os("LBM_SPILL_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir(),
    }
}

/// A host copy of a state that can go to a file and come back bit for bit.
pub(crate) trait SpillBytes: Sized {
    /// Writes the value's bytes.
    fn write_bytes(&self, out: &mut dyn Write) -> std::io::Result<()>;
    /// Reads back a value written by [`SpillBytes::write_bytes`] from `len` elements.
    fn read_bytes(input: &mut dyn Read, len: usize) -> std::io::Result<Self>;
    /// Elements in the value, as [`SpillBytes::read_bytes`] needs them.
    fn elements(&self) -> usize;
}

impl<T: bytemuck::Pod> SpillBytes for Vec<T> {
    fn write_bytes(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(bytemuck::cast_slice(self))
    }

    fn read_bytes(input: &mut dyn Read, len: usize) -> std::io::Result<Self> {
        let mut values = vec![T::zeroed(); len];
        input.read_exact(bytemuck::cast_slice_mut(&mut values))?;
        Ok(values)
    }

    fn elements(&self) -> usize {
        self.len()
    }
}

/// One snapshot in a temporary file.
pub(crate) struct SpillFile {
    file: File,
    elements: usize,
    /// Where it is, for messages.
    dir: PathBuf,
}

fn spill_error(dir: &Path, what: &str, e: std::io::Error) -> LbmError {
    LbmError::Checkpoint(format!(
        "{what} a snapshot in the spill folder {}: {e}; point LBM_SPILL_DIR at a folder with \
         room, or give the run more memory",
        dir.display()
    ))
}

impl SpillFile {
    /// Writes `host` to a new temporary file in the spill folder.
    pub fn write<H: SpillBytes>(host: &H) -> Result<SpillFile> {
        SpillFile::write_in(spill_dir(), host)
    }

    fn write_in<H: SpillBytes>(dir: PathBuf, host: &H) -> Result<SpillFile> {
        let file =
            tempfile::tempfile_in(&dir).map_err(|e| spill_error(&dir, "could not create", e))?;
        let mut out = BufWriter::with_capacity(1 << 20, &file);
        host.write_bytes(&mut out)
            .and_then(|_| out.flush())
            .map_err(|e| spill_error(&dir, "could not write", e))?;
        drop(out);
        Ok(SpillFile {
            file,
            elements: host.elements(),
            dir,
        })
    }

    /// Reads the snapshot back.
    pub fn read<H: SpillBytes>(&self) -> Result<H> {
        let mut file = &self.file;
        let failed = |what| move |e| spill_error(&self.dir, what, e);
        file.seek(SeekFrom::Start(0))
            .map_err(failed("could not rewind"))?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        H::read_bytes(&mut input, self.elements).map_err(failed("could not read"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_comes_back_bit_for_bit() {
        let state: Vec<f32> = (0..10_000).map(|i| (i as f32).sin() * 1e-3).collect();
        let spilled = SpillFile::write(&state).unwrap();
        let back: Vec<f32> = spilled.read().unwrap();
        assert!(back
            .iter()
            .zip(&state)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // Read twice: the backward sweep may reload a snapshot more than once.
        let again: Vec<f32> = spilled.read().unwrap();
        assert_eq!(again.len(), state.len());
    }

    #[test]
    fn a_folder_that_cannot_take_it_is_an_error_naming_the_variable() {
        let missing = std::env::temp_dir()
            .join("lbm-no-such-folder")
            .join("deeper");
        let err = SpillFile::write_in(missing, &vec![1.0f64; 4])
            .err()
            .unwrap();
        assert!(matches!(err, LbmError::Checkpoint(_)));
        assert!(err.to_string().contains("LBM_SPILL_DIR"), "{err}");
    }
}
