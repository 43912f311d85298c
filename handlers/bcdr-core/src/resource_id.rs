//! Azure Resource Manager resource IDs: parsed once, so a malformed ID is refused where it is
//! written (the plan) rather than where it is first used (a failover).

use std::fmt;
use std::str::FromStr;

/// A resource ID such as
/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Logic/workflows/{name}`.
/// Child resources (`.../trafficmanagerprofiles/p/azureEndpoints/e`) keep their type segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceId {
    raw: String,
    subscription: String,
    resource_group: String,
    namespace: String,
    /// Type and name pairs, outermost first.
    types: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a resource ID ({0}); expected /subscriptions/<id>/resourceGroups/<group>/providers/<Namespace>/<type>/<name>"
)]
pub struct ResourceIdError(&'static str);

impl ResourceId {
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    pub fn resource_group(&self) -> &str {
        &self.resource_group
    }

    pub fn name(&self) -> &str {
        &self.types.last().expect("a parsed ID has at least one type").1
    }

    /// The full type, e.g. `Microsoft.Logic/workflows` or
    /// `Microsoft.Network/trafficmanagerprofiles/azureEndpoints`.
    pub fn resource_type(&self) -> String {
        let mut t = self.namespace.clone();
        for (ty, _) in &self.types {
            t.push('/');
            t.push_str(ty);
        }
        t
    }

    /// Whether the type matches, ignoring case as ARM does.
    pub fn is_type(&self, full_type: &str) -> bool {
        self.resource_type().eq_ignore_ascii_case(full_type)
    }
}

impl FromStr for ResourceId {
    type Err = ResourceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix('/').ok_or(ResourceIdError("it must start with /"))?;
        if rest.ends_with('/') {
            return Err(ResourceIdError("it must not end with /"));
        }
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ResourceIdError("it has an empty segment"));
        }
        if parts.iter().any(|p| p.contains(['?', '#', ' '])) {
            return Err(ResourceIdError("it contains a query, fragment or space"));
        }
        let (subscription, resource_group, namespace, tail) = match parts.as_slice() {
            [s, sub, g, rg, p, ns, tail @ ..]
                if s.eq_ignore_ascii_case("subscriptions")
                    && g.eq_ignore_ascii_case("resourceGroups")
                    && p.eq_ignore_ascii_case("providers") =>
            {
                (*sub, *rg, *ns, tail)
            }
            _ => return Err(ResourceIdError("its prefix is not /subscriptions/…/resourceGroups/…/providers/…")),
        };
        if !namespace.contains('.') {
            return Err(ResourceIdError("the provider namespace has no dot"));
        }
        if tail.is_empty() || tail.len() % 2 != 0 {
            return Err(ResourceIdError("it needs type/name pairs after the namespace"));
        }
        let types = tail.chunks(2).map(|c| (c[0].to_owned(), c[1].to_owned())).collect();
        Ok(ResourceId {
            raw: s.to_owned(),
            subscription: subscription.to_owned(),
            resource_group: resource_group.to_owned(),
            namespace: namespace.to_owned(),
            types,
        })
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl serde::Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for ResourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `[sS][uU]…`: the word in either case, as the parser compares it (JSON Schema patterns carry
/// no case-insensitive flag).
fn any_case(word: &str) -> String {
    word.chars().map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())).collect()
}

/// A string the parser above accepts: the pattern says exactly what [`ResourceId::from_str`] checks.
impl schemars::JsonSchema for ResourceId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResourceId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let segment = "[^/?# ]+";
        let pattern = format!(
            "^/{}/{segment}/{}/{segment}/{}/[^/?# ]*\\.[^/?# ]*(/{segment}/{segment})+$",
            any_case("subscriptions"),
            any_case("resourceGroups"),
            any_case("providers"),
        );
        schemars::json_schema!({
            "type": "string",
            "description": "An Azure Resource Manager resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/<Namespace>/<type>/<name>, child resources keeping their type/name pairs.",
            "pattern": pattern,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let got = match input.parse::<ResourceId>() {
            Ok(id) => format!("{} {} {} {}", id.subscription(), id.resource_group(), id.resource_type(), id.name()),
            Err(e) => format!("error: {}", e.0),
        };
        assert_eq!(got, expect, "input: {input}");
    }

    #[test]
    fn parses_and_refuses() {
        check(
            "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Logic/workflows/orders",
            "0000 rg-app Microsoft.Logic/workflows orders",
        );
        check(
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Network/trafficmanagerprofiles/tm/azureEndpoints/weu",
            "s rg Microsoft.Network/trafficmanagerprofiles/azureEndpoints weu",
        );
        check("subscriptions/s/resourceGroups/rg/providers/A.B/t/n", "error: it must start with /");
        check("/subscriptions/s/resourceGroups/rg/providers/A.B/t/n/", "error: it must not end with /");
        check(
            "/subscriptions/s/resourceGroups/rg/providers/A.B/t",
            "error: it needs type/name pairs after the namespace",
        );
        check("/subscriptions/s/resourceGroups/rg/providers/AB/t/n", "error: the provider namespace has no dot");
        check("/subscriptions/s/resourceGroups//providers/A.B/t/n", "error: it has an empty segment");
        check(
            "/subscriptions/s/resourceGroups/rg/providers/A.B/t/n?x=1",
            "error: it contains a query, fragment or space",
        );
        check(
            "/subscriptions/s/providers/A.B/t/n",
            "error: its prefix is not /subscriptions/…/resourceGroups/…/providers/…",
        );
    }

    #[test]
    fn the_schema_pattern_accepts_what_the_parser_accepts() {
        let schema = serde_json::to_value(schemars::schema_for!(ResourceId)).unwrap();
        let pattern = schema["pattern"].as_str().unwrap();
        let cases = [
            "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Logic/workflows/orders",
            "/SUBSCRIPTIONS/s/resourcegroups/rg/providers/Microsoft.Network/trafficmanagerprofiles/tm/azureEndpoints/weu",
            "subscriptions/s/resourceGroups/rg/providers/A.B/t/n",
            "/subscriptions/s/resourceGroups/rg/providers/A.B/t/n/",
            "/subscriptions/s/resourceGroups/rg/providers/A.B/t",
            "/subscriptions/s/resourceGroups/rg/providers/AB/t/n",
            "/subscriptions/s/resourceGroups//providers/A.B/t/n",
            "/subscriptions/s/resourceGroups/rg/providers/A.B/t/n?x=1",
            "/subscriptions/s/resourceGroups/rg/providers/A.B/t/n x",
            "/subscriptions/s/providers/A.B/t/n",
            "/subscriptions/s/resourceGroups/rg/providers/.B/t/n/u/v",
        ];
        for id in cases {
            assert_eq!(pattern_matches(pattern, id), id.parse::<ResourceId>().is_ok(), "{id}");
        }
    }

    /// The schema's pattern, read by the validator editors and tests use.
    fn pattern_matches(pattern: &str, text: &str) -> bool {
        jsonschema::validator_for(&serde_json::json!({"pattern": pattern})).unwrap().is_valid(&serde_json::json!(text))
    }

    #[test]
    fn type_comparison_ignores_case() {
        let id: ResourceId =
            "/subscriptions/s/resourceGroups/rg/providers/microsoft.logic/Workflows/x".parse().unwrap();
        assert!(id.is_type("Microsoft.Logic/workflows"));
    }
}
