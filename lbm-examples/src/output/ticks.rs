//! Tick positions and labels for a colour scale bar.
//!
//! Ticks fall on "nice" numbers (1, 2 or 5 times a power of ten) inside the interval, as in
//! Heckbert's "Nice numbers for graph labels" (Graphics Gems, 1990), and every label of a
//! bar is printed with the same number of digits, chosen from the tick step, so that
//! `0.1, 0.2, 0.3` never come out as `0.1, 0.2, 0.30000000000000004`.

/// Ticks inside `[min, max]` (finite, `min < max`) about `target` of them, with their
/// labels. Always at least the two ends when no nice number falls inside.
pub(crate) fn ticks(min: f64, max: f64, target: usize) -> Vec<(f64, String)> {
    let step = nice_step((max - min) / target.max(1) as f64);
    let mut values = Vec::new();
    if step.is_finite() && step > 0.0 {
        let first = (min / step).ceil() as i64;
        let last = (max / step).floor() as i64;
        // Bound the count: a degenerate step from an extreme interval must not loop long.
        if last >= first && last - first <= 4 * target as i64 + 4 {
            values = (first..=last).map(|k| k as f64 * step).collect();
        }
    }
    if values.len() < 2 {
        values = vec![min, max];
    }
    let style = LabelStyle::for_step(step, min.abs().max(max.abs()));
    values
        .into_iter()
        // k * step can land a hair outside [min, max]; and -0.0 prints as "-0".
        .map(|v| {
            let v = v.clamp(min, max);
            let v = if v == 0.0 { 0.0 } else { v };
            (v, style.format(v))
        })
        .collect()
}

/// The nice number (1, 2 or 5 times a power of ten) nearest `raw`, Heckbert's rounding.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return f64::NAN;
    }
    let exp = raw.log10().floor();
    let base = 10f64.powf(exp);
    let frac = raw / base;
    let nice = if frac < 1.5 {
        1.0
    } else if frac < 3.0 {
        2.0
    } else if frac < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * base
}

/// How the labels of one bar are printed: fixed with `decimals` digits, or scientific with
/// `decimals` digits of mantissa when the values are very large or very small.
#[derive(Clone, Copy, Debug)]
struct LabelStyle {
    scientific: bool,
    decimals: usize,
}

impl LabelStyle {
    fn for_step(step: f64, magnitude: f64) -> LabelStyle {
        if !(step.is_finite() && step > 0.0) {
            return LabelStyle {
                scientific: true,
                decimals: 3,
            };
        }
        let step_exp = step.log10().floor() as i32;
        let mag_exp = if magnitude > 0.0 {
            magnitude.log10().floor() as i32
        } else {
            0
        };
        if mag_exp >= 5 || step_exp <= -4 {
            // Enough mantissa digits to tell neighbouring ticks apart.
            LabelStyle {
                scientific: true,
                decimals: (mag_exp - step_exp).clamp(0, 6) as usize,
            }
        } else {
            LabelStyle {
                scientific: false,
                decimals: (-step_exp).max(0) as usize,
            }
        }
    }

    fn format(self, v: f64) -> String {
        if v == 0.0 {
            "0".to_string()
        } else if self.scientific {
            format!("{:.*e}", self.decimals, v)
        } else {
            format!("{:.*}", self.decimals, v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(min: f64, max: f64) -> Vec<String> {
        ticks(min, max, 5).into_iter().map(|(_, l)| l).collect()
    }

    // Catches float noise in labels and steps that are not 1-2-5 numbers.
    #[test]
    fn ticks_are_nice_numbers_with_uniform_labels() {
        assert_eq!(labels(0.0, 1.0), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(labels(-3.0, 3.0), ["-3", "-2", "-1", "0", "1", "2", "3"]);
        assert_eq!(
            labels(0.013, 0.087),
            ["0.02", "0.03", "0.04", "0.05", "0.06", "0.07", "0.08"]
        );
        assert_eq!(labels(1e-6, 5e-6), ["1e-6", "2e-6", "3e-6", "4e-6", "5e-6"]);
        assert_eq!(
            labels(0.0, 3e5),
            ["0", "5.0e4", "1.0e5", "1.5e5", "2.0e5", "2.5e5", "3.0e5"]
        );
    }

    // Catches an empty bar: a range with no nice number inside still gets its two ends.
    #[test]
    fn narrow_ranges_keep_their_ends() {
        let t = ticks(1.0001, 1.00011, 1);
        assert!(t.len() >= 2);
        for (v, _) in &t {
            assert!((1.0001..=1.00011).contains(v));
        }
    }
}
