//! Requests from the host to a running handler: readiness pings, invocations and forwarded HTTP requests.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::invocation::HOST_VERSION;

const INVOCATION_ID: &str = "x-azure-functions-invocationid";
const HOST_VERSION_HEADER: &str = "x-azure-functions-hostversion";

/// The client the host uses for its handlers: loopback only, so no proxy; redirects and
/// compressed bodies are the caller's business, passed through untouched (other crates in
/// the build may switch reqwest's decompression on).
pub fn handler_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .no_deflate()
        .no_brotli()
        .no_zstd()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

/// How a readiness ping went.
#[derive(Debug, PartialEq, Eq)]
pub enum Ping {
    /// Any HTTP answer, whatever its status.
    Answered,
    /// Nothing listens yet.
    Refused,
}

/// `GET /` on the handler. As in the host, only a failure to connect means "not yet": any
/// other outcome counts as an answer.
pub async fn ping(client: &reqwest::Client, port: u16, timeout: Duration) -> Ping {
    match client.get(format!("http://127.0.0.1:{port}/")).timeout(timeout).send().await {
        Ok(_) => Ping::Answered,
        Err(e) if e.is_connect() => Ping::Refused,
        Err(_) => Ping::Answered,
    }
}

/// The raw answer to an invocation or a forwarded request.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// `POST /{function}` with the invocation payload. The body is streamed, so it goes out
/// chunked without a Content-Length, as the host's `ObjectContent` sends it.
pub async fn invoke(
    client: &reqwest::Client,
    port: u16,
    function: &str,
    payload: &Value,
    invocation_id: Uuid,
    timeout: Duration,
) -> reqwest::Result<Answer> {
    let body = Bytes::from(payload.to_string());
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let response = client
        .post(format!("http://127.0.0.1:{port}/{function}"))
        .header(http::header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(INVOCATION_ID, invocation_id.to_string())
        .header(HOST_VERSION_HEADER, HOST_VERSION)
        .header(http::header::USER_AGENT, format!("Azure-Functions-Host/{HOST_VERSION}"))
        .body(reqwest::Body::wrap_stream(stream))
        .timeout(timeout)
        .send()
        .await?;
    read_answer(response).await
}

/// Headers that describe one hop of a connection, not the message; a proxy drops them.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}

/// Copies end-to-end headers only.
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !is_hop_by_hop(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// The original request, at its original path and query, to the handler.
pub struct Forward<'a> {
    pub method: Method,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

pub async fn forward(
    client: &reqwest::Client,
    port: u16,
    request: Forward<'_>,
    invocation_id: Uuid,
    timeout: Duration,
) -> reqwest::Result<Answer> {
    let mut headers = end_to_end(request.headers);
    headers.insert(
        HeaderName::from_static(INVOCATION_ID),
        HeaderValue::from_str(&invocation_id.to_string()).expect("a uuid is a header value"),
    );
    headers.insert(HeaderName::from_static(HOST_VERSION_HEADER), HeaderValue::from_static(HOST_VERSION));
    let response = client
        .request(request.method, format!("http://127.0.0.1:{port}{}", request.path_and_query))
        .headers(headers)
        .body(request.body)
        .timeout(timeout)
        .send()
        .await?;
    read_answer(response).await
}

async fn read_answer(response: reqwest::Response) -> reqwest::Result<Answer> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(Answer { status, headers, body })
}
