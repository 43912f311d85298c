//! `host.json`: the custom handler's executable, its arguments and working folder, HTTP
//! forwarding, the route prefix and the function timeout.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::config::{field, opt_bool, opt_object, opt_string, parse_json_object, parse_timespan};

/// How long an invocation may run when `host.json` does not say (the host's default outside
/// the Consumption plan).
const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The `customHandler` section of `host.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerSpec {
    /// Resolved against the app folder when that file exists, else left for a `PATH` lookup,
    /// as the host does.
    pub executable: PathBuf,
    pub arguments: Vec<String>,
    pub working_dir: PathBuf,
    pub forward_http: bool,
}

/// What `host.json` says, before the executable is looked up on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct HostJson {
    pub executable: String,
    pub arguments: Vec<String>,
    pub working_dir: Option<String>,
    pub forward_http: bool,
    pub route_prefix: String,
    pub function_timeout: Duration,
}

/// Parses `host.json` as the Functions host (v2+) reads it for a custom handler app.
pub fn parse_host_json(text: &str) -> Result<HostJson, String> {
    let root = parse_json_object(text)?;
    match field(&root, "version") {
        Some(Value::String(v)) if v == "2.0" => {}
        Some(other) => return Err(format!("version: must be \"2.0\", found {other}")),
        None => return Err("version: missing (the host requires \"2.0\")".to_string()),
    }
    let handler = opt_object(&root, "customHandler", "")?
        .ok_or_else(|| "customHandler: missing; bcdr host runs custom handler apps only".to_string())?;
    let description = opt_object(handler, "description", "customHandler.")?
        .ok_or_else(|| "customHandler.description: missing".to_string())?;
    let at = "customHandler.description.";
    let executable = opt_string(description, "defaultExecutablePath", at)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("{at}defaultExecutablePath: missing or empty"))?;
    let arguments = match field(description, "arguments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("{at}arguments[{i}]: expected a string, found {other}")),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("{at}arguments: expected an array of strings, found {other}")),
    };
    let working_dir = opt_string(description, "workingDirectory", at)?.filter(|s| !s.is_empty());
    let forward_http = opt_bool(handler, "enableForwardingHttpRequest", "customHandler.")?.unwrap_or(false);

    let route_prefix = match opt_object(&root, "extensions", "")? {
        Some(ext) => match opt_object(ext, "http", "extensions.")? {
            Some(http) => opt_string(http, "routePrefix", "extensions.http.")?,
            None => None,
        },
        None => None,
    }
    .unwrap_or_else(|| "api".to_string());
    let route_prefix = route_prefix.trim_matches('/').to_string();

    let function_timeout = match opt_string(&root, "functionTimeout", "")? {
        None => DEFAULT_FUNCTION_TIMEOUT,
        Some(s) => parse_timespan(&s)
            .ok_or_else(|| format!("functionTimeout: expected hh:mm:ss (or -1 for none), found {s:?}"))?,
    };

    Ok(HostJson { executable, arguments, working_dir, forward_http, route_prefix, function_timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> String {
        match parse_host_json(text) {
            Ok(h) => format!(
                "exe={} args={:?} wd={:?} fwd={} prefix={:?} timeout={}s",
                h.executable,
                h.arguments,
                h.working_dir,
                h.forward_http,
                h.route_prefix,
                h.function_timeout.as_secs()
            ),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn host_json_fixtures() {
        let cases = [
            (
                include_str!("../tests/data/host-forwarding.json"),
                "exe=health-check args=[] wd=None fwd=true prefix=\"api\" timeout=1800s",
            ),
            (
                include_str!("../tests/data/host-full.json"),
                "exe=bin/watchdog args=[\"--plan\", \"failover-plan.json\"] wd=Some(\"bin\") fwd=false prefix=\"\" timeout=300s",
            ),
        ];
        for (text, expect) in cases {
            assert_eq!(host(text), expect);
        }
    }

    #[test]
    fn host_json_errors_name_the_field() {
        let cases = [
            ("[]", "error: expected a JSON object, found an array"),
            ("{", "error: invalid JSON: EOF while parsing an object at line 1 column 1"),
            ("{}", "error: version: missing (the host requires \"2.0\")"),
            (r#"{"version":"1.0"}"#, "error: version: must be \"2.0\", found \"1.0\""),
            (r#"{"version":"2.0"}"#, "error: customHandler: missing; bcdr host runs custom handler apps only"),
            (
                r#"{"version":"2.0","customHandler":{"description":{}}}"#,
                "error: customHandler.description.defaultExecutablePath: missing or empty",
            ),
            (
                r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h","arguments":"x"}}}"#,
                "error: customHandler.description.arguments: expected an array of strings, found \"x\"",
            ),
            (
                r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"},"enableForwardingHttpRequest":1}}"#,
                "error: customHandler.enableForwardingHttpRequest: expected true or false, found 1",
            ),
            (
                r#"{"version":"2.0","functionTimeout":"5m","customHandler":{"description":{"defaultExecutablePath":"h"}}}"#,
                "error: functionTimeout: expected hh:mm:ss (or -1 for none), found \"5m\"",
            ),
        ];
        for (text, expect) in cases {
            assert_eq!(host(text), expect, "for {text}");
        }
    }
}
