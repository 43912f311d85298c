//! A whole deployment on one machine for the failover scenarios: the primary's health-check, one
//! or more watchdogs and the activation app, each the real binary under its own `bcdr host`, with
//! state in Azurite, ARM and the managed identity simulated, and switches for everything a
//! scenario breaks (the primary's dependency, each watcher's network path, the control).
//!
//! A guard watches the ARM double for the whole scenario and remembers any moment at which a
//! client-state resource was enabled in both regions, the one outcome the bundle must never allow.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use azure_sim::{
    ArmDouble, ArmOptions, Feed, IdentityDouble, IdentityOptions, PollingTrigger, RuntimeApiDouble, SourceReport,
};
use bcdr_core::store::{BlobAuth, BlobStore, StateStore};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use warp::Filter;

use crate::support::{self, free_port, workspace_binary};

use azure_sim::azurite::{self, Azurite};

pub const WATCH: &str = "orders";
pub const SECRET: &str = "an-end-to-end-scenario-secret-of-32-chars-at-least";
pub const HEALTH_KEY: &str = "primary-health-function-key";
pub const ACTIVATION_KEY: &str = "secondary-activation-function-key";
pub const STATUS_KEY: &str = "secondary-watchdog-function-key";
const CLIENT_ID: &str = "e2e-activation-identity";
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000e2e5";

/// One Azurite for the whole test binary: each scenario gets its own container in it. Starting
/// one per scenario would cost seconds and a Node.js process each. The handle is never dropped;
/// Azurite dies with the test process (see `Azurite::start`).
fn shared_azurite() -> &'static Azurite {
    static AZURITE: OnceLock<Azurite> = OnceLock::new();
    AZURITE.get_or_init(Azurite::start)
}

fn resource_id(rg: &str, tail: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/{tail}")
}

fn workflow(rg: &str, name: &str) -> String {
    resource_id(rg, &format!("Microsoft.Logic/workflows/{name}"))
}

fn site(rg: &str, name: &str) -> String {
    resource_id(rg, &format!("Microsoft.Web/sites/{name}"))
}

fn endpoint(name: &str) -> String {
    resource_id("rg-global", &format!("Microsoft.Network/trafficManagerProfiles/orders/azureEndpoints/{name}"))
}

/// The copies a scenario looks at, by role in the plan.
pub struct Ids;

impl Ids {
    /// A mailbox poller (client-side state): never enabled in both regions.
    pub fn mailbox(primary: bool) -> String {
        workflow(if primary { "rg-weu" } else { "rg-neu" }, "mailbox")
    }
    /// A nightly job (recurrence).
    pub fn nightly(primary: bool) -> String {
        workflow(if primary { "rg-weu" } else { "rg-neu" }, "nightly")
    }
    /// The API behind the router (request trigger).
    pub fn api(primary: bool) -> String {
        site(if primary { "rg-weu" } else { "rg-neu" }, "api")
    }
    /// The router's endpoint for a region.
    pub fn endpoint(primary: bool) -> String {
        endpoint(if primary { "weu" } else { "neu" })
    }
}

/// How a scenario wants its world.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many watchdogs watch the primary; each has its own network path and control.
    pub watchers: usize,
    /// `(required, watchers)` of the watch's quorum.
    pub quorum: (u32, u32),
    /// Whether the activation app runs from the start (else `World::start_activation`).
    pub activation_running: bool,
    /// The plan's `activation.deadlineMs`.
    pub activation_deadline_ms: u64,
    /// The watch policy's `maxActivationAttempts`.
    pub max_activation_attempts: u32,
    /// Whether a watcher outside Azure (`watchdog-lambda` under a Lambda Runtime API double)
    /// votes too. With it the plan declares its watchers (`watchdog.watchers`), each in its own
    /// failure domain: the Azure ones `watcher-<n>`, the Lambda one [`LAMBDA_WATCHER`].
    pub lambda_watcher: bool,
}

/// The Lambda watcher's name in votes.
pub const LAMBDA_WATCHER: &str = "watcher-aws";

impl Default for Options {
    fn default() -> Self {
        Options {
            watchers: 1,
            quorum: (1, 1),
            activation_running: true,
            activation_deadline_ms: 20_000,
            max_activation_attempts: 5,
            lambda_watcher: false,
        }
    }
}

/// A `bcdr host` process with its app folder; killed (with its handler) when dropped.
struct Host {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the primary's health-check depends on: a local HTTP service the scenario can break.
pub struct Dependency {
    pub url: String,
    mode: Arc<AtomicU8>,
}

const DEPENDENCY_UP: u8 = 0;
const DEPENDENCY_DOWN: u8 = 1;
const DEPENDENCY_FLAPPING: u8 = 2;

impl Dependency {
    async fn start() -> Dependency {
        let mode = Arc::new(AtomicU8::new(DEPENDENCY_UP));
        let m = mode.clone();
        let route = warp::path!("ping").map(move || {
            let up = match m.load(Ordering::SeqCst) {
                DEPENDENCY_UP => true,
                DEPENDENCY_DOWN => false,
                _ => flapping_is_up(chrono::Utc::now()),
            };
            let status = if up { http::StatusCode::OK } else { http::StatusCode::SERVICE_UNAVAILABLE };
            warp::reply::with_status(if up { "ok" } else { "down" }, status)
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/ping", listener.local_addr().unwrap());
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Dependency { url, mode }
    }

    pub fn up(&self) {
        self.mode.store(DEPENDENCY_UP, Ordering::SeqCst);
    }

    pub fn down(&self) {
        self.mode.store(DEPENDENCY_DOWN, Ordering::SeqCst);
    }

    /// Down for two ticks, up for one, over and over: never three failures in a row.
    pub fn flap(&self) {
        self.mode.store(DEPENDENCY_FLAPPING, Ordering::SeqCst);
    }
}

/// The flapping pattern, from the wall clock so that it lines up with the watchdog's timer
/// (every even second): each 2 s slot starts at an odd second, half way between two ticks, so
/// every tick falls well inside a slot whatever the small delays of the probe. Slots go down,
/// down, up.
fn flapping_is_up(now: chrono::DateTime<chrono::Utc>) -> bool {
    let slot = (now.timestamp_millis() + 1_000).div_euclid(2_000);
    slot.rem_euclid(3) == 2
}

/// How a [`Link`] treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Relays to the upstream.
    Open,
    /// Accepts and drops at once: the caller sees its connection reset.
    Refuse,
    /// Accepts and never answers: the caller times out, as behind a dead network path.
    Blackhole,
}

/// One watcher's network path to something: a TCP relay on its own port that the scenario can
/// cut. Cutting it also ends the connections it is relaying, so pooled connections cannot
/// outlive the cut.
pub struct Link {
    pub port: u16,
    mode: watch::Sender<LinkMode>,
    accept: tokio::task::JoinHandle<()>,
}

impl Link {
    async fn start(upstream: u16) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, seen) = watch::channel(LinkMode::Open);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut seen = seen.clone();
                let now = *seen.borrow_and_update();
                match now {
                    LinkMode::Refuse => drop(inbound),
                    LinkMode::Blackhole => {
                        tokio::spawn(async move {
                            // Held, unanswered, until the mode changes (or the link goes).
                            let _ = seen.changed().await;
                            drop(inbound);
                        });
                    }
                    LinkMode::Open => {
                        tokio::spawn(async move {
                            let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = seen.wait_for(|m| *m != LinkMode::Open) => {}
                            }
                        });
                    }
                }
            }
        });
        Link { port, mode, accept }
    }

    pub fn set(&self, mode: LinkMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One watchdog deployment: its host and its own network paths to the primary and the control.
pub struct Watcher {
    pub id: String,
    pub port: u16,
    pub target: Link,
    pub control: Link,
    host: Host,
}

/// The watcher outside Azure: the real `watchdog-lambda` binary polling a Lambda Runtime API
/// double, which a task invokes on the plan's schedule with Scheduler events, as EventBridge
/// Scheduler invokes the function. Its own network paths, like every watcher's.
pub struct LambdaWatcher {
    pub target: Link,
    pub control: Link,
    pub api: Arc<RuntimeApiDouble>,
    /// While false the scheduler sends nothing: the watcher's cloud is cut off.
    scheduling: Arc<AtomicBool>,
    ticker: tokio::task::JoinHandle<()>,
    process: Host,
}

impl LambdaWatcher {
    /// Stops (false) or resumes (true) the schedule's invocations.
    pub fn schedule(&self, on: bool) {
        self.scheduling.store(on, Ordering::SeqCst);
    }
}

impl Drop for LambdaWatcher {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

/// Remembers every moment a client-state resource was enabled in both regions.
struct Guard {
    pairs: Vec<(String, String, String)>,
    violations: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Guard {
    fn start(arm: Arc<ArmDouble>, pairs: Vec<(String, String, String)>) -> Guard {
        let violations = Arc::new(Mutex::new(Vec::new()));
        let seen = violations.clone();
        let watched = pairs.clone();
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(20));
            // One line per stretch of time both copies ran, not one per poll.
            let mut both_since: Vec<Option<String>> = vec![None; watched.len()];
            loop {
                every.tick().await;
                for ((name, primary, secondary), since) in watched.iter().zip(&mut both_since) {
                    let both = enabled(&arm, primary) && enabled(&arm, secondary);
                    match (both, since.is_some()) {
                        (true, false) => {
                            let at = chrono::Utc::now().to_rfc3339();
                            seen.lock().unwrap().push(format!("{at}: {name} enabled in both regions"));
                            *since = Some(at);
                        }
                        (false, true) => *since = None,
                        _ => {}
                    }
                }
            }
        });
        Guard { pairs, violations, task }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The copies that must never run together: `(name, primary, secondary)` of every client-state
/// and webhook resource in the plan.
fn client_state_pairs(plan: &Value) -> Vec<(String, String, String)> {
    let resources = plan["resources"].as_array().map(Vec::as_slice).unwrap_or_default();
    resources
        .iter()
        .filter(|r| matches!(r["trigger"].as_str(), Some("pollingClientState" | "webhook")))
        .map(|r| {
            let field = |f: &str| r[f].as_str().unwrap().to_owned();
            (field("name"), field("primary"), field("secondary"))
        })
        .collect()
}

/// Whether a copy runs: a workflow Enabled, a site Running.
fn enabled(arm: &ArmDouble, id: &str) -> bool {
    arm.resource(id).is_some_and(|r| matches!(r["properties"]["state"].as_str(), Some("Enabled" | "Running")))
}

pub struct World {
    pub name: String,
    pub options: Options,
    dir: tempfile::TempDir,
    /// The plan as the primary, the activation app and the operator read it.
    pub plan_file: PathBuf,
    pub container_url: String,
    store: BlobStore,
    pub arm: Arc<ArmDouble>,
    identity: IdentityDouble,
    pub dependency: Dependency,
    primary: Host,
    pub primary_port: u16,
    pub watchers: Vec<Watcher>,
    pub lambda: Option<LambdaWatcher>,
    activation: Option<Host>,
    pub activation_port: u16,
    guard: Guard,
    /// The mail arriving in the shared mailbox.
    mail: Feed,
    started: Instant,
}

/// The shared mailbox both regions' `mailbox` copies read.
pub const MAILBOX: &str = "orders-mailbox";

impl World {
    /// Builds and starts everything, and returns once every app answers. `name` names the
    /// scenario's Azurite container (lowercase letters, digits and `-`).
    pub async fn start(name: &str, options: Options) -> World {
        let azurite = tokio::task::spawn_blocking(shared_azurite).await.unwrap();
        let container_url = azurite.container_url(name);
        let store = BlobStore::new(
            &container_url,
            BlobAuth::SharedKey { account: azurite::ACCOUNT.into(), key_base64: azurite::KEY.into() },
        )
        .unwrap();
        store.ensure_container().await.unwrap();

        let identity = IdentityDouble::start(IdentityOptions::default()).await.unwrap();
        let arm = Arc::new(
            ArmDouble::start(ArmOptions { tokens: Some(identity.tokens()), ..ArmOptions::default() }).await.unwrap(),
        );
        for primary in [true, false] {
            let (state, location) = if primary { ("Enabled", "westeurope") } else { ("Disabled", "northeurope") };
            arm.add_logic_app(&Ids::mailbox(primary), state, location);
            // The client-state poller: one run per new mail, each taking 600 ms, four at a time,
            // so runs are in flight whenever the fence comes.
            arm.add_polling_trigger(
                &Ids::mailbox(primary),
                PollingTrigger {
                    name: "When_a_new_email_arrives".into(),
                    source: MAILBOX.into(),
                    interval: Duration::from_millis(100),
                    run_duration: Duration::from_millis(600),
                    concurrency: Some(4),
                },
            );
            arm.add_logic_app(&Ids::nightly(primary), state, location);
            arm.add_site(&Ids::api(primary), if primary { "Running" } else { "Stopped" });
            arm.add_traffic_manager_endpoint(&Ids::endpoint(primary), state);
        }
        // Mail arrives all through the scenario, one every 150 ms, until `mailbox_settled`.
        let mail = arm.feed(MAILBOX, Duration::from_millis(150));
        let dependency = Dependency::start().await;
        let control = control_server().await;
        let dir = tempfile::tempdir().unwrap();
        let primary_port = free_port();
        let activation_port = free_port();
        let plan = plan(&options, &dependency.url, primary_port);
        support::enforce_roles(&arm, &plan, |_| CLIENT_ID);
        let plan_file = dir.path().join("failover-plan.json");
        std::fs::write(&plan_file, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
        let guard = Guard::start(arm.clone(), client_state_pairs(&plan));

        let primary =
            spawn_host(dir.path(), "primary-health", "health-check", &["health"], &plan, primary_port, HEALTH_KEY, &[]);

        let mut watchers = Vec::new();
        for i in 0..options.watchers {
            let id = format!("watcher-{}", i + 1);
            let target = Link::start(primary_port).await;
            let control = Link::start(control).await;
            let mut plan = plan.clone();
            let watch = &mut plan["watchdog"]["watches"][0];
            watch["target"] = json!(format!("http://127.0.0.1:{}/api/health", target.port));
            watch["controls"] = json!([format!("http://127.0.0.1:{}/", control.port)]);
            let port = free_port();
            let settings = [
                ("BCDR_WATCHDOG_SCHEDULE", "*/2 * * * * *".to_owned()),
                ("BCDR_WATCHER_ID", id.clone()),
                ("BCDR_HEALTH_KEY", HEALTH_KEY.to_owned()),
                ("BCDR_ACTIVATION_URL", format!("http://127.0.0.1:{activation_port}/api/activate")),
                ("BCDR_ACTIVATION_KEY", ACTIVATION_KEY.to_owned()),
                ("BCDR_ACTIVATION_SECRET", SECRET.to_owned()),
                ("BCDR_STATE_URL", container_url.clone()),
                ("BCDR_STATE_ACCOUNT_KEY", azurite::KEY.to_owned()),
            ];
            let host = spawn_host(
                dir.path(),
                &id,
                "watchdog",
                &["watchdog", "status", "monitor", "badge"],
                &plan,
                port,
                STATUS_KEY,
                &settings,
            );
            watchers.push(Watcher { id, port, target, control, host });
        }

        let lambda = if options.lambda_watcher {
            Some(start_lambda_watcher(dir.path(), &plan, control, activation_port, &container_url).await)
        } else {
            None
        };

        let mut world = World {
            name: name.to_owned(),
            options,
            dir,
            plan_file,
            container_url,
            store,
            arm,
            identity,
            dependency,
            primary,
            primary_port,
            watchers,
            lambda,
            activation: None,
            activation_port,
            guard,
            mail,
            started: Instant::now(),
        };
        if world.options.activation_running {
            world.start_activation().await;
        }
        let http = reqwest::Client::new();
        let health = world.health_url();
        eventually(Duration::from_secs(30), "the primary's health-check answers healthy", || {
            let req = http.get(&health).header("x-functions-key", HEALTH_KEY);
            async move {
                let res = req.send().await.map_err(|e| e.to_string())?;
                (res.status() == 200).then_some(()).ok_or(format!("status {}", res.status()))
            }
        })
        .await;
        for w in &world.watchers {
            let url = format!("http://127.0.0.1:{}/api/status", w.port);
            eventually(Duration::from_secs(30), &format!("{} serves its status", w.id), || {
                let req = http.get(&url).header("x-functions-key", STATUS_KEY);
                async move {
                    let res = req.send().await.map_err(|e| e.to_string())?;
                    (res.status() == 200).then_some(()).ok_or(format!("status {}", res.status()))
                }
            })
            .await;
        }
        world.started = Instant::now();
        world
    }

    /// Stops the mail, waits until every run that can end has ended (nothing changes for a
    /// second), and returns the mailbox: each item with the runs that processed it.
    pub async fn mailbox_settled(&self) -> SourceReport {
        self.mail.stop();
        let settled = self.arm.settled_source(MAILBOX, Duration::from_secs(1), Duration::from_secs(30)).await;
        settled.expect("the mailbox settles within 30 s")
    }

    /// Starts the activation app (at the port the watchdogs were told) and waits until it is
    /// ready: token, permissions and every target checked.
    pub async fn start_activation(&mut self) {
        assert!(self.activation.is_none(), "the activation app already runs");
        let plan: Value = serde_json::from_slice(&std::fs::read(&self.plan_file).unwrap()).unwrap();
        let settings = [
            ("BCDR_ARM_ENDPOINT", self.arm.base_url().to_owned()),
            ("IDENTITY_ENDPOINT", self.identity.endpoint().to_owned()),
            ("IDENTITY_HEADER", self.identity.header_secret().to_owned()),
            ("AZURE_CLIENT_ID", CLIENT_ID.to_owned()),
            ("BCDR_ACTIVATION_SECRET", SECRET.to_owned()),
            ("BCDR_STATE_URL", self.container_url.clone()),
            ("BCDR_STATE_ACCOUNT_KEY", azurite::KEY.to_owned()),
        ];
        self.activation = Some(spawn_host(
            self.dir.path(),
            "activation",
            "activation",
            &["activate", "ready"],
            &plan,
            self.activation_port,
            ACTIVATION_KEY,
            &settings,
        ));
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/api/ready", self.activation_port);
        eventually(Duration::from_secs(30), "the activation app is ready", || {
            let req = http.get(&url).header("x-functions-key", ACTIVATION_KEY);
            async move {
                let res = req.send().await.map_err(|e| e.to_string())?;
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                (status == 200).then_some(()).ok_or(format!("{status}: {body}"))
            }
        })
        .await;
    }

    pub fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/health", self.primary_port)
    }

    pub fn activation_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/activate", self.activation_port)
    }

    /// Seconds since the world was up, for the scenario's own log lines.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// What an uptime monitor reads from watcher `i` at `path` (`monitor`, `badge?watch=…`,
    /// under `/api/status/`): the HTTP status, the content type and the body. Without the
    /// function key too, when `key` is false.
    pub async fn monitor(&self, i: usize, path: &str, key: bool) -> (u16, String, String) {
        let url = format!("http://127.0.0.1:{}/api/status/{path}", self.watchers[i].port);
        let mut req = reqwest::Client::new().get(url);
        if key {
            req = req.header("x-functions-key", STATUS_KEY);
        }
        let res = req.send().await.unwrap();
        let kind = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (res.status().as_u16(), kind, res.text().await.unwrap())
    }

    /// What watcher `i`'s status endpoint says about the watch: `{name, target, state, decisions}`.
    pub async fn status(&self, i: usize) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:{}/api/status", self.watchers[i].port);
        let res = reqwest::Client::new()
            .get(url)
            .header("x-functions-key", STATUS_KEY)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let body: Value = res.json().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("status answered {status}: {body}"));
        }
        Ok(body["watches"][0].clone())
    }

    /// The watch's state, read from the store as every watcher reads it.
    pub async fn watch_state(&self) -> Value {
        let key = format!("watches/{WATCH}/state.json");
        match read_through(|| self.store.load(&key)).await {
            Some(v) => serde_json::from_slice(&v.bytes).unwrap(),
            None => json!({"phase": "watching", "epoch": 0, "history": []}),
        }
    }

    /// Every activation run the activation app recorded, oldest first.
    pub async fn reports(&self) -> Vec<Value> {
        let key = format!("activations/{WATCH}/reports.jsonl");
        let log = read_through(|| self.store.read_log(&key, None)).await;
        log.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
    }

    /// The activation app's record of the last epoch it ran.
    pub async fn epoch_record(&self) -> Option<Value> {
        let v = self.store.load(&format!("activations/{WATCH}/record.json")).await.unwrap()?;
        Some(serde_json::from_slice(&v.bytes).unwrap())
    }

    /// Where every copy stands, one line each: `mailbox Disabled/Enabled` is primary/secondary.
    pub fn copies(&self) -> BTreeMap<&'static str, String> {
        let prop = |id: &str, p: &str| {
            self.arm.resource(id).and_then(|r| r["properties"][p].as_str().map(str::to_owned)).unwrap_or_default()
        };
        let pair = |f: fn(bool) -> String, p: &str| format!("{}/{}", prop(&f(true), p), prop(&f(false), p));
        BTreeMap::from([
            ("api", pair(Ids::api, "state")),
            ("mailbox", pair(Ids::mailbox, "state")),
            ("nightly", pair(Ids::nightly, "state")),
            ("router", pair(Ids::endpoint, "endpointStatus")),
        ])
    }

    /// The invariant, checked now and over the whole scenario so far: no client-state resource
    /// has been enabled in both regions.
    pub fn assert_never_both_enabled(&self, after: &str) {
        assert!(!self.guard.pairs.is_empty(), "the plan has no client-state resource to guard");
        for (name, primary, secondary) in &self.guard.pairs {
            let both = enabled(&self.arm, primary) && enabled(&self.arm, secondary);
            assert!(!both, "after {after}: {name} is enabled in both regions now ({:?})", self.copies());
        }
        let seen = self.guard.violations.lock().unwrap().clone();
        assert!(
            seen.is_empty(),
            "after {after}: a client-state resource was enabled in both regions:\n{}",
            seen.join("\n")
        );
    }

    /// Runs `bcdr ARGS` against this world's plan, state and activation app, without blocking
    /// the runtime (the simulated Azure it talks to runs on it); (success, stdout + stderr).
    pub async fn bcdr(&self, args: &[&str]) -> (bool, String) {
        let out = tokio::process::Command::new(workspace_binary("bcdr"))
            .args(args)
            .env("BCDR_PLAN_FILE", &self.plan_file)
            .env("BCDR_STATE_URL", &self.container_url)
            .env("BCDR_STATE_ACCOUNT_KEY", azurite::KEY)
            .env("BCDR_ACTIVATION_URL", self.activation_url())
            .env("BCDR_ACTIVATION_KEY", ACTIVATION_KEY)
            .env("BCDR_ACTIVATION_SECRET", SECRET)
            .env("BCDR_HEALTH_KEY", HEALTH_KEY)
            .env("BCDR_OPERATOR", "ana")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// Sends the activation app a failover request for `epoch`, signed and keyed as a watchdog
    /// sends it; (status, body).
    pub async fn signed_activation(&self, epoch: u64, reason: &str) -> (u16, String) {
        let body =
            serde_json::to_vec(&json!({"watch": WATCH, "epoch": epoch, "reason": reason, "requester": "watcher-1"}))
                .unwrap();
        let mut req = reqwest::Client::new()
            .post(self.activation_url())
            .header("x-functions-key", ACTIVATION_KEY)
            .header("content-type", "application/json");
        let now = chrono::Utc::now().timestamp();
        for (k, v) in bcdr_core::signature::signed_headers(SECRET.as_bytes(), "POST", "/api/activate", now, &body) {
            req = req.header(k, v);
        }
        let res = req.body(body).send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }

    fn logs(&self) -> Vec<(String, PathBuf)> {
        let mut logs = vec![(self.primary.name.clone(), self.primary.log.clone())];
        logs.extend(self.watchers.iter().map(|w| (w.host.name.clone(), w.host.log.clone())));
        logs.extend(self.lambda.iter().map(|l| (l.process.name.clone(), l.process.log.clone())));
        logs.extend(self.activation.iter().map(|h| (h.name.clone(), h.log.clone())));
        logs
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        // A failed scenario shows what each process said last: the quickest way to see why.
        eprintln!("--- scenario {} failed after {:.1} s; copies {:?}", self.name, self.elapsed(), self.copies());
        for (name, log) in self.logs() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- {name} (last {} of {} lines)", lines.len().min(40), lines.len());
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// The plan every app of the world reads. Each watcher's copy differs only in its target and
/// control, which go through that watcher's own links: in a deployment the URLs are the same and
/// the network paths differ.
fn plan(options: &Options, dependency: &str, primary_port: u16) -> Value {
    let (required, watchers) = options.quorum;
    let mut plan = json!({
        "version": 1,
        "name": "e2e-orders",
        "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {
            "deadlineMs": 800,
            "cacheMs": 0,
            "checks": [{"name": "orders-db", "http": {"url": dependency}}]
        },
        "watchdog": {
            "schedule": "*/2 * * * * *",
            "watches": [{
                "name": WATCH,
                "target": format!("http://127.0.0.1:{primary_port}/api/health"),
                "policy": {
                    "failureThreshold": 3,
                    "successThreshold": 2,
                    "probeTimeoutMs": 1000,
                    "probeAttempts": 1,
                    "quorum": {"required": required, "watchers": watchers},
                    "maxActivationAttempts": options.max_activation_attempts
                }
            }]
        },
        "resources": [
            {"name": "mailbox", "kind": "logicApp", "trigger": "pollingClientState", "role": "activePassive",
             "primary": Ids::mailbox(true), "secondary": Ids::mailbox(false)},
            {"name": "nightly", "kind": "logicApp", "trigger": "recurrence", "role": "activePassive",
             "primary": Ids::nightly(true), "secondary": Ids::nightly(false)},
            {"name": "api", "kind": "site", "trigger": "request", "role": "activePassive",
             "primary": Ids::api(true), "secondary": Ids::api(false)}
        ],
        "router": {"kind": "trafficManager", "primary": Ids::endpoint(true), "secondary": Ids::endpoint(false)},
        "activation": {"deadlineMs": options.activation_deadline_ms}
    });
    if options.lambda_watcher {
        let regions = ["northeurope", "francecentral", "swedencentral", "uksouth"];
        let mut declared: Vec<Value> = (0..options.watchers)
            .map(|i| json!({"name": format!("watcher-{}", i + 1), "cloud": "azure", "region": regions[i % regions.len()]}))
            .collect();
        declared.push(json!({"name": LAMBDA_WATCHER, "cloud": "aws", "region": "eu-central-1"}));
        plan["watchdog"]["watchers"] = json!(declared);
        plan["watchdog"]["separateFailureDomains"] = json!(true);
    }
    plan
}

/// Starts the Lambda watcher: its links, the Runtime API double, the binary (its output in a
/// log file), and the scheduler task that invokes it every two seconds, as the plan's schedule.
async fn start_lambda_watcher(
    dir: &Path,
    plan: &Value,
    control: u16,
    activation_port: u16,
    container_url: &str,
) -> LambdaWatcher {
    let primary_port: u16 = plan["watchdog"]["watches"][0]["target"]
        .as_str()
        .and_then(|t| t.split(':').nth(2))
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the plan's target names the primary's port");
    let target = Link::start(primary_port).await;
    let control = Link::start(control).await;
    let mut plan = plan.clone();
    let watch = &mut plan["watchdog"]["watches"][0];
    watch["target"] = json!(format!("http://127.0.0.1:{}/api/health", target.port));
    watch["controls"] = json!([format!("http://127.0.0.1:{}/", control.port)]);
    let plan_file = dir.join("lambda-failover-plan.json");
    std::fs::write(&plan_file, serde_json::to_string_pretty(&plan).unwrap()).unwrap();

    let api = Arc::new(
        RuntimeApiDouble::start(format!("arn:aws:lambda:eu-central-1:210987654321:function:{LAMBDA_WATCHER}"))
            .await
            .unwrap(),
    );
    let log = dir.join(format!("{LAMBDA_WATCHER}.log"));
    let out = File::create(&log).unwrap();
    let child = Command::new(workspace_binary("watchdog-lambda"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", LAMBDA_WATCHER)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "eu-central-1")
        .env("BCDR_WATCHER_ID", LAMBDA_WATCHER)
        .env("BCDR_PLAN_FILE", &plan_file)
        .env("BCDR_STATE_URL", container_url)
        // Azurite takes only keys: the explicit key-based setting (in AWS: federated).
        .env("BCDR_STATE_AUTH", "account-key")
        .env("BCDR_STATE_ACCOUNT_KEY", azurite::KEY)
        .env("BCDR_HEALTH_KEY", HEALTH_KEY)
        .env("BCDR_ACTIVATION_URL", format!("http://127.0.0.1:{activation_port}/api/activate"))
        .env("BCDR_ACTIVATION_KEY", ACTIVATION_KEY)
        .env("BCDR_ACTIVATION_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let process = Host { name: LAMBDA_WATCHER.to_owned(), child, log };

    let scheduling = Arc::new(AtomicBool::new(true));
    let (on, invoker) = (scheduling.clone(), api.clone());
    let event: Value =
        serde_json::from_str(include_str!("../../handlers/watchdog-lambda/tests/data/scheduler-event.json")).unwrap();
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(2));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if !on.load(Ordering::SeqCst) {
                continue;
            }
            let mut event = event.clone();
            event["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            event["detail"]["attemptNumber"] = json!("1");
            // An invocation runs to its end before the next, as one execution environment does.
            let id = invoker.invoke(event, Duration::from_secs(60));
            let _ = tokio::time::timeout(Duration::from_secs(60), invoker.outcome(&id)).await;
        }
    });
    LambdaWatcher { target, control, api, scheduling, ticker, process }
}

/// Answers anything: the control endpoint, reachable whenever the watcher's network works.
async fn control_server() -> u16 {
    let route = warp::any().map(|| warp::reply::with_status("", http::StatusCode::NO_CONTENT));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    port
}

/// Lays out a function app as a deployment would (host.json, one folder per function, the
/// handler and the plan beside it) and runs it under `bcdr host`, its output in a log file.
#[allow(clippy::too_many_arguments)]
fn spawn_host(
    dir: &Path,
    name: &str,
    binary: &str,
    functions: &[&str],
    plan: &Value,
    port: u16,
    key: &str,
    settings: &[(&str, String)],
) -> Host {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let app = dir.join(name);
    for f in functions {
        std::fs::create_dir_all(app.join(f)).unwrap();
        std::fs::copy(format!("{root}/function-specs/{f}/function.json"), app.join(f).join("function.json")).unwrap();
    }
    std::fs::copy(format!("{root}/host.json"), app.join("host.json")).unwrap();
    std::os::unix::fs::symlink(workspace_binary(binary), app.join("handler")).unwrap();
    let plan_file = app.join("failover-plan.json");
    std::fs::write(&plan_file, serde_json::to_string_pretty(plan).unwrap()).unwrap();
    let log = dir.join(format!("{name}.log"));
    let out = File::create(&log).unwrap();
    let mut command = Command::new(workspace_binary("bcdr"));
    command
        .arg("host")
        .arg(&app)
        .args(["--port", &port.to_string(), "--functions-key", key])
        .arg("--set")
        .arg(format!("BCDR_PLAN_FILE={}", plan_file.display()));
    for (k, v) in settings {
        command.arg("--set").arg(format!("{k}={v}"));
    }
    let child = command.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out).spawn().unwrap();
    Host { name: name.to_owned(), child, log }
}

/// A scenario's own read of the shared Azurite, which every scenario running at once also
/// uses: a dropped connection is tried again (three times), as the watchers' next tick would.
async fn read_through<T, F, Fut>(mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, bcdr_core::store::StoreError>>,
{
    let mut attempt = 0;
    loop {
        match read().await {
            Ok(v) => return v,
            Err(bcdr_core::store::StoreError::Unavailable(why)) if attempt < 3 => {
                attempt += 1;
                eprintln!("the scenario's read of the store failed ({why}); trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the scenario cannot read the store: {e}"),
        }
    }
}

/// Polls `check` every 200 ms until it gives a value, or panics after `within` with what was
/// awaited and why it had not happened yet.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(why) if started.elapsed() > within => panic!("{what}: not within {within:?}; last: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
