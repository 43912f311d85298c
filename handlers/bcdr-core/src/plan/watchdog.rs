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
    /// The watchers the deployment runs, when the plan declares them (empty otherwise).
    pub watchers: Vec<Watcher>,
}

/// A watcher the deployment runs. Declared, the watchers hold each watch's quorum to what is
/// deployed (`plan check`), and `bcdr status` shows where each vote came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Watcher {
    /// The name its votes carry (`BCDR_WATCHER_ID`; on Azure by default the function app's
    /// name, `func-<plan>-watchdog-<region code>`).
    pub name: String,
    pub cloud: Cloud,
    /// The region it runs in, in its cloud's spelling (`northeurope`, `eu-central-1`).
    pub region: String,
}

/// Where a watcher runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Azure,
    Aws,
}

impl Cloud {
    pub fn label(self) -> &'static str {
        match self {
            Cloud::Azure => "azure",
            Cloud::Aws => "aws",
        }
    }
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
    /// The watchers the deployment runs (optional). When given, each watch's
    /// `quorum.watchers` must be their number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    watchers: Vec<Watcher>,
    /// With declared watchers: no two may share a failure domain (the same cloud and region),
    /// so that one regional event cannot silence or fake a quorum.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    separate_failure_domains: bool,
}

fn default_schedule() -> String {
    DEFAULT_WATCHDOG_SCHEDULE.to_owned()
}

impl WatchdogPlan {
    /// Time between two ticks (the shortest gap over the next day, for irregular schedules).
    pub fn interval(&self) -> Option<Duration> {
        schedule_interval(&self.schedule)
    }

    /// The declared watcher named `name`.
    pub fn watcher(&self, name: &str) -> Option<&Watcher> {
        self.watchers.iter().find(|w| w.name == name)
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
        self.check_watchers(p);
        Some(WatchdogPlan { schedule: schedule?, watches: self.watches, watchers: self.watchers })
    }
}

impl WatchdogJson {
    /// The declared watchers against each watch's quorum, and their failure domains.
    fn check_watchers(&self, p: &mut Problems) {
        if self.watchers.is_empty() {
            if self.separate_failure_domains {
                p.push(
                    "$.watchdog.separateFailureDomains",
                    Some("true"),
                    "needs the watchers declared in $.watchdog.watchers",
                );
            }
            return;
        }
        let mut names = HashSet::new();
        let mut domains: Vec<(Cloud, String, usize)> = Vec::new();
        for (i, w) in self.watchers.iter().enumerate() {
            let at = format!("$.watchdog.watchers[{i}]");
            if w.name.trim().is_empty() || w.name.len() > 128 {
                p.push(format!("{at}.name"), Some(&w.name), "must be 1-128 characters");
            } else if !names.insert(w.name.as_str()) {
                p.push(format!("{at}.name"), Some(&w.name), "is used by an earlier watcher: votes are counted by name");
            }
            let region = w.region.trim().to_ascii_lowercase();
            if region.is_empty() {
                p.push(format!("{at}.region"), None, "must name the region the watcher runs in");
            } else if self.separate_failure_domains {
                if let Some((_, _, j)) = domains.iter().find(|(c, r, _)| *c == w.cloud && *r == region) {
                    p.push(
                        format!("{at}.region"),
                        Some(&w.region),
                        format!(
                            "{} {} is also the failure domain of $.watchdog.watchers[{j}], and separateFailureDomains is set",
                            w.cloud.label(),
                            region
                        ),
                    );
                }
                domains.push((w.cloud, region, i));
            }
        }
        let declared = self.watchers.len();
        for (i, w) in self.watches.iter().enumerate() {
            let quorum = &w.policy.quorum;
            if quorum.watchers as usize != declared {
                p.push(
                    format!("$.watchdog.watches[{i}].policy.quorum.watchers"),
                    Some(&quorum.watchers.to_string()),
                    format!("must be the number of watchers declared in $.watchdog.watchers ({declared})"),
                );
            }
            if quorum.required as usize > declared {
                p.push(
                    format!("$.watchdog.watches[{i}].policy.quorum.required"),
                    Some(&quorum.required.to_string()),
                    format!(
                        "more votes than the deployment has watchers ({declared}): this watch could never activate"
                    ),
                );
            }
        }
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

    fn quorum_watches(required: u32, watchers: u32) -> serde_json::Value {
        json!([{"name": "orders", "target": "https://orders.example.net/api/health",
                "policy": {"quorum": {"required": required, "watchers": watchers}}}])
    }

    #[test]
    fn declared_watchers_hold_the_quorum_to_the_deployment() {
        let watchers = json!([
            {"name": "func-orders-watchdog-neu", "cloud": "azure", "region": "northeurope"},
            {"name": "func-orders-watchdog-frc", "cloud": "azure", "region": "francecentral"},
            {"name": "bcdr-aws-watchdog", "cloud": "aws", "region": "eu-central-1"}
        ]);
        let plan = FailoverPlan::from_json(&plan_with_watchdog(
            json!({"watches": quorum_watches(2, 3), "watchers": watchers, "separateFailureDomains": true}),
        ))
        .unwrap();
        let watchdog = plan.watchdog.unwrap();
        assert_eq!(
            watchdog.watcher("bcdr-aws-watchdog").map(|w| (w.cloud, w.region.as_str())),
            Some((Cloud::Aws, "eu-central-1"))
        );
        assert_eq!(watchdog.watcher("someone-else"), None);

        let two = json!([watchers[0], watchers[1]]);
        assert_eq!(
            problems(&plan_with_watchdog(json!({"watches": quorum_watches(3, 3), "watchers": two}))),
            "$.watchdog.watches[0].policy.quorum.watchers = \"3\": must be the number of watchers declared in $.watchdog.watchers (2)\n\
             $.watchdog.watches[0].policy.quorum.required = \"3\": more votes than the deployment has watchers (2): this watch could never activate"
        );
    }

    #[test]
    fn watchers_in_one_failure_domain_are_refused_when_the_plan_says_so() {
        let watchers = json!([
            {"name": "func-orders-watchdog-neu", "cloud": "azure", "region": "northeurope"},
            {"name": "func-orders-watchdog-neu2", "cloud": "azure", "region": "NorthEurope"},
            {"name": "func-orders-watchdog-neu", "cloud": "aws", "region": "eu-central-1"}
        ]);
        let text = plan_with_watchdog(
            json!({"watches": quorum_watches(2, 3), "watchers": watchers, "separateFailureDomains": true}),
        );
        assert_eq!(
            problems(&text),
            "$.watchdog.watchers[1].region = \"NorthEurope\": azure northeurope is also the failure domain of $.watchdog.watchers[0], and separateFailureDomains is set\n\
             $.watchdog.watchers[2].name = \"func-orders-watchdog-neu\": is used by an earlier watcher: votes are counted by name"
        );
        // Without the rule, two watchers in one region are allowed (zone redundancy, say).
        let same_region = json!([watchers[0], watchers[1], {"name": "aws", "cloud": "aws", "region": "eu-central-1"}]);
        FailoverPlan::from_json(&plan_with_watchdog(json!({"watches": quorum_watches(2, 3), "watchers": same_region})))
            .unwrap();
        assert_eq!(
            problems(&plan_with_watchdog(json!({"watches": quorum_watches(1, 1), "separateFailureDomains": true}))),
            "$.watchdog.separateFailureDomains = \"true\": needs the watchers declared in $.watchdog.watchers"
        );
    }

    #[test]
    fn a_cloud_the_plan_does_not_know_is_a_shape_error() {
        let watchers = json!([{"name": "w", "cloud": "gcp", "region": "europe-west1"}]);
        let text = plan_with_watchdog(json!({"watches": quorum_watches(1, 1), "watchers": watchers}));
        let err = FailoverPlan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("$.watchdog.watchers[0].cloud") && err.contains("gcp"), "{err}");
    }
}
