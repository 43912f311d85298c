//! A double of the AWS Lambda Runtime API (version 2018-06-01), the HTTP API a custom runtime
//! (`provided.al2023`, a `bootstrap` executable) polls for invocations.
//!
//! The runtime finds it at `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme) and:
//!
//! - `GET /2018-06-01/runtime/invocation/next` waits (without a timeout: Lambda may freeze the
//!   process meanwhile) until there is an invocation, and gets the event as the body with the
//!   headers `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (Unix ms),
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`;
//! - `POST …/invocation/{id}/response` answers it: 202 `{"status":"OK"}`; a payload over 6 MB
//!   gets 413; an id that is not the invocation in flight gets 400;
//! - `POST …/invocation/{id}/error` fails it with `{"errorMessage","errorType","stackTrace"}`
//!   (and the header `Lambda-Runtime-Function-Error-Type`): 202;
//! - `POST /2018-06-01/runtime/init/error` reports a failed start.
//!
//! Errors are `{"errorMessage","errorType"}`, as the Runtime API's OpenAPI description gives
//! them. The double hands out one invocation at a time, as Lambda does for a function's
//! execution environment; a second answer for the same invocation is refused.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use warp::path::FullPath;
use warp::Filter;

use crate::answer::Answer;
use crate::lock;
use crate::server::{stopped, Server};

const PREFIX: &str = "/2018-06-01/runtime";
/// Lambda's limit on a synchronous invocation's response.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// How an invocation ended, as the runtime reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationOutcome {
    /// `…/response`: the function's answer, as sent.
    Response(Bytes),
    /// `…/error`: the error document and the `Lambda-Runtime-Function-Error-Type` header.
    Error { body: Value, error_type_header: Option<String> },
}

/// One request the runtime made, as it arrived, with the status it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeCall {
    pub method: String,
    pub path: String,
    pub status: u16,
}

struct Invocation {
    id: String,
    event: Value,
    timeout: Duration,
}

#[derive(Default)]
struct State {
    queued: VecDeque<Invocation>,
    in_flight: Option<String>,
    outcomes: HashMap<String, InvocationOutcome>,
    init_error: Option<Value>,
    calls: Vec<RuntimeCall>,
}

struct Shared {
    function_arn: String,
    state: Mutex<State>,
    /// Wakes `/next` when an invocation is queued.
    queued: Notify,
    /// Wakes [`RuntimeApiDouble::outcome`] when an invocation ends.
    ended: Notify,
}

/// The Runtime API double; stops serving when dropped.
pub struct RuntimeApiDouble {
    address: String,
    shared: Arc<Shared>,
    _server: Server,
}

impl RuntimeApiDouble {
    /// Starts the double on a free loopback port, for the function `function_arn`.
    pub async fn start(function_arn: impl Into<String>) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            function_arn: function_arn.into(),
            state: Mutex::new(State::default()),
            queued: Notify::new(),
            ended: Notify::new(),
        });
        let (stop, _) = watch::channel(false);
        let stop_rx = stop.subscribe();
        let handler_shared = Arc::clone(&shared);
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(move |method: Method, path: FullPath, headers: HeaderMap, body: Bytes| {
                let shared = Arc::clone(&handler_shared);
                let stop = stop_rx.clone();
                async move {
                    let path = path.as_str().to_owned();
                    let answer = shared.handle(&method, &path, &headers, body, stop).await;
                    lock(&shared.state).calls.push(RuntimeCall {
                        method: method.to_string(),
                        path,
                        status: answer.status,
                    });
                    answer.into_response()
                }
            })
            .boxed();
        let (listener, addr) = Server::bind().await?;
        let server = Server::serve(listener, routes, stop);
        Ok(Self { address: addr.to_string(), shared, _server: server })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queues an invocation of `event` with the function's `timeout` (which sets the deadline
    /// header); returns its request id.
    pub fn invoke(&self, event: Value, timeout: Duration) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        lock(&self.shared.state).queued.push_back(Invocation { id: id.clone(), event, timeout });
        self.shared.queued.notify_one();
        id
    }

    /// Waits until the invocation `id` ends, and returns how.
    pub async fn outcome(&self, id: &str) -> InvocationOutcome {
        loop {
            let ended = self.shared.ended.notified();
            if let Some(outcome) = lock(&self.shared.state).outcomes.get(id) {
                return outcome.clone();
            }
            ended.await;
        }
    }

    /// The `init/error` document, if the runtime reported one.
    pub fn init_error(&self) -> Option<Value> {
        lock(&self.shared.state).init_error.clone()
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<RuntimeCall> {
        lock(&self.shared.state).calls.clone()
    }
}

impl Shared {
    async fn handle(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
        stop: watch::Receiver<bool>,
    ) -> Answer {
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return error(404, "NotFound", "unknown path");
        };
        let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            (&Method::GET, ["invocation", "next"]) => self.next(stop).await,
            (&Method::POST, ["invocation", id, "response"]) => {
                if body.len() > MAX_RESPONSE_BYTES {
                    return error(
                        413,
                        "RequestEntityTooLarge",
                        &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
                    );
                }
                self.end(id, InvocationOutcome::Response(body))
            }
            (&Method::POST, ["invocation", id, "error"]) => {
                let Ok(document) = serde_json::from_slice::<Value>(&body) else {
                    return error(400, "InvalidErrorShape", "the error document is not JSON");
                };
                let error_type_header =
                    headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                self.end(id, InvocationOutcome::Error { body: document, error_type_header })
            }
            (&Method::POST, ["init", "error"]) => {
                lock(&self.state).init_error = Some(serde_json::from_slice(&body).unwrap_or(Value::Null));
                Answer::json(202, json!({ "status": "OK" }))
            }
            _ => error(404, "NotFound", "unknown path"),
        }
    }

    async fn next(&self, stop: watch::Receiver<bool>) -> Answer {
        let invocation = loop {
            let queued = self.queued.notified();
            {
                let mut state = lock(&self.state);
                if let Some(invocation) = state.queued.pop_front() {
                    state.in_flight = Some(invocation.id.clone());
                    break invocation;
                }
            }
            tokio::select! {
                () = queued => {}
                () = stopped(stop.clone()) => return error(500, "ServiceStopped", "the double is shutting down"),
            }
        };
        let deadline = chrono::Utc::now() + invocation.timeout;
        let trace = format!(
            "Root=1-{:08x}-{};Parent={};Sampled=0",
            deadline.timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..24],
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        Answer::json(200, invocation.event)
            .with_header("lambda-runtime-aws-request-id", invocation.id)
            .with_header("lambda-runtime-deadline-ms", deadline.timestamp_millis().to_string())
            .with_header("lambda-runtime-invoked-function-arn", self.function_arn.clone())
            .with_header("lambda-runtime-trace-id", trace)
    }

    fn end(&self, id: &str, outcome: InvocationOutcome) -> Answer {
        let mut state = lock(&self.state);
        if state.in_flight.as_deref() != Some(id) {
            return error(
                400,
                "InvalidRequestID",
                &format!("Invalid request ID: {id:?} is not the invocation in flight"),
            );
        }
        state.in_flight = None;
        state.outcomes.insert(id.to_owned(), outcome);
        drop(state);
        self.ended.notify_waiters();
        Answer::json(202, json!({ "status": "OK" }))
    }
}

fn error(status: u16, error_type: &str, message: &str) -> Answer {
    Answer::json(status, json!({ "errorMessage": message, "errorType": error_type }))
}
