//! How a Consumption workflow's work is handed from one copy to the other, beyond its state:
//! the runs the old copy still has (`drain`) and the position of a client-state trigger
//! (`triggerState`). Both are per resource, with defaults that give exactly-once processing
//! whenever the old copy's control plane answers.

use serde::{Deserialize, Serialize};

/// What happens to the runs a disabled copy still has. Azure lets every Running and Waiting run
/// of a disabled workflow finish; until they have, both regions work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Drain {
    /// How long to wait for the old copy's runs to finish after it is disabled.
    #[serde(default = "default_drain_limit_ms")]
    pub limit_ms: u64,
    /// What to do with the runs still in progress after `limitMs`.
    #[serde(default)]
    pub then: AfterDrain,
}

/// What to do with runs still in progress when the drain limit is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AfterDrain {
    /// The fence stays unconfirmed: the new copy waits for the operator (or the fence grace
    /// period), and the report names the runs left. Nothing is lost; nothing runs twice at once.
    #[default]
    Wait,
    /// Cancel them (`POST .../runs/{run}/cancel`) and go on: the items they held are not
    /// processed, and the report names the runs so that they can be resubmitted.
    Cancel,
}

fn default_drain_limit_ms() -> u64 {
    60_000
}

impl Default for Drain {
    fn default() -> Self {
        Self { limit_ms: default_drain_limit_ms(), then: AfterDrain::default() }
    }
}

/// Where a client-state trigger of the copy being enabled starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerHandover {
    #[serde(default)]
    pub choice: TriggerState,
    /// When `choice` is `takeOver` but the old copy's control plane does not answer (its trigger
    /// cannot be read): `backlog` or `reset`.
    #[serde(default = "default_if_unreachable")]
    pub if_unreachable: TriggerState,
}

/// How the trigger state of the copy being enabled is settled, before it is enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TriggerState {
    /// Copy the old copy's trigger position (`POST .../triggers/{t}/setState`): the new copy
    /// starts where the old one stopped. Exactly once, when the old copy's region answers.
    #[default]
    TakeOver,
    /// Start from now (`POST .../triggers/{t}/reset`): nothing is processed twice, but items that
    /// arrived and were not yet taken by the old copy are skipped.
    Reset,
    /// Leave the trigger as it is: it fires for every item since this copy last ran. Nothing is
    /// lost, but items the other copy already processed are processed again.
    Backlog,
}

fn default_if_unreachable() -> TriggerState {
    TriggerState::Backlog
}

impl Default for TriggerHandover {
    fn default() -> Self {
        Self { choice: TriggerState::default(), if_unreachable: default_if_unreachable() }
    }
}

impl TriggerState {
    pub fn label(self) -> &'static str {
        match self {
            TriggerState::TakeOver => "takeOver",
            TriggerState::Reset => "reset",
            TriggerState::Backlog => "backlog",
        }
    }
}
