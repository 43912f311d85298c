//! The fence's promise counted in work done: a client-state poller's items, read from a shared
//! mailbox by both regions' copies, are processed once each through a failover and a failback,
//! against the ARM double's Logic Apps runtime (runs that take time and drain after a disable,
//! triggers that keep their position and replay their backlog). Each guarantee is checked on
//! the items processed, and each plan choice's documented risk is measured the same way.

mod arm_support;

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_sim::{ArmDouble, ArmOptions, Feed, PollingTrigger, RegistryCredential, SourceReport, TokenRegistry};
use bcdr_core::arm::{ArmClient, RetryPolicy};
use bcdr_core::failover::{self, ActionReport, ActionStatus, Direction, Outcome, Report, RunOptions, Stage};
use bcdr_core::plan::{FailoverPlan, ResourceKind};
use chrono::Utc;
use serde_json::{json, Value};
use tokio::time::Instant;

const CLIENT_ID: &str = "activation-identity";

fn workflow(region: &str) -> String {
    format!("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-{region}/providers/Microsoft.Logic/workflows/mail-{region}")
}

/// Each copy's trigger: polls every 50 ms, a run takes 300 ms, four runs at a time (the rest
/// wait), so a copy keeps up with the mail (one item every 100 ms) with runs always in flight.
fn trigger() -> PollingTrigger {
    PollingTrigger {
        name: "When_a_new_email_arrives".into(),
        source: "mailbox".into(),
        interval: Duration::from_millis(50),
        run_duration: Duration::from_millis(300),
        concurrency: Some(4),
    }
}

/// How long a Standard run takes here: well beyond the fence's restart and confirmation.
const STANDARD_RUN: Duration = Duration::from_millis(1_500);

fn site(region: &str) -> String {
    format!("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-{region}/providers/Microsoft.Web/sites/flows-{region}")
}

/// The mail read by a Logic Apps Standard workflow in each region.
fn standard_plan() -> FailoverPlan {
    let mut plan: Value = serde_json::to_value(plan_json(json!({}))).unwrap();
    plan["resources"][0] = json!({"name": "mail", "kind": "logicAppStandard", "workflow": "mail",
                                  "trigger": "pollingClientState", "role": "activePassive",
                                  "primary": site("weu"), "secondary": site("neu")});
    FailoverPlan::from_json(&plan.to_string()).expect("the test plan is valid")
}

fn plan(mail: Value) -> FailoverPlan {
    FailoverPlan::from_json(&plan_json(mail).to_string()).expect("the test plan is valid")
}

fn plan_json(mail: Value) -> Value {
    let mut resource = json!({"name": "mail", "kind": "logicApp", "trigger": "pollingClientState",
                              "role": "activePassive", "primary": workflow("weu"), "secondary": workflow("neu")});
    resource.as_object_mut().unwrap().extend(mail.as_object().unwrap().clone());
    let text = json!({
        "version": 1,
        "name": "mail-bcdr",
        "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {"checks": [{"name": "dns", "dns": {"host": "example.net"}}]},
        "resources": [resource],
        "activation": {"fenceGraceMs": 1_800_000, "deadlineMs": 60_000}
    });
    text
}

struct World {
    arm: Arc<ArmDouble>,
    client: ArmClient,
    /// The mail arriving.
    mail: Feed,
}

impl World {
    /// The primary enabled, the secondary disabled (never run), mail arriving every 100 ms.
    async fn start() -> World {
        World::with(&plan(json!({}))).await
    }

    /// The same, with the mail read by a Logic Apps Standard workflow `mail` in each region's
    /// site (its `FlowState` setting on in the primary, off in the secondary).
    async fn standard() -> World {
        World::with(&standard_plan()).await
    }

    async fn with(plan: &FailoverPlan) -> World {
        let registry = TokenRegistry::new();
        let arm =
            ArmDouble::start(ArmOptions { tokens: Some(registry.clone()), runs_page_size: 3, ..ArmOptions::default() })
                .await
                .expect("the ARM double starts");
        // Activation holds the roles the deployment gives it: drain, cancel, reset and setState
        // included.
        arm.enforce_access(arm_support::grants(plan, |_| CLIENT_ID.to_owned()));
        let arm = Arc::new(arm);
        for (region, on, location) in [("weu", true, "westeurope"), ("neu", false, "northeurope")] {
            let copy = match plan.resources[0].kind {
                ResourceKind::LogicApp => {
                    arm.add_logic_app(&workflow(region), if on { "Enabled" } else { "Disabled" }, location);
                    workflow(region)
                }
                // Standard runs take longer here (and are not limited in number), so some are
                // still in flight when the site's restart after the fence's write is over.
                _ => {
                    arm.add_site(&site(region), "Running");
                    arm.add_site_workflow(&site(region), "mail");
                    arm.set_app_settings(
                        &site(region),
                        [("Workflows.mail.FlowState", if on { "Enabled" } else { "Disabled" })],
                    );
                    format!("{}/workflows/mail", site(region))
                }
            };
            let trigger = match plan.resources[0].kind {
                ResourceKind::LogicApp => trigger(),
                _ => PollingTrigger { run_duration: STANDARD_RUN, concurrency: None, ..trigger() },
            };
            arm.add_polling_trigger(&copy, trigger);
        }
        let credential: Arc<dyn TokenCredential> = Arc::new(RegistryCredential::new(registry, CLIENT_ID));
        let client = ArmClient::new(arm.base_url(), reqwest::Client::new(), Ok(credential)).with_retry(RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            attempt_timeout: Duration::from_millis(400),
            poll_interval: Duration::from_millis(20),
        });
        let mail = arm.feed("mailbox", Duration::from_millis(100));
        World { arm, client, mail }
    }

    async fn run(&self, plan: &FailoverPlan, direction: Direction, force: bool, deadline: Duration) -> Report {
        let now = Utc::now();
        let opts = RunOptions {
            direction,
            practice: false,
            force,
            first_started_at: now,
            now,
            deadline: Instant::now() + deadline,
        };
        failover::run(plan, &self.client, &opts).await
    }

    /// Stops the mail, then waits until the mailbox's processing has not changed for a second
    /// (every run that can end has ended).
    async fn settle(&self) -> SourceReport {
        self.settle_for(Duration::from_secs(1)).await
    }

    /// The same, waiting for `quiet` (longer than a run takes) without a change.
    async fn settle_for(&self, quiet: Duration) -> SourceReport {
        self.mail.stop();
        let settled = self.arm.settled_source("mailbox", quiet, Duration::from_secs(15)).await;
        settled.expect("the mailbox settles within 15 s")
    }

    fn processed_by(&self, report: &SourceReport, region: &str) -> usize {
        let per_copy = report.processed_per_workflow();
        let standard = format!("{}/workflows/mail", site(region)).to_ascii_lowercase();
        [workflow(region).to_ascii_lowercase(), standard].iter().filter_map(|copy| per_copy.get(copy)).sum()
    }
}

fn action(report: &Report, phase: Stage) -> &ActionReport {
    report
        .actions
        .iter()
        .find(|a| a.phase == phase)
        .unwrap_or_else(|| panic!("no {phase} action in\n{}", summary(report)))
}

fn summary(report: &Report) -> String {
    report.actions.iter().map(|a| format!("{a}\n")).collect()
}

fn ids(items: Vec<&azure_sim::SourceItem>) -> Vec<u64> {
    items.iter().map(|i| i.id).collect()
}

#[tokio::test]
async fn every_item_is_processed_once_through_a_failover_and_a_failback() {
    let world = World::start().await;
    let plan = plan(json!({}));
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    let over = world.run(&plan, Direction::Failover, false, Duration::from_secs(20)).await;
    assert_eq!(over.outcome, Outcome::Succeeded, "{}", summary(&over));
    // Runs were in progress when the primary was disabled, and the drain waited for them.
    let drain = action(&over, Stage::Drain);
    assert_eq!(drain.status, ActionStatus::Done, "{drain}");
    assert_eq!(action(&over, Stage::TriggerState).operation, "takeOver");
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    let back = world.run(&plan, Direction::Failback, false, Duration::from_secs(20)).await;
    assert_eq!(back.outcome, Outcome::Succeeded, "{}", summary(&back));
    assert_eq!(action(&back, Stage::Drain).status, ActionStatus::Done, "{}", summary(&back));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let report = world.settle().await;
    assert!(report.items.len() > 25, "mail kept arriving: {} items", report.items.len());
    assert_eq!(ids(report.duplicated()), Vec::<u64>::new(), "no item is processed twice");
    assert_eq!(ids(report.unprocessed()), Vec::<u64>::new(), "no item is lost");
    assert!(world.processed_by(&report, "neu") > 0, "the secondary did work while failed over");
    assert!(world.processed_by(&report, "weu") > 0);
}

#[tokio::test]
async fn enabling_a_copy_without_settling_its_trigger_replays_the_backlog() {
    // The control: what the trigger-state step prevents. The double replays the backlog as Azure
    // does, so the count of items processed twice shows it.
    let world = World::start().await;
    let plan = plan(json!({"triggerState": {"choice": "backlog"}}));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let over = world.run(&plan, Direction::Failover, false, Duration::from_secs(20)).await;
    assert_eq!(over.outcome, Outcome::Succeeded, "{}", summary(&over));
    assert_eq!(action(&over, Stage::TriggerState).status, ActionStatus::Skipped);
    let report = world.settle().await;
    let by_primary = world.processed_by(&report, "weu");
    assert!(by_primary > 0);
    assert_eq!(report.duplicated().len(), by_primary, "every item the primary processed, again");
    assert_eq!(ids(report.unprocessed()), Vec::<u64>::new());
}

#[tokio::test]
async fn a_dead_runtime_is_drained_to_the_limit_then_its_runs_are_cancelled_and_named() {
    let world = World::start().await;
    let plan = plan(json!({"drain": {"limitMs": 1_000, "then": "cancel"}}));
    tokio::time::sleep(Duration::from_millis(700)).await;
    // West Europe's Logic Apps runtime dies; its control plane still answers.
    world.arm.set_runtime("westeurope", false);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let over = world.run(&plan, Direction::Failover, false, Duration::from_secs(20)).await;
    assert_eq!(over.outcome, Outcome::Succeeded, "{}", summary(&over));
    let drain = action(&over, Stage::Drain);
    assert_eq!(drain.status, ActionStatus::Done, "{drain}");
    assert!(!drain.runs.is_empty(), "the runs stuck in the dead region are named: {drain}");
    let report = world.settle().await;
    world.arm.set_runtime("westeurope", true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report_after = world.arm.source("mailbox").unwrap();
    assert_eq!(report_after, report, "cancelled runs stay cancelled when the region returns");
    // Exactly the items of the cancelled runs are lost, as the report says; none is doubled.
    assert_eq!(ids(report.duplicated()), Vec::<u64>::new());
    assert_eq!(report.unprocessed().len(), drain.runs.len(), "{drain}");
}

#[tokio::test]
async fn runs_still_draining_at_the_limit_hold_the_enable_when_the_plan_says_wait() {
    let world = World::start().await;
    let plan = plan(json!({"drain": {"limitMs": 3_000}}));
    tokio::time::sleep(Duration::from_millis(700)).await;
    world.arm.set_runtime("westeurope", false);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let over = world.run(&plan, Direction::Failover, false, Duration::from_secs(20)).await;
    assert_eq!(over.outcome, Outcome::WaitingForFence, "{}", summary(&over));
    let drain = action(&over, Stage::Drain);
    assert_eq!(drain.status, ActionStatus::Unconfirmed, "{drain}");
    assert!(!drain.runs.is_empty());
    assert_eq!(action(&over, Stage::Enable).status, ActionStatus::WaitingForFence);
    // The region comes back: its runs finish, and the same epoch run again completes.
    world.arm.set_runtime("westeurope", true);
    let again = world.run(&plan, Direction::Failover, false, Duration::from_secs(20)).await;
    assert_eq!(again.outcome, Outcome::Succeeded, "{}", summary(&again));
    let report = world.settle().await;
    assert_eq!(ids(report.duplicated()), Vec::<u64>::new());
    assert_eq!(ids(report.unprocessed()), Vec::<u64>::new());
}

#[tokio::test]
async fn a_dead_control_plane_costs_what_the_plan_says() {
    for fallback in ["backlog", "reset"] {
        let world = World::start().await;
        let plan = plan(json!({"triggerState": {"ifUnreachable": fallback}}));
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        // The whole region goes: runtime and control plane. No new mail during the failover, so
        // what is lost or doubled can be named exactly.
        world.mail.stop();
        world.arm.set_runtime("westeurope", false);
        world.arm.set_control_plane("westeurope", false);
        let before = world.arm.source("mailbox").unwrap();
        let by_primary: Vec<u64> = before.items.iter().filter(|i| !i.processed_by.is_empty()).map(|i| i.id).collect();

        let over = world.run(&plan, Direction::Failover, true, Duration::from_secs(6)).await;
        assert_eq!(over.outcome, Outcome::Succeeded, "{fallback}: {}", summary(&over));
        let settled = action(&over, Stage::TriggerState);
        assert_eq!(settled.operation, fallback, "{settled}");
        assert!(settled.detail.contains("cannot be taken"), "{settled}");
        let after = world.settle().await;
        if ids(after.duplicated()) != by_primary {
            eprintln!("{fallback}: before {before:#?}\nafter {after:#?}");
        }
        match fallback {
            // At least once: every item the dead primary had processed is processed again.
            "backlog" => {
                assert_eq!(ids(after.duplicated()), by_primary, "{fallback}");
                assert_eq!(ids(after.unprocessed()), Vec::<u64>::new(), "{fallback}");
            }
            // At most once: what the primary had not processed is skipped.
            _ => {
                assert_eq!(ids(after.duplicated()), Vec::<u64>::new(), "{fallback}");
                let skipped: Vec<u64> =
                    before.items.iter().filter(|i| i.processed_by.is_empty()).map(|i| i.id).collect();
                assert_eq!(ids(after.unprocessed()), skipped, "{fallback}");
            }
        }
    }
}

#[tokio::test]
async fn a_role_without_set_state_stops_the_handover_before_the_enable() {
    // The control for the deployment's roles: Logic App Operator, the built-in role for enabling
    // and disabling workflows, holds no triggers/setState. With it the take-over is refused as ARM refuses it, and the secondary is
    // not enabled on an unsettled trigger.
    let world = World::start().await;
    world.arm.enforce_access(["weu", "neu"].map(|region| azure_sim::Grant {
        principal: CLIENT_ID.into(),
        scope: workflow(region),
        role: "Logic App Operator".into(),
        actions: arm_support::LOGIC_APP_OPERATOR.iter().map(|a| a.to_string()).collect(),
        not_actions: Vec::new(),
    }));
    let plan = plan(json!({}));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let over = world.run(&plan, Direction::Failover, false, Duration::from_secs(10)).await;
    assert_ne!(over.outcome, Outcome::Succeeded, "{}", summary(&over));
    let settled = action(&over, Stage::TriggerState);
    assert!(settled.detail.contains("Microsoft.Logic/workflows/triggers/setState/action"), "{settled}");
    assert_eq!(world.arm.resource(&workflow("neu")).unwrap()["properties"]["state"], "Disabled", "{}", summary(&over));
    let report = world.settle().await;
    assert_eq!(ids(report.duplicated()), Vec::<u64>::new(), "nothing ran twice");
}

#[tokio::test]
async fn a_standard_poller_is_drained_and_takes_its_backlog_as_the_report_says() {
    // Logic Apps Standard has no API to move a trigger's position: the runs in flight are
    // drained before the secondary is enabled, nothing is lost, and the secondary (which never
    // ran) replays the whole mailbox, so exactly what the primary processed is processed again:
    // the stated risk, counted.
    let world = World::standard().await;
    let plan = standard_plan();
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    let over = world.run(&plan, Direction::Failover, false, Duration::from_secs(20)).await;
    assert_eq!(over.outcome, Outcome::Succeeded, "{}", summary(&over));
    let drain = action(&over, Stage::Drain);
    assert_eq!(drain.status, ActionStatus::Done, "runs were in flight at the fence: {drain}");
    assert!(drain.call.is_none() && drain.runs.is_empty(), "{drain}");
    let settled = action(&over, Stage::TriggerState);
    assert_eq!((settled.operation.as_str(), settled.status), ("backlog", ActionStatus::Skipped), "{settled}");
    assert!(settled.detail.contains("no API to move a trigger's position"), "{settled}");

    let report = world.settle_for(STANDARD_RUN * 2).await;
    let by_primary: Vec<u64> = report
        .items
        .iter()
        .filter(|i| i.processed_by.first().is_some_and(|(copy, _)| copy.contains("flows-weu")))
        .map(|i| i.id)
        .collect();
    assert!(!by_primary.is_empty());
    assert_eq!(ids(report.unprocessed()), Vec::<u64>::new(), "nothing is lost");
    assert_eq!(ids(report.duplicated()), by_primary, "the backlog: every item the primary processed, again");
}
