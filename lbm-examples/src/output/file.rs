//! Getting bytes onto disk: whole files or nothing, and PNG encoding.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::error::{OutputError, Result};

/// Writes a file through `write` into a temporary file next to `path`, then renames it over
/// `path`. A failure (or a crash) part way leaves whatever was at `path` before untouched,
/// so a program that writes a figure every few iterations never leaves a truncated one.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
) -> Result<()> {
    let io = |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Same folder, so the rename never crosses file systems.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".lbm-output-").suffix(".tmp");
    // tempfile creates 0600 files; an image is for others to read too (the umask applies).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let tmp = builder.tempfile_in(dir).map_err(io)?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w)?;
        w.flush().map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Writes an 8-bit RGB image (`rgb.len() == 3 * width * height`, rows top to bottom).
pub(crate) fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    write_atomically(path, |w| {
        let png = |source| OutputError::Png {
            path: path.to_path_buf(),
            source,
        };
        let mut encoder = png::Encoder::new(w, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png)?;
        writer.write_image_data(rgb).map_err(png)?;
        writer.finish().map_err(png)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catches a writer that truncates the old file before the new one is complete: a failed
    // write must leave the previous contents and no temporary file behind.
    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("figure.png");
        std::fs::write(&path, b"old").unwrap();
        let r = write_atomically(&path, |w| {
            w.write_all(b"half").unwrap();
            Err(OutputError::Nothing("simulated failure".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    // Catches an error path that panics instead of returning: a folder that does not exist.
    #[test]
    fn a_missing_folder_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/folder/figure.png");
        let r = write_png(&path, 1, 1, &[0, 0, 0]);
        assert!(matches!(r, Err(OutputError::Io { .. })), "{r:?}");
    }
}
