//! 2D scalar fields as PNG images, panels side by side, each with a colour scale bar
//! (see [`Figure`] and [`Panel`]).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::colormap::{finite_extent, widen, ColorMap, ColorRange, Scale, MASK_COLOR};
use super::error::{OutputError, Result};
use super::file::write_png;
use super::text::{self, TextBackend};

/// The largest image written, in pixels (about 300 MB of RGB while drawing).
const MAX_PIXELS: u64 = 100_000_000;
/// The longer side of a field, in pixels, that the automatic cell size aims for.
const TARGET_FIELD_PIXELS: usize = 400;

// Layout in pixels. Sizes of text are in pixels too (plotters' font size).
const MARGIN: u32 = 12;
const FIGURE_TITLE_SIZE: f64 = 20.0;
const PANEL_TITLE_SIZE: f64 = 16.0;
const LABEL_SIZE: f64 = 13.0;
const TITLE_BAND: u32 = 28;
const NOTE_BAND: u32 = 20;
const BAR_GAP: u32 = 14;
const BAR_WIDTH: u32 = 16;
const TICK_LENGTH: u32 = 4;
const LABEL_GAP: u32 = 4;
/// Roughly how many ticks a bar carries.
const TICKS: usize = 6;

/// One field to draw: a title, the values, the grid, how to colour them.
#[derive(Clone, Debug)]
pub struct Panel<'a> {
    title: String,
    values: &'a [f64],
    nx: usize,
    ny: usize,
    map: ColorMap,
    range: ColorRange,
    mask: Option<&'a [bool]>,
}

impl<'a> Panel<'a> {
    /// A panel of the `nx` by `ny` field `values` (row-major, `x` fastest), in viridis with
    /// an automatic range.
    pub fn new(title: impl Into<String>, values: &'a [f64], nx: usize, ny: usize) -> Self {
        Panel {
            title: title.into(),
            values,
            nx,
            ny,
            map: ColorMap::Viridis,
            range: ColorRange::Auto,
            mask: None,
        }
    }

    /// Uses `map` (viridis by default; [`ColorMap::Diverging`] for signed fields).
    pub fn color_map(mut self, map: ColorMap) -> Self {
        self.map = map;
        self
    }

    /// Uses `range` instead of the automatic one.
    pub fn range(mut self, range: ColorRange) -> Self {
        self.range = range;
        self
    }

    /// Draws the cells where `solid` is true in grey ([`MASK_COLOR`](super::MASK_COLOR))
    /// and leaves them out of the automatic range; `solid` has one entry per cell, in the
    /// order of the values.
    pub fn mask(mut self, solid: &'a [bool]) -> Self {
        self.mask = Some(solid);
        self
    }

    /// Checks the panel's sizes and resolves its colour interval.
    fn scale(&self) -> Result<Scale> {
        let what = || self.title.clone();
        if self.nx == 0 || self.ny == 0 {
            return Err(OutputError::EmptyGrid {
                what: what(),
                dims: vec![self.nx, self.ny],
            });
        }
        let cells = self.nx.checked_mul(self.ny).ok_or(OutputError::ImageSize {
            width: self.nx as u64,
            height: self.ny as u64,
            accepted: "at most 100 million pixels",
        })?;
        if self.values.len() != cells {
            return Err(OutputError::Length {
                what: what(),
                expected: cells,
                actual: self.values.len(),
            });
        }
        if let Some(mask) = self.mask {
            if mask.len() != cells {
                return Err(OutputError::Length {
                    what: format!("{} (mask)", self.title),
                    expected: cells,
                    actual: mask.len(),
                });
            }
        }
        let (min, max) = match self.range {
            ColorRange::Fixed { min, max } => {
                if !(min.is_finite() && max.is_finite() && min < max) {
                    return Err(OutputError::ColorRange {
                        what: what(),
                        min,
                        max,
                    });
                }
                (min, max)
            }
            ColorRange::Auto => {
                let shown = self
                    .values
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| !self.is_masked(i))
                    .map(|(_, &v)| v);
                // Nothing finite to show (all solid, or all NaN): any interval will do.
                let (lo, hi) = finite_extent(shown).unwrap_or((0.0, 0.0));
                widen(lo, hi, self.map == ColorMap::Diverging)
            }
        };
        Ok(Scale {
            map: self.map,
            min,
            max,
        })
    }

    fn is_masked(&self, cell: usize) -> bool {
        self.mask.is_some_and(|m| m[cell])
    }

    /// Cells whose value is not finite, masked cells aside.
    fn non_finite(&self) -> usize {
        (0..self.values.len())
            .filter(|&i| !self.is_masked(i) && !self.values[i].is_finite())
            .count()
    }
}

/// A rectangle of pixels, `(x, y)` its top-left corner, `y` down as in the image file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelRect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Where one panel landed in the image, and the interval its colours stand for.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelLayout {
    /// The field's pixels (inside its frame).
    pub field: PixelRect,
    /// The colour bar's pixels (inside its frame); the top row is the largest value.
    pub bar: PixelRect,
    /// Side of one cell in pixels.
    pub cell_pixels: u32,
    /// The value of the map's first colour.
    pub min: f64,
    /// The value of the map's last colour.
    pub max: f64,
    /// The tick values on the bar with their labels.
    pub ticks: Vec<(f64, String)>,
    /// Cells drawn in the NaN colour.
    pub non_finite: usize,
}

impl PanelLayout {
    /// The pixel at the centre of grid cell `(x, y)` (`y` up in the grid, down in the image).
    pub fn cell_center(&self, x: usize, y: usize) -> (u32, u32) {
        let s = self.cell_pixels;
        let rows = self.field.height / s;
        (
            self.field.x + x as u32 * s + s / 2,
            self.field.y + (rows - 1 - y as u32) * s + s / 2,
        )
    }

    /// The pixel row of the bar at which `value` sits.
    pub fn bar_row(&self, value: f64) -> u32 {
        let t = ((value - self.min) / (self.max - self.min)).clamp(0.0, 1.0);
        self.bar.y + ((1.0 - t) * f64::from(self.bar.height - 1)).round() as u32
    }
}

/// The size of an image and where each panel is in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// The panels, left to right.
    pub panels: Vec<PanelLayout>,
}

/// A rendered figure: 8-bit RGB pixels, rows top to bottom.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// Where everything is.
    pub layout: Layout,
    /// `3 * width * height` bytes.
    pub rgb: Vec<u8>,
}

/// 2D scalar fields as a PNG image: one or several [`Panel`]s side by side, each with a
/// title and a colour scale bar with tick labels, and an optional title over all of them.
///
/// A field is a row-major `&[f64]` of `nx * ny` values, `x` fastest (the runtime's cell
/// order for a 2D grid), drawn with `y` up: cell `(0, 0)` is the bottom-left corner of the
/// picture. Each cell is a square of `cell_pixels` pixels, so cells stay crisp and a
/// pixel's colour is exactly its cell's colour on the map (no smoothing).
///
/// plotters draws the text, tick marks and frames; the field and the bar are written
/// straight into the pixel buffer afterwards, so that their colours are exact and the
/// frames never overlap them. The PNG is encoded by the `png` crate and written under a
/// temporary name, then renamed.
///
/// ```no_run
/// use lbm_examples::output::{ColorMap, ColorRange, Figure, Panel};
/// # fn main() -> Result<(), lbm_examples::output::OutputError> {
/// let (nx, ny) = (64, 32);
/// let truth = vec![0.0; nx * ny];
/// let recovered = vec![0.0; nx * ny];
/// let error: Vec<f64> = truth.iter().zip(&recovered).map(|(a, b)| b - a).collect();
/// // A shared range, so equal colours mean equal values in the first two panels.
/// let range = ColorRange::covering(&[&truth, &recovered], ColorMap::Viridis)
///     .unwrap_or(ColorRange::Auto);
/// Figure::new()
///     .title("initial |u|")
///     .panel(Panel::new("true", &truth, nx, ny).range(range))
///     .panel(Panel::new("recovered", &recovered, nx, ny).range(range))
///     .panel(Panel::new("error", &error, nx, ny).color_map(ColorMap::Diverging))
///     .write_png("fields.png")?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Figure<'a> {
    title: Option<String>,
    panels: Vec<Panel<'a>>,
    cell_pixels: Option<u32>,
}

impl<'a> Figure<'a> {
    /// An empty figure; add panels with [`Figure::panel`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A title over the whole figure.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Adds a panel to the right of the others.
    pub fn panel(mut self, panel: Panel<'a>) -> Self {
        self.panels.push(panel);
        self
    }

    /// Draws every cell as a `pixels` by `pixels` square (at least 1). By default each
    /// panel's longer side comes out near 400 pixels, and a grid larger than that gets one
    /// pixel per cell.
    pub fn cell_pixels(mut self, pixels: u32) -> Self {
        self.cell_pixels = Some(pixels.max(1));
        self
    }

    /// Draws the figure in memory.
    pub fn render(&self) -> Result<Rendered> {
        if self.panels.is_empty() {
            return Err(OutputError::Nothing("a figure without panels".into()));
        }
        text::ensure_font()?;
        let plans = self
            .panels
            .iter()
            .map(|p| self.plan(p))
            .collect::<Result<Vec<_>>>()?;
        let layout = self.arrange(&plans)?;
        let (w, h) = (layout.width, layout.height);
        let mut rgb = vec![255u8; 3 * w as usize * h as usize];
        self.draw_decorations(&mut rgb, &layout)?;
        for ((panel, plan), place) in self.panels.iter().zip(&plans).zip(&layout.panels) {
            paint_field(&mut rgb, w, panel, &plan.scale, place);
            paint_bar(&mut rgb, w, plan.scale.map, place);
        }
        Ok(Rendered { layout, rgb })
    }

    /// Draws the figure and writes it as a PNG at `path`; returns where the panels are.
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<Layout> {
        let Rendered { layout, rgb } = self.render()?;
        write_png(path.as_ref(), layout.width, layout.height, &rgb)?;
        Ok(layout)
    }

    /// A panel's checked scale, its cell size, ticks and the width of its widest label.
    fn plan(&self, panel: &Panel) -> Result<Plan> {
        let scale = panel.scale()?;
        let cell_pixels = self.cell_pixels.unwrap_or_else(|| {
            (TARGET_FIELD_PIXELS / panel.nx.max(panel.ny)).clamp(1, u32::MAX as usize) as u32
        });
        let ticks = super::ticks::ticks(scale.min, scale.max, TICKS);
        let label_width = ticks
            .iter()
            .map(|(_, l)| text::measure(l, LABEL_SIZE).map(|(w, _)| w))
            .try_fold(0, |acc, w| w.map(|w| acc.max(w)))?;
        let title_width = text::measure(&panel.title, PANEL_TITLE_SIZE)?.0;
        Ok(Plan {
            scale,
            cell_pixels,
            ticks,
            label_width,
            title_width,
            non_finite: panel.non_finite(),
        })
    }

    /// Places the panels left to right below the figure title.
    fn arrange(&self, plans: &[Plan]) -> Result<Layout> {
        let too_large = |width: u64, height: u64| OutputError::ImageSize {
            width,
            height,
            accepted: "at most 100 million pixels",
        };
        let top = MARGIN as u64 + if self.title.is_some() { 34 } else { 0 };
        let note = if plans.iter().any(|p| p.non_finite > 0) {
            NOTE_BAND as u64
        } else {
            0
        };
        let mut x = 0u64;
        let mut height = 0u64;
        let mut panels = Vec::with_capacity(plans.len());
        for (panel, plan) in self.panels.iter().zip(plans) {
            let s = plan.cell_pixels as u64;
            let (fw, fh) = (panel.nx as u64 * s, panel.ny as u64 * s);
            if fw * fh > MAX_PIXELS {
                return Err(too_large(fw, fh));
            }
            let field_x = x + MARGIN as u64;
            let field_y = top + TITLE_BAND as u64;
            let bar_x = field_x + fw + BAR_GAP as u64;
            let body = fw + BAR_GAP as u64 + BAR_WIDTH as u64 + (TICK_LENGTH + LABEL_GAP) as u64;
            let width = MARGIN as u64
                + (body + plan.label_width as u64).max(plan.title_width as u64)
                + MARGIN as u64;
            height = height.max(field_y + fh + note + MARGIN as u64);
            let rect = |x: u64, y: u64, w: u64, h: u64| PixelRect {
                x: x as u32,
                y: y as u32,
                width: w as u32,
                height: h as u32,
            };
            panels.push(PanelLayout {
                field: rect(field_x, field_y, fw, fh),
                bar: rect(bar_x, field_y, BAR_WIDTH as u64, fh),
                cell_pixels: plan.cell_pixels,
                min: plan.scale.min,
                max: plan.scale.max,
                ticks: plan.ticks.clone(),
                non_finite: plan.non_finite,
            });
            x += width;
            if x > MAX_PIXELS {
                return Err(too_large(x, height));
            }
        }
        let title_width = match &self.title {
            Some(t) => text::measure(t, FIGURE_TITLE_SIZE)?.0 as u64 + 2 * MARGIN as u64,
            None => 0,
        };
        let width = x.max(title_width);
        if width * height > MAX_PIXELS {
            return Err(too_large(width, height));
        }
        Ok(Layout {
            width: width as u32,
            height: height as u32,
            panels,
        })
    }

    /// Text, tick marks and frames, through plotters.
    fn draw_decorations(&self, rgb: &mut [u8], layout: &Layout) -> Result<()> {
        let root = TextBackend::new(rgb, layout.width, layout.height)?.into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let text = |size: f64, h: HPos, v: VPos| {
            (text::FAMILY, size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, v))
        };
        if let Some(title) = &self.title {
            let style = text(FIGURE_TITLE_SIZE, HPos::Center, VPos::Top);
            root.draw_text(title, &style, ((layout.width / 2) as i32, MARGIN as i32))
                .map_err(draw_error)?;
        }
        for (panel, place) in self.panels.iter().zip(&layout.panels) {
            let (f, b) = (place.field, place.bar);
            let style = text(PANEL_TITLE_SIZE, HPos::Center, VPos::Bottom);
            let centre = (f.x + (b.x + b.width - f.x) / 2) as i32;
            root.draw_text(&panel.title, &style, (centre, f.y as i32 - 8))
                .map_err(draw_error)?;
            root.draw(&frame(f)).map_err(draw_error)?;
            root.draw(&frame(b)).map_err(draw_error)?;
            let label = text(LABEL_SIZE, HPos::Left, VPos::Center);
            let right = (b.x + b.width) as i32;
            for (value, text) in &place.ticks {
                let y = place.bar_row(*value) as i32;
                root.draw(&PathElement::new(
                    vec![(right, y), (right + TICK_LENGTH as i32, y)],
                    BLACK,
                ))
                .map_err(draw_error)?;
                root.draw_text(text, &label, (right + (TICK_LENGTH + LABEL_GAP) as i32, y))
                    .map_err(draw_error)?;
            }
            if place.non_finite > 0 {
                let note = match place.non_finite {
                    1 => "1 cell NaN or infinite (magenta)".to_string(),
                    n => format!("{n} cells NaN or infinite (magenta)"),
                };
                let style = text(LABEL_SIZE, HPos::Left, VPos::Top);
                root.draw_text(&note, &style, (f.x as i32, (f.y + f.height + 4) as i32))
                    .map_err(draw_error)?;
            }
        }
        root.present().map_err(draw_error)?;
        Ok(())
    }
}

/// Draws one field: writes the shorthand of [`Figure`] with a single panel.
pub fn write_field_png(path: impl AsRef<Path>, panel: Panel<'_>) -> Result<Layout> {
    Figure::new().panel(panel).write_png(path)
}

/// What a panel needs before the figure is laid out.
struct Plan {
    scale: Scale,
    cell_pixels: u32,
    ticks: Vec<(f64, String)>,
    label_width: u32,
    title_width: u32,
    non_finite: usize,
}

/// A one-pixel black frame just outside `r`.
fn frame(r: PixelRect) -> Rectangle<(i32, i32)> {
    let (x0, y0) = (r.x as i32 - 1, r.y as i32 - 1);
    let (x1, y1) = ((r.x + r.width) as i32, (r.y + r.height) as i32);
    Rectangle::new([(x0, y0), (x1, y1)], BLACK)
}

fn draw_error(e: impl std::fmt::Display) -> OutputError {
    OutputError::Draw(e.to_string())
}

/// Writes the field's cells as squares of exact colours (after plotters is done).
fn paint_field(rgb: &mut [u8], width: u32, panel: &Panel, scale: &Scale, place: &PanelLayout) {
    let s = place.cell_pixels as usize;
    let (fx, fy) = (place.field.x as usize, place.field.y as usize);
    let w = width as usize;
    for y in 0..panel.ny {
        // Grid row y is image row ny-1-y: y goes up.
        let top = fy + (panel.ny - 1 - y) * s;
        for x in 0..panel.nx {
            let cell = x + panel.nx * y;
            let color = if panel.is_masked(cell) {
                MASK_COLOR
            } else {
                scale.color(panel.values[cell])
            };
            let left = fx + x * s;
            for row in top..top + s {
                let start = 3 * (row * w + left);
                for px in rgb[start..start + 3 * s].chunks_exact_mut(3) {
                    px.copy_from_slice(&color);
                }
            }
        }
    }
}

/// Fills the bar from the map's first colour (bottom) to its last (top).
fn paint_bar(rgb: &mut [u8], width: u32, map: ColorMap, place: &PanelLayout) {
    let b = place.bar;
    let w = width as usize;
    for r in 0..b.height {
        let t = if b.height > 1 {
            1.0 - f64::from(r) / f64::from(b.height - 1)
        } else {
            0.5
        };
        let color = map.rgb(t);
        let start = 3 * ((b.y + r) as usize * w + b.x as usize);
        for px in rgb[start..start + 3 * b.width as usize].chunks_exact_mut(3) {
            px.copy_from_slice(&color);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{MASK_COLOR, NAN_COLOR};

    /// Writes `figure` to a temporary PNG and decodes it with the `image` crate, the way a
    /// viewer would read it.
    fn round_trip(figure: &Figure) -> (Layout, image::RgbImage) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("figure.png");
        let layout = figure.write_png(&path).unwrap();
        let decoded = image::open(&path).unwrap().to_rgb8();
        (layout, decoded)
    }

    fn at(img: &image::RgbImage, (x, y): (u32, u32)) -> [u8; 3] {
        img.get_pixel(x, y).0
    }

    fn close(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
        a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= tol)
    }

    /// A ramp `v = x + nx * y`: the smallest value at the bottom-left, the largest at the
    /// top-right.
    fn ramp(nx: usize, ny: usize) -> Vec<f64> {
        (0..nx * ny).map(|i| i as f64).collect()
    }

    // Catches a y axis drawn downwards, a wrong image size, colours off the map and a PNG
    // that does not decode. The oracle is viridis as published (matplotlib's
    // _viridis_data: #440154 at 0, #21918c at 0.5, #fde725 at 1), not our own lookup.
    #[test]
    fn cells_have_viridis_colours_with_y_up() {
        let (nx, ny) = (21, 10);
        let v = ramp(nx, ny);
        let (layout, img) = round_trip(&Figure::new().panel(Panel::new("ramp", &v, nx, ny)));
        assert_eq!((img.width(), img.height()), (layout.width, layout.height));
        let p = &layout.panels[0];
        let s = p.cell_pixels;
        assert_eq!(
            (p.field.width, p.field.height),
            (nx as u32 * s, ny as u32 * s)
        );
        // The bottom-left pixel of the field holds cell (0, 0), the minimum.
        let f = p.field;
        assert_eq!(at(&img, (f.x, f.y + f.height - 1)), [0x44, 0x01, 0x54]);
        // The top-right pixel holds the maximum.
        assert_eq!(at(&img, (f.x + f.width - 1, f.y)), [0xfd, 0xe7, 0x25]);
        // Cell 105 = (0, 5) holds 105 of 0..=209, a hair above the middle of the map.
        let (x, y) = (105 % nx, 105 / nx);
        assert!(close(at(&img, p.cell_center(x, y)), [0x21, 0x91, 0x8c], 3));
        // Every cell is one flat colour, all its pixels alike.
        let (cx, cy) = p.cell_center(3, 7);
        assert_eq!(
            at(&img, (cx - s / 2, cy - s / 2)),
            at(&img, (cx + s / 2 - 1, cy + s / 2 - 1))
        );
    }

    // Catches a missing or upside-down scale bar and missing tick labels: the bar runs from
    // the map's first colour at the bottom to its last at the top, its green channel (which
    // rises along viridis) never falls going up, and there is dark text to its right.
    #[test]
    fn the_scale_bar_rises_and_carries_labels() {
        let (nx, ny) = (30, 30);
        let v = ramp(nx, ny);
        let (layout, img) = round_trip(&Figure::new().panel(Panel::new("ramp", &v, nx, ny)));
        let b = layout.panels[0].bar;
        let column = b.x + b.width / 2;
        let greens: Vec<u8> = (b.y..b.y + b.height)
            .rev()
            .map(|y| at(&img, (column, y))[1])
            .collect();
        assert!(
            greens.windows(2).all(|w| w[0] <= w[1]),
            "green falls along the bar"
        );
        assert_eq!(at(&img, (column, b.y + b.height - 1)), [0x44, 0x01, 0x54]);
        assert_eq!(at(&img, (column, b.y)), [0xfd, 0xe7, 0x25]);
        assert!(layout.panels[0].ticks.len() >= 3);
        let dark = (b.x + b.width + 6..layout.width)
            .flat_map(|x| (b.y..b.y + b.height).map(move |y| (x, y)))
            .filter(|&p| at(&img, p).iter().all(|&c| c < 100))
            .count();
        assert!(dark > 30, "no tick labels drawn ({dark} dark pixels)");
        // The title is drawn above the field.
        let title = (b.y.saturating_sub(24)..b.y)
            .flat_map(|y| (0..layout.width).map(move |x| (x, y)))
            .filter(|&p| at(&img, p).iter().all(|&c| c < 100))
            .count();
        assert!(title > 10, "no title drawn");
    }

    // Catches a diverging map that is not centred on zero or has its ends swapped.
    #[test]
    fn diverging_panels_are_white_at_zero_blue_below_red_above() {
        let (nx, ny) = (3, 1);
        let v = [-1.0, 0.0, 0.25];
        let panel = Panel::new("w", &v, nx, ny).color_map(ColorMap::Diverging);
        let (layout, img) = round_trip(&Figure::new().panel(panel));
        let p = &layout.panels[0];
        assert_eq!((p.min, p.max), (-1.0, 1.0));
        let [r, _, b] = at(&img, p.cell_center(0, 0));
        assert!(b > r + 50, "-1 is not blue");
        assert!(
            at(&img, p.cell_center(1, 0)).iter().all(|&c| c >= 230),
            "0 is not white"
        );
        let [r, _, b] = at(&img, p.cell_center(2, 0));
        assert!(r > b + 20, "0.25 is not red");
    }

    // Catches masks and NaNs that take the colour of a value, or that stretch the
    // automatic range (the masked cell holds a huge value, the NaN poisons min/max).
    #[test]
    fn masked_and_non_finite_cells_have_their_own_colours() {
        let (nx, ny) = (4, 2);
        let mut v = ramp(nx, ny);
        v[1] = f64::NAN;
        v[2] = 1e9;
        let mut solid = vec![false; nx * ny];
        solid[2] = true;
        let panel = Panel::new("masked", &v, nx, ny).mask(&solid);
        let (layout, img) = round_trip(&Figure::new().panel(panel));
        let p = &layout.panels[0];
        assert_eq!(at(&img, p.cell_center(1, 0)), NAN_COLOR);
        assert_eq!(at(&img, p.cell_center(2, 0)), MASK_COLOR);
        assert_eq!((p.min, p.max), (0.0, 7.0));
        assert_eq!(p.non_finite, 1);
        assert_eq!(at(&img, p.cell_center(3, 1)), [0xfd, 0xe7, 0x25]);
    }

    // Catches overlapping panels and a shared range that is not applied: side by side, in
    // order, and equal values in two panels with one range get one colour.
    #[test]
    fn panels_sit_side_by_side_and_share_a_range() {
        let (nx, ny) = (8, 6);
        let truth = ramp(nx, ny);
        let recovered: Vec<f64> = truth.iter().map(|v| 0.5 * v).collect();
        let error: Vec<f64> = truth.iter().zip(&recovered).map(|(a, b)| b - a).collect();
        let range = ColorRange::covering(&[&truth, &recovered], ColorMap::Viridis).unwrap();
        let figure = Figure::new()
            .title("comparison")
            .panel(Panel::new("true", &truth, nx, ny).range(range))
            .panel(Panel::new("recovered", &recovered, nx, ny).range(range))
            .panel(Panel::new("error", &error, nx, ny).color_map(ColorMap::Diverging));
        let (layout, img) = round_trip(&figure);
        assert_eq!(layout.panels.len(), 3);
        for pair in layout.panels.windows(2) {
            assert!(pair[0].bar.x + pair[0].bar.width < pair[1].field.x);
        }
        let last = &layout.panels[2];
        assert!(last.bar.x + last.bar.width < layout.width);
        // truth at cell 10 is 10; recovered at cell 20 is 10.
        let (a, b) = (&layout.panels[0], &layout.panels[1]);
        assert_eq!(
            at(&img, a.cell_center(10 % nx, 10 / nx)),
            at(&img, b.cell_center(20 % nx, 20 / nx))
        );
        assert_ne!(at(&img, a.cell_center(0, 0)), at(&img, a.cell_center(1, 0)));
    }

    // Catches divisions by an empty range and indexing past a tiny grid: a constant field,
    // an all-NaN field and a single cell still render, with a bar and ticks.
    #[test]
    fn degenerate_fields_still_render() {
        let constant = [2.0; 6];
        let nan = [f64::NAN; 6];
        let one = [5.0];
        let figure = Figure::new()
            .panel(Panel::new("constant", &constant, 3, 2))
            .panel(Panel::new("nan", &nan, 3, 2).color_map(ColorMap::Diverging))
            .panel(Panel::new("one", &one, 1, 1));
        let (layout, img) = round_trip(&figure);
        let [c, n, o] = [0, 1, 2].map(|i| &layout.panels[i]);
        assert!(c.min < 2.0 && 2.0 < c.max && c.ticks.len() >= 2);
        assert!(close(at(&img, c.cell_center(1, 1)), [0x21, 0x91, 0x8c], 3));
        assert_eq!(n.non_finite, 6);
        assert_eq!(at(&img, n.cell_center(2, 1)), NAN_COLOR);
        assert_eq!((o.field.width, o.field.height), (400, 400));
    }

    // Catches input errors that panic or write a file: each is a typed error and leaves
    // nothing on disk.
    #[test]
    fn bad_input_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        let v = vec![0.0; 6];
        let write = |p: Panel| write_field_png(&path, p);
        assert!(matches!(
            write(Panel::new("short", &v, 4, 2)),
            Err(OutputError::Length {
                expected: 8,
                actual: 6,
                ..
            })
        ));
        assert!(matches!(
            write(Panel::new("empty", &[], 0, 3)),
            Err(OutputError::EmptyGrid { .. })
        ));
        let fixed = |min, max| ColorRange::Fixed { min, max };
        assert!(matches!(
            write(Panel::new("range", &v, 3, 2).range(fixed(1.0, 1.0))),
            Err(OutputError::ColorRange { .. })
        ));
        assert!(matches!(
            write(Panel::new("range", &v, 3, 2).range(fixed(f64::NAN, 1.0))),
            Err(OutputError::ColorRange { .. })
        ));
        assert!(matches!(
            write(Panel::new("mask", &v, 3, 2).mask(&[true; 5])),
            Err(OutputError::Length { .. })
        ));
        assert!(matches!(
            Figure::new().write_png(&path),
            Err(OutputError::Nothing(_))
        ));
        let huge = Figure::new()
            .cell_pixels(10_000)
            .panel(Panel::new("huge", &v, 3, 2));
        assert!(matches!(
            huge.write_png(&path),
            Err(OutputError::ImageSize { .. })
        ));
        assert!(!path.exists());
    }
}
