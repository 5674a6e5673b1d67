//! Text on bitmaps, and the plotters backend that draws it.
//!
//! Text uses Noto Sans Regular (SIL Open Font License 1.1, from the `notosans` crate),
//! embedded, laid out and rasterised by `ab_glyph` in pure Rust, so nothing needs
//! fontconfig or FreeType. plotters' own `ab_glyph` path places each glyph's outline at the
//! pen position, dropping its left side bearing, which gives visibly uneven letter spacing
//! ("in fin ite") at label sizes. [`TextBackend`] wraps plotters' bitmap backend and draws
//! text itself with each glyph at its own origin, as `ab_glyph` lays it out; everything
//! else goes to the bitmap backend unchanged.
//!
//! The font is also registered with plotters as `sans-serif` (its default family), for the
//! few places where plotters measures text without asking the backend.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::backend::{BitMapBackend, DrawingBackend, RGBPixel};
use plotters::style::{register_font, FontStyle};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};
use plotters_bitmap::BitMapBackendError;

use super::error::{OutputError, Result};

/// The family name under which the font is registered with plotters.
pub(crate) const FAMILY: &str = "sans-serif";

/// The embedded font, parsed once; also registers it with plotters.
fn font() -> Result<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let registered = register_font(FAMILY, FontStyle::Normal, notosans::REGULAR_TTF).is_ok();
        let font = FontRef::try_from_slice(notosans::REGULAR_TTF).ok();
        font.filter(|_| registered)
    })
    .as_ref()
    .ok_or(OutputError::Font)
}

/// Checks that the font loads; the drawing code calls it before anything else, so that a
/// broken font is an error up front rather than missing text.
pub(crate) fn ensure_font() -> Result<()> {
    font().map(|_| ())
}

/// Width and height in pixels of `text` at `size` pixels (the line's ascent to descent).
pub(crate) fn measure(text: &str, size: f64) -> Result<(u32, u32)> {
    let font = font()?;
    let (width, height) = layout(font, text, size, |_, _, _| {});
    Ok((width.ceil() as u32, height.ceil() as u32))
}

/// Lays `text` out from the top-left corner `(0, 0)` and hands every covered pixel to
/// `pixel(x, y, coverage)`; returns the advance width and the line height.
fn layout(
    font: &FontRef<'static>,
    text: &str,
    size: f64,
    mut pixel: impl FnMut(i32, i32, f32),
) -> (f32, f32) {
    let scale = PxScale::from(size as f32);
    let scaled = font.as_scaled(scale);
    let ascent = scaled.ascent();
    let mut caret = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        previous = Some(id);
        let glyph = id.with_scale_and_position(scale, point(caret, ascent));
        caret += scaled.h_advance(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            // px_bounds is where the outline sits, side bearing included.
            let bounds = outline.px_bounds();
            let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, coverage| pixel(x0 + x as i32, y0 + y as i32, coverage));
        }
    }
    (caret, scaled.ascent() - scaled.descent())
}

/// plotters' bitmap backend with text drawn by [`layout`].
pub(crate) struct TextBackend<'a> {
    inner: BitMapBackend<'a, RGBPixel>,
}

impl<'a> TextBackend<'a> {
    /// A backend drawing into `rgb`, `3 * width * height` bytes, rows top to bottom.
    pub fn new(rgb: &'a mut [u8], width: u32, height: u32) -> Result<Self> {
        ensure_font()?;
        let inner = BitMapBackend::<RGBPixel>::with_buffer_and_format(rgb, (width, height))
            .map_err(|e| OutputError::Draw(e.to_string()))?;
        Ok(TextBackend { inner })
    }
}

type Drawn = std::result::Result<(), DrawingErrorKind<BitMapBackendError>>;

impl DrawingBackend for TextBackend<'_> {
    type ErrorType = BitMapBackendError;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Drawn {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Drawn {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Drawn {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Drawn {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Drawn {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Drawn {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<BitMapBackendError>> {
        measure(text, style.size()).map_err(font_error)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Drawn {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let font = font().map_err(font_error)?;
        let (width, height) = measure(text, style.size()).map_err(font_error)?;
        let (width, height) = (width as i32, height as i32);
        // The anchor, as plotters' default text drawing has it.
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let mut result = Ok(());
        layout(font, text, style.size(), |x, y, coverage| {
            let (x, y) = transform.transform(x + dx, y + dy);
            let covered = BackendColor {
                alpha: color.alpha * f64::from(coverage.min(1.0)),
                rgb: color.rgb,
            };
            if result.is_ok() && coverage > 0.0 {
                result = self.inner.draw_pixel((pos.0 + x, pos.1 + y), covered);
            }
        });
        result
    }
}

fn font_error(e: OutputError) -> DrawingErrorKind<BitMapBackendError> {
    DrawingErrorKind::FontError(Box::new(std::io::Error::other(e.to_string())))
}
