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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(payload: serde_json::Value, expect: &str) {
        let got = match Tick::from_event(payload) {
            Ok(t) => {
                format!("due {:?}, schedule {:?}, attempt {}", t.due.map(|d| d.to_rfc3339()), t.schedule, t.attempt)
            }
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect);
    }

    fn fixture(name: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn schedules_events() {
        check(
            fixture("scheduler-event.json"),
            r#"due Some("2026-11-28T10:15:00+00:00"), schedule Some("arn:aws:scheduler:eu-central-1:210987654321:schedule/bcdr/bcdr-watchdog-orders"), attempt 2"#,
        );
        check(
            fixture("eventbridge-rule-event.json"),
            r#"due Some("2026-11-28T10:16:00+00:00"), schedule Some("arn:aws:events:eu-central-1:210987654321:rule/bcdr-watchdog-orders"), attempt 1"#,
        );
    }

    #[test]
    fn fixtures_round_trip_through_the_event_type() {
        for name in ["scheduler-event.json", "eventbridge-rule-event.json"] {
            let raw = fixture(name);
            let event: EventBridgeEvent<ScheduleDetail> = serde_json::from_value(raw.clone()).unwrap();
            let mut back = serde_json::to_value(&event).unwrap();
            // The type writes `time` with its own precision; compare the instant.
            assert_eq!(
                back["time"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
                raw["time"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap()
            );
            back["time"] = raw["time"].clone();
            assert_eq!(back, raw, "{name}");
        }
    }

    #[test]
    fn other_payloads_are_refused_naming_the_field() {
        check(json!({"hello": "world"}), "error: the event is not a schedule's event: $: missing field `detail-type`");
        let mut event = fixture("eventbridge-rule-event.json");
        event["detail-type"] = json!("EC2 Instance State-change Notification");
        check(
            event,
            r#"error: detail-type = "EC2 Instance State-change Notification": expected "Scheduled Event" (the watchdog runs only on its schedule)"#,
        );
        let mut event = fixture("scheduler-event.json");
        event["time"] = json!("<aws.scheduler.scheduled-time>");
        check(event, "error: the event is not a schedule's event: $.time: input contains invalid characters");
        let mut event = fixture("scheduler-event.json");
        event["detail"]["attemptNumber"] = json!("0");
        check(event, r#"error: detail.attemptNumber = "0": expected a whole number from 1"#);
    }

    #[test]
    fn a_tick_later_than_its_interval_is_past_due() {
        let due = "2026-11-28T10:15:00Z".parse::<DateTime<Utc>>().unwrap();
        let tick = Tick { due: Some(due), schedule: None, attempt: 1 };
        let minute = std::time::Duration::from_secs(60);
        assert!(!tick.is_past_due(due + chrono::TimeDelta::seconds(60), minute));
        assert!(tick.is_past_due(due + chrono::TimeDelta::seconds(61), minute));
        assert!(!Tick { due: None, ..tick }.is_past_due(due + chrono::TimeDelta::days(1), minute));
    }
}
