//! Activation end to end against the ARM double, through the real ARM client: a plan with every
//! kind of copy and both routers switched over and back, with the fence rule checked on the
//! double's state after every call; a primary region that hangs; throttling; practice; reruns;
//! and readiness.

mod arm_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_sim::{ArmDouble, ArmOptions, Fault, Matcher, RegistryCredential, TokenRegistry};
use bcdr_core::arm::{ArmClient, ArmError, Called, ManagementApi, RetryPolicy};
use bcdr_core::failover::{self, ActionStatus, Direction, FenceOverride, Outcome, Report, RunOptions, Stage};
use bcdr_core::plan::FailoverPlan;
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use tokio::time::Instant;

const CLIENT_ID: &str = "activation-identity";

fn id(group: &str, tail: &str) -> String {
    format!("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-{group}/providers/{tail}")
}

fn workflow(group: &str, name: &str) -> String {
    id(group, &format!("Microsoft.Logic/workflows/{name}-{group}"))
}

fn site(group: &str, name: &str) -> String {
    id(group, &format!("Microsoft.Web/sites/{name}-{group}"))
}

/// The generic resource: an external Traffic Manager endpoint, switched by its property.
fn widget(group: &str) -> String {
    id(group, &format!("Microsoft.Network/trafficManagerProfiles/legacy-{group}/externalEndpoints/widget"))
}

fn endpoint(router: &str, region: &str) -> String {
    match router {
        "trafficManager" => {
            id("global", &format!("Microsoft.Network/trafficManagerProfiles/front/azureEndpoints/{region}"))
        }
        _ => id("global", &format!("Microsoft.Cdn/profiles/front/originGroups/apps/origins/{region}")),
    }
}

/// Every kind of copy and every trigger and role, behind `router`.
fn plan(router: &str) -> FailoverPlan {
    let pair = |name: &str, kind: &str, trigger: &str, role: &str, at: &dyn Fn(&str) -> String| json!({"name": name, "kind": kind, "trigger": trigger, "role": role, "primary": at("weu"), "secondary": at("neu")});
    let mut hook = pair("hook", "logicAppStandard", "webhook", "activePassive", &|g| site(g, "flows"));
    hook["workflow"] = json!("hook");
    let mut orders = pair("orders", "logicAppStandard", "pollingClientState", "activePassive", &|g| site(g, "flows"));
    orders["workflow"] = json!("orders");
    let mut widget_pair = pair("widget", "generic", "pollingClientState", "activePassive", &widget);
    widget_pair["generic"] = json!({"apiVersion": "2022-04-01", "property": "properties.endpointStatus",
                                    "enabledValue": "Enabled", "disabledValue": "Disabled"});
    let text = json!({
        "version": 1,
        "name": "orders-bcdr",
        "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {"checks": [{"name": "dns", "dns": {"host": "example.net"}}]},
        "resources": [
            pair("mail", "logicApp", "pollingClientState", "activePassive", &|g| workflow(g, "mail")),
            hook,
            orders,
            widget_pair,
            pair("nightly", "logicApp", "recurrence", "activePassive", &|g| workflow(g, "nightly")),
            pair("hourly", "logicApp", "recurrence", "splitSchedule", &|g| workflow(g, "hourly")),
            pair("queue", "site", "pollingServerState", "activePassive", &|g| site(g, "queue")),
            pair("workers", "site", "pollingServerState", "activeActive", &|g| site(g, "workers")),
            pair("api", "site", "request", "activePassive", &|g| site(g, "api")),
            pair("web", "site", "request", "activeActive", &|g| site(g, "web")),
        ],
        "router": {"kind": router, "primary": endpoint(router, "weu"), "secondary": endpoint(router, "neu")},
        "activation": {"fenceGraceMs": 1_800_000, "deadlineMs": 60_000}
    });
    FailoverPlan::from_json(&text.to_string()).expect("the test plan is valid")
}

/// The settings of the Standard sites besides the flow states, which a write must keep.
const OTHER_SETTINGS: [(&str, &str); 3] = [
    ("FUNCTIONS_EXTENSION_VERSION", "~4"),
    ("AzureWebJobsStorage", "DefaultEndpointsProtocol=https;AccountName=x"),
    ("Workflows.unplanned.FlowState", "Disabled"),
];

/// Seeds the double as before a failover: primaries on, secondaries off, active-active and
/// split-schedule copies on in both regions.
fn seed(arm: &ArmDouble, router: &str) {
    for (group, on) in [("weu", true), ("neu", false)] {
        let state = |on: bool, yes: &str, no: &str| if on { yes.to_owned() } else { no.to_owned() };
        for name in ["mail", "nightly"] {
            arm.add_logic_app(&workflow(group, name), &state(on, "Enabled", "Disabled"), group);
        }
        arm.add_logic_app(&workflow(group, "hourly"), "Enabled", group);
        for name in ["queue", "api"] {
            arm.add_site(&site(group, name), &state(on, "Running", "Stopped"));
        }
        for name in ["workers", "web", "flows"] {
            arm.add_site(&site(group, name), "Running");
        }
        let flow = state(on, "Enabled", "Disabled");
        let mut settings: Vec<(String, String)> =
            OTHER_SETTINGS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        settings.push(("Workflows.hook.FlowState".into(), flow.clone()));
        settings.push(("Workflows.orders.FlowState".into(), flow));
        arm.set_app_settings(&site(group, "flows"), settings);
        for workflow in ["hook", "orders", "unplanned"] {
            arm.add_site_workflow(&site(group, "flows"), workflow);
        }
        arm.add_traffic_manager_endpoint(&widget(group), &state(on, "Enabled", "Disabled"));
        match router {
            "trafficManager" => {
                arm.add_traffic_manager_endpoint(&endpoint(router, group), &state(on, "Enabled", "Disabled"))
            }
            _ => arm.add_front_door_origin(&endpoint(router, group), on),
        }
    }
}

fn property(arm: &ArmDouble, id: &str, path: &str) -> String {
    let resource = arm.resource(id).unwrap_or_else(|| panic!("no resource {id}"));
    bcdr_core::arm::catalog::property(&resource, path).and_then(Value::as_str).unwrap_or("?").to_owned()
}

fn flow_state(arm: &ArmDouble, group: &str, workflow: &str) -> String {
    let settings = arm.app_settings(&site(group, "flows")).expect("the flows site");
    settings.get(&format!("Workflows.{workflow}.FlowState")).cloned().unwrap_or_else(|| "Enabled".into())
}

/// Each copy's state, one line per resource: `mail: weu Disabled, neu Enabled`.
fn states(arm: &ArmDouble, router: &str) -> String {
    let both = |f: &dyn Fn(&str) -> String| format!("weu {}, neu {}", f("weu"), f("neu"));
    let state = |at: fn(&str, &str) -> String, name: &'static str| {
        move |g: &str| property(arm, &at(g, name), "properties.state")
    };
    let router_path = if router == "trafficManager" { "properties.endpointStatus" } else { "properties.enabledState" };
    [
        format!("mail: {}", both(&state(workflow, "mail"))),
        format!("hook: {}", both(&|g| flow_state(arm, g, "hook"))),
        format!("orders: {}", both(&|g| flow_state(arm, g, "orders"))),
        format!("widget: {}", both(&|g| property(arm, &widget(g), "properties.endpointStatus"))),
        format!("nightly: {}", both(&state(workflow, "nightly"))),
        format!("hourly: {}", both(&state(workflow, "hourly"))),
        format!("queue: {}", both(&state(site, "queue"))),
        format!("workers: {}", both(&state(site, "workers"))),
        format!("api: {}", both(&state(site, "api"))),
        format!("web: {}", both(&state(site, "web"))),
        format!("router: {}", both(&|g| property(arm, &endpoint(router, g), router_path))),
    ]
    .join("\n")
}

const BEFORE: &str = "mail: weu Enabled, neu Disabled
hook: weu Enabled, neu Disabled
orders: weu Enabled, neu Disabled
widget: weu Enabled, neu Disabled
nightly: weu Enabled, neu Disabled
hourly: weu Enabled, neu Enabled
queue: weu Running, neu Stopped
workers: weu Running, neu Running
api: weu Running, neu Stopped
web: weu Running, neu Running
router: weu Enabled, neu Disabled";

const AFTER: &str = "mail: weu Disabled, neu Enabled
hook: weu Disabled, neu Enabled
orders: weu Disabled, neu Enabled
widget: weu Disabled, neu Enabled
nightly: weu Disabled, neu Enabled
hourly: weu Enabled, neu Enabled
queue: weu Stopped, neu Running
workers: weu Running, neu Running
api: weu Stopped, neu Running
web: weu Running, neu Running
router: weu Disabled, neu Enabled";

/// The real client, pointed at the double, with short retry delays so tests stay quick.
fn client(arm: &ArmDouble, registry: &TokenRegistry) -> ArmClient {
    let credential: Arc<dyn TokenCredential> = Arc::new(RegistryCredential::new(registry.clone(), CLIENT_ID));
    ArmClient::new(arm.base_url(), reqwest::Client::new(), Ok(credential)).with_retry(RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        attempt_timeout: Duration::from_millis(400),
        poll_interval: Duration::from_millis(20),
    })
}

/// The client, watched: after every call it checks on the double that no client-state or
/// webhook resource is enabled in both regions, and it can throttle every n-th call.
struct Watched {
    client: ArmClient,
    arm: Arc<ArmDouble>,
    throttle_every: Option<u32>,
    count: AtomicU32,
    violations: Mutex<Vec<String>>,
}

impl Watched {
    fn new(arm: &Arc<ArmDouble>, registry: &TokenRegistry) -> Self {
        Watched {
            client: client(arm, registry),
            arm: Arc::clone(arm),
            throttle_every: None,
            count: AtomicU32::new(0),
            violations: Mutex::default(),
        }
    }

    fn check_fences(&self, after: &str) {
        let arm = &self.arm;
        let on = |s: String| s == "Enabled";
        let pairs = [
            (
                "mail",
                on(property(arm, &workflow("weu", "mail"), "properties.state")),
                on(property(arm, &workflow("neu", "mail"), "properties.state")),
            ),
            ("hook", on(flow_state(arm, "weu", "hook")), on(flow_state(arm, "neu", "hook"))),
            ("orders", on(flow_state(arm, "weu", "orders")), on(flow_state(arm, "neu", "orders"))),
            (
                "widget",
                on(property(arm, &widget("weu"), "properties.endpointStatus")),
                on(property(arm, &widget("neu"), "properties.endpointStatus")),
            ),
        ];
        let mut violations = self.violations.lock().unwrap();
        for (name, weu, neu) in pairs {
            // The first time is the news; the same pair again after later calls is noise.
            let seen = violations.iter().any(|v| v.starts_with(&format!("{name} ")));
            if weu && neu && !seen {
                violations.push(format!("{name} enabled in both regions after {after}"));
            }
        }
    }

    fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }
}

#[async_trait]
impl ManagementApi for Watched {
    async fn get(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Value, ArmError> {
        self.client.get(path, api_version, query).await
    }

    async fn call_with(
        &self,
        method: http::Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        deadline: Instant,
    ) -> Result<Called, ArmError> {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if self.throttle_every.is_some_and(|every| n.is_multiple_of(every)) {
            self.arm.inject(Matcher::new(method.as_str(), path), Fault::Throttle { retry_after_secs: 1 }, 1);
        }
        let result = self.client.call_with(method.clone(), path, api_version, body, if_match, deadline).await;
        self.check_fences(&format!("{method} {path}"));
        result
    }
}

/// The double, holding activation to the roles the deployment gives it for the test plans
/// (behind any router): a call outside them is refused as ARM refuses it.
async fn double() -> (Arc<ArmDouble>, TokenRegistry) {
    let registry = TokenRegistry::new();
    let arm = ArmDouble::start(ArmOptions { tokens: Some(registry.clone()), ..ArmOptions::default() })
        .await
        .expect("the ARM double starts");
    let identity = |_| CLIENT_ID.to_owned();
    let mut grants = arm_support::grants(&plan("trafficManager"), identity);
    grants.extend(arm_support::grants(&plan("frontDoor"), identity));
    grants.extend(arm_support::grants(&apim_plan("orders"), identity));
    arm.enforce_access(grants);
    (Arc::new(arm), registry)
}

fn options(direction: Direction, practice: bool, force: bool, deadline: Duration) -> RunOptions {
    let now = Utc::now();
    RunOptions { direction, practice, force, first_started_at: now, now, deadline: Instant::now() + deadline }
}

fn writes(arm: &ArmDouble) -> Vec<String> {
    arm.calls()
        .into_iter()
        .filter(|c| c.method != "GET" && !c.path.ends_with("/config/appsettings/list"))
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

fn summary(report: &Report) -> String {
    report.actions.iter().map(|a| format!("{a}\n")).collect()
}

#[tokio::test]
async fn activation_every_kind_switches_over_and_back_with_either_router() {
    for router in ["trafficManager", "frontDoor"] {
        let (arm, registry) = double().await;
        seed(&arm, router);
        let plan = plan(router);
        let api = Watched::new(&arm, &registry);
        assert_eq!(states(&arm, router), BEFORE);

        let report =
            failover::run(&plan, &api, &options(Direction::Failover, false, false, Duration::from_secs(20))).await;
        assert_eq!(report.outcome, Outcome::Succeeded, "{router}:\n{}", summary(&report));
        assert_eq!(states(&arm, router), AFTER, "{router}");
        assert_eq!(api.violations(), Vec::<String>::new());
        if router == "frontDoor" {
            // Each origin PATCH runs long; its operation URL, at the resource group's provider
            // scope, lies outside the role held on the profile and is refused, so the write is
            // followed through the origin's provisioningState instead.
            let calls = arm.calls();
            let refused = calls.iter().filter(|c| c.path.contains("/operationStatuses/") && c.status == Some(403));
            assert_eq!(refused.count(), 2, "one refused poll per origin written");
            let origin = endpoint(router, "neu");
            let reads = calls.iter().filter(|c| c.method == "GET" && c.path == origin).count();
            assert!(reads >= 2, "read before the write, then until its provisioningState ended: {reads}");
        }

        // The site's other settings survive both workflows' writes.
        for group in ["weu", "neu"] {
            let settings = arm.app_settings(&site(group, "flows")).unwrap();
            for (k, v) in OTHER_SETTINGS {
                assert_eq!(settings.get(k).map(String::as_str), Some(v), "{group} {k}");
            }
            assert_eq!(settings.len(), OTHER_SETTINGS.len() + 2, "{group}: {settings:?}");
        }
        // Every answered call carried the identity's token.
        assert!(arm
            .calls()
            .iter()
            .filter(|c| c.status == Some(200))
            .all(|c| c.client_id.as_deref() == Some(CLIENT_ID)));

        // The same activation again finds everything done and writes nothing.
        arm.clear_calls();
        let again =
            failover::run(&plan, &api, &options(Direction::Failover, false, false, Duration::from_secs(20))).await;
        assert_eq!(again.outcome, Outcome::Succeeded, "{}", summary(&again));
        assert_eq!(writes(&arm), Vec::<String>::new());
        assert!(again.actions.iter().all(|a| matches!(a.status, ActionStatus::AlreadyDone | ActionStatus::Skipped)));

        // Failback: the plan in reverse, with the same fence rule.
        let back =
            failover::run(&plan, &api, &options(Direction::Failback, false, false, Duration::from_secs(20))).await;
        assert_eq!(back.outcome, Outcome::Succeeded, "{}", summary(&back));
        assert_eq!(states(&arm, router), BEFORE, "{router}");
        assert_eq!(api.violations(), Vec::<String>::new());
    }
}

#[tokio::test]
async fn activation_a_hung_primary_region_waits_for_the_fence_until_forced() {
    let (arm, registry) = double().await;
    seed(&arm, "trafficManager");
    let plan = plan("trafficManager");
    let api = Watched::new(&arm, &registry);
    arm.inject(Matcher::any_method("/resourceGroups/rg-weu/"), Fault::Hang, 10_000);

    let report = failover::run(&plan, &api, &options(Direction::Failover, false, false, Duration::from_secs(4))).await;
    assert_eq!(report.outcome, Outcome::WaitingForFence, "{}", summary(&report));
    let status = |name: &str| {
        report.actions.iter().filter(|a| a.resource == name).map(|a| a.status.to_string()).collect::<Vec<_>>().join(" ")
    };
    // The Consumption poller also has its drain (not attempted) and its trigger state (settled
    // only just before an enable); the Standard workflows their drain, and the Standard poller
    // its trigger state (the backlog, the only choice Standard has).
    assert_eq!(status("mail"), "unconfirmed skipped waitingForFence waitingForFence");
    assert_eq!(status("hook"), "unconfirmed skipped waitingForFence");
    assert_eq!(status("orders"), "unconfirmed skipped waitingForFence waitingForFence");
    assert_eq!(status("widget"), "unconfirmed waitingForFence");
    for moved in ["nightly", "queue", "api"] {
        assert_eq!(status(moved), "unconfirmed done", "{moved}: the primary's fence is a best effort");
    }
    assert_eq!(status("router"), "done done");
    // The router follows the request copies' enables, not the fences still waiting on the
    // hung region.
    let calls = arm.calls();
    let switched = calls.iter().position(|c| c.method == "PATCH" && c.path == endpoint("trafficManager", "neu"));
    let last_hung = calls.iter().rposition(|c| c.path.starts_with(&site("weu", "api")));
    assert!(switched < last_hung, "router switched at call {switched:?}, the api fence last tried at {last_hung:?}");
    assert_eq!(
        states(&arm, "trafficManager"),
        "mail: weu Enabled, neu Disabled
hook: weu Enabled, neu Disabled
orders: weu Enabled, neu Disabled
widget: weu Enabled, neu Disabled
nightly: weu Enabled, neu Enabled
hourly: weu Enabled, neu Enabled
queue: weu Running, neu Running
workers: weu Running, neu Running
api: weu Running, neu Running
web: weu Running, neu Running
router: weu Disabled, neu Enabled"
    );
    assert_eq!(api.violations(), Vec::<String>::new());

    // The operator forces it: the secondaries run although their primaries may still.
    let forced = failover::run(&plan, &api, &options(Direction::Failover, false, true, Duration::from_secs(4))).await;
    assert_eq!(forced.outcome, Outcome::Succeeded, "{}", summary(&forced));
    for fenced in ["mail", "hook", "orders", "widget"] {
        let enable = forced.actions.iter().find(|a| a.resource == fenced && a.phase == Stage::Enable).unwrap();
        assert_eq!(enable.status, ActionStatus::Done, "{enable}");
        assert_eq!(enable.fence_overridden, Some(FenceOverride::Forced), "{enable}");
    }
    assert_eq!(flow_state(&arm, "neu", "orders"), "Enabled");
    assert_eq!(property(&arm, &workflow("neu", "mail"), "properties.state"), "Enabled");
}

#[tokio::test]
async fn activation_a_failing_primary_region_lets_the_grace_period_decide() {
    let (arm, registry) = double().await;
    seed(&arm, "frontDoor");
    let plan = plan("frontDoor");
    let api = Watched::new(&arm, &registry);
    arm.inject(Matcher::any_method("/resourceGroups/rg-weu/"), Fault::ServerError, 10_000);
    let mut opts = options(Direction::Failover, false, false, Duration::from_secs(3));
    opts.first_started_at = opts.now - TimeDelta::minutes(31);
    let report = failover::run(&plan, &api, &opts).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", summary(&report));
    let mail = report.actions.iter().find(|a| a.resource == "mail" && a.phase == Stage::Enable).unwrap();
    assert_eq!(mail.fence_overridden, Some(FenceOverride::GracePeriodPassed));
    let fence = report.actions.iter().find(|a| a.resource == "mail" && a.copy == failover::Side::Primary).unwrap();
    assert_eq!(fence.status, ActionStatus::Unconfirmed, "{fence}");
    assert!(fence.attempts > 1, "the 500s were retried: {fence}");
    assert!(arm.calls().iter().filter(|c| c.status == Some(500)).count() > 1);
}

#[tokio::test]
async fn activation_throttling_on_a_tenth_of_the_calls_still_switches_everything() {
    let (arm, registry) = double().await;
    seed(&arm, "trafficManager");
    let plan = plan("trafficManager");
    let mut api = Watched::new(&arm, &registry);
    api.throttle_every = Some(10);
    let report = failover::run(&plan, &api, &options(Direction::Failover, false, false, Duration::from_secs(30))).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", summary(&report));
    assert_eq!(states(&arm, "trafficManager"), AFTER);
    assert_eq!(api.violations(), Vec::<String>::new());
    let throttled = arm.calls().iter().filter(|c| c.status == Some(429)).count();
    assert!(throttled >= 3, "{throttled} calls throttled");
    assert!(report.actions.iter().any(|a| a.attempts > 1));
}

#[tokio::test]
async fn activation_practice_reads_every_target_and_writes_nothing() {
    let (arm, registry) = double().await;
    seed(&arm, "frontDoor");
    let plan = plan("frontDoor");
    let api = Watched::new(&arm, &registry);
    let report = failover::run(&plan, &api, &options(Direction::Failover, true, false, Duration::from_secs(10))).await;
    assert_eq!(report.outcome, Outcome::Practiced, "{}", summary(&report));
    assert_eq!(writes(&arm), Vec::<String>::new());
    assert_eq!(states(&arm, "frontDoor"), BEFORE);
    let would: Vec<String> = report
        .actions
        .iter()
        .filter(|a| a.status == ActionStatus::WouldDo)
        .map(|a| format!("{} {}", a.resource, a.call.as_deref().unwrap_or("?").rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        would.join(", "),
        "mail disable, hook appsettings, orders appsettings, widget widget, nightly disable, queue stop, api stop, \
         mail enable, hook appsettings, orders appsettings, widget widget, nightly enable, queue start, api start, \
         router neu, router weu"
    );
    // Every copy and endpoint was read.
    let read: std::collections::BTreeSet<String> = arm.calls().into_iter().map(|c| c.path).collect();
    for copy in [workflow("weu", "mail"), site("neu", "web"), widget("neu"), endpoint("frontDoor", "weu")] {
        assert!(read.contains(&copy), "{copy} read");
    }
}

#[tokio::test]
async fn activation_readiness_names_missing_targets_and_permissions() {
    let (arm, registry) = double().await;
    seed(&arm, "trafficManager");
    let plan = plan("trafficManager");
    let api = client(&arm, &registry);
    let deadline = || Instant::now() + Duration::from_secs(5);

    let ready = failover::ready(&plan, &api, deadline()).await;
    assert!(ready.ready, "{ready}");
    assert_eq!(ready.checks.len(), 22, "both copies of ten resources and the router");
    assert_eq!(writes(&arm), Vec::<String>::new());

    arm.remove_resource(&workflow("neu", "nightly"));
    arm.inject(Matcher::new("POST", &format!("{}/config/appsettings/list", site("neu", "flows"))), Fault::Forbidden, 2);
    let ready = failover::ready(&plan, &api, deadline()).await;
    assert!(!ready.ready);
    let failed: Vec<String> =
        ready.checks.iter().filter(|c| !c.ok).map(|c| format!("{} {:?}: {}", c.resource, c.copy, c.detail)).collect();
    assert_eq!(failed.len(), 3, "{failed:#?}");
    assert!(
        failed[0].starts_with("hook Secondary: missing permission Microsoft.Web/sites/config/list/action"),
        "{}",
        failed[0]
    );
    assert!(failed[2].starts_with("nightly Secondary: not found (ResourceNotFound)"), "{}", failed[2]);

    // The mail's secondary copy held by Logic App Operator instead of the deployment's role: the
    // copy reads fine, and readiness asks ARM what the role holds and names what it lacks.
    let mut grants = arm_support::grants(&plan, |_| CLIENT_ID.to_owned());
    for grant in grants.iter_mut().filter(|g| g.scope == workflow("neu", "mail")) {
        grant.role = "Logic App Operator".into();
        grant.actions = arm_support::LOGIC_APP_OPERATOR.iter().map(|a| a.to_string()).collect();
    }
    arm.enforce_access(grants);
    let ready = failover::ready(&plan, &api, deadline()).await;
    let failed: Vec<String> =
        ready.checks.iter().filter(|c| !c.ok).map(|c| format!("{} {:?}: {}", c.resource, c.copy, c.detail)).collect();
    assert!(
        failed.iter().any(|f| {
            f.starts_with(
            "mail Secondary: readable, Disabled; missing permission Microsoft.Logic/workflows/triggers/setState/action:"
        )
        }),
        "{failed:#?}"
    );

    // Without a token nothing can be read, and each line says so.
    let no_identity = ArmClient::new(arm.base_url(), reqwest::Client::new(), Err("no managed identity".into()));
    let ready = failover::ready(&plan, &no_identity, deadline()).await;
    assert!(ready.checks.iter().all(|c| c.detail == "no token for ARM: no managed identity"), "{ready}");
}

#[tokio::test]
async fn activation_standard_workflows_share_one_settings_write_per_site_through_a_restart() {
    let (arm, registry) = double().await;
    seed(&arm, "trafficManager");
    let plan = plan("trafficManager");
    let api = Watched::new(&arm, &registry);
    // Someone else wrote the primary site's settings a moment ago: it is restarting (and
    // answering writes with 409) when the fence comes.
    let primary_site = site("weu", "flows");
    let url = format!("{}{primary_site}/config/appsettings?api-version=2023-12-01", arm.base_url());
    let settings: serde_json::Map<String, Value> =
        arm.app_settings(&primary_site).unwrap().into_iter().map(|(k, v)| (k, json!(v))).collect();
    let token = registry.issue("https://management.azure.com", CLIENT_ID, Duration::from_secs(3600)).token;
    let outside = reqwest::Client::new()
        .put(url)
        .bearer_auth(token)
        .json(&json!({ "properties": settings }))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 202);
    arm.clear_calls();

    let report = failover::run(&plan, &api, &options(Direction::Failover, false, false, Duration::from_secs(20))).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", summary(&report));
    assert_eq!(states(&arm, "trafficManager"), AFTER);
    assert_eq!(api.violations(), Vec::<String>::new());
    // One settings write per site and phase, for both of its workflows, each confirmed through
    // the workflow's flowState once the restart was over; the restart's 409s were waited out.
    let puts = |status: u16| {
        arm.calls()
            .iter()
            .filter(|c| c.method == "PUT" && c.path.ends_with("/config/appsettings") && c.status == Some(status))
            .map(|c| c.path.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        puts(202),
        [format!("{primary_site}/config/appsettings"), format!("{}/config/appsettings", site("neu", "flows"))]
    );
    assert!(!puts(409).is_empty(), "the fence met the restart");
    for name in ["hook", "orders"] {
        let fence = report.actions.iter().find(|a| a.resource == name && a.phase == Stage::Fence).unwrap();
        assert!(fence.detail.contains("one settings write for 2 workflows"), "{fence}");
        assert!(fence.detail.ends_with("flowState now Disabled, confirmed"), "{fence}");
    }
}

/// The API Management instance of the APIM router tests and one of its backends.
fn apim_backend(name: &str) -> String {
    id("global", &format!("Microsoft.ApiManagement/service/apim-orders/backends/{name}"))
}

/// A request-triggered site behind an API Management backend (`pool` or `single`).
fn apim_plan(backend: &str) -> FailoverPlan {
    let text = json!({
        "version": 1,
        "name": "orders-apim",
        "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {"checks": [{"name": "dns", "dns": {"host": "example.net"}}]},
        "resources": [{"name": "api", "kind": "site", "trigger": "request", "role": "activePassive",
                       "primary": site("weu", "api"), "secondary": site("neu", "api")}],
        "router": {"kind": "apiManagement", "primary": apim_backend("orders-weu"),
                   "secondary": apim_backend("orders-neu"), "backend": apim_backend(backend)},
        "activation": {"fenceGraceMs": 1_800_000, "deadlineMs": 60_000}
    });
    FailoverPlan::from_json(&text.to_string()).expect("the APIM test plan is valid")
}

fn seed_apim(arm: &ArmDouble) {
    for (group, on) in [("weu", true), ("neu", false)] {
        arm.add_site(&site(group, "api"), if on { "Running" } else { "Stopped" });
        arm.add_api_management_backend(
            &apim_backend(&format!("orders-{group}")),
            &format!("https://api-{group}.example.net/api"),
        );
    }
    arm.add_api_management(
        &id("global", "Microsoft.ApiManagement/service/apim-orders"),
        "West Europe",
        &["North Europe"],
    );
    arm.add_api_management_pool(
        &apim_backend("orders"),
        &[(&apim_backend("orders-weu"), 1), (&apim_backend("orders-neu"), 2)],
    );
    arm.add_api_management_backend(&apim_backend("orders-single"), "https://api-weu.example.net/api");
}

/// The pool's members as `name:priority`, in order.
fn pool(arm: &ArmDouble) -> String {
    let pool = arm.resource(&apim_backend("orders")).expect("the pool");
    let services = pool["properties"]["pool"]["services"].as_array().expect("members").clone();
    services
        .iter()
        .map(|m| format!("{}:{}", m["id"].as_str().unwrap().rsplit('/').next().unwrap(), m["priority"]))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn activation_an_api_management_pool_fails_over_and_back() {
    let (arm, registry) = double().await;
    seed_apim(&arm);
    let plan = apim_plan("orders");
    let api = client(&arm, &registry);
    let (api, plan) = (&api, &plan);
    let run = |direction, practice| async move {
        failover::run(plan, api, &options(direction, practice, false, Duration::from_secs(20))).await
    };

    let ready = failover::ready(plan, api, Instant::now() + Duration::from_secs(5)).await;
    assert!(ready.ready, "{ready}");
    assert!(ready.to_string().contains("router instance secondary"), "{ready}");

    let practice = run(Direction::Failover, true).await;
    assert_eq!(practice.outcome, Outcome::Practiced, "{}", summary(&practice));
    assert_eq!(writes(&arm), Vec::<String>::new());
    assert_eq!(pool(&arm), "orders-weu:1 orders-neu:2");

    let report = run(Direction::Failover, false).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", summary(&report));
    assert_eq!(pool(&arm), "orders-weu:2 orders-neu:1");
    let route = report.actions.iter().find(|a| a.resource == "router").unwrap();
    assert_eq!((route.operation.as_str(), route.status), ("switchBackend", ActionStatus::Done));
    assert!(route.detail.ends_with("confirmed"), "{}", route.detail);
    // The write carried the ETag of its read: the PATCH was answered 200, not 400 or 412.
    let patches: Vec<_> = arm.calls().into_iter().filter(|c| c.method == "PATCH").collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].status, Some(200));
    assert_eq!(patches[0].api_version(), Some("2024-05-01"));

    arm.clear_calls();
    let again = run(Direction::Failover, false).await;
    assert_eq!(again.outcome, Outcome::Succeeded);
    assert_eq!(writes(&arm), Vec::<String>::new(), "a repeat writes nothing");

    let back = run(Direction::Failback, false).await;
    assert_eq!(back.outcome, Outcome::Succeeded, "{}", summary(&back));
    assert_eq!(pool(&arm), "orders-weu:1 orders-neu:2");
    assert_eq!(property(&arm, &site("weu", "api"), "properties.state"), "Running");

    // A pool without the secondary's backend is flagged before an outage, and not written.
    arm.add_api_management_pool(&apim_backend("orders"), &[(&apim_backend("orders-weu"), 1)]);
    let ready = failover::ready(plan, api, Instant::now() + Duration::from_secs(5)).await;
    assert!(!ready.ready);
    assert!(ready.to_string().contains("the pool does not contain the secondary's backend orders-neu"), "{ready}");
    arm.clear_calls();
    let refused = run(Direction::Failover, false).await;
    assert_eq!(refused.outcome, Outcome::Failed, "{}", summary(&refused));
    assert!(writes(&arm).iter().all(|w| !w.starts_with("PATCH")), "{:?}", writes(&arm));
}

#[tokio::test]
async fn activation_a_single_api_management_backend_takes_the_other_url() {
    let (arm, registry) = double().await;
    seed_apim(&arm);
    let plan = apim_plan("orders-single");
    let api = client(&arm, &registry);
    let url = || property(&arm, &apim_backend("orders-single"), "properties.url");
    let report = failover::run(&plan, &api, &options(Direction::Failover, false, false, Duration::from_secs(20))).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", summary(&report));
    assert_eq!(url(), "https://api-neu.example.net/api");
    let back = failover::run(&plan, &api, &options(Direction::Failback, false, false, Duration::from_secs(20))).await;
    assert_eq!(back.outcome, Outcome::Succeeded, "{}", summary(&back));
    assert_eq!(url(), "https://api-weu.example.net/api");
}
