//! Timer schedules: NCRONTAB expressions (six fields, seconds first, UTC) and `%Setting%` substitution.
//!
//! Parsing and the search for occurrences are done by croner, configured to read NCRONTAB:
//! seconds required, no year field, and a day must match both the day-of-month and the
//! day-of-week fields (NCrontab checks the weekday of each candidate day; Vixie cron would
//! take either).

use std::fmt;

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    MissingSetting(String),
    UnclosedPercent(String),
    FieldCount { expression: String, count: usize },
    TimeSpan(String),
    Invalid { expression: String, reason: String },
    NoOccurrence(String),
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::MissingSetting(name) => {
                write!(f, "the app setting {name} is not defined")
            }
            ScheduleError::UnclosedPercent(text) => {
                write!(f, "{text:?} has a % without its closing % (write %Setting%)")
            }
            ScheduleError::FieldCount { expression, count } if *count == 5 => write!(
                f,
                "{expression:?} has 5 fields; NCRONTAB needs 6 (second minute hour day month day-of-week), e.g. \"0 */5 * * * *\""
            ),
            ScheduleError::FieldCount { expression, count } => write!(
                f,
                "{expression:?} has {count} fields; NCRONTAB needs 6 (second minute hour day month day-of-week)"
            ),
            ScheduleError::TimeSpan(expression) => write!(
                f,
                "{expression:?} is a TimeSpan schedule; bcdr host runs NCRONTAB schedules only (six fields, e.g. \"0 */5 * * * *\")"
            ),
            ScheduleError::Invalid { expression, reason } => {
                write!(f, "{expression:?} is not a valid NCRONTAB expression: {reason}")
            }
            ScheduleError::NoOccurrence(expression) => {
                write!(f, "{expression:?} never occurs")
            }
        }
    }
}

impl std::error::Error for ScheduleError {}

/// Replaces each `%Name%` with the app setting `Name`, as the host's name resolver does.
pub fn substitute(text: &str, resolve: &dyn Fn(&str) -> Option<String>) -> Result<String, ScheduleError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('%').ok_or_else(|| ScheduleError::UnclosedPercent(text.to_string()))?;
        let name = &after[..end];
        let value = resolve(name).ok_or_else(|| ScheduleError::MissingSetting(name.to_string()))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A parsed NCRONTAB schedule, evaluated in UTC.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    /// Boxed: a parsed pattern is a few hundred bytes, and schedules travel inside enums.
    cron: Box<Cron>,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression
    }
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
        let expression = expression.trim().to_string();
        let count = expression.split_whitespace().count();
        if count == 1 && expression.contains(':') {
            return Err(ScheduleError::TimeSpan(expression));
        }
        if count != 6 {
            return Err(ScheduleError::FieldCount { expression, count });
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .dom_and_dow(true)
            .build()
            .parse(&expression)
            .map_err(|e| ScheduleError::Invalid { expression: expression.clone(), reason: e.to_string() })?;
        let schedule = Schedule { expression, cron: Box::new(cron) };
        if schedule.next_after(DateTime::UNIX_EPOCH).is_none() {
            return Err(ScheduleError::NoOccurrence(schedule.expression));
        }
        Ok(schedule)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    /// The host monitors a schedule (and so reports `ScheduleStatus`) unless told otherwise
    /// when its occurrences are at least a minute apart.
    pub fn monitored_by_default(&self, now: DateTime<Utc>) -> bool {
        let mut t = now;
        let mut prev: Option<DateTime<Utc>> = None;
        for _ in 0..4 {
            let Some(next) = self.next_after(t) else {
                return true;
            };
            if let Some(p) = prev {
                if next - p < chrono::Duration::minutes(1) {
                    return false;
                }
            }
            prev = Some(next);
            t = next;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The next `n` occurrences after `from`, as RFC 3339 text.
    fn check(expr: &str, from: &str, expect: &[&str]) {
        let s = Schedule::parse(expr).unwrap();
        let mut t = at(from);
        let mut got = Vec::new();
        for _ in 0..expect.len() {
            t = s.next_after(t).unwrap();
            got.push(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        assert_eq!(got, expect, "{expr} from {from}");
    }

    #[test]
    fn occurrences() {
        check("*/1 * * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]);
        check("0 */5 * * * *", "2026-01-01T00:03:10Z", &["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]);
        check(
            "0 10,30,50 * * * *",
            "2026-01-01T00:20:00Z",
            &["2026-01-01T00:30:00Z", "2026-01-01T00:50:00Z", "2026-01-01T01:10:00Z"],
        );
        // 2026-01-04 is a Sunday: NCRONTAB's 0 is Sunday.
        check("0 0 9 * * 0", "2026-01-01T00:00:00Z", &["2026-01-04T09:00:00Z"]);
        check("0 0 9 * * SUN", "2026-01-01T00:00:00Z", &["2026-01-04T09:00:00Z"]);
        check("0 0 9 * * 1-5", "2026-01-02T10:00:00Z", &["2026-01-05T09:00:00Z"]);
        // Both day fields must match: the 13th that is a Friday (2026-02-13).
        check("0 0 0 13 * 5", "2026-01-01T00:00:00Z", &["2026-02-13T00:00:00Z"]);
    }

    #[test]
    fn errors() {
        let cases = [
            ("*/5 * * * *", "\"*/5 * * * *\" has 5 fields; NCRONTAB needs 6 (second minute hour day month day-of-week), e.g. \"0 */5 * * * *\""),
            ("0 0 * * * * 2026", "\"0 0 * * * * 2026\" has 7 fields; NCRONTAB needs 6 (second minute hour day month day-of-week)"),
            ("00:05:00", "\"00:05:00\" is a TimeSpan schedule; bcdr host runs NCRONTAB schedules only (six fields, e.g. \"0 */5 * * * *\")"),
            ("", "\"\" has 0 fields; NCRONTAB needs 6 (second minute hour day month day-of-week)"),
        ];
        for (expr, expect) in cases {
            assert_eq!(Schedule::parse(expr).unwrap_err().to_string(), expect);
        }
        let invalid = Schedule::parse("61 * * * * *").unwrap_err().to_string();
        assert!(invalid.starts_with("\"61 * * * * *\" is not a valid NCRONTAB expression: "), "{invalid}");
        assert!(Schedule::parse("0 0 0 31 2 *").is_err());
    }

    #[test]
    fn substitution() {
        let settings = |n: &str| match n {
            "EVERY" => Some("0 */5 * * * *".to_string()),
            "MIN" => Some("7".to_string()),
            _ => None,
        };
        let cases = [
            ("%EVERY%", Ok("0 */5 * * * *")),
            ("0 %MIN% * * * *", Ok("0 7 * * * *")),
            ("0 0 * * * *", Ok("0 0 * * * *")),
            ("%NOPE%", Err("the app setting NOPE is not defined")),
            ("%EVERY", Err("\"%EVERY\" has a % without its closing % (write %Setting%)")),
        ];
        for (text, expect) in cases {
            let got = substitute(text, &settings).map_err(|e| e.to_string());
            assert_eq!(got.as_deref().map_err(|e| e.as_str()), expect, "{text}");
        }
    }

    #[test]
    fn monitoring_defaults() {
        let now = at("2026-01-01T00:00:00Z");
        let cases =
            [("*/1 * * * * *", false), ("*/30 * * * * *", false), ("0 * * * * *", true), ("0 */5 * * * *", true)];
        for (expr, expect) in cases {
            assert_eq!(Schedule::parse(expr).unwrap().monitored_by_default(now), expect, "{expr}");
        }
    }
}
