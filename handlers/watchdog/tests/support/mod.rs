//! Local stand-ins the watchdog talks to over real sockets: a primary whose health can be
//! switched, and an activation endpoint that verifies signatures and records each request.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use bcdr_core::alert::Alerter;
use bcdr_core::plan::Watch;
use bcdr_core::signature::{ActivationRequest, Verifier};
use bcdr_core::store::StateStore;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use warp::Filter;
use watchdog::{HttpProber, SignedActivation, Watchdog};

pub const SECRET: &str = "a-test-secret-of-at-least-32-characters!";

async fn listen() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    (l, base)
}

/// The primary's health-check: healthy (0), unhealthy (1) or refusing connections (stopped).
pub struct Primary {
    pub url: String,
    mode: Arc<AtomicU8>,
    script: Arc<Mutex<VecDeque<u8>>>,
}

pub const HEALTHY: u8 = 0;
pub const UNHEALTHY: u8 = 1;

impl Primary {
    pub async fn start() -> Primary {
        let mode = Arc::new(AtomicU8::new(HEALTHY));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let (m, next) = (mode.clone(), script.clone());
        let route = warp::path!("api" / "health").map(move || {
            if let Some(scripted) = next.lock().unwrap().pop_front() {
                m.store(scripted, Ordering::SeqCst);
            }
            let (status, verdict) = match m.load(Ordering::SeqCst) {
                HEALTHY => (StatusCode::OK, "healthy"),
                _ => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy"),
            };
            warp::reply::with_status(warp::reply::json(&serde_json::json!({"status": verdict, "checks": []})), status)
        });
        let (listener, base) = listen().await;
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Primary { url: format!("{base}/api/health"), mode, script }
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// The next answers, one mode each, in order; the last one then stays.
    pub fn answer(&self, modes: &[u8]) {
        self.script.lock().unwrap().extend(modes);
    }
}

/// A URL where nothing listens: a stopped primary.
pub fn stopped_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("http://127.0.0.1:{port}/api/health")
}

/// The activation function: verifies each request's signature and records it.
pub struct Activation {
    pub url: String,
    pub requests: Arc<Mutex<Vec<ActivationRequest>>>,
    /// The status the next requests get (200 unless set).
    pub answer: Arc<AtomicU16>,
}

impl Activation {
    pub async fn start() -> Activation {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(AtomicU16::new(200));
        let verifier = Arc::new(Verifier::new(vec![SECRET.as_bytes().to_vec()]));
        let (r, a) = (requests.clone(), answer.clone());
        let route = warp::post()
            .and(warp::path!("api" / "activate"))
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(move |headers: HeaderMap, body: Bytes| {
                if let Err(e) = verifier.verify("POST", "/api/activate", &headers, &body, chrono::Utc::now()) {
                    return warp::reply::with_status(e.to_string(), StatusCode::UNAUTHORIZED);
                }
                let request = ActivationRequest::from_json(&body).unwrap();
                r.lock().unwrap().push(request);
                let status = StatusCode::from_u16(a.load(Ordering::SeqCst)).unwrap();
                warp::reply::with_status("{}".to_owned(), status)
            });
        let (listener, base) = listen().await;
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Activation { url: format!("{base}/api/activate"), requests, answer }
    }

    pub fn epochs(&self) -> Vec<u64> {
        self.requests.lock().unwrap().iter().map(|r| r.epoch).collect()
    }
}

/// A watch on `target` with a fast policy: 3 failures, 2 successes, 1 attempt of 1 s, one
/// observation per tick (no confirmation probes), so tests count ticks.
pub fn watch(name: &str, target: &str) -> Watch {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "target": target,
        "policy": {"failureThreshold": 3, "successThreshold": 2, "probeTimeoutMs": 1000, "probeAttempts": 1,
                   "confirmEveryMs": 0}
    }))
    .unwrap()
}

/// `watch` with confirmation probes `every_ms` apart (0: none).
pub fn confirming(mut watch: Watch, every_ms: u64) -> Watch {
    watch.policy.confirm_every_ms = every_ms;
    watch
}

/// A watchdog over `store` with the real HTTP prober and signed activation client, no alert
/// channels: what the tests drive tick by tick.
pub fn watchdog(watch: Watch, store: Arc<dyn StateStore>, activation: &Activation, watcher: &str) -> Watchdog {
    Watchdog {
        watches: vec![watch],
        store,
        prober: Arc::new(HttpProber::new(Some("health-key".into()))),
        activation: Arc::new(SignedActivation::new(
            activation.url.parse().unwrap(),
            Some("activation-key".into()),
            SECRET.as_bytes().to_vec(),
            Duration::from_secs(5),
        )),
        alerter: Alerter::new(Vec::new(), Duration::from_secs(1)),
        watcher: watcher.to_owned(),
        interval: Duration::from_secs(60),
    }
}
