//! The activation app over a real socket, against the ARM double: every refusal (signature,
//! body, watch, epoch), a real switch, the same epoch again (no new writes), practice (no writes
//! at all), waiting for the fence then forcing it, and readiness.

use std::sync::Arc;
use std::time::Duration;

use activation::{app, reports_key, Activation};
use azure_sim::{ArmDouble, ArmOptions, Fault, Matcher, RegistryCredential, TokenRegistry};
use bcdr_core::arm::{ArmClient, RetryPolicy};
use bcdr_core::plan::FailoverPlan;
use bcdr_core::runtime;
use bcdr_core::signature::{signed_headers, Verifier};
use bcdr_core::store::{FileStore, StateStore};
use serde_json::{json, Value};

const SECRET: &str = "activation-test-secret-of-32-chars-or-more";

fn id(rg: &str, tail: &str) -> String {
    format!("/subscriptions/00000000-0000-0000-0000-000000000009/resourceGroups/{rg}/providers/{tail}")
}

struct World {
    arm: ArmDouble,
    base: String,
    store: Arc<dyn StateStore>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The double seeded with a mailbox workflow (client-state) and a nightly job (recurrence), each
/// enabled in the primary and disabled in the secondary; the app served on 127.0.0.1:0.
async fn world() -> World {
    let registry = TokenRegistry::new();
    let arm = ArmDouble::start(ArmOptions { tokens: Some(registry.clone()), ..ArmOptions::default() }).await.unwrap();
    for (rg, state) in [("rg-weu", "Enabled"), ("rg-neu", "Disabled")] {
        arm.add_logic_app(&id(rg, "Microsoft.Logic/workflows/mailbox"), state, "westeurope");
        arm.add_logic_app(&id(rg, "Microsoft.Logic/workflows/nightly"), state, "westeurope");
    }
    let plan = json!({
        "version": 1, "name": "orders", "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {"checks": [{"name": "d", "dns": {"host": "localhost"}}]},
        "watchdog": {"watches": [{"name": "orders", "target": "https://orders.example.net/api/health"}]},
        "resources": [
            {"name": "mailbox", "kind": "logicApp", "trigger": "pollingClientState", "role": "activePassive",
             "primary": id("rg-weu", "Microsoft.Logic/workflows/mailbox"), "secondary": id("rg-neu", "Microsoft.Logic/workflows/mailbox")},
            {"name": "nightly", "kind": "logicApp", "trigger": "recurrence", "role": "activePassive",
             "primary": id("rg-weu", "Microsoft.Logic/workflows/nightly"), "secondary": id("rg-neu", "Microsoft.Logic/workflows/nightly")}
        ],
        "activation": {"deadlineMs": 10000}
    });
    let plan = FailoverPlan::from_json(&plan.to_string()).unwrap();
    let credential = Arc::new(RegistryCredential::new(registry, "activation-identity"));
    let client = ArmClient::new(arm.base_url(), reqwest::Client::new(), Ok(credential)).with_retry(RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        attempt_timeout: Duration::from_millis(300),
        poll_interval: Duration::from_millis(20),
    });
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation {
        plan,
        arm: Arc::new(client),
        store: store.clone(),
        verifier: Verifier::new(vec![SECRET.as_bytes().to_vec()]),
        running: Default::default(),
    };
    let listener = runtime::bind(0).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(runtime::serve(app(activation), listener, async {
        let _ = stopped.await;
    }));
    World { arm, base, store, _dir: dir, _stop: stop }
}

/// POSTs `body` to /api/activate signed at `timestamp` (None: now) with `secret`; (status, JSON).
async fn post(w: &World, body: &Value, secret: Option<&str>, timestamp: Option<i64>) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    post_raw(w, bytes, secret, timestamp).await
}

async fn post_raw(w: &World, bytes: Vec<u8>, secret: Option<&str>, timestamp: Option<i64>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("{}/api/activate", w.base));
    if let Some(secret) = secret {
        let ts = timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp());
        for (k, v) in signed_headers(secret.as_bytes(), "POST", "/api/activate", ts, &bytes) {
            req = req.header(k, v);
        }
    }
    let res = req.body(bytes).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn request(epoch: u64) -> Value {
    json!({"watch": "orders", "epoch": epoch, "reason": "primary down", "requester": "w1"})
}

fn state(w: &World, rg: &str, name: &str) -> String {
    w.arm.resource(&id(rg, &format!("Microsoft.Logic/workflows/{name}"))).unwrap()["properties"]["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn writes(w: &World) -> usize {
    w.arm.calls().iter().filter(|c| c.method != "GET").count()
}

#[tokio::test]
async fn refusals_name_their_reason() {
    let w = world().await;
    let cases = [
        (post(&w, &request(1), None, None).await, 401, "missing-header"),
        (post(&w, &request(1), Some("a-wrong-secret-that-is-32-chars-long!!"), None).await, 401, "signature-mismatch"),
        (
            post(&w, &request(1), Some(SECRET), Some(chrono::Utc::now().timestamp() - 3600)).await,
            401,
            "stale-timestamp",
        ),
        (
            post(&w, &json!({"watch": "orders", "epoch": "one", "reason": "r", "requester": "w"}), Some(SECRET), None)
                .await,
            400,
            "bad-request",
        ),
        (
            post(&w, &json!({"watch": "nope", "epoch": 1, "reason": "r", "requester": "w"}), Some(SECRET), None).await,
            404,
            "unknown-watch",
        ),
    ];
    for ((status, body), expect_status, expect_code) in cases {
        assert_eq!((status, body["code"].as_str()), (expect_status, Some(expect_code)), "{body}");
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    assert_eq!(writes(&w), 0, "no refused request touched ARM");
}

#[tokio::test]
async fn an_epoch_switches_once_and_replays_are_refused() {
    let w = world().await;
    let body = serde_json::to_vec(&request(1)).unwrap();
    let ts = chrono::Utc::now().timestamp();
    let (status, answer) = post_raw(&w, body.clone(), Some(SECRET), Some(ts)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["report"]["outcome"], "succeeded");
    assert_eq!((answer["epoch"].as_u64(), answer["run"].as_u64()), (Some(1), Some(1)));
    for name in ["mailbox", "nightly"] {
        assert_eq!(
            (state(&w, "rg-weu", name), state(&w, "rg-neu", name)),
            ("Disabled".into(), "Enabled".into()),
            "{name}"
        );
    }
    // The very same signed request again: a replay.
    let (status, answer) = post_raw(&w, body, Some(SECRET), Some(ts)).await;
    assert_eq!((status, answer["code"].as_str()), (401, Some("replayed")));
    // The same epoch, signed again later (as a retry on a later tick is): the same run, reads only.
    let before = writes(&w);
    let (status, answer) = post(&w, &request(1), Some(SECRET), Some(ts + 1)).await;
    assert_eq!((status, answer["run"].as_u64()), (200, Some(2)), "{answer}");
    assert_eq!(writes(&w), before, "the same epoch twice makes no new writes");
    // An older epoch than one that ran: refused.
    post(&w, &request(3), Some(SECRET), None).await;
    let (status, answer) = post(&w, &request(2), Some(SECRET), None).await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("stale-epoch")), "{answer}");
    // Every run left a report.
    let log = w.store.read_log(&reports_key("orders"), None).await.unwrap();
    assert_eq!(log.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 3);
}

#[tokio::test]
async fn practice_writes_nothing_and_leaves_the_epoch_alone() {
    let w = world().await;
    let mut body = request(5);
    body["practice"] = json!(true);
    let (status, answer) = post(&w, &body, Some(SECRET), None).await;
    assert_eq!((status, answer["report"]["outcome"].as_str()), (200, Some("practiced")), "{answer}");
    assert_eq!(writes(&w), 0);
    assert_eq!(state(&w, "rg-neu", "mailbox"), "Disabled");
    // Epoch 1 still runs: the practice did not record epoch 5.
    let (status, _) = post(&w, &request(1), Some(SECRET), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_primary_that_cannot_be_fenced_waits_until_forced() {
    let w = world().await;
    w.arm.inject(Matcher::any_method("rg-weu/providers/Microsoft.Logic/workflows/mailbox"), Fault::Hang, 1000);
    let (status, answer) = post(&w, &request(1), Some(SECRET), None).await;
    assert_eq!((status, answer["report"]["outcome"].as_str()), (202, Some("waitingForFence")), "{answer}");
    assert_eq!(state(&w, "rg-neu", "mailbox"), "Disabled", "never enabled while the primary may run");
    assert_eq!(state(&w, "rg-neu", "nightly"), "Enabled", "other resources went ahead");
    let mut forced = request(1);
    forced["force"] = json!(true);
    let (status, answer) = post(&w, &forced, Some(SECRET), None).await;
    assert_eq!((status, answer["report"]["outcome"].as_str()), (200, Some("succeeded")), "{answer}");
    assert_eq!(state(&w, "rg-neu", "mailbox"), "Enabled");
}

#[tokio::test]
async fn ready_reports_each_target() {
    let w = world().await;
    let res = reqwest::get(format!("{}/api/ready", w.base)).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["checks"].as_array().unwrap().len(), 4);
    w.arm.remove_resource(&id("rg-neu", "Microsoft.Logic/workflows/nightly"));
    let res = reqwest::get(format!("{}/api/ready", w.base)).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(writes(&w), 0);
}

#[tokio::test]
async fn failback_reverses_the_epoch_that_failed_over_only() {
    let w = world().await;
    let mut back = request(1);
    back["direction"] = json!("failback");
    let (status, answer) = post(&w, &back, Some(SECRET), None).await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("not-failed-over")), "{answer}");

    let (status, _) = post(&w, &request(1), Some(SECRET), None).await;
    assert_eq!(status, 200);
    assert_eq!(state(&w, "rg-neu", "mailbox"), "Enabled");

    let mut wrong = back.clone();
    wrong["epoch"] = json!(2);
    let (status, answer) = post(&w, &wrong, Some(SECRET), None).await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("not-failed-over")), "{answer}");

    let (status, answer) = post(&w, &back, Some(SECRET), Some(chrono::Utc::now().timestamp() + 1)).await;
    assert_eq!((status, answer["report"]["outcome"].as_str()), (200, Some("succeeded")), "{answer}");
    assert_eq!(answer["report"]["direction"], "failback");
    for name in ["mailbox", "nightly"] {
        assert_eq!(
            (state(&w, "rg-weu", name), state(&w, "rg-neu", name)),
            ("Enabled".into(), "Disabled".into()),
            "{name}"
        );
    }
    // A late failover request for the epoch that was failed back must not move the work again.
    let (status, answer) = post(&w, &request(1), Some(SECRET), Some(chrono::Utc::now().timestamp() + 2)).await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("failed-back")), "{answer}");
    assert_eq!(state(&w, "rg-weu", "mailbox"), "Enabled");
    // The next outage is a new epoch, and runs.
    let (status, _) = post(&w, &request(2), Some(SECRET), None).await;
    assert_eq!(status, 200);
    assert_eq!(state(&w, "rg-neu", "mailbox"), "Enabled");
}
