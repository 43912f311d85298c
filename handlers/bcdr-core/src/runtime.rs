//! The custom-handler runtime every binary shares: it speaks the Azure Functions host's protocol
//! on 127.0.0.1:`FUNCTIONS_CUSTOMHANDLER_PORT`, answering the host's readiness pings at once,
//! forwarded HTTP triggers at `/api/<route>`, and `POST /{function}` invocations (timers, and
//! HTTP triggers without forwarding), and turns every failure into an HTTP answer in one place.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;
use warp::Filter;

use crate::invocation::{HttpTriggerRequest, HttpTriggerResponse, InvocationRequest, InvocationResponse, TimerInfo};
use crate::settings::Reader;

/// The setting through which the host gives the handler its port.
pub const PORT_SETTING: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";

/// Largest request body accepted; the bundle's payloads are a few kilobytes.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// An HTTP request as a function sees it, whether the host forwarded it or wrapped it in an
/// invocation.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The path without the query, e.g. `/api/health`.
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// Whether the caller prefers HTML (a browser) over JSON.
    pub fn wants_html(&self) -> bool {
        self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
    }
}

pub type Response = http::Response<Bytes>;

/// A timer invocation: the timer value and the invocation's identity.
#[derive(Debug, Clone)]
pub struct TimerInvocation {
    pub function: String,
    pub invocation_id: Option<String>,
    pub timer: TimerInfo,
    pub request: InvocationRequest,
}

/// Why an invocation failed; the host records the invocation as failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvocationError(pub String);

type HttpFn = Arc<dyn Fn(Request) -> BoxFuture<'static, Response> + Send + Sync>;
type TimerFn =
    Arc<dyn Fn(TimerInvocation) -> BoxFuture<'static, Result<InvocationResponse, InvocationError>> + Send + Sync>;

struct HttpFunction {
    name: String,
    route: String,
    methods: Vec<Method>,
    call: HttpFn,
}

struct TimerFunction {
    name: String,
    binding: String,
    call: TimerFn,
}

/// The functions one handler process serves, named as their `function.json` folders are.
#[derive(Default)]
pub struct FunctionApp {
    http: Vec<HttpFunction>,
    timers: Vec<TimerFunction>,
}

impl FunctionApp {
    pub fn new() -> Self {
        Self::default()
    }

    /// An HTTP-triggered function: `name` is its folder, `route` what follows `/api/`.
    pub fn http<F, Fut>(mut self, name: &str, route: &str, methods: &[Method], f: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.http.push(HttpFunction {
            name: name.to_owned(),
            route: route.trim_matches('/').to_owned(),
            methods: methods.to_vec(),
            call: Arc::new(move |r| Box::pin(f(r))),
        });
        self
    }

    /// A timer-triggered function: `name` is its folder, `binding` the trigger's binding name.
    pub fn timer<F, Fut>(mut self, name: &str, binding: &str, f: F) -> Self
    where
        F: Fn(TimerInvocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<InvocationResponse, InvocationError>> + Send + 'static,
    {
        self.timers.push(TimerFunction {
            name: name.to_owned(),
            binding: binding.to_owned(),
            call: Arc::new(move |t| Box::pin(f(t))),
        });
        self
    }

    /// Answers one request. Everything the protocol sends arrives here.
    pub async fn dispatch(&self, req: Request) -> Response {
        // The host's readiness ping: answered before anything else, touching nothing.
        if req.path == "/" {
            return empty(StatusCode::OK);
        }
        if let Some(route) = req.path.strip_prefix("/api/") {
            return match self.http.iter().find(|f| f.route.eq_ignore_ascii_case(route.trim_end_matches('/'))) {
                Some(f) => self.call_http(f, req).await,
                None => problem(StatusCode::NOT_FOUND, &format!("no function at {}", req.path)),
            };
        }
        let name = req.path.trim_start_matches('/');
        if req.method == Method::POST {
            if let Some(f) = self.timers.iter().find(|f| f.name.eq_ignore_ascii_case(name)) {
                return self.invoke_timer(f, req).await;
            }
            if let Some(f) = self.http.iter().find(|f| f.name.eq_ignore_ascii_case(name)) {
                return self.invoke_http(f, req).await;
            }
        }
        problem(StatusCode::NOT_FOUND, &format!("no function at {}", req.path))
    }

    async fn call_http(&self, f: &HttpFunction, req: Request) -> Response {
        if !f.methods.contains(&req.method) {
            let allow = f.methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            let mut res =
                problem(StatusCode::METHOD_NOT_ALLOWED, &format!("{} does not answer {}", req.path, req.method));
            if let Ok(v) = HeaderValue::from_str(&allow) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            return res;
        }
        let head = req.method == Method::HEAD;
        let mut res = (f.call)(req).await;
        if head {
            // Same status and headers as GET, no body.
            *res.body_mut() = Bytes::new();
        }
        res
    }

    /// An HTTP trigger without forwarding: the request comes as `Data.req`, the answer goes
    /// back as `Outputs.res`.
    async fn invoke_http(&self, f: &HttpFunction, req: Request) -> Response {
        let invocation: InvocationRequest = match parse_json(&req.body) {
            Ok(i) => i,
            Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("invocation body: {e}")),
        };
        let Some(raw) = invocation.data.get("req") else {
            return problem(StatusCode::BAD_REQUEST, "invocation body: Data.req is missing");
        };
        let trigger: HttpTriggerRequest = match serde_json::from_value(raw.clone()) {
            Ok(t) => t,
            Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("invocation body: Data.req: {e}")),
        };
        let inner = match inner_request(&trigger) {
            Ok(r) => r,
            Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("invocation body: Data.req: {e}")),
        };
        let res = self.call_http(f, inner).await;
        let headers = res
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let out = HttpTriggerResponse {
            status_code: res.status().as_u16(),
            headers,
            body: String::from_utf8_lossy(res.body()).into_owned(),
        };
        let mut answer = InvocationResponse::default();
        answer.outputs.insert("res".to_owned(), serde_json::to_value(out).expect("plain data serializes"));
        invocation_answer(StatusCode::OK, &answer)
    }

    async fn invoke_timer(&self, f: &TimerFunction, req: Request) -> Response {
        let request: InvocationRequest = match parse_json(&req.body) {
            Ok(i) => i,
            Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("invocation body: {e}")),
        };
        let Some(raw) = request.data.get(&f.binding) else {
            return problem(StatusCode::BAD_REQUEST, &format!("invocation body: Data.{} is missing", f.binding));
        };
        let timer: TimerInfo = match serde_json::from_value(raw.clone()) {
            Ok(t) => t,
            Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("invocation body: Data.{}: {e}", f.binding)),
        };
        let invocation_id =
            req.headers.get("x-azure-functions-invocationid").and_then(|v| v.to_str().ok()).map(str::to_owned);
        tracing::info!(function = %f.name, invocation_id = invocation_id.as_deref().unwrap_or("-"), past_due = timer.is_past_due, "timer invocation");
        let invocation = TimerInvocation { function: f.name.clone(), invocation_id, timer, request };
        match (f.call)(invocation).await {
            Ok(answer) => invocation_answer(StatusCode::OK, &answer),
            Err(e) => {
                tracing::error!(function = %f.name, error = %e, "invocation failed");
                let answer = InvocationResponse { logs: vec![e.to_string()], ..Default::default() };
                invocation_answer(StatusCode::INTERNAL_SERVER_ERROR, &answer)
            }
        }
    }
}

fn inner_request(t: &HttpTriggerRequest) -> Result<Request, String> {
    let method =
        Method::from_bytes(t.method.as_bytes()).map_err(|_| format!("Method {:?} is not an HTTP method", t.method))?;
    let path = match reqwest::Url::parse(&t.url) {
        Ok(u) => u.path().to_owned(),
        Err(_) => t.url.split('?').next().unwrap_or_default().to_owned(),
    };
    let mut headers = HeaderMap::new();
    for (name, values) in &t.headers {
        let name = header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("Headers: {name:?} is not a header name"))?;
        for v in values {
            let v = HeaderValue::from_str(v).map_err(|_| format!("Headers.{name}: not a valid header value"))?;
            headers.append(name.clone(), v);
        }
    }
    Ok(Request { method, path, query: t.query.clone(), headers, body: Bytes::from(t.body_bytes()) })
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.is_empty() {
        return Err("empty; expected JSON".to_owned());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn invocation_answer(status: StatusCode, answer: &InvocationResponse) -> Response {
    json_response(status, serde_json::to_vec(answer).expect("plain data serializes").into())
}

/// A JSON answer.
pub fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut res = http::Response::new(body);
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The one shape of every error answer: `{"error": "<what went wrong>"}`, with a `code` where
/// the caller can act on it ([`coded_problem`]).
pub fn problem(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }).to_string().into())
}

/// [`problem`] with a stable `code` a caller can act on (`stale-epoch`, `bad-signature`): the same
/// shape, `{"error": "...", "code": "..."}`.
pub fn coded_problem(status: StatusCode, message: &str, code: &str) -> Response {
    json_response(status, json!({ "error": message, "code": code }).to_string().into())
}

fn empty(status: StatusCode) -> Response {
    let mut res = http::Response::new(Bytes::new());
    *res.status_mut() = status;
    res
}

async fn collect_body<S, B>(stream: S) -> Result<Bytes, StatusCode>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
        if body.len() + chunk.remaining() > MAX_BODY {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            body.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(body.freeze())
}

/// The app as one warp filter, for `warp::serve` here and for `warp::service` elsewhere.
pub fn routes(
    app: FunctionApp,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static {
    let app = Arc::new(app);
    // `query::raw()` rejects a request without a query string, and a rejection allocates; the
    // typed filter takes a missing query as empty.
    let query = warp::query::<BTreeMap<String, String>>();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream().then(collect_body))
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: BTreeMap<String, String>,
                  headers: HeaderMap,
                  body| {
                let app = app.clone();
                async move {
                    let body = match body {
                        Ok(b) => b,
                        Err(status) => return problem(status, "the request body could not be read or is too large"),
                    };
                    app.dispatch(Request { method, path: path.as_str().to_owned(), query, headers, body }).await
                }
            },
        )
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, std::convert::Infallible>(problem(StatusCode::BAD_REQUEST, "the request could not be read"))
        })
        .unify()
}

/// Reads the port the host assigned; a missing or bad value is a configuration problem.
pub fn port(reader: &mut Reader<'_>) -> Option<u16> {
    let port: Option<u16> = reader.required_parsed(PORT_SETTING, "the TCP port the Functions host assigned (1-65535)");
    if port == Some(0) {
        reader.problems.push(PORT_SETTING, Some("0"), "expected a port between 1 and 65535");
        return None;
    }
    port
}

/// Binds the handler's listener on IPv4 loopback, where the host expects it.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// Serves the app until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(app: FunctionApp, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) {
    warp::serve(routes(app)).incoming(listener).graceful(shutdown).run().await;
}

/// Completes on SIGTERM (what the host and App Service send) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the handler");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// A small JSON helper for functions: serializes `value` as the answer's body.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_response(status, body.into()),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot serialize the answer: {e}")),
    }
}

/// The folder of the handler's executable as the host invoked it: the function app's folder,
/// where the plan is looked for by default, even when `handler` is a link to a binary elsewhere
/// (as in local runs).
pub fn executable_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    let invoked = std::env::args_os().next().map(PathBuf::from).filter(|p| p.components().count() > 1);
    invoked
        .or_else(|| std::env::current_exe().ok())
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The exit code of a handler's `run`: success, or the error logged (to stderr, which the
/// Functions host records as an Error) and a failure code.
pub fn exit_code<E: std::fmt::Display>(result: Result<(), E>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
