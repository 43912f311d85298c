//! The failover plan: one versioned JSON document that describes a deployment and that every
//! binary (and the Bicep) reads. Parsing is two steps: serde for shape (the first shape error,
//! with its JSON path), then [`FailoverPlan::validate`] for meaning (every error, each with its path).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alert::AlertPlan;
use crate::resource_id::ResourceId;
use crate::schedule::Schedule;
use crate::settings::{ConfigError, Problems, Reader};
use crate::watch::WatchPolicy;

/// The plan format this build reads and writes.
pub const PLAN_VERSION: u32 = 1;

/// A deployment: its two regions, what the primary's health-check runs, what the secondary's
/// watchdog watches, the alert channels, and the copies activation switches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailoverPlan {
    /// Format version; must be [`PLAN_VERSION`].
    #[schemars(description = "Format version: the one this build reads.", extend("const" = PLAN_VERSION))]
    pub version: u32,
    /// A short name for the deployment, used in reports and alerts.
    pub name: String,
    pub regions: Regions,
    pub health: HealthPlan,
    /// What the secondary's watchdog watches; absent in a plan for the primary alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<WatchdogPlan>,
    /// Where alerts go besides the log.
    #[serde(default)]
    pub alerts: AlertPlan,
    /// The workload's copies that activation switches, each with its trigger type and role.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// What sends requests to the active region, for request-triggered workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<Router>,
    /// How activation runs.
    #[serde(default)]
    pub activation: ActivationPlan,
}

/// One switched workload: its primary and secondary copies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resource {
    /// Names the resource in reports: unique in the plan.
    pub name: String,
    pub kind: ResourceKind,
    /// How the workload is triggered; decides which roles are safe and what activation does.
    pub trigger: Trigger,
    pub role: Role,
    pub primary: ResourceId,
    pub secondary: ResourceId,
    /// For `logicAppStandard`: the workflow's name inside the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// For `pollingServerState`: messages must be read in order.
    #[serde(default)]
    pub ordered: bool,
    /// For `pollingServerState`: the queue uses sessions (which keep order across consumers).
    #[serde(default)]
    pub sessions: bool,
    /// For `generic`: how to read, enable and disable it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<GenericResource>,
}

/// What kind of Azure resource a copy is, and so which ARM calls switch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ResourceKind {
    /// A Logic App (Consumption): `Microsoft.Logic/workflows`, `/disable` and `/enable`.
    LogicApp,
    /// A workflow in a Logic App (Standard) site: the app setting `Workflows.<name>.FlowState`.
    LogicAppStandard,
    /// An App Service or Functions site: `/stop` and `/start`.
    Site,
    /// Anything else, by the calls given in `generic`.
    Generic,
}

/// The workload's trigger type (see the rules in DESIGN: each allows some roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// Runs on a schedule.
    Recurrence,
    /// Polls a source whose position the client keeps (a mailbox, an FTP folder): two copies
    /// would both take the same items.
    PollingClientState,
    /// Polls a source that keeps the position itself (a queue): copies compete for messages.
    PollingServerState,
    /// Answers requests sent to it.
    Request,
    /// Subscribed to a sender that calls back one subscriber.
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Only the primary runs; activation moves the work to the secondary.
    ActivePassive,
    /// Both run (competing consumers, or behind a router).
    ActiveActive,
    /// Recurrence split across regions: each runs every other slot.
    SplitSchedule,
}

/// A resource switched by explicit ARM calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenericResource {
    pub api_version: String,
    /// The property that says whether a copy is enabled, e.g. `properties.state`.
    pub property: String,
    pub enabled_value: serde_json::Value,
    pub disabled_value: serde_json::Value,
}

/// The router in front of request-triggered copies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Router {
    pub kind: RouterKind,
    /// The primary's endpoint (Traffic Manager) or origin (Front Door).
    pub primary: ResourceId,
    pub secondary: ResourceId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RouterKind {
    /// `Microsoft.Network/trafficManagerProfiles/{azureEndpoints|externalEndpoints}`: `endpointStatus`.
    TrafficManager,
    /// `Microsoft.Cdn/profiles/originGroups/origins`: `enabledState`.
    FrontDoor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivationPlan {
    /// A client-state or webhook copy whose primary cannot be confirmed disabled is enabled
    /// anyway once this long has passed since the activation began (0: only by an operator).
    #[serde(default = "default_fence_grace_ms")]
    pub fence_grace_ms: u64,
    /// All ARM calls of one activation run, retries included, finish within this.
    #[serde(default = "default_activation_deadline_ms")]
    pub deadline_ms: u64,
}

fn default_fence_grace_ms() -> u64 {
    30 * 60 * 1000
}
fn default_activation_deadline_ms() -> u64 {
    4 * 60 * 1000
}

impl Default for ActivationPlan {
    fn default() -> Self {
        Self { fence_grace_ms: default_fence_grace_ms(), deadline_ms: default_activation_deadline_ms() }
    }
}

/// The watchdog's timer and the watches it runs on each tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WatchdogPlan {
    /// NCRONTAB, six fields, UTC: the deployment sets `BCDR_WATCHDOG_SCHEDULE` from it.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    pub watches: Vec<Watch>,
}

/// The watchdog's default schedule: every minute, on the minute.
pub const DEFAULT_WATCHDOG_SCHEDULE: &str = "0 * * * * *";

fn default_schedule() -> String {
    DEFAULT_WATCHDOG_SCHEDULE.to_owned()
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Regions {
    /// Azure region name of the primary, e.g. `westeurope`.
    pub primary: String,
    pub secondary: String,
}

/// What the primary's health-check runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthPlan {
    /// All checks finish (or are cut off) within this many milliseconds. It must stay below the
    /// watchdog's probe timeout, so the watchdog always gets an answer rather than a timeout.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// How long a finished report may be served again, so many watchers cannot overload the
    /// dependencies. 0 disables reuse (concurrent requests still share one evaluation).
    #[serde(default = "default_cache_ms")]
    pub cache_ms: u64,
    pub checks: Vec<Check>,
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["http"]}, {"required": ["tcp"]}, {"required": ["dns"]},
    {"required": ["logicApp"]}, {"required": ["armResource"]}
]))]
pub struct Check {
    pub name: String,
    /// A failing critical check makes the primary unhealthy (503); a failing non-critical one
    /// only degraded (200).
    #[serde(default = "default_true")]
    pub critical: bool,
    /// Per-check timeout; defaults to the whole deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logic_app: Option<LogicAppCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm_resource: Option<ArmResourceCheck>,
}

/// The kind of a check, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckKind<'a> {
    Http(&'a HttpCheck),
    Tcp(&'a TcpCheck),
    Dns(&'a DnsCheck),
    LogicApp(&'a LogicAppCheck),
    ArmResource(&'a ArmResourceCheck),
}

/// The keys that name a check's kind, as written in the plan.
pub const CHECK_KINDS: &str = "http, tcp, dns, logicApp, armResource";

impl Check {
    /// The one kind given; `None` when the plan gives none or several (validation refuses both).
    pub fn kind(&self) -> Option<CheckKind<'_>> {
        let kinds = self.kinds();
        match kinds.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    fn kinds(&self) -> Vec<CheckKind<'_>> {
        let mut kinds = Vec::new();
        kinds.extend(self.http.as_ref().map(CheckKind::Http));
        kinds.extend(self.tcp.as_ref().map(CheckKind::Tcp));
        kinds.extend(self.dns.as_ref().map(CheckKind::Dns));
        kinds.extend(self.logic_app.as_ref().map(CheckKind::LogicApp));
        kinds.extend(self.arm_resource.as_ref().map(CheckKind::ArmResource));
        kinds
    }

    /// How reports name the kind.
    pub fn kind_label(&self) -> &'static str {
        self.kind().map_or("invalid", |k| k.label())
    }
}

impl CheckKind<'_> {
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

/// Where the plan's schema says it comes from; it changes with [`PLAN_VERSION`].
pub const PLAN_SCHEMA_ID: &str = "urn:bcdr:failover-plan:1";

/// The JSON Schema (draft 2020-12) of the plan, generated from the types above, with every
/// object's keys sorted so the text is the same whatever map type serde_json was built with.
/// It describes the plan's shape; the rules across fields are [`FailoverPlan::validate`]'s.
pub fn plan_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(FailoverPlan)).expect("a schema is JSON");
    let root = schema.as_object_mut().expect("the root schema is an object");
    root.insert("$id".into(), PLAN_SCHEMA_ID.into());
    root.insert("title".into(), "bcdr failover plan".into());
    sort_keys(schema)
}

fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Why a plan could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read the plan {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the plan is not valid JSON of the expected shape: at {path}: {message}")]
    Shape { path: String, message: String },
    #[error("the plan is invalid: {0}")]
    Invalid(ConfigError),
}

/// The setting that names the plan file.
pub const PLAN_FILE_SETTING: &str = "BCDR_PLAN_FILE";

impl FailoverPlan {
    /// The plan a handler runs on: `BCDR_PLAN_FILE`, or `failover-plan.json` in
    /// `beside_executable`. Every problem goes into the reader's list, so a bad plan and bad
    /// settings are reported together.
    pub fn from_settings(r: &mut Reader<'_>, beside_executable: &Path) -> (std::path::PathBuf, Option<FailoverPlan>) {
        let file = r
            .optional(PLAN_FILE_SETTING)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| beside_executable.join("failover-plan.json"));
        let plan = match FailoverPlan::from_file(&file) {
            Ok(plan) => Some(plan),
            Err(PlanError::Invalid(e)) => {
                r.problems.extend(e);
                None
            }
            Err(e) => {
                r.problems.push(PLAN_FILE_SETTING, Some(&file.display().to_string()), e.to_string());
                None
            }
        };
        (file, plan)
    }

    pub fn from_file(path: &Path) -> Result<Self, PlanError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PlanError::Read { path: path.display().to_string(), source })?;
        Self::from_json(&text)
    }

    /// Parses and validates a plan.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let plan: FailoverPlan = serde_path_to_error::deserialize(de)
            .map_err(|e| PlanError::Shape { path: json_path(&e.path().to_string()), message: e.inner().to_string() })?;
        plan.validate().map_err(PlanError::Invalid)?;
        Ok(plan)
    }

    /// Every rule the types cannot express, each error with its JSON path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::new();
        if self.version != PLAN_VERSION {
            p.push(
                "$.version",
                Some(&self.version.to_string()),
                format!("this build reads plan version {PLAN_VERSION}"),
            );
        }
        if self.name.trim().is_empty() {
            p.push("$.name", Some(&self.name), "must not be empty");
        }
        for (field, region) in [("primary", &self.regions.primary), ("secondary", &self.regions.secondary)] {
            if region.trim().is_empty() {
                p.push(format!("$.regions.{field}"), Some(region), "must name an Azure region");
            }
        }
        if self.regions.primary.eq_ignore_ascii_case(&self.regions.secondary) {
            p.push("$.regions.secondary", Some(&self.regions.secondary), "must differ from the primary region");
        }
        self.health.validate(&mut p);
        if let Some(watchdog) = &self.watchdog {
            watchdog.validate(&self.health, &mut p);
        }
        self.alerts.validate("$.alerts", &mut p);
        self.validate_resources(&mut p);
        p.finish(())
    }

    /// The trigger-type rules: which roles each trigger allows, and what each role needs.
    fn validate_resources(&self, p: &mut Problems) {
        let mut names = HashSet::new();
        for (i, r) in self.resources.iter().enumerate() {
            let at = format!("$.resources[{i}]");
            if r.name.trim().is_empty() {
                p.push(format!("{at}.name"), Some(&r.name), "must not be empty");
            } else if !names.insert(r.name.as_str()) {
                p.push(format!("{at}.name"), Some(&r.name), "is used by an earlier resource");
            }
            if r.primary == r.secondary {
                p.push(
                    format!("{at}.secondary"),
                    Some(r.secondary.as_str()),
                    "must be a different copy from the primary",
                );
            }
            let role = role_label(r.role);
            let rule = match (r.trigger, r.role) {
                (Trigger::Recurrence, Role::ActivePassive | Role::SplitSchedule) => None,
                (Trigger::Recurrence, _) => Some("a recurrence runs active-passive or on a split schedule: two full copies would run every slot twice"),
                (Trigger::PollingClientState, Role::ActivePassive) => None,
                (Trigger::PollingClientState, _) => Some("a client-state poller (e.g. a mailbox) runs active-passive only: two copies would both take every item"),
                (Trigger::PollingServerState, Role::ActivePassive) => None,
                (Trigger::PollingServerState, Role::ActiveActive) if r.ordered && !r.sessions => Some("ordered reading with competing consumers needs sessions; without them run active-passive"),
                (Trigger::PollingServerState, Role::ActiveActive) => None,
                (Trigger::PollingServerState, Role::SplitSchedule) => Some("a server-state poller runs active-active (competing consumers) or active-passive"),
                (Trigger::Request, Role::ActivePassive) => None,
                (Trigger::Request, Role::ActiveActive) if self.router.is_none() => Some("request-triggered copies run active-active only behind a router ($.router)"),
                (Trigger::Request, Role::ActiveActive) => None,
                (Trigger::Request, Role::SplitSchedule) => Some("request-triggered copies run active-active behind a router, or active-passive"),
                (Trigger::Webhook, Role::ActivePassive) => None,
                (Trigger::Webhook, _) => Some("a webhook has one subscriber: it runs active-passive only"),
            };
            if let Some(rule) = rule {
                p.push(format!("{at}.role"), Some(role), rule);
            }
            let expected = match r.kind {
                ResourceKind::LogicApp => Some("Microsoft.Logic/workflows"),
                ResourceKind::LogicAppStandard | ResourceKind::Site => Some("Microsoft.Web/sites"),
                ResourceKind::Generic => None,
            };
            if let Some(t) = expected {
                for (field, id) in [("primary", &r.primary), ("secondary", &r.secondary)] {
                    if !id.is_type(t) {
                        p.push(
                            format!("{at}.{field}"),
                            Some(id.as_str()),
                            format!("must be a {t} resource for kind {}", kind_label(r.kind)),
                        );
                    }
                }
            }
            match (r.kind, &r.workflow) {
                (ResourceKind::LogicAppStandard, None) => {
                    p.push(format!("{at}.workflow"), None, "is required for kind logicAppStandard")
                }
                (ResourceKind::LogicAppStandard, Some(w)) if !is_workflow_name(w) => {
                    p.push(format!("{at}.workflow"), Some(w), "must be a workflow name (letters, digits, '-', '_')")
                }
                (ResourceKind::LogicAppStandard, Some(_)) => {}
                (_, Some(w)) => p.push(format!("{at}.workflow"), Some(w), "applies only to kind logicAppStandard"),
                (_, None) => {}
            }
            match (r.kind, &r.generic) {
                (ResourceKind::Generic, None) => p.push(format!("{at}.generic"), None, "is required for kind generic"),
                (ResourceKind::Generic, Some(g)) => {
                    if !is_api_version(&g.api_version) {
                        p.push(
                            format!("{at}.generic.apiVersion"),
                            Some(&g.api_version),
                            "must look like 2023-01-01 or 2023-01-01-preview",
                        );
                    }
                    if g.enabled_value == g.disabled_value {
                        p.push(format!("{at}.generic.disabledValue"), None, "must differ from enabledValue");
                    }
                    // Activation writes the value as a merge patch of nested objects, which can
                    // name object keys only.
                    if g.property.contains(['[', ']']) {
                        p.push(
                            format!("{at}.generic.property"),
                            Some(&g.property),
                            "must be a dotted path without [n] items: activation writes it as a merge patch, which cannot address array items",
                        );
                    } else if g.property.split('.').any(str::is_empty) {
                        p.push(
                            format!("{at}.generic.property"),
                            Some(&g.property),
                            "must be a dotted path of names like properties.state",
                        );
                    }
                }
                (_, Some(_)) => p.push(format!("{at}.generic"), None, "applies only to kind generic"),
                (_, None) => {}
            }
            if (r.ordered || r.sessions) && r.trigger != Trigger::PollingServerState {
                p.push(format!("{at}.ordered"), None, "ordered and sessions apply only to trigger pollingServerState");
            }
        }
        if let Some(router) = &self.router {
            let t = match router.kind {
                RouterKind::TrafficManager => "Microsoft.Network/trafficManagerProfiles",
                RouterKind::FrontDoor => "Microsoft.Cdn/profiles/originGroups/origins",
            };
            for (field, id) in [("primary", &router.primary), ("secondary", &router.secondary)] {
                let ok = match router.kind {
                    RouterKind::TrafficManager => ["azureEndpoints", "externalEndpoints", "nestedEndpoints"]
                        .iter()
                        .any(|e| id.is_type(&format!("{t}/{e}"))),
                    RouterKind::FrontDoor => id.is_type(t),
                };
                if !ok {
                    p.push(format!("$.router.{field}"), Some(id.as_str()), format!("must be a {t} endpoint or origin"));
                }
            }
            if router.primary == router.secondary {
                p.push("$.router.secondary", Some(router.secondary.as_str()), "must differ from the primary");
            }
        }
        if !(10_000..=3_600_000).contains(&self.activation.deadline_ms) {
            p.push(
                "$.activation.deadlineMs",
                Some(&self.activation.deadline_ms.to_string()),
                "must be between 10000 and 3600000",
            );
        }
    }

    /// The watch named `name`.
    pub fn watch(&self, name: &str) -> Option<&Watch> {
        self.watchdog.as_ref()?.watches.iter().find(|w| w.name == name)
    }
}

impl WatchdogPlan {
    /// Time between two ticks (the shortest gap over the next day, for irregular schedules).
    pub fn interval(&self) -> Option<Duration> {
        schedule_interval(&self.schedule)
    }

    fn validate(&self, health: &HealthPlan, p: &mut Problems) {
        let interval = match Schedule::parse(&self.schedule) {
            Ok(_) => schedule_interval(&self.schedule),
            Err(e) => {
                p.push("$.watchdog.schedule", Some(&self.schedule), e.to_string());
                None
            }
        };
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
    }
}

/// The shortest gap between consecutive occurrences over the next day.
fn schedule_interval(expression: &str) -> Option<Duration> {
    let schedule = Schedule::parse(expression).ok()?;
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

fn is_workflow_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 80 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::ActivePassive => "activePassive",
        Role::ActiveActive => "activeActive",
        Role::SplitSchedule => "splitSchedule",
    }
}

pub fn kind_label(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::LogicApp => "logicApp",
        ResourceKind::LogicAppStandard => "logicAppStandard",
        ResourceKind::Site => "site",
        ResourceKind::Generic => "generic",
    }
}

fn is_watch_name(name: &str) -> bool {
    (1..=63).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_url(at: &str, url: &str, p: &mut Problems) {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(_) => p.push(at, Some(url), "must be an http or https URL with a host"),
        Err(e) => p.push(at, Some(url), format!("is not a URL: {e}")),
    }
}

impl HealthPlan {
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    pub fn cache_for(&self) -> Duration {
        Duration::from_millis(self.cache_ms)
    }

    fn validate(&self, p: &mut Problems) {
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
        for (i, check) in self.checks.iter().enumerate() {
            let at = format!("$.health.checks[{i}]");
            if check.name.trim().is_empty() {
                p.push(format!("{at}.name"), Some(&check.name), "must not be empty");
            } else if !names.insert(check.name.as_str()) {
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
            match check.kinds().as_slice() {
                [] => p.push(at.clone(), None, format!("needs one of {CHECK_KINDS}")),
                [kind] => kind.validate(&format!("{at}.{}", kind.key()), p),
                several => {
                    let keys: Vec<_> = several.iter().map(|k| k.key()).collect();
                    p.push(at.clone(), None, format!("has several kinds ({}); give exactly one", keys.join(", ")));
                }
            }
        }
    }
}

impl Check {
    /// The time this check may take: its own timeout, never beyond the overall deadline.
    pub fn timeout(&self, deadline: Duration) -> Duration {
        self.timeout_ms.map(Duration::from_millis).map_or(deadline, |t| t.min(deadline))
    }
}

impl CheckKind<'_> {
    fn validate(&self, at: &str, p: &mut Problems) {
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
                if !is_api_version(&c.api_version) {
                    p.push(
                        format!("{at}.apiVersion"),
                        Some(&c.api_version),
                        "must look like 2023-01-01 or 2023-01-01-preview",
                    );
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

fn is_api_version(v: &str) -> bool {
    let date = v.strip_suffix("-preview").unwrap_or(v);
    let b = date.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// serde_path_to_error prints `health.checks[0].url`; the plan's errors read as JSON paths.
fn json_path(p: &str) -> String {
    if p == "." || p.is_empty() {
        "$".to_owned()
    } else {
        format!("$.{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan_with_checks(checks: serde_json::Value) -> String {
        json!({
            "version": 1,
            "name": "orders",
            "regions": {"primary": "westeurope", "secondary": "northeurope"},
            "health": {"deadlineMs": 4000, "checks": checks}
        })
        .to_string()
    }

    /// Parses a plan and prints its errors one a line, or "ok".
    fn check(plan: &str, expect: &str) {
        let got = match FailoverPlan::from_json(plan) {
            Ok(_) => "ok".to_owned(),
            Err(PlanError::Invalid(e)) => e.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect);
    }

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
    fn plan_level_rules() {
        let text = json!({"version": 2, "name": " ", "regions": {"primary": "westeurope", "secondary": "WestEurope"},
                          "health": {"deadlineMs": 50, "checks": []}})
        .to_string();
        check(
            &text,
            "$.version = \"2\": this build reads plan version 1\n\
             $.name = \" \": must not be empty\n\
             $.regions.secondary = \"WestEurope\": must differ from the primary region\n\
             $.health.deadlineMs = \"50\": must be between 100 and 60000\n\
             $.health.checks: needs at least one check",
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

    #[test]
    fn the_shipped_plans_are_valid() {
        for file in ["../../infra/failover-plan.json", "../../infra/local-plan.json"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            if let Err(e) = FailoverPlan::from_file(&path) {
                panic!("{file}: {e}");
            }
        }
    }

    const WF1: &str = "/subscriptions/s/resourceGroups/rg-weu/providers/Microsoft.Logic/workflows/intake";
    const WF2: &str = "/subscriptions/s/resourceGroups/rg-neu/providers/Microsoft.Logic/workflows/intake";

    /// The problems of a plan holding one resource `extra` merged over a logic app pair.
    fn resource_problems(extra: serde_json::Value, router: bool) -> String {
        let mut r = json!({"name": "intake", "kind": "logicApp", "primary": WF1, "secondary": WF2});
        r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let mut plan: serde_json::Value =
            serde_json::from_str(&plan_with_checks(json!([{"name": "d", "dns": {"host": "h"}}]))).unwrap();
        plan["resources"] = json!([r]);
        if router {
            plan["router"] = json!({"kind": "trafficManager",
                "primary": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/trafficManagerProfiles/tm/azureEndpoints/weu",
                "secondary": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/trafficManagerProfiles/tm/azureEndpoints/neu"});
        }
        match FailoverPlan::from_json(&plan.to_string()) {
            Ok(_) => "ok".to_owned(),
            Err(PlanError::Invalid(e)) => e.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn trigger_types_allow_only_their_roles() {
        let cases = [
            (json!({"trigger": "recurrence", "role": "activePassive"}), false, "ok"),
            (json!({"trigger": "recurrence", "role": "splitSchedule"}), false, "ok"),
            (json!({"trigger": "recurrence", "role": "activeActive"}), false, "$.resources[0].role = \"activeActive\": a recurrence runs active-passive or on a split schedule: two full copies would run every slot twice"),
            (json!({"trigger": "pollingClientState", "role": "activePassive"}), false, "ok"),
            (json!({"trigger": "pollingClientState", "role": "activeActive"}), false, "$.resources[0].role = \"activeActive\": a client-state poller (e.g. a mailbox) runs active-passive only: two copies would both take every item"),
            (json!({"trigger": "pollingServerState", "role": "activeActive"}), false, "ok"),
            (json!({"trigger": "pollingServerState", "role": "activeActive", "ordered": true, "sessions": true}), false, "ok"),
            (json!({"trigger": "pollingServerState", "role": "activeActive", "ordered": true}), false, "$.resources[0].role = \"activeActive\": ordered reading with competing consumers needs sessions; without them run active-passive"),
            (json!({"trigger": "pollingServerState", "role": "activePassive", "ordered": true}), false, "ok"),
            (json!({"trigger": "request", "role": "activePassive"}), false, "ok"),
            (json!({"trigger": "request", "role": "activeActive"}), true, "ok"),
            (json!({"trigger": "request", "role": "activeActive"}), false, "$.resources[0].role = \"activeActive\": request-triggered copies run active-active only behind a router ($.router)"),
            (json!({"trigger": "webhook", "role": "activePassive"}), false, "ok"),
            (json!({"trigger": "webhook", "role": "activeActive"}), true, "$.resources[0].role = \"activeActive\": a webhook has one subscriber: it runs active-passive only"),
            (json!({"trigger": "webhook", "role": "activePassive", "ordered": true}), false, "$.resources[0].ordered: ordered and sessions apply only to trigger pollingServerState"),
        ];
        for (extra, router, expect) in cases {
            assert_eq!(resource_problems(extra.clone(), router), expect, "{extra}");
        }
    }

    #[test]
    fn generic_properties_are_paths_activation_can_write() {
        let generic = |property: &str| {
            json!({"trigger": "recurrence", "role": "activePassive", "kind": "generic",
                   "generic": {"apiVersion": "2023-01-01", "property": property, "enabledValue": "On", "disabledValue": "Off"}})
        };
        let cases = [
            ("properties.state", "ok"),
            ("properties.items[0].state", "$.resources[0].generic.property = \"properties.items[0].state\": must be a dotted path without [n] items: activation writes it as a merge patch, which cannot address array items"),
            ("properties..state", "$.resources[0].generic.property = \"properties..state\": must be a dotted path of names like properties.state"),
            ("", "$.resources[0].generic.property = \"\": must be a dotted path of names like properties.state"),
        ];
        for (property, expect) in cases {
            assert_eq!(resource_problems(generic(property), false), expect, "{property}");
        }
    }

    fn repo_file(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
    }

    #[test]
    fn the_committed_schema_is_current() {
        let committed = std::fs::read_to_string(repo_file("infra/failover-plan.schema.json")).unwrap_or_default();
        let current = serde_json::to_string_pretty(&plan_schema()).unwrap() + "\n";
        assert!(committed == current, "infra/failover-plan.schema.json is stale: run `make plan-schema`");
    }

    fn schema_errors(plan: &serde_json::Value) -> Vec<String> {
        let validator = jsonschema::validator_for(&plan_schema()).expect("the schema compiles");
        validator.iter_errors(plan).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    #[test]
    fn the_shipped_plans_match_the_schema() {
        for file in ["infra/failover-plan.json", "infra/local-plan.json"] {
            let text = std::fs::read_to_string(repo_file(file)).unwrap();
            let errors = schema_errors(&serde_json::from_str(&text).unwrap());
            assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
        }
    }

    #[test]
    fn the_schema_refuses_what_the_parser_refuses() {
        let good: serde_json::Value = serde_json::from_str(&plan_with_checks(json!([
            {"name": "api", "http": {"url": "https://h/", "expectStatus": "200-299, 301"}}
        ])))
        .unwrap();
        assert_eq!(schema_errors(&good), Vec::<String>::new());
        let cases = [
            ("/version", json!(2)),
            ("/regions/west", json!("westeurope")),
            ("/health/checks/0/http/expectStatus", json!("2xx")),
            ("/health/checks/0/tcp", json!({"host": "h", "port": 1})),
            ("/health/checks/0/http/timeout", json!(3)),
            (
                "/resources",
                json!([{"name": "r", "kind": "site", "trigger": "request", "role": "activePassive",
                                    "primary": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/a",
                                    "secondary": "/subscriptions/s/resourceGroups/rg"}]),
            ),
        ];
        for (pointer, value) in cases {
            let mut plan = good.clone();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            plan.pointer_mut(parent).unwrap()[key] = value;
            assert!(FailoverPlan::from_json(&plan.to_string()).is_err(), "the parser takes {pointer}");
            assert!(!schema_errors(&plan).is_empty(), "the schema takes {pointer}");
        }
    }

    #[test]
    fn resources_name_both_copies_of_the_right_type() {
        let site = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app";
        assert_eq!(
            resource_problems(json!({"trigger": "recurrence", "role": "activePassive", "secondary": WF1}), false),
            format!("$.resources[0].secondary = \"{WF1}\": must be a different copy from the primary")
        );
        assert_eq!(
            resource_problems(json!({"trigger": "recurrence", "role": "activePassive", "kind": "logicAppStandard", "primary": site}), false),
            format!("$.resources[0].secondary = \"{WF2}\": must be a Microsoft.Web/sites resource for kind logicAppStandard\n$.resources[0].workflow: is required for kind logicAppStandard")
        );
        assert_eq!(
            resource_problems(json!({"trigger": "recurrence", "role": "activePassive", "secondary": "/subscriptions/s/resourceGroups/rg"}), false),
            "the plan is not valid JSON of the expected shape: at $.resources[0].secondary: not a resource ID (its prefix is not /subscriptions/…/resourceGroups/…/providers/…); expected /subscriptions/<id>/resourceGroups/<group>/providers/<Namespace>/<type>/<name> at line 1 column 363"
        );
    }
}
