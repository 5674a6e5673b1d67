//! Fields on a 2D or 3D grid as a VTK image-data file (see [`VtkImage`]).

use std::path::Path;

use vtkio::model::{
    Attribute, Attributes, ByteOrder, DataSet, Extent, ImageDataPiece, Piece, Version, Vtk,
};
use vtkio::xml;

use super::error::{OutputError, Result};
use super::file::write_atomically;

/// Where the values of a [`VtkImage`] live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Centering {
    /// One value per image point, at the lattice nodes (VTK point data).
    Point,
    /// One value per image cell, a voxel around each node (VTK cell data).
    Cell,
}

/// A VTK image-data file that ParaView opens, being put together: the grid, its
/// placement and named arrays of fields on a 2D or 3D grid.
///
/// The format is VTK's XML image data (`.vti`), written by `vtkio`, with every array in
/// binary (base64) `Float64`, so values come back bit for bit. Why XML rather than the
/// legacy `STRUCTURED_POINTS` file: `.vti` is ParaView's own format for image data and
/// carries cell data; vtkio 0.7's legacy writer puts `CELL_DATA 0` in front of an image's
/// cell arrays, a file ParaView would misread. Nothing compressed: vtkio's compressors would
/// bring a C build (liblzma) for files that are written once and opened once.
///
/// A grid of `nx * ny * nz` cells (`nz = 1` for 2D) is indexed `x + nx * (y + ny * z)`, the
/// runtime's cell order and VTK's, and its values sit either
/// - on points ([`Centering::Point`]): the image has `nx * ny * nz` points at the lattice
///   nodes and ParaView interpolates between them, or
/// - on cells ([`Centering::Cell`]): the image has one voxel (a pixel in 2D) per lattice
///   cell, centred on its node, drawn in flat colours, which shows a solid mask as it is.
///
/// In both, the node of cell `(i, j, k)` is at `origin + (i, j, k) * spacing` (by default
/// `(i, j, k)`), so files of either kind line up in one ParaView scene. A 2D grid is one
/// flat image at `z = 0`.
///
/// Vectors are given with 2 or 3 components per cell, interleaved (`u[cell * d + a]`, the
/// runtime's layout). They are written with 3 components, `z = 0` for 2D, since ParaView's
/// Glyph and Stream Tracer filters take only 3-component vectors. NaN and infinite values
/// are written as they are; ParaView draws them in its NaN colour.
///
/// ```no_run
/// use lbm_examples::output::{Centering, VtkImage};
/// # fn main() -> Result<(), lbm_examples::output::OutputError> {
/// let (nx, ny) = (64, 32);
/// let rho = vec![1.0; nx * ny];
/// let u = vec![0.0; 2 * nx * ny];
/// VtkImage::new([nx, ny, 1], Centering::Cell)?
///     .scalar("rho", &rho)?
///     .vector("u", &u, 2)?
///     .write("flow.vti")?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct VtkImage {
    dims: [usize; 3],
    cells: usize,
    centering: Centering,
    origin: [f64; 3],
    spacing: [f64; 3],
    arrays: Vec<Attribute>,
}

impl VtkImage {
    /// An image of `dims = [nx, ny, nz]` cells (`nz = 1` for a 2D grid) with values on
    /// points or cells, nodes at integer coordinates.
    pub fn new(dims: [usize; 3], centering: Centering) -> Result<Self> {
        let empty = || OutputError::EmptyGrid {
            what: "VTK image".into(),
            dims: dims.to_vec(),
        };
        if dims.contains(&0) {
            return Err(empty());
        }
        // VTK extents are i32; the point count of a cell image has one more per axis.
        if dims.iter().any(|&n| n >= i32::MAX as usize) {
            return Err(OutputError::Geometry(format!(
                "extents {dims:?} exceed VTK's 32-bit extents"
            )));
        }
        let cells = dims
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n))
            .ok_or_else(|| OutputError::Geometry(format!("{dims:?} cells overflow")))?;
        Ok(VtkImage {
            dims,
            cells,
            centering,
            origin: [0.0; 3],
            spacing: [1.0; 3],
            arrays: Vec::new(),
        })
    }

    /// Puts the node of cell `(0, 0, 0)` at `origin` (default `[0, 0, 0]`).
    pub fn origin(mut self, origin: [f64; 3]) -> Self {
        self.origin = origin;
        self
    }

    /// Sets the distance between neighbouring nodes along each axis (default `[1, 1, 1]`).
    pub fn spacing(mut self, spacing: [f64; 3]) -> Self {
        self.spacing = spacing;
        self
    }

    /// Adds a scalar array, one value per cell of the grid.
    pub fn scalar(mut self, name: &str, values: &[f64]) -> Result<Self> {
        self.check_name(name)?;
        if values.len() != self.cells {
            return Err(OutputError::Length {
                what: name.into(),
                expected: self.cells,
                actual: values.len(),
            });
        }
        self.arrays
            .push(Attribute::scalars(name, 1).with_data(values.to_vec()));
        Ok(self)
    }

    /// Adds a vector array of `components` (2 or 3) values per cell, interleaved; written
    /// with 3 components (a zero `z` for 2).
    pub fn vector(mut self, name: &str, values: &[f64], components: usize) -> Result<Self> {
        self.check_name(name)?;
        if !(2..=3).contains(&components) {
            return Err(OutputError::VectorComponents {
                name: name.into(),
                components,
            });
        }
        let expected = self.cells * components;
        if values.len() != expected {
            return Err(OutputError::Length {
                what: name.into(),
                expected,
                actual: values.len(),
            });
        }
        let mut xyz = Vec::with_capacity(3 * self.cells);
        for v in values.chunks_exact(components) {
            xyz.extend_from_slice(v);
            if components == 2 {
                xyz.push(0.0);
            }
        }
        self.arrays.push(Attribute::vectors(name).with_data(xyz));
        Ok(self)
    }

    /// Writes the file (conventionally named `*.vti`) at `path`, through a temporary file
    /// that is renamed into place.
    pub fn write(self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let vtk_error = |source: vtkio::Error| OutputError::Vtk {
            path: path.to_path_buf(),
            source,
        };
        let file = xml::VTKFile::try_from(self.into_model()?)
            .map_err(|e| vtk_error(vtkio::Error::from(e)))?;
        write_atomically(path, |w| {
            file.write(w).map_err(|e| vtk_error(vtkio::Error::from(e)))
        })
    }

    /// The vtkio data set: extents, placement and the arrays on points or cells.
    fn into_model(self) -> Result<Vtk> {
        let finite = |v: &[f64; 3]| v.iter().all(|x| x.is_finite());
        if !finite(&self.origin) || !finite(&self.spacing) || self.spacing.iter().any(|&h| h <= 0.0)
        {
            return Err(OutputError::Geometry(format!(
                "origin {:?} and spacing {:?} must be finite, spacing positive",
                self.origin, self.spacing
            )));
        }
        let [nx, ny, nz] = self.dims.map(|n| n as i32);
        let flat = nz == 1;
        // Point data: one point per node. Cell data: one more point than cells per axis,
        // except the z axis of a 2D grid, which stays a single plane of pixels.
        let (extent, shift) = match self.centering {
            Centering::Point => ([0..=nx - 1, 0..=ny - 1, 0..=nz - 1], [0.0; 3]),
            Centering::Cell => (
                [0..=nx, 0..=ny, 0..=if flat { 0 } else { nz }],
                [0.5, 0.5, if flat { 0.0 } else { 0.5 }],
            ),
        };
        // Cell data: the image starts half a cell before the first node.
        let origin: [f32; 3] =
            std::array::from_fn(|a| (self.origin[a] - shift[a] * self.spacing[a]) as f32);
        let spacing = self.spacing.map(|h| h as f32);
        let data = match self.centering {
            Centering::Point => Attributes {
                point: self.arrays,
                cell: Vec::new(),
            },
            Centering::Cell => Attributes {
                point: Vec::new(),
                cell: self.arrays,
            },
        };
        let extent = Extent::Ranges(extent);
        Ok(Vtk {
            version: Version::new_xml(1, 0),
            title: String::new(),
            byte_order: ByteOrder::LittleEndian,
            file_path: None,
            data: DataSet::ImageData {
                extent: extent.clone(),
                origin,
                spacing,
                meta: None,
                pieces: vec![Piece::Inline(Box::new(ImageDataPiece { extent, data }))],
            },
        })
    }

    fn check_name(&self, name: &str) -> Result<()> {
        // Names become XML attribute values and ParaView menu entries.
        if name.is_empty() || name.contains(['"', '\'', '<', '>', '&']) {
            return Err(OutputError::ArrayName(name.into()));
        }
        if self.arrays.iter().any(|a| a.name() == name) {
            return Err(OutputError::DuplicateArray(name.into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtkio::model::{DataArray, ElementType, IOBuffer};

    /// The arrays of the single piece of an image file as vtkio reads it back, with the
    /// extent, origin and spacing.
    fn read(path: &Path) -> (Extent, [f32; 3], [f32; 3], Attributes) {
        let vtk = Vtk::import(path).unwrap();
        let DataSet::ImageData {
            extent,
            origin,
            spacing,
            pieces,
            ..
        } = vtk.data
        else {
            panic!("not image data")
        };
        let Piece::Inline(piece) = pieces.into_iter().next().unwrap() else {
            panic!("not an inline piece")
        };
        (extent, origin, spacing, piece.data)
    }

    /// The values and element type of the array called `name`.
    fn array<'a>(attributes: &'a [Attribute], name: &str) -> (&'a ElementType, Vec<f64>) {
        let found = attributes.iter().find_map(|a| match a {
            Attribute::DataArray(DataArray {
                name: n,
                elem,
                data,
            }) if n == name => Some((elem, data)),
            _ => None,
        });
        let (elem, data) = found.unwrap_or_else(|| panic!("no array {name}"));
        let IOBuffer::F64(values) = data else {
            panic!("{name} is not Float64")
        };
        (elem, values.clone())
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Values that a text format would round: thirds, a tiny and a huge number, a NaN.
    fn awkward(n: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n).map(|i| (i as f64 + 1.0) / 3.0).collect();
        v[0] = 1e-300;
        v[1] = -7.5e200;
        v[2] = f64::NAN;
        v
    }

    // Catches transposed axes, wrong extents, lost bits and names: a 3D point-data file
    // read back by vtkio has the grid's extent and every value bit for bit.
    #[test]
    fn point_data_in_3d_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.vti");
        let dims = [4, 3, 2];
        let rho = awkward(24);
        let u: Vec<f64> = (0..72).map(|i| i as f64 * 0.1 - 3.0).collect();
        VtkImage::new(dims, Centering::Point)
            .unwrap()
            .spacing([0.5, 0.5, 0.5])
            .origin([1.0, 2.0, 3.0])
            .scalar("rho", &rho)
            .unwrap()
            .vector("u", &u, 3)
            .unwrap()
            .write(&path)
            .unwrap();
        let (extent, origin, spacing, data) = read(&path);
        assert_eq!(extent, Extent::Ranges([0..=3, 0..=2, 0..=1]));
        assert_eq!((origin, spacing), ([1.0, 2.0, 3.0], [0.5; 3]));
        assert!(data.cell.is_empty());
        let (elem, back) = array(&data.point, "rho");
        assert!(matches!(elem, ElementType::Scalars { num_comp: 1, .. }));
        assert_eq!(bits(&back), bits(&rho));
        let (elem, back) = array(&data.point, "u");
        assert_eq!(*elem, ElementType::Vectors);
        assert_eq!(bits(&back), bits(&u));
    }

    // Catches cell data written as point data, or an image not centred on the nodes: one
    // voxel per cell, starting half a cell before the first node.
    #[test]
    fn cell_data_in_3d_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cells.vti");
        let phi = awkward(4 * 3 * 2);
        VtkImage::new([4, 3, 2], Centering::Cell)
            .unwrap()
            .scalar("solid fraction", &phi)
            .unwrap()
            .write(&path)
            .unwrap();
        let (extent, origin, spacing, data) = read(&path);
        assert_eq!(extent, Extent::Ranges([0..=4, 0..=3, 0..=2]));
        assert_eq!((origin, spacing), ([-0.5; 3], [1.0; 3]));
        assert!(data.point.is_empty());
        assert_eq!(bits(&array(&data.cell, "solid fraction").1), bits(&phi));
    }

    // Catches 2D vectors written with 2 components (ParaView's filters want 3) or with the
    // components shifted: each (ux, uy) comes back as (ux, uy, 0) on a flat image.
    #[test]
    fn vectors_in_2d_are_padded_with_a_zero_z() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flow.vti");
        let (nx, ny) = (5, 3);
        let u: Vec<f64> = (0..2 * nx * ny).map(|i| i as f64 + 0.25).collect();
        VtkImage::new([nx, ny, 1], Centering::Point)
            .unwrap()
            .vector("u", &u, 2)
            .unwrap()
            .write(&path)
            .unwrap();
        let (extent, _, _, data) = read(&path);
        assert_eq!(extent, Extent::Ranges([0..=4, 0..=2, 0..=0]));
        let (_, back) = array(&data.point, "u");
        let padded: Vec<f64> = u.chunks(2).flat_map(|c| [c[0], c[1], 0.0]).collect();
        assert_eq!(back, padded);
    }

    // Catches a 2D cell image written as a slab. vtkio's reader counts (nx-1)(ny-1)(nz-1)
    // cells, zero for a flat image, and drops its cell arrays, so this reads the header as
    // text; VTK's own reader (ParaView's) counts nx * ny cells and reads them.
    #[test]
    fn cell_data_in_2d_is_a_flat_image_of_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flat.vti");
        VtkImage::new([6, 4, 1], Centering::Cell)
            .unwrap()
            .scalar("w", &[0.0; 24])
            .unwrap()
            .write(&path)
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#"WholeExtent="0 6 0 4 0 0""#), "{text}");
        assert!(text.contains(r#"Origin="-0.5 -0.5 0""#), "{text}");
        assert!(text.contains(r#"<CellData Scalars="w">"#), "{text}");
    }

    // Catches bad input that panics or leaves a file behind.
    #[test]
    fn bad_input_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.vti");
        let image = || VtkImage::new([2, 2, 1], Centering::Cell).unwrap();
        assert!(matches!(
            VtkImage::new([2, 0, 1], Centering::Point),
            Err(OutputError::EmptyGrid { .. })
        ));
        assert!(matches!(
            image().scalar("a", &[0.0; 3]),
            Err(OutputError::Length {
                expected: 4,
                actual: 3,
                ..
            })
        ));
        assert!(matches!(
            image().vector("u", &[0.0; 4], 1),
            Err(OutputError::VectorComponents { components: 1, .. })
        ));
        assert!(matches!(
            image().vector("u", &[0.0; 6], 2),
            Err(OutputError::Length { expected: 8, .. })
        ));
        assert!(matches!(
            image()
                .scalar("a", &[0.0; 4])
                .unwrap()
                .scalar("a", &[0.0; 4]),
            Err(OutputError::DuplicateArray(_))
        ));
        assert!(matches!(
            image().scalar("a<b", &[0.0; 4]),
            Err(OutputError::ArrayName(_))
        ));
        assert!(matches!(
            image().scalar("", &[0.0; 4]),
            Err(OutputError::ArrayName(_))
        ));
        assert!(matches!(
            image().spacing([1.0, 0.0, 1.0]).write(&path),
            Err(OutputError::Geometry(_))
        ));
        assert!(matches!(
            image().origin([f64::NAN, 0.0, 0.0]).write(&path),
            Err(OutputError::Geometry(_))
        ));
        assert!(!path.exists());
    }
}
