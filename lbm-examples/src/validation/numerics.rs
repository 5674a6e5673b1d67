//! Small numerical helpers the cases share: fits, interpolation, norms, and running a
//! simulation until it stops changing.

use lbm_runtime::{Grid, LatticeKind, Simulation};

/// A D2Q9 channel of `length` cells along `x` (periodic) with `width` fluid rows between
/// two solid rows, `y = 0` and `y = width + 1`, and its solid mask.
pub(crate) fn walled_channel(
    length: usize,
    width: usize,
) -> lbm_runtime::Result<(Grid, Vec<bool>)> {
    let ny = width + 2;
    let grid = Grid::new_2d(LatticeKind::D2Q9, length, ny)?;
    let mask: Vec<bool> = (0..grid.cells())
        .map(|c| {
            let y = grid.coords(c)[1];
            y == 0 || y == ny - 1
        })
        .collect();
    Ok((grid.with_solid(mask.clone())?, mask))
}

/// Cell tags from a solid mask: [`SOLID`](super::steps::SOLID) or
/// [`FLUID`](super::steps::FLUID).
pub(crate) fn solid_tags(mask: &[bool]) -> Vec<i64> {
    use super::steps::{FLUID, SOLID};
    mask.iter()
        .map(|&s| if s { SOLID } else { FLUID })
        .collect()
}

/// Bits `i` of each cell's links whose upstream cell `x - c_i` is in `moving` (a mask of
/// cells): the links of a moving wall.
pub(crate) fn links_into(grid: &Grid, moving: &[bool]) -> Vec<i64> {
    let q = grid.lattice().q();
    (0..grid.cells())
        .map(|cell| {
            (0..q)
                .filter(|&i| moving[grid.upstream(cell, i)])
                .fold(0i64, |m, i| m | (1 << i))
        })
        .collect()
}

/// The least-squares line through `(x, y)`: `(slope, intercept)`. Needs two distinct `x`.
pub(crate) fn fit_line(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len().min(y.len()) as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

/// Linear interpolation of the samples `(xs, ys)` (`xs` increasing) at `x`, extended
/// linearly beyond the ends.
pub(crate) fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let n = xs.len();
    if n == 1 {
        return ys[0];
    }
    // The interval [xs[k], xs[k + 1]] holding x, or the first or last one.
    let k = xs
        .windows(2)
        .position(|w| x <= w[1])
        .unwrap_or(n - 2)
        .min(n - 2);
    let t = (x - xs[k]) / (xs[k + 1] - xs[k]);
    ys[k] + t * (ys[k + 1] - ys[k])
}

/// `||a - b|| / ||b||` over paired values.
pub(crate) fn relative_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// How a run towards a steady state ended.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Steady {
    /// Steps run.
    pub steps: usize,
    /// The largest change of any velocity component over the last `every` steps, over the
    /// velocity scale.
    pub change: f64,
    /// Whether `change` fell below the tolerance before the step limit.
    pub converged: bool,
}

/// Runs `sim` in chunks of `every` steps until no velocity component changes by more than
/// `tolerance * scale` over a chunk, or `max_steps` are run.
///
/// Why the change over a chunk rather than a residual per step: the host sees the state
/// only through a copy, so the check is made rarely, and a slowly creeping flow changes
/// little per step long before it is steady.
pub(crate) fn run_to_steady(
    sim: &mut Simulation,
    every: usize,
    tolerance: f64,
    max_steps: usize,
    scale: f64,
) -> lbm_runtime::Result<Steady> {
    let every = every.max(1);
    let (_, mut previous) = sim.macroscopic()?;
    let mut steps = 0;
    let mut change = f64::INFINITY;
    while steps < max_steps {
        let chunk = every.min(max_steps - steps);
        sim.run(chunk)?;
        steps += chunk;
        let (_, u) = sim.macroscopic()?;
        change = u
            .iter()
            .zip(&previous)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
            / scale;
        previous = u;
        if change < tolerance {
            return Ok(Steady {
                steps,
                change,
                converged: true,
            });
        }
    }
    Ok(Steady {
        steps,
        change,
        converged: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catches an off-by-one interval or a wrong slope.
    #[test]
    fn lines_and_interpolation() {
        let x = [1.0, 2.0, 4.0];
        let y: Vec<f64> = x.iter().map(|v| 3.0 * v - 1.0).collect();
        let (s, c) = fit_line(&x, &y);
        assert!((s - 3.0).abs() < 1e-12 && (c + 1.0).abs() < 1e-12);
        assert_eq!(interpolate(&x, &y, 3.0), 8.0);
        assert_eq!(interpolate(&x, &y, 1.0), 2.0);
        assert_eq!(interpolate(&x, &y, 5.0), 14.0);
        assert_eq!(interpolate(&x, &y, 0.0), -1.0);
        assert!((relative_l2(&[1.0, 1.0], &[1.0, 2.0]) - (1.0f64 / 5.0).sqrt()).abs() < 1e-15);
    }
}
