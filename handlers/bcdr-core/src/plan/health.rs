//! The plan's `health` section: what the primary's health-check runs. [`HealthJson`] is the
//! section as written, one key per kind of check; its `parse` gives [`HealthPlan`], in which
//! every check has exactly one [`CheckKind`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{api_version_problem, check_url};
use crate::resource_id::ResourceId;
use crate::settings::Problems;

/// What the primary's health-check runs: each check with its one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPlan {
    /// All checks finish (or are cut off) within this many milliseconds, below the watchdog's
    /// probe timeout.
    pub deadline_ms: u64,
    /// How long a finished report may be served again (0: never).
    pub cache_ms: u64,
    /// At least one, with distinct names.
    pub checks: Vec<Check>,
}

/// One check of the primary or of a service it depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    /// A failing critical check makes the primary unhealthy (503); a failing non-critical one
    /// only degraded (200).
    pub critical: bool,
    /// Per-check timeout, at most the deadline; defaults to the whole deadline.
    pub timeout_ms: Option<u64>,
    pub kind: CheckKind,
}

/// What a check looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Dns(DnsCheck),
    LogicApp(LogicAppCheck),
    ArmResource(ArmResourceCheck),
}

/// The keys that name a check's kind, as written in the plan.
pub const CHECK_KINDS: &str = "http, tcp, dns, logicApp, armResource";

impl HealthPlan {
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    pub fn cache_for(&self) -> Duration {
        Duration::from_millis(self.cache_ms)
    }
}

impl Check {
    /// The time this check may take: its own timeout, never beyond the overall deadline.
    pub fn timeout(&self, deadline: Duration) -> Duration {
        self.timeout_ms.map(Duration::from_millis).map_or(deadline, |t| t.min(deadline))
    }
}

impl CheckKind {
    /// How reports name the kind.
    pub fn label(&self) -> &'static str {
        match self {
            CheckKind::Http(_) => "http",
            CheckKind::Tcp(_) => "tcp",
            CheckKind::Dns(_) => "dns",
            CheckKind::LogicApp(_) => "logic-app",
            CheckKind::ArmResource(_) => "arm-resource",
        }
    }

    /// The key the kind is written under.
    fn key(&self) -> &'static str {
        match self {
            CheckKind::Http(_) => "http",
            CheckKind::Tcp(_) => "tcp",
            CheckKind::Dns(_) => "dns",
            CheckKind::LogicApp(_) => "logicApp",
            CheckKind::ArmResource(_) => "armResource",
        }
    }
}

/// What the primary's health-check runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename = "HealthPlan", rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct HealthJson {
    /// All checks finish (or are cut off) within this many milliseconds. It must stay below the
    /// watchdog's probe timeout, so the watchdog always gets an answer rather than a timeout.
    #[serde(default = "default_deadline_ms")]
    deadline_ms: u64,
    /// How long a finished report may be served again, so many watchers cannot overload the
    /// dependencies. 0 disables reuse (concurrent requests still share one evaluation).
    #[serde(default = "default_cache_ms")]
    cache_ms: u64,
    checks: Vec<CheckJson>,
}

fn default_deadline_ms() -> u64 {
    5_000
}
fn default_cache_ms() -> u64 {
    2_000
}
fn default_true() -> bool {
    true
}

/// One check of the primary or of a service it depends on. Exactly one kind is given, as its
/// own key, so every field has a precise JSON path: `{"name": "api", "http": {"url": ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename = "Check", rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["http"]}, {"required": ["tcp"]}, {"required": ["dns"]},
    {"required": ["logicApp"]}, {"required": ["armResource"]}
]))]
struct CheckJson {
    name: String,
    /// A failing critical check makes the primary unhealthy (503); a failing non-critical one
    /// only degraded (200).
    #[serde(default = "default_true")]
    critical: bool,
    /// Per-check timeout; defaults to the whole deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<TcpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dns: Option<DnsCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    logic_app: Option<LogicAppCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    arm_resource: Option<ArmResourceCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    /// Accepted status codes, e.g. `"200-299,301"`.
    #[serde(default)]
    pub expect_status: StatusRanges,
    /// The body must contain this text.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// Request headers. A value `%NAME%` is taken from the app setting NAME, so keys stay out of
    /// the plan; the values never appear in a report.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DnsCheck {
    pub host: String,
}

/// A Logic App (Consumption) workflow: its state must be `Enabled`, and optionally the share of
/// failed runs among the last few finished ones must stay at or below a ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogicAppCheck {
    pub resource_id: ResourceId,
    #[serde(default)]
    pub max_failed_ratio: Option<f64>,
    #[serde(default = "default_last_runs")]
    pub last_runs: u32,
}

fn default_last_runs() -> u32 {
    20
}

/// Any ARM resource: the property at `property` (dotted path, `[n]` for array items) must equal
/// `equals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArmResourceCheck {
    pub resource_id: ResourceId,
    pub api_version: String,
    pub property: String,
    pub equals: serde_json::Value,
}

impl HealthJson {
    /// The section's rules, each problem at its path under `$.health`; the checks that have
    /// exactly one kind.
    pub(super) fn parse(self, p: &mut Problems) -> HealthPlan {
        if !(100..=60_000).contains(&self.deadline_ms) {
            p.push("$.health.deadlineMs", Some(&self.deadline_ms.to_string()), "must be between 100 and 60000");
        }
        if self.cache_ms > 60_000 {
            p.push("$.health.cacheMs", Some(&self.cache_ms.to_string()), "must be at most 60000");
        }
        if self.checks.is_empty() {
            p.push("$.health.checks", None, "needs at least one check");
        }
        let mut names = HashSet::new();
        let mut checks = Vec::with_capacity(self.checks.len());
        for (i, check) in self.checks.into_iter().enumerate() {
            let at = format!("$.health.checks[{i}]");
            if check.name.trim().is_empty() {
                p.push(format!("{at}.name"), Some(&check.name), "must not be empty");
            } else if !names.insert(check.name.clone()) {
                p.push(format!("{at}.name"), Some(&check.name), "is used by an earlier check");
            }
            if let Some(t) = check.timeout_ms {
                if t == 0 || t > self.deadline_ms {
                    p.push(
                        format!("{at}.timeoutMs"),
                        Some(&t.to_string()),
                        format!("must be between 1 and the deadline ({} ms)", self.deadline_ms),
                    );
                }
            }
            checks.extend(check.parse(&at, p));
        }
        HealthPlan { deadline_ms: self.deadline_ms, cache_ms: self.cache_ms, checks }
    }
}

impl CheckJson {
    /// The check with its one kind; `None` when it gives none or several.
    fn parse(self, at: &str, p: &mut Problems) -> Option<Check> {
        let CheckJson { name, critical, timeout_ms, http, tcp, dns, logic_app, arm_resource } = self;
        let mut kinds: Vec<CheckKind> = [
            http.map(CheckKind::Http),
            tcp.map(CheckKind::Tcp),
            dns.map(CheckKind::Dns),
            logic_app.map(CheckKind::LogicApp),
            arm_resource.map(CheckKind::ArmResource),
        ]
        .into_iter()
        .flatten()
        .collect();
        match kinds.len() {
            0 => {
                p.push(at, None, format!("needs one of {CHECK_KINDS}"));
                None
            }
            1 => {
                let kind = kinds.remove(0);
                kind.check(&format!("{at}.{}", kind.key()), p);
                Some(Check { name, critical, timeout_ms, kind })
            }
            _ => {
                let keys: Vec<_> = kinds.iter().map(CheckKind::key).collect();
                p.push(at, None, format!("has several kinds ({}); give exactly one", keys.join(", ")));
                None
            }
        }
    }
}

impl CheckKind {
    /// The kind's own rules, each problem at its path under `at` (the kind's key).
    fn check(&self, at: &str, p: &mut Problems) {
        match self {
            CheckKind::Http(c) => {
                check_url(&format!("{at}.url"), &c.url, p);
                for (name, value) in &c.headers {
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        p.push(format!("{at}.headers"), Some(name), "is not a valid header name");
                    }
                    if setting_reference(value).is_none() && http::HeaderValue::from_str(value).is_err() {
                        p.push(format!("{at}.headers.{name}"), None, "is not a valid header value");
                    }
                }
            }
            CheckKind::Tcp(c) => {
                if c.host.trim().is_empty() {
                    p.push(format!("{at}.host"), Some(&c.host), "must not be empty");
                }
                if c.port == 0 {
                    p.push(format!("{at}.port"), Some("0"), "must be between 1 and 65535");
                }
            }
            CheckKind::Dns(c) => {
                if c.host.trim().is_empty() || c.host.contains(['/', ':', ' ']) {
                    p.push(format!("{at}.host"), Some(&c.host), "must be a host name");
                }
            }
            CheckKind::LogicApp(c) => {
                if !c.resource_id.is_type("Microsoft.Logic/workflows") {
                    p.push(
                        format!("{at}.resourceId"),
                        Some(c.resource_id.as_str()),
                        "must be a Microsoft.Logic/workflows resource",
                    );
                }
                if let Some(r) = c.max_failed_ratio {
                    if !(0.0..=1.0).contains(&r) {
                        p.push(format!("{at}.maxFailedRatio"), Some(&r.to_string()), "must be between 0 and 1");
                    }
                }
                if !(1..=250).contains(&c.last_runs) {
                    p.push(format!("{at}.lastRuns"), Some(&c.last_runs.to_string()), "must be between 1 and 250");
                }
            }
            CheckKind::ArmResource(c) => {
                if let Some(problem) = api_version_problem(&c.api_version, &c.resource_id.resource_type()) {
                    p.push(format!("{at}.apiVersion"), Some(&c.api_version), problem);
                }
                if c.property.trim().is_empty() {
                    p.push(
                        format!("{at}.property"),
                        Some(&c.property),
                        "must be a property path like properties.state",
                    );
                }
            }
        }
    }
}

/// `%NAME%` names the app setting NAME.
pub fn setting_reference(value: &str) -> Option<&str> {
    let name = value.strip_prefix('%')?.strip_suffix('%')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

/// A set of accepted HTTP status codes, written `"200-299,301"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges(Vec<(u16, u16)>);

impl StatusRanges {
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

impl Default for StatusRanges {
    fn default() -> Self {
        StatusRanges(vec![(200, 299)])
    }
}

impl FromStr for StatusRanges {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(c),
                _ => Err(format!("{:?} is not a status code (100-599)", t.trim())),
            }
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(format!("range {:?} runs backwards", part.trim()));
            }
            ranges.push(range);
        }
        Ok(StatusRanges(ranges))
    }
}

impl fmt::Display for StatusRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for StatusRanges {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StatusRanges {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A string the parser above accepts (all but backwards ranges, which only the parser sees).
impl schemars::JsonSchema for StatusRanges {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusRanges".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let range = r"\s*[1-5][0-9]{2}\s*(-\s*[1-5][0-9]{2}\s*)?";
        schemars::json_schema!({
            "type": "string",
            "description": "Accepted HTTP status codes (100-599): single codes and ranges separated by commas, e.g. \"200-299,301\".",
            "pattern": format!("^{range}(,{range})*$"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, plan_with_checks};
    use super::super::{FailoverPlan, PlanError};
    use super::*;
    use serde_json::json;

    #[test]
    fn a_good_plan_with_every_kind_parses() {
        check(
            &plan_with_checks(json!([
                {"name": "api", "timeoutMs": 2000, "http": {"url": "https://orders.example.net/health?code=x", "expectStatus": "200-299,301", "headers": {"x-functions-key": "%ORDERS_KEY%"}}},
                {"name": "sql", "critical": false, "tcp": {"host": "sql.example.net", "port": 1433}},
                {"name": "dns", "dns": {"host": "orders.example.net"}},
                {"name": "flow", "logicApp": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/f", "maxFailedRatio": 0.5}},
                {"name": "bus", "armResource": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/b", "apiVersion": "2021-11-01", "property": "properties.status", "equals": "Active"}}
            ])),
            "ok",
        );
    }

    #[test]
    fn each_check_carries_its_one_kind() {
        let plan = FailoverPlan::from_json(&plan_with_checks(json!([
            {"name": "sql", "critical": false, "tcp": {"host": "sql.example.net", "port": 1433}},
            {"name": "dns", "timeoutMs": 900, "dns": {"host": "orders.example.net"}}
        ])))
        .unwrap();
        let [sql, dns] = &plan.health.checks[..] else { panic!("two checks") };
        assert_eq!(sql.kind, CheckKind::Tcp(TcpCheck { host: "sql.example.net".into(), port: 1433 }));
        assert_eq!((sql.critical, sql.kind.label()), (false, "tcp"));
        assert_eq!(dns.kind.label(), "dns");
        assert_eq!(dns.timeout(plan.health.deadline()), Duration::from_millis(900));
    }

    #[test]
    fn shape_errors_name_the_path() {
        let shape = |checks: serde_json::Value| match FailoverPlan::from_json(&plan_with_checks(checks)) {
            Err(PlanError::Shape { path, message }) => format!("{path}: {}", message.split(" at line").next().unwrap()),
            other => format!("{other:?}"),
        };
        assert_eq!(
            shape(json!([{"name": "sql", "tcp": {"host": "h", "port": 70000}}])),
            "$.health.checks[0].tcp.port: invalid value: integer `70000`, expected u16"
        );
        assert_eq!(
            shape(json!([{"name": "x", "ping": {"host": "h"}}])),
            "$.health.checks[0].ping: unknown field `ping`, expected one of `name`, `critical`, `timeoutMs`, `http`, `tcp`, `dns`, `logicApp`, `armResource`"
        );
        assert_eq!(
            shape(json!([{"name": "a", "http": {"url": "https://h/", "expectStatus": "299-200"}}])),
            "$.health.checks[0].http.expectStatus: range \"299-200\" runs backwards"
        );
        assert_eq!(
            shape(json!([{"name": "a", "http": {"url": "https://h/", "timeout": 3}}])),
            "$.health.checks[0].http.timeout: unknown field `timeout`, expected one of `url`, `expectStatus`, `bodyContains`, `headers`"
        );
    }

    #[test]
    fn a_check_has_exactly_one_kind() {
        check(
            &plan_with_checks(
                json!([{"name": "none"}, {"name": "two", "tcp": {"host": "h", "port": 1}, "dns": {"host": "h"}}]),
            ),
            "$.health.checks[0]: needs one of http, tcp, dns, logicApp, armResource\n\
             $.health.checks[1]: has several kinds (tcp, dns); give exactly one",
        );
    }

    #[test]
    fn every_meaning_error_is_reported_at_once() {
        check(
            &plan_with_checks(json!([
                {"name": "a", "timeoutMs": 9000, "http": {"url": "ftp://h/x"}},
                {"name": "a", "tcp": {"host": "", "port": 0}},
                {"name": "c", "logicApp": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/x", "maxFailedRatio": 2.0}},
                {"name": "d", "armResource": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/A.B/t/n", "apiVersion": "latest", "property": "", "equals": 1}}
            ])),
            "$.health.checks[0].timeoutMs = \"9000\": must be between 1 and the deadline (4000 ms)\n\
             $.health.checks[0].http.url = \"ftp://h/x\": must be an http or https URL with a host\n\
             $.health.checks[1].name = \"a\": is used by an earlier check\n\
             $.health.checks[1].tcp.host = \"\": must not be empty\n\
             $.health.checks[1].tcp.port = \"0\": must be between 1 and 65535\n\
             $.health.checks[2].logicApp.resourceId = \"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/x\": must be a Microsoft.Logic/workflows resource\n\
             $.health.checks[2].logicApp.maxFailedRatio = \"2\": must be between 0 and 1\n\
             $.health.checks[3].armResource.apiVersion = \"latest\": must look like 2023-01-01 or 2023-01-01-preview\n\
             $.health.checks[3].armResource.property = \"\": must be a property path like properties.state",
        );
    }

    #[test]
    fn status_ranges() {
        let r: StatusRanges = "200-299, 301".parse().unwrap();
        assert!(r.contains(200) && r.contains(299) && r.contains(301));
        assert!(!r.contains(300) && !r.contains(503));
        assert_eq!(r.to_string(), "200-299,301");
        assert_eq!("99".parse::<StatusRanges>().unwrap_err(), "\"99\" is not a status code (100-599)");
    }

    #[test]
    fn setting_references() {
        assert_eq!(setting_reference("%ORDERS_KEY%"), Some("ORDERS_KEY"));
        assert_eq!(setting_reference("%%"), None);
        assert_eq!(setting_reference("plain"), None);
        assert_eq!(setting_reference("%a b%"), None);
    }
}
