//! Colour maps and colour ranges: values to RGB.
//!
//! The maps are the published ones (via `colorous`, a port of d3-scale-chromatic), not
//! approximations: viridis (van der Walt and Smith, 2015), perceptually uniform and readable
//! in grey and by colour-blind readers, for magnitudes; ColorBrewer's RdBu, reversed so that
//! negative is blue and positive red, for signed fields such as vorticity, always centred on
//! zero so that white means zero.

/// Colour of cells whose value is NaN or infinite: magenta, which neither map contains, so
/// a diverged region stands out instead of passing for an extreme value.
pub const NAN_COLOR: [u8; 3] = [255, 0, 255];

/// Colour of masked (solid) cells: a mid grey, which neither map contains.
pub const MASK_COLOR: [u8; 3] = [128, 128, 128];

/// Which colour map a panel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMap {
    /// viridis, dark purple (low) to yellow (high), for magnitudes (speed, density, a
    /// solid fraction).
    Viridis,
    /// Blue (negative) through white (zero) to red (positive), ColorBrewer RdBu reversed,
    /// for signed fields. The automatic range of a diverging panel is symmetric about zero.
    Diverging,
}

impl ColorMap {
    /// The colour at position `t` in `[0, 1]` along the map (clamped outside it).
    pub fn rgb(self, t: f64) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let c = match self {
            ColorMap::Viridis => colorous::VIRIDIS.eval_continuous(t),
            // RdBu runs red -> blue; reversed, low values are blue.
            ColorMap::Diverging => colorous::RED_BLUE.eval_continuous(1.0 - t),
        };
        [c.r, c.g, c.b]
    }

    /// Whether the automatic range is symmetric about zero.
    fn symmetric(self) -> bool {
        matches!(self, ColorMap::Diverging)
    }
}

/// How a panel's values are mapped onto its colour map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColorRange {
    /// From the smallest to the largest finite, unmasked value; for a diverging map,
    /// `[-m, m]` with `m` the largest magnitude, so zero stays white.
    Auto,
    /// A fixed interval, values outside it drawn in the end colours. Give several panels
    /// the same range (see [`ColorRange::covering`]) to compare them colour for colour.
    Fixed {
        /// Value drawn with the first colour of the map.
        min: f64,
        /// Value drawn with the last colour of the map.
        max: f64,
    },
}

impl ColorRange {
    /// The fixed range spanning the finite values of all `fields`, made symmetric about zero
    /// for a diverging `map`; what "true" and "recovered" panels share to be comparable.
    /// `None` when no value is finite.
    pub fn covering(fields: &[&[f64]], map: ColorMap) -> Option<ColorRange> {
        let (lo, hi) = finite_extent(fields.iter().flat_map(|f| f.iter().copied()))?;
        let (min, max) = widen(lo, hi, map.symmetric());
        Some(ColorRange::Fixed { min, max })
    }
}

/// Smallest and largest finite value, `None` if there is none.
pub(crate) fn finite_extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// The drawn interval for data spanning `[lo, hi]`: symmetric about zero if asked, and never
/// empty, so that a constant field still gets a scale bar with ticks (its colour is then the
/// middle of the map).
pub(crate) fn widen(lo: f64, hi: f64, symmetric: bool) -> (f64, f64) {
    let (lo, hi) = if symmetric {
        let m = lo.abs().max(hi.abs());
        (-m, m)
    } else {
        (lo, hi)
    };
    if hi > lo {
        return (lo, hi);
    }
    // A constant field: half a unit either side, scaled to the value so that 1e-6 and 1e6
    // both get a readable bar.
    let half = if lo == 0.0 { 1.0 } else { 0.5 * lo.abs() };
    (lo - half, hi + half)
}

/// Maps values to colours for one panel: the resolved interval and the map.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    pub map: ColorMap,
    pub min: f64,
    pub max: f64,
}

impl Scale {
    /// The colour of `v`; non-finite values get [`NAN_COLOR`].
    pub fn color(&self, v: f64) -> [u8; 3] {
        if !v.is_finite() {
            return NAN_COLOR;
        }
        self.map.rgb((v - self.min) / (self.max - self.min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catches a reversed or swapped map: the ends of viridis as published (matplotlib's
    // #440154 and #fde725), blue at the low end of the diverging map, red at the high end.
    #[test]
    fn maps_have_their_published_ends() {
        assert_eq!(ColorMap::Viridis.rgb(0.0), [0x44, 0x01, 0x54]);
        assert_eq!(ColorMap::Viridis.rgb(1.0), [0xfd, 0xe7, 0x25]);
        let blue = ColorMap::Diverging.rgb(0.0);
        let red = ColorMap::Diverging.rgb(1.0);
        assert!(blue[2] > blue[0] + 50, "low end {blue:?} is not blue");
        assert!(red[0] > red[2] + 50, "high end {red:?} is not red");
        let mid = ColorMap::Diverging.rgb(0.5);
        // d3's RdBu is a spline through ColorBrewer's colours: near white, not #ffffff.
        assert!(mid.iter().all(|&c| c >= 230), "middle {mid:?} is not white");
    }

    // Catches an automatic diverging range that is not centred: zero must be white.
    #[test]
    fn diverging_ranges_are_symmetric_and_constant_fields_get_a_bar() {
        assert_eq!(widen(-1.0, 3.0, true), (-3.0, 3.0));
        assert_eq!(widen(2.0, 3.0, false), (2.0, 3.0));
        assert_eq!(widen(0.0, 0.0, true), (-1.0, 1.0));
        assert_eq!(widen(4.0, 4.0, false), (2.0, 6.0));
        assert_eq!(
            ColorRange::covering(&[&[1.0, f64::NAN], &[-0.5, 0.25]], ColorMap::Viridis),
            Some(ColorRange::Fixed {
                min: -0.5,
                max: 1.0
            })
        );
        assert_eq!(
            ColorRange::covering(&[&[f64::NAN]], ColorMap::Viridis),
            None
        );
        let s = Scale {
            map: ColorMap::Diverging,
            min: -2.0,
            max: 2.0,
        };
        assert_eq!(s.color(0.0), ColorMap::Diverging.rgb(0.5));
        assert_eq!(s.color(f64::INFINITY), NAN_COLOR);
    }
}
