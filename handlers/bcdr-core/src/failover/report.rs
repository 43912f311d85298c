//! What an activation run did: the report it returns and the activation app stores.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which way the work moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// From the primary's copies to the secondary's.
    #[default]
    Failover,
    /// Back from the secondary's copies to the primary's: the plan in reverse.
    Failback,
}

impl Direction {
    pub fn is_failover(&self) -> bool {
        *self == Direction::Failover
    }
}

/// The result of a whole run: the worst of its actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Every copy and the router are where the plan wants them.
    Succeeded,
    /// A client-state or webhook copy was not enabled because the copy it replaces could not be
    /// confirmed disabled; everything else was done. Running again (with `force`, or after the
    /// grace period) finishes it.
    WaitingForFence,
    /// At least one action failed; the others were still carried out.
    Failed,
    /// A practice run that found nothing in the way: nothing was written.
    Practiced,
}

/// The stage of the failover an action belongs to (the report's `phase` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Disable the copy the work moves away from.
    Fence,
    /// Let the disabled copy's runs finish (or cancel them): a Consumption workflow keeps
    /// running what it started after it is disabled.
    Drain,
    /// Settle where the new copy's client-state trigger starts reading, before it is enabled.
    TriggerState,
    /// Enable the copy the work moves to.
    Enable,
    /// Switch the router to the copy the work moves to.
    Route,
}

/// Which copy (or router endpoint) an action touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Side {
    Primary,
    Secondary,
}

/// How one action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionStatus {
    /// Written (and, for a fence, read back and confirmed).
    Done,
    /// Already as wanted: nothing written.
    AlreadyDone,
    /// Nothing to do for this trigger and role; the detail says why.
    Skipped,
    /// Practice: the target was read, and this is the write a real run would make.
    WouldDo,
    /// Could not be done; the run's outcome is `failed`.
    Failed,
    /// Not done because the copy it replaces is not confirmed disabled.
    WaitingForFence,
    /// A fence that could not be done or confirmed (the region is down, most often). It does not
    /// fail the run by itself: a client-state or webhook copy then waits for the fence, and for
    /// the other triggers fencing is a best effort.
    Unconfirmed,
}

/// Why a copy was enabled although the copy it replaces was not confirmed disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FenceOverride {
    /// The operator asked for it (`force`).
    Forced,
    /// The plan's `fenceGraceMs` has passed since the activation of this epoch first began.
    GracePeriodPassed,
}

/// One action on one copy or router endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionReport {
    /// The plan's name for the resource, or `router`.
    pub resource: String,
    pub copy: Side,
    pub phase: Stage,
    /// What the action brings about: `disable`, `enable`, `stop`, `start`, `disableWorkflow`,
    /// `enableWorkflow`, `setProperty`, `disableEndpoint`, `enableEndpoint`, `disableOrigin`,
    /// `enableOrigin`, `drainRuns`, `takeOver`, `reset`, `backlog`.
    pub operation: String,
    /// The resource id of the copy or endpoint.
    pub target: String,
    pub status: ActionStatus,
    /// The write made, or in practice the write that would be made: `METHOD path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence_overridden: Option<FenceOverride>,
    /// For a drain: the runs still in progress when it ended (left, or cancelled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
    /// HTTP attempts over all of the action's calls, retries included.
    pub attempts: u32,
    pub duration_ms: u64,
    /// What was found and why the action ended as it did, in a few words.
    pub detail: String,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The plan's name.
    pub plan: String,
    pub outcome: Outcome,
    pub direction: Direction,
    pub practice: bool,
    pub force: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Ordered by phase, then by the plan's order.
    pub actions: Vec<ActionReport>,
}

impl Outcome {
    /// The worst of the actions: failed, then waiting for a fence; otherwise succeeded (or
    /// practiced).
    pub fn of(actions: &[ActionReport], practice: bool) -> Outcome {
        let any = |status| actions.iter().any(|a| a.status == status);
        if any(ActionStatus::Failed) {
            Outcome::Failed
        } else if any(ActionStatus::WaitingForFence) {
            Outcome::WaitingForFence
        } else if practice {
            Outcome::Practiced
        } else {
            Outcome::Succeeded
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Fence => "fence",
            Stage::Drain => "drain",
            Stage::TriggerState => "triggerState",
            Stage::Enable => "enable",
            Stage::Route => "route",
        })
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Primary => "primary",
            Side::Secondary => "secondary",
        })
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionStatus::Done => "done",
            ActionStatus::AlreadyDone => "alreadyDone",
            ActionStatus::Skipped => "skipped",
            ActionStatus::WouldDo => "wouldDo",
            ActionStatus::Failed => "failed",
            ActionStatus::WaitingForFence => "waitingForFence",
            ActionStatus::Unconfirmed => "unconfirmed",
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Succeeded => "succeeded",
            Outcome::WaitingForFence => "waitingForFence",
            Outcome::Failed => "failed",
            Outcome::Practiced => "practiced",
        })
    }
}

impl fmt::Display for FenceOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FenceOverride::Forced => "forced",
            FenceOverride::GracePeriodPassed => "gracePeriodPassed",
        })
    }
}

/// One line per action, for logs and the CLI:
/// `fence primary intake disable: done (Disabled, confirmed)`.
impl fmt::Display for ActionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} {}: {}", self.phase, self.copy, self.resource, self.operation, self.status)?;
        if let Some(o) = self.fence_overridden {
            write!(f, " (fence overridden: {o})")?;
        }
        if !self.detail.is_empty() {
            write!(f, " - {}", self.detail)?;
        }
        Ok(())
    }
}
