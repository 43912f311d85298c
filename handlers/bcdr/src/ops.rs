//! `bcdr status`, `pause`, `resume`: what the watchdog thinks, and the operator's commands,
//! applied through the same decision core and the same conditional write as the watchdog's ticks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use bcdr_core::activation_client::{ActivationApi, SignedActivation};
use bcdr_core::alert::{AlertChannels, Alerter};
use bcdr_core::identity;
use bcdr_core::outbound::{self, Purpose};
use bcdr_core::plan::{FailoverPlan, Watch};
use bcdr_core::record::{self, WatchRecord};
use bcdr_core::settings::{Environment, Problems};
use bcdr_core::signature::ActivationRequest;
use bcdr_core::store::{StateStore, StoreConfig, DEFAULT_TIMEOUT};
use bcdr_core::watch::{ActivationOutcome, Command, Input, Step, WatchState};
use chrono::{DateTime, Utc};

/// Where the watchdog's state is, and which watch.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The failover plan.
    #[arg(long, env = "BCDR_PLAN_FILE", default_value = "infra/failover-plan.json")]
    pub plan: PathBuf,
    /// The watchdog's state: file:///dir, or the blob container URL.
    #[arg(long = "state", env = "BCDR_STATE_URL")]
    pub state_url: String,
    /// Storage account key, for key-based accounts and Azurite (else your `az login` identity).
    #[arg(long = "state-key", env = "BCDR_STATE_ACCOUNT_KEY", hide_env_values = true)]
    pub state_key: Option<String>,
    /// The watch (default: the plan's only watch).
    #[arg(long)]
    pub watch: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Who the operator is, for the decision log.
pub fn operator() -> String {
    std::env::var("BCDR_OPERATOR").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "operator".to_owned())
}

impl Target {
    pub fn plan(&self) -> anyhow::Result<FailoverPlan> {
        FailoverPlan::from_file(&self.plan).map_err(|e| anyhow!("{}: {e}", self.plan.display()))
    }

    pub fn watches(&self, plan: &FailoverPlan) -> anyhow::Result<Vec<Watch>> {
        let all = plan.watchdog.as_ref().map(|w| w.watches.clone()).unwrap_or_default();
        if all.is_empty() {
            bail!("{}: the plan has no watchdog.watches", self.plan.display());
        }
        match &self.watch {
            None => Ok(all),
            Some(name) => match all.iter().find(|w| &w.name == name) {
                Some(w) => Ok(vec![w.clone()]),
                None => bail!(
                    "--watch {name:?}: the plan has no such watch (it has: {})",
                    all.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            },
        }
    }

    /// The one watch a command applies to.
    pub fn watch(&self, plan: &FailoverPlan) -> anyhow::Result<Watch> {
        let mut watches = self.watches(plan)?;
        if watches.len() > 1 {
            bail!(
                "the plan has several watches; name one with --watch ({})",
                watches.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        Ok(watches.remove(0))
    }

    /// The watchdog's state store, opened with the operator's key or `az login` identity.
    pub fn store(&self) -> anyhow::Result<Arc<dyn StateStore>> {
        let config = StoreConfig::from_url(&self.state_url, self.state_key.clone())
            .map_err(|e| anyhow!("--state {:?}: {e}", self.state_url))?;
        config.open(identity::operator(), DEFAULT_TIMEOUT).map_err(|e| anyhow!("state store: {e}"))
    }

    /// The watch's state as stored now.
    pub async fn state(&self, watch: &Watch) -> anyhow::Result<WatchState> {
        let store = self.store()?;
        WatchRecord::new(store.as_ref(), watch).state().await.map_err(|e| anyhow!("{e}"))
    }
}

/// Applies an operator's command to a watch through the watch's record: the same step and
/// conditional write as a watchdog tick, as watcher `operator:<name>`, then carries out what the
/// step decided. Its alerts go to the plan's channels whose URL settings are set where the
/// command runs (a channel whose setting is missing is named and skipped; the decision log keeps
/// every alert), and the command waits until each channel has taken its alert or given up, so
/// nothing is lost when the process exits.
pub async fn apply(
    target: &Target,
    plan: &FailoverPlan,
    watch: &Watch,
    command: Command,
    activation: &dyn ActivationApi,
) -> anyhow::Result<Step> {
    let store = target.store()?;
    let record = WatchRecord::new(store.as_ref(), watch);
    let watcher = format!("operator:{}", operator());
    let step = record.step(Input::Command(command), &watcher, None).await.map_err(|e| anyhow!("{e}"))?;
    let done =
        record.carry_out(&step, &watcher, activation, &operator_alerter(plan)).await.map_err(|e| anyhow!("{e}"))?;
    for delivery in done.deliveries {
        for (channel, result) in delivery.settled().await {
            if let Err(e) = result {
                eprintln!("alert not delivered to channel {channel}: {e}");
            }
        }
    }
    Ok(step)
}

/// The plan's alert channels as reachable from the operator's environment.
fn operator_alerter(plan: &FailoverPlan) -> Alerter {
    let mut problems = Problems::new();
    let channels = AlertChannels::resolve(&plan.alerts, "$.alerts", &Environment, &mut problems);
    if let Err(skipped) = problems.finish(()) {
        for problem in skipped.problems {
            eprintln!("alerts of this command skip a channel: {problem}");
        }
    }
    channels.alerter(&outbound::client(Purpose::Alerts))
}

/// For commands that cannot lead to an activation call.
pub struct NoActivation;

#[async_trait]
impl ActivationApi for NoActivation {
    async fn request(&self, _: &ActivationRequest) -> ActivationOutcome {
        ActivationOutcome::Failed { reason: "this command does not call activation".into(), retryable: true }
    }
}

/// Where and how to call the activation function.
#[derive(Debug, clap::Args)]
pub struct ActivationTarget {
    /// The activation function's URL, e.g. https://<app>.azurewebsites.net/api/activate.
    #[arg(long = "activation-url", env = "BCDR_ACTIVATION_URL")]
    pub url: Option<String>,
    /// Its function key.
    #[arg(long = "activation-key", env = "BCDR_ACTIVATION_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// The shared signing secret.
    #[arg(long = "secret", env = "BCDR_ACTIVATION_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

impl ActivationTarget {
    pub fn client(&self) -> anyhow::Result<SignedActivation> {
        let url = self.url.as_deref().context("--activation-url (or BCDR_ACTIVATION_URL) is required")?;
        let url: reqwest::Url = url.parse().map_err(|e| anyhow!("--activation-url {url:?}: {e}"))?;
        let secret = self.secret.as_deref().context("--secret (or BCDR_ACTIVATION_SECRET) is required")?;
        if secret.len() < bcdr_core::signature::MIN_SECRET_LEN {
            bail!("--secret: must be at least {} characters", bcdr_core::signature::MIN_SECRET_LEN);
        }
        Ok(SignedActivation::new(url, self.key.clone(), secret.as_bytes().to_vec(), Duration::from_secs(300)))
    }
}

pub async fn status(target: &Target) -> anyhow::Result<()> {
    let plan = target.plan()?;
    let store = target.store()?;
    let watcher = format!("operator:{}", operator());
    let status =
        record::status(store.as_ref(), &target.watches(&plan)?, &watcher, Utc::now()).await.map_err(|e| anyhow!(e))?;
    if target.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    for w in &status.watches {
        let s = &w.state;
        println!("watch {}  ({})", w.name, w.target);
        println!(
            "  phase      {}{}",
            s.phase.label(),
            s.phase_since.map(|t| format!(" since {}", short(t))).unwrap_or_default()
        );
        println!("  epoch      {}", s.epoch);
        if let Some(p) = &s.pause {
            println!("  paused     until {} by {}: {}", short(p.until), p.by, p.reason);
        }
        if let Some(a) = &s.activation {
            println!(
                "  activation epoch {} requested by {} at {}: {} attempt{}{}{}",
                a.epoch,
                a.requested_by,
                short(a.requested_at),
                a.attempts,
                if a.attempts == 1 { "" } else { "s" },
                if a.in_flight { ", in flight" } else { "" },
                a.last_error.as_deref().map(|e| format!(", last error: {e}")).unwrap_or_default()
            );
        }
        // Where each watcher runs, as the plan declares it (watchdog.watchers).
        let declared = plan.watchdog.as_ref().map(|w| w.watchers.as_slice()).unwrap_or_default();
        let place = |id: &str| match declared.iter().find(|w| w.name == id) {
            Some(w) => format!(" ({} {})", w.cloud.label(), w.region),
            None if !declared.is_empty() => " (not declared in the plan)".to_owned(),
            None => String::new(),
        };
        for (id, r) in &s.watchers {
            let vote = if s.votes.contains_key(id) { ", votes down" } else { "" };
            println!("  watcher    {id}{}: {} failures, {} successes{vote}", place(id), r.failures, r.successes);
        }
        for w in declared.iter().filter(|w| !s.watchers.contains_key(&w.name)) {
            println!("  watcher    {}{}: no observation yet", w.name, place(&w.name));
        }
        let probes: Vec<&str> = s.history.iter().rev().take(10).map(|p| p.observation.label()).collect();
        println!(
            "  probes     {} (newest first)",
            if probes.is_empty() { "none yet".to_owned() } else { probes.join(" ") }
        );
        for a in &s.open_alerts {
            println!("  alert      {} {} since {}: {}", a.severity.label(), a.kind.label(), short(a.since), a.message);
        }
        println!("  decisions (newest first):");
        for d in w.decisions.iter().rev().take(8) {
            let phase = if d.from == d.to {
                d.to.label().to_owned()
            } else {
                format!("{} -> {}", d.from.label(), d.to.label())
            };
            println!("    {}  {:<18} {:<24} {}", short(d.at), d.watcher, phase, d.note);
        }
        println!();
    }
    Ok(())
}

/// `+2h`, `+30m`, `+1d`, or an RFC 3339 time.
pub fn parse_until(raw: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let bad = || anyhow!("--until {raw:?}: expected +30m, +2h, +1d or a time like 2026-12-01T22:00:00Z");
    let until = if let Some(rel) = raw.strip_prefix('+') {
        let (n, unit) = rel.split_at(rel.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: i64 = n.parse().map_err(|_| bad())?;
        match unit {
            "m" => now + chrono::Duration::minutes(n),
            "h" => now + chrono::Duration::hours(n),
            "d" => now + chrono::Duration::days(n),
            _ => return Err(bad()),
        }
    } else {
        DateTime::parse_from_rfc3339(raw).map_err(|_| bad())?.with_timezone(&Utc)
    };
    if until <= now {
        bail!("--until {raw:?}: that is not in the future");
    }
    Ok(until)
}

pub async fn pause(target: &Target, reason: &str, until: &str) -> anyhow::Result<()> {
    let step = pause_until(
        target,
        reason,
        until,
        "say why the watch is paused (it shows in status and alerts)",
        |watch, until| {
            format!("Pausing watch {watch} until {until}: probes are recorded but nothing counts or activates.")
        },
        |reason, until| Command::Pause { reason, until, by: operator() },
    )
    .await?;
    report(&step);
    Ok(())
}

/// `bcdr reject`: declines the activation a watch in `awaitingApproval` waits for; the watch is
/// paused until `until` (with the reason), then asks again if the primary is still down.
pub async fn reject(target: &Target, reason: &str, until: &str) -> anyhow::Result<()> {
    let step = pause_until(
        target,
        reason,
        until,
        "say why the activation is declined (it goes in the decision log and the alerts)",
        |watch, until| format!("Rejecting the activation watch {watch} awaits: it is paused until {until}, then asks again if the primary is still down."),
        |reason, until| Command::Reject { by: operator(), reason, until },
    )
    .await?;
    report(&step);
    match &step.decision.rejected {
        Some(why) => bail!("nothing was rejected: {why}"),
        None => Ok(()),
    }
}

/// The commands that pause a watch until a time, for a reason (`pause`, `reject`): the reason is
/// required (`why` says what it is for), `until` is read, the line `say` writes is printed, and
/// the command stepped.
async fn pause_until(
    target: &Target,
    reason: &str,
    until: &str,
    why: &str,
    say: impl FnOnce(&str, String) -> String,
    command: impl FnOnce(String, DateTime<Utc>) -> Command,
) -> anyhow::Result<Step> {
    if reason.trim().is_empty() {
        bail!("--reason: {why}");
    }
    let plan = target.plan()?;
    let watch = target.watch(&plan)?;
    let until = parse_until(until, Utc::now())?;
    println!("{}", say(&watch.name, short(until)));
    apply(target, &plan, &watch, command(reason.to_owned(), until), &NoActivation).await
}

pub async fn resume(target: &Target) -> anyhow::Result<()> {
    let plan = target.plan()?;
    let watch = target.watch(&plan)?;
    println!("Resuming watch {}: observations count again from the next tick.", watch.name);
    let step = apply(target, &plan, &watch, Command::Resume { by: operator() }, &NoActivation).await?;
    report(&step);
    Ok(())
}

pub fn report(step: &Step) {
    let d = &step.decision;
    match &d.rejected {
        Some(why) => println!("Refused: {why}"),
        None => println!("Done: {} -> {} (epoch {}): {}", d.from.label(), d.to.label(), d.epoch, d.note),
    }
}

fn short(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}
