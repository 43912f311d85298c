//! App settings: `local.settings.json`, and the order the host resolves a setting in.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{kind, opt_object, parse_json_object};

/// Settings as the host resolves them: `--set` wins, then the process environment, then
/// `local.settings.json` (Core Tools skips a local value the environment already defines).
pub struct SettingSources<'a> {
    pub overrides: &'a BTreeMap<String, String>,
    pub environment: &'a BTreeMap<String, String>,
}

impl SettingSources<'_> {
    pub(crate) fn lookup(&self, local: &BTreeMap<String, String>, name: &str) -> Option<String> {
        self.overrides.get(name).or_else(|| self.environment.get(name)).or_else(|| local.get(name)).cloned()
    }
}

/// Reads `Values` from `local.settings.json`; numbers and booleans become their text.
pub fn parse_local_settings(text: &str) -> Result<BTreeMap<String, String>, String> {
    let root = parse_json_object(text)?;
    let Some(values) = opt_object(&root, "Values", "")? else {
        return Ok(BTreeMap::new());
    };
    values
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(n) => Ok((k.clone(), n.to_string())),
            Value::Bool(b) => Ok((k.clone(), b.to_string())),
            Value::Null => Ok((k.clone(), String::new())),
            other => Err(format!("Values.{k}: expected a string, found {}", kind(other))),
        })
        .collect()
}

/// A function is switched off by the app setting `AzureWebJobs.<name>.Disabled` (`true` or `1`).
pub(crate) fn is_disabled_by_setting(function: &str, resolve: &dyn Fn(&str) -> Option<String>) -> bool {
    resolve(&format!("AzureWebJobs.{function}.Disabled"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_settings() {
        let text = r#"{"IsEncrypted":false,"Values":{"A":"x","N":3,"B":true},"ConnectionStrings":{}}"#;
        let got = parse_local_settings(text).unwrap();
        assert_eq!(format!("{got:?}"), r#"{"A": "x", "B": "true", "N": "3"}"#);
        assert_eq!(
            parse_local_settings(r#"{"Values":{"A":[1]}}"#).unwrap_err(),
            "Values.A: expected a string, found an array"
        );
    }
}
