//! Backward runs over many steps: which states to keep and which to recompute.
//!
//! The adjoint of step `t` needs the state before it. Store-all keeps every state;
//! binomial checkpointing (Griewank's revolve, here in its recursive form) keeps a fixed
//! number of snapshots and recomputes the rest, which is optimal in forward steps for that
//! number. A [`Budget`] in bytes picks between them. The driver works on any backend
//! through `Stepper` and counts the states it holds, so the peak it reports is measured,
//! not estimated.

use crate::backend::divergence::divergence_check_due;
use crate::error::{LbmError, Result};
use crate::gradients::RunReport;
use crate::spill::{SpillBytes, SpillFile};

/// What a backend provides to a backward run. States are whole-grid populations.
pub(crate) trait Stepper {
    /// A state in the backend's memory.
    type State;
    /// An adjoint state in the backend's memory: the state's type, or a wider one when
    /// states are kept in 16 bits.
    type Adjoint;
    /// A state copied out to host memory (a spilled snapshot, which may go on to disk).
    type Host: SpillBytes;
    /// A new zeroed state.
    fn alloc(&mut self) -> Result<Self::State>;
    /// A new state every population of which the caller writes before it reads any (a
    /// step's output, a copy's destination). An engine may skip zeroing it: on a GPU that
    /// is a state-sized memset, half a step's memory traffic, saved on every step of a
    /// store-all run.
    fn alloc_scratch(&mut self) -> Result<Self::State> {
        self.alloc()
    }
    /// A new zeroed adjoint state.
    fn alloc_adjoint(&mut self) -> Result<Self::Adjoint>;
    /// Copies `src` into `dst`.
    fn copy(&mut self, src: &Self::State, dst: &mut Self::State) -> Result<()>;
    /// One step forward from `s` (which is the state after `t` steps) into `out`.
    fn forward(&mut self, t: usize, s: &Self::State, out: &mut Self::State) -> Result<()>;
    /// The adjoint of step `t`: `lambda_in` from the state before it and `lambda_out`;
    /// parameter gradients accumulate in the backend.
    fn adjoint(
        &mut self,
        t: usize,
        s: &Self::State,
        lambda_out: &Self::Adjoint,
        lambda_in: &mut Self::Adjoint,
    ) -> Result<()>;
    /// The loss contribution of the state after `t` steps.
    fn loss(&mut self, t: usize, s: &Self::State) -> Result<f64>;
    /// Adds the loss's adjoint at step `t` to `lambda`.
    fn seed(&mut self, t: usize, s: &Self::State, lambda: &mut Self::Adjoint) -> Result<()>;
    /// An error naming the first step and cell whose populations stopped being finite, if
    /// any forward step since the state was set has produced one. Backends record this as
    /// they write states, so a check after many steps still names the first.
    fn check_divergence(&mut self) -> Result<()>;
    /// Bytes of one state.
    fn state_bytes(&self) -> usize;
    /// Bytes of one adjoint state.
    fn adjoint_bytes(&self) -> usize {
        self.state_bytes()
    }
    /// Copies a state to host memory.
    fn offload(&mut self, s: &Self::State) -> Result<Self::Host>;
    /// Copies a spilled state back into `dst`.
    fn reload(&mut self, h: &Self::Host, dst: &mut Self::State) -> Result<()>;
}

/// A memory budget for the states of a backward run.
///
/// The bytes are those of whole states: on a simulation split over several GPUs (or
/// virtual CPU devices), a budget counts every part's share (halos included) together,
/// and each GPU holds its share of every state. `Checkpointing::Auto` and the memory
/// check look at each GPU's own free memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    bytes: usize,
    host_bytes: usize,
    disk_bytes: usize,
}

impl Budget {
    /// A budget of `bytes` of backend memory (device memory on the GPU) for states:
    /// populations and their adjoints.
    pub fn bytes(bytes: usize) -> Budget {
        Budget {
            bytes,
            host_bytes: 0,
            disk_bytes: 0,
        }
    }

    /// Also allows `bytes` of host memory for snapshots that do not fit the first budget;
    /// they are copied out and back as the backward sweep needs them.
    pub fn spill_to_host(self, bytes: usize) -> Budget {
        Budget {
            host_bytes: bytes,
            ..self
        }
    }

    /// Also allows `bytes` of disk for snapshots that fit neither backend nor host memory:
    /// temporary files in the spill folder (`$LBM_SPILL_DIR`, else the system's temporary
    /// folder), removed when the run ends. Long horizons on large grids then keep their
    /// recomputation low without device memory.
    pub fn spill_to_disk(self, bytes: usize) -> Budget {
        Budget {
            disk_bytes: bytes,
            ..self
        }
    }
}

/// How a backward run keeps the states it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpointing {
    /// Keep every state: one forward step per step, most memory.
    StoreAll,
    /// Keep at most this many snapshots besides the working states; recompute the rest
    /// with the binomial schedule.
    Revolve {
        /// Snapshots of intermediate states.
        snapshots: usize,
    },
    /// Revolve with some snapshots outside backend memory: `device` snapshots stay in
    /// the backend's memory, up to `host` more are copied to the host and up to `disk`
    /// more written to temporary files.
    RevolveSpilling {
        /// Snapshots kept in backend memory.
        device: usize,
        /// Snapshots copied to host memory.
        host: usize,
        /// Snapshots written to disk.
        disk: usize,
    },
    /// Store-all if it fits in the budget, otherwise revolve with as many snapshots as fit.
    Budget(Budget),
    /// A budget of most of the memory the backend has free when the run starts (the
    /// device's on a GPU), capped by `Simulation::set_memory_limit`.
    Auto,
}

/// States a revolve run holds besides its snapshots: the initial state, the state being
/// advanced and its scratch, the adjoint state and its scratch.
pub const WORKING_STATES: usize = 5;

impl Checkpointing {
    /// The concrete strategy for `steps` steps of states of `state_bytes` bytes.
    pub fn resolve(self, steps: usize, state_bytes: usize) -> Result<Checkpointing> {
        self.resolve_with_excess(steps, state_bytes, 0)
    }

    /// [`Checkpointing::resolve`] when the two adjoint states together take
    /// `adjoint_excess` bytes more than two states (16-bit states, 32-bit adjoints): a
    /// budget counts them too.
    pub(crate) fn resolve_with_excess(
        self,
        steps: usize,
        state_bytes: usize,
        adjoint_excess: usize,
    ) -> Result<Checkpointing> {
        match self {
            Checkpointing::Budget(b) => {
                let fit = b.bytes.saturating_sub(adjoint_excess) / state_bytes.max(1);
                // `steps + 3` states, written so that no step count overflows.
                if fit >= 3 && fit - 3 >= steps {
                    Ok(Checkpointing::StoreAll)
                } else if fit >= WORKING_STATES {
                    let host = b.host_bytes / state_bytes.max(1);
                    let disk = b.disk_bytes / state_bytes.max(1);
                    if host == 0 && disk == 0 {
                        Ok(Checkpointing::Revolve {
                            snapshots: fit - WORKING_STATES,
                        })
                    } else {
                        Ok(Checkpointing::RevolveSpilling {
                            device: fit - WORKING_STATES,
                            host,
                            disk,
                        })
                    }
                } else {
                    Err(LbmError::Checkpoint(format!(
                        "a budget of {} bytes cannot hold a backward run: it needs at least {} \
                         bytes ({WORKING_STATES} states of {state_bytes} bytes{})",
                        b.bytes,
                        (WORKING_STATES * state_bytes).saturating_add(adjoint_excess),
                        if adjoint_excess > 0 {
                            format!(", the adjoints {adjoint_excess} bytes more")
                        } else {
                            String::new()
                        }
                    )))
                }
            }
            Checkpointing::Auto => Err(LbmError::Checkpoint(
                "Checkpointing::Auto is resolved against the free memory when a run starts".into(),
            )),
            other => Ok(other),
        }
    }
}

impl Checkpointing {
    /// Forward steps a resolved schedule runs over `steps` steps, the first sweep
    /// included (the `forward_steps` its report will give), computed without running it.
    /// Saturates at `u128::MAX` rather than overflow.
    pub fn forward_steps(self, steps: usize) -> u128 {
        let n = steps as u128;
        match self {
            Checkpointing::StoreAll | Checkpointing::Budget(_) | Checkpointing::Auto => n,
            Checkpointing::Revolve { snapshots } => n.saturating_add(recomputed(steps, snapshots)),
            Checkpointing::RevolveSpilling { device, host, disk } => n.saturating_add(recomputed(
                steps,
                device.saturating_add(host).saturating_add(disk),
            )),
        }
    }

    /// Most states a resolved schedule holds at once over `steps` steps (what its report
    /// will give as `peak_states`), the caller's initial state included.
    pub fn peak_states(self, steps: usize) -> usize {
        match self {
            // The initial state, every later one, the adjoint and its scratch.
            Checkpointing::StoreAll | Checkpointing::Budget(_) | Checkpointing::Auto => {
                steps.saturating_add(3)
            }
            Checkpointing::Revolve { snapshots } => {
                snapshots.min(steps).saturating_add(WORKING_STATES)
            }
            Checkpointing::RevolveSpilling { device, .. } => {
                device.min(steps).saturating_add(WORKING_STATES)
            }
        }
    }
}

/// Forward steps that reversing `n` steps with `s` snapshots recomputes under the schedule
/// `Pool::reverse` runs (the first sweep not included).
///
/// In that schedule the state a segment starts from is held anyway, so `s` snapshots act
/// as the `s + 1` checkpoints of Griewank's binomial analysis: with `r` the fewest repeats
/// such that `binom(s + 1 + r, s + 1) >= n`, the least number of recomputed steps is
/// `r n - binom(s + 1 + r, s + 2)` (without snapshots, `n (n - 1) / 2`), and [`split`]
/// attains it. Closed form, so a schedule is priced before it runs whatever `n` is.
fn recomputed(n: usize, s: usize) -> u128 {
    if n <= 1 {
        return 0;
    }
    let n128 = n as u128;
    if s == 0 {
        return n128 * (n128 - 1) / 2;
    }
    // Snapshots beyond the steps change nothing: the schedule stores every state.
    let s = s.min(n);
    let r = repeats(n, s) as u128;
    let s = s as u128;
    r.saturating_mul(n128)
        .saturating_sub(binomial(s + 1 + r, s + 2))
}

/// The fewest repeats `r` with which `s` snapshots reverse `n` steps:
/// `binom(s + 1 + r, s + 1) >= n`, found by bisection (it is at most `n`).
fn repeats(n: usize, s: usize) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (s128, mid128) = (s as u128, mid as u128);
        if binomial(s128 + 1 + mid128, s128 + 1) >= n as u128 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// `binom(n, k)`, saturating at `u128::MAX`. Arguments are sums of step and snapshot
/// counts, so they are `u128` to be free of overflow.
fn binomial(n: u128, k: u128) -> u128 {
    let k = k.min(n.saturating_sub(k));
    let mut b: u128 = 1;
    for i in 0..k {
        // `b (n - i) / (i + 1)` is exact: it is `binom(n, i + 1)`.
        match b.checked_mul(n - i) {
            Some(p) => b = p / (i + 1),
            None => return u128::MAX,
        }
    }
    b
}

/// Where to put the next snapshot when reversing `n` steps with `s` snapshots so that the
/// whole reversal recomputes the fewest steps ([`recomputed`]): the left part (reversed
/// again with `s` snapshots) takes at most `binom(s + r, s + 1)` steps and the right part
/// (reversed with `s - 1`) at most `binom(s + r, s)`, for the `r` of `n` and `s`.
fn split(n: usize, s: usize) -> usize {
    let s = s.min(n);
    let r = repeats(n, s) as u128;
    let (n128, s) = (n as u128, s as u128);
    let lo = n128.saturating_sub(binomial(s + r, s)).max(1);
    let hi = if r == 0 {
        1
    } else {
        binomial(s + r, s + 1).min(n128.saturating_sub(binomial(s + r - 1, s)))
    };
    hi.min(n128 - 1).max(lo) as usize
}

/// Counts live states so the report gives the measured peak.
struct Pool<'a, S: Stepper> {
    stepper: &'a mut S,
    live: usize,
    peak: usize,
    forward_steps: usize,
    /// Snapshots that may still go to backend memory before spilling starts.
    device_slots: usize,
    /// Snapshots that may still go to host memory before spilling to disk starts.
    host_slots: usize,
    host_live: usize,
    host_peak: usize,
    disk_live: usize,
    disk_peak: usize,
}

/// A snapshot: the caller's initial state, one in backend memory, or one spilled to the
/// host or to disk.
enum Snapshot<'a, S: Stepper> {
    Initial(&'a S::State),
    Device(S::State),
    Host(S::Host),
    Disk(SpillFile),
}

impl<S: Stepper> Snapshot<'_, S> {
    /// The state in backend memory, if it is there.
    fn on_device(&self) -> Option<&S::State> {
        match self {
            Snapshot::Initial(d) => Some(d),
            Snapshot::Device(d) => Some(d),
            Snapshot::Host(_) | Snapshot::Disk(_) => None,
        }
    }
}

impl<S: Stepper> Pool<'_, S> {
    fn alloc(&mut self) -> Result<S::State> {
        // Every state the driver allocates is written whole (by a step, a copy or a reload)
        // before it is read.
        let s = self.stepper.alloc_scratch()?;
        self.live += 1;
        self.peak = self.peak.max(self.live);
        Ok(s)
    }

    /// A new adjoint state, counted with the states (it is one, or wider).
    fn alloc_adjoint(&mut self) -> Result<S::Adjoint> {
        let s = self.stepper.alloc_adjoint()?;
        self.live += 1;
        self.peak = self.peak.max(self.live);
        Ok(s)
    }

    fn release_adjoint(&mut self, s: S::Adjoint) {
        drop(s);
        self.live -= 1;
    }

    fn release(&mut self, s: S::State) {
        drop(s);
        self.live -= 1;
    }

    /// Copies a snapshot into `dst`, wherever it is kept.
    fn restore(&mut self, s: &Snapshot<'_, S>, dst: &mut S::State) -> Result<()> {
        match s {
            Snapshot::Initial(d) => self.stepper.copy(d, dst),
            Snapshot::Device(d) => self.stepper.copy(d, dst),
            Snapshot::Host(h) => self.stepper.reload(h, dst),
            Snapshot::Disk(file) => {
                let h: S::Host = file.read()?;
                self.stepper.reload(&h, dst)
            }
        }
    }

    fn step(&mut self, t: usize, s: &S::State, out: &mut S::State) -> Result<()> {
        self.forward_steps += 1;
        self.stepper.forward(t, s, out)
    }

    /// A new state: `s` (the state after `from` steps) advanced to `to` steps.
    fn advance(&mut self, s: &Snapshot<'_, S>, from: usize, to: usize) -> Result<S::State> {
        let mut cur = self.alloc()?;
        self.restore(s, &mut cur)?;
        let mut next = self.alloc()?;
        for t in from..to {
            self.step(t, &cur, &mut next)?;
            std::mem::swap(&mut cur, &mut next);
        }
        self.release(next);
        Ok(cur)
    }

    /// The adjoint of step `t`, in place on `lambda`, then the loss's seed at `t`.
    fn adjoint_step(
        &mut self,
        t: usize,
        s: &S::State,
        lambda: &mut S::Adjoint,
        scratch: &mut S::Adjoint,
    ) -> Result<()> {
        self.stepper.adjoint(t, s, lambda, scratch)?;
        std::mem::swap(lambda, scratch);
        self.stepper.seed(t, s, lambda)
    }

    /// Turns `lambda` (the adjoint after `t1` steps) into the adjoint after `t0` steps,
    /// given the state `s0` after `t0` steps and `snaps` free snapshots.
    fn reverse(
        &mut self,
        t0: usize,
        t1: usize,
        s0: &Snapshot<'_, S>,
        snaps: usize,
        lambda: &mut S::Adjoint,
        scratch: &mut S::Adjoint,
    ) -> Result<()> {
        if t1 == t0 + 1 {
            if let Some(d) = s0.on_device() {
                return self.adjoint_step(t0, d, lambda, scratch);
            }
            let mut d = self.alloc()?;
            self.restore(s0, &mut d)?;
            self.adjoint_step(t0, &d, lambda, scratch)?;
            self.release(d);
            return Ok(());
        }
        if snaps == 0 {
            for t in (t0..t1).rev() {
                let s = self.advance(s0, t0, t)?;
                self.adjoint_step(t, &s, lambda, scratch)?;
                self.release(s);
            }
            return Ok(());
        }
        let m = t0 + split(t1 - t0, snaps);
        let state = self.advance(s0, t0, m)?;
        let sm = self.keep(state)?;
        self.reverse(m, t1, &sm, snaps - 1, lambda, scratch)?;
        self.drop_snapshot(sm);
        self.reverse(t0, m, s0, snaps, lambda, scratch)
    }

    /// Holds a state as a snapshot: in backend memory while its slots last, then on the
    /// host while its slots last, then on disk.
    fn keep<'b>(&mut self, state: S::State) -> Result<Snapshot<'b, S>> {
        if self.device_slots > 0 {
            self.device_slots -= 1;
            return Ok(Snapshot::Device(state));
        }
        let host = self.stepper.offload(&state)?;
        self.release(state);
        if self.host_slots > 0 {
            self.host_slots -= 1;
            self.host_live += 1;
            self.host_peak = self.host_peak.max(self.host_live);
            return Ok(Snapshot::Host(host));
        }
        let file = SpillFile::write(&host)?;
        self.disk_live += 1;
        self.disk_peak = self.disk_peak.max(self.disk_live);
        Ok(Snapshot::Disk(file))
    }

    fn drop_snapshot(&mut self, s: Snapshot<'_, S>) {
        match s {
            Snapshot::Initial(_) => {}
            Snapshot::Device(d) => {
                self.release(d);
                self.device_slots += 1;
            }
            Snapshot::Host(h) => {
                drop(h);
                self.host_live -= 1;
                self.host_slots += 1;
            }
            Snapshot::Disk(file) => {
                drop(file);
                self.disk_live -= 1;
            }
        }
    }
}

/// The loss after `steps` steps from `initial` and the adjoint of the initial state;
/// the backend accumulates parameter gradients on the way.
pub(crate) fn backward<S: Stepper>(
    stepper: &mut S,
    initial: &S::State,
    steps: usize,
    strategy: Checkpointing,
) -> Result<(f64, S::Adjoint, RunReport)> {
    let state_bytes = stepper.state_bytes();
    let strategy = strategy.resolve_with_excess(steps, state_bytes, adjoint_excess(&*stepper))?;
    let mut pool = Pool {
        stepper,
        live: 1, // the initial state, held by the caller
        peak: 1,
        forward_steps: 0,
        device_slots: 0,
        host_slots: 0,
        host_live: 0,
        host_peak: 0,
        disk_live: 0,
        disk_peak: 0,
    };
    let mut loss = pool.stepper.loss(0, initial)?;
    let mut lambda = pool.alloc_adjoint()?;
    let mut scratch = pool.alloc_adjoint()?;
    match strategy {
        Checkpointing::StoreAll => {
            let mut states = Vec::with_capacity(steps + 1);
            for t in 0..steps {
                let mut next = pool.alloc()?;
                pool.step(t, states.last().unwrap_or(initial), &mut next)?;
                if divergence_check_due(t + 1, steps) {
                    pool.stepper.check_divergence()?;
                }
                loss += pool.stepper.loss(t + 1, &next)?;
                states.push(next);
            }
            if let Some(last) = states.last() {
                pool.stepper.seed(steps, last, &mut lambda)?;
            } else {
                pool.stepper.seed(0, initial, &mut lambda)?;
                return finish(pool, loss, lambda, scratch, steps, state_bytes);
            }
            for t in (0..steps).rev() {
                let s = if t == 0 { initial } else { &states[t - 1] };
                pool.adjoint_step(t, s, &mut lambda, &mut scratch)?;
            }
            for s in states {
                pool.release(s);
            }
        }
        Checkpointing::Revolve { .. } | Checkpointing::RevolveSpilling { .. } => {
            let (device, host, disk) = match strategy {
                Checkpointing::Revolve { snapshots } => (snapshots, 0, 0),
                Checkpointing::RevolveSpilling { device, host, disk } => (device, host, disk),
                _ => unreachable!(),
            };
            pool.device_slots = device;
            pool.host_slots = host;
            // The forward sweep gives the loss; the backward sweep recomputes from snapshots.
            let mut cur = pool.alloc()?;
            pool.stepper.copy(initial, &mut cur)?;
            let mut next = pool.alloc()?;
            for t in 0..steps {
                pool.step(t, &cur, &mut next)?;
                if divergence_check_due(t + 1, steps) {
                    pool.stepper.check_divergence()?;
                }
                loss += pool.stepper.loss(t + 1, &next)?;
                std::mem::swap(&mut cur, &mut next);
            }
            pool.stepper.seed(steps, &cur, &mut lambda)?;
            pool.release(cur);
            pool.release(next);
            if steps == 0 {
                return finish(pool, loss, lambda, scratch, steps, state_bytes);
            }
            let s0 = Snapshot::Initial(initial);
            let snapshots = device.saturating_add(host).saturating_add(disk);
            pool.reverse(0, steps, &s0, snapshots, &mut lambda, &mut scratch)?;
        }
        Checkpointing::Budget(_) | Checkpointing::Auto => unreachable!("resolved above"),
    }
    finish(pool, loss, lambda, scratch, steps, state_bytes)
}

/// Bytes by which a backward run's two adjoint states exceed two states.
pub(crate) fn adjoint_excess<S: Stepper + ?Sized>(stepper: &S) -> usize {
    2 * stepper
        .adjoint_bytes()
        .saturating_sub(stepper.state_bytes())
}

fn finish<S: Stepper>(
    mut pool: Pool<'_, S>,
    loss: f64,
    lambda: S::Adjoint,
    scratch: S::Adjoint,
    steps: usize,
    state_bytes: usize,
) -> Result<(f64, S::Adjoint, RunReport)> {
    pool.release_adjoint(scratch);
    let report = RunReport {
        steps,
        forward_steps: pool.forward_steps,
        peak_states: pool.peak,
        peak_host_states: pool.host_peak,
        peak_disk_states: pool.disk_peak,
        state_bytes,
    };
    Ok((loss, lambda, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_reach_and_split() {
        assert_eq!(binomial(5, 2), 10);
        assert_eq!(binomial(7, 0), 1);
        assert_eq!(binomial(300, 150), u128::MAX);
        for n in 2..200 {
            for s in 1..6 {
                let m = split(n, s);
                assert!(m >= 1 && m < n, "split({n}, {s}) = {m}");
            }
        }
    }

    /// A scalar "simulation" x_{t+1} = a x_t with loss x_N^2, to check the schedules.
    struct Toy {
        a: f64,
        grad_a: f64,
        steps: usize,
    }

    impl Stepper for Toy {
        type State = f64;
        type Adjoint = f64;
        fn alloc(&mut self) -> Result<f64> {
            Ok(0.0)
        }
        fn alloc_adjoint(&mut self) -> Result<f64> {
            Ok(0.0)
        }
        fn copy(&mut self, src: &f64, dst: &mut f64) -> Result<()> {
            *dst = *src;
            Ok(())
        }
        fn forward(&mut self, _: usize, s: &f64, out: &mut f64) -> Result<()> {
            *out = self.a * s;
            Ok(())
        }
        fn adjoint(&mut self, _: usize, s: &f64, lo: &f64, li: &mut f64) -> Result<()> {
            self.grad_a += lo * s;
            *li = self.a * lo;
            Ok(())
        }
        fn loss(&mut self, t: usize, s: &f64) -> Result<f64> {
            Ok(if t == self.steps { s * s } else { 0.0 })
        }
        fn seed(&mut self, t: usize, s: &f64, l: &mut f64) -> Result<()> {
            if t == self.steps {
                *l += 2.0 * s;
            }
            Ok(())
        }
        fn check_divergence(&mut self) -> Result<()> {
            Ok(())
        }
        fn state_bytes(&self) -> usize {
            8
        }
        type Host = Vec<f64>;
        fn offload(&mut self, s: &f64) -> Result<Vec<f64>> {
            Ok(vec![*s])
        }
        fn reload(&mut self, h: &Vec<f64>, dst: &mut f64) -> Result<()> {
            *dst = h[0];
            Ok(())
        }
    }

    #[test]
    fn schedules_agree_and_respect_memory() {
        let n = 37;
        let run = |strategy| {
            let mut toy = Toy {
                a: 1.01,
                grad_a: 0.0,
                steps: n,
            };
            let (loss, lambda, report) = backward(&mut toy, &1.5, n, strategy).unwrap();
            (loss, lambda, toy.grad_a, report)
        };
        let (l0, g0, a0, r0) = run(Checkpointing::StoreAll);
        let exact = 1.5 * 1.5 * 1.01f64.powi(2 * n as i32);
        assert!((l0 - exact).abs() < 1e-12 * exact);
        assert!((g0 - 2.0 * 1.5 * 1.01f64.powi(2 * n as i32)).abs() < 1e-12 * exact);
        assert_eq!(r0.recompute_factor(), 1.0);
        for snapshots in [0, 1, 2, 3, 5, 10] {
            let (l, g, a, r) = run(Checkpointing::Revolve { snapshots });
            assert_eq!(
                (l, g, a),
                (l0, g0, a0),
                "bitwise equal with {snapshots} snapshots"
            );
            assert!(r.peak_states <= snapshots + WORKING_STATES, "{r:?}");
            assert!(r.recompute_factor() > 1.0);
        }
        for (device, host, disk) in [(0, 3, 0), (1, 4, 0), (2, 2, 0), (0, 0, 3), (1, 1, 2)] {
            let (l, g, a, r) = run(Checkpointing::RevolveSpilling { device, host, disk });
            assert_eq!(
                (l, g, a),
                (l0, g0, a0),
                "bitwise equal with {device} + {host} + {disk} snapshots"
            );
            assert!(r.peak_states <= device + WORKING_STATES, "{r:?}");
            assert!(r.peak_host_states <= host, "{r:?}");
            assert!(r.peak_disk_states <= disk, "{r:?}");
            // Each tier is used once the ones before it are full.
            assert_eq!(r.peak_host_states > 0, host > 0, "{r:?}");
            assert_eq!(r.peak_disk_states > 0, disk > 0, "{r:?}");
        }
    }

    #[test]
    fn the_cost_model_counts_what_the_driver_runs() {
        for n in [1, 2, 3, 7, 37, 100] {
            let mut strategies = vec![Checkpointing::StoreAll];
            strategies.extend((0..6).map(|snapshots| Checkpointing::Revolve { snapshots }));
            strategies.push(Checkpointing::RevolveSpilling {
                device: 1,
                host: 2,
                disk: 0,
            });
            strategies.push(Checkpointing::RevolveSpilling {
                device: 1,
                host: 1,
                disk: 2,
            });
            for strategy in strategies {
                let mut toy = Toy {
                    a: 1.0,
                    grad_a: 0.0,
                    steps: n,
                };
                let (_, _, report) = backward(&mut toy, &1.0, n, strategy).unwrap();
                assert_eq!(
                    strategy.forward_steps(n),
                    report.forward_steps as u128,
                    "{strategy:?} over {n} steps"
                );
                assert!(
                    strategy.peak_states(n) >= report.peak_states,
                    "{strategy:?} {n}"
                );
            }
        }
        // Large horizons are counted, not run: no overflow, and quadratic without snapshots.
        let none = Checkpointing::Revolve { snapshots: 0 };
        assert_eq!(none.forward_steps(2000), 2000 + 2000 * 1999 / 2);
        for snapshots in [1, 3, 40] {
            let huge = Checkpointing::Revolve { snapshots }.forward_steps(usize::MAX);
            assert!(huge > usize::MAX as u128, "{snapshots}: {huge}");
        }
        assert_eq!(Checkpointing::StoreAll.peak_states(usize::MAX), usize::MAX);
    }

    #[test]
    fn the_schedule_recomputes_the_fewest_steps_possible() {
        // Every split point tried, by dynamic programming over the same recursion.
        let (max_n, max_s) = (60, 4);
        let mut best = vec![vec![0u128; max_n + 1]; max_s + 1];
        for s in 0..=max_s {
            for n in 2..=max_n {
                best[s][n] = if s == 0 {
                    (n * (n - 1) / 2) as u128
                } else {
                    (1..n)
                        .map(|m| m as u128 + best[s - 1][n - m] + best[s][m])
                        .min()
                        .unwrap()
                };
                assert_eq!(recomputed(n, s), best[s][n], "{n} steps, {s} snapshots");
            }
        }
    }

    #[test]
    fn budget_too_small_names_the_minimum() {
        let err = Checkpointing::Budget(Budget::bytes(100))
            .resolve(10, 64)
            .unwrap_err();
        assert!(err.to_string().contains("at least 320 bytes"), "{err}");
        assert_eq!(
            Checkpointing::Budget(Budget::bytes(64 * 13))
                .resolve(10, 64)
                .unwrap(),
            Checkpointing::StoreAll
        );
        assert_eq!(
            Checkpointing::Budget(Budget::bytes(64 * 7))
                .resolve(10, 64)
                .unwrap(),
            Checkpointing::Revolve { snapshots: 2 }
        );
    }
}
