//! The durable state of one watch, shared by all its watchers and stored as one JSON document
//! under an ETag. Every field has a default, so a document written by an older build still reads.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::decision::{AlertKind, Severity};
use super::policy::WatchPolicy;
use super::probe::Observation;

/// The state format this build writes.
pub const STATE_VERSION: u32 = 1;

/// How many recent observations the state keeps for the status page.
pub const HISTORY_LEN: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WatchState {
    pub version: u32,
    pub phase: Phase,
    /// When the current phase began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase_since: Option<DateTime<Utc>>,
    /// The activation generation. A claim to activate writes `epoch + 1` together with phase
    /// `activating`, before anything is activated; a failback moves it on again, so whatever was
    /// tagged with an older epoch (votes, late activation results) no longer counts.
    pub epoch: u64,
    /// Each watcher's counters, by watcher id.
    pub watchers: BTreeMap<String, WatcherRecord>,
    /// The watchers that currently say the primary is down, by watcher id.
    pub votes: BTreeMap<String, Vote>,
    /// When the last new epoch was claimed; the hold-down counts from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activation_at: Option<DateTime<Utc>>,
    /// The activation of the current epoch, from its claim on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<ActivationRecord>,
    /// While failed over: since when the primary has looked healthy again (M consecutive ups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_back_since: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
    /// Alerts whose condition still stands; each is sent again every `reminderEveryMs`.
    pub open_alerts: Vec<OpenAlert>,
    /// The last [`HISTORY_LEN`] observations of all watchers, oldest first.
    pub history: VecDeque<ProbeRecord>,
}

/// Where the watch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// The primary looks healthy.
    #[default]
    Watching,
    /// Some watcher has seen the primary down, but the activation condition is not met (below
    /// the threshold, no quorum, or held down).
    Suspect,
    /// The condition is met and the policy wants an operator's approval.
    AwaitingApproval,
    /// The current epoch is claimed: its activation is being asked for, retried, or has failed.
    Activating,
    /// The activation succeeded; only an operator's failback leaves this phase.
    FailedOver,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Watching => "watching",
            Phase::Suspect => "suspect",
            Phase::AwaitingApproval => "awaitingApproval",
            Phase::Activating => "activating",
            Phase::FailedOver => "failedOver",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One watcher's consecutive counts. Inconclusive observations leave `failures` and `successes`
/// alone and only count in `inconclusive`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WatcherRecord {
    pub failures: u32,
    pub successes: u32,
    pub inconclusive: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// A watcher's vote that the primary is down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vote {
    /// When the watcher reached the threshold.
    pub since: DateTime<Utc>,
    /// Its latest down; the vote expires `voteTtlMs` after it.
    pub at: DateTime<Utc>,
    /// The epoch the vote was cast in; a vote from another epoch never counts.
    pub epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    pub reason: String,
    /// The pause ends by itself at this time.
    pub until: DateTime<Utc>,
    pub by: String,
    pub since: DateTime<Utc>,
}

/// The activation of one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationRecord {
    pub epoch: u64,
    pub requested_at: DateTime<Utc>,
    /// The watcher that claimed it, or the operator who forced or approved it.
    pub requested_by: String,
    pub reason: String,
    /// Calls asked for so far for this epoch (the first one and its retries).
    pub attempts: u32,
    pub last_attempt_at: DateTime<Utc>,
    /// A call was asked for and has not reported back.
    pub in_flight: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// No more automatic retries: the last failure was final, or the attempts ran out.
    #[serde(default)]
    pub gave_up: bool,
}

/// An alert whose condition still stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenAlert {
    pub kind: AlertKind,
    /// The watcher it is about, for per-watcher alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watcher: Option<String>,
    pub severity: Severity,
    pub message: String,
    pub since: DateTime<Utc>,
    pub last_sent_at: DateTime<Utc>,
}

/// One observation, for the status page's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRecord {
    pub at: DateTime<Utc>,
    pub watcher: String,
    pub observation: Observation,
    /// False when it did not count: inconclusive, paused, or in a maintenance window.
    pub counted: bool,
}

impl Default for WatchState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            phase: Phase::Watching,
            phase_since: None,
            epoch: 0,
            watchers: BTreeMap::new(),
            votes: BTreeMap::new(),
            last_activation_at: None,
            activation: None,
            primary_back_since: None,
            pause: None,
            open_alerts: Vec::new(),
            history: VecDeque::new(),
        }
    }
}

impl WatchState {
    /// The votes that count at `now`: cast in the current epoch and not expired.
    pub fn live_votes(&self, policy: &WatchPolicy, now: DateTime<Utc>) -> usize {
        self.votes.values().filter(|v| self.vote_counts(v, policy, now)).count()
    }

    pub(crate) fn vote_counts(&self, vote: &Vote, policy: &WatchPolicy, now: DateTime<Utc>) -> bool {
        vote.epoch == self.epoch && now - vote.at < policy.vote_ttl()
    }

    /// The pause in force at `now`, if any.
    pub fn pause_at(&self, now: DateTime<Utc>) -> Option<&Pause> {
        self.pause.as_ref().filter(|p| now < p.until)
    }

    /// Until when a new activation is held down, if it is at `now`.
    pub fn held_down_until(&self, policy: &WatchPolicy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let until = self.last_activation_at?.checked_add_signed(policy.hold_down())?;
        (now < until).then_some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_state_reads_an_empty_or_older_document() {
        let s: WatchState = serde_json::from_str("{}").unwrap();
        assert_eq!(s, WatchState::default());
        let s: WatchState = serde_json::from_str(r#"{"phase":"failedOver","epoch":3,"futureField":true}"#).unwrap();
        assert_eq!((s.phase, s.epoch, s.version), (Phase::FailedOver, 3, STATE_VERSION));
        let json = serde_json::to_string(&WatchState::default()).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"phase":"watching","epoch":0,"watchers":{},"votes":{},"openAlerts":[],"history":[]}"#
        );
    }
}
