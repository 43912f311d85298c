//! Data-driven tests of activation's decisions against an in-memory ARM. Each case names the
//! plan's resources (`name kind trigger role`, or `router kind`), the world before the run
//! (every primary copy on and every secondary off, active-active copies both on, changed by lines
//! like `neu/mail on` or `weu down`), the options, and the expected actions, outcome and writes,
//! printed as text.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use http::Method;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::*;
use crate::arm::{ArmError, Called, ManagementApi};
use crate::plan::{FailoverPlan, PlanError};

/// What a fake copy is, and so how its state is stored.
#[derive(Debug, Clone)]
enum FakeKind {
    LogicApp,
    Site,
    Workflow(String),
    Generic,
    TrafficManager,
    FrontDoor,
    /// An API Management region's backend (a single backend with its URL).
    ApiBackend(String),
    /// The API Management pool the APIs use: "on" puts the primary's backend first.
    ApiPool,
    /// The API Management instance, with a gateway in each region.
    ApiInstance,
}

#[derive(Debug, Clone)]
struct FakeCopy {
    id: String,
    kind: FakeKind,
}

/// ARM in memory: resources by lowercased id, app settings by site, and what to break.
#[derive(Debug, Default)]
struct World {
    resources: HashMap<String, Value>,
    settings: HashMap<String, Map<String, Value>>,
    /// Path pieces that never answer (a region that is down).
    down: Vec<String>,
    /// Path pieces answered 403.
    forbidden: Vec<String>,
    /// Ids that accept writes but do not change (a copy that will not stop).
    stuck: Vec<String>,
    /// Ids where the identity holds only Logic App Operator's Logic Apps actions (read, enable,
    /// disable); everywhere else it may do anything.
    operator: Vec<String>,
    /// Ids whose next conditional write finds another ETag (someone changed them meanwhile).
    stale: Vec<String>,
    /// Every call, `METHOD path`.
    log: Vec<String>,
}

#[derive(Debug, Default)]
struct Fake {
    world: Mutex<World>,
    /// The copies by the names the world lines use: `weu/mail`, `router/neu`.
    copies: HashMap<String, FakeCopy>,
}

impl Fake {
    fn set(&self, name: &str, on: bool) {
        let copy = self.copies.get(name).unwrap_or_else(|| panic!("no copy {name}"));
        let mut w = self.world.lock().unwrap();
        let key = copy.id.to_ascii_lowercase();
        let pick = |a: &str, b: &str| json!(if on { a } else { b });
        let resource = match &copy.kind {
            FakeKind::LogicApp => json!({"properties": {"state": pick("Enabled", "Disabled")}}),
            FakeKind::Site => json!({"properties": {"state": pick("Running", "Stopped")}}),
            FakeKind::Workflow(workflow) => {
                let settings = w.settings.entry(key.clone()).or_default();
                settings.insert("OTHER_SETTING".into(), json!("kept"));
                settings.insert(format!("Workflows.{workflow}.FlowState"), pick("Enabled", "Disabled"));
                json!({"properties": {"state": "Running"}})
            }
            FakeKind::Generic => json!({"properties": {"mode": pick("On", "Off"), "size": 3}}),
            FakeKind::TrafficManager => json!({"properties": {"endpointStatus": pick("Enabled", "Disabled")}}),
            FakeKind::FrontDoor => json!({"properties": {"enabledState": pick("Enabled", "Disabled")}}),
            FakeKind::ApiBackend(group) => {
                json!({"properties": {"type": "Single", "url": format!("https://{group}.example.net/api"), "protocol": "http"}})
            }
            FakeKind::ApiInstance => json!({"location": "West Europe", "properties": {
                "additionalLocations": [{"location": "North Europe", "disableGateway": false}]}}),
            FakeKind::ApiPool => {
                let member = |group: &str, priority: u32| json!({"id": copy_id("apiManagement", group, ""), "priority": priority, "weight": 1});
                let (weu, neu) = if on { (1, 2) } else { (2, 1) };
                json!({"properties": {"type": "Pool", "pool": {"services": [member("weu", weu), member("neu", neu)]}}})
            }
        };
        w.resources.insert(key, resource);
    }

    /// Applies one world line: `<copy> on|off|missing|forbidden|stuck`, or `<piece> down`.
    fn apply(&self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [name, what] = words[..] else { panic!("bad world line {line:?}") };
        if what == "down" {
            // A copy's id, or a resource group: every path under it.
            let piece = match self.copies.get(name) {
                Some(copy) => copy.id.to_ascii_lowercase(),
                None => format!("/resourcegroups/{name}/"),
            };
            self.world.lock().unwrap().down.push(piece);
            return;
        }
        let id = self.copies.get(name).unwrap_or_else(|| panic!("no copy {name}")).id.to_ascii_lowercase();
        match what {
            "on" => self.set(name, true),
            "off" => self.set(name, false),
            "missing" => drop(self.world.lock().unwrap().resources.remove(&id)),
            "forbidden" => self.world.lock().unwrap().forbidden.push(id),
            "stuck" => self.world.lock().unwrap().stuck.push(id),
            "operator" => self.world.lock().unwrap().operator.push(id),
            "stale" => self.world.lock().unwrap().stale.push(id),
            other => panic!("bad world word {other}"),
        }
    }

    fn writes(&self) -> Vec<String> {
        let w = self.world.lock().unwrap();
        w.log.iter().filter(|l| !l.starts_with("GET ") && !l.ends_with("/config/appsettings/list")).cloned().collect()
    }

    fn answer(&self, method: &Method, path: &str, body: Option<&Value>) -> Result<Value, ArmError> {
        let mut w = self.world.lock().unwrap();
        w.log.push(format!("{method} {path}"));
        let lower = path.to_ascii_lowercase();
        if w.down.iter().any(|piece| lower.contains(piece)) {
            let last = ArmError::Transport("operation timed out".into());
            return Err(ArmError::Deadline { last: Box::new(last), attempts: 3 });
        }
        let key = w.resources.keys().filter(|id| lower.starts_with(*id)).max_by_key(|id| id.len()).cloned();
        if w.forbidden.iter().any(|id| lower.starts_with(id)) {
            return Err(ArmError::Status {
                status: 403,
                code: "AuthorizationFailed".into(),
                message: format!("does not have authorization to perform action 'Fake/read' over scope '{path}'."),
            });
        }
        let Some(key) = key else {
            return Err(ArmError::Status { status: 404, code: "ResourceNotFound".into(), message: "not here".into() });
        };
        let suffix = lower[key.len()..].to_owned();
        let stuck = w.stuck.contains(&key);
        let set_state = |w: &mut World, state: &str| {
            if !stuck {
                w.resources.get_mut(&key).unwrap()["properties"]["state"] = json!(state);
            }
            Ok(Value::Null)
        };
        match (method.as_str(), suffix.as_str()) {
            ("GET", "") => Ok(w.resources[&key].clone()),
            ("GET", "/providers/microsoft.authorization/permissions") if w.operator.contains(&key) => {
                Ok(json!({"value": [
                    {"actions": ["Microsoft.Logic/*/read", "Microsoft.Logic/workflows/disable/action",
                                 "Microsoft.Logic/workflows/enable/action"], "notActions": []}
                ]}))
            }
            ("GET", "/providers/microsoft.authorization/permissions") => {
                Ok(json!({"value": [{"actions": ["*"], "notActions": []}]}))
            }
            ("POST", "/disable") => set_state(&mut w, "Disabled"),
            ("POST", "/enable") => set_state(&mut w, "Enabled"),
            ("POST", "/stop") => set_state(&mut w, "Stopped"),
            // A Logic Apps Standard workflow's state as the site runs it (no restart here).
            ("GET", workflow) if workflow.starts_with("/workflows/") => {
                let name = &workflow["/workflows/".len()..];
                let setting = format!("workflows.{name}.flowstate");
                let settings = w.settings.get(&key).cloned().unwrap_or_default();
                let state = settings.iter().find(|(k, _)| k.to_ascii_lowercase() == setting).map(|(_, v)| v.clone());
                Ok(json!({"properties": {"flowState": state.unwrap_or(json!("Enabled"))}}))
            }
            // A Consumption workflow: no run in progress, one client-state trigger.
            ("GET", "/runs") => Ok(json!({"value": []})),
            // A Standard workflow's runs, through its site's host runtime: none in progress.
            ("GET", runs)
                if runs.starts_with("/hostruntime/runtime/webhooks/workflow/api/management/workflows/")
                    && runs.ends_with("/runs") =>
            {
                Ok(json!({"value": []}))
            }
            ("GET", "/triggers") => Ok(json!({"value": [{"name": "When_a_new_email_arrives"}]})),
            ("POST", "/triggers/when_a_new_email_arrives/setstate" | "/triggers/when_a_new_email_arrives/reset") => {
                Ok(Value::Null)
            }
            ("POST", "/start") => set_state(&mut w, "Running"),
            ("POST", "/config/appsettings/list") => {
                Ok(json!({"properties": w.settings.get(&key).cloned().unwrap_or_default()}))
            }
            ("PUT", "/config/appsettings") => {
                let settings = body.and_then(|b| b["properties"].as_object()).expect("settings body").clone();
                if !stuck {
                    w.settings.insert(key, settings.clone());
                }
                Ok(json!({ "properties": settings }))
            }
            ("PATCH", "") => {
                if !stuck {
                    merge(w.resources.get_mut(&key).unwrap(), body.expect("patch body"));
                }
                Ok(w.resources[&key].clone())
            }
            _ => Err(ArmError::Status { status: 405, code: "MethodNotAllowed".into(), message: path.into() }),
        }
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(target.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

#[async_trait]
impl ManagementApi for Fake {
    async fn get(&self, path: &str, _: &str, _: &[(&str, &str)]) -> Result<Value, ArmError> {
        self.answer(&Method::GET, path, None)
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        _: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        _: Instant,
    ) -> Result<Called, ArmError> {
        if let Some(etag) = if_match {
            let raced = {
                let mut w = self.world.lock().unwrap();
                let before = w.stale.len();
                w.stale.retain(|id| *id != path.to_ascii_lowercase());
                w.stale.len() != before
            };
            if raced || self.etag(path).as_deref() != Some(etag) {
                self.world.lock().unwrap().log.push(format!("{method} {path} (412)"));
                return Err(ArmError::Status { status: 412, code: "PreconditionFailed".into(), message: path.into() });
            }
        }
        // Let concurrent actions interleave, as they do over the network.
        tokio::task::yield_now().await;
        let body = self.answer(&method, path, body)?;
        let etag = self.etag(path);
        Ok(Called { status: 200, body, attempts: 1, etag })
    }
}

impl Fake {
    /// The resource's ETag: its content, so that any change gives a new one.
    fn etag(&self, path: &str) -> Option<String> {
        let w = self.world.lock().unwrap();
        let resource = w.resources.get(&path.to_ascii_lowercase())?;
        let text = resource.to_string();
        let sum = text.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Some(format!("\"{sum:x}\""))
    }
}

fn copy_id(kind: &str, group: &str, name: &str) -> String {
    let tail = match kind {
        "logicApp" => format!("Microsoft.Logic/workflows/{name}"),
        // Every Standard workflow of a region lives in one site, as they often do.
        "logicAppStandard" => "Microsoft.Web/sites/apps".to_owned(),
        "site" => format!("Microsoft.Web/sites/{name}"),
        "generic" => format!("Microsoft.Example/widgets/{name}"),
        "trafficManager" => format!("Microsoft.Network/trafficManagerProfiles/tm/azureEndpoints/{group}"),
        "frontDoor" => format!("Microsoft.Cdn/profiles/fd/originGroups/g/origins/{group}"),
        "apiManagement" => format!("Microsoft.ApiManagement/service/apim/backends/{group}"),
        other => panic!("unknown kind {other}"),
    };
    let group = if matches!(kind, "trafficManager" | "frontDoor" | "apiManagement") { "global" } else { group };
    format!("/subscriptions/s/resourceGroups/{group}/providers/{tail}")
}

/// The plan and the fake world with every copy as it is before a failover.
fn setup(spec: &str, grace_ms: u64) -> (FailoverPlan, Fake) {
    let (plan, fake) = document(spec, grace_ms);
    let plan = FailoverPlan::from_json(&plan.to_string()).unwrap_or_else(|e| panic!("test plan: {e}"));
    (plan, fake)
}

/// The problems the plan reader finds in the plan of `spec`, one a line.
fn plan_problems(spec: &str) -> String {
    match FailoverPlan::from_json(&document(spec, 1).0.to_string()) {
        Err(PlanError::Invalid(e)) => e.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"),
        other => panic!("expected meaning errors, got {other:?}"),
    }
}

/// The plan of `spec` as written, and the fake world.
fn document(spec: &str, grace_ms: u64) -> (Value, Fake) {
    let mut resources = Vec::new();
    let mut router = Value::Null;
    let mut copies = HashMap::new();
    let mut on = Vec::new();
    for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["router", kind] = words[..] {
            for (group, side_on) in [("weu", true), ("neu", false)] {
                let kind_of = match kind {
                    "trafficManager" => FakeKind::TrafficManager,
                    "apiManagement" => FakeKind::ApiBackend(group.to_owned()),
                    _ => FakeKind::FrontDoor,
                };
                let name = format!("router/{group}");
                copies.insert(name.clone(), FakeCopy { id: copy_id(kind, group, ""), kind: kind_of });
                on.push((name, side_on));
            }
            router = json!({"kind": kind, "primary": copy_id(kind, "weu", ""), "secondary": copy_id(kind, "neu", "")});
            if kind == "apiManagement" {
                let pool = copy_id(kind, "pool", "");
                copies.insert("router/pool".into(), FakeCopy { id: pool.clone(), kind: FakeKind::ApiPool });
                on.push(("router/pool".into(), true));
                router["backend"] = json!(pool);
                let instance = pool.trim_end_matches("/backends/pool").to_owned();
                copies.insert("router/instance".into(), FakeCopy { id: instance, kind: FakeKind::ApiInstance });
                on.push(("router/instance".into(), true));
            }
            continue;
        }
        let [name, kind, trigger, role] = words[..] else { panic!("bad resource line {line:?}") };
        let mut r = json!({"name": name, "kind": kind, "trigger": trigger, "role": role,
                           "primary": copy_id(kind, "weu", name), "secondary": copy_id(kind, "neu", name)});
        let fake_kind = match kind {
            "logicApp" => FakeKind::LogicApp,
            "site" => FakeKind::Site,
            "logicAppStandard" => {
                r["workflow"] = json!(name);
                FakeKind::Workflow(name.to_owned())
            }
            _ => {
                r["generic"] = json!({"apiVersion": "2024-01-01", "property": "properties.mode",
                                      "enabledValue": "On", "disabledValue": "Off"});
                FakeKind::Generic
            }
        };
        for group in ["weu", "neu"] {
            let copy = FakeCopy { id: copy_id(kind, group, name), kind: fake_kind.clone() };
            copies.insert(format!("{group}/{name}"), copy);
            on.push((format!("{group}/{name}"), group == "weu" || role == "activeActive"));
        }
        resources.push(r);
    }
    let plan = json!({
        "version": 1, "name": "test",
        "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {"checks": [{"name": "d", "dns": {"host": "h"}}]},
        "resources": resources, "router": router,
        "activation": {"fenceGraceMs": grace_ms, "deadlineMs": 60000}
    });
    let fake = Fake { world: Mutex::default(), copies };
    for (name, on) in on {
        fake.set(&name, on);
    }
    (plan, fake)
}

fn now() -> DateTime<Utc> {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

/// Options from words: `practice`, `force`, `failback`, `graceOver` (the epoch began 31 minutes
/// ago; the default grace is 30).
fn options(words: &str) -> RunOptions {
    let has = |w: &str| words.split_whitespace().any(|x| x == w);
    RunOptions {
        direction: if has("failback") { Direction::Failback } else { Direction::Failover },
        practice: has("practice"),
        force: has("force"),
        first_started_at: if has("graceOver") { now() - TimeDelta::minutes(31) } else { now() },
        now: now(),
        deadline: Instant::now() + Duration::from_secs(60),
    }
}

/// `/subscriptions/s/resourceGroups/weu/providers/Microsoft.Logic/workflows/mail/disable` →
/// `weu/mail/disable`.
fn short(call: &str, fake: &Fake) -> String {
    let mut out = call.to_owned();
    // Longest first: an API Management instance's id starts its backends' ids.
    let mut copies: Vec<&FakeCopy> = fake.copies.values().collect();
    copies.sort_by_key(|c| std::cmp::Reverse(c.id.len()));
    for copy in copies {
        let id: crate::resource_id::ResourceId = copy.id.parse().unwrap();
        out = out.replace(&copy.id, &format!("{}/{}", id.resource_group(), id.name()));
    }
    out
}

fn render(report: &Report, fake: &Fake) -> String {
    let mut out = String::new();
    for a in &report.actions {
        out += &format!("{} {} {} {}: {}", a.phase, a.copy, a.resource, a.operation, a.status);
        if let Some(o) = a.fence_overridden {
            out += &format!(" (fenceOverridden: {o})");
        }
        out += "\n";
    }
    out += &format!("outcome {}\n", report.outcome);
    let writes: Vec<String> = fake.writes().iter().map(|w| short(w, fake)).collect();
    out += &format!("writes: {}", if writes.is_empty() { "none".to_owned() } else { writes.join(", ") });
    out
}

async fn run_case(spec: &str, world: &str, opts: &str, grace_ms: u64) -> (Report, Fake) {
    let (plan, fake) = setup(spec, grace_ms);
    for line in world.split(';').map(str::trim).filter(|l| !l.is_empty()) {
        fake.apply(line);
    }
    let report = run(&plan, &fake, &options(opts)).await;
    (report, fake)
}

/// Runs `spec` in `world` (lines separated by `;`) with `opts` and compares the actions,
/// outcome and writes with `expect`.
async fn check(spec: &str, world: &str, opts: &str, expect: &str) {
    let (report, fake) = run_case(spec, world, opts, 30 * 60 * 1000).await;
    let expect: Vec<&str> = expect.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(render(&report, &fake), expect.join("\n"), "\ndetails:\n{}", details(&report));
}

fn details(report: &Report) -> String {
    report.actions.iter().map(|a| format!("  {a}\n")).collect()
}

#[tokio::test]
async fn client_state_fences_confirms_then_enables() {
    check(
        "mail logicApp pollingClientState activePassive",
        "",
        "",
        "fence primary mail disable: done
         drain primary mail drainRuns: alreadyDone
         triggerState secondary mail takeOver: done
         enable secondary mail enable: done
         outcome succeeded
         writes: POST weu/mail/disable, POST neu/mail/triggers/When_a_new_email_arrives/setState, POST neu/mail/enable",
    )
    .await;
}

#[tokio::test]
async fn a_webhook_site_is_stopped_then_started() {
    check(
        "hook site webhook activePassive",
        "",
        "",
        "fence primary hook stop: done
         enable secondary hook start: done
         outcome succeeded
         writes: POST weu/hook/stop, POST neu/hook/start",
    )
    .await;
}

#[tokio::test]
async fn recurrence_moves_and_a_split_schedule_has_nothing_to_switch() {
    check(
        "nightly logicApp recurrence activePassive
         hourly logicApp recurrence splitSchedule",
        "neu/hourly on",
        "",
        "fence primary nightly disable: done
         enable secondary nightly enable: done
         enable secondary hourly enable: skipped
         outcome succeeded
         writes: POST weu/nightly/disable, POST neu/nightly/enable",
    )
    .await;
}

#[tokio::test]
async fn server_state_active_passive_moves_and_active_active_is_confirmed() {
    check(
        "queue logicApp pollingServerState activePassive
         workers site pollingServerState activeActive",
        "",
        "",
        "fence primary queue disable: done
         enable secondary queue enable: done
         enable secondary workers start: alreadyDone
         outcome succeeded
         writes: POST weu/queue/disable, POST neu/queue/enable",
    )
    .await;
    // An active-active copy found off is started.
    check(
        "workers site pollingServerState activeActive",
        "neu/workers off",
        "",
        "enable secondary workers start: done
         outcome succeeded
         writes: POST neu/workers/start",
    )
    .await;
}

#[tokio::test]
async fn fencing_is_a_best_effort_for_server_state_when_the_primary_is_down() {
    check(
        "queue logicApp pollingServerState activePassive",
        "weu down",
        "",
        "fence primary queue disable: unconfirmed
         enable secondary queue enable: done
         outcome succeeded
         writes: POST neu/queue/enable",
    )
    .await;
}

#[tokio::test]
async fn request_copies_start_then_the_router_switches() {
    check(
        "api site request activePassive
         router trafficManager",
        "",
        "",
        "fence primary api stop: done
         enable secondary api start: done
         route secondary router enableEndpoint: done
         route primary router disableEndpoint: done
         outcome succeeded
         writes: POST weu/api/stop, POST neu/api/start, PATCH global/neu, PATCH global/weu",
    )
    .await;
    check(
        "api site request activeActive
         router frontDoor",
        "",
        "",
        "enable secondary api start: alreadyDone
         route secondary router enableOrigin: done
         route primary router disableOrigin: done
         outcome succeeded
         writes: PATCH global/neu, PATCH global/weu",
    )
    .await;
}

#[tokio::test]
async fn the_router_stays_when_a_request_copy_does_not_run() {
    check(
        "api site request activePassive
         router trafficManager",
        "neu/api forbidden",
        "",
        "fence primary api stop: done
         enable secondary api start: failed
         route secondary router enableEndpoint: skipped
         route primary router disableEndpoint: skipped
         outcome failed
         writes: POST weu/api/stop",
    )
    .await;
}

#[tokio::test]
async fn the_routers_primary_is_disabled_as_a_best_effort() {
    check(
        "api site request activeActive
         router trafficManager",
        "router/weu forbidden",
        "",
        "enable secondary api start: alreadyDone
         route secondary router enableEndpoint: done
         route primary router disableEndpoint: unconfirmed
         outcome succeeded
         writes: PATCH global/neu",
    )
    .await;
}

#[tokio::test]
async fn standard_workflows_and_generic_resources_switch() {
    // The two workflows of a site share one settings write per phase: each write restarts the
    // whole site. The fenced one (a webhook) is drained through the site's host runtime.
    check(
        "orders logicAppStandard webhook activePassive
         invoices logicAppStandard recurrence activePassive
         widget generic pollingClientState activePassive",
        "",
        "",
        "fence primary orders disableWorkflow: done
         fence primary invoices disableWorkflow: done
         fence primary widget setProperty: done
         drain primary orders drainRuns: alreadyDone
         enable secondary orders enableWorkflow: done
         enable secondary invoices enableWorkflow: done
         enable secondary widget setProperty: done
         outcome succeeded
         writes: PATCH weu/widget, PUT weu/apps/config/appsettings, PATCH neu/widget, PUT neu/apps/config/appsettings",
    )
    .await;
}

#[tokio::test]
async fn workflows_sharing_a_site_keep_each_others_settings() {
    let (report, fake) = run_case(
        "orders logicAppStandard webhook activePassive
         invoices logicAppStandard recurrence activePassive",
        "",
        "",
        1,
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", details(&report));
    let w = fake.world.lock().unwrap();
    let settings = |group: &str| {
        let mut s: Vec<String> = w.settings[&copy_id("logicAppStandard", group, "").to_ascii_lowercase()]
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        s.sort();
        s.join(" ")
    };
    assert_eq!(
        settings("weu"),
        r#"OTHER_SETTING="kept" Workflows.invoices.FlowState="Disabled" Workflows.orders.FlowState="Disabled""#
    );
    assert_eq!(
        settings("neu"),
        r#"OTHER_SETTING="kept" Workflows.invoices.FlowState="Enabled" Workflows.orders.FlowState="Enabled""#
    );
    let widget_patch = report.actions.iter().find(|a| a.resource == "orders").unwrap();
    assert_eq!(
        widget_patch.call.as_deref(),
        Some(&*format!("PUT {}/config/appsettings", copy_id("logicAppStandard", "weu", "")))
    );
}

#[tokio::test]
async fn a_generic_write_sets_the_property_by_its_path() {
    let (report, fake) = run_case("widget generic recurrence activePassive", "", "", 1).await;
    assert_eq!(report.outcome, Outcome::Succeeded);
    let w = fake.world.lock().unwrap();
    let id = copy_id("generic", "neu", "widget").to_ascii_lowercase();
    assert_eq!(w.resources[&id], json!({"properties": {"mode": "On", "size": 3}}), "only the property changes");
}

#[tokio::test]
async fn what_is_already_done_is_not_written_again() {
    check(
        "mail logicApp pollingClientState activePassive
         api site request activePassive
         router frontDoor",
        "weu/mail off; neu/mail on; weu/api off; neu/api on; router/weu off; router/neu on",
        "",
        "fence primary mail disable: alreadyDone
         fence primary api stop: alreadyDone
         drain primary mail drainRuns: alreadyDone
         triggerState secondary mail takeOver: alreadyDone
         enable secondary mail enable: alreadyDone
         enable secondary api start: alreadyDone
         route secondary router enableOrigin: alreadyDone
         route primary router disableOrigin: alreadyDone
         outcome succeeded
         writes: none",
    )
    .await;
}

#[tokio::test]
async fn a_client_state_copy_waits_while_the_primary_is_unreachable() {
    let spec = "mail logicApp pollingClientState activePassive";
    check(
        spec,
        "weu down",
        "",
        "fence primary mail disable: unconfirmed
         drain primary mail drainRuns: skipped
         triggerState secondary mail takeOver: waitingForFence
         enable secondary mail enable: waitingForFence
         outcome waitingForFence
         writes: none",
    )
    .await;
    let (report, fake) = run_case(spec, "weu down", "", 30 * 60 * 1000).await;
    assert_eq!(
        enable_action(&report).detail,
        "the primary copy is not confirmed disabled; waiting until an operator forces it or the grace period ends \
         at 2024-05-01T12:30:00Z; this copy stays Disabled"
    );
    assert_eq!(report.actions[0].attempts, 3, "the attempts of the call that gave up");
    let w = fake.world.lock().unwrap();
    let secondary = &w.resources[&copy_id("logicApp", "neu", "mail").to_ascii_lowercase()];
    assert_eq!(secondary["properties"]["state"], "Disabled", "the secondary is untouched");
}

#[tokio::test]
async fn a_fence_that_does_not_hold_is_not_confirmed() {
    check(
        "hook logicApp webhook activePassive",
        "weu/hook stuck",
        "",
        "fence primary hook disable: unconfirmed
         drain primary hook drainRuns: skipped
         enable secondary hook enable: waitingForFence
         outcome waitingForFence
         writes: POST weu/hook/disable",
    )
    .await;
}

#[tokio::test]
async fn a_missing_primary_is_not_a_confirmed_fence() {
    // A wrong id in the plan must not let two copies run: the real primary may be elsewhere.
    check(
        "mail logicApp pollingClientState activePassive",
        "weu/mail missing",
        "",
        "fence primary mail disable: unconfirmed
         drain primary mail drainRuns: skipped
         triggerState secondary mail takeOver: waitingForFence
         enable secondary mail enable: waitingForFence
         outcome waitingForFence
         writes: none",
    )
    .await;
}

#[tokio::test]
async fn force_or_the_grace_period_overrides_the_fence() {
    let spec = "mail logicApp pollingClientState activePassive";
    check(
        spec,
        "weu down",
        "force",
        "fence primary mail disable: unconfirmed
         drain primary mail drainRuns: skipped
         triggerState secondary mail backlog: skipped
         enable secondary mail enable: done (fenceOverridden: forced)
         outcome succeeded
         writes: POST neu/mail/enable",
    )
    .await;
    check(
        spec,
        "weu down",
        "graceOver",
        "fence primary mail disable: unconfirmed
         drain primary mail drainRuns: skipped
         triggerState secondary mail backlog: skipped
         enable secondary mail enable: done (fenceOverridden: gracePeriodPassed)
         outcome succeeded
         writes: POST neu/mail/enable",
    )
    .await;
    // A plan without a grace period waits for an operator however long it takes.
    let (report, _) = run_case(spec, "weu down", "graceOver", 0).await;
    assert_eq!(report.outcome, Outcome::WaitingForFence);
    let enable = enable_action(&report);
    assert!(enable.detail.contains("only an operator can force it"), "{}", enable.detail);
}

#[tokio::test]
async fn a_secondary_already_running_without_a_fence_is_reported() {
    let (report, _) = run_case("mail logicApp pollingClientState activePassive", "weu down; neu/mail on", "", 1).await;
    assert_eq!(report.outcome, Outcome::WaitingForFence);
    assert!(enable_action(&report).detail.ends_with("this copy is already Enabled, so both copies may be running"));
}

#[tokio::test]
async fn practice_reads_everything_and_writes_nothing() {
    let spec = "mail logicApp pollingClientState activePassive
                orders logicAppStandard recurrence activePassive
                api site request activePassive
                router trafficManager";
    check(
        spec,
        "",
        "practice",
        "fence primary mail disable: wouldDo
         fence primary orders disableWorkflow: wouldDo
         fence primary api stop: wouldDo
         drain primary mail drainRuns: alreadyDone
         triggerState secondary mail takeOver: wouldDo
         enable secondary mail enable: wouldDo
         enable secondary orders enableWorkflow: wouldDo
         enable secondary api start: wouldDo
         route secondary router enableEndpoint: wouldDo
         route primary router disableEndpoint: wouldDo
         outcome practiced
         writes: none",
    )
    .await;
    let (report, fake) = run_case(spec, "", "practice", 1).await;
    let mut reads: Vec<String> = fake.world.lock().unwrap().log.iter().map(|l| short(l, &fake)).collect();
    reads.sort();
    assert_eq!(
        reads.join(", "),
        "GET global/neu, GET global/weu, GET neu/api, GET neu/mail, GET neu/mail, GET neu/mail/triggers, \
         GET weu/api, GET weu/mail, GET weu/mail/runs, GET weu/mail/runs, \
         POST neu/apps/config/appsettings/list, POST weu/apps/config/appsettings/list",
        "every target read once"
    );
    let calls: Vec<String> = report.actions.iter().map(|a| short(a.call.as_deref().unwrap_or("-"), &fake)).collect();
    assert_eq!(
        calls.join(", "),
        "POST weu/mail/disable, PUT weu/apps/config/appsettings, POST weu/api/stop, -, \
         POST neu/mail/triggers/When_a_new_email_arrives/setState, POST neu/mail/enable, \
         PUT neu/apps/config/appsettings, POST neu/api/start, PATCH global/neu, PATCH global/weu"
    );
    // Practice shows what a real run would meet.
    check(
        "mail logicApp pollingClientState activePassive",
        "weu down",
        "practice",
        "fence primary mail disable: unconfirmed
         drain primary mail drainRuns: skipped
         triggerState secondary mail takeOver: waitingForFence
         enable secondary mail enable: waitingForFence
         outcome waitingForFence
         writes: none",
    )
    .await;
}

#[tokio::test]
async fn failback_reverses_the_plan() {
    check(
        "mail logicApp pollingClientState activePassive
         api site request activePassive
         router trafficManager",
        "weu/mail off; neu/mail on; weu/api off; neu/api on; router/weu off; router/neu on",
        "failback",
        "fence secondary mail disable: done
         fence secondary api stop: done
         drain secondary mail drainRuns: alreadyDone
         triggerState primary mail takeOver: done
         enable primary mail enable: done
         enable primary api start: done
         route primary router enableEndpoint: done
         route secondary router disableEndpoint: done
         outcome succeeded
         writes: POST neu/mail/disable, POST neu/api/stop, POST weu/api/start, PATCH global/weu, \
         POST weu/mail/triggers/When_a_new_email_arrives/setState, PATCH global/neu, POST weu/mail/enable",
    )
    .await;
    // The fence rule mirrored: the secondary must be confirmed off before the primary runs.
    check(
        "mail logicApp pollingClientState activePassive",
        "weu/mail off; neu/mail on; neu down",
        "failback",
        "fence secondary mail disable: unconfirmed
         drain secondary mail drainRuns: skipped
         triggerState primary mail takeOver: waitingForFence
         enable primary mail enable: waitingForFence
         outcome waitingForFence
         writes: none",
    )
    .await;
}

#[tokio::test]
async fn one_failure_does_not_stop_the_others() {
    check(
        "mail logicApp pollingClientState activePassive
         nightly logicApp recurrence activePassive
         queue site pollingServerState activePassive",
        "neu/nightly missing; weu/mail down",
        "",
        "fence primary mail disable: unconfirmed
         fence primary nightly disable: done
         fence primary queue stop: done
         drain primary mail drainRuns: skipped
         triggerState secondary mail takeOver: waitingForFence
         enable secondary mail enable: waitingForFence
         enable secondary nightly enable: failed
         enable secondary queue start: done
         outcome failed
         writes: POST weu/nightly/disable, POST weu/queue/stop, POST neu/queue/start",
    )
    .await;
}

/// A run cannot be given a role its trigger does not allow: the plan reader refuses it, by the
/// same trigger-type table that gives each allowed resource its switch.
#[test]
fn a_role_the_trigger_does_not_allow_is_refused() {
    assert_eq!(
        plan_problems("nightly logicApp recurrence activeActive"),
        "$.resources[0].role = \"activeActive\": a recurrence runs active-passive or on a split schedule: two full \
copies would run every slot twice"
    );
}

#[tokio::test]
async fn the_report_reads_as_camel_case_json() {
    let (report, _) = run_case("mail logicApp pollingClientState activePassive", "weu down", "force", 1).await;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "succeeded");
    assert_eq!(json["direction"], "failover");
    assert_eq!(json["startedAt"], "2024-05-01T12:00:00Z");
    let enable = &json["actions"][3];
    assert_eq!(enable["phase"], "enable");
    assert_eq!(enable["copy"], "secondary");
    assert_eq!(enable["status"], "done");
    assert_eq!(enable["fenceOverridden"], "forced");
    assert_eq!(enable["call"], format!("POST {}/enable", copy_id("logicApp", "neu", "mail")));
    assert!(enable.get("durationMs").is_some());
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

/// The enable of a run's one resource.
fn enable_action(report: &Report) -> &ActionReport {
    report.actions.iter().find(|a| a.phase == Stage::Enable).expect("an enable action")
}

async fn readiness(spec: &str, world: &str) -> String {
    let (plan, fake) = setup(spec, 1);
    for line in world.split(';').map(str::trim).filter(|l| !l.is_empty()) {
        fake.apply(line);
    }
    let r = ready(&plan, &fake, Instant::now() + Duration::from_secs(5)).await;
    assert!(fake.writes().is_empty(), "readiness writes nothing");
    let text = short(&r.to_string(), &fake);
    format!("ready {}\n{}", r.ready, text.trim_end())
}

#[tokio::test]
async fn readiness_reads_every_target_and_names_what_is_wrong() {
    assert_eq!(
        readiness("mail logicApp pollingClientState activePassive\nrouter frontDoor", "").await,
        "ready true
ok   mail primary weu/mail: readable, Enabled; every action a run calls is held
ok   mail secondary neu/mail: readable, Disabled; every action a run calls is held
ok   router primary global/weu: readable, Enabled; every action a run calls is held
ok   router secondary global/neu: readable, Disabled; every action a run calls is held"
    );
    // The role for enabling and disabling workflows lacks what the drain and the trigger
    // handover call; readiness names it before an outage does.
    assert_eq!(
        readiness("mail logicApp pollingClientState activePassive", "neu/mail operator").await,
        "ready false
ok   mail primary weu/mail: readable, Enabled; every action a run calls is held
FAIL mail secondary neu/mail: readable, Disabled; missing permission \
Microsoft.Logic/workflows/triggers/setState/action: activation needs Microsoft.Logic/workflows/read, \
Microsoft.Logic/workflows/disable/action, Microsoft.Logic/workflows/enable/action, \
Microsoft.Logic/workflows/runs/read, Microsoft.Logic/workflows/triggers/read, \
Microsoft.Logic/workflows/triggers/setState/action on this resource"
    );
    assert_eq!(
        readiness("orders logicAppStandard webhook activePassive", "neu/orders forbidden; weu down").await,
        "ready false
FAIL orders primary weu/apps: no answer in time (3 attempts): ARM did not answer: operation timed out
FAIL orders secondary neu/apps: missing permission Fake/read: activation needs \
Microsoft.Web/sites/config/list/action, Microsoft.Web/sites/config/write, Microsoft.Web/sites/workflows/read, \
Microsoft.Web/sites/operations/read, Microsoft.Web/sites/operationresults/read on this resource"
    );
    assert_eq!(
        readiness("nightly logicApp recurrence activePassive", "neu/nightly missing").await,
        "ready false
ok   nightly primary weu/nightly: readable, Enabled; every action a run calls is held
FAIL nightly secondary neu/nightly: not found (ResourceNotFound): not here"
    );
}

#[test]
fn a_run_can_be_spawned() {
    // The activation app serves it from a multi-threaded runtime.
    fn send<T: Send>(_: &T) {}
    let (plan, fake) = setup("mail logicApp pollingClientState activePassive", 1);
    let opts = options("");
    let future = run(&plan, &fake, &opts);
    send(&future);
    let ready = ready(&plan, &fake, opts.deadline);
    send(&ready);
}

#[tokio::test]
async fn an_api_management_pool_puts_the_serving_backend_first() {
    let spec = "api site request activeActive
                router apiManagement";
    check(
        spec,
        "",
        "",
        "enable secondary api start: alreadyDone
         route secondary router switchBackend: done
         outcome succeeded
         writes: PATCH global/pool",
    )
    .await;
    // Failback moves it back; a repeat finds it done; practice only reads.
    check(
        spec,
        "router/pool off",
        "failback",
        "enable primary api start: alreadyDone
         route primary router switchBackend: done
         outcome succeeded
         writes: PATCH global/pool",
    )
    .await;
    check(
        spec,
        "router/pool off",
        "",
        "enable secondary api start: alreadyDone
         route secondary router switchBackend: alreadyDone
         outcome succeeded
         writes: none",
    )
    .await;
    check(
        spec,
        "",
        "practice",
        "enable secondary api start: alreadyDone
         route secondary router switchBackend: wouldDo
         outcome practiced
         writes: none",
    )
    .await;
}

#[tokio::test]
async fn a_backend_changed_meanwhile_is_read_again_before_it_is_written() {
    let (report, fake) =
        run_case("api site request activeActive\nrouter apiManagement", "router/pool stale", "", 1).await;
    let route = report.actions.iter().find(|a| a.phase == Stage::Route).unwrap();
    assert_eq!(route.status, ActionStatus::Done, "{route}");
    assert_eq!(
        fake.writes().iter().map(|w| short(w, &fake)).collect::<Vec<_>>(),
        ["PATCH global/pool (412)", "PATCH global/pool"]
    );
    assert!(
        route.detail.contains("now Pool: weu priority 2 weight 1, neu priority 1 weight 1, confirmed"),
        "{}",
        route.detail
    );
}

#[tokio::test]
async fn api_management_readiness_reads_the_instance_and_the_pool() {
    let spec = "api site request activeActive\nrouter apiManagement";
    assert_eq!(
        readiness(spec, "").await,
        "ready true
ok   api primary weu/api: readable, Running; every action a run calls is held
ok   api secondary neu/api: readable, Running; every action a run calls is held
ok   router primary global/weu: readable, Single https://weu.example.net/api; every action a run calls is held
ok   router secondary global/neu: readable, Single https://neu.example.net/api; every action a run calls is held
ok   router instance secondary global/apim: readable, gateways in West Europe, North Europe
ok   router backend secondary global/pool: readable, Pool: weu priority 1 weight 1, neu priority 2 weight 1"
    );
    let text = readiness(spec, "router/neu missing").await;
    assert!(text.starts_with("ready false"), "{text}");
    assert!(text.contains("FAIL router secondary global/neu: "), "{text}");
    // A role missing on the instance: its backends cannot be read either.
    let text = readiness(spec, "router/instance forbidden").await;
    assert!(
        text.contains("FAIL router instance secondary global/apim: missing permission Fake/read: activation needs Microsoft.ApiManagement/service/read on this resource"),
        "{text}"
    );
}
