//! The watchdog app under `bcdr host`, timer and all: pointed at a stopped primary it asks for
//! activation exactly once after N ticks; pointed at a flapping primary, never.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bcdr_core::signature::{ActivationRequest, Verifier};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use warp::Filter;

use crate::support::{free_port, workspace_binary};

const SECRET: &str = "an-end-to-end-secret-of-32-characters-or-more";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Records signed activation requests; refuses unsigned ones.
async fn activation_recorder() -> (String, Arc<Mutex<Vec<ActivationRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let verifier = Arc::new(Verifier::new(vec![SECRET.as_bytes().to_vec()]));
    let s = seen.clone();
    let route = warp::path!("api" / "activate").and(warp::header::headers_cloned()).and(warp::body::bytes()).map(
        move |h: HeaderMap, body: Bytes| {
            if let Err(e) = verifier.verify("POST", "/api/activate", &h, &body, chrono::Utc::now()) {
                return warp::reply::with_status(e.to_string(), StatusCode::UNAUTHORIZED);
            }
            s.lock().unwrap().push(ActivationRequest::from_json(&body).unwrap());
            warp::reply::with_status("{}".to_owned(), StatusCode::OK)
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/activate", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, seen)
}

/// A health-check that alternates: healthy, unhealthy, healthy, ...
async fn flapping_primary() -> String {
    let n = Arc::new(AtomicUsize::new(0));
    let route = warp::path!("api" / "health").map(move || {
        let up = n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2);
        let (status, verdict) =
            if up { (StatusCode::OK, "healthy") } else { (StatusCode::SERVICE_UNAVAILABLE, "unhealthy") };
        warp::reply::with_status(warp::reply::json(&json!({"status": verdict, "checks": []})), status)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/health", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    url
}

/// The watchdog app folder with a plan watching `target` every 2 s, run under `bcdr host`.
fn host_watchdog(dir: &std::path::Path, target: &str, activation_url: &str, port: u16) -> Process {
    let root = env!("CARGO_MANIFEST_DIR").to_owned() + "/..";
    let app = dir.join("watchdog-app");
    for f in ["watchdog", "status"] {
        std::fs::create_dir_all(app.join(f)).unwrap();
        std::fs::copy(format!("{root}/function-specs/{f}/function.json"), app.join(f).join("function.json")).unwrap();
    }
    std::fs::copy(format!("{root}/host.json"), app.join("host.json")).unwrap();
    std::os::unix::fs::symlink(workspace_binary("watchdog"), app.join("handler")).unwrap();
    let plan = json!({
        "version": 1, "name": "e2e", "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {"deadlineMs": 500, "checks": [{"name": "self", "dns": {"host": "localhost"}}]},
        "watchdog": {"schedule": "*/2 * * * * *", "watches": [{
            "name": "orders", "target": target,
            "policy": {"failureThreshold": 3, "successThreshold": 2, "probeTimeoutMs": 1000, "probeAttempts": 1}
        }]}
    });
    std::fs::write(app.join("failover-plan.json"), plan.to_string()).unwrap();
    Process(
        Command::new(workspace_binary("bcdr"))
            .arg("host")
            .arg(&app)
            .args(["--port", &port.to_string()])
            .args(["--set", "BCDR_WATCHDOG_SCHEDULE=*/2 * * * * *"])
            .arg("--set")
            .arg(format!("BCDR_STATE_URL=file://{}", dir.join("state").display()))
            .arg("--set")
            .arg(format!("BCDR_ACTIVATION_URL={activation_url}"))
            .arg("--set")
            .arg(format!("BCDR_ACTIVATION_SECRET={SECRET}"))
            .args(["--set", "BCDR_WATCHER_ID=e2e-watcher"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn status(port: u16) -> Option<Value> {
    let res = reqwest::get(format!("http://127.0.0.1:{port}/api/status")).await.ok()?;
    res.json().await.ok()
}

#[tokio::test]
async fn a_stopped_primary_is_activated_once_after_n_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let (activation_url, requests) = activation_recorder().await;
    let stopped = format!("http://127.0.0.1:{}/api/health", free_port());
    let port = free_port();
    let _host = host_watchdog(dir.path(), &stopped, &activation_url, port);

    let started = Instant::now();
    while requests.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no activation request within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Three more ticks: nothing new may be asked for.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let seen = requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].watch.as_str(), seen[0].epoch, seen[0].requester.as_str()), ("orders", 1, "e2e-watcher"));
    let status = status(port).await.expect("status answers");
    let watch = &status["watches"][0];
    assert_eq!(watch["state"]["phase"], "failedOver");
    let downs =
        watch["decisions"].as_array().unwrap().iter().filter(|d| d["input"]["observation"]["kind"] == "down").count();
    assert!(downs >= 3, "{watch}");
}

#[tokio::test]
async fn a_flapping_primary_is_never_activated() {
    let dir = tempfile::tempdir().unwrap();
    let (activation_url, requests) = activation_recorder().await;
    let target = flapping_primary().await;
    let port = free_port();
    let _host = host_watchdog(dir.path(), &target, &activation_url, port);
    let started = Instant::now();
    let mut ticks = 0;
    while ticks < 8 {
        assert!(started.elapsed() < Duration::from_secs(40), "the watchdog did not tick 8 times in 40 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(s) = status(port).await {
            ticks = s["watches"][0]["state"]["history"].as_array().map_or(0, Vec::len);
        }
    }
    assert!(requests.lock().unwrap().is_empty());
    let s = status(port).await.unwrap();
    assert_ne!(s["watches"][0]["state"]["phase"], "activating");
    assert_ne!(s["watches"][0]["state"]["phase"], "failedOver");
}
