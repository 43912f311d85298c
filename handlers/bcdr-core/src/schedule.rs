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

/// Why a recurrence cannot be split as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error(
        "an interval of {0} min does not divide an hour or a day evenly; use one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720 or 1440"
    )]
    Interval(u32),
    #[error("a split schedule needs at least 2 regions, not {0}")]
    TooFewRegions(u32),
    #[error(
        "every {every} min ({seconds} s) cannot be split evenly over {regions} regions: {seconds} is not a multiple of {regions}"
    )]
    Uneven { every: u32, seconds: u32, regions: u32 },
    #[error(
        "an offset of {offset} s must be below the gap between two regions' runs ({gap} s for every {every} min over {regions} regions)"
    )]
    Offset { offset: u32, gap: u32, every: u32, regions: u32 },
}

/// The NCRONTAB expressions of a recurrence split across `regions` regions: each region runs
/// every `every_minutes`, region `i` (0 is the primary) `offset_seconds + i x every / regions`
/// after the hour (or the day), so together they run every `every / regions` and never
/// together. Every 20 minutes over two regions: `0 0,20,40 * * * *` and `0 10,30,50 * * * *`.
///
/// `every_minutes` divides an hour (the minute field repeats) or is a whole number of hours
/// that divides a day (the hour field repeats); a region's start may fall on any second.
pub fn split(every_minutes: u32, regions: u32, offset_seconds: u32) -> Result<Vec<String>, SplitError> {
    let every = every_minutes;
    let hourly = 60u32.is_multiple_of(every);
    let daily = every >= 60 && every.is_multiple_of(60) && 24u32.is_multiple_of(every / 60);
    if !hourly && !daily {
        return Err(SplitError::Interval(every));
    }
    if regions < 2 {
        return Err(SplitError::TooFewRegions(regions));
    }
    let seconds = every * 60;
    if !seconds.is_multiple_of(regions) {
        return Err(SplitError::Uneven { every, seconds, regions });
    }
    let gap = seconds / regions;
    if offset_seconds >= gap {
        return Err(SplitError::Offset { offset: offset_seconds, gap, every, regions });
    }
    Ok((0..regions)
        .map(|i| {
            let start = offset_seconds + i * gap;
            let (second, minute, hour) = (start % 60, start / 60 % 60, start / 3600);
            if hourly {
                format!("{second} {} * * * *", repeating(minute, every, 60))
            } else {
                format!("{second} {minute} {} * * *", repeating(hour, every / 60, 24))
            }
        })
        .collect())
}

/// `first, first + step, …` below `end` as a NCRONTAB list, or `*` when that is every value.
fn repeating(first: u32, step: u32, end: u32) -> String {
    if step == 1 {
        return "*".to_owned();
    }
    (first..end).step_by(step as usize).map(|v| v.to_string()).collect::<Vec<_>>().join(",")
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

    /// The split of `every` minutes over `regions` regions, one expression a line, or the error.
    fn check_split(every: u32, regions: u32, offset: u32, expect: &str) {
        let got = match split(every, regions, offset) {
            Ok(lines) => lines.join("\n"),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "every {every} over {regions} offset {offset}");
    }

    #[test]
    fn splits() {
        check_split(20, 2, 0, "0 0,20,40 * * * *\n0 10,30,50 * * * *");
        check_split(20, 2, 300, "0 5,25,45 * * * *\n0 15,35,55 * * * *");
        check_split(15, 3, 0, "0 0,15,30,45 * * * *\n0 5,20,35,50 * * * *\n0 10,25,40,55 * * * *");
        check_split(
            5,
            2,
            0,
            "0 0,5,10,15,20,25,30,35,40,45,50,55 * * * *\n30 2,7,12,17,22,27,32,37,42,47,52,57 * * * *",
        );
        check_split(1, 2, 0, "0 * * * * *\n30 * * * * *");
        check_split(1, 4, 5, "5 * * * * *\n20 * * * * *\n35 * * * * *\n50 * * * * *");
        check_split(60, 2, 0, "0 0 * * * *\n0 30 * * * *");
        check_split(120, 2, 0, "0 0 0,2,4,6,8,10,12,14,16,18,20,22 * * *\n0 0 1,3,5,7,9,11,13,15,17,19,21,23 * * *");
        check_split(1440, 2, 0, "0 0 0 * * *\n0 0 12 * * *");
        check_split(1440, 3, 90, "30 1 0 * * *\n30 1 8 * * *\n30 1 16 * * *");
    }

    #[test]
    fn split_errors() {
        let intervals = "1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720 or 1440";
        for every in [0, 7, 90, 2880] {
            let expect =
                format!("an interval of {every} min does not divide an hour or a day evenly; use one of {intervals}");
            check_split(every, 2, 0, &expect);
        }
        check_split(20, 1, 0, "a split schedule needs at least 2 regions, not 1");
        check_split(1, 7, 0, "every 1 min (60 s) cannot be split evenly over 7 regions: 60 is not a multiple of 7");
        check_split(
            20,
            2,
            600,
            "an offset of 600 s must be below the gap between two regions' runs (600 s for every 20 min over 2 regions)",
        );
    }

    /// Valid splits: an interval, a region count that divides it in seconds, an offset below the gap.
    fn valid_split() -> impl proptest::strategy::Strategy<Value = (u32, u32, u32)> {
        use proptest::prelude::*;
        const INTERVALS: [u32; 19] = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440];
        (proptest::sample::select(&INTERVALS[..]), 2u32..=12)
            .prop_filter("regions divide the interval", |(every, regions)| (every * 60).is_multiple_of(*regions))
            .prop_flat_map(|(every, regions)| (Just(every), Just(regions), 0..every * 60 / regions))
    }

    proptest::proptest! {
        /// Each region runs every `every` minutes; together they run every `every / regions`, in
        /// region order, and never two at once.
        #[test]
        fn split_regions_take_turns((every, regions, offset) in valid_split(), day in 0i64..3650) {
            let schedules: Vec<Schedule> =
                split(every, regions, offset).unwrap().iter().map(|e| Schedule::parse(e).unwrap()).collect();
            let period = chrono::Duration::minutes(every.into());
            let gap = period / regions as i32;
            // Two periods, (from, from + 2 x period]: the first run comes offset + 1 s after `from`.
            let from = at("2026-01-01T00:00:00Z") + chrono::Duration::days(day) - chrono::Duration::seconds(1);
            let mut runs = Vec::new();
            for (region, schedule) in schedules.iter().enumerate() {
                let mut t = from;
                while let Some(next) = schedule.next_after(t).filter(|n| *n <= from + period * 2) {
                    runs.push((next, region));
                    t = next;
                }
            }
            runs.sort();
            proptest::prop_assert_eq!(runs.len(), 2 * regions as usize);
            proptest::prop_assert_eq!(runs[0].0 - from, chrono::Duration::seconds(i64::from(offset) + 1));
            for pair in runs.windows(2) {
                proptest::prop_assert_eq!(pair[1].0 - pair[0].0, gap);
                proptest::prop_assert_eq!(pair[1].1, (pair[0].1 + 1) % regions as usize);
            }
        }
    }
}
