//! `bcdr host`: a local stand-in for the Azure Functions host that runs custom handler apps.
//!
//! Map: `app` reads the app folders (through pure parsers of each file), `routes` and
//! `schedule` parse route templates and NCRONTAB, `invocation` builds the protocol's payloads
//! and reads its answers (these three do no I/O and read no clock); `worker` runs and restarts
//! the handler processes, `call` talks to them over HTTP, `front` serves HTTP functions and
//! `timers` fires timer functions.

mod app;
mod call;
mod front;
mod invocation;
mod routes;

mod timers;
pub mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use chrono::{SecondsFormat, Utc};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use app::{load_apps, AppSpec, SettingSources, Trigger};
use front::{AppRuntime, Front};
use worker::{StartEvent, Supervisor, WorkerState};

#[derive(Debug, clap::Args)]
pub struct HostArgs {
    /// Function app folders: each holds host.json and one subfolder per function.
    #[arg(value_name = "APP_DIR", default_value = ".")]
    pub apps: Vec<PathBuf>,

    /// Port of the HTTP front on 127.0.0.1.
    #[arg(long, default_value_t = 7071)]
    pub port: u16,

    /// An app setting for every handler, over local.settings.json and the environment.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
    pub set: Vec<(String, String)>,

    /// Require this key for function- and admin-level HTTP functions (not checked without it).
    #[arg(long, value_name = "KEY")]
    pub functions_key: Option<String>,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, found {text:?}")),
    }
}

pub fn run(args: HostArgs) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(host(args))
}

fn environment() -> BTreeMap<String, String> {
    std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned())).collect()
}

async fn host(args: HostArgs) -> anyhow::Result<()> {
    let overrides: BTreeMap<String, String> = args.set.iter().cloned().collect();
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
    let drained = tokio::time::timeout(worker::STOP_GRACE, server).await;
    let _ = stop_workers_tx.send(true);
    if drained.is_err() {
        warn!("requests still in flight after {} s; closing", worker::STOP_GRACE.as_secs());
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
                        (app::AuthLevel::Anonymous, _) => "anonymous".to_string(),
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
    use super::*;

    #[test]
    fn settings_on_the_command_line() {
        assert_eq!(parse_setting("A=b=c"), Ok(("A".to_string(), "b=c".to_string())));
        assert_eq!(parse_setting("A="), Ok(("A".to_string(), String::new())));
        assert_eq!(parse_setting("novalue"), Err("expected NAME=VALUE, found \"novalue\"".to_string()));
        assert_eq!(parse_setting("=x"), Err("expected NAME=VALUE, found \"=x\"".to_string()));
    }
}
