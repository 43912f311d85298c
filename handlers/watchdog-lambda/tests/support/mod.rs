//! What the tests of the Lambda binary share: a primary that is down, an activation function
//! that verifies and records, a plan, schedule events, and the binary itself started as Lambda
//! starts a `provided.al2023` function.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_sim::{InvocationOutcome, RuntimeApiDouble};
use bcdr_core::signature::{ActivationRequest, Verifier};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use warp::Filter;

pub const SECRET: &str = "a-secret-shared-with-activation-0123456789";
pub const FUNCTION: &str = "bcdr-watchdog-lambda-test";
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The primary's health-check, down.
pub async fn unhealthy_primary() -> String {
    let route = warp::path!("api" / "health").map(|| {
        warp::reply::with_status(
            warp::reply::json(&json!({"status": "unhealthy", "checks": []})),
            StatusCode::SERVICE_UNAVAILABLE,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/health", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    url
}

/// The activation function: verifies each request's signature and records it.
pub async fn activation() -> (String, Arc<Mutex<Vec<ActivationRequest>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let verifier = Arc::new(Verifier::new(vec![SECRET.as_bytes().to_vec()]));
    let recorded = requests.clone();
    let route = warp::post()
        .and(warp::path!("api" / "activate"))
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers: HeaderMap, body: Bytes| {
            if let Err(e) = verifier.verify("POST", "/api/activate", &headers, &body, chrono::Utc::now()) {
                return warp::reply::with_status(e.to_string(), StatusCode::UNAUTHORIZED);
            }
            recorded.lock().unwrap().push(ActivationRequest::from_json(&body).unwrap());
            warp::reply::with_status(json!({"outcome": "succeeded"}).to_string(), StatusCode::OK)
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/activate", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, requests)
}

/// A plan with one watch on `target`: two failures activate.
pub fn plan(dir: &std::path::Path, target: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("infra/local-plan.json")).unwrap()).unwrap();
    plan["watchdog"]["watches"] = json!([{
        "name": "orders",
        "target": target,
        "policy": {"failureThreshold": 2, "successThreshold": 2, "probeTimeoutMs": 2000, "probeAttempts": 1}
    }]);
    let path = dir.join("failover-plan.json");
    std::fs::write(&path, plan.to_string()).unwrap();
    path
}

/// A scheduler event as `infra/aws/watchdog-lambda.yaml` shapes it, due now.
pub fn scheduled_event(attempt: u32) -> Value {
    let mut event: Value = serde_json::from_str(include_str!("../data/scheduler-event.json")).unwrap();
    event["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    event["detail"]["attemptNumber"] = json!(attempt.to_string());
    event
}

pub struct Bootstrap(pub Child);

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with only the environment Lambda gives a function plus its settings.
pub fn bootstrap(api: &RuntimeApiDouble, settings: &[(&str, String)]) -> Bootstrap {
    Bootstrap(command(api, settings).spawn().expect("the watchdog-lambda binary starts"))
}

/// The executable under test: the packaged `bootstrap` from `dist/watchdog-lambda.zip` when
/// `make test` names its packages (`BCDR_DIST`), else the binary cargo just built.
pub fn executable() -> PathBuf {
    static UNPACKED: OnceLock<PathBuf> = OnceLock::new();
    let Ok(dist) = std::env::var("BCDR_DIST") else {
        return PathBuf::from(env!("CARGO_BIN_EXE_watchdog-lambda"));
    };
    UNPACKED
        .get_or_init(|| {
            let zip = PathBuf::from(dist).join("watchdog-lambda.zip");
            let dir = std::env::temp_dir().join(format!("bcdr-lambda-package-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let file = std::fs::File::open(&zip)
                .unwrap_or_else(|e| panic!("{}: {e}; `make package` builds it", zip.display()));
            // Extraction keeps the modes stored in the zip: a bootstrap packaged without its
            // execute bit fails to start here as it would on Lambda.
            zip::ZipArchive::new(file).unwrap().extract(&dir).unwrap();
            dir.join("bootstrap")
        })
        .clone()
}

/// The executable with only the environment Lambda gives a function, plus `settings`.
pub fn command(api: &RuntimeApiDouble, settings: &[(&str, String)]) -> Command {
    let mut command = Command::new(executable());
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "eu-central-1")
        .env("LAMBDA_TASK_ROOT", "/var/task")
        .stdin(Stdio::null());
    for (name, value) in settings {
        command.env(name, value);
    }
    command
}

pub fn report(outcome: &InvocationOutcome) -> Value {
    match outcome {
        InvocationOutcome::Response(body) => serde_json::from_slice(body).unwrap(),
        InvocationOutcome::Error { body, .. } => panic!("the invocation failed: {body}"),
    }
}

pub fn line(report: &Value) -> String {
    let o = &report["outcomes"][0];
    format!(
        "{}: {} -> {} (epoch {})",
        report["watcher"].as_str().unwrap(),
        o["observation"].as_str().unwrap(),
        o["phase"].as_str().unwrap(),
        o["epoch"]
    )
}
