//! Readiness: whether a run could work now. A token is issued, every target exists and can be
//! read by the identity, and the identity's roles there hold every action a run may call on it
//! (asked of ARM, `Permissions_ListForResource`, so nothing is written to find out); one line per
//! target, so the watchdog can alert before an outage rather than during one. (The plan is
//! valid already: only a valid one can be loaded.)

use std::fmt;

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::backend;
use super::report::Side;
use super::run::Calls;
use super::target::{Request, Target, TargetKind};
use crate::arm::catalog::{API_MANAGEMENT_API_VERSION, WEB_API_VERSION};
use crate::arm::{rbac, ArmError, ManagementApi};
use crate::plan::{instance_of, AfterDrain, FailoverPlan, Resource, Router, RouterKind, TriggerState};

/// The result of [`ready`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// Every check passed.
    pub ready: bool,
    /// Each resource's primary and secondary copy, then the router.
    pub checks: Vec<TargetCheck>,
}

/// One target read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetCheck {
    /// The plan's name for the resource, or `router`.
    pub resource: String,
    pub copy: Side,
    /// The resource id read.
    pub target: String,
    pub ok: bool,
    /// The state found, or what is wrong and what would fix it.
    pub detail: String,
}

/// Checks, without writing anything, that a run of `plan` could work: reads every copy and
/// router endpoint, and asks ARM whether the identity's roles there hold every action a run may
/// call on it (all at once, all by `deadline`). A missing permission is named.
pub async fn ready(plan: &FailoverPlan, arm: &dyn ManagementApi, deadline: Instant) -> Readiness {
    let mut targets: Vec<(&str, Side, Target<'_>, Vec<String>)> = Vec::new();
    for r in &plan.resources {
        for (side, id) in [(Side::Primary, &r.primary), (Side::Secondary, &r.secondary)] {
            let target = Target::copy(r, id);
            let needs = needs(r, &target);
            targets.push((&r.name, side, target, needs));
        }
    }
    if let Some(router) = &plan.router {
        for (side, id) in [(Side::Primary, &router.primary), (Side::Secondary, &router.secondary)] {
            let target = Target::endpoint(router, id);
            let needs = target.permissions();
            targets.push(("router", side, target, needs));
        }
    }
    let read = targets.into_iter().map(|(resource, side, target, needs)| async move {
        let mut calls = Calls { arm, attempts: 0 };
        let read = match calls.read(&target, deadline).await {
            Ok(reading) => workflow_exists(arm, &target).await.map(|()| reading),
            Err(e) => Err(e),
        };
        let (ok, detail) = match read {
            Ok(reading) => match missing(arm, target.id.as_str(), &needs).await {
                Ok(missing) if missing.is_empty() => {
                    (true, format!("readable, {}; every action a run calls is held", reading.shown))
                }
                Ok(missing) => (
                    false,
                    format!(
                        "readable, {}; missing permission {}: activation needs {} on this resource",
                        reading.shown,
                        missing.join(", "),
                        needs.join(", ")
                    ),
                ),
                Err(e) => (false, format!("readable, {}; its permissions cannot be listed: {e}", reading.shown)),
            },
            Err(e) => (false, explain(&e, &target)),
        };
        TargetCheck { resource: resource.to_owned(), copy: side, target: target.id.to_string(), ok, detail }
    });
    let mut checks = join_all(read).await;
    if let Some(router) = &plan.router {
        checks.extend(api_management(router, arm, deadline).await);
    }
    Readiness { ready: checks.iter().all(|c| c.ok), checks }
}

/// Every action a run of the plan may call on a copy of `resource`: its kind's reads and
/// switches, and for a fenced Consumption workflow what its drain and trigger handover call
/// (both copies, since failback swaps their parts).
fn needs(resource: &Resource, target: &Target<'_>) -> Vec<String> {
    let mut needs = target.permissions();
    let t = target.id.resource_type();
    if let Some(drain) = &resource.drain {
        // A Standard workflow's runs are the site's host runtime's.
        let runs = match target.kind {
            TargetKind::Workflow(_) => format!("{t}/hostruntime/webhooks/api/workflows/runs"),
            _ => format!("{t}/runs"),
        };
        needs.push(format!("{runs}/read"));
        if drain.then == AfterDrain::Cancel {
            needs.push(format!("{runs}/cancel/action"));
        }
    }
    // Standard has no trigger-state calls: its poller takes the backlog.
    let consumption = matches!(target.kind, TargetKind::LogicApp);
    if let Some(handover) = resource.trigger_state.filter(|_| consumption) {
        needs.push(format!("{t}/triggers/read"));
        let take_over = handover.choice == TriggerState::TakeOver;
        if take_over {
            needs.push(format!("{t}/triggers/setState/action"));
        }
        if handover.choice == TriggerState::Reset || (take_over && handover.if_unreachable == TriggerState::Reset) {
            needs.push(format!("{t}/triggers/reset/action"));
        }
    }
    needs
}

/// For a Logic Apps Standard workflow, that its site has it (`GET …/sites/{s}/workflows/{w}`):
/// its `FlowState` setting can be written whether or not the workflow exists, so the settings
/// alone cannot tell a misspelt name.
async fn workflow_exists(arm: &dyn ManagementApi, target: &Target<'_>) -> Result<(), ArmError> {
    let TargetKind::Workflow(workflow) = target.kind else { return Ok(()) };
    arm.get(&format!("{}/workflows/{workflow}", target.id), WEB_API_VERSION, &[]).await.map(|_| ())
}

/// The actions in `needs` that the identity's roles on `resource` do not allow.
async fn missing(arm: &dyn ManagementApi, resource: &str, needs: &[String]) -> Result<Vec<String>, ArmError> {
    let answer = arm.get(&rbac::permissions_path(resource), rbac::PERMISSIONS_API_VERSION, &[]).await?;
    let roles = rbac::permissions(&answer)?;
    Ok(needs.iter().filter(|action| !rbac::allows(&roles, action)).cloned().collect())
}

/// For an API Management router, beyond its two regions' backends: the instance, and the
/// backend the APIs use, which, when it is a pool, must hold both regions' backends.
async fn api_management(router: &Router, arm: &dyn ManagementApi, deadline: Instant) -> Vec<TargetCheck> {
    let (RouterKind::ApiManagement, Some(front)) = (router.kind, &router.backend) else { return Vec::new() };
    let mut calls = Calls { arm, attempts: 0 };
    let check = |resource: &str, target: String, outcome: Result<String, String>| TargetCheck {
        resource: resource.to_owned(),
        copy: Side::Secondary,
        target,
        ok: outcome.is_ok(),
        detail: outcome.unwrap_or_else(|e| e),
    };
    let get = |path: String| Request {
        method: http::Method::GET,
        path,
        api_version: API_MANAGEMENT_API_VERSION.to_owned(),
        body: None,
    };
    let instance = instance_of(front);
    let target = Target::endpoint(router, front);
    let instance_check = match calls.send(&get(instance.clone()), deadline).await {
        Ok(body) => Ok(format!("readable, {}", gateways(&body))),
        Err(e) => match instance.parse() {
            Ok(id) => Err(explain(&e, &Target::endpoint(router, &id))),
            Err(_) => Err(e.to_string()),
        },
    };
    let front_check = match calls.send(&get(front.to_string()), deadline).await {
        Ok(body) => match backend::front(&body) {
            Ok(backend::Front::Pool(members)) => backend::holds_both(&members, &router.primary, &router.secondary)
                .map(|()| format!("readable, {}", backend::describe(&body).unwrap_or_default()))
                .map_err(|e| format!("{e}: activation could not put it first")),
            Ok(backend::Front::Single { .. }) => {
                Ok(format!("readable, {}", backend::describe(&body).unwrap_or_default()))
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(explain(&e, &target)),
    };
    vec![check("router instance", instance, instance_check), check("router backend", front.to_string(), front_check)]
}

/// Where an API Management instance has gateways: its own location and each additional one
/// whose gateway is not disabled.
fn gateways(instance: &serde_json::Value) -> String {
    let mut regions: Vec<String> = instance["location"].as_str().map(str::to_owned).into_iter().collect();
    for extra in instance["properties"]["additionalLocations"].as_array().into_iter().flatten() {
        if let Some(location) = extra["location"].as_str() {
            let off = extra["disableGateway"].as_bool().unwrap_or(false);
            regions.push(if off { format!("{location} (gateway disabled)") } else { location.to_owned() });
        }
    }
    if regions.is_empty() {
        "no location in the answer".to_owned()
    } else {
        format!("gateways in {}", regions.join(", "))
    }
}

/// What a failed read means for the operator.
fn explain(e: &ArmError, target: &Target<'_>) -> String {
    let needs = target.permissions().join(", ");
    match e {
        ArmError::Unauthenticated(why) => format!("no token for ARM: {why}"),
        ArmError::Status { status: 401, message, .. } => format!("ARM refused the token: {message}"),
        ArmError::Status { status: 403, message, .. } => {
            let missing = denied_action(message).unwrap_or("a read permission");
            format!("missing permission {missing}: activation needs {needs} on this resource")
        }
        ArmError::Status { status: 404, code, message } => format!("not found ({code}): {message}"),
        ArmError::Deadline { last, attempts } => {
            format!("no answer in time ({attempts} attempts): {}", explain(last, target))
        }
        other => other.to_string(),
    }
}

/// The action an `AuthorizationFailed` message names: `... perform action 'X' over scope ...`.
fn denied_action(message: &str) -> Option<&str> {
    let rest = &message[message.find("action '")? + "action '".len()..];
    Some(&rest[..rest.find('\'')?])
}

/// One line per check: `ok   intake secondary /subscriptions/...: readable, Disabled`.
impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            writeln!(f, "{mark} {} {} {}: {}", c.resource, c.copy, c.target, c.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_denied_action_is_named() {
        let message = "The client 'x' with object id 'y' does not have authorization to perform action \
                       'Microsoft.Logic/workflows/read' over scope '/subscriptions/s' or the scope is invalid.";
        assert_eq!(denied_action(message), Some("Microsoft.Logic/workflows/read"));
        assert_eq!(denied_action("forbidden"), None);
    }
}
