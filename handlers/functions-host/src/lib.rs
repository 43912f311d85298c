//! A local stand-in for the Azure Functions host that runs custom handler apps: `bcdr host`.
//!
//! It models the host's protocol independently of the runtime's types (bcdr-core's `runtime` and
//! `invocation`) on purpose, as an oracle: the handlers are tested against what the host does,
//! not against their own reading of it. From bcdr-core it takes only `schedule` (NCRONTAB).
//!
//! Map, by what each file reads: `config` is the .NET-style configuration reader the JSON files
//! are read with; `host_json`, `function_json` and `settings` (`local.settings.json`) parse one
//! file each; `routes` parses route templates and `invocation` builds the protocol's payloads and
//! reads its answers. None of these do I/O or read a clock; `app` reads the app folders through
//! them. `supervisor` starts the handler processes, waits for their readiness and
//! restarts them; `call` talks to them over HTTP; `front` serves HTTP functions and `timers`
//! fires timer functions.

mod app;
mod call;
mod config;
mod front;
mod function_json;
mod host_json;
mod invocation;
mod routes;
mod settings;
mod supervisor;
mod timers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use chrono::{SecondsFormat, Utc};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use app::{load_apps, AppSpec};
use front::{AppRuntime, Front};
use function_json::{AuthLevel, Trigger};
use settings::SettingSources;
use supervisor::{StartEvent, Supervisor, WorkerState};

/// For other programs that start children the way the host starts handlers (`bcdr demo`).
pub use supervisor::tie_to_parent;

/// What to run and how: the command line of `bcdr host`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Function app folders: each holds host.json and one subfolder per function.
    pub apps: Vec<PathBuf>,
    /// Port of the HTTP front on 127.0.0.1 (0 for any free port).
    pub port: u16,
    /// App settings for every handler, over local.settings.json and the environment.
    pub settings: Vec<(String, String)>,
    /// Required for function- and admin-level HTTP functions; not checked without it.
    pub functions_key: Option<String>,
}

/// Runs the apps until Ctrl-C or SIGTERM, or until a handler cannot be started at all.
pub fn run(options: Options) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(host(options))
}

fn environment() -> BTreeMap<String, String> {
    std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned())).collect()
}

async fn host(args: Options) -> anyhow::Result<()> {
    let overrides: BTreeMap<String, String> = args.settings.iter().cloned().collect();
    let environment = environment();
    let sources = SettingSources { overrides: &overrides, environment: &environment };
    let mut warnings = Vec::new();
    let loaded = load_apps(&args.apps, &sources, &mut |w| warnings.push(w));
    for w in &warnings {
        warn!("{w}");
    }
    let apps = loaded.map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        anyhow!("cannot run the function apps:\n{}", list.join("\n"))
    })?;
    warn_unenforced_constraints(&apps);

    // Bound before any handler starts, so a taken port fails fast and leaves nothing behind.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await.with_context(|| {
        format!("cannot listen on 127.0.0.1:{}; is another host running there? choose another --port", args.port)
    })?;
    let port = listener.local_addr()?.port();
    let client = call::handler_client().context("building the HTTP client")?;

    // Two stages: the front stops first so requests in flight can finish, then the handlers.
    let (stop_front_tx, mut stop_front_rx) = watch::channel(false);
    let (stop_workers_tx, stop_workers_rx) = watch::channel(false);
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let mut supervisors = Vec::new();
    let mut runtimes = Vec::new();
    for spec in apps {
        let spec = Arc::new(spec);
        let (state_tx, state_rx) = watch::channel(WorkerState::Starting);
        supervisors.push(tokio::spawn(
            Supervisor {
                app: spec.clone(),
                client: client.clone(),
                state: state_tx,
                shutdown: stop_workers_rx.clone(),
                events: events_tx.clone(),
            }
            .run(),
        ));
        runtimes.push(AppRuntime { spec, state: state_rx });
    }
    drop(events_tx);

    let mut timer_tasks = Vec::new();
    for rt in &runtimes {
        for f in &rt.spec.functions {
            if let Trigger::Timer(t) = &f.trigger {
                timer_tasks.push(tokio::spawn(timers::run(
                    rt.spec.clone(),
                    f.name.clone(),
                    t.clone(),
                    client.clone(),
                    rt.state.clone(),
                )));
            }
        }
    }

    let front = Arc::new(Front::new(runtimes, args.functions_key.clone(), client, port));
    let server = tokio::spawn(front::serve(front.clone(), listener, async move {
        let _ = stop_front_rx.wait_for(|stop| *stop).await;
    }));

    let mut waiting = front.app_specs().count();
    let stop = stop_signal();
    tokio::pin!(stop);
    let outcome = loop {
        tokio::select! {
            event = events_rx.recv() => match event {
                Some(StartEvent::Ready) => {
                    waiting = waiting.saturating_sub(1);
                    if waiting == 0 {
                        print_functions(&front, port, args.functions_key.is_some());
                    }
                }
                Some(StartEvent::Fatal(e)) => break Err(e),
                None => break Ok(()),
            },
            signal = &mut stop => {
                info!("{signal}: stopping");
                break Ok(());
            }
        }
    };

    let _ = stop_front_tx.send(true);
    for t in &timer_tasks {
        t.abort();
    }
    let drained = tokio::time::timeout(supervisor::STOP_GRACE, server).await;
    let _ = stop_workers_tx.send(true);
    if drained.is_err() {
        warn!("requests still in flight after {} s; closing", supervisor::STOP_GRACE.as_secs());
    }
    for s in supervisors {
        let _ = s.await;
    }
    info!("host stopped");
    outcome
}

fn warn_unenforced_constraints(apps: &[AppSpec]) {
    for app in apps {
        for f in &app.functions {
            if let Trigger::Http(h) = &f.trigger {
                let other = h.route.unenforced_constraints();
                if !other.is_empty() {
                    warn!(
                        "[{}] {}: route constraints {} are not checked by bcdr host",
                        app.name,
                        f.name,
                        other.join(", ")
                    );
                }
            }
        }
    }
}

fn print_functions(front: &Front, port: u16, keys_enforced: bool) {
    let now = Utc::now();
    for app in front.app_specs() {
        info!("[{}] functions in {}:", app.name, app.dir.display());
        for f in &app.functions {
            match &f.trigger {
                Trigger::Http(h) => {
                    let methods = if h.methods.is_empty() { "ALL".to_string() } else { h.methods.join(",") };
                    let auth = match (h.auth, keys_enforced) {
                        (AuthLevel::Anonymous, _) => "anonymous".to_string(),
                        (level, true) => format!("{}, key required", level.as_str()),
                        (level, false) => format!("{}, key not checked", level.as_str()),
                    };
                    let mode =
                        if app.handler.forward_http && f.is_http_in_and_out() { "forwarded" } else { "invocation" };
                    info!("[{}]   {}: [{methods}] {} ({auth}; {mode})", app.name, f.name, front.url_of(app, h));
                }
                Trigger::Timer(t) => {
                    let next = t
                        .schedule
                        .next_after(now)
                        .map(|n| n.to_rfc3339_opts(SecondsFormat::Secs, true))
                        .unwrap_or_else(|| "never".to_string());
                    let startup = if t.run_on_startup { ", runs on startup" } else { "" };
                    info!("[{}]   {}: timer \"{}\", next {next}{startup}", app.name, f.name, t.schedule.expression());
                }
            }
        }
    }
    info!("host running on http://127.0.0.1:{port} (admin: /admin/host/status)");
}

/// Ctrl-C or SIGTERM, whichever comes first; names the one that came.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "interrupted"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}

#[cfg(test)]
mod tests {
    /// The oracle stays independent: of bcdr-core, only the NCRONTAB schedule is used.
    #[test]
    fn uses_no_runtime_types() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if let Some(at) = line.find(concat!("bcdr_core", "::")) {
                    assert!(
                        line[at..].starts_with("bcdr_core::schedule"),
                        "{}:{}: the host models the protocol itself; use only bcdr_core::schedule",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
    }
}
