//! The payloads of the custom-handler protocol as the Functions host sends and expects them:
//! `POST /{function}` invocations (`Data`, `Metadata`), timer values, non-forwarded HTTP
//! requests (`Data.req`) and the `{Outputs, Logs, ReturnValue}` answer.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// What the host posts to `/{functionName}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct InvocationRequest {
    #[serde(rename = "Data", default)]
    pub data: Map<String, Value>,
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

impl InvocationRequest {
    /// `Metadata.sys.UtcNow`, when the host sent one.
    pub fn utc_now(&self) -> Option<DateTime<Utc>> {
        let raw = self.metadata.get("sys")?.get("UtcNow")?.as_str()?;
        parse_host_time(raw)
    }
}

/// What the handler answers to an invocation; the host requires a 2xx with this JSON body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvocationResponse {
    #[serde(rename = "Outputs")]
    pub outputs: Map<String, Value>,
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    #[serde(rename = "ReturnValue")]
    pub return_value: Value,
}

/// The timer trigger's value (`Data.<binding>`), PascalCase as the host serializes `TimerInfo`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct TimerInfo {
    #[serde(rename = "Schedule", default)]
    pub schedule: Value,
    /// Null when the schedule is not monitored (and on a first run).
    #[serde(rename = "ScheduleStatus", default)]
    pub schedule_status: Option<ScheduleStatus>,
    #[serde(rename = "IsPastDue", default)]
    pub is_past_due: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ScheduleStatus {
    #[serde(rename = "Last", deserialize_with = "host_time")]
    pub last: DateTime<Utc>,
    #[serde(rename = "Next", deserialize_with = "host_time")]
    pub next: DateTime<Utc>,
    #[serde(rename = "LastUpdated", deserialize_with = "host_time")]
    pub last_updated: DateTime<Utc>,
}

/// A non-forwarded HTTP trigger's request (`Data.req`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct HttpTriggerRequest {
    #[serde(rename = "Url", default)]
    pub url: String,
    #[serde(rename = "Method", default)]
    pub method: String,
    #[serde(rename = "Query", default, deserialize_with = "string_map")]
    pub query: BTreeMap<String, String>,
    #[serde(rename = "Headers", default, deserialize_with = "header_lists")]
    pub headers: BTreeMap<String, Vec<String>>,
    #[serde(rename = "Params", default, deserialize_with = "string_map")]
    pub params: BTreeMap<String, String>,
    #[serde(rename = "Body", default)]
    pub body: Value,
}

impl HttpTriggerRequest {
    /// The body as bytes: the host sends text as a JSON string, but may send parsed JSON.
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            Value::Null => Vec::new(),
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }
    }
}

/// The answer to a non-forwarded HTTP trigger (`Outputs.res`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpTriggerResponse {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// The host writes `DateTime` values with or without an offset; one without is UTC.
pub fn parse_host_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())
}

fn host_time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let raw = String::deserialize(d)?;
    parse_host_time(&raw).ok_or_else(|| serde::de::Error::custom(format!("{raw:?} is not a date-time")))
}

/// Query and route values are strings, but tolerate numbers and booleans and drop nulls.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default();
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect())
}

/// Headers come as name -> list of values; a lone string is accepted as a one-item list.
fn header_lists<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let map = Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, v) in map {
        let values = match v {
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    other => Err(serde::de::Error::custom(format!("header {name}: {other} is not a string"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Value::String(s) => vec![s],
            other => return Err(serde::de::Error::custom(format!("header {name}: {other} is not a list of strings"))),
        };
        out.insert(name, values);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_times_without_offset_are_utc() {
        let cases = [
            ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00+00:00"),
            ("2026-11-26T10:00:00.1234567", "2026-11-26T10:00:00.123456700+00:00"),
            ("2026-11-26T11:00:00+01:00", "2026-11-26T10:00:00+00:00"),
            ("2026-11-26T10:00:00", "2026-11-26T10:00:00+00:00"),
        ];
        for (raw, expect) in cases {
            assert_eq!(parse_host_time(raw).map(|t| t.to_rfc3339()).as_deref(), Some(expect), "{raw}");
        }
        assert_eq!(parse_host_time("yesterday"), None);
    }
}
