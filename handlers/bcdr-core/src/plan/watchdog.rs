//! The plan's `watchdog` section: the secondary's timer and the watches it runs on each tick.
//! [`WatchdogJson`] is the section as written; its `parse` gives [`WatchdogPlan`], whose schedule
//! is a parsed [`Schedule`].

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check_url;
use super::health::HealthPlan;
use crate::schedule::Schedule;
use crate::settings::Problems;
use crate::watch::WatchPolicy;

/// The watchdog's timer and the watches it runs on each tick.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogPlan {
    /// NCRONTAB, six fields, UTC: the deployment sets `BCDR_WATCHDOG_SCHEDULE` from it.
    pub schedule: Schedule,
    /// At least one, with distinct names.
    pub watches: Vec<Watch>,
}

/// The watchdog's default schedule: every minute, on the minute.
pub const DEFAULT_WATCHDOG_SCHEDULE: &str = "0 * * * * *";

/// One watched primary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Watch {
    /// Names the watch in state, alerts and activation requests: lowercase letters, digits, `-`.
    pub name: String,
    /// The primary's health-check URL (without the key: that comes from `BCDR_HEALTH_KEY`).
    pub target: String,
    /// Control probes: endpoints outside the primary that answer whenever the watcher's own
    /// network works. Any HTTP answer counts. Without any, a silent primary always counts as down.
    #[serde(default)]
    pub controls: Vec<String>,
    #[serde(default)]
    pub policy: WatchPolicy,
}

/// The watchdog's timer and the watches it runs on each tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename = "WatchdogPlan", rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct WatchdogJson {
    /// NCRONTAB, six fields, UTC: the deployment sets `BCDR_WATCHDOG_SCHEDULE` from it.
    #[serde(default = "default_schedule")]
    schedule: String,
    watches: Vec<Watch>,
}

fn default_schedule() -> String {
    DEFAULT_WATCHDOG_SCHEDULE.to_owned()
}

impl WatchdogPlan {
    /// Time between two ticks (the shortest gap over the next day, for irregular schedules).
    pub fn interval(&self) -> Option<Duration> {
        schedule_interval(&self.schedule)
    }
}

impl WatchdogJson {
    /// The section's rules, each problem at its path under `$.watchdog`, and the health-check's
    /// deadline against each watch's probe attempt. `None` when the schedule does not parse.
    pub(super) fn parse(self, health: &HealthPlan, p: &mut Problems) -> Option<WatchdogPlan> {
        let schedule = match Schedule::parse(&self.schedule) {
            Ok(schedule) => Some(schedule),
            Err(e) => {
                p.push("$.watchdog.schedule", Some(&self.schedule), e.to_string());
                None
            }
        };
        let interval = schedule.as_ref().and_then(schedule_interval);
        if self.watches.is_empty() {
            p.push("$.watchdog.watches", None, "needs at least one watch");
        }
        let mut names = HashSet::new();
        for (i, w) in self.watches.iter().enumerate() {
            let at = format!("$.watchdog.watches[{i}]");
            if !is_watch_name(&w.name) {
                p.push(format!("{at}.name"), Some(&w.name), "must be 1-63 lowercase letters, digits or '-'");
            } else if !names.insert(w.name.as_str()) {
                p.push(format!("{at}.name"), Some(&w.name), "is used by an earlier watch");
            }
            check_url(&format!("{at}.target"), &w.target, p);
            if w.target.contains('?') {
                p.push(
                    format!("{at}.target"),
                    None,
                    "must not carry a query string: the function key comes from BCDR_HEALTH_KEY",
                );
            }
            for (j, c) in w.controls.iter().enumerate() {
                check_url(&format!("{at}.controls[{j}]"), c, p);
            }
            w.policy.validate(&format!("{at}.policy"), p);
            if let Some(interval) = interval {
                w.policy.validate_interval(interval, &format!("{at}.policy"), p);
            }
            // The health-check must answer within one probe attempt, or a slow-but-working
            // primary would look silent.
            let attempt = w.policy.attempt_timeout();
            if health.deadline() >= attempt {
                p.push(
                    "$.health.deadlineMs",
                    Some(&health.deadline_ms.to_string()),
                    format!("must be below the time of one probe attempt of watch {:?} ({} ms: probeTimeoutMs / probeAttempts)", w.name, attempt.as_millis()),
                );
            }
        }
        Some(WatchdogPlan { schedule: schedule?, watches: self.watches })
    }
}

/// The shortest gap between consecutive occurrences over the next day.
fn schedule_interval(schedule: &Schedule) -> Option<Duration> {
    let start = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
    let mut t = schedule.next_after(start)?;
    let mut shortest: Option<chrono::Duration> = None;
    for _ in 0..1440 {
        let next = schedule.next_after(t)?;
        let gap = next - t;
        shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
        if next - start > chrono::Duration::days(1) {
            break;
        }
        t = next;
    }
    shortest?.to_std().ok()
}

fn is_watch_name(name: &str) -> bool {
    (1..=63).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::super::testing::problems;
    use super::super::FailoverPlan;
    use super::*;
    use serde_json::json;

    fn plan_with_watchdog(watchdog: serde_json::Value) -> String {
        json!({
            "version": 1, "name": "orders",
            "regions": {"primary": "westeurope", "secondary": "northeurope"},
            "health": {"deadlineMs": 4000, "checks": [{"name": "d", "dns": {"host": "h"}}]},
            "watchdog": watchdog
        })
        .to_string()
    }

    #[test]
    fn the_schedule_is_parsed_once_with_its_interval() {
        let watches = json!([{"name": "orders", "target": "https://orders.example.net/api/health"}]);
        let plan = FailoverPlan::from_json(&plan_with_watchdog(json!({"watches": watches}))).unwrap();
        let watchdog = plan.watchdog.unwrap();
        assert_eq!(watchdog.schedule.expression(), DEFAULT_WATCHDOG_SCHEDULE);
        assert_eq!(watchdog.interval(), Some(Duration::from_secs(60)));
        let plan =
            FailoverPlan::from_json(&plan_with_watchdog(json!({"schedule": "0 */5 * * * *", "watches": watches})))
                .unwrap();
        assert_eq!(plan.watchdog.unwrap().interval(), Some(Duration::from_secs(300)));
    }

    #[test]
    fn a_bad_schedule_and_bad_watches_are_named() {
        let text = plan_with_watchdog(json!({"schedule": "* * * * *", "watches": [
            {"name": "Orders", "target": "https://h/api/health?code=x"},
            {"name": "b", "target": "https://h/api/health", "controls": ["nope"]}
        ]}));
        assert_eq!(
            problems(&text),
            "$.watchdog.schedule = \"* * * * *\": \"* * * * *\" has 5 fields; NCRONTAB needs 6 (second minute hour day month day-of-week), e.g. \"0 */5 * * * *\"\n\
             $.watchdog.watches[0].name = \"Orders\": must be 1-63 lowercase letters, digits or '-'\n\
             $.watchdog.watches[0].target: must not carry a query string: the function key comes from BCDR_HEALTH_KEY\n\
             $.watchdog.watches[1].controls[0] = \"nope\": is not a URL: relative URL without a base"
        );
    }
}
