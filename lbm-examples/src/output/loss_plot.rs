//! Loss curves as a PNG (see [`LossPlot`]).

use std::path::Path;

use plotters::prelude::*;

use super::error::{OutputError, Result};
use super::file::write_png;
use super::text::{TextBackend, FAMILY};

/// Accepted image sides, in pixels: below this plotters has no room for the axes.
const SIDES: std::ops::RangeInclusive<u32> = 200..=8000;

/// A loss plot being put together: a title, named series, a size. It draws the loss on a
/// log axis against the iteration, one line per series, as a PNG.
///
/// A log axis shows what matters in an optimisation, the orders of magnitude gained, and
/// keeps a curve that falls from 1 to 1e-8 readable. Values that a log axis cannot show
/// (zero, negative, NaN, infinite) are left out and break the line there; a series with a
/// single point is drawn as a dot.
///
/// ```no_run
/// use lbm_examples::output::LossPlot;
/// # fn main() -> Result<(), lbm_examples::output::OutputError> {
/// let adam = [1.0, 0.5, 0.2, 0.1];
/// let lbfgs = [1.0, 0.01, 1e-5];
/// LossPlot::new("initial-state recovery")
///     .series("Adam", &adam)
///     .series("L-BFGS", &lbfgs)
///     .write_png("loss.png")?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct LossPlot<'a> {
    title: String,
    series: Vec<(String, &'a [f64])>,
    size: (u32, u32),
    x_label: String,
    y_label: String,
}

impl<'a> LossPlot<'a> {
    /// An empty 800 by 500 plot titled `title`, axes "iteration" and "loss".
    pub fn new(title: impl Into<String>) -> Self {
        LossPlot {
            title: title.into(),
            series: Vec::new(),
            size: (800, 500),
            x_label: "iteration".into(),
            y_label: "loss".into(),
        }
    }

    /// Adds a series: `values[k]` is the loss at iteration `k`.
    pub fn series(mut self, name: impl Into<String>, values: &'a [f64]) -> Self {
        self.series.push((name.into(), values));
        self
    }

    /// Sets the image size in pixels (each side 200 to 8000).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// Names the axes.
    pub fn labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }

    /// Draws the plot in memory: `3 * width * height` bytes of RGB, rows top to bottom.
    pub fn render(&self) -> Result<Vec<u8>> {
        let (width, height) = self.size;
        if !SIDES.contains(&width) || !SIDES.contains(&height) {
            return Err(OutputError::ImageSize {
                width: width.into(),
                height: height.into(),
                accepted: "200 to 8000 pixels a side",
            });
        }
        if self.series.is_empty() {
            return Err(OutputError::Nothing("a loss plot without series".into()));
        }
        let shown = |v: &f64| v.is_finite() && *v > 0.0;
        let values = self.series.iter().flat_map(|(_, v)| v.iter()).copied();
        let (lo, hi) = values
            .filter(shown)
            .fold(None, |acc: Option<(f64, f64)>, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
            .ok_or(OutputError::NoPlottablePoints)?;
        // Whole decades, so that at least two powers of ten carry labels.
        let lo = 10f64.powf(lo.log10().floor());
        let mut hi = 10f64.powf(hi.log10().ceil());
        if hi <= lo {
            hi = lo * 10.0;
        }
        let last = self.series.iter().map(|(_, v)| v.len()).max().unwrap_or(1);
        let x_max = (last.max(2) - 1) as f64;

        let mut rgb = vec![255u8; 3 * width as usize * height as usize];
        {
            let root = TextBackend::new(&mut rgb, width, height)?.into_drawing_area();
            root.fill(&WHITE).map_err(draw_error)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, (FAMILY, 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(0f64..x_max, (lo..hi).log_scale())
                .map_err(draw_error)?;
            let decades = (hi / lo).log10();
            chart
                .configure_mesh()
                .x_desc(self.x_label.as_str())
                .y_desc(self.y_label.as_str())
                .label_style((FAMILY, 13))
                .axis_desc_style((FAMILY, 14))
                .x_label_formatter(&|x| format!("{x:.0}"))
                // Powers of ten (and, over few decades, their multiples) print exactly.
                .y_label_formatter(&|y| {
                    if decades > 1.0 {
                        format!("{y:.0e}")
                    } else {
                        format!("{y:.1e}")
                    }
                })
                .draw()
                .map_err(draw_error)?;
            for (i, (name, values)) in self.series.iter().enumerate() {
                let c = colorous::TABLEAU10[i % colorous::TABLEAU10.len()];
                let color = RGBColor(c.r, c.g, c.b);
                let runs = runs(values, shown);
                for (k, run) in runs.iter().enumerate() {
                    let points = run.iter().map(|&(x, y)| (x as f64, y));
                    let annotation = if run.len() == 1 {
                        chart
                            .draw_series(points.map(|p| Circle::new(p, 3, color.filled())))
                            .map_err(draw_error)?
                    } else {
                        chart
                            .draw_series(LineSeries::new(points, color.stroke_width(2)))
                            .map_err(draw_error)?
                    };
                    // One legend entry per series, however many pieces it is drawn in.
                    if k == 0 {
                        annotation.label(name.as_str()).legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                        });
                    }
                }
            }
            chart
                .configure_series_labels()
                .label_font((FAMILY, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(draw_error)?;
            root.present().map_err(draw_error)?;
        }
        Ok(rgb)
    }

    /// Draws the plot and writes it as a PNG at `path`.
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let rgb = self.render()?;
        write_png(path.as_ref(), self.size.0, self.size.1, &rgb)
    }
}

/// The stretches of consecutive points that `keep` accepts, as `(index, value)`.
fn runs(values: &[f64], keep: impl Fn(&f64) -> bool) -> Vec<Vec<(usize, f64)>> {
    let mut runs: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if keep(v) {
            current.push((i, *v));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

fn draw_error(e: impl std::fmt::Display) -> OutputError {
    OutputError::Draw(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tableau(i: usize) -> [u8; 3] {
        let c = colorous::TABLEAU10[i];
        [c.r, c.g, c.b]
    }

    /// Pixels of exactly `color` in the decoded image, as (x, y).
    fn pixels_of(img: &image::RgbImage, color: [u8; 3]) -> Vec<(u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, _, p)| p.0 == color)
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    // Catches a plot that does not decode, has the wrong size, loses a series or draws the
    // log axis upside down: a falling loss must run from top left to bottom right.
    #[test]
    fn loss_curves_decode_and_fall_to_the_right() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let adam: Vec<f64> = (0..100).map(|k| (-(k as f64) / 10.0).exp()).collect();
        let lbfgs = [1.0, 1e-2, 1e-4, f64::NAN, 1e-7];
        LossPlot::new("test")
            .size(640, 400)
            .series("Adam", &adam)
            .series("L-BFGS", &lbfgs)
            .series("one point", &[0.5])
            .write_png(&path)
            .unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (640, 400));
        let first = pixels_of(&img, tableau(0));
        assert!(first.len() > 100, "the first series is missing");
        assert!(
            pixels_of(&img, tableau(1)).len() > 30,
            "the second series is missing"
        );
        assert!(
            pixels_of(&img, tableau(2)).len() > 5,
            "the single point is missing"
        );
        let mean_y = |keep: &dyn Fn(u32) -> bool| {
            let ys: Vec<f64> = first
                .iter()
                .filter(|p| keep(p.0))
                .map(|p| p.1 as f64)
                .collect();
            ys.iter().sum::<f64>() / ys.len().max(1) as f64
        };
        // Legend swatches sit top right; compare the left and the middle of the plot.
        let left = mean_y(&|x| x < 200);
        let middle = mean_y(&|x| (300..400).contains(&x));
        assert!(left < middle, "the curve rises: {left} vs {middle}");
    }

    // Catches bad input that panics or leaves a file.
    #[test]
    fn bad_input_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        assert!(matches!(
            LossPlot::new("empty").write_png(&path),
            Err(OutputError::Nothing(_))
        ));
        assert!(matches!(
            LossPlot::new("nan")
                .series("a", &[f64::NAN, 0.0, -1.0])
                .write_png(&path),
            Err(OutputError::NoPlottablePoints)
        ));
        assert!(matches!(
            LossPlot::new("small")
                .size(100, 50)
                .series("a", &[1.0])
                .write_png(&path),
            Err(OutputError::ImageSize { .. })
        ));
        assert!(!path.exists());
    }

    // Catches a line drawn through a NaN or a zero (which a log axis cannot place): the
    // series is cut there.
    #[test]
    fn unplottable_values_split_a_series() {
        let r = runs(&[1.0, f64::NAN, 0.5, 0.25, 0.0, -1.0, 0.1], |v| {
            v.is_finite() && *v > 0.0
        });
        assert_eq!(
            r,
            vec![vec![(0, 1.0)], vec![(2, 0.5), (3, 0.25)], vec![(6, 0.1)]]
        );
    }
}
