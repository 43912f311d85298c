//! The .NET-style configuration reader the host's JSON files are read with: keys looked up
//! case-insensitively, booleans also written as strings, and `TimeSpan` text.

use std::time::Duration;

use serde_json::{Map, Value};

/// Looks a key up the way .NET configuration does: case-insensitively.
pub(crate) fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

pub(crate) fn opt_string(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{at}{key}: expected a string, found {other}")),
    }
}

/// Booleans in host settings may also be written as strings, as .NET configuration binds them.
pub(crate) fn opt_bool(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(format!("{at}{key}: expected true or false, found {other}")),
    }
}

pub(crate) fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(format!("{at}{key}: expected an object, found {other}")),
    }
}

pub(crate) fn parse_json_object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!("expected a JSON object, found {}", kind(&other))),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a .NET TimeSpan as written in `host.json`: `[d.]hh:mm:ss[.fff]`, or `-1` for no limit.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "-1" {
        // A day-long limit is "none" for a local run, and keeps the timer arithmetic finite.
        return Some(Duration::from_secs(24 * 3600));
    }
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, s),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, sec] = parts.as_slice() else {
        return None;
    };
    let h: u64 = h.parse().ok()?;
    let m: u64 = m.parse().ok()?;
    let sec: f64 = sec.parse().ok()?;
    if h > 23 || m > 59 || !(0.0..60.0).contains(&sec) {
        return None;
    }
    Some(Duration::from_secs(days * 86_400 + h * 3600 + m * 60) + Duration::from_secs_f64(sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        let cases = [
            ("00:05:00", Some(300.0)),
            ("1.00:00:01", Some(86_401.0)),
            ("00:00:01.5", Some(1.5)),
            ("-1", Some(86_400.0)),
            ("24:00:00", None),
            ("5", None),
        ];
        for (text, expect) in cases {
            assert_eq!(parse_timespan(text).map(|d| d.as_secs_f64()), expect, "{text}");
        }
    }
}
