//! A double of Azure Resource Manager (ARM) for the resource types the failover bundle touches.
//!
//! Requests need `Authorization: Bearer <token>` and a supported `api-version`, as in Azure.
//! Resource ids are case-insensitive; answers keep the casing a resource was created with.
//! Errors are ARM's `{"error": {"code", "message"}}`. Long-running operations answer 202 with
//! `Azure-AsyncOperation` and `Location` URLs on the double; the change happens when a poll
//! finds the operation done. What is simulated, with its api-versions, is the table in
//! `catalog.rs`; any other resource seeded with [`ArmDouble::put_resource`] can be read.
//!
//! Order of checks for each request: injected faults (other than `Accepted`), then
//! authentication, then the route and api-version, then the resource group and resource, then
//! the request body.

mod access;
mod catalog;
mod flows;
mod store;

pub use access::Grant;
pub use flows::{PollingTrigger, SourceItem, SourceReport};

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method};
use serde_json::{json, Value};
use tokio::sync::watch;
use warp::path::FullPath;
use warp::Filter;

use crate::answer::Answer;
use crate::lock;
use crate::server::{self, Server};
use crate::token::TokenRegistry;
use store::{Context, Request, Store};

/// How the ARM double behaves.
#[derive(Debug, Clone)]
pub struct ArmOptions {
    /// Where to check bearer tokens: only unexpired tokens issued for ARM by the identity double
    /// sharing this registry are accepted. `None` accepts any bearer token.
    pub tokens: Option<TokenRegistry>,
    /// When an operation that is long-running in Azure itself (a Front Door origin PATCH)
    /// completes: on its own clock (the default), or after a number of polls (a test device for
    /// exact call sequences).
    pub native_async: NativeAsync,
    /// `Retry-After` seconds sent with 202 answers and in-progress `Location` polls. `None`
    /// leaves the header out, so pollers fall back to their own interval.
    pub poll_retry_after_secs: Option<u64>,
    /// Most runs one page of a runs list holds when the request's `$top` does not say; further
    /// pages are reached through `nextLink`.
    pub runs_page_size: usize,
    /// How long an App Service site restarts after its app settings are written: it refuses
    /// writes meanwhile (409) and its workflows keep their old `flowState` until it is over.
    pub site_restart: Duration,
}

impl Default for ArmOptions {
    fn default() -> Self {
        Self {
            tokens: None,
            native_async: NativeAsync::After(Duration::from_millis(300)),
            poll_retry_after_secs: None,
            runs_page_size: 30,
            site_restart: Duration::from_millis(400),
        }
    }
}

/// When a natively long-running operation completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeAsync {
    /// This long after it was accepted, polled or not, as in Azure.
    After(Duration),
    /// After this many polls answered `InProgress`.
    AfterPolls(u32),
}

/// One request the ARM double received, with the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// HTTP method, upper case.
    pub method: String,
    /// Path as sent, without the query string.
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// The request body as text, if there was one.
    pub body: Option<String>,
    /// Client id of the identity whose token was used, when tokens are checked and it was valid.
    pub client_id: Option<String>,
    /// The status answered; `None` while the request is being answered or when it was hung.
    pub status: Option<u16>,
    /// When it arrived.
    pub at: DateTime<Utc>,
}

impl Call {
    /// The `api-version` query parameter.
    pub fn api_version(&self) -> Option<&str> {
        self.query.get("api-version").map(String::as_str)
    }
}

/// Which requests a fault applies to: an HTTP method (or any) and a piece of the path,
/// both compared ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    method: Option<String>,
    path_contains: String,
}

impl Matcher {
    /// Requests with this method whose path contains `path_contains`.
    pub fn new(method: &str, path_contains: &str) -> Self {
        Self { method: Some(method.to_ascii_uppercase()), path_contains: path_contains.to_ascii_lowercase() }
    }

    /// Requests of any method whose path contains `path_contains`.
    pub fn any_method(path_contains: &str) -> Self {
        Self { method: None, path_contains: path_contains.to_ascii_lowercase() }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.to_ascii_lowercase().contains(&self.path_contains)
    }
}

/// A misbehaviour of ARM, injected for the next matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` and error code `TooManyRequests`; nothing changes.
    Throttle {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// 500 with error code `InternalServerError`; nothing changes.
    ServerError,
    /// 409 with error code `AnotherOperationInProgress`; nothing changes.
    Conflict,
    /// 403 with error code `AuthorizationFailed`, as when the identity lacks a role; nothing
    /// changes.
    Forbidden,
    /// Waits this long, then answers normally.
    Slow(Duration),
    /// Never answers (until the double shuts down).
    Hang,
    /// A request that would change a resource answers 202 with polling URLs instead; the
    /// operation reports `InProgress` for `polls` polls, then `Succeeded`, and only then is the
    /// change applied. Requests that change nothing are not affected and do not use it up.
    Accepted {
        /// How many polls report `InProgress` before the operation succeeds.
        polls: u32,
    },
}

/// Items arriving on a shared source ([`ArmDouble::feed`]); they stop when this is stopped or
/// dropped.
#[derive(Debug)]
pub struct Feed {
    running: Arc<AtomicBool>,
}

impl Feed {
    pub fn stop(&self) {
        self.running.store(false, Ordering::SeqCst);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often the simulated Logic Apps runtime moves on by itself.
const RUNTIME_TICK: Duration = Duration::from_millis(25);

/// The running ARM double. Stops serving when dropped.
#[derive(Debug)]
pub struct ArmDouble {
    base_url: String,
    shared: Arc<Shared>,
    server: Server,
}

#[derive(Debug)]
struct Shared {
    options: ArmOptions,
    base_url: String,
    stop: watch::Receiver<bool>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    store: Store,
    injections: Vec<Injection>,
    calls: Vec<Call>,
    /// Calls removed by `clear_calls`, so an answer finds its call by arrival number.
    cleared_calls: usize,
    /// The role assignments every request is checked against, once enforced.
    access: Option<Vec<Grant>>,
}

#[derive(Debug)]
struct Injection {
    matcher: Matcher,
    fault: Fault,
    remaining: u32,
}

impl ArmDouble {
    /// Starts the double on a free loopback port.
    pub async fn start(options: ArmOptions) -> io::Result<Self> {
        let (listener, addr) = Server::bind().await?;
        let base_url = format!("http://{addr}");
        let (stop, stop_seen) = watch::channel(false);
        let shared = Arc::new(Shared {
            options,
            base_url: base_url.clone(),
            stop: stop_seen,
            state: Mutex::new(State::default()),
        });
        let handler_shared = Arc::clone(&shared);
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::query::<Vec<(String, String)>>())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                move |method: Method, path: FullPath, query: Vec<(String, String)>, headers: HeaderMap, body: Bytes| {
                    let shared = Arc::clone(&handler_shared);
                    async move {
                        let query = query.into_iter().collect();
                        shared.handle(method.as_str(), path.as_str(), query, &headers, body).await
                    }
                },
            )
            // Everything is matched above; what is left are requests warp could not read (a
            // query string that does not decode, say). Answer them in ARM's shape too.
            .recover(|rejection: warp::Rejection| async move {
                let answer = if rejection.is_not_found() {
                    Answer::arm_error(404, "NotFound", "No HTTP resource was found that matches the request.")
                } else {
                    Answer::arm_error(400, "BadRequest", format!("The request could not be read: {rejection:?}"))
                };
                Ok::<_, warp::Rejection>(answer.into_response())
            })
            .unify()
            .boxed();
        let server = Server::serve(listener, routes, stop);
        // The Logic Apps runtime runs on its own clock, whether anyone calls ARM or not.
        let runtime = Arc::downgrade(&shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RUNTIME_TICK);
            loop {
                tick.tick().await;
                let Some(shared) = runtime.upgrade() else { return };
                if *shared.stop.borrow() {
                    return;
                }
                lock(&shared.state).store.advance(Utc::now());
            }
        });
        Ok(Self { base_url, shared, server })
    }

    /// Where the double listens, e.g. `http://127.0.0.1:PORT`: use it in place of
    /// `https://management.azure.com`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The api-versions the double accepts for a resource type such as
    /// `Microsoft.Logic/workflows`, or `None` for a type it only reads (any well-formed version).
    pub fn supported_api_versions(resource_type: &str) -> Option<&'static [&'static str]> {
        catalog::api_versions(resource_type)
    }

    /// Creates or replaces a resource. `id`, `name` and `type` are filled in from `id` (a given
    /// `type` is kept). Also makes its resource group exist.
    pub fn put_resource(&self, id: &str, resource: Value) {
        lock(&self.shared.state).store.put_resource(id, resource);
    }

    /// The resource as it is now, if it exists.
    pub fn resource(&self, id: &str) -> Option<Value> {
        lock(&self.shared.state).store.resource(id)
    }

    /// Removes a resource (with its runs and app settings); returns it if it existed.
    pub fn remove_resource(&self, id: &str) -> Option<Value> {
        lock(&self.shared.state).store.remove_resource(id)
    }

    /// Seeds a Consumption Logic App workflow; `state` is `Enabled` or `Disabled`.
    pub fn add_logic_app(&self, id: &str, state: &str, location: &str) {
        let now = store::timestamp(Utc::now());
        self.put_resource(
            id,
            json!({
                "location": location,
                "tags": {},
                "properties": {
                    "provisioningState": "Succeeded",
                    "createdTime": now,
                    "changedTime": now,
                    "state": state,
                    "version": "08584000000000000000",
                    "accessEndpoint": format!(
                        "https://prod-00.{location}.logic.azure.com:443/workflows/{}",
                        uuid::Uuid::new_v4().simple()
                    ),
                    "definition": {
                        "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
                        "contentVersion": "1.0.0.0",
                        "parameters": {},
                        "triggers": {},
                        "actions": {},
                        "outputs": {}
                    },
                    "parameters": {}
                }
            }),
        );
    }

    /// Adds runs to a workflow, `statuses` listed newest first (the order the runs list
    /// returns them in), e.g. `["Failed", "Succeeded"]`. They are newer than the runs it had.
    /// `Running`, `Waiting` and `Suspended` runs have no end time.
    pub fn add_workflow_runs(&self, workflow_id: &str, statuses: &[&str]) {
        lock(&self.shared.state).store.add_workflow_runs(workflow_id, statuses, Utc::now());
    }

    /// Seeds an App Service site (also what a Logic Apps Standard app or a Function App is);
    /// `state` is `Running` or `Stopped`. It starts with no app settings.
    pub fn add_site(&self, id: &str, state: &str) {
        let name = id.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        let host = format!("{}.azurewebsites.net", name.to_ascii_lowercase());
        self.put_resource(
            id,
            json!({
                "kind": "app",
                "location": "West Europe",
                "properties": {
                    "name": name,
                    "state": state,
                    "enabled": true,
                    "availabilityState": "Normal",
                    "hostNames": [host],
                    "defaultHostName": host,
                }
            }),
        );
    }

    /// Declares a workflow of a Logic Apps Standard site (`add_site`): only declared workflows
    /// exist (`GET …/sites/{s}/workflows/{w}` answers 404 for any other, and
    /// `GET …/sites/{s}/workflows` lists them). A declared workflow runs while its site runs, is
    /// not restarting, and its `Workflows.<name>.FlowState` setting is not `Disabled`; its runs
    /// are read and cancelled through the site's host runtime
    /// (`…/hostruntime/runtime/webhooks/workflow/api/management/workflows/{w}/runs`).
    pub fn add_site_workflow(&self, site_id: &str, workflow: &str) {
        lock(&self.shared.state).store.add_site_workflow(site_id, workflow);
    }

    /// Gives a Consumption workflow a polling trigger with client-side state that reads the
    /// shared source `trigger.source`: while the workflow is enabled it fires one run per new
    /// item; see [`PollingTrigger`] and the runtime's rules in the README's table. A Standard
    /// workflow's id (`{site id}/workflows/{name}`, declared with `add_site_workflow`) takes one
    /// the same way.
    pub fn add_polling_trigger(&self, workflow_id: &str, trigger: PollingTrigger) {
        lock(&self.shared.state).store.add_polling_trigger(workflow_id, trigger, Utc::now());
    }

    /// Puts `count` new items on the shared source `source`; returns their ids.
    pub fn push_items(&self, source: &str, count: usize) -> Vec<u64> {
        lock(&self.shared.state).store.push_items(source, count, Utc::now())
    }

    /// The shared source as it stands now: every item and who processed it.
    pub fn source(&self, source: &str) -> Option<SourceReport> {
        lock(&self.shared.state).store.source(source, Utc::now())
    }

    /// Puts one new item on `source` every `every` (the first at once) until the feed is
    /// stopped or dropped: mail arriving all through a scenario.
    pub fn feed(self: &Arc<Self>, source: &str, every: Duration) -> Feed {
        let running = Arc::new(AtomicBool::new(true));
        let (arm, still, source) = (Arc::clone(self), Arc::clone(&running), source.to_owned());
        tokio::spawn(async move {
            while still.load(Ordering::SeqCst) {
                arm.push_items(&source, 1);
                tokio::time::sleep(every).await;
            }
        });
        Feed { running }
    }

    /// Waits until `source` has not changed for `quiet` (every run that can end has ended),
    /// polling four times per `quiet`, for at most `limit`; then the source as it stands, or
    /// `None` if it never settled or does not exist.
    pub async fn settled_source(&self, source: &str, quiet: Duration, limit: Duration) -> Option<SourceReport> {
        let poll = quiet / 4;
        let started = tokio::time::Instant::now();
        let mut last = self.source(source)?;
        let mut unchanged = Duration::ZERO;
        while started.elapsed() < limit {
            tokio::time::sleep(poll).await;
            let now = self.source(source)?;
            unchanged = if now == last { unchanged + poll } else { Duration::ZERO };
            if unchanged >= quiet {
                return Some(now);
            }
            last = now;
        }
        None
    }

    /// Takes a location's Logic Apps runtime down (`false`: nothing there polls, and runs stop
    /// where they are) or brings it back. Its control plane is not affected.
    pub fn set_runtime(&self, location: &str, up: bool) {
        lock(&self.shared.state).store.set_runtime(location, up);
    }

    /// Takes a location's control plane down (`false`: every request to a resource located there,
    /// and a `setState` whose source is there, answers 504) or brings it back. Its runtime is not
    /// affected.
    pub fn set_control_plane(&self, location: &str, up: bool) {
        lock(&self.shared.state).store.set_control_plane(location, up);
    }

    /// Replaces a site's app settings. For Logic Apps Standard, the setting
    /// `Workflows.<workflow>.FlowState` = `Disabled` turns a workflow off.
    pub fn set_app_settings<K, V>(&self, site_id: &str, settings: impl IntoIterator<Item = (K, V)>)
    where
        K: Into<String>,
        V: Into<String>,
    {
        let settings = settings.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        lock(&self.shared.state).store.set_app_settings(site_id, settings);
    }

    /// A site's app settings as they are now (empty for a site without any), or `None` if there
    /// is no such site.
    pub fn app_settings(&self, site_id: &str) -> Option<BTreeMap<String, String>> {
        lock(&self.shared.state).store.app_settings(site_id)
    }

    /// Seeds a Traffic Manager endpoint; the endpoint type (`azureEndpoints`,
    /// `externalEndpoints`, `nestedEndpoints`) comes from the id. `status` is `Enabled` or
    /// `Disabled`.
    pub fn add_traffic_manager_endpoint(&self, id: &str, status: &str) {
        let name = id.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        self.put_resource(
            id,
            json!({
                "properties": {
                    "endpointStatus": status,
                    "endpointMonitorStatus": "Online",
                    "target": format!("{}.example.net", name.to_ascii_lowercase()),
                    "weight": 1,
                    "priority": 1,
                }
            }),
        );
    }

    /// Seeds a Front Door (Standard/Premium) origin, enabled or not.
    pub fn add_front_door_origin(&self, id: &str, enabled: bool) {
        let segments: Vec<&str> = id.trim_end_matches('/').rsplit('/').collect();
        let name = segments.first().copied().unwrap_or_default();
        // .../originGroups/{group}/origins/{name}
        let group = segments.get(2).copied().unwrap_or_default();
        let host = format!("{}.example.net", name.to_ascii_lowercase());
        self.put_resource(
            id,
            json!({
                "properties": {
                    "hostName": host,
                    "httpPort": 80,
                    "httpsPort": 443,
                    "originHostHeader": host,
                    "priority": 1,
                    "weight": 1000,
                    "enabledState": if enabled { "Enabled" } else { "Disabled" },
                    "provisioningState": "Succeeded",
                    "deploymentStatus": "NotStarted",
                    "originGroupName": group,
                    "enforceCertificateNameCheck": true,
                }
            }),
        );
    }

    /// From now on, every request must be allowed by one of these role assignments (replacing
    /// any given before), as ARM checks RBAC before a request reaches its resource provider:
    /// its action, named from its method and path, must be in the caller's role at a scope that
    /// holds the path, operation-status URLs included. Refusals are ARM's `AuthorizationFailed`
    /// (403). Until this is called, any authenticated caller may do anything.
    pub fn enforce_access(&self, grants: impl IntoIterator<Item = Grant>) {
        lock(&self.shared.state).access = Some(grants.into_iter().collect());
    }

    /// Seeds an API Management instance in `location` with gateways also in
    /// `additional_locations` (a multi-region deployment: `properties.additionalLocations`).
    pub fn add_api_management(&self, id: &str, location: &str, additional_locations: &[&str]) {
        let name = id.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
        let additional: Vec<Value> = additional_locations
            .iter()
            .map(|l| {
                let code: String =
                    l.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
                json!({"location": l, "sku": {"name": "Premium", "capacity": 1},
                       "gatewayRegionalUrl": format!("https://{name}-{code}-01.regional.azure-api.net"),
                       "disableGateway": false})
            })
            .collect();
        self.put_resource(
            id,
            json!({
                "location": location,
                "sku": {"name": "Premium", "capacity": 1},
                "properties": {
                    "provisioningState": "Succeeded",
                    "gatewayUrl": format!("https://{name}.azure-api.net"),
                    "additionalLocations": additional,
                }
            }),
        );
    }

    /// Seeds a single API Management backend (`type: Single`) sending to `url`.
    pub fn add_api_management_backend(&self, id: &str, url: &str) {
        self.put_resource(id, json!({"properties": {"type": "Single", "url": url, "protocol": "http"}}));
    }

    /// Seeds an API Management pool backend whose members are these backend ids with these
    /// priorities (weight 1 each).
    pub fn add_api_management_pool(&self, id: &str, members: &[(&str, u32)]) {
        let services: Vec<Value> =
            members.iter().map(|(member, priority)| json!({"id": member, "priority": priority, "weight": 1})).collect();
        self.put_resource(id, json!({"properties": {"type": "Pool", "pool": {"services": services}}}));
    }

    /// Every request received since the start (or the last [`ArmDouble::clear_calls`]),
    /// in order of arrival.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.shared.state).calls.clone()
    }

    /// Forgets the calls recorded so far.
    pub fn clear_calls(&self) {
        let mut state = lock(&self.shared.state);
        state.cleared_calls += state.calls.len();
        state.calls.clear();
    }

    /// Makes the next `times` requests that `matcher` matches suffer `fault`. Injections are
    /// tried in the order they were made; each request uses up at most one.
    pub fn inject(&self, matcher: Matcher, fault: Fault, times: u32) {
        lock(&self.shared.state).injections.push(Injection { matcher, fault, remaining: times });
    }

    /// Drops every injected fault not yet used up.
    pub fn clear_faults(&self) {
        lock(&self.shared.state).injections.clear();
    }

    /// Stops serving, releases hung requests and waits until open connections are closed.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl Shared {
    async fn handle(
        &self,
        method: &str,
        path: &str,
        query: BTreeMap<String, String>,
        headers: &HeaderMap,
        body: Bytes,
    ) -> warp::reply::Response {
        let (arrival, fault) = {
            let mut state = lock(&self.state);
            let fault = take_fault(&mut state.injections, method, path, false);
            state.calls.push(Call {
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.clone(),
                body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
                client_id: None,
                status: None,
                at: Utc::now(),
            });
            (state.cleared_calls + state.calls.len() - 1, fault)
        };

        let early = match fault {
            None => None,
            Some(Fault::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                None
            }
            Some(Fault::Hang) => {
                server::stopped(self.stop.clone()).await;
                let answer =
                    Answer::arm_error(503, "ServiceUnavailable", "The simulated ARM endpoint is shutting down.");
                return answer.into_response();
            }
            Some(fault) => Some(fault_answer(&fault, method, path)),
        };

        let (answer, client_id) = match early {
            Some(answer) => (answer, None),
            None => {
                let authorization = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                let if_match = headers.get(http::header::IF_MATCH).and_then(|v| v.to_str().ok());
                let request = Request { method, path, query: &query, authorization, if_match, body: &body };
                let mut state = lock(&self.state);
                let State { store, injections, access, .. } = &mut *state;
                let context = Context {
                    tokens: self.options.tokens.as_ref(),
                    access: access.as_deref(),
                    native_async: self.options.native_async,
                    poll_retry_after_secs: self.options.poll_retry_after_secs,
                    runs_page_size: self.options.runs_page_size,
                    site_restart: chrono::TimeDelta::from_std(self.options.site_restart).unwrap_or_default(),
                    base_url: &self.base_url,
                    now: Utc::now(),
                };
                let mut accepted = || match take_fault(injections, method, path, true) {
                    Some(Fault::Accepted { polls }) => Some(polls),
                    _ => None,
                };
                store.handle(&request, &context, &mut accepted)
            }
        };

        let answer = answer
            .with_header("x-ms-request-id", uuid::Uuid::new_v4().to_string())
            .with_header("x-ms-correlation-request-id", uuid::Uuid::new_v4().to_string());
        {
            let mut state = lock(&self.state);
            if let Some(index) = arrival.checked_sub(state.cleared_calls) {
                if let Some(call) = state.calls.get_mut(index) {
                    call.status = Some(answer.status);
                    call.client_id = client_id;
                }
            }
        }
        tracing::debug!(method, path, status = answer.status, "simulated ARM answered");
        answer.into_response()
    }
}

/// Uses up the first injection that matches the request: one for `Accepted` when `accepted` is
/// true (the request is about to change something), any other kind otherwise.
fn take_fault(injections: &mut Vec<Injection>, method: &str, path: &str, accepted: bool) -> Option<Fault> {
    let index = injections.iter().position(|injection| {
        injection.remaining > 0
            && matches!(injection.fault, Fault::Accepted { .. }) == accepted
            && injection.matcher.matches(method, path)
    })?;
    let injection = &mut injections[index];
    injection.remaining -= 1;
    let fault = injection.fault.clone();
    if injection.remaining == 0 {
        injections.remove(index);
    }
    Some(fault)
}

fn fault_answer(fault: &Fault, method: &str, path: &str) -> Answer {
    match fault {
        Fault::Throttle { retry_after_secs } => Answer::arm_error(
            429,
            "TooManyRequests",
            format!("The request is being throttled. Please try again after '{retry_after_secs}' seconds."),
        )
        .with_header("retry-after", retry_after_secs.to_string()),
        Fault::ServerError => {
            Answer::arm_error(500, "InternalServerError", "Encountered internal server error. Please try again later.")
        }
        Fault::Conflict => Answer::arm_error(
            409,
            "AnotherOperationInProgress",
            format!("Another operation is in progress on the resource '{path}'. Please retry later."),
        ),
        // Injected before the caller is known: ARM's message names the caller's object id.
        Fault::Forbidden => {
            access::refusal("00000000-0000-0000-0000-000000000000", &access::action(method, path), path)
        }
        // Handled before an answer is needed.
        Fault::Slow(_) | Fault::Hang | Fault::Accepted { .. } => Answer::empty(500),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injections_are_used_in_order_and_by_kind() {
        let mut injections = vec![
            Injection { matcher: Matcher::new("post", "/DISABLE"), fault: Fault::Accepted { polls: 2 }, remaining: 1 },
            Injection { matcher: Matcher::any_method("/disable"), fault: Fault::ServerError, remaining: 1 },
        ];
        let path = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/wf/disable";
        assert_eq!(take_fault(&mut injections, "POST", path, false), Some(Fault::ServerError));
        assert_eq!(take_fault(&mut injections, "POST", path, false), None);
        assert_eq!(take_fault(&mut injections, "GET", path, true), None);
        assert_eq!(take_fault(&mut injections, "POST", path, true), Some(Fault::Accepted { polls: 2 }));
        assert!(injections.is_empty());
    }
}
