//! The two steps between a fenced workflow's disable and its enable: drain the disabled copy's
//! runs (Consumption, or Standard through its site's host runtime), then settle where the new
//! copy's client-state trigger starts reading (Consumption: Standard has no API for a trigger's
//! position). Pure ARM calls and their reading; `run` schedules them and reports.

use std::time::Duration;

use http::Method;
use reqwest::Url;
use serde_json::json;
use tokio::time::Instant;

use super::report::ActionStatus;
use super::run::{Calls, Ended};
use super::target::Request;
use super::target::{Target, TargetKind};
use crate::arm::catalog::{LOGIC_API_VERSION, WEB_API_VERSION};
use crate::arm::ArmError;
use crate::plan::{AfterDrain, Drain, TriggerHandover, TriggerState};
use crate::resource_id::ResourceId;

/// How often a drain lists the runs still in progress.
const DRAIN_POLL: Duration = Duration::from_secs(1);

/// The run statuses that mean "still working": Azure lets both finish after a disable.
const OPEN_STATUSES: [&str; 2] = ["Running", "Waiting"];

/// Where a workflow's runs are listed (`{path}`) and cancelled (`{path}/{run}/cancel`).
pub(super) struct Runs {
    path: String,
    api_version: &'static str,
}

impl Runs {
    /// A Consumption workflow's own runs, or a Standard workflow's through its site's host
    /// runtime (Microsoft.Web's `WorkflowRuns_List` and `WorkflowRuns_Cancel`); none for other
    /// kinds.
    pub fn of(target: &Target<'_>) -> Option<Self> {
        let id = target.id;
        match target.kind {
            TargetKind::LogicApp => Some(Runs { path: format!("{id}/runs"), api_version: LOGIC_API_VERSION }),
            TargetKind::Workflow(workflow) => Some(Runs {
                path: format!("{id}/hostruntime/runtime/webhooks/workflow/api/management/workflows/{workflow}/runs"),
                api_version: WEB_API_VERSION,
            }),
            _ => None,
        }
    }
}

/// Waits until the disabled copy whose runs are `runs` has no Running or Waiting run, up to the
/// plan's limit or `deadline`; then, as the plan says, leaves the fence unconfirmed or cancels
/// what is left.
pub(super) async fn drain(
    calls: &mut Calls<'_>,
    runs: &Runs,
    drain: Drain,
    practice: bool,
    deadline: Instant,
) -> Ended {
    let started = Instant::now();
    let limit_at = (started + Duration::from_millis(drain.limit_ms)).min(deadline);
    let mut polls = 0u32;
    let open = loop {
        polls += 1;
        let listed = open_runs(calls, runs).await;
        match listed {
            Ok(open) if open.is_empty() && polls == 1 => {
                return Ended::new(ActionStatus::AlreadyDone, None, "no run was in progress".into());
            }
            Ok(open) if open.is_empty() => {
                return Ended::new(
                    ActionStatus::Done,
                    None,
                    format!("every run finished within {}", seconds(started.elapsed())),
                );
            }
            Ok(open) if practice => {
                let mut ended = Ended::new(
                    ActionStatus::WouldDo,
                    None,
                    format!(
                        "{} in progress: a real run waits up to {} for them, then {}",
                        count(open.len(), "run"),
                        seconds(Duration::from_millis(drain.limit_ms)),
                        after_label(drain.then)
                    ),
                );
                ended.runs = open;
                return ended;
            }
            Ok(open) if Instant::now() >= limit_at => break open,
            Err(e) if Instant::now() >= limit_at => {
                return Ended::new(ActionStatus::Unconfirmed, None, format!("cannot list its runs: {e}"));
            }
            _ => tokio::time::sleep(DRAIN_POLL.min(limit_at.saturating_duration_since(Instant::now()))).await,
        }
    };
    let waited = seconds(started.elapsed());
    match drain.then {
        AfterDrain::Wait => {
            let mut ended = Ended::new(
                ActionStatus::Unconfirmed,
                None,
                format!("{} still in progress after {waited}; the plan says wait", count(open.len(), "run")),
            );
            ended.runs = open;
            ended
        }
        AfterDrain::Cancel => {
            let mut failed = Vec::new();
            for run in &open {
                let cancel = Request {
                    method: Method::POST,
                    path: format!("{}/{run}/cancel", runs.path),
                    api_version: runs.api_version.to_owned(),
                    body: None,
                };
                match calls.send(&cancel, deadline).await {
                    Ok(_) => {}
                    // It ended on its own meanwhile: nothing left to cancel.
                    Err(ArmError::Status { status: 409, .. }) => {}
                    Err(e) => failed.push(format!("{run}: {e}")),
                }
            }
            let mut ended = if failed.is_empty() {
                Ended::new(
                    ActionStatus::Done,
                    Some(format!("POST {}/{{run}}/cancel", runs.path)),
                    format!(
                        "cancelled {} still in progress after {waited}: the items they held are not processed; resubmit them from the run history",
                        count(open.len(), "run")
                    ),
                )
            } else {
                Ended::new(ActionStatus::Unconfirmed, None, format!("could not cancel: {}", failed.join("; ")))
            };
            ended.runs = open;
            ended
        }
    }
}

/// The names of the Running and Waiting runs, every page.
async fn open_runs(calls: &mut Calls<'_>, runs: &Runs) -> Result<Vec<String>, ArmError> {
    let mut names = Vec::new();
    for status in OPEN_STATUSES {
        let filter = format!("status eq '{status}'");
        let mut page = calls.get(&runs.path, runs.api_version, &[("$filter", &filter)]).await?;
        loop {
            let listed =
                page["value"].as_array().ok_or_else(|| ArmError::Decode("the runs list has no value".into()))?;
            names.extend(listed.iter().filter_map(|r| r["name"].as_str()).map(str::to_owned));
            let Some(next) = page["nextLink"].as_str() else { break };
            let (path, query) = next_link(next)?;
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            page = calls.get(&path, runs.api_version, &query).await?;
        }
    }
    Ok(names)
}

/// A `nextLink` as a path and its query (without `api-version`, which the client adds).
fn next_link(link: &str) -> Result<(String, Vec<(String, String)>), ArmError> {
    let url = Url::parse(link).map_err(|e| ArmError::Decode(format!("the runs list's nextLink is not a URL: {e}")))?;
    let query =
        url.query_pairs().filter(|(k, _)| k != "api-version").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    Ok((url.path().to_owned(), query))
}

/// Settles where `to`'s trigger starts, before `to` is enabled; returns the choice carried out
/// (a fallback may have replaced the plan's) with how it ended. `from_answers`: the fence of
/// `from` was confirmed, so its control plane answers and its trigger can be read.
pub(super) async fn settle_trigger(
    calls: &mut Calls<'_>,
    from: &ResourceId,
    to: &Target<'_>,
    handover: TriggerHandover,
    from_answers: bool,
    practice: bool,
    deadline: Instant,
) -> (TriggerState, Ended) {
    if let TargetKind::Workflow(_) = to.kind {
        return (
            TriggerState::Backlog,
            Ended::new(
                ActionStatus::Skipped,
                None,
                "Logic Apps Standard has no API to move a trigger's position: the backlog is accepted: the trigger fires for every item since this copy last ran, and items the other copy already processed are processed again".into(),
            ),
        );
    }
    let to = to.id;
    let workflow = match calls.send(&read(to.to_string()), deadline).await {
        Ok(workflow) => workflow,
        Err(e) => {
            return (handover.choice, Ended::new(ActionStatus::Failed, None, format!("cannot read the copy: {e}")))
        }
    };
    if workflow["properties"]["state"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("Enabled")) {
        return (
            handover.choice,
            Ended::new(
                ActionStatus::AlreadyDone,
                None,
                "the copy is already enabled: its trigger is left as it is".into(),
            ),
        );
    }
    let trigger = match calls.send(&read(format!("{to}/triggers")), deadline).await {
        Ok(list) => list["value"][0]["name"].as_str().map(str::to_owned),
        Err(e) => {
            return (handover.choice, Ended::new(ActionStatus::Failed, None, format!("cannot list its triggers: {e}")))
        }
    };
    let Some(trigger) = trigger else {
        return (
            handover.choice,
            Ended::new(ActionStatus::Skipped, None, "the workflow has no trigger, so no position to settle".into()),
        );
    };
    let (choice, mut why) = match handover.choice {
        TriggerState::TakeOver if !from_answers => (
            handover.if_unreachable,
            format!(
                "the other copy's fence is not confirmed, so its position cannot be taken; {}: ",
                handover.if_unreachable.label()
            ),
        ),
        choice => (choice, String::new()),
    };
    let mut choice = choice;
    loop {
        let write = match choice {
            TriggerState::Backlog => {
                why.push_str(
                    "the backlog is accepted: the trigger fires for every item since this copy last ran, and items the other copy already processed are processed again",
                );
                return (choice, Ended::new(ActionStatus::Skipped, None, why));
            }
            TriggerState::TakeOver => Request {
                method: Method::POST,
                path: format!("{to}/triggers/{trigger}/setState"),
                api_version: LOGIC_API_VERSION.to_owned(),
                body: Some(json!({"source": {"id": format!("{from}/triggers/{trigger}")}})),
            },
            TriggerState::Reset => Request {
                method: Method::POST,
                path: format!("{to}/triggers/{trigger}/reset"),
                api_version: LOGIC_API_VERSION.to_owned(),
                body: None,
            },
        };
        let what = match choice {
            TriggerState::TakeOver => "takes over the other copy's trigger position: it starts where that copy stopped",
            _ => "starts from now: items not yet taken by the other copy are skipped",
        };
        if practice {
            return (choice, Ended::new(ActionStatus::WouldDo, Some(write.line()), format!("{why}{what}")));
        }
        match calls.send(&write, deadline).await {
            Ok(_) => return (choice, Ended::new(ActionStatus::Done, Some(write.line()), format!("{why}{what}"))),
            // The other copy's region does not answer: the plan's fallback. A refusal is not
            // that (the region answered; a role or the request is wrong): falling back would
            // trade the promised exactly-once for a fix someone has to make anyway.
            Err(e) if choice == TriggerState::TakeOver && !e.is_refusal() => {
                why = format!("could not take the other copy's position ({e}); {}: ", handover.if_unreachable.label());
                choice = handover.if_unreachable;
            }
            Err(e) => {
                return (
                    choice,
                    Ended::new(
                        ActionStatus::Failed,
                        Some(write.line()),
                        format!("{why}the trigger state is not settled: {e}"),
                    ),
                )
            }
        }
    }
}

fn read(path: String) -> Request {
    Request { method: Method::GET, path, api_version: LOGIC_API_VERSION.to_owned(), body: None }
}

fn after_label(then: AfterDrain) -> &'static str {
    match then {
        AfterDrain::Wait => "waits for an operator",
        AfterDrain::Cancel => "cancels what is left",
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_keep_their_query_but_the_version() {
        let (path, query) = next_link(
            "https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/w/runs?api-version=2019-05-01&$skiptoken=30&$filter=status%20eq%20'Running'",
        )
        .unwrap();
        assert_eq!(path, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/w/runs");
        assert_eq!(query, [("$skiptoken".into(), "30".into()), ("$filter".into(), "status eq 'Running'".into())]);
    }

    #[test]
    fn values_shown_in_reports() {
        assert_eq!(count(1, "run"), "1 run");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
