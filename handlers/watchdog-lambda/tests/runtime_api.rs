//! The real `watchdog-lambda` binary (under `make test`, the packaged `bootstrap`), run as Lambda
//! runs a `provided.al2023` function: a double of the Runtime API hands it EventBridge Scheduler
//! events, the state is a blob in Azurite (reached with the account key, set explicitly), the
//! primary a local health endpoint that answers 503. Two ticks count the failure and claim the activation, which the Lambda watcher
//! requests under its own name; an event that is not a schedule's fails the invocation without
//! a tick.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_sim::{azurite, InvocationOutcome, RuntimeApiDouble};
use bcdr_core::record::{log_key, state_key};
use bcdr_core::signature::{ActivationRequest, Verifier};
use bcdr_core::store::{BlobAuth, BlobStore, StateStore};
use bcdr_core::watch::WatchState;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use warp::Filter;

const SECRET: &str = "a-secret-shared-with-activation-0123456789";
const FUNCTION: &str = "bcdr-watchdog-lambda-test";
const TIMEOUT: Duration = Duration::from_secs(60);

/// The primary's health-check, down.
async fn unhealthy_primary() -> String {
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
async fn activation() -> (String, Arc<Mutex<Vec<ActivationRequest>>>) {
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
fn plan(dir: &std::path::Path, target: &str) -> std::path::PathBuf {
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
fn scheduled_event(attempt: u32) -> Value {
    let mut event: Value = serde_json::from_str(include_str!("data/scheduler-event.json")).unwrap();
    event["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    event["detail"]["attemptNumber"] = json!(attempt.to_string());
    event
}

struct Bootstrap(Child);

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with only the environment Lambda gives a function plus its settings.
fn bootstrap(api: &RuntimeApiDouble, settings: &[(&str, String)]) -> Bootstrap {
    Bootstrap(command(api, settings).spawn().expect("the watchdog-lambda binary starts"))
}

/// The executable under test: the packaged `bootstrap` from `dist/watchdog-lambda.zip` when
/// `make test` names its packages (`BCDR_DIST`), else the binary cargo just built.
fn executable() -> PathBuf {
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
fn command(api: &RuntimeApiDouble, settings: &[(&str, String)]) -> Command {
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

fn report(outcome: &InvocationOutcome) -> Value {
    match outcome {
        InvocationOutcome::Response(body) => serde_json::from_slice(body).unwrap(),
        InvocationOutcome::Error { body, .. } => panic!("the invocation failed: {body}"),
    }
}

fn line(report: &Value) -> String {
    let o = &report["outcomes"][0];
    format!(
        "{}: {} -> {} (epoch {})",
        report["watcher"].as_str().unwrap(),
        o["observation"].as_str().unwrap(),
        o["phase"].as_str().unwrap(),
        o["epoch"]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_ticks_under_the_runtime_api_on_the_shared_blob_state() {
    let azurite = azurite::Azurite::start();
    let container = azurite.container_url("bcdr-lambda");
    let target = unhealthy_primary().await;
    let (activation_url, activations) = activation().await;
    let dir = tempfile::tempdir().unwrap();
    let api =
        RuntimeApiDouble::start(format!("arn:aws:lambda:eu-central-1:210987654321:function:{FUNCTION}")).await.unwrap();
    let _bootstrap = bootstrap(
        &api,
        &[
            ("BCDR_PLAN_FILE", plan(dir.path(), &target).display().to_string()),
            ("BCDR_STATE_URL", container.clone()),
            ("BCDR_STATE_AUTH", "account-key".to_owned()),
            ("BCDR_STATE_ACCOUNT_KEY", azurite::KEY.to_owned()),
            ("BCDR_ACTIVATION_URL", activation_url),
            ("BCDR_ACTIVATION_SECRET", SECRET.to_owned()),
        ],
    );

    let first = api.invoke(scheduled_event(1), TIMEOUT);
    assert_eq!(line(&report(&api.outcome(&first).await)), format!("{FUNCTION}: down -> suspect (epoch 0)"));
    // A retried delivery is still one tick; the second failure claims epoch 1 and activates.
    let second = api.invoke(scheduled_event(2), TIMEOUT);
    let second = report(&api.outcome(&second).await);
    assert_eq!(line(&second), format!("{FUNCTION}: down -> activating (epoch 1)"));
    assert_eq!(second["outcomes"][0]["activation_requested"], json!(1));
    let requested: Vec<(String, u64, String)> =
        activations.lock().unwrap().iter().map(|r| (r.watch.clone(), r.epoch, r.requester.clone())).collect();
    assert_eq!(requested, [("orders".to_owned(), 1, FUNCTION.to_owned())]);

    // Not a schedule's event: the invocation fails, naming why, and nothing is probed or written.
    let stray = api.invoke(json!({"hello": "world"}), TIMEOUT);
    match api.outcome(&stray).await {
        InvocationOutcome::Error { body, .. } => {
            assert_eq!(body["errorType"], json!("BadEvent"));
            let message = body["errorMessage"].as_str().unwrap();
            assert!(message.contains("detail-type"), "{message}");
        }
        other => panic!("a stray event was answered: {other:?}"),
    }

    // The state and the decision log are the shared ones in the blob container.
    let store = BlobStore::new(
        &container,
        BlobAuth::SharedKey { account: azurite::ACCOUNT.into(), key_base64: azurite::KEY.into() },
    )
    .unwrap();
    let state: WatchState =
        serde_json::from_slice(&store.load(&state_key("orders")).await.unwrap().unwrap().bytes).unwrap();
    assert_eq!((state.epoch, state.phase.label()), (1, "failedOver"));
    let log = String::from_utf8(store.read_log(&log_key("orders"), None).await.unwrap()).unwrap();
    assert_eq!(log.lines().count(), 3, "two ticks and the activation's result:\n{log}");
    assert!(log.lines().all(|l| l.contains(FUNCTION)), "every decision names the Lambda watcher:\n{log}");

    // The runtime spoke the protocol: three `next`, two `response`, one `error`, all accepted.
    let calls: Vec<String> = api
        .calls()
        .iter()
        .map(|c| format!("{} {} {}", c.method, c.path.rsplit('/').next().unwrap(), c.status))
        .collect();
    let count = |s: &str| calls.iter().filter(|c| c.as_str() == s).count();
    assert_eq!((count("GET next 200"), count("POST response 202"), count("POST error 202")), (3, 2, 1), "{calls:?}");
}

#[tokio::test]
async fn a_bad_configuration_stops_the_binary_before_it_takes_an_invocation() {
    let api = RuntimeApiDouble::start("arn:aws:lambda:eu-central-1:210987654321:function:bad").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = command(
        &api,
        &[
            ("BCDR_PLAN_FILE", plan(dir.path(), "http://127.0.0.1:9/api/health").display().to_string()),
            // A file store would be the sandbox's own, shared with no other watcher.
            ("BCDR_STATE_URL", format!("file://{}", dir.path().display())),
            ("BCDR_STATE_AUTH", "account-key".to_owned()),
            ("BCDR_ACTIVATION_URL", "http://127.0.0.1:9/api/activate".to_owned()),
            ("BCDR_ACTIVATION_SECRET", SECRET.to_owned()),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("the watchdog-lambda binary starts");
    let output = tokio::task::spawn_blocking(move || output.wait_with_output().unwrap()).await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BCDR_STATE_URL") && stderr.contains("lost with its sandbox"), "{stderr}");
    assert!(api.calls().iter().all(|c| !c.path.ends_with("/next")), "{:?}", api.calls());
}
