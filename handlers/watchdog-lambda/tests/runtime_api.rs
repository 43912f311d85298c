//! The real `watchdog-lambda` binary (under `make test`, the packaged `bootstrap`), run as Lambda
//! runs a `provided.al2023` function: a double of the Runtime API hands it EventBridge Scheduler
//! events, the state is a blob in Azurite (reached with the account key, set explicitly), the
//! primary a local health endpoint that answers 503. Two ticks count the failure and claim the
//! activation, which the Lambda watcher requests under its own name; an event that is not a
//! schedule's fails the invocation without a tick.

mod support;

use std::process::Stdio;

use azure_sim::{azurite, InvocationOutcome, RuntimeApiDouble};
use bcdr_core::record::{log_key, state_key};
use bcdr_core::store::{BlobAuth, BlobStore, StateStore};
use bcdr_core::watch::WatchState;
use serde_json::json;
use support::{
    activation, bootstrap, command, line, plan, report, scheduled_event, unhealthy_primary, FUNCTION, SECRET, TIMEOUT,
};

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
