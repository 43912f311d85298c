//! `bcdr activate`, `drill` and `failback`: the operator's runs of the plan through the real
//! activation endpoint, signed like the watchdog's requests. Each says what it will do before it
//! does it; forcing and failing back ask for confirmation unless `--yes`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail};
use async_trait::async_trait;
use bcdr_core::activation_client::{outcome_of, ActivationApi, SignedActivation};
use bcdr_core::failover::Direction;
use bcdr_core::outbound::{self, Purpose};
use bcdr_core::plan::{FailoverPlan, Watch};
use bcdr_core::prober::{HttpProber, Prober};
use bcdr_core::signature::ActivationRequest;
use bcdr_core::watch::{ActivationOutcome, Command, Observation, Phase, WatchState};
use chrono::Utc;
use serde_json::Value;

use crate::ops::{apply, operator, report, ActivationTarget, NoActivation, Target};

/// Forwards the watch's activation request with `force` set, and keeps the answer to print.
/// The activation call an operator's command leads to (force, approve): sent once, its answer
/// kept for the operator to read. `force` overrides unconfirmed fences; an approval does not.
struct Asked {
    client: SignedActivation,
    force: bool,
    answer: Mutex<Option<(u16, Value)>>,
}

#[async_trait]
impl ActivationApi for Asked {
    async fn request(&self, request: &ActivationRequest) -> ActivationOutcome {
        let asked = ActivationRequest { force: self.force, ..request.clone() };
        match self.client.send(&asked).await {
            Ok((status, body)) => {
                let outcome = outcome_of(status, &body);
                *self.answer.lock().unwrap() = Some((status, body));
                outcome
            }
            Err(reason) => ActivationOutcome::Failed { reason, retryable: true },
        }
    }
}

/// Asks on the terminal; `--yes` answers for scripts, and without a terminal nothing is assumed.
fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} needs confirmation: run it on a terminal, or pass --yes");
    }
    print!("{question} Type yes to go on: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        bail!("not confirmed: nothing was done");
    }
    Ok(())
}

fn request(watch: &Watch, epoch: u64, reason: &str, practice: bool, direction: Direction) -> ActivationRequest {
    ActivationRequest {
        watch: watch.name.clone(),
        epoch,
        reason: reason.to_owned(),
        requester: format!("operator:{}", operator()),
        practice,
        force: false,
        direction,
    }
}

/// Prints an activation answer as a table (or JSON) and returns its outcome word.
fn print_answer(status: u16, body: &Value, json: bool) -> String {
    if json {
        println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
    }
    let Some(report) = body.get("report") else {
        let why = body.get("error").and_then(Value::as_str).unwrap_or("no report");
        if !json {
            println!("activation answered {status}: {why}");
        }
        return "refused".to_owned();
    };
    let outcome = report["outcome"].as_str().unwrap_or("?").to_owned();
    if !json {
        println!("outcome {outcome} ({} ms, answered {status})", report["durationMs"]);
        println!(
            "  {:<12} {:<20} {:<10} {:<16} {:<16} {:>4} {:>8}  detail",
            "phase", "resource", "copy", "operation", "status", "try", "ms"
        );
        for a in report["actions"].as_array().into_iter().flatten() {
            let s = |k: &str| a[k].as_str().unwrap_or("").to_owned();
            println!(
                "  {:<12} {:<20} {:<10} {:<16} {:<16} {:>4} {:>8}  {}",
                s("phase"),
                s("resource"),
                s("copy"),
                s("operation"),
                s("status"),
                a["attempts"].as_u64().unwrap_or(0),
                a["durationMs"].as_u64().unwrap_or(0),
                s("detail")
            );
        }
    }
    outcome
}

pub async fn practice(target: &Target, act: &ActivationTarget, reason: &str) -> anyhow::Result<()> {
    let plan = target.plan()?;
    let watch = target.watch(&plan)?;
    let state = target.state(&watch).await?;
    println!("Practice activation of watch {} (epoch {}): every target is read and the calls that would be made are listed; nothing is written.", watch.name, state.epoch);
    let (status, body) = act
        .client()?
        .send(&request(&watch, state.epoch, reason, true, Direction::Failover))
        .await
        .map_err(|e| anyhow!(e))?;
    match print_answer(status, &body, target.json).as_str() {
        "practiced" => Ok(()),
        other => bail!("the practice run ended {other}: a real activation would not complete as planned"),
    }
}

pub async fn force(target: &Target, act: &ActivationTarget, yes: bool) -> anyhow::Result<()> {
    let plan = target.plan()?;
    let watch = target.watch(&plan)?;
    let state = target.state(&watch).await?;
    announce("Forcing", &watch, &state, "the primary's copies are fenced, the secondary's enabled and the router switched; client-state and webhook copies are enabled even if their primary cannot be confirmed disabled.");
    confirm("Force the failover?", yes)?;
    ask(target, act, &plan, &watch, Command::ForceActivate { by: operator() }, true).await
}

/// `bcdr approve`: the activation a watch in `awaitingApproval` waits for, by the normal path:
/// its epoch is claimed as a watcher would, and fences and drains hold as they do for a watcher
/// (a fence that cannot be confirmed leaves it waiting, as `202`); nothing is forced.
pub async fn approve(target: &Target, act: &ActivationTarget, reason: &str, yes: bool) -> anyhow::Result<()> {
    let plan = target.plan()?;
    let watch = target.watch(&plan)?;
    let state = target.state(&watch).await?;
    if state.phase != Phase::AwaitingApproval {
        bail!(
            "nothing awaits approval (phase {}): approval applies to a watch in awaitingApproval",
            state.phase.label()
        );
    }
    announce("Approving", &watch, &state, "the primary's copies are fenced and drained, the secondary's enabled and the router switched; unconfirmed fences are not overridden.");
    confirm("Approve the failover?", yes)?;
    ask(target, act, &plan, &watch, Command::Approve { by: operator(), reason: reason.to_owned() }, false).await
}

/// What an activation command is about to do, said before it asks for confirmation.
fn announce(doing: &str, watch: &Watch, state: &WatchState, what: &str) {
    println!("{doing} activation of watch {} (now {}, epoch {}): {what}", watch.name, state.phase.label(), state.epoch);
}

/// Steps `command` on the watch; when the step asks for activation, makes the call (forced or
/// not) and prints its answer.
async fn ask(
    target: &Target,
    act: &ActivationTarget,
    plan: &FailoverPlan,
    watch: &Watch,
    command: Command,
    force: bool,
) -> anyhow::Result<()> {
    let asked = Asked { client: act.client()?, force, answer: Mutex::new(None) };
    println!("… asking activation (this can take up to {} s)", plan.activation.deadline_ms / 1000);
    let step = apply(target, plan, watch, command, &asked).await?;
    report(&step);
    let answer = asked.answer.lock().unwrap().take();
    let what = if force { "the forced activation" } else { "the approved activation" };
    match answer {
        Some((status, body)) => match print_answer(status, &body, target.json).as_str() {
            "succeeded" => Ok(()),
            other => bail!("{what} ended {other}"),
        },
        None => {
            bail!("no activation was asked for: {}", step.decision.rejected.as_deref().unwrap_or(&step.decision.note))
        }
    }
}

pub async fn drill(target: &Target, act: &ActivationTarget) -> anyhow::Result<()> {
    let url = act.url.as_deref().ok_or_else(|| anyhow!("--activation-url (or BCDR_ACTIVATION_URL) is required"))?;
    let ready = url.trim_end_matches('/').strip_suffix("/activate").map(|b| format!("{b}/ready"));
    let ready = ready.ok_or_else(|| anyhow!("--activation-url {url:?}: expected it to end in /activate"))?;
    println!("Drill 1/2: is activation ready (token, permissions, every target)?");
    let mut req = outbound::client(Purpose::Activation { timeout: Duration::from_secs(300) }).get(&ready);
    if let Some(key) = &act.key {
        req = req.header("x-functions-key", key);
    }
    let res =
        req.send().await.map_err(|e| anyhow!("activation readiness did not answer: {}", outbound::describe(&e)))?;
    let ok = res.status().is_success();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    for c in body["checks"].as_array().into_iter().flatten() {
        println!(
            "  {} {:<20} {:<10} {}",
            if c["ok"].as_bool() == Some(true) { "ok  " } else { "FAIL" },
            c["resource"].as_str().unwrap_or(""),
            c["copy"].as_str().unwrap_or(""),
            c["detail"].as_str().unwrap_or("")
        );
    }
    if !ok {
        bail!("activation is not ready: a real failover would fail");
    }
    println!("Drill 2/2: a practice failover through the activation endpoint.");
    practice(target, act, "drill").await
}

pub async fn failback(
    target: &Target,
    act: &ActivationTarget,
    health_key: Option<String>,
    healthy_for: Duration,
    yes: bool,
) -> anyhow::Result<()> {
    let plan = target.plan()?;
    let watch = target.watch(&plan)?;
    let state = target.state(&watch).await?;
    if state.phase != Phase::FailedOver {
        bail!("watch {} is {}: failback is for a watch that failed over", watch.name, state.phase.label());
    }
    println!("Failback of watch {} (epoch {}), step 1/4: is the primary healthy?", watch.name, state.epoch);
    match HttpProber::new(health_key).observe(&watch).await {
        Observation::Up { latency_ms } => println!("  the primary answers healthy ({latency_ms} ms)"),
        other => bail!("the primary is not healthy now ({}): fail back once it is", serde_json::to_string(&other)?),
    }
    if !healthy_for.is_zero() {
        let since = state.primary_back_since.ok_or_else(|| {
            anyhow!("the watchdog has not yet seen the primary healthy; wait, or pass a shorter --healthy-for")
        })?;
        let held = (Utc::now() - since).to_std().unwrap_or_default();
        if held < healthy_for {
            bail!(
                "the primary has looked healthy only since {} ({} s); --healthy-for asks for {} s",
                since.format("%H:%M:%S UTC"),
                held.as_secs(),
                healthy_for.as_secs()
            );
        }
        println!("  healthy for {} s (since {})", held.as_secs(), since.format("%H:%M:%S UTC"));
    }
    let client = act.client()?;
    println!("Step 2/4: practice failback (reads only).");
    let (status, body) = client
        .send(&request(&watch, state.epoch, "failback practice", true, Direction::Failback))
        .await
        .map_err(|e| anyhow!(e))?;
    let practiced = print_answer(status, &body, target.json);
    if practiced != "practiced" {
        bail!("the practice failback ended {practiced}: nothing was changed");
    }
    println!("Step 3/4: fail back: disable the secondary's copies, enable the primary's, switch the router back.");
    confirm("Fail back now?", yes)?;
    println!("… running (this can take up to {} s)", plan.activation.deadline_ms / 1000);
    let (status, body) = client
        .send(&request(&watch, state.epoch, "failback", false, Direction::Failback))
        .await
        .map_err(|e| anyhow!(e))?;
    let outcome = print_answer(status, &body, target.json);
    if outcome != "succeeded" {
        bail!("the failback ended {outcome}: the watch stays failed over; see the report, fix, and run it again");
    }
    println!("Step 4/4: recording the failback on the watch (a new epoch, watching again).");
    let step = apply(target, &plan, &watch, Command::Failback { by: operator() }, &NoActivation).await?;
    report(&step);
    Ok(())
}
