//! What the bundle knows of ARM's resource types: the api-version it speaks to each, the property
//! that holds each one's on/off state, where a Logic Apps Standard workflow keeps its state, and
//! how to read and write a property by its dotted path.

use serde_json::{json, Value};

/// `Microsoft.Logic/workflows` and its runs.
pub const LOGIC_API_VERSION: &str = "2019-05-01";
/// `Microsoft.Web/sites` (sites, and Logic Apps Standard).
pub const WEB_API_VERSION: &str = "2023-12-01";
/// `Microsoft.Network/trafficManagerProfiles` and its endpoints.
pub const TRAFFIC_MANAGER_API_VERSION: &str = "2022-04-01";
/// `Microsoft.Cdn/profiles` and its origin groups and origins.
pub const FRONT_DOOR_API_VERSION: &str = "2024-02-01";
/// `Microsoft.ApiManagement/service` and its backends: the first stable version with `Pool`
/// backends (`apimbackends.json`, `definitions.json`: `BackendBaseParameters.type`, `pool`).
pub const API_MANAGEMENT_API_VERSION: &str = "2024-05-01";

/// The stable api-versions of the resource types the bundle knows, by top-level type, as their
/// REST specifications list them (`azure-rest-api-specs`, `specification/<service>/
/// resource-manager/<namespace>/stable/<version>/`). ARM refuses any other version of these
/// types; child types share their top-level type's versions. The ARM double accepts exactly
/// these (a test holds the two lists together).
const STABLE_API_VERSIONS: &[(&str, &[&str])] = &[
    ("Microsoft.Logic/workflows", &["2016-06-01", "2019-05-01"]),
    ("Microsoft.Web/sites", &["2022-03-01", "2023-01-01", "2023-12-01", "2024-04-01", "2024-11-01"]),
    ("Microsoft.Network/trafficManagerProfiles", &["2018-08-01", "2022-04-01"]),
    ("Microsoft.Cdn/profiles", &["2023-05-01", "2024-02-01", "2024-09-01", "2025-04-15", "2025-06-01"]),
    (
        "Microsoft.ApiManagement/service",
        &[
            "2016-07-07",
            "2016-10-10",
            "2017-03-01",
            "2018-01-01",
            "2019-01-01",
            "2019-12-01",
            "2021-08-01",
            "2022-08-01",
            "2024-05-01",
        ],
    ),
];

/// The stable api-versions of `resource_type` (any depth), if the bundle knows the type.
pub fn stable_api_versions(resource_type: &str) -> Option<&'static [&'static str]> {
    let mut parts = resource_type.split('/');
    let (namespace, top) = (parts.next()?, parts.next()?);
    STABLE_API_VERSIONS.iter().find_map(|(known, versions)| {
        let (known_namespace, known_top) = known.split_once('/')?;
        (known_namespace.eq_ignore_ascii_case(namespace) && known_top.eq_ignore_ascii_case(top)).then_some(*versions)
    })
}

/// Where a long-running operation's final answer is read once it has succeeded, as its REST
/// specification declares (`x-ms-long-running-operation-options.final-state-via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalState {
    /// A GET of the request's own URL (a PUT or PATCH of a resource that can be read).
    OriginalUri,
    /// The `Location` URL's answer (an action's result; a write whose target has no GET).
    Location,
}

/// The final read of an operation `method path` that ran long.
pub fn final_state_via(method: &http::Method, path: &str) -> FinalState {
    let put_or_patch = *method == http::Method::PUT || *method == http::Method::PATCH;
    // WebApps_UpdateApplicationSettings (long-running from 2023-12-01): `config/appsettings`
    // has no GET (405), so its final state is at the Location.
    if put_or_patch && !path.to_ascii_lowercase().trim_end_matches('/').ends_with("/config/appsettings") {
        FinalState::OriginalUri
    } else {
        FinalState::Location
    }
}

/// A workflow's state (`Enabled`, `Disabled`, ...), and a site's (`Running`, `Stopped`, ...).
pub const STATE: &str = "properties.state";
/// A workflow run's status (`Succeeded`, `Failed`, `Running`, ...).
pub const RUN_STATUS: &str = "properties.status";
/// A Traffic Manager endpoint's status (`Enabled`, `Disabled`).
pub const ENDPOINT_STATUS: &str = "properties.endpointStatus";
/// A Front Door origin's state (`Enabled`, `Disabled`).
pub const ENABLED_STATE: &str = "properties.enabledState";

/// The app setting of a Logic Apps Standard site that holds one workflow's state
/// (`Enabled`/`Disabled`; a workflow without it is enabled).
pub fn flow_state_setting(workflow: &str) -> String {
    format!("Workflows.{workflow}.FlowState")
}

/// Follows a path like `properties.endpoints[0].status`.
pub fn property<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for segment in path.split('.') {
        let (name, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.strip_suffix(']')?.parse().ok()?;
            current = current.get(i)?;
        }
    }
    Some(current)
}

/// A merge patch that sets the property at a dotted path: `properties.state` and `"On"` give
/// `{"properties": {"state": "On"}}`. A merge patch cannot address array items, so paths with
/// `[n]` are refused.
pub fn merge_patch(path: &str, value: Value) -> Result<Value, String> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty() || s.contains(['[', ']'])) {
        return Err(format!(
            "cannot write the property {path:?}: a PATCH body can set only a dotted path of names, without array items"
        ));
    }
    Ok(segments.iter().rev().fold(value, |inner, segment| json!({ *segment: inner })))
}

/// ARM's enumerations are case-insensitive; everything else compares exactly.
pub fn same_value(found: &Value, expected: &Value) -> bool {
    match (found, expected) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_paths() {
        let v =
            json!({"properties": {"state": "Enabled", "endpoints": [{"status": "Online"}, {"status": "Degraded"}]}});
        assert_eq!(property(&v, STATE), Some(&json!("Enabled")));
        assert_eq!(property(&v, "properties.endpoints[1].status"), Some(&json!("Degraded")));
        assert_eq!(property(&v, "properties.endpoints[2].status"), None);
        assert_eq!(property(&v, "properties.missing"), None);
        assert!(same_value(&json!("enabled"), &json!("Enabled")));
        assert!(!same_value(&json!(1), &json!("1")));
    }

    #[test]
    fn merge_patches_follow_the_dotted_path() {
        assert_eq!(merge_patch(STATE, json!("On")).unwrap(), json!({"properties": {"state": "On"}}));
        assert_eq!(merge_patch("enabled", json!(true)).unwrap(), json!({"enabled": true}));
        assert!(merge_patch("properties.rules[0].state", json!("On")).unwrap_err().contains("without array items"));
        assert!(merge_patch("properties..state", json!("On")).is_err());
        assert_eq!(
            merge_patch(ENDPOINT_STATUS, json!("Disabled")).unwrap(),
            json!({"properties": {"endpointStatus": "Disabled"}})
        );
    }

    #[test]
    fn flow_state_settings_name_the_workflow() {
        assert_eq!(flow_state_setting("orders"), "Workflows.orders.FlowState");
    }
}
