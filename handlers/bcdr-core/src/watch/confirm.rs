//! Confirmation probes: after a first down, the same invocation probes again a few seconds later
//! instead of waiting for the next tick, so N downs in a row take seconds, not N ticks. The shell
//! (the watchdog's tick) and the simulation both ask [`confirm_after`] whether, and when, to
//! probe again; each confirmation is an ordinary observation stepped through [`super::step`].

use std::time::Duration;

use super::policy::WatchPolicy;
use super::state::{Phase, WatchState};

/// After [`super::step`] returned `state` for an observation by `watcher`, whether the same
/// invocation probes again, and how long after that observation's probe began (at once if the
/// probe took longer). Only a counted down that leaves the watcher short of N is confirmed, and
/// only while the watch may still activate (watching or suspect) and the policy's confirmations
/// fit in the watchdog's `interval`; an up, an inconclusive or an uncounted observation, a vote
/// cast, a claim or any other phase ends the confirmations, and counting goes on at the next
/// tick. So one invocation makes at most N - 1 confirmations and ends before the next tick.
pub fn confirm_after(state: &WatchState, watcher: &str, policy: &WatchPolicy, interval: Duration) -> Option<Duration> {
    if policy.confirmations(interval) == 0 || !matches!(state.phase, Phase::Watching | Phase::Suspect) {
        return None;
    }
    let last = state.history.back()?;
    if last.watcher != watcher || !last.counted || !last.observation.is_down() {
        return None;
    }
    let failures = state.watchers.get(watcher)?.failures;
    (1..policy.failure_threshold).contains(&failures).then(|| policy.confirm_spacing())
}
