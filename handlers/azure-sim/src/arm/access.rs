//! Role-based access control as ARM applies it, before a request reaches its resource provider:
//! the request's action, named from its method and path, must be allowed by one of the caller's
//! role assignments whose scope holds the path. Operation-status URLs are requests like any
//! other: a role held on one resource does not reach an operation URL at its resource group's
//! provider scope.
//!
//! Action names follow ARM's: the provider namespace, then each resource type along the path,
//! then `read`, `write`, `delete`, or the POST action's own name and `action`, e.g.
//! `Microsoft.Logic/workflows/triggers/setState/action`. A role's actions may hold `*`, which
//! matches any run of characters; names compare ignoring case.

use serde_json::{json, Value};

use crate::answer::Answer;

/// One role assignment: a principal holds these actions (less the `not_actions`) at `scope`
/// and below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The identity, by the client id its tokens carry.
    pub principal: String,
    /// The resource (or resource group, or subscription) id the role is held on.
    pub scope: String,
    /// The role's name, for whoever reads the grants (ARM's refusals and permission lists do
    /// not name roles, so the double does not either).
    pub role: String,
    /// The role's `actions`.
    pub actions: Vec<String>,
    /// The role's `notActions`.
    pub not_actions: Vec<String>,
}

impl Grant {
    /// Whether this assignment is `principal`'s at a scope holding the resource at `path`.
    fn holds(&self, principal: &str, path: &[&str]) -> bool {
        let scope: Vec<&str> = self.scope.split('/').filter(|s| !s.is_empty()).collect();
        self.principal.eq_ignore_ascii_case(principal)
            && scope.len() <= path.len()
            && scope.iter().zip(path).all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// Whether this assignment lets `principal` do `action` on the resource at `path`.
    fn allows(&self, principal: &str, path: &[&str], action: &str) -> bool {
        self.holds(principal, path)
            && self.actions.iter().any(|pattern| matches(pattern, action))
            && !self.not_actions.iter().any(|pattern| matches(pattern, action))
    }
}

/// Checks one request against the role assignments: `Ok` when one of the caller's allows it,
/// otherwise ARM's `AuthorizationFailed` (403). A request whose caller is not known (no token
/// checked) is refused as well.
pub(crate) fn authorize(grants: &[Grant], principal: Option<&str>, method: &str, path: &str) -> Result<(), Answer> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let action = action(method, path);
    let allowed = principal.is_some_and(|p| grants.iter().any(|g| g.allows(p, &segments, &action)));
    if allowed {
        Ok(())
    } else {
        Err(refusal(principal.unwrap_or("unknown"), &action, path))
    }
}

/// The api-versions of `Permissions_ListForResource`
/// (authorization/resource-manager/Microsoft.Authorization/stable/{2015-07-01,2022-04-01}).
const PERMISSIONS_API_VERSIONS: &[&str] = &["2015-07-01", "2022-04-01"];

/// `GET {resource}/providers/Microsoft.Authorization/permissions`: every role the caller holds
/// at a scope holding the resource, one entry each (`actions`, `notActions`, and the data
/// actions, empty here), as `Permissions_ListForResource` answers; `None` for another path.
/// With roles not enforced the caller may do anything (`*`).
pub(crate) fn permissions(
    grants: Option<&[Grant]>,
    principal: Option<&str>,
    method: &str,
    path: &str,
    api_version: Option<&str>,
) -> Option<Answer> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let [resource @ .., providers, namespace, permissions] = segments.as_slice() else {
        return None;
    };
    let listed = providers.eq_ignore_ascii_case("providers")
        && namespace.eq_ignore_ascii_case("Microsoft.Authorization")
        && permissions.eq_ignore_ascii_case("permissions");
    if !listed || !method.eq_ignore_ascii_case("GET") {
        return None;
    }
    if !api_version.is_some_and(|v| PERMISSIONS_API_VERSIONS.contains(&v)) {
        return Some(Answer::arm_error(
            400,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{}' is invalid. The supported versions are '{}'.",
                api_version.unwrap_or_default(),
                PERMISSIONS_API_VERSIONS.join(",")
            ),
        ));
    }
    let entry = |actions: &[String], not_actions: &[String]| json!({"actions": actions, "notActions": not_actions, "dataActions": [], "notDataActions": []});
    let value: Vec<Value> = match grants {
        None => vec![entry(&["*".to_owned()], &[])],
        Some(grants) => grants
            .iter()
            .filter(|g| principal.is_some_and(|p| g.holds(p, resource)))
            .map(|g| entry(&g.actions, &g.not_actions))
            .collect(),
    };
    Some(Answer::json(200, json!({ "value": value })))
}

/// ARM's answer to a request the caller's roles do not allow.
pub(crate) fn refusal(principal: &str, action: &str, scope: &str) -> Answer {
    Answer::arm_error(
        403,
        "AuthorizationFailed",
        format!(
            "The client '{principal}' with object id '{principal}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        ),
    )
}

/// The RBAC action a request needs, as ARM names it in `AuthorizationFailed`, e.g.
/// `Microsoft.Logic/workflows/disable/action`.
pub(crate) fn action(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(provider) = segments.iter().rposition(|s| s.eq_ignore_ascii_case("providers")) else {
        return format!("{method} {path}");
    };
    let rest = &segments[provider + 1..];
    let Some((namespace, rest)) = rest.split_first() else {
        return format!("{method} {path}");
    };
    let mut parts = vec![*namespace];
    parts.extend(rest.iter().step_by(2));
    let verb = if !rest.len().is_multiple_of(2) && method == "POST" {
        // An odd tail ends in an action name (`.../disable`), already added by `step_by`.
        "action"
    } else {
        match method {
            "GET" => "read",
            "DELETE" => "delete",
            _ => "write",
        }
    };
    format!("{}/{verb}", parts.join("/"))
}

/// Whether a role's action pattern (with `*` for any run of characters) matches `action`,
/// ignoring case.
fn matches(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = action.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        // No `*`: the whole action must be the pattern.
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKFLOW: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/wf";

    fn grant(scope: &str, actions: &[&str], not_actions: &[&str]) -> Grant {
        Grant {
            principal: "app".into(),
            scope: scope.into(),
            role: "role".into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            not_actions: not_actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn actions_are_named_like_rbac() {
        let site = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/st";
        let cases = [
            ("GET", WORKFLOW.to_owned(), "Microsoft.Logic/workflows/read"),
            ("PATCH", WORKFLOW.to_owned(), "Microsoft.Logic/workflows/write"),
            ("POST", format!("{WORKFLOW}/disable"), "Microsoft.Logic/workflows/disable/action"),
            ("GET", format!("{WORKFLOW}/runs"), "Microsoft.Logic/workflows/runs/read"),
            ("POST", format!("{WORKFLOW}/runs/r1/cancel"), "Microsoft.Logic/workflows/runs/cancel/action"),
            ("POST", format!("{WORKFLOW}/triggers/t/setState"), "Microsoft.Logic/workflows/triggers/setState/action"),
            ("POST", format!("{site}/config/appsettings/list"), "Microsoft.Web/sites/config/list/action"),
            ("PUT", format!("{site}/config/appsettings"), "Microsoft.Web/sites/config/write"),
            ("GET", format!("{site}/operationresults/op1"), "Microsoft.Web/sites/operationresults/read"),
            (
                "GET",
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cdn/operationresults/op1".to_owned(),
                "Microsoft.Cdn/operationresults/read",
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(action(method, &path), expected, "{method} {path}");
        }
    }

    #[test]
    fn patterns_match_like_role_definitions() {
        for (pattern, action, expected) in [
            ("*/read", "Microsoft.Logic/workflows/runs/read", true),
            ("*/read", "Microsoft.Logic/workflows/disable/action", false),
            ("Microsoft.Logic/*/read", "microsoft.logic/workflows/triggers/read", true),
            ("Microsoft.Logic/workflows/disable/action", "Microsoft.Logic/workflows/disable/action", true),
            ("Microsoft.Logic/workflows/disable/action", "Microsoft.Logic/workflows/disable/actions", false),
            ("Microsoft.Web/sites/*", "Microsoft.Web/sites/config/write", true),
            ("Microsoft.Web/sites/*", "Microsoft.Web/serverFarms/read", false),
            ("Microsoft.Cdn/profiles/*", "Microsoft.Cdn/operationresults/read", false),
            ("*", "anything/at/all", true),
            ("a*b*c", "abc", true),
            ("a*bc*c", "abc", false),
        ] {
            assert_eq!(matches(pattern, action), expected, "{pattern} ~ {action}");
        }
    }

    #[test]
    fn a_role_reaches_its_scope_and_below_only() {
        let grants = [grant(WORKFLOW, &["Microsoft.Logic/*/read", "Microsoft.Logic/workflows/disable/action"], &[])];
        assert!(authorize(&grants, Some("app"), "GET", &format!("{WORKFLOW}/runs")).is_ok());
        assert!(authorize(&grants, Some("APP"), "POST", &format!("{WORKFLOW}/disable")).is_ok());
        // Not the action, not the principal, not the scope, no principal at all.
        assert!(authorize(&grants, Some("app"), "POST", &format!("{WORKFLOW}/triggers/t/setState")).is_err());
        assert!(authorize(&grants, Some("other"), "GET", WORKFLOW).is_err());
        assert!(authorize(&grants, Some("app"), "GET", &format!("{WORKFLOW}2")).is_err());
        assert!(authorize(&grants, None, "GET", WORKFLOW).is_err());
        let operation = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/operationStatuses/x";
        assert!(authorize(&grants, Some("app"), "GET", operation).is_err());
    }

    #[test]
    fn not_actions_take_away() {
        let grants = [grant("/subscriptions/s", &["*"], &["Microsoft.Logic/workflows/write"])];
        assert!(authorize(&grants, Some("app"), "POST", &format!("{WORKFLOW}/disable")).is_ok());
        assert!(authorize(&grants, Some("app"), "PUT", WORKFLOW).is_err());
    }

    #[test]
    fn permissions_list_the_roles_held_at_the_resource() {
        let grants = [
            grant(WORKFLOW, &["Microsoft.Logic/*/read"], &[]),
            grant("/subscriptions/s/resourceGroups/rg", &["*"], &["Microsoft.Logic/workflows/delete"]),
            grant("/subscriptions/s/resourceGroups/other", &["*"], &[]),
        ];
        let path = format!("{WORKFLOW}/providers/Microsoft.Authorization/permissions");
        let answer = permissions(Some(&grants), Some("app"), "GET", &path, Some("2022-04-01")).unwrap();
        let value = &answer.body.unwrap()["value"];
        assert_eq!(value.as_array().unwrap().len(), 2, "{value}");
        assert_eq!(value[0]["actions"], json!(["Microsoft.Logic/*/read"]));
        assert_eq!(value[1]["notActions"], json!(["Microsoft.Logic/workflows/delete"]));
        let open = permissions(None, Some("app"), "GET", &path, Some("2015-07-01")).unwrap();
        assert_eq!(open.body.unwrap()["value"][0]["actions"], json!(["*"]));
        assert_eq!(permissions(None, None, "GET", &path, Some("2019-05-01")).unwrap().status, 400);
        assert!(permissions(None, None, "GET", WORKFLOW, Some("2022-04-01")).is_none());
        // Reading one's own permissions is itself an action a role must hold.
        assert_eq!(action("GET", &path), "Microsoft.Authorization/permissions/read");
    }

    #[test]
    fn a_refusal_names_the_action_and_scope_as_arm_does() {
        let answer = authorize(&[], Some("app"), "POST", &format!("{WORKFLOW}/enable")).unwrap_err();
        assert_eq!(answer.status, 403);
        let body = answer.body.unwrap();
        assert_eq!(body["error"]["code"], "AuthorizationFailed");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("'Microsoft.Logic/workflows/enable/action' over scope '/subscriptions/s/"),
            "{message}"
        );
    }
}
