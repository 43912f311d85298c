//! The ARM calls that read and switch each kind of copy and router endpoint. Pure: this builds
//! requests and reads answers; `run` sends them.

use http::Method;
use serde_json::{json, Map, Value};

use crate::arm::catalog::{
    self, flow_state_setting, merge_patch, property, same_value, ENABLED_STATE, ENDPOINT_STATUS, STATE,
};
use crate::plan::{GenericResource, Resource, ResourceKind, Router, RouterKind};
use crate::resource_id::ResourceId;

/// The state an action brings a target to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Enabled,
    Disabled,
}

/// One thing activation reads and switches: a copy of a resource, or a router endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub id: &'a ResourceId,
    pub kind: TargetKind<'a>,
}

#[derive(Debug, Clone, Copy)]
pub enum TargetKind<'a> {
    /// `Microsoft.Logic/workflows`: `state`, `/disable`, `/enable`.
    LogicApp,
    /// A workflow of a Logic Apps Standard site: the app setting `Workflows.<name>.FlowState`.
    Workflow(&'a str),
    /// `Microsoft.Web/sites`: `state`, `/stop`, `/start`.
    Site,
    /// Any resource, by the property the plan names.
    Generic(&'a GenericResource),
    /// A Traffic Manager endpoint: `endpointStatus`.
    TrafficManager,
    /// A Front Door origin: `enabledState`.
    FrontDoor,
    /// An API Management backend: a region's, or the pool or single backend the APIs use
    /// (switched by `failover::backend`, not by [`Target::write`]).
    ApiManagement,
}

/// What a read found.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Whether the target is enabled, disabled, or neither (`None`: some other state).
    pub state: Option<Want>,
    /// The value as ARM wrote it, for reports (`Running`, `Disabled`, ...).
    pub shown: String,
    /// For a workflow: the site's whole app settings, which a write must send back.
    settings: Option<Map<String, Value>>,
}

/// One ARM request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub api_version: String,
    pub body: Option<Value>,
}

impl Request {
    /// `METHOD path`, as reports show it.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

impl<'a> Target<'a> {
    /// The copy `id` (the resource's primary or secondary) of `resource`.
    pub fn copy(resource: &'a Resource, id: &'a ResourceId) -> Self {
        let kind = match &resource.kind {
            ResourceKind::LogicApp => TargetKind::LogicApp,
            ResourceKind::LogicAppStandard { workflow } => TargetKind::Workflow(workflow),
            ResourceKind::Site => TargetKind::Site,
            ResourceKind::Generic(generic) => TargetKind::Generic(generic),
        };
        Target { id, kind }
    }

    /// The endpoint `id` (the router's primary or secondary).
    pub fn endpoint(router: &Router, id: &'a ResourceId) -> Self {
        let kind = match router.kind {
            RouterKind::TrafficManager => TargetKind::TrafficManager,
            RouterKind::FrontDoor => TargetKind::FrontDoor,
            RouterKind::ApiManagement => TargetKind::ApiManagement,
        };
        Target { id, kind }
    }

    pub fn api_version(&self) -> &'a str {
        match self.kind {
            TargetKind::LogicApp => catalog::LOGIC_API_VERSION,
            TargetKind::Workflow(_) | TargetKind::Site => catalog::WEB_API_VERSION,
            TargetKind::Generic(g) => &g.api_version,
            TargetKind::TrafficManager => catalog::TRAFFIC_MANAGER_API_VERSION,
            TargetKind::FrontDoor => catalog::FRONT_DOOR_API_VERSION,
            TargetKind::ApiManagement => catalog::API_MANAGEMENT_API_VERSION,
        }
    }

    /// The read: a GET of the resource, or for a workflow the list of its site's app settings
    /// (a POST that changes nothing).
    pub fn read(&self) -> Request {
        let (method, path) = match self.kind {
            TargetKind::Workflow(_) => (Method::POST, format!("{}/config/appsettings/list", self.id)),
            _ => (Method::GET, self.id.to_string()),
        };
        Request { method, path, api_version: self.api_version().to_owned(), body: None }
    }

    /// Reads the state out of the answer to [`Target::read`].
    pub fn reading(&self, body: &Value) -> Result<Reading, String> {
        let text = |path: &str| -> Result<String, String> {
            match property(body, path) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format!("{path} is {other}, not a string")),
                None => Err(format!("the answer has no {path}")),
            }
        };
        let named = |shown: String, enabled: &str, disabled: &str| {
            let state = if shown.eq_ignore_ascii_case(enabled) {
                Some(Want::Enabled)
            } else if shown.eq_ignore_ascii_case(disabled) {
                Some(Want::Disabled)
            } else {
                None
            };
            Reading { state, shown, settings: None }
        };
        match self.kind {
            TargetKind::LogicApp => Ok(named(text(STATE)?, "Enabled", "Disabled")),
            TargetKind::Site => Ok(named(text(STATE)?, "Running", "Stopped")),
            TargetKind::TrafficManager => Ok(named(text(ENDPOINT_STATUS)?, "Enabled", "Disabled")),
            TargetKind::FrontDoor => Ok(named(text(ENABLED_STATE)?, "Enabled", "Disabled")),
            // Neither on nor off: a backend is where traffic goes, not a switch.
            TargetKind::ApiManagement => {
                Ok(Reading { state: None, shown: super::backend::describe(body)?, settings: None })
            }
            TargetKind::Workflow(workflow) => {
                let settings = body
                    .get("properties")
                    .and_then(Value::as_object)
                    .ok_or("the app settings answer has no properties object")?
                    .clone();
                let key = flow_state_setting(workflow);
                // A workflow without the setting runs: Standard workflows are enabled by default.
                let mut reading = match settings.get(&key) {
                    None => Reading {
                        state: Some(Want::Enabled),
                        shown: "Enabled (no FlowState setting)".into(),
                        settings: None,
                    },
                    Some(Value::String(s)) => named(s.clone(), "Enabled", "Disabled"),
                    Some(other) => return Err(format!("the app setting {key} is {other}, not a string")),
                };
                reading.settings = Some(settings);
                Ok(reading)
            }
            TargetKind::Generic(g) => {
                let found = property(body, &g.property).ok_or_else(|| format!("the answer has no {}", g.property))?;
                let state = if same_value(found, &g.enabled_value) {
                    Some(Want::Enabled)
                } else if same_value(found, &g.disabled_value) {
                    Some(Want::Disabled)
                } else {
                    None
                };
                let shown = match found {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Ok(Reading { state, shown, settings: None })
            }
        }
    }

    /// For a Logic Apps Standard workflow, the read that says whether the site runs it as its
    /// settings now say: `GET …/sites/{s}/workflows/{w}`, whose `properties.flowState` changes
    /// only once the restart a settings write causes is over.
    pub fn flow_state_read(&self) -> Option<Request> {
        let TargetKind::Workflow(workflow) = self.kind else { return None };
        Some(Request {
            method: Method::GET,
            path: format!("{}/workflows/{workflow}", self.id),
            api_version: self.api_version().to_owned(),
            body: None,
        })
    }

    /// The state in the answer to [`Target::flow_state_read`].
    pub fn flow_state(body: &Value) -> Option<(Option<Want>, String)> {
        let shown = property(body, "properties.flowState")?.as_str()?.to_owned();
        let state = if shown.eq_ignore_ascii_case("Enabled") {
            Some(Want::Enabled)
        } else if shown.eq_ignore_ascii_case("Disabled") {
            Some(Want::Disabled)
        } else {
            None
        };
        Some((state, shown))
    }

    /// The one settings write for several workflows of this site: the whole set as `reading`
    /// found it, with each workflow's flow state changed.
    pub fn settings_write(&self, reading: &Reading, changes: &[(String, Want)]) -> Result<Request, String> {
        let mut settings = reading.settings.clone().ok_or("the app settings were not read")?;
        for (workflow, want) in changes {
            settings.insert(flow_state_setting(workflow), json!(pick(*want == Want::Enabled, "Enabled", "Disabled")));
        }
        Ok(Request {
            method: Method::PUT,
            path: format!("{}/config/appsettings", self.id),
            api_version: self.api_version().to_owned(),
            body: Some(json!({ "properties": settings })),
        })
    }

    /// What the action that brings the target to `want` is called in reports.
    pub fn operation(&self, want: Want) -> &'static str {
        let on = want == Want::Enabled;
        match self.kind {
            TargetKind::LogicApp => pick(on, "enable", "disable"),
            TargetKind::Workflow(_) => pick(on, "enableWorkflow", "disableWorkflow"),
            TargetKind::Site => pick(on, "start", "stop"),
            TargetKind::Generic(_) => "setProperty",
            TargetKind::TrafficManager => pick(on, "enableEndpoint", "disableEndpoint"),
            TargetKind::FrontDoor => pick(on, "enableOrigin", "disableOrigin"),
            TargetKind::ApiManagement => "switchBackend",
        }
    }

    /// The write that brings the target to `want`, given what [`Target::reading`] found.
    pub fn write(&self, want: Want, reading: &Reading) -> Result<Request, String> {
        let on = want == Want::Enabled;
        let word = pick(on, "Enabled", "Disabled");
        let id = self.id;
        let (method, path, body) = match self.kind {
            TargetKind::LogicApp => (Method::POST, format!("{id}/{}", pick(on, "enable", "disable")), None),
            TargetKind::Site => (Method::POST, format!("{id}/{}", pick(on, "start", "stop")), None),
            TargetKind::TrafficManager => {
                (Method::PATCH, id.to_string(), Some(merge_patch(ENDPOINT_STATUS, json!(word))?))
            }
            TargetKind::FrontDoor => (Method::PATCH, id.to_string(), Some(merge_patch(ENABLED_STATE, json!(word))?)),
            TargetKind::Workflow(workflow) => {
                // The PUT replaces every setting of the site, so it sends back all of them, as
                // just read, with only this workflow's flow state changed.
                let mut settings = reading.settings.clone().ok_or("the app settings were not read")?;
                settings.insert(flow_state_setting(workflow), json!(word));
                (Method::PUT, format!("{id}/config/appsettings"), Some(json!({ "properties": settings })))
            }
            TargetKind::Generic(g) => {
                let value = if on { &g.enabled_value } else { &g.disabled_value };
                (Method::PATCH, id.to_string(), Some(merge_patch(&g.property, value.clone())?))
            }
            TargetKind::ApiManagement => {
                return Err("an API Management backend is switched as a whole (failover::backend)".into())
            }
        };
        Ok(Request { method, path, api_version: self.api_version().to_owned(), body })
    }

    /// The role-based access control actions activation needs on this target.
    pub fn permissions(&self) -> Vec<String> {
        let t = self.id.resource_type();
        match self.kind {
            TargetKind::LogicApp => {
                vec![format!("{t}/read"), format!("{t}/disable/action"), format!("{t}/enable/action")]
            }
            TargetKind::Site => vec![format!("{t}/read"), format!("{t}/stop/action"), format!("{t}/start/action")],
            // The settings write runs long; its status and result are under the site.
            TargetKind::Workflow(_) => vec![
                format!("{t}/config/list/action"),
                format!("{t}/config/write"),
                format!("{t}/workflows/read"),
                format!("{t}/operations/read"),
                format!("{t}/operationresults/read"),
            ],
            // The instance itself is only read (readiness); its backends are read and written.
            TargetKind::ApiManagement if self.id.is_type("Microsoft.ApiManagement/service") => {
                vec![format!("{t}/read")]
            }
            TargetKind::Generic(_) | TargetKind::TrafficManager | TargetKind::FrontDoor | TargetKind::ApiManagement => {
                vec![format!("{t}/read"), format!("{t}/write")]
            }
        }
    }
}

fn pick(on: bool, enabled: &'static str, disabled: &'static str) -> &'static str {
    if on {
        enabled
    } else {
        disabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workflow_write_keeps_every_other_setting() {
        let id: ResourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app".parse().unwrap();
        let target = Target { id: &id, kind: TargetKind::Workflow("orders") };
        let answer = json!({"properties": {"A": "1", "Workflows.orders.FlowState": "Enabled", "Workflows.other.FlowState": "Disabled"}});
        let reading = target.reading(&answer).unwrap();
        assert_eq!(reading.state, Some(Want::Enabled));
        let write = target.write(Want::Disabled, &reading).unwrap();
        assert_eq!(write.line(), format!("PUT {id}/config/appsettings"));
        assert_eq!(
            write.body.unwrap(),
            json!({"properties": {"A": "1", "Workflows.orders.FlowState": "Disabled", "Workflows.other.FlowState": "Disabled"}})
        );
    }

    #[test]
    fn readings_name_the_state_whatever_its_case() {
        let id: ResourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app".parse().unwrap();
        let site = Target { id: &id, kind: TargetKind::Site };
        let state = |body: Value| site.reading(&body).map(|r| (r.state, r.shown));
        assert_eq!(state(json!({"properties": {"state": "running"}})), Ok((Some(Want::Enabled), "running".into())));
        assert_eq!(state(json!({"properties": {"state": "Stopped"}})), Ok((Some(Want::Disabled), "Stopped".into())));
        assert_eq!(state(json!({"properties": {"state": "Starting"}})), Ok((None, "Starting".into())));
        assert_eq!(state(json!({"properties": {}})), Err("the answer has no properties.state".into()));
        let workflow = Target { id: &id, kind: TargetKind::Workflow("w") };
        assert_eq!(workflow.reading(&json!({"properties": {}})).unwrap().state, Some(Want::Enabled));
    }
}
