//! The executor: carries a failover plan out through ARM, resource by resource, and reports
//! every action.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures::future::{self, join, join_all, BoxFuture, FutureExt};
use serde_json::Value;
use tokio::time::Instant;

use super::backend;
use super::handover;
use super::report::{ActionReport, ActionStatus, Direction, FenceOverride, Outcome, Report, Side, Stage};
use super::site::{Arrival, SiteBatch};
use super::target::{Reading, Request, Target, TargetKind, Want};
use crate::arm::{ArmError, Called, ManagementApi};
use crate::plan::{FailoverPlan, Resource, ResourceKind, Router, RouterKind, Switch, Trigger};
use crate::resource_id::ResourceId;

/// How to run a plan. Time comes in here: the executor reads no wall clock.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub direction: Direction,
    /// Read every target and report the writes a real run would make, writing nothing.
    pub practice: bool,
    /// Enable client-state and webhook copies even when the copy they replace is not
    /// confirmed disabled (an operator's decision).
    pub force: bool,
    /// When the first run for this epoch began: the fence grace period counts from there.
    pub first_started_at: DateTime<Utc>,
    /// Now, as the report's start time and for the grace period.
    pub now: DateTime<Utc>,
    /// Every ARM call of the run, retries included, ends by then.
    pub deadline: Instant,
}

/// Carries out `plan` in `opts.direction`. Never fails as a whole: every problem is an action's
/// status, and the outcome is the worst of them.
pub async fn run(plan: &FailoverPlan, arm: &dyn ManagementApi, opts: &RunOptions) -> Report {
    let started = Instant::now();
    let run = Run::new(plan, arm, opts, started);
    let run = &run;

    // Everything runs at once except where order matters: a fence before its enable (for the
    // triggers that need it), and the router after the request-triggered copies are enabled. So
    // a region that hangs holds back only what must wait for it; in particular the router does
    // not wait for best-effort fences.
    let mut independent: Vec<BoxFuture<'_, Vec<(usize, ActionReport)>>> = Vec::new();
    let mut serving: Vec<BoxFuture<'_, (usize, ActionReport)>> = Vec::new();
    for (i, r) in plan.resources.iter().enumerate() {
        let (fence, enable) = match run.steps(r) {
            Steps::FenceFirst(fence, enable) => {
                independent.push(run.fence_first(r, fence, enable).map(move |actions| tag(i, actions)).boxed());
                continue;
            }
            Steps::Move(fence, enable) => (Some(fence), enable),
            Steps::Enable(enable) => (None, enable),
            Steps::Reported(report) => {
                independent.push(future::ready(vec![(i, report)]).boxed());
                continue;
            }
        };
        if let Some(fence) = fence {
            independent.push(run.act(fence, Gate::Open).map(move |a| vec![(i, a)]).boxed());
        }
        let enable = run.act(enable, Gate::Open);
        if r.trigger == Trigger::Request {
            serving.push(enable.map(move |a| (i, a)).boxed());
        } else {
            independent.push(enable.map(move |a| vec![(i, a)]).boxed());
        }
    }
    let routed = async move {
        let enabled = join_all(serving).await;
        let route = match &plan.router {
            Some(router) => run.route(router, not_serving(&enabled)).await,
            None => Vec::new(),
        };
        (enabled, route)
    };
    let (independent, (enabled, route)) = join(join_all(independent), routed).await;

    let mut actions: Vec<(usize, ActionReport)> = independent.into_iter().flatten().chain(enabled).collect();
    actions.extend(route.into_iter().map(|a| (usize::MAX, a)));
    // By phase, then in the plan's order (the router last); stable, so the router's enable
    // stays before its disable.
    actions.sort_by_key(|(i, a)| (a.phase, *i));
    let actions: Vec<ActionReport> = actions.into_iter().map(|(_, a)| a).collect();

    let elapsed = started.elapsed();
    Report {
        plan: plan.name.clone(),
        outcome: Outcome::of(&actions, opts.practice),
        direction: opts.direction,
        practice: opts.practice,
        force: opts.force,
        started_at: opts.now,
        finished_at: opts.now + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX),
        duration_ms: millis(elapsed),
        actions,
    }
}

/// The actions of one resource, as the run schedules them.
enum Steps<'a> {
    /// The enable waits for the fence to be confirmed.
    FenceFirst(Step<'a>, Step<'a>),
    /// A best-effort fence and the enable, independent of each other.
    Move(Step<'a>, Step<'a>),
    Enable(Step<'a>),
    /// Nothing to call: the action is reported as it is.
    Reported(ActionReport),
}

/// Whether an action that brings a copy to the wanted state may go ahead.
#[derive(Debug, Clone)]
enum Gate {
    Open,
    /// The fence is not confirmed: wait, saying why and what would release it.
    Closed(String),
    /// The fence is not confirmed, but the operator or the grace period says go.
    Overridden(FenceOverride, String),
}

/// One action: bring `target` to `want`.
#[derive(Debug, Clone)]
struct Step<'a> {
    resource: &'a str,
    phase: Stage,
    side: Side,
    target: Target<'a>,
    want: Want,
    deadline: Instant,
    /// Read the target back after the write and require the wanted state.
    confirm: bool,
    /// The status when it cannot be done.
    on_failure: ActionStatus,
}

/// How one step ended, before timing and attempts are added.
pub(super) struct Ended {
    pub status: ActionStatus,
    pub call: Option<String>,
    pub detail: String,
    pub fence_overridden: Option<FenceOverride>,
    /// Runs the step left in progress or cancelled (a drain).
    pub runs: Vec<String>,
}

impl Ended {
    pub fn new(status: ActionStatus, call: Option<String>, detail: String) -> Self {
        Ended { status, call, detail, fence_overridden: None, runs: Vec::new() }
    }
}

struct Run<'a> {
    arm: &'a dyn ManagementApi,
    opts: &'a RunOptions,
    fence_grace: Duration,
    /// A fence gets at most half the time left, so that the enable after an overridden (or
    /// confirmed) fence still has time of its own.
    fence_deadline: Instant,
    /// Workflows of one Logic Apps Standard site share its app settings, which are written
    /// whole: one read-modify-write at a time per site, or one would undo another.
    site_locks: HashMap<String, tokio::sync::Mutex<()>>,
    /// The workflows each (site, phase) switches, which share one settings write.
    site_batches: HashMap<(String, Stage), SiteBatch>,
}

impl<'a> Run<'a> {
    fn new(plan: &FailoverPlan, arm: &'a dyn ManagementApi, opts: &'a RunOptions, started: Instant) -> Self {
        let left = opts.deadline.saturating_duration_since(started);
        let site_locks = plan
            .resources
            .iter()
            .filter(|r| matches!(r.kind, ResourceKind::LogicAppStandard { .. }))
            .flat_map(|r| [&r.primary, &r.secondary])
            .map(|id| (id.as_str().to_ascii_lowercase(), tokio::sync::Mutex::new(())))
            .collect();
        let mut members: HashMap<(String, Stage), usize> = HashMap::new();
        for r in plan.resources.iter().filter(|r| matches!(r.kind, ResourceKind::LogicAppStandard { .. })) {
            let (from, to) = match opts.direction {
                Direction::Failover => (&r.primary, &r.secondary),
                Direction::Failback => (&r.secondary, &r.primary),
            };
            let key = |id: &ResourceId| id.as_str().to_ascii_lowercase();
            if matches!(r.switch, Switch::FenceFirst | Switch::Move) {
                *members.entry((key(from), Stage::Fence)).or_default() += 1;
            }
            if matches!(r.switch, Switch::FenceFirst | Switch::Move | Switch::KeepEnabled) {
                *members.entry((key(to), Stage::Enable)).or_default() += 1;
            }
        }
        Run {
            arm,
            opts,
            fence_grace: Duration::from_millis(plan.activation.fence_grace_ms),
            fence_deadline: started + left / 2,
            site_locks,
            site_batches: members.into_iter().map(|(key, n)| (key, SiteBatch::new(n))).collect(),
        }
    }

    /// The copy the work leaves and the copy it moves to.
    fn sides<'b>(&self, primary: &'b ResourceId, secondary: &'b ResourceId) -> [(Side, &'b ResourceId); 2] {
        match self.opts.direction {
            Direction::Failover => [(Side::Primary, primary), (Side::Secondary, secondary)],
            Direction::Failback => [(Side::Secondary, secondary), (Side::Primary, primary)],
        }
    }

    /// What the run does for `r`: what the plan's trigger-type table decided for it.
    fn steps(&self, r: &'a Resource) -> Steps<'a> {
        let [(from_side, from), (to_side, to)] = self.sides(&r.primary, &r.secondary);
        let fence = Step {
            resource: &r.name,
            phase: Stage::Fence,
            side: from_side,
            target: Target::copy(r, from),
            want: Want::Disabled,
            deadline: self.fence_deadline,
            confirm: true,
            on_failure: ActionStatus::Unconfirmed,
        };
        let enable = Step {
            resource: &r.name,
            phase: Stage::Enable,
            side: to_side,
            target: Target::copy(r, to),
            want: Want::Enabled,
            deadline: self.opts.deadline,
            confirm: false,
            on_failure: ActionStatus::Failed,
        };
        match r.switch {
            Switch::FenceFirst => Steps::FenceFirst(fence, enable),
            Switch::Move => Steps::Move(fence, enable),
            Switch::KeepEnabled => Steps::Enable(enable),
            Switch::Nothing(why) => Steps::Reported(not_attempted(&enable, ActionStatus::Skipped, why.to_owned())),
        }
    }

    /// The fence; for a workflow the drain of its runs, and for a Consumption one the new copy's
    /// trigger state; then the enable only if the fence (and drain) is confirmed, or overridden.
    async fn fence_first(&self, r: &'a Resource, fence: Step<'a>, enable: Step<'a>) -> Vec<ActionReport> {
        let side = fence.side;
        let from = fence.target.id;
        let fenced_report = self.act(fence.clone(), Gate::Open).await;
        let fenced = ok(fenced_report.status);
        let mut gate = if fenced { Gate::Open } else { self.unconfirmed_fence(side, "is not confirmed disabled") };
        let mut reports = vec![fenced_report];
        if let (Some(drain), Some(runs)) = (r.drain, handover::Runs::of(&fence.target)) {
            let step = Step { phase: Stage::Drain, ..fence.clone() };
            let report = if fenced {
                let started = Instant::now();
                let mut calls = Calls { arm: self.arm, attempts: 0 };
                let ended = handover::drain(&mut calls, &runs, drain, self.opts.practice, self.fence_deadline).await;
                self.reported(&step, "drainRuns", ended, calls.attempts, started)
            } else {
                ActionReport {
                    operation: "drainRuns".into(),
                    ..not_attempted(
                        &step,
                        ActionStatus::Skipped,
                        "not drained: the copy is not confirmed disabled".into(),
                    )
                }
            };
            if fenced && !ok(report.status) {
                gate = self.unconfirmed_fence(side, "still has runs in progress");
            }
            reports.push(report);
        }
        if let Some(handover) = r.trigger_state {
            let step = Step { phase: Stage::TriggerState, ..enable.clone() };
            let report = match &gate {
                Gate::Closed(why) => ActionReport {
                    operation: handover.choice.label().to_owned(),
                    ..not_attempted(
                        &step,
                        ActionStatus::WaitingForFence,
                        format!("{why}; the trigger state is settled just before the enable"),
                    )
                },
                _ => {
                    let started = Instant::now();
                    let mut calls = Calls { arm: self.arm, attempts: 0 };
                    let (done, ended) = handover::settle_trigger(
                        &mut calls,
                        from,
                        &enable.target,
                        handover,
                        fenced,
                        self.opts.practice,
                        self.opts.deadline,
                    )
                    .await;
                    self.reported(&step, done.label(), ended, calls.attempts, started)
                }
            };
            if report.status == ActionStatus::Failed {
                gate = Gate::Closed(
                    "the trigger state of this copy is not settled, so enabling it could process items twice".into(),
                );
            }
            reports.push(report);
        }
        reports.push(self.act(enable, gate).await);
        reports
    }

    /// Enables the new endpoint, then disables the old one as a best effort (its region may be
    /// down; the router's own probes keep traffic away from a dead endpoint).
    async fn route(&self, router: &'a Router, not_ready: Vec<String>) -> Vec<ActionReport> {
        let [(from_side, from), (to_side, to)] = self.sides(&router.primary, &router.secondary);
        let step = |side, id, want, on_failure| Step {
            resource: "router",
            phase: Stage::Route,
            side,
            target: Target::endpoint(router, id),
            want,
            deadline: self.opts.deadline,
            confirm: false,
            on_failure,
        };
        if let (RouterKind::ApiManagement, Some(front)) = (router.kind, &router.backend) {
            let switch = Step {
                target: Target::endpoint(router, front),
                ..step(to_side, to, Want::Enabled, ActionStatus::Failed)
            };
            if !not_ready.is_empty() {
                return vec![not_attempted(
                    &switch,
                    ActionStatus::Skipped,
                    format!("not switched: {}", not_ready.join("; ")),
                )];
            }
            let started = Instant::now();
            let mut calls = Calls { arm: self.arm, attempts: 0 };
            let ended = backend::switch(&mut calls, front, to, from, self.opts.practice, self.opts.deadline).await;
            return vec![self.reported(&switch, "switchBackend", ended, calls.attempts, started)];
        }
        let enable = step(to_side, to, Want::Enabled, ActionStatus::Failed);
        let disable = step(from_side, from, Want::Disabled, ActionStatus::Unconfirmed);
        if !not_ready.is_empty() {
            let why = format!("not switched: {}", not_ready.join("; "));
            return vec![
                not_attempted(&enable, ActionStatus::Skipped, why.clone()),
                not_attempted(&disable, ActionStatus::Skipped, why),
            ];
        }
        let enabled = self.act(enable, Gate::Open).await;
        let disabled = match enabled.status {
            ActionStatus::Done | ActionStatus::AlreadyDone | ActionStatus::WouldDo => {
                self.act(disable, Gate::Open).await
            }
            _ => not_attempted(
                &disable,
                ActionStatus::Skipped,
                format!("the {to_side} endpoint is not enabled, so the {from_side} one stays"),
            ),
        };
        vec![enabled, disabled]
    }

    /// What happens to the enable after a fence of the `side` copy that is not confirmed: the
    /// copy `what` (is not confirmed disabled, still has runs in progress).
    fn unconfirmed_fence(&self, side: Side, what: &str) -> Gate {
        let why = format!("the {side} copy {what}");
        let grace_ends = TimeDelta::from_std(self.fence_grace)
            .ok()
            .and_then(|grace| self.opts.first_started_at.checked_add_signed(grace));
        if self.opts.force {
            Gate::Overridden(FenceOverride::Forced, format!("{why}; enabled anyway, as the operator forced it"))
        } else if self.fence_grace.is_zero() {
            Gate::Closed(format!("{why}; only an operator can force it (the plan has no fence grace period)"))
        } else {
            match grace_ends {
                Some(ends) if ends <= self.opts.now => Gate::Overridden(
                    FenceOverride::GracePeriodPassed,
                    format!(
                        "{why}; enabled anyway, as the fence grace period ended at {}",
                        ends.to_rfc3339_opts(SecondsFormat::Secs, true)
                    ),
                ),
                Some(ends) => Gate::Closed(format!(
                    "{why}; waiting until an operator forces it or the grace period ends at {}",
                    ends.to_rfc3339_opts(SecondsFormat::Secs, true)
                )),
                None => Gate::Closed(format!("{why}; only an operator can force it")),
            }
        }
    }

    async fn act(&self, step: Step<'_>, gate: Gate) -> ActionReport {
        let started = Instant::now();
        let mut calls = Calls { arm: self.arm, attempts: 0 };
        let target = &step.target;
        let arrived = AtomicBool::new(false);
        let ended = self.attempt(&mut calls, &step, target, gate, &arrived).await;
        // A Standard workflow that wanted no write still arrives at its site's batch, and if it
        // is the last, writes for the others.
        if let Some(batch) = self.batch(&step) {
            if !arrived.load(Ordering::SeqCst) {
                if let Arrival::Write(changes) = batch.arrive(None) {
                    let result = self.write_batch(&mut calls, target, &changes, step.deadline).await;
                    batch.finish(result);
                }
            }
        }
        self.reported(&step, &operation(&step), ended, calls.attempts, started)
    }

    /// The settings batch a Standard workflow's step belongs to.
    fn batch(&self, step: &Step<'_>) -> Option<&SiteBatch> {
        match step.target.kind {
            TargetKind::Workflow(_) => {
                self.site_batches.get(&(step.target.id.as_str().to_ascii_lowercase(), step.phase))
            }
            _ => None,
        }
    }

    /// The one settings write of a site's batch: read the whole set, change each workflow's flow
    /// state, write it back; one at a time per site. The write is long-running (it ends when the
    /// site's restart does) and answered 409 while another runs; the client waits out both.
    async fn write_batch(
        &self,
        calls: &mut Calls<'_>,
        target: &Target<'_>,
        changes: &[(String, Want)],
        deadline: Instant,
    ) -> Result<String, String> {
        let lock = self.site_locks.get(&target.id.as_str().to_ascii_lowercase());
        let _held = match lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let reading =
            calls.read(target, deadline).await.map_err(|e| format!("cannot read the site's settings: {e}"))?;
        let write = target.settings_write(&reading, changes)?;
        calls.send(&write, deadline).await.map_err(|e| e.to_string())?;
        let n = changes.len();
        Ok(format!("one settings write for {n} workflow{} of the site, which restarted", if n == 1 { "" } else { "s" }))
    }

    /// Polls a Standard workflow's `flowState` until it is as wanted (the site's restart is
    /// over) or the step's deadline passes.
    async fn confirm_flow_state(
        &self,
        calls: &mut Calls<'_>,
        step: &Step<'_>,
        target: &Target<'_>,
        was: &str,
        line: Option<String>,
        written: String,
    ) -> Ended {
        let Some(read) = target.flow_state_read() else {
            return Ended::new(ActionStatus::Done, line, format!("was {was}; {written}"));
        };
        loop {
            let last = match calls.send(&read, step.deadline).await {
                Ok(body) => match Target::flow_state(&body) {
                    Some((state, shown)) if state == Some(step.want) => {
                        return Ended::new(
                            ActionStatus::Done,
                            line,
                            format!("was {was}; {written}; flowState now {shown}, confirmed"),
                        );
                    }
                    Some((_, shown)) => format!("flowState {shown}"),
                    None => "no flowState in the answer".to_owned(),
                },
                Err(e) => format!("cannot read it: {e}"),
            };
            if Instant::now() + FLOW_STATE_POLL >= step.deadline {
                return Ended::new(step.on_failure, line, format!("was {was}; {written}; but still {last}"));
            }
            tokio::time::sleep(FLOW_STATE_POLL).await;
        }
    }

    /// The report of a step that ended, logged as it is made.
    fn reported(
        &self,
        step: &Step<'_>,
        operation: &str,
        ended: Ended,
        attempts: u32,
        started: Instant,
    ) -> ActionReport {
        let report = ActionReport {
            resource: step.resource.to_owned(),
            copy: step.side,
            phase: step.phase,
            operation: operation.to_owned(),
            target: step.target.id.to_string(),
            status: ended.status,
            call: ended.call,
            fence_overridden: ended.fence_overridden,
            runs: ended.runs,
            attempts,
            duration_ms: millis(started.elapsed()),
            detail: ended.detail,
        };
        tracing::info!(
            resource = %report.resource,
            phase = %report.phase,
            copy = %report.copy,
            operation = %report.operation,
            status = %report.status,
            attempts = report.attempts,
            detail = %report.detail,
            "activation action"
        );
        report
    }

    /// Read; if already as wanted, stop. Otherwise write (or in practice, say what would be
    /// written) and, for a fence, read back. A closed gate stops after the read. `arrived` is
    /// set when a Standard workflow has joined its site's settings write.
    async fn attempt(
        &self,
        calls: &mut Calls<'_>,
        step: &Step<'_>,
        target: &Target<'_>,
        gate: Gate,
        arrived: &AtomicBool,
    ) -> Ended {
        let reading = calls.read(target, step.deadline).await;
        let mut ended = match (&gate, reading) {
            (Gate::Closed(why), Ok(reading)) if reading.state == Some(step.want) => Ended::new(
                ActionStatus::WaitingForFence,
                None,
                format!("{why}; this copy is already {}, so both copies may be running", reading.shown),
            ),
            (Gate::Closed(why), Ok(reading)) => {
                Ended::new(ActionStatus::WaitingForFence, None, format!("{why}; this copy stays {}", reading.shown))
            }
            (Gate::Closed(why), Err(e)) => {
                Ended::new(ActionStatus::WaitingForFence, None, format!("{why}; this copy cannot be read: {e}"))
            }
            (_, Err(e)) => Ended::new(step.on_failure, None, format!("cannot read it: {e}")),
            (_, Ok(reading)) => self.switch(calls, step, target, &reading, arrived).await,
        };
        if let Gate::Overridden(how, why) = gate {
            ended.detail = format!("{why}: {}", ended.detail);
            ended.fence_overridden = Some(how);
        }
        ended
    }

    async fn switch(
        &self,
        calls: &mut Calls<'_>,
        step: &Step<'_>,
        target: &Target<'_>,
        reading: &Reading,
        arrived: &AtomicBool,
    ) -> Ended {
        if reading.state == Some(step.want) {
            return Ended::new(ActionStatus::AlreadyDone, None, format!("already {}", reading.shown));
        }
        let write = match target.write(step.want, reading) {
            Ok(write) => write,
            Err(e) => return Ended::new(step.on_failure, None, e),
        };
        let line = Some(write.line());
        if self.opts.practice {
            return Ended::new(ActionStatus::WouldDo, line, format!("is {}", reading.shown));
        }
        if let (Some(batch), TargetKind::Workflow(workflow)) = (self.batch(step), target.kind) {
            arrived.store(true, Ordering::SeqCst);
            let result = match batch.arrive(Some((workflow.to_owned(), step.want))) {
                Arrival::Write(changes) => {
                    let result = self.write_batch(calls, target, &changes, step.deadline).await;
                    batch.finish(result.clone());
                    result
                }
                Arrival::Wait | Arrival::Nothing => batch.outcome(step.deadline).await,
            };
            return match result {
                Ok(written) => self.confirm_flow_state(calls, step, target, &reading.shown, line, written).await,
                Err(e) => Ended::new(
                    step.on_failure,
                    line,
                    format!("was {}; the site's settings write failed: {e}", reading.shown),
                ),
            };
        }
        if let Err(e) = calls.send(&write, step.deadline).await {
            return Ended::new(step.on_failure, line, format!("was {}; the write failed: {e}", reading.shown));
        }
        if !step.confirm {
            return Ended::new(ActionStatus::Done, line, format!("was {}", reading.shown));
        }
        match calls.read(target, step.deadline).await {
            Ok(after) if after.state == Some(step.want) => {
                Ended::new(ActionStatus::Done, line, format!("was {}; now {}, confirmed", reading.shown, after.shown))
            }
            Ok(after) => Ended::new(
                step.on_failure,
                line,
                format!("was {}; written, but it reads {} afterwards", reading.shown, after.shown),
            ),
            Err(e) => Ended::new(
                step.on_failure,
                line,
                format!("was {}; written, but cannot read it back: {e}", reading.shown),
            ),
        }
    }
}

/// The request-triggered copies whose enable did not succeed (or would not), named for the
/// report: traffic must not be sent to them.
fn not_serving(enabled: &[(usize, ActionReport)]) -> Vec<String> {
    enabled
        .iter()
        .filter(|(_, a)| !matches!(a.status, ActionStatus::Done | ActionStatus::AlreadyDone | ActionStatus::WouldDo))
        .map(|(_, a)| format!("the {} copy of {} is not running", a.copy, a.resource))
        .collect()
}

/// Whether a step left its target as wanted (or, in practice, would).
fn ok(status: ActionStatus) -> bool {
    matches!(status, ActionStatus::Done | ActionStatus::AlreadyDone | ActionStatus::WouldDo)
}

fn tag(i: usize, actions: Vec<ActionReport>) -> Vec<(usize, ActionReport)> {
    actions.into_iter().map(|a| (i, a)).collect()
}

/// A step reported without any call.
fn not_attempted(step: &Step<'_>, status: ActionStatus, detail: String) -> ActionReport {
    ActionReport {
        resource: step.resource.to_owned(),
        copy: step.side,
        phase: step.phase,
        operation: operation(step),
        target: step.target.id.to_string(),
        status,
        call: None,
        fence_overridden: None,
        runs: Vec::new(),
        attempts: 0,
        duration_ms: 0,
        detail,
    }
}

fn operation(step: &Step<'_>) -> String {
    step.target.operation(step.want).to_owned()
}

/// How often a Standard workflow's `flowState` is read while its site restarts.
const FLOW_STATE_POLL: Duration = Duration::from_millis(250);

/// How long after the deadline a call is cut off. The client stops at the deadline by itself,
/// with an error that names what it was retrying; this only guards against one that overruns.
const DEADLINE_GUARD: Duration = Duration::from_secs(1);

/// Sends requests, counting attempts, and holds every call to its deadline even if the client
/// would not.
pub(super) struct Calls<'a> {
    pub arm: &'a dyn ManagementApi,
    pub attempts: u32,
}

impl Calls<'_> {
    pub async fn send(&mut self, request: &Request, deadline: Instant) -> Result<Value, ArmError> {
        self.send_if_match(request, None, deadline).await.map(|called| called.body)
    }

    /// [`Calls::send`] with `If-Match` when `etag` is given, answering the whole [`Called`]
    /// (its `ETag` too).
    pub async fn send_if_match(
        &mut self,
        request: &Request,
        etag: Option<&str>,
        deadline: Instant,
    ) -> Result<Called, ArmError> {
        let (method, path, version, body) =
            (request.method.clone(), &request.path, &request.api_version, request.body.as_ref());
        let call = self.arm.call_with(method, path, version, body, etag, deadline);
        match tokio::time::timeout_at(deadline + DEADLINE_GUARD, call).await {
            Ok(Ok(called)) => {
                self.attempts += called.attempts.max(1);
                Ok(called)
            }
            Ok(Err(e)) => {
                // Only an error at the deadline counts its attempts; any other ended the call on
                // its first.
                self.attempts += e.attempts().unwrap_or(1);
                Err(e)
            }
            Err(_) => {
                self.attempts += 1;
                Err(ArmError::Transport("no answer before the activation deadline".into()))
            }
        }
    }

    /// One GET with a query, no retries (a caller that polls tries again on its next round).
    pub async fn get(&mut self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Value, ArmError> {
        self.attempts += 1;
        self.arm.get(path, api_version, query).await
    }

    pub async fn read(&mut self, target: &Target<'_>, deadline: Instant) -> Result<Reading, ArmError> {
        let body = self.send(&target.read(), deadline).await?;
        if body.is_null() {
            return Err(ArmError::Decode("the answer has no body".into()));
        }
        target.reading(&body).map_err(ArmError::Decode)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
