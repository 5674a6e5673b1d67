//! Planning a backward run before it allocates anything: the concrete checkpointing
//! schedule, its memory against what the machine has, and its recomputation against a
//! limit. Every refusal names what it found and what would fit.

use crate::bytes::format_bytes;
use crate::checkpoint::{Budget, Checkpointing, WORKING_STATES};
use crate::error::{LbmError, Result};

/// What a backward run may use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Bytes of backend memory a run may take, on top of what the simulation already
    /// holds; `None`: whatever the backend reports free.
    pub memory: Option<usize>,
    /// The most forward steps per simulated step a schedule may run (recomputation
    /// included) before it is refused.
    pub recompute: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: None,
            recompute: 10.0,
        }
    }
}

/// Share of the available memory `Checkpointing::Auto` budgets for states, leaving room
/// for other allocations and fragmentation.
const AUTO_SHARE: f64 = 0.9;

/// The concrete schedule for a run of `steps` steps with states of `state_bytes` bytes
/// (and adjoint states that together take `adjoint_excess` bytes more than two states), or
/// an error if it cannot fit `available` bytes (after `scratch` bytes of other buffers) or
/// recomputes more than the limit allows.
pub(crate) fn plan(
    requested: Checkpointing,
    steps: usize,
    state_bytes: usize,
    adjoint_excess: usize,
    scratch: usize,
    available: Option<usize>,
    limits: Limits,
) -> Result<Checkpointing> {
    let available = match (available, limits.memory) {
        (Some(a), Some(l)) => Some(a.min(l)),
        (a, l) => a.or(l),
    };
    let requested = match requested {
        Checkpointing::Auto => {
            let Some(available) = available else {
                return Err(LbmError::Checkpoint(
                    "Checkpointing::Auto needs to know the free memory, which this system does \
                     not report; give a Budget or set a memory limit"
                        .into(),
                ));
            };
            let usable = (available.saturating_sub(scratch) as f64 * AUTO_SHARE) as usize;
            // The caller's state is held already: budget the rest.
            Checkpointing::Budget(Budget::bytes(usable.saturating_add(state_bytes)))
        }
        other => other,
    };
    let strategy = requested.resolve_with_excess(steps, state_bytes, adjoint_excess)?;
    // The initial state is the simulation's own; the others are new.
    let new_states = strategy.peak_states(steps).saturating_sub(1);
    let needed = new_states
        .saturating_mul(state_bytes)
        .saturating_add(adjoint_excess)
        .saturating_add(scratch);
    if let Some(available) = available {
        if needed > available {
            return Err(LbmError::OutOfMemory {
                what: format!("a gradient over {steps} steps with {}", describe(strategy)),
                needed,
                available: Some(available),
                hint: fitting_hint(steps, state_bytes, adjoint_excess, scratch, available),
            });
        }
    }
    let factor = strategy.forward_steps(steps) as f64 / steps.max(1) as f64;
    if factor > limits.recompute {
        let hint = match snapshots_for(steps, limits.recompute) {
            Some(s) => format!(
                "a budget of {} ({} states) keeps it within {}x",
                format_bytes((s + WORKING_STATES).saturating_mul(state_bytes)),
                s + WORKING_STATES,
                limits.recompute
            ),
            None => "no number of snapshots keeps it within the limit".into(),
        };
        return Err(LbmError::Checkpoint(format!(
            "{} over {steps} steps would run {factor:.1} forward steps per step, above the \
             limit of {}x; {hint}, or spill snapshots to the host or to disk \
             (Budget::spill_to_host, Budget::spill_to_disk), or raise the limit \
             (Simulation::set_recompute_limit)",
            describe(strategy),
            limits.recompute
        )));
    }
    Ok(strategy)
}

/// A schedule in words.
fn describe(strategy: Checkpointing) -> String {
    match strategy {
        Checkpointing::StoreAll => "store-all".into(),
        Checkpointing::Revolve { snapshots } => format!("revolve with {snapshots} snapshots"),
        Checkpointing::RevolveSpilling { device, host, disk } => format!(
            "revolve with {device} snapshots in backend memory, {host} on the host and {disk} \
             on disk"
        ),
        other => format!("{other:?}"),
    }
}

/// The fewest snapshots whose schedule stays within `limit` forward steps per step.
fn snapshots_for(steps: usize, limit: f64) -> Option<usize> {
    let within = |s: usize| {
        Checkpointing::Revolve { snapshots: s }.forward_steps(steps) as f64
            <= limit * steps.max(1) as f64
    };
    if !within(steps) {
        return None;
    }
    // The count falls as snapshots grow: bisect.
    let (mut lo, mut hi) = (0, steps);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if within(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

/// What fits in `available` bytes instead.
fn fitting_hint(
    steps: usize,
    state_bytes: usize,
    adjoint_excess: usize,
    scratch: usize,
    available: usize,
) -> String {
    let states = available
        .saturating_sub(scratch)
        .saturating_sub(adjoint_excess)
        / state_bytes.max(1);
    if states < WORKING_STATES {
        return format!(
            "not even the {WORKING_STATES} working states of a backward run fit ({} each): use \
             a smaller grid or f32",
            format_bytes(state_bytes)
        );
    }
    // The simulation's own state is the run's initial state: a budget counts it, the
    // available memory does not.
    let s = states - WORKING_STATES + 1;
    let factor =
        Checkpointing::Revolve { snapshots: s }.forward_steps(steps) as f64 / steps.max(1) as f64;
    format!(
        "Checkpointing::Budget(Budget::bytes({})) fits: revolve with {s} snapshots, {factor:.2} \
         forward steps per step",
        (states + 1)
            .saturating_mul(state_bytes)
            .saturating_add(adjoint_excess)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: usize = 1000;

    fn limits(memory: usize) -> Limits {
        Limits {
            memory: Some(memory),
            recompute: 10.0,
        }
    }

    #[test]
    fn store_all_beyond_memory_is_refused_with_what_fits() {
        let err = plan(
            Checkpointing::StoreAll,
            100,
            STATE,
            0,
            0,
            None,
            limits(20 * STATE),
        )
        .unwrap_err();
        let LbmError::OutOfMemory {
            needed, available, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!((*needed, *available), (102 * STATE, Some(20 * STATE)));
        assert!(
            err.to_string()
                .contains("Budget::bytes(21000)) fits: revolve with 16 snapshots"),
            "{err}"
        );
        // The smaller of the machine's memory and the limit counts.
        assert!(plan(
            Checkpointing::StoreAll,
            100,
            STATE,
            0,
            0,
            Some(10 * STATE),
            limits(usize::MAX)
        )
        .is_err());
        assert_eq!(
            plan(
                Checkpointing::StoreAll,
                100,
                STATE,
                0,
                0,
                None,
                limits(102 * STATE)
            )
            .unwrap(),
            Checkpointing::StoreAll
        );
        // The budget the hint names fits and gives the snapshots it says.
        assert_eq!(
            plan(
                Checkpointing::Budget(Budget::bytes(21 * STATE)),
                100,
                STATE,
                0,
                0,
                None,
                limits(20 * STATE)
            )
            .unwrap(),
            Checkpointing::Revolve { snapshots: 16 }
        );
    }

    #[test]
    fn too_much_recomputation_is_refused_with_the_budget_that_avoids_it() {
        // Five states: revolve without snapshots, quadratic.
        let err = plan(
            Checkpointing::Budget(Budget::bytes(5 * STATE)),
            2000,
            STATE,
            0,
            0,
            None,
            Limits::default(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("1000.5 forward steps per step"), "{text}");
        assert!(text.contains("above the limit of 10x"), "{text}");
        let s: usize = text
            .split(" states) keeps it")
            .next()
            .and_then(|t| t.rsplit('(').next())
            .and_then(|n| n.parse().ok())
            .expect("the hint names a number of states");
        // That many states is within the limit, one fewer is not.
        let ok = |states: usize| {
            plan(
                Checkpointing::Budget(Budget::bytes(states * STATE)),
                2000,
                STATE,
                0,
                0,
                None,
                Limits::default(),
            )
            .is_ok()
        };
        assert!(ok(s) && !ok(s - 1), "{s} states");
    }

    #[test]
    fn wider_adjoints_count_against_the_budget() {
        // 16-bit states with 32-bit adjoints: the two adjoints take two states more.
        let plain = plan(
            Checkpointing::Budget(Budget::bytes(21 * STATE)),
            100,
            STATE,
            0,
            0,
            None,
            Limits::default(),
        );
        let wide = plan(
            Checkpointing::Budget(Budget::bytes(21 * STATE)),
            100,
            STATE,
            2 * STATE,
            0,
            None,
            Limits::default(),
        );
        assert_eq!(plain.unwrap(), Checkpointing::Revolve { snapshots: 16 });
        assert_eq!(wide.unwrap(), Checkpointing::Revolve { snapshots: 14 });
        let err = plan(
            Checkpointing::StoreAll,
            10,
            STATE,
            2 * STATE,
            0,
            None,
            limits(13 * STATE),
        )
        .unwrap_err();
        assert!(
            matches!(err, LbmError::OutOfMemory { needed, .. } if needed == 14 * STATE),
            "{err}"
        );
    }

    #[test]
    fn auto_budgets_what_is_free_and_needs_to_know_it() {
        let auto = plan(
            Checkpointing::Auto,
            100,
            STATE,
            0,
            0,
            Some(50 * STATE),
            Limits::default(),
        );
        assert!(
            matches!(auto, Ok(Checkpointing::Revolve { .. })),
            "{auto:?}"
        );
        let all = plan(
            Checkpointing::Auto,
            10,
            STATE,
            0,
            0,
            Some(50 * STATE),
            Limits::default(),
        );
        assert_eq!(all.unwrap(), Checkpointing::StoreAll);
        assert!(plan(
            Checkpointing::Auto,
            10,
            STATE,
            0,
            0,
            None,
            Limits::default()
        )
        .is_err());
    }

    #[test]
    fn step_counts_at_the_edge_do_not_overflow() {
        let huge = plan(
            Checkpointing::Budget(Budget::bytes(40 * STATE)),
            usize::MAX,
            STATE,
            0,
            0,
            None,
            Limits::default(),
        );
        assert!(matches!(huge, Err(LbmError::Checkpoint(_))), "{huge:?}");
        let all = plan(
            Checkpointing::StoreAll,
            usize::MAX,
            STATE,
            0,
            0,
            None,
            limits(1 << 40),
        );
        assert!(matches!(all, Err(LbmError::OutOfMemory { .. })), "{all:?}");
    }
}
