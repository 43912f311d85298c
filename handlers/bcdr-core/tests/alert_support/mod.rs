//! A local receiver for the alert tests on `127.0.0.1:0`, answering by the first path segment:
//! `/ok` 200, `/accepted` 202, `/bad` 400, `/busy` 429, `/fail` 500, `/flaky` 500 then 200,
//! `/leak` 400 quoting the request's path and query, `/hang` only once released. It records
//! every request, so tests can assert on what arrived and how often.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bcdr_core::alert::Alert;
use bytes::Bytes;
use reqwest::Url;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use warp::http::StatusCode;
use warp::path::FullPath;
use warp::Filter;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    hits: Mutex<BTreeMap<String, usize>>,
    arrived: Notify,
}

pub struct Receiver {
    base: String,
    state: Arc<State>,
    release: watch::Sender<bool>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let (release, released) = watch::channel(false);
        let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();
        let route = warp::post()
            .and(warp::path::full())
            .and(raw_query)
            .and(warp::header::optional::<String>("content-type"))
            .and(warp::body::bytes())
            .then({
                let state = Arc::clone(&state);
                move |path: FullPath, query: String, content_type: Option<String>, body: Bytes| {
                    let state = Arc::clone(&state);
                    let released = released.clone();
                    async move { answer(state, released, path.as_str().to_owned(), query, content_type, body).await }
                }
            });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Self { base, state, release }
    }

    pub fn url(&self, path_and_query: &str) -> Url {
        Url::parse(&format!("{}{path_and_query}", self.base)).unwrap()
    }

    /// How many requests arrived at exactly this path.
    pub fn hits(&self, path: &str) -> usize {
        self.state.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Waits (generously) until `count` requests have arrived at `path`, and returns the last.
    pub async fn wait_for(&self, path: &str, count: usize) -> Received {
        let wait = async {
            loop {
                let arrived = self.state.arrived.notified();
                if self.hits(path) >= count {
                    let received = self.state.received.lock().unwrap();
                    return received.iter().rev().find(|r| r.path == path).cloned().unwrap();
                }
                arrived.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("nothing arrived at {path} in 20 s"))
    }

    /// Lets requests to `/hang` finish.
    pub fn release_hung(&self) {
        self.release.send_replace(true);
    }
}

async fn answer(
    state: Arc<State>,
    mut released: watch::Receiver<bool>,
    path: String,
    query: String,
    content_type: Option<String>,
    body: Bytes,
) -> warp::reply::WithStatus<String> {
    let hit = {
        let mut hits = state.hits.lock().unwrap();
        let n = hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.received.lock().unwrap().push(Received { path: path.clone(), query: query.clone(), content_type, body });
    state.arrived.notify_waiters();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or_default().to_owned();
    let (status, text) = match first.as_str() {
        "ok" => (StatusCode::OK, "ok".to_owned()),
        "accepted" => (StatusCode::ACCEPTED, String::new()),
        "bad" => (StatusCode::BAD_REQUEST, "invalid_payload".to_owned()),
        "busy" => (StatusCode::TOO_MANY_REQUESTS, "slow down".to_owned()),
        "fail" => (StatusCode::INTERNAL_SERVER_ERROR, "rollup_error".to_owned()),
        "flaky" if hit == 1 => (StatusCode::INTERNAL_SERVER_ERROR, "rollup_error".to_owned()),
        "flaky" => (StatusCode::OK, "ok".to_owned()),
        "leak" => (StatusCode::BAD_REQUEST, format!("no flow at {path}?{query}")),
        "hang" => {
            let _ = released.wait_for(|r| *r).await;
            (StatusCode::OK, "ok".to_owned())
        }
        _ => (StatusCode::NOT_FOUND, "no such receiver".to_owned()),
    };
    warp::reply::with_status(text, status)
}

/// A URL nothing listens on: bind a port, then let it go.
pub async fn refused_url(path_and_query: &str) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    Url::parse(&format!("http://{addr}{path_and_query}")).unwrap()
}

pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/alerts").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn sample_alert() -> Alert {
    serde_json::from_value(fixture("alert.json")).unwrap()
}

/// Everything logged while a test runs, as JSON lines, for assertions on events and on what
/// must never be logged.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Installs a JSON subscriber for the current thread (the current-thread test runtime runs
    /// spawned tasks there too) until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn lines(&self) -> Vec<Value> {
        self.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}
