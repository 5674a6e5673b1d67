//! Line and marker plots on linear axes, as PNG: velocity profiles against analytic ones,
//! cavity centrelines against Ghia's points, force histories.
//!
//! [`crate::output`] draws fields and loss curves on a log axis; a profile needs linear
//! axes, markers for published points and several panels side by side, so this module
//! draws them with plotters directly. Text comes from the same embedded font as
//! [`crate::output`] (Noto Sans, registered with plotters under [`FAMILY`]), so nothing
//! needs system font libraries; it goes through plotters' own `ab_glyph` text path, whose
//! letter spacing is slightly uneven at small sizes. Errors are
//! [`OutputError`]s, and files are written under a temporary
//! name and renamed, as the output writers do.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::output::OutputError;

/// The family name the embedded font is registered under.
pub const FAMILY: &str = "lbm-validation-sans";

/// Accepted panel sides, in pixels.
const SIDES: std::ops::RangeInclusive<u32> = 200..=4000;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A line through the points.
    Line,
    /// A hollow circle at each point (published data).
    Markers,
    /// A dashed line (an analytic reference).
    Dashed,
}

/// One named series of `(x, y)` points.
#[derive(Clone, Debug)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub style: Style,
}

/// One panel: a title, axis labels and series on linear axes.
///
/// ```no_run
/// use lbm_examples::validation::plot::{write_png, LinePlot};
/// # fn main() -> Result<(), lbm_examples::output::OutputError> {
/// let plot = LinePlot::new("profile")
///     .labels("u / u_max", "y / H")
///     .line("measured", vec![(0.0, 0.0), (1.0, 0.5), (0.0, 1.0)])
///     .markers("reference", vec![(0.0, 0.0), (1.0, 0.5), (0.0, 1.0)]);
/// write_png("profile.png", &[plot], (640, 480))?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct LinePlot {
    title: String,
    x_label: String,
    y_label: String,
    series: Vec<Series>,
    x_range: Option<(f64, f64)>,
    y_range: Option<(f64, f64)>,
    legend: Legend,
}

/// An axis range, `(lo, hi)`.
type Interval = (f64, f64);

/// Where the legend goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legend {
    /// Top right (the default).
    UpperRight,
    /// Top left.
    UpperLeft,
    /// Bottom right.
    LowerRight,
    /// Bottom left.
    LowerLeft,
}

impl LinePlot {
    /// An empty panel titled `title`, axes `x` and `y`.
    pub fn new(title: impl Into<String>) -> Self {
        LinePlot {
            title: title.into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: Vec::new(),
            x_range: None,
            y_range: None,
            legend: Legend::UpperRight,
        }
    }

    /// Moves the legend off the data.
    pub fn legend(mut self, at: Legend) -> Self {
        self.legend = at;
        self
    }

    /// Names the axes.
    pub fn labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }

    /// Adds a series drawn as a line.
    pub fn line(self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series(name, points, Style::Line)
    }

    /// Adds a series drawn as markers.
    pub fn markers(self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series(name, points, Style::Markers)
    }

    /// Adds a series drawn as a dashed line.
    pub fn dashed(self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series(name, points, Style::Dashed)
    }

    /// Adds a series in a given style.
    pub fn series(
        mut self,
        name: impl Into<String>,
        points: Vec<(f64, f64)>,
        style: Style,
    ) -> Self {
        self.series.push(Series {
            name: name.into(),
            points,
            style,
        });
        self
    }

    /// Fixes the range of the `x` axis (otherwise the data's, with a margin).
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }

    /// Fixes the range of the `y` axis (otherwise the data's, with a margin).
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// The axis ranges: the fixed ones, or the finite data's extent with 5% margins.
    fn ranges(&self) -> Result<[Interval; 2], OutputError> {
        let finite = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        let extent = |pick: fn(&(f64, f64)) -> f64| {
            finite()
                .map(pick)
                .fold(None, |acc: Option<(f64, f64)>, v| match acc {
                    None => Some((v, v)),
                    Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
                })
        };
        let padded = |r: Option<(f64, f64)>, fixed: Option<(f64, f64)>, what: &str| {
            if let Some((lo, hi)) = fixed {
                return if lo.is_finite() && hi.is_finite() && lo < hi {
                    Ok((lo, hi))
                } else {
                    Err(OutputError::Draw(format!(
                        "panel `{}`: {what} range [{lo}, {hi}] is not an interval",
                        self.title
                    )))
                };
            }
            let (lo, hi) = r.ok_or(OutputError::NoPlottablePoints)?;
            let pad = if hi > lo {
                0.05 * (hi - lo)
            } else {
                0.5 * lo.abs().max(1.0)
            };
            Ok((lo - pad, hi + pad))
        };
        Ok([
            padded(extent(|p| p.0), self.x_range, "x")?,
            padded(extent(|p| p.1), self.y_range, "y")?,
        ])
    }

    fn draw(&self, area: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), OutputError> {
        if self.series.is_empty() {
            return Err(OutputError::Nothing(format!(
                "panel `{}` has no series",
                self.title
            )));
        }
        let [(x0, x1), (y0, y1)] = self.ranges()?;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FAMILY, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .light_line_style(WHITE.mix(0.0))
            .x_label_formatter(&|v| tick(*v, x1 - x0))
            .y_label_formatter(&|v| tick(*v, y1 - y0))
            .draw()
            .map_err(draw_error)?;
        for (k, s) in self.series.iter().enumerate() {
            let c = colorous::TABLEAU10[k % colorous::TABLEAU10.len()];
            let color = RGBColor(c.r, c.g, c.b);
            // A non-finite point breaks a line, as in the output module's loss plots.
            for (piece, run) in runs(&s.points).into_iter().enumerate() {
                let drawn = match s.style {
                    Style::Line => chart
                        .draw_series(LineSeries::new(run, color.stroke_width(2)))
                        .map_err(draw_error)?,
                    Style::Dashed => chart
                        .draw_series(DashedLineSeries::new(run, 8, 5, color.stroke_width(2)))
                        .map_err(draw_error)?,
                    Style::Markers => chart
                        .draw_series(
                            run.into_iter()
                                .map(|p| Circle::new(p, 4, color.stroke_width(2))),
                        )
                        .map_err(draw_error)?,
                };
                // One legend entry per series, however many pieces it is drawn in.
                if piece == 0 {
                    let style = s.style;
                    drawn
                        .label(s.name.as_str())
                        .legend(move |(x, y)| legend_mark(style, color, x, y));
                }
            }
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(match self.legend {
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .draw()
            .map_err(draw_error)?;
        Ok(())
    }
}

/// A tick label: short, without trailing zeros; a value within rounding of zero (a tick
/// computed as a sum of steps) is 0.
fn tick(v: f64, span: f64) -> String {
    if v.abs() <= 1e-9 * span.abs() {
        return "0".into();
    }
    if v.abs() < 1e-3 || v.abs() >= 1e5 {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The legend's sample of a series.
fn legend_mark<DB: DrawingBackend>(
    style: Style,
    color: RGBColor,
    x: i32,
    y: i32,
) -> DynElement<'static, DB, (i32, i32)> {
    match style {
        Style::Markers => Circle::new((x + 10, y), 4, color.stroke_width(2)).into_dyn(),
        Style::Line | Style::Dashed => {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)).into_dyn()
        }
    }
}

/// The stretches of consecutive finite points.
fn runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            if let Some(r) = runs.last_mut() {
                r.push((x, y));
            }
        } else if runs.last().is_some_and(|r| !r.is_empty()) {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

fn draw_error(e: impl std::fmt::Display) -> OutputError {
    OutputError::Draw(e.to_string())
}

/// Registers the embedded font with plotters once.
fn ensure_font() -> Result<(), OutputError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| register_font(FAMILY, FontStyle::Normal, notosans::REGULAR_TTF).is_ok());
    if ok {
        Ok(())
    } else {
        Err(OutputError::Font)
    }
}

/// Draws `panels` side by side, each `panel` pixels wide and high, into RGB bytes.
pub fn render(panels: &[LinePlot], panel: (u32, u32)) -> Result<(Vec<u8>, u32, u32), OutputError> {
    let (pw, ph) = panel;
    if !SIDES.contains(&pw) || !SIDES.contains(&ph) {
        return Err(OutputError::ImageSize {
            width: pw.into(),
            height: ph.into(),
            accepted: "200 to 4000 pixels a panel side",
        });
    }
    if panels.is_empty() || panels.len() > 8 {
        return Err(OutputError::Nothing(format!(
            "{} panels (draw 1 to 8)",
            panels.len()
        )));
    }
    ensure_font()?;
    let (width, height) = (pw * panels.len() as u32, ph);
    let mut rgb = vec![255u8; 3 * width as usize * height as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let areas = root.split_evenly((1, panels.len()));
        for (plot, area) in panels.iter().zip(&areas) {
            plot.draw(area)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok((rgb, width, height))
}

/// Draws `panels` side by side and writes them as one PNG at `path`, through a temporary
/// file renamed into place.
pub fn write_png(
    path: impl AsRef<Path>,
    panels: &[LinePlot],
    panel: (u32, u32),
) -> Result<(), OutputError> {
    let path = path.as_ref();
    let (rgb, width, height) = render(panels, panel)?;
    let io = |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".lbm-validation-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    {
        let png_error = |source| OutputError::Png {
            path: path.to_path_buf(),
            source,
        };
        let mut w = std::io::BufWriter::new(tmp.as_file());
        let mut encoder = png::Encoder::new(&mut w, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&rgb).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
        w.flush().map_err(io)?;
    }
    // tempfile creates 0600 files; a figure is for others to read too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catches a plot that draws nothing, or bad input that panics instead of failing.
    #[test]
    fn panels_draw_and_bad_input_fails() {
        let line: Vec<(f64, f64)> = (0..20).map(|k| (k as f64, (k as f64).sin())).collect();
        let plot = LinePlot::new("t")
            .line("a", line.clone())
            .markers("b", line.clone())
            .dashed("c", line);
        let (rgb, w, h) = render(&[plot.clone(), plot.clone()], (300, 200)).unwrap();
        assert_eq!((w, h), (600, 200));
        let c = colorous::TABLEAU10[1];
        let marked = rgb.chunks(3).filter(|p| p == &[c.r, c.g, c.b]).count();
        assert!(marked > 50, "{marked} marker pixels");
        assert!(render(&[], (300, 200)).is_err());
        assert!(render(std::slice::from_ref(&plot), (10, 10)).is_err());
        assert!(render(&[LinePlot::new("empty")], (300, 200)).is_err());
        let nan = LinePlot::new("nan").line("a", vec![(f64::NAN, 1.0)]);
        assert!(render(&[nan], (300, 200)).is_err());
        assert!(render(&[plot.x_range(1.0, 0.0)], (300, 200)).is_err());
    }

    // Catches a file left behind by a failed write.
    #[test]
    fn writes_a_png_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        let plot = LinePlot::new("t").line("a", vec![(0.0, 0.0), (1.0, 1.0)]);
        write_png(&path, &[plot], (300, 200)).unwrap();
        assert!(path.metadata().unwrap().len() > 100);
        let bad = dir.path().join("q.png");
        assert!(write_png(&bad, &[], (300, 200)).is_err());
        assert!(!bad.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
