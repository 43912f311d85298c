//! The HTTP front: one listener serving every app's HTTP functions at `/<routePrefix>/<route>`,
//! plus the host's own `/admin/host/status`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};
use uuid::Uuid;
use warp::Filter;

use crate::app::AppSpec;
use crate::call::{self, Forward};
use crate::function_json::{AuthLevel, FunctionSpec, HttpTrigger, Trigger};
use crate::invocation::{self, HttpRequestParts, HOST_VERSION};
use crate::routes::{Lookup, RouteTable};
use crate::supervisor::{self, WorkerState};

/// An app as the front sees it: its spec and where its handler currently listens.
pub struct AppRuntime {
    pub spec: Arc<AppSpec>,
    pub state: watch::Receiver<WorkerState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FunctionRef {
    app: usize,
    function: usize,
}

pub struct Front {
    apps: Vec<AppRuntime>,
    table: RouteTable<FunctionRef>,
    functions_key: Option<String>,
    client: reqwest::Client,
    started: Instant,
    port: u16,
}

/// A request as it reached the front.
pub struct Incoming {
    pub method: Method,
    /// Raw (still percent-encoded) path.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

type Reply = warp::reply::Response;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut r = Reply::new(body.into().into());
    *r.status_mut() = status;
    r
}

fn text(status: StatusCode, message: &str) -> Reply {
    let mut r = reply(status, format!("{message}\n"));
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Whether a request may call a function of this level. Without a configured key nothing is
/// checked, as in Core Tools; with one, the key comes in `x-functions-key` or `?code=`.
pub fn authorized(level: AuthLevel, key: Option<&str>, headers: &HeaderMap, query: Option<&str>) -> bool {
    let Some(key) = key else { return true };
    if level == AuthLevel::Anonymous {
        return true;
    }
    let from_header = headers.get_all("x-functions-key").iter().any(|v| same_secret(v.as_bytes(), key.as_bytes()));
    let from_query = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "code" && same_secret(v.as_bytes(), key.as_bytes()));
    from_header || from_query
}

/// Compares without stopping at the first difference, so timing does not reveal the key.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Front {
    pub fn new(apps: Vec<AppRuntime>, functions_key: Option<String>, client: reqwest::Client, port: u16) -> Front {
        let mut routes = Vec::new();
        for (a, app) in apps.iter().enumerate() {
            for (f, function) in app.spec.functions.iter().enumerate() {
                if let Trigger::Http(h) = &function.trigger {
                    routes.push((
                        h.route.with_prefix(&app.spec.route_prefix),
                        h.methods.clone(),
                        FunctionRef { app: a, function: f },
                    ));
                }
            }
        }
        Front { apps, table: RouteTable::new(routes), functions_key, client, started: Instant::now(), port }
    }

    pub fn app_specs(&self) -> impl Iterator<Item = &AppSpec> {
        self.apps.iter().map(|a| a.spec.as_ref())
    }

    pub fn url_of(&self, app: &AppSpec, trigger: &HttpTrigger) -> String {
        let route = trigger.route.with_prefix(&app.route_prefix);
        format!("http://127.0.0.1:{}/{}", self.port, route.text())
    }

    fn all_ready(&self) -> bool {
        self.apps.iter().all(|a| matches!(*a.state.borrow(), WorkerState::Ready { .. }))
    }

    pub async fn handle(&self, req: Incoming) -> Reply {
        let lower = req.path.to_ascii_lowercase();
        let lower = lower.trim_end_matches('/');
        if lower == "/admin/host/status" || lower == "/admin/host/ping" {
            if req.method != Method::GET && req.method != Method::HEAD {
                return text(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            }
            return self.host_status(lower.ends_with("ping"));
        }
        let method = req.method.as_str().to_ascii_uppercase();
        let (fref, params) = match self.table.lookup(&method, &req.path) {
            Lookup::Found { key, params } => (*key, params),
            Lookup::MethodNotAllowed { allowed } => {
                let mut r = text(StatusCode::METHOD_NOT_ALLOWED, &format!("method {method} is not allowed here"));
                if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                    r.headers_mut().insert(http::header::ALLOW, v);
                }
                return r;
            }
            Lookup::NotFound => return text(StatusCode::NOT_FOUND, "no function serves this path"),
        };
        let app = &self.apps[fref.app];
        let function = &app.spec.functions[fref.function];
        let Trigger::Http(trigger) = &function.trigger else {
            unreachable!("the route table holds HTTP functions only");
        };
        let name = &app.spec.name;
        let what = format!("{} (http {method} {})", function.name, req.path);
        if !authorized(trigger.auth, self.functions_key.as_deref(), &req.headers, req.query.as_deref()) {
            info!("[{name}] {what}: 401, no valid function key");
            return text(
                StatusCode::UNAUTHORIZED,
                "a function key is required (x-functions-key header or code query parameter)",
            );
        }
        let started = Instant::now();
        let Some(port) = supervisor::ready_port(&app.state, supervisor::READY_LIMIT).await else {
            error!("[{name}] {what}: 503, the handler is not running");
            return text(StatusCode::SERVICE_UNAVAILABLE, &format!("the handler of {name} is not running"));
        };
        let result = if app.spec.handler.forward_http && function.is_http_in_and_out() {
            self.forward(&app.spec, port, &req).await
        } else {
            self.invoke(&app.spec, function, trigger, port, &req, &params).await
        };
        let ms = started.elapsed().as_millis();
        match result {
            Ok(r) => {
                info!("[{name}] {what}: {} in {ms} ms", r.status().as_u16());
                r
            }
            Err(why) => {
                error!("[{name}] {what}: failed in {ms} ms, {why}");
                reply(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new())
            }
        }
    }

    fn host_status(&self, ping: bool) -> Reply {
        if ping {
            return reply(StatusCode::OK, Bytes::new());
        }
        let state = if self.all_ready() { "Running" } else { "Initialized" };
        let body = json!({
            "id": "bcdr-host",
            "state": state,
            "version": HOST_VERSION,
            "versionDetails": format!("{HOST_VERSION} (bcdr host {})", env!("CARGO_PKG_VERSION")),
            "processUptime": self.started.elapsed().as_millis() as u64,
        });
        let mut r = reply(StatusCode::OK, body.to_string());
        r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        r
    }

    async fn forward(&self, app: &AppSpec, port: u16, req: &Incoming) -> Result<Reply, String> {
        let answer = call::forward(
            &self.client,
            port,
            Forward {
                method: req.method.clone(),
                path_and_query: &req.path_and_query(),
                headers: &req.headers,
                body: req.body.clone(),
            },
            Uuid::new_v4(),
            app.function_timeout,
        )
        .await
        .map_err(|e| format!("forwarding to the handler: {e}"))?;
        let mut r = reply(answer.status, answer.body);
        *r.headers_mut() = call::end_to_end(&answer.headers);
        Ok(r)
    }

    async fn invoke(
        &self,
        app: &AppSpec,
        function: &FunctionSpec,
        trigger: &HttpTrigger,
        port: u16,
        req: &Incoming,
        params: &BTreeMap<String, String>,
    ) -> Result<Reply, String> {
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| format!("127.0.0.1:{}", self.port));
        let parts = HttpRequestParts {
            method: req.method.as_str(),
            url: format!("http://{host}{}", req.path_and_query()),
            query: req.query.as_deref(),
            headers: &req.headers,
            body: &req.body,
        };
        let payload =
            invocation::http_invocation(&function.name, &trigger.binding, &parts, params, Utc::now(), Uuid::new_v4());
        let answer = call::invoke(&self.client, port, &function.name, &payload, Uuid::new_v4(), app.function_timeout)
            .await
            .map_err(|e| format!("calling the handler: {e}"))?;
        if !answer.status.is_success() {
            return Err(format!("the handler answered {}: {}", answer.status, invocation::preview(&answer.body)));
        }
        invocation::check_answer_content_type(&answer.headers).map_err(|e| e.to_string())?;
        let result = invocation::parse_invocation_result(&answer.body).map_err(|e| e.to_string())?;
        for line in &result.logs {
            info!("[{}] {}: {line}", app.name, function.name);
        }
        let Some(binding) = &function.http_output else {
            return Ok(reply(StatusCode::NO_CONTENT, Bytes::new()));
        };
        let Some(output) = invocation::http_output(&result, binding) else {
            warn!("[{}] {}: the answer has no Outputs.{binding}; replying 200 with no body", app.name, function.name);
            return Ok(reply(StatusCode::OK, Bytes::new()));
        };
        let mapped = invocation::http_reply_from_output(output).map_err(|e| e.to_string())?;
        let mut r = reply(mapped.status, mapped.body);
        *r.headers_mut() = mapped.headers;
        Ok(r)
    }
}

fn raw_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::query::raw().map(Some).or(warp::any().map(|| None)).unify()
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(front: Arc<Front>, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) {
    let routes =
        warp::any()
            .and(warp::method())
            .and(warp::path::full())
            .and(raw_query())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                move |method: Method,
                      path: warp::path::FullPath,
                      query: Option<String>,
                      headers: HeaderMap,
                      body: Bytes| {
                    let front = front.clone();
                    async move {
                        front.handle(Incoming { method, path: path.as_str().to_string(), query, headers, body }).await
                    }
                },
            );
    warp::serve(routes).incoming(listener).graceful(shutdown).run().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization() {
        let mut with_header = HeaderMap::new();
        with_header.insert("x-functions-key", HeaderValue::from_static("s3cret"));
        let mut wrong_header = HeaderMap::new();
        wrong_header.insert("x-functions-key", HeaderValue::from_static("nope"));
        let none = HeaderMap::new();
        let cases = [
            (AuthLevel::Function, None, &none, None, true),
            (AuthLevel::Admin, None, &none, None, true),
            (AuthLevel::Anonymous, Some("s3cret"), &none, None, true),
            (AuthLevel::Function, Some("s3cret"), &none, None, false),
            (AuthLevel::Function, Some("s3cret"), &with_header, None, true),
            (AuthLevel::Admin, Some("s3cret"), &with_header, None, true),
            (AuthLevel::Function, Some("s3cret"), &wrong_header, None, false),
            (AuthLevel::Function, Some("s3cret"), &none, Some("a=1&code=s3cret"), true),
            (AuthLevel::Function, Some("s3cret"), &none, Some("code=s3cre"), false),
            (AuthLevel::Function, Some("s3cret"), &none, Some("key=s3cret"), false),
        ];
        for (level, key, headers, query, expect) in cases {
            assert_eq!(authorized(level, key, headers, query), expect, "{level:?} key={key:?} query={query:?}");
        }
    }
}
