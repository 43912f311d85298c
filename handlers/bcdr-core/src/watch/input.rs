//! What the state machine is stepped with: a watcher's observation, or an operator's (or the
//! shell's) command.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::probe::Observation;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Input {
    Observation(Observation),
    Command(Command),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Command {
    /// Stop counting and activating until `until` (or a `resume`), e.g. during unplanned work.
    Pause {
        reason: String,
        until: DateTime<Utc>,
        by: String,
    },
    Resume {
        by: String,
    },
    /// Go ahead with the activation the watch is waiting approval for, by the normal path
    /// (fences and drains included: nothing is forced).
    Approve {
        by: String,
        /// Why, for the decision log.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// Decline the activation the watch is waiting approval for: it watches again, paused until
    /// `until` (nothing counts or activates meanwhile), then asks again if the primary is still
    /// down.
    Reject {
        by: String,
        reason: String,
        until: DateTime<Utc>,
    },
    /// Activate now, whatever the counts, quorum, hold-down, pause or maintenance say. While an
    /// epoch is already claimed, ask again for that same epoch.
    ForceActivate {
        by: String,
    },
    /// The operator has moved the work back to the primary: watch again under a new epoch, so a
    /// later outage can activate again.
    Failback {
        by: String,
    },
    /// What the activation call for `epoch` returned (sent by the shell that made the call).
    ActivationResult {
        epoch: u64,
        outcome: ActivationOutcome,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum ActivationOutcome {
    Succeeded,
    /// `retryable`: the call may succeed if made again (timeout, 5xx, throttling); otherwise an
    /// operator has to look first.
    Failed {
        reason: String,
        retryable: bool,
    },
}

impl From<Observation> for Input {
    fn from(o: Observation) -> Self {
        Input::Observation(o)
    }
}

impl From<Command> for Input {
    fn from(c: Command) -> Self {
        Input::Command(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_input_json() {
        let json = r#"{"command":{"kind":"activationResult","epoch":2,"outcome":{"status":"failed","reason":"429","retryable":true}}}"#;
        let input: Input = serde_json::from_str(json).unwrap();
        assert_eq!(
            input,
            Input::Command(Command::ActivationResult {
                epoch: 2,
                outcome: ActivationOutcome::Failed { reason: "429".into(), retryable: true }
            })
        );
        assert_eq!(serde_json::to_string(&input).unwrap(), json);
        let pause: Input = serde_json::from_str(
            r#"{"command":{"kind":"pause","reason":"dns move","until":"2024-01-01T02:00:00Z","by":"ana"}}"#,
        )
        .unwrap();
        assert!(matches!(pause, Input::Command(Command::Pause { .. })));
    }
}
