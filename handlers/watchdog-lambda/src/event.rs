//! The invocation that starts a tick: an EventBridge Scheduler schedule's payload.
//!
//! A Scheduler schedule sends its target whatever `Input` it was given, with the keywords
//! `<aws.scheduler.schedule-arn>`, `<aws.scheduler.scheduled-time>`,
//! `<aws.scheduler.execution-id>` and `<aws.scheduler.attempt-number>` replaced by their values.
//! `infra/aws/watchdog-lambda.yaml` gives it the EventBridge event envelope
//! ([`EventBridgeEvent`]), so the same handler also takes an EventBridge *rule*'s
//! `"Scheduled Event"` (whose `detail` is `{}`): `time` is when the tick was due, `resources[0]`
//! the schedule (or rule), `detail.attemptNumber` the Scheduler's delivery attempt.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `detail-type` both schedulers use.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// The schedule's `detail`: empty from an EventBridge rule; the attempt number from the
/// Scheduler, as the string its keyword is replaced with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScheduleDetail {
    #[serde(rename = "attemptNumber", default, skip_serializing_if = "Option::is_none")]
    pub attempt_number: Option<String>,
}

/// What a tick needs to know about the invocation that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// When the schedule meant the tick to run, when the event says.
    pub due: Option<DateTime<Utc>>,
    /// The schedule (or rule) ARN.
    pub schedule: Option<String>,
    /// The scheduler's delivery attempt (1 for the first).
    pub attempt: u32,
}

/// Why an invocation is not a tick; the invocation fails with this and nothing is probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is not a schedule's event: {0}")]
    Shape(String),
    #[error("detail-type = {0:?}: expected {SCHEDULED_EVENT:?} (the watchdog runs only on its schedule)")]
    NotScheduled(String),
    #[error("detail.attemptNumber = {0:?}: expected a whole number from 1")]
    Attempt(String),
}

impl Tick {
    /// Reads a schedule's event, naming the first field that is wrong.
    pub fn from_event(payload: serde_json::Value) -> Result<Tick, EventError> {
        let event: EventBridgeEvent<ScheduleDetail> = serde_path_to_error::deserialize(payload).map_err(|e| {
            let path = e.path().to_string();
            EventError::Shape(format!(
                "{}: {}",
                if path == "." { "$".to_owned() } else { format!("$.{path}") },
                e.inner()
            ))
        })?;
        if event.detail_type != SCHEDULED_EVENT {
            return Err(EventError::NotScheduled(event.detail_type));
        }
        let attempt = match event.detail.attempt_number {
            None => 1,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(EventError::Attempt(raw)),
            },
        };
        Ok(Tick { due: event.time, schedule: event.resources.and_then(|r| r.into_iter().next()), attempt })
    }

    /// Whether the tick starts later than `interval` after it was due (the Functions timer's
    /// `IsPastDue`): a sign the schedule or the function was held up.
    pub fn is_past_due(&self, now: DateTime<Utc>, interval: std::time::Duration) -> bool {
        match (self.due, chrono::TimeDelta::from_std(interval)) {
            (Some(due), Ok(interval)) => now - due > interval,
            _ => false,
        }
    }
}
