//! Saving a simulation's state to a file and reading it back: what a long run needs to
//! stop and resume, and what an inverse problem needs to keep its observations.
//!
//! The file holds the populations and the time, and enough about the grid to refuse a
//! state that belongs to another simulation:
//!
//! `magic (8) | format version (u32) | header length (u32) | header (JSON) | payload`
//!
//! The header names the lattice, the dimensions, the time, the precision the state was
//! computed in, a CRC-32 of the solid mask and of the payload, and the number of values.
//! The payload is the populations as little-endian `f64`, `[cell * Q + i]`: an `f32`
//! state widens without loss, so a state saved from either precision loads into both.
//! Parameters are not saved: they are the program's, set as it sets them.
//!
//! A file is written under a temporary name beside its destination and renamed when
//! complete, so an interrupted save never leaves a truncated state where a good one was.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{LbmError, Result};
use crate::grid::Grid;
use crate::real::Precision;

/// The first bytes of every state file.
const MAGIC: &[u8; 8] = b"LBMSTATE";
/// Bumped whenever the header or the payload's meaning changes.
const FORMAT_VERSION: u32 = 1;
/// Headers longer than this are not state files (a guard against reading a huge
/// length from a file of another kind).
const MAX_HEADER: u32 = 1 << 16;

/// What a state file says about its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateHeader {
    /// The lattice's name (`d2q9`, `d3q19`, `d3q27`).
    pub lattice: String,
    /// `[nx, ny, nz]`.
    pub dims: [usize; 3],
    /// The simulation's time when the state was saved.
    pub time: usize,
    /// The precision the state was computed in (`f32` or `f64`).
    pub precision: String,
    /// CRC-32 of the solid mask, one byte per cell (1 solid, 0 fluid).
    pub solid_crc32: u32,
    /// Values in the payload: cells times velocities.
    pub values: usize,
    /// CRC-32 of the payload's bytes.
    pub payload_crc32: u32,
}

/// A state read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedState {
    /// What the file says about the state.
    pub header: StateHeader,
    /// The populations, `[cell * Q + i]`.
    pub populations: Vec<f64>,
}

fn file_error(path: &Path, problem: impl Into<String>) -> LbmError {
    LbmError::StateFile {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// CRC-32 of a grid's solid mask, one byte per cell.
pub fn solid_crc32(grid: &Grid) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for chunk in grid.solid().chunks(1 << 16) {
        let bytes: Vec<u8> = chunk.iter().map(|&s| u8::from(s)).collect();
        hasher.update(&bytes);
    }
    hasher.finalize()
}

fn precision_name(precision: Precision) -> &'static str {
    match precision {
        Precision::F32 => "f32",
        Precision::F64 => "f64",
    }
}

/// The payload's bytes: little-endian `f64`.
fn encode_payload(populations: &[f64]) -> Vec<u8> {
    let mut bytes = vec![0u8; populations.len() * 8];
    bytes
        .par_chunks_mut(8)
        .zip(populations.par_iter())
        .for_each(|(out, v)| out.copy_from_slice(&v.to_le_bytes()));
    bytes
}

fn decode_payload(bytes: &[u8]) -> Vec<f64> {
    bytes
        .par_chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect()
}

/// Writes the state of a simulation on `grid` at `time` to `path`.
pub fn write(
    path: &Path,
    grid: &Grid,
    time: usize,
    precision: Precision,
    populations: &[f64],
) -> Result<()> {
    let payload = encode_payload(populations);
    let header = StateHeader {
        lattice: grid.lattice().name().to_string(),
        dims: grid.dims(),
        time,
        precision: precision_name(precision).to_string(),
        solid_crc32: solid_crc32(grid),
        values: populations.len(),
        payload_crc32: crc32fast::hash(&payload),
    };
    let header = serde_json::to_vec(&header).expect("a header of plain fields serialises");
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |what: &str, e: std::io::Error| file_error(path, format!("{what}: {e}"));
    let mut temp = tempfile::NamedTempFile::new_in(folder)
        .map_err(|e| io("cannot create a temporary file beside it", e))?;
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        out.write_all(MAGIC)
            .and_then(|_| out.write_all(&FORMAT_VERSION.to_le_bytes()))
            .and_then(|_| out.write_all(&(header.len() as u32).to_le_bytes()))
            .and_then(|_| out.write_all(&header))
            .and_then(|_| out.write_all(&payload))
            .and_then(|_| out.flush())
            .map_err(|e| io("cannot write", e))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(|e| io("cannot flush to disk", e))?;
    temp.persist(path)
        .map_err(|e| io("cannot rename the finished file into place", e.error))?;
    Ok(())
}

/// Reads a state file, checking its format and the payload's checksum (not yet that it
/// fits a grid: see [`SavedState::check_fits`]).
pub fn read(path: &Path) -> Result<SavedState> {
    let file = std::fs::File::open(path).map_err(|e| file_error(path, format!("{e}")))?;
    let mut input = BufReader::new(file);
    let truncated = |what: &str| file_error(path, format!("truncated: the file ends in {what}"));
    let mut magic = [0u8; 8];
    input
        .read_exact(&mut magic)
        .map_err(|_| file_error(path, "not a state file (shorter than its magic bytes)"))?;
    if &magic != MAGIC {
        return Err(file_error(path, "not a state file (wrong magic bytes)"));
    }
    let mut word = [0u8; 4];
    input
        .read_exact(&mut word)
        .map_err(|_| truncated("the format version"))?;
    let version = u32::from_le_bytes(word);
    if version != FORMAT_VERSION {
        return Err(file_error(
            path,
            format!("format version {version}; this build reads version {FORMAT_VERSION}"),
        ));
    }
    input
        .read_exact(&mut word)
        .map_err(|_| truncated("the header length"))?;
    let header_len = u32::from_le_bytes(word);
    if header_len > MAX_HEADER {
        return Err(file_error(
            path,
            format!("a header of {header_len} bytes is not a state file's"),
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    input
        .read_exact(&mut header)
        .map_err(|_| truncated("the header"))?;
    let header: StateHeader = serde_json::from_slice(&header)
        .map_err(|e| file_error(path, format!("unreadable header: {e}")))?;
    let expected = header
        .values
        .checked_mul(8)
        .ok_or_else(|| file_error(path, format!("{} values overflow", header.values)))?;
    let mut payload = Vec::new();
    input
        .read_to_end(&mut payload)
        .map_err(|e| file_error(path, format!("cannot read the populations: {e}")))?;
    if payload.len() != expected {
        return Err(file_error(
            path,
            format!(
                "the header announces {} values ({expected} bytes) but the file holds {} \
                 bytes of them (a truncated or appended file)",
                header.values,
                payload.len()
            ),
        ));
    }
    if crc32fast::hash(&payload) != header.payload_crc32 {
        return Err(file_error(
            path,
            "the populations do not match their checksum (the file was altered or damaged)",
        ));
    }
    Ok(SavedState {
        populations: decode_payload(&payload),
        header,
    })
}

impl SavedState {
    /// Checks that the state belongs to a simulation on `grid`: the same lattice, the
    /// same dimensions and the same solid cells.
    pub fn check_fits(&self, path: &Path, grid: &Grid) -> Result<()> {
        let h = &self.header;
        if h.lattice != grid.lattice().name() || h.dims != grid.dims() {
            return Err(file_error(
                path,
                format!(
                    "the state is of a {} grid of {:?} cells; this simulation is {} on {:?}",
                    h.lattice,
                    h.dims,
                    grid.lattice(),
                    grid.dims()
                ),
            ));
        }
        if h.values != grid.cells() * grid.lattice().q() {
            return Err(file_error(
                path,
                format!(
                    "{} values for {} cells of {} velocities",
                    h.values,
                    grid.cells(),
                    grid.lattice().q()
                ),
            ));
        }
        if h.solid_crc32 != solid_crc32(grid) {
            return Err(file_error(
                path,
                "the state was saved on a grid with other solid cells (another geometry)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::LatticeKind;

    fn grid() -> Grid {
        let g = Grid::new_2d(LatticeKind::D2Q9, 5, 4).unwrap();
        let solid = (0..g.cells()).map(|c| c % 7 == 0).collect();
        g.with_solid(solid).unwrap()
    }

    fn state(grid: &Grid) -> Vec<f64> {
        (0..grid.cells() * 9)
            .map(|i| 0.1 + (i as f64 * 0.37).sin() * 1e-3)
            .collect()
    }

    #[test]
    fn a_state_round_trips_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lbmstate");
        let g = grid();
        let f = state(&g);
        write(&path, &g, 1234, Precision::F32, &f).unwrap();
        let back = read(&path).unwrap();
        back.check_fits(&path, &g).unwrap();
        assert_eq!(back.header.time, 1234);
        assert_eq!(back.header.precision, "f32");
        assert!(back
            .populations
            .iter()
            .zip(&f)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left beside the state");
    }

    #[test]
    fn damaged_files_are_refused_for_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lbmstate");
        let g = grid();
        write(&path, &g, 0, Precision::F64, &state(&g)).unwrap();
        let good = std::fs::read(&path).unwrap();
        let refused = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            match read(&path) {
                Err(LbmError::StateFile { problem, .. }) => problem,
                other => panic!("expected a state-file error, got {other:?}"),
            }
        };
        assert!(refused(b"PNG").contains("magic"));
        assert!(refused(&good[..good.len() - 8]).contains("truncated"));
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(refused(&flipped).contains("checksum"));
        let mut version = good.clone();
        version[8] = 9;
        assert!(refused(&version).contains("version"));
        let mut header = good.clone();
        header[16] = b'#';
        assert!(refused(&header).contains("header"));
        assert!(matches!(
            read(&dir.path().join("missing")),
            Err(LbmError::StateFile { .. })
        ));
    }

    #[test]
    fn a_state_of_another_grid_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lbmstate");
        let g = grid();
        write(&path, &g, 0, Precision::F64, &state(&g)).unwrap();
        let saved = read(&path).unwrap();
        let other_dims = Grid::new_2d(LatticeKind::D2Q9, 4, 5).unwrap();
        assert!(saved.check_fits(&path, &other_dims).is_err());
        let other_solid = Grid::new_2d(LatticeKind::D2Q9, 5, 4).unwrap();
        let err = saved.check_fits(&path, &other_solid).unwrap_err();
        assert!(err.to_string().contains("geometry"), "{err}");
    }
}
