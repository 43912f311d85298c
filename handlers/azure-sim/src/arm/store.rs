//! ARM's state and its handling of one request: authentication, routing through the catalog,
//! api-version checks, the operations themselves and long-running operations.
//!
//! Everything here is synchronous and clock-free (time comes in as `Context::now`); the HTTP
//! server, fault injection and the call log live in the module above.
//!
//! Longer than most files on purpose: one request's whole path through ARM (authentication,
//! routing, api-version, the operation, its long-running tail) reads in order in one place, and
//! the resource shapes it routes by live in `catalog.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Map, Value};

use super::access::{self, Grant};
use super::catalog::{self, EnumCheck, OpKind, ResourceKind, KINDS};
use super::flows::{self, run_document, Flows, PollingTrigger, RunFilter, SourceReport, WorkflowView};
use crate::answer::Answer;
use crate::token::{TokenRegistry, TokenRejection};

/// The audiences ARM accepts tokens for (Entra ID compares them ignoring a trailing slash).
const ARM_AUDIENCES: &[&str] = &["https://management.azure.com", "https://management.core.windows.net"];

/// One request, as the store needs it.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a BTreeMap<String, String>,
    pub authorization: Option<&'a str>,
    /// The `If-Match` header.
    pub if_match: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the store needs to know besides its own state.
pub(crate) struct Context<'a> {
    /// `None` accepts any bearer token.
    pub tokens: Option<&'a TokenRegistry>,
    /// The role assignments requests are checked against; `None` allows every caller anything.
    pub access: Option<&'a [Grant]>,
    /// When a natively long-running operation completes.
    pub native_async: super::NativeAsync,
    pub poll_retry_after_secs: Option<u64>,
    /// Most runs one page of WorkflowRuns_List holds when `$top` does not say.
    pub runs_page_size: usize,
    /// How long a site restarts after its app settings are written.
    pub site_restart: TimeDelta,
    /// Where the double listens, for the polling URLs it hands out.
    pub base_url: &'a str,
    pub now: DateTime<Utc>,
}

/// The simulated resources and the operations in flight.
#[derive(Debug, Default)]
pub(crate) struct Store {
    data: Data,
    operations: HashMap<String, PendingOperation>,
}

/// Resources and what hangs off them, keyed by lowercased resource id: ARM ids are
/// case-insensitive, but answers carry the casing the resource was created with.
#[derive(Debug, Default)]
struct Data {
    resources: HashMap<String, Value>,
    groups: HashSet<String>,
    app_settings: HashMap<String, BTreeMap<String, String>>,
    /// The Logic Apps runtime: runs, polling triggers, shared sources.
    flows: Flows,
    /// Locations (as `flows::location_key`) whose control plane does not answer.
    control_plane_down: HashSet<String>,
    /// Sites restarting, until when.
    restarting: HashMap<String, DateTime<Utc>>,
    /// The app settings a site's running instances use: a written set takes effect only when
    /// the restart it causes is over.
    live_settings: HashMap<String, BTreeMap<String, String>>,
    /// Long-running operations started, to alternate the two header forms a 202 comes in.
    started_operations: u64,
    /// The workflows of each Logic Apps Standard site (by site key), as named.
    site_workflows: HashMap<String, Vec<String>>,
    /// How many times each resource was written, for the ETags of the types that have them.
    versions: HashMap<String, u64>,
}

/// A change to the resources, applied at once or when its long-running operation completes.
#[derive(Debug, Clone)]
enum Mutation {
    SetProperty { key: String, property: &'static str, value: &'static str },
    Patch { key: String, patch: Value },
    Put { key: String, resource: Value },
    AppSettings { key: String, settings: BTreeMap<String, String> },
}

#[derive(Debug)]
struct PendingOperation {
    name: String,
    /// Where its status and result live, as the request spelled it (see [`OperationUrls`]).
    urls: OperationUrls,
    api_version: String,
    polls: u32,
    seen: u32,
    mutation: Mutation,
    done: bool,
    /// The body the final Location poll answers with, once done.
    result: Option<Value>,
    started: DateTime<Utc>,
    ended: Option<DateTime<Utc>>,
    /// Completes on its own clock at this time (polled or not), rather than after `polls`.
    ready_at: Option<DateTime<Utc>>,
    /// The resource it changes, which takes no other write until it is done.
    resource: String,
}

/// Where a provider puts a long-running operation's status (the `Azure-AsyncOperation` URL)
/// and result (the `Location` URL). Microsoft.Web keeps them under the site
/// (`sites/{s}/operations/{id}`, `sites/{s}/operationresults/{id}`: the actions
/// `Microsoft.Web/sites/operations/read` and `.../operationresults/read`, which a role on the
/// site holds); other providers at their resource group's provider scope
/// (`providers/{namespace}/operationStatuses/{id}`, `.../operationResults/{id}`), outside a role
/// held on one resource.
#[derive(Debug)]
struct OperationUrls {
    scope: String,
    status: &'static str,
    result: &'static str,
}

impl OperationUrls {
    const STATUS: &'static [&'static str] = &["operationStatuses", "operations"];
    const RESULT: &'static [&'static str] = &["operationResults"];

    fn of(resource_segments: &[&str]) -> Self {
        if resource_segments[5].eq_ignore_ascii_case("Microsoft.Web") && resource_segments.len() >= 8 {
            Self {
                scope: format!("/{}", resource_segments[..8].join("/")),
                status: "operations",
                result: "operationresults",
            }
        } else {
            Self {
                scope: format!("/{}", resource_segments[..6].join("/")),
                status: "operationStatuses",
                result: "operationResults",
            }
        }
    }

    fn status(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.scope, self.status)
    }

    fn result(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.scope, self.result)
    }
}

/// How a write is answered.
#[derive(Debug, Clone, Copy)]
enum Completion {
    /// At once, 200 or 201.
    Now,
    /// 202; done after this many polls (a fault, or a test device).
    AfterPolls(u32),
    /// 202; done at this time whoever polls. `location_only`: the 202 carries `Location` and
    /// no `Azure-AsyncOperation`, one of the two forms Microsoft.Web answers in.
    At { ready: DateTime<Utc>, location_only: bool },
}

impl Store {
    /// Handles one request. `accepted` is asked, only when the request would change something,
    /// whether a fault turns it into a 202 that needs that many polls. Returns the answer and the
    /// client id of the identity whose token was used, when known.
    pub fn handle(
        &mut self,
        request: &Request<'_>,
        context: &Context<'_>,
        accepted: &mut dyn FnMut() -> Option<u32>,
    ) -> (Answer, Option<String>) {
        self.advance(context.now);
        let client_id = match authenticate(request.authorization, context) {
            Ok(client_id) => client_id,
            Err(answer) => return (answer, None),
        };
        // ARM checks the caller's roles before the request reaches its resource provider, so a
        // refusal comes first, whether or not the resource exists.
        if let Some(grants) = context.access {
            if let Err(answer) = access::authorize(grants, client_id.as_deref(), request.method, request.path) {
                return (answer, client_id);
            }
        }
        let api_version = request.query.get("api-version").map(String::as_str);
        if let Some(answer) =
            access::permissions(context.access, client_id.as_deref(), request.method, request.path, api_version)
        {
            return (answer, client_id);
        }
        (self.route(request, context, accepted), client_id)
    }

    fn route(
        &mut self,
        request: &Request<'_>,
        context: &Context<'_>,
        accepted: &mut dyn FnMut() -> Option<u32>,
    ) -> Answer {
        let segments: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
        if !is_provider_path(&segments) {
            return path_not_found(request);
        }
        if let Some(answer) = self.poll(request, &segments, context) {
            return answer;
        }
        if let Some(answer) = self.data.control_plane_outage(&segments) {
            return answer;
        }
        let resolved = resolve(&segments);
        let operation = resolved.and_then(|(kind, id_len)| {
            let suffix = &segments[id_len..];
            kind.operations
                .iter()
                .find(|op| {
                    op.method.eq_ignore_ascii_case(request.method)
                        && op.suffix.len() == suffix.len()
                        && op.suffix.iter().zip(suffix).all(|(a, b)| *a == "{}" || a.eq_ignore_ascii_case(b))
                })
                .map(|op| (kind, id_len, op.kind))
        });
        let (kind, id_len, op) = match (operation, resolved) {
            (Some(found), _) => found,
            // Any seeded resource can be read, whatever its type.
            (None, _) if request.method == "GET" && segments.len().is_multiple_of(2) => {
                return self.read(request, &segments, None);
            }
            (None, Some((kind, id_len))) if id_len == segments.len() => {
                let allowed: Vec<&str> =
                    kind.operations.iter().filter(|op| op.suffix.is_empty()).map(|op| op.method).collect();
                return Answer::arm_error(
                    405,
                    "MethodNotAllowed",
                    format!(
                        "The requested resource does not support http method '{}'. The simulated methods for '{}' are '{}'.",
                        request.method,
                        kind.type_name,
                        allowed.join(", ")
                    ),
                );
            }
            (None, _) => return path_not_found(request),
        };
        let resource_segments = &segments[..id_len];
        let api_version = match check_api_version(request.query, kind.type_name) {
            Ok(version) => version,
            Err(answer) => return answer,
        };
        let key = resource_key(resource_segments);
        if op.writes() {
            if let Some(answer) = self.busy(&key, kind, context.now) {
                return answer;
            }
        }
        if !kind.entity_tags {
            return self.operate(op, request, &segments, id_len, kind, &api_version, context, accepted);
        }
        // Types with entity tags: writes name the version they change, answers carry it.
        if let Err(answer) = self.data.precondition(&key, request, op) {
            return answer;
        }
        if kind.type_name == catalog::API_MANAGEMENT_BACKENDS && matches!(op, OpKind::Patch { .. } | OpKind::Put { .. })
        {
            if let Err(answer) = self.data.check_backend(resource_segments, request.body) {
                return answer;
            }
        }
        let answer = self.operate(op, request, &segments, id_len, kind, &api_version, context, accepted);
        if (200..300).contains(&answer.status) && segments.len() == id_len {
            let etag = self.data.etag(&key);
            return answer.with_header("etag", etag);
        }
        answer
    }

    /// One operation of the catalog on the resource `segments[..id_len]`.
    #[allow(clippy::too_many_arguments)]
    fn operate(
        &mut self,
        op: OpKind,
        request: &Request<'_>,
        segments: &[&str],
        id_len: usize,
        kind: &ResourceKind,
        api_version: &str,
        context: &Context<'_>,
        accepted: &mut dyn FnMut() -> Option<u32>,
    ) -> Answer {
        let resource_segments = &segments[..id_len];
        let key = resource_key(resource_segments);
        let api_version = api_version.to_owned();
        match op {
            OpKind::Get => self.read(request, segments, Some(kind)),
            OpKind::NoGet => Answer::raw(
                405,
                "application/xml; charset=utf-8",
                "<Error><Message>The requested resource does not support http method 'GET'.</Message></Error>",
            )
            .with_header("allow", "PUT"),
            OpKind::GetSiteWorkflow => match self.data.find_site_workflow(resource_segments, segments[id_len + 1]) {
                Ok((site, workflow)) => Answer::json(200, self.data.site_workflow(&key, site, &workflow)),
                Err(answer) => answer,
            },
            OpKind::ListSiteWorkflows => match self.data.find(resource_segments) {
                Ok(site) => {
                    let names = self.data.site_workflows.get(&key).cloned().unwrap_or_default();
                    let value: Vec<Value> = names.iter().map(|w| self.data.site_workflow(&key, site, w)).collect();
                    Answer::json(200, json!({ "value": value }))
                }
                Err(answer) => answer,
            },
            OpKind::ListSiteRuns | OpKind::GetSiteRun | OpKind::CancelSiteRun => {
                let (site, workflow) = match self.data.find_site_workflow(resource_segments, segments[id_len + 7]) {
                    Ok((site, workflow)) => (site.clone(), workflow),
                    Err(answer) => return answer,
                };
                let site_id = site["id"].as_str().unwrap_or_default();
                // The run documents' workflow: the Standard workflow under the host runtime.
                let view = json!({
                    "id": format!("{site_id}/hostruntime/runtime/webhooks/workflow/api/management/workflows/{workflow}"),
                    "name": workflow,
                });
                let runs_key = site_workflow_key(&key, &workflow);
                match op {
                    OpKind::ListSiteRuns => self.list_runs(request, &view, &runs_key, &api_version, context),
                    _ => self.run_operation(op, &view, &runs_key, segments[id_len + 9], &workflow, context),
                }
            }
            OpKind::SetProperty { property, value } => {
                if let Err(answer) = self.data.find(resource_segments) {
                    return answer;
                }
                let mutation = Mutation::SetProperty { key, property, value };
                self.commit(mutation, Completion::Now, resource_segments, &api_version, context, accepted)
            }
            OpKind::ListRuns => match self.data.find(resource_segments) {
                Ok(workflow) => {
                    let workflow = workflow.clone();
                    self.list_runs(request, &workflow, &key, &api_version, context)
                }
                Err(answer) => answer,
            },
            OpKind::GetRun | OpKind::CancelRun => {
                let workflow = match self.data.find(resource_segments) {
                    Ok(workflow) => workflow.clone(),
                    Err(answer) => return answer,
                };
                self.run_operation(op, &workflow, &key, segments[id_len + 1], resource_segments[7], context)
            }
            OpKind::ListTriggers => match self.data.find(resource_segments) {
                Ok(workflow) => {
                    let value: Vec<Value> = self.data.flows.trigger_document(&key, workflow).into_iter().collect();
                    Answer::json(200, json!({ "value": value }))
                }
                Err(answer) => answer,
            },
            OpKind::GetTrigger | OpKind::ResetTrigger | OpKind::SetTriggerState => {
                self.trigger_operation(op, request, segments, id_len, context)
            }
            OpKind::ListAppSettings => match self.data.find(resource_segments) {
                Ok(_) => Answer::json(200, self.data.app_settings_document(&key)),
                Err(answer) => answer,
            },
            OpKind::ReplaceAppSettings => {
                if let Err(answer) = self.data.find(resource_segments) {
                    return answer;
                }
                let settings = match parse_object(request.body).and_then(|body| app_settings(&body)) {
                    Ok(settings) => settings,
                    Err(answer) => return answer,
                };
                let mutation = Mutation::AppSettings { key: key.clone(), settings };
                // From 2023-12-01 the write is declared long-running: it ends when the restart
                // it causes is over, answering 202 with `Location` alone or with
                // `Azure-AsyncOperation` too. Before, it answers 200 and the site restarts after.
                let ready = context.now + context.site_restart;
                let completion = if api_version.as_str() >= "2023-12-01" {
                    self.data.started_operations += 1;
                    Completion::At { ready, location_only: self.data.started_operations % 2 == 1 }
                } else {
                    self.data.restart_site(&key, ready);
                    Completion::Now
                };
                self.commit(mutation, completion, resource_segments, &api_version, context, accepted)
            }
            OpKind::Patch { checks, asynchronous } => {
                if let Err(answer) = self.data.find(resource_segments) {
                    return answer;
                }
                let patch = match parse_object(request.body).and_then(|b| check_enums(b, checks)) {
                    Ok(patch) => patch,
                    Err(answer) => return answer,
                };
                let mutation = Mutation::Patch { key, patch };
                let completion = match (asynchronous, context.native_async) {
                    (false, _) => Completion::Now,
                    (true, super::NativeAsync::AfterPolls(polls)) => Completion::AfterPolls(polls),
                    (true, super::NativeAsync::After(after)) => Completion::At {
                        ready: context.now + TimeDelta::from_std(after).unwrap_or_default(),
                        location_only: false,
                    },
                };
                self.commit(mutation, completion, resource_segments, &api_version, context, accepted)
            }
            OpKind::Put { checks } => {
                if let Err(answer) = self.data.find_group(resource_segments) {
                    return answer;
                }
                let body = match parse_object(request.body).and_then(|b| check_enums(b, checks)) {
                    Ok(body) => body,
                    Err(answer) => return answer,
                };
                let resource = normalize(&format!("/{}", resource_segments.join("/")), body);
                let mutation = Mutation::Put { key, resource };
                self.commit(mutation, Completion::Now, resource_segments, &api_version, context, accepted)
            }
        }
    }

    fn read(&self, request: &Request<'_>, segments: &[&str], kind: Option<&ResourceKind>) -> Answer {
        // For a type the catalog knows, its versions were checked by the caller already.
        if kind.is_none() {
            if let Err(answer) = check_api_version(request.query, &resource_type(segments)) {
                return answer;
            }
        }
        match self.data.find(segments) {
            Ok(resource) => Answer::json(200, resource.clone()),
            Err(answer) => answer,
        }
    }

    /// Applies `mutation` now, or starts a long-running operation for it when the operation is
    /// asynchronous in the real service or a fault asks for a 202.
    fn commit(
        &mut self,
        mutation: Mutation,
        completion: Completion,
        resource_segments: &[&str],
        api_version: &str,
        context: &Context<'_>,
        accepted: &mut dyn FnMut() -> Option<u32>,
    ) -> Answer {
        let completion = match accepted() {
            Some(polls) => Completion::AfterPolls(polls),
            None => completion,
        };
        let (polls, ready_at, location_only) = match completion {
            Completion::Now => (None, None, false),
            Completion::AfterPolls(polls) => (Some(polls), None, false),
            Completion::At { ready, location_only } => (Some(u32::MAX), Some(ready), location_only),
        };
        let Some(polls) = polls else {
            let created = matches!(&mutation, Mutation::Put { key, .. } if !self.data.resources.contains_key(key));
            return match self.data.apply(&mutation, context.now) {
                Some(body) => Answer::json(if created { 201 } else { 200 }, body),
                None => Answer::empty(200),
            };
        };

        let name = uuid::Uuid::new_v4().to_string();
        let urls = OperationUrls::of(resource_segments);
        let status_url = format!("{}{}?api-version={api_version}", context.base_url, urls.status(&name));
        let location_url = format!("{}{}?api-version={api_version}", context.base_url, urls.result(&name));
        let preview = self.data.preview(&mutation);
        self.data.mark_updating(&mutation);
        self.operations.insert(
            name.clone(),
            PendingOperation {
                name,
                urls,
                api_version: api_version.to_owned(),
                polls,
                seen: 0,
                mutation,
                done: false,
                result: None,
                started: context.now,
                ended: None,
                ready_at,
                resource: resource_key(resource_segments),
            },
        );
        let mut answer = match preview {
            Some(body) => Answer::json(202, body),
            None => Answer::empty(202),
        };
        if !location_only {
            answer = answer.with_header("azure-asyncoperation", status_url);
        }
        answer = answer.with_header("location", location_url);
        if let Some(seconds) = context.poll_retry_after_secs {
            answer = answer.with_header("retry-after", seconds.to_string());
        }
        answer
    }

    /// Answers a GET of an operation's status (`operationStatuses/{id}`, the
    /// `Azure-AsyncOperation` URL) or result (`operationResults/{id}`, the `Location` URL).
    /// Each such GET counts as one poll; the change is applied on the first poll after the
    /// in-progress ones.
    fn poll(&mut self, request: &Request<'_>, segments: &[&str], context: &Context<'_>) -> Option<Answer> {
        let [.., collection, name] = segments else {
            return None;
        };
        let is_status = OperationUrls::STATUS.iter().any(|c| c.eq_ignore_ascii_case(collection));
        if !is_status && !OperationUrls::RESULT.iter().any(|c| c.eq_ignore_ascii_case(collection)) {
            return None;
        }
        if request.method != "GET" {
            return Some(path_not_found(request));
        }
        let Some(operation) = self.operations.get_mut(&name.to_ascii_lowercase()) else {
            return Some(Answer::arm_error(404, "NotFound", format!("The operation '{name}' was not found.")));
        };
        // Operation URLs are not resources of a catalog type: any well-formed version will do
        // (the double hands out the caller's own).
        let operations_type = format!("{}/operations", segments[5]);
        if let Err(answer) = check_api_version(request.query, &operations_type) {
            return Some(answer);
        }
        operation.seen += 1;
        if !operation.done && operation.ready_at.is_none() && operation.seen > operation.polls {
            operation.result = self.data.apply(&operation.mutation, context.now);
            operation.done = true;
            operation.ended = Some(context.now);
        }
        let answer = if is_status {
            let mut body = json!({
                "id": operation.urls.status(&operation.name),
                "name": operation.name,
                "status": if operation.done { "Succeeded" } else { "InProgress" },
                "startTime": timestamp(operation.started),
            });
            if let Some(ended) = operation.ended {
                body["endTime"] = json!(timestamp(ended));
            }
            Answer::json(200, body)
        } else if operation.done {
            match &operation.result {
                Some(body) => Answer::json(200, body.clone()),
                None => Answer::empty(204),
            }
        } else {
            let mut answer = Answer::empty(202).with_header(
                "location",
                format!(
                    "{}{}?api-version={}",
                    context.base_url,
                    operation.urls.result(&operation.name),
                    operation.api_version
                ),
            );
            if let Some(seconds) = context.poll_retry_after_secs {
                answer = answer.with_header("retry-after", seconds.to_string());
            }
            answer
        };
        Some(answer)
    }

    /// WorkflowRuns_List: newest first, `$filter` on status and start time, pages of `$top` (or
    /// the double's page size) linked by `nextLink`.
    fn list_runs(
        &self,
        request: &Request<'_>,
        workflow: &Value,
        key: &str,
        api_version: &str,
        context: &Context<'_>,
    ) -> Answer {
        let page = match request.query.get("$top") {
            None => context.runs_page_size.max(1),
            Some(top) => match top.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Answer::arm_error(
                        400,
                        "BadRequest",
                        format!("The value '{top}' of query parameter '$top' is not a positive integer."),
                    )
                }
            },
        };
        let filter = match request.query.get("$filter") {
            None => RunFilter::default(),
            Some(filter) => match RunFilter::parse(filter) {
                Some(filter) => filter,
                None => {
                    return Answer::arm_error(
                        400,
                        "InvalidFilterExpression",
                        format!("The filter expression '{filter}' is not valid: it may combine with 'and' only \"status eq '<status>'\" and \"startTime ge|gt|le|lt <time>\"."),
                    )
                }
            },
        };
        let skip = match request.query.get("$skiptoken").map(|t| t.parse::<usize>()) {
            None => 0,
            Some(Ok(skip)) => skip,
            Some(Err(_)) => return Answer::arm_error(400, "InvalidSkipToken", "The skip token is not valid."),
        };
        let runs = self.data.flows.runs.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let matching: Vec<_> = runs.iter().filter(|run| filter.matches(run)).collect();
        let value: Vec<Value> = matching.iter().skip(skip).take(page).map(|run| run_document(workflow, run)).collect();
        let mut body = json!({ "value": value });
        if skip + page < matching.len() {
            let mut link = format!(
                "{}{}?api-version={api_version}&$top={page}&$skiptoken={}",
                context.base_url,
                request.path,
                skip + page
            );
            if let Some(filter) = request.query.get("$filter") {
                link.push_str(&format!("&$filter={}", encode_query_value(filter)));
            }
            body["nextLink"] = json!(link);
        }
        Answer::json(200, body)
    }

    /// WorkflowRuns_Get and WorkflowRuns_Cancel, of a Consumption workflow or (through the host
    /// runtime) a Standard one: `key` names its runs, `workflow` is shown in the run's document.
    fn run_operation(
        &mut self,
        op: OpKind,
        workflow: &Value,
        key: &str,
        name: &str,
        workflow_name: &str,
        context: &Context<'_>,
    ) -> Answer {
        let Some(run) = self.data.flows.run(key, name) else {
            return Answer::arm_error(
                404,
                "WorkflowRunNotFound",
                format!("The workflow '{workflow_name}' run '{name}' could not be found."),
            );
        };
        if matches!(op, OpKind::GetRun | OpKind::GetSiteRun) {
            return Answer::json(200, run_document(workflow, run));
        }
        match self.data.flows.cancel(key, name, context.now) {
            Some(true) => Answer::empty(200),
            _ => Answer::arm_error(
                409,
                "WorkflowRunNotInProgress",
                format!("The workflow run '{name}' cannot be cancelled: it is not in progress."),
            ),
        }
    }

    /// WorkflowTriggers_Get, WorkflowTriggers_Reset and WorkflowTriggers_SetState. The double
    /// resets or copies trigger state only while the workflow is disabled (the stricter reading:
    /// the service documents these for a stopped copy).
    fn trigger_operation(
        &mut self,
        op: OpKind,
        request: &Request<'_>,
        segments: &[&str],
        id_len: usize,
        context: &Context<'_>,
    ) -> Answer {
        let workflow_segments = &segments[..id_len];
        let key = resource_key(workflow_segments);
        let workflow = match self.data.find(workflow_segments) {
            Ok(workflow) => workflow.clone(),
            Err(answer) => return answer,
        };
        let name = segments[id_len + 1];
        let not_found = |workflow: &str, trigger: &str| {
            Answer::arm_error(
                404,
                "WorkflowTriggerNotFound",
                format!("The workflow '{workflow}' trigger '{trigger}' could not be found."),
            )
        };
        if !self.data.flows.trigger_name(&key).is_some_and(|t| t.eq_ignore_ascii_case(name)) {
            return not_found(workflow_segments[7], name);
        }
        if matches!(op, OpKind::GetTrigger) {
            return match self.data.flows.trigger_document(&key, &workflow) {
                Some(document) => Answer::json(200, document),
                None => not_found(workflow_segments[7], name),
            };
        }
        if !workflow["properties"]["state"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("Disabled")) {
            return Answer::arm_error(
                409,
                "WorkflowTriggerStateChangeNotAllowed",
                format!(
                    "The state of trigger '{name}' can be changed only while workflow '{}' is disabled.",
                    workflow_segments[7]
                ),
            );
        }
        if matches!(op, OpKind::ResetTrigger) {
            self.data.flows.reset(&key, context.now);
            return Answer::empty(200);
        }
        // {"source": {"id": ".../workflows/{w}/triggers/{t}"}}
        let body = match parse_object(request.body) {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        let Some(source) = body["source"]["id"].as_str() else {
            return Answer::arm_error(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: 'source.id is required'.",
            );
        };
        let source_segments: Vec<&str> = source.split('/').filter(|s| !s.is_empty()).collect();
        let source_is_trigger = source_segments.len() == 10
            && is_provider_path(&source_segments)
            && source_segments[8].eq_ignore_ascii_case("triggers");
        if !source_is_trigger {
            return Answer::arm_error(
                400,
                "InvalidTriggerReference",
                format!("The source trigger id '{source}' is not a workflow trigger id."),
            );
        }
        if let Some(answer) = self.data.control_plane_outage(&source_segments) {
            return answer;
        }
        let source_key = resource_key(&source_segments[..8]);
        if !self.data.flows.trigger_name(&source_key).is_some_and(|t| t.eq_ignore_ascii_case(source_segments[9])) {
            return not_found(source_segments[7], source_segments[9]);
        }
        self.data.flows.copy_state(&key, &source_key, context.now);
        Answer::empty(200)
    }

    pub fn put_resource(&mut self, id: &str, resource: Value) {
        self.data.put_resource(id, resource);
    }

    pub fn resource(&self, id: &str) -> Option<Value> {
        self.data.resources.get(&id_key(id)).cloned()
    }

    pub fn remove_resource(&mut self, id: &str) -> Option<Value> {
        let key = id_key(id);
        self.data.flows.remove(&key);
        self.data.live_settings.remove(&key);
        self.data.restarting.remove(&key);
        self.data.app_settings.remove(&key);
        self.data.resources.remove(&key)
    }

    /// Declares a workflow of a Logic Apps Standard site.
    pub fn add_site_workflow(&mut self, site_id: &str, workflow: &str) {
        let names = self.data.site_workflows.entry(id_key(site_id)).or_default();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(workflow)) {
            names.push(workflow.to_owned());
        }
    }

    /// Adds runs to a workflow, `statuses` newest first; they are newer than any runs it has.
    pub fn add_workflow_runs(&mut self, workflow_id: &str, statuses: &[&str], now: DateTime<Utc>) {
        self.data.flows.add_runs(&id_key(workflow_id), statuses, now);
    }

    pub fn add_polling_trigger(&mut self, workflow_id: &str, trigger: PollingTrigger, now: DateTime<Utc>) {
        let key = id_key(workflow_id);
        if let Some(definition) = self.data.resources.get_mut(&key).and_then(|w| w["properties"].get_mut("definition"))
        {
            definition["triggers"] = json!({
                trigger.name.clone(): {
                    "type": "ApiConnection",
                    "recurrence": {"frequency": "Second", "interval": trigger.interval.as_secs().max(1)},
                    "splitOn": "@triggerBody()?['value']",
                    "inputs": {"method": "get", "path": format!("/{}/items", trigger.source)},
                }
            });
        }
        self.data.flows.add_trigger(&key, trigger, now);
    }

    pub fn push_items(&mut self, source: &str, count: usize, now: DateTime<Utc>) -> Vec<u64> {
        self.data.flows.push_items(source, count, now)
    }

    pub fn source(&mut self, source: &str, now: DateTime<Utc>) -> Option<SourceReport> {
        self.data.advance(now);
        self.data.flows.source(source)
    }

    /// Brings everything on its own clock up to `now`: long-running operations whose time has
    /// come complete (polled or not), restarts end, and the Logic Apps runtime moves on.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        for operation in self.operations.values_mut() {
            if !operation.done && operation.ready_at.is_some_and(|ready| ready <= now) {
                operation.result = self.data.apply(&operation.mutation, now);
                operation.done = true;
                operation.ended = operation.ready_at;
            }
        }
        self.data.end_restarts(now);
        self.data.advance(now);
    }

    /// A write to a resource while an operation on it is still running, or while it (a site)
    /// restarts, is refused with 409: in ARM's shape, or Microsoft.Web's own.
    fn busy(&self, key: &str, kind: &ResourceKind, now: DateTime<Utc>) -> Option<Answer> {
        let pending = self.operations.values().find(|o| !o.done && o.resource == key);
        let restarting = self.data.restarting.get(key).is_some_and(|until| *until > now);
        if pending.is_none() && !restarting {
            return None;
        }
        if kind.type_name.starts_with("Microsoft.Web/") {
            let detail = format!(
                "Id: {}, OperationName: Update, CreatedTime: {}, EntityType: 1",
                pending.map_or_else(|| uuid::Uuid::new_v4().to_string(), |o| o.name.clone()),
                timestamp(pending.map_or(now, |o| o.started))
            );
            return Some(Answer::web_error(
                409,
                "Conflict",
                &format!("Cannot modify this site because another operation is in progress. Details: {detail}"),
                "59203",
            ));
        }
        Some(Answer::arm_error(
            409,
            "AnotherOperationInProgress",
            format!("Another operation is in progress on the resource '{key}'. Please retry later."),
        ))
    }

    pub fn set_runtime(&mut self, location: &str, up: bool) {
        self.data.flows.set_runtime(location, up);
    }

    pub fn set_control_plane(&mut self, location: &str, up: bool) {
        let location = flows::location_key(location);
        if up {
            self.data.control_plane_down.remove(&location);
        } else {
            self.data.control_plane_down.insert(location);
        }
    }

    pub fn set_app_settings(&mut self, site_id: &str, settings: BTreeMap<String, String>) {
        self.data.live_settings.insert(id_key(site_id), settings.clone());
        self.data.app_settings.insert(id_key(site_id), settings);
    }

    pub fn app_settings(&self, site_id: &str) -> Option<BTreeMap<String, String>> {
        let key = id_key(site_id);
        self.data.app_settings.get(&key).cloned().or_else(|| self.data.resources.contains_key(&key).then(BTreeMap::new))
    }
}

impl Data {
    /// The resource's current entity tag: opaque, quoted, new after every write.
    fn etag(&self, key: &str) -> String {
        let version = self.versions.get(key).copied().unwrap_or(0);
        let name = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        format!("\"{:08x}{version:08x}\"", name as u32)
    }

    /// API Management's conditional writes (`IfMatchRequiredParameter` on Backend_Update,
    /// `IfMatchOptionalParameter` on Backend_CreateOrUpdate): a PATCH without `If-Match` is
    /// refused, and an `If-Match` that is neither `*` nor the current ETag answers 412.
    fn precondition(&self, key: &str, request: &Request<'_>, op: OpKind) -> Result<(), Answer> {
        let exists = self.resources.contains_key(key);
        match (op, request.if_match.map(str::trim)) {
            (OpKind::Patch { .. }, None) => Err(Answer::arm_error(
                400,
                "ValidationError",
                "The If-Match header is required: send the ETag of the entity as read, or '*' for an unconditional update.",
            )),
            (OpKind::Patch { .. } | OpKind::Put { .. }, Some(tag)) if exists && tag != "*" && tag != self.etag(key) => {
                Err(Answer::arm_error(
                    412,
                    "PreconditionFailed",
                    "The entity has been modified since it was read: its ETag does not match the If-Match header.",
                ))
            }
            _ => Ok(()),
        }
    }

    /// A backend body's pool, as `BackendPool` and `BackendPoolItem` constrain it: at least one
    /// member, each the full ARM id of an existing backend of the same instance, priority and
    /// weight whole numbers from 0 to 100.
    fn check_backend(&self, segments: &[&str], body: &[u8]) -> Result<(), Answer> {
        let body = parse_object(body)?;
        let invalid = |message: String| Answer::arm_error(400, "ValidationError", message);
        let Some(pool) = body["properties"].get("pool").filter(|p| !p.is_null()) else { return Ok(()) };
        let Some(services) = pool["services"].as_array().filter(|s| !s.is_empty()) else {
            return Err(invalid("Invalid field 'pool.services': a pool needs at least one backend.".into()));
        };
        let instance = resource_key(&segments[..8]);
        for (i, item) in services.iter().enumerate() {
            let id = item["id"].as_str().unwrap_or_default();
            let member: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
            let same_instance = member.len() == 10
                && resource_key(&member[..8]) == instance
                && member[8].eq_ignore_ascii_case("backends");
            if !same_instance || !self.resources.contains_key(&resource_key(&member)) {
                return Err(invalid(format!(
                    "Invalid field 'pool.services[{i}].id' specified: '{id}' is not the ARM id of an existing backend of this service."
                )));
            }
            for field in ["priority", "weight"] {
                let value = &item[field];
                if !value.is_null() && !value.as_i64().is_some_and(|n| (0..=100).contains(&n)) {
                    return Err(invalid(format!(
                        "Invalid field 'pool.services[{i}].{field}': {value} is not a whole number from 0 to 100."
                    )));
                }
            }
        }
        Ok(())
    }

    /// The site restarts until `until`: it takes no writes, and its instances keep the settings
    /// they started with until then.
    fn restart_site(&mut self, key: &str, until: DateTime<Utc>) {
        self.restarting.insert(key.to_owned(), until);
    }

    fn end_restarts(&mut self, now: DateTime<Utc>) {
        let ended: Vec<String> =
            self.restarting.iter().filter(|(_, until)| **until <= now).map(|(k, _)| k.clone()).collect();
        for key in ended {
            self.restarting.remove(&key);
            let settings = self.app_settings.get(&key).cloned().unwrap_or_default();
            self.live_settings.insert(key, settings);
        }
    }

    /// `GET …/sites/{s}/workflows/{w}` of a Logic Apps Standard site: its `flowState` as the
    /// running instances see it (a written setting counts only once the restart is over).
    /// A Standard workflow's state as its site runs it: its `FlowState` in the live settings (a
    /// written set counts once the restart it causes is over); without the setting, `Enabled`.
    fn flow_state(&self, key: &str, workflow: &str) -> &str {
        let settings = self.live_settings.get(key).or_else(|| self.app_settings.get(key));
        settings
            .and_then(|s| s.iter().find(|(k, _)| k.eq_ignore_ascii_case(&format!("Workflows.{workflow}.FlowState"))))
            .map_or("Enabled", |(_, v)| v.as_str())
    }

    fn site_workflow(&self, key: &str, site: &Value, workflow: &str) -> Value {
        let flow_state = self.flow_state(key, workflow);
        let site_id = site["id"].as_str().unwrap_or(key);
        let site_name = site["name"].as_str().unwrap_or_default();
        json!({
            "id": format!("{site_id}/workflows/{workflow}"),
            "name": format!("{site_name}/{workflow}"),
            "type": "Microsoft.Web/sites/workflows",
            "kind": "Stateful",
            "location": site["location"],
            "properties": {
                "flowState": flow_state,
                "health": {"state": if self.restarting.contains_key(key) { "Unknown" } else { "Healthy" }},
            },
        })
    }

    /// Brings the Logic Apps runtime up to `now`.
    fn advance(&mut self, now: DateTime<Utc>) {
        let mut workflows: Vec<WorkflowView> = self
            .resources
            .values()
            .filter(|r| r["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Logic/workflows")))
            .map(|r| WorkflowView {
                id: r["id"].as_str().unwrap_or_default().to_owned(),
                enabled: r["properties"]["state"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("Enabled")),
                location: r["location"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        // A Standard workflow runs while its site runs, is not restarting, and its live
        // `flowState` is Enabled; a restart pauses it, and its runs resume after (they are
        // stateful: kept in storage).
        for (key, names) in &self.site_workflows {
            let Some(site) = self.resources.get(key) else { continue };
            let running = site["properties"]["state"].as_str().is_none_or(|s| s.eq_ignore_ascii_case("Running"));
            let restarting = self.restarting.get(key).is_some_and(|until| *until > now);
            for name in names {
                let enabled = self.flow_state(key, name).eq_ignore_ascii_case("Enabled");
                workflows.push(WorkflowView {
                    id: site_workflow_key(key, name),
                    enabled: enabled && running && !restarting,
                    location: site["location"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
        self.flows.advance(&workflows, now);
    }

    /// A request to a resource in a location whose control plane is out: the gateway gives up on
    /// the regional resource provider.
    fn control_plane_outage(&self, segments: &[&str]) -> Option<Answer> {
        if self.control_plane_down.is_empty() || segments.len() < 8 {
            return None;
        }
        let resource = self.resources.get(&resource_key(&segments[..8]))?;
        let location = flows::location_key(resource["location"].as_str()?);
        self.control_plane_down.contains(&location).then(|| {
            Answer::arm_error(
                504,
                "GatewayTimeout",
                format!(
                    "The gateway did not receive a response from '{}' within the specified time period.",
                    segments[5]
                ),
            )
        })
    }

    fn put_resource(&mut self, id: &str, resource: Value) {
        let id = normalize_id(id);
        let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
        if let Some(group) = group_key(&segments) {
            self.groups.insert(group);
        }
        let resource = normalize(&id, resource);
        self.resources.insert(id.to_ascii_lowercase(), resource);
    }

    fn find_group(&self, segments: &[&str]) -> Result<(), Answer> {
        match group_key(segments) {
            Some(group) if self.groups.contains(&group) => Ok(()),
            _ => Err(Answer::arm_error(
                404,
                "ResourceGroupNotFound",
                format!("Resource group '{}' could not be found.", segments.get(3).unwrap_or(&"")),
            )),
        }
    }

    /// A site and one of its Standard workflows (its name as declared), or 404.
    fn find_site_workflow(&self, site_segments: &[&str], workflow: &str) -> Result<(&Value, String), Answer> {
        let site = self.find(site_segments)?;
        let names = self.site_workflows.get(&resource_key(site_segments));
        match names.and_then(|names| names.iter().find(|n| n.eq_ignore_ascii_case(workflow))) {
            Some(name) => Ok((site, name.clone())),
            None => Err(Answer::arm_error(
                404,
                "WorkflowNotFound",
                format!("The workflow '{workflow}' could not be found in site '{}'.", site_segments[7]),
            )),
        }
    }

    fn find(&self, segments: &[&str]) -> Result<&Value, Answer> {
        self.find_group(segments)?;
        self.resources.get(&resource_key(segments)).ok_or_else(|| {
            Answer::arm_error(
                404,
                "ResourceNotFound",
                format!(
                    "The Resource '{}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                    segments[5..].join("/"),
                    segments[3]
                ),
            )
        })
    }

    /// Applies a change; returns the body a completed operation answers with, if any.
    fn apply(&mut self, mutation: &Mutation, now: DateTime<Utc>) -> Option<Value> {
        match mutation {
            Mutation::SetProperty { key, property, value } => {
                if let Some(properties) =
                    self.resources.get_mut(key).and_then(|r| r.get_mut("properties")).and_then(Value::as_object_mut)
                {
                    properties.insert((*property).to_owned(), json!(value));
                    // Workflows keep the time of their last change; keep it honest.
                    if properties.contains_key("changedTime") {
                        properties.insert("changedTime".into(), json!(timestamp(now)));
                    }
                }
                None
            }
            Mutation::Patch { key, patch } => {
                *self.versions.entry(key.clone()).or_default() += 1;
                let resource = self.resources.get_mut(key)?;
                *resource = patched(resource, patch);
                set_provisioning_state(resource, "Succeeded");
                Some(resource.clone())
            }
            Mutation::Put { key, resource } => {
                *self.versions.entry(key.clone()).or_default() += 1;
                let mut resource = resource.clone();
                set_provisioning_state(&mut resource, "Succeeded");
                self.resources.insert(key.clone(), resource.clone());
                Some(resource)
            }
            Mutation::AppSettings { key, settings } => {
                self.app_settings.insert(key.clone(), settings.clone());
                if !self.restarting.contains_key(key) {
                    self.live_settings.insert(key.clone(), settings.clone());
                }
                Some(self.app_settings_document(key))
            }
        }
    }

    /// The body a 202 for `mutation` carries: the resource as it will be, still updating.
    fn preview(&self, mutation: &Mutation) -> Option<Value> {
        let mut preview = match mutation {
            Mutation::Patch { key, patch } => patched(self.resources.get(key)?, patch),
            Mutation::Put { resource, .. } => resource.clone(),
            Mutation::SetProperty { .. } | Mutation::AppSettings { .. } => return None,
        };
        set_provisioning_state(&mut preview, "Updating");
        Some(preview)
    }

    /// While an operation runs, the resource reports `provisioningState: Updating`.
    fn mark_updating(&mut self, mutation: &Mutation) {
        let key = match mutation {
            Mutation::Patch { key, .. } | Mutation::Put { key, .. } => key,
            Mutation::SetProperty { .. } | Mutation::AppSettings { .. } => return,
        };
        if let Some(resource) = self.resources.get_mut(key) {
            set_provisioning_state(resource, "Updating");
        }
    }

    fn app_settings_document(&self, key: &str) -> Value {
        let site = self.resources.get(key);
        let site_id = site.and_then(|s| s["id"].as_str()).unwrap_or(key).to_owned();
        let settings = self.app_settings.get(key).cloned().unwrap_or_default();
        let mut document = json!({
            "id": format!("{site_id}/config/appsettings"),
            "name": "appsettings",
            "type": "Microsoft.Web/sites/config",
            "properties": settings,
        });
        if let Some(site) = site {
            for field in ["kind", "location"] {
                if let Some(value) = site.get(field) {
                    document[field] = value.clone();
                }
            }
        }
        document
    }
}

fn authenticate(header: Option<&str>, context: &Context<'_>) -> Result<Option<String>, Answer> {
    let Some(header) = header else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".into(),
        ));
    };
    let token = match header.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
        _ => {
            return Err(unauthorized(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.".into(),
            ))
        }
    };
    let Some(tokens) = context.tokens else {
        return Ok(None);
    };
    match tokens.check(token, ARM_AUDIENCES, context.now) {
        Ok(issued) => Ok(Some(issued.client_id)),
        Err(TokenRejection::Unknown) => Err(unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.".into(),
        )),
        Err(TokenRejection::Expired { expires_on }) => Err(unauthorized(
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                expires_on.format("%-m/%-d/%Y %-I:%M:%S %p"),
                context.now.format("%-m/%-d/%Y %-I:%M:%S %p")
            ),
        )),
        Err(TokenRejection::WrongAudience { resource }) => Err(unauthorized(
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{resource}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
            ),
        )),
    }
}

fn unauthorized(code: &str, message: String) -> Answer {
    let challenge = format!(
        "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\", error_description=\"{}\"",
        message.replace('"', "'")
    );
    Answer::arm_error(401, code, message).with_header("www-authenticate", challenge)
}

fn check_api_version(query: &BTreeMap<String, String>, resource_type: &str) -> Result<String, Answer> {
    let supported = catalog::api_versions(resource_type).map(|versions| versions.join(", "));
    let Some(version) = query.get("api-version").filter(|v| !v.is_empty()) else {
        let mut message = "The api-version query parameter (?api-version=) is required for all requests.".to_owned();
        if let Some(supported) = &supported {
            message.push_str(&format!(" The supported api-versions for '{resource_type}' are '{supported}'."));
        }
        return Err(Answer::arm_error(400, "MissingApiVersionParameter", message));
    };
    if !catalog::well_formed_api_version(version) {
        let expected = supported.as_deref().unwrap_or("YYYY-MM-DD or YYYY-MM-DD-preview");
        return Err(Answer::arm_error(
            400,
            "InvalidApiVersionParameter",
            format!("The api-version '{version}' is invalid. The supported versions are '{expected}'."),
        ));
    }
    match (catalog::api_versions(resource_type), supported) {
        (Some(versions), Some(supported)) if !versions.contains(&version.as_str()) => {
            Err(Answer::arm_error(
                400,
                "NoRegisteredProviderFound",
                format!(
                    "No registered resource provider found for API version '{version}' and type '{resource_type}'. The supported api-versions are '{supported}'."
                ),
            ))
        }
        _ => Ok(version.clone()),
    }
}

fn path_not_found(request: &Request<'_>) -> Answer {
    Answer::arm_error(
        404,
        "NotFound",
        format!("No HTTP resource was found that matches the request '{} {}'.", request.method, request.path),
    )
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}...`
fn is_provider_path(segments: &[&str]) -> bool {
    segments.len() >= 7
        && segments[0].eq_ignore_ascii_case("subscriptions")
        && segments[2].eq_ignore_ascii_case("resourceGroups")
        && segments[4].eq_ignore_ascii_case("providers")
}

/// The most specific catalog type the path starts with, and how many segments its resource id
/// spans; the rest of the path names the operation.
fn resolve(segments: &[&str]) -> Option<(&'static ResourceKind, usize)> {
    KINDS
        .iter()
        .filter_map(|kind| {
            let mut parts = kind.type_name.split('/');
            let namespace = parts.next()?;
            let types: Vec<&str> = parts.collect();
            let id_len = 6 + 2 * types.len();
            let matches = segments.len() >= id_len
                && segments[5].eq_ignore_ascii_case(namespace)
                && types.iter().enumerate().all(|(i, t)| segments[6 + 2 * i].eq_ignore_ascii_case(t));
            matches.then_some((kind, id_len))
        })
        .max_by_key(|(_, id_len)| *id_len)
}

/// `Namespace/type/childType` from a resource id's segments.
fn resource_type(segments: &[&str]) -> String {
    let mut parts = vec![segments[5]];
    parts.extend(segments[6..].iter().step_by(2));
    parts.join("/")
}

fn resource_key(segments: &[&str]) -> String {
    format!("/{}", segments.join("/")).to_ascii_lowercase()
}

fn group_key(segments: &[&str]) -> Option<String> {
    (segments.len() >= 4
        && segments[0].eq_ignore_ascii_case("subscriptions")
        && segments[2].eq_ignore_ascii_case("resourceGroups"))
    .then(|| resource_key(&segments[..4]))
}

fn normalize_id(id: &str) -> String {
    format!("/{}", id.trim().trim_matches('/'))
}

/// The key of a Standard workflow's runs and trigger: `{site key}/workflows/{name}`, lower case.
fn site_workflow_key(site_key: &str, workflow: &str) -> String {
    format!("{site_key}/workflows/{}", workflow.to_ascii_lowercase())
}

fn id_key(id: &str) -> String {
    normalize_id(id).to_ascii_lowercase()
}

/// Fills in `id`, `name` and `type` from the id, as ARM does for every resource it returns.
fn normalize(id: &str, resource: Value) -> Value {
    let mut resource = match resource {
        Value::Object(map) => map,
        other => {
            let mut map = Map::new();
            map.insert("properties".into(), other);
            map
        }
    };
    let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    resource.insert("id".into(), json!(id));
    if let Some(name) = segments.last() {
        resource.insert("name".into(), json!(name));
    }
    if !resource.contains_key("type") && is_provider_path(&segments) {
        let derived = resource_type(&segments);
        let canonical = KINDS
            .iter()
            .find(|kind| kind.type_name.eq_ignore_ascii_case(&derived))
            .map_or(derived, |kind| kind.type_name.to_owned());
        resource.insert("type".into(), json!(canonical));
    }
    Value::Object(resource)
}

/// The resource after a JSON merge patch (RFC 7396). `id`, `name`, `type` and
/// `properties.provisioningState` are read-only in ARM, so the patch cannot change them.
fn patched(resource: &Value, patch: &Value) -> Value {
    let mut result = resource.clone();
    let mut patch = patch.clone();
    if let Some(patch) = patch.as_object_mut() {
        for field in ["id", "name", "type"] {
            patch.remove(field);
        }
        if let Some(properties) = patch.get_mut("properties").and_then(Value::as_object_mut) {
            properties.remove("provisioningState");
        }
    }
    merge(&mut result, &patch);
    result
}

fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn set_provisioning_state(resource: &mut Value, state: &str) {
    if let Some(properties) = resource.get_mut("properties").and_then(Value::as_object_mut) {
        if properties.contains_key("provisioningState") {
            properties.insert("provisioningState".into(), json!(state));
        }
    }
}

fn parse_object(body: &[u8]) -> Result<Value, Answer> {
    let invalid = |detail: String| {
        Answer::arm_error(
            400,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the request body is empty".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(invalid("expected a JSON object".into())),
        Err(error) => Err(invalid(error.to_string())),
    }
}

fn check_enums(body: Value, checks: &[EnumCheck]) -> Result<Value, Answer> {
    for check in checks {
        let Some(value) = body.get("properties").and_then(|p| p.get(check.property)) else {
            continue;
        };
        if !value.as_str().is_some_and(|value| check.allowed.contains(&value)) {
            return Err(Answer::arm_error(
                400,
                "BadRequest",
                format!(
                    "The value {value} of 'properties.{}' is not valid; the allowed values are '{}'.",
                    check.property,
                    check.allowed.join("', '")
                ),
            ));
        }
    }
    Ok(body)
}

/// The settings of a `PUT .../config/appsettings` body: `{"properties": {name: "value"}}`.
fn app_settings(body: &Value) -> Result<BTreeMap<String, String>, Answer> {
    let Some(properties) = body.get("properties").and_then(Value::as_object) else {
        return Err(Answer::arm_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'the field properties (an object of string values) is missing'.",
        ));
    };
    properties
        .iter()
        .map(|(name, value)| match value {
            Value::String(value) => Ok((name.clone(), value.clone())),
            other => Err(Answer::arm_error(
                400,
                "InvalidRequestContent",
                format!(
                    "The request content was invalid and could not be deserialized: 'the app setting '{name}' is {other}, not a string'."
                ),
            )),
        })
        .collect()
}

/// A query parameter value as a URL carries it.
fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// ARM's timestamps: RFC 3339 in UTC with fractional seconds.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let resource = json!({"id": "/x", "properties": {"a": 1, "b": {"c": 2}, "provisioningState": "Succeeded"}});
        let patch = json!({"id": "/y", "properties": {"a": null, "b": {"d": 3}, "provisioningState": "Failed"}});
        assert_eq!(
            patched(&resource, &patch),
            json!({"id": "/x", "properties": {"b": {"c": 2, "d": 3}, "provisioningState": "Succeeded"}})
        );
    }

    #[test]
    fn resolve_picks_the_most_specific_type() {
        let path = "subscriptions/s/resourceGroups/rg/providers/Microsoft.Cdn/profiles/p/originGroups/g/origins/o";
        let segments: Vec<&str> = path.split('/').collect();
        let (kind, id_len) = resolve(&segments).expect("origin path resolves");
        assert_eq!(kind.type_name, "Microsoft.Cdn/profiles/origingroups/origins");
        assert_eq!(id_len, segments.len());
        assert_eq!(resource_type(&segments), "Microsoft.Cdn/profiles/originGroups/origins");
    }

    #[test]
    fn normalize_fills_identity_fields_with_canonical_type() {
        let id = "/subscriptions/s/resourceGroups/rg/providers/microsoft.logic/WORKFLOWS/wf";
        let resource = normalize(id, json!({"properties": {}}));
        assert_eq!(resource["name"], "wf");
        assert_eq!(resource["type"], "Microsoft.Logic/workflows");
        assert_eq!(resource["id"], id);
    }
}
