//! The failover plan: one versioned JSON document that describes a deployment and that every
//! binary (and the Bicep) reads. Reading it is two steps. Serde reads the document as written
//! (the `*Json` types, which the JSON Schema describes) and gives the first shape error with its
//! JSON path; then each section's `parse` checks its meaning, reporting every error with its
//! path, and gives the typed plan the binaries use. A [`FailoverPlan`] exists only valid: a check
//! has exactly one kind, a Logic Apps Standard resource carries its workflow, the watchdog's
//! schedule is a parsed [`Schedule`](crate::schedule::Schedule), and each resource knows what
//! activation does with it ([`Switch`], from the trigger-type table in `resources`).
//!
//! One file per section of the document: `health`, `watchdog`, `resources` (with the
//! router), `activation`, `alerts`; this one holds the root, loading and the schema.

pub mod access;
mod activation;
mod alerts;
mod handover;
mod health;
mod resources;
mod watchdog;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::settings::{ConfigError, Problems, Reader};

pub use activation::ActivationPlan;
pub use alerts::AlertPlan;
pub use handover::{AfterDrain, Drain, TriggerHandover, TriggerState};
pub use health::{
    setting_reference, ArmResourceCheck, Check, CheckKind, DnsCheck, HealthPlan, HttpCheck, LogicAppCheck,
    StatusRanges, TcpCheck, CHECK_KINDS,
};
pub use resources::{
    instance_of, trigger_rule, GenericResource, Resource, ResourceKind, Role, Router, RouterKind, Switch, Trigger,
    API_MANAGEMENT_BACKEND,
};
pub use watchdog::{Watch, WatchdogPlan, DEFAULT_WATCHDOG_SCHEDULE};

/// The plan format this build reads and writes.
pub const PLAN_VERSION: u32 = 1;

/// A deployment, as the binaries read it: its two regions, what the primary's health-check runs,
/// what the secondary's watchdog watches, the alert channels, and the copies activation switches.
/// Only [`FailoverPlan::from_json`] (and the loaders over it) make one, so every value is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverPlan {
    /// A short name for the deployment, used in reports and alerts.
    pub name: String,
    pub regions: Regions,
    pub health: HealthPlan,
    /// What the secondary's watchdog watches; absent in a plan for the primary alone.
    pub watchdog: Option<WatchdogPlan>,
    /// Where alerts go besides the log.
    pub alerts: AlertPlan,
    /// The workload's copies that activation switches, in the plan's order.
    pub resources: Vec<Resource>,
    /// What sends requests to the active region, for request-triggered workloads.
    pub router: Option<Router>,
    pub activation: ActivationPlan,
}

/// A deployment: its two regions, what the primary's health-check runs, what the secondary's
/// watchdog watches, the alert channels, and the copies activation switches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename = "FailoverPlan", rename_all = "camelCase", deny_unknown_fields)]
struct PlanJson {
    /// Format version; must be [`PLAN_VERSION`].
    #[schemars(description = "Format version: the one this build reads.", extend("const" = PLAN_VERSION))]
    version: u32,
    /// A short name for the deployment, used in reports and alerts.
    name: String,
    regions: Regions,
    health: health::HealthJson,
    /// What the secondary's watchdog watches; absent in a plan for the primary alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watchdog: Option<watchdog::WatchdogJson>,
    /// Where alerts go besides the log.
    #[serde(default)]
    alerts: AlertPlan,
    /// The workload's copies that activation switches, each with its trigger type and role.
    #[serde(default)]
    resources: Vec<resources::ResourceJson>,
    /// What sends requests to the active region, for request-triggered workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    router: Option<Router>,
    /// How activation runs.
    #[serde(default)]
    activation: ActivationPlan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Regions {
    /// Azure region name of the primary, e.g. `westeurope`.
    pub primary: String,
    pub secondary: String,
}

/// Where the plan's schema says it comes from; it changes with [`PLAN_VERSION`].
pub const PLAN_SCHEMA_ID: &str = "urn:bcdr:failover-plan:1";

/// The JSON Schema (draft 2020-12) of the plan, generated from the document's types, with every
/// object's keys sorted so the text is the same whatever map type serde_json was built with.
/// It describes the plan's shape; the rules across fields are the sections' `parse`.
pub fn plan_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(PlanJson)).expect("a schema is JSON");
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

    /// Reads a plan: its shape, then its meaning.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let document: PlanJson = serde_path_to_error::deserialize(de)
            .map_err(|e| PlanError::Shape { path: json_path(&e.path().to_string()), message: e.inner().to_string() })?;
        document.parse().map_err(PlanError::Invalid)
    }

    /// The watch named `name`.
    pub fn watch(&self, name: &str) -> Option<&Watch> {
        self.watchdog.as_ref()?.watches.iter().find(|w| w.name == name)
    }
}

impl PlanJson {
    /// Every rule the types cannot express, each error with its JSON path, in the document's
    /// order. A part that cannot be built is left out, always with a problem saying why, so the
    /// plan is returned only whole.
    fn parse(self) -> Result<FailoverPlan, ConfigError> {
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
        let health = self.health.parse(&mut p);
        let watchdog = self.watchdog.and_then(|w| w.parse(&health, &mut p));
        alerts::check(&self.alerts, &mut p);
        let resources = resources::parse(self.resources, self.router.is_some(), &mut p);
        if let Some(router) = &self.router {
            resources::check_router(router, &mut p);
        }
        self.activation.check(&mut p);
        p.finish(FailoverPlan {
            name: self.name,
            regions: self.regions,
            health,
            watchdog,
            alerts: self.alerts,
            resources,
            router: self.router,
            activation: self.activation,
        })
    }
}

/// An http or https URL with a host.
fn check_url(at: &str, url: &str, p: &mut Problems) {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(_) => p.push(at, Some(url), "must be an http or https URL with a host"),
        Err(e) => p.push(at, Some(url), format!("is not a URL: {e}")),
    }
}

/// What is wrong with `version` as the api-version of a `resource_type` resource: not the shape
/// of one, or, for a type whose stable versions the bundle knows, not one of them (ARM would
/// refuse it).
fn api_version_problem(version: &str, resource_type: &str) -> Option<String> {
    if !is_api_version(version) {
        return Some("must look like 2023-01-01 or 2023-01-01-preview".into());
    }
    let known = crate::arm::catalog::stable_api_versions(resource_type)?;
    (!known.contains(&version))
        .then(|| format!("is not an api-version of {resource_type}; ARM accepts {}", known.join(", ")))
}

/// An ARM api-version: `2023-01-01` or `2023-01-01-preview`.
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

/// Plans for the sections' tests, and their problems as text.
#[cfg(test)]
mod testing {
    use serde_json::json;

    use super::{FailoverPlan, PlanError};

    pub fn plan_with_checks(checks: serde_json::Value) -> String {
        json!({
            "version": 1,
            "name": "orders",
            "regions": {"primary": "westeurope", "secondary": "northeurope"},
            "health": {"deadlineMs": 4000, "checks": checks}
        })
        .to_string()
    }

    /// A plan's errors one a line, or "ok".
    pub fn problems(plan: &str) -> String {
        match FailoverPlan::from_json(plan) {
            Ok(_) => "ok".to_owned(),
            Err(PlanError::Invalid(e)) => e.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"),
            Err(e) => e.to_string(),
        }
    }

    /// Parses a plan and compares its errors, one a line, or "ok".
    pub fn check(plan: &str, expect: &str) {
        assert_eq!(problems(plan), expect);
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{check, plan_with_checks};
    use super::*;
    use serde_json::json;

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
    fn the_shipped_plans_are_valid() {
        for file in
            ["../../infra/failover-plan.json", "../../infra/local-plan.json", "../../infra/local-plan-apim.json"]
        {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            if let Err(e) = FailoverPlan::from_file(&path) {
                panic!("{file}: {e}");
            }
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
        for file in ["infra/failover-plan.json", "infra/local-plan.json", "infra/local-plan-apim.json"] {
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
}
