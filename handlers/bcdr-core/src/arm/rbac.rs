//! What the caller may do on a resource, as ARM says: `Permissions_ListForResource`
//! (`GET {resource}/providers/Microsoft.Authorization/permissions`) lists each role the caller
//! holds there, and an action is allowed when one of them has it in `actions` and not in
//! `notActions`. Action names compare ignoring case; `*` in a role matches any run of characters.

use serde::Deserialize;
use serde_json::Value;

use super::ArmError;

/// The api-version of `Permissions_ListForResource` used.
pub const PERMISSIONS_API_VERSION: &str = "2022-04-01";

/// The path that lists the caller's permissions on `resource`.
pub fn permissions_path(resource: &str) -> String {
    format!("{resource}/providers/Microsoft.Authorization/permissions")
}

/// One role the caller holds at a scope holding the resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
}

/// The roles in a `Permissions_ListForResource` answer.
pub fn permissions(answer: &Value) -> Result<Vec<Permission>, ArmError> {
    serde_json::from_value(answer["value"].clone())
        .map_err(|e| ArmError::Decode(format!("a permissions list that is not one: {e}")))
}

/// Whether any of the roles allows `action`.
pub fn allows(roles: &[Permission], action: &str) -> bool {
    roles
        .iter()
        .any(|r| r.actions.iter().any(|p| matches(p, action)) && !r.not_actions.iter().any(|p| matches(p, action)))
}

/// Whether a role's action pattern matches `action`, ignoring case.
fn matches(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = action.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
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
    use serde_json::json;

    #[test]
    fn an_action_needs_a_role_that_has_it_and_does_not_take_it_away() {
        let roles = permissions(&json!({"value": [
            {"actions": ["Microsoft.Logic/*/read", "Microsoft.Logic/workflows/disable/action"], "notActions": []},
            {"actions": ["*"], "notActions": ["Microsoft.Logic/workflows/delete", "*/write"],
             "dataActions": [], "notDataActions": []}
        ]}))
        .unwrap();
        for (action, allowed) in [
            ("microsoft.logic/workflows/triggers/read", true),
            ("Microsoft.Logic/workflows/disable/action", true),
            ("Microsoft.Logic/workflows/triggers/setState/action", true),
            ("Microsoft.Logic/workflows/delete", false),
            ("Microsoft.Logic/workflows/write", false),
        ] {
            assert_eq!(allows(&roles, action), allowed, "{action}");
        }
        assert!(!allows(&[], "Microsoft.Logic/workflows/read"));
        assert!(permissions(&json!({"value": "nope"})).is_err());
    }

    #[test]
    fn patterns() {
        for (pattern, action, expected) in [
            ("*/read", "Microsoft.Web/sites/config/read", true),
            ("Microsoft.Web/sites/*", "Microsoft.Web/serverFarms/read", false),
            ("Microsoft.Logic/workflows/enable/action", "Microsoft.Logic/workflows/enable/actions", false),
            ("a*b*c", "abc", true),
            ("a*bc*c", "abc", false),
        ] {
            assert_eq!(matches(pattern, action), expected, "{pattern} ~ {action}");
        }
    }
}
