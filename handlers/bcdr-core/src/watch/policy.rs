//! The per-watch policy as the plan writes it: thresholds, probe attempts, quorum, hold-down,
//! activation mode, reminders and maintenance windows, with defaults and validation.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::settings::Problems;

/// How one watch decides. Every field has a default, so `{}` is the default policy; unknown
/// fields are refused so a misspelt knob cannot silently keep its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WatchPolicy {
    /// N: consecutive down observations from one watcher before it votes that the primary is down.
    pub failure_threshold: u32,
    /// M: consecutive up observations before the watch declares the primary recovered (and,
    /// while failed over, before it says the primary could take the work back).
    pub success_threshold: u32,
    /// The whole time one observation may take, every attempt included.
    pub probe_timeout_ms: u64,
    /// How many times one observation asks the primary before it records a down. Attempt `i`
    /// (from 0) starts `i x spacing` after the observation began, where the spacing spreads the
    /// attempts so the last one ends at `probeTimeoutMs` (`(probeTimeoutMs - attempt timeout) /
    /// (probeAttempts - 1)`), or earlier once every attempt before it failed without a verdict;
    /// it is cut off at `i x spacing + attempt timeout`. Attempts may overlap: a lost request
    /// costs one attempt, not one observation, which is what keeps random loss from looking like
    /// an outage. An unhealthy verdict from the health-check itself is not retried, and any
    /// verdict ends the observation.
    pub probe_attempts: u32,
    /// The time one attempt may take: the health-check's `deadlineMs` must be below it. It is
    /// never less than an equal share of `probeTimeoutMs` (`probeTimeoutMs / probeAttempts`, which
    /// makes the attempts run one after the other) nor more than `probeTimeoutMs`.
    pub attempt_timeout_ms: u64,
    /// After a down that leaves this watcher short of N, the same invocation probes again this
    /// long after the previous probe began (at once, if that probe took longer), until N downs,
    /// an up, or an inconclusive observation. 0 counts one observation per tick. Confirmations
    /// are made only when all N - 1 of them fit in the watchdog's interval
    /// (`(N - 1) x max(confirmEveryMs, probeTimeoutMs) + probeTimeoutMs` shorter than it);
    /// otherwise the count goes on at the next ticks.
    pub confirm_every_ms: u64,
    pub quorum: Quorum,
    /// Minimum time between two activations of this watch (claims of a new epoch), so a primary
    /// that fails again soon after a failback cannot make the bundle ping-pong.
    pub hold_down_ms: u64,
    pub activation: ActivationMode,
    /// An alert that stays open (primary down without quorum, approval needed, activation failed,
    /// failback advised, watcher network suspect) is sent again this often. 0 sends it once.
    pub reminder_every_ms: u64,
    /// Attempts at one epoch's activation (the first call and its retries) before the watchdog
    /// stops and asks an operator.
    pub max_activation_attempts: u32,
    /// An activation call that has reported nothing for this long is taken as lost (the process
    /// that made it died) and asked again for the same epoch. Keep it above the activation's own
    /// deadline, so a slow run is not asked twice.
    pub activation_timeout_ms: u64,
    /// Windows in which observations are recorded but never count, and nothing activates.
    pub maintenance: Vec<MaintenanceWindow>,
}

/// How many watchers must agree. A watcher votes once it has seen N consecutive downs; the vote
/// lasts `voteTtlMs` after that watcher's latest down, so a watcher that stops reporting stops
/// counting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Quorum {
    /// k: distinct unexpired votes needed to activate.
    pub required: u32,
    /// n: how many watchers the deployment runs (k must not exceed it).
    pub watchers: u32,
    pub vote_ttl_ms: u64,
}

/// Whether reaching the threshold activates by itself or asks an operator first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActivationMode {
    #[default]
    Automatic,
    /// Raise an `approvalNeeded` alert and wait for an `approve` command.
    Approval,
}

/// A planned window (UTC, start inclusive, end exclusive) in which the primary may go down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
}

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// An attempt started before its slot, because every attempt before it failed without a verdict,
/// starts at least this long after the previous one, so a failure that comes back at once
/// (connection refused) does not spend them all on the same instant ([`super::attempts`]).
pub const RETRY_PAUSE: Duration = Duration::from_millis(500);

impl Default for WatchPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            success_threshold: 2,
            probe_timeout_ms: 8 * SECOND_MS,
            probe_attempts: 5,
            attempt_timeout_ms: 6 * SECOND_MS,
            confirm_every_ms: 8 * SECOND_MS,
            quorum: Quorum::default(),
            hold_down_ms: HOUR_MS,
            activation: ActivationMode::Automatic,
            reminder_every_ms: 30 * MINUTE_MS,
            max_activation_attempts: 5,
            activation_timeout_ms: 15 * MINUTE_MS,
            maintenance: Vec::new(),
        }
    }
}

impl Default for Quorum {
    fn default() -> Self {
        Self { required: 1, watchers: 1, vote_ttl_ms: 10 * MINUTE_MS }
    }
}

impl WatchPolicy {
    /// The time each attempt may take: `attemptTimeoutMs`, but at least an equal share of the
    /// probe timeout and at most all of it.
    pub fn attempt_timeout(&self) -> Duration {
        let share = self.probe_timeout_ms / u64::from(self.probe_attempts.max(1));
        Duration::from_millis(self.attempt_timeout_ms.min(self.probe_timeout_ms).max(share))
    }

    /// How far apart the attempts of one observation are scheduled: the spacing that makes the
    /// last one end exactly at the probe timeout. Equal to the attempt timeout when the attempts
    /// run one after the other; shorter when they overlap.
    pub fn attempt_spacing(&self) -> Duration {
        let others = self.probe_attempts.max(1) - 1;
        if others == 0 {
            return Duration::ZERO;
        }
        self.probe_timeout().saturating_sub(self.attempt_timeout()) / others
    }

    /// When attempt `i` (from 0) is due to start, measured from the start of the observation.
    pub fn attempt_slot(&self, i: u32) -> Duration {
        self.attempt_spacing() * i.min(self.probe_attempts.max(1) - 1)
    }

    /// When attempt `i` (from 0) is cut off, measured from the start of the observation. An
    /// attempt started early (after quick failures) keeps this cut-off, so it may use the time
    /// they left over.
    pub fn attempt_cutoff(&self, i: u32) -> Duration {
        self.attempt_slot(i) + self.attempt_timeout()
    }

    pub fn probe_timeout(&self) -> Duration {
        Duration::from_millis(self.probe_timeout_ms)
    }

    /// How far apart confirmation probes start: `confirmEveryMs`, or the probe timeout when that
    /// is longer (a probe is never cut short to confirm).
    pub fn confirm_spacing(&self) -> Duration {
        Duration::from_millis(self.confirm_every_ms.max(self.probe_timeout_ms))
    }

    /// How many confirmation probes one invocation makes after a first down with a watchdog that
    /// ticks every `interval`: N - 1 when they all fit before the next tick, else none.
    pub fn confirmations(&self, interval: Duration) -> u32 {
        let more = self.failure_threshold.max(1) - 1;
        if self.confirm_every_ms == 0 || more == 0 {
            return 0;
        }
        let last_ends = self.confirm_spacing() * more + self.probe_timeout();
        if last_ends < interval {
            more
        } else {
            0
        }
    }

    /// The time between the starts of the first and the N-th probe of one watcher that all see
    /// the primary down: N - 1 confirmation spacings when the policy confirms, else N - 1 ticks.
    pub fn confirmation_span(&self, interval: Duration) -> Duration {
        let more = self.failure_threshold.max(1) - 1;
        if self.confirmations(interval) > 0 {
            self.confirm_spacing() * more
        } else {
            interval * more
        }
    }

    /// The longest time the primary can be down without any watcher activating: N down
    /// observations need it down from the first probe's last attempt to the N-th probe's first
    /// one (0 when N is 1: a single down activates).
    pub fn tolerated_down(&self, interval: Duration) -> Duration {
        let spread = self.attempt_slot(self.probe_attempts.max(1) - 1);
        self.confirmation_span(interval).saturating_sub(spread)
    }

    /// The promised detection latency for a watcher that ticks every `interval`: the outage starts
    /// just after a tick's probe saw the primary up, the next tick sees it down, N - 1 probes
    /// confirm it (in the same invocation when the policy confirms, else on the next ticks), the
    /// last of them takes the whole probe timeout, and one second covers the tick's own work.
    pub fn detection_bound(&self, interval: Duration) -> Duration {
        interval + self.confirmation_span(interval) + self.probe_timeout() + Duration::from_secs(1)
    }

    /// Detection latency for a watcher that ticks every `interval`, from the outage's start to the
    /// activation request: best (the outage starts just before a tick and the probes fail at
    /// once: the N probes' span), typical (it starts halfway between ticks, and each failed probe
    /// takes half the probe timeout), and worst ([`WatchPolicy::detection_bound`]).
    pub fn detection_range(&self, interval: Duration) -> (Duration, Duration, Duration) {
        let span = self.confirmation_span(interval);
        (span, interval / 2 + span + self.probe_timeout() / 2, self.detection_bound(interval))
    }

    /// The maintenance window `now` falls in, if any.
    pub fn maintenance_at(&self, now: DateTime<Utc>) -> Option<&MaintenanceWindow> {
        self.maintenance.iter().find(|w| w.start <= now && now < w.end)
    }

    pub(crate) fn vote_ttl(&self) -> TimeDelta {
        delta(self.quorum.vote_ttl_ms)
    }

    pub(crate) fn hold_down(&self) -> TimeDelta {
        delta(self.hold_down_ms)
    }

    pub(crate) fn reminder_every(&self) -> Option<TimeDelta> {
        (self.reminder_every_ms > 0).then(|| delta(self.reminder_every_ms))
    }

    pub(crate) fn activation_timeout(&self) -> TimeDelta {
        delta(self.activation_timeout_ms)
    }

    /// Every rule the types cannot express; `at` is the JSON path of the policy in the plan.
    pub fn validate(&self, at: &str, p: &mut Problems) {
        let mut range = |field: &str, value: u64, lo: u64, hi: u64, what: &str| {
            if !(lo..=hi).contains(&value) {
                p.push(
                    format!("{at}.{field}"),
                    Some(&value.to_string()),
                    format!("must be between {lo} and {hi}{what}"),
                );
            }
        };
        range("failureThreshold", self.failure_threshold.into(), 1, 100, "");
        range("successThreshold", self.success_threshold.into(), 1, 100, "");
        range("probeAttempts", self.probe_attempts.into(), 1, 10, "");
        range("probeTimeoutMs", self.probe_timeout_ms, SECOND_MS, 5 * MINUTE_MS, " (ms)");
        range("attemptTimeoutMs", self.attempt_timeout_ms, SECOND_MS, 5 * MINUTE_MS, " (ms)");
        range("quorum.required", self.quorum.required.into(), 1, 100, "");
        range("quorum.watchers", self.quorum.watchers.into(), 1, 100, "");
        range("quorum.voteTtlMs", self.quorum.vote_ttl_ms, MINUTE_MS, DAY_MS, " (ms)");
        range("holdDownMs", self.hold_down_ms, 0, 30 * DAY_MS, " (ms)");
        range("maxActivationAttempts", self.max_activation_attempts.into(), 1, 100, "");
        range("activationTimeoutMs", self.activation_timeout_ms, MINUTE_MS, DAY_MS, " (ms)");
        if self.confirm_every_ms != 0 && !(SECOND_MS..=5 * MINUTE_MS).contains(&self.confirm_every_ms) {
            p.push(
                format!("{at}.confirmEveryMs"),
                Some(&self.confirm_every_ms.to_string()),
                format!("must be 0 (one observation per tick) or between {SECOND_MS} and {}", 5 * MINUTE_MS),
            );
        }
        if self.reminder_every_ms != 0 && !(MINUTE_MS..=7 * DAY_MS).contains(&self.reminder_every_ms) {
            p.push(
                format!("{at}.reminderEveryMs"),
                Some(&self.reminder_every_ms.to_string()),
                format!("must be 0 (no reminders) or between {MINUTE_MS} and {}", 7 * DAY_MS),
            );
        }
        if self.quorum.required > self.quorum.watchers {
            p.push(
                format!("{at}.quorum.required"),
                Some(&self.quorum.required.to_string()),
                format!("must not exceed quorum.watchers ({})", self.quorum.watchers),
            );
        }
        if (1..=10).contains(&self.probe_attempts) && self.attempt_timeout() < Duration::from_secs(1) {
            p.push(
                format!("{at}.probeAttempts"),
                Some(&self.probe_attempts.to_string()),
                format!("leaves each attempt less than 1 s of the {} ms probe timeout", self.probe_timeout_ms),
            );
        }
        if self.quorum.vote_ttl_ms <= self.probe_timeout_ms {
            p.push(
                format!("{at}.quorum.voteTtlMs"),
                Some(&self.quorum.vote_ttl_ms.to_string()),
                format!(
                    "must exceed probeTimeoutMs ({}), or votes expire before the next observation",
                    self.probe_timeout_ms
                ),
            );
        }
        for (i, w) in self.maintenance.iter().enumerate() {
            if w.end <= w.start {
                p.push(format!("{at}.maintenance[{i}].end"), Some(&w.end.to_rfc3339()), "must be after start");
            }
            if w.reason.trim().is_empty() {
                p.push(format!("{at}.maintenance[{i}].reason"), Some(&w.reason), "must say why");
            }
        }
    }

    /// The rules that tie the policy to the watchdog's schedule: a tick's probing must end before
    /// the next tick, and a vote must outlive the gap between two ticks of the same watcher.
    pub fn validate_interval(&self, interval: Duration, at: &str, p: &mut Problems) {
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        if self.probe_timeout_ms >= interval_ms {
            p.push(
                format!("{at}.probeTimeoutMs"),
                Some(&self.probe_timeout_ms.to_string()),
                format!("must be shorter than the watchdog interval ({interval_ms} ms)"),
            );
        }
        if self.quorum.vote_ttl_ms < interval_ms.saturating_mul(2) {
            p.push(
                format!("{at}.quorum.voteTtlMs"),
                Some(&self.quorum.vote_ttl_ms.to_string()),
                format!("must be at least two watchdog intervals ({} ms)", interval_ms.saturating_mul(2)),
            );
        }
    }
}

/// Milliseconds from the policy as a signed duration, capped so date arithmetic cannot overflow
/// even on a policy that was never validated.
pub(crate) fn delta(ms: u64) -> TimeDelta {
    const CAP_MS: u64 = 100 * 365 * DAY_MS;
    TimeDelta::milliseconds(ms.min(CAP_MS) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ConfigError;

    fn problems(json: &str) -> Vec<String> {
        let policy: WatchPolicy = serde_json::from_str(json).unwrap();
        let mut p = Problems::new();
        policy.validate("$.watch.policy", &mut p);
        match p.finish(()) {
            Ok(()) => Vec::new(),
            Err(ConfigError { problems }) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn watch_policy_defaults_roundtrip() {
        let policy: WatchPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy, WatchPolicy::default());
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "failureThreshold": 3, "successThreshold": 2, "probeTimeoutMs": 8000, "probeAttempts": 5,
                "attemptTimeoutMs": 6000, "confirmEveryMs": 8000,
                "quorum": {"required": 1, "watchers": 1, "voteTtlMs": 600000},
                "holdDownMs": 3600000, "activation": "automatic", "reminderEveryMs": 1800000,
                "maxActivationAttempts": 5, "activationTimeoutMs": 900000, "maintenance": []
            })
        );
        assert_eq!(serde_json::from_value::<WatchPolicy>(json).unwrap(), policy);
        assert!(problems("{}").is_empty());
        let minute = Duration::from_secs(60);
        // Five overlapping attempts of 6 s, half a second apart, all over by 8 s.
        assert_eq!(policy.attempt_timeout(), Duration::from_secs(6));
        assert_eq!(policy.attempt_spacing(), Duration::from_millis(500));
        assert_eq!(policy.attempt_cutoff(4), Duration::from_secs(8));
        // Two confirmations 8 s apart fit in a minute: 60 + 16 + 8 + 1.
        assert_eq!(policy.confirmations(minute), 2);
        assert_eq!(policy.detection_bound(minute), Duration::from_secs(85));
        assert_eq!(policy.tolerated_down(minute), Duration::from_secs(14));
        let secs = |d: (Duration, Duration, Duration)| (d.0.as_secs(), d.1.as_secs(), d.2.as_secs());
        assert_eq!(secs(policy.detection_range(minute)), (16, 50, 85));
    }

    fn policy(json: &str) -> WatchPolicy {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn watch_policy_written_before_overlapping_attempts_keeps_its_schedule() {
        // A plan that names only the probe timeout and attempts (as every plan did before
        // `attemptTimeoutMs`) gets the same sequential attempts and cut-offs as before.
        let p = policy(r#"{"probeTimeoutMs": 30000, "probeAttempts": 5}"#);
        let cutoffs: Vec<u64> = (0..5).map(|i| p.attempt_cutoff(i).as_secs()).collect();
        assert_eq!(cutoffs, [6, 12, 18, 24, 30]);
        assert_eq!(p.attempt_spacing(), p.attempt_timeout());
        // Its confirmations (3 x 30 s) cannot fit in a minute, so it counts once per tick, with
        // the bound it always had; at a 5-minute interval they fit.
        assert_eq!(p.confirmations(Duration::from_secs(60)), 0);
        assert_eq!(p.detection_bound(Duration::from_secs(60)), Duration::from_secs(211));
        assert_eq!(p.confirmations(Duration::from_secs(300)), 2);
        assert_eq!(p.detection_bound(Duration::from_secs(300)), Duration::from_secs(391));
        // Short probe budgets: each attempt gets at least its share, never more than the budget.
        let p = policy(r#"{"probeTimeoutMs": 4000, "probeAttempts": 2}"#);
        assert_eq!((p.attempt_timeout(), p.attempt_spacing()), (Duration::from_secs(4), Duration::ZERO));
        let p = policy(r#"{"probeTimeoutMs": 20000, "probeAttempts": 1}"#);
        assert_eq!((p.attempt_timeout(), p.attempt_cutoff(0)), (Duration::from_secs(20), Duration::from_secs(20)));
        // No confirmation when switched off, or when one down is enough.
        assert_eq!(policy(r#"{"confirmEveryMs": 0}"#).confirmations(Duration::from_secs(60)), 0);
        assert_eq!(policy(r#"{"failureThreshold": 1}"#).confirmations(Duration::from_secs(60)), 0);
    }

    #[test]
    fn watch_policy_refuses_unknown_fields() {
        let err = serde_json::from_str::<WatchPolicy>(r#"{"failureTreshold": 2}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `failureTreshold`"), "{err}");
        let err = serde_json::from_str::<WatchPolicy>(r#"{"quorum": {"k": 2}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `k`"), "{err}");
    }

    #[test]
    fn watch_policy_validation_names_path_and_value() {
        let got = problems(
            r#"{"failureThreshold": 0, "probeAttempts": 40, "quorum": {"required": 3, "watchers": 2},
                "reminderEveryMs": 5, "attemptTimeoutMs": 10, "confirmEveryMs": 999,
                "maintenance": [{"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z", "reason": " "}]}"#,
        );
        assert_eq!(
            got,
            [
                r#"$.watch.policy.failureThreshold = "0": must be between 1 and 100"#,
                r#"$.watch.policy.probeAttempts = "40": must be between 1 and 10"#,
                r#"$.watch.policy.attemptTimeoutMs = "10": must be between 1000 and 300000 (ms)"#,
                r#"$.watch.policy.confirmEveryMs = "999": must be 0 (one observation per tick) or between 1000 and 300000"#,
                r#"$.watch.policy.reminderEveryMs = "5": must be 0 (no reminders) or between 60000 and 604800000"#,
                r#"$.watch.policy.quorum.required = "3": must not exceed quorum.watchers (2)"#,
                r#"$.watch.policy.maintenance[0].end = "2024-01-01T00:00:00+00:00": must be after start"#,
                r#"$.watch.policy.maintenance[0].reason = " ": must say why"#,
            ]
        );
    }

    #[test]
    fn watch_policy_interval_rules() {
        let mut p = Problems::new();
        WatchPolicy::default().validate_interval(Duration::from_secs(60), "$.watch", &mut p);
        assert!(p.is_empty());
        WatchPolicy::default().validate_interval(Duration::from_secs(8), "$.watch", &mut p);
        let err = p.finish(()).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].at, "$.watch.probeTimeoutMs");
    }
}
