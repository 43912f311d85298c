//! The plan's `resources` and `router` sections: the workload's copies that activation switches,
//! and the router in front of request-triggered ones. [`ResourceJson`] is a resource as written;
//! `parse` gives [`Resource`], whose [`ResourceKind`] carries what its kind needs (a Logic Apps
//! Standard workflow's name, a generic resource's calls) and whose [`Switch`] says what activation
//! does with it. The trigger-type table, [`trigger_rule`], is the one place that decides which roles a
//! trigger allows and what activation does for each: `bcdr plan check` reports its refusals, and
//! the executor carries out its [`Switch`].

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::api_version_problem;
use super::handover::{Drain, TriggerHandover, TriggerState};
use crate::resource_id::ResourceId;
use crate::settings::Problems;

/// One switched workload: its primary and secondary copies, and what activation does with them.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Names the resource in reports: unique in the plan.
    pub name: String,
    pub kind: ResourceKind,
    pub trigger: Trigger,
    pub role: Role,
    pub primary: ResourceId,
    /// A different copy of the same type as the primary.
    pub secondary: ResourceId,
    /// What activation does for this trigger and role.
    pub switch: Switch,
    /// For a fenced workflow (Consumption or Standard): how its runs are drained after the
    /// disable.
    pub drain: Option<Drain>,
    /// For a client-state poller: where the enabled copy's trigger starts (for Logic Apps
    /// Standard always the backlog: it has no API to move a trigger's position).
    pub trigger_state: Option<TriggerHandover>,
}

/// What kind of Azure resource a copy is, with what switching it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceKind {
    /// A Logic App (Consumption): `Microsoft.Logic/workflows`, `/disable` and `/enable`.
    LogicApp,
    /// A workflow in a Logic App (Standard) site: the app setting `Workflows.<name>.FlowState`.
    LogicAppStandard { workflow: String },
    /// An App Service or Functions site: `/stop` and `/start`.
    Site,
    /// Anything else, by the calls given.
    Generic(GenericResource),
}

/// What activation does with a resource's copies (failover; failback swaps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// Disable the old copy and confirm it; only then enable the new one. Two copies of a
    /// client-state poller or a webhook subscriber must never run together.
    FenceFirst,
    /// Enable the new copy; disable the old one as a best effort, without waiting for it.
    Move,
    /// Both copies run: make sure the new one does.
    KeepEnabled,
    /// Nothing to switch, for the reason given.
    Nothing(&'static str),
}

/// The trigger-type table: for a trigger and role, what activation does, or why the role is
/// refused. Each row is one arm below. `ordered_without_sessions` and `behind_router` are the two
/// facts beyond the pair that some rows need.
pub fn trigger_rule(
    trigger: Trigger,
    role: Role,
    ordered_without_sessions: bool,
    behind_router: bool,
) -> Result<Switch, &'static str> {
    use Role::{ActiveActive, ActivePassive, SplitSchedule};
    use Trigger::{PollingClientState, PollingServerState, Recurrence, Request, Webhook};
    match (trigger, role) {
        (Recurrence, ActivePassive) => Ok(Switch::Move),
        (Recurrence, SplitSchedule) => Ok(Switch::Nothing("split schedule: each region already runs its own slots")),
        (Recurrence, ActiveActive) => {
            Err("a recurrence runs active-passive or on a split schedule: two full copies would run every slot twice")
        }
        (PollingClientState, ActivePassive) => Ok(Switch::FenceFirst),
        (PollingClientState, _) => Err(
            "a client-state poller (e.g. a mailbox) runs active-passive only: two copies would both take every item",
        ),
        (PollingServerState, ActivePassive) => Ok(Switch::Move),
        (PollingServerState, ActiveActive) if ordered_without_sessions => {
            Err("ordered reading with competing consumers needs sessions; without them run active-passive")
        }
        (PollingServerState, ActiveActive) => Ok(Switch::KeepEnabled),
        (PollingServerState, SplitSchedule) => {
            Err("a server-state poller runs active-active (competing consumers) or active-passive")
        }
        (Request, ActivePassive) => Ok(Switch::Move),
        (Request, ActiveActive) if !behind_router => {
            Err("request-triggered copies run active-active only behind a router ($.router)")
        }
        (Request, ActiveActive) => Ok(Switch::KeepEnabled),
        (Request, SplitSchedule) => {
            Err("request-triggered copies run active-active behind a router, or active-passive")
        }
        (Webhook, ActivePassive) => Ok(Switch::FenceFirst),
        (Webhook, _) => Err("a webhook has one subscriber: it runs active-passive only"),
    }
}

/// One switched workload: its primary and secondary copies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename = "Resource", rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ResourceJson {
    /// Names the resource in reports: unique in the plan.
    name: String,
    kind: ResourceKindJson,
    /// How the workload is triggered; decides which roles are safe and what activation does.
    trigger: Trigger,
    role: Role,
    primary: ResourceId,
    secondary: ResourceId,
    /// For `logicAppStandard`: the workflow's name inside the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workflow: Option<String>,
    /// For `pollingServerState`: messages must be read in order.
    #[serde(default)]
    ordered: bool,
    /// For `pollingServerState`: the queue uses sessions (which keep order across consumers).
    #[serde(default)]
    sessions: bool,
    /// For `generic`: how to read, enable and disable it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generic: Option<GenericResource>,
    /// For a `logicApp` or `logicAppStandard` with trigger `pollingClientState` or `webhook`: how
    /// long to let the old copy's runs finish after it is disabled, and what then (default: 60 s,
    /// then wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drain: Option<Drain>,
    /// For a `logicApp` with trigger `pollingClientState`: where the enabled copy's trigger
    /// starts reading (default: take over the other copy's position; if its region does not
    /// answer, accept the backlog). A `logicAppStandard` takes only `backlog`: Standard has no
    /// API to move a trigger's position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trigger_state: Option<TriggerHandover>,
}

/// What kind of Azure resource a copy is, and so which ARM calls switch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename = "ResourceKind", rename_all = "camelCase")]
enum ResourceKindJson {
    /// A Logic App (Consumption): `Microsoft.Logic/workflows`, `/disable` and `/enable`.
    LogicApp,
    /// A workflow in a Logic App (Standard) site: the app setting `Workflows.<name>.FlowState`.
    LogicAppStandard,
    /// An App Service or Functions site: `/stop` and `/start`.
    Site,
    /// Anything else, by the calls given in `generic`.
    Generic,
}

/// The workload's trigger type (each allows some roles: see `plan::trigger_rule` and the README's trigger table).
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
    /// The primary's endpoint (Traffic Manager), origin (Front Door) or backend (API Management).
    pub primary: ResourceId,
    pub secondary: ResourceId,
    /// API Management only: the backend the APIs send to (`set-backend-service backend-id`), of
    /// the same instance as `primary` and `secondary`. A `Pool` backend gets its members'
    /// priorities rewritten so the serving region's backend is first; a `Single` one gets the
    /// serving region's backend's `url` and `resourceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<ResourceId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RouterKind {
    /// `Microsoft.Network/trafficManagerProfiles/{azureEndpoints|externalEndpoints}`: `endpointStatus`.
    TrafficManager,
    /// `Microsoft.Cdn/profiles/originGroups/origins`: `enabledState`.
    FrontDoor,
    /// `Microsoft.ApiManagement/service/backends`: the backend the APIs use (`router.backend`),
    /// a pool whose member priorities, or a single backend whose URL, moves to the other region.
    ApiManagement,
}

/// The type of an API Management backend.
pub const API_MANAGEMENT_BACKEND: &str = "Microsoft.ApiManagement/service/backends";

/// The resources' rules, each problem at its path under `$.resources`; the resources whose kind
/// has what it needs and whose role the trigger allows.
pub(super) fn parse(resources: Vec<ResourceJson>, behind_router: bool, p: &mut Problems) -> Vec<Resource> {
    let mut names = HashSet::new();
    let mut parsed = Vec::with_capacity(resources.len());
    for (i, r) in resources.into_iter().enumerate() {
        let at = format!("$.resources[{i}]");
        if r.name.trim().is_empty() {
            p.push(format!("{at}.name"), Some(&r.name), "must not be empty");
        } else if !names.insert(r.name.clone()) {
            p.push(format!("{at}.name"), Some(&r.name), "is used by an earlier resource");
        }
        parsed.extend(r.parse(&at, behind_router, p));
    }
    parsed
}

impl ResourceJson {
    /// One resource; `None` when its role is refused or its kind lacks what it needs.
    fn parse(self, at: &str, behind_router: bool, p: &mut Problems) -> Option<Resource> {
        if self.primary == self.secondary {
            p.push(
                format!("{at}.secondary"),
                Some(self.secondary.as_str()),
                "must be a different copy from the primary",
            );
        }
        let switch = trigger_rule(self.trigger, self.role, self.ordered && !self.sessions, behind_router)
            .map_err(|refused| p.push(format!("{at}.role"), Some(role_label(self.role)), refused))
            .ok();
        let expected = match self.kind {
            ResourceKindJson::LogicApp => Some("Microsoft.Logic/workflows"),
            ResourceKindJson::LogicAppStandard | ResourceKindJson::Site => Some("Microsoft.Web/sites"),
            ResourceKindJson::Generic => None,
        };
        if let Some(t) = expected {
            for (field, id) in [("primary", &self.primary), ("secondary", &self.secondary)] {
                if !id.is_type(t) {
                    p.push(
                        format!("{at}.{field}"),
                        Some(id.as_str()),
                        format!("must be a {t} resource for kind {}", kind_label(self.kind)),
                    );
                }
            }
        }
        let kind = self.kind(at, p);
        if (self.ordered || self.sessions) && self.trigger != Trigger::PollingServerState {
            p.push(format!("{at}.ordered"), None, "ordered and sessions apply only to trigger pollingServerState");
        }
        let consumption = self.kind == ResourceKindJson::LogicApp;
        let workflow = consumption || self.kind == ResourceKindJson::LogicAppStandard;
        let drained = workflow && switch == Some(Switch::FenceFirst);
        if self.drain.is_some() && !drained {
            p.push(
                format!("{at}.drain"),
                None,
                "applies only to kind logicApp or logicAppStandard with trigger pollingClientState or webhook (the copies that are fenced)",
            );
        }
        if let Some(drain) = self.drain.filter(|d| !(1_000..=3_600_000).contains(&d.limit_ms)) {
            p.push(
                format!("{at}.drain.limitMs"),
                Some(&drain.limit_ms.to_string()),
                "must be between 1000 and 3600000",
            );
        }
        let client_state = self.trigger == Trigger::PollingClientState;
        let positioned = consumption && client_state;
        // Logic Apps Standard keeps a client-state trigger's position too, but has no API to move
        // it: its enabled copy always takes the backlog, which the report states.
        let standard_backlog = self.kind == ResourceKindJson::LogicAppStandard && client_state;
        let backlog_only = standard_backlog && self.trigger_state.is_none_or(|h| h.choice == TriggerState::Backlog);
        if self.trigger_state.is_some() && !positioned && !backlog_only {
            let why = if standard_backlog {
                "Logic Apps Standard has no API to move a trigger's position: only choice backlog applies"
            } else {
                "applies only to kind logicApp with trigger pollingClientState (a trigger that keeps its own position)"
            };
            p.push(format!("{at}.triggerState"), None, why);
        }
        if let Some(handover) = self.trigger_state.filter(|h| h.if_unreachable == TriggerState::TakeOver) {
            p.push(
                format!("{at}.triggerState.ifUnreachable"),
                Some(handover.if_unreachable.label()),
                "must be backlog or reset: an unreachable copy's position cannot be taken",
            );
        }
        Some(Resource {
            name: self.name,
            kind: kind?,
            trigger: self.trigger,
            role: self.role,
            primary: self.primary,
            secondary: self.secondary,
            switch: switch?,
            drain: drained.then(|| self.drain.unwrap_or_default()),
            trigger_state: if standard_backlog {
                Some(TriggerHandover { choice: TriggerState::Backlog, if_unreachable: TriggerState::Backlog })
            } else {
                positioned.then(|| self.trigger_state.unwrap_or_default())
            },
        })
    }

    /// The kind with what it needs: a Standard resource's workflow, a generic one's calls.
    fn kind(&self, at: &str, p: &mut Problems) -> Option<ResourceKind> {
        let workflow = match (self.kind, &self.workflow) {
            (ResourceKindJson::LogicAppStandard, None) => {
                p.push(format!("{at}.workflow"), None, "is required for kind logicAppStandard");
                None
            }
            (ResourceKindJson::LogicAppStandard, Some(w)) if !is_workflow_name(w) => {
                p.push(format!("{at}.workflow"), Some(w), "must be a workflow name (letters, digits, '-', '_')");
                None
            }
            (ResourceKindJson::LogicAppStandard, Some(w)) => Some(w.clone()),
            (_, Some(w)) => {
                p.push(format!("{at}.workflow"), Some(w), "applies only to kind logicAppStandard");
                None
            }
            (_, None) => None,
        };
        let generic = match (self.kind, &self.generic) {
            (ResourceKindJson::Generic, None) => {
                p.push(format!("{at}.generic"), None, "is required for kind generic");
                None
            }
            (ResourceKindJson::Generic, Some(g)) => {
                // The Bicep names a generic copy's full type in its custom role (read and write
                // on it) for up to three type levels.
                let resource_type = self.primary.resource_type();
                let nameable = resource_type.split('/').count() <= 4;
                if !nameable {
                    p.push(
                        format!("{at}.primary"),
                        Some(self.primary.as_str()),
                        "a generic copy's type may nest at most three levels: the deployment's custom role names its full type",
                    );
                }
                (check_generic(g, &resource_type, &format!("{at}.generic"), p) && nameable).then(|| g.clone())
            }
            (_, Some(_)) => {
                p.push(format!("{at}.generic"), None, "applies only to kind generic");
                None
            }
            (_, None) => None,
        };
        match self.kind {
            ResourceKindJson::LogicApp => Some(ResourceKind::LogicApp),
            ResourceKindJson::LogicAppStandard => Some(ResourceKind::LogicAppStandard { workflow: workflow? }),
            ResourceKindJson::Site => Some(ResourceKind::Site),
            ResourceKindJson::Generic => Some(ResourceKind::Generic(generic?)),
        }
    }
}

/// A generic resource's calls, each problem at its path under `at`; whether there were none.
fn check_generic(g: &GenericResource, resource_type: &str, at: &str, p: &mut Problems) -> bool {
    let mut fine = true;
    let mut push = |field: &str, value: Option<&str>, message: &str| {
        p.push(format!("{at}.{field}"), value, message);
        fine = false;
    };
    if let Some(problem) = api_version_problem(&g.api_version, resource_type) {
        push("apiVersion", Some(&g.api_version), &problem);
    }
    if g.enabled_value == g.disabled_value {
        push("disabledValue", None, "must differ from enabledValue");
    }
    // Activation writes the value as a merge patch of nested objects, which can name object keys
    // only.
    if g.property.contains(['[', ']']) {
        push(
            "property",
            Some(&g.property),
            "must be a dotted path without [n] items: activation writes it as a merge patch, which cannot address array items",
        );
    } else if g.property.split('.').any(str::is_empty) {
        push("property", Some(&g.property), "must be a dotted path of names like properties.state");
    }
    fine
}

/// The router's rules, each problem at its path under `$.router`.
pub(super) fn check_router(router: &Router, p: &mut Problems) {
    let t = match router.kind {
        RouterKind::TrafficManager => "Microsoft.Network/trafficManagerProfiles",
        RouterKind::FrontDoor => "Microsoft.Cdn/profiles/originGroups/origins",
        RouterKind::ApiManagement => API_MANAGEMENT_BACKEND,
    };
    for (field, id) in [("primary", &router.primary), ("secondary", &router.secondary)] {
        let (ok, what) = match router.kind {
            RouterKind::TrafficManager => (
                ["azureEndpoints", "externalEndpoints", "nestedEndpoints"]
                    .iter()
                    .any(|e| id.is_type(&format!("{t}/{e}"))),
                "endpoint",
            ),
            RouterKind::FrontDoor => (id.is_type(t), "origin"),
            RouterKind::ApiManagement => (id.is_type(t), "of the instance"),
        };
        if !ok {
            p.push(format!("$.router.{field}"), Some(id.as_str()), format!("must be a {t} {what}"));
        }
    }
    if router.primary == router.secondary {
        p.push("$.router.secondary", Some(router.secondary.as_str()), "must differ from the primary");
    }
    match (router.kind, &router.backend) {
        (RouterKind::ApiManagement, None) => {
            p.push("$.router.backend", None, "is required for kind apiManagement: the backend the APIs send to")
        }
        (RouterKind::ApiManagement, Some(backend)) => {
            if !backend.is_type(t) {
                p.push("$.router.backend", Some(backend.as_str()), format!("must be a {t}"));
            } else if [&router.primary, &router.secondary].contains(&backend) {
                p.push(
                    "$.router.backend",
                    Some(backend.as_str()),
                    "must differ from the primary and secondary: it is the pool (or the single backend) the APIs use, the two others are the regions' backends",
                );
            }
            let instance = instance_of(backend);
            for (field, id) in [("primary", &router.primary), ("secondary", &router.secondary)] {
                if id.is_type(t) && backend.is_type(t) && !instance_of(id).eq_ignore_ascii_case(&instance) {
                    p.push(
                        format!("$.router.{field}"),
                        Some(id.as_str()),
                        format!(
                            "must be a backend of the same API Management instance as $.router.backend ({instance})"
                        ),
                    );
                }
            }
        }
        (_, Some(backend)) => p.push("$.router.backend", Some(backend.as_str()), "applies only to kind apiManagement"),
        (_, None) => {}
    }
}

/// The API Management instance (`/subscriptions/…/providers/Microsoft.ApiManagement/service/{name}`)
/// a backend belongs to: its ID without the last two segments.
pub fn instance_of(backend: &ResourceId) -> String {
    let id = backend.as_str();
    let cut = id.rmatch_indices('/').nth(1).map_or(id.len(), |(i, _)| i);
    id[..cut].to_owned()
}

fn is_workflow_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 80 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::ActivePassive => "activePassive",
        Role::ActiveActive => "activeActive",
        Role::SplitSchedule => "splitSchedule",
    }
}

fn kind_label(kind: ResourceKindJson) -> &'static str {
    match kind {
        ResourceKindJson::LogicApp => "logicApp",
        ResourceKindJson::LogicAppStandard => "logicAppStandard",
        ResourceKindJson::Site => "site",
        ResourceKindJson::Generic => "generic",
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{plan_with_checks, problems};
    use super::super::FailoverPlan;
    use super::*;
    use serde_json::json;

    const WF1: &str = "/subscriptions/s/resourceGroups/rg-weu/providers/Microsoft.Logic/workflows/intake";
    const WF2: &str = "/subscriptions/s/resourceGroups/rg-neu/providers/Microsoft.Logic/workflows/intake";

    /// A plan holding one resource `extra` merged over a logic app pair.
    fn plan_with_resource(extra: serde_json::Value, router: bool) -> String {
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
        plan.to_string()
    }

    /// The problems of a plan holding one resource `extra` merged over a logic app pair.
    fn resource_problems(extra: serde_json::Value, router: bool) -> String {
        problems(&plan_with_resource(extra, router))
    }

    #[test]
    fn drains_and_trigger_states_apply_where_the_service_has_them() {
        let site =
            |region: &str| format!("/subscriptions/s/resourceGroups/rg-{region}/providers/Microsoft.Web/sites/flows");
        let standard =
            json!({"kind": "logicAppStandard", "workflow": "intake", "primary": site("weu"), "secondary": site("neu")});
        let with = |base: &serde_json::Value, extra: serde_json::Value| {
            let mut r = base.clone();
            r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            r
        };
        let cases = [
            (json!({"trigger": "pollingClientState", "role": "activePassive", "drain": {"limitMs": 5000}, "triggerState": {"choice": "reset"}}), "ok"),
            (json!({"trigger": "recurrence", "role": "activePassive", "drain": {"limitMs": 5000}}), "$.resources[0].drain: applies only to kind logicApp or logicAppStandard with trigger pollingClientState or webhook (the copies that are fenced)"),
            (json!({"trigger": "webhook", "role": "activePassive", "triggerState": {"choice": "reset"}}), "$.resources[0].triggerState: applies only to kind logicApp with trigger pollingClientState (a trigger that keeps its own position)"),
            (with(&standard, json!({"trigger": "webhook", "role": "activePassive", "drain": {"limitMs": 5000, "then": "cancel"}})), "ok"),
            (with(&standard, json!({"trigger": "pollingClientState", "role": "activePassive", "triggerState": {"choice": "backlog"}})), "ok"),
            (with(&standard, json!({"trigger": "pollingClientState", "role": "activePassive", "triggerState": {"choice": "takeOver"}})), "$.resources[0].triggerState: Logic Apps Standard has no API to move a trigger's position: only choice backlog applies"),
        ];
        for (extra, expect) in cases {
            assert_eq!(resource_problems(extra.clone(), false), expect, "{extra}");
        }
        // A Standard poller always carries the backlog choice, which its report states.
        let plan = super::super::FailoverPlan::from_json(&plan_with_resource(
            with(&standard, json!({"trigger": "pollingClientState", "role": "activePassive"})),
            false,
        ))
        .unwrap();
        let r = &plan.resources[0];
        assert_eq!(r.trigger_state.map(|h| h.choice), Some(TriggerState::Backlog));
        assert!(r.drain.is_some());
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
    fn each_allowed_pair_says_what_activation_does() {
        let cases = [
            ("recurrence", "activePassive", false, Switch::Move),
            (
                "recurrence",
                "splitSchedule",
                false,
                Switch::Nothing("split schedule: each region already runs its own slots"),
            ),
            ("pollingClientState", "activePassive", false, Switch::FenceFirst),
            ("pollingServerState", "activePassive", false, Switch::Move),
            ("pollingServerState", "activeActive", false, Switch::KeepEnabled),
            ("request", "activePassive", false, Switch::Move),
            ("request", "activeActive", true, Switch::KeepEnabled),
            ("webhook", "activePassive", false, Switch::FenceFirst),
        ];
        for (trigger, role, router, expect) in cases {
            let text = plan_with_resource(json!({"trigger": trigger, "role": role}), router);
            let plan = FailoverPlan::from_json(&text).unwrap();
            assert_eq!(plan.resources[0].switch, expect, "{trigger} {role}");
        }
    }

    #[test]
    fn generic_properties_are_paths_activation_can_write() {
        let generic = |property: &str| {
            json!({"trigger": "recurrence", "role": "activePassive", "kind": "generic",
                   "generic": {"apiVersion": "2019-05-01", "property": property, "enabledValue": "On", "disabledValue": "Off"}})
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
        let deep = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Example/a/1/b/2/c/3/d/4";
        let mut four_levels = generic("properties.state");
        four_levels["primary"] = json!(deep);
        four_levels["secondary"] = json!(deep.replace("/d/4", "/d/5"));
        assert_eq!(
            resource_problems(four_levels, false),
            format!("$.resources[0].primary = \"{deep}\": a generic copy's type may nest at most three levels: the deployment's custom role names its full type")
        );
    }

    #[test]
    fn kinds_carry_what_they_need() {
        let site = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app";
        let site2 = "/subscriptions/s/resourceGroups/rg2/providers/Microsoft.Web/sites/app";
        let standard = json!({"trigger": "recurrence", "role": "activePassive", "kind": "logicAppStandard",
                              "primary": site, "secondary": site2, "workflow": "orders"});
        let plan = FailoverPlan::from_json(&plan_with_resource(standard, false)).unwrap();
        assert_eq!(plan.resources[0].kind, ResourceKind::LogicAppStandard { workflow: "orders".into() });
        let generic = json!({"trigger": "recurrence", "role": "activePassive", "kind": "generic",
                             "generic": {"apiVersion": "2019-05-01", "property": "properties.state", "enabledValue": "On", "disabledValue": "Off"}});
        let plan = FailoverPlan::from_json(&plan_with_resource(generic, false)).unwrap();
        let ResourceKind::Generic(g) = &plan.resources[0].kind else { panic!("{:?}", plan.resources[0].kind) };
        assert_eq!(g.property, "properties.state");
        assert_eq!(
            resource_problems(json!({"trigger": "recurrence", "role": "activePassive", "kind": "generic"}), false),
            "$.resources[0].generic: is required for kind generic"
        );
        // A version the type does not have is refused here, as ARM would refuse it at failover.
        let wrong_version = json!({"trigger": "recurrence", "role": "activePassive", "kind": "generic",
                                   "generic": {"apiVersion": "2023-01-01", "property": "properties.state", "enabledValue": "On", "disabledValue": "Off"}});
        assert_eq!(
            resource_problems(wrong_version, false),
            "$.resources[0].generic.apiVersion = \"2023-01-01\": is not an api-version of Microsoft.Logic/workflows; ARM accepts 2016-06-01, 2019-05-01"
        );
        assert_eq!(
            resource_problems(json!({"trigger": "recurrence", "role": "activePassive", "workflow": "orders"}), false),
            "$.resources[0].workflow = \"orders\": applies only to kind logicAppStandard"
        );
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

    #[test]
    fn api_management_routers_name_three_backends_of_one_instance() {
        let apim = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-orders";
        let other = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-other";
        let problems_of = |router: serde_json::Value| {
            let mut plan: serde_json::Value =
                serde_json::from_str(&plan_with_resource(json!({"trigger": "request", "role": "activeActive"}), false))
                    .unwrap();
            plan["router"] = router;
            problems(&plan.to_string())
        };
        let router = |primary: String, secondary: String, backend: Option<String>| {
            let mut r = json!({"kind": "apiManagement", "primary": primary, "secondary": secondary});
            if let Some(backend) = backend {
                r["backend"] = json!(backend);
            }
            r
        };
        let b = |service: &str, name: &str| format!("{service}/backends/{name}");
        let cases = [
            (router(b(apim, "weu"), b(apim, "neu"), Some(b(apim, "pool"))), "ok".to_owned()),
            (
                router(b(apim, "weu"), b(apim, "neu"), None),
                "$.router.backend: is required for kind apiManagement: the backend the APIs send to".to_owned(),
            ),
            (
                router(b(apim, "weu"), b(apim, "weu"), Some(b(apim, "pool"))),
                format!("$.router.secondary = \"{}\": must differ from the primary", b(apim, "weu")),
            ),
            (
                router(b(apim, "weu"), b(apim, "neu"), Some(b(apim, "neu"))),
                format!("$.router.backend = \"{}\": must differ from the primary and secondary: it is the pool (or the single backend) the APIs use, the two others are the regions' backends", b(apim, "neu")),
            ),
            (
                router(b(apim, "weu"), b(other, "neu"), Some(b(apim, "pool"))),
                format!("$.router.secondary = \"{}\": must be a backend of the same API Management instance as $.router.backend ({apim})", b(other, "neu")),
            ),
            (
                router(WF1.into(), b(apim, "neu"), Some(b(apim, "pool"))),
                format!("$.router.primary = \"{WF1}\": must be a Microsoft.ApiManagement/service/backends of the instance"),
            ),
            (
                json!({"kind": "trafficManager",
                       "primary": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/trafficManagerProfiles/tm/azureEndpoints/weu",
                       "secondary": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/trafficManagerProfiles/tm/azureEndpoints/neu",
                       "backend": b(apim, "pool")}),
                format!("$.router.backend = \"{}\": applies only to kind apiManagement", b(apim, "pool")),
            ),
        ];
        for (router, expect) in cases {
            assert_eq!(problems_of(router.clone()), expect, "{router}");
        }
        assert_eq!(instance_of(&b(apim, "pool").parse().unwrap()), apim);
    }
}
