//! How far a long call has come, reported to an observer the caller installs with
//! [`Simulation::set_progress`](crate::Simulation::set_progress).
//!
//! A gradient over thousands of steps on a large grid runs for minutes, most of it
//! inside one call; a user wants to see it move. The run loop and the backward driver
//! count the steps they launch and report every [`REPORT_EVERY`] of them (and at the
//! end), so the observer costs nothing measurable. On a GPU, steps are counted as they
//! are queued: a report may run ahead of the device by the depth of the launch queue,
//! and catches up at the next divergence check, which waits for the device.

use std::sync::Arc;

/// Steps between two reports.
pub const REPORT_EVERY: u64 = 32;

/// Which kind of call is reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// [`Simulation::run`](crate::Simulation::run): forward steps only.
    Run,
    /// A gradient: the recording forward sweep, the recomputations its checkpointing
    /// schedule needs, and the adjoint steps.
    Gradient,
}

/// A snapshot of a call's progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The call reporting.
    pub sweep: Sweep,
    /// Forward steps run so far (recomputations included).
    pub forward_done: u64,
    /// Forward steps the call will run, known before it starts from its schedule.
    pub forward_total: u64,
    /// Adjoint steps run so far (zero for a [`Sweep::Run`]).
    pub adjoint_done: u64,
    /// Adjoint steps the call will run.
    pub adjoint_total: u64,
}

impl Progress {
    /// The fraction of the call's work done, counting an adjoint step as `adjoint_cost`
    /// forward steps (about 2 to 3 on a GPU, where the adjoint moves twice the bytes).
    pub fn fraction(&self, adjoint_cost: f64) -> f64 {
        let total = self.forward_total as f64 + adjoint_cost * self.adjoint_total as f64;
        if total == 0.0 {
            return 1.0;
        }
        let done = self.forward_done as f64 + adjoint_cost * self.adjoint_done as f64;
        (done / total).clamp(0.0, 1.0)
    }

    /// Whether every step of the call has run.
    pub fn finished(&self) -> bool {
        self.forward_done >= self.forward_total && self.adjoint_done >= self.adjoint_total
    }
}

/// An observer of progress, called on the thread that runs the simulation; it should
/// return quickly (draw a bar, store a number).
pub type ProgressObserver = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Counts the steps of one call and tells the observer, if there is one.
pub(crate) struct Meter<'a> {
    observer: Option<&'a ProgressObserver>,
    progress: Progress,
}

impl<'a> Meter<'a> {
    /// A meter for a call of `forward_total` forward and `adjoint_total` adjoint steps.
    pub fn new(
        observer: Option<&'a ProgressObserver>,
        sweep: Sweep,
        forward_total: u64,
        adjoint_total: u64,
    ) -> Self {
        Meter {
            observer,
            progress: Progress {
                sweep,
                forward_done: 0,
                forward_total,
                adjoint_done: 0,
                adjoint_total,
            },
        }
    }

    /// One forward step launched.
    pub fn forward(&mut self) {
        self.progress.forward_done += 1;
        self.maybe_report(self.progress.forward_done);
    }

    /// One adjoint step launched.
    pub fn adjoint(&mut self) {
        self.progress.adjoint_done += 1;
        self.maybe_report(self.progress.adjoint_done);
    }

    fn maybe_report(&self, count: u64) {
        if count.is_multiple_of(REPORT_EVERY) || self.progress.finished() {
            self.report();
        }
    }

    fn report(&self) {
        if let Some(observer) = self.observer {
            observer(&self.progress);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reports_every_few_steps_and_at_the_end() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let observer: ProgressObserver = Arc::new(move |p: &Progress| {
            sink.lock().unwrap().push((p.forward_done, p.adjoint_done));
        });
        let mut meter = Meter::new(Some(&observer), Sweep::Gradient, 70, 40);
        for _ in 0..70 {
            meter.forward();
        }
        for _ in 0..40 {
            meter.adjoint();
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, vec![(32, 0), (64, 0), (70, 32), (70, 40)]);
    }

    #[test]
    fn fraction_weights_adjoint_steps() {
        let p = Progress {
            sweep: Sweep::Gradient,
            forward_done: 100,
            forward_total: 100,
            adjoint_done: 25,
            adjoint_total: 100,
        };
        assert!((p.fraction(3.0) - 175.0 / 400.0).abs() < 1e-15);
        assert!(!p.finished());
        let empty = Progress {
            forward_total: 0,
            adjoint_total: 0,
            forward_done: 0,
            adjoint_done: 0,
            ..p
        };
        assert_eq!(empty.fraction(2.0), 1.0);
    }
}
