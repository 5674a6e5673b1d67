//! A hidden initial field drawn from a picture: the user's own pattern for the
//! initial-state recovery.
//!
//! The picture's brightness is taken as a stream function `psi`, so the flow runs along
//! its outlines, and the velocity `(d psi / dy, -d psi / dx)` is divergence-free as an
//! initial field of a nearly incompressible flow should be. The picture is scaled to the
//! grid, blurred so that its edges become smooth shear layers the lattice resolves, and
//! faded to its mean brightness near the borders, so the periodic grid sees no seam.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

/// Why a picture cannot become a hidden field.
#[derive(Debug, thiserror::Error)]
pub enum ImageFieldError {
    /// The file could not be opened or decoded.
    #[error("could not read the image {}: {source} (PNG and JPEG files are read)", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        source: image::ImageError,
    },
    /// Every pixel has the same brightness (after blurring): no flow to hide.
    #[error("the image {} is uniform: its brightness gives no flow (draw a pattern on it)", path.display())]
    Uniform {
        /// The file.
        path: PathBuf,
    },
}

/// Share of each side, at each border, over which the picture fades to its mean.
const FADE: f64 = 0.12;

/// The stream function of a picture on an `nx x ny` grid, `[x + nx * y]`, with the
/// picture's top row at the largest `y` (as the figures draw it). Brightness is in
/// [0, 1]; `blur` is the Gaussian's width in cells.
pub fn stream_function(
    path: &Path,
    nx: usize,
    ny: usize,
    blur: f64,
) -> Result<Vec<f64>, ImageFieldError> {
    let picture = image::open(path).map_err(|source| ImageFieldError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let gray = picture.to_luma32f();
    let scaled = image::imageops::resize(&gray, nx as u32, ny as u32, FilterType::Triangle);
    let blurred = image::imageops::blur(&scaled, blur as f32);
    let mut psi = vec![0.0; nx * ny];
    for (x, row, pixel) in blurred.enumerate_pixels() {
        let y = ny - 1 - row as usize;
        psi[x as usize + nx * y] = f64::from(pixel.0[0]);
    }
    let mean = psi.iter().sum::<f64>() / psi.len() as f64;
    for y in 0..ny {
        for x in 0..nx {
            let w = fade(x, nx) * fade(y, ny);
            psi[x + nx * y] = w * (psi[x + nx * y] - mean);
        }
    }
    if psi.iter().all(|v| v.abs() < 1e-6) {
        return Err(ImageFieldError::Uniform {
            path: path.to_path_buf(),
        });
    }
    Ok(psi)
}

/// A window that is 1 inside and falls smoothly to 0 at both ends of a row of `n`.
fn fade(i: usize, n: usize) -> f64 {
    let edge = (FADE * n as f64).max(1.0);
    let from_end = (i as f64 + 0.5).min(n as f64 - i as f64 - 0.5);
    if from_end >= edge {
        1.0
    } else {
        let s = (std::f64::consts::FRAC_PI_2 * from_end / edge).sin();
        s * s
    }
}

/// The velocity `(d psi / dy, -d psi / dx)` of a stream function on a periodic
/// `nx x ny` grid (central differences), `[cell * 2 + a]`, scaled so that its largest
/// speed is `peak`.
pub fn velocity(psi: &[f64], nx: usize, ny: usize, peak: f64) -> Vec<f64> {
    let at = |x: usize, y: usize| psi[x % nx + nx * (y % ny)];
    let mut u = vec![0.0; nx * ny * 2];
    for y in 0..ny {
        for x in 0..nx {
            let c = x + nx * y;
            u[c * 2] = 0.5 * (at(x, y + 1) - at(x, y + ny - 1));
            u[c * 2 + 1] = -0.5 * (at(x + 1, y) - at(x + nx - 1, y));
        }
    }
    let largest = u
        .chunks(2)
        .map(|v| v[0].hypot(v[1]))
        .fold(0.0_f64, f64::max);
    if largest > 0.0 {
        u.iter_mut().for_each(|v| *v *= peak / largest);
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_disc(path: &Path) {
        let img = image::GrayImage::from_fn(40, 30, |x, y| {
            let (dx, dy) = (x as f64 - 20.0, y as f64 - 15.0);
            image::Luma([if dx * dx + dy * dy < 64.0 { 255 } else { 0 }])
        });
        img.save(path).unwrap();
    }

    #[test]
    fn a_bright_disc_becomes_a_divergence_free_ring_vortex() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disc.png");
        write_disc(&path);
        let (nx, ny) = (48, 36);
        let psi = stream_function(&path, nx, ny, 1.5).unwrap();
        let u = velocity(&psi, nx, ny, 0.05);
        let speed = |x: usize, y: usize| {
            let c = x + nx * y;
            u[c * 2].hypot(u[c * 2 + 1])
        };
        let largest = (0..nx * ny)
            .map(|c| speed(c % nx, c / nx))
            .fold(0.0, f64::max);
        assert!((largest - 0.05).abs() < 1e-12);
        // The flow runs around the disc's edge (radius 9.6 cells about (24, 17.5)), not
        // in its middle or in the still fluid between it and the faded borders.
        assert!(speed(24, 18) < 0.1 * largest);
        assert!(speed(9, 18) < 0.1 * largest && speed(38, 18) < 0.1 * largest);
        assert!(speed(24 + 10, 18) > 0.3 * largest);
        assert!(speed(24 - 10, 18) > 0.3 * largest);
        // Discrete divergence of the central-difference velocity vanishes to rounding.
        for y in 0..ny {
            for x in 0..nx {
                let ux = |x: usize, y: usize| u[(x % nx + nx * (y % ny)) * 2];
                let uy = |x: usize, y: usize| u[(x % nx + nx * (y % ny)) * 2 + 1];
                let div = 0.5 * (ux(x + 1, y) - ux(x + nx - 1, y))
                    + 0.5 * (uy(x, y + 1) - uy(x, y + ny - 1));
                assert!(div.abs() < 1e-15, "divergence {div} at ({x}, {y})");
            }
        }
    }

    #[test]
    fn unreadable_and_uniform_images_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.png");
        std::fs::write(&text, b"not a picture").unwrap();
        let err = stream_function(&text, 16, 16, 1.0).unwrap_err();
        assert!(matches!(err, ImageFieldError::Unreadable { .. }));
        assert!(err.to_string().contains("notes.png"), "{err}");
        let missing = stream_function(&dir.path().join("missing.png"), 16, 16, 1.0);
        assert!(matches!(missing, Err(ImageFieldError::Unreadable { .. })));
        let flat = dir.path().join("flat.png");
        image::GrayImage::from_pixel(8, 8, image::Luma([128]))
            .save(&flat)
            .unwrap();
        let err = stream_function(&flat, 16, 16, 1.0).unwrap_err();
        assert!(matches!(err, ImageFieldError::Uniform { .. }), "{err}");
    }
}
