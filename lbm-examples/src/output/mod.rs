//! What an inverse-problem program leaves behind for a person: field images, loss curves
//! and VTK files.
//!
//! - [`Figure`] and [`Panel`] draw 2D scalar fields as PNG images, several side by side
//!   ("true", "recovered", "error"), each with a colour scale bar, in viridis or a
//!   diverging blue-white-red map; [`write_field_png`] draws one.
//! - [`LossPlot`] draws loss curves on a log axis.
//! - [`VtkImage`] writes point or cell data on 2D and 3D grids as VTK image data.
//!
//! Every writer checks its input first and returns an [`OutputError`], never panics, and
//! writes through a temporary file renamed into place, so an earlier file of the same name
//! stays valid until the new one is complete. Text is drawn with an embedded font (Noto
//! Sans), so nothing here needs fontconfig or FreeType.

mod colormap;
mod error;
mod field_image;
mod file;
mod loss_plot;
mod text;
mod ticks;
mod vtk;

pub use colormap::{ColorMap, ColorRange, MASK_COLOR, NAN_COLOR};
pub use error::{OutputError, Result};
pub use field_image::{write_field_png, Figure, Layout, Panel, PanelLayout, PixelRect, Rendered};
pub use loss_plot::LossPlot;
pub use vtk::{Centering, VtkImage};
