//! `bcdr demo` (what `make run` runs): the whole failover story on one machine. The three real
//! handlers run under two `bcdr host` processes — the primary region and the secondary region —
//! against simulated Azure (ARM and managed identity, in this process). It shows healthy ticks,
//! injects an outage, prints the timeline through detection, alert, fence, enable and route with
//! the activation report, fails back, and stops everything it started.
//!
//! Built only with the `demo` feature (`cargo build -p bcdr --features demo`, as `make run` does),
//! so the operator's CLI does not link the simulation.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use azure_sim::{ArmDouble, ArmOptions, Grant, IdentityDouble, IdentityOptions, PollingTrigger};
use bcdr_core::plan::{access, instance_of, FailoverPlan, Router, RouterKind};
use bcdr_core::watch::{Decision, Input, Phase, WatchState};
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use warp::Filter;

use crate::ops::{ActivationTarget, Target};

const PRIMARY_KEY: &str = "demo-primary-function-key";
const SECONDARY_KEY: &str = "demo-secondary-function-key";
const SECRET: &str = "demo-activation-secret-not-for-production";
const WATCH: &str = "orders";
/// The shared mailbox both regions' order-mailbox copies read.
/// The client id of the activation app's managed identity.
const ACTIVATION_IDENTITY: &str = "activation-identity";
const MAILBOX: &str = "orders-mailbox";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its apps, state and logs (emptied first).
    #[arg(long, default_value = "target/demo")]
    pub workdir: PathBuf,
    /// A failover plan whose `router` the demo uses instead of its Traffic Manager profile (e.g.
    /// `infra/local-plan-apim.json`, an API Management pool); the simulation is seeded with what
    /// that router names. The rest of the demo's plan stays its own.
    #[arg(long)]
    pub plan: Option<PathBuf>,
}

/// Prints one timeline line, stamped with the time since the demo began.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn say(&self, who: &str, what: impl AsRef<str>) {
        println!("[{:>5.1}s] {:<10} {}", self.0.elapsed().as_secs_f64(), who, what.as_ref());
    }
}

fn sub(n: &str) -> String {
    format!("/subscriptions/00000000-0000-0000-0000-00000000de00/resourceGroups/{n}/providers")
}

fn ids(rg: &str) -> (String, String, String) {
    let p = sub(rg);
    (
        format!("{p}/Microsoft.Logic/workflows/order-mailbox"),
        format!("{p}/Microsoft.Logic/workflows/nightly-invoices"),
        format!("{p}/Microsoft.Web/sites/orders-api-{rg}"),
    )
}

fn endpoint(name: &str) -> String {
    format!("{}/Microsoft.Network/trafficManagerProfiles/tm-orders/azureEndpoints/{name}", sub("rg-global"))
}

/// A child process stopped (SIGTERM, then SIGKILL) when the demo ends, however it ends.
struct Host {
    name: &'static str,
    child: Child,
}

impl Host {
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: sending a signal to a child we own.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(8), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let clock = Clock(Instant::now());
    let bin_dir = std::env::current_exe()?.parent().map(Path::to_path_buf).context("where is bcdr?")?;
    for b in ["health-check", "watchdog", "activation"] {
        if !bin_dir.join(b).is_file() {
            bail!(
                "{} is missing: build the handlers first (cargo build --workspace --bins; make run does)",
                bin_dir.join(b).display()
            );
        }
    }
    let work = &args.workdir;
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work.join("logs")).with_context(|| format!("cannot create {}", work.display()))?;
    let work = work.canonicalize()?;

    // Simulated Azure: the managed-identity endpoint and ARM, with the workload's copies.
    let identity = IdentityDouble::start(IdentityOptions::default()).await?;
    let arm = ArmDouble::start(ArmOptions { tokens: Some(identity.tokens()), ..ArmOptions::default() }).await?;
    let (p_mail, p_nightly, p_site) = ids("rg-weu");
    let (s_mail, s_nightly, s_site) = ids("rg-neu");
    for (id, on) in [(&p_mail, true), (&p_nightly, true), (&s_mail, false), (&s_nightly, false)] {
        arm.add_logic_app(id, if on { "Enabled" } else { "Disabled" }, "westeurope");
    }
    // The mailbox poller: one run per new mail, each taking 1.5 s, so runs are in flight when
    // the fence comes, and Azure lets them finish after the disable.
    for id in [&p_mail, &s_mail] {
        arm.add_polling_trigger(
            id,
            PollingTrigger {
                name: "When_a_new_email_arrives".into(),
                source: MAILBOX.into(),
                interval: Duration::from_millis(250),
                run_duration: Duration::from_millis(1_500),
                concurrency: Some(10),
            },
        );
    }
    arm.add_site(&p_site, "Running");
    arm.add_site(&s_site, "Stopped");
    let router = match &args.plan {
        None => Router {
            kind: RouterKind::TrafficManager,
            primary: endpoint("weu").parse().map_err(|e| anyhow!("{e}"))?,
            secondary: endpoint("neu").parse().map_err(|e| anyhow!("{e}"))?,
            backend: None,
        },
        Some(file) => FailoverPlan::from_file(file)
            .map_err(|e| anyhow!("{}: {e}", file.display()))?
            .router
            .with_context(|| format!("{} has no router", file.display()))?,
    };
    seed_router(&arm, &router);
    clock.say(
        "azure",
        format!(
            "simulated Azure (ARM {} and managed identity) is up: primary copies enabled, secondary copies disabled",
            arm.base_url()
        ),
    );

    // The primary's dependency, which the outage takes away, and the operators' alert inbox.
    let dependency_up = Arc::new(AtomicBool::new(true));
    let dependency_port = free_port()?;
    {
        let up = dependency_up.clone();
        let route = warp::any().map(move || {
            if up.load(Ordering::SeqCst) {
                warp::reply::with_status("ok", warp::http::StatusCode::OK)
            } else {
                warp::reply::with_status("down", warp::http::StatusCode::SERVICE_UNAVAILABLE)
            }
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", dependency_port)).await?;
        tokio::spawn(warp::serve(route).incoming(listener).run());
    }
    let (alerts_tx, mut alerts) = mpsc::unbounded_channel::<Value>();
    let inbox_port = free_port()?;
    {
        let route = warp::post().and(warp::body::json()).map(move |alert: Value| {
            let _ = alerts_tx.send(alert);
            warp::reply()
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", inbox_port)).await?;
        tokio::spawn(warp::serve(route).incoming(listener).run());
    }

    let primary_port = free_port()?;
    let secondary_port = free_port()?;
    let plan = json!({
        "version": 1, "name": "demo", "regions": {"primary": "westeurope (local)", "secondary": "northeurope (local)"},
        "health": {"deadlineMs": 800, "cacheMs": 0, "checks": [
            {"name": "orders-db", "timeoutMs": 500, "http": {"url": format!("http://127.0.0.1:{dependency_port}/health")}}
        ]},
        "watchdog": {"schedule": "*/2 * * * * *", "watches": [{
            "name": WATCH,
            "target": format!("http://127.0.0.1:{primary_port}/api/health"),
            "controls": [format!("{}/", arm.base_url())],
            "policy": {"failureThreshold": 3, "successThreshold": 2, "probeTimeoutMs": 1000, "probeAttempts": 1}
        }]},
        "alerts": {"channels": [{"name": "ops-inbox", "kind": "webhook", "urlSetting": "BCDR_ALERT_WEBHOOK_URL"}]},
        "resources": [
            {"name": "order-mailbox", "kind": "logicApp", "trigger": "pollingClientState", "role": "activePassive", "primary": p_mail, "secondary": s_mail},
            {"name": "nightly-invoices", "kind": "logicApp", "trigger": "recurrence", "role": "activePassive", "primary": p_nightly, "secondary": s_nightly},
            {"name": "orders-api", "kind": "site", "trigger": "request", "role": "activePassive", "primary": p_site, "secondary": s_site}
        ],
        "router": router,
        "activation": {"deadlineMs": 20000}
    });
    let parsed =
        bcdr_core::plan::FailoverPlan::from_json(&plan.to_string()).map_err(|e| anyhow!("the demo plan: {e}"))?;
    // Activation holds exactly the roles the deployment would give it for this plan.
    let activation_roles = access::assignments(&parsed).into_iter().filter(|a| a.app == access::App::Activation);
    arm.enforce_access(activation_roles.map(|a| Grant {
        principal: ACTIVATION_IDENTITY.to_owned(),
        scope: a.scope,
        role: a.role,
        actions: a.actions,
        not_actions: a.not_actions,
    }));
    let plan_file = work.join("failover-plan.json");
    std::fs::write(&plan_file, serde_json::to_string_pretty(&plan)?)?;
    let app = |name: &str, functions: &[&str]| -> anyhow::Result<PathBuf> {
        let dir = work.join("apps").join(name);
        for f in functions {
            std::fs::create_dir_all(dir.join(f))?;
            std::fs::write(dir.join(f).join("function.json"), function_json(f))?;
        }
        std::fs::write(dir.join("host.json"), HOST_JSON)?;
        std::os::unix::fs::symlink(bin_dir.join(name), dir.join("handler"))?;
        std::fs::copy(&plan_file, dir.join("failover-plan.json"))?;
        Ok(dir)
    };
    let health_app = app("health-check", &["health"])?;
    let watchdog_app = app("watchdog", &["watchdog", "status", "monitor", "badge"])?;
    let activation_app = app("activation", &["activate", "ready"])?;
    let state_url = format!("file://{}", work.join("state").display());
    let activation_url = format!("http://127.0.0.1:{secondary_port}/api/activate");

    let spawn =
        |name: &'static str, apps: &[&Path], port: u16, key: &str, sets: &[(&str, &str)]| -> anyhow::Result<Host> {
            let log = std::fs::File::create(work.join("logs").join(format!("{name}.log")))?;
            let mut cmd = Command::new(bin_dir.join("bcdr"));
            cmd.arg("host").args(apps).args(["--port", &port.to_string(), "--functions-key", key]);
            for (k, v) in sets {
                cmd.arg("--set").arg(format!("{k}={v}"));
            }
            cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).kill_on_drop(true);
            functions_host::tie_to_parent(&mut cmd);
            Ok(Host { name, child: cmd.spawn()? })
        };
    let primary = spawn("primary", &[&health_app], primary_port, PRIMARY_KEY, &[])?;
    let inbox = format!("http://127.0.0.1:{inbox_port}/");
    let secondary = spawn(
        "secondary",
        &[&watchdog_app, &activation_app],
        secondary_port,
        SECONDARY_KEY,
        &[
            ("BCDR_WATCHDOG_SCHEDULE", "*/2 * * * * *"),
            ("BCDR_STATE_URL", &state_url),
            ("BCDR_HEALTH_KEY", PRIMARY_KEY),
            ("BCDR_ACTIVATION_URL", &activation_url),
            ("BCDR_ACTIVATION_KEY", SECONDARY_KEY),
            ("BCDR_ACTIVATION_SECRET", SECRET),
            ("BCDR_WATCHER_ID", "northeurope-watchdog"),
            ("BCDR_ALERT_WEBHOOK_URL", &inbox),
            ("BCDR_ARM_ENDPOINT", arm.base_url()),
            ("IDENTITY_ENDPOINT", identity.endpoint()),
            ("IDENTITY_HEADER", identity.header_secret()),
            ("AZURE_CLIENT_ID", ACTIVATION_IDENTITY),
        ],
    )?;
    clock.say("hosts", format!("primary region: health-check on http://127.0.0.1:{primary_port}; secondary region: watchdog + activation on http://127.0.0.1:{secondary_port} (logs in {})", work.join("logs").display()));

    // Orders arrive by mail all through the story, one every 400 ms.
    let arm = Arc::new(arm);
    let mail = arm.feed(MAILBOX, Duration::from_millis(400));

    let monitor = uptime_monitor(clock, format!("http://127.0.0.1:{secondary_port}/api/status/monitor"));
    let story = Story { clock: &clock, state_dir: work.join("state"), printed: 0, reports: 0 };
    let result = story
        .tell(&mut alerts, &dependency_up, &arm, &router, &plan_file, &state_url, &activation_url, (&s_mail, &p_mail))
        .await;
    mail.stop();
    monitor.abort();
    let result = match result {
        Ok(()) => mailbox_tally(&clock, &arm, (&p_mail, &s_mail)).await,
        Err(e) => Err(e),
    };
    for host in [primary, secondary] {
        let name = host.name;
        host.stop().await;
        clock.say("hosts", format!("{name} host stopped"));
    }
    drop(arm);
    drop(identity);
    clock.say("azure", "simulated Azure stopped; nothing is left running");
    result
}

/// An uptime monitor pointed at the watchdog's monitor endpoint, as an operator would set one up:
/// it asks every half second and says when the answer changes.
fn uptime_monitor(clock: Clock, url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut last = None;
        loop {
            let answer = http.get(&url).header("x-functions-key", SECONDARY_KEY).send().await;
            if let Ok(res) = answer {
                let code = res.status().as_u16();
                let body = res.text().await.unwrap_or_default();
                let line = format!("GET /api/status/monitor: {code} {}", body.trim());
                if last.as_ref() != Some(&line) {
                    clock.say("monitor", &line);
                    last = Some(line);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Waits for the mailbox runs to finish, then says who processed what: each order once.
async fn mailbox_tally(clock: &Clock, arm: &ArmDouble, (primary, secondary): (&str, &str)) -> anyhow::Result<()> {
    let settled = arm.settled_source(MAILBOX, Duration::from_secs(2), Duration::from_secs(20)).await;
    let mailbox = settled.context("the mailbox's runs did not all end within 20 s")?;
    let per_copy = mailbox.processed_per_workflow();
    let count = |id: &str| per_copy.get(&id.to_ascii_lowercase()).copied().unwrap_or(0);
    let (twice, never) = (mailbox.duplicated().len(), mailbox.unprocessed().len());
    clock.say(
        "mailbox",
        format!(
            "{} orders arrived by mail: {} processed in the primary, {} in the secondary; processed twice: {twice}; never processed: {never}",
            mailbox.items.len(),
            count(primary),
            count(secondary)
        ),
    );
    if twice > 0 || never > 0 {
        bail!("the mailbox poller did not process every order exactly once");
    }
    Ok(())
}

/// Seeds the simulation with what the router names, as before a failover: the primary's
/// endpoint or origin enabled and the secondary's not; for API Management the instance (with a
/// gateway in both regions), both regions' backends, and the backend the APIs use (a pool with
/// the primary's backend first).
fn seed_router(arm: &ArmDouble, router: &Router) {
    let (primary, secondary) = (router.primary.as_str(), router.secondary.as_str());
    match (router.kind, &router.backend) {
        (RouterKind::TrafficManager, _) => {
            arm.add_traffic_manager_endpoint(primary, "Enabled");
            arm.add_traffic_manager_endpoint(secondary, "Disabled");
        }
        (RouterKind::FrontDoor, _) => {
            arm.add_front_door_origin(primary, true);
            arm.add_front_door_origin(secondary, false);
        }
        (RouterKind::ApiManagement, backend) => {
            let backend = backend.as_ref().expect("a valid plan names the backend of an apiManagement router");
            arm.add_api_management(&instance_of(backend), "westeurope", &["northeurope"]);
            arm.add_api_management_backend(primary, "https://orders-api-rg-weu.azurewebsites.net/api");
            arm.add_api_management_backend(secondary, "https://orders-api-rg-neu.azurewebsites.net/api");
            arm.add_api_management_pool(backend.as_str(), &[(primary, 1), (secondary, 2)]);
        }
    }
}

/// Where the router sends traffic now, in words.
fn router_now(arm: &ArmDouble, router: &Router) -> String {
    let text = |id: &str, path: &str| {
        arm.resource(id).and_then(|r| bcdr_core::arm::catalog::property(&r, path).cloned()).unwrap_or(Value::Null)
    };
    match (router.kind, &router.backend) {
        (RouterKind::ApiManagement, Some(backend)) => {
            let members = text(backend.as_str(), "properties.pool.services");
            let first = members
                .as_array()
                .and_then(|m| m.iter().min_by_key(|m| m["priority"].as_i64().unwrap_or(0)))
                .and_then(|m| m["id"].as_str())
                .and_then(|id| id.rsplit('/').next())
                .unwrap_or("?")
                .to_owned();
            format!("API Management's pool {} puts {first} first", backend.name())
        }
        (RouterKind::FrontDoor, _) => {
            format!("Front Door's secondary origin is {}", text(router.secondary.as_str(), "properties.enabledState"))
        }
        _ => match text(router.secondary.as_str(), "properties.endpointStatus") {
            Value::String(s) if s == "Enabled" => "Traffic Manager sends traffic to the secondary".to_owned(),
            other => format!("Traffic Manager's secondary endpoint is {other}"),
        },
    }
}

struct Story<'a> {
    clock: &'a Clock,
    state_dir: PathBuf,
    printed: usize,
    reports: usize,
}

impl Story<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn tell(
        mut self,
        alerts: &mut mpsc::UnboundedReceiver<Value>,
        dependency_up: &AtomicBool,
        arm: &ArmDouble,
        router: &Router,
        plan_file: &Path,
        state_url: &str,
        activation_url: &str,
        (secondary_mailbox, primary_mailbox): (&str, &str),
    ) -> anyhow::Result<()> {
        let both_enabled = || {
            let on = |id: &str| {
                arm.resource(id)
                    .and_then(|r| r["properties"]["state"].as_str().map(|s| s == "Enabled"))
                    .unwrap_or(false)
            };
            on(primary_mailbox) && on(secondary_mailbox)
        };
        // 1. Healthy ticks.
        self.until(alerts, Duration::from_secs(20), "two healthy ticks", |s, d| {
            d.iter().filter(|d| is_up(d)).count() >= 2 && s.phase == Phase::Watching
        })
        .await?;
        // 2. The outage.
        self.clock
            .say("demo", "OUTAGE: the primary's database stops answering; its health-check will say unhealthy (503)");
        dependency_up.store(false, Ordering::SeqCst);
        self.until(alerts, Duration::from_secs(30), "the failover", |s, _| s.phase == Phase::FailedOver).await?;
        if both_enabled() {
            bail!("the mailbox poller is enabled in both regions: the fence failed");
        }
        self.clock.say(
            "azure",
            format!(
                "now: order-mailbox enabled only in the secondary, nightly-invoices in the secondary, orders-api started there, {}",
                router_now(arm, router)
            ),
        );
        // 3. The primary comes back; failback is manual.
        self.clock.say("demo", "the primary's database is back");
        dependency_up.store(true, Ordering::SeqCst);
        self.until(alerts, Duration::from_secs(20), "the primary seen healthy again", |s, _| {
            s.primary_back_since.is_some()
        })
        .await?;
        // 4. The operator fails back.
        self.clock.say("operator", "bcdr failback --healthy-for 0s --yes");
        let target = Target {
            plan: plan_file.to_path_buf(),
            state_url: state_url.to_owned(),
            state_key: None,
            watch: Some(WATCH.into()),
            json: false,
        };
        let act = ActivationTarget {
            url: Some(activation_url.to_owned()),
            key: Some(SECONDARY_KEY.into()),
            secret: Some(SECRET.into()),
        };
        crate::runs::failback(&target, &act, Some(PRIMARY_KEY.into()), Duration::ZERO, true).await?;
        // The operator's run printed its own reports.
        self.reports = std::fs::read_to_string(self.state_dir.join(format!("activations/{WATCH}/reports.jsonl")))
            .unwrap_or_default()
            .lines()
            .count();
        if both_enabled() {
            bail!("the mailbox poller is enabled in both regions after failback");
        }
        self.until(alerts, Duration::from_secs(20), "a healthy tick on the new epoch", |s, d| {
            s.phase == Phase::Watching && s.epoch == 2 && d.last().is_some_and(is_up)
        })
        .await?;
        self.clock.say("demo", "done: the work is back in the primary, the watch is on epoch 2; the order-mailbox poller never ran in both regions");
        Ok(())
    }

    /// Prints decisions, alerts and activation reports as they appear, until `done` holds.
    async fn until(
        &mut self,
        alerts: &mut mpsc::UnboundedReceiver<Value>,
        limit: Duration,
        what: &str,
        done: impl Fn(&WatchState, &[Decision]) -> bool,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            while let Ok(a) = alerts.try_recv() {
                let s = |k: &str| a[k].as_str().unwrap_or("").to_owned();
                self.clock.say("alert", format!("{} {} (to the ops inbox): {}", s("severity"), s("kind"), s("text")));
            }
            let state: WatchState = std::fs::read(self.state_dir.join(format!("watches/{WATCH}/state.json")))
                .ok()
                .and_then(|b| {
                    // The file store keeps a version line before the document.
                    let start = b.iter().position(|c| *c == b'\n').map_or(0, |i| i + 1);
                    serde_json::from_slice(&b[start..]).ok()
                })
                .unwrap_or_default();
            let decisions: Vec<Decision> =
                std::fs::read_to_string(self.state_dir.join(format!("watches/{WATCH}/decisions.jsonl")))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
            for d in &decisions[self.printed.min(decisions.len())..] {
                let input = match &d.input {
                    Input::Observation(o) => o.label().to_owned(),
                    Input::Command(c) => serde_json::to_value(c)
                        .ok()
                        .and_then(|v| v["kind"].as_str().map(str::to_owned))
                        .unwrap_or_default(),
                };
                let phase = if d.from == d.to {
                    d.to.label().to_owned()
                } else {
                    format!("{} -> {}", d.from.label(), d.to.label())
                };
                self.clock.say("watchdog", format!("{input:<14} {phase:<24} {}", d.note));
            }
            self.printed = decisions.len();
            let reports = std::fs::read_to_string(self.state_dir.join(format!("activations/{WATCH}/reports.jsonl")))
                .unwrap_or_default();
            for line in reports.lines().skip(self.reports) {
                if let Ok(answer) = serde_json::from_str::<Value>(line) {
                    let r = &answer["report"];
                    self.clock.say(
                        "activation",
                        format!(
                            "{} run for epoch {} by {}: {} in {} ms",
                            r["direction"].as_str().unwrap_or("failover"),
                            answer["epoch"],
                            answer["requester"].as_str().unwrap_or(""),
                            r["outcome"].as_str().unwrap_or(""),
                            r["durationMs"]
                        ),
                    );
                    for a in r["actions"].as_array().into_iter().flatten() {
                        let s = |k: &str| a[k].as_str().unwrap_or("").to_owned();
                        self.clock.say(
                            "",
                            format!(
                                "  {:<12} {:<17} {:<9} {:<15} {:<15} {}",
                                s("phase"),
                                s("resource"),
                                s("copy"),
                                s("operation"),
                                s("status"),
                                s("detail")
                            ),
                        );
                    }
                }
            }
            self.reports = reports.lines().count();
            if done(&state, &decisions) {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!("waited {} s for {what}; see the logs", limit.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn is_up(d: &Decision) -> bool {
    matches!(&d.input, Input::Observation(o) if o.is_up())
}

const HOST_JSON: &str = include_str!("../../../host.json");

fn function_json(name: &str) -> &'static str {
    match name {
        "health" => include_str!("../../../function-specs/health/function.json"),
        "watchdog" => include_str!("../../../function-specs/watchdog/function.json"),
        "status" => include_str!("../../../function-specs/status/function.json"),
        "monitor" => include_str!("../../../function-specs/monitor/function.json"),
        "badge" => include_str!("../../../function-specs/badge/function.json"),
        "activate" => include_str!("../../../function-specs/activate/function.json"),
        "ready" => include_str!("../../../function-specs/ready/function.json"),
        other => unreachable!("no function spec {other}"),
    }
}
