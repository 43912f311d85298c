//! What one step decides: the actions for the shell to carry out, and the record it appends to
//! the decision log.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::input::Input;
use super::state::{Phase, WatchState};

/// The result of one step: the state to write back (under the ETag it was read with) and the
/// decision, whose actions the shell carries out only once the write has succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub state: WatchState,
    pub decision: Decision,
}

impl Step {
    pub fn actions(&self) -> &[Action] {
        &self.decision.actions
    }

    /// The activation this step asks for, if any.
    pub fn activation_request(&self) -> Option<u64> {
        self.actions().iter().find_map(|a| match a {
            Action::RequestActivation { epoch, .. } => Some(*epoch),
            _ => None,
        })
    }
}

/// One line of the append-only decision log: every step writes exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub at: DateTime<Utc>,
    /// The watcher that stepped (for commands, whoever sent them).
    pub watcher: String,
    pub input: Input,
    /// The epoch after the step.
    pub epoch: u64,
    pub from: Phase,
    pub to: Phase,
    /// Why, in words: the counts, what blocked or allowed activation, what expired.
    pub note: String,
    pub actions: Vec<Action>,
    /// Set when a command was refused (e.g. `approve` with nothing awaiting approval); the state
    /// is then unchanged apart from housekeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Action {
    /// Call the activation for this epoch. The claim is already in the state being written, so
    /// the shell calls only after the write succeeded, and reports back with `activationResult`.
    RequestActivation {
        epoch: u64,
        reason: String,
    },
    Alert(Alert),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub severity: Severity,
    pub kind: AlertKind,
    pub message: String,
    /// A repeat of an alert that is still open (same kind, severity and message as the first).
    #[serde(default)]
    pub reminder: bool,
}

/// How loud an alert is; the same three words in the state, the decision log and every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// What an alert is about, spelled the same (camelCase, [`AlertKind::label`]) in the state, the
/// decision log and every alert channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    /// A watcher reached the failure threshold, but the watch cannot activate yet (no quorum,
    /// held down). Not raised when the same step activates.
    PrimaryDown,
    /// The primary came back (M consecutive ups) after `primaryDown` or `approvalNeeded`.
    PrimaryRecovered,
    ActivationRequested,
    ActivationSucceeded,
    ActivationFailed,
    ApprovalNeeded,
    /// Failed over, and the primary looks healthy again: an operator decides when to fail back.
    FailbackIsManual,
    FailbackRecorded,
    /// A watcher's observations have been inconclusive N times in a row: it is blind.
    WatcherNetworkSuspect,
    WatcherNetworkRecovered,
    Paused,
    Resumed,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl AlertKind {
    pub fn label(self) -> &'static str {
        match self {
            AlertKind::PrimaryDown => "primaryDown",
            AlertKind::PrimaryRecovered => "primaryRecovered",
            AlertKind::ActivationRequested => "activationRequested",
            AlertKind::ActivationSucceeded => "activationSucceeded",
            AlertKind::ActivationFailed => "activationFailed",
            AlertKind::ApprovalNeeded => "approvalNeeded",
            AlertKind::FailbackIsManual => "failbackIsManual",
            AlertKind::FailbackRecorded => "failbackRecorded",
            AlertKind::WatcherNetworkSuspect => "watcherNetworkSuspect",
            AlertKind::WatcherNetworkRecovered => "watcherNetworkRecovered",
            AlertKind::Paused => "paused",
            AlertKind::Resumed => "resumed",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::RequestActivation { epoch, reason } => {
                write!(f, "request activation epoch {epoch}: {reason}")
            }
            Action::Alert(a) => {
                let again = if a.reminder { " (reminder)" } else { "" };
                write!(f, "alert {} {}{again}: {}", a.severity.label(), a.kind.label(), a.message)
            }
        }
    }
}
