//! The one error type of the output writers.

use std::path::PathBuf;

/// What can go wrong when writing an image, a plot or a VTK file.
///
/// Every writer checks its input before it touches the disk, so a bad field never leaves a
/// half-written file behind; files are written to a temporary name and renamed, so a
/// failure while writing leaves any earlier file of that name as it was.
///
/// Non-finite values are not an error: an image shows them in a colour of their own (see
/// [`NAN_COLOR`](super::NAN_COLOR)), a loss curve leaves such points out, and a VTK file
/// stores them as they are (ParaView shows its NaN colour). A picture of a diverged field is
/// most useful exactly when it has NaNs in it.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A grid with a zero extent.
    #[error("`{what}`: the grid {dims:?} has no cells")]
    EmptyGrid {
        /// The field, panel or file concerned.
        what: String,
        /// The extents given.
        dims: Vec<usize>,
    },
    /// A slice whose length does not match the grid.
    #[error("`{what}` has {actual} values, expected {expected}")]
    Length {
        /// The field, mask or array concerned.
        what: String,
        /// The length the grid implies.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A colour range that is not an interval of finite numbers.
    #[error(
        "`{what}`: colour range [{min}, {max}] is not an interval of finite numbers with min < max"
    )]
    ColorRange {
        /// The panel concerned.
        what: String,
        /// Lower end given.
        min: f64,
        /// Upper end given.
        max: f64,
    },
    /// A figure with no panels, or a loss plot with no series.
    #[error("nothing to draw: {0}")]
    Nothing(String),
    /// A loss plot none of whose values is finite and positive, so no log axis can show it.
    #[error("no finite, positive loss value to plot on a log scale")]
    NoPlottablePoints,
    /// An image whose size is outside what the writer accepts.
    #[error("an image of {width} x {height} pixels is outside what is accepted ({accepted})")]
    ImageSize {
        /// Width in pixels (or cells, for a grid too large to count).
        width: u64,
        /// Height in pixels (or cells).
        height: u64,
        /// What is accepted.
        accepted: &'static str,
    },
    /// A vector array whose component count is not 2 or 3.
    #[error("vector array `{name}` has {components} components per cell; VTK vectors take 2 (padded) or 3")]
    VectorComponents {
        /// The array's name.
        name: String,
        /// The component count given.
        components: usize,
    },
    /// Two arrays of one VTK file with the same name.
    #[error("the VTK file already has an array named `{0}`")]
    DuplicateArray(String),
    /// A VTK array name that ParaView could not show: empty, or with a quote or angle bracket.
    #[error("`{0}` is not a usable VTK array name (empty, or contains a quote or < > &)")]
    ArrayName(String),
    /// Grid spacing that is not finite and positive, or an origin that is not finite.
    #[error("VTK geometry: {0}")]
    Geometry(String),
    /// Drawing failed inside plotters (text layout, a missing font).
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The embedded font could not be registered with plotters.
    #[error("the embedded font could not be loaded")]
    Font,
    /// Creating, writing or renaming the output file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The PNG encoder refused the image.
    #[error("encoding {path} as PNG: {source}")]
    Png {
        /// The file being written.
        path: PathBuf,
        /// What the encoder said.
        #[source]
        source: png::EncodingError,
    },
    /// vtkio refused the data set.
    #[error("writing VTK file {path}: {source}")]
    Vtk {
        /// The file being written.
        path: PathBuf,
        /// What vtkio said.
        #[source]
        source: vtkio::Error,
    },
}

/// Shorthand for results of this module.
pub type Result<T, E = OutputError> = std::result::Result<T, E>;
