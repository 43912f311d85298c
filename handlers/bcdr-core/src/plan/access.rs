//! What each app's identity may do in Azure: the role assignments the deployment makes for a
//! plan, derived from the plan and the role table `infra/roles.json`, the same table
//! `infra/main.bicep` reads (`loadJsonContent`) and loops over the same way. `bcdr plan roles`
//! prints the result, and the tests make the simulated ARM enforce exactly it, so a role that
//! lacks an action the bundle uses fails a test instead of a failover.
//!
//! The Bicep's loops, mirrored here:
//! - the health-check's identity holds the `healthCheck.reads` role on each resource a
//!   `logicApp` or `armResource` check reads;
//! - the activation's identity holds, on both copies of every resource, the `activation.copies`
//!   role of its kind (a built-in role, or a custom role of exactly the listed actions, `{type}`
//!   standing for the copy's full resource type);
//! - and, on the router's profile or API Management instance (the first nine segments of its
//!   endpoints', origins' or backends' IDs), the `activation.router` role of its kind.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::{CheckKind, FailoverPlan, ResourceKind, RouterKind};
use crate::resource_id::ResourceId;

/// The role table, as committed beside the Bicep.
const ROLES_JSON: &str = include_str!("../../../../infra/roles.json");

static TABLE: LazyLock<Table> =
    LazyLock::new(|| serde_json::from_str(ROLES_JSON).expect("infra/roles.json is read by a test of this module"));

/// Whose identity holds a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum App {
    /// The primary's health-check.
    HealthCheck,
    /// The secondary's activation.
    Activation,
}

impl App {
    pub fn label(self) -> &'static str {
        match self {
            App::HealthCheck => "health-check",
            App::Activation => "activation",
        }
    }
}

/// One role assignment the deployment makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub app: App,
    /// The resource it is held on.
    pub scope: String,
    /// A built-in role's name, or `custom` for a role of exactly `actions`.
    pub role: String,
    /// A built-in role's definition GUID; `None` for a custom role.
    pub role_id: Option<String>,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    /// Why the app holds it, in a few words.
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Table {
    roles: BTreeMap<String, BuiltIn>,
    health_check: HealthCheckRoles,
    activation: ActivationRoles,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuiltIn {
    id: String,
    name: String,
    actions: Vec<String>,
    not_actions: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct HealthCheckRoles {
    reads: Grant,
}

#[derive(Debug, Deserialize)]
struct ActivationRoles {
    copies: BTreeMap<String, Grant>,
    router: BTreeMap<String, Grant>,
}

/// A role as the table names it: a built-in role by its key in `roles`, or custom actions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Grant {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    custom_actions: Vec<String>,
}

impl Table {
    fn assignment(&self, app: App, grant: &Grant, scope: &str, reason: String) -> Assignment {
        match &grant.role {
            Some(key) => {
                let role = &self.roles[key];
                Assignment {
                    app,
                    scope: scope.to_owned(),
                    role: role.name.clone(),
                    role_id: Some(role.id.clone()),
                    actions: role.actions.clone(),
                    not_actions: role.not_actions.clone(),
                    reason,
                }
            }
            None => {
                let resource_type = scope.parse::<ResourceId>().map(|id| id.resource_type()).unwrap_or_default();
                Assignment {
                    app,
                    scope: scope.to_owned(),
                    role: "custom".to_owned(),
                    role_id: None,
                    actions: grant.custom_actions.iter().map(|a| a.replace("{type}", &resource_type)).collect(),
                    not_actions: Vec::new(),
                    reason,
                }
            }
        }
    }
}

/// The plan's resource kind as the table (and the plan's JSON) spells it.
fn kind_key(kind: &ResourceKind) -> &'static str {
    match kind {
        ResourceKind::LogicApp => "logicApp",
        ResourceKind::LogicAppStandard { .. } => "logicAppStandard",
        ResourceKind::Site => "site",
        ResourceKind::Generic(_) => "generic",
    }
}

fn router_key(kind: RouterKind) -> &'static str {
    match kind {
        RouterKind::TrafficManager => "trafficManager",
        RouterKind::FrontDoor => "frontDoor",
        RouterKind::ApiManagement => "apiManagement",
    }
}

/// Every role assignment the deployment makes for `plan`, in the Bicep's order: the
/// health-check's reads, then the activation's on each resource's primary and secondary copy,
/// then on the router's profile. A scope held twice for the same reason (two checks of one
/// resource, one profile for both router entries) is listed once.
pub fn assignments(plan: &FailoverPlan) -> Vec<Assignment> {
    let table = &*TABLE;
    let mut out: Vec<Assignment> = Vec::new();
    let mut push = |assignment: Assignment| {
        let same = |a: &Assignment| {
            a.app == assignment.app && a.scope.eq_ignore_ascii_case(&assignment.scope) && a.role == assignment.role
        };
        if !out.iter().any(same) {
            out.push(assignment);
        }
    };
    for check in &plan.health.checks {
        let read = match &check.kind {
            CheckKind::LogicApp(c) => &c.resource_id,
            CheckKind::ArmResource(c) => &c.resource_id,
            _ => continue,
        };
        let reason = format!("check {} reads it", check.name);
        push(table.assignment(App::HealthCheck, &table.health_check.reads, read.as_str(), reason));
    }
    for resource in &plan.resources {
        let key = kind_key(&resource.kind);
        let grant = &table.activation.copies[key];
        for (copy, verb) in [(&resource.primary, "fences"), (&resource.secondary, "enables")] {
            let reason = format!("{verb} {} ({key})", resource.name);
            push(table.assignment(App::Activation, grant, copy.as_str(), reason));
        }
    }
    if let Some(router) = &plan.router {
        let key = router_key(router.kind);
        let grant = &table.activation.router[key];
        for entry in [&router.primary, &router.secondary] {
            let profile: Vec<&str> = entry.as_str().split('/').take(9).collect();
            push(table.assignment(App::Activation, grant, &profile.join("/"), format!("switches the {key} router")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../../infra/failover-plan.json");

    #[test]
    fn the_table_reads_and_names_a_role_for_every_kind() {
        let table = &*TABLE;
        for kind in ["logicApp", "logicAppStandard", "site", "generic"] {
            let grant = &table.activation.copies[kind];
            assert!(grant.role.is_some() == grant.custom_actions.is_empty(), "{kind}: a role or custom actions");
        }
        for kind in [RouterKind::TrafficManager, RouterKind::FrontDoor, RouterKind::ApiManagement] {
            let grant = &table.activation.router[router_key(kind)];
            assert!(grant.role.is_some() == grant.custom_actions.is_empty(), "{kind:?}: a role or custom actions");
        }
        for grant in table.activation.copies.values().chain(table.activation.router.values()) {
            if let Some(key) = &grant.role {
                assert!(table.roles.contains_key(key), "{key} is defined");
            }
        }
    }

    #[test]
    fn the_sample_plan_gets_its_roles() {
        let plan = FailoverPlan::from_json(SAMPLE).unwrap();
        let listed: Vec<String> = assignments(&plan)
            .iter()
            .map(|a| format!("{} {} {}", a.app.label(), a.role, a.scope.rsplit('/').next().unwrap()))
            .collect();
        assert_eq!(
            listed,
            [
                "health-check Reader order-intake",
                "health-check Reader sb-orders-weu",
                "activation custom order-intake",
                "activation custom order-intake",
                "activation custom nightly-invoicing",
                "activation custom nightly-invoicing",
                "activation Website Contributor la-orders-weu",
                "activation Website Contributor la-orders-neu",
                "activation custom payment-callbacks",
                "activation custom payment-callbacks",
                "activation Website Contributor orders-api-weu",
                "activation Website Contributor orders-api-neu",
                "activation Traffic Manager Contributor tm-orders",
            ]
        );
    }

    #[test]
    fn a_fenced_workflow_may_settle_its_trigger_and_drain_its_runs() {
        let plan = FailoverPlan::from_json(SAMPLE).unwrap();
        let fence = assignments(&plan)
            .into_iter()
            .find(|a| a.app == App::Activation && a.scope.ends_with("/workflows/order-intake"))
            .unwrap();
        for action in ["triggers/setState/action", "triggers/reset/action", "runs/cancel/action", "disable/action"] {
            assert!(fence.actions.contains(&format!("Microsoft.Logic/workflows/{action}")), "{action}");
        }
    }

    #[test]
    fn a_generic_copy_gets_read_and_write_on_its_own_full_type() {
        let mut plan: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let endpoint = |region: &str| {
            format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/trafficManagerProfiles/tm/externalEndpoints/{region}")
        };
        plan["resources"] = serde_json::json!([{
            "name": "edge", "kind": "generic", "trigger": "request", "role": "activePassive",
            "primary": endpoint("weu"), "secondary": endpoint("neu"),
            "generic": {"apiVersion": "2022-04-01", "property": "properties.endpointStatus",
                        "enabledValue": "Enabled", "disabledValue": "Disabled"}
        }]);
        let plan = FailoverPlan::from_json(&plan.to_string()).unwrap();
        let found = assignments(&plan).into_iter().find(|a| a.app == App::Activation && a.role == "custom").unwrap();
        assert_eq!(
            found.actions,
            [
                "Microsoft.Authorization/permissions/read",
                "Microsoft.Network/trafficManagerProfiles/externalEndpoints/read",
                "Microsoft.Network/trafficManagerProfiles/externalEndpoints/write"
            ]
        );
    }
}
