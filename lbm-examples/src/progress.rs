//! Progress bars for long programs: one over the optimiser's iterations, one under it
//! over the steps of the simulation call running now (the forward sweep, the
//! recomputations of a checkpointed gradient, the adjoint steps). Both draw to the
//! terminal only; in a log file or a pipe they stay silent.

use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use lbm_runtime::{Progress, ProgressObserver, Sweep};

use crate::inverse::StepProgress;

/// How many forward steps an adjoint step costs, for the step bar's fill: the adjoint
/// reads and writes about twice the bytes of the forward.
const ADJOINT_COST: f64 = 2.0;

/// Resolution of the step bar.
const STEP_BAR_LENGTH: u64 = 1000;

/// The two bars of an optimisation.
pub struct OptimisationBars {
    /// Over iterations: position and message are the caller's.
    pub iterations: ProgressBar,
    steps: ProgressBar,
    _multi: MultiProgress,
}

impl OptimisationBars {
    /// Bars for at most `iterations` iterations.
    pub fn new(iterations: usize) -> Self {
        let multi = MultiProgress::new();
        let iterations = multi.add(ProgressBar::new(iterations as u64));
        iterations.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} iterations  {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        let steps = multi.add(ProgressBar::new(STEP_BAR_LENGTH));
        steps.set_style(
            ProgressStyle::with_template("         [{bar:30}] {msg}")
                .expect("a valid template")
                .progress_chars("-> "),
        );
        OptimisationBars {
            iterations,
            steps,
            _multi: multi,
        }
    }

    /// The observer that moves the step bar, for a problem's simulations.
    pub fn step_progress(&self) -> StepProgress {
        let bar = self.steps.clone();
        let observer: ProgressObserver = Arc::new(move |p: &Progress| {
            bar.set_position((p.fraction(ADJOINT_COST) * STEP_BAR_LENGTH as f64) as u64);
            bar.set_message(describe(p));
        });
        StepProgress(Some(observer))
    }

    /// Leaves the iteration bar where it ended and clears the step bar.
    pub fn finish(&self) {
        self.steps.finish_and_clear();
        self.iterations.finish();
    }
}

/// What a step report says in words.
pub fn describe(p: &Progress) -> String {
    match p.sweep {
        Sweep::Run => format!("run: step {}/{}", p.forward_done, p.forward_total),
        Sweep::Gradient => format!(
            "gradient: forward {}/{}  adjoint {}/{}",
            p.forward_done, p.forward_total, p.adjoint_done, p.adjoint_total
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_as_the_sweep_they_describe() {
        let p = Progress {
            sweep: Sweep::Gradient,
            forward_done: 640,
            forward_total: 1712,
            adjoint_done: 32,
            adjoint_total: 500,
        };
        assert_eq!(describe(&p), "gradient: forward 640/1712  adjoint 32/500");
        let run = Progress {
            sweep: Sweep::Run,
            adjoint_total: 0,
            adjoint_done: 0,
            ..p
        };
        assert_eq!(describe(&run), "run: step 640/1712");
    }
}
