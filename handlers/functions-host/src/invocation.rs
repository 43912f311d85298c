//! The custom handler invocation protocol as data: request payloads the host sends to
//! `POST /{function}` and the answers it expects back.
//!
//! Shapes follow the Functions host's source: `ScriptInvocationContextExtensions.
//! ToHttpScriptInvocationContext` (Data and Metadata), `HttpRequestExtensions.GetRequestAsJObject`
//! (the HTTP trigger value), `HttpScriptInvocationResultExtensions` (Outputs, the http output
//! binding) and the timer extension's `TimerInfo` / `ScheduleStatus`. Nothing here reads the
//! clock or draws random ids: callers pass them in.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The host version the handler is told about in `x-azure-functions-hostversion`.
pub const HOST_VERSION: &str = "4.1036.1.1";

/// `DateTime.MinValue` as Newtonsoft writes an unspecified-kind `DateTime`: no offset.
const DEFAULT_DATE_TIME: &str = "0001-01-01T00:00:00";

/// Writes `UtcNow` as .NET's round-trip format does: seven fractional digits and `Z`.
pub fn format_utc_now(t: DateTime<Utc>) -> String {
    let ticks = t.timestamp_subsec_nanos() / 100;
    format!("{}.{ticks:07}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Writes a local-kind `DateTime` as Newtonsoft does on a host whose zone is UTC (Azure's
/// default): trailing zero fractions dropped and a `+00:00` offset.
pub fn format_local_date_time(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let ticks = t.timestamp_subsec_nanos() / 100;
    if ticks == 0 {
        format!("{base}+00:00")
    } else {
        let frac = format!("{ticks:07}");
        format!("{base}.{}+00:00", frac.trim_end_matches('0'))
    }
}

/// `sys` binding data: present in every invocation's Metadata.
pub fn sys_metadata(function: &str, now: DateTime<Utc>, rand_guid: Uuid) -> Value {
    json!({
        "MethodName": function,
        "UtcNow": format_utc_now(now),
        "RandGuid": rand_guid.to_string(),
    })
}

/// What a timer invocation tells the handler about its schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerInfo {
    /// `None` when the schedule is not monitored (occurrences under a minute apart, or
    /// `useMonitor: false`).
    pub status: Option<ScheduleStatus>,
    pub is_past_due: bool,
}

/// `None` in `last` or `last_updated` is .NET's `DateTime.MinValue`: nothing recorded yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleStatus {
    pub last: Option<DateTime<Utc>>,
    pub next: DateTime<Utc>,
    pub last_updated: Option<DateTime<Utc>>,
}

impl TimerInfo {
    pub fn to_json(&self) -> Value {
        let when = |t: Option<DateTime<Utc>>| match t {
            Some(t) => format_local_date_time(t),
            None => DEFAULT_DATE_TIME.to_string(),
        };
        let status = match &self.status {
            Some(s) => json!({
                "Last": when(s.last),
                "Next": format_local_date_time(s.next),
                "LastUpdated": when(s.last_updated),
            }),
            None => Value::Null,
        };
        json!({
            "Schedule": { "AdjustForDST": true },
            "ScheduleStatus": status,
            "IsPastDue": self.is_past_due,
        })
    }
}

/// The body of a timer invocation. The trigger value appears under the binding name in both
/// Data and Metadata, as the host's binding data carries it.
pub fn timer_invocation(function: &str, binding: &str, info: &TimerInfo, now: DateTime<Utc>, rand_guid: Uuid) -> Value {
    let timer = info.to_json();
    json!({
        "Data": { binding: timer.clone() },
        "Metadata": {
            binding: timer,
            "sys": sys_metadata(function, now, rand_guid),
        },
    })
}

/// The parts of an incoming request the HTTP trigger value is built from.
#[derive(Debug, Clone)]
pub struct HttpRequestParts<'a> {
    pub method: &'a str,
    /// The request URL as the caller used it, query included.
    pub url: String,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Query parameters as the host passes them: one string per name, repeated names joined
/// with commas (`StringValues.ToString()`).
pub fn query_object(query: Option<&str>) -> Map<String, Value> {
    let mut joined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let k = k.into_owned();
        if !joined.contains_key(&k) {
            order.push(k.clone());
        }
        joined.entry(k).or_default().push(v.into_owned());
    }
    order
        .into_iter()
        .map(|k| {
            let v = joined[&k].join(",");
            (k, Value::String(v))
        })
        .collect()
}

fn header_lists(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        out.insert(name.as_str().to_string(), Value::Array(values));
    }
    out
}

fn header_strings(headers: &HeaderMap) -> Map<String, Value> {
    header_lists(headers)
        .into_iter()
        .map(|(k, v)| {
            let joined = v
                .as_array()
                .map(|vs| vs.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            (k, Value::String(joined))
        })
        .collect()
}

/// Octet-stream and multipart bodies travel as base64 (the host hands them over as bytes);
/// anything else as text.
fn body_value(headers: &HeaderMap, body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    let content_type =
        headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    if content_type.starts_with("application/octet-stream") || content_type.contains("multipart/") {
        Value::String(base64::engine::general_purpose::STANDARD.encode(body))
    } else {
        Value::String(String::from_utf8_lossy(body).into_owned())
    }
}

/// The HTTP trigger value (`Data.<binding>`).
pub fn http_request_value(req: &HttpRequestParts<'_>, params: &BTreeMap<String, String>) -> Value {
    json!({
        "Url": req.url,
        "Method": req.method,
        "Query": query_object(req.query),
        "Headers": header_lists(req.headers),
        "Params": params,
        "Identities": [],
        "Body": body_value(req.headers, req.body),
    })
}

/// The body of an HTTP invocation when the request is not forwarded. Metadata carries the
/// route parameters, `Query` and `Headers` binding data and `sys`.
pub fn http_invocation(
    function: &str,
    binding: &str,
    req: &HttpRequestParts<'_>,
    params: &BTreeMap<String, String>,
    now: DateTime<Utc>,
    rand_guid: Uuid,
) -> Value {
    let mut metadata = Map::new();
    for (k, v) in params {
        metadata.insert(k.clone(), Value::String(v.clone()));
    }
    metadata.insert("Query".into(), Value::Object(query_object(req.query)));
    metadata.insert("Headers".into(), Value::Object(header_strings(req.headers)));
    metadata.insert("sys".into(), sys_metadata(function, now, rand_guid));
    json!({
        "Data": { binding: http_request_value(req, params) },
        "Metadata": metadata,
    })
}

/// The handler's answer to an invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationResult {
    pub outputs: Map<String, Value>,
    pub logs: Vec<String>,
    pub return_value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultError(pub String);

impl fmt::Display for ResultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ResultError {}

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Reads a 2xx answer's body. The host reads it with Newtonsoft, so property names match
/// case-insensitively and every part is optional.
pub fn parse_invocation_result(body: &[u8]) -> Result<InvocationResult, ResultError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ResultError(format!("the answer is not JSON ({e}): {}", preview(body))))?;
    let Value::Object(root) = value else {
        return Err(ResultError(format!(
            "the answer must be a JSON object with Outputs, Logs and ReturnValue: {}",
            preview(body)
        )));
    };
    let outputs = match field(&root, "Outputs") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => return Err(ResultError(format!("Outputs: expected an object, found {other}"))),
    };
    let logs = match field(&root, "Logs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(other) => return Err(ResultError(format!("Logs: expected an array of strings, found {other}"))),
    };
    Ok(InvocationResult { outputs, logs, return_value: field(&root, "ReturnValue").cloned().unwrap_or(Value::Null) })
}

/// The host reads an invocation answer with a JSON media type formatter, which takes
/// `application/json` and `text/json` only; any other (or no) Content-Type fails the invocation.
pub fn check_answer_content_type(headers: &HeaderMap) -> Result<(), ResultError> {
    let given = headers.get(http::header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let media = given.as_deref().and_then(|v| v.split(';').next()).map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/json" | "text/json") => Ok(()),
        _ => Err(ResultError(format!(
            "the answer's Content-Type is {}; the host only reads application/json",
            given.map_or("missing".to_string(), |g| format!("{g:?}"))
        ))),
    }
}

/// Shortens a body for a log line.
pub fn preview(body: &[u8]) -> String {
    const MAX: usize = 500;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.len() <= MAX {
        text.to_string()
    } else {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes)", &text[..end], body.len())
    }
}

/// An HTTP answer for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Picks the http output binding's value: `Outputs.<name>`, or `ReturnValue` for `$return`.
pub fn http_output<'a>(result: &'a InvocationResult, binding: &str) -> Option<&'a Value> {
    if binding == "$return" {
        return Some(&result.return_value).filter(|v| !v.is_null());
    }
    field(&result.outputs, binding).filter(|v| !v.is_null())
}

/// Maps the http output binding value (`{statusCode, headers, body}`) to the caller's answer.
/// A string value is read as JSON text, as the host does with `ToString()` and a parse.
pub fn http_reply_from_output(value: &Value) -> Result<HttpReply, ResultError> {
    let parsed;
    let value = match value {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|_| {
                ResultError(
                    "the http output is a string that is not JSON; it should have statusCode, headers and body"
                        .to_string(),
                )
            })?;
            &parsed
        }
        other => other,
    };
    let Value::Object(obj) = value else {
        return Err(ResultError(format!(
            "the http output should be an object with statusCode, headers and body, found {value}"
        )));
    };
    let status = match field(obj, "statusCode").or_else(|| field(obj, "status")) {
        None | Some(Value::Null) => StatusCode::OK,
        Some(v) => {
            let code = match v {
                Value::Number(n) => n.as_u64().map(|n| n.to_string()),
                Value::String(s) => Some(s.trim().to_string()),
                _ => None,
            };
            code.and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| ResultError(format!("statusCode: {v} is not an HTTP status")))?
        }
    };
    let mut headers = HeaderMap::new();
    match field(obj, "headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (name, v) in h {
                let values: Vec<String> = match v {
                    Value::Array(items) => items.iter().map(header_text).collect(),
                    other => vec![header_text(other)],
                };
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ResultError(format!("headers: {name:?} is not a header name")))?;
                for v in values {
                    let value = HeaderValue::from_str(&v)
                        .map_err(|_| ResultError(format!("headers.{name}: {v:?} is not a header value")))?;
                    headers.append(name.clone(), value);
                }
            }
        }
        Some(other) => return Err(ResultError(format!("headers: expected an object, found {other}"))),
    }
    let body = match field(obj, "body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(other) => {
            if !headers.contains_key(http::header::CONTENT_TYPE) {
                headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
            }
            Bytes::from(other.to_string())
        }
    };
    Ok(HttpReply { status, headers, body })
}

fn header_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T10:20:30.123456789Z").unwrap().with_timezone(&Utc)
    }

    fn guid() -> Uuid {
        Uuid::parse_str("6f1e3c52-1a4b-4f7e-9a0c-2d2b8f9e0a11").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn date_time_formats() {
        assert_eq!(format_utc_now(now()), "2026-03-01T10:20:30.1234567Z");
        let cases = [
            ("2026-03-01T10:20:00Z", "2026-03-01T10:20:00+00:00"),
            ("2026-03-01T10:20:00.0069227Z", "2026-03-01T10:20:00.0069227+00:00"),
            ("2026-03-01T10:20:00.5Z", "2026-03-01T10:20:00.5+00:00"),
        ];
        for (input, expect) in cases {
            assert_eq!(format_local_date_time(at(input)), expect);
        }
    }

    #[test]
    fn timer_payloads() {
        let unmonitored = TimerInfo { status: None, is_past_due: false };
        assert_eq!(
            timer_invocation("watchdog", "myTimer", &unmonitored, now(), guid()),
            serde_json::from_str::<Value>(include_str!("../tests/data/timer-invocation.json")).unwrap()
        );

        let first = TimerInfo {
            status: Some(ScheduleStatus { last: None, next: at("2026-03-01T10:25:00Z"), last_updated: None }),
            is_past_due: true,
        };
        assert_eq!(
            first.to_json(),
            json!({
                "Schedule": {"AdjustForDST": true},
                "ScheduleStatus": {
                    "Last": "0001-01-01T00:00:00",
                    "Next": "2026-03-01T10:25:00+00:00",
                    "LastUpdated": "0001-01-01T00:00:00"
                },
                "IsPastDue": true
            })
        );
    }

    #[test]
    fn http_payload() {
        let mut headers = HeaderMap::new();
        headers.append("x-custom", HeaderValue::from_static("a"));
        headers.append("x-custom", HeaderValue::from_static("b"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let req = HttpRequestParts {
            method: "POST",
            url: "http://127.0.0.1:7071/api/items/42?x=1&x=2&y=a%20b".to_string(),
            query: Some("x=1&x=2&y=a%20b"),
            headers: &headers,
            body: br#"{"a":1}"#,
        };
        let params = BTreeMap::from([("id".to_string(), "42".to_string())]);
        assert_eq!(
            http_invocation("item", "req", &req, &params, now(), guid()),
            json!({
                "Data": {"req": {
                    "Url": "http://127.0.0.1:7071/api/items/42?x=1&x=2&y=a%20b",
                    "Method": "POST",
                    "Query": {"x": "1,2", "y": "a b"},
                    "Headers": {"x-custom": ["a", "b"], "content-type": ["application/json"]},
                    "Params": {"id": "42"},
                    "Identities": [],
                    "Body": "{\"a\":1}"
                }},
                "Metadata": {
                    "id": "42",
                    "Query": {"x": "1,2", "y": "a b"},
                    "Headers": {"x-custom": "a,b", "content-type": "application/json"},
                    "sys": {
                        "MethodName": "item",
                        "UtcNow": "2026-03-01T10:20:30.1234567Z",
                        "RandGuid": "6f1e3c52-1a4b-4f7e-9a0c-2d2b8f9e0a11"
                    }
                }
            })
        );
    }

    #[test]
    fn http_bodies() {
        let mut headers = HeaderMap::new();
        assert_eq!(body_value(&headers, b""), Value::Null);
        assert_eq!(body_value(&headers, b"hi"), json!("hi"));
        headers.insert("content-type", HeaderValue::from_static("application/octet-stream"));
        assert_eq!(body_value(&headers, b"hi"), json!("aGk="));
    }

    fn reply(output: Value) -> String {
        match http_reply_from_output(&output) {
            Ok(r) => {
                let mut headers: Vec<String> =
                    r.headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap())).collect();
                headers.sort();
                format!("{} [{}] {}", r.status.as_u16(), headers.join(", "), String::from_utf8_lossy(&r.body))
            }
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn http_replies() {
        let cases = [
            (json!({"statusCode": 201, "headers": {"x-fixture": "1"}, "body": "made"}), "201 [x-fixture: 1] made"),
            (json!({"statusCode": "503", "body": "down"}), "503 [] down"),
            (json!({"StatusCode": "404"}), "404 [] "),
            (json!({"Status": 202}), "202 [] "),
            (json!({}), "200 [] "),
            (json!({"body": {"ok": true}}), "200 [content-type: application/json; charset=utf-8] {\"ok\":true}"),
            (
                json!({"headers": {"Set-Cookie": ["a=1", "b=2"], "X-N": 5}}),
                "200 [set-cookie: a=1, set-cookie: b=2, x-n: 5] ",
            ),
            (json!("{\"statusCode\":204}"), "204 [] "),
            (
                json!("not json"),
                "error: the http output is a string that is not JSON; it should have statusCode, headers and body",
            ),
            (json!({"statusCode": "OK"}), "error: statusCode: \"OK\" is not an HTTP status"),
            (json!({"statusCode": 99}), "error: statusCode: 99 is not an HTTP status"),
            (json!({"headers": []}), "error: headers: expected an object, found []"),
            (json!([1]), "error: the http output should be an object with statusCode, headers and body, found [1]"),
        ];
        for (output, expect) in cases {
            assert_eq!(reply(output.clone()), expect, "for {output}");
        }
    }

    #[test]
    fn invocation_results() {
        let ok =
            parse_invocation_result(br#"{"Outputs":{"res":{"statusCode":201}},"Logs":["one",2],"ReturnValue":null}"#)
                .unwrap();
        assert_eq!(ok.logs, vec!["one".to_string(), "2".to_string()]);
        assert_eq!(http_output(&ok, "res"), Some(&json!({"statusCode": 201})));
        assert_eq!(http_output(&ok, "RES"), Some(&json!({"statusCode": 201})));
        assert_eq!(http_output(&ok, "$return"), None);

        let lower = parse_invocation_result(br#"{"outputs":{},"logs":[],"returnValue":{"body":"x"}}"#).unwrap();
        assert_eq!(http_output(&lower, "$return"), Some(&json!({"body": "x"})));
        assert_eq!(parse_invocation_result(b"{}").unwrap().logs, Vec::<String>::new());

        let errors = [
            (&b"nope"[..], "the answer is not JSON (expected ident at line 1 column 2): nope"),
            (b"[1]", "the answer must be a JSON object with Outputs, Logs and ReturnValue: [1]"),
            (br#"{"Outputs":[]}"#, "Outputs: expected an object, found []"),
            (br#"{"Logs":"x"}"#, "Logs: expected an array of strings, found \"x\""),
        ];
        for (body, expect) in errors {
            assert_eq!(parse_invocation_result(body).unwrap_err().to_string(), expect);
        }
    }

    #[test]
    fn answer_content_types() {
        let cases = [
            (Some("application/json"), Ok(())),
            (Some("application/json; charset=utf-8"), Ok(())),
            (Some("Text/JSON"), Ok(())),
            (
                Some("text/plain"),
                Err("the answer's Content-Type is \"text/plain\"; the host only reads application/json"),
            ),
            (None, Err("the answer's Content-Type is missing; the host only reads application/json")),
        ];
        for (content_type, expect) in cases {
            let mut headers = HeaderMap::new();
            if let Some(ct) = content_type {
                headers.insert("content-type", HeaderValue::from_str(ct).unwrap());
            }
            let got = check_answer_content_type(&headers).map_err(|e| e.to_string());
            assert_eq!(got.as_ref().map_err(String::as_str), expect.as_ref().map_err(|e| *e));
        }
    }

    #[test]
    fn previews_are_bounded() {
        assert_eq!(preview(b"  short \n"), "short");
        let long = "é".repeat(400);
        let p = preview(long.as_bytes());
        assert!(p.ends_with("... (800 bytes)"), "{p}");
    }
}
