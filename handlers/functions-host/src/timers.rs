//! Timer triggers: when each occurs, what the handler is told about it, and the loop that fires it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::watch;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::app::AppSpec;
use crate::call;
use crate::function_json::TimerTrigger;
use crate::invocation::{self, ScheduleStatus, TimerInfo};
use crate::supervisor::{self, WorkerState};

/// One timer's bookkeeping, as the timer listener keeps it. Time comes in as arguments, so
/// the rules can be checked against a made-up clock.
#[derive(Debug, Clone)]
pub struct TimerClock {
    trigger: TimerTrigger,
    monitored: bool,
    status: ScheduleStatus,
    past_due: bool,
}

/// What happens at an occurrence.
#[derive(Debug, Clone, PartialEq)]
pub enum Fire {
    Invoke(TimerInfo),
    /// The previous invocation still runs; the next one will be marked past due.
    Skip,
}

impl TimerClock {
    pub fn new(trigger: TimerTrigger, now: DateTime<Utc>) -> Option<TimerClock> {
        let monitored = trigger.use_monitor.unwrap_or_else(|| trigger.schedule.monitored_by_default(now));
        let next = trigger.schedule.next_after(now)?;
        Some(TimerClock {
            trigger,
            monitored,
            status: ScheduleStatus { last: None, next, last_updated: None },
            past_due: false,
        })
    }

    /// When the timer fires next.
    pub fn next_due(&self) -> DateTime<Utc> {
        self.status.next
    }

    fn info(&mut self) -> TimerInfo {
        let info = TimerInfo { status: self.monitored.then(|| self.status.clone()), is_past_due: self.past_due };
        self.past_due = false;
        info
    }

    /// The `runOnStartup` invocation.
    pub fn startup(&mut self, now: DateTime<Utc>) -> TimerInfo {
        let info = self.info();
        self.record(now, now);
        info
    }

    /// The occurrence due at `due` has come (the wall clock says `now`); `busy` when the
    /// previous invocation has not finished.
    pub fn fire(&mut self, due: DateTime<Utc>, now: DateTime<Utc>, busy: bool) -> Fire {
        if busy {
            self.past_due = true;
            self.status.next = self.trigger.schedule.next_after(due).unwrap_or(due);
            return Fire::Skip;
        }
        let info = self.info();
        self.record(due, now);
        Fire::Invoke(info)
    }

    fn record(&mut self, occurred: DateTime<Utc>, now: DateTime<Utc>) {
        self.status = ScheduleStatus {
            last: Some(occurred),
            next: self.trigger.schedule.next_after(occurred).unwrap_or(occurred),
            last_updated: Some(now),
        };
    }
}

/// Fires one timer function until the task is dropped.
pub async fn run(
    app: Arc<AppSpec>,
    function: String,
    trigger: TimerTrigger,
    client: reqwest::Client,
    state: watch::Receiver<WorkerState>,
) {
    let Some(mut clock) = TimerClock::new(trigger.clone(), Utc::now()) else {
        return;
    };
    let busy = Arc::new(AtomicBool::new(false));
    let start = |info: TimerInfo| {
        busy.store(true, Ordering::SeqCst);
        let (app, function, binding) = (app.clone(), function.clone(), trigger.binding.clone());
        let (client, state, busy) = (client.clone(), state.clone(), busy.clone());
        tokio::spawn(async move {
            invoke(&app, &function, &binding, info, &client, &state).await;
            busy.store(false, Ordering::SeqCst);
        });
    };
    if trigger.run_on_startup {
        start(clock.startup(Utc::now()));
    }
    loop {
        let due = clock.next_due();
        let wait = (due - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        match clock.fire(due, Utc::now(), busy.load(Ordering::SeqCst)) {
            Fire::Invoke(info) => start(info),
            Fire::Skip => warn!(
                "[{}] {function}: skipped the {} occurrence, the previous invocation is still running",
                app.name,
                due.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
        }
    }
}

async fn invoke(
    app: &AppSpec,
    function: &str,
    binding: &str,
    info: TimerInfo,
    client: &reqwest::Client,
    state: &watch::Receiver<WorkerState>,
) {
    let name = &app.name;
    let started = Instant::now();
    let Some(port) = supervisor::ready_port(state, supervisor::READY_LIMIT).await else {
        error!("[{name}] {function} (timer): failed, the handler is not running");
        return;
    };
    let payload = invocation::timer_invocation(function, binding, &info, Utc::now(), Uuid::new_v4());
    let answer = call::invoke(client, port, function, &payload, Uuid::new_v4(), app.function_timeout).await;
    let ms = started.elapsed().as_millis();
    let past_due = if info.is_past_due { ", past due" } else { "" };
    match answer {
        Err(e) => error!("[{name}] {function} (timer{past_due}): failed in {ms} ms, {e}"),
        Ok(a) if !a.status.is_success() => error!(
            "[{name}] {function} (timer{past_due}): failed in {ms} ms, the handler answered {}: {}",
            a.status,
            invocation::preview(&a.body)
        ),
        Ok(a) => match invocation::check_answer_content_type(&a.headers)
            .and_then(|()| invocation::parse_invocation_result(&a.body))
        {
            Err(e) => error!("[{name}] {function} (timer{past_due}): failed in {ms} ms, {e}"),
            Ok(result) => {
                for line in &result.logs {
                    info!("[{name}] {function}: {line}");
                }
                info!("[{name}] {function} (timer{past_due}): {} in {ms} ms", a.status.as_u16());
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bcdr_core::schedule::Schedule;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn clock(expr: &str, monitor: Option<bool>, now: &str) -> TimerClock {
        let trigger = TimerTrigger {
            binding: "myTimer".into(),
            schedule: Schedule::parse(expr).unwrap(),
            run_on_startup: false,
            use_monitor: monitor,
        };
        TimerClock::new(trigger, at(now)).unwrap()
    }

    fn show(fire: &Fire) -> String {
        match fire {
            Fire::Skip => "skip".into(),
            Fire::Invoke(info) => serde_json::json!({
                "status": info.to_json()["ScheduleStatus"],
                "pastDue": info.is_past_due,
            })
            .to_string(),
        }
    }

    #[test]
    fn monitored_schedule_reports_status_from_the_previous_occurrence() {
        let mut c = clock("0 */5 * * * *", None, "2026-01-01T00:03:00Z");
        assert_eq!(c.next_due(), at("2026-01-01T00:05:00Z"));
        let first = c.fire(c.next_due(), at("2026-01-01T00:05:00.01Z"), false);
        assert_eq!(
            show(&first),
            r#"{"pastDue":false,"status":{"Last":"0001-01-01T00:00:00","LastUpdated":"0001-01-01T00:00:00","Next":"2026-01-01T00:05:00+00:00"}}"#
        );
        let second = c.fire(c.next_due(), at("2026-01-01T00:10:00.02Z"), false);
        assert_eq!(
            show(&second),
            r#"{"pastDue":false,"status":{"Last":"2026-01-01T00:05:00+00:00","LastUpdated":"2026-01-01T00:05:00.01+00:00","Next":"2026-01-01T00:10:00+00:00"}}"#
        );
    }

    #[test]
    fn busy_timer_skips_and_marks_the_next_invocation_past_due() {
        let mut c = clock("*/1 * * * * *", None, "2026-01-01T00:00:00Z");
        let due = c.next_due();
        assert_eq!(show(&c.fire(due, due, false)), r#"{"pastDue":false,"status":null}"#);
        let due = c.next_due();
        assert_eq!(due, at("2026-01-01T00:00:02Z"));
        assert_eq!(show(&c.fire(due, due, true)), "skip");
        let due = c.next_due();
        assert_eq!(due, at("2026-01-01T00:00:03Z"));
        assert_eq!(show(&c.fire(due, due, false)), r#"{"pastDue":true,"status":null}"#);
        let due = c.next_due();
        assert_eq!(show(&c.fire(due, due, false)), r#"{"pastDue":false,"status":null}"#);
    }

    #[test]
    fn use_monitor_overrides_the_default_and_startup_records_an_occurrence() {
        let mut c = clock("*/1 * * * * *", Some(true), "2026-01-01T00:00:00.5Z");
        let info = c.startup(at("2026-01-01T00:00:00.5Z"));
        assert_eq!(
            info.to_json()["ScheduleStatus"],
            serde_json::json!({"Last": "0001-01-01T00:00:00", "Next": "2026-01-01T00:00:01+00:00", "LastUpdated": "0001-01-01T00:00:00"})
        );
        assert_eq!(c.next_due(), at("2026-01-01T00:00:01Z"));
        let mut unmonitored = clock("0 */5 * * * *", Some(false), "2026-01-01T00:00:00Z");
        assert_eq!(unmonitored.startup(at("2026-01-01T00:00:00Z")).status, None);
    }
}
