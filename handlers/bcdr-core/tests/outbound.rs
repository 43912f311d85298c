//! No secret reaches an error text: requests through every client the bundle builds (each
//! [`Purpose`], and each client of the core built on one), with a secret in the query string and
//! in a header, key or token where the client sends one, against a closed port, a server that
//! hangs, and servers that answer 4xx and 5xx quoting the request line back, as some do. The
//! watchdog's prober is among them.

mod alert_support;
mod arm_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alert_support::{refused_url, sample_alert};
use arm_support::{quick, FixedToken};
use base64::Engine as _;
use bcdr_core::activation_client::{ActivationApi, SignedActivation};
use bcdr_core::alert::{AlertSink, Alerter, SlackSink, TeamsSink, WebhookSink};
use bcdr_core::arm::{ArmClient, ManagementApi};
use bcdr_core::health::Checker;
use bcdr_core::outbound::{self, Purpose, Secret};
use bcdr_core::plan::{Check, CheckKind, Watch};
use bcdr_core::prober::{HttpProber, Prober};
use bcdr_core::signature::ActivationRequest;
use bcdr_core::store::{BlobAuth, BlobStore, StateStore};
use bcdr_core::watch::{ActivationOutcome, Observation};
use reqwest::Url;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "S3CRET";
const LIMIT: Duration = Duration::from_millis(300);

/// How the far side fails.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Refused,
    Hangs,
    Answers(u16),
}

const FAULTS: [Fault; 4] = [Fault::Refused, Fault::Hangs, Fault::Answers(403), Fault::Answers(503)];

/// A server on `127.0.0.1:0` failing as told, or a port nothing listens on.
async fn far_side(fault: Fault) -> String {
    let status = match fault {
        Fault::Refused => return refused_url("/").await.as_str().trim_end_matches('/').to_owned(),
        Fault::Hangs => None,
        Fault::Answers(status) => Some(status),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let Some(status) = status else {
                held.push(stream);
                continue;
            };
            tokio::spawn(async move {
                let head = read_request(&mut stream).await;
                let line = head.lines().next().unwrap_or_default();
                let body = format!("no route for {line}\nsent: {head}");
                let answer = format!(
                    "HTTP/1.1 {status} Nope\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    base
}

/// Reads a request's head and its body (by Content-Length), and returns the head.
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                return text[..end].to_owned();
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What a client said went wrong; an empty text if the request succeeded, which fails the test.
async fn raw(purpose: Purpose, base: &str) -> String {
    let url = Url::parse(&format!("{base}/api/health?code={SECRET}")).unwrap();
    let request = outbound::client(purpose).get(url.clone()).header("x-functions-key", SECRET).timeout(LIMIT);
    match request.send().await {
        Err(e) => outbound::describe(&e),
        Ok(res) => {
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap_or_default();
            outbound::status_text(status, &body, &url, Secret::Query)
        }
    }
}

async fn health_check(base: &str) -> String {
    let check = Check {
        name: "api".to_owned(),
        critical: true,
        timeout_ms: None,
        kind: CheckKind::Http(
            serde_json::from_value(json!({"url": format!("{base}/status?code={SECRET}"), "expectStatus": "200"}))
                .unwrap(),
        ),
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("x-api-key", SECRET.parse().unwrap());
    let arm = ArmClient::new(base, outbound::client(Purpose::Arm), Err("no identity".into()));
    let checker = Checker {
        http: outbound::client(Purpose::HealthChecks),
        arm: Arc::new(arm),
        headers: HashMap::from([("api".to_owned(), headers)]),
    };
    checker.run(&check, LIMIT).await.reason
}

fn arm(base: &str) -> ArmClient {
    ArmClient::new(base, outbound::client(Purpose::Arm), Ok(Arc::new(FixedToken(SECRET.to_owned()))))
        .with_retry(quick())
}

async fn arm_get(base: &str) -> String {
    let path = "/subscriptions/s/providers/Microsoft.Logic/workflows/w/runs";
    match tokio::time::timeout(LIMIT, arm(base).get(path, "2019-05-01", &[("$filter", SECRET)])).await {
        Ok(result) => result.map(|_| String::new()).unwrap_or_else(|e| e.to_string()),
        // The health-check's own bound, as `Checker::run` applies it.
        Err(_) => "no answer in time".to_owned(),
    }
}

async fn arm_call(base: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(600);
    let api_version = format!("2019-05-01&code={SECRET}");
    let arm = arm(base);
    let call = arm.call(http::Method::POST, "/subscriptions/s/w/disable", &api_version, None, deadline);
    call.await.map(|_| String::new()).unwrap_or_else(|e| e.to_string())
}

async fn store(base: &str, auth: BlobAuth) -> String {
    // A container URL cannot carry a query (a SAS is refused): the secret is the key or token.
    let store = BlobStore::new(&format!("{base}/devstoreaccount1/state"), auth).unwrap().with_timeout(LIMIT);
    store.load("watch/orders").await.map(|_| String::new()).unwrap_or_else(|e| e.to_string())
}

async fn activation_request(base: &str) -> String {
    let client = SignedActivation::new(
        format!("{base}/api/activate?code={SECRET}").parse().unwrap(),
        Some(SECRET.to_owned()),
        format!("{SECRET}-signing-secret-of-at-least-32-characters").into_bytes(),
        LIMIT,
    );
    let request = ActivationRequest {
        watch: "orders".into(),
        epoch: 1,
        reason: "down".into(),
        requester: "watcher-a".into(),
        practice: false,
        force: false,
        direction: Default::default(),
    };
    match client.request(&request).await {
        ActivationOutcome::Failed { reason, .. } => reason,
        ActivationOutcome::Succeeded => String::new(),
    }
}

async fn alert(base: &str, kind: &str) -> String {
    let url = Url::parse(&format!("{base}/workflows/{SECRET}PATH/invoke?sig={SECRET}")).unwrap();
    let client = outbound::client(Purpose::Alerts);
    let sink: Arc<dyn AlertSink> = match kind {
        "teams" => Arc::new(TeamsSink::new("t", url, client)),
        "slack" => Arc::new(SlackSink::new("s", url, client)),
        _ => Arc::new(WebhookSink::new("w", url, client)),
    };
    // The alerter bounds each attempt; the one retry comes after a short pause.
    let alerter = Alerter::new(vec![sink], LIMIT).with_retry_delay(Duration::from_millis(10));
    let settled = alerter.dispatch(sample_alert()).settled().await;
    settled.into_iter().map(|(_, r)| r.err().map(|e| format!("{e} {e:?}")).unwrap_or_default()).collect()
}

/// The watchdog's probe of a health-check, with the function key and a code in the query.
async fn probe(base: &str) -> String {
    let watch: Watch = serde_json::from_value(json!({
        "name": "orders",
        "target": format!("{base}/api/health?code={SECRET}"),
        "policy": {"probeTimeoutMs": 300, "probeAttempts": 1}
    }))
    .unwrap();
    match HttpProber::new(Some(SECRET.to_owned())).observe(&watch).await {
        Observation::Up { .. } => String::new(),
        Observation::Down { reason } | Observation::Inconclusive { reason } => reason,
    }
}

#[tokio::test]
async fn secrets_never_reach_error_texts() {
    let key = base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}-account-key"));
    let mut seen = Vec::new();
    for fault in FAULTS {
        let base = far_side(fault).await;
        let mut texts = Vec::new();
        for purpose in [
            Purpose::HealthChecks,
            Purpose::Arm,
            Purpose::Storage,
            Purpose::Probes,
            Purpose::Activation { timeout: LIMIT },
            Purpose::Alerts,
        ] {
            texts.push((format!("{purpose:?}"), raw(purpose, &base).await));
        }
        texts.push(("health check".into(), health_check(&base).await));
        texts.push(("ARM get".into(), arm_get(&base).await));
        texts.push(("ARM call".into(), arm_call(&base).await));
        let shared_key = BlobAuth::SharedKey { account: "devstoreaccount1".into(), key_base64: key.clone() };
        texts.push(("store, Shared Key".into(), store(&base, shared_key).await));
        let bearer = BlobAuth::Bearer(Arc::new(FixedToken(SECRET.to_owned())));
        texts.push(("store, bearer".into(), store(&base, bearer).await));
        texts.push(("activation request".into(), activation_request(&base).await));
        texts.push(("prober".into(), probe(&base).await));
        for kind in ["webhook", "teams", "slack"] {
            texts.push((format!("{kind} alert"), alert(&base, kind).await));
        }
        for (path, text) in texts {
            assert!(!text.is_empty(), "{path} against {fault:?}: no failure reported");
            assert!(!text.contains(SECRET) && !text.contains(&key), "{path} against {fault:?}: {text}");
            assert!(!text.contains(&base), "{path} against {fault:?} names the URL: {text}");
            seen.push(format!("{fault:?} {path}: {text}"));
        }
    }
    // The one shape: what failed, then why, in a few words.
    let shown = seen.join("\n");
    for expect in [
        "Refused HealthChecks: cannot connect: Connection refused",
        "Hangs Probes: timed out",
        "Answers(403) Alerts: status 403: no route for GET /api/health?[redacted] HTTP/1.1",
        "Refused health check: cannot connect: Connection refused",
        "Answers(503) ARM get: ARM answered 503 Http503: no route for GET /subscriptions/s/providers/Microsoft.Logic/workflows/w/runs?[redacted] HTTP/1.1",
        "Refused store, Shared Key: state store unavailable: cannot connect: Connection refused",
        "Hangs activation request: activation did not answer: timed out",
        "Answers(503) activation request: activation answered 503: no route for POST /api/activate?[redacted] HTTP/1.1",
        "Refused prober: no answer in 1 attempt (last: cannot connect: Connection refused)",
        "Hangs prober: no answer in 1 attempt (last: timed out)",
        "Answers(503) prober: no answer in 1 attempt (last: status 503 without a health report)",
    ] {
        assert!(seen.iter().any(|s| s == expect), "missing {expect:?} in\n{shown}");
    }
}
