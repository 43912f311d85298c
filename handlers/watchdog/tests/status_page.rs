//! The status endpoint of the real function app after an outage story: healthy, unhealthy until
//! activation is requested and succeeds, healthy again (failed over, failback is manual). Asserts
//! the JSON and the HTML answers, and writes the page to `<target>/status-page.html` so
//! `make status-screenshot` can render it in a headless browser.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bcdr_core::runtime;
use bcdr_core::store::{FileStore, StateStore};
use serde_json::Value;
use support::{Activation, Primary, HEALTHY, SECRET, UNHEALTHY};
use watchdog::Watchdog;

const WATCH: &str = "orders-api";
const WATCHER: &str = "westeurope-watchdog";

/// What must never appear in either answer: the keys and the signing secret the watchdog holds.
const NEVER_SHOWN: [&str; 4] = ["health-key", "activation-key", SECRET, "secret"];

/// Where the page goes: `$CARGO_TARGET_DIR` (relative to the workspace root, as make and cargo
/// read it there) or the workspace's `target/`.
fn page_path() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    target.join("status-page.html")
}

/// Ticks once with the primary in `mode` and returns `observation->phase`, `!` where activation
/// was requested. A short pause between ticks spreads the dots on the page's timeline.
async fn tick(w: &Watchdog, primary: &Primary, mode: u8) -> String {
    primary.set(mode);
    let o = w.tick().await.remove(0);
    assert!(o.error.is_none(), "{}", o.summary());
    tokio::time::sleep(Duration::from_millis(120)).await;
    format!(
        "{}->{}{}",
        o.observation.unwrap(),
        o.phase.unwrap(),
        if o.activation_requested.is_some() { "!" } else { "" }
    )
}

#[tokio::test]
async fn the_status_page_tells_the_story_of_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation::start().await;
    let primary = Primary::start().await;
    let w = support::watchdog(support::watch(WATCH, &primary.url), store, &activation, WATCHER);

    let mut story = Vec::new();
    for _ in 0..4 {
        story.push(tick(&w, &primary, HEALTHY).await);
    }
    for _ in 0..5 {
        story.push(tick(&w, &primary, UNHEALTHY).await);
    }
    for _ in 0..6 {
        story.push(tick(&w, &primary, HEALTHY).await);
    }
    assert_eq!(
        story.join(" "),
        "up->watching up->watching up->watching up->watching \
         down->suspect down->suspect down->activating! down->failedOver down->failedOver \
         up->failedOver up->failedOver up->failedOver up->failedOver up->failedOver up->failedOver",
    );
    assert_eq!(activation.epochs(), [1], "activation requested exactly once");

    let listener = runtime::bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(runtime::serve(watchdog::app(w), listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/api/status");

    let res = http.get(&url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body = res.text().await.unwrap();
    for s in NEVER_SHOWN {
        assert!(!body.to_lowercase().contains(&s.to_lowercase()), "the JSON status shows {s:?}: {body}");
    }
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["watcher"], WATCHER);
    assert!(status["generatedAt"].is_string());
    let watch = &status["watches"][0];
    assert_eq!(watch["name"], WATCH);
    assert_eq!(watch["target"], primary.url);
    assert_eq!(watch["state"]["phase"], "failedOver");
    assert_eq!(watch["state"]["epoch"], 1);
    assert!(watch["state"]["primaryBackSince"].is_string(), "the primary is healthy again: {watch}");
    let alerts: Vec<&str> =
        watch["state"]["openAlerts"].as_array().unwrap().iter().filter_map(|a| a["kind"].as_str()).collect();
    assert!(alerts.contains(&"failbackIsManual"), "{alerts:?}");
    assert_eq!(watch["state"]["history"].as_array().unwrap().len(), 15, "one probe per tick");
    let decisions = watch["decisions"].as_array().unwrap();
    assert!(!decisions.is_empty());
    let changes: Vec<(&str, &str)> = decisions
        .iter()
        .filter(|d| d["from"] != d["to"])
        .map(|d| (d["from"].as_str().unwrap(), d["to"].as_str().unwrap()))
        .collect();
    assert_eq!(changes, [("watching", "suspect"), ("suspect", "activating"), ("activating", "failedOver")]);

    let res = http.get(&url).header("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{:?}", res.headers());
    let html = res.text().await.unwrap();
    for s in NEVER_SHOWN {
        assert!(!html.to_lowercase().contains(&s.to_lowercase()), "the status page shows {s:?}");
    }
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<svg"), "{html}");
    assert_eq!(html.matches("<circle").count(), 15, "one dot per probe");
    assert!(html.contains(WATCH) && html.contains(WATCHER));
    assert!(html.contains("badge failedOver"));
    assert!(!html.to_lowercase().contains("<script"), "the page runs no script");
    for fetch in [" src=", " href=", "url(", "@import"] {
        assert!(!html.contains(fetch), "the page loads nothing from elsewhere: {fetch}");
    }

    let path = page_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &html).unwrap();

    stop.send(()).unwrap();
    server.await.unwrap();
}
