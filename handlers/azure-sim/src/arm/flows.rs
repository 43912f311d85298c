//! The Logic Apps (Consumption) runtime behind the ARM double: the data plane that ARM's
//! `state` only steers. Polling triggers read a shared source and keep their own position in it;
//! each item becomes a run that takes time; and disable, enable, `reset`, `setState` and
//! `cancel` do to them what the service does:
//!
//! - a disabled workflow's trigger stops firing, but its Running and Waiting runs go on until they
//!   finish (runs drain);
//! - an enabled trigger fires for every item after its position, so enabling a copy that has been
//!   off for a while replays its whole backlog;
//! - `reset` moves the position to now; `setState` copies another trigger's position;
//! - a cancelled run ends `Cancelled` and does not process its item;
//! - a region's runtime can be down (nothing polls or progresses there) while its control plane
//!   still answers, or the other way round.
//!
//! Time comes in as `now`; the double advances the runtime on every request and on a short timer.
//! The source records which copy processed each item, so a test counts work, not flags.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use super::store::timestamp;

/// A polling trigger with client-side state, attached to a workflow with
/// [`ArmDouble::add_polling_trigger`](crate::ArmDouble::add_polling_trigger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollingTrigger {
    /// The trigger's name in the workflow definition, e.g. `When_a_new_email_arrives`.
    pub name: String,
    /// The shared source it reads ([`ArmDouble::push_items`](crate::ArmDouble::push_items)).
    pub source: String,
    /// How often it polls while the workflow is enabled.
    pub interval: Duration,
    /// How long one run takes from its start to processing its item.
    pub run_duration: Duration,
    /// Runs that may be Running at once; the rest wait (`Waiting`), as with the trigger's
    /// concurrency control. `None`: no limit.
    pub concurrency: Option<u32>,
}

/// One item of a shared source and who processed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceItem {
    pub id: u64,
    pub arrived: DateTime<Utc>,
    /// `(workflow id, run name)` of every run that processed it, in order.
    pub processed_by: Vec<(String, String)>,
}

/// A shared source (a mailbox, an FTP folder) as it stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceReport {
    pub items: Vec<SourceItem>,
}

impl SourceReport {
    /// Items processed more than once.
    pub fn duplicated(&self) -> Vec<&SourceItem> {
        self.items.iter().filter(|i| i.processed_by.len() > 1).collect()
    }

    /// Items no run has processed.
    pub fn unprocessed(&self) -> Vec<&SourceItem> {
        self.items.iter().filter(|i| i.processed_by.is_empty()).collect()
    }

    /// How many items each workflow (by id, lower case) processed.
    pub fn processed_per_workflow(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (workflow, _) in self.items.iter().flat_map(|i| &i.processed_by) {
            *counts.entry(workflow.to_ascii_lowercase()).or_insert(0) += 1;
        }
        counts
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WorkflowRun {
    pub name: String,
    pub status: String,
    /// When the run was created (its trigger fired).
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub trigger: String,
    /// The source item it processes, for runs the runtime made.
    item: Option<(String, u64)>,
    /// When it left `Waiting` (runs the runtime made).
    began: Option<DateTime<Utc>>,
    duration: TimeDelta,
}

#[derive(Debug)]
struct TriggerState {
    spec: PollingTrigger,
    /// Items `[0, position)` of the source have been fired for.
    position: usize,
    next_poll: DateTime<Utc>,
    created: DateTime<Utc>,
    changed: DateTime<Utc>,
    last_fired: Option<DateTime<Utc>>,
}

/// Runs, triggers, sources and region outages, keyed by lowercased workflow id.
#[derive(Debug, Default)]
pub(crate) struct Flows {
    /// Workflow runs, newest first.
    pub runs: HashMap<String, Vec<WorkflowRun>>,
    run_sequence: u64,
    triggers: HashMap<String, TriggerState>,
    sources: HashMap<String, Vec<SourceItem>>,
    /// Locations (lower case, without spaces) whose Logic Apps runtime is down.
    runtime_down: HashSet<String>,
}

/// What the runtime needs to know of a workflow resource.
pub(crate) struct WorkflowView {
    pub id: String,
    pub enabled: bool,
    pub location: String,
}

impl Flows {
    fn next_run_name(&mut self) -> String {
        self.run_sequence += 1;
        // Real run names are 29 characters: digits, then "CU" and a two-digit suffix.
        format!("08584{:022}CU{:02}", self.run_sequence, self.run_sequence % 100)
    }

    /// Adds finished or open runs to a workflow, `statuses` newest first; they are newer than any
    /// runs it has. Such runs belong to no trigger: they never finish by themselves.
    pub fn add_runs(&mut self, key: &str, statuses: &[&str], now: DateTime<Utc>) {
        let since =
            self.runs.get(key).and_then(|r| r.first()).map(|run| run.start).unwrap_or(now - TimeDelta::hours(1));
        // Spread the new runs evenly between the newest existing run (or an hour ago) and now,
        // so start times agree with the newest-first order.
        let step = (now - since) / (statuses.len() as i32 + 1);
        let mut added = Vec::with_capacity(statuses.len());
        for (i, status) in statuses.iter().enumerate() {
            let start = now - step * (i as i32 + 1);
            let finished = !matches!(*status, "Running" | "Waiting" | "Suspended");
            added.push(WorkflowRun {
                name: self.next_run_name(),
                status: (*status).to_owned(),
                start,
                end: finished.then(|| start + step / 2),
                trigger: "Recurrence".into(),
                item: None,
                began: None,
                duration: TimeDelta::zero(),
            });
        }
        self.runs.entry(key.to_owned()).or_default().splice(0..0, added);
    }

    pub fn add_trigger(&mut self, key: &str, spec: PollingTrigger, now: DateTime<Utc>) {
        self.sources.entry(spec.source.clone()).or_default();
        self.triggers.insert(
            key.to_owned(),
            TriggerState { spec, position: 0, next_poll: now, created: now, changed: now, last_fired: None },
        );
    }

    pub fn trigger_name(&self, key: &str) -> Option<&str> {
        self.triggers.get(key).map(|t| t.spec.name.as_str())
    }

    pub fn remove(&mut self, key: &str) {
        self.runs.remove(key);
        self.triggers.remove(key);
    }

    pub fn push_items(&mut self, source: &str, count: usize, now: DateTime<Utc>) -> Vec<u64> {
        let items = self.sources.entry(source.to_owned()).or_default();
        let first = items.len() as u64 + 1;
        let ids: Vec<u64> = (first..first + count as u64).collect();
        items.extend(ids.iter().map(|&id| SourceItem { id, arrived: now, processed_by: Vec::new() }));
        ids
    }

    pub fn source(&self, source: &str) -> Option<SourceReport> {
        self.sources.get(source).map(|items| SourceReport { items: items.clone() })
    }

    pub fn set_runtime(&mut self, location: &str, up: bool) {
        let location = location_key(location);
        if up {
            self.runtime_down.remove(&location);
        } else {
            self.runtime_down.insert(location);
        }
    }

    /// Brings the runtime up to `now`: triggers of enabled workflows poll, waiting runs start,
    /// running ones finish and process their items. A disabled workflow's runs go on.
    pub fn advance(&mut self, workflows: &[WorkflowView], now: DateTime<Utc>) {
        for workflow in workflows {
            let key = workflow.id.to_ascii_lowercase();
            if self.runtime_down.contains(&location_key(&workflow.location)) {
                continue;
            }
            if workflow.enabled {
                self.poll(&key, now);
            }
            self.progress(&key, &workflow.id, now);
        }
    }

    fn poll(&mut self, key: &str, now: DateTime<Utc>) {
        let Some(trigger) = self.triggers.get_mut(key) else { return };
        if now < trigger.next_poll {
            return;
        }
        let interval = TimeDelta::from_std(trigger.spec.interval).unwrap_or(TimeDelta::seconds(1));
        trigger.next_poll = now + interval;
        let items = self.sources.get(&trigger.spec.source).map(Vec::as_slice).unwrap_or(&[]);
        let fresh: Vec<u64> = items.iter().skip(trigger.position).filter(|i| i.arrived <= now).map(|i| i.id).collect();
        if fresh.is_empty() {
            return;
        }
        trigger.position += fresh.len();
        trigger.last_fired = Some(now);
        let (name, source) = (trigger.spec.name.clone(), trigger.spec.source.clone());
        let duration = TimeDelta::from_std(trigger.spec.run_duration).unwrap_or(TimeDelta::seconds(1));
        for id in fresh {
            let run = WorkflowRun {
                name: self.next_run_name(),
                status: "Waiting".into(),
                start: now,
                end: None,
                trigger: name.clone(),
                item: Some((source.clone(), id)),
                began: None,
                duration,
            };
            self.runs.entry(key.to_owned()).or_default().insert(0, run);
        }
    }

    fn progress(&mut self, key: &str, workflow_id: &str, now: DateTime<Utc>) {
        let limit = self.triggers.get(key).and_then(|t| t.spec.concurrency).map_or(usize::MAX, |c| c as usize);
        let Some(runs) = self.runs.get_mut(key) else { return };
        // Oldest first, as the runtime starts and finishes them.
        for run in runs.iter_mut().rev() {
            if run.status == "Running" && run.began.is_some_and(|began| began + run.duration <= now) {
                let end = run.began.map_or(now, |began| began + run.duration);
                run.status = "Succeeded".into();
                run.end = Some(end);
                if let Some((source, id)) = &run.item {
                    if let Some(item) = self.sources.get_mut(source).and_then(|items| items.get_mut(*id as usize - 1)) {
                        item.processed_by.push((workflow_id.to_owned(), run.name.clone()));
                    }
                }
            }
        }
        let mut running = runs.iter().filter(|r| r.status == "Running").count();
        for run in runs.iter_mut().rev() {
            if running >= limit {
                break;
            }
            if run.status == "Waiting" && run.item.is_some() {
                run.status = "Running".into();
                run.began = Some(now);
                running += 1;
            }
        }
    }

    /// `POST .../runs/{run}/cancel`: `Ok(false)` when the run has already ended.
    pub fn cancel(&mut self, key: &str, run: &str, now: DateTime<Utc>) -> Option<bool> {
        let run = self.runs.get_mut(key)?.iter_mut().find(|r| r.name.eq_ignore_ascii_case(run))?;
        if run.end.is_some() {
            return Some(false);
        }
        run.status = "Cancelled".into();
        run.end = Some(now);
        Some(true)
    }

    pub fn run(&self, key: &str, run: &str) -> Option<&WorkflowRun> {
        self.runs.get(key)?.iter().find(|r| r.name.eq_ignore_ascii_case(run))
    }

    /// `POST .../triggers/{t}/reset`: the trigger starts over from now.
    pub fn reset(&mut self, key: &str, now: DateTime<Utc>) {
        if let Some(trigger) = self.triggers.get_mut(key) {
            let arrived = self
                .sources
                .get(&trigger.spec.source)
                .map_or(0, |items| items.iter().filter(|i| i.arrived <= now).count());
            trigger.position = arrived;
            trigger.changed = now;
        }
    }

    /// `POST .../triggers/{t}/setState`: takes the position of `source_key`'s trigger.
    pub fn copy_state(&mut self, key: &str, source_key: &str, now: DateTime<Utc>) {
        let Some(position) = self.triggers.get(source_key).map(|t| t.position) else { return };
        if let Some(trigger) = self.triggers.get_mut(key) {
            trigger.position = position;
            trigger.changed = now;
        }
    }

    /// `GET .../triggers/{t}`, as WorkflowTriggers_Get answers it.
    pub fn trigger_document(&self, key: &str, workflow: &Value) -> Option<Value> {
        let trigger = self.triggers.get(key)?;
        let workflow_id = workflow["id"].as_str().unwrap_or_default();
        let version = workflow["properties"]["version"].as_str().unwrap_or("08584000000000000000");
        let state = workflow["properties"]["state"].as_str().unwrap_or("Enabled");
        let mut properties = json!({
            "provisioningState": "Succeeded",
            "createdTime": timestamp(trigger.created),
            "changedTime": timestamp(trigger.changed),
            "state": state,
            "status": if trigger.last_fired.is_some() { "Succeeded" } else { "Skipped" },
            "recurrence": {"frequency": "Second", "interval": trigger.spec.interval.as_secs().max(1)},
            "workflow": {
                "id": format!("{workflow_id}/versions/{version}"),
                "name": version,
                "type": "Microsoft.Logic/workflows/versions",
            },
        });
        if let Some(fired) = trigger.last_fired {
            properties["lastExecutionTime"] = json!(timestamp(fired));
        }
        if state.eq_ignore_ascii_case("Enabled") {
            properties["nextExecutionTime"] = json!(timestamp(trigger.next_poll));
        }
        Some(json!({
            "id": format!("{workflow_id}/triggers/{}", trigger.spec.name),
            "name": trigger.spec.name,
            "type": "Microsoft.Logic/workflows/triggers",
            "properties": properties,
        }))
    }
}

/// `West Europe` and `westeurope` are the same location.
pub(crate) fn location_key(location: &str) -> String {
    location.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

/// A `$filter` of WorkflowRuns_List: clauses joined by `and`, each `status eq '<status>'` or
/// `startTime <op> <time>` (`ge`, `gt`, `le`, `lt`; the time quoted or not).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RunFilter {
    status: Option<String>,
    start: Vec<(String, DateTime<Utc>)>,
}

impl RunFilter {
    pub fn parse(filter: &str) -> Option<Self> {
        let mut parsed = RunFilter::default();
        for clause in split_and(filter) {
            let mut words = clause.split_whitespace();
            let (field, op, value) = (words.next()?, words.next()?.to_ascii_lowercase(), words.next()?);
            if words.next().is_some() {
                return None;
            }
            let value = value.trim_matches('\'');
            if field.eq_ignore_ascii_case("status") && op == "eq" {
                parsed.status = Some(value.to_owned());
            } else if field.eq_ignore_ascii_case("startTime") && matches!(op.as_str(), "ge" | "gt" | "le" | "lt") {
                let at = DateTime::parse_from_rfc3339(value).ok()?.with_timezone(&Utc);
                parsed.start.push((op, at));
            } else {
                return None;
            }
        }
        Some(parsed)
    }

    pub fn matches(&self, run: &WorkflowRun) -> bool {
        self.status.as_deref().is_none_or(|s| run.status.eq_ignore_ascii_case(s))
            && self.start.iter().all(|(op, at)| match op.as_str() {
                "ge" => run.start >= *at,
                "gt" => run.start > *at,
                "le" => run.start <= *at,
                _ => run.start < *at,
            })
    }
}

fn split_and(filter: &str) -> Vec<&str> {
    let mut clauses = Vec::new();
    let mut rest = filter.trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        match lower.find(" and ") {
            Some(at) => {
                clauses.push(rest[..at].trim());
                rest = rest[at + 5..].trim();
            }
            None => {
                clauses.push(rest);
                return clauses;
            }
        }
    }
}

/// A run as WorkflowRuns_Get and WorkflowRuns_List answer it.
pub(crate) fn run_document(workflow: &Value, run: &WorkflowRun) -> Value {
    let workflow_id = workflow["id"].as_str().unwrap_or_default();
    let version = workflow["properties"]["version"].as_str().unwrap_or("08584000000000000000");
    let mut trigger = json!({
        "name": run.trigger,
        "startTime": timestamp(run.start),
        "endTime": timestamp(run.start),
        "scheduledTime": timestamp(run.start),
        "correlation": { "clientTrackingId": run.name },
        "code": "OK",
        "status": "Succeeded",
    });
    if run.item.is_none() {
        trigger.as_object_mut().map(|t| t.remove("scheduledTime"));
    }
    let mut properties = json!({
        "waitEndTime": timestamp(run.began.unwrap_or(run.start)),
        "startTime": timestamp(run.start),
        "status": run.status,
        "correlation": { "clientTrackingId": run.name },
        "workflow": {
            "id": format!("{workflow_id}/versions/{version}"),
            "name": version,
            "type": "Microsoft.Logic/workflows/versions",
        },
        "trigger": trigger,
        "outputs": {},
    });
    if let Some(end) = run.end {
        properties["endTime"] = json!(timestamp(end));
    }
    if run.status == "Cancelled" {
        properties["code"] = json!("Cancelled");
        properties["error"] = json!({"code": "Cancelled", "message": "The workflow run was cancelled."});
    }
    json!({
        "id": format!("{workflow_id}/runs/{}", run.name),
        "name": run.name,
        "type": "Microsoft.Logic/workflows/runs",
        "properties": properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger() -> PollingTrigger {
        PollingTrigger {
            name: "When_a_new_email_arrives".into(),
            source: "mailbox".into(),
            interval: Duration::from_secs(1),
            run_duration: Duration::from_secs(2),
            concurrency: Some(1),
        }
    }

    fn view(id: &str, enabled: bool) -> WorkflowView {
        WorkflowView { id: id.to_owned(), enabled, location: "westeurope".into() }
    }

    #[test]
    fn a_disabled_workflow_drains_and_an_enabled_copy_replays_its_backlog() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + TimeDelta::seconds(s);
        let (a, b) = ("/w/a", "/w/b");
        let mut flows = Flows::default();
        flows.add_trigger(a, trigger(), t0);
        flows.add_trigger(b, trigger(), t0);
        flows.push_items("mailbox", 2, t0);
        flows.advance(&[view(a, true), view(b, false)], at(0));
        // Concurrency 1: one runs, one waits.
        let statuses: Vec<_> = flows.runs[a].iter().map(|r| r.status.as_str()).collect();
        assert_eq!(statuses, ["Waiting", "Running"]);
        // Disabled now: both still finish, one after the other.
        flows.advance(&[view(a, false), view(b, false)], at(2));
        flows.advance(&[view(a, false), view(b, false)], at(4));
        let report = flows.source("mailbox").unwrap();
        assert_eq!(report.processed_per_workflow(), BTreeMap::from([(a.to_owned(), 2)]));
        // b never ran: enabled now, it fires for both items again.
        flows.advance(&[view(a, false), view(b, true)], at(5));
        assert_eq!(flows.runs[b].len(), 2);
        flows.advance(&[view(a, false), view(b, true)], at(7));
        flows.advance(&[view(a, false), view(b, true)], at(9));
        assert_eq!(flows.source("mailbox").unwrap().duplicated().len(), 2);
    }

    #[test]
    fn set_state_copies_the_position_and_reset_skips_to_now() {
        let t0 = Utc::now();
        let (a, b) = ("/w/a", "/w/b");
        let mut flows = Flows::default();
        flows.add_trigger(a, trigger(), t0);
        flows.add_trigger(b, trigger(), t0);
        flows.push_items("mailbox", 3, t0);
        flows.advance(&[view(a, true), view(b, false)], t0);
        flows.copy_state(b, a, t0);
        flows.push_items("mailbox", 1, t0);
        flows.advance(&[view(a, false), view(b, true)], t0 + TimeDelta::seconds(1));
        assert_eq!(flows.runs[b].len(), 1, "only the item after a's position");
        flows.push_items("mailbox", 2, t0 + TimeDelta::seconds(1));
        flows.reset(a, t0 + TimeDelta::seconds(1));
        flows.advance(&[view(a, true), view(b, false)], t0 + TimeDelta::seconds(3));
        assert_eq!(flows.runs[a].len(), 3, "nothing new after the reset");
    }

    #[test]
    fn cancelled_runs_process_nothing_and_a_dead_runtime_progresses_nothing() {
        let t0 = Utc::now();
        let a = "/w/a";
        let mut flows = Flows::default();
        flows.add_trigger(a, PollingTrigger { concurrency: None, ..trigger() }, t0);
        flows.push_items("mailbox", 2, t0);
        flows.advance(&[view(a, true)], t0);
        let first = flows.runs[a][1].name.clone();
        assert_eq!(flows.cancel(a, &first, t0), Some(true));
        flows.set_runtime("West Europe", false);
        flows.advance(&[view(a, true)], t0 + TimeDelta::seconds(5));
        assert!(flows.source("mailbox").unwrap().items.iter().all(|i| i.processed_by.is_empty()));
        flows.set_runtime("westeurope", true);
        flows.advance(&[view(a, true)], t0 + TimeDelta::seconds(6));
        let report = flows.source("mailbox").unwrap();
        assert_eq!(report.unprocessed().iter().map(|i| i.id).collect::<Vec<_>>(), [1]);
        assert_eq!(flows.cancel(a, &first, t0), Some(false));
    }

    #[test]
    fn run_filters() {
        assert_eq!(RunFilter::parse("status eq 'Running'").unwrap().status.as_deref(), Some("Running"));
        let f = RunFilter::parse("Status EQ 'Waiting' and startTime ge 2020-01-01T00:00:00Z").unwrap();
        assert_eq!(f.start.len(), 1);
        assert!(RunFilter::parse("startTime gt '2020-01-01T00:00:00Z'").is_some());
        assert!(RunFilter::parse("status eq Failed or status eq 'X'").is_none());
        assert!(RunFilter::parse("name eq 'x'").is_none());
    }
}
