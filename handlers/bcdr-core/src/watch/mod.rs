//! The watchdog's decision core: a pure state machine over (state, input, policy, now).
//!
//! The watchdog shell, each tick, loads the watch's [`WatchState`] with its ETag, probes the
//! primary (the schedule [`attempts`]: up to `probeAttempts` overlapping attempts within
//! `probeTimeoutMs`, plus a control probe), turns the answers into an [`Observation`] with
//! [`Observation::from_attempts`], calls [`step`], writes the new state back only if the ETag
//! still matches (on a conflict it reloads and steps again), appends the [`Decision`] to the
//! decision log, and only then carries out the actions. When [`confirm_after`] says so (a first
//! down, short of N), it probes again in the same invocation and steps that observation the same
//! way. Operators' commands and activation results go through the same [`step`].
//!
//! Nothing here reads the clock, the environment or the network, and nothing can fail: time is
//! an argument, so tests and the [`simulation`] jump a simulated clock.
//!
//! # Rules
//!
//! - **Counting.** Each watcher keeps its own consecutive counts. A down adds to `failures` and
//!   clears `successes`; an up does the opposite. An inconclusive observation (no answer from the
//!   primary and none from the control probe) changes neither: the watcher's own network is the
//!   likelier culprit. After N inconclusive in a row the watch raises `watcherNetworkSuspect`.
//!   A watcher that was silent for longer than `voteTtlMs` starts its counts afresh.
//! - **Votes and quorum.** A watcher with `failures >= N` holds a vote, refreshed by each of its
//!   downs and expiring `voteTtlMs` after the latest one; its next up withdraws it. Votes are
//!   tagged with the epoch and only those of the current epoch count. The watch claims the next
//!   epoch only in a step where a watcher reports a down that brings (or keeps) its own count at
//!   N or more, and at that moment at least k distinct unexpired votes stand (its own included).
//!   With the default k = n = 1 this is simply "N consecutive downs".
//! - **Confirmation.** A counted down that leaves a watcher short of N is confirmed in the same
//!   invocation: it probes again `confirmEveryMs` after the previous probe began, until N downs,
//!   an up or an inconclusive, when all N - 1 confirmations fit before the next tick
//!   ([`confirm_after`]). Confirmations are ordinary observations: the counting rules are the
//!   same, only the wait between them is shorter. A primary down for less than
//!   [`WatchPolicy::tolerated_down`] never activates.
//! - **Recovery.** The watch goes from `suspect` back to `watching` when the stepping watcher has
//!   M ups in a row and no watcher that still reports has a failure or a vote.
//! - **Hold-down.** No new epoch within `holdDownMs` of the last claim; the watch waits in
//!   `suspect` with a critical `primaryDown` alert until it ends.
//! - **Pause and maintenance.** While a pause stands (it ends by itself at `until`) or inside a
//!   maintenance window, observations are recorded but reset the counts instead of adding to them,
//!   no vote is cast and the watch requests nothing by itself, retries included. Operators'
//!   `approve` and `forceActivate` still act: they are explicit.
//! - **Approval.** With `activation: approval`, the condition moves the watch to
//!   `awaitingApproval` and raises `approvalNeeded`; an `approve` command claims the epoch (by
//!   the normal path: nothing is forced), a `reject` command pauses the watch until a time it
//!   gives (then it asks again if the primary is still down), and M ups withdraw the request.
//! - **Exactly once.** A new epoch is claimed only from `watching`, `suspect` or
//!   `awaitingApproval`, and the claim moves the watch to `activating` in the same write. From
//!   `activating` and `failedOver` only an operator's `failback` leads back, under a further
//!   epoch. So for one outage at most one new epoch is ever requested, whatever the interleaving
//!   of watchers, as long as the store's ETag check makes their writes sequential. The same epoch
//!   is asked for again only after a reported retryable failure (on a later tick, at most
//!   `maxActivationAttempts` calls), after `activationTimeoutMs` without any result, or on a
//!   `forceActivate`.
//! - **Failback is never automatic.** Failed over, M ups raise `failbackIsManual` (repeated as a
//!   reminder) and nothing else.
//! - **Alerts.** No alert for the first failures: single failures are common and are visible on
//!   the status page. The first alert comes when a watcher reaches N: `activationRequested` when
//!   the step activates, otherwise `primaryDown` (warning without quorum, critical when held
//!   down) or `approvalNeeded`. Conditions that stand (`primaryDown`, `approvalNeeded`,
//!   `activationFailed` after giving up, `failbackIsManual`, `watcherNetworkSuspect`) stay open
//!   and are sent again every `reminderEveryMs` with `reminder: true`.
//! - **Decision log.** Every step returns exactly one [`Decision`], with the phase before and
//!   after, the epoch, the actions and a note saying why.

mod confirm;
mod decide;
mod decision;
mod input;
mod policy;
mod probe;
pub mod simulation;
mod state;

#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod script_tests;

pub use confirm::confirm_after;
pub use decide::step;
pub use decision::{Action, Alert, AlertKind, Decision, Severity, Step};
pub use input::{ActivationOutcome, Command, Input};
pub use policy::{ActivationMode, MaintenanceWindow, Quorum, WatchPolicy, RETRY_PAUSE};
pub use probe::{attempts, Attempt, Observation, ProbePath};
pub use state::{
    ActivationRecord, OpenAlert, Pause, Phase, ProbeRecord, Vote, WatchState, WatcherRecord, HISTORY_LEN, STATE_VERSION,
};
